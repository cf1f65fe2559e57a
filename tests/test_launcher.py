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
    assert exec_line.endswith(f"print --kit {demo_kit.home} --pause") or f'"{demo_kit.home}"' in exec_line
    program = exec_line[5:].split(" ")[0]
    assert Path(program).exists()  # an absolute path that works without PATH set up
    if subprocess.run(["which", "desktop-file-validate"], capture_output=True).returncode == 0:
        subprocess.run(["desktop-file-validate", str(desktop)], check=True)
