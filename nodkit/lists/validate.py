"""Validate a snapshot against a template and shape it into units and sections.

Rules kept here:
- A row with a problem (missing required value, unparseable date) is kept,
  shown with its raw text, flagged, and listed in the section's notes. Nothing
  is dropped silently.
- A template field with no source column at all is structural: `SourceError`
  naming the dataset, the field and the config line to fix.
- Problem texts for the PDF are Danish; counts for logs carry no values.
- Filtering is intentional and counted, never silent: rows that fail the
  template's `include_if` or fall outside its planning horizon are left out
  of the list and counted in `PreparedList.filtered` (logged by the export).
  A row whose horizon date cannot be read is kept and flagged.
- Days of a horizon without rows still get a section per route, so the page
  says "Ingen planlagte besøg" instead of the route vanishing.
- Every row read is accounted for: `read == rows + filtered`. A row whose
  field count differs from the header (its values may have shifted) is
  flagged with both counts and never makes a unit or section of its own: it
  joins the unit and section its values name when well-formed rows made
  them, else it goes under "Uden enhed" and into `unplaced`. So does a row
  with an empty unit value. An empty section or horizon date is flagged.
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
import string
from dataclasses import dataclass, field
from typing import Any, Callable

from nodkit.lists import mapping as mapping_rules, values
from nodkit.errors import SourceError
from nodkit.process import gc_paused
from nodkit.sources.base import DatasetConfig, Snapshot
from nodkit.lists.templates import Column, Template

WEEKDAYS = ("man", "tir", "ons", "tor", "fre", "lør", "søn")


@dataclass(frozen=True)
class Problem:
    """One problem in one row: where (source column, if any) and what, without the value."""

    column: str | None  # source column, None for a whole-row problem
    field: str | None  # template field
    text: str  # Danish, printed in the section note
    reason: str = ""  # English, for `nodkit sources check` and logs


@dataclass(slots=True)
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
        return list(filter(_HAS_PROBLEMS, self.rows))  # the rows with problems, at C speed


_HAS_PROBLEMS = operator.attrgetter("problems")


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
    columns: tuple[Column, ...] = ()  # printed columns: the template's, tick-box and write-in columns
    filtered: int = 0  # rows left out on purpose (include_if, outside the horizon)
    horizon: tuple[dt.date, ...] = ()  # the days listed, when the template has a horizon
    read: int = 0  # rows in the snapshot: read == rows + filtered
    outside_horizon: int = 0  # of `filtered`, the rows dated outside the horizon
    oldest: dt.date | None = None  # oldest and newest horizon date in the source rows
    newest: dt.date | None = None
    # rows printed under "Uden enhed" because their own unit could not be trusted or was
    # empty: (origin, English reason)
    unplaced: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        if not self.columns:
            self.columns = self.template.columns

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
        configured = dataset.columns.get(name) or mapping_rules.source_column(dataset, name)
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
            if name in dataset.defaults:
                pass  # a constant from [datasets.NAME.defaults]
            elif needed and name in dataset.absent:
                missing.append(MissingColumn(name, None, (
                    f"dataset '{dataset.name}' declares field '{name}' absent, but list '{template.id}' needs it; "
                    f"map it under [datasets.{dataset.name}.columns] at {dataset.where}")))
            elif name in dataset.absent:
                pass  # declared absent on purpose (absent = [...]): printed empty without a warning
            elif needed:
                missing.append(MissingColumn(name, None, (
                    f"dataset '{dataset.name}' has no column for field '{name}' needed by list '{template.id}'; "
                    f"map it under [datasets.{dataset.name}.columns] at {dataset.where}")))
            else:
                warnings.append(f"list '{template.id}': field '{name}' has no column in dataset '{dataset.name}'; "
                                f"printed empty (map it under [datasets.{dataset.name}.columns], or add it to "
                                f"absent = [...] at {dataset.where} when the site does not export it)")
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
        raise SourceError(f"{snapshot.source}: " + "; ".join(parts) + f"; {_columns_text(dataset, snapshot)}")
    return mapping, warnings


def horizon_days(template: Template, today: dt.date) -> tuple[dt.date, ...]:
    if template.horizon is None:
        return ()
    return tuple(today + dt.timedelta(days=n) for n in range(template.horizon.days + 1))


def tick_columns(template: Template, today: dt.date) -> tuple[Column, ...]:
    """One empty tick-box column per (week)day from today, headed "man 23-11"."""
    tb = template.tick_boxes
    if tb is None:
        return ()
    days: list[dt.date] = []
    day = today
    while len(days) < tb.days:
        if not (tb.weekdays_only and day.weekday() >= 5):
            days.append(day)
        day += dt.timedelta(days=1)
    return tuple(Column(field=f"__tick{i}", heading=f"{WEEKDAYS[d.weekday()]} {d:%d-%m}", type="tickbox",
                        width=tb.width) for i, d in enumerate(days))


def _columns_text(dataset: DatasetConfig, snapshot: Snapshot) -> str:
    """The source's column names for an error message, unless the "header" is really a data row.

    An export without its header line makes the first data row the header:
    listing it would put personal data into the message, the log and the
    manifest. When none of the configured column names is among the
    headers, the names are not shown.
    """
    if header_looks_like_data(dataset, snapshot):
        return (f"none of the configured column names is in its first line ({len(snapshot.columns)} columns, "
                "not shown): is the header line missing?")
    return f"columns are: {', '.join(snapshot.columns)}"


def header_looks_like_data(dataset: DatasetConfig, snapshot: Snapshot) -> bool:
    """True when no configured column name is among the headers: the first line is probably data."""
    known = {c.casefold().strip() for c in dataset.columns.values()}
    return bool(known) and not any(c.casefold().strip() in known for c in snapshot.columns)


NO_UNIT = "Uden enhed"
UNPLACED_SECTION = "Rækker der ikke kunne placeres"


def prepare(template: Template, dataset: DatasetConfig, snapshot: Snapshot,
            today: dt.date | None = None) -> PreparedList:
    """Rows → units → sections. `today` (the kit's local date at export time)
    anchors the planning horizon and the tick-box days; default: the data date."""
    # a third of the time went to the collector walking the snapshot's rows; the rows made live on
    with gc_paused(keep=True):
        return _prepare(template, dataset, snapshot, today)


def _prepare(template: Template, dataset: DatasetConfig, snapshot: Snapshot, today: dt.date | None) -> PreparedList:
    today = today or snapshot.as_of.date()
    mapping, warnings = column_map(template, dataset, snapshot)
    kinds = {c.field: c for c in template.columns}
    if template.horizon and template.horizon.field not in kinds:
        kinds[template.horizon.field] = Column(field=template.horizon.field, heading="Dato", type="date")
    days = horizon_days(template, today)
    extra_cols = tick_columns(template, today) + template.write_in
    filtered = 0
    orders = {name: {v.strip().casefold(): i for i, v in enumerate(listed)} for name, listed in template.order}

    natural = set(template.section)  # sections sort naturally: Rute 1, Rute 2 … Rute 10

    def key_of(name: str, parsed_value: Any, shown_value: str) -> tuple:
        if name in orders:  # listed values first, in the listed order; others after, alphabetically
            rank = orders[name].get(shown_value.strip().casefold(), len(orders[name]))
            return (rank, values.sort_key(parsed_value, name in natural))
        return values.sort_key(parsed_value, name in natural)

    grouped: dict[str, dict[tuple, list[PreparedRow]]] = {}
    titles: dict[tuple[str, tuple], str] = {}
    # per unit: section key without the horizon field -> printed values, for empty days
    routes: dict[str, dict[tuple, dict[str, str]]] = {}
    hpos = template.section.index(template.horizon.field) if (
        template.horizon and template.horizon.field in template.section) else None
    # Work out each distinct raw value of a field once: a list repeats the same
    # areas, drugs, times and names thousands of times (memo: raw -> outcome).
    # only section and sort fields need a sort key; the others' outcomes carry None there
    keyed = set(template.section) | set(template.sort)
    fields = [(name, _field_reader(kinds.get(name), name, column, key_of if name in keyed else None,
                                   mapping_rules.reader_input(dataset, name),
                                   plain_key=name not in orders and name not in natural))
              for name, column in mapping.items()]
    empty_keys = {f: key_of(f, None, "") for f in set(template.section) | set(template.sort)}
    column_fields = [c.field for c in template.columns]
    no_ticks = [""] * len(extra_cols)
    horizon_field = template.horizon.field if days else None
    include_if = template.include_if
    unit_field, unit_default = template.unit, template.unit_default
    # fields no source column feeds are the same on every row: their empty text and key up front
    read_fields = {name for name, _ in fields}
    shown_defaults = {f: "" for f in column_fields if f not in read_fields}
    key_defaults = {f: k for f, k in empty_keys.items() if f not in read_fields}
    section_of, sort_of, cells_of = (_tuple_getter(template.section), _tuple_getter(template.sort),
                                     _tuple_getter(column_fields))
    width = len(snapshot.columns)
    outside = 0
    oldest = newest = None
    deferred: list[tuple[str, tuple, PreparedRow, str]] = []  # shifted rows, placed after the others
    unplaced: list[tuple[str, str]] = []
    # fields whose empty value is a problem even when the template does not mark them required
    needed = [(f, "enhed" if f == unit_field else kinds[f].heading if f in kinds else f) for f in dict.fromkeys(
        ([unit_field] if unit_field else []) + list(template.section) + ([horizon_field] if horizon_field else []))]
    needed_names = {name for name, _ in needed}
    conditions: dict[str, list] = {}
    for cond in include_if:
        conditions.setdefault(cond.field, []).append(cond)
    # A row needs the full per-row path below only when something is wrong with it or it may be
    # left out: a reader problem, a shifted row, a field problem, an empty needed field, a
    # failed include_if, a date outside the horizon. Every other row (nearly all) is made from
    # its fields' memoised outcomes column by column, which is several times faster.
    always_slow = (not unit_field and not unit_default) or any(
        name not in read_fields for name in needed_names) or any(
        not cond.holds("") for name, conds in conditions.items() if name not in read_fields for cond in conds)

    checked = needed_names | set(conditions) | ({horizon_field} if horizon_field else set())

    def is_bad(name: str, outcome) -> bool:
        value, text, _key, problem = outcome
        if problem is not None or (name in needed_names and not text):
            return True
        if name == horizon_field and value is not None and value not in days:
            return True
        return any(not cond.holds(text) for cond in conditions.get(name, ()))

    def slow(row, outcomes) -> None:
        nonlocal filtered, outside
        parsed: dict[str, Any] = {}
        shown: dict[str, str] = dict(shown_defaults) if shown_defaults else {}
        keys: dict[str, tuple] = dict(key_defaults) if key_defaults else {}
        details: list[Problem] = [Problem(None, None, text, text) for text in row.problems] if row.problems else []
        if row.fields:
            details[:1] = [Problem(None, None, details[0].text if details else "rækken har forkert antal felter",
                                   f"{row.fields} fields, header has {width}")]
        for (name, _read), (value, text, key, problem) in zip(fields, outcomes):
            parsed[name], shown[name], keys[name] = value, text, key
            if problem is not None:
                details.append(problem)
        for name, heading in needed:
            if not shown.get(name) and not any(p.field == name for p in details):
                details.append(Problem(mapping.get(name), name, f"mangler {heading}", f"field '{name}' is empty"))
        if not row.fields:  # a shifted row's values cannot be trusted to filter it out
            if include_if and not all(cond.holds(shown.get(cond.field, "")) for cond in include_if):
                filtered += 1
                return
            if horizon_field and parsed.get(horizon_field) is not None and parsed[horizon_field] not in days:
                filtered += 1
                outside += 1
                return
        unit = shown.get(unit_field) if unit_field else unit_default
        skey = section_of(keys)
        cells = list(cells_of(shown))
        if no_ticks:
            cells += no_ticks
        prepared = PreparedRow(cells=cells, problems=[p.text for p in details] if details else [],
                               origin=row.origin, key=sort_of(keys), details=details)
        if row.fields or not unit:
            deferred.append((unit or "", skey, prepared, details[0].reason if row.fields else
                             f"field '{unit_field}' (the unit) is empty"))
            return
        if (unit, skey) not in titles:
            titles[(unit, skey)] = title(shown)
        if hpos is not None:
            routes.setdefault(unit, {}).setdefault(skey[:hpos] + skey[hpos + 1:], dict(shown))
        grouped.setdefault(unit, {}).setdefault(skey, []).append(prepared)

    field_names = [name for name, _ in fields]
    title = _titler(template)
    for run in _runs(snapshot.rows):
        count = len(run)
        names = run[0].names
        raw_rows = list(map(_CELLS, run))
        outcomes: dict[str, list] = {}  # field -> its outcome on every row of the run
        distinct_outcomes: dict[str, list] = {}
        for name, read in fields:
            position = names.get(read.column) if read.column else None
            if position is None:
                outcomes[name] = [read(None)] * count
                distinct_outcomes[name] = outcomes[name][:1]
            else:
                outcomes[name], distinct_outcomes[name] = read.outcomes_of(
                    list(map(operator.itemgetter(position), raw_rows)))
        del raw_rows
        # rows the reader flagged or found shifted (problems or a field count), at C speed
        slow_rows = (set(range(count)) if always_slow else
                     set(itertools.compress(range(count), map(operator.or_, map(len, map(_PROBLEMS, run)),
                                                                map(_FIELDS, run)))))
        for name, column in outcomes.items():
            distinct = distinct_outcomes[name]
            if name == horizon_field:
                for value, *_ in distinct:
                    if isinstance(value, dt.date):
                        oldest = value if oldest is None or value < oldest else oldest
                        newest = value if newest is None or value > newest else newest
            if len(slow_rows) == count:
                continue
            if name in checked:
                bad = {id(o) for o in distinct if is_bad(name, o)}
            else:  # nothing but a reader problem can make this field's value bad
                bad = {id(o) for o in distinct if o[3] is not None}
            if len(bad) == len(distinct):
                slow_rows = set(range(count))
            elif bad:
                slow_rows.update(itertools.compress(range(count), map(bad.__contains__, map(id, column))))
        shown_cols = {name: list(map(_SHOWN, column)) for name, column in outcomes.items()}
        key_cols = {name: list(map(_KEY, column)) for name, column in outcomes.items() if name in keyed}

        def shown_of(i: int) -> dict[str, str]:
            shown = dict(shown_defaults) if shown_defaults else {}
            for name in field_names:
                shown[name] = shown_cols[name][i]
            return shown

        if len(slow_rows) < count:
            def col(cols: dict, defaults: dict, name: str):
                return cols[name] if name in cols else itertools.repeat(defaults[name], count)

            # every row of the run made at once (a shifted or flagged one is made again below)
            made = list(map(PreparedRow,
                            map(list, zip(*[col(shown_cols, shown_defaults, f) for f in column_fields],
                                          *(itertools.repeat("", count) for _tick in no_ticks))),
                            itertools.repeat(_NO_PROBLEMS), map(_ORIGIN, run),
                            (zip(*[col(key_cols, key_defaults, f) for f in template.sort]) if template.sort
                             else itertools.repeat((), count)),
                            itertools.repeat(_NO_DETAILS)))
            section_rows = (zip(*[col(key_cols, key_defaults, f) for f in template.section]) if template.section
                            else itertools.repeat((), count))
            unit_col = shown_cols[unit_field] if unit_field else itertools.repeat(unit_default, count)
            places = list(zip(unit_col, section_rows))  # (unit, section key) of every row
        else:
            made = places = []  # every row of the run goes through `slow`
        start = 0
        for stop in [*sorted(slow_rows), count]:
            # rows start..stop-1 are well-formed: placed a stretch of one unit and section at a time
            for (unit, skey), stretch in itertools.groupby(range(start, stop), key=places.__getitem__):
                first = next(stretch)
                unit_sections = grouped.get(unit)
                if unit_sections is None:
                    unit_sections = grouped[unit] = {}
                rows = unit_sections.get(skey)
                if rows is None:
                    rows = unit_sections[skey] = []
                    if (unit, skey) not in titles:
                        titles[(unit, skey)] = title(shown_of(first))
                if hpos is not None:
                    rest = skey[:hpos] + skey[hpos + 1:]
                    seen = routes.setdefault(unit, {})
                    if rest not in seen:
                        seen[rest] = shown_of(first)
                rows.append(made[first])
                rows.extend(map(made.__getitem__, stretch))
            if stop < count:
                slow(run[stop], [outcomes[name][stop] for name in field_names])
            start = stop + 1
        del outcomes, shown_cols, key_cols
    for unit, skey, prepared, reason in deferred:
        if unit in grouped and skey in grouped[unit]:
            grouped[unit][skey].append(prepared)  # its values name a unit and section the other rows made
            continue
        unplaced.append((prepared.origin, reason))
        skey = (UNPLACED_SECTION,)
        titles[(NO_UNIT, skey)] = UNPLACED_SECTION
        grouped.setdefault(NO_UNIT, {}).setdefault(skey, []).append(prepared)
    if hpos is not None:  # every route on every day of the horizon, empty or not
        for unit, seen in routes.items():
            for rest, shown in seen.items():
                for day in days:
                    day_text = values.format_value(day, "date")
                    skey = rest[:hpos] + (key_of(template.horizon.field, day, day_text),) + rest[hpos:]
                    if skey not in grouped[unit]:
                        shown = dict(shown, **{template.horizon.field: day_text})
                        grouped[unit][skey] = []
                        titles[(unit, skey)] = title(shown)
    result: dict[str, UnitList] = {}
    for unit in sorted(grouped, key=values.natural_fold):
        sections = []
        unit_sections = grouped[unit]  # by their keys; the unplaced rows' section last
        for skey in (sorted(unit_sections, key=_section_order) if (UNPLACED_SECTION,) in unit_sections
                     else sorted(unit_sections)):
            rows = grouped[unit][skey]
            rows.sort(key=_ROW_KEY)  # stable: source order breaks ties
            sections.append(Section(title=titles[(unit, skey)], rows=rows))
        result[unit] = UnitList(unit=unit, sections=sections)
    return PreparedList(template=template, as_of=snapshot.as_of, units=result, warnings=warnings,
                        columns=template.columns + extra_cols, filtered=filtered, horizon=days,
                        read=len(snapshot.rows), outside_horizon=outside, oldest=oldest, newest=newest,
                        unplaced=unplaced)


_SHOWN, _KEY = operator.itemgetter(1), operator.itemgetter(2)  # of a field reader's outcome
_ROW_KEY = operator.attrgetter("key")
# The problems and details of every row without any: one empty list each, shared (two objects
# fewer per row to make and for the collector to walk). A PreparedRow is never changed after
# `prepare`; a problem found later would be a new row, never an append to these.
_NO_PROBLEMS: list[str] = []
_NO_DETAILS: list[Problem] = []
_CELLS, _ORIGIN, _PROBLEMS, _FIELDS, _NAMES = (operator.attrgetter(name) for name in (
    "cells", "origin", "problems", "fields", "names"))


def _runs(rows: list) -> list[list]:
    """The rows in runs with the same column positions (one dict per source file)."""
    # groupby compares the dicts by identity first: one comparison of contents per file boundary
    return [list(run) for _names, run in itertools.groupby(rows, key=_NAMES)]


def _section_order(skey: tuple) -> tuple:
    """The unplaced rows' section last; the others by their keys."""
    return (skey == (UNPLACED_SECTION,), skey if skey != (UNPLACED_SECTION,) else ())



def _tuple_getter(names) -> Callable[[dict], tuple]:
    """d -> (d[name] for name in names) as a tuple, at C speed (itemgetter; it returns a
    bare value for one name and needs at least one)."""
    names = tuple(names)
    if len(names) > 1:
        return operator.itemgetter(*names)
    if names:
        one = names[0]
        return lambda d: (d[one],)
    return lambda d: ()


def _titler(template: Template) -> Callable[[dict[str, str]], str]:
    """shown values -> the section's title; the template's section_title parsed once."""
    if not template.section:
        return lambda shown: ""
    pieces = []
    for literal, name, spec, _conversion in string.Formatter().parse(template.section_title):
        word = literal.rstrip().rsplit(None, 1)[-1] if literal.strip() else ""
        # "Rute {route}" with route "Rute 1": one "Rute" (the literal without its last word)
        prefix = word.casefold() + " " if word and literal.endswith(" ") else None
        pieces.append((literal, name, spec, prefix, literal.rstrip()[: -len(word)] if prefix else literal))
    return lambda shown: _title_of(pieces, shown)


def _title_of(pieces: list, shown: dict[str, str]) -> str:
    parts = []
    for literal, name, spec, prefix, short in pieces:
        value = "" if name is None else format(shown.get(name, ""), spec) if spec else shown.get(name, "")
        if prefix is not None and value.casefold().startswith(prefix):
            literal = short
        parts.append(literal + value)
    return "".join(parts).strip(" ·-") or "(uden navn)"


def _field_reader(col, name: str, column: str | None, key_of, prepare_raw=None, plain_key: bool = False):
    """raw value -> (parsed, shown text, sort key, Problem or None), memoised per field.

    The outcome depends only on the raw value and the field, so each distinct
    value is parsed, formatted and keyed once; Problem is immutable and shared.
    `key_of` None: the field neither sorts nor makes sections, its outcomes' key is None.
    `plain_key`: the field has no listed order and no natural order, so a text value's key is
    `values.sort_key` of it without the calls: (1, its Danish fold).
    """
    kind = col.type if col else "text"
    mask = col.mask if col else None
    required = col is not None and col.required
    heading = col.heading if col else name
    memo: dict = {}
    keyed = key_of is not None

    def memoised(raw):
        if type(raw) is not str:  # only text is memoised: 1, 1.0 and True are equal keys
            return _outcome(raw)
        outcome = memo.get(raw)
        if outcome is None:
            outcome = memo[raw] = _outcome(raw)
        return outcome

    def read(raw):  # its own function: outcomes_of (an attribute of it) must not refer to it, or the
        return memoised(raw)  # pair is a reference cycle and the memo lives until the collector runs

    def _outcome(raw):
        if prepare_raw is not None:  # derived from its source column, or a default (nodkit.lists.mapping)
            raw = prepare_raw(raw)
        if values.is_empty(raw):
            problem = (Problem(column, name, f"mangler {heading}", f"required field '{name}' is empty")
                       if required else None)
            return None, "", key_of(name, None, "") if keyed else None, problem
        try:
            value = values.parse(raw, kind)
        except values.ValueProblem as exc:
            shown = str(raw).strip()
            return None, shown, key_of(name, None, shown) if keyed else None, Problem(
                column, name, f"{heading}: {_DANISH_TYPE.get(kind, 'ugyldig værdi')}", f"field '{name}': {exc}")
        shown = values.format_value(value, kind, mask)
        return value, shown, key_of(name, value, shown) if keyed else None, None

    # text read as it is (every CSV column of kind text or phone): parsing and formatting a
    # string value is stripping it, so the outcome is made here without the calls above
    plain_text = kind in ("text", "phone") and prepare_raw is None
    empty_text: list = []  # the field's one outcome of an empty value, made when first needed

    fold = values.danish_fold

    def text_outcomes(raws) -> None:
        for raw in raws:
            shown = raw.strip()
            if shown:
                memo[raw] = ((shown, shown, None, None) if not keyed else (shown, shown, (1, fold(shown)), None)
                             if plain_key else (shown, shown, key_of(name, shown, shown), None))
            else:
                if not empty_text:
                    empty_text.append(_outcome(""))
                memo[raw] = empty_text[0]

    def outcomes_of(raws: list) -> tuple[list, list]:
        """(the outcome of every raw value of a column, the distinct outcomes among them).

        A column of text (every CSV column) is looked up at C speed: its distinct
        values are worked out once, then every cell is one dict lookup."""
        if set(map(type, raws)) <= {str}:
            distinct = set(raws)
            new = list(itertools.filterfalse(memo.__contains__, distinct))
            if plain_text:
                text_outcomes(new)
            else:
                for raw in new:
                    memo[raw] = _outcome(raw)
            return list(map(memo.__getitem__, raws)), list(map(memo.__getitem__, distinct))
        outs = list(map(memoised, raws))
        return outs, list({id(o): o for o in outs}.values())

    read.column = column
    read.outcomes_of = outcomes_of
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
