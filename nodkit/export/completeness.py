"""The one rule behind a set's "good": every expected list is printed with its rows, or the set says why not.

Expected (docs/design.md, rule 8):
- a list an audience asks for (its `templates`);
- within it, every unit that had rows in the newest good set;
- every row read: it is printed in a unit some audience receives, or it was
  left out on purpose (the template's include_if or horizon, counted), or
  it belongs to a unit that no audience receives (`units = [...]`; a kit for
  two areas reading the municipality's export): those are named with their
  unit and count in the export's warnings and in `sources check`, and make
  the set incomplete only when the list then prints nothing at all.

`list_gaps` finds what breaks the rule for one validated list; the export
(`Export`, status "incomplete") and `nodkit sources check` (its exit code)
both call it, so the prediction and the export cannot disagree. The texts
are English, for IT, and name the list, the unit and why; they carry row
counts, dates, unit names and file:line locations, never a cell of personal
data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from nodkit.config.settings import KitConfig
from nodkit.lists.validate import PreparedList

MAX_LOCATIONS = 5


@dataclass
class ListGaps:
    """Why one list is not complete (empty `reasons`: it is)."""

    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # named, but the set can still be good
    no_audience: dict[str, int] = field(default_factory=dict)  # unit -> rows no audience receives
    empty: bool = False  # no row of the list is printed at all


def receivers(config: KitConfig, audiences: list[str], unit: str) -> list[str]:
    """The audiences (of those that ask for the list) that receive `unit`'s file."""
    return [a for a in audiences if config.audiences[a].units is None or unit in config.audiences[a].units]


def _day(day: dt.date | None) -> str:
    return day.strftime("%d-%m-%Y") if day else "?"


def _where(origins: list[str]) -> str:
    shown = ", ".join(origins[:MAX_LOCATIONS])
    return shown + (f" and {len(origins) - MAX_LOCATIONS} more" if len(origins) > MAX_LOCATIONS else "")


def list_gaps(config: KitConfig, tid: str, prepared: PreparedList, audiences: list[str],
              previous_units: dict[str, int] | None = None, previous_set: str | None = None) -> ListGaps:
    """What breaks the rule for list `tid` (validated as `prepared`, asked for by `audiences`).

    `previous_units` is unit -> rows of this list in the newest good set (`previous_set`).
    """
    gaps = ListGaps()
    dataset = prepared.template.dataset
    head = f"list '{tid}' (dataset '{dataset}')"
    if prepared.read == 0:
        gaps.empty = True
        gaps.reasons.append(f"{head}: the source has no rows (header only?); the list would be empty")
        return gaps
    printed = 0
    for unit, unit_list in prepared.units.items():
        if receivers(config, audiences, unit):
            printed += unit_list.rows
        elif unit_list.rows:
            gaps.no_audience[unit] = unit_list.rows
    if printed == 0 and not gaps.no_audience:
        gaps.empty = True
        if prepared.horizon and prepared.outside_horizon:
            gaps.reasons.append(
                f"{head}: {prepared.read} rows read, 0 inside the horizon "
                f"{_day(prepared.horizon[0])}..{_day(prepared.horizon[-1])}; dates in the source "
                f"{_day(prepared.oldest)}..{_day(prepared.newest)} (newest {_day(prepared.newest)})")
        else:
            gaps.reasons.append(f"{head}: {prepared.read} rows read, {prepared.filtered} left out by the "
                                "template's include_if/horizon, 0 printed")
    elif printed and prepared.flagged >= prepared.rows:
        gaps.reasons.append(f"{head}: all {prepared.rows} printed rows are flagged with problems "
                            "(a column mapped wrongly?); run 'nodkit sources check'")
    if gaps.no_audience:
        units = ", ".join(f"'{u}' ({n} rows)" for u, n in sorted(gaps.no_audience.items()))
        text = (f"{head}: rows for unit(s) no audience receives (units = [...] in [audiences]): "
                f"{units}; they are not printed")
        if printed == 0:
            gaps.empty = True
            gaps.reasons.append(text + "; no row of the list is printed")
        else:
            gaps.notes.append(text)
    if prepared.unplaced:
        origins = [origin for origin, _ in prepared.unplaced]
        why = sorted({reason for _, reason in prepared.unplaced})
        gaps.reasons.append(f"{head}: {len(origins)} row(s) could not be placed in their unit "
                            f"({'; '.join(why[:3])}): {_where(origins)}; printed flagged under 'Uden enhed'")
    for unit, rows in sorted((previous_units or {}).items()):
        if rows and not (prepared.units.get(unit) and prepared.units[unit].rows):
            gaps.reasons.append(f"{head}: unit '{unit}' had {rows} rows in the last good set {previous_set}, "
                                "now none")
    return gaps


def previous_units(manifest) -> dict[str, dict[str, int]]:
    """template -> unit -> rows, from a good set's manifest (the largest count over audiences)."""
    found: dict[str, dict[str, int]] = {}
    for entry in manifest.files if manifest else []:
        if entry.template == "binder":
            continue
        units = found.setdefault(entry.template, {})
        units[entry.unit] = max(units.get(entry.unit, 0), entry.rows)
    return found
