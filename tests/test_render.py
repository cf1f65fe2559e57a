"""Rendering one list: nothing lost, readable widths, page codes that decode."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from nodkit.render import render_unit
from nodkit.render import pagecode
from nodkit.render.document import fit_widths
from nodkit.sources.base import DatasetConfig, Row, Snapshot
from nodkit.lists.templates import load_template
from nodkit.lists.validate import PreparedRow, prepare

TZ = dt.timezone(dt.timedelta(hours=1))
NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=TZ)

TEMPLATE = '''title = "Testliste"
dataset = "d"
section = ["group"]
section_title = "Gruppe {group}"
sort = ["n"]
[[columns]]
field = "n"
heading = "Nr."
type = "int"
width = 0.5
[[columns]]
field = "name"
heading = "Navn"
[[columns]]
field = "note"
heading = "Bemærkning"
width = 3
'''


def _prepared(tmp_path: Path, rows: list[dict]):
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATE, "utf-8")
    tpl = load_template(path)
    ds = DatasetConfig(name="d", kind="csv", options={}, columns={}, where="nodkit.toml:1")
    snap = Snapshot(dataset="d", kind="csv", source="d.csv", as_of=NOW, columns=list(rows[0]),
                    rows=[Row.from_mapping(r, origin=f"d.csv:{i + 2}") for i, r in enumerate(rows)])
    return prepare(tpl, ds, snap)


def _text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_500_row_section_keeps_every_row_in_order(tmp_path):
    prepared = _prepared(tmp_path, [{"group": "A", "n": str(500 - i), "name": f"Person {500 - i:03d}", "note": ""}
                                    for i in range(500)])
    unit = prepared.units["Fælles"]
    result = render_unit(prepared, unit, kit_name="Test", generated_at=NOW, set_id="S1", file_label="Fælles/t.pdf")
    text = _text(result.pdf)
    positions = [text.find(f"Person {n:03d}") for n in range(1, 501)]
    assert all(p >= 0 for p in positions), "a row is missing"
    assert positions == sorted(positions), "rows out of order"
    assert result.pages > 5
    assert text.count("Gruppe A (fortsat)") == result.pages - 1  # section named on every page
    assert f"Side {result.pages} af {result.pages}" in text


def test_write_in_column_is_empty_on_every_row_at_the_right_edge(tmp_path):
    """care-route's "Udført" and pickup's "Hentet kl./af": a headed column with nothing printed in it."""
    import re
    (tmp_path / "t.toml").write_text(TEMPLATE + '[[write_in]]\nheading = "Hentet kl./af"\nwidth = 1.4\n', "utf-8")
    tpl = load_template(tmp_path / "t.toml")
    ds = DatasetConfig(name="d", kind="csv", options={}, columns={}, where="nodkit.toml:1")
    rows = [{"group": "A", "n": str(i), "name": f"Person {i:03d}", "note": "x" * (i % 40)} for i in range(60)]
    snap = Snapshot(dataset="d", kind="csv", source="d.csv", as_of=NOW, columns=list(rows[0]),
                    rows=[Row.from_mapping(r, origin=f"d.csv:{i + 2}") for i, r in enumerate(rows)])
    prepared = prepare(tpl, ds, snap)
    assert [c.heading for c in prepared.columns][-1] == "Hentet kl./af"
    result = render_unit(prepared, prepared.units["Fælles"], kit_name="Test", generated_at=NOW, set_id="S1",
                         file_label="Fælles/t.pdf")
    boxes = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=result.pdf, capture_output=True,
                           check=True).stdout.decode()
    for page in boxes.split("<page ")[1:]:
        words = [(float(x0), float(y0), w) for x0, y0, w in
                 re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>([^<]*)</word>', page)]
        heading = next((x, y) for x, y, w in words if w == "Hentet")
        header_y, footer_y = heading[1], max(y for _, y, w in words if w == "Side")
        inside = [w for x, y, w in words if x >= heading[0] - 2 and header_y + 2 < y < footer_y - 2]
        assert inside == [], inside  # nothing printed in the column between its heading and the footer
    assert "Person 059" in _text(result.pdf)


def test_5000_character_note_is_not_cut(tmp_path):
    words = [f"ord{i:04d}" for i in range(700)]  # 700 × 8 chars = 5,600 characters with spaces
    note = " ".join(words)
    assert len(note) >= 5000
    prepared = _prepared(tmp_path, [{"group": "A", "n": "1", "name": "Lang", "note": note},
                                    {"group": "A", "n": "2", "name": "Efter", "note": "kort"}])
    result = render_unit(prepared, prepared.units["Fælles"], kit_name="Test", generated_at=NOW)
    text = _text(result.pdf)
    positions = [text.find(w) for w in words]
    assert all(p >= 0 for p in positions), f"{sum(p < 0 for p in positions)} words lost"
    assert positions == sorted(positions)
    assert text.find("Efter") > positions[-1]


def test_unbreakable_long_word_wraps_without_loss(tmp_path):
    word = "X" * 400 + "SLUT"
    prepared = _prepared(tmp_path, [{"group": "A", "n": "1", "name": word, "note": ""}])
    text = _text(render_unit(prepared, prepared.units["Fælles"], kit_name="Test", generated_at=NOW).pdf)
    assert "".join(text.split()).count("X") >= 400 and "SLUT" in text


def test_text_in_every_font_subset_reads_back(tmp_path):
    # more than 256 distinct characters: reportlab puts the later ones in a second font subset;
    # cells made only of known first-subset characters take the fast encoding path, the rest
    # (new, later-subset, mixed, no-break space) reportlab's own; every cell must read back.
    # names: each chunk new, then reversed (new strings of known characters), then mixed
    letters = ([chr(c) for c in range(0xC0, 0x180) if c not in (0xD7, 0xF7)]
               + [chr(c) for c in range(0x391, 0x3CA) if c != 0x3A2] + [chr(c) for c in range(0x410, 0x450)])
    assert len(letters) > 256
    chunks = ["".join(letters[i:i + 5]) for i in range(0, len(letters), 5)]
    names = chunks + [c[::-1] for c in chunks] + [chunks[i] + chunks[-1 - i] for i in range(len(chunks))]
    rows = [{"group": "A", "n": str(i + 1), "name": f"Navn{name}", "note": "Anne\xa0Marie æøå"}
            for i, name in enumerate(names)]
    prepared = _prepared(tmp_path, rows)
    text = _text(render_unit(prepared, prepared.units["Fælles"], kit_name="Test", generated_at=NOW).pdf)
    lost = [name for name in names if f"Navn{name}" not in text]
    assert not lost, f"{len(lost)} of {len(names)} names do not read back, e.g. {lost[:3]}"
    assert text.count("Anne Marie æøå") == len(rows)


def test_widths_fit_short_columns_and_give_the_rest_to_long_ones():
    class Col:
        def __init__(self, heading, width=1.0, type="text"):
            self.heading, self.width, self.type = heading, width, type

    cols = [Col("Telefon"), Col("Bemærkning")]
    rows = [PreparedRow(cells=["12 34 56 78", "en meget lang bemærkning " * 10], problems=[], origin="x")]
    widths = fit_widths(cols, rows, 500.0)
    assert abs(sum(widths) - 500.0) < 0.5
    assert widths[0] < 120 < widths[1]  # the phone column shrank to its content


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (zbar-tools) not installed")
def test_every_page_has_a_qr_code_that_decodes(tmp_path):
    prepared = _prepared(tmp_path, [{"group": g, "n": "1", "name": "X", "note": ""} for g in "AB"])
    result = render_unit(prepared, prepared.units["Fælles"], kit_name="Test", generated_at=NOW,
                         set_id="20261123T050000Z-ab12", file_label="Område Nord/t.pdf")
    assert result.pages == 2
    subprocess.run(["pdftoppm", "-png", "-r", "200", "-", str(tmp_path / "p")], input=result.pdf, check=True)
    for page, png in enumerate(sorted(tmp_path.glob("p-*.png")), start=1):
        out = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True)
        assert out.returncode == 0, f"no QR code found on page {page}"
        decoded = pagecode.parse(out.stdout.strip())
        assert decoded == {"set": "20261123T050000Z-ab12", "file": "Område Nord/t.pdf", "page": str(page),
                           "check": result.check}
    # the check changes when the content changes
    other = _prepared(tmp_path, [{"group": g, "n": "2", "name": "X", "note": ""} for g in "AB"])
    assert render_unit(other, other.units["Fælles"], kit_name="Test", generated_at=NOW).check != result.check


def test_problem_note_heading_never_alone_at_page_bottom(tmp_path):
    """Whatever the row count, the red "rows with problems" heading stays with its first line."""
    checked = 0
    for n in range(32, 40):  # the page fills at 35 rows
        rows = [{"group": "A", "n": str(i), "name": "" if i == 0 else f"P{i}", "note": ""} for i in range(n)]
        path = tmp_path / "t.toml"
        path.write_text(TEMPLATE.replace('heading = "Navn"', 'heading = "Navn"\nrequired = true'), "utf-8")
        tpl = load_template(path)
        ds = DatasetConfig(name="d", kind="csv", options={}, columns={}, where="nodkit.toml:1")
        snap = Snapshot(dataset="d", kind="csv", source="d.csv", as_of=NOW, columns=list(rows[0]),
                        rows=[Row.from_mapping(r, origin=f"d.csv:{i + 2}") for i, r in enumerate(rows)])
        prepared = prepare(tpl, ds, snap)
        pages = _text(render_unit(prepared, prepared.units["Fælles"], kit_name="Test", generated_at=NOW).pdf).split("\f")
        for page in pages:
            if "med problemer" in page:
                assert "mangler Navn" in page, f"{n} rows: heading alone at the bottom of a page"
                checked += 1
    assert checked == 8


def test_page_streams_are_binary_flate_not_ascii85(tmp_path):
    """ASCII85 (reportlab's default) made every stream a quarter larger, and made qpdf
    decompress and recompress each one when encrypting or assembling a binder."""
    import io
    import pikepdf
    prepared = _prepared(tmp_path, [{"group": "A", "n": str(i), "name": f"Person {i}", "note": ""} for i in range(80)])
    result = render_unit(prepared, prepared.units["Fælles"], kit_name="Test", generated_at=NOW)
    with pikepdf.open(io.BytesIO(result.pdf)) as doc:
        filters = {repr(obj.get("/Filter")) for obj in doc.objects if isinstance(obj, pikepdf.Stream)}
    assert filters and all("ASCII85Decode" not in f and "FlateDecode" in f for f in filters), filters


def test_wrapping_a_long_unbroken_cell_is_linear():
    """A 30,000-character word used to be measured as ever shorter prefixes (quadratic: 30 KB took
    seconds per cell). Now each character is measured about once; counted, not timed."""
    from reportlab.pdfbase import pdfmetrics
    from nodkit.render import fonts
    from nodkit.render.document import _wrap
    fonts.register()
    real = pdfmetrics.getFont(fonts.REGULAR).stringWidth
    calls = {"chars": 0}

    def measure(text, size):
        calls["chars"] += len(text)
        return real(text, size)
    word = "Ø" * 15_000 + "x" * 15_000
    lines = _wrap(f"kort {word} slut", 100.0, measure, 9)
    assert "".join(lines[1:-1]) + lines[-1].removesuffix(" slut") == word or "".join(lines).replace(" ", "") == f"kort{word}slut"
    assert all(real(line, 9) <= 100.0 for line in lines)
    assert calls["chars"] < 10 * len(word), calls  # the old way measured about 500x the word
