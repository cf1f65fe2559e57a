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
from survival_kit import make_small, tmpfs

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


# ---------------------------------------------------------------- 3, 4: read-only medium, full disk

@pytest.fixture
def kit_on_tmpfs(demo_kit, tmp_path):
    """The demo kit copied onto its own small tmpfs (so the test can make it read-only or full)."""
    import shutil
    with tmpfs(tmp_path / "mnt", "64m") as mnt:
        home = mnt / "kit"
        shutil.copytree(demo_kit.home, home, symlinks=True)
        paper = tmp_path / "paper"
        paper.mkdir()
        cfg = home / "nodkit.toml"
        cfg.write_text(cfg.read_text("utf-8") + '\n[printer]\nbackend = "command"\n'
                       f'command = ["sh", "-c", "cat > {paper}/job-$$.pdf"]\ncopies = 1\n', "utf-8")
        yield mnt, home, paper


def _print(home: Path, password: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NODKIT, "print", "--kit", str(home), "--unit", "Vestre Skole", "--template",
                           "class-list", "--password-stdin", "--json"], input=password + "\n",
                          capture_output=True, text=True, timeout=120)


def test_print_list_and_verify_work_from_a_read_only_medium(kit_on_tmpfs, demo_kit):
    """A kit on a medium mounted read-only: print prints and says the audit record could not be
    written; list, status and verify answer (verify with its status line), none exits 14 or 3."""
    mnt, home, paper = kit_on_tmpfs
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    printed = _print(home, demo_kit.passwords["skole"])
    assert printed.returncode == 0, printed.stderr
    assert len(list(paper.glob("*.pdf"))) == 1
    assert json.loads(printed.stdout)["audit_error"]
    assert "ikke skrevet i revisionsloggen" in printed.stderr
    assert "Traceback" not in printed.stderr
    listed = _nodkit(home, "list")
    assert listed.returncode == 0, listed.stderr
    # status exits with verify's level: a small medium may warn (its projected 7-day footprint)
    status = _nodkit(home, "status")
    assert status.returncode in (0, 1) and "LATEST" in status.stdout, status.stdout + status.stderr
    verify = _nodkit(home, "verify", "--decrypt")
    assert verify.stdout.startswith("NODKIT ") and verify.returncode in (0, 1), verify.stdout + verify.stderr


def test_print_on_a_full_disk_leaves_no_torn_audit_record(kit_on_tmpfs, demo_kit):
    """The disk full while the audit record is appended: the print goes ahead and says it was not
    recorded, and `audit verify` stays OK (no torn record that looks like tampering)."""
    mnt, home, paper = kit_on_tmpfs
    assert _print(home, demo_kit.passwords["skole"]).returncode == 0  # one good record first
    for leave in (0, 100, 300):  # nothing free; less than a record; about one record
        filler = mnt / "filler"
        filler.unlink(missing_ok=True)
        st = os.statvfs(mnt)
        with open(filler, "wb", buffering=0) as fh:
            try:
                fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
                while not leave:  # tmpfs rounds to pages: fill the last bytes one small write at a time
                    fh.write(b"\0" * 64)
            except OSError:
                pass
        printed = _print(home, demo_kit.passwords["skole"])
        assert printed.returncode == 0, printed.stderr
        assert "Traceback" not in printed.stderr
        filler.unlink()
        check = _nodkit(home, "audit", "verify")
        assert check.returncode == 0, (leave, check.stdout, check.stderr)
    assert len(list(paper.glob("*.pdf"))) == 4


# ---------------------------------------------------------------- 5: render processes die with the export

