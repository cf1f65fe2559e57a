"""Excel workbooks (.xlsx): the way school and HR systems export lists.

Options (nodkit.toml, [datasets.NAME]):
  path           file or glob; with a glob the newest matching file is read
  sheet          sheet name; default the first sheet
  header_row     the row number (1-based, as Excel shows it) of the header;
                 default: detected (see below)
  max_age_hours  warn (stale data) when the file is older than this

Header detection: among the first 30 rows, the row that contains the most of
the source columns named in [datasets.NAME.columns]; without a mapping, the
first row whose filled cells are all text and at least half as many as the
widest row. Title rows above the header ("Klasseliste pr. 1. december") are
skipped that way.

Cells keep their Excel types: dates and times arrive as date/time values
(no text parsing needed), numbers as numbers. A cell inside a merged range
below the header gets the merged range's value (a merged "Område" cell
spanning ten rows applies to all ten). Formulas give their last calculated
value. "Data as of" is the file's modification time.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings as pywarnings
from pathlib import Path
from typing import Any

from nodkit.errors import SourceError
from nodkit.sources import register
from nodkit.sources.base import DatasetConfig, Row, Snapshot, column_letter
from nodkit.sources.csvsource import SourceFile, _unique_header, pop_max_age, read_source_file

SCAN_ROWS = 30


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def detect_header(rows: list[tuple], wanted: set[str]) -> int:
    """Index (0-based) of the header among the first rows."""
    scan = rows[:SCAN_ROWS]
    if wanted:
        folded = {w.casefold().strip() for w in wanted}
        best, best_hits = None, 0
        for i, row in enumerate(scan):
            hits = sum(1 for v in row if isinstance(v, str) and " ".join(v.split()).casefold() in folded)
            if hits > best_hits:
                best, best_hits = i, hits
        if best is not None:
            return best
    widest = max((sum(1 for v in row if not _blank(v)) for row in scan), default=0)
    for i, row in enumerate(scan):
        filled = [v for v in row if not _blank(v)]
        if len(filled) >= max(1, (widest + 1) // 2) and all(isinstance(v, str) for v in filled):
            return i
    return next((i for i, row in enumerate(scan) if any(not _blank(v) for v in row)), 0)


def read_xlsx(path: Path, *, sheet: str | None = None, header_row: int | None = None,
              wanted: set[str] | None = None, raw: bytes | None = None
              ) -> tuple[list[str], list[Row], list[str], str, int]:
    """Read one sheet into (header, rows, warnings, sheet name, header row number). Raises SourceError.

    `raw`, when given, is the workbook's content already read (the fetch fingerprints exactly
    the bytes it parses)."""
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - install_requires has it
        raise SourceError(f"{path}: reading .xlsx needs the openpyxl package (pip install openpyxl)") from None
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore")  # "no default style" and similar noise from generated files
            book = openpyxl.load_workbook(path if raw is None else io.BytesIO(raw), data_only=True)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # openpyxl raises many kinds on a damaged or foreign file
        hint = " (an old .xls or a password-protected workbook? save it as .xlsx without a password)"
        raise SourceError(f"{path}: not a readable .xlsx workbook{hint}: {type(exc).__name__}") from None
    try:
        if not book.worksheets:
            raise SourceError(f"{path}: the workbook has no worksheets")
        if sheet is None:
            ws = book.worksheets[0]
        elif sheet in book.sheetnames:
            ws = book[sheet]
        else:
            raise SourceError(f"{path}: no sheet '{sheet}'; sheets are: {', '.join(book.sheetnames)}")
        if not hasattr(ws, "iter_rows"):
            raise SourceError(f"{path}: sheet '{ws.title}' is a chart, not a table")
        # fill merged ranges so every row of a merged block carries its value
        merged_fill: dict[int, list[tuple[int, Any]]] = {}  # Excel row -> [(column, value)]
        for rng in ws.merged_cells.ranges:
            value = ws.cell(rng.min_row, rng.min_col).value
            for r in range(rng.min_row, rng.max_row + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    merged_fill.setdefault(r, []).append((c, value))
        grid = [tuple(cell for cell in row) for row in ws.iter_rows(values_only=True)]
        title = ws.title
    except SourceError:
        raise
    except Exception as exc:  # a damaged sheet part that openpyxl only notices now
        raise SourceError(f"{path}: not a readable .xlsx workbook (damaged sheet): {type(exc).__name__}") from None
    finally:
        book.close()
    warnings: list[str] = []
    if not grid or all(all(_blank(v) for v in row) for row in grid):
        raise SourceError(f"{path}: sheet '{title}' is empty, no header row")
    if header_row is not None:
        if header_row > len(grid):
            raise SourceError(f"{path}: header_row {header_row} is below the last row ({len(grid)}) of sheet '{title}'")
        h = header_row - 1
    else:
        h = detect_header(grid, wanted or set())
    raw_header = [("" if v is None else str(v)) for v in grid[h]]
    while raw_header and not raw_header[-1].strip():
        raw_header.pop()
    if not raw_header:
        raise SourceError(f"{path}:{h + 1}: header row of sheet '{title}' is empty")
    header = _unique_header(raw_header, path, h + 1, warnings)
    rows: list[Row] = []
    names = {name: i for i, name in enumerate(header)}
    for r_index in range(h + 1, len(grid)):
        excel_row = r_index + 1
        cells = list(grid[r_index])
        for c, value in merged_fill.get(excel_row, ()):
            if c - 1 < len(header):
                while len(cells) < c:
                    cells.append(None)
                if cells[c - 1] is None:
                    cells[c - 1] = value
        if all(_blank(v) for v in cells):
            continue
        problems: tuple[str, ...] = ()
        extra = [i for i in range(len(header), len(cells)) if not _blank(cells[i])]
        if extra:
            problems = (f"celle {column_letter(extra[0] + 1)}{excel_row} ligger uden for overskriften",)
        values = tuple((cells[i] if i < len(cells) else None) for i in range(len(header)))
        values = tuple((v.strip() if isinstance(v, str) else v) for v in values)
        rows.append(Row(values, names, f"{path.name}:{excel_row}", problems))
    return header, rows, warnings, title, h + 1


@register("xlsx")
class XlsxSource:
    def __init__(self, config: DatasetConfig, tz: dt.tzinfo):
        self.config, self.tz = config, tz
        opts = config.options_for("path")
        self.path = str(opts.pop("path"))
        sheet = opts.pop("sheet", None)
        self.sheet = None if sheet is None else str(sheet)
        header_row = opts.pop("header_row", None)
        if header_row is not None and (isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1):
            raise config.error("header_row must be a row number from 1")
        self.header_row = header_row
        self.max_age_hours = pop_max_age(opts, config)
        config.reject_unknown(opts)

    def _read(self, now: dt.datetime) -> SourceFile:
        wanted = sorted(self.config.columns.values())  # the header is found by the columns configured
        return read_source_file("xlsx", self.path, self.config, self.tz, now, self.max_age_hours,
                                {"sheet": self.sheet, "header_row": self.header_row, "wanted": wanted})

    def fingerprint(self, now: dt.datetime) -> str | None:
        return self._read(now).fingerprint

    def fetch(self, now: dt.datetime) -> Snapshot:
        file = self._read(now)
        header, rows, warnings, sheet, header_row = read_xlsx(file.path, sheet=self.sheet, header_row=self.header_row,
                                                              wanted=set(self.config.columns.values()), raw=file.raw)
        if file.stale:
            warnings.insert(0, file.stale)
        return Snapshot(dataset=self.config.name, kind="xlsx",
                        source=f"{file.path} (sheet '{sheet}', header row {header_row})", as_of=file.as_of,
                        columns=header, rows=rows, warnings=warnings,
                        details={"sheet": sheet, "header_row": header_row}, fingerprint=file.fingerprint)
