"""IT commands: verify (Nagios/Icinga plugin), status (overview), prune (retention)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nodkit.cli import _emit, _load, cli, json_option, kit_option
from nodkit.errors import UNKNOWN, NodkitError


@cli.command(epilog="Example: nodkit verify --kit /srv/nodkit --prometheus "
                    "/var/lib/node_exporter/textfile/nodkit.prom   (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")
@kit_option
@json_option
@click.option("--decrypt", is_flag=True, help="Also open every PDF with its audience password and check page counts.")
@click.option("--all", "all_sets", is_flag=True, help="Check every set in full, not only LATEST.")
@click.option("--prometheus", "prometheus", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a node_exporter textfile (atomically) to this file.")
def verify(kit, as_json, decrypt, all_sets, prometheus):
    """Check that the newest lists are sound, encrypted, fresh and printable.

    Default level (fast, no passwords): manifest signature, sizes and
    SHA-256 of every file, AES-256 (R6) encryption of every PDF, LATEST, no
    stray or unencrypted file anywhere in the store; plus freshness against
    the export schedule, free disk space, the printer queue, the clock and
    the scheduler heartbeat. --decrypt also opens every PDF.

    Nagios/Icinga plugin convention: the first line is a summary with
    perfdata, then one line per problem naming the file; exit 0 OK,
    1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """
    from nodkit.monitoring.verify import verify_kit
    config = None
    try:
        config = _load(kit)
        report = verify_kit(config, decrypt=decrypt, all_sets=all_sets)
        if prometheus:
            from nodkit.monitoring.prometheus import write_textfile
            write_textfile(prometheus, report)
    except Exception as exc:  # verify's own failure is UNKNOWN with a status line, never a traceback
        if isinstance(exc, NodkitError):
            text = str(exc)
        elif isinstance(exc, OSError):
            text = f"{exc.filename or ''}: {exc.strerror or exc}"
        else:
            if click.get_current_context().find_root().obj.get("debug"):
                raise
            from nodkit.logsetup import traceback_to_file
            traceback_to_file("verify: internal error")
            text = f"internal error: {type(exc).__name__} (a bug in nodkit; details in logs/nodkit.log or with --debug)"
        if prometheus:
            _unknown_textfile(prometheus, config, text)
        if as_json:
            _emit({"status": "UNKNOWN", "exit_code": UNKNOWN, "error": text})
        else:
            click.echo(f"NODKIT UNKNOWN - {text}")
        sys.exit(UNKNOWN)
    if as_json:
        _emit(report.to_dict())
    else:
        click.echo(report.summary(config))
        for p in sorted(report.problems, key=lambda p: -p.severity):
            click.echo(p.line())
    sys.exit(report.exit_code)


def _unknown_textfile(path: Path, config, text: str) -> None:
    """Monitoring must see UNKNOWN, not the last good values of an older run."""
    import datetime as dt
    from nodkit.monitoring.prometheus import write_textfile
    from nodkit.monitoring.verify import Problem, VerifyReport
    report = VerifyReport(checked_at=config.now() if config else dt.datetime.now(dt.timezone.utc),
                          kit=config.name if config else "")
    report.problems.append(Problem(UNKNOWN, "unknown", "", text))
    try:
        write_textfile(path, report)
    except OSError:
        pass  # the textfile itself may be what failed; stdout still says UNKNOWN


@cli.command(epilog="Example: nodkit status --kit /srv/nodkit")
@kit_option
@json_option
def status(kit, as_json):
    """An overview for IT: runs, the LATEST set, kept sets and why, warnings, disk.

    Exits with the verify status (0 OK, 1 WARNING, 2 CRITICAL), so it can
    be used in scripts too; it never decrypts anything.
    """
    from nodkit.monitoring.status import kit_status
    from nodkit.monitoring.verify import age_text
    config = _load(kit)
    st = kit_status(config)
    v = st.verify
    if as_json:
        _emit(st.to_dict())
        sys.exit(v.exit_code)
    tz = config.timezone

    def when(iso: str | None) -> str:
        if not iso:
            return "?"
        import datetime as dt
        return dt.datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    click.echo(f"Kit:       {st.kit}  ({st.home})")
    click.echo(f"Status:    {v.status}")
    if v.latest:
        click.echo(f"LATEST:    {v.latest}, made {v.latest_created.astimezone(tz):%Y-%m-%d %H:%M}, "
                   f"{age_text(v.age_seconds)} old")
    else:
        click.echo("LATEST:    none (no good export set yet)")
    if v.check_text:
        click.echo(f"Sources:   {v.check_text}; no new set was needed")
    last = st.last_run
    if last:
        click.echo(f"Last run:  {last['job']} ({last['action']}) finished {when(last['finished'])}: "
                   f"{last['result'] or '?'}{' — ' + last['message'] if last['message'] else ''}")
    else:
        click.echo("Last run:  no scheduler heartbeat (is 'nodkit run' installed as a service?)")
    nxt = st.next_run
    if nxt:
        click.echo(f"Next run:  {when(nxt['at'])}{' (' + nxt['job'] + ')' if nxt['job'] else ''}"
                   f"{' — from the schedule' if nxt['from'] == 'schedule' else ''}")
    if v.missed_runs:
        click.echo(f"Missed:    {v.missed_runs} scheduled export run(s) since LATEST")
    if config.station is not None:
        sync = v.sync or {}
        click.echo(f"Station:   upstream {config.station.upstream}; last sync {when(sync.get('last_attempt'))}: "
                   f"{sync.get('last_result') or 'never'}"
                   + (f" ({sync.get('error_kind')}: {sync.get('last_error')})" if sync.get("last_error") else "")
                   + f"; last success {when(sync.get('last_success'))}, {sync.get('bytes_last', 0)} bytes")
    if v.disk_total_bytes:
        click.echo(f"Disk:      store uses {st.store_bytes / 1e6:.1f} MB; {v.disk_free_bytes / 1e9:.1f} GB free "
                   f"of {v.disk_total_bytes / 1e9:.1f} GB ({v.disk_free_percent:.1f} %)")
    if st.tiers:
        click.echo("Tiers:     " + "; ".join(f"{tier} {row['sets']} set(s) {row['bytes'] / 1e6:.1f} MB"
                                          for tier, row in st.tiers.items()))
    if v.projected_bytes:
        click.echo(f"Projected: {v.projected_bytes / 1e9:.2f} GB for {config.retention.days:g} days at this schedule "
                   "if every run makes a set")
    click.echo(f"Sets ({len(st.sets)}), retention: {config.retention.describe()}:")
    for s in st.sets:
        made = s.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if s.created_at else "?"
        click.echo(f"  {s.id}  {made}  {s.status:<8} {'LATEST ' if s.latest else ''}"
                   f"{'keep' if s.keep else 'REMOVE at next prune'}: {s.reason}")
    if v.problems:
        click.echo("Problems:")
        for p in sorted(v.problems, key=lambda p: -p.severity):
            click.echo(f"  {p.line()}")
    else:
        click.echo("Problems:  none")
    sys.exit(v.exit_code)


@cli.command(epilog="Example: nodkit prune --kit /srv/nodkit --dry-run")
@kit_option
@json_option
@click.option("--dry-run", is_flag=True, help="Print every decision with its reason; delete nothing.")
def prune(kit, as_json, dry_run):
    """Apply retention now: the tiered policy of [retention].

    Keeps every set of the last `hours` (24), then the last good set of
    each day for `days` (7) and each day's newest set that is not good as
    evidence. Never deletes LATEST or the newest keep_min good sets; partial and
    suspect sets neither protect nor displace good ones; unfinished work in
    store/.incoming is removed. Takes the store lock (waits for nothing: if
    an export is running, exits 17). A set leaves sets/ first, then its files
    are deleted.
    """
    from nodkit.store.sets import Store, prune as prune_store
    config = _load(kit)
    result = prune_store(Store(config.store), config.retention, config.now(), dry_run=dry_run)
    if as_json:
        _emit({"kit": str(config.home), "dry_run": dry_run,
               "policy": {"hours": config.retention.hours, "days": config.retention.days,
                          "keep_min": config.retention.keep_min},
               "debris": result.debris,
               "decisions": [{"set": d.set_id, "keep": d.keep, "tier": d.tier, "reason": d.reason}
                             for d in result.decisions]})
        return
    click.echo(f"Policy: {config.retention.describe()}.{' (dry run: nothing is deleted)' if dry_run else ''}")
    verb_remove = "would remove" if dry_run else "removed"
    for d in result.decisions:
        click.echo(f"  {d.set_id}  {'keep        ' if d.keep else verb_remove + ' ' * (12 - len(verb_remove))}"
                   f"{d.tier:<9} {d.reason}")
    for name in result.debris:
        click.echo(f"  .incoming/{name}  {verb_remove}: unfinished work of an interrupted run")
    removed = sum(not d.keep for d in result.decisions)
    click.echo(f"{removed} set(s) {'to remove' if dry_run else 'removed'}, {sum(d.keep for d in result.decisions)} kept.",
               err=True)
