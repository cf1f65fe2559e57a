"""The print kiosk in a real browser (Debian's chromium, headless, via chromium-driver and selenium)
against the kiosk served on a free loopback port, printing to a private cupsd with a cups-pdf queue.

One browser and one kiosk for the module. Screenshots of every screen go to
test-artifacts/kiosk/ (gitignored); docs/img/ holds reduced copies of the main ones.
In CI (CI=true) a missing chromium/chromedriver fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, pdftotext
from cupsfixture import _unavailable, cups  # noqa: F401

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = ROOT / "test-artifacts" / "kiosk"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1100,900")


@pytest.fixture(scope="module")
def kit(_demo_template, tmp_path_factory):
    """A module-wide copy of the demo kit (the browser session spans several tests)."""
    from conftest import DemoKit
    base = tmp_path_factory.mktemp("kiosk-kit")
    home = base / "kit"
    shutil.copytree(_demo_template.home, home, symlinks=True)
    (home / "store" / ".lock").unlink(missing_ok=True)
    return DemoKit(home=home, sources=_demo_template.sources, passwords=dict(_demo_template.passwords),
                   export=_demo_template.export)


@pytest.fixture(scope="module")
def kiosk(kit, cups):
    from werkzeug.serving import make_server
    from nodkit.config.settings import load_config
    from nodkit.staff.kiosk import Kiosk, create_app
    old = os.environ.get("CUPS_SERVER")
    os.environ["CUPS_SERVER"] = cups.env["CUPS_SERVER"]  # the kiosk's lp/lpstat reach the private cupsd
    k = Kiosk(load_config(kit.home), queue=cups.queue)
    server = make_server("127.0.0.1", 0, create_app(k), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    k.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield k
    finally:
        server.shutdown()
        if old is None:
            os.environ.pop("CUPS_SERVER", None)
        else:
            os.environ["CUPS_SERVER"] = old


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or not Path(DRIVER).exists():
        _unavailable("chromium/chromium-driver not installed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
    except ImportError:
        _unavailable("selenium not installed (pip install -e '.[test]')")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or driver
    profile = tempfile.mkdtemp(prefix="nodkit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.implicitly_wait(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _by(kind: str):
    from selenium.webdriver.common.by import By
    return getattr(By, kind)


def _wait_text(driver, css: str, pattern: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        found = driver.find_elements(_by("CSS_SELECTOR"), css)
        text = found[0].text if found else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.3)
        if not found or "Sender" in text:
            driver.refresh()
    raise AssertionError(f"{css}: {pattern!r} not shown; last text: {text!r}")


def _shot(driver, name: str) -> None:
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _open_binder(browser, kiosk, unit: str = "Område Nord") -> None:
    browser.get(kiosk.url + "/")
    browser.find_element(_by("LINK_TEXT"), unit).click()
    browser.find_element(_by("CSS_SELECTOR"), "a.choice.binder").click()


def test_click_unit_binder_password_two_copies_printed(browser, kiosk, kit, cups):
    before = cups.printed()
    browser.get(kiosk.url + "/")
    assert "FRISKE" in browser.find_element(_by("ID"), "freshness").text
    _shot(browser, "1-enheder")
    browser.find_element(_by("LINK_TEXT"), "Område Nord").click()
    choices = [e.text for e in browser.find_elements(_by("CSS_SELECTOR"), "a.choice")]
    assert choices[0].startswith("Samlet mappe") and "59 sider" in choices[0] and "Data pr." in choices[0]
    _shot(browser, "2-lister")
    browser.find_element(_by("CSS_SELECTOR"), "a.choice.binder").click()
    assert "Køreliste" in browser.find_element(_by("CSS_SELECTOR"), ".hint").text
    _shot(browser, "3-adgangskode")
    browser.find_element(_by("ID"), "password").send_keys(kit.passwords["pleje"])
    browser.find_element(_by("ID"), "show").click()
    image = browser.find_element(_by("ID"), "preview")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 100
    _shot(browser, "3-forhaandsvisning")
    assert kit.passwords["pleje"] not in browser.page_source and kit.passwords["pleje"] not in browser.current_url
    browser.find_element(_by("CSS_SELECTOR"), "label.copy:nth-of-type(2) span").click()  # 2 copies by touch/click
    browser.find_element(_by("ID"), "print").click()
    text = _wait_text(browser, "#job", r"Udskrevet")  # CUPS reported the job completed (nodkit.printing.jobs)
    assert "Udskrevet: 118 sider" in text, text  # 59 pages × 2 copies, as CUPS counted them
    _shot(browser, "4-udskrevet")
    assert "×" in browser.find_element(_by("CSS_SELECTOR"), ".sub").text
    [paper] = cups.wait_for_new(before)
    info = subprocess.run(["pdfinfo", str(paper)], capture_output=True, text=True).stdout
    assert re.search(r"Pages:\s+(59|118)\b", info), info  # the binder; the copies are one job with copies=2
    assert "Nødmappe" in pdftotext(paper, None) or "dmappe" in pdftotext(paper, None)
    import json
    last = json.loads((kit.home / "audit.log").read_text().splitlines()[-1])
    assert last["action"] == "print" and last["copies"] == 2 and last["files"] == ["pleje/Område Nord/binder.pdf"]


def test_wrong_password_prints_nothing_and_says_so(browser, kiosk, kit, cups):
    before = cups.printed()
    _open_binder(browser, kiosk)
    browser.find_element(_by("ID"), "password").send_keys("forkert-kode")
    browser.find_element(_by("ID"), "print").click()
    assert "Forkert adgangskode" in browser.find_element(_by("ID"), "error").text
    _shot(browser, "3-forkert-adgangskode")
    time.sleep(1)
    assert cups.printed() == before


def test_stale_set_shows_a_red_banner_in_words(browser, kiosk):
    import datetime as dt
    real = kiosk.now
    later = real() + dt.timedelta(days=3, hours=2)
    kiosk.now = lambda: later
    try:
        browser.get(kiosk.url + "/")
        banner = browser.find_element(_by("ID"), "freshness")
        assert "FORÆLDET" in banner.text and "3 dage gamle" in banner.text
        assert "banner-bad" in banner.get_attribute("class")
        _shot(browser, "1-forældet")
    finally:
        kiosk.now = real


def test_paused_printer_is_shown_and_nothing_prints(browser, kiosk, kit, cups):
    before = cups.printed()
    cups.run("cupsdisable", cups.queue)
    try:
        _open_binder(browser, kiosk)
        assert "pause" in browser.find_element(_by("ID"), "printer").text
        browser.find_element(_by("ID"), "password").send_keys(kit.passwords["pleje"])
        browser.find_element(_by("ID"), "print").click()
        text = _wait_text(browser, "#job", r"pause|ikke udskrevet|Venter", timeout=60)
        assert "Udskrevet" not in text
        _shot(browser, "4-printer-pause")
    finally:
        cups.run("cupsenable", cups.queue)
    time.sleep(1)
    assert cups.printed() == before


def test_drill_prints_one_marked_page(browser, kiosk, kit, cups):
    import json
    before = cups.printed()
    _open_binder(browser, kiosk, "Område Syd")
    browser.find_element(_by("ID"), "password").send_keys(kit.passwords["pleje"])
    browser.find_element(_by("ID"), "drill").click()
    _wait_text(browser, "#job", r"Udskrevet")
    _shot(browser, "4-oevelse")
    [paper] = cups.wait_for_new(before)
    info = subprocess.run(["pdfinfo", str(paper)], capture_output=True, text=True).stdout
    assert re.search(r"Pages:\s+1\b", info)
    text = pdftotext(paper, None)
    assert "VELSE" in text and kit.latest in text  # "ØVELSE – ikke til brug" (ø may not survive PS→PDF)
    last = json.loads((kit.home / "audit.log").read_text().splitlines()[-1])
    assert last["action"] == "drill" and last["result"] == "ok" and last["files"] == ["pleje/Område Syd/binder.pdf"]


def test_keyboard_only_and_large_type(browser, kiosk):
    from selenium.webdriver.common.keys import Keys
    browser.get(kiosk.url + "/")
    size = browser.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 18
    # Tab through the page until the first unit tile has the focus, then Enter: screen 2
    body = browser.find_element(_by("TAG_NAME"), "body")
    for _ in range(12):
        body.send_keys(Keys.TAB) if _ == 0 else browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.get_attribute("class") == "tile":
            break
    focused = browser.switch_to.active_element
    assert focused.get_attribute("class") == "tile"
    unit = focused.text
    focused.send_keys(Keys.ENTER)
    assert f"Hvad skal udskrives for {unit}" in browser.find_element(_by("TAG_NAME"), "h1").text


def test_nodkit_drill_from_the_command_line(kit, cups):
    import json
    from conftest import run_cli
    before = cups.printed()
    result = run_cli("drill", "--kit", str(kit.home), "--unit", "Område Vest", "--printer", cups.queue,
                     "--password-stdin", "--json", input=kit.passwords["pleje"] + "\n", env=cups.env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["checked"] == [{"list": "Samlet mappe (alle lister)", "pages": 59}]
    [paper] = cups.wait_for_new(before)
    assert "VELSE" in pdftotext(paper, None)
    wrong = run_cli("drill", "--kit", str(kit.home), "--unit", "Område Vest", "--printer", cups.queue,
                    "--password-stdin", input="forkert\n", env=cups.env)
    assert wrong.exit_code == 16 and "Forkert adgangskode" in wrong.stderr
    last = json.loads((kit.home / "audit.log").read_text().splitlines()[-1])
    assert last["action"] == "drill" and last["result"].startswith("fejl")
    report = run_cli("verify", "--kit", str(kit.home), "--json", env=cups.env)
    assert json.loads(report.stdout)["drill_days"]["pleje/Område Vest"] < 1
