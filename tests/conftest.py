"""Shared fixtures: real kit homes in tmp_path, the real CLI, independent PDF readers."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner


ROOT = Path(__file__).resolve().parent.parent


class _Main:
    """Lets CliRunner call nodkit.cli.main, so tests see the real error mapping and exit codes."""

    name = "nodkit"

    def main(self, args=None, prog_name=None, **_kw):
        from nodkit.cli import main
        main(list(args or []))


def run_cli(*args: str, input: str | None = None, env: dict | None = None):
    """Run `nodkit ARGS` in-process; result has exit_code, stdout, stderr, output."""
    return CliRunner().invoke(_Main(), list(args), input=input, env=env)


def pdftotext(path: Path, password: str | None, first: int | None = None, last: int | None = None) -> str:
    """Text of a PDF (pages `first`..`last` when given) via poppler (an independent reader). Raises on failure."""
    cmd = ["pdftotext", "-layout"]
    if password is not None:
        cmd += ["-upw", password]
    if first is not None:
        cmd += ["-f", str(first), "-l", str(last if last is not None else first)]
    proc = subprocess.run(cmd + [str(path), "-"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pdftotext failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class DemoKit:
    home: Path
    sources: Path
    passwords: dict[str, str]
    export: dict  # the demo's --json output

    @property
    def latest(self) -> str:
        return (self.home / "store" / "LATEST").read_text().strip()

    @property
    def set_dir(self) -> Path:
        return self.home / "store" / "sets" / self.latest

    def files(self) -> list[dict]:
        return self.export["files"]


def list_text(entry: dict, password: str) -> str:
    """Text of one list of an export's --json "files": its own file, or its pages of the unit's
    binder (store format 4: `first_page`)."""
    first = entry.get("first_page")
    if first is None:
        return pdftotext(Path(entry["path"]), password)
    return pdftotext(Path(entry["path"]), password, first, first + entry["pages"] - 1)


def _make_demo(base: Path) -> DemoKit:
    home = base / "kit"
    result = run_cli("demo", str(home), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return DemoKit(home=home, sources=Path(data["sources"]), passwords=data["passwords"], export=data)


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory) -> DemoKit:
    return _make_demo(tmp_path_factory.mktemp("demo-template"))


@pytest.fixture
def demo_kit(_demo_template, tmp_path) -> DemoKit:
    """A fresh copy of an exported demo kit (kit home + sources) in tmp_path.

    The copy's nodkit.toml is rewritten to point at the copied sources, so a
    test may change or break either without affecting other tests.
    """
    src = _demo_template
    home = tmp_path / "kit"
    sources = tmp_path / "kit-kilder"
    shutil.copytree(src.home, home, symlinks=True)
    shutil.copytree(src.sources, sources)
    cfg = home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace(src.sources.as_posix(), sources.as_posix()), "utf-8")
    (home / "store" / ".lock").unlink(missing_ok=True)
    export = json.loads(json.dumps(src.export).replace(str(src.home), str(home)).replace(str(src.sources), str(sources)))
    return DemoKit(home=home, sources=sources, passwords=dict(src.passwords), export=export)


@pytest.fixture
def fresh_demo(tmp_path) -> DemoKit:
    """A demo kit created from scratch in this test (slower; use when creation itself matters)."""
    return _make_demo(tmp_path)
