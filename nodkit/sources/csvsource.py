"""CSV exports: the way care records and school systems deliver nightly reports.

Options (nodkit.toml, [datasets.NAME]):
  path           file or glob; with a glob the newest matching file is read
  encoding       "auto" (BOM, then UTF-8, then Windows-1252) or a codec name
                 such as "utf-8", "utf-8-sig", "cp1252" / "windows-1252"
  delimiter      "auto" (sniffs ; , tab and | from the header line, or obeys
                 Excel's "sep=;" first line) or the character ("tab" for tab)
  max_age_hours  warn (stale data) when the file is older than this

Rules kept here:
- Every row keeps its origin (file and physical line), so problems can be
  traced back even across quoted multi-line fields.
- Blank lines and lines of only delimiters are skipped; a repeated header
  name is read as "Name (2)" with a warning; a row with more or fewer fields
  than the header is kept and flagged with both counts (its values may have
  shifted), even when the extra field is empty. Only a trailing delimiter on
  every data row (a consistent exporter habit) is accepted without a flag.
- Every error names file, line and column, and never contains a cell value:
  cells are personal data and messages reach logs.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import glob
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from nodkit.errors import SourceError
from nodkit.sources import register
from nodkit.sources.base import DatasetConfig, Row, Snapshot, file_fingerprint, stale_warning

DELIMITERS = (";", ",", "\t", "|")
MAX_FIELD = 131072  # the csv module's own limit; a longer field is almost always an unclosed quote
_NEWLINE = re.compile(r"\r\n|\r|\n")
_SEP_LINE = re.compile(r"^\ufeff?sep=(.)\s*$")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def newest_match(pattern: str, where: str) -> Path:
    matches = [Path(p) for p in glob.glob(pattern)] if glob.has_magic(pattern) else [Path(pattern)]
    matches = [p for p in matches if p.is_file()]
    if not matches:
        raise SourceError(f"{pattern}: no such file (configured at {where})")
    return max(matches, key=lambda p: (p.stat().st_mtime, p.name))


def _position(data: bytes | str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset`; lines end at \\r\\n, \\r or \\n as in the csv reader."""
    nl = b"\n" if isinstance(data, bytes) else "\n"
    cr = b"\r" if isinstance(data, bytes) else "\r"
    head = data[:offset]
    line = head.count(nl) + head.count(cr) - head.count(cr + nl) + 1
    start = max(head.rfind(nl), head.rfind(cr)) + 1
    return line, offset - start + 1


def decode(raw: bytes, encoding: str, path: Path) -> tuple[str, str]:
    """Return (text, encoding used). Raises SourceError naming line and column."""
    if encoding.lower() not in ("auto", ""):
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise SourceError(f"{path}: unknown encoding '{encoding}' (use auto, utf-8, utf-8-sig or cp1252)") from None
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line, col = _position(raw, exc.start)
            raise SourceError(f"{path}:{line}:{col}: not valid {encoding} text (byte 0x{raw[exc.start]:02X}); "
                              "set encoding = \"auto\" or the file's real encoding") from None
        return text.removeprefix("\ufeff"), encoding
    for bom, name in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(name).removeprefix("\ufeff"), name
            except UnicodeDecodeError as exc:
                line, col = _position(raw, exc.start)
                raise SourceError(f"{path}:{line}:{col}: starts with a {name} byte-order mark but is not "
                                  f"valid {name} text") from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # Windows-1252 leaves five bytes undefined; map them instead of failing
        return raw.decode("cp1252", errors="replace"), "cp1252"


