"""`nodkit sources check` on the demo kit: healthy, flagged rows, broken datasets, --json, exit codes."""

from __future__ import annotations

import json
import os
import re
import time

from conftest import run_cli
from nodkit.config.settings import load_config
from nodkit.export.check import check_sources


def visits_file(kit):
    return next(kit.sources.glob("besoeg_*.csv"))


def break_visits(kit) -> tuple[str, str]:
    """Line 4: an impossible start time; line 6: no citizen. Returns (the bad time, the removed name)."""
    path = visits_file(kit)
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    header = lines[0].split(";")
    row4, row6 = lines[3].split(";"), lines[5].split(";")
    row4[header.index("Fra")] = "25.61"
    name = row6[header.index("Borger")]
    row6[header.index("Borger")] = ""
    lines[3], lines[5] = ";".join(row4), ";".join(row6)
    path.write_bytes(("\ufeff" + "\r\n".join(lines)).encode("utf-8"))
    return "25.61", name


def test_healthy_demo_checks_clean(demo_kit):
    cfg = demo_kit.home / "nodkit.toml"
    text = cfg.read_text("utf-8")
    assert 'query = "SELECT * FROM elevliste"' in text
    cfg.write_text(text.replace('query = "SELECT * FROM elevliste"',
                                'query = "SELECT *, 1 AS intern_kode FROM elevliste"'), "utf-8")
    result = run_cli("sources", "check", "--kit", str(demo_kit.home))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("sources check: 6 dataset(s): 6 ok, 0 with warnings, 0 broken")
    assert "visits (csv) OK:" in result.stdout and "pupils (sql) OK: sqlite:///" in result.stdout
    assert "list care-route: start=Fra, end=Til, citizen=Borger" in result.stdout
    assert "unmapped columns: intern_kode" in result.stdout


def test_json_describes_each_dataset(demo_kit):
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    visits = next(d for d in data["datasets"] if d["name"] == "visits")
    assert visits["status"] == "ok" and visits["reachable"] is True and visits["rows"] == 360
    assert visits["source"].endswith(visits_file(demo_kit).name)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", visits["as_of"])
    assert "Medarbejder" in visits["columns"]
    assert visits["read_as"] == {"encoding": "utf-8-sig", "delimiter": ";"}
    [care] = visits["lists"]
    assert care["template"] == "care-route" and care["mapping"]["start"] == "Fra" and care["missing"] == []
    assert visits["problems"] == [] and visits["flagged_rows"] == 0


def test_flagged_rows_are_a_warning_with_file_line_column(demo_kit):
    bad, name = break_visits(demo_kit)
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "visits")
    assert result.exit_code == 1, result.output
    path = visits_file(demo_kit).name
    assert "visits (csv) WARNING" in result.stdout
    assert "2 row(s) with problems (kept and flagged on the lists):" in result.stdout
    assert f"{path}:4:5 (Fra): field 'start': not a valid time of day" in result.stdout
    assert f"{path}:6:7 (Borger): required field 'citizen' is empty" in result.stdout
    as_json = run_cli("sources", "check", "--kit", str(demo_kit.home), "visits", "--json").stdout
    for output in (result.output, as_json):  # locations and reasons, never the cell values
        assert bad not in output and name not in output


def test_broken_dataset_exits_12_and_the_others_are_still_checked(demo_kit):
    med = demo_kit.sources / "medicin.csv"
    med.write_bytes(med.read_bytes().replace("Præparat".encode(), b"Praeparat", 1))
    (demo_kit.sources / "kontakter.csv").unlink()
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 12
    data = {d["name"]: d for d in json.loads(result.stdout)["datasets"]}
    assert data["medication"]["status"] == "broken" and data["medication"]["reachable"] is True
    assert data["medication"]["lists"][0]["missing"] == [
        f"dataset 'medication' has no column 'Præparat' (mapped to field 'drug' at {demo_kit.home / 'nodkit.toml'}:{_line_of(demo_kit, '[datasets.medication]')})"]
    assert data["medication"]["unmapped_columns"] == ["Praeparat"]
    assert data["contacts"]["status"] == "broken" and data["contacts"]["reachable"] is False
    assert "kontakter.csv: no such file" in data["contacts"]["error"]
    assert data["visits"]["status"] == "ok" and data["pupils"]["status"] == "ok"
    text = run_cli("sources", "check", "--kit", str(demo_kit.home))
    assert text.exit_code == 12
    assert "MISSING: dataset 'medication' has no column 'Præparat'" in text.stdout
    assert "contacts (csv) BROKEN" in text.stdout and "not readable:" in text.stdout


