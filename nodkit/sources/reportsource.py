"""Ready-made PDF reports that another system writes (kind = "reports").

Care records, school systems and FMK print-outs can write their own daily
emergency reports ("nødrapporter") to a drive. This adapter takes them in
as they are: it finds the files, maps each to a unit and a title by the
file-name rules in nodkit.toml, keeps the newest per (unit, title) and
checks that it is a whole PDF that opens and has pages. The export then
stamps, encrypts and files each one like a rendered list.

Options (nodkit.toml, [datasets.NAME]):
  path                 the folder the other system writes to
  pattern              file name rule relative to `path`, with the groups
                       {unit} {title} {date} and * (any text); a "/" means a
                       sub-folder, e.g. "{unit}/{title}_{date}.pdf"
  unit, title          fixed values when the pattern has no such group
                       (without any unit the reports are kit-wide, "Fælles")
  units, titles        tables: name in the file name -> name in the kit
  date_format          strptime format of {date} (default "%Y-%m-%d")
  data_time            "created" (the PDF's creation date, default),
                       "filename" (the {date} group) or "modified" (file time)
  max_age_hours        a report older than this is stale (warning)
  max_unchanged_hours  the same file taken for longer than this is stale
                       (warning; default 24, 0 = never)
  password_env         environment variable holding the source system's
                       PDF password (default NODKIT_REPORT_PASSWORD_<DATASET>)
  stamp                where nodkit's stamp goes on each page:
                       bottom-right (default), bottom-left, bottom-center,
                       top-right, top-left, top-center
  stamp_margin_mm      distance of the stamp from the page edge (default 6)
  missing              a report of the last good set with no file now makes
                       the set "partial" (default) or is only a "warning"

Rules kept here:
- The report's content is the source system's: its text is never extracted
  or logged; only file names, page counts and hashes appear in messages.
- The files are read once into memory; nothing of them is written anywhere
  (the export encrypts its stamped copies before they touch the disk).
- One broken report skips only its own entry, named by file and reason
  (`Snapshot.skipped`); older files of the same unit and title are named
  in `details["ignored"]`, never silently taken instead.
- The password comes from the environment, never from nodkit.toml.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf

from nodkit.errors import SourceError
from nodkit.sources import register
from nodkit.sources.base import DatasetConfig, Row, Snapshot, stale_warning

log = logging.getLogger(__name__)

KIT_WIDE_UNIT = "Fælles"
DATA_TIMES = ("created", "filename", "modified")
STAMP_POSITIONS = ("bottom-right", "bottom-left", "bottom-center", "top-right", "top-left", "top-center")
GROUPS = ("unit", "title", "date")
_TOKEN = re.compile(r"\{(\w+)\}|\*")


def password_env_name(dataset: str) -> str:
    return "NODKIT_REPORT_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", dataset.upper())


@dataclass(frozen=True)
class StampSpec:
    position: str = "bottom-right"
    margin_mm: float = 6.0


@dataclass
class ReportDocument:
    """One chosen report: what the export stamps and files as list `list_id` for `unit`."""

    file: str  # relative to the folder, "/"-separated (messages, sources check)
    unit: str
    title: str
    list_id: str  # the file name of the list in each set, unique per dataset and title
    kit_wide: bool
    as_of: dt.datetime
    pages: int
    sha256: str  # of the source file's bytes: the same file in two sets is the same report
    data: bytes = field(repr=False)  # the source file as read (plain, in memory only)
    password: str | None = field(default=None, repr=False)  # the source system's, when it protects the file


def _compile(pattern: str, where: DatasetConfig) -> re.Pattern:
    parts, seen, pos = [], set(), 0
    for m in _TOKEN.finditer(pattern):
        parts.append(re.escape(pattern[pos:m.start()]))
        name = m.group(1)
        if m.group(0) == "*":
            parts.append(r"[^/]*")
        elif name not in GROUPS:
            raise where.error(f"pattern: unknown group {{{name}}} (use {{unit}}, {{title}}, {{date}} or *)")
        elif name in seen:
            raise where.error(f"pattern: {{{name}}} appears twice")
        else:
            seen.add(name)
            parts.append(rf"(?P<{name}>[^/]+?)")
        pos = m.end()
    parts.append(re.escape(pattern[pos:]))
    return re.compile("".join(parts), re.IGNORECASE)


def _table(opts: dict, key: str, config: DatasetConfig) -> dict[str, str]:
    value = opts.pop(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise config.error(f"{key} must be a table of name in the file name = name in the kit")
    return {k.casefold(): v for k, v in value.items()}


def _hours(opts: dict, key: str, default: float | None, config: DatasetConfig, zero_ok: bool) -> float | None:
    value = opts.pop(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
        raise config.error(f"{key} must be a number of hours above 0" + (" (or 0 for never)" if zero_ok else ""))
    return float(value)


@register("reports")
class ReportSource:
    def __init__(self, config: DatasetConfig, tz: dt.tzinfo):
        self.config, self.tz = config, tz
        opts = config.options_for("path", "pattern")
        for secret in ("password", "pdf_password"):
            if secret in opts:
                raise config.error(f"do not put the report password in nodkit.toml; set the environment variable "
                                   f"{opts.get('password_env', password_env_name(config.name))} instead")
        self.folder = Path(str(opts.pop("path")))
        self.pattern = str(opts.pop("pattern"))
        self.regex = _compile(self.pattern, config)
        self.depth = self.pattern.count("/")
        groups = set(self.regex.groupindex)
        self.fixed_unit = opts.pop("unit", None)
        self.fixed_title = opts.pop("title", None)
        for key, value in (("unit", self.fixed_unit), ("title", self.fixed_title)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise config.error(f"{key} must be a text")
            if value is not None and key in groups:
                raise config.error(f"{key} is given both as {{{key}}} in the pattern and as a fixed value")
        if "title" not in groups and self.fixed_title is None:
            raise config.error("give the report's title: a {title} group in the pattern or title = \"…\"")
        self.units = _table(opts, "units", config)
        self.titles = _table(opts, "titles", config)
        self.date_format = str(opts.pop("date_format", "%Y-%m-%d"))
        self.data_time = opts.pop("data_time", "created")
        if self.data_time not in DATA_TIMES:
            raise config.error(f"data_time must be one of {', '.join(DATA_TIMES)}")
        if self.data_time == "filename" and "date" not in groups:
            raise config.error("data_time = \"filename\" needs a {date} group in the pattern")
        self.max_age_hours = _hours(opts, "max_age_hours", None, config, zero_ok=False)
        self.max_unchanged_hours = _hours(opts, "max_unchanged_hours", 24.0, config, zero_ok=True)
        self.password_env = str(opts.pop("password_env", password_env_name(config.name)))
        position = opts.pop("stamp", "bottom-right")
        if position not in STAMP_POSITIONS:
            raise config.error(f"stamp must be one of {', '.join(STAMP_POSITIONS)}")
        self.missing = opts.pop("missing", "partial")
        if self.missing not in ("partial", "warning"):
            raise config.error("missing must be \"partial\" or \"warning\"")
        margin = opts.pop("stamp_margin_mm", 6.0)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 50:
            raise config.error("stamp_margin_mm must be a number of millimetres from 0 to 50")
        self.stamp = StampSpec(position, float(margin))
        config.reject_unknown(opts)

    # -- which files -------------------------------------------------------------------------------
    def _candidates(self) -> tuple[list[tuple[str, Path, re.Match]], list[str]]:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: no such folder (configured at {self.config.where})")
        found, ignored = [], []
        for dirpath, dirnames, filenames in os.walk(self.folder):
            rel_dir = Path(dirpath).relative_to(self.folder)
            level = 0 if str(rel_dir) == "." else len(rel_dir.parts)
            if level >= self.depth:
                dirnames[:] = []
            dirnames.sort()
            for name in sorted(filenames):
                rel = (rel_dir / name).as_posix() if level else name
                if name.startswith(".") or name.startswith("~$"):
                    continue  # hidden and lock files of the writing system
                match = self.regex.fullmatch(rel) if level == self.depth else None
                if match is None:
                    ignored.append(f"{rel}: does not match pattern {self.pattern!r}")
                else:
                    found.append((rel, Path(dirpath) / name, match))
        return found, ignored

    def _name_date(self, match: re.Match, rel: str) -> dt.datetime | None:
        text = match.groupdict().get("date")
        if text is None:
            return None
        try:
            moment = dt.datetime.strptime(text, self.date_format)
        except ValueError:
            return None
        return moment.replace(tzinfo=self.tz) if moment.tzinfo is None else moment

    def fetch(self, now: dt.datetime) -> Snapshot:
        found, ignored = self._candidates()
        if not found:
            raise SourceError(f"{self.folder}: no file matches pattern {self.pattern!r} "
                              f"(configured at {self.config.where})")
        groups: dict[tuple[str, str], list] = {}
        skipped: list[str] = []
        skipped_keys: list[list[str]] = []  # [list id, unit] of each skipped report (not "missing")
        for rel, path, match in found:
            try:
                mtime = path.stat().st_mtime
            except OSError as exc:
                skipped.append(f"{rel}: cannot be read ({exc.strerror or type(exc).__name__})")
                continue
            raw_unit = match.groupdict().get("unit") or self.fixed_unit
            unit = self.units.get(raw_unit.casefold(), raw_unit) if raw_unit else KIT_WIDE_UNIT
            raw_title = match.groupdict().get("title") or self.fixed_title
            title = self.titles.get(raw_title.casefold(), raw_title)
            name_date = self._name_date(match, rel)
            if "date" in match.groupdict() and name_date is None:
                skipped.append(f"{rel}: the date in the file name does not fit date_format {self.date_format!r}")
                skipped_keys.append([report_list_id(self.config.name, title), unit])
                continue
            order = (name_date.timestamp() if name_date else mtime, mtime, rel)
            groups.setdefault((unit, title), []).append((order, rel, path, name_date, raw_unit is None))
        documents: list[ReportDocument] = []
        warnings: list[str] = []
        password = os.environ.get(self.password_env) or None
        for (unit, title), files in sorted(groups.items()):
            files.sort(reverse=True)
            _, rel, path, name_date, kit_wide = files[0]
            ignored += [f"{older}: older than {rel} ({unit}, {title})" for _, older, *_ in files[1:]]
            try:
                doc = self._read(rel, path, unit, title, name_date, kit_wide, password, warnings)
            except SourceError as exc:
                skipped.append(str(exc))
                skipped_keys.append([report_list_id(self.config.name, title), unit])
                log.warning("dataset %s: report skipped: %s", self.config.name, exc)
                continue
            stale = stale_warning(rel, doc.as_of, now, self.max_age_hours)
            if stale:
                warnings.append(stale)
            documents.append(doc)
        if skipped and not documents:
            raise SourceError(f"{self.folder}: no report could be taken: " + "; ".join(skipped))
        as_of = min((d.as_of for d in documents), default=now)
        digest = hashlib.sha256("\n".join(f"{d.list_id}|{d.unit}|{d.sha256}|{d.as_of.isoformat()}"
                                          for d in documents).encode()).hexdigest()
        names = {"unit": 0, "title": 1, "file": 2, "pages": 3}
        rows = [Row((d.unit, d.title, d.file, d.pages), names, d.file) for d in documents]
        return Snapshot(dataset=self.config.name, kind="reports", source=str(self.folder), as_of=as_of,
                        columns=list(names), rows=rows, warnings=warnings,
                        details={"pattern": self.pattern, "data_time": self.data_time, "digest": digest,
                                 "ignored": ignored, "max_unchanged_hours": self.max_unchanged_hours,
                                 "stamp": self.stamp.position, "stamp_margin_mm": self.stamp.margin_mm,
                                 "missing": self.missing, "skipped_keys": skipped_keys},
                        documents=documents, skipped=skipped)

    # -- one file ----------------------------------------------------------------------------------
    def _read(self, rel: str, path: Path, unit: str, title: str, name_date: dt.datetime | None, kit_wide: bool,
              password: str | None, warnings: list[str]) -> ReportDocument:
        try:
            data = path.read_bytes()
            mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, self.tz)
        except OSError as exc:
            raise SourceError(f"{rel}: cannot be read ({exc.strerror or type(exc).__name__})") from None
        problem = pdf_shape_problem(data)
        if problem:
            raise SourceError(f"{rel}: {problem}")
        try:
            pdf = _open(data, password)
        except pikepdf.PasswordError:
            raise SourceError(f"{rel}: protected by a password " + (
                f"that the password in {self.password_env} does not open" if password else
                f"and {self.password_env} is not set")) from None
        except (pikepdf.PdfError, ValueError, RuntimeError) as exc:
            raise SourceError(f"{rel}: damaged PDF that does not open ({type(exc).__name__})") from None
        with pdf:
            try:
                pages = len(pdf.pages)
            except (pikepdf.PdfError, RuntimeError) as exc:
                raise SourceError(f"{rel}: damaged page tree ({type(exc).__name__})") from None
            if pages == 0:
                raise SourceError(f"{rel}: the PDF has no pages")
            repaired = len(pdf.get_warnings())
            created = _creation_date(pdf, self.tz)
        if repaired:
            warnings.append(f"{rel}: damaged PDF, opened after qpdf repaired {repaired} problem(s); check the "
                            "printout against the source system")
        if self.data_time == "filename":
            as_of = name_date
        elif self.data_time == "created" and created is not None:
            as_of = created
        else:
            as_of = mtime
            if self.data_time == "created":
                warnings.append(f"{rel}: no creation date in the PDF; \"Data pr.\" is the file's time")
        return ReportDocument(file=rel, unit=unit, title=title, list_id=report_list_id(self.config.name, title),
                              kit_wide=kit_wide, as_of=as_of, pages=pages, sha256=hashlib.sha256(data).hexdigest(),
                              data=data, password=password if _encrypted(data, password) else None)


def report_list_id(dataset: str, title: str) -> str:
    """The list id (file name in the set) of one report title: dataset and title, file-name safe."""
    cleaned = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", title).strip(" .")
    return f"{dataset}-{cleaned}"[:80]


def pdf_shape_problem(data: bytes) -> str | None:
    """Why these bytes are not a whole PDF, from its first and last bytes only (never its content)."""
    if not data:
        return "empty file (0 bytes)"
    head = data[:1024]
    if b"%PDF-" not in head:
        lowered = head.lstrip().lower()
        if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
            return "not a PDF: an HTML/XML page saved as .pdf (a login or error page of the source system?)"
        return "not a PDF: no %PDF- header"
    if b"%%EOF" not in data[-2048:]:
        return "truncated PDF: no %%EOF at its end (cut off, or still being written)"
    return None


def _open(data: bytes, password: str | None) -> pikepdf.Pdf:
    """The PDF, opened with `password` only when it needs one."""
    try:
        return pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        if not password:
            raise
    return pikepdf.open(io.BytesIO(data), password=password)


def _encrypted(data: bytes, password: str | None) -> bool:
    """Whether the file needs `password` to open (so the export must give it again)."""
    if not password:
        return False
    try:
        with pikepdf.open(io.BytesIO(data)):
            return False
    except pikepdf.PasswordError:
        return True


def _creation_date(pdf: pikepdf.Pdf, tz: dt.tzinfo) -> dt.datetime | None:
    from pikepdf.models.metadata import decode_pdf_date
    raw = pdf.docinfo.get("/CreationDate") if pdf.trailer.get("/Info") is not None else None
    if raw is None:
        return None
    try:
        moment = decode_pdf_date(str(raw))
    except (ValueError, TypeError):
        return None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)
