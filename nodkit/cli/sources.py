"""Source commands: sources check."""

from __future__ import annotations

import sys

import click

from nodkit.cli import _emit, _load, cli, json_option, kit_option


@cli.group(epilog="Example: nodkit sources check --kit /srv/nodkit")
def sources():
    """Inspect the kit's data sources (datasets in nodkit.toml)."""


@sources.command("check", epilog="Example: nodkit sources check --kit /srv/nodkit visits --json")
@click.argument("datasets", nargs=-1)
@kit_option
@json_option
@click.option("--problems", "max_problems", type=click.IntRange(0, 1000), default=5, show_default=True,
              help="How many row problems to show per dataset.")
def check(datasets, kit, as_json, max_problems):
    """Read each dataset (or only DATASETS) and check it against its lists.

    Per dataset: reachable or not and why, rows, data as of, mapped and
    unmapped columns, required fields without a column, and the first row
    problems with file:line:column; per list what the export would print:
    rows read → inside the horizon → printed → flagged, and the oldest and
    newest date. Nothing is exported. Exit 0 when every dataset is fine, 1
    when there are warnings (stale file, flagged rows), 2 when the export
    would not be good (a list empty, all rows filtered or flagged, rows that
    could not be placed or go to no audience), 12 when a dataset is broken
    (its lists would be skipped by an export).
    """
    from nodkit.export.check import check_sources
    config = _load(kit)
    report = check_sources(config, config.now(), list(datasets) or None, max_problems=max_problems)
    if as_json:
        _emit(report.to_dict())
        sys.exit(report.exit_code)
    click.echo(f"sources check: {report.summary()}")
    for d in report.datasets:
        label = {"ok": "OK", "warning": "WARNING", "incomplete": "INCOMPLETE", "broken": "BROKEN"}[d.status]
        click.echo(f"\n{d.name} ({d.kind}) {label}: {d.source}")
        if not d.reachable:
            click.echo(f"  not readable: {d.error}")
            continue
        read_as = ", ".join(f"{k} {v}" for k, v in d.read_as.items())
        counted = "report(s) taken" if d.kind == "reports" else "rows"
        click.echo(f"  {d.rows} {counted}, data as of {d.as_of}" + (f"; read as {read_as}" if read_as else ""))
        for r in d.reports:
            click.echo(f"  report {r['file']}: {r['unit']} / {r['title']}, {r['pages']} page(s), data as of {r['as_of']}")
        for why in d.skipped:
            click.echo(f"  SKIPPED: {why}")
        for why in d.ignored:
            click.echo(f"  ignored: {why}")
        if d.kind != "reports":
            click.echo(f"  columns: {', '.join(d.columns)}")
        if d.kind != "reports" and not d.lists:
            click.echo("  (no configured list uses this dataset)")
        for lc in d.lists:
            mapped = ", ".join(f"{f}={c}" for f, c in lc.mapping.items() if c)
            click.echo(f"  list {lc.template}: {mapped}")
            for m in lc.missing:
                click.echo(f"    MISSING: {m}")
            empty = [f for f, c in lc.mapping.items() if c is None]
            if empty and not lc.missing:
                click.echo(f"    no column (printed empty): {', '.join(empty)}")
            if not lc.missing:
                dates = f"; dates {lc.oldest or '?'}..{lc.newest or '?'}" if lc.oldest or lc.newest else ""
                click.echo(f"    {lc.read} rows read → {lc.inside_horizon} inside the horizon → {lc.printed} printed "
                           f"→ {lc.flagged_rows} flagged{dates}")
            for why in lc.incomplete:
                click.echo(f"    export would be INCOMPLETE: {why}")
            for note in lc.notes:
                click.echo(f"    note: {note}")
        if d.unmapped_columns:
            click.echo(f"  unmapped columns: {', '.join(d.unmapped_columns)}")
        for w in d.warnings:
            click.echo(f"  ! {w}")
        if d.flagged_rows:
            click.echo(f"  {d.flagged_rows} row(s) with problems (kept and flagged on the lists):")
        for p in d.problems:
            click.echo(f"    {p}")
        if d.more_problems:
            click.echo(f"    … and {d.more_problems} more")
    for tid, why in report.lists_skipped.items():
        click.echo(f"\n! list {tid} skipped: {why}")
    sys.exit(report.exit_code)
