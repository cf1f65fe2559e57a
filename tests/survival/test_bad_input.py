"""Bad input: each case gives one clear line, the exit code from the table, and leaves published sets alone.

Cases: malformed nodkit.toml (syntax, wrong type, unknown key), broken site
templates, broken source files, wrong and empty passwords, missing key
files, an unwritable store. After each: no traceback, the expected exit code
(nodkit/errors.py), the published sets byte-for-byte unchanged, LATEST
unchanged (or moved to a new good set where the case allows one), no
debris, and the secrets scan over the outputs and the kit home.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from survival_kit import assert_no_secrets, assert_store_sound, load_secrets, make_small, record, state, verify_args

pytestmark = pytest.mark.survival

RESULTS: list[dict] = []


def _published(home: Path) -> dict[str, bytes]:
    sets = home / "store" / "sets"
    return {str(p.relative_to(sets)): p.read_bytes() for p in sets.rglob("*") if p.is_file()}


class Case:
    """Snapshot the store, run a command, check the message, exit code and the untouched store."""

    def __init__(self, demo_kit, name: str):
        self.kit, self.home, self.name = demo_kit, demo_kit.home, name
        make_small(self.home)
        self.secrets = load_secrets(demo_kit.sources, self.home, demo_kit.passwords)
        self.before = _published(self.home)
        self.latest = state(self.home).latest
        self.outputs: list[str] = []

    def run(self, *args: str, code: int, message: str | None = None, input: str | None = None):
        result = run_cli(*args, "--kit", str(self.home), input=input)
        self.outputs += [result.stdout, result.stderr]
        assert result.exit_code == code, f"{self.name}: exit {result.exit_code}, expected {code}: {result.output}"
        assert "Traceback" not in result.output, result.output
        assert "internal error" not in result.output, result.output
        if code >= 10:
            errors = [line for line in result.stderr.splitlines() if line.startswith("nodkit: error:")]
            assert len(errors) == 1, f"{self.name}: expected one error line: {result.stderr}"
            if message:
                assert re.search(message, errors[0]), f"{self.name}: {errors[0]!r} does not match {message!r}"
            RESULTS.append({"case": self.name, "exit": code,
                            "message": errors[0].replace(str(self.home), "<kit>")
                            .replace(str(self.kit.sources), "<sources>")})
        elif message:
            assert re.search(message, result.output), f"{self.name}: {result.output!r} does not match {message!r}"
            RESULTS.append({"case": self.name, "exit": code, "message": message})
        return result

    def untouched(self, *, latest_may_move: bool = False) -> None:
        after = _published(self.home)
        changed = [k for k, v in self.before.items() if after.get(k) != v]
        assert not changed, f"{self.name}: published files changed or removed: {changed[:5]}"
        st = state(self.home)
        if not latest_may_move:
            assert st.latest == self.latest, f"{self.name}: LATEST moved to {st.latest}"
        assert st.incoming == [] and st.tmp_files == [], f"{self.name}: debris left: {st}"
        assert_no_secrets(self.home, self.secrets, *self.outputs)


def _edit_config(home: Path, old: str, new: str) -> None:
    cfg = home / "nodkit.toml"
    text = cfg.read_text("utf-8")
    assert old in text, old
    cfg.write_text(text.replace(old, new, 1), "utf-8")


# ---------------------------------------------------------------- config

@pytest.mark.parametrize("name,old,new,message", [
    ("config syntax error", "[retention]", "[retention", r"nodkit\.toml:\d+"),
    ("config wrong type", "max_age_hours = 26", 'max_age_hours = "a day"', r"nodkit\.toml:\d+.*max_age_hours"),
    ("config unknown key", "[export]", "[export]\nsuspect_dorp = 0.4", r"nodkit\.toml:\d+.*suspect_dorp"),
    ("config unknown template", 'templates = ["class-list"]', 'templates = ["class-lists"]', None),
], ids=["syntax", "wrong-type", "unknown-key", "unknown-template"])
def test_malformed_config(demo_kit, name, old, new, message):
    case = Case(demo_kit, name)
    _edit_config(case.home, old, new)
    if name == "config unknown template":
        # an audience naming a list nobody defined: the other lists are made, the set is partial (exit 1)
        case.run("export", code=1, message=r"class-lists")
        case.untouched()
        return
    case.run("export", code=10, message=message)
    case.run("verify", code=3, message=r"NODKIT UNKNOWN")
    case.untouched()


# ---------------------------------------------------------------- templates

@pytest.mark.parametrize("name,text", [
    ("template syntax error", 'title = "Kontaktliste\n'),
    ("template wrong type", 'format_version = 1\ntitle = 12\ndataset = "contacts"\n[[columns]]\nfield = "name"\n'),
    ("template unknown dataset", 'format_version = 1\ntitle = "X"\ndataset = "nope"\n[[columns]]\nfield = "name"\nheading = "Navn"\n'),
], ids=["syntax", "wrong-type", "unknown-dataset"])
def test_broken_site_template(demo_kit, name, text):
    case = Case(demo_kit, name)
    (case.home / "templates").mkdir(exist_ok=True)
    (case.home / "templates" / "contacts.toml").write_text(text, "utf-8")
    if name == "template unknown dataset":
        # the list reads a dataset that is not configured: a config problem naming both
        case.run("export", code=10, message=r"contacts.*nope|nope.*contacts")
    else:
        # the broken list is skipped and named; the other lists are still made (partial set, exit 1)
        result = case.run("export", code=1)
        assert re.search(r"contacts\.toml:\d+", result.stderr), result.stderr
    case.untouched()


# ---------------------------------------------------------------- sources

def _break_source(sources: Path, how: str) -> None:
    med = sources / "medicin.csv"
    raw = med.read_bytes()
    lines = raw.split(b"\r\n")
    if how == "NUL bytes":
        med.write_bytes(raw[:200] + b"\x00" * 64 + raw[200:])
    elif how == "renamed column":
        med.write_bytes(raw.replace("Præparat".encode(), b"Laegemiddel", 1))
    elif how == "no header line":
        med.write_bytes(b"\r\n".join(lines[1:]))  # an export without its header: data in the first line
    elif how == "empty file":
        med.write_bytes(b"")
    elif how == "not valid utf-8 with BOM":
        med.write_bytes(raw[:50] + b"\xff\xfe\xfa" + raw[50:])
    elif how == "sqlite garbage":
        (sources / "skole.db").write_bytes(b"this is not a database" * 100)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["NUL bytes", "renamed column", "no header line", "empty file",
                                 "not valid utf-8 with BOM", "sqlite garbage"])
def test_broken_source_file(demo_kit, how):
    case = Case(demo_kit, f"source: {how}")
    _break_source(demo_kit.sources, how)
    # one dataset broken: its lists are skipped with a reason naming the file, the rest is made (exit 1)
    result = case.run("export", "--json", code=1)
    data = json.loads(result.stdout)
    assert data["status"] == "partial" and data["latest"] is False
    dataset = "pupils" if how == "sqlite garbage" else "medication"
    assert any(dataset in r for r in data["reasons"]), data["reasons"]
    RESULTS.append({"case": case.name, "exit": 1, "message": next(r for r in data["reasons"] if dataset in r)
                    .replace(str(demo_kit.sources), "<sources>")})
    case.untouched()


def test_all_sources_missing(demo_kit):
    case = Case(demo_kit, "all sources missing")
    demo_kit.sources.rename(demo_kit.sources.with_name("gone"))
    case.run("export", code=12, message=r"no dataset could be read")
    case.untouched()


# ---------------------------------------------------------------- passwords and keys

def _set_password(home: Path, audience: str, password: str) -> None:
    path = home / "keys" / "audiences.json"
    data = json.loads(path.read_text("utf-8"))
    newest = max(data[audience], key=lambda e: e["generation"])
    newest["password"] = password
    path.write_text(json.dumps(data), "utf-8")


def test_empty_password_in_the_password_file(demo_kit):
    case = Case(demo_kit, "empty audience password")
    _set_password(case.home, "pleje", "")
    case.run("export", code=13, message=r"empty password")
    case.untouched()


def test_wrong_password_in_the_password_file(demo_kit):
    case = Case(demo_kit, "wrong audience password")
    _set_password(case.home, "pleje", "forkert-kodeord-123")
    result = case.run("verify", *verify_args(), code=2, message=r"NODKIT CRITICAL")
    assert "password does not open" in result.stdout, result.stdout
    case.untouched()


@pytest.mark.parametrize("password", ["", "kort"], ids=["empty", "too-short"])
def test_weak_password_refused(demo_kit, password):
    case = Case(demo_kit, f"password set: {'empty' if not password else 'too short'}")
    book_before = (case.home / "keys" / "audiences.json").read_bytes()
    result = run_cli("password", "set", "pleje", "--kit", str(case.home), input=f"{password}\n{password}\n")
    case.outputs += [result.stdout, result.stderr]
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert (case.home / "keys" / "audiences.json").read_bytes() == book_before
    RESULTS.append({"case": case.name, "exit": result.exit_code,
                    "message": " / ".join(result.stderr.strip().splitlines()[-2:])})
    case.untouched()


@pytest.mark.parametrize("key", ["signing.key", "signing.pub", "audiences.json"])
def test_missing_key_file(demo_kit, key):
    case = Case(demo_kit, f"missing keys/{key}")
    (case.home / "keys" / key).unlink()
    case.run("export", code=13, message=re.escape(key) + r"|key folder|password")
    if key == "signing.pub":
        case.run("verify", code=3, message=r"NODKIT UNKNOWN")
    elif key == "audiences.json":
        case.run("verify", *verify_args(), code=2, message=r"NODKIT CRITICAL")
    case.untouched()


def test_corrupt_password_file(demo_kit):
    case = Case(demo_kit, "unreadable keys/audiences.json")
    (case.home / "keys" / "audiences.json").write_text("{ not json", "utf-8")
    case.run("export", code=13, message=r"audiences\.json")
    case.untouched()


# ---------------------------------------------------------------- unwritable store

def test_unwritable_store(demo_kit):
    case = Case(demo_kit, "read-only store")
    store = case.home / "store"
    if os.geteuid() == 0:
        # root ignores file modes: make the store a read-only bind mount instead
        if subprocess.run(["mount", "--bind", str(store), str(store)], capture_output=True).returncode:
            pytest.skip("running as root and cannot bind-mount the store read-only here")
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(store)], check=True, capture_output=True)
            case.run("export", code=14, message=r"Read-only file system")
            ok = run_cli("verify", "--kit", str(case.home))  # reading still works
            assert ok.exit_code in (0, 1) and "CRITICAL" not in ok.stdout, ok.output
        finally:
            subprocess.run(["umount", str(store)], check=False)
    else:
        modes = {p: p.stat().st_mode for p in [store, *store.rglob("*")] if p.is_dir()}
        try:
            for p in modes:
                p.chmod(0o500)
            case.run("export", code=14, message=r"Permission denied")
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
    case.untouched()
    again = run_cli("export", "--kit", str(case.home))
    assert again.exit_code == 0, again.output
    assert_store_sound(case.home)


def test_zz_record_messages():
    """Write the messages the cases produced to the figures file (for docs/reliability.md)."""
    if RESULTS:
        record("bad_input", cases=len(RESULTS), results=RESULTS)
