"""Sources wing: one adapter per kind (csv, xlsx, sql, reports). `open_source(config, tz)`
returns the adapter; `fetch(now)` gives one Snapshot with its "data as of" time.

Rules: bad input is named by file, line and column; values never in messages.
Every kind's cells are capped at MAX_CELL_CHARS when read (the row is
flagged and says how long the cell was): one runaway cell must not stall
the export. May import only the base modules and `security`, `store`.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from nodkit.errors import ConfigError
from nodkit.sources.base import DatasetConfig, Row, Snapshot, Source

KINDS: dict[str, Callable[[DatasetConfig, dt.tzinfo], Source]] = {}
MAX_CELL_CHARS = 2000  # about 30 lines in a list column; longer is a runaway export, not a note


def register(kind: str):
    def deco(factory):
        KINDS[kind] = factory
        return factory
    return deco


def describe(config: DatasetConfig) -> str:
    """Where a dataset comes from, without secrets (for messages and the manifest)."""
    if "path" in config.options:
        return str(config.options["path"])
    if "url" in config.options:
        from nodkit.sources.sqlsource import redact
        return redact(str(config.options["url"]))
    return config.kind


def open_source(config: DatasetConfig, tz: dt.tzinfo) -> Source:
    _load_builtin()
    try:
        factory = KINDS[config.kind]
    except KeyError:
        raise ConfigError(
            f"{config.where}: dataset '{config.name}': unknown kind '{config.kind}' "
            f"(one of: {', '.join(sorted(KINDS))})") from None
    return _Capped(factory(config, tz))


class _Capped:
    """Any source, its long cells cut at read time (see the module docstring)."""

    def __init__(self, source: Source):
        self.source = source

    def __getattr__(self, name):  # the adapter's own attributes (path, options) stay visible
        return getattr(self.source, name)

    def fetch(self, now: dt.datetime) -> Snapshot:
        snapshot = self.source.fetch(now)
        cut = 0
        for n, row in enumerate(snapshot.rows):
            long = [i for i, v in enumerate(row.cells) if isinstance(v, str) and len(v) > MAX_CELL_CHARS]
            if not long:
                continue
            cut += len(long)
            column = {i: name for name, i in row.names.items()}
            cells = list(row.cells)
            notes = []
            for i in long:
                notes.append(f"feltet '{column.get(i, i + 1)}' var {len(cells[i])} tegn langt; "
                             f"kun de første {MAX_CELL_CHARS} er med")
                cells[i] = cells[i][:MAX_CELL_CHARS] + " …"
            snapshot.rows[n] = Row(tuple(cells), row.names, row.origin, row.problems + tuple(notes))
        if cut:
            snapshot.warnings.append(f"{cut} cell(s) longer than {MAX_CELL_CHARS} characters cut "
                                     "(their rows are flagged on the pages)")
        return snapshot


def known_kinds() -> list[str]:
    _load_builtin()
    return sorted(KINDS)


def _load_builtin() -> None:
    from nodkit.sources import csvsource, sqlsource  # noqa: F401  (registers the kinds)
    from nodkit.sources import xlsxsource  # noqa: F401
    from nodkit.sources import reportsource  # noqa: F401


__all__ = ["DatasetConfig", "Row", "Snapshot", "Source", "open_source", "register", "known_kinds", "KINDS"]