def _split_outside_quotes(line: str, candidates: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(candidates, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return counts


def sniff_delimiter(text: str) -> str:
    """The delimiter used most in the first non-blank line, outside quotes; ';' when there is none."""
    header = next((line for line in _NEWLINE.split(text, maxsplit=50) if line.strip()), "")
    counts = _split_outside_quotes(header, DELIMITERS)
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ";"


def _unclosed_quote(text: str, offset: int, delim: str) -> tuple[int, int] | None:
    """(line, column number) of a quoted field opened at or after `offset` that never closes."""
    field, at_start, quoted, opened = 1, True, False, None
    i, n = offset, len(text)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
        elif at_start and ch == '"':
            quoted, opened = True, (i, field)
        elif ch == delim:
            field += 1
        elif ch in "\r\n":
            field = 1
            at_start = True
            i += 1
            continue
        at_start = ch == delim
        i += 1
    if quoted and opened is not None:
        return _position(text, opened[0])[0], opened[1]
    return None


def _line_offsets(text: str) -> list[int]:
    """Offset of the start of each physical line (index 0 = line 1)."""
    return [0] + [m.end() for m in _NEWLINE.finditer(text)]


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None


@dataclass(frozen=True)
class SourceFile:
    """The newest file a file source names, read once: what its fetch parses and fingerprints."""

    path: Path
    raw: bytes
    as_of: dt.datetime  # the file's modification time
    stale: str | None  # the stale warning (max_age_hours), if any
    fingerprint: str | None  # sources.base.file_fingerprint; None while stale (that warning follows the clock)


def read_source_file(kind: str, pattern: str, config: DatasetConfig, tz: dt.tzinfo, now: dt.datetime,
                     max_age_hours: float | None, options: dict) -> SourceFile:
    """The newest file matching `pattern`, its bytes, time, stale warning and fingerprint (csv, xlsx)."""
    path = newest_match(pattern, config.where)
    raw = read_bytes(path)
    as_of = dt.datetime.fromtimestamp(os.stat(path).st_mtime, tz)
    stale = stale_warning(path.name, as_of, now, max_age_hours)
    return SourceFile(path, raw, as_of, stale, None if stale else file_fingerprint(kind, path, raw, options))


def read_csv(path: Path, *, encoding: str = "auto", delimiter: str = "auto",
             info: dict | None = None, raw: bytes | None = None) -> tuple[list[str], list[Row], list[str]]:
    """Read a CSV file into (header, rows, warnings). Raises SourceError, never anything else for bad bytes.

    `info`, when given, receives how the file was read (encoding, delimiter); `raw`, when given,
    is the file's content already read (the fetch fingerprints exactly the bytes it parses).
    """
    if raw is None:
        raw = read_bytes(path)
    if raw.startswith(b"PK\x03\x04"):
        raise SourceError(f"{path}:1:1: this is an Excel workbook (.xlsx), not CSV text; use kind = \"xlsx\"")
    text, used = decode(raw, encoding, path)
    nul = text.find("\x00")
    if nul >= 0:
        line, col = _position(text, nul)
        raise SourceError(f"{path}:{line}:{col}: contains a NUL byte; not a text export (wrong file or encoding?)")
    sep = _SEP_LINE.match(_NEWLINE.split(text, maxsplit=1)[0])
    skip_lines = 1 if sep else 0  # Excel's "sep=;" hint line is never the header
    if delimiter != "auto":
        delim = delimiter
    elif sep:
        delim = sep.group(1)
    else:
        delim = sniff_delimiter(text)
    if len(delim) != 1 or delim in '"\r\n':
        raise SourceError(f"{path}: delimiter must be one character other than a quote or newline")
    if info is not None:
        info.update(encoding=used, delimiter="tab" if delim == "\t" else delim)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=False)
    header: list[str] | None = None
    rows: list[Row] = []
    warnings: list[str] = []
    longer: list[int] = []
    shorter: list[int] = []
    trailing: list[int] = []  # rows whose only extra fields are empty
    start = 1
    last_line = 0  # first line of the last record, if a field in it holds a line break
    shared = {}.setdefault  # one string object per distinct value: areas, drugs, times repeat thousands of times
    try:
        for record in reader:
            line = start
            start = reader.line_num + 1
            if line <= skip_lines or not any(cell.strip() for cell in record):
                continue
            last_line = line if start - line > 1 else 0
            if header is None:
                header = _unique_header(record, path, line, warnings)
                names = {name: i for i, name in enumerate(header)}
                width = len(header)
                continue
            count = len(record)
            cells = tuple(map(shared, record[:width], record[:width]))
            if count < width:
                cells += (None,) * (width - count)
                shorter.append(line)
            elif count > width:
                longer.append(line)
                if not any(c.strip() for c in record[width:]):
                    trailing.append(len(rows))
            else:
                count = 0
            rows.append(Row(cells, names, f"{path.name}:{line}", shape_problem(count, width) if count else (),
                            count))
    except csv.Error as exc:
        opened = _unclosed_quote(text, _line_offsets(text)[min(start, len(_line_offsets(text))) - 1], delim)
        if opened:
            raise SourceError(f"{path}:{opened[0]}:{opened[1]}: quoted field opened here is never closed "
                              "(a stray '\"' in the export?)") from None
        raise SourceError(f"{path}:{start}: malformed CSV ({exc})") from None
    if last_line:
        # the csv module (non-strict) ends a never-closed quote at the end of the file: catch that here
        opened = _unclosed_quote(text, _line_offsets(text)[last_line - 1], delim)
        if opened:
            raise SourceError(f"{path}:{opened[0]}:{opened[1]}: quoted field opened here is never closed "
                              "(a stray '\"' in the export?)")
    if header is None:
        raise SourceError(f"{path}:1: empty file, no header line")
    if rows and len(trailing) == len(rows):
        # every data row ends in empty extra fields: the exporter's habit, not shifted values
        rows = [Row(r.cells, r.names, r.origin) for r in rows]
        warnings.append(f"{path.name}: every data row ends with an extra empty field (a trailing delimiter); "
                        "read as the header's columns")
        longer = []
    for lines, what in ((longer, "more fields than the header (values may have shifted; rows flagged)"),
                        (shorter, "fewer fields than the header (values may have shifted; rows flagged)")):
        if lines:
            first_lines = ", ".join(str(n) for n in lines[:5])
            warnings.append(f"{path.name}: {len(lines)} row(s) with {what}: line(s) {first_lines}"
                            + (" …" if len(lines) > 5 else ""))
    return header, rows, warnings


def shape_problem(count: int, width: int) -> tuple[str, ...]:
    """The Danish note for a row whose field count differs from the header's."""
    return (f"rækken har {count} felter, overskriften {width}; værdierne kan være forskudt",)


def _unique_header(record: list[str], path: Path, line: int, warnings: list[str]) -> list[str]:
    header: list[str] = []
    for i, name in enumerate(record, start=1):
        name = " ".join(name.split()) or f"kolonne {i}"
        if name in header:
            n = 2
            while f"{name} ({n})" in header:
                n += 1
            warnings.append(f"{path.name}:{line}:{i}: column {i} repeats the header '{name}'; read as '{name} ({n})'")
            name = f"{name} ({n})"
        header.append(name)
    return header


def pop_max_age(opts: dict, config: DatasetConfig) -> float | None:
    value = opts.pop("max_age_hours", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise config.error("max_age_hours must be a number of hours above 0")
    return float(value)


@register("csv")
class CsvSource:
    def __init__(self, config: DatasetConfig, tz: dt.tzinfo):
        self.config, self.tz = config, tz
        opts = config.options_for("path")
        self.path = str(opts.pop("path"))
        self.encoding = str(opts.pop("encoding", "auto"))
        self.delimiter = str(opts.pop("delimiter", "auto"))
        if self.delimiter in ("\\t", "tab"):
            self.delimiter = "\t"
        if self.delimiter != "auto" and (len(self.delimiter) != 1 or self.delimiter in '"\r\n'):
            raise config.error("delimiter must be \"auto\", \"tab\" "
                               "or one character")
        self.max_age_hours = pop_max_age(opts, config)
        config.reject_unknown(opts)

    def _read(self, now: dt.datetime) -> SourceFile:
        return read_source_file("csv", self.path, self.config, self.tz, now, self.max_age_hours,
                                {"encoding": self.encoding, "delimiter": self.delimiter})

    def fingerprint(self, now: dt.datetime) -> str | None:
        return self._read(now).fingerprint

    def fetch(self, now: dt.datetime) -> Snapshot:
        file = self._read(now)
        info: dict = {}
        header, rows, warnings = read_csv(file.path, encoding=self.encoding, delimiter=self.delimiter, info=info,
                                          raw=file.raw)
        if file.stale:
            warnings.insert(0, file.stale)
        return Snapshot(dataset=self.config.name, kind="csv", source=str(file.path), as_of=file.as_of,
                        columns=header, rows=rows, warnings=warnings, details=info, fingerprint=file.fingerprint)
