"""Mapping features of [datasets.NAME] beyond "field = column": what real exports need.

Real exports rarely match a built-in template field for field. Without a
site template copy, nodkit.toml can say (docs/configuration.md):

    [datasets.visits.defaults]          # a constant, or the value for an empty cell
    shift = "Dag"
    [datasets.visits.derive]
    date  = { from = "Tidspunkt", part = "date" }     # split "23-11-2026 07.30"
    start = { from = "Tidspunkt", part = "time" }
    shift = { from = "Fra", hours = { Dag = "07-15", Aften = "15-23", Nat = "23-07" } }
    citizen = { from = "Navn", names = "last_first" }  # "Hansen, Anna" -> "Anna Hansen"

`reader_input(dataset, field)` gives the function that turns a raw cell of
the source column into the raw value the field's type then parses. A value
that cannot be derived is passed on unchanged, so the field's own check
flags it (never a silent guess). The config is read (and checked, with file
and line) by `nodkit.config.settings`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from nodkit.lists import values
from nodkit.sources.base import DatasetConfig, Derivation

def parse_hours(text: str) -> tuple[dt.time, dt.time]:
    """'07-15' or '07.00-15.30' -> (start, end); raises ValueError with a safe message."""
    parts = [p.strip() for p in str(text).split("-")]
    if len(parts) != 2:
        raise ValueError(f"'{text}' is not an hour range like \"07-15\" or \"07.00-15.30\"")
    ends = []
    for part in parts:
        try:
            ends.append(dt.time(int(part) % 24) if part.isdigit() else values.parse_time(part))
        except (values.ValueProblem, ValueError):
            raise ValueError(f"'{text}' is not an hour range like \"07-15\" or \"07.00-15.30\"") from None
    return ends[0], ends[1]


def _in_range(t: dt.time, start: dt.time, end: dt.time) -> bool:
    return start <= t < end if start < end else (t >= start or t < end)  # "23-07" runs over midnight


def _derived(rule: Derivation) -> Callable[[Any], Any]:
    if rule.part in ("date", "time"):
        def split(raw):
            try:
                moment = values.parse_datetime(raw)
            except values.ValueProblem:
                return raw
            return moment.date() if rule.part == "date" else moment.time()
        return split
    if rule.hours:
        ranges = [(label, *parse_hours(span)) for label, span in rule.hours]

        def shift_of(raw):
            try:
                t = values.parse_time(raw)
            except values.ValueProblem:
                try:  # a combined date-time column
                    t = values.parse_datetime(raw).time()
                except values.ValueProblem:
                    return None  # no time: no shift (flagged as an empty section, or the default)
            return next((label for label, start, end in ranges if _in_range(t, start, end)), None)
        return shift_of
    if rule.names == "last_first":
        def first_last(raw):
            if isinstance(raw, str) and raw.count(",") == 1:
                last, first = (p.strip() for p in raw.split(","))
                if last and first:
                    return f"{first} {last}"
            return raw
        return first_last
    return lambda raw: raw


def source_column(dataset: DatasetConfig, field: str) -> str | None:
    """The source column a derived field reads (None: not derived)."""
    rule = dataset.derive.get(field)
    return rule.source if rule else None


def reader_input(dataset: DatasetConfig, field: str) -> Callable[[Any], Any] | None:
    """raw cell -> raw value for the field: derived, then the default for an empty value; None: as is."""
    rule = dataset.derive.get(field)
    default = dataset.defaults.get(field)
    if rule is None and default is None:
        return None
    derive = _derived(rule) if rule else (lambda raw: raw)
    if default is None:
        return derive

    def with_default(raw):
        value = derive(raw)
        return default if values.is_empty(value) else value
    return with_default
