"""Shared helpers for the survival suite (issue 9): a small kit, store checks, the secrets scan.

Not a conftest on purpose (tests/conftest.py is imported as `conftest`); test
modules import what they need from here. Trial counts scale with the
environment variable NODKIT_SURVIVAL_TRIALS (a multiplier, default 1) so a
longer local run is `NODKIT_SURVIVAL_TRIALS=10 pytest -m survival`.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nodkit.security import crypto
from nodkit.config.settings import load_config
from nodkit.store.sets import Store
from nodkit.monitoring.verify import check_guide, verify_set


def trials(base: int) -> int:
    """`base` trials times NODKIT_SURVIVAL_TRIALS (default 1)."""
    try:
        factor = float(os.environ.get("NODKIT_SURVIVAL_TRIALS", "1"))
    except ValueError:
        factor = 1.0
    return max(1, int(base * factor))


def verify_args() -> list[str]:
    """`nodkit verify` options for a full check: --decrypt where verify does not decrypt by default (issue 6)."""
    from nodkit.cli import cli
    return ["--decrypt"] if any(p.name == "decrypt" for p in cli.commands["verify"].params) else []


def record(name: str, **figures) -> None:
    """Print measured figures (pytest -s shows them) and append them to $NODKIT_SURVIVAL_FIGURES (docs)."""
    import json
    print(f"\n[survival] {name}: {figures}")
    path = os.environ.get("NODKIT_SURVIVAL_FIGURES")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"test": name, **figures}, ensure_ascii=False) + "\n")


# A small kit: four lists, two audiences, so one export takes about a second.
SMALL_AUDIENCES = '''[audiences.pleje]
title = "Hjemmeplejen"
templates = ["medication", "contacts"]
units = ["Område Nord", "Fælles"]

[audiences.skole]
title = "Skoler"
templates = ["class-list"]
units = ["Vestre Skole"]
'''


def make_small(home: Path) -> None:
    """Rewrite the copied demo kit's audiences to the small set of lists.

    Every export writes a set (skip_unchanged = false): these tests crash and
    fill the disk while sets are written, from the same unchanged sources."""
    cfg = home / "nodkit.toml"
    text = cfg.read_text("utf-8")
    start = text.index("[audiences.pleje]")
    end = text.index("# Where the data comes from")
    text = text[:start] + SMALL_AUDIENCES + "\n" + text[end:]
    cfg.write_text(text.replace("[export]\n", "[export]\nskip_unchanged = false\n", 1), "utf-8")


# ---------------------------------------------------------------- store checks

@dataclass
class StoreState:
    latest: str | None
    sets: dict[str, str]  # id -> status
    incoming: list[str]
    tmp_files: list[str]


def state(home: Path) -> StoreState:
    store = Store(home / "store")
    incoming = sorted(p.name for p in store.incoming_dir.iterdir()) if store.incoming_dir.exists() else []
    return StoreState(latest=store.latest_id(), sets={s.id: s.status for s in store.sets()},
                      incoming=incoming, tmp_files=sorted(p.name for p in store.root.glob(".LATEST.*.tmp")))


_DECRYPTED: set[tuple[str, str]] = set()  # (kit home, set id) already verified with decryption


def set_problems(home: Path, set_ids=None, *, decrypt: bool = True) -> dict[str, list[str]]:
    """Verify sets in-process (signature, hashes, encryption, pages). {set id: [problem lines]} for bad ones.

    A set already verified with decryption is checked again by signature and
    hashes only: published files never change, so equal hashes mean equal
    bytes, and that keeps hundreds of trials fast.
    """
    config = load_config(home)
    store = Store(config.store)
    public = crypto.load_public(config.keys)
    book = crypto.PasswordBook(config.keys)
    bad: dict[str, list[str]] = {}
    for s in store.sets():
        if set_ids is not None and s.id not in set_ids:
            continue
        seen = (str(home), s.id) in _DECRYPTED
        problems, _ = verify_set(s, book, public, decrypt=decrypt and not seen)
        if decrypt and not problems:
            _DECRYPTED.add((str(home), s.id))
        if problems:
            bad[s.id] = [p.line() for p in problems]
    return bad


def assert_store_sound(home: Path, must_keep=()) -> StoreState:
    """Every published set verifies, LATEST is a good verifying set, earlier sets are still there."""
    st = state(home)
    missing = [i for i in must_keep if i not in st.sets]
    assert not missing, f"published sets lost: {missing}"
    bad = set_problems(home)
    assert not bad, f"published sets do not verify: {bad}"
    assert st.latest is not None, "LATEST missing"
    assert st.latest in st.sets, f"LATEST names {st.latest}, which is not a published set"
    assert st.sets[st.latest] == "good", f"LATEST names a {st.sets[st.latest]} set"
    return st


# ---------------------------------------------------------------- secrets

@dataclass
class Secrets:
    passwords: list[str]
    key_material: list[str]
    people: list[str]  # citizen, pupil and guardian names (full names)
    cprs: list[str]  # DDMMYY-XXXX and DDMMYYXXXX
    by_kind: dict[str, int] = field(default_factory=dict)
    _patterns: dict = field(default_factory=dict, repr=False)

    def _pattern(self, allow_passwords: bool) -> re.Pattern:
        key = "personal" if allow_passwords else "all"
        if key not in self._patterns:
            items = self.cprs + self.people + ([] if allow_passwords else self.passwords + self.key_material)
            items = sorted({i for i in items if i}, key=len, reverse=True)
            self._patterns[key] = re.compile("|".join(re.escape(i) for i in items))
        return self._patterns[key]

    def find(self, text: str, *, allow_passwords: bool = False) -> list[str]:
        """Which kinds of secret occur in `text` (reported by kind and count, never the value itself)."""
        kinds: dict[str, int] = {}
        for match in set(self._pattern(allow_passwords).findall(text)):
            kind = ("cpr" if match in self.cprs else "person" if match in self.people
                    else "password" if match in self.passwords else "key")
            kinds[kind] = kinds.get(kind, 0) + 1
        return [f"{n} {kind}(s)" for kind, n in sorted(kinds.items())]


def _read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def load_secrets(sources: Path, home: Path, passwords: dict[str, str]) -> Secrets:
    """Personal data straight from the demo sources, the audience passwords and the private key."""
    people: set[str] = set()
    cprs: set[str] = set()
    for name in ("borgere.csv", "medicin.csv", *(p.name for p in sources.glob("besoeg_*.csv"))):
        for row in _read_csv(sources / name):
            people.add(row["Borger"].strip())
            cpr = row["CPR"].strip()
            cprs.update({cpr, cpr.replace("-", "")})
    db = sqlite3.connect(f"file:{sources / 'skole.db'}?mode=ro", uri=True)
    try:
        for (pupil,) in db.execute("SELECT navn FROM elever"):
            people.add(pupil.strip())
        for (guardian,) in db.execute("SELECT navn FROM vaerger"):
            people.add(re.sub(r"\s*\(.*\)$", "", guardian).strip())
    finally:
        db.close()
    pem = (home / "keys" / "signing.key").read_text()
    key_lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    book = crypto.PasswordBook(home / "keys")
    all_pw = set(passwords.values())
    for audience in book.audiences():
        all_pw.update(e["password"] for e in book.data[audience])
    people = {p for p in people if len(p) >= 5}
    return Secrets(passwords=sorted(all_pw), key_material=key_lines, people=sorted(people), cprs=sorted(cprs),
                   by_kind={"people": len(people), "cpr": len(cprs), "passwords": len(all_pw)})


def _texts_of(data: bytes) -> list[str]:
    texts = [data.decode("utf-8", "ignore"), data.decode("latin-1")]
    for codec in ("utf-16-le", "utf-16-be"):
        texts.append(data.decode(codec, "ignore"))
    return texts


GUIDE = Path("store") / "udskrivningsvejledning.pdf"
SECRET_DIRS = ("keys",)  # passwords and the private key live here by design (0600); personal data must not


def scan_home(home: Path, secrets: Secrets, spool: tuple[Path, ...] = ()) -> list[str]:
    """Every file under the kit home, and under `spool` (the print spooler's folders, where no
    decrypted list may stay behind): where a secret occurs in plaintext (empty list = clean)."""
    found = []
    paths = [(p, p.relative_to(home)) for p in sorted(home.rglob("*"))]
    for folder in spool:
        paths += [(p, Path("[spool]") / p.relative_to(folder)) for p in sorted(folder.rglob("*"))]
    for path, rel in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        allow = rel.parts[0] in SECRET_DIRS
        hits = set()
        for text in _texts_of(data):
            hits.update(secrets.find(text, allow_passwords=allow))
        if data.startswith(b"%PDF") and b"/Encrypt" not in data:
            if rel == GUIDE and not check_guide(path):
                # the printing guide is plain by design: it must be the guide and hold no secret
                text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
                hits.update(secrets.find(text))
            else:
                hits.add("plaintext PDF")
        if hits:
            found.append(f"{rel}: {sorted(hits)}")
    return found


def assert_no_secrets(home: Path, secrets: Secrets, *outputs: str, spool: tuple[Path, ...] = ()) -> None:
    """Nothing under the kit home, the spooler's folders nor in the given outputs (stdout, stderr,
    messages) holds a secret."""
    found = scan_home(home, secrets, spool)
    for i, text in enumerate(outputs):
        hits = secrets.find(text or "")
        if hits:
            found.append(f"output #{i}: {hits}")
    assert not found, "secrets in plaintext: " + "; ".join(found)


# ---------------------------------------------------------------- a small filesystem of its own

from contextlib import contextmanager  # noqa: E402


@contextmanager
def tmpfs(mnt: Path, size: str):
    """Mount a tmpfs of `size` at `mnt` (root only) for the block; skip when that is impossible
    here, fail in CI (CI=true), unmount afterwards."""
    import pytest
    ci = os.environ.get("CI", "").lower() == "true"
    if os.geteuid() != 0:
        if ci:
            pytest.fail("mounting a tmpfs must run as root in CI")
        pytest.skip("mounting a small tmpfs needs root (runs in CI as root)")
    mnt.mkdir(exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode:
        if ci:
            pytest.fail(f"cannot mount tmpfs in CI: {proc.stderr.strip()}")
        pytest.skip(f"cannot mount tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", str(mnt)], check=False)
