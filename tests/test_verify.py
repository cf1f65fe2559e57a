"""nodkit verify: tamper tests through the CLI, levels, and the health checks with injected time."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import run_cli
from kittools import as_format_2, clone_set, edit_manifest, plain_pdf, quiet_schedule, reencrypt
from nodkit.config.settings import PrinterConfig
from nodkit.monitoring import heartbeat
from nodkit.config.settings import load_config
from nodkit.errors import CRITICAL, WARNING
from nodkit.config.schedules import due_times, load_jobs
from nodkit.monitoring.verify import check_printer, verify_kit


@pytest.fixture
def kit(demo_kit):
    quiet_schedule(demo_kit.home)
    return demo_kit


def pdfs(kit) -> list[Path]:
    return sorted(kit.set_dir.rglob("*.pdf"))


def verify(kit, *args):
    return run_cli("verify", "--kit", str(kit.home), *args)


def problem_lines(result, path: Path) -> list[str]:
    return [line for line in result.stdout.splitlines()[1:] if str(path) in line]


def test_clean_kit_is_ok_at_every_level(kit):
    # each file once: a unit's lists are page ranges of its binder (store format 4)
    files = len({f["path"] for f in json.loads((kit.set_dir / "manifest.json").read_text("utf-8"))["files"]})
    assert files == len([p for p in kit.set_dir.rglob("*.pdf")])
    for args in ((), ("--decrypt",), ("--all", "--decrypt")):
        result = verify(kit, *args)
        assert result.exit_code == 0, result.output
        first = result.stdout.splitlines()[0]
        assert first.startswith("NODKIT OK - latest set " + kit.latest)
        assert "| age=" in first and f"files={files};" in first and "disk_free=" in first


# ---------------------------------------------------------------- tamper tests (through the CLI)

def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_flipped_byte_is_critical_and_named(kit):
    target = pdfs(kit)[0]
    flip_byte(target)
    result = verify(kit)
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("NODKIT CRITICAL")
    assert any("SHA-256 does not match" in line for line in problem_lines(result, target)), result.output


def test_truncated_pdf_is_critical_and_named(kit):
    target = pdfs(kit)[1]
    truncate(target)
    result = verify(kit)
    assert result.exit_code == 2
    lines = problem_lines(result, target)
    assert lines and "bytes, manifest says" in lines[0], result.output


def test_dropped_file_is_critical_and_named(kit):
    target = pdfs(kit)[2]
    target.unlink()
    result = verify(kit)
    assert result.exit_code == 2
    assert any("listed in the manifest but missing" in line for line in problem_lines(result, target))


def test_swapped_pdfs_are_both_named(kit):
    a, b = [p for p in pdfs(kit) if p.stat().st_size > 0][:2]
    tmp = a.with_suffix(".tmp")
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)
    result = verify(kit)
    assert result.exit_code == 2
    assert problem_lines(result, a) and problem_lines(result, b), result.output


def test_edited_manifest_fails_the_signature(kit):
    manifest = kit.set_dir / "manifest.json"
    manifest.write_text(manifest.read_text("utf-8").replace('"rows": 120', '"rows": 121', 1), "utf-8")
    result = verify(kit)
    assert result.exit_code == 2
    assert any("signature does not match" in line for line in problem_lines(result, manifest)), result.output


def test_replaced_by_unencrypted_pdf_is_named_as_unencrypted(kit):
    target = pdfs(kit)[0]
    target.write_bytes(plain_pdf())
    result = verify(kit)
    assert result.exit_code == 2
    lines = problem_lines(result, target)
    assert lines and "NOT ENCRYPTED" in lines[0], result.output


@pytest.mark.parametrize("where", ["set", "store", "incoming", "logs"])
def test_stray_plaintext_pdf_anywhere_is_critical(kit, where):
    folder = {"set": kit.set_dir / "pleje", "store": kit.home / "store", "incoming": kit.home / "store" / ".incoming",
              "logs": kit.home / "logs"}[where]
    folder.mkdir(exist_ok=True)
    stray = folder / "kopi.pdf"
    stray.write_bytes(plain_pdf())
    result = verify(kit)
    assert result.exit_code == 2, result.output
    lines = problem_lines(result, stray)
    assert lines and "UNENCRYPTED PDF" in lines[0], result.output


def test_stray_text_file_in_a_set_is_critical(kit):
    stray = kit.set_dir / "skole" / "noter.txt"
    stray.write_text("Navn;Telefon\n", "utf-8")
    result = verify(kit)
    assert result.exit_code == 2
    assert any("file not in the manifest" in line for line in problem_lines(result, stray))


def test_unknown_entry_in_kit_home_is_a_warning(kit):
    stray = kit.home / "export.csv"
    stray.write_text("a;b\n", "utf-8")
    result = verify(kit)
    assert result.exit_code == 1, result.output
    assert any("not part of a kit home" in line for line in problem_lines(result, stray))


def test_stray_pdf_with_a_disguised_name_is_found(kit):
    stray = kit.home / "store" / "sets" / "backup.dat"
    stray.write_bytes(plain_pdf())
    result = verify(kit)
    assert result.exit_code == 2
    assert any("UNENCRYPTED PDF" in line for line in problem_lines(result, stray))


def test_tampered_older_set_is_caught_by_default_scan_and_all(kit):
    old = clone_set(kit.home, dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    target = sorted((kit.home / "store" / "sets" / old).rglob("*.pdf"))[0]
    target.write_bytes(plain_pdf())
    assert verify(kit).exit_code == 2  # the default level scans every set's PDFs for encryption
    result = verify(kit, "--all")
    assert result.exit_code == 2 and problem_lines(result, target)


# ---------------------------------------------------------------- encryption without passwords

def test_a_correctly_signed_but_unencrypted_file_is_caught_without_password(kit):
    """Even if export had a bug and sealed a plaintext PDF, the default level catches it."""
    target = pdfs(kit)[0]
    import hashlib
    blob = plain_pdf()
    target.write_bytes(blob)
    rel = target.relative_to(kit.set_dir).as_posix()

    def change(m):
        entry = next(f for f in m["files"] if f["path"] == rel)
        entry["sha256"], entry["bytes"] = hashlib.sha256(blob).hexdigest(), len(blob)
    edit_manifest(kit.set_dir, kit.home / "keys", change)
    result = verify(kit)
    assert result.exit_code == 2
    assert "unencrypted PDF: NOT ENCRYPTED" in problem_lines(result, target)[0]


@pytest.mark.parametrize("settings,message", [
    (dict(user="aes128-password", R=4), "not AES-256 R6"),
    (dict(user="", R=6), "opens without a password"),
])
def test_weaker_encryption_is_caught_without_password(kit, settings, message):
    import hashlib
    target = pdfs(kit)[0]
    rel = target.relative_to(kit.set_dir).as_posix()
    manifest = json.loads((kit.set_dir / "manifest.json").read_text("utf-8"))
    audience = next(f["audience"] for f in manifest["files"] if f["path"] == rel)
    blob = reencrypt(target.read_bytes(), kit.passwords[audience], **settings)
    target.write_bytes(blob)

    def change(m):
        entry = next(f for f in m["files"] if f["path"] == rel)
        entry["sha256"], entry["bytes"] = hashlib.sha256(blob).hexdigest(), len(blob)
    edit_manifest(kit.set_dir, kit.home / "keys", change)
    result = verify(kit)
    assert result.exit_code == 2, result.output
    assert message in problem_lines(result, target)[0]


def test_page_count_is_checked_only_with_decrypt(kit):
    def change(m):
        binder = next(f for f in m["files"] if f["template"] == "binder")
        binder["pages"] += 1  # the lists inside it still fit the (wrong) number
    edit_manifest(kit.set_dir, kit.home / "keys", change)
    assert verify(kit).exit_code == 0
    result = verify(kit, "--decrypt")
    assert result.exit_code == 2
    assert "pages, manifest says" in result.stdout


def test_a_list_range_outside_its_binder_is_critical_and_not_printed(kit):
    """Store format 4: a list inside a binder whose pages (in the signed manifest) run past the
    binder's last page is named at the default level and refused by print, which prints nothing."""
    from nodkit.errors import PrintError
    from nodkit.printing import spooler

    def change(m):
        binder = next(f for f in m["files"] if f["template"] == "binder" and f["unit"] == "Område Nord")
        route = next(f for f in m["files"] if f["template"] == "care-route" and f["unit"] == "Område Nord")
        route["first_page"] = binder["pages"] - 1  # a 24-page list from the binder's last-but-one page on
    edit_manifest(kit.set_dir, kit.home / "keys", change)
    result = verify(kit)
    assert result.exit_code == 2, result.stdout
    assert "care-route" in result.stdout and "are not inside the file's" in result.stdout
    config = load_config(kit.home)
    export_set = spooler.resolve_set(config)
    route = spooler.find_files(export_set, "Område Nord", "care-route", "pleje")
    with pytest.raises(PrintError, match="Der er ikke udskrevet noget"):
        spooler.unlock(export_set, route, kit.passwords["pleje"])

    # the binder's own entry says more pages than the file has: the manifest's numbers agree with
    # each other, the decrypted binder does not (verify --decrypt names it, print refuses)
    def more(m):
        binder = next(f for f in m["files"] if f["template"] == "binder" and f["unit"] == "Område Nord")
        binder["pages"] += 30
    edit_manifest(kit.set_dir, kit.home / "keys", more)
    assert verify(kit).exit_code == 0
    assert "pages, manifest says" in verify(kit, "--decrypt").stdout
    export_set = spooler.resolve_set(config)
    route = spooler.find_files(export_set, "Område Nord", "care-route", "pleje")
    with pytest.raises(PrintError, match="Der er ikke udskrevet noget"):
        spooler.unlock(export_set, route, kit.passwords["pleje"])


