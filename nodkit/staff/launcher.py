"""The desktop launcher: one icon that opens the print page, or the print menu.

Linux: a freedesktop .desktop file with Terminal=true, so the desktop picks
the terminal. The command is the absolute path of this nodkit
`launcher open --kit HOME`: it starts the print kiosk (`nodkit kiosk`) on
127.0.0.1 if it does not answer yet, opens it full-screen in the installed
browser's kiosk/app mode (Chromium, Chrome, Edge, Firefox) and returns; when
no browser is found or the kiosk does not come up, the same terminal runs the
text menu (`nodkit print --pause`) instead, so the icon always leads to paper.
Windows: a shortcut, described in docs/printing.md.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from nodkit.config.settings import KitConfig
from nodkit.fsutil import write_atomic

log = logging.getLogger(__name__)

DESKTOP_NAME = "nodkit-udskriv.desktop"
KIOSK_PORT = 8631
# Browsers in order of preference, with their full-screen app/kiosk flags.
CHROMIUM_LIKE = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "microsoft-edge",
                 "microsoft-edge-stable")
FIREFOX = ("firefox", "firefox-esr")


def nodkit_command() -> list[str]:
    """How to start this nodkit: the console script next to the running Python, else python -m nodkit."""
    script = Path(sys.executable).with_name("nodkit")
    if script.exists():
        return [str(script)]
    found = shutil.which("nodkit")
    return [found] if found else [sys.executable, "-m", "nodkit"]


def _quote(arg: str) -> str:
    # Desktop Entry spec: arguments with reserved characters are double-quoted; \ " ` $ escaped
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'


def desktop_entry(config: KitConfig) -> str:
    argv = nodkit_command() + ["launcher", "open", "--kit", str(config.home)]
    exec_line = " ".join(_quote(a).replace("%", "%%") for a in argv)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.0\n"
        "Name=Udskriv nødlister\n"
        f"Comment=Udskriv nødlister fra {config.name}\n"
        f"Exec={exec_line}\n"
        "Terminal=true\n"
        "Icon=printer\n"
        "Categories=Office;\n"
    )


def write_desktop_file(config: KitConfig, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DESKTOP_NAME
    write_atomic(path, desktop_entry(config).encode("utf-8"))
    os.chmod(path, 0o755)  # GNOME/KDE run only executable (trusted) launchers from the desktop
    return path



def browser_command(url: str, which=shutil.which) -> list[str] | None:
    """The argv that opens `url` full-screen without address bar, or None when no browser is installed."""
    for name in CHROMIUM_LIKE:
        exe = which(name)
        if exe:
            return [exe, f"--app={url}", "--kiosk", "--no-first-run", "--disable-session-crashed-bubble",
                    "--disable-features=Translate", "--incognito"]
    for name in FIREFOX:
        exe = which(name)
        if exe:
            return [exe, "--kiosk", "--private-window", url]
    return None


def kiosk_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url + "it", timeout=timeout) as resp:  # noqa: S310 (loopback URL)
            return resp.status == 200
    except OSError:
        return False


def open_kiosk(config: KitConfig, port: int = KIOSK_PORT, *, wait: float = 15.0,
               which=shutil.which, popen=subprocess.Popen) -> bool:
    """Start the kiosk if needed and open it in a browser. False: use the text menu instead."""
    url = f"http://127.0.0.1:{port}/"
    browser = browser_command(url, which)
    if browser is None:
        log.warning("launcher: no browser found (%s); falling back to the text menu",
                    ", ".join(CHROMIUM_LIKE + FIREFOX))
        return False
    if not kiosk_answers(url):
        argv = nodkit_command() + ["kiosk", "--kit", str(config.home), "--port", str(port)]
        popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
              start_new_session=True)  # outlives the launcher's terminal
        deadline = time.monotonic() + wait
        while not kiosk_answers(url):
            if time.monotonic() > deadline:
                log.warning("launcher: the kiosk did not answer on %s within %.0f s; text menu instead", url, wait)
                return False
            time.sleep(0.3)
    popen(browser, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
          start_new_session=True)
    return True
