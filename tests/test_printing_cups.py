"""Real printing: a private cupsd with a cups-pdf queue (tests/cupsfixture.py),
`nodkit print` scripted and through the menu."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import list_text, pdftotext, run_cli
from cupsfixture import LPADMIN, PPD, _unavailable, cups  # noqa: F401  (the module's private cupsd)

NODKIT = Path(sys.executable).with_name("nodkit")


def _ascii_names(text: str, count: int = 4) -> list[str]:
    """Person names from a list's own text that survive the spooler's PDF→PS→PDF round trip
    (text extraction drops letters like ø from the re-encoded fonts)."""
    names = re.findall(r"\b([A-Z][a-z]{2,} (?:[A-Z][a-z]{2,}))\b", text)
    skip = {"Data pr", "Side"}
    found = []
    for n in names:
        if n not in found and not any(n.startswith(s) for s in skip):
            found.append(n)
    assert len(found) >= count, f"too few plain-ASCII names in the list: {found}"
    return found[:count]


def _care_route(demo_kit) -> tuple[str, dict]:
    """The text of Område Nord's care route (its pages of the unit's binder), and its entry."""
    entry = next(f for f in demo_kit.files() if f["template"] == "care-route" and f["unit"] == "Område Nord")
    return list_text(entry, demo_kit.passwords["pleje"]), entry


def test_scripted_print_reaches_the_printer_with_the_names(demo_kit, cups):
    """A list stored as pages of its unit's binder (store format 4) prints as exactly those pages."""
    text, entry = _care_route(demo_kit)
    expected = _ascii_names(text)
    first, last = entry["first_page"], entry["first_page"] + entry["pages"] - 1
    binder = Path(entry["path"])
    assert binder.name == "binder.pdf" and not (binder.parent / "care-route.pdf").exists()
    before_text = pdftotext(binder, demo_kit.passwords["pleje"], first - 1)  # the page before: cover or another list
    after_text = pdftotext(binder, demo_kit.passwords["pleje"], last + 1)
    before = cups.printed()
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--template", "care-route",
                     "--printer", cups.queue, "--password-stdin", "--json",
                     input=demo_kit.passwords["pleje"] + "\n", env=cups.env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["printer"] == cups.queue and data["pages"] == entry["pages"] and data["jobs"][0]
    [paper] = cups.wait_for_new(before)
    text = pdftotext(paper, None)  # the spooler's output: what came out of the printer
    for name in expected:
        assert name in text
    info = subprocess.run(["pdfinfo", str(paper)], capture_output=True, text=True).stdout
    assert re.search(rf"Pages:\s+{entry['pages']}\b", info)
    page_one = pdftotext(paper, None, 1)
    # the spooler's fonts lose "ø", "å" and "·" in text extraction: "K reliste – Omr de Nord"
    assert re.search(r"K.{0,2}reliste\s+.{0,4}Omr.{0,2}de Nord", page_one), page_one
    assert f"Side 1 af {entry['pages']}" in page_one and "Nord/care-route.pdf side 1 " in page_one
    # every page is the care route's own (its footer names its list file), none of its neighbours'
    assert text.count("care-route.pdf") == entry["pages"]
    for other in (before_text, after_text):
        neighbour = re.search(r"· ([^·]+\.pdf) · side", other)  # e.g. "Område Nord/binder.pdf" (contents)
        assert neighbour and "care-route" not in neighbour.group(1), other
        assert neighbour.group(1).split("/")[-1] not in text
    records = [json.loads(line) for line in (demo_kit.home / "audit.log").read_text().splitlines()]
    assert records[-1]["action"] == "print" and records[-1]["result"] == "ok"
    assert records[-1]["printer"] == cups.queue
    assert records[-1]["files"] == [f"pleje/Område Nord/binder.pdf side {first}–{last} (care-route)"]
    assert run_cli("audit", "verify", "--kit", str(demo_kit.home)).exit_code == 0


def test_wrong_password_prints_nothing(demo_kit, cups):
    before = cups.printed()
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--template", "care-route",
                     "--printer", cups.queue, "--password-stdin", input="not-the-password\n", env=cups.env)
    assert result.exit_code == 16
    assert "Forkert adgangskode" in result.stderr
    assert not cups.run("lpstat", "-o", cups.queue, check=False).stdout.strip()
    time.sleep(1)  # a job, had one been sent, would have reached cups-pdf by now
    assert cups.printed() == before
    last = json.loads((demo_kit.home / "audit.log").read_text().splitlines()[-1])
    assert last["action"] == "decrypt" and last["result"].startswith("fejl")
    assert "not-the-password" not in (demo_kit.home / "audit.log").read_text()