def test_a_list_range_at_the_wrong_place_inside_its_binder_is_found_and_not_printed(kit):
    """A first page that fits the binder but is not where the list starts (a bug, signed): the
    pages' own footers say which list they are. verify --decrypt names the list, print refuses
    and prints nothing; the lists whose pages are right still print."""
    from nodkit.errors import PrintError
    from nodkit.printing import spooler

    def change(m):
        route = next(f for f in m["files"] if f["template"] == "care-route" and f["unit"] == "Område Nord")
        route["first_page"] += 1  # still inside the binder: the manifest's numbers agree with each other
    edit_manifest(kit.set_dir, kit.home / "keys", change)
    assert verify(kit).exit_code == 0  # the default level reads no pages (no passwords)
    result = verify(kit, "--decrypt")
    assert result.exit_code == 2, result.stdout
    problem = next(line for line in result.stdout.splitlines() if "care-route" in line)
    assert "its first page is not page 1 of" in problem and "Område Nord/care-route.pdf" in problem
    assert "side 2" in problem, "it names what the page is instead"
    config = load_config(kit.home)
    export_set = spooler.resolve_set(config)
    route = spooler.find_files(export_set, "Område Nord", "care-route", "pleje")
    with pytest.raises(PrintError, match="Der er ikke udskrevet noget"):
        spooler.unlock(export_set, route, kit.passwords["pleje"])
    others = [f for f in export_set.manifest.files if f.unit == "Område Nord" and f.first_page is not None
              and f.template != "care-route"]
    assert others and all(spooler.unlock(export_set, [f], kit.passwords["pleje"]) for f in others)


