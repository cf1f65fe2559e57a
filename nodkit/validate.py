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


@dataclass(frozen=True)
class Problem:
    """One problem in one row: where (source column, if any) and what, without the value."""

    column: str | None  # source column, None for a whole-row problem
    field: str | None  # template field
    text: str  # Danish, printed in the section note
    reason: str = ""  # English, for `nodkit sources check` and logs


@dataclass
class PreparedRow:
    cells: list[str]
    problems: list[str]
    origin: str
    key: tuple = ()
    details: list[Problem] = field(default_factory=list)

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


@dataclass(frozen=True)
class MissingColumn:
    field: str
    column: str | None  # the configured source column that is not there; None = nothing mapped
    message: str


def match_columns(template: Template, dataset: DatasetConfig, snapshot: Snapshot
                  ) -> tuple[dict[str, str | None], list[MissingColumn], list[str]]:
    """(template field -> source column, structural gaps, warnings); never raises.

    A field maps to the column named under [datasets.NAME.columns], else to a
    column spelled like the field or its heading (case-insensitive). A
    configured column that is not in the source, and a required, unit or
    section field without any column, are structural gaps.
    """
    by_fold = {c.casefold().strip(): c for c in snapshot.columns}
    mapping: dict[str, str | None] = {}
    missing: list[MissingColumn] = []
    warnings: list[str] = []
    for name in template.fields:
        configured = dataset.columns.get(name)
        if configured is not None:
            actual = configured if configured in snapshot.columns else by_fold.get(" ".join(configured.split()).casefold())
            if actual is None:
                missing.append(MissingColumn(name, configured, (
                    f"dataset '{dataset.name}' has no column '{configured}' "
                    f"(mapped to field '{name}' at {dataset.where})")))
            mapping[name] = actual
            continue
        actual = by_fold.get(name.casefold())
        column = template.column(name)
        if actual is None and column is not None:
            actual = by_fold.get(column.heading.casefold())
        if actual is None:
            needed = name in (template.unit, *template.section) or (column is not None and column.required)
            if needed:
                missing.append(MissingColumn(name, None, (
                    f"dataset '{dataset.name}' has no column for field '{name}' needed by list '{template.id}'; "
                    f"map it under [datasets.{dataset.name}.columns] at {dataset.where}")))
            else:
                warnings.append(f"list '{template.id}': field '{name}' has no column in dataset '{dataset.name}'; "
                                "printed empty")
        mapping[name] = actual
    return mapping, missing, warnings


def column_map(template: Template, dataset: DatasetConfig, snapshot: Snapshot) -> tuple[dict[str, str | None], list[str]]:
    """Template field -> source column (None when an optional field has no column).

    Raises `SourceError` naming every structural gap at once, so one run of
    `nodkit sources check` shows all the mapping lines to fix.
    """
    mapping, missing, warnings = match_columns(template, dataset, snapshot)
    if missing:
        parts = []
        absent = [m for m in missing if m.column is not None]
        if len(absent) == 1:
            parts.append(absent[0].message)
        elif absent:
            names = ", ".join(f"'{m.column}' (field '{m.field}')" for m in absent)
            parts.append(f"dataset '{dataset.name}' has no columns {names} (mapped at {dataset.where})")
        unmapped = [m for m in missing if m.column is None]
        if len(unmapped) == 1:
            parts.append(unmapped[0].message)
        elif unmapped:
            parts.append(f"dataset '{dataset.name}' has no column for fields "
                         f"{', '.join(repr(m.field) for m in unmapped)} needed by list '{template.id}'; "
                         f"map them under [datasets.{dataset.name}.columns] at {dataset.where}")
        raise SourceError(f"{snapshot.source}: " + "; ".join(parts) + f"; columns are: {', '.join(snapshot.columns)}")
    return mapping, warnings


def prepare(template: Template, dataset: DatasetConfig, snapshot: Snapshot,
            units: tuple[str, ...] | None = None) -> PreparedList:
    mapping, warnings = column_map(template, dataset, snapshot)
    kinds = {c.field: c for c in template.columns}
    grouped: dict[str, dict[tuple, list[PreparedRow]]] = {}
    titles: dict[tuple[str, tuple], str] = {}
    for row in snapshot.rows:
        parsed: dict[str, Any] = {}
        shown: dict[str, str] = {}
        details: list[Problem] = [Problem(None, None, text, text) for text in row.problems]
        for name, column in mapping.items():
            raw = row.values.get(column) if column else None
            col = kinds.get(name)
            kind = col.type if col else "text"
            if values.is_empty(raw):
                parsed[name], shown[name] = None, ""
                if col is not None and col.required:
                    details.append(Problem(column, name, f"mangler {col.heading}",
                                           f"required field '{name}' is empty"))
                continue
            try:
                value = values.parse(raw, kind)
            except values.ValueProblem as problem:
                parsed[name] = None
                shown[name] = str(raw).strip()
                heading = col.heading if col else name
                details.append(Problem(column, name, f"{heading}: {_DANISH_TYPE.get(kind, 'ugyldig værdi')}",
                                       f"field '{name}': {problem}"))
                continue
            parsed[name] = value
            shown[name] = values.format_value(value, kind, col.mask if col else None)
        unit = (shown.get(template.unit) or "Uden enhed") if template.unit else template.unit_default
        if units is not None and unit not in units:
            continue
        skey = tuple(values.sort_key(parsed.get(f)) for f in template.section)
        title = template.section_title.format(**{f: shown.get(f, "") for f in template.fields}) if template.section else ""
        titles.setdefault((unit, skey), title.strip(" ·-") or "(uden navn)")
        prepared = PreparedRow(cells=[shown.get(c.field, "") for c in template.columns],
                               problems=[p.text for p in details], origin=row.origin,
                               key=tuple(values.sort_key(parsed.get(f)) for f in template.sort), details=details)
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
