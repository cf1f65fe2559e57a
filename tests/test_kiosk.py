"""The print kiosk's guards and rules, through Flask's test client on a real demo kit.

The browser path with real CUPS is tests/test_kiosk_browser.py; here: loopback
only, CSRF before passwords, no-store, no CPR number or password in any
response, wrong passwords audited and rate-limited, the unlocked audience
forgotten after 2 minutes idle and after printing, previews audited, Windows
without a print backend, drills and their days in verify/Prometheus.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sys
from pathlib import Path

import pytest

from conftest import run_cli

CPR = re.compile(rb"\b\d{6}-?\d{4}\b")


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def kiosk(demo_kit, tmp_path):
    from nodkit.config.settings import load_config
    from nodkit.staff.kiosk import Kiosk, create_app
    config = load_config(demo_kit.home)
    sink = tmp_path / "paper.count"
    # a print command that reads the PDF and only counts it (nothing plain lands on disk)
    command = (sys.executable, "-c", f"import sys; d=sys.stdin.buffer.read(); "
                                     f"open({str(sink)!r},'a').write(str(len(d))+'\\n')")
    config = dataclasses.replace(config, printer=dataclasses.replace(config.printer, backend="command",
                                                                     command=command))
    clock = Clock()
    k = Kiosk(config, clock=clock)
    app = create_app(k)
    client = app.test_client()
    k.test = {"clock": clock, "sink": sink, "client": client, "kit": demo_kit}
    return k


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


NORD = "/enhed/pleje/Omr%C3%A5de%20Nord"


def _binder_url(client) -> str:
    page = client.get(NORD).get_data(as_text=True)
    return re.search(r'href="(/valg/[^"]+/0)"', page).group(1)


def _audit(kit) -> list[dict]:
    return [json.loads(line) for line in (kit.home / "audit.log").read_text().splitlines()]


def test_non_loopback_peer_and_host_are_refused(kiosk):
    c = kiosk.test["client"]
    assert c.get("/", environ_base={"REMOTE_ADDR": "192.168.1.20"}).status_code == 403
    assert c.get("/it", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 403
    assert c.get("/", headers={"Host": "evil.example:8631"}).status_code == 403
    ok = c.get("/")
    assert ok.status_code == 200 and "Område Nord" in ok.get_data(as_text=True)
    assert c.get("/", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_post_without_csrf_is_403_before_the_password_is_looked_at(kiosk):
    c, kit = kiosk.test["client"], kiosk.test["kit"]
    url = _binder_url(c)
    before = len(_audit(kit)) if (kit.home / "audit.log").exists() else 0
    for form in ({"password": "wrong", "handling": "udskriv"}, {"password": "wrong", "csrf": "x" * 43}):
        r = c.post(url, data=form)
        assert r.status_code == 403
    after = len(_audit(kit)) if (kit.home / "audit.log").exists() else 0
    assert after == before  # not even a wrong-password record: the password was never tried
    assert not kiosk.test["sink"].exists()


def test_print_path_no_store_and_nothing_secret_in_any_response(kiosk):
    c, kit = kiosk.test["client"], kiosk.test["kit"]
    password = kit.passwords["pleje"]
    responses = []

    def get(url):
        r = c.get(url)
        responses.append(r)
        return r

    home = get("/")
    assert "Hjemmeplejen" in home.get_data(as_text=True) and "Skoler" in home.get_data(as_text=True)
    assert "Vestre Skole" in get("/?q=vestre").get_data(as_text=True)
    assert "Område Nord" not in get("/?q=vestre").get_data(as_text=True)
    lists = get(NORD).get_data(as_text=True)
    assert lists.index("Samlet mappe") < lists.index("Køreliste")  # binder first
    assert "59 sider" in lists and "Data pr." in lists
    url = _binder_url(c)
    page = get(url).get_data(as_text=True)
    assert "Køreliste" in page and "Medicinoversigt" in page  # which lists the password opens
    r = c.post(url, data={"csrf": _csrf(page), "password": password, "handling": "vis"})
    responses.append(r)
    assert r.status_code == 303 and password not in r.headers["Location"]
    page = get(url).get_data(as_text=True)
    assert 'id="preview"' in page and 'type="password"' not in page
    png = get(re.search(r'src="(/forside-billede/[^"]+)"', page).group(1))
    assert png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert _audit(kit)[-1]["action"] == "preview" and _audit(kit)[-1]["result"] == "ok"
    r = c.post(url, data={"csrf": _csrf(page), "copies": "2", "handling": "udskriv"})
    responses.append(r)
    assert r.status_code == 303
    job_url = r.headers["Location"]
    for _ in range(200):
        job = get(job_url).get_data(as_text=True)
        if "Sender" not in job:
            break
        import time
        time.sleep(0.05)
    # a print command cannot be followed: "Sendt", never "Udskrevet"
    assert "Sendt" in job and "Udskrevet" not in job
    assert kiosk.test["sink"].read_text().count("\n") == 2  # two copies, one command each
    record = _audit(kit)[-1]
    assert record["action"] == "print" and record["copies"] == 2 and record["files"] == ["pleje/Område Nord/binder.pdf"]
    # printing ended the unlocked session: the password is needed again
    assert 'type="password"' in get(url).get_data(as_text=True)
    assert get(png.request.path).status_code == 403
    get("/it")
    for r in responses:
        assert r.headers["Cache-Control"] == "no-store", r.request.path
        body = r.get_data()
        assert password.encode() not in body, r.request.path
        if r.mimetype != "image/png":
            assert not CPR.search(body), r.request.path
    assert password not in (kit.home / "audit.log").read_text()
    logs = "".join(p.read_text(errors="replace") for p in (kit.home / "logs").glob("*"))
    assert password not in logs


def test_wrong_passwords_audited_and_slowed_down(kiosk):
    c, kit, clock = kiosk.test["client"], kiosk.test["kit"], kiosk.test["clock"]
    url = _binder_url(c)
    csrf = _csrf(c.get(url).get_data(as_text=True))
    for _ in range(3):
        r = c.post(url, data={"csrf": csrf, "password": "forkert-kode", "handling": "udskriv"})
        assert "Forkert adgangskode" in r.get_data(as_text=True)
    wrong = [r for r in _audit(kit) if r["result"] == "fejl: forkert adgangskode"]
    assert len(wrong) == 3
    # now even the right password must wait; a new cookie does not help
    c.delete_cookie("nodkit_kiosk")
    csrf = _csrf(c.get(url).get_data(as_text=True))
    r = c.post(url, data={"csrf": csrf, "password": kit.passwords["pleje"], "handling": "vis"})
    assert r.status_code == 429 and "Vent 5 sekunder" in r.get_data(as_text=True)
    assert len([r for r in _audit(kit) if r["result"] == "fejl: forkert adgangskode"]) == 3
    clock.t += 6
    r = c.post(url, data={"csrf": csrf, "password": kit.passwords["pleje"], "handling": "vis"})
    assert r.status_code == 303
    assert not kiosk.test["sink"].exists()


def test_unlocked_audience_forgotten_after_two_minutes_idle(kiosk):
    c, kit, clock = kiosk.test["client"], kiosk.test["kit"], kiosk.test["clock"]
    url = _binder_url(c)
    csrf = _csrf(c.get(url).get_data(as_text=True))
    assert c.post(url, data={"csrf": csrf, "password": kit.passwords["pleje"], "handling": "vis"}).status_code == 303
    clock.t += 100
    assert 'id="preview"' in c.get(url).get_data(as_text=True)  # still in use
    clock.t += 121
    page = c.get(url).get_data(as_text=True)
    assert 'id="preview"' not in page and 'type="password"' in page
    # printing without the password now is refused, nothing is sent
    r = c.post(url, data={"csrf": csrf, "copies": "1", "handling": "udskriv"})
    assert r.status_code == 200 and "Skriv adgangskoden" in r.get_data(as_text=True)
    assert not kiosk.test["sink"].exists()


def test_windows_without_print_backend_says_so_first(demo_kit):
    from nodkit.config.settings import load_config
    from nodkit.staff.kiosk import Kiosk, create_app
    k = Kiosk(load_config(demo_kit.home), platform="win32")
    page = create_app(k).test_client().get("/").get_data(as_text=True)
    assert "KAN IKKE UDSKRIVE HER" in page and "PDF-læser" in page
    assert "/enhed/" not in page  # nothing is asked


def test_stale_set_banner_is_red_with_words(demo_kit):
    from nodkit.config.settings import load_config
    from nodkit.staff.kiosk import Kiosk, create_app
    config = load_config(demo_kit.home)
    later = config.now() + dt.timedelta(days=3, hours=1)
    page = create_app(Kiosk(config, now=lambda: later)).test_client().get("/").get_data(as_text=True)
    assert "banner-bad" in page and "FORÆLDET" in page and "3 dage gamle" in page
    assert "ring og tjek medicin og adgang" in page.lower()


def test_kiosk_refuses_a_non_loopback_host(demo_kit):
    result = run_cli("kiosk", "--kit", str(demo_kit.home), "--host", "0.0.0.0")
    assert result.exit_code != 0 and "not a loopback address" in result.stderr


def test_drill_days_in_verify_and_prometheus(demo_kit, tmp_path):
    from nodkit.config.settings import load_config
    from nodkit.monitoring.prometheus import render
    from nodkit.monitoring.verify import verify_kit
    from nodkit.printing.audit import AuditLog
    config = load_config(demo_kit.home)
    now = config.now()
    report = verify_kit(config, now)
    assert report.drill_days["pleje/Område Nord"] is None
    assert not [p for p in report.problems if p.kind == "drill"]  # a new kit is not behind on drills
    AuditLog(config.home).append(action="drill", set_id=demo_kit.latest, files=["pleje/Område Nord/binder.pdf"],
                                 pages=1, printer="x", copies=1, result="ok", now=now - dt.timedelta(days=40))
    report = verify_kit(config, now, health=True)
    drills = [p for p in report.problems if p.kind == "drill"]
    assert any(p.path == "pleje/Område Nord" and "40 days ago" in p.message for p in drills)
    assert round(report.drill_days["pleje/Område Nord"]) == 40
    text = render(report)
    assert 'nodkit_drill_age_days{kit="' in text and 'unit="Område Nord"' in text


def test_one_missed_export_gives_a_yellow_banner(demo_kit):
    from nodkit.config.settings import load_config
    from nodkit.monitoring.verify import verify_kit
    from nodkit.staff.kiosk import Kiosk, create_app
    # exports at 05:00 and 14:00, so that "one missed, not two" lasts hours (the 30-minute default
    # misses its second run within the first one's grace)
    (demo_kit.home / "schedules").mkdir(exist_ok=True)
    (demo_kit.home / "schedules" / "default.toml").write_text('format_version = 1\nuse = "twice-daily"\n')
    config = load_config(demo_kit.home)
    # the first export due after LATEST was made (asked at that moment: asked now, a run within its
    # grace period right after 05:00 would make the next one 14:00, and two missed is red)
    from nodkit.store.sets import Store
    store = Store(config.store)
    due = verify_kit(config, store.load(store.latest_id()).created_at, health=True).next_due
    later = due + dt.timedelta(hours=2)  # past the grace period of the next export, before the one after
    page = create_app(Kiosk(config, now=lambda: later)).test_client().get("/").get_data(as_text=True)
    assert "banner-warn" in page and "ADVARSEL" in page and "En planlagt eksport mangler" in page


def _luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_css_colours_meet_wcag_aa_and_type_is_large():
    from nodkit.staff import kiosk
    css = (Path(kiosk.__file__).parent / "static" / "kiosk.css").read_text("utf-8")
    variables = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{3,6})", css))
    pairs = 0
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        bg = re.search(r"background:\s*(#[0-9a-fA-F]{3,6}|var\(--[a-z]+\))", body)
        fg = re.search(r"(?<![-a-z])color:\s*(#[0-9a-fA-F]{3,6}|var\(--[a-z]+\))", body)
        if not (bg and fg):
            continue
        colours = [variables[v[6:-1]] if v.startswith("var(") else v for v in (bg.group(1), fg.group(1))]
        a, b = sorted((_luminance(c) for c in colours), reverse=True)
        assert (a + 0.05) / (b + 0.05) >= 4.5, (selector.strip(), colours)
        pairs += 1
    assert pairs >= 8
    assert re.search(r"html\s*\{\s*font-size:\s*20px", css)


def test_windows_text_menu_says_so_before_asking(demo_kit, monkeypatch):
    from nodkit.config.settings import load_config
    from nodkit.errors import PrintError
    from nodkit.staff.menu import run_menu
    monkeypatch.setattr(sys, "platform", "win32")
    asked = []
    with pytest.raises(PrintError, match="PDF-læser"):
        run_menu(load_config(demo_kit.home), ask=asked.append, ask_secret=asked.append, say=lambda _t: None)
    assert not asked


def test_it_page_has_the_status_facts(kiosk):
    page = kiosk.test["client"].get("/it").get_data(as_text=True)
    latest = kiosk.test["kit"].latest
    assert "Newest set (LATEST)" in page and latest in page and "OK" in page and "Printer" in page