def test_paused_queue_and_unknown_queue_are_explained(demo_kit, cups):
    cups.run("cupsdisable", cups.queue)
    try:
        result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--printer", cups.queue,
                         "--password-stdin", input=demo_kit.passwords["pleje"] + "\n", env=cups.env)
    finally:
        cups.run("cupsenable", cups.queue)
    assert result.exit_code == 16
    assert "pause" in result.stderr and f"cupsenable {cups.queue}" in result.stderr
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--printer", "no-such-queue",
                     "--password-stdin", input=demo_kit.passwords["pleje"] + "\n", env=cups.env)
    assert result.exit_code == 16
    assert "'no-such-queue' findes ikke" in result.stderr


def test_menu_in_a_real_terminal_submits_a_job(demo_kit, cups):
    pexpect = pytest.importorskip("pexpect")
    text, entry = _care_route(demo_kit)
    expected = _ascii_names(text, 2)
    before = cups.printed()
    env = {**os.environ, **cups.env, "NODKIT_HOME": str(demo_kit.home), "LANG": "C.UTF-8"}
    child = pexpect.spawn(str(NODKIT), ["print", "--printer", cups.queue], env=env, encoding="utf-8", timeout=30)
    transcript = io.StringIO()
    child.logfile_read = transcript
    try:
        child.expect("Enhed: ")
        menu = child.before
        number = re.search(r"(\d+)\s+Område Nord", menu).group(1)
        child.sendline("9")  # out of range: explained and asked again
        child.expect("Skriv et tal fra 1 til")
        child.expect("Enhed: ")
        child.sendline(number)
        child.expect(r"Valg \[1\]: ")
        number = re.search(r"(\d+)\s+Køreliste", child.before).group(1)
        child.sendline(number)
        child.expect("Adgangskode")
        child.sendline("forkert-kode")
        child.expect("Forkert adgangskode. Prøv igen")
        child.expect("Adgangskode")
        child.sendline(demo_kit.passwords["pleje"])
        child.expect(r"Hvor mange kopier\? \[1\]: ")
        child.sendline("")
        child.expect(f"Udskrevet: {entry['pages']} sider. Hent papiret ved printeren.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert demo_kit.passwords["pleje"] not in transcript.getvalue()  # hidden input is not echoed
    [paper] = cups.wait_for_new(before)
    text = pdftotext(paper, None)
    for name in expected:
        assert name in text


def _spool_job_files(cups) -> list[Path]:
    """Document files cupsd keeps in its spool (d<job>-<doc>): the plaintext PDFs."""
    return sorted((cups.root / "spool").glob("d*"))


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: nothing listens there


@pytest.fixture
def dead_queue(cups):
    """A queue whose device is unreachable (a loopback port nobody listens on), as a switched-off printer."""
    name = f"nodkit-dead-{secrets.token_hex(3)}"
    cups.run(LPADMIN, "-p", name, "-E", "-v", f"socket://127.0.0.1:{_closed_port()}", "-P", str(PPD))
    yield name
    cups.run(LPADMIN, "-x", name, check=False)


def _set_wait(home: Path, seconds: int) -> None:
    cfg = home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f"\n[printer]\nwait_seconds = {seconds}\n", "utf-8")


def test_unreachable_printer_is_not_printed_and_the_job_is_cancelled(demo_kit, cups, dead_queue):
    _set_wait(demo_kit.home, 5)
    result = run_cli("print", "--kit", str(demo_kit.home), "--unit", "Område Nord", "--template", "care-route",
                     "--printer", dead_queue, "--password-stdin", "--json",
                     input=demo_kit.passwords["pleje"] + "\n", env=cups.env)
    assert result.exit_code == 16, result.output
    assert "Printeren svarer ikke – tjek at den er tændt og har papir." in result.stderr
    assert "Der er ikke udskrevet noget" in result.stderr and "annulleret" in result.stderr
    data = json.loads(result.stdout)
    assert data["printed"] is False and data["outcomes"][0]["state"] == "waiting"
    assert data["outcomes"][0]["cancelled"] is True
    assert not cups.run("lpstat", "-o", dead_queue, check=False).stdout.strip()  # nothing left to come out later
    assert not _spool_job_files(cups)
    last = json.loads((demo_kit.home / "audit.log").read_text().splitlines()[-1])
    assert last["action"] == "print" and last["result"].startswith("fejl: waiting (annulleret)")