def test_a_set_of_format_2_with_list_files_still_verifies(kit):
    """A set written before store format 4 (every list a file of its own) verifies at every level."""
    written = as_format_2(kit.set_dir, kit.home / "keys", kit.passwords)
    assert any(p.endswith("/care-route.pdf") for p in written)
    for args in ((), ("--decrypt",)):
        result = verify(kit, *args)
        assert result.exit_code == 0, result.output
        assert f"files={len(pdfs(kit))};" in result.stdout.splitlines()[0]


def test_decrypt_with_a_lost_password_is_critical(kit):
    book = kit.home / "keys" / "audiences.json"
    data = json.loads(book.read_text("utf-8"))
    data["skole"][0]["password"] = "not-the-password-123"
    book.write_text(json.dumps(data), "utf-8")
    assert verify(kit).exit_code == 0  # the default level never needs a password
    result = verify(kit, "--decrypt")
    assert result.exit_code == 2
    assert "password does not open" in result.stdout


def test_latest_pointing_nowhere_is_critical(kit):
    (kit.home / "store" / "LATEST").write_text("20200101T000000Z-dead\n")
    result = verify(kit)
    assert result.exit_code == 2 and "which does not exist" in result.stdout


def test_no_kit_is_unknown(tmp_path):
    result = run_cli("verify", "--kit", str(tmp_path), "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "UNKNOWN"


def test_json_names_kind_and_path(kit):
    target = pdfs(kit)[0]
    flip_byte(target)
    result = verify(kit, "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 2 and data["exit_code"] == 2 and data["status"] == "CRITICAL"
    assert {"kind": "hash", "path": str(target), "severity": "CRITICAL"}.items() <= data["problems"][0].items()
    assert data["level"] == "default" and data["latest"] == kit.latest


def test_default_level_is_fast(kit):
    import time
    started = time.monotonic()
    assert verify(kit).exit_code == 0
    assert time.monotonic() - started < 3.0


# ---------------------------------------------------------------- health, with injected time

def report_at(kit, now: dt.datetime):
    return verify_kit(load_config(kit.home), now)


def kinds(report) -> dict[str, int]:
    return {p.kind: p.severity for p in report.problems}


def test_freshness_against_the_schedule(demo_kit):
    """Default schedule (05:00 and 14:00): one missed run warns, two are critical."""
    config = load_config(demo_kit.home)
    created = verify_kit(config).latest_created
    job_times = sorted(t for j in load_jobs(demo_kit.home, config.timezone) if j.action == "export"
                       for t in due_times(j, config.timezone, created, created + dt.timedelta(days=2)))
    grace = dt.timedelta(minutes=config.monitoring.grace_minutes)
    assert "freshness" not in kinds(report_at(demo_kit, job_times[0] + grace - dt.timedelta(minutes=1)))
    one = report_at(demo_kit, job_times[0] + grace + dt.timedelta(minutes=1))
    assert kinds(one)["freshness"] == WARNING and one.missed_runs == 1
    two = report_at(demo_kit, job_times[1] + grace + dt.timedelta(minutes=1))
    assert kinds(two)["freshness"] == CRITICAL and two.missed_runs == 2
    assert two.exit_code == CRITICAL


def test_max_age_is_critical_even_without_export_schedule(kit):
    created = verify_kit(load_config(kit.home)).latest_created
    report = report_at(kit, created + dt.timedelta(hours=27))
    assert kinds(report)["age"] == CRITICAL
    assert "max_age_hours = 26" in next(p.message for p in report.problems if p.kind == "age")


def test_set_from_the_future_is_a_clock_warning(kit):
    created = verify_kit(load_config(kit.home)).latest_created
    report = report_at(kit, created - dt.timedelta(hours=2))
    assert kinds(report)["clock"] == WARNING


def add_monitoring(kit, text: str) -> None:
    cfg = kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + "\n[monitoring]\n" + text + "\n", "utf-8")


def test_disk_thresholds_from_config(kit):
    add_monitoring(kit, "disk_warning_percent = 100\ndisk_critical_percent = 0")
    result = verify(kit)
    assert result.exit_code == 1 and "below disk_warning_percent = 100" in result.stdout
    add_monitoring_text = (kit.home / "nodkit.toml").read_text("utf-8").replace("disk_critical_percent = 0",
                                                                               "disk_critical_percent = 100")
    (kit.home / "nodkit.toml").write_text(add_monitoring_text, "utf-8")
    result = verify(kit)
    assert result.exit_code == 2 and "below disk_critical_percent = 100" in result.stdout


def test_monitoring_config_is_validated_with_line(kit):
    add_monitoring(kit, "disk_warning_percent = 5\ndisk_critical_percent = 10")
    result = run_cli("status", "--kit", str(kit.home))
    assert result.exit_code == 10
    assert "nodkit.toml:" in result.stderr and "disk_critical_percent" in result.stderr
    result = verify(kit)
    assert result.exit_code == 3 and "disk_critical_percent" in result.stdout


def test_heartbeat_stale_and_fresh(kit):
    config = load_config(kit.home)
    now = verify_kit(config).latest_created + dt.timedelta(hours=1)
    beat = heartbeat.Heartbeat(pid=1, updated_at=(now - dt.timedelta(hours=5)).isoformat(),
                               started_at=(now - dt.timedelta(days=1)).isoformat(), last_job="export-yearly",
                               next_runs={"verify-hourly": (now - dt.timedelta(hours=4)).isoformat()})
    heartbeat.write(kit.home, beat)
    report = report_at(kit, now)
    assert kinds(report)["heartbeat"] == WARNING
    assert "verify-hourly" in next(p.message for p in report.problems if p.kind == "heartbeat")
    beat.updated_at = (now - dt.timedelta(minutes=3)).isoformat()
    beat.next_runs = {"verify-hourly": (now + dt.timedelta(minutes=50)).isoformat()}
    heartbeat.write(kit.home, beat)
    assert "heartbeat" not in kinds(report_at(kit, now))
    beat.updated_at = (now + dt.timedelta(hours=3)).isoformat()
    heartbeat.write(kit.home, beat)
    assert kinds(report_at(kit, now))["clock"] == WARNING


def test_no_heartbeat_file_is_not_a_problem(kit):
    assert not (kit.home / heartbeat.FILE).exists()
    assert "heartbeat" not in kinds(verify_kit(load_config(kit.home)))


def test_debris_in_incoming_is_a_warning(kit):
    (kit.home / "store" / ".incoming" / "20261101T000000Z-abcd").mkdir(parents=True)
    result = verify(kit)
    assert result.exit_code == 1 and "interrupted run" in result.stdout


# ---------------------------------------------------------------- printer (lpstat)

def fake_lpstat(tmp_path: Path, accept_out: str, accept_rc: int, state_out: str = "printer q is idle.") -> str:
    script = tmp_path / "lpstat"
    script.write_text(f"""#!/bin/sh
if [ "$1" = "-a" ]; then echo '{accept_out}'; exit {accept_rc}; fi
echo '{state_out}'; exit 0
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.mark.parametrize("accept_out,rc,state,expected", [
    ("kit-printer accepting requests since Mon 23 Nov 2026", 0, "printer kit-printer is idle.", None),
    ("kit-printer not accepting requests since Mon 23 Nov 2026 -", 0, "printer kit-printer is idle.", "not accepting"),
    ('lpstat: Invalid destination name in list "kit-printer".', 1, "", "queue missing"),
    ("lpstat: Scheduler is not running.", 1, "", "CUPS) is not running"),
    ("kit-printer accepting requests since Mon", 0, "printer kit-printer disabled since Mon -", "disabled"),
])
def test_printer_queue_states(kit, tmp_path, accept_out, rc, state, expected):
    config = load_config(kit.home)
    config.printer = PrinterConfig(queue="kit-printer")
    problems = check_printer(config, fake_lpstat(tmp_path, accept_out, rc, state))
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0].message and "kit-printer" in problems[0].path


def test_no_printer_queue_configured_skips_the_check(kit):
    config = load_config(kit.home)
    assert config.printer.queue is None
    assert check_printer(config, "/nonexistent/lpstat") == []


@pytest.mark.skipif(shutil.which("lpstat") is None, reason="CUPS client not installed")
def test_real_lpstat_reports_an_unknown_queue(kit):
    config = load_config(kit.home)
    config.printer = PrinterConfig(queue="nodkit-no-such-queue")
    problems = check_printer(config)
    assert len(problems) == 1 and problems[0].severity == CRITICAL


def test_work_in_progress_during_an_export_is_not_an_alarm(kit):
    """verify runs hourly, also while an export writes .incoming: half-written encrypted files are fine."""
    from nodkit.store.sets import Store
    incoming = kit.home / "store" / ".incoming" / "20991231T000000Z-beef" / "pleje"
    incoming.mkdir(parents=True)
    half = pdfs(kit)[0].read_bytes()
    (incoming / "care-route.pdf").write_bytes(half[: len(half) // 3])
    with Store(kit.home / "store").lock("export"):
        assert verify(kit).exit_code == 0
        (incoming / "kopi.pdf").write_bytes(plain_pdf())
        result = verify(kit)
        assert result.exit_code == 2 and "UNENCRYPTED PDF in .incoming" in result.stdout
    result = verify(kit)  # no run active any more: the half file is now debris and unprovable
    assert result.exit_code == 2 and "interrupted run" in result.stdout


def test_missing_signature_still_checks_the_files(kit):
    (kit.set_dir / "manifest.sig").unlink()
    target = pdfs(kit)[0]
    target.unlink()
    result = verify(kit)
    assert result.exit_code == 2
    assert str(kit.set_dir / "manifest.sig") in result.stdout and problem_lines(result, target)


def test_printing_guide_is_the_one_plain_pdf_allowed(kit):
    guide = kit.home / "store" / "udskrivningsvejledning.pdf"
    assert guide.exists() and b"/Encrypt" not in guide.read_bytes()
    assert verify(kit).exit_code == 0
    # a plaintext list saved under the guide's name is still caught
    from reportlab.pdfgen import canvas
    c = canvas.Canvas(str(guide))
    c.setTitle("Køreliste")
    c.drawString(72, 720, "Borger")
    c.showPage()
    c.save()
    result = verify(kit)
    assert result.exit_code == 2
    assert any("not the printing guide" in line for line in problem_lines(result, guide))


# ---------------------------------------------------------------- rollback (issue 16, item 7)

def test_old_set_copied_under_a_new_name_is_critical_and_not_printed(kit):
    """An attacker without the signing key copies an old set under a newer folder name and points
    LATEST at it: the signed manifest still names the old id, so verify and print refuse it."""
    store = kit.home / "store"
    old = kit.latest
    new_name = "20991231T235959Z-beef"
    shutil.copytree(store / "sets" / old, store / "sets" / new_name)
    (store / "LATEST").write_text(new_name + "\n")
    for args in ([], ["--decrypt"]):
        result = verify(kit, *args)
        assert result.exit_code == 2, result.stdout
        assert f"the manifest is set {old}, not {new_name}" in result.stdout
    printed = run_cli("print", "--kit", str(kit.home), "--unit", "Vestre Skole", "--password-stdin",
                      input=kit.passwords["skole"] + "\n")
    assert printed.exit_code == 16 and "kan ikke læses" in printed.stderr


@pytest.mark.parametrize("remove_newer", [False, True])
def test_latest_rolled_back_is_critical_and_print_warns(kit, tmp_path, remove_newer):
    store = kit.home / "store"
    old = kit.latest
    again = run_cli("export", "--kit", str(kit.home), "--no-prune")
    assert again.exit_code == 0, again.output
    newer = kit.latest
    assert newer != old and (store / "PUBLISHED").read_text().splitlines()[0] == newer
    assert verify(kit).exit_code == 0
    (store / "LATEST").write_text(old + "\n")
    if remove_newer:  # the newer set gone too: only the signed record remembers it
        shutil.rmtree(store / "sets" / newer)
    result = verify(kit)
    assert result.exit_code == 2, result.stdout
    assert f"but set {newer} was published after it" in result.stdout.splitlines()[0]
    paper = tmp_path / "paper"
    paper.mkdir()
    cfg = kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f'\n[printer]\nbackend = "command"\n'
                   f'command = ["sh", "-c", "cat > {paper}/job.pdf"]\n', "utf-8")
    printed = run_cli("print", "--kit", str(kit.home), "--unit", "Vestre Skole", "--password-stdin",
                      input=kit.passwords["skole"] + "\n")
    assert printed.exit_code == 0, printed.output
    assert "ADVARSEL: nyere lister end sæt" in printed.stderr


def test_edited_published_record_is_critical(kit):
    record = kit.home / "store" / "PUBLISHED"
    lines = record.read_bytes().split(b"\n", 1)
    record.write_bytes(b"20991231T235959Z-beef\n" + lines[1])
    result = verify(kit)
    assert result.exit_code == 2 and "PUBLISHED: signature does not match" in result.stdout


def test_leftover_temporary_guide_file_is_not_an_alarm(kit):
    store = kit.home / "store"
    guide = store / "udskrivningsvejledning.pdf"
    shutil.copy(guide, store / ".udskrivningsvejledning.pdf.1a2b3c4d.tmp")
    (store / ".udskrivningsvejledning.pdf.5e6f7a8b.tmp").write_bytes(guide.read_bytes()[:500])  # half written
    assert verify(kit).exit_code == 0, verify(kit).stdout
    (store / ".LATEST.9a8b7c6d.tmp").write_bytes(plain_pdf())  # but a plain PDF hiding there is still a leak
    result = verify(kit)
    assert result.exit_code == 2 and "UNENCRYPTED PDF" in result.stdout


# ---------------------------------------------------------------- verify's own errors (issue 16, item 9)

@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\n", b"../../keys\n"])
def test_unreadable_latest_is_critical_with_a_status_line(kit, content):
    (kit.home / "store" / "LATEST").write_bytes(content)
    result = verify(kit)
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("NODKIT CRITICAL") and "does not exist" in result.stdout
    assert "Traceback" not in result.output


def test_a_bug_in_verify_is_unknown_with_a_status_line_and_the_traceback_in_the_log(kit, monkeypatch):
    import nodkit.monitoring.verify as verify_module

    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(verify_module, "verify_kit", bug)
    result = verify(kit)
    assert result.exit_code == 3, result.output
    assert result.stdout.startswith("NODKIT UNKNOWN - internal error: ZeroDivisionError")
    assert "Traceback" not in result.output
    assert "Traceback" in (kit.home / "logs" / "nodkit.log").read_text("utf-8")


def test_a_set_pruned_while_verify_reads_it_is_not_missing(kit, monkeypatch):
    """Retention removes an older set while verify is reading it (here: right after verify read
    the set's first file): that is no 'missing' file, and verify stays OK."""
    import nodkit.monitoring.verify as verify_module
    from nodkit.store.sets import Store
    older = clone_set(kit.home, load_config(kit.home).now() - dt.timedelta(hours=3))
    store = Store(kit.home / "store")
    real = verify_module._read_listed

    def read_then_prune(path):
        result = real(path)
        if older in str(path) and (store.sets_dir / older).exists():
            store.remove(older)  # what `nodkit prune` does, between two reads
        return result
    monkeypatch.setattr(verify_module, "_read_listed", read_then_prune)
    for all_sets in (False, True):
        if all_sets:
            older = clone_set(kit.home, load_config(kit.home).now() - dt.timedelta(hours=2))
        report = verify_kit(load_config(kit.home), all_sets=all_sets, health=False)
        assert report.exit_code == 0, [p.line() for p in report.problems]


def test_audience_and_unit_folders_are_private(kit):
    for folder in [p for p in kit.set_dir.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
