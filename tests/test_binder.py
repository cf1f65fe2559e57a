"""Binders: cover, contents with true page numbers, the unit's lists plus kit-wide lists, encrypted."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pikepdf
import pytest
from reportlab.pdfgen.canvas import Canvas

from conftest import pdftotext
from nodkit.render.binder import Appendix, Binder, BinderPart, build_binder

TZ = dt.timezone(dt.timedelta(hours=1))
NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=TZ)


def _pdf(marker: str, pages: int) -> bytes:
    import io
    buf = io.BytesIO()
    c = Canvas(buf)
    for n in range(1, pages + 1):
        c.drawString(100, 700, f"{marker} side {n}")
        c.showPage()
    c.save()
    return buf.getvalue()


def _page_text(pdf: bytes, page: int) -> str:
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", "-", "-"], input=pdf,
                          capture_output=True, check=True).stdout.decode()


def test_contents_page_numbers_point_at_the_lists():
    parts = [BinderPart(title="Køreliste", template="care-route", unit="Område Nord", pdf=_pdf("KØRELISTE", 3),
                        pages=3, as_of=NOW),
             BinderPart(title="Kontaktliste", template="contacts", unit="Fælles", pdf=_pdf("KONTAKTER", 2),
                        pages=2, as_of=NOW - dt.timedelta(hours=2))]
    binder = Binder(unit="Område Nord", audience_title="Hjemmeplejen", kit_name="Test", parts=parts,
                    generated_at=NOW, valid_until=NOW + dt.timedelta(hours=26),
                    contacts=["Beredskabschef · Jørgen · 114"], appendices=[Appendix("Sådan printer du", _pdf("GUIDE", 1))])
    result = build_binder(binder, set_id="S", file_label="Område Nord/binder.pdf")
    assert result.pages == 1 + 1 + 3 + 2 + 1
    cover = _page_text(result.pdf, 1)
    for text in ("Nødmappe", "Område Nord", "Hjemmeplejen", "Data pr.", "23-11-2026 kl. 04.00",
                 "Gyldig til", "24-11-2026 kl. 08.00", "Hvad gør du", "Hvem ringer du til", "Beredskabschef",
                 "Køreliste", "Kontaktliste (Fælles)", "Sådan printer du"):
        assert text in cover, text
    # the cover gives where each list is (pages to type into a print dialog), not how long it is
    assert "Køreliste – side 3–5" in cover
    assert "Kontaktliste (Fælles) – side 6–7" in cover
    assert "Sådan printer du – side 8" in cover
    assert not re.search(r"\d+ s\.", cover)
    contents = _page_text(result.pdf, 2)
    entries = {m.group(1): m.group(2) for m in re.finditer(r"^\s*(\S.*?)\s{2,}.*?(\d+(?:–\d+)?)\s*$", contents, re.M)}
    assert entries["Køreliste"] == "3–5"
    assert entries["Kontaktliste"] == "6–7"
    assert entries["Sådan printer du"] == "8"
    assert "KØRELISTE side 1" in _page_text(result.pdf, 3)
    assert "KONTAKTER side 1" in _page_text(result.pdf, 6)
    assert "GUIDE side 1" in _page_text(result.pdf, 8)
    with pikepdf.open(__import__("io").BytesIO(result.pdf)) as pdf, pdf.open_outline() as outline:
        assert [item.title for item in outline.root] == ["Forside og indhold", "Køreliste – Område Nord",
                                                         "Kontaktliste – Fælles", "Sådan printer du"]


def test_long_contents_run_over_pages_and_numbers_still_match():
    parts = [BinderPart(title=f"Liste {n:02d}", template=f"t{n}", unit="U", pdf=_pdf(f"LISTE{n:02d}", 1), pages=1,
                        as_of=NOW) for n in range(40)]
    binder = Binder(unit="U", audience_title="A", kit_name="K", parts=parts, generated_at=NOW, valid_until=NOW)
    result = build_binder(binder)
    front = result.pages - 40
    assert front >= 3  # cover + two contents pages
    assert f"LISTE39 side 1" in _page_text(result.pdf, result.pages)
    last_contents = _page_text(result.pdf, front)
    assert re.search(rf"Liste 39 .*\b{result.pages}\s*$", last_contents, re.M)


@pytest.fixture(scope="module")
def demo(_demo_template):
    return _demo_template


def test_demo_export_has_one_encrypted_binder_per_audience_and_unit(demo):
    files = demo.files()
    binders = [f for f in files if f["template"] == "binder"]
    assert {(f["audience"], f["unit"]) for f in binders} == {
        ("pleje", "Område Nord"), ("pleje", "Område Syd"), ("pleje", "Område Vest"),
        ("skole", "Nørrebakke Skole"), ("skole", "Vestre Skole")}
    for b in binders:
        assert b["path"].endswith("/binder.pdf")
        with pytest.raises(RuntimeError):
            pdftotext(b["path"], None)  # encrypted: no text without the password
        lists = [f for f in files if f["audience"] == b["audience"] and f["template"] != "binder"
                 and f["unit"] in (b["unit"], "Fælles")]
        # cover + contents + every list + the one-page printing guide at the end
        assert b["pages"] == 2 + sum(f["pages"] for f in lists) + 1
        text = pdftotext(b["path"], demo.passwords[b["audience"]])
        assert "Nødmappe" in text and "Gyldig til" in text and "Hvem ringer du til" in text
        cover = text.split("\f")[0]
        # whom to call: the kit-wide crisis staff, and only this audience's leaders (demo: "Gælder for")
        assert "Beredskabschef" in cover
        if b["audience"] == "pleje":
            assert "Leder, Hjemmeplejen Nord" in cover and "Skoleleder" not in cover
        else:
            assert "Skoleleder, Vestre Skole" in cover and "Hjemmeplejen" not in cover.split("Hvem ringer du til")[1]
        # the cover's page numbers are where each list's own first page is, in the binder's order
        pages = text.split("\f")
        firsts = [int(n) for n in re.findall(r" – side (\d+)", cover)]
        assert len(firsts) == len(lists) + 1  # the lists and the printing guide
        starts = [next(f"{f['unit']}/{f['template']}.pdf" for f in lists
                       if f"{f['unit']}/{f['template']}.pdf · side 1 " in pages[n - 1]) for n in firsts[:-1]]
        assert sorted(starts) == sorted(f"{f['unit']}/{f['template']}.pdf" for f in lists)
        assert "Sådan udskriver du nødlister" in pages[firsts[-1] - 1]
        assert text.rstrip().split("\f")[-1].count("Sådan udskriver du nødlister") == 1
        for f in lists:
            assert f"{f['unit']}/{f['template']}.pdf" in text  # each list's own footer, i.e. its pages are inside
        shown = subprocess.run(["qpdf", "--show-encryption", f"--password={demo.passwords[b['audience']]}",
                                b["path"]], capture_output=True, text=True, check=True).stdout
        assert "R = 6" in shown and "AESv3" in shown  # AES-256, like every other file


def test_binder_from_encrypted_list_files_is_encrypted_in_one_go(tmp_path):
    """What the export does: the parts are the audience's encrypted list files, opened with
    its password in memory; the binder comes out encrypted with the same password."""
    from nodkit.security import crypto
    password = "pleje-hest-kop-42"
    route = tmp_path / "Område Nord" / "care-route.pdf"
    route.parent.mkdir()
    route.write_bytes(crypto.encrypt_pdf(_pdf("KØRELISTE", 2), password))
    parts = [BinderPart(title="Køreliste", template="care-route", unit="Område Nord", pdf=route, pages=2, as_of=NOW),
             BinderPart(title="Kontaktliste", template="contacts", unit="Fælles", pdf=_pdf("KONTAKTER", 1),
                        pages=1, as_of=NOW)]
    binder = Binder(unit="Område Nord", audience_title="Hjemmeplejen", kit_name="Test", parts=parts,
                    generated_at=NOW, valid_until=NOW + dt.timedelta(hours=26))
    result = build_binder(binder, set_id="S", file_label="Område Nord/binder.pdf", password=password)
    assert result.pages == 2 + 2 + 1
    out = tmp_path / "binder.pdf"
    out.write_bytes(result.pdf)
    with pytest.raises(RuntimeError):
        pdftotext(out, None)
    text = pdftotext(out, password)
    assert "Nødmappe" in text and "KØRELISTE side 2" in text and "KONTAKTER side 1" in text
    shown = subprocess.run(["qpdf", "--show-encryption", f"--password={password}", str(out)],
                           capture_output=True, text=True, check=True).stdout
    assert "R = 6" in shown and "AESv3" in shown
    checked = subprocess.run(["qpdf", "--check", f"--password={password}", str(out)], capture_output=True, text=True)
    assert checked.returncode == 0 and "No syntax or stream encoding errors" in checked.stdout, checked.stdout
    with pikepdf.open(out, password=password) as pdf:  # one page tree, every page's parent is its root
        assert all(page.obj.Parent.objgen == pdf.Root.Pages.objgen for page in pdf.pages)
        assert int(pdf.Root.Pages.Count) == len(pdf.Root.Pages.Kids) == 5
    with pytest.raises(pikepdf.PasswordError):  # a part that the binder's password does not open
        build_binder(binder, password="en-anden-kode-99")
