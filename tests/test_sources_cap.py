"""Every source kind caps long cells at read time (issue 16, item 8): the row is flagged and says
how long the cell was; one runaway cell (a 200 KB SQL text column) cannot stall the export."""

from __future__ import annotations

import datetime as dt
import sqlite3
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from nodkit.sources import MAX_CELL_CHARS, DatasetConfig, open_source

TZ = ZoneInfo("Europe/Copenhagen")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
LONG = 200_000


def _csv(tmp_path):
    path = tmp_path / "elever.csv"
    path.write_text(f"navn;note\nÅse;kort\nBo;{'x' * 100_000}\n", "utf-8")  # the csv module stops at 128 KB
    return {"path": str(path)}


def _xlsx(tmp_path):
    path = tmp_path / "elever.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["navn", "note"])
    ws.append(["Åse", "kort"])
    ws.append(["Bo", "x" * 32_000])  # Excel's own limit is 32,767 characters per cell
    wb.save(path)
    return {"path": str(path)}


def _sql(tmp_path):
    path = tmp_path / "skole.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE elever (navn TEXT, note TEXT)")
    db.executemany("INSERT INTO elever VALUES (?, ?)", [("Åse", "kort"), ("Bo", "x" * LONG)])
    db.commit()
    db.close()
    return {"url": f"sqlite:///{path}", "query": "SELECT navn, note FROM elever ORDER BY navn DESC"}


@pytest.mark.parametrize("kind,make,length", [("csv", _csv, 100_000), ("xlsx", _xlsx, 32_000), ("sql", _sql, LONG)])
def test_long_cells_are_cut_and_the_row_flagged_for_every_kind(tmp_path, kind, make, length):
    cfg = DatasetConfig(name="elever", kind=kind, options=make(tmp_path), columns={}, where="nodkit.toml:7")
    snap = open_source(cfg, TZ).fetch(NOW)
    by_name = {r.get("navn"): r for r in snap.rows}
    short, cut = by_name["Åse"], by_name["Bo"]
    assert short.get("note") == "kort" and not short.problems
    assert len(cut.get("note")) <= MAX_CELL_CHARS + 2
    assert cut.problems == (f"feltet 'note' var {length} tegn langt; kun de første {MAX_CELL_CHARS} er med",)
    assert any("1 cell(s) longer than" in w for w in snap.warnings)
