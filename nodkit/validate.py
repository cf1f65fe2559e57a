"""Validate a snapshot against a template and shape it into units and sections.

Rules kept here:
- A row with a problem (missing required value, unparseable date) is kept,
  shown with its raw text, flagged, and listed in the section's notes. Nothing
  is dropped silently.
- A template field with no source column at all is structural: `SourceError`
  naming the dataset, the field and the config line to fix.
- Problem texts for the PDF are Danish; counts for logs carry no values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from . import values
from .errors import SourceError
from .sources.base import DatasetConfig, Snapshot
from .templates import Template


@dataclass
class PreparedRow:
    cells: list[str]
    problems: list[str]
    origin: str
    key: tuple = ()

    @property
    def flagged(self) -> bool:
        return bool(self.problems)


@dataclass
class Section:
    title: str
    rows: list[PreparedRow]

    @property
    def flagged(self) -> list[PreparedRow]:
        return [r for r in self.rows if r.problems]


@dataclass
class UnitList:
    unit: str
    sections: list[Section]

    @property
    def rows(self) -> int:
        return sum(len(s.rows) for s in self.sections)

    @property
    def flagged(self) -> int:
        return sum(len(s.flagged) for s in self.sections)


@dataclass
class PreparedList:
    template: Template
    as_of: dt.datetime
    units: dict[str, UnitList]
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.units.values())

    @property
    def flagged(self) -> int:
        return sum(u.flagged for u in self.units.values())


def column_map(template: Template, dataset: DatasetConfig, snapshot: Snapshot) -> tuple[dict[str, str | None], list[str]]:
    """Template field -> source column (None when an optional field has no column)."""
    by_fold = {c.casefold().strip(): c for c in snapshot.columns}
    mapping: dict[str, str | None] = {}
    warnings: list[str] = []
    for name in template.fields:
        configured = dataset.columns.get(name)
        if configured is not None:
            if configured not in snapshot.columns:
                actual = by_fold.get(configured.casefold().strip())
                if actual is None:
                    raise SourceError(
                        f"{snapshot.source}: dataset '{dataset.name}' has no column '{configured}' "
                        f"(mapped to field '{name}' at {dataset.where}); {_columns_text(dataset, snapshot)}")
                configured = actual
            mapping[name] = configured
            continue
        actual = by_fold.get(name.casefold())
        column = template.column(name)
        if actual is None and column is not None:
            actual = by_fold.get(column.heading.casefold())
        if actual is None:
            needed = name in (template.unit, *template.section) or (column is not None and column.required)
            if needed:
                raise SourceError(
                    f"{snapshot.source}: dataset '{dataset.name}' has no column for field '{name}' "
                    f"needed by list '{template.id}'; map it under [datasets.{dataset.name}.columns] at {dataset.where}")
            warnings.append(f"list '{template.id}': field '{name}' has no column in dataset '{dataset.name}'; printed empty")
        mapping[name] = actual
    return mapping, warnings


def _columns_text(dataset: DatasetConfig, snapshot: Snapshot) -> str:
    """The source's column names for an error message, unless the "header" is really a data row.

    An export without its header line makes the first data row the header:
    listing it would put personal data into the message, the log and the
    manifest. When none of the configured column names is among the
    headers, the names are not shown.
    """
    known = {c.casefold().strip() for c in dataset.columns.values()}
    if not any(c.casefold().strip() in known for c in snapshot.columns):
        return (f"none of the configured column names is in its first line ({len(snapshot.columns)} columns, "
                "not shown): is the header line missing?")
    return f"columns are: {', '.join(snapshot.columns)}"


def prepare(template: Template, dataset: DatasetConfig, snapshot: Snapshot,
            units: tuple[str, ...] | None = None) -> PreparedList:
    mapping, warnings = column_map(template, dataset, snapshot)
    kinds = {c.field: c for c in template.columns}
    grouped: dict[str, dict[tuple, list[PreparedRow]]] = {}
    titles: dict[tuple[str, tuple], str] = {}
    for row in snapshot.rows:
        parsed: dict[str, Any] = {}
        shown: dict[str, str] = {}
        problems: list[str] = []
        for name, column in mapping.items():
            raw = row.values.get(column) if column else None
            col = kinds.get(name)
            kind = col.type if col else "text"
            if values.is_empty(raw):
                parsed[name], shown[name] = None, ""
                if col is not None and col.required:
                    problems.append(f"mangler {col.heading}")
                continue
            try:
                value = values.parse(raw, kind)
            except values.ValueProblem:
                parsed[name] = None
                shown[name] = str(raw).strip()
                heading = col.heading if col else name
                problems.append(f"{heading}: {_DANISH_TYPE.get(kind, 'ugyldig værdi')}")
                continue
            parsed[name] = value
            shown[name] = values.format_value(value, kind, col.mask if col else None)
        unit = (shown.get(template.unit) or "Uden enhed") if template.unit else template.unit_default
        if units is not None and unit not in units:
            continue
        skey = tuple(values.sort_key(parsed.get(f)) for f in template.section)
        title = template.section_title.format(**{f: shown.get(f, "") for f in template.fields}) if template.section else ""
        titles.setdefault((unit, skey), title.strip(" ·-") or "(uden navn)")
        prepared = PreparedRow(cells=[shown.get(c.field, "") for c in template.columns], problems=problems,
                               origin=row.origin, key=tuple(values.sort_key(parsed.get(f)) for f in template.sort))
        grouped.setdefault(unit, {}).setdefault(skey, []).append(prepared)
    result: dict[str, UnitList] = {}
    for unit in sorted(grouped, key=values.danish_fold):
        sections = []
        for skey in sorted(grouped[unit]):
            rows = grouped[unit][skey]
            rows.sort(key=lambda r: r.key)  # stable: source order breaks ties
            sections.append(Section(title=titles[(unit, skey)], rows=rows))
        result[unit] = UnitList(unit=unit, sections=sections)
    return PreparedList(template=template, as_of=snapshot.as_of, units=result, warnings=warnings)


_DANISH_TYPE = {
    "date": "ikke en gyldig dato",
    "time": "ikke et gyldigt klokkeslæt",
    "datetime": "ikke en gyldig dato og tid",
    "int": "ikke et helt tal",
    "decimal": "ikke et tal",
    "cpr": "ikke et gyldigt CPR-nummer",
    "bool": "ikke ja/nej",
}
