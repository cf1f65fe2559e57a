"""Hardening (issue 16): real processes racing, dying and dumping core.

Each test reproduces a failure found by an attack run with real processes:
a `password set` during an export, an export SIGKILLed while its render
processes work, a command that handles secrets and could dump core.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import pdftotext
from survival_kit import make_small

pytestmark = pytest.mark.survival

NODKIT = [sys.executable, "-m", "nodkit"]


def _nodkit(home: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*NODKIT, *args, "--kit", str(home)], capture_output=True, text=True, timeout=300, **kw)


def _wait_for_lock_holder(home: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until `proc` holds the store lock (the export has read its passwords by then)."""
    deadline = time.monotonic() + timeout
    lock = home / "store" / ".lock"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if json.loads(lock.read_text() or "{}").get("pid") == proc.pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError("the export never took the store lock")


def _generations(home: Path, audience: str) -> list[int]:
    return [e["generation"] for e in json.loads((home / "keys" / "audiences.json").read_text())[audience]]


# ---------------------------------------------------------------- 1: lost password update

def test_password_set_during_an_export_is_not_lost(demo_kit):
    """A real `nodkit password set` while a real export runs (the export paused after it read the
    password book, so the race is hit every time): the new password survives the export's tidying
    of old generations, verify --decrypt says the newest set is not yet under it, and the next
    export's lists open with the new password."""
    home = demo_kit.home
    make_small(home)
    book_path = home / "keys" / "audiences.json"
    book = json.loads(book_path.read_text())
    # an old generation no set uses: the export forgets it, which rewrites the book
    book["pleje"].insert(0, {"generation": 0, "created_at": "2026-01-01T00:00:00+01:00", "password": "gammel-kode-1234-x"})
    book_path.write_text(json.dumps(book))
    export = subprocess.Popen([*NODKIT, "export", "--kit", str(home)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_lock_holder(home, export)
        os.kill(export.pid, signal.SIGSTOP)
        changed = _nodkit(home, "password", "set", "pleje", "--generate")
    finally:
        os.kill(export.pid, signal.SIGCONT)
    out, err = export.communicate(timeout=300)
    assert changed.returncode == 0, changed.stderr
    new_password = changed.stdout.strip()
    assert export.returncode == 0, err
    assert _generations(home, "pleje") == [1, 2], "the export's stale copy of the password book was saved"
    assert json.loads(book_path.read_text())["pleje"][-1]["password"] == new_password

    # the set made during the change uses generation 1: verify must not call it OK
    verify = _nodkit(home, "verify", "--decrypt")
    assert verify.returncode == 1, verify.stdout
    assert "generation 1 of 'pleje'" in verify.stdout and "current password (generation 2" in verify.stdout

    again = _nodkit(home, "export", "--json")
    assert again.returncode == 0, again.stderr
    files = [f for f in json.loads(again.stdout)["files"] if f["audience"] == "pleje"]
    assert files
    for f in files:
        assert pdftotext(Path(f["path"]), new_password)
    assert _nodkit(home, "verify", "--decrypt").returncode == 0
