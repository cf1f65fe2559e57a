"""Verify the store: is the newest good set sound, decryptable and fresh?

Follows the Nagios/Icinga plugin convention (DESIGN.md, monitoring): the
result is OK/WARNING/CRITICAL/UNKNOWN with exit code 0/1/2/3 and one summary
line with perfdata first. Every problem names the file it concerns.

Checks for a set: the manifest signature (Ed25519, keys/signing.pub); each
listed file present with its size and SHA-256; each PDF refusing to open
without a password and opening with its audience password as AES-256 (R6)
with the recorded page count (`decrypt=True`); no stray files in the set.
For the kit: LATEST names a readable good set, not older than max_age_hours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from . import crypto
from .config import KitConfig
from .errors import CRITICAL, OK, UNKNOWN, WARNING, NodkitError
from .store import MANIFEST, SIGNATURE, ExportSet, Store

STATUS_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


@dataclass
class Problem:
    severity: int  # WARNING or CRITICAL
    kind: str  # signature, hash, missing, size, encryption, password, stray, age, latest, status, unreadable
    path: str
    message: str

    def line(self) -> str:
        return f"{STATUS_NAMES[self.severity]}: {self.path}: {self.message}"


@dataclass
class VerifyReport:
    checked_at: dt.datetime
    latest: str | None = None
    latest_created: dt.datetime | None = None
    sets_checked: list[str] = field(default_factory=list)
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((p.severity for p in self.problems), default=OK)

    @property
    def status(self) -> str:
        return STATUS_NAMES[self.exit_code]

    @property
    def age_seconds(self) -> float | None:
        if self.latest_created is None:
            return None
        return max(0.0, (self.checked_at - self.latest_created).total_seconds())

    def summary(self) -> str:
        crit = sum(p.severity == CRITICAL for p in self.problems)
        warn = sum(p.severity == WARNING for p in self.problems)
        age = self.age_seconds
        if self.latest:
            head = f"latest set {self.latest}, {_age_text(age)} old, {self.files_checked} files checked"
        else:
            head = "no good export set"
        if self.problems:
            first = next(p for p in sorted(self.problems, key=lambda p: -p.severity))
            head += f"; {crit} critical, {warn} warning: {first.path}: {first.message}"
        perf = (f"age_seconds={age if age is not None else 0:.0f}s files={self.files_checked} "
                f"critical={crit} warning={warn}")
        return f"NODKIT {self.status} - {head} | {perf}"

    def to_dict(self) -> dict:
        return {
            "status": self.status, "exit_code": self.exit_code, "checked_at": self.checked_at.isoformat(),
            "latest": self.latest,
            "latest_created_at": self.latest_created.isoformat() if self.latest_created else None,
            "age_seconds": self.age_seconds, "sets_checked": self.sets_checked,
            "files_checked": self.files_checked,
            "problems": [{"severity": STATUS_NAMES[p.severity], "kind": p.kind, "path": p.path,
                          "message": p.message} for p in self.problems],
        }


def _age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def verify_set(export_set: ExportSet, book: crypto.PasswordBook | None, public, *, decrypt: bool = True) -> tuple[list[Problem], int]:
    """Problems found in one set, and the number of files checked."""
    problems: list[Problem] = []
    base = export_set.path
    manifest_path = base / MANIFEST
    if export_set.manifest is None:
        return [Problem(CRITICAL, "unreadable", str(manifest_path), export_set.error or "manifest unreadable")], 0
    try:
        data = manifest_path.read_bytes()
        sig = (base / SIGNATURE).read_bytes()
    except OSError as exc:
        return [Problem(CRITICAL, "missing", str(base / SIGNATURE), f"cannot read: {exc.strerror}")], 0
    if not crypto.check_signature(public, data, sig):
        problems.append(Problem(CRITICAL, "signature", str(manifest_path),
                                "signature does not match: the manifest was changed or the signature replaced"))
    listed = {MANIFEST, SIGNATURE}
    checked = 0
    for entry in export_set.manifest.files:
        path = base / entry.path
        listed.add(entry.path)
        checked += 1
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            problems.append(Problem(CRITICAL, "missing", str(path), "listed in the manifest but missing"))
            continue
        except OSError as exc:
            problems.append(Problem(CRITICAL, "unreadable", str(path), f"cannot read: {exc.strerror}"))
            continue
        if len(blob) != entry.bytes:
            problems.append(Problem(CRITICAL, "size", str(path), f"{len(blob)} bytes, manifest says {entry.bytes}"))
            continue
        if hashlib.sha256(blob).hexdigest() != entry.sha256:
            problems.append(Problem(CRITICAL, "hash", str(path), "SHA-256 does not match the manifest (changed or damaged)"))
            continue
        problems += _check_pdf(path, blob, entry, book, decrypt)
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if path.is_file() and rel not in listed:
            plain = path.read_bytes()[:1024].startswith(b"%PDF") and b"/Encrypt" not in path.read_bytes()
            problems.append(Problem(CRITICAL, "stray", str(path),
                                    "unencrypted PDF not in the manifest" if plain else "file not in the manifest"))
    return problems, checked


def _check_pdf(path: Path, blob: bytes, entry, book, decrypt: bool) -> list[Problem]:
    password = None
    if decrypt and book is not None:
        try:
            password = book.get(entry.audience, entry.password_generation).password
        except NodkitError as exc:
            return [Problem(CRITICAL, "password", str(path), str(exc))]
    try:
        check = crypto.inspect_pdf(blob, password)
    except NodkitError as exc:
        return [Problem(CRITICAL, "encryption" if "password" in str(exc) else "unreadable", str(path), str(exc))]
    if check.opens_without_password:
        return [Problem(CRITICAL, "encryption", str(path), "opens without a password: NOT ENCRYPTED")]
    if password is None:
        return []
    if not check.aes256 or check.revision != 6:
        return [Problem(CRITICAL, "encryption", str(path), f"not AES-256 R6 (revision {check.revision})")]
    if check.pages != entry.pages:
        return [Problem(CRITICAL, "pages", str(path), f"{check.pages} pages, manifest says {entry.pages}")]
    return []


def verify_kit(config: KitConfig, now: dt.datetime | None = None, *, decrypt: bool = True,
               all_sets: bool = False) -> VerifyReport:
    now = now or config.now()
    report = VerifyReport(checked_at=now)
    store = Store(config.store)
    public = crypto.load_public(config.keys)
    try:
        book = crypto.PasswordBook(config.keys) if decrypt else None
    except NodkitError as exc:
        report.problems.append(Problem(CRITICAL, "password", str(config.keys), str(exc)))
        book = None
    latest = store.latest_id()
    sets = store.sets()
    by_id = {s.id: s for s in sets}
    if latest is None:
        report.problems.append(Problem(CRITICAL, "latest", str(store.latest_file), "no good export set yet (LATEST missing)"))
    elif latest not in by_id:
        report.problems.append(Problem(CRITICAL, "latest", str(store.latest_file), f"names set {latest}, which does not exist"))
    else:
        report.latest = latest
        latest_set = by_id[latest]
        report.latest_created = latest_set.created_at
        if latest_set.manifest is not None and latest_set.status != "good":
            report.problems.append(Problem(CRITICAL, "latest", str(store.latest_file),
                                           f"names a {latest_set.status} set"))
        age = report.age_seconds
        if age is not None and age > config.max_age_hours * 3600:
            report.problems.append(Problem(CRITICAL, "age", str(latest_set.path),
                                           f"the newest good lists are {_age_text(age)} old (max_age_hours = {config.max_age_hours:g})"))
        if latest_set.created_at and latest_set.created_at > now + dt.timedelta(minutes=5):
            report.problems.append(Problem(WARNING, "clock", str(latest_set.path),
                                           "created in the future: check the PC's clock"))
    to_check = sets if all_sets else [by_id[latest]] if latest in by_id else []
    for s in to_check:
        problems, files = verify_set(s, book, public, decrypt=decrypt)
        report.problems += problems
        report.files_checked += files
        report.sets_checked.append(s.id)
    newer = [s for s in sets if latest is None or s.id > latest]
    for s in newer:
        if s.manifest is not None and s.status != "good":
            report.problems.append(Problem(WARNING, "status", str(s.path), f"newer set is {s.status}: "
                                           + "; ".join(s.manifest.status_reasons[:3])))
    return report
