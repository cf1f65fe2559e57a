"""Printing commands: print (menu or scripted), audit show/verify, launcher install, guide."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from nodkit.cli import _emit, _load, cli, json_option, kit_option
from nodkit.errors import PrintError


def _ask(prompt: str) -> str:
    from nodkit.staff.menu import Quit
    try:
        return input(prompt)
    except EOFError:
        raise Quit() from None


def _ask_secret(prompt: str) -> str:
    from nodkit.staff.menu import Quit
    try:
        if sys.stdin.isatty():
            return getpass.getpass(prompt)
        click.echo(prompt, nl=False)
        return input()
    except EOFError:
        raise Quit() from None


def _read_password(password_stdin: bool) -> str:
    """The first line of stdin (--password-stdin), else a hidden prompt on a terminal."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Adgangskode: ")
    else:
        raise PrintError("Ingen adgangskode: brug --password-stdin og send adgangskoden på stdin.")
    if not password:
        raise PrintError("Tom adgangskode. Send adgangskoden på stdin med --password-stdin.")
    return password


def _pause(enabled: bool) -> None:
    if enabled and sys.stdin.isatty():
        try:
            input("\nTryk Enter for at lukke vinduet.")
        except EOFError:
            pass


@cli.command("print", epilog="Example: nodkit print --kit /srv/nodkit   (menu)   |   "
                             "echo \"$PW\" | nodkit print --unit 'Område Nord' --template care-route "
                             "--copies 2 --password-stdin")
@kit_option
@json_option
@click.option("--set", "set_id", metavar="SET-ID", help="Print from this set. Default: LATEST (the newest good set).")
@click.option("--unit", help="Unit (e.g. 'Område Nord'). Given: no questions asked (for scripts).")
@click.option("--template", metavar="LIST", help="List id (e.g. care-route, binder). Default: the unit's binder "
                                                  "if there is one, else all its lists.")
@click.option("--audience", help="Audience folder, when a unit exists for several (default: the one the password opens).")
@click.option("--copies", type=click.IntRange(1), help="Copies. Default: copies in [printer] (1).")
@click.option("--printer", "queue", metavar="QUEUE", help="CUPS queue. Default: [printer] in nodkit.toml.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--pause", is_flag=True, help="Wait for Enter before exiting (for the desktop launcher).")
def print_cmd(kit, as_json, set_id, unit, template, audience, copies, queue, password_stdin, pause):
    """Print emergency lists: decrypt in memory and send them to the printer.

    Without --unit: a numbered menu in Danish (unit, binder or list,
    password, copies). With --unit and --password-stdin it asks nothing.
    The password is checked against the files themselves; every attempt is
    written to the audit log. No plaintext copy is ever written to disk.
    """
    # an error, Ctrl-C included, is said in Danish (and waited on with --pause) by nodkit.cli.main
    _print(kit, as_json, set_id, unit, template, audience, copies, queue, password_stdin)
    _pause(pause)


def _print(kit, as_json, set_id, unit, template, audience, copies, queue, password_stdin):
    from nodkit.printing import spooler as printing
    from nodkit.staff.menu import run_menu
    config = _load(kit)
    backend = printing.backend_for(config.printer, queue)
    if unit is None:
        if password_stdin or not sys.stdin.isatty():
            raise PrintError("Ingen enhed valgt: giv --unit (og --password-stdin) for at udskrive uden spørgsmål, "
                             "eller start 'nodkit print' i en terminal for menuen.")
        result = run_menu(config, ask=_ask, ask_secret=_ask_secret, say=click.echo, set_id=set_id, backend=backend)
        if as_json and result.printed:
            _emit(result.printed.to_dict())
        return
    export_set = printing.resolve_set(config, set_id)
    now = config.now()
    password = _read_password(password_stdin)
    files = printing.find_files(export_set, unit, None, audience, config.station)
    if template is None:
        binders = [f for f in files if f.template == printing.BINDER]
        files = binders or files
    else:
        files = printing.find_files(export_set, unit, template, audience, config.station)
    if audience is None and len({f.audience for f in files}) > 1:
        opens = [f for f in files if printing.password_opens(config, export_set, f, password, audit=False)]
        files = opens or files[:1]  # none opens: let print_files report the wrong password
    age = printing.age_of(export_set, config, now)
    if age.stale:
        click.echo(f"ADVARSEL: {age.text()}.", err=True)
    rolled_back = printing.rollback_warning(config, export_set)
    if rolled_back:
        click.echo(rolled_back, err=True)
    result = printing.print_files(config, export_set, files, password, copies or config.printer.copies,
                                  backend=backend, titles=printing.template_titles(config))
    if as_json:
        _emit(result.to_dict() | {"age_hours": round(age.hours, 1), "stale": age.stale})
    outcome = result.outcome
    if not result.printed:
        raise PrintError(outcome.message if outcome else "Der blev ikke sendt noget til printeren.",
                         hint=outcome.detail if outcome else None)
    if not as_json:
        jobs = ", ".join(j.job for j in result.jobs if j.job)
        click.echo(f"{result.printer}: {outcome.message} ({len(result.files)} fil(er), {result.pages} sider × "
                   f"{result.copies}{f', job {jobs}' if jobs else ''})")
    if result.audit_error:
        click.echo(f"ADVARSEL: udskriften er ikke skrevet i revisionsloggen ({result.audit_error}). "
                   "Skriv ned hvem der udskrev hvad, og giv IT besked.", err=True)


