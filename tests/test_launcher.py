"""The desktop launcher: a .desktop file that opens the print menu."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import run_cli


def test_launcher_opens_the_menu(demo_kit, tmp_path):
    result = run_cli("launcher", "install", "--kit", str(demo_kit.home), "--output", str(tmp_path / "Skrivebord"))
    assert result.exit_code == 0, result.output
    desktop = tmp_path / "Skrivebord" / "nodkit-udskriv.desktop"
    text = desktop.read_text("utf-8")
    assert "Name=Udskriv nødlister" in text and "Terminal=true" in text
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert exec_line.endswith(f"launcher open --kit {demo_kit.home}") or f'"{demo_kit.home}"' in exec_line
    program = exec_line[5:].split(" ")[0]
    assert Path(program).exists()  # an absolute path that works without PATH set up
    if subprocess.run(["which", "desktop-file-validate"], capture_output=True).returncode == 0:
        subprocess.run(["desktop-file-validate", str(desktop)], check=True)


def test_launcher_opens_the_kiosk_in_app_mode_or_falls_back(demo_kit):
    from nodkit.config.settings import load_config
    from nodkit.staff.launcher import browser_command, open_kiosk
    config = load_config(demo_kit.home)
    url = "http://127.0.0.1:8631/"
    chromium = browser_command(url, which=lambda n: "/usr/bin/chromium" if n == "chromium" else None)
    assert chromium[0] == "/usr/bin/chromium" and f"--app={url}" in chromium and "--kiosk" in chromium
    firefox = browser_command(url, which=lambda n: "/usr/bin/firefox" if n == "firefox" else None)
    assert firefox == ["/usr/bin/firefox", "--kiosk", "--private-window", url]
    started = []
    # no browser at all: the text menu, and no server started for nothing
    assert open_kiosk(config, 1, which=lambda n: None, popen=lambda *a, **k: started.append(a)) is False
    assert not started
    # a browser, but the kiosk never answers (the started command is not run here): text menu
    assert open_kiosk(config, 1, wait=0.5, which=lambda n: "/usr/bin/chromium" if n == "chromium" else None,
                      popen=lambda argv, **k: started.append(argv)) is False
    assert started and started[0][-4:] == ["--kit", str(config.home), "--port", "1"] and "kiosk" in started[0]
