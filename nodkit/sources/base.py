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
import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nodkit.errors import ConfigError


@dataclass(slots=True)  # slots: a municipality's snapshot has hundreds of thousands of rows
class Row:
    """One source row. Its raw values are a tuple in column order; the column
    positions are one dict shared by every row of a snapshot (a dict per row
    cost 270–460 bytes, half of a large snapshot's memory)."""

    cells: tuple  # raw values, in the order of `names`
    names: dict[str, int]  # source column -> position in cells (shared, never changed)
    origin: str  # "besoeg.csv:17" — where a human finds this row in the source
    problems: tuple[str, ...] = ()  # found by the reader (Danish, no values); row is flagged
    # the record's field count when it differs from the header's (0: it matches). Such a row's
    # values may have shifted: it is flagged and never makes a unit or section of its own
    fields: int = 0

    @classmethod
    def from_mapping(cls, values: dict[str, Any], origin: str, problems: tuple[str, ...] = ()) -> "Row":
        return cls(tuple(values.values()), {name: i for i, name in enumerate(values)}, origin, problems)

    def get(self, column: str, default: Any = None) -> Any:
        position = self.names.get(column)
        return default if position is None else self.cells[position]

    @property
    def values(self) -> dict[str, Any]:
        """Column -> raw value, as a new dict (for reading a row, not for loops over a snapshot)."""
        return {name: self.cells[i] for name, i in self.names.items()}


@dataclass
class Snapshot:
    dataset: str
    kind: str
    source: str  # human description without secrets (file path, redacted URL)
    as_of: dt.datetime  # timezone-aware
    columns: list[str]
    rows: list[Row]
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # how it was read: encoding, delimiter, sheet …
    # kind "reports": the ready-made PDFs taken (reportsource.ReportDocument), and "file: reason" for
    # each one that could not be taken (its entry is skipped: a partial set)
    documents: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # file_fingerprint() of exactly the bytes this snapshot was parsed from (file sources), else None:
    # the next export compares it before parsing (no change, no new set, without reading the rows)
    fingerprint: str | None = None


@dataclass(frozen=True)
class Derivation:
    """[datasets.NAME.derive] FIELD = { from = COLUMN, … }: a field worked out from a source column
    (nodkit.lists.mapping): one of `part` ("date"/"time" of a date-time), `hours` (label -> "07-15")
    or `names` ("last_first")."""

    source: str
    part: str | None = None
    hours: tuple[tuple[str, str], ...] = ()
    names: str | None = None


DIGEST_CHUNK = 20_000  # rows per pickle.dumps call: one C-level pass each, a bounded buffer at a time


