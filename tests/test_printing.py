"""Scripted `nodkit print` with the command backend, and [printer] validation."""

from __future__ import annotations

import json
from pathlib import Path

import pikepdf
import pytest

from conftest import list_text, pdftotext, run_cli


def _use_command_printer(home: Path, paper: Path, command: str | None = None) -> None:
    paper.mkdir(exist_ok=True)
    command = command or f'["sh", "-c", "cat > {paper}/job-{{copies}}-$$.pdf"]'
    cfg = home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f'\n[printer]\nbackend = "command"\ncommand = {command}\ncopies = 1\n',
                   "utf-8")


def test_scripted_print_sends_the_plain_pdf_to_the_command(demo_kit, tmp_path):
    paper = tmp_path / "paper"
    _use_command_printer(demo_kit.home, paper)
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Vestre Skole", "--template", "class-list",
                     "--copies", "3", "--password-stdin", "--json", input=demo_kit.passwords["skole"] + "\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    entry = next(f for f in demo_kit.files() if f["unit"] == "Vestre Skole" and f["template"] == "class-list")
    first, last = entry["first_page"], entry["first_page"] + entry["pages"] - 1  # its pages of the binder
    assert entry["path"].endswith("/skole/Vestre Skole/binder.pdf")
    assert data["files"] == [f"skole/Vestre Skole/binder.pdf side {first}–{last} (class-list)"] and data["copies"] == 3
    [job] = paper.glob("*.pdf")
    assert job.name.startswith("job-3-")  # {copies} filled in: one run, the command makes the copies
    assert pdftotext(job, None) == list_text(entry, demo_kit.passwords["skole"])
    with pikepdf.open(job) as pdf:
        assert len(pdf.pages) == entry["pages"]


def test_shared_unit_prints_the_list_the_password_opens(demo_kit, tmp_path):
    paper = tmp_path / "paper"
    _use_command_printer(demo_kit.home, paper)
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Fælles", "--template", "contacts",
                     "--password-stdin", "--json", input=demo_kit.passwords["skole"] + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == ["skole/Fælles/contacts.pdf"]


def test_nothing_plain_is_left_in_the_kit_after_printing(demo_kit, tmp_path):
    paper = tmp_path / "paper"
    _use_command_printer(demo_kit.home, paper)
    before = {p for p in demo_kit.home.rglob("*") if p.is_file()}
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Vest", "--password-stdin",
                     input=demo_kit.passwords["pleje"] + "\n")
    assert result.exit_code == 0, result.output
    new = {p for p in demo_kit.home.rglob("*") if p.is_file()} - before
    assert {p.name for p in new} <= {"audit.log", "audit.head", "nodkit.log"}
    for pdf in demo_kit.home.rglob("*.pdf"):
        if pdf.name == "udskrivningsvejledning.pdf":
            continue
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(pdf)


def test_unknown_unit_and_missing_command_are_explained(demo_kit, tmp_path):
    paper = tmp_path / "paper"
    _use_command_printer(demo_kit.home, paper, '["/nonexistent/print-helper"]')
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Øst", "--password-stdin",
                     input=demo_kit.passwords["pleje"] + "\n")
    assert result.exit_code == 16 and "ingen fil for enhed 'Område Øst'" in result.stderr
    assert "Område Nord" in result.stderr  # the units that do exist are named
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--password-stdin",
                     input=demo_kit.passwords["pleje"] + "\n")
    assert result.exit_code == 16 and "'/nonexistent/print-helper' findes ikke" in result.stderr


def test_without_unit_and_without_terminal_asks_for_unit(demo_kit):
    result = run_cli("print", "--kit", str(demo_kit.home), "--password-stdin", input="x\n")
    assert result.exit_code == 16 and "--unit" in result.stderr


def test_no_export_yet(tmp_path):
    home = tmp_path / "kit"
    assert run_cli("init", str(home), "--generate").exit_code == 0
    result = run_cli("print", "--kit", str(home), "--unit", "x", "--password-stdin", input="x\n")
    assert result.exit_code == 16 and "ingen nødlister endnu" in result.stderr


@pytest.mark.parametrize("table,message,back", [
    ('backend = "lpr"', "must be one of cups, command", 0),
    ('backend = "command"', "is required with backend", 1),  # a missing key: the [printer] line is named
    ("copies = 0", "must be between 1 and max_copies", 0),
    ('command = ["lpr", 3]', "must be a list of texts", 0),
    ('qeueu = "kontor"', "unknown key", 0),
])
def test_printer_config_is_validated(demo_kit, table, message, back):
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f"\n[printer]\n{table}\n", "utf-8")
    line = len(cfg.read_text("utf-8").splitlines()) - back
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "x", "--password-stdin", input="x\n")
    assert result.exit_code == 10
    assert message in result.stderr and f"nodkit.toml:{line}:" in result.stderr


def test_finding_the_shared_units_audience_is_not_a_failed_attempt(demo_kit, tmp_path):
    paper = tmp_path / "paper"
    _use_command_printer(demo_kit.home, paper)
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Fælles", "--password-stdin",
                     input=demo_kit.passwords["skole"] + "\n")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (demo_kit.home / "audit.log").read_text().splitlines()]
    assert [(r["action"], r["result"]) for r in records] == [("print", "sendt (kan ikke følges)")]


def test_no_personal_data_in_audit_or_log(demo_kit, tmp_path):
    from nodkit.kit.demo import SPECIAL
    paper = tmp_path / "paper"
    _use_command_printer(demo_kit.home, paper)
    for unit, audience in (("Område Nord", "pleje"), ("Vestre Skole", "skole")):
        assert run_cli("print", "--kit", str(demo_kit.home), "--unit", unit, "--password-stdin",
                       input=demo_kit.passwords[audience] + "\n").exit_code == 0
    assert run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--password-stdin",
                   input="wrong-password\n").exit_code == 16
    printed = " ".join(pdftotext(p, None) for p in paper.glob("*.pdf"))
    assert any(name in printed for name in SPECIAL)  # the names did reach the printer ...
    written = (demo_kit.home / "audit.log").read_text("utf-8") + (demo_kit.home / "logs" / "nodkit.log").read_text("utf-8")
    for name in SPECIAL:  # ... and nowhere into the kit's own records
        assert name not in written
    for password in (*demo_kit.passwords.values(), "wrong-password"):
        assert password not in written


def test_a_tampered_binder_refuses_the_binder_and_the_lists_inside_it(demo_kit, tmp_path):
    """Store format 4: a unit's lists are pages of its binder, so a changed binder prints neither."""
    paper = tmp_path / "paper"
    _use_command_printer(demo_kit.home, paper)
    binder = demo_kit.set_dir / "pleje" / "Område Nord" / "binder.pdf"
    data = bytearray(binder.read_bytes())
    data[len(data) // 2] ^= 0x01
    binder.write_bytes(bytes(data))
    for template in ("binder", "care-route", "medication"):
        result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--template", template,
                         "--password-stdin", input=demo_kit.passwords["pleje"] + "\n")
        assert result.exit_code == 16, (template, result.output)
        assert "ændret eller beskadiget" in result.stderr and "binder.pdf" in result.stderr
    assert not list(paper.glob("*.pdf"))
    records = [json.loads(line) for line in (demo_kit.home / "audit.log").read_text().splitlines()]
    assert records[-1]["result"].startswith("fejl") and records[-1]["files"][0].endswith("(medication)")
    # the kit-wide lists are files of their own and still print
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Fælles", "--template", "contacts",
                     "--password-stdin", input=demo_kit.passwords["pleje"] + "\n")
    assert result.exit_code == 0, result.output
