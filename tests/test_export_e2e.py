"""Issue 2's end-to-end guarantees, through the CLI on a real kit in tmp_path."""

from __future__ import annotations

import csv
import json
import re
import os
import subprocess
from pathlib import Path

import pytest

from conftest import list_text, pdftotext, run_cli
from kittools import as_format_2
from nodkit.store.lock import KitLock

NON_LATIN1 = ("Łukasz Wiśniewski", "Şükrü Yılmaz", "Nguyễn Thị Hoa")


def _source_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def test_every_pdf_opens_with_its_password_and_only_with_it(demo_kit):
    files = demo_kit.files()
    assert files, "demo exported no files"
    for f in files:
        password = demo_kit.passwords[f["audience"]]
        text = pdftotext(f["path"], password)
        assert "Fortroligt" in text and "Data pr." in text and "Side 1 af" in text, f["path"]
        with pytest.raises(RuntimeError, match="Incorrect password|password"):
            pdftotext(f["path"], None)
        other = next(pw for aud, pw in demo_kit.passwords.items() if aud != f["audience"])
        with pytest.raises(RuntimeError):
            pdftotext(f["path"], other)


def test_qpdf_reports_aes256_revision_6(demo_kit):
    f = demo_kit.files()[0]
    out = subprocess.run(["qpdf", "--show-encryption", f"--password={demo_kit.passwords[f['audience']]}", f["path"]],
                         capture_output=True, text=True, check=True).stdout
    assert "R = 6" in out
    assert "stream encryption method: AESv3" in out
    assert "string encryption method: AESv3" in out


def test_names_including_non_latin1_render_as_text(demo_kit):
    routes = [f for f in demo_kit.files() if f["template"] == "care-route" and f["audience"] == "pleje"]
    text = "\n".join(list_text(f, demo_kit.passwords["pleje"]) for f in routes)
    for name in NON_LATIN1:
        assert name in text, name
    # every visit in the source export is on some route list (count check, not a sample)
    visits = _source_rows(next(demo_kit.sources.glob("besoeg_*.csv")))
    listed = sum(f["rows"] for f in routes)
    assert listed == len(visits)
    pupils = [f for f in demo_kit.files() if f["template"] == "class-list"]
    school_text = "\n".join(list_text(f, demo_kit.passwords["skole"]) for f in pupils)
    assert "Nguyễn Thị Hoa" in school_text and "Łucja Wiśniewska" in school_text


def test_cpr_is_masked_to_birth_date_on_route_lists(demo_kit):
    visits = _source_rows(next(demo_kit.sources.glob("besoeg_*.csv")))
    f = next(f for f in demo_kit.files() if f["template"] == "care-route")
    text = list_text(f, demo_kit.passwords["pleje"])
    mine = [v for v in visits if v["Område"] == f["unit"]]
    for v in mine:
        assert v["CPR"] not in text
        assert v["CPR"][7:] not in text.split()  # serial never printed
    cpr = mine[0]["CPR"]
    assert f"{cpr[0:2]}-{cpr[2:4]}-{cpr[4:6]}" in text


def test_no_plaintext_personal_data_or_pdf_under_the_kit_home(demo_kit):
    visits = _source_rows(next(demo_kit.sources.glob("besoeg_*.csv")))
    secrets = {v["CPR"] for v in visits} | {v["CPR"].replace("-", "") for v in visits}
    names = {v["Borger"] for v in visits}
    for path in demo_kit.home.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data.startswith(b"%PDF") and path != demo_kit.home / "store" / "udskrivningsvejledning.pdf":
            assert b"/Encrypt" in data, f"unencrypted PDF {path}"
        for needle in secrets | names:
            for enc in ("utf-8", "utf-16-be"):
                assert needle.encode(enc) not in data, f"{needle!r} in clear in {path}"


def test_secret_files_and_folders_are_private(demo_kit):
    for path in [demo_kit.home / "keys", demo_kit.home / "store", demo_kit.set_dir]:
        assert path.stat().st_mode & 0o077 == 0, path
    for path in (demo_kit.home / "keys").iterdir():
        if path.suffix == ".pub":  # public: every login that prints checks the signatures with it
            assert path.stat().st_mode & 0o777 == 0o644, path
        else:
            assert path.stat().st_mode & 0o077 == 0, path
    for f in demo_kit.files():
        assert os.stat(f["path"]).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("target", ["pdf", "manifest", "signature"])
def test_one_flipped_byte_makes_verify_critical_and_names_the_file(demo_kit, target):
    if target == "pdf":
        path = Path(demo_kit.files()[3]["path"])
    else:
        path = demo_kit.set_dir / ("manifest.json" if target == "manifest" else "manifest.sig")
    data = bytearray(path.read_bytes())
    pos = len(data) // 2
    data[pos] ^= 0x01
    path.write_bytes(bytes(data))
    result = run_cli("verify", "--kit", str(demo_kit.home))
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("NODKIT CRITICAL")
    shown = path.name if target != "signature" else "manifest.json"
    assert shown in result.stdout


