"""CSV source: the golden folder of awkward inputs, the adapter options, and property tests."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import os
import re
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodkit.lists import values
from nodkit.errors import ConfigError, SourceError
from nodkit.sources import DatasetConfig, open_source
from nodkit.sources.csvsource import read_csv

GOLDEN = Path(__file__).parent / "golden" / "sources"
TZ = ZoneInfo("Europe/Copenhagen")


def read(name: str, **kw):
    return read_csv(GOLDEN / name, **kw)


def values_of(rows, column):
    return [r.values[column] for r in rows]


def test_golden_files_match_their_generator():
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, data in module.FILES.items():
        assert (GOLDEN / name).read_bytes() == data, name


# --- golden: files that must read correctly ---------------------------------------------------------

def test_cp1252_with_danish_letters_is_detected():
    info: dict = {}
    header, rows, warnings = read("cp1252_aeoeaa.csv", info=info)
    assert info == {"encoding": "cp1252", "delimiter": ";"}
    assert header == ["Område", "Borger", "Adresse"]
    assert values_of(rows, "Borger") == ["Søren Ærø", "Øjvind Å"]
    assert rows[1].values["Adresse"] == "Møllevej 7 – 1. sal"  # en dash is 0x96 in cp1252
    assert warnings == []


@pytest.mark.parametrize("encoding", ["cp1252", "windows-1252", "CP1252"])
def test_cp1252_explicit(encoding):
    _header, rows, _ = read("cp1252_aeoeaa.csv", encoding=encoding)
    assert rows[0].values["Borger"] == "Søren Ærø"


def test_utf8_bom_and_comma_with_quoted_comma():
    header, rows, _ = read("utf8_bom_comma.csv")
    assert header == ["Navn", "Telefon", "Note"]  # no BOM glued to the first name
    assert rows[0].values == {"Navn": "Nguyễn Thị Hoa", "Telefon": "20 30 40 50", "Note": "Ring først, så bank"}
    assert rows[1].values["Navn"] == "Łukasz Wiśniewski"


def test_utf8_bom_with_explicit_utf8_still_strips_the_mark():
    header, _rows, _ = read("utf8_bom_comma.csv", encoding="utf-8")
    assert header[0] == "Navn"


def test_excel_unicode_text_utf16_tab():
    info: dict = {}
    header, rows, _ = read("utf16_tab_unicode_text.txt", info=info)
    assert info == {"encoding": "utf-16", "delimiter": "tab"}
    assert header == ["Navn", "Klasse"]
    assert values_of(rows, "Navn") == ["Åse Ørnebjærg", "Şükrü Yılmaz"]


def test_quoted_newlines_keep_physical_line_numbers():
    header, rows, _ = read("semicolon_quoted_newlines.csv")
    assert header == ["Borger", "Adgang", "Ydelser"]
    assert [r.origin for r in rows] == ["semicolon_quoted_newlines.csv:2", "semicolon_quoted_newlines.csv:5",
                                        "semicolon_quoted_newlines.csv:6"]
    assert rows[0].values["Adgang"] == "Nøgleboks\r\nkode 1234"
    assert rows[0].values["Ydelser"] == "Bad\nTilsyn"
    assert rows[2].values["Adgang"] == '"Hund" i haven;\r\nhold døren lukket'


def test_excel_written_dates_times_and_decimal_comma():
    _header, rows, _ = read("excel_dates.csv")
    assert [values.parse_date(v) for v in values_of(rows, "Dato")] == [
        dt.date(2026, 12, 31), dt.date(2026, 12, 31), dt.date(2026, 12, 31), dt.date(2027, 2, 1)]
    assert [values.parse_time(v) for v in values_of(rows, "Fra")] == [
        dt.time(7, 30), dt.time(7, 30), dt.time(7, 5), dt.time(7, 30)]
    assert values.parse_time(rows[2].values["Til"]) == dt.time(23, 59)
    assert [values.parse(v, "decimal") for v in values_of(rows, "Dosis")] == [
        Decimal("1234.50"), Decimal("12.5"), Decimal("0.25"), Decimal("2")]


def test_trailing_empty_lines_and_delimiter_only_lines_are_skipped():
    _header, rows, warnings = read("trailing_empty_lines.csv")
    assert values_of(rows, "Navn") == ["Anna", "Bo"]
    assert warnings == []


def test_duplicated_and_empty_header_names():
    header, rows, warnings = read("duplicate_headers.csv")
    assert header == ["Navn", "Telefon", "Telefon (2)", "kolonne 4", "Navn (2)"]
    assert rows[0].values["Telefon (2)"] == "2" and rows[0].values["Navn (2)"] == "Anna B"
    assert "duplicate_headers.csv:1:3: column 3 repeats the header 'Telefon'; read as 'Telefon (2)'" in warnings
    assert any(w.startswith("duplicate_headers.csv:1:5:") for w in warnings)


def test_excel_sep_line():
    header, rows, _ = read("sep_line_excel.csv")
    assert header == ["Navn", "By"]
    assert rows[0].values == {"Navn": "Anna", "By": "Esbjerg"} and rows[0].origin.endswith(":3")
    header, rows, _ = read("sep_line_excel.csv", delimiter=",")  # explicit delimiter: the hint line still skipped
    assert header == ["Navn", "By"] and len(rows) == 1


def test_ragged_rows_are_kept_and_flagged_with_both_counts():
    _header, rows, warnings = read("ragged_rows.csv")
    assert values_of(rows, "Navn") == ["Anna", "Bo", "Carl", "Dorthe"]
    assert rows[1].values["Telefon"] is None and rows[1].fields == 2 and "2 felter, overskriften 3" in rows[1].problems[0]
    assert rows[2].problems and "4 felter" in rows[2].problems[0]
    # an empty extra field is still a shifted row (a stray ';' in an empty last column)
    assert rows[3].fields == 4 and rows[3].problems
    assert not rows[0].problems and rows[0].fields == 0
    assert "ragged_rows.csv: 2 row(s) with more fields than the header (values may have shifted; rows flagged): line(s) 4, 5" in warnings
    assert "ragged_rows.csv: 1 row(s) with fewer fields than the header (values may have shifted; rows flagged): line(s) 3" in warnings


def test_a_trailing_delimiter_on_every_row_is_not_a_shift(tmp_path):
    from nodkit.sources.csvsource import read_csv
    path = tmp_path / "trailing.csv"
    path.write_bytes(b"Navn;By\r\nAnna;Ribe;\r\nBo;Varde;\r\n")
    _header, rows, warnings = read_csv(path)
    assert [r.fields for r in rows] == [0, 0] and not any(r.problems for r in rows)
    assert any("trailing delimiter" in w for w in warnings)


def test_header_only_is_zero_rows():
    header, rows, _ = read("header_only.csv")
    assert header == ["Navn", "By", "Telefon"] and rows == []


def test_cr_only_newlines():
    _header, rows, _ = read("cr_only_newlines.csv")
    assert values_of(rows, "By") == ["Esbjerg", "Ribe"]
    assert rows[1].origin.endswith(":3")


def test_delimiter_sniffing_ignores_quoted_text():
    header, rows, _ = read("quoted_delimiter_in_header.csv")
    assert header == ["Navn; fulde", "By"]
    assert rows[0].values["By"] == "Esbjerg"


def test_padded_header_names_are_normalised():
    header, _rows, _ = read("padded_header.csv")
    assert header == ["Navn", "By"]


# --- golden: files that must fail with file, line and column --------------------------------------------

@pytest.mark.parametrize("name, options, message", [
    ("unclosed_quote.csv", {}, r"unclosed_quote\.csv:3:2: quoted field opened here is never closed"),
    ("unclosed_quote_in_header.csv", {}, r"unclosed_quote_in_header\.csv:1:2: quoted field opened here is never closed"),
    ("declared_utf8_really_cp1252.csv", {"encoding": "utf-8"},
     r"declared_utf8_really_cp1252\.csv:3:8: not valid utf-8 text \(byte 0xF8\)"),
    ("empty.csv", {}, r"empty\.csv:1: empty file, no header line"),
    ("only_blank_lines.csv", {}, r"only_blank_lines\.csv:1: empty file"),
    ("workbook_renamed.csv", {}, r"workbook_renamed\.csv:1:1: this is an Excel workbook \(\.xlsx\).*kind = \"xlsx\""),
    ("nul_byte.csv", {}, r"nul_byte\.csv:2:6: contains a NUL byte"),
    ("cp1252_aeoeaa.csv", {"encoding": "latin-9000"}, r"cp1252_aeoeaa\.csv: unknown encoding 'latin-9000'"),
])
def test_broken_inputs_fail_naming_file_line_and_column(name, options, message):
    with pytest.raises(SourceError, match=message) as exc:
        read(name, **options)
    assert str(GOLDEN / name) in str(exc.value)


def test_unclosed_quote_in_a_big_file_is_located(tmp_path):
    path = tmp_path / "stor.csv"
    body = "".join(f"Person {i};Esbjerg;{i}\r\n" for i in range(20000))  # ~ 450 KB after the stray quote
    path.write_bytes(("Navn;By;Nr\r\nAnna;Ribe;1\r\nBo;Varde;\"2\r\n" + body).encode())
    with pytest.raises(SourceError, match=r"stor\.csv:3:3: quoted field opened here is never closed"):
        read_csv(path)


def test_errors_never_contain_cell_values():
    for name, options in (("unclosed_quote.csv", {}), ("declared_utf8_really_cp1252.csv", {"encoding": "utf-8"})):
        with pytest.raises(SourceError) as exc:
            read(name, **options)
        for value in ("Hund", "Ribe", "Esbj", "Carl", "Bo;"):
            assert value not in str(exc.value).replace(str(GOLDEN), "")


# --- the adapter: glob, data as of, stale warning, options ------------------------------------------------

def csv_source(path, **options):
    cfg = DatasetConfig(name="visits", kind="csv", options={"path": str(path), **options}, columns={},
                        where="nodkit.toml:12")
    return open_source(cfg, TZ)


def test_glob_picks_the_newest_file_and_reports_its_mtime(tmp_path):
    old, new = tmp_path / "besoeg_20261122.csv", tmp_path / "besoeg_20261121.csv"
    old.write_bytes(b"Navn\r\ngammel\r\n")
    new.write_bytes(b"Navn\r\nny\r\n")
    t_old = dt.datetime(2026, 11, 22, 5, 0, tzinfo=TZ).timestamp()
    t_new = dt.datetime(2026, 11, 23, 5, 0, tzinfo=TZ).timestamp()
    os.utime(old, (t_old, t_old))
    os.utime(new, (t_new, t_new))  # newest by time, though its name sorts first
    snap = csv_source(tmp_path / "besoeg_*.csv").fetch(dt.datetime(2026, 11, 23, 6, 0, tzinfo=TZ))
    assert snap.source == str(new)
    assert snap.rows[0].values["Navn"] == "ny"
    assert snap.as_of == dt.datetime(2026, 11, 23, 5, 0, tzinfo=TZ)


def test_no_matching_file_names_pattern_and_config_line(tmp_path):
    with pytest.raises(SourceError, match=r"besoeg_\*\.csv: no such file \(configured at nodkit.toml:12\)"):
        csv_source(tmp_path / "besoeg_*.csv").fetch(dt.datetime.now(TZ))


def test_max_age_hours_gives_a_stale_warning(tmp_path):
    path = tmp_path / "medicin.csv"
    path.write_bytes(b"Navn\r\nAnna\r\n")
    made = dt.datetime(2026, 11, 20, 5, 0, tzinfo=TZ)
    os.utime(path, (made.timestamp(), made.timestamp()))
    now = dt.datetime(2026, 11, 23, 6, 0, tzinfo=TZ)
    snap = csv_source(path, max_age_hours=26).fetch(now)
    assert snap.warnings == ["stale: medicin.csv is 73.0 hours old (data as of 2026-11-20T05:00+01:00), "
                             "more than max_age_hours = 26"]
    assert csv_source(path, max_age_hours=80).fetch(now).warnings == []
    assert csv_source(path).fetch(now).warnings == []  # no limit configured, no warning


@pytest.mark.parametrize("options, message", [
    ({"max_age_hours": 0}, "max_age_hours must be a number of hours above 0"),
    ({"max_age_hours": "26"}, "max_age_hours must be"),
    ({"delimiter": ";;"}, "delimiter must be"),
    ({"sheet": "Ark1"}, r"unknown key\(s\) for kind csv: sheet"),
])
def test_bad_options_are_config_errors_naming_the_line(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message) as exc:
        csv_source(tmp_path / "x.csv", **options)
    assert "nodkit.toml:12" in str(exc.value)


def test_explicit_tab_delimiter(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"Navn;fuldt\tBy\r\nHansen; Anna\tRibe\r\n")
    snap = csv_source(path, delimiter="tab").fetch(dt.datetime.now(TZ))
    assert snap.columns == ["Navn;fuldt", "By"]
    assert snap.rows[0].values["By"] == "Ribe"


def test_ten_megabyte_export_reads_in_seconds(tmp_path):
    path = tmp_path / "stor.csv"
    line = "Område Nord;Åse Ørnebjærg;010150-9123;Strandvejen 12, 6700 Esbjerg;\"Nøgleboks\nkode 1234\";07.30\r\n"
    rows = 10 * 1024 * 1024 // len(line.encode("cp1252")) + 1
    path.write_bytes(("Område;Borger;CPR;Adresse;Adgang;Fra\r\n" + line * rows).encode("cp1252"))
    assert path.stat().st_size >= 10 * 1024 * 1024
    started = time.monotonic()
    header, got, warnings = read_csv(path)
    seconds = time.monotonic() - started
    assert len(got) == rows and warnings == []
    assert got[-1].origin == f"stor.csv:{2 + 2 * (rows - 1)}"  # two physical lines per record
    assert got[-1].values["Adgang"] == "Nøgleboks\nkode 1234"
    assert seconds < 20, f"10 MB took {seconds:.1f} s"


# --- property-based -------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), encoding=st.sampled_from(["auto", "utf-8", "utf-8-sig", "cp1252", "utf-16"]),
       delimiter=st.sampled_from(["auto", ";", ",", "\t"]))
def test_arbitrary_bytes_give_rows_or_a_source_error(tmp_path, data, encoding, delimiter):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        header, rows, warnings = read_csv(path, encoding=encoding, delimiter=delimiter)
    except SourceError as exc:
        assert re.match(re.escape(str(path)) + r"(:\d+(:\d+)?)?: ", str(exc)), str(exc)
        return
    assert header and len(set(header)) == len(header)
    for row in rows:
        assert set(row.values) == set(header)
        assert re.fullmatch(r"fuzz\.csv:\d+", row.origin)


# CSV-shaped bytes: quotes, delimiters, line breaks, BOMs, Danish letters in UTF-8 and cp1252, NULs
_pieces = st.sampled_from([b'"', b'""', b";", b",", b"\t", b"\r", b"\n", b"\r\n", b"Navn", b"a", b" ", b"\xe6",
                           b"\xc3\xa6", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"sep=;", b"\x81", b"PK\x03\x04"])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(_pieces, max_size=60).map(b"".join), encoding=st.sampled_from(["auto", "utf-8", "cp1252"]))
def test_csv_shaped_bytes_give_rows_or_a_located_source_error(tmp_path, data, encoding):
    path = tmp_path / "q.csv"
    path.write_bytes(data)
    try:
        header, rows, _ = read_csv(path, encoding=encoding)
    except SourceError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        return
    lines = [int(r.origin.rsplit(":", 1)[1]) for r in rows]
    assert lines == sorted(set(lines))  # physical lines, strictly increasing
    assert all(set(r.values) == set(header) for r in rows)


_cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_name = st.text("abcdefghijklmnopqrstuvwxyzæøå", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(_name, min_size=2, max_size=5, unique=True), data=st.data(),
       delimiter=st.sampled_from([";", ",", "\t"]), bom=st.booleans(), crlf=st.booleans())
def test_roundtrip_of_what_a_csv_writer_writes(tmp_path, header, data, delimiter, bom, crlf):
    rows = data.draw(st.lists(st.lists(_cell, min_size=len(header), max_size=len(header))
                              .filter(lambda r: any(c.strip() for c in r)), max_size=8))
    # quote like Excel does: any field holding the delimiter, a quote or a line break (csv.writer
    # leaves a lone CR unquoted when the line terminator is LF)
    def line(cells):
        return delimiter.join(f'"{c.replace(chr(34), 2 * chr(34))}"' if any(x in c for x in (delimiter, '"', "\r", "\n"))
                              else c for c in cells) + ("\r\n" if crlf else "\n")
    text = line(header)
    starts = []
    for row in rows:
        starts.append(len(re.findall(r"\r\n|\r|\n", text)) + 1)
        text += line(row)
    path = tmp_path / "rt.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    got_header, got_rows, warnings = read_csv(path)
    assert got_header == header
    assert [[r.values[h] for h in header] for r in got_rows] == rows
    assert [r.origin for r in got_rows] == [f"rt.csv:{n}" for n in starts]
    assert warnings == []
