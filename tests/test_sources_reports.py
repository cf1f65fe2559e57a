"""Ready-made reports (kind = "reports"): foreign PDFs taken, stamped, encrypted, bound and printed.

The PDFs are made by other engines than nodkit's: LibreOffice headless,
Ghostscript (text, and an image-only "scan" through its pdfimage24 device),
pikepdf as PDF 1.4 and 1.7, one with its own AES password, one linearized by
qpdf, one with a form made by reportlab's AcroForm. Each must come out of an
export stamped on every page, encrypted with the audience password, in the
unit's binder and printable; broken files skip only their own entry.
In CI (CI=true) a missing soffice fails instead of skipping.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest

from conftest import pdftotext, run_cli
from test_export_sources import edit_config, export, manifest

SOURCE_PW = "kilde-hemmelig-2026"
DAY = "2026-12-01"


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"report test cannot run in CI: {reason}")
    pytest.skip(reason)


def _ps_pages(texts: list[str]) -> str:
    body = "".join(f"/Helvetica findfont 14 scalefont setfont 72 700 moveto ({t}) show showpage\n" for t in texts)
    return "%!PS\n" + body


def _gs(ps: str, out: Path, device: str = "pdfwrite") -> None:
    src = out.with_suffix(".ps")
    src.write_text(ps, "ascii")
    subprocess.run(["gs", "-q", "-dBATCH", "-dNOPAUSE", "-dSAFER", f"-sDEVICE={device}", "-r100",
                    f"-sOutputFile={out}", str(src)], check=True, capture_output=True)
    src.unlink()


def _pikepdf_text(out: Path, text: str, version: str, **save) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    page = pdf.pages[0]
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(f"BT /F1 14 Tf 72 700 Td ({text}) Tj ET".encode())
    pdf.docinfo["/CreationDate"] = "D:20261201043000+01'00'"
    if "encryption" in save:  # force_version would drop the encryption (R6 needs PDF 1.7 extension 8)
        pdf.save(out, **save)
    else:
        pdf.save(out, force_version=version)
    with pikepdf.open(out, password=SOURCE_PW if save else "") as check:
        assert check.is_encrypted == bool(save) and check.pdf_version == version


def _inherited(out: Path, text: str) -> None:
    """Pages that inherit /MediaBox, /Resources and /Rotate 90 from the page tree (as some producers write)."""
    _pikepdf_text(out, text, "1.7")
    with pikepdf.open(out, allow_overwriting_input=True) as pdf:
        page = pdf.pages[0].obj
        pdf.Root.Pages.MediaBox, pdf.Root.Pages.Resources = page.MediaBox, page.Resources
        pdf.Root.Pages.Rotate = 90
        del page.MediaBox, page.Resources
        pdf.save(out)


def _form(out: Path, text: str) -> None:
    from reportlab.pdfgen.canvas import Canvas
    c = Canvas(str(out))
    c.setFont("Helvetica", 14)
    c.drawString(72, 760, text)
    c.acroForm.textfield(name="note", value="Udfyldt felt", x=72, y=600, width=300, height=24, fontName="Helvetica")
    c.showPage()
    c.save()


@pytest.fixture(scope="session")
def foreign(tmp_path_factory) -> dict[str, Path]:
    """Every foreign PDF once per session; LibreOffice in one soffice run (slow to start)."""
    if shutil.which("soffice") is None:
        _unavailable("soffice not installed (apt-get install libreoffice-writer-nogui)")
    base = tmp_path_factory.mktemp("foreign")
    made: dict[str, Path] = {}
    lo = base / "lo"
    lo.mkdir()
    (lo / "writer.txt").write_text("LIBREMARK medicinoversigt\n" + "linje\n" * 80, "utf-8")
    (lo / "forty.txt").write_text("\f".join(f"FORTYMARK side {n}" for n in range(40)), "utf-8")
    profile = base / "lo-profile"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                    "--outdir", str(lo), str(lo / "writer.txt")], check=True, capture_output=True, timeout=300)
    made["libreoffice"] = lo / "writer.pdf"
    _gs(_ps_pages(["GSMARK borgere side 1", "GSMARK borgere side 2"]), base / "gs.pdf")
    made["ghostscript"] = base / "gs.pdf"
    _gs(_ps_pages(["SCANMARK"]), base / "scan.pdf", device="pdfimage24")
    made["scan"] = base / "scan.pdf"
    _pikepdf_text(base / "v14.pdf", "V14MARK", "1.4")
    made["pdf14"] = base / "v14.pdf"
    _pikepdf_text(base / "v17.pdf", "V17MARK", "1.7")
    made["pdf17"] = base / "v17.pdf"
    _pikepdf_text(base / "aes.pdf", "AESMARK", "1.7",
                  encryption=pikepdf.Encryption(user=SOURCE_PW, owner=SOURCE_PW + "x", R=6))
    made["aes"] = base / "aes.pdf"
    _pikepdf_text(base / "plain.pdf", "LINMARK", "1.7")
    subprocess.run(["qpdf", "--linearize", str(base / "plain.pdf"), str(base / "lin.pdf")], check=True)
    made["linearized"] = base / "lin.pdf"
    _form(base / "form.pdf", "FORMMARK")
    made["form"] = base / "form.pdf"
    _inherited(base / "inherited.pdf", "INHMARK")
    made["inherited"] = base / "inherited.pdf"
    _gs(_ps_pages([f"FORTYMARK side {n}" for n in range(40)]), base / "forty.pdf")
    made["forty"] = base / "forty.pdf"
    _gs(_ps_pages(["FORTYMARK side 1", "FORTYMARK side 2"]), base / "two.pdf")
    made["two"] = base / "two.pdf"
    return made


# engine -> (unit in the file name, title, marker text it holds or None for the image-only scan)
REPORTS = {
    "libreoffice": ("Nord", "Medicinoversigt", "LIBREMARK"),
    "ghostscript": ("Nord", "Borgeroversigt", "GSMARK"),
    "scan": ("Syd", "Scannet", None),
    "pdf14": ("Syd", "Ydelser", "V14MARK"),
    "pdf17": ("Vest", "Ydelser", "V17MARK"),
    "aes": ("Vest", "Medicinoversigt", "AESMARK"),
    "linearized": ("Nord", "Medarbejdere", "LINMARK"),
    "form": ("Syd", "Skema", "FORMMARK"),
    "inherited": ("Vest", "Arvet", "INHMARK"),
}


def _report_kit(kit, folder: Path, *, extra: str = "") -> None:
    """The demo kit with only the contacts list and a reports dataset for the care audience (a fast export)."""
    edit_config(kit, r'^templates = \["care-route".*$', 'templates = ["contacts"]\nreports = ["cura"]')
    cfg = kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f'''
[datasets.cura]
kind = "reports"
path = "{folder}"
pattern = "{{unit}}_{{title}}_{{date}}.pdf"
data_time = "filename"
{extra}
[datasets.cura.units]
Nord = "Område Nord"
Syd = "Område Syd"
Vest = "Område Vest"
''', "utf-8")


def _folder(tmp_path: Path, foreign: dict[str, Path], names=REPORTS) -> Path:
    folder = tmp_path / "noedrapporter"
    folder.mkdir(exist_ok=True)
    for engine, (unit, title, _) in names.items():
        shutil.copy(foreign[engine], folder / f"{unit}_{title}_{DAY}.pdf")
    return folder


def _env():
    return {f"NODKIT_REPORT_PASSWORD_CURA": SOURCE_PW}


def _export(kit) -> tuple[int, dict]:
    result = run_cli("export", "--kit", str(kit.home), "--json", env=_env())
    assert result.stdout, result.output
    return result.exit_code, json.loads(result.stdout)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_foreign_engine_is_taken_stamped_encrypted_bound_and_printed(demo_kit, foreign, tmp_path, caplog):
    folder = _folder(tmp_path, foreign)
    (folder / f"Nord_Medicinoversigt_2026-11-30.pdf").write_bytes(foreign["pdf14"].read_bytes())  # older: ignored
    _report_kit(demo_kit, folder)
    source_before = _tree(folder)
    caplog.set_level("DEBUG")
    code, data = _export(demo_kit)
    assert _tree(folder) == source_before  # the other system's folder is only read
    assert not any(marker and marker in caplog.text for _, _, marker in REPORTS.values())
    assert code == 0, data
    assert data["status"] == "good", data["reasons"]
    pw = demo_kit.passwords["pleje"]
    set_dir = demo_kit.home / "store" / "sets" / data["set"]
    m = manifest(demo_kit, data["set"])
    assert m["format_version"] == 4
    entries = {(f["unit"], f["title"]): f for f in m["files"] if f.get("title")}
    assert len(entries) == len(REPORTS)
    sums = {}
    for engine, (unit, title, marker) in REPORTS.items():
        entry = entries[(f"Område {unit}", title)]
        path = set_dir / entry["path"]
        assert "first_page" not in entry and path.name != "binder.pdf"  # a report stays a file of its own
        assert entry["source_sha256"] == __import__("hashlib").sha256(foreign[engine].read_bytes()).hexdigest()
        enc = subprocess.run(["qpdf", "--show-encryption", f"--password={pw}", str(path)], capture_output=True,
                             text=True).stdout
        assert "AESv3" in enc, (engine, enc)
        assert subprocess.run(["qpdf", "--check", str(path)], capture_output=True).returncode != 0  # no password
        text = pdftotext(path, pw)
        pages = entry["pages"]
        assert text.count("kontrol") == pages and f"Side {pages} af {pages}" in text, engine
        assert "Data pr. 01-12-2026" in text and f"{title} – Område {unit}" in text
        if marker:
            assert marker in text, engine
        if engine == "form":
            assert "Udfyldt felt" in text  # the field's value is flattened into the page
        sums[entry["unit"]] = sums.get(entry["unit"], 0) + pages
    # the binders: every report of the unit, its pages after the contents, named in the table of contents
    for unit, report_pages in sums.items():
        binder = next(f for f in m["files"] if f["template"] == "binder" and f["unit"] == unit)
        contacts = next(f for f in m["files"] if f["template"] == "contacts")
        text = pdftotext(set_dir / binder["path"], pw)
        for engine, (u, title, marker) in REPORTS.items():
            if f"Område {u}" == unit:
                assert title in text.split("Indholdsfortegnelse")[1]
                if marker:
                    assert marker in text
        assert binder["pages"] >= report_pages + contacts["pages"] + 2
    # the print menu offers each report under its own title
    from nodkit.printing import spooler
    from nodkit.store.sets import Store
    export_set = next(x for x in Store(demo_kit.home / "store").sets() if x.id == data["set"])
    labels = [c.label for c in spooler.choices(export_set, "Område Vest", {}, {})]
    assert "Medicinoversigt (1 side)" in labels and "Arvet (1 side)" in labels, labels
    # printable: the command backend gets the decrypted, stamped report
    paper = tmp_path / "paper"
    paper.mkdir()
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f'\n[printer]\nbackend = "command"\n'
                   f'command = ["sh", "-c", "cat > {paper}/job-$$.pdf"]\n', "utf-8")
    entry = entries[("Område Vest", "Medicinoversigt")]
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Vest", "--template", entry["template"],
                     "--password-stdin", "--json", input=pw + "\n")
    assert result.exit_code == 0, result.output
    [job] = paper.glob("*.pdf")
    assert "AESMARK" in pdftotext(job, None) and "kontrol" in pdftotext(job, None)
    # verify --decrypt opens every report with its audience password and checks its page count
    from nodkit.config.settings import load_config
    from nodkit.monitoring.verify import verify_kit
    report = verify_kit(load_config(demo_kit.home), decrypt=True)
    assert report.files_checked == len({f["path"] for f in m["files"]})  # each file once (store format 4)
    assert not [p for p in report.problems if p.kind in ("pages", "password", "unreadable", "encryption", "hash",
                                                          "stray")], report.problems
    flipped = set_dir / entries[("Område Syd", "Skema")]["path"]
    blob = bytearray(flipped.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    flipped.write_bytes(bytes(blob))
    assert any(p.kind == "hash" and "Skema" in p.path
               for p in verify_kit(load_config(demo_kit.home), decrypt=True).problems)
    # sources check names the older file it ignored, and no report text
    result = run_cli("sources", "check", "--kit", str(demo_kit.home), "--json", env=_env())
    cura = next(d for d in json.loads(result.stdout)["datasets"] if d["name"] == "cura")
    assert any("Nord_Medicinoversigt_2026-11-30.pdf: older than" in i for i in cura["ignored"])
    assert "LIBREMARK" not in result.stdout and cura["status"] == "ok", cura
    assert {(r["unit"], r["title"], r["pages"]) for r in cura["reports"]} >= {("Område Nord", "Medicinoversigt", 2)}


def test_the_stamp_lands_on_a_region_that_is_blank_on_the_original(foreign, tmp_path):
    from nodkit.render.stamp import stamp_and_encrypt, stamp_box
    when = dt.datetime(2026, 12, 1, 5, tzinfo=dt.timezone.utc)
    for engine in ("libreoffice", "ghostscript", "scan"):
        data = foreign[engine].read_bytes()
        out = stamp_and_encrypt(data, None, {"a": "prøve-kode-123"}, position="bottom-right", margin_mm=6,
                                title="T", unit="U", kit_name="K", as_of=when, generated_at=when, set_id="S",
                                file_label="U/x.pdf", source_sha256="0" * 64)
        stamped = tmp_path / f"{engine}.pdf"
        stamped.write_bytes(out.encrypted["a"])
        original = tmp_path / f"{engine}-orig.pdf"
        original.write_bytes(data)
        with pikepdf.open(original) as pdf:
            box = pdf.pages[0].cropbox
            w, h = float(box[2]) - float(box[0]), float(box[3]) - float(box[1])
        region = stamp_box(w, h, "bottom-right", 6)
        before = _dark_pixels(original, None, region, h)
        after = _dark_pixels(stamped, "prøve-kode-123", region, h)
        assert before == 0, f"{engine}: the original is not blank where the stamp goes"
        assert after > 200, f"{engine}: no stamp drawn ({after} dark pixels)"


def _dark_pixels(pdf: Path, password: str | None, region, page_h: float, dpi: int = 72) -> int:
    """Dark pixels of page 1 inside region (points, origin lower left), via poppler's pdftoppm."""
    cmd = ["pdftoppm", "-gray", "-r", str(dpi), "-f", "1", "-l", "1"] + (["-upw", password] if password else [])
    raw = subprocess.run(cmd + [str(pdf)], capture_output=True, check=True).stdout
    header, rest = _pgm(raw)
    width, height = header
    x0, y0, x1, y1 = (v * dpi / 72 for v in region)
    top, bottom = int(height - y1), int(height - y0)
    return sum(1 for y in range(max(0, top), min(height, bottom)) for x in range(int(x0), min(width, int(x1)))
               if rest[y * width + x] < 160)