def test_second_export_while_one_runs_is_refused(demo_kit):
    with KitLock(demo_kit.home / "store" / ".lock", "export"):
        result = run_cli("export", "--kit", str(demo_kit.home))
    assert result.exit_code == 17
    assert "another nodkit process is busy" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # one line + hint, no traceback


def test_export_json_and_list(demo_kit):
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kit"] == str(demo_kit.home) and data["status"] == "good" and data["latest"]
    for f in data["files"]:
        assert Path(f["path"]).is_absolute() and Path(f["path"]).exists()
        assert {"template", "audience", "unit", "pages", "rows"} <= set(f)
    listing = json.loads(run_cli("list", "--kit", str(demo_kit.home), "--json").stdout)
    assert [s["set"] for s in listing["sets"]][0] == data["set"] == listing["latest"]
    assert len(listing["sets"]) == 2


def test_manifest_records_datasets_and_files(demo_kit):
    manifest = json.loads((demo_kit.set_dir / "manifest.json").read_text("utf-8"))
    assert manifest["format_version"] == 4 and manifest["status"] == "good"
    assert manifest["datasets"]["visits"]["rows"] == len(_source_rows(next(demo_kit.sources.glob("besoeg_*.csv"))))
    assert manifest["datasets"]["pupils"]["kind"] == "sql"
    # file sources fingerprint the bytes they parsed; a query has nothing to fingerprint
    assert len(manifest["datasets"]["visits"]["fingerprint"]) == 64
    assert manifest["datasets"]["pupils"]["fingerprint"] is None
    for entry in manifest["files"]:
        assert len(entry["sha256"]) == 64 and entry["pages"] >= 1 and entry["password_generation"] == 1
        assert (demo_kit.set_dir / entry["path"]).stat().st_size == entry["bytes"]


