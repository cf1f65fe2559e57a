"""The built-in lists, end to end: a demo export produces every one of them,
each PDF holds every source row of its unit in the right order (read back
with poppler, checked against the source files themselves, not nodkit's own
reading of them), and the first pages are rendered to PNG for a human look.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import list_text, ROOT

BUILTINS = ("care-route", "medication", "citizens", "power-dependent", "staff", "class-list", "pickup",
            "attendance", "contacts")
ARTIFACTS = ROOT / "test-artifacts"

_FOLD = str.maketrans({"æ": "{1", "ø": "{2", "å": "{3"})


def fold(text: str) -> str:
    return text.casefold().translate(_FOLD)


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def read_pupils(sources: Path) -> list[dict]:
    db = sqlite3.connect(sources / "skole.db")
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM elevliste")]
    db.close()
    return rows


def dmy(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%d-%m-%Y").date()


def expected(template: str, sources: Path, today: dt.date) -> dict[str, list[tuple[str, ...]]]:
    """Unit -> the (key, key) pairs each printed row must show, in printed order.

    Built from the demo's source files with the sorting rules the templates
    document, independently of nodkit's own source readers.
    """
    by_unit: dict[str, list[tuple]] = {}

    def add(unit, sort_key, keys):
        by_unit.setdefault(unit, []).append((sort_key, keys))

    if template == "care-route":
        horizon = {today + dt.timedelta(days=n) for n in range(4)}
        shifts = {"dag": 0, "aften": 1, "nat": 2}
        for r in read_csv(next(sources.glob("besoeg_*.csv"))):
            if dmy(r["Dato"]) in horizon:
                add(r["Område"], (dmy(r["Dato"]), fold(r["Rute"]), shifts[r["Vagt"].casefold()], r["Fra"],
                                  fold(r["Borger"])), (r["Fra"], r["Borger"]))
    elif template == "medication":
        for r in read_csv(sources / "medicin.csv"):
            add(r["Område"], (fold(r["Borger"]), r["CPR"], fold(r["Præparat"])), (r["Præparat"], r["Styrke"]))
    elif template == "citizens":
        for r in read_csv(sources / "borgere.csv"):
            add(r["Område"], (fold(r["Borger"]),), (r["Borger"], r["Telefon"]))
    elif template == "power-dependent":
        for r in read_csv(sources / "borgere.csv"):
            if r["Strømafhængig udstyr"].strip():
                add("Fælles", (int(r["Prioritet"]), fold(r["Område"]), fold(r["Adresse"]), fold(r["Borger"])),
                    (r["Borger"], r["Strømafhængig udstyr"].split()[0]))
    elif template == "staff":
        for r in read_csv(sources / "medarbejdere.csv"):
            add(r["Område"], (fold(r["Navn"]),), (r["Navn"], r["Telefon"]))
    elif template in ("class-list", "pickup", "attendance"):
        for r in read_pupils(sources):
            keys = {"class-list": (r["elev"], dmy_iso(r["foedselsdato"])), "pickup": (r["elev"], r["afhentningssted"]),
                    "attendance": (r["elev"],)}[template]
            add(r["skole"], (fold(r["klasse"]), fold(r["elev"])), keys)
    elif template == "contacts":
        order = ["krisestab", "ledere", "løbere", "mødesteder", "informationspunkter", "forsyning", "leverandører"]
        for r in read_csv(sources / "kontakter.csv"):
            add("Fælles", (order.index(r["Kategori"].casefold()), fold(r["Funktion"]), fold(r["Navn"])),
                (r["Funktion"], r["Navn"]))
    return {unit: [keys for _, keys in sorted(rows, key=lambda x: x[0])] for unit, rows in by_unit.items()}


def dmy_iso(text: str) -> str:
    return dt.date.fromisoformat(text).strftime("%d-%m-%Y")


def match_in_order(text: str, wanted: list[tuple[str, ...]]) -> tuple[int, tuple | None]:
    """Walk the text's lines once, matching each wanted row (all its keys on one line) in order.

    Returns (rows matched, first row not found after the previous one)."""
    lines = text.splitlines()
    pos = 0
    for n, keys in enumerate(wanted):
        keys = tuple(" ".join(k.split()[:2]) for k in keys)  # a long cell may wrap after its first words
        while pos < len(lines) and not all(k in lines[pos] for k in keys):
            pos += 1
        if pos == len(lines):
            return n, keys
        pos += 1
    return len(wanted), None


@pytest.fixture(scope="module")
def demo(_demo_template):
    return _demo_template


def test_every_builtin_list_is_exported(demo):
    templates = {f["template"] for f in demo.files()}
    assert set(BUILTINS) | {"binder"} == templates
    assert demo.export["status"] == "good", demo.export["reasons"]


@pytest.mark.parametrize("template", BUILTINS)
def test_list_holds_every_source_row_in_order(demo, template):
    today = dt.date.fromisoformat(_created(demo)[:10])
    want = expected(template, demo.sources, today)
    files = [f for f in demo.files() if f["template"] == template]
    assert {f["unit"] for f in files} == set(want), "one file per unit that has rows in the source"
    for f in files:
        rows = want[f["unit"]]
        assert f["rows"] == len(rows), f"{f['path']}: export says {f['rows']} rows, source has {len(rows)}"
        text = list_text(f, demo.passwords[f["audience"]])
        found, missing = match_in_order(text, rows)
        assert found == len(rows), f"{template}/{f['unit']}: row {found + 1} of {len(rows)} {missing} not found in order"


def _created(demo) -> str:
    manifest = json.loads((demo.set_dir / "manifest.json").read_text("utf-8"))
    return manifest["created_at"]


def test_route_list_covers_horizon_and_says_when_a_day_is_empty(demo):
    """Today + 3 days, every route and shift each day; key-box codes only on route lists."""
    today = dt.date.fromisoformat(_created(demo)[:10])
    route = next(f for f in demo.files() if f["template"] == "care-route" and f["unit"] == "Område Nord")
    text = list_text(route, demo.passwords["pleje"])
    for n in range(4):
        day = (today + dt.timedelta(days=n)).strftime("%d-%m-%Y")
        assert f"{day} · Rute Nord 1 · Dag" in text
    assert (today + dt.timedelta(days=4)).strftime("%d-%m-%Y") not in text.replace("Data pr.", "")
    codes = [r["Adgang"] for r in read_csv(demo.sources / "borgere.csv") if r["Adgang"].startswith("Nøgleboks")]
    assert codes and any(code in text for code in codes)
    for f in demo.files():
        if f["template"] in ("citizens", "power-dependent", "medication", "staff", "contacts"):
            other = list_text(f, demo.passwords[f["audience"]])
            assert not any(code in other for code in codes), f"key-box code printed on {f['template']}"
            assert "Nøgleboks kode" not in other


def test_cpr_printed_as_birth_date_only(demo):
    cprs = [r["CPR"] for r in read_csv(demo.sources / "borgere.csv")]
    for f in demo.files():
        if f["audience"] == "pleje":
            text = list_text(f, demo.passwords["pleje"])
            assert not any(cpr in text or cpr.replace("-", "") in text for cpr in cprs), f["path"]


def test_first_pages_rendered_for_a_human_look(demo):
    """PNG of the first pages of every list and binder in test-artifacts/ (gitignored).

    The test checks the images exist and are not blank; a person looks at them
    (see the closing note of issue 3)."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed")
    out = ARTIFACTS / "lists"
    out.mkdir(parents=True, exist_ok=True)
    seen = set()
    for f in demo.files():
        key = (f["template"], f["audience"])
        if key in seen:
            continue
        seen.add(key)
        prefix = out / f"{f['audience']}-{f['template']}"
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", "-upw",
                        demo.passwords[f["audience"]], f["path"], str(prefix)], check=True)
        pngs = sorted(out.glob(f"{prefix.name}-*.png"))
        assert pngs and all(p.stat().st_size > 5000 for p in pngs), prefix


def test_day_without_visits_says_so(demo_kit):
    """Remove every visit of one route and shift on one day: that section stays, saying so."""
    src = next(demo_kit.sources.glob("besoeg_*.csv"))
    rows = read_csv(src)
    today = dt.date.fromisoformat(_created(demo_kit)[:10])
    day = (today + dt.timedelta(days=2)).strftime("%d-%m-%Y")
    kept = [r for r in rows if not (r["Dato"] == day and r["Rute"] == "Syd 2" and r["Vagt"] == "Aften")]
    assert len(kept) < len(rows)
    with src.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(kept)
    from conftest import run_cli
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    route = next(f for f in files if f["template"] == "care-route" and f["unit"] == "Område Syd")
    text = list_text(route, demo_kit.passwords["pleje"])
    page = next(p for p in text.split("\f") if f"{day} · Rute Syd 2 · Aften" in p)
    assert "Ingen planlagte besøg" in page
    assert text.count("Ingen planlagte besøg") == 1
