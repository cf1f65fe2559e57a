"""The one-page printing guide: written by export, plain, one page, with the kit's own details."""

from __future__ import annotations

import re
import subprocess

from conftest import pdftotext, run_cli


def test_guide_is_written_by_export_plain_and_one_page(demo_kit):
    cfg = demo_kit.home / "nodkit.toml"
    lines = [line for line in cfg.read_text("utf-8").splitlines()
             if not line.startswith(("location =", "contact ="))]
    text = "\n".join(lines).replace("[kit]", '[kit]\nlocation = "Rådhuset, kælderen, rum K12"\n'
                                             'contact = "IT-vagten 76 16 16 16"', 1)
    cfg.write_text(text, "utf-8")
    guide = demo_kit.home / "store" / "udskrivningsvejledning.pdf"
    guide.unlink()
    assert run_cli("export", "--kit", str(demo_kit.home)).exit_code == 0
    info = subprocess.run(["pdfinfo", str(guide)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           1" in info and "Encrypted:       no" in info
    body = re.sub(r"\s+", " ", pdftotext(guide, None))
    for expected in ("Sådan udskriver du nødlister", "Rådhuset, kælderen, rum K12", "IT-vagten 76 16 16 16",
                     f"nodkit print --kit {demo_kit.home}", "PDF-læser", str(demo_kit.home / "store"),
                     # what to do when no paper comes out or the envelope is lost; fallback files in Danish
                     "Hvis der ikke kommer papir ud", "Printeren svarer ikke", "Hvis kuverten med adgangskoden er væk",
                     "ved printeren (Rådhuset, kælderen, rum K12)",
                     # store format 4: a unit's lists are pages of binder.pdf; the cover names them
                     "Dobbeltklik på binder.pdf", "Forsiden viser under Indhold, på hvilke sider hver liste står",
                     "Køreliste – side 3–26", "skriv dens sider fra forsiden under Sider",
                     # both screens the icon can open: the print page (click) and the text menu (numbers)
                     "Vælg din enhed: klik på den", "skriv tallet ud for den", "tryk Udskriv",
                     "til skærmen viser Udskrevet"):
        assert expected in body, expected
    assert "care-route.pdf" not in body and "class-list.pdf" not in body  # no such files in a unit's folder
    assert oct(guide.stat().st_mode & 0o777) == "0o600"