def _pgm(raw: bytes):
    parts = raw.split(maxsplit=4)
    assert parts[0] == b"P5"
    width, height = int(parts[1]), int(parts[2])
    return (width, height), parts[4][-width * height:]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file (0 bytes)"),
    (b"<!DOCTYPE html><html><body>Log ind</body></html>", "an HTML/XML page saved as .pdf"),
    ("truncated", "truncated PDF"),
])
def test_a_broken_report_skips_only_its_own_entry(demo_kit, foreign, tmp_path, content, reason):
    folder = _folder(tmp_path, foreign, {"pdf14": REPORTS["pdf14"], "ghostscript": REPORTS["ghostscript"]})
    bad = folder / f"Vest_Medicinoversigt_{DAY}.pdf"
    data = foreign["libreoffice"].read_bytes()
    bad.write_bytes(data[:len(data) // 2] if content == "truncated" else content)
    _report_kit(demo_kit, folder)
    before = demo_kit.latest
    code, data = _export(demo_kit)
    assert code == 1 and data["status"] == "partial" and demo_kit.latest == before
    [why] = [r for r in data["reasons"] if "report skipped" in r]
    assert "Vest_Medicinoversigt_2026-12-01.pdf" in why and reason in why
    check = run_cli("sources", "check", "--kit", str(demo_kit.home), "cura", env=_env())
    assert check.exit_code == 12 and "SKIPPED: Vest_Medicinoversigt_2026-12-01.pdf" in check.output
    taken = {(f["unit"], f["template"]) for f in data["files"]}
    assert {("Område Syd", "cura-Ydelser"), ("Område Nord", "cura-Borgeroversigt")} <= taken
    assert ("Område Vest", "cura-Medicinoversigt") not in taken


def test_a_report_that_shrank_from_40_to_2_pages_makes_the_set_suspect(demo_kit, foreign, tmp_path):
    folder = tmp_path / "noedrapporter"
    folder.mkdir()
    target = folder / f"Nord_Medicinoversigt_{DAY}.pdf"
    shutil.copy(foreign["forty"], target)
    _report_kit(demo_kit, folder)
    code, first = _export(demo_kit)
    assert code == 0 and first["status"] == "good"
    shutil.copy(foreign["two"], target)
    code, second = _export(demo_kit)
    assert second["status"] == "suspect" and demo_kit.latest == first["set"]
    [why] = [r for r in second["reasons"] if "page(s)" in r]
    assert "has 2 page(s)" in why and "had 40" in why and "Nord_Medicinoversigt" in why


def test_the_same_file_for_more_than_a_day_is_stale(demo_kit, foreign, tmp_path, monkeypatch):
    from nodkit.config.settings import load_config
    from nodkit.export.pipeline import run_export
    folder = _folder(tmp_path, foreign, {"pdf14": REPORTS["pdf14"]})
    _report_kit(demo_kit, folder)
    config = load_config(demo_kit.home)
    tz = config.timezone
    first = run_export(config, dt.datetime(2026, 12, 1, 5, tzinfo=tz), prune=False)
    assert first.status == "good" and not any("same file" in w for w in first.warnings)
    later = run_export(config, dt.datetime(2026, 12, 1, 14, tzinfo=tz), prune=False)  # afternoon: same file, fine
    assert not any("same file" in w for w in later.warnings)
    next_day = run_export(config, dt.datetime(2026, 12, 2, 5, 0, 1, tzinfo=tz), prune=False)
    assert any("Syd_Ydelser_2026-12-01.pdf is the same file" in w and "max_unchanged_hours = 24" in w
               for w in next_day.warnings), next_day.warnings
    assert next_day.status == "good"  # a warning, like a stale CSV: old lists are better than none
    m = manifest(demo_kit, next_day.id)
    assert any("is the same file" in w for w in m["datasets"]["cura"]["warnings"])
    # retention treats sets with reports like any other: 9 days on, beyond keep_min, the first is gone
    pruned = run_export(config, dt.datetime(2026, 12, 10, 5, tzinfo=tz)).pruned
    assert first.id in pruned and not first.set.path.exists()


def test_a_protected_report_without_the_password_is_named(demo_kit, foreign, tmp_path):
    folder = _folder(tmp_path, foreign, {"aes": REPORTS["aes"], "pdf14": REPORTS["pdf14"]})
    _report_kit(demo_kit, folder)
    result = run_cli("export", "--kit", str(demo_kit.home), "--json", env={"NODKIT_REPORT_PASSWORD_CURA": ""})
    data = json.loads(result.stdout)
    [why] = [r for r in data["reasons"] if "report skipped" in r]
    assert "protected by a password" in why and "NODKIT_REPORT_PASSWORD_CURA is not set" in why


def test_kit_wide_reports_go_in_every_binder(demo_kit, foreign, tmp_path):
    from nodkit.config.settings import load_config
    from nodkit.export.pipeline import run_export
    folder = tmp_path / "kontakter"
    folder.mkdir()
    shutil.copy(foreign["ghostscript"], folder / "Beredskab.pdf")
    edit_config(demo_kit, r'^templates = \["care-route".*$',
                'templates = ["care-route", "contacts"]\nreports = ["plan"]')
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f'\n[datasets.plan]\nkind = "reports"\npath = "{folder}"\n'
                   'pattern = "{title}.pdf"\ndata_time = "modified"\nstamp = "top-left"\n', "utf-8")
    edit_config(demo_kit, r"^suspect_drop = .*$", "suspect_drop = 0.5\nworkers = 2")  # binders in render processes
    config = load_config(demo_kit.home)
    first = run_export(config, dt.datetime(2026, 12, 1, 5, tzinfo=config.timezone))
    assert first.status == "good", first.reasons
    binders = [f for f in first.files if f.template == "binder" and f.audience == "pleje"]
    assert {b.unit for b in binders} == {"Område Nord", "Område Syd", "Område Vest"}
    for b in binders:
        text = pdftotext(b.path, demo_kit.passwords["pleje"])
        assert "GSMARK" in text and "Beredskab – Fælles" in text
    report = next(f for f in first.files if f.template == "plan-Beredskab")
    assert report.unit == "Fælles" and report.pages == 2



def test_a_password_in_nodkit_toml_is_refused(demo_kit, tmp_path):
    (tmp_path / "r").mkdir()
    _report_kit(demo_kit, tmp_path / "r", extra='password = "hemmelig"')
    result = run_cli("export", "--kit", str(demo_kit.home))
    assert result.exit_code == 10 and "NODKIT_REPORT_PASSWORD_CURA" in result.output
    assert "hemmelig" not in result.output


def _source(folder: Path, **options):
    from nodkit.sources import open_source
    from nodkit.sources.base import DatasetConfig
    config = DatasetConfig(name="cura", kind="reports", options={"path": str(folder), **options}, columns={},
                           where="nodkit.toml:1")
    return open_source(config, dt.timezone(dt.timedelta(hours=1)))


def test_sub_folders_per_unit_newest_wins_and_data_time_is_configurable(foreign, tmp_path):
    folder = tmp_path / "r"
    for unit in ("Nord", "Syd"):
        (folder / unit).mkdir(parents=True)
    shutil.copy(foreign["pdf14"], folder / "Nord" / "Medicin_1.pdf")  # CreationDate 2026-12-01 04:30 +01:00
    shutil.copy(foreign["ghostscript"], folder / "Syd" / "Medicin_2.pdf")
    shutil.copy(foreign["pdf17"], folder / "Syd" / "Medicin_gammel.pdf")
    (folder / "Syd" / "noter.txt").write_text("x")
    (folder / "løs.pdf").write_bytes(foreign["pdf14"].read_bytes())
    old = dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone.utc).timestamp()
    os.utime(folder / "Syd" / "Medicin_gammel.pdf", (old, old))
    now = dt.datetime(2026, 12, 1, 6, tzinfo=dt.timezone.utc)
    snap = _source(folder, pattern="{unit}/{title}_*.pdf").fetch(now)
    docs = {(d.unit, d.title): d for d in snap.documents}
    assert set(docs) == {("Nord", "Medicin"), ("Syd", "Medicin")}
    assert docs[("Nord", "Medicin")].as_of == dt.datetime(2026, 12, 1, 3, 30, tzinfo=dt.timezone.utc)
    assert docs[("Syd", "Medicin")].file == "Syd/Medicin_2.pdf"
    ignored = "\n".join(snap.details["ignored"])
    assert "Syd/Medicin_gammel.pdf: older than Syd/Medicin_2.pdf" in ignored
    assert "Syd/noter.txt: does not match" in ignored and "løs.pdf: does not match" in ignored
    # Ghostscript writes a creation date too; "modified" takes the file's time instead
    stamp = dt.datetime(2026, 11, 29, 8, tzinfo=dt.timezone.utc).timestamp()
    os.utime(folder / "Nord" / "Medicin_1.pdf", (stamp, stamp))
    snap = _source(folder, pattern="{unit}/{title}_*.pdf", data_time="modified", max_age_hours=26).fetch(now)
    nord = next(d for d in snap.documents if d.unit == "Nord")
    assert nord.as_of.timestamp() == stamp
    assert any(w.startswith("stale: Nord/Medicin_1.pdf") for w in snap.warnings)
    assert snap.details["digest"] != _source(folder, pattern="{unit}/{title}_*.pdf").fetch(now).details["digest"]