def test_printer_paused_after_the_check_cancels_the_job(demo_kit, cups):
    from nodkit.printing import jobs
    cups.run("cupsdisable", cups.queue)
    old = os.environ.get("CUPS_SERVER")
    os.environ["CUPS_SERVER"] = cups.env["CUPS_SERVER"]
    try:
        assert jobs.printer_problem(cups.queue)[0] == "Printeren er sat på pause og udskriver ikke."
        job = jobs.submit(b"%PDF-1.4 not a real document", "nodkit test", 1, queue=cups.queue)
        outcome = jobs.watch(job, timeout=5)
    finally:
        cups.run("cupsenable", cups.queue)
        os.environ.pop("CUPS_SERVER") if old is None else os.environ.__setitem__("CUPS_SERVER", old)
    assert outcome.state == "waiting" and not outcome.printed and outcome.cancelled
    assert outcome.message.startswith("Printeren er sat på pause og udskriver ikke. Der er ikke udskrevet noget.")
    assert "paused" in outcome.detail
    assert not cups.run("lpstat", "-o", cups.queue, check=False).stdout.strip()
    assert not _spool_job_files(cups)


class Tmux:
    """The menu in a real 80x24 terminal (tmux on its own server socket); the screen is read back as text."""

    def __init__(self, argv: list[str], env: dict):
        if not shutil.which("tmux"):
            _unavailable("tmux not installed")
        self.socket = f"nodkit-{secrets.token_hex(4)}"
        envs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-x", "80", "-y", "24", *envs,
                        "-s", "menu", " ".join(f"'{a}'" for a in argv) + "; sleep 30"], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p", "-t", "menu"],
                              capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on the screen:\n{self.screen()}")

    def type(self, keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", "menu", "-l", keys], check=True)
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", "menu", "Enter"], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def test_menu_says_not_printed_and_offers_another_printer_in_a_terminal(demo_kit, cups, dead_queue):
    _set_wait(demo_kit.home, 5)
    before = cups.printed()
    env = {**cups.env, "NODKIT_HOME": str(demo_kit.home), "LANG": "C.UTF-8", "PATH": os.environ["PATH"]}
    term = Tmux([str(NODKIT), "print", "--printer", dead_queue], env)
    try:
        screen = term.wait_for("Enhed:")
        term.type(re.search(r"(\d+)\s+Område Nord", screen).group(1))
        screen = term.wait_for("Valg [1]:")
        term.type(re.search(r"(\d+)\s+Køreliste", screen).group(1))
        term.wait_for("Adgangskode")
        term.type("")  # an empty Enter is asked again, not a wrong try
        term.wait_for("Skriv adgangskoden fra kuverten")
        term.type(demo_kit.passwords["pleje"])
        term.wait_for("Hvor mange kopier? [1]:")
        term.type("")
        screen = term.wait_for("Hvad vil du gøre?")
        flat = " ".join(screen.split())  # the terminal wraps long lines at 80 columns
        assert "Printeren svarer ikke – tjek at den er tændt og har papir." in flat
        assert "Der er ikke udskrevet noget" in flat and "annulleret" in flat
        assert "Prøv igen på samme printer" in screen
        term.type(re.search(rf"(\d+)\s+Udskriv på {re.escape(cups.queue)}", screen).group(1))
        screen = term.wait_for("Hent papiret ved printeren.")
        assert re.search(r"Udskrevet: \d+ sider\.", screen)
        assert demo_kit.passwords["pleje"] not in screen
        assert not re.search(r"Traceback|Error|error:", screen)  # no English on the staff screen
    finally:
        term.close()
    assert cups.wait_for_new(before)
    assert not cups.run("lpstat", "-o", dead_queue, check=False).stdout.strip()
    results = [json.loads(line)["result"] for line in (demo_kit.home / "audit.log").read_text().splitlines()]
    assert results[-2].startswith("fejl: waiting (annulleret)") and results[-1] == "ok"


def _unwrap(screen: str) -> str:
    """The screen's text with the terminal's own wrapping undone: a full 80-column row runs on into the next."""
    out = ""
    for line in screen.splitlines():
        out += line if len(line) >= 80 else line.rstrip() + " "
    return " ".join(out.split())


ENGLISH = re.compile(r"Traceback|Error|error|WARNING|warning|interrupted|aborted|Aborted|nodkit:|Usage:")


def _menu_env(demo_kit, cups) -> dict:
    return {**cups.env, "NODKIT_HOME": str(demo_kit.home), "LANG": "C.UTF-8", "PATH": os.environ["PATH"]}


def _pick_unit(term: Tmux, unit: str = "Område Nord") -> None:
    term.type(re.search(rf"(\d+)\s+{unit}", term.wait_for("Enhed:")).group(1))


def _ctrl_c(term: Tmux) -> None:
    subprocess.run(["tmux", "-L", term.socket, "send-keys", "-t", "menu", "C-c"], check=True)


def _audit_results(home: Path) -> list[str]:
    return [json.loads(line)["result"] for line in (home / "audit.log").read_text().splitlines()]


def test_ctrl_c_at_a_question_says_in_danish_that_nothing_is_sent(demo_kit, cups):
    env = _menu_env(demo_kit, cups)
    term = Tmux([str(NODKIT), "print", "--printer", cups.queue, "--pause"], env)
    try:
        _pick_unit(term)
        term.wait_for("Valg [1]:")
        _ctrl_c(term)
        screen = term.wait_for("Tryk Enter for at lukke vinduet.")
        assert "Afbrudt. Der sendes ikke noget til printeren." in screen
        assert not ENGLISH.search(screen), screen
    finally:
        term.close()


def test_ctrl_c_while_a_job_is_followed_cancels_it_and_is_audited(demo_kit, cups, dead_queue):
    """A switched-off printer, the person gives up with Ctrl-C: the job must not come out hours later."""
    _set_wait(demo_kit.home, 120)
    env = _menu_env(demo_kit, cups)
    term = Tmux([str(NODKIT), "print", "--printer", dead_queue, "--pause"], env)
    try:
        _pick_unit(term)
        screen = term.wait_for("Valg [1]:")
        term.type(re.search(r"(\d+)\s+Køreliste", screen).group(1))
        term.wait_for("Adgangskode")
        term.type(demo_kit.passwords["pleje"])
        term.wait_for("Hvor mange kopier? [1]:")
        term.type("")
        term.wait_for("Vent, til printeren er færdig")
        deadline = time.monotonic() + 15
        while not cups.run("lpstat", "-o", dead_queue, check=False).stdout.strip():
            assert time.monotonic() < deadline, "the job never reached the queue"
            time.sleep(0.2)
        _ctrl_c(term)
        screen = term.wait_for("Tryk Enter for at lukke vinduet.")
        flat = _unwrap(screen)
        assert "Afbrudt. Udskriften er annulleret, så den ikke kommer ud senere." in flat
        assert not ENGLISH.search(screen), screen
    finally:
        term.close()
    assert not cups.run("lpstat", "-o", dead_queue, check=False).stdout.strip()  # nothing left to print later
    assert re.match(r"afbrudt: job\(s\) \S+ cancelled$", _audit_results(demo_kit.home)[-1])


def test_broken_kit_and_a_wrong_shortcut_are_said_in_danish(demo_kit, cups):
    """What the desktop icon shows when IT broke nodkit.toml, or an old icon passes an option that is gone."""
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace('name = "', 'name = ', 1), "utf-8")
    env = _menu_env(demo_kit, cups)
    term = Tmux([str(NODKIT), "launcher", "open", "--menu"], env)
    try:
        screen = term.wait_for("Tryk Enter for at lukke vinduet.")
        flat = _unwrap(screen)
        assert "nodkit er ikke sat rigtigt op på denne pc: indstillingerne kan ikke læses. Giv IT besked" in flat
        assert "Brug imens den trykte nødmappe" in flat
        assert not ENGLISH.search(screen), screen
    finally:
        term.close()
    log = (demo_kit.home / "logs" / "nodkit.log").read_text("utf-8")
    assert re.search(r"ERROR nodkit\.cli: ConfigError: .*nodkit\.toml:\d+: .*invalid TOML", log)  # the detail, for IT
    term = Tmux([str(NODKIT), "print", "--pause", "--copies", "two"], env)
    try:
        screen = term.wait_for("Tryk Enter for at lukke vinduet.")
        assert "Genvejen til udskrivning er sat forkert op." in screen
        assert not ENGLISH.search(screen), screen
    finally:
        term.close()


