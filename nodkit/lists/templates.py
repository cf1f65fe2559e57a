"""List templates: TOML files that say what a printed list looks like.

A template names its dataset, the columns (field, heading, type, relative
width, required, masking), how rows group into sections (one page run per
route, class or citizen) and into units (one file per home-care area or
school), and the sort order. Built-ins live in templates/; a file with the
same name in the kit's templates/ replaces the built-in, a new file adds a
list. No Python needed. The format is documented in docs/templates.md.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from nodkit.config import tomlfile
from nodkit.lists import values
from nodkit.errors import TemplateError
from nodkit.resources import builtin_dir

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Column:
    field: str
    heading: str
    type: str = "text"
    width: float = 1.0
    required: bool = False
    mask: str | None = None


FILTER_OPS = ("present", "one_of", "not_one_of")


@dataclass(frozen=True)
class Condition:
    """One `[[include_if]]` entry: a row is on the list only if every condition holds.

    Compares the printed text of `field`, ignoring case and surrounding space.
    """

    field: str
    present: bool | None = None
    one_of: tuple[str, ...] = ()
    not_one_of: tuple[str, ...] = ()

    def holds(self, shown: str) -> bool:
        text = shown.strip().casefold()
        if self.present is not None and bool(text) != self.present:
            return False
        if self.one_of and text not in {v.strip().casefold() for v in self.one_of}:
            return False
        if self.not_one_of and text in {v.strip().casefold() for v in self.not_one_of}:
            return False
        return True


@dataclass(frozen=True)
class Horizon:
    """Planning horizon: rows dated today .. today + `days` (in `field`) are listed.

    When `field` is a section field, every route/shift seen in the unit gets a
    section for every day of the horizon, so a day without visits says so.
    """

    field: str
    days: int = 3


@dataclass(frozen=True)
class TickBoxes:
    """Empty tick-box columns for a paper form, one per day from today."""

    days: int = 5
    weekdays_only: bool = True
    width: float = 0.55


@dataclass(frozen=True)
class Template:
    id: str
    title: str
    dataset: str
    columns: tuple[Column, ...]
    unit: str | None = None  # field naming the unit; None = one kit-wide unit
    unit_default: str = "Fælles"
    section: tuple[str, ...] = ()
    section_title: str = ""
    sort: tuple[str, ...] = ()
    orientation: str = "portrait"
    empty_text: str = "Ingen rækker"
    description: str = ""
    source: str = ""  # file it was loaded from
    extra_fields: tuple[str, ...] = field(default=())  # fields used by unit/section/sort only
    include_if: tuple[Condition, ...] = ()
    horizon: Horizon | None = None
    tick_boxes: TickBoxes | None = None
    write_in: tuple[Column, ...] = ()  # empty columns for handwriting, after the tick boxes ("Udført")
    cover_sections: tuple[str, ...] = ()  # sections whose rows go on binder covers ("whom to call")
    cover_audience: str | None = None  # column naming the audience(s) a cover row is for; empty cell = all
    order: tuple[tuple[str, tuple[str, ...]], ...] = ()  # field -> values in the order they sort

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the template reads, columns first."""
        seen: list[str] = [c.field for c in self.columns]
        more = [c.field for c in self.include_if] + ([self.horizon.field] if self.horizon else [])
        for f in (self.unit, *self.section, *self.sort, *self.extra_fields, *more):
            if f and f not in seen:
                seen.append(f)
        return tuple(seen)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.field == name), None)


def _section_fields(title: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(title) if name]


