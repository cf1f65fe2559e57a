"""Print stations and the fleet: station init, station sync, station report, fleet status."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nodkit.cli import _emit, _load, cli, json_option, kit_option


@cli.group()
def station():
    """A print station: holds only its units' lists, synced signed from the exporter."""


def _split(values) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@station.command("init", epilog="Example: nodkit station init /srv/nodkit --upstream https://nodkit.kommune.dk/store/ "
                                "--pubkey signing.pub --audience pleje --units 'Område Nord'")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--upstream", required=True, help="The exporter's store/: an https:// URL or a folder on a share.")
@click.option("--pubkey", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The exporter's keys/signing.pub (pinned: only sets it signed are taken).")
@click.option("--audience", "audiences", multiple=True, required=True,
              help="Audience this station prints for (repeat, or comma-separated).")
@click.option("--units", "units", multiple=True, help="Units to hold (repeat, or comma-separated). Default: all.")
@click.option("--name", default="Nødliste-station", show_default=True, help="Kit name; also the station's fleet name.")
@click.option("--ca-bundle", help="PEM file with the municipal CA(s) for the upstream's TLS certificate.")
@click.option("--status-upload", help="Where the signed station status goes (URL for HTTP PUT, or a folder).")
@click.option("--staff-group", default="nodkit-staff", show_default=True,
              help="Unix group of the staff logins that print ([kit] staff_group); '' for one account for all.")
@json_option
def station_init(directory, upstream, pubkey, audiences, units, name, ca_bundle, status_upload, staff_group, as_json):
    """Create a print station kit home in DIRECTORY.

    The station gets no datasets and no passwords: only the exporter's
    public key, the upstream and its audiences and units. 'nodkit run'
    then syncs every 15 minutes; 'nodkit print', 'verify' and 'status'
    work as on any kit. Compare the printed key fingerprint with the first
    32 hex digits of 'sha256sum keys/signing.pub' on the exporter.
    """
    from nodkit.cli.core import _say_shared
    from nodkit.distribution.station import fingerprint, init_station
    from nodkit.security import access
    home = directory.expanduser().resolve()
    config = init_station(home, upstream=upstream, pubkey=pubkey, audiences=_split(audiences), units=_split(units),
                          name=name, ca_bundle=ca_bundle, status_upload=status_upload, staff_group=staff_group or None)
    shared = access.set_up(home, staff_group) if staff_group else None
    fp = fingerprint(pubkey.read_bytes())
    if as_json:
        _emit({"kit": str(home), "upstream": config.station.upstream, "key_fingerprint": fp,
               "audiences": list(config.station.audiences), "units": list(config.station.units),
               "staff_group": staff_group or None, "shared": shared is not None and shared.problem is None,
               "commands": shared.commands if shared is not None and shared.problem else []})
        return
    click.echo(f"Station created: {home}")
    _say_shared(shared, staff_group)
    click.echo(f"Exporter key pinned, fingerprint {fp}")
    click.echo(f"Next: nodkit station sync --kit {home}, then: nodkit service install --kit {home}")


@station.command("sync", epilog="Example: nodkit station sync --kit /srv/nodkit --json")
@kit_option
@json_option
def station_sync(kit, as_json):
    """Fetch the exporter's newest good set now (only this station's files).

    Checks the pinned signature and every file's SHA-256, refuses a set
    older than the newest held (rollback), publishes atomically. On any
    failure the station's sets stay as they were. Exit 0 synced or current,
    14 upstream or disk problem, 15 refused.
    """
    from nodkit.distribution.fleet import report_status
    from nodkit.distribution.sync import run_sync
    config = _load(kit)
    try:
        result = run_sync(config)
    finally:
        report_status(config)
    if as_json:
        _emit({"status": result.status, "set": result.set_id, "files": result.files, "reused": result.reused,
               "bytes": result.bytes, "seconds": round(result.seconds, 3), "pruned": result.pruned})
        return
    click.echo(f"{result.status}: {result.message} ({result.bytes} bytes, {result.seconds:.1f} s)")


@station.command("report", epilog="Example: nodkit station report --kit /srv/nodkit --output -")
@kit_option
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the signed status here ('-' = stdout) instead of uploading it.")
def station_report(kit, output):
    """Send this station's signed status to [station] status_upload now (after every sync it is sent anyway)."""
    from nodkit.distribution.fleet import report_status, signed_status
    config = _load(kit)
    if output:
        data = signed_status(config)
        if output == "-":
            sys.stdout.buffer.write(data)
        else:
            Path(output).write_bytes(data)
        return
    where = report_status(config)
    if where is None:
        click.echo("not reported: set [station] status_upload, or see logs/nodkit.log", err=True)
        sys.exit(1)
    click.echo(f"reported to {where}", err=True)


@cli.group()
def fleet():
    """The exporter's view of its print stations."""


@fleet.command("status", epilog="Example: nodkit fleet status --kit /srv/nodkit --json")
@kit_option
@json_option
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Where the stations' status files arrive. Default: <kit>/fleet.")
@click.option("--stale-hours", type=float, default=2.0, show_default=True,
              help="Flag a station that has not reported for this long.")
def fleet_status(kit, as_json, folder, stale_hours):
    """Every station that reports back: newest set, its age, last contact, problems.

    Each status file is signed by its station's own key, pinned on first
    sight (keys/stations.json). Exit 0 all OK, 1 a warning (a station stopped
    reporting, sync failing), 2 a station is critical (too old, refused a set,
    wrong key), 3 no station has reported.
    """
    from nodkit.distribution.fleet import read_fleet
    config = _load(kit)
    rows = read_fleet(config, folder, stale_hours=stale_hours)
    worst = max(({"OK": 0, "WARNING": 1, "CRITICAL": 2}[r.severity] for r in rows), default=3)
    if as_json:
        _emit({"kit": str(config.home), "stations": [r.to_dict() for r in rows]})
        sys.exit(worst)
    if not rows:
        click.echo(f"no station has reported into {folder or config.home / 'fleet'}", err=True)
        sys.exit(3)
    click.echo(f"{'STATION':<28} {'STATUS':<8} {'NEWEST SET':<23} {'AGE':>7}  {'LAST CONTACT':<19}  PROBLEMS")
    for r in rows:
        age = f"{r.age_seconds / 3600:.1f} h" if r.age_seconds is not None else "?"
        contact = (r.last_contact or "?")[:19].replace("T", " ")
        click.echo(f"{r.station[:28]:<28} {r.severity:<8} {r.latest or '-':<23} {age:>7}  {contact:<19}  "
                   + ("; ".join(r.problems) or "-"))
    sys.exit(worst)
