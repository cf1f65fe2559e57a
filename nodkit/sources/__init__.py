"""Sources wing: one adapter per kind (csv, xlsx, sql, reports). `open_source(config, tz)`
returns the adapter; `fetch(now)` gives one Snapshot with its "data as of" time.

Rules: bad input is named by file, line and column; values never in messages.
May import only the base modules and `security`, `store`.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from nodkit.errors import ConfigError
from nodkit.sources.base import DatasetConfig, Row, Snapshot, Source

KINDS: dict[str, Callable[[DatasetConfig, dt.tzinfo], Source]] = {}


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
    return factory(config, tz)


def known_kinds() -> list[str]:
    _load_builtin()
    return sorted(KINDS)


def _load_builtin() -> None:
    from nodkit.sources import csvsource, sqlsource  # noqa: F401  (registers the kinds)
    from nodkit.sources import xlsxsource  # noqa: F401
    from nodkit.sources import reportsource  # noqa: F401


__all__ = ["DatasetConfig", "Row", "Snapshot", "Source", "open_source", "register", "known_kinds", "KINDS"]