def test_password_change_applies_to_new_sets_only(demo_kit):
    old = demo_kit.passwords["pleje"]
    new = "Ny-Kode-til-Pleje-2026"
    result = run_cli("password", "set", "pleje", "--kit", str(demo_kit.home), input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    old_file = next(f["path"] for f in demo_kit.files() if f["audience"] == "pleje")
    assert "Fortroligt" in pdftotext(old_file, old)
    exported = json.loads(run_cli("export", "--kit", str(demo_kit.home), "--json").stdout)
    new_file = next(f["path"] for f in exported["files"] if f["audience"] == "pleje")
    assert "Fortroligt" in pdftotext(new_file, new)
    with pytest.raises(RuntimeError):
        pdftotext(new_file, old)
    listing = json.loads(run_cli("list", "--kit", str(demo_kit.home), "--json").stdout)
    assert "pleje:2" in listing["sets"][0]["password_generations"]
    assert "pleje:1" in listing["sets"][1]["password_generations"]
    assert run_cli("verify", "--kit", str(demo_kit.home), "--all").exit_code == 0


def test_weak_password_is_refused(demo_kit):
    result = run_cli("password", "set", "pleje", "--kit", str(demo_kit.home), input="kort\nkort\n")
    assert result.exit_code != 0
    assert "Too weak" in result.output


def test_row_with_bad_values_is_kept_flagged_and_explained(demo_kit):
    path = next(demo_kit.sources.glob("besoeg_*.csv"))
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header = rows[0]
    rows[1][header.index("Fra")] = "7:75"
    rows[1][header.index("Adresse")] = ""
    citizen, unit = rows[1][header.index("Borger")], rows[1][header.index("Område")]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    f = next(f for f in data["files"] if f["template"] == "care-route" and f["unit"] == unit)
    assert f["flagged_rows"] == 1
    text = pdftotext(f["path"], demo_kit.passwords["pleje"])
    assert "1 række(r) med problemer" in text
    assert f"Borger: {citizen} ({path.name}:2): Fra: ikke et gyldigt klokkeslæt; mangler Adresse" in " ".join(text.split())
    assert "7:75" in text  # the raw value is shown, not dropped
    listed = sum(x["rows"] for x in data["files"] if x["template"] == "care-route")
    assert listed == len(rows) - 1
    log = (demo_kit.home / "logs" / "nodkit.log").read_text("utf-8")
    assert "1 row(s) with problems" in log and citizen not in log


def test_characters_the_font_cannot_draw_are_a_warning_naming_the_list(demo_kit):
    path = demo_kit.sources / "medarbejdere.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    rows[1][rows[0].index("Navn")] = "Wang 王芳"  # Roboto has no CJK glyphs
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "good"  # still printed, with two empty boxes
    assert ("list 'staff': the font cannot draw 2 character(s) (U+738B, U+82B3); they print as empty boxes"
            in data["warnings"])
    assert not [w for w in data["warnings"] if "cannot draw" in w and "'staff'" not in w]


def test_sigterm_during_export_cleans_up_and_exits_130(demo_kit):
    import signal
    import sys
    import time
    proc = subprocess.Popen([sys.executable, "-m", "nodkit", "export", "--kit", str(demo_kit.home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    incoming = demo_kit.home / "store" / ".incoming"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(incoming.glob("*/*")):
        time.sleep(0.02)
    assert any(incoming.glob("*/*")), "never caught the export in progress"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not any(incoming.iterdir()), "the abandoned set was not cleaned up"
    assert run_cli("verify", "--kit", str(demo_kit.home)).exit_code in (0, 1)


def test_a_units_lists_are_pages_of_its_binder_not_files_of_their_own(demo_kit):
    """Store format 4: a unit's list is stored once, as pages of the unit's binder, at the pages its
    cover names; kit-wide lists stay files of their own."""
    manifest = json.loads((demo_kit.set_dir / "manifest.json").read_text("utf-8"))
    binders = {f["path"]: f for f in manifest["files"] if f["template"] == "binder"}
    inside = [f for f in manifest["files"] if "first_page" in f]
    assert {f["template"] for f in inside} >= {"care-route", "medication", "class-list"}
    for f in inside:
        binder = binders[f["path"]]
        assert (f["sha256"], f["bytes"], f["audience"], f["unit"]) == (binder["sha256"], binder["bytes"],
                                                                       binder["audience"], binder["unit"])
        assert not (demo_kit.set_dir / f["path"]).with_name(f"{f['template']}.pdf").exists()
        first, last = f["first_page"], f["first_page"] + f["pages"] - 1
        assert last <= binder["pages"]
        # the cover says where the list is ("Køreliste – side 3–26"), and its first page is the list's own page 1
        cover = pdftotext(demo_kit.set_dir / f["path"], demo_kit.passwords[f["audience"]], 1)
        pages = f"side {first}–{last}" if last > first else f"side {first}"
        assert re.search(rf"– {pages}\b", cover), (f["template"], pages, cover)
        page = pdftotext(demo_kit.set_dir / f["path"], demo_kit.passwords[f["audience"]], first)
        assert f"/{f['template']}.pdf · side 1 ·" in page and f"Side 1 af {f['pages']}" in page
    kit_wide = [f for f in manifest["files"] if f["unit"] == "Fælles"]
    assert kit_wide and all("first_page" not in f for f in kit_wide)
    on_disk = sorted(p.relative_to(demo_kit.set_dir).as_posix() for p in demo_kit.set_dir.rglob("*.pdf"))
    assert on_disk == sorted({f["path"] for f in manifest["files"]})
    # the same set as format 2 wrote it (every list a file of its own) is larger by those files
    size = sum(p.stat().st_size for p in demo_kit.set_dir.rglob("*.pdf"))
    written = as_format_2(demo_kit.set_dir, demo_kit.home / "keys", demo_kit.passwords)
    assert len(written) == len(inside)
    assert sum(p.stat().st_size for p in demo_kit.set_dir.rglob("*.pdf")) > size * 1.5


def test_a_list_no_binder_takes_is_published_as_an_encrypted_pdf_never_sealed(demo_kit, monkeypatch):
    """The unit lists are handed to their binder sealed with the run's own key (not a PDF). Should a
    binder not take one, the list must still be published as an ordinary encrypted PDF of its own."""
    from nodkit.config.settings import load_config
    from nodkit.export.pipeline import Export, run_export
    from nodkit.security import crypto
    real_plan = Export._binder_plan
    monkeypatch.setattr(Export, "_binder_plan",
                        lambda self, audience: [] if audience.name == "pleje" else real_plan(self, audience))
    result = run_export(load_config(demo_kit.home), force=True)
    assert result.status == "good"
    pleje = [f for f in result.files if f.audience == "pleje"]
    assert pleje and not any(f.template == "binder" for f in pleje)
    assert all(f.first_page is None for f in pleje)
    for f in pleje:
        data = f.path.read_bytes()
        assert data.startswith(b"%PDF-") and not crypto.is_transient(data), f.relpath
        assert f"Side 1 af {f.pages}" in pdftotext(f.path, demo_kit.passwords["pleje"], 1), f.relpath
    # the other audience's lists are pages of its binders, and no file of the set is sealed
    assert any(f.first_page for f in result.files if f.audience == "skole")
    assert not any(crypto.is_transient(p.read_bytes()) for p in result.set.path.rglob("*.pdf"))


def test_a_sealed_list_opens_only_with_its_runs_key_and_unchanged():
    from nodkit.errors import CryptoError
    from nodkit.security import crypto
    key = crypto.transient_key()
    sealed = crypto.seal_transient(b"%PDF-1.4 plain", key)
    assert b"plain" not in sealed and crypto.open_transient(sealed, key) == b"%PDF-1.4 plain"
    with pytest.raises(CryptoError):
        crypto.open_transient(sealed, crypto.transient_key())
    with pytest.raises(CryptoError):
        crypto.open_transient(sealed[:-1] + bytes([sealed[-1] ^ 1]), key)