def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    """In the process table and not a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")
def test_render_processes_die_when_the_export_is_sigkilled(demo_kit):
    """SIGKILL a real export while its 2 render processes work: within seconds none of its
    children (workers, resource tracker) is left in the process table; the next export succeeds."""
    home = demo_kit.home
    cfg = home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace("[export]\n", "[export]\nworkers = 2\n", 1), "utf-8")
    export = subprocess.Popen([*NODKIT, "export", "--kit", str(home)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    incoming = home / "store" / ".incoming"
    deadline = time.monotonic() + 120
    while len(list(incoming.glob(".render-*"))) < 2:
        assert export.poll() is None, "the export ended before its render processes started"
        assert time.monotonic() < deadline, "no render processes started"
        time.sleep(0.02)
    children = _children(export.pid)
    workers = [int(m.name.split("-")[1]) for m in incoming.glob(".render-*")]
    assert set(workers) <= set(children) and len(children) >= 3  # 2 workers + the resource tracker
    os.kill(export.pid, signal.SIGKILL)
    export.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in children if _alive(p)]
    for p in left:  # do not leave them behind even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, f"processes of the killed export still running: {left}"
    again = _nodkit(home, "export")
    assert again.returncode == 0, again.stderr
    assert not list(incoming.glob(".render-*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table from /proc")
def test_next_export_ends_leftover_render_processes_it_can_prove_are_its_own(tmp_path):
    from nodkit.render.parallel import _start_time, end_leftover_workers
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        (tmp_path / f".render-{ours.pid}").write_text(_start_time(ours.pid))
        (tmp_path / f".render-{other.pid}").write_text("1")  # same pid, another start time: a reused pid
        assert end_leftover_workers(tmp_path) == [ours.pid]
        assert ours.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None
        assert not list(tmp_path.glob(".render-*"))
    finally:
        for proc in (ours, other):
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- 6: no core dumps

def _proc_owner_and_core_limit(pid: int) -> tuple[int, str]:
    limits = Path(f"/proc/{pid}/limits").read_text()
    core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    return Path(f"/proc/{pid}").stat().st_uid, " ".join(core.split()[4:6])


def _unlimited_core() -> None:
    """Start the command as a shell with `ulimit -c unlimited` would. (Where an in-process CLI test
    already ran nodkit's own hardening in this pytest process, the hard limit is 0 and stays so.)"""
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_commands_and_render_processes_cannot_dump_core(demo_kit, tmp_path):
    """Read back from /proc: a command holding a password (`password set`, waiting at its prompt,
    started with an unlimited core limit) has a core limit of 0; SIGSEGV leaves no core file (where
    the kernel writes core files into the working folder); not run as root, its /proc entries
    belong to root (PR_SET_DUMPABLE 0). An export's render processes have a core limit of 0 too."""
    home = demo_kit.home
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    waiting = subprocess.Popen([*NODKIT, "password", "set", "pleje", "--kit", str(home)], cwd=cwd,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=_unlimited_core)
    try:
        deadline = time.monotonic() + 60
        prompt = b""
        while b"Password for audience" not in prompt:  # the command is running and holds its state
            assert waiting.poll() is None and time.monotonic() < deadline, waiting.communicate()
            prompt += os.read(waiting.stderr.fileno(), 200)
        owner, core = _proc_owner_and_core_limit(waiting.pid)
        os.kill(waiting.pid, signal.SIGSEGV)
        waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert core == "0 0", core
    if os.geteuid() != 0:
        assert owner == 0, "the process is dumpable (its /proc entries belong to its own user)"
    assert waiting.returncode == -signal.SIGSEGV
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if not pattern.startswith("|") and "/" not in pattern:
        assert not list(cwd.iterdir()), f"core dumped: {list(cwd.iterdir())}"

    home = demo_kit.home
    cfg = home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace("[export]\n", "[export]\nworkers = 2\n", 1), "utf-8")
    export = subprocess.Popen([*NODKIT, "export", "--kit", str(home)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        incoming = home / "store" / ".incoming"
        deadline = time.monotonic() + 120
        while not list(incoming.glob(".render-*")):
            assert export.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        worker = int(next(incoming.glob(".render-*")).name.split("-")[1])
        os.kill(export.pid, signal.SIGSTOP)
        for pid in (export.pid, worker):
            assert _proc_owner_and_core_limit(pid)[1] == "0 0", pid
    finally:
        os.kill(export.pid, signal.SIGCONT)
        export.wait(timeout=300)
