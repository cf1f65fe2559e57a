"""xlsx source: sheets, header detection under title rows, Excel dates and times, merged and empty cells."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from nodkit.lists import values
from nodkit.errors import ConfigError, SourceError
from nodkit.sources import DatasetConfig, open_source
from nodkit.sources.xlsxsource import read_xlsx

TZ = ZoneInfo("Europe/Copenhagen")
NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=TZ)


def school_export(path: Path) -> Path:
    """What a school system's 'export to Excel' looks like: a title, a blank row, then the table."""
    wb = openpyxl.Workbook()
    info = wb.active
    info.title = "Info"
    info["A1"] = "Eksporteret 23-11-2026"
    ws = wb.create_sheet("Elever")
    ws["A1"] = "Klasseliste Vestre Skole pr. 23. november 2026"
    ws.merge_cells("A1:E1")
    ws.append([])
    ws.append(["Klasse", "Elev", "Født", "Mødetid", "Telefon"])
    ws.append(["1.A", "Åse Ørnebjærg", dt.datetime(2019, 3, 4), dt.time(7, 30), 20304050])
    ws.append([None, "Nguyễn Thị Hoa", dt.date(2019, 5, 6), "08.15", "21 31 41 51"])
    ws.append([None, "Bo Bæk", None, None, None])
    ws.merge_cells("A4:A6")  # the class is one merged cell over its pupils
    ws.append([])
    ws.append(["2.B", "Şükrü Yılmaz", "31-12-2018", dt.time(8, 0), None, "uden for tabellen"])
    ws["C4"].number_format = "dd-mm-yyyy"
    wb.save(path)
    return path


def test_named_sheet_header_detection_dates_and_merged_cells(tmp_path):
    header, rows, warnings, sheet, header_row = read_xlsx(school_export(tmp_path / "elever.xlsx"), sheet="Elever")
    assert sheet == "Elever"
    assert header == ["Klasse", "Elev", "Født", "Mødetid", "Telefon"]
    assert [r.values["Elev"] for r in rows] == ["Åse Ørnebjærg", "Nguyễn Thị Hoa", "Bo Bæk", "Şükrü Yılmaz"]
    assert [r.values["Klasse"] for r in rows] == ["1.A", "1.A", "1.A", "2.B"]  # merged cell fills its rows
    assert [r.origin for r in rows] == ["elever.xlsx:4", "elever.xlsx:5", "elever.xlsx:6", "elever.xlsx:8"]
    assert [values.parse_date(r.values["Født"]) for r in rows if r.values["Født"]] == [
        dt.date(2019, 3, 4), dt.date(2019, 5, 6), dt.date(2018, 12, 31)]
    assert values.parse_time(rows[0].values["Mødetid"]) == dt.time(7, 30)
    assert values.parse_time(rows[1].values["Mødetid"]) == dt.time(8, 15)
    assert values.format_value(values.parse(rows[0].values["Telefon"], "phone"), "phone") == "20304050"
    assert rows[3].problems == ("celle F8 ligger uden for overskriften",)
    assert header_row == 3 and warnings == []