def test_launcher_without_a_browser_shows_no_english_log_lines(demo_kit, cups, tmp_path):
    """No browser on the PATH: the launcher falls back to the menu; its warning goes to the log only."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("lp", "lpstat", "cancel", "sleep", "sh"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f'\n[printer]\nqueue = "{cups.queue}"\n', "utf-8")
    env = {**cups.env, "NODKIT_HOME": str(demo_kit.home), "LANG": "C.UTF-8"}
    # PATH inside the command: tmux's login shell would set its own
    term = Tmux(["/usr/bin/env", f"PATH={bin_dir}", str(NODKIT), "launcher", "open", "--port", str(_closed_port())],
                env)
    try:
        screen = term.wait_for("Enhed:")
        assert "Åbner udskriftsmenuen i stedet for browseren." in screen
        assert not ENGLISH.search(screen), screen
        term.type("q")
        screen = term.wait_for("Afsluttet uden at udskrive.")
    finally:
        term.close()
    assert "launcher: no browser found" in (demo_kit.home / "logs" / "nodkit.log").read_text("utf-8")


def test_menu_cases_in_a_real_terminal(demo_kit, cups, dead_queue):
    """The menu's cases for a stressed person, as the 80x24 screen shows them: a paused printer before
    any question (no shell commands), a wrong audience's password, old lists repeated at the copies
    prompt on one line, more than 200 pages confirmed first, Danish plurals."""
    cups.run("cupsdisable", dead_queue)
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(re.sub(r"^max_age_hours = .*$", "max_age_hours = 0.0001", cfg.read_text("utf-8"), count=1,
                          flags=re.M), "utf-8")  # every list counts as old: the stale warnings show
    env = _menu_env(demo_kit, cups)
    term = Tmux([str(NODKIT), "print", "--printer", dead_queue], env)
    try:
        screen = term.wait_for("Valg [1]:")
        flat = _unwrap(screen)
        assert f"!!! Printeren er ikke klar: Printeren '{dead_queue}' er sat på pause og udskriver ikke." in flat
        assert "åbn listerne i en PDF-læser med adgangskoden fra kuverten" in flat
        assert "Enhed:" not in screen  # stopped before the questions
        assert not re.search(r"cupsenable|lpstat|systemctl|sudo|--\w", screen), screen  # no shell commands
        term.type("2")
        term.wait_for("Afsluttet uden at udskrive.")
    finally:
        term.close()
    term = Tmux([str(NODKIT), "print", "--printer", cups.queue], env)
    try:
        screen = term.wait_for("Enhed:")
        assert "!!! ADVARSEL: Listerne er" in screen
        term.type(re.search(r"(\d+)\s+Område Nord", screen).group(1))
        term.wait_for("Valg [1]:")
        term.type("")  # the binder
        term.wait_for("Adgangskode")
        term.type(demo_kit.passwords["skole"])
        screen = term.wait_for("ikke dette valg")
        assert re.search(r"Den adgangskode åbner listerne for Skoler", _unwrap(screen))
        term.type(demo_kit.passwords["pleje"])
        screen = term.wait_for("Hvor mange kopier? [1]:")
        husk = next(line for line in screen.splitlines() if line.startswith("!!! Husk: "))
        assert husk.rstrip().endswith("."), husk  # the reminder fits one 80-column line
        term.type("4")
        screen = term.wait_for("er du sikker? (j/n) [n]:")
        assert re.search(r"^2\d\d sider – er du sikker\? \(j/n\) \[n\]:", screen, re.M)  # 59 pages x 4
        term.type("n")
        screen = term.wait_for("Afsluttet uden at udskrive.")
        assert not ENGLISH.search(screen), screen
    finally:
        term.close()


def test_verify_checks_the_default_printer_when_no_queue_is_named(demo_kit, cups, dead_queue, tmp_path, monkeypatch):
    """A kit printing to the PC's default printer must get the same printer and spool checks as a named queue."""
    from nodkit.config.settings import PrinterConfig, load_config
    from nodkit.monitoring.verify import check_printer, check_spooler, printing_queue
    config = load_config(demo_kit.home)
    config.printer = PrinterConfig(backend="cups", queue=None)
    for key, value in cups.env.items():
        monkeypatch.setenv(key, value)
    assert printing_queue(config) is None  # no default printer: this PC does not print through CUPS
    cups.run(LPADMIN, "-d", dead_queue)  # removed with its queue after the test: no default again
    assert printing_queue(config) == dead_queue
    keeps = tmp_path / "cupsd.conf"
    keeps.write_text("LogLevel warn\n")  # PreserveJobFiles left at CUPS's default: a day of decrypted copies
    files_conf = tmp_path / "cups-files.conf"
    files_conf.write_text(f"RequestRoot {tmp_path}\n")
    [problem] = check_spooler(config, keeps, files_conf, queue=printing_queue(config))
    assert problem.kind == "spool" and "PreserveJobFiles" in problem.message
    assert check_printer(config, queue=printing_queue(config)) == []
    cups.run("cupsdisable", dead_queue)
    [paused] = check_printer(config, queue=printing_queue(config))
    assert paused.kind == "printer" and "disabled" in paused.message