@pytest.mark.parametrize("options, message", [
    ({"pattern": "{unit}_{date}.pdf"}, "give the report's title"),
    ({"pattern": "{unit}_{navn}.pdf"}, "unknown group {navn}"),
    ({"pattern": "{title}.pdf", "data_time": "filename"}, "needs a {date} group"),
    ({"pattern": "{title}.pdf", "stamp": "middle"}, "stamp must be one of"),
    ({"pattern": "{title}.pdf", "sheet": "x"}, "unknown key(s) for kind reports: sheet"),
])
def test_report_options_are_checked(tmp_path, options, message):
    from nodkit.errors import ConfigError
    with pytest.raises(ConfigError, match=re.escape(message)):
        _source(tmp_path, **options)


def test_a_report_that_vanished_from_the_folder_keeps_the_last_good_set(demo_kit, foreign, tmp_path):
    folder = _folder(tmp_path, foreign, {"pdf14": REPORTS["pdf14"], "pdf17": REPORTS["pdf17"]})
    _report_kit(demo_kit, folder)
    code, first = _export(demo_kit)
    assert first["status"] == "good"
    (folder / f"Vest_Ydelser_{DAY}.pdf").unlink()
    code, second = _export(demo_kit)
    assert code == 1 and second["status"] == "partial" and demo_kit.latest == first["set"]
    [why] = [r for r in second["reasons"] if "no file for it matches now" in r]
    assert "'Ydelser' (Område Vest)" in why and first["set"] in why
    check = run_cli("sources", "check", "--kit", str(demo_kit.home), "cura", env=_env())
    assert check.exit_code == 12 and "missing: report 'Ydelser' (Område Vest)" in check.output
    # a report the source system no longer makes: IT says so, and it is only a warning
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace('data_time = "filename"', 'data_time = "filename"\nmissing = "warning"'),
                   "utf-8")
    code, third = _export(demo_kit)
    assert third["status"] == "good" and any("no file for it matches now" in w for w in third["warnings"])


def test_a_reports_folder_inside_the_kit_home_is_refused(demo_kit):
    (demo_kit.home / "rapporter").mkdir()
    _report_kit(demo_kit, Path("rapporter"))
    result = run_cli("sources", "check", "--kit", str(demo_kit.home))
    assert result.exit_code == 10 and "must be outside the kit home" in result.output