def snapshot_digest(snapshot: Snapshot) -> str:
    """SHA-256 over what the lists print from a snapshot: its columns, every row's
    values, the reader's problems and the row's line in the source, in order.

    Left out on purpose: the file's name (a source that writes besoeg_<time>.csv
    each run would never count as unchanged) and "data as of" (the data that was
    true then is still true: the pages keep their "Data pr."). The rows are
    serialised with pickle (protocol 5, about twice as fast as repr() of them):
    it is exact for the values sources give (str, int, float, Decimal, dates,
    None), and different values always give different bytes. Equal values can
    give different bytes (pickle notes where the same string object appears
    again; a value of a type without a fixed pickle): that only makes two equal
    snapshots differ, which costs an export, never a false "unchanged". A chunk
    with a value pickle cannot write is digested by its repr() instead.
    """
    digest = hashlib.sha256()
    digest.update(pickle.dumps((snapshot.kind, list(snapshot.columns)), 5))
    rows = snapshot.rows
    for start in range(0, len(rows), DIGEST_CHUNK):
        chunk = [(r.cells, r.problems, r.origin.rpartition(":")[2]) for r in rows[start:start + DIGEST_CHUNK]]
        try:
            digest.update(b"p" + pickle.dumps(chunk, 5))
        except (pickle.PicklingError, TypeError, AttributeError, ValueError):
            # a value pickle cannot write (a driver's memoryview): its text, as before
            digest.update(b"r" + repr(chunk).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def file_fingerprint(kind: str, path: Path, raw: bytes, options: dict[str, Any]) -> str:
    """SHA-256 of what a file reader's snapshot is made from: the reader, its options, the
    file's name (it is in the rows' origins and the warnings) and its bytes.

    Equal fingerprints mean equal snapshots (the same nodkit and nodkit.toml are checked
    separately, by the export's inputs digest), so an unchanged file need not be parsed to know
    its lists would be the same. "Data as of" (the file's time) is left out, as in
    `snapshot_digest`; a reader warning that depends on the clock (stale data) is not a
    property of the bytes, so a stale file has no fingerprint (`None`, see the readers)."""
    digest = hashlib.sha256()
    head = repr((kind, path.name, sorted(options.items()))).encode("utf-8", "surrogatepass")
    digest.update(len(head).to_bytes(8, "big") + head)
    digest.update(raw)
    return digest.hexdigest()


@dataclass
class DatasetConfig:
    """One [datasets.NAME] table of nodkit.toml."""

    name: str
    kind: str
    options: dict[str, Any]
    columns: dict[str, str]  # template field -> source column
    where: str  # "nodkit.toml:42" for error messages
    absent: tuple[str, ...] = ()  # optional template fields the site does not export, on purpose
    defaults: dict[str, Any] = field(default_factory=dict)  # field -> constant, or value for an empty cell
    derive: dict[str, Derivation] = field(default_factory=dict)  # field -> how to work it out
    min_rows: int = 0  # fewer rows than this makes the set suspect, even with no good set to compare with

    def error(self, message: str) -> ConfigError:
        """A ConfigError about this dataset, located at its table in nodkit.toml."""
        return ConfigError(f"{self.where}: dataset '{self.name}': {message}")

    def options_for(self, *required: str) -> dict[str, Any]:
        """A copy of the adapter options to pop from; a missing required key is an error."""
        opts = dict(self.options)
        for key in required:
            if key not in opts:
                raise self.error(f"key '{key}' is required for kind {self.kind}")
        return opts

    def reject_unknown(self, opts: dict[str, Any]) -> None:
        """Options left after an adapter popped the ones it knows are typos: refuse them."""
        if opts:
            raise self.error(f"unknown key(s) for kind {self.kind}: {', '.join(sorted(opts))}")


class Source(Protocol):
    def fetch(self, now: dt.datetime) -> Snapshot: ...

    # Optional (file sources): the fingerprint the next fetch's snapshot would have, read
    # without parsing, or None when it cannot be known that way (nodkit.export.pipeline).
    # def fingerprint(self, now: dt.datetime) -> str | None: ...


def stale_warning(name: str, as_of: dt.datetime, now: dt.datetime, max_age_hours: float | None) -> str | None:
    """The warning for a source file older than its dataset's `max_age_hours`, else None."""
    if max_age_hours is None:
        return None
    age = (now - as_of).total_seconds() / 3600
    if age <= max_age_hours:
        return None
    return (f"stale: {name} is {age:.1f} hours old (data as of {as_of.isoformat(timespec='minutes')}), "
            f"more than max_age_hours = {max_age_hours:g}")


def cell_location(snapshot: Snapshot, origin: str, column: str | None) -> str:
    """Where a human finds one cell: "besoeg.csv:17:5 (Dato)", "elever.xlsx:9:E (Navn)", "pupils row 3 (navn)"."""
    if column is None:
        return origin
    if snapshot.kind in ("csv", "xlsx") and column in snapshot.columns:
        index = snapshot.columns.index(column) + 1
        pos = column_letter(index) if snapshot.kind == "xlsx" else str(index)
        return f"{origin}:{pos} ({column})"
    return f"{origin} ({column})"


def column_letter(index: int) -> str:
    """1 → A, 27 → AA (Excel column names)."""
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
