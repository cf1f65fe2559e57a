"""CSV exports: the way care records and school systems deliver nightly reports.

Options (nodkit.toml, [datasets.NAME]):
  path       file or glob; with a glob the newest matching file is read
  encoding   "auto" (BOM, then UTF-8, then Windows-1252) or a codec name
  delimiter  "auto" (sniffs ; , and tab from the header line) or the character

Every row keeps its origin (file and physical line), so problems can be traced
back even across quoted multi-line fields. Empty lines are skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import io
import os
from pathlib import Path

from ..errors import ConfigError, SourceError
from . import register
from .base import DatasetConfig, Row, Snapshot

DELIMITERS = (";", ",", "\t", "|")


def newest_match(pattern: str, where: str) -> Path:
    matches = [Path(p) for p in glob.glob(pattern)] if glob.has_magic(pattern) else [Path(pattern)]
    matches = [p for p in matches if p.is_file()]
    if not matches:
        raise SourceError(f"{pattern}: no such file (configured at {where})")
    return max(matches, key=lambda p: (p.stat().st_mtime, p.name))


def decode(raw: bytes, encoding: str, path: Path) -> tuple[str, str]:
    """Return (text, encoding used)."""
    if encoding != "auto":
        try:
            return raw.decode(encoding), encoding
        except LookupError:
            raise SourceError(f"{path}: unknown encoding '{encoding}'") from None
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise SourceError(f"{path}:{line}: not valid {encoding} text") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            line = raw[: exc.start + 3].count(b"\n") + 1
            raise SourceError(f"{path}:{line}: starts with a UTF-8 mark but is not UTF-8") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # Windows-1252 leaves five bytes undefined; map them instead of failing
        return raw.decode("cp1252", errors="replace"), "cp1252"


def sniff_delimiter(text: str) -> str:
    header = ""
    for line in text.splitlines():
        if line.strip():
            header = line
            break
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


def read_csv(path: Path, *, encoding: str = "auto", delimiter: str = "auto") -> tuple[list[str], list[Row], list[str]]:
    """Read a CSV file into (header, rows, warnings). Raises SourceError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None
    text, _used = decode(raw, encoding, path)
    if "\x00" in text:
        raise SourceError(f"{path}: contains NUL bytes; not a text export (wrong file or encoding?)")
    delim = sniff_delimiter(text) if delimiter == "auto" else delimiter
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=False)
    header: list[str] | None = None
    rows: list[Row] = []
    warnings: list[str] = []
    start = 1
    shared = {}.setdefault
    try:
        for record in reader:
            line = start
            start = reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = _unique_header(record, path, line, warnings)
                continue
            if len(record) > len(header) and any(c.strip() for c in record[len(header):]):
                warnings.append(f"{path.name}:{line}: {len(record)} fields, header has {len(header)}; extra fields ignored")
            # one string object per distinct value: areas, drugs, times repeat thousands of times
            values = {name: (shared(record[i], record[i]) if i < len(record) else None)
                      for i, name in enumerate(header)}
            rows.append(Row(values=values, origin=f"{path.name}:{line}"))
    except csv.Error as exc:
        raise SourceError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    if header is None:
        raise SourceError(f"{path}: empty file, no header line")
    return header, rows, warnings


def _unique_header(record: list[str], path: Path, line: int, warnings: list[str]) -> list[str]:
    header: list[str] = []
    for i, name in enumerate(record, start=1):
        name = name.strip() or f"kolonne {i}"
        if name in header:
            n = 2
            while f"{name} ({n})" in header:
                n += 1
            warnings.append(f"{path.name}:{line}: column {i} repeats the header '{name}'; read as '{name} ({n})'")
            name = f"{name} ({n})"
        header.append(name)
    return header


@register("csv")
class CsvSource:
    def __init__(self, config: DatasetConfig, tz: dt.tzinfo):
        self.config, self.tz = config, tz
        opts = dict(config.options)
        if "path" not in opts:
            raise ConfigError(f"{config.where}: dataset '{config.name}': key 'path' is required for kind csv")
        self.path = str(opts.pop("path"))
        self.encoding = str(opts.pop("encoding", "auto"))
        self.delimiter = str(opts.pop("delimiter", "auto"))
        if self.delimiter in ("\\t", "tab"):
            self.delimiter = "\t"
        if opts:
            raise ConfigError(f"{config.where}: dataset '{config.name}': unknown key(s) for kind csv: {', '.join(sorted(opts))}")

    def fetch(self, now: dt.datetime) -> Snapshot:
        path = newest_match(self.path, self.config.where)
        header, rows, warnings = read_csv(path, encoding=self.encoding, delimiter=self.delimiter)
        as_of = dt.datetime.fromtimestamp(os.stat(path).st_mtime, self.tz)
        return Snapshot(dataset=self.config.name, kind="csv", source=str(path), as_of=as_of,
                        columns=header, rows=rows, warnings=warnings)
