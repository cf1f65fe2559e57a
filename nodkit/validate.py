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


@dataclass(slots=True)
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
                        f"(mapped to field '{name}' at {dataset.where}); columns are: {', '.join(snapshot.columns)}")
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


def prepare(template: Template, dataset: DatasetConfig, snapshot: Snapshot,
            units: tuple[str, ...] | None = None) -> PreparedList:
    mapping, warnings = column_map(template, dataset, snapshot)
    kinds = {c.field: c for c in template.columns}
    grouped: dict[str, dict[tuple, list[PreparedRow]]] = {}
    titles: dict[tuple[str, tuple], str] = {}
    # Work out each distinct raw value of a field once: a list repeats the same
    # areas, drugs, times and names thousands of times (memo: raw -> outcome).
    fields = [(name, column, _field_reader(kinds.get(name), name)) for name, column in mapping.items()]
    all_fields = template.fields
    unit_field, section_fields, sort_fields = template.unit, template.section, template.sort
    column_fields = [c.field for c in template.columns]
    for row in snapshot.rows:
        row_values = row.values
        shown: dict[str, str] = {}
        keys: dict[str, tuple] = {}
        problems: list[str] = []
        for name, column, read in fields:
            _value, text, key, problem = read(row_values.get(column) if column else None)
            shown[name], keys[name] = text, key
            if problem:
                problems.append(problem)
        unit = (shown.get(unit_field) or "Uden enhed") if unit_field else template.unit_default
        if units is not None and unit not in units:
            continue
        skey = tuple(keys[f] if f in keys else values.sort_key(None) for f in section_fields)
        if (unit, skey) not in titles:
            title = template.section_title.format(**{f: shown.get(f, "") for f in all_fields}) if section_fields else ""
            titles[(unit, skey)] = title.strip(" ·-") or "(uden navn)"
        prepared = PreparedRow(cells=[shown.get(f, "") for f in column_fields], problems=problems,
                               origin=row.origin,
                               key=tuple(keys[f] if f in keys else values.sort_key(None) for f in sort_fields))
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


def _field_reader(col, name: str):
    """raw value -> (parsed, shown text, sort key, problem or None), memoised per field."""
    kind = col.type if col else "text"
    mask = col.mask if col else None
    required = col is not None and col.required
    heading = col.heading if col else name
    memo: dict = {}

    def read(raw):
        if type(raw) is not str:  # only text is memoised: 1, 1.0 and True are equal keys
            return _outcome(raw)
        outcome = memo.get(raw)
        if outcome is None:
            outcome = memo[raw] = _outcome(raw)
        return outcome

    def _outcome(raw):
        if values.is_empty(raw):
            return None, "", values.sort_key(None), (f"mangler {heading}" if required else None)
        try:
            value = values.parse(raw, kind)
        except values.ValueProblem:
            return None, str(raw).strip(), values.sort_key(None), f"{heading}: {_DANISH_TYPE.get(kind, 'ugyldig værdi')}"
        return value, values.format_value(value, kind, mask), values.sort_key(value), None

    return read


_DANISH_TYPE = {
    "date": "ikke en gyldig dato",
    "time": "ikke et gyldigt klokkeslæt",
    "datetime": "ikke en gyldig dato og tid",
    "int": "ikke et helt tal",
    "decimal": "ikke et tal",
    "cpr": "ikke et gyldigt CPR-nummer",
    "bool": "ikke ja/nej",
}