def load_template(path: Path) -> Template:
    doc = tomlfile.load(path, TemplateError)
    top = tomlfile.Reader(doc, (), doc.data, TemplateError)
    version = top.get("format_version", int, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise top.fail("format_version", f"this nodkit reads template format {FORMAT_VERSION}, file says {version}")
    title = top.get("title", str)
    dataset = top.get("dataset", str)
    raw_cols = top.get("columns", list)
    if not raw_cols:
        raise top.fail("columns", "needs at least one [[columns]] entry")
    columns = []
    for i, raw in enumerate(raw_cols):
        if not isinstance(raw, dict):
            raise top.fail("columns", "use [[columns]] tables")
        r = tomlfile.Reader(doc, ("columns", i), raw, TemplateError)
        kind = r.get("type", str, "text", choices=values.TYPES)
        mask = r.get("mask", str, None, choices=values.CPR_MASKS)
        if mask and kind != "cpr":
            raise r.fail("mask", "masking applies to type = \"cpr\" only")
        width = r.get("width", float, 1.0)
        if width <= 0:
            raise r.fail("width", "must be greater than 0")
        col = Column(field=r.get("field", str), heading=r.get("heading", str, None) or "",
                     type=kind, width=width, required=r.get("required", bool, False), mask=mask)
        if not col.heading:
            col = Column(col.field, col.field, col.type, col.width, col.required, col.mask)
        r.check_unknown()
        columns.append(col)
    section = top.get("section", (list, str), [])
    section = [section] if isinstance(section, str) else section
    sort = top.get("sort", (list, str), [])
    sort = [sort] if isinstance(sort, str) else sort
    section_title = top.get("section_title", str, " · ".join("{%s}" % f for f in section))
    include_if = _conditions(doc, top)
    horizon = None
    if "horizon" in doc.data:
        h = top.sub("horizon")
        horizon = Horizon(field=h.get("field", str), days=h.get("days", int, 3))
        if not 0 <= horizon.days <= 31:
            raise h.fail("days", "must be between 0 and 31")
        h.check_unknown()
    tick_boxes = None
    if "tick_boxes" in doc.data:
        t = top.sub("tick_boxes")
        tick_boxes = TickBoxes(days=t.get("days", int, 5), weekdays_only=t.get("weekdays_only", bool, True),
                               width=t.get("width", float, 0.55))
        if not 1 <= tick_boxes.days <= 14:
            raise t.fail("days", "must be between 1 and 14")
        if tick_boxes.width <= 0:
            raise t.fail("width", "must be greater than 0")
        t.check_unknown()
    order_r = top.sub("order")
    order = []
    for name in order_r.table:
        listed = order_r.get(name, list)
        if not all(isinstance(v, str) for v in listed):
            raise order_r.fail(name, "must be a list of texts in the order they should sort")
        order.append((name, tuple(listed)))
    cover_sections = top.get("cover_sections", list, [])
    if not all(isinstance(x, str) for x in cover_sections):
        raise top.fail("cover_sections", "must be a list of section titles")
    template = Template(
        id=path.stem, title=title, dataset=dataset, columns=tuple(columns),
        unit=top.get("unit", str, None), unit_default=top.get("unit_default", str, "Fælles"),
        section=tuple(section), section_title=section_title, sort=tuple(sort),
        orientation=top.get("orientation", str, "portrait", choices=("portrait", "landscape")),
        empty_text=top.get("empty_text", str, "Ingen rækker"),
        description=top.get("description", str, ""), source=str(path),
        extra_fields=tuple(f for f in _section_fields(section_title)),
        include_if=include_if, horizon=horizon, tick_boxes=tick_boxes, write_in=_write_in(doc, top),
        cover_sections=tuple(cover_sections), cover_audience=top.get("cover_audience", str, None),
        order=tuple(order),
    )
    top.check_unknown()
    for name, _ in order:
        if name not in template.fields:
            raise order_r.fail(name, "is not a field of this list (columns, section, sort)")
    for key, names in (("section", section), ("sort", sort)):
        for name in names:
            if not isinstance(name, str) or not name:
                raise top.fail(key, "must be a list of field names")
    try:
        section_title.format(**{f: "" for f in template.fields})
    except (KeyError, IndexError, ValueError) as exc:
        raise top.fail("section_title", f"invalid placeholder {exc}") from None
    if template.cover_audience is not None and template.column(template.cover_audience) is None:
        raise top.fail("cover_audience", f"'{template.cover_audience}' is not one of the list's [[columns]] fields")
    return template


def _write_in(doc: tomlfile.TomlDoc, top: tomlfile.Reader) -> tuple[Column, ...]:
    """`[[write_in]]`: empty columns at the right edge for staff to write in by hand
    ("Udført", "Hentet kl./af"). They read no field; the row rules give the lines."""
    result = []
    for i, entry in enumerate(top.get("write_in", list, [])):
        if not isinstance(entry, dict):
            raise top.fail("write_in", "use [[write_in]] tables")
        r = tomlfile.Reader(doc, ("write_in", i), entry, TemplateError)
        heading = r.get("heading", str)
        if not heading.strip():
            raise r.fail("heading", "must not be empty: staff must see what to write")
        width = r.get("width", float, 1.0)
        if width <= 0:
            raise r.fail("width", "must be greater than 0")
        r.check_unknown()
        result.append(Column(field=f"__write{i}", heading=heading, type="write_in", width=width))
    return tuple(result)


def _conditions(doc: tomlfile.TomlDoc, top: tomlfile.Reader) -> tuple[Condition, ...]:
    raw = top.get("include_if", list, [])
    result = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise top.fail("include_if", "use [[include_if]] tables")
        r = tomlfile.Reader(doc, ("include_if", i), entry, TemplateError)
        cond = Condition(field=r.get("field", str), present=r.get("present", bool, None),
                         one_of=tuple(r.get("one_of", list, [])), not_one_of=tuple(r.get("not_one_of", list, [])))
        for key in ("one_of", "not_one_of"):
            if not all(isinstance(v, str) for v in getattr(cond, key)):
                raise r.fail(key, "must be a list of texts")
        r.check_unknown()
        if cond.present is None and not cond.one_of and not cond.not_one_of:
            raise r.fail(None, f"needs one of {', '.join(FILTER_OPS)}")
        result.append(cond)
    return tuple(result)


def template_dirs(kit_home: Path | None) -> list[Path]:
    dirs = [builtin_dir("templates")]
    if kit_home is not None and (kit_home / "templates").is_dir():
        dirs.append(kit_home / "templates")
    return dirs


def template_files(kit_home: Path | None) -> dict[str, Path]:
    """Template id -> file; the kit's own files replace built-ins of the same name."""
    files: dict[str, Path] = {}
    for folder in template_dirs(kit_home):
        for path in sorted(folder.glob("*.toml")):
            files[path.stem] = path
    return dict(sorted(files.items()))


def load_templates(kit_home: Path | None, errors: dict[str, TemplateError] | None = None) -> dict[str, Template]:
    """All templates by id. With `errors` given, a broken file is recorded there
    instead of raising, so one bad site template cannot stop every other list."""
    result = {}
    for name, path in template_files(kit_home).items():
        try:
            result[name] = load_template(path)
        except TemplateError as exc:
            if errors is None:
                raise
            errors[name] = exc
    return result
