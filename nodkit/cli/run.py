"""Unattended operation: `nodkit run` (the scheduler) and `nodkit service install`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nodkit.cli import _emit, _load, cli, json_option, kit_option


@cli.command("run", epilog="Example: nodkit run --kit /srv/nodkit   (or check first: nodkit run --check --kit /srv/nodkit)")
@kit_option
@click.option("--check", is_flag=True, help="Print the jobs, their next run times, the catch-up decision and "
                                            "schedule warnings, then exit (1 if there are warnings).")
@json_option
def run(kit, check, as_json):
    """Run the scheduled exports and verifications until stopped.

    Jobs come from schedules/*.toml (built-in: export 05:00 and 14:00, verify
    hourly; a file with the same name in the kit's schedules/ replaces it),
    in the kit's timezone. At start-up a missed export is caught up. Failed or
    partial exports are retried with backoff ([scheduler] in nodkit.toml)
    until the next scheduled export. Only one 'nodkit run' per kit.

    SIGTERM or Ctrl-C stops (an export in progress is abandoned, published
    sets are untouched); SIGHUP or editing nodkit.toml or a schedule file
    reloads the schedules. Logs: logs/nodkit.log; state: logs/heartbeat.json.
    """
    from nodkit.config.schedules import dst_warnings, load_jobs
    from nodkit.unattended.scheduler import decide_catch_up, describe, next_runs, run as run_scheduler
    config = _load(kit)
    if not check:
        click.echo(f"nodkit run: scheduling {config.home} (log: {config.home / 'logs' / 'nodkit.log'}); "
                   "stop with Ctrl-C or SIGTERM", err=True)
        sys.exit(run_scheduler(config.home))
    jobs = load_jobs(config.home, config.timezone)
    now = config.now()
    runs = next_runs(jobs, config.timezone, now)
    warnings = dst_warnings(jobs)
    catch = decide_catch_up(config, jobs, now)
    if as_json:
        _emit({"kit": str(config.home), "timezone": str(config.timezone),
               "jobs": [{"id": j.id, "action": j.action, "cron": j.cron, "every_seconds": j.every_seconds,
                         "source": j.source, "next_run": runs[j.id].isoformat() if j.id in runs else None}
                        for j in jobs],
               "catch_up": {"needed": catch.needed, "reason": catch.reason}, "warnings": warnings})
    else:
        click.echo(f"Schedules for {config.home} ({config.timezone}):")
        for j in jobs:
            nxt = runs[j.id].strftime("%Y-%m-%d %H:%M:%S %Z") if j.id in runs else "never"
            click.echo(f"  {j.id:<20} {j.action:<7} {describe(j):<22} next {nxt}   ({j.source})")
        click.echo(f"At start-up: {catch.reason}")
        for w in warnings:
            click.echo(f"  ! {w}", err=True)
    sys.exit(1 if warnings else 0)


@cli.group(epilog="Example: sudo nodkit service install --kit /srv/nodkit --user nodkit")
def service():
    """Install nodkit run as an operating-system service."""


@service.command("install", epilog="Example: sudo nodkit service install --kit /srv/nodkit --user nodkit")
@kit_option
@click.option("--user", default="nodkit", show_default=True,
              help="Dedicated system user the service runs as (must own the kit home).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("/etc/systemd/system/nodkit.service"), show_default=True,
              help="Where to write the systemd unit.")
@click.option("--cupsd-conf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CUPS config to set PreserveJobFiles No in (as 'nodkit printer setup'). "
                   "Default: /etc/cups/cupsd.conf.")
@click.option("--dry-run", is_flag=True, help="Print the unit instead of writing it.")
@click.option("--no-accounts", is_flag=True, help="Leave users, groups and the kit home's owner alone "
                                                  "(print the commands instead).")
def service_install(kit, user, output, cupsd_conf, dry_run, no_accounts):
    """Write a systemd unit that runs 'nodkit run' for this kit.

    As root it also creates the service user (a system account with no
    login shell: staff print with their own logins), the staff group
    ([kit] staff_group), and gives the user the kit home with the modes
    of docs/operations.md "Accounts" (as 'nodkit permissions'). The unit
    restarts nodkit whenever it stops (Restart=always) and sandboxes it:
    the whole file system is read-only except the kit home
    (ProtectSystem=strict, ReadWritePaths), private /tmp, no new
    privileges. Linux only; for Windows see docs/operations.md.
    """
    from nodkit.unattended.service import ensure_accounts, install_unit, render_unit
    from nodkit.security import access
    config = _load(kit)
    text = render_unit(config.home, user=user, kit_name=config.name)
    if dry_run:
        click.echo(text, nl=False)
        return
    if no_accounts:
        done, todo = [], [c for c in access.commands(config.home, config.staff_group, user)] if config.staff_group \
            else [f"sudo chown -R {user}: {config.home}"]
    else:
        done, todo = ensure_accounts(config.home, user, config.staff_group)
    for line in done:
        click.echo(f"  {line}", err=True)
    install_unit(output, text)
    click.echo(f"Wrote {output}", err=True)
    from nodkit.printing import cupsconf
    for line in cupsconf.setup(cupsd_conf or cupsconf.CUPSD_CONF):  # no decrypted job files kept by CUPS (docs/printing.md)
        click.echo(line, err=True)
    unit = output.name
    if todo:
        click.echo("The service user and the kit home's owner are NOT set up yet; run (as root):\n  "
                   + "\n  ".join(todo))
    elif config.staff_group and not [u for u in access.members(config.staff_group) if u != user]:
        click.echo(f"No staff login is in group '{config.staff_group}' yet: "
                   f"sudo usermod -aG {config.staff_group} <login>")
    click.echo(f"""Next steps (as root):
  systemctl daemon-reload
  systemctl enable --now {unit}
  systemctl status {unit}          # logs: journalctl -u {unit}, and {config.home / 'logs' / 'nodkit.log'}
Reload schedules: systemctl reload {unit}   ·   stop: systemctl stop {unit}""")


@cli.command(epilog="Example: sudo nodkit permissions --kit /srv/nodkit --owner nodkit")
@kit_option
@click.option("--owner", help="Also make this user (the service account) the kit home's owner (root only).")
@click.option("--dry-run", is_flag=True, help="Print the changes without making them.")
def permissions(kit, owner, dry_run):
    """Share the kit home with the staff group ([kit] staff_group).

    Staff logins then read nodkit.toml, keys/signing.pub and the store,
    write logs/ and their own chain in audit/; keys/ secrets stay 0600,
    the service's alone (docs/operations.md, "Accounts"). Prints each
    change; when it cannot (no such group, not root, not in the group) it
    says which commands to run instead. 'nodkit verify' checks the result.
    """
    from nodkit.errors import ConfigError
    from nodkit.security import access
    config = _load(kit)
    if not config.staff_group:
        raise ConfigError(f"{config.path}: no [kit] staff_group: one account for all, nothing to share",
                          hint='add staff_group = "nodkit-staff" to [kit] (docs/operations.md, "Accounts")')
    changes = access.apply(config.home, config.staff_group, owner, dry_run=dry_run)
    for line in changes:
        click.echo(line)
    click.echo(f"{'Would change' if dry_run else 'Changed'} {len(changes)} owner(s)/mode(s); "
               f"staff group '{config.staff_group}'", err=True)
