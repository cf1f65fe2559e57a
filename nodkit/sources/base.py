"""The source interface: one adapter per kind of source, one snapshot per fetch.

An adapter reads its source once and returns a `Snapshot`: the source
columns, the rows (raw values keyed by source column, each with its origin
``file:line`` so a problem can be traced), and the "data as of" time the PDFs
print. Mapping source columns to template fields and type checking happen
later, in `nodkit.validate`, the same for every kind of source.

A structurally broken source (unreadable file, missing column, failed query)
raises `SourceError`; the export then skips that dataset's lists and marks
the set partial.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)  # slots: a municipality's snapshot has hundreds of thousands of rows
class Row:
    values: dict[str, Any]
    origin: str  # "besoeg.csv:17" — where a human finds this row in the source


@dataclass
class Snapshot:
    dataset: str
    kind: str
    source: str  # human description without secrets (file path, redacted URL)
    as_of: dt.datetime  # timezone-aware
    columns: list[str]
    rows: list[Row]
    warnings: list[str] = field(default_factory=list)


@dataclass
class DatasetConfig:
    """One [datasets.NAME] table of nodkit.toml."""

    name: str
    kind: str
    options: dict[str, Any]
    columns: dict[str, str]  # template field -> source column
    where: str  # "nodkit.toml:42" for error messages


class Source(Protocol):
    def fetch(self, now: dt.datetime) -> Snapshot: ...
