"""Source adapters, by kind. `open_source(config, tz)` returns the adapter."""

from __future__ import annotations

import datetime as dt
from typing import Callable

from ..errors import ConfigError
from .base import DatasetConfig, Row, Snapshot, Source

KINDS: dict[str, Callable[[DatasetConfig, dt.tzinfo], Source]] = {}


def register(kind: str):
    def deco(factory):
        KINDS[kind] = factory
        return factory
    return deco


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
    from . import csvsource, sqlsource  # noqa: F401  (registers the kinds)


__all__ = ["DatasetConfig", "Row", "Snapshot", "Source", "open_source", "register", "known_kinds", "KINDS"]
