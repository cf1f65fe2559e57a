"""The staff menu driven through its input/output callables, printing to a stand-in command printer.

The stand-in printer is `sh -c 'cat > DIR/job-$$.pdf'`: the decrypted PDF it
receives lands in the test's own tmp folder, never in the kit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import list_text, pdftotext
from kittools import as_format_2
from nodkit.security import crypto
from nodkit.printing import spooler as printing
from nodkit.config.settings import PrinterConfig, load_config
from nodkit.errors import PrintError
from nodkit.staff.menu import run_menu


class Script:
    """Answers in order; records everything said and asked."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.transcript: list[str] = []

    def ask(self, prompt: str) -> str:
        self.transcript.append(prompt)
        if not self.answers:
            raise AssertionError("menu asked more than scripted:\n" + self.text)
        answer = self.answers.pop(0)
        return answer(self) if callable(answer) else answer

    def say(self, line: str) -> None:
        self.transcript.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.transcript)

    def number_of(self, label: str) -> str:
        return re.findall(rf"^\s*(\d+)\s+{re.escape(label)}", self.text, re.M)[-1]


@pytest.fixture
def kit(demo_kit, tmp_path):
    paper = tmp_path / "paper"
    paper.mkdir()
    config = load_config(demo_kit.home)
    config.printer = PrinterConfig(backend="command", command=("sh", "-c", f'cat > "{paper}/job-$$.pdf"'))
    return demo_kit, config, paper


def _now(config, days=0.0):
    export_set = printing.resolve_set(config)
    created = dt.datetime.fromisoformat(export_set.manifest.created_at)
    return created + dt.timedelta(days=days, minutes=5)


def _unit_number(config, unit):
    return str(printing.units(printing.resolve_set(config)).index(unit) + 1)


def test_menu_prints_the_chosen_list(kit):
    demo, config, paper = kit
    entry = next(f for f in demo.files() if f["template"] == "medication" and f["unit"] == "Område Syd")
    s = Script(_unit_number(config, "Område Syd"), lambda s: s.number_of("Medicinoversigt"),
               demo.passwords["pleje"], "2")
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert result.printed and result.printed.copies == 2
    jobs = sorted(paper.glob("*.pdf"))
    assert len(jobs) == 2  # the command has no {copies}: run once per copy
    original = list_text(entry, demo.passwords["pleje"])  # its pages of the unit's binder
    printed = pdftotext(jobs[0], None)  # what the printer got is a plain PDF ...
    assert printed == original  # ... with exactly the list's content
    assert "Listerne er under en time gamle – data pr." in s.text
    assert "ADVARSEL" not in s.text
    # a print command cannot be followed: the menu says so instead of "printed"
    assert "nodkit kan ikke se, om papiret kommer ud" in s.text and "Udskrevet" not in s.text
    record = json.loads((demo.home / "audit.log").read_text().splitlines()[-1])
    first, last = entry["first_page"], entry["first_page"] + entry["pages"] - 1
    assert record["files"] == [f"pleje/Område Syd/binder.pdf side {first}–{last} (medication)"]
    assert record["copies"] == 2
    assert record["result"] == "sendt (kan ikke følges)" and record["pages"] == entry["pages"]


def test_old_lists_are_warned_about(kit):
    demo, config, paper = kit
    s = Script(_unit_number(config, "Område Nord"), "1", demo.passwords["pleje"], "1")
    run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config, days=3))
    assert re.search(r"ADVARSEL: Listerne er 3 dage gamle – data pr\. \d\d-\d\d-\d{4} kl\. \d\d\.\d\d", s.text)
    assert "Husk: Listerne er 3 dage gamle" in s.text


def test_without_a_binder_all_lists_is_the_default(kit):
    demo, config, paper = kit
    as_format_2(printing.resolve_set(config).path, config.keys, demo.passwords)  # the lists as files
    _reseal(config, lambda files: [f for f in files if f.template != "binder"])
    s = Script(_unit_number(config, "Område Nord"), "", demo.passwords["pleje"], "1")
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    singles = [f for f in printing.resolve_set(config).manifest.files if f.unit == "Område Nord"]
    pages = sum(f.pages for f in singles)
    assert re.search(rf"^\s+1\s+Alle lister for Område Nord \({pages} sider\)", s.text, re.M)
    assert sorted(result.printed.files) == sorted(f.path for f in singles)
    assert len(list(paper.glob("*.pdf"))) == len(singles)


def test_bad_answers_are_explained_and_q_quits_without_printing(kit):
    demo, config, paper = kit
    s = Script("0", "abc", "q")
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert result.printed is None
    assert s.text.count("Skriv et tal fra 1 til") == 2
    assert "Afsluttet uden at udskrive." in s.text
    assert not list(paper.iterdir())
    assert not (demo.home / "audit.log").exists()


def test_three_wrong_passwords_stop_and_are_audited(kit):
    demo, config, paper = kit
    s = Script(_unit_number(config, "Område Nord"), "1", "forkert1", "forkert2", "forkert3")
    with pytest.raises(PrintError, match="Forkert adgangskode tre gange"):
        run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert "2 forsøg tilbage" in s.text and "1 forsøg tilbage" in s.text
    assert not list(paper.iterdir())
    log = (demo.home / "audit.log").read_text()
    assert log.count('"action":"decrypt"') == 3 and "forkert1" not in log


def test_other_audience_password_does_not_open_the_unit(kit):
    demo, config, paper = kit
    s = Script(_unit_number(config, "Område Nord"), "1", demo.passwords["skole"], "q")
    run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    # the person is told which lists the password opens, not only "wrong"
    assert re.search(r"Den adgangskode åbner listerne for Skoler \(.+\), ikke dette valg\.", s.text)
    assert not list(paper.iterdir())


