"""Rows → units → sections: filters, planning horizon, order, tick boxes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from nodkit.sources.base import DatasetConfig, Row, Snapshot
from nodkit.lists.templates import load_template
from nodkit.lists.validate import prepare

TZ = dt.timezone(dt.timedelta(hours=1))
AS_OF = dt.datetime(2026, 11, 29, 6, 0, tzinfo=TZ)

ROUTE = '''title = "Køreliste"
dataset = "visits"
unit = "area"
section = ["date", "route", "shift"]
section_title = "{date} · Rute {route} · {shift}"
sort = ["start"]
empty_text = "Ingen planlagte besøg"
[order]
shift = ["Dag", "Aften"]
[horizon]
field = "date"
days = 3
[[columns]]
field = "start"
type = "time"
required = true
[[columns]]
field = "citizen"
'''


def _template(tmp_path: Path, text: str, name: str = "t"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text, "utf-8")
    return load_template(path)


def _snapshot(rows: list[dict]) -> tuple[DatasetConfig, Snapshot]:
    columns = list(rows[0])
    ds = DatasetConfig(name="d", kind="csv", options={}, columns={}, where="nodkit.toml:1")
    snap = Snapshot(dataset="d", kind="csv", source="d.csv", as_of=AS_OF, columns=columns,
                    rows=[Row.from_mapping(r, origin=f"d.csv:{i + 2}") for i, r in enumerate(rows)])
    return ds, snap


def visit(date, route="1", shift="Dag", start="08.00", citizen="A", area="Nord"):
    return {"area": area, "date": date, "route": route, "shift": shift, "start": start, "citizen": citizen}


def test_horizon_lists_today_and_next_days_and_says_when_a_day_is_empty(tmp_path):
    tpl = _template(tmp_path, ROUTE)
    ds, snap = _snapshot([
        visit("29-11-2026", citizen="Idag"),
        visit("28-11-2026", citizen="Igaar"),            # before today: not in the horizon
        visit("03-12-2026", citizen="Om fire dage"),      # today + 4: not in the horizon
        visit("01-12-2026", shift="Aften", start="17.00", citizen="Aften"),
        visit("01-12-2026", shift="Dag", start="09.00", citizen="Senere"),
        visit("01-12-2026", shift="Dag", start="07.30", citizen="Tidlig"),
        visit("ikke-en-dato", citizen="Ukendt dato"),     # kept and flagged, never dropped
    ])
    prepared = prepare(tpl, ds, snap, today=dt.date(2026, 11, 29))
    assert prepared.filtered == 2
    assert prepared.horizon == tuple(dt.date(2026, 11, 29) + dt.timedelta(days=n) for n in range(4))
    sections = prepared.units["Nord"].sections
    titles = [s.title for s in sections]
    # date order across the month end (not text order), Dag before Aften, every day of the horizon
    assert titles == [
        "29-11-2026 · Rute 1 · Dag", "29-11-2026 · Rute 1 · Aften",
        "30-11-2026 · Rute 1 · Dag", "30-11-2026 · Rute 1 · Aften",
        "01-12-2026 · Rute 1 · Dag", "01-12-2026 · Rute 1 · Aften",
        "02-12-2026 · Rute 1 · Dag", "02-12-2026 · Rute 1 · Aften",
        "ikke-en-dato · Rute 1 · Dag",
    ]
    by_title = {s.title: s for s in sections}
    for day in ("29-11-2026", "30-11-2026", "01-12-2026", "02-12-2026"):
        assert f"{day} · Rute 1 · Dag" in by_title and f"{day} · Rute 1 · Aften" in by_title
    assert by_title["30-11-2026 · Rute 1 · Dag"].rows == []
    assert [r.cells[1] for r in by_title["01-12-2026 · Rute 1 · Dag"].rows] == ["Tidlig", "Senere"]
    flagged = [r for s in sections for r in s.rows if r.flagged]
    assert [r.cells[1] for r in flagged] == ["Ukendt dato"]
    assert "Igaar" not in {r.cells[1] for s in sections for r in s.rows}


def test_include_if_filters_on_purpose_and_counts(tmp_path):
    tpl = _template(tmp_path, '''title = "Strøm"
dataset = "citizens"
[[include_if]]
field = "equipment"
present = true
[[include_if]]
field = "equipment"
not_one_of = ["ingen"]
[[columns]]
field = "citizen"
[[columns]]
field = "equipment"
''')
    ds, snap = _snapshot([{"citizen": "A", "equipment": "Ilt"}, {"citizen": "B", "equipment": " "},
                          {"citizen": "C", "equipment": "INGEN"}, {"citizen": "D", "equipment": "El-seng"}])
    prepared = prepare(tpl, ds, snap)
    assert prepared.filtered == 2
    assert [r.cells[0] for u in prepared.units.values() for s in u.sections for r in s.rows] == ["A", "D"]
    assert prepared.flagged == 0


def test_tick_box_columns_skip_weekends(tmp_path):
    tpl = _template(tmp_path, '''title = "Fremmøde"
dataset = "pupils"
[tick_boxes]
days = 3
[[columns]]
field = "pupil"
''')
    ds, snap = _snapshot([{"pupil": "A"}])
    prepared = prepare(tpl, ds, snap, today=dt.date(2026, 11, 27))  # a Friday
    assert [c.heading for c in prepared.columns[1:]] == ["fre 27-11", "man 30-11", "tir 01-12"]
    row = prepared.units["Fælles"].sections[0].rows[0]
    assert row.cells == ["A", "", "", ""]


def test_gc_paused_keep_leaves_nothing_frozen_and_cycles_still_collected():
    """The rows a validation keeps skip one collector walk, but nothing stays exempt from
    collection: a reference cycle made inside the block is freed by the next full collection."""
    import gc
    import weakref

    from nodkit.process import gc_paused

    class Node:
        pass

    was_enabled = gc.isenabled()
    with gc_paused(keep=True):
        assert not gc.isenabled()
        node = Node()
        node.me = node  # a cycle only the collector can free
        ref = weakref.ref(node)
        del node
    assert gc.isenabled() == was_enabled and gc.get_freeze_count() == 0
    gc.collect()
    assert ref() is None