@cli.group(epilog="Example: nodkit audit verify --kit /srv/nodkit")
def audit():
    """The audit log of every decrypt and print (append-only, hash-chained)."""


@audit.command("show", epilog="Example: nodkit audit show --kit /srv/nodkit --last 20")
@kit_option
@json_option
@click.option("--last", type=click.IntRange(1), help="Only the newest N records.")
def audit_show(kit, as_json, last):
    """Print the audit log: time, user, action, set, pages, printer, result."""
    from nodkit.printing.audit import AuditLog
    config = _load(kit)
    records = AuditLog(config.home).records()
    if last:
        records = records[-last:]
    if as_json:
        _emit({"records": records})
        return
    for r in records:
        files = ", ".join(r.get("files") or [])
        click.echo(f"{r.get('seq'):>5}  {r.get('time')}  {r.get('user')}  {r.get('action')}  set={r.get('set')}  "
                   f"sider={r.get('pages')}×{r.get('copies')}  printer={r.get('printer')}  {r.get('result')}  [{files}]")
    if not records:
        click.echo("(ingen poster)", err=True)


@audit.command("verify", epilog="Example: nodkit audit verify --kit /srv/nodkit && echo OK")
@kit_option
@json_option
def audit_verify(kit, as_json):
    """Check the hash chain; names every edited or removed record (exit 15 if any)."""
    from nodkit.printing.audit import AuditLog
    from nodkit.errors import IntegrityError
    config = _load(kit)
    log = AuditLog(config.home)
    result = log.verify()
    if as_json:
        _emit({"records": result.records, "ok": result.ok, "problems": [str(p) for p in result.problems],
               "torn_tail_bytes": result.torn_tail})
    else:
        for p in result.problems:
            click.echo(f"{log.home}/{p}" if p.file else f"{log.path}: {p}")  # p.file: one chain per login
        if result.torn_tail:
            click.echo(f"{log.path}: note: {result.torn_tail} byte(s) of an interrupted write after the last "
                       "record (a crash or full disk, not tampering); the next record cuts them off")
        if result.ok:
            click.echo(f"audit log OK: {result.records} record(s), chain intact")
    if not result.ok:
        first = result.problems[0]
        raise IntegrityError((f"{log.home}/{first}" if first.file else f"{log.path}: {first}")
                             + (f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""))


@cli.group(epilog="Example: sudo nodkit printer setup")
def printer():
    """The print system (CUPS) on the kit PC."""


@printer.command("setup", epilog="Example: sudo nodkit printer setup   |   nodkit printer setup --cupsd-conf /tmp/cupsd.conf")
@click.option("--cupsd-conf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The CUPS config to change. Default: /etc/cups/cupsd.conf (then CUPS is restarted).")
@click.option("--no-restart", is_flag=True, help="Do not restart CUPS after the change.")
def printer_setup(cupsd_conf, no_restart):
    """Make CUPS keep no decrypted job files: PreserveJobFiles No, PreserveJobHistory 30m.

    A default CUPS keeps each printed document in its spool for a day. nodkit
    needs the job's record for a while (to tell whether it printed) but never
    its content. `nodkit service install` runs this too; `verify` reports a
    CUPS that keeps job files.
    """
    from nodkit.printing import cupsconf
    for line in cupsconf.setup(cupsd_conf or cupsconf.CUPSD_CONF, restart=not no_restart):
        click.echo(line, err=True)


@cli.group(epilog="Example: nodkit launcher install --kit /srv/nodkit --output ~/Skrivebord")
def launcher():
    """Desktop shortcut that opens the print menu."""


@launcher.command("install", epilog="Example: nodkit launcher install --kit /srv/nodkit --output ~/Desktop")
@kit_option
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the .desktop file (e.g. ~/Desktop or ~/.local/share/applications).")
def launcher_install(kit, output):
    """Write 'Udskriv nødlister' (a Linux .desktop file) that opens the print menu in a terminal."""
    from nodkit.staff.launcher import write_desktop_file
    config = _load(kit)
    path = write_desktop_file(config, output.expanduser())
    click.echo(f"Genvej skrevet: {path}")