def test_empty_enter_is_not_a_wrong_try_and_plurals_are_danish(kit):
    demo, config, paper = kit
    s = Script(_unit_number(config, "Område Nord"), "1", "", "", "forkert", "", demo.passwords["pleje"], "1")
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert result.printed
    assert s.text.count("Skriv adgangskoden fra kuverten") == 3
    assert "2 forsøg tilbage" in s.text and "1 forsøg tilbage" not in s.text
    assert "– 1 kopi –" in s.text and "kopi(er)" not in s.text
    assert re.search(r"\(\d+ sider\)", s.text) and "sider)" in s.text


def test_many_pages_are_confirmed_first(kit):
    demo, config, paper = kit
    config.printer = dataclasses.replace(config.printer, max_copies=500)
    s = Script(_unit_number(config, "Område Nord"), "1", demo.passwords["pleje"], "300", "n")
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert result.printed is None and not list(paper.iterdir())
    assert re.search(r"^\d{1,3}\.\d{3} sider – er du sikker\? \(j/n\) \[n\]: $", s.text, re.M)


def test_stale_warning_is_repeated_at_the_copies_prompt_within_80_columns(kit):
    demo, config, paper = kit
    s = Script(_unit_number(config, "Område Nord"), "1", demo.passwords["pleje"], "1")
    run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config, days=3))
    lines = s.transcript
    at = lines.index("Hvor mange kopier? [1]: ")
    assert lines[at - 1].startswith("!!! Husk: Listerne er 3 dage gamle")
    assert all(len(line) <= 80 for line in lines[at - 1:at + 1])


def _reseal(config, change):
    """Rewrite the LATEST manifest's file list with `change` and sign it again (as an export would)."""
    export_set = printing.resolve_set(config)
    manifest = export_set.manifest
    manifest.files = change(list(manifest.files))
    data = manifest.to_bytes()
    (export_set.path / "manifest.json").write_bytes(data)
    (export_set.path / "manifest.sig").write_bytes(crypto.sign(config.keys, data))
    return export_set


def _add_binder(demo, config, unit="Område Nord"):
    """The unit's binder: the export's own when it makes binders, else a stand-in copied from a list."""
    export_set = printing.resolve_set(config)
    existing = [f for f in export_set.manifest.files if f.unit == unit and f.template == "binder"]
    if existing:
        return existing[0]
    source = next(f for f in export_set.manifest.files if f.unit == unit and f.template == "care-route")
    binder = dataclasses.replace(source, path=source.path.replace("care-route.pdf", "binder.pdf"), template="binder")
    shutil.copyfile(export_set.path / source.path, export_set.path / binder.path)
    _reseal(config, lambda files: files + [binder])
    return binder


def test_binder_is_offered_first(kit):
    demo, config, paper = kit
    binder = _add_binder(demo, config)
    s = Script(_unit_number(config, "Område Nord"), "", demo.passwords["pleje"], "")
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert re.search(r"^\s+1\s+Samlet mappe \(alle lister\)", s.text, re.M)
    assert result.printed.files == [binder.path]


def test_tampered_manifest_refuses_to_print(kit):
    demo, config, paper = kit
    export_set = printing.resolve_set(config)
    path = export_set.path / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b'"pages": 24', b'"pages": 25', 1))
    with pytest.raises(PrintError, match="manifest.sig passer ikke"):
        printing.resolve_set(config)


def test_changed_file_is_refused(kit):
    demo, config, paper = kit
    export_set = printing.resolve_set(config)
    entry = export_set.manifest.files[0]
    target = export_set.path / entry.path
    data = bytearray(target.read_bytes())
    data[-20] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(PrintError, match="ændret eller beskadiget"):
        printing.print_files(config, export_set, [entry], demo.passwords[entry.audience], 1,
                             now=_now(config))
    assert not list(paper.iterdir())


def test_shared_unit_names_the_audience(kit):
    demo, config, paper = kit
    s = Script(_unit_number(config, "Fælles"), lambda s: s.number_of("Kontaktliste – Skoler"),
               demo.passwords["skole"], "1")
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert "Kontaktliste – Hjemmeplejen" in s.text
    assert result.printed.files == ["skole/Fælles/contacts.pdf"]


def test_printer_not_ready_is_said_before_the_questions(kit):
    demo, config, paper = kit
    config.printer = PrinterConfig(backend="command", command=("/nonexistent/print-helper",))
    s = Script("1", "2")  # try again (still broken), then stop
    result = run_menu(config, ask=s.ask, ask_secret=s.ask, say=s.say, now=_now(config))
    assert result.printed is None and "Hvilken enhed?" not in s.text  # stopped before any question
    assert s.text.count("!!! Printeren er ikke klar: Udskriftskommandoen") == 2
    assert "åbn listerne i en PDF-læser med adgangskoden fra kuverten" in s.text
    assert "Afsluttet uden at udskrive." in s.text


def test_scripted_print_without_template_takes_the_binder(kit, tmp_path):
    from conftest import run_cli
    demo, config, paper = kit
    binder = _add_binder(demo, config, "Område Syd")
    cfg = demo.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f'\n[printer]\nbackend = "command"\n'
                   f'command = ["sh", "-c", "cat > {paper}/job-$$.pdf"]\n', "utf-8")
    result = run_cli("print", "--kit", str(demo.home), "--unit", "Område Syd", "--password-stdin", "--json",
                     input=demo.passwords["pleje"] + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == [binder.path]
