"""templates/ and schedules/ are found from a checkout and after a plain `pip install .`."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from nodkit.resources import builtin_dir


def test_checkout_finds_builtins():
    assert (builtin_dir("templates") / "care-route.toml").is_file()
    assert (builtin_dir("schedules") / "default.toml").is_file()


@pytest.mark.slow
def test_installed_wheel_finds_builtins_from_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("nodkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for tpl in (ROOT / "templates").glob("*.toml"):
        assert f"nodkit/builtin_templates/{tpl.name}" in names
    assert "nodkit/builtin_schedules/default.toml" in names
    for page in ("base", "units", "lists", "choice", "job", "it", "error"):  # the print kiosk's files
        assert f"nodkit/staff/kiosk/templates/{page}.html" in names
    assert "nodkit/staff/kiosk/static/kiosk.css" in names
    # a fresh environment: the wheel in its own folder, run from an unrelated directory;
    # dependencies come from this venv's site-packages *after* the target, so nodkit is the installed copy
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import nodkit, nodkit.lists.templates as t, nodkit.config.schedules as s, zoneinfo;"
            "print(nodkit.__file__);"
            "print(sorted(t.load_templates(None)));"
            "print(len(s.load_jobs(None, zoneinfo.ZoneInfo('Europe/Copenhagen'))));"
            "import flask, nodkit.staff.kiosk.web as w; app = flask.Flask(w.__name__, template_folder='templates');"
            "print(app.jinja_env.get_template('units.html').name)")
    env = dict(os.environ, PYTHONPATH=str(target), PYTHONSAFEPATH="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(str(target)), "imported the checkout instead of the installed wheel"
    assert "care-route" in lines[1] and int(lines[2]) >= 1
    assert lines[3] == "units.html"  # the kiosk's templates are found in the installed package
    # and the console script works from there
    cli = subprocess.run([sys.executable, "-c", "import sys; from nodkit.cli import main; main(['--version'])"],
                         cwd=elsewhere, env=env, capture_output=True, text=True)
    assert cli.returncode == 0 and "nodkit" in cli.stdout
