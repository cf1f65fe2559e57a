"""The `nodkit` command line: thin commands over the library.

One module per concern registers its commands on `cli` (core: init, demo,
export, password, list; verify: verify, status, prune). Only this package imports click.

Each command parses options, calls one library function and prints the
result: data and --json to stdout, messages and logs to stderr. Errors are
`NodkitError`s mapped to an exit code and one line by `main`; --debug shows
the traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from pathlib import Path

import click

from nodkit import __version__
from nodkit.errors import CRITICAL, UNKNOWN, NodkitError, exit_code_table

EPILOG = "Exit codes:\n\n\b\n" + exit_code_table()


def kit_option(func):
    """--kit DIR (or NODKIT_HOME, or the current directory) on every kit command."""
    # readable=False: a login that may not read the kit gets nodkit's own message (exit 14; in Danish for
    # staff: which login to use), not a usage error
    @click.option("--kit", "kit", type=click.Path(file_okay=False, readable=False, path_type=Path), envvar="NODKIT_HOME",
                  help="Kit home folder. Default: $NODKIT_HOME, else the current directory.")
    @functools.wraps(func)
    def wrapper(*args, kit=None, **kwargs):
        return func(*args, kit=kit, **kwargs)
    return wrapper


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(func)


def _load(kit):
    from nodkit.config.settings import load_config
    from nodkit.kit.home import resolve_home
    from nodkit.logsetup import setup_file
    home = resolve_home(kit)
    setup_file(home)  # first: a nodkit.toml that cannot be read is then in the log for IT too
    config = load_config(home)
    return config


def _emit(obj) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _progress(phase: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        click.echo(f"\r  {phase}: {done}/{total} filer", err=True, nl=(done == total))


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nodkit")
@click.option("-v", "--verbose", count=True, help="More messages on stderr (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.pass_context
def cli(ctx, verbose, debug):
    """nodkit — emergency lists for IT outages, on paper when it matters.

    A scheduled job exports the day's emergency lists (routes, medication,
    class lists, contacts …) to AES-256 encrypted PDFs and keeps 7 days of
    them. During an outage, staff print them from this PC or open them in
    any PDF reader with their password.

    \b
    Start here:
      nodkit demo ./demo-kit          a demo kit with synthetic data
      nodkit init /srv/nodkit         a real kit (then edit nodkit.toml)
      nodkit export --kit /srv/nodkit export now
      nodkit verify --kit /srv/nodkit check (Nagios/Icinga exit codes)
    """
    from nodkit.logsetup import setup_stderr
    from nodkit.process import no_core_dumps
    no_core_dumps()  # before any command reads a password, a key or personal data
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    setup_stderr(verbose, staff=_staff)


def _command(argv: list[str]) -> str | None:
    """The subcommand named in argv (first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _sigterm_as_interrupt() -> None:
    """SIGTERM ends a command like Ctrl-C: work in progress is cleaned up, exit 130.
    (`nodkit run` installs its own handlers for a graceful stop.)"""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, stop)


_staff = False  # set by main: this run is one staff start (the print menu, the desktop icon)


def staff_command(argv: list[str]) -> bool:
    """The print menu (`nodkit print` without --unit, or with --pause) and `nodkit launcher open`:
    what staff run. Their errors, Ctrl-C and log lines reach the person in Danish
    (nodkit.staff.screen), the detail goes to the log file. A scripted `print --unit` stays IT's."""
    words = [a for a in argv if not a.startswith("-")]
    scripted = any(a == "--unit" or a.startswith("--unit=") for a in argv) and "--pause" not in argv
    return words[:1] == ["print"] and not scripted or words[:2] == ["launcher", "open"]


def _staff_exit(argv: list[str], text: str, code: int, detail: str | None = None) -> None:
    import logging
    import textwrap
    if detail:
        logging.getLogger("nodkit.cli").error("%s", detail)  # for IT, in logs/nodkit.log
    click.echo("\n" + textwrap.fill(text, width=79), err=True)
    if ("--pause" in argv or "launcher" in argv) and sys.stdin.isatty():  # the icon's terminal, or --pause
        try:  # the launcher's window would close before the message is read
            input("\nTryk Enter for at lukke vinduet.")
        except (EOFError, KeyboardInterrupt):
            pass
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    global _staff
    _staff = staff_command(argv) and not debug
    _sigterm_as_interrupt()
    if _staff:
        _main_staff(argv)
        return
    try:
        cli.main(args=argv, prog_name="nodkit", standalone_mode=False)
    except NodkitError as exc:
        if debug:
            raise
        click.echo(f"nodkit: error: {exc}", err=True)
        if exc.hint:
            click.echo(f"nodkit: hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click wraps Ctrl-C / SIGTERM in Abort
            click.echo("nodkit: interrupted", err=True)
            sys.exit(130)
        click.echo("nodkit: aborted", err=True)
        sys.exit(CRITICAL)
    except click.ClickException as exc:
        exc.show()
        # a monitoring system calling verify with a wrong option must see UNKNOWN, not CRITICAL
        sys.exit(UNKNOWN if _command(argv) == "verify" and exc.exit_code == CRITICAL else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("nodkit: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        if debug:
            raise
        click.echo(f"nodkit: error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        sys.exit(14)
    except Exception as exc:  # a bug: one line for the user, the traceback in the log
        if debug:
            raise
        from nodkit.logsetup import traceback_to_file
        where = "details in logs/nodkit.log, or" if traceback_to_file("internal error") else "details:"
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        click.echo(f"nodkit: internal error: {type(exc).__name__}: {text} ({where} run with --debug)", err=True)
        sys.exit(UNKNOWN if _command(argv) == "verify" else CRITICAL)


def _main_staff(argv: list[str]) -> None:
    """main() for a staff command: the same exit codes, every message in Danish."""
    from nodkit.staff import screen
    try:
        cli.main(args=argv, prog_name="nodkit", standalone_mode=False)
    except NodkitError as exc:
        _staff_exit(argv, screen.error_text(exc), exc.exit_code, f"{type(exc).__name__}: {exc}")
    except click.exceptions.Abort as exc:
        interrupt = exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt) else None
        _staff_exit(argv, screen.interrupted_text(getattr(interrupt, "message", None)),
                    130 if interrupt else CRITICAL)
    except click.ClickException as exc:
        _staff_exit(argv, screen.usage_text(), exc.exit_code, f"usage: {exc.format_message()}")
    except KeyboardInterrupt as exc:
        _staff_exit(argv, screen.interrupted_text(getattr(exc, "message", None)), 130)
    except OSError as exc:
        _staff_exit(argv, screen.error_text(exc), 14, f"OSError: {exc.filename or ''}: {exc.strerror or exc}")
    except Exception as exc:
        from nodkit.logsetup import traceback_to_file
        traceback_to_file("internal error")
        _staff_exit(argv, screen.error_text(exc), CRITICAL)


# Command modules register themselves on `cli`; import them last.
from nodkit.cli import core  # noqa: E402,F401
from nodkit.cli import verify  # noqa: E402,F401
from nodkit.cli import run  # noqa: E402,F401
from nodkit.cli import sources  # noqa: E402,F401
from nodkit.cli import printing  # noqa: E402,F401
from nodkit.cli import distribution  # noqa: E402,F401