@launcher.command("open", epilog="Example: nodkit launcher open --kit /srv/nodkit")
@kit_option
@click.option("--port", type=click.IntRange(1, 65535), default=8631, show_default=True, help="The kiosk's port.")
@click.option("--menu", "menu_only", is_flag=True, help="Skip the browser: open the text menu.")
def launcher_open(kit, port, menu_only):
    """What the desktop icon runs: the print page full-screen in the browser, else the text menu.

    Starts `nodkit kiosk` on 127.0.0.1:PORT if it does not answer yet and
    opens it in Chromium/Chrome/Edge (--app --kiosk) or Firefox (--kiosk).
    Without a browser, or when the kiosk does not start, the text menu runs
    in this terminal.
    """
    from nodkit.staff.launcher import open_kiosk
    config = _load(kit)
    if not menu_only and open_kiosk(config, port):
        click.echo(f"Udskriftssiden er åbnet i browseren (http://127.0.0.1:{port}/).", err=True)
        return
    click.echo("Åbner udskriftsmenuen i stedet for browseren.", err=True)
    print_cmd.callback(kit=kit, as_json=False, set_id=None, unit=None, template=None, audience=None, copies=None,
                       queue=None, password_stdin=False, pause=True)


@cli.command("guide", epilog="Example: nodkit guide --kit /srv/nodkit --output /tmp/vejledning.pdf")
@kit_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it. Default: store/udskrivningsvejledning.pdf.")
def guide(kit, output):
    """Write the one-page guide 'Sådan udskriver du nødlister' (plain PDF, no personal data)."""
    from nodkit.fsutil import write_atomic
    from nodkit.render.guide import guide_pdf, write_guide
    config = _load(kit)
    if output:
        write_atomic(output, guide_pdf(config))
        path = output
    else:
        config.store.mkdir(parents=True, exist_ok=True)
        path = write_guide(config)
    click.echo(str(path))



@cli.command("kiosk", epilog="Example: nodkit kiosk --kit /srv/nodkit --port 8631   (then open http://127.0.0.1:8631/)")
@kit_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only loopback addresses are accepted without --force-host.")
@click.option("--port", type=click.IntRange(0, 65535), default=8631, show_default=True, help="TCP port (0: any free).")
@click.option("--printer", "queue", metavar="QUEUE", help="CUPS queue. Default: [printer] in nodkit.toml.")
@click.option("--force-host", is_flag=True,
              help="Listen on a non-loopback --host anyway (requests from other machines are still refused).")
def kiosk_cmd(kit, host, port, queue, force_host):
    """The print page in the browser: big buttons, Danish, for staff.

    Serves the print kiosk on this PC only (loopback). Staff choose their
    unit, the binder or a list, type the password, pick the copies and
    see the job's status; /it shows the facts of `nodkit status`. The
    desktop launcher (`nodkit launcher install`) starts it and opens it
    full-screen. Stop with Ctrl-C.
    """
    from nodkit.staff.kiosk import Kiosk, is_loopback, serve
    from nodkit.errors import ConfigError
    if not is_loopback(host) and not force_host:
        raise ConfigError(f"--host {host} is not a loopback address: the kiosk serves decrypted lists and "
                          "must stay on this PC (use 127.0.0.1, or --force-host if you really mean it)")
    config = _load(kit)
    server = serve(Kiosk(config, queue=queue), host, port)
    click.echo(f"Udskriftssiden kører: http://{host if ':' not in host else f'[{host}]'}:{server.server_port}/ "
               "(Ctrl-C stopper)", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


@cli.command("drill", epilog="Example: echo \"$PW\" | nodkit drill --kit /srv/nodkit --unit 'Område Nord' --password-stdin")
@kit_option
@json_option
@click.option("--unit", required=True, help="Unit to drill (its binder is decrypted and counted).")
@click.option("--audience", help="Audience, when the unit exists for several.")
@click.option("--printer", "queue", metavar="QUEUE", help="CUPS queue. Default: [printer] in nodkit.toml.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def drill_cmd(kit, as_json, unit, audience, queue, password_stdin):
    """Practise printing: open the unit's binder, count its pages, print one drill page.

    The drill page says "ØVELSE – ikke til brug" with the set id, the data
    time and the date, and no personal data. The drill is written to the
    audit log; `verify` warns when a unit has not drilled for
    [monitoring] drill_warn_days (35).
    """
    from nodkit.printing import spooler as printing
    from nodkit.printing.drill import run_drill
    config = _load(kit)
    password = _read_password(password_stdin)
    export_set = printing.resolve_set(config)
    result = run_drill(config, export_set, unit, password, audience=audience,
                       backend=printing.backend_for(config.printer, queue))
    if as_json:
        _emit(result.to_dict())
    checked = ", ".join(f"{t}: {p} sider" for t, p in result.checked)
    if result.outcome.state not in ("printed", "sent"):
        raise PrintError(f"Øvelsen for {unit}: listerne kunne åbnes ({checked}), men øvelsessiden blev ikke "
                         f"udskrevet: {result.outcome.message}")
    if not as_json:
        click.echo(f"Øvelse OK for {unit} ({checked}): {result.outcome.message}"
                   + (f" (job {result.job})" if result.job else ""))