def test_stale_file_is_a_warning(demo_kit):
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(re.sub(r'^(path = ".*medicin\.csv")$', r"\1\nmax_age_hours = 1", cfg.read_text("utf-8"),
                          flags=re.M), "utf-8")
    old = time.time() - 3 * 3600
    os.utime(demo_kit.sources / "medicin.csv", (old, old))
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "medication")
    assert result.exit_code == 1
    assert "! stale: medicin.csv is 3.0 hours old" in result.stdout


def test_unknown_dataset_name_is_a_config_error(demo_kit):
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "vists")
    assert result.exit_code == 10
    assert "no dataset 'vists'" in result.stderr and "visits" in result.stderr


def test_problem_list_is_capped_and_counted(demo_kit):
    path = visits_file(demo_kit)
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    fra = lines[0].split(";").index("Fra")
    for i in range(1, 21):
        cells = lines[i].split(";")
        cells[fra] = "x"
        lines[i] = ";".join(cells)
    path.write_bytes(("\ufeff" + "\r\n".join(lines)).encode("utf-8"))
    config = load_config(demo_kit.home)
    [visits] = check_sources(config, config.now(), ["visits"], max_problems=3).datasets
    assert visits.flagged_rows == 20
    assert [p.split(" ")[0] for p in visits.problems] == [f"{path.name}:2:5", f"{path.name}:3:5", f"{path.name}:4:5"]
    assert visits.more_problems == 17


def test_xlsx_problems_name_excel_row_and_column_letter(demo_kit):
    import openpyxl
    lines = (demo_kit.sources / "kontakter.csv").read_bytes().decode("utf-8-sig").split("\r\n")
    rows = [line.split(";") for line in lines if line]
    rows[3][rows[0].index("Navn")] = ""  # the 3rd contact has no name
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "Kontaktliste"
    ws.append([])
    for row in rows:
        ws.append(row)  # header in Excel row 3, the 3rd contact in row 6
    wb.save(demo_kit.sources / "kontakter.xlsx")
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(re.sub(r'^kind = "csv"\npath = ".*kontakter\.csv"$',
                          f'kind = "xlsx"\npath = "{(demo_kit.sources / "kontakter.xlsx").as_posix()}"',
                          cfg.read_text("utf-8"), flags=re.M), "utf-8")
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "contacts", "--json")
    assert result.exit_code == 1, result.output
    [contacts] = json.loads(result.stdout)["datasets"]
    assert contacts["kind"] == "xlsx" and contacts["rows"] == len(rows) - 1
    assert contacts["problems"] == ["kontakter.xlsx:6:C (Navn): required field 'name' is empty"]
    assert contacts["source"].endswith("kontakter.xlsx (sheet 'Sheet', header row 3)")
    assert contacts["warnings"] == []  # title rows above the header are normal, not a warning
    assert contacts["read_as"] == {"sheet": "Sheet", "header_row": 3}


def test_missing_header_line_never_shows_the_first_data_row(demo_kit):
    path = demo_kit.sources / "medicin.csv"
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    first_row = lines[1].split(";")
    path.write_bytes(("\ufeff" + "\r\n".join(lines[1:])).encode("utf-8"))  # header line lost
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "medication", "--json")
    assert result.exit_code == 12, result.output
    assert "is the header line missing?" in result.output
    for cell in (first_row[1], first_row[2]):  # citizen name and CPR number
        assert cell not in result.output
    export = run_cli("export", "--kit", str(demo_kit.home))
    assert first_row[1] not in export.output and first_row[2] not in export.output


def _line_of(kit, text: str) -> int:
    lines = (kit.home / "nodkit.toml").read_text("utf-8").splitlines()
    return lines.index(text) + 1