def test_header_detection_uses_the_column_mapping(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Rapport", "Kommune", "Dato"])  # a text-only title row that looks like a header
    ws.append(["Navn", "Telefon"])
    ws.append(["Anna", "1234"])
    wb.save(tmp_path / "k.xlsx")
    header, rows, _, _, _ = read_xlsx(tmp_path / "k.xlsx", wanted={"Navn", "Telefon"})
    assert header == ["Navn", "Telefon"] and rows[0].values["Navn"] == "Anna"
    header, _, _, _, _ = read_xlsx(tmp_path / "k.xlsx", header_row=2)
    assert header == ["Navn", "Telefon"]


def test_first_sheet_by_default_and_missing_sheet_names_the_sheets(tmp_path):
    path = school_export(tmp_path / "elever.xlsx")
    header, _, _, sheet, _ = read_xlsx(path)
    assert sheet == "Info" and header == ["Eksporteret 23-11-2026"]
    with pytest.raises(SourceError, match=r"elever\.xlsx: no sheet 'Ark1'; sheets are: Info, Elever"):
        read_xlsx(path, sheet="Ark1")


@pytest.mark.parametrize("content, message", [
    (b"Navn;By\r\nAnna;Ribe\r\n", "not a readable .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "an old .xls or a password-protected workbook"),
    (b"", "not a readable .xlsx workbook"),
])
def test_not_a_workbook(tmp_path, content, message):
    path = tmp_path / "elever.xlsx"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as exc:
        read_xlsx(path)
    assert str(path) in str(exc.value)


def test_empty_sheet(tmp_path):
    openpyxl.Workbook().save(tmp_path / "tom.xlsx")
    with pytest.raises(SourceError, match=r"tom\.xlsx: sheet 'Sheet' is empty, no header row"):
        read_xlsx(tmp_path / "tom.xlsx")


def test_adapter_data_as_of_is_file_mtime_and_stale_warning(tmp_path):
    path = school_export(tmp_path / "elever_1.xlsx")
    made = dt.datetime(2026, 11, 21, 6, 0, tzinfo=TZ)
    os.utime(path, (made.timestamp(), made.timestamp()))
    cfg = DatasetConfig(name="pupils", kind="xlsx", options={"path": str(tmp_path / "elever_*.xlsx"), "sheet": "Elever",
                                                             "max_age_hours": 24},
                        columns={"pupil": "Elev", "class": "Klasse"}, where="nodkit.toml:30")
    snap = open_source(cfg, TZ).fetch(NOW)
    assert snap.kind == "xlsx" and snap.as_of == made
    assert snap.source == f"{path} (sheet 'Elever', header row 3)"
    assert len(snap.rows) == 4
    assert snap.warnings[0].startswith("stale: elever_1.xlsx is 48.0 hours old")


def test_fingerprint_is_of_the_bytes_read_and_none_while_stale(tmp_path):
    """The export skips parsing a workbook whose fingerprint is LATEST's: the fingerprint must be
    the parsed bytes' (and the sheet option's), and absent while a stale warning depends on the clock."""
    path = school_export(tmp_path / "elever_1.xlsx")
    cfg = DatasetConfig(name="pupils", kind="xlsx", options={"path": str(tmp_path / "elever_*.xlsx"), "sheet": "Elever",
                                                             "max_age_hours": 24},
                        columns={"pupil": "Elev", "class": "Klasse"}, where="nodkit.toml:30")
    source = open_source(cfg, TZ)
    fresh = dt.datetime.fromtimestamp(path.stat().st_mtime, TZ) + dt.timedelta(hours=1)
    snap = source.fetch(fresh)
    assert snap.fingerprint is not None and snap.fingerprint == source.fingerprint(fresh)
    other = DatasetConfig(name="pupils", kind="xlsx", options={"path": str(path), "sheet": "Info"},
                          columns={}, where="nodkit.toml:30")
    assert open_source(other, TZ).fingerprint(fresh) != snap.fingerprint  # another sheet reads other rows
    wb = openpyxl.load_workbook(path)
    wb["Elever"]["B4"] = "Åse Ørnebjerg"
    wb.save(path)
    assert source.fingerprint(fresh) != snap.fingerprint
    later = fresh + dt.timedelta(hours=48)
    assert source.fingerprint(later) is None and source.fetch(later).fingerprint is None


def test_adapter_rejects_unknown_options(tmp_path):
    cfg = DatasetConfig(name="pupils", kind="xlsx", options={"path": "x.xlsx", "delimiter": ";"}, columns={},
                        where="nodkit.toml:30")
    with pytest.raises(ConfigError, match=r"nodkit.toml:30: .*unknown key\(s\) for kind xlsx: delimiter"):
        open_source(cfg, TZ)


_VALID = None


def _valid_workbook() -> bytes:
    global _VALID
    if _VALID is None:
        import io
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["Navn", "Født"])
        ws.append(["Åse", dt.date(2019, 3, 4)])
        buf = io.BytesIO()
        wb.save(buf)
        _VALID = buf.getvalue()
    return _VALID


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_damaged_workbooks_give_rows_or_a_source_error(tmp_path, flips, cut):
    data = bytearray(_valid_workbook())
    for pos, byte in flips:
        data[pos % len(data)] = byte
    if cut is not None:
        data = data[: cut % len(data)]
    path = tmp_path / "skadet.xlsx"
    path.write_bytes(bytes(data))
    try:
        read_xlsx(path)
    except SourceError as exc:
        assert str(exc).startswith(str(path))
