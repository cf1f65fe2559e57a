"""Core commands: init, demo, export, password set, list (verify, status, prune: cli/verify.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from nodkit.cli import _emit, _load, _progress, cli, json_option, kit_option


def _ask_password(audience: str) -> str:
    from nodkit.security.crypto import password_problems
    while True:
        pw = click.prompt(f"Password for audience '{audience}'", hide_input=True, confirmation_prompt=True,
                          err=True)
        problems = password_problems(pw)
        if not problems:
            return pw
        click.echo("Too weak: needs " + "; ".join(problems), err=True)
        if not sys.stdin.isatty():
            raise click.Abort()


@cli.command(epilog="Example: nodkit init /srv/nodkit --name 'Esbjerg Kommune, Hjemmeplejen' --generate")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="Nødliste-pc", show_default=True, help="Kit name printed on every page.")
@click.option("--generate", is_flag=True, help="Generate the audience passwords and print them once.")
@click.option("--staff-group", default="nodkit-staff", show_default=True,
              help="Unix group of the staff logins that print ([kit] staff_group); '' for one account for all.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def init(directory, name, generate, staff_group, as_json):
    """Create a new kit home in DIRECTORY.

    Writes a commented nodkit.toml, an Ed25519 signing key pair and one
    password per audience (asked twice with a strength check, or generated
    with --generate). Secrets are 0600. With a staff group that exists (and
    this user in it, or root), the kit home is then shared with it: staff
    read the lists, never keys/ (docs/operations.md, "Accounts"); else the
    commands IT must run are printed. Edit nodkit.toml to point at your
    data, then run 'nodkit sources check' and 'nodkit export'.
    """
    from nodkit.config.settings import load_config
    from nodkit.security.crypto import generate_password
    from nodkit.kit.home import DEFAULT_AUDIENCES, init_kit
    from nodkit.security import access
    home = directory.expanduser().resolve()
    audiences = list(DEFAULT_AUDIENCES)
    if generate:
        passwords = {a: generate_password() for a in audiences}
    else:
        passwords = {a: _ask_password(a) for a in audiences}
    init_kit(home, passwords, name=name, staff_group=staff_group or None)
    load_config(home)
    shared = access.set_up(home, staff_group) if staff_group else None
    if as_json:
        _emit({"kit": str(home), "passwords": passwords if generate else None, "staff_group": staff_group or None,
               "shared": shared is not None and shared.problem is None,
               "commands": shared.commands if shared is not None and shared.problem else []})
        return
    click.echo(f"Kit created: {home}")
    _say_shared(shared, staff_group)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        click.echo(f"The kit belongs to root: give it to the service user with "
                   f"'sudo nodkit service install --kit {home} --user nodkit'.", err=True)
    if generate:
        click.echo("Audience passwords (shown once — write them down and store them in a sealed envelope):")
        for audience, pw in passwords.items():
            click.echo(f"  {audience:<10} {pw}")
    click.echo(f"Next: edit {home / 'nodkit.toml'}, then: nodkit export --kit {home}")


def _say_shared(shared, group: str) -> None:
    """What sharing the kit home with the staff group did, or exactly what IT must run (never a silent skip)."""
    if shared is None:
        click.echo("One account for all: whoever prints logs in as this kit's owner and can read keys/ "
                   "(docs/operations.md, \"Accounts\").", err=True)
    elif shared.problem is None:
        click.echo(f"Shared with the staff group '{group}': staff read the lists, never keys/.", err=True)
    else:
        click.echo(f"NOT shared with the staff group '{group}' yet: {shared.problem}. Until IT runs these "
                   "commands, no staff login can print from this kit:", err=True)
        for command in shared.commands:
            click.echo(f"  {command}", err=True)


def _export_json(result, extra: dict | None = None) -> dict:
    data = {
        "kit": str(result.set.path.parents[2]),
        "set": result.id, "status": result.status, "latest": result.latest, "reasons": result.reasons,
        "warnings": result.warnings, "seconds": round(result.seconds, 2), "pruned": result.pruned,
        "unchanged": result.status == "unchanged",
        "checked_at": result.check.checked_at if result.check else None,
        "unchanged_since": result.check.unchanged_since if result.check else None,
        "files": [{"path": str(f.path.resolve()), "template": f.template, "audience": f.audience, "unit": f.unit,
                   "pages": f.pages, "rows": f.rows, "flagged_rows": f.flagged_rows, "first_page": f.first_page}
                  for f in result.files],
    }
    data.update(extra or {})
    return data


def _print_export(result, tz=None) -> None:
    if result.check is not None:
        click.echo(f"No new set: {result.check.text(tz)}; LATEST stays {result.id} ({result.seconds:.1f} s)")
        for warning in result.warnings:
            click.echo(f"  ! {warning}", err=True)
        return
    click.echo(f"Set {result.id}: {result.status}{'' if result.latest else ' (NOT made LATEST)'}, "
               f"{len({f.path for f in result.files})} files, {sum(f.pages for f in result.files)} pages, "
               f"{result.seconds:.1f} s")
    for f in result.files:
        inside = "" if f.first_page is None else f" side {f.first_page}–{f.first_page + f.pages - 1} ({f.template})"
        click.echo(f"  {f.path}{inside}  ({f.pages} s., {f.rows} rækker"
                   f"{', ' + str(f.flagged_rows) + ' markeret' if f.flagged_rows else ''})")
    for reason in result.reasons:
        click.echo(f"  ! {reason}", err=True)
    for warning in result.warnings:
        click.echo(f"  ! {warning}", err=True)


@cli.command(epilog="Example: nodkit demo ./demo-kit --json")
@click.argument("directory", required=False, default="demo-kit", type=click.Path(file_okay=False, path_type=Path))
@click.option("--sources", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the synthetic source exports. Default: DIRECTORY-kilder beside the kit.")
@click.option("--fleet", is_flag=True, help="DIRECTORY gets an exporter served over HTTP on loopback and two "
                                            "print stations that sync from it (docs/distribution.md).")
@json_option
def demo(directory, sources, fleet, as_json):
    """Create a demo kit with synthetic data and run one export.

    The demo municipality has home-care areas with routes, citizens and
    medication, schools with classes, and a contact list. Its data is
    written as a semicolon CSV export and a SQLite database beside the
    kit (DIRECTORY-kilder), and read through the normal sources.
    """
    from nodkit.config.settings import load_config
    from nodkit.kit.demo import create_demo
    from nodkit.export.pipeline import run_export
    from nodkit.logsetup import setup_file
    home = directory.expanduser().resolve()
    if fleet:
        return _fleet_demo(home, as_json)
    passwords, src = create_demo(home, sources.expanduser().resolve() if sources else None)
    setup_file(home)
    result = run_export(load_config(home), progress=_progress)
    if as_json:
        _emit(_export_json(result, {"kit": str(home), "sources": str(src), "passwords": passwords}))
        return
    click.echo(f"Demo kit: {home}")
    click.echo(f"Demo sources: {src}")
    _print_export(result)
    click.echo("Audience passwords (demo only):")
    for audience, pw in passwords.items():
        click.echo(f"  {audience:<10} {pw}")
    click.echo(f"Open a list: pdftotext -upw '<password>' '<file>' -   ·   check: nodkit verify --kit {home}")


def _fleet_demo(base: Path, as_json: bool) -> None:
    from nodkit.kit.fleetdemo import run_fleet_demo
    demo = run_fleet_demo(base)
    if as_json:
        _emit({"exporter": str(demo.exporter), "url": demo.url, "passwords": demo.passwords,
               "stations": {n: {"kit": str(base / n), "set": r.set_id, "files": r.files, "bytes": r.bytes}
                            for n, r in demo.stations.items()},
               "fleet": [r.to_dict() for r in demo.rows]})
        return
    click.echo(f"Exporter: {demo.exporter} (its store was served at {demo.url})")
    for name, r in demo.stations.items():
        click.echo(f"Station {base / name}: {r.status} set {r.set_id}, {r.files} files, {r.bytes} bytes")
    for row in demo.rows:
        click.echo(f"Fleet: {row.station}: {row.severity}, newest set {row.latest}")
    click.echo("Audience passwords (demo only): " + ", ".join(f"{a} {p}" for a, p in demo.passwords.items()))
    click.echo(f"Try: nodkit verify --kit {base / 'station-nord'}   ·   nodkit fleet status --kit {demo.exporter}")


@cli.command(epilog="Example: nodkit export --kit /srv/nodkit --json")
@kit_option
@json_option
@click.option("--no-prune", is_flag=True, help="Do not apply retention after a good export.")
@click.option("--force", is_flag=True, help="Write a new set even when no source changed since LATEST.")
def export(kit, as_json, no_prune, force):
    """Fetch every dataset, render, encrypt and publish a new export set.

    Only a complete ('good') set becomes LATEST; a partial set (a source
    failed), an incomplete one (an expected list empty, all rows filtered or
    flagged, rows that could not be placed) or a suspect one (row counts
    collapsed) is kept for inspection and exits 1. Retention runs after a
    good set. When every dataset was read and none changed since LATEST, no
    set is written: the run is recorded as "checked at HH.MM, sources
    unchanged since …" (exit 0).
    """
    from nodkit.export.pipeline import run_export
    config = _load(kit)
    result = run_export(config, progress=_progress, prune=not no_prune, force=force)
    if as_json:
        _emit(_export_json(result))
    else:
        _print_export(result, config.timezone)
    sys.exit(0 if result.ok else 1)


@cli.group()
def password():
    """Manage audience passwords."""


@password.command("set", epilog="Example: nodkit password set pleje --kit /srv/nodkit")
@click.argument("audience")
@kit_option
@click.option("--generate", is_flag=True, help="Generate a password and print it once.")
def password_set(audience, kit, generate):
    """Set a new password for AUDIENCE.

    New sets use it; sets already exported keep the password they were made
    with until retention removes them ('nodkit list' shows the generation).
    """
    from nodkit.security import crypto
    from nodkit.errors import ConfigError
    config = _load(kit)
    if audience not in config.audiences:
        raise ConfigError(f"{config.path}: no audience '{audience}' (configured: {', '.join(config.audiences)})")
    pw = crypto.generate_password() if generate else _ask_password(audience)
    generation = crypto.PasswordBook(config.keys).set(audience, pw, config.now())
    click.echo(f"Password generation {generation} set for '{audience}'; the next export uses it.", err=True)
    if not pw.isascii():
        click.echo("Warning: the password has non-ASCII characters (æ, ø, å …). nodkit and qpdf/poppler/MuPDF "
                   "handle them, but some PDF readers (older pdf.js in Firefox) did not; an ASCII passphrase "
                   "is safer ('nodkit password set --generate').", err=True)
    if generate:
        click.echo(pw)


@cli.command("list", epilog="Example: nodkit list --kit /srv/nodkit --json")
@kit_option
@json_option
def list_sets(kit, as_json):
    """List export sets, newest first, with age, status, files and size (on a station: the files it holds)."""
    from nodkit.printing.spooler import held
    from nodkit.store.sets import Store
    config = _load(kit)
    store = Store(config.store)
    latest = store.latest_id()
    now = config.now()
    rows = []
    for s in store.sets():
        created = s.created_at
        gens = sorted({f"{f.audience}:{f.password_generation}" for f in held(s, config.station)}) if s.manifest else []
        rows.append({"set": s.id, "created_at": created.isoformat() if created else None,
                     "age_hours": round((now - created).total_seconds() / 3600, 1) if created else None,
                     "status": s.status, "latest": s.id == latest,
                     "files": len({f.path for f in held(s, config.station)}) if s.manifest else None, "bytes": s.size(),
                     "password_generations": gens, "error": s.error})
    if as_json:
        _emit({"kit": str(config.home), "latest": latest, "sets": rows})
        return
    if not rows:
        click.echo("No export sets yet. Run: nodkit export", err=True)
        return
    click.echo(f"{'SET':<23} {'CREATED':<17} {'AGE':>7} {'STATUS':<8} {'FILES':>5} {'SIZE':>9}  PASSWORDS")
    for r in rows:
        created = r["created_at"][:16].replace("T", " ") if r["created_at"] else "?"
        age = f"{r['age_hours']:.1f} h" if r["age_hours"] is not None else "?"
        mark = " *" if r["latest"] else ""
        click.echo(f"{r['set']:<23} {created:<17} {age:>7} {r['status']:<8} {r['files'] or 0:>5} "
                   f"{r['bytes'] / 1e6:>7.1f}MB  {' '.join(r['password_generations'])}{mark}")
    click.echo("* = LATEST (the newest good set)", err=True)
