"""The desktop launcher: one icon that opens the print menu in a terminal.

Linux: a freedesktop .desktop file with Terminal=true, so the desktop picks
the terminal. The command is the absolute path of this nodkit with --kit and
--pause (the window stays open until the person has read the result).
Windows: a shortcut, described in docs/printing.md.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from nodkit.config.settings import KitConfig
from nodkit.fsutil import write_atomic

DESKTOP_NAME = "nodkit-udskriv.desktop"


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
    argv = nodkit_command() + ["print", "--kit", str(config.home), "--pause"]
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

