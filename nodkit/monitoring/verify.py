"""Verify the kit: are the newest lists sound, encrypted, fresh, and printable?

Follows the Nagios/Icinga plugin convention (DESIGN.md, monitoring): the
result is OK/WARNING/CRITICAL/UNKNOWN with exit code 0/1/2/3 and one summary
line with perfdata first. Every problem names the file it concerns.

Levels (docs/monitoring.md):

- default (fast, no passwords): the manifest signature (Ed25519,
  keys/signing.pub); each listed file present with its size and SHA-256;
  every PDF carrying a PDF standard AES-256 (V5/R6, AESV3) encryption
  dictionary, read from the bytes (nodkit.pdfsecurity) and refusing to open
  without a password; LATEST naming a good set; no stray files anywhere in
  the store (above all no unencrypted PDF) nor unknown entries in the kit home.
- `decrypt=True`: also opens every PDF with its audience password and checks
  the page count against the manifest.
- `all_sets=True`: checks every set in full, not only LATEST.

Health beyond the files: freshness against the export schedule (WARNING after
one missed run, CRITICAL after two or beyond max_age_hours; counted from the
last run that found every source unchanged since LATEST, store/CHECKED, when
that record is signed, names LATEST and is newer than it), free disk space
on the store's filesystem, the printer queue (lpstat), clock sanity and the
scheduler heartbeat, and the days since each unit's last drill (WARNING after
drill_warn_days). Thresholds: [monitoring] in nodkit.toml.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nodkit.security import crypto
from nodkit.monitoring import heartbeat
from nodkit.config.settings import KitConfig
from nodkit.errors import CRITICAL, OK, UNKNOWN, WARNING, NodkitError
from nodkit.security.pdfsecurity import PdfSecurityError, looks_like_pdf, read_encryption
from nodkit.distribution.sync import NEWEST_RECORD, read_state
from nodkit.store import check as store_check
from nodkit.store.sets import MANIFEST, SET_ID, SIGNATURE, ExportSet, Store

log = logging.getLogger(__name__)

STATUS_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
CLOCK_SLACK = dt.timedelta(minutes=5)

# What may live in the kit home (DESIGN.md, "The kit home"). Anything else is reported.
KNOWN_HOME_ENTRIES = {"nodkit.toml", "keys", "store", "logs", "templates", "schedules", "audit.log", "audit.head",
                      "audit",  # one audit chain per staff login (nodkit.security.access)
                      "fleet"}  # fleet/: stations' signed status files on an exporter (docs/distribution.md)
# What may live directly in store/ besides sets/ (.LATEST.*.tmp exists for an instant while LATEST is replaced).
KNOWN_STORE_ENTRIES = {"sets", ".incoming", "LATEST", "PUBLISHED", ".lock", ".run.lock", NEWEST_RECORD,
                       store_check.FILE}
GUIDE = "udskrivningsvejledning.pdf"  # the one deliberately plain PDF (nodkit.guide): checked to be just that
# fsutil.write_atomic's temporary files of the files above (they exist for an instant; the next export removes
# one a crash left behind); a plain PDF under such a name is still reported
REPLACED_ENTRIES = ("LATEST", "PUBLISHED", GUIDE)

# Problem kinds (stable names: they label the Prometheus metric and the --json output).
KINDS = ("signature", "hash", "missing", "size", "encryption", "password", "pages", "unreadable", "stray",
         "latest", "status", "age", "freshness", "schedule", "clock", "disk", "printer", "spool", "heartbeat", "debris",
         "sync", "drill", "check", "permissions", "audit", "unknown")


@dataclass
class Problem:
    severity: int  # WARNING or CRITICAL (UNKNOWN only when nothing could be checked)
    kind: str  # one of KINDS
    path: str
    message: str

    def line(self) -> str:
        return f"{STATUS_NAMES[self.severity]}: {self.path}: {self.message}"

    def to_dict(self) -> dict:
        return {"severity": STATUS_NAMES[self.severity], "kind": self.kind, "path": self.path,
                "message": self.message}


@dataclass
class VerifyReport:
    checked_at: dt.datetime
    kit: str = ""
    level: str = "default"  # "default" | "decrypt"
    latest: str | None = None
    latest_created: dt.datetime | None = None
    sets_checked: list[str] = field(default_factory=list)
    sets_by_status: dict[str, int] = field(default_factory=dict)
    files_checked: int = 0
    missed_runs: int | None = None  # export runs due since LATEST was made or last checked (None: no export schedule)
    # the last run that read every source and found nothing changed since LATEST (store/CHECKED), when valid
    sources_checked_at: dt.datetime | None = None
    check_text: str | None = None  # "checked at 10.30, sources unchanged since 08.00 (set …)"
    next_due: dt.datetime | None = None
    disk_free_bytes: int | None = None
    disk_total_bytes: int | None = None
    # the retention policy's footprint at this schedule if every run made a set of LATEST's size
    projected_bytes: int | None = None
    store_sets_bytes: int = 0  # what the published sets use now (manifest sizes)
    latest_bytes: int = 0
    heartbeat_at: dt.datetime | None = None
    role: str = "exporter"  # "station": sets come from an exporter (docs/distribution.md)
    sync: dict | None = None  # a station's last sync (logs/sync.json)
    # "audience/unit" of LATEST → days since its last good drill (None: never drilled)
    drill_days: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
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

    @property
    def fresh_as_of(self) -> dt.datetime | None:
        """What freshness is judged from: the newer of LATEST's creation and a valid unchanged check."""
        times = [t for t in (self.latest_created, self.sources_checked_at) if t is not None]
        return max(times) if times else None

    @property
    def disk_free_percent(self) -> float | None:
        if not self.disk_total_bytes:
            return None
        return 100.0 * (self.disk_free_bytes or 0) / self.disk_total_bytes

    def count(self, severity: int) -> int:
        return sum(p.severity == severity for p in self.problems)

    def summary(self, config: KitConfig | None = None) -> str:
        crit, warn = self.count(CRITICAL), self.count(WARNING)
        age = self.age_seconds
        if self.latest:
            head = f"latest set {self.latest}, {age_text(age)} old, {self.files_checked} files checked"
            if self.check_text:
                head += f"; {self.check_text.split(' (set ')[0]}"
        else:
            head = "no good export set"
        if self.problems:
            first = max(self.problems, key=lambda p: p.severity)
            head += f"; {crit} critical, {warn} warning: {first.path}: {first.message}"
        max_age = f"{config.max_age_hours * 3600:.0f}" if config else ""
        perf = [f"age={age if age is not None else 0:.0f}s;;{max_age};0",
                f"files={self.files_checked};;;0", f"sets={sum(self.sets_by_status.values())};;;0",
                f"critical={crit};;;0", f"warning={warn};;;0"]
        if self.disk_free_percent is not None:
            mon = config.monitoring if config else None
            thresholds = f"{mon.disk_warning_percent:g}:;{mon.disk_critical_percent:g}:" if mon else ";"
            perf.append(f"disk_free={self.disk_free_percent:.1f}%;{thresholds};0;100")
        return f"NODKIT {self.status} - {head} | {' '.join(perf)}"

    def to_dict(self) -> dict:
        return {
            "status": self.status, "exit_code": self.exit_code, "kit": self.kit, "level": self.level,
            "checked_at": self.checked_at.isoformat(), "seconds": round(self.seconds, 3),
            "latest": self.latest,
            "latest_created_at": self.latest_created.isoformat() if self.latest_created else None,
            "age_seconds": self.age_seconds, "missed_runs": self.missed_runs,
            "sources_checked_at": self.sources_checked_at.isoformat() if self.sources_checked_at else None,
            "check": self.check_text,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "sets_checked": self.sets_checked, "sets_by_status": self.sets_by_status,
            "files_checked": self.files_checked,
            "disk_free_bytes": self.disk_free_bytes, "disk_total_bytes": self.disk_total_bytes,
            "projected_bytes": self.projected_bytes,
            "heartbeat_at": self.heartbeat_at.isoformat() if self.heartbeat_at else None,
            "role": self.role, "sync": self.sync,
            "drill_days": {k: (round(v, 1) if v is not None else None) for k, v in self.drill_days.items()},
            "problems": [p.to_dict() for p in self.problems],
        }


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# ---------------------------------------------------------------- files

def _read_listed(path: Path) -> tuple[bytes, Problem | None]:
    """A file the manifest lists: its bytes, or the problem that it is missing or unreadable."""
    try:
        return path.read_bytes(), None
    except FileNotFoundError:
        return b"", Problem(CRITICAL, "missing", str(path), "listed in the manifest but missing")
    except OSError as exc:
        return b"", Problem(CRITICAL, "unreadable", str(path), f"cannot read: {exc.strerror}")


def _absent_by_design(station, entry, path: Path) -> bool:
    """A station holds only its audiences' and units' files: the others are absent on purpose."""
    return station is not None and not station.wants(entry.audience, entry.unit) and not path.exists()


def verify_set(export_set: ExportSet, book: crypto.PasswordBook | None, public, *,
               decrypt: bool = False, station=None) -> tuple[list[Problem], int]:
    """Problems found in one set, and the number of files checked (`station`: files it does not hold are skipped)."""
    problems: list[Problem] = []
    base = export_set.path
    manifest_path = base / MANIFEST
    if export_set.manifest is None:
        problems.append(Problem(CRITICAL, "unreadable", str(manifest_path), export_set.error or "manifest unreadable"))
        return problems + _strays(base, {MANIFEST, SIGNATURE}), 0
    try:
        data = manifest_path.read_bytes()
        sig = (base / SIGNATURE).read_bytes()
    except OSError as exc:
        problems.append(Problem(CRITICAL, "signature", str(base / SIGNATURE), f"cannot read: {exc.strerror}"))
    else:
        if not crypto.check_signature(public, data, sig):
                problems.append(Problem(CRITICAL, "signature", str(manifest_path),
                                    "signature does not match: the manifest was changed or the signature replaced"))
    listed = {MANIFEST, SIGNATURE}
    checked = 0
    for entry, path, blob in _listed_files(base, export_set.manifest, station, listed, problems):
        checked += 1
        if blob is None:
            continue
        encryption = _encryption_problem(path, blob)
        if len(blob) != entry.bytes:
            problems.append(_size_problem(path, blob, entry, encryption))
            continue
        if hashlib.sha256(blob).hexdigest() != entry.sha256:
            problems.append(Problem(CRITICAL, "hash", str(path), "SHA-256 does not match the manifest (changed or damaged)"
                                    + (f"; {encryption.message}" if encryption else "")))
            continue
        if encryption:
            problems.append(encryption)
            continue
        found = _check_pdf(path, blob, entry, book, decrypt)
        problems += found
        if decrypt and book is not None and not found:
            problems += _check_ranges(export_set, path, blob, entry, book)
    return problems + _strays(base, listed), checked


def _check_ranges(export_set: ExportSet, path: Path, blob: bytes, binder, book) -> list[Problem]:
    """Each list stored as pages of this binder: are its first and last page that list's page 1
    and n of n (read back with PDFium from the binder, decrypted in memory)? The signed manifest
    could name a first page that fits the binder and still be another list's pages."""
    from nodkit.printing import preview
    from nodkit.render import pagecode
    ranges = [e for e in export_set.manifest.files if e.first_page is not None and e.path == binder.path
              and e.last_page <= binder.pages]  # one outside the binder is named by range_problems
    if not ranges:
        return []
    password = book.get(binder.audience, binder.password_generation).password
    try:
        [plain] = crypto.decrypt_parts(blob, password, [None])
        texts = iter(preview.page_texts(plain, [n for e in ranges for n in (e.first_page - 1, e.last_page - 1)]))
    except NodkitError as exc:
        return [Problem(CRITICAL, "unreadable", str(path), f"its lists' pages cannot be read back: {exc}")]
    problems = []
    for entry in ranges:
        why = pagecode.range_problem(next(texts), next(texts), set_id=export_set.id,
                                     file_label=entry.footer_label, pages=entry.pages)
        if why is not None:
            problems.append(Problem(CRITICAL, "pages", f"{path} ({entry.template})", f"list {entry.label}: {why}"))
    return problems


def _listed_files(base: Path, manifest, station, listed: set[str], problems: list[Problem]):
    """(entry, path, bytes) of every file the manifest lists that belongs here, each file once (a
    binder, not the lists that are page ranges of it); bytes None when the file is missing or
    unreadable (its problem is added). Every listed path is added to `listed`. A list whose pages
    do not fit its binder's entry (store format 4) is a problem of its own."""
    listed.update(entry.path for entry in manifest.files)
    for entry, why in manifest.range_problems():
        if not _absent_by_design(station, entry, base / entry.path):
            problems.append(Problem(CRITICAL, "pages", f"{base / entry.path} ({entry.template})",
                                    f"list {entry.label}: {why}"))
    for entry in manifest.stored():
        path = base / entry.path
        if _absent_by_design(station, entry, path):
            continue
        blob, missing = _read_listed(path)
        if missing:
            problems.append(missing)
        yield entry, path, None if missing else blob


def _size_problem(path: Path, blob: bytes, entry, encryption: Problem | None) -> Problem:
    return Problem(CRITICAL, "size", str(path), f"{len(blob)} bytes, manifest says {entry.bytes}"
                   + (f"; {encryption.message}" if encryption else ""))


def _encryption_problem(path: Path, blob: bytes) -> Problem | None:
    """The file is not an AES-256 R6 encrypted PDF: say why. Needs no password."""
    try:
        info = read_encryption(blob)
    except PdfSecurityError as exc:
        return Problem(CRITICAL, "unreadable", str(path), f"not a readable PDF ({exc})")
    if not info.encrypted:
        return Problem(CRITICAL, "encryption", str(path), "unencrypted PDF: NOT ENCRYPTED")
    if not info.aes256_r6:
        return Problem(CRITICAL, "encryption", str(path), f"not AES-256 R6 encryption: {info.describe()}")
    return None


def _check_pdf(path: Path, blob: bytes, entry, book, decrypt: bool) -> list[Problem]:
    password = None
    if decrypt:
        if book is None:
            return []  # the password file is unreadable: reported once for the kit
        try:
            password = book.get(entry.audience, entry.password_generation).password
        except NodkitError as exc:
            return [Problem(CRITICAL, "password", str(path), str(exc))]
    try:
        check = crypto.inspect_pdf(blob, password)
    except NodkitError as exc:
        kind = "password" if "password" in str(exc) else "unreadable"
        return [Problem(CRITICAL, kind, str(path), str(exc))]
    if check.opens_without_password:
        return [Problem(CRITICAL, "encryption", str(path), "opens without a password (empty user password): NOT PROTECTED")]
    if password is None:
        return []
    if not check.aes256 or check.revision != 6:
        return [Problem(CRITICAL, "encryption", str(path), f"not AES-256 R6 (revision {check.revision})")]
    if check.pages != entry.pages:
        return [Problem(CRITICAL, "pages", str(path), f"{check.pages} pages, manifest says {entry.pages}")]
    return []


def check_current_passwords(config: KitConfig, latest: ExportSet, book: crypto.PasswordBook) -> list[Problem]:
    """The newest lists must open with the password each audience holds now (the sealed envelope).

    `verify_set` opens each file with the generation its manifest names; a
    set made with an older generation opens in nodkit, but not for staff who
    type the current password into another PDF reader.
    """
    if latest.manifest is None:
        return []
    problems = []
    for audience in sorted(config.audiences):
        try:
            current = book.current(audience)
        except NodkitError as exc:
            problems.append(Problem(CRITICAL, "password", str(book.path), str(exc)))
            continue
        files = [f for f in latest.manifest.files if f.audience == audience]
        old = sorted({f.password_generation for f in files if f.password_generation != current.generation})
        if old:
            problems.append(Problem(WARNING, "password", str(latest.path / audience),
                                    f"made with password generation {', '.join(map(str, old))} of '{audience}'; "
                                    f"the current password (generation {current.generation}, set "
                                    f"{current.created_at}) does not open these lists until the next export"))
    return problems


def _strays(base: Path, listed: set[str]) -> list[Problem]:
    problems = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if not path.is_dir() and rel not in listed:
            problems.append(_stray(path, "file not in the manifest"))
    return problems


def _stray(path: Path, what: str, severity: int = CRITICAL) -> Problem:
    """A file that should not be there; an unencrypted PDF is always CRITICAL."""
    plain = _plain_pdf(path)
    if plain:
        return Problem(CRITICAL, "stray", str(path), f"UNENCRYPTED PDF: {what}")
    return Problem(severity, "stray", str(path), what)


def _plain_pdf(path: Path, *, unparseable: bool = True) -> bool:
    """True for a readable file that is a PDF without AES-256 R6 encryption.

    A PDF whose structure cannot be followed counts as plaintext unless
    `unparseable=False` (a file an export is writing at this very moment).
    """
    try:
        if path.is_symlink() or not path.is_file():
            return False
        with open(path, "rb") as fh:
            head = fh.read(1024)
        if not looks_like_pdf(head):
            return False
        data = path.read_bytes()
    except OSError:
        return False
    try:
        return not read_encryption(data[data.find(b"%PDF-"):]).aes256_r6
    except PdfSecurityError:
        return unparseable  # a PDF we cannot show to be encrypted is treated as plaintext


def check_guide(path: Path) -> list[Problem]:
    """The printing guide is plain by design; anything else under its name is a plaintext leak."""
    import pikepdf

    from nodkit.render.guide import TITLE
    try:
        with pikepdf.open(path) as pdf:
            title = str(pdf.docinfo.get("/Title", ""))
            pages = len(pdf.pages)
    except pikepdf.PasswordError:
        return []  # encrypted: whatever it is, it is not plaintext
    except pikepdf.PdfError:
        return [Problem(WARNING, "stray", str(path), "printing guide is not a readable PDF (the next export rewrites it)")]
    if title != TITLE or pages > 2:
        return [Problem(CRITICAL, "stray", str(path),
                        f"unencrypted PDF that is not the printing guide ({pages} pages, title {title!r})")]
    return []


def _scan_store(store: Store, sets: list[ExportSet], checked: set[str], lock_busy: bool,
                station=None) -> tuple[list[Problem], int]:
    """Stray files anywhere in the store, and the encryption of PDFs in sets not checked in full."""
    problems: list[Problem] = []
    files = 0
    if not store.root.exists():
        return [Problem(CRITICAL, "missing", str(store.root), "store folder missing")], 0
    for entry in sorted(store.root.iterdir()):
        if entry.name in KNOWN_STORE_ENTRIES:
            continue
        if entry.name.endswith(".tmp") and any(entry.name.startswith(f".{n}.") for n in REPLACED_ENTRIES):
            if entry.name.startswith(f".{GUIDE}."):  # half written or whole: only not-the-guide is a leak
                problems += [p for p in check_guide(entry) if p.severity == CRITICAL]
            elif _plain_pdf(entry, unparseable=False):
                problems.append(Problem(CRITICAL, "stray", str(entry), "UNENCRYPTED PDF"))
            continue
        if entry.name == GUIDE and entry.is_file():
            problems += check_guide(entry)
            continue
        problems += _walk_stray(entry, "not part of the store layout", WARNING)
    if store.sets_dir.exists():
        by_id = {s.id: s for s in sets}
        for entry in sorted(store.sets_dir.iterdir()):
            if not entry.is_dir() or not SET_ID.match(entry.name):
                problems += _walk_stray(entry, "not an export set", WARNING)
                continue
            if entry.name in checked or entry.name not in by_id:
                continue
            s = by_id[entry.name]
            found, count = _scan_set(entry, s, station)
            if entry.exists():  # else pruned while it was read: nothing is missing
                problems += found
                files += count
    if store.incoming_dir.exists():
        for entry in sorted(store.incoming_dir.iterdir()):
            for path in [entry, *sorted(entry.rglob("*"))] if entry.is_dir() else [entry]:
                # While a run is active its files may be half written: only a PDF that
                # parses and has no encryption is then reported.
                if _plain_pdf(path, unparseable=not lock_busy):
                    problems.append(Problem(CRITICAL, "stray", str(path), "UNENCRYPTED PDF in .incoming"))
            if not lock_busy:
                problems.append(Problem(WARNING, "debris", str(entry),
                                        "left by an interrupted run; the next export or 'nodkit prune' removes it"))
    return problems, files


def _scan_set(entry: Path, s: ExportSet, station=None) -> tuple[list[Problem], int]:
    """The encryption and size of every PDF in a set not checked in full, and strays in it."""
    if s.manifest is None:
        return ([Problem(CRITICAL, "unreadable", str(entry / MANIFEST), s.error or "manifest unreadable")]
                + _strays(entry, {MANIFEST, SIGNATURE})), 0
    problems: list[Problem] = []
    listed = {MANIFEST, SIGNATURE}
    files = 0
    for f, path, blob in _listed_files(entry, s.manifest, station, listed, problems):
        files += 1
        if blob is None:
            continue
        bad = _encryption_problem(path, blob)
        if bad:
            problems.append(bad)
        elif len(blob) != f.bytes:
            problems.append(_size_problem(path, blob, f, None))
    return problems + _strays(entry, listed), files


def _walk_stray(entry: Path, what: str, severity: int) -> list[Problem]:
    if entry.is_dir() and not entry.is_symlink():
        found = [_stray(p, what, severity) for p in sorted(entry.rglob("*")) if not p.is_dir()]
        return found or [Problem(severity, "stray", str(entry), what + " (empty folder)")]
    return [_stray(entry, what, severity)]


def _scan_home(home: Path) -> list[Problem]:
    """Unknown entries in the kit home, and any unencrypted PDF outside the store."""
    problems: list[Problem] = []
    for entry in sorted(home.iterdir()):
        if entry.name == "store":
            continue
        if entry.name not in KNOWN_HOME_ENTRIES:
            problems += _walk_stray(entry, "not part of a kit home", WARNING)
        elif entry.is_dir() and not entry.is_symlink():
            for path in sorted(entry.rglob("*")):
                if _plain_pdf(path):
                    problems.append(Problem(CRITICAL, "stray", str(path), "UNENCRYPTED PDF in the kit home"))
    return problems


def check_permissions(config: KitConfig) -> list[Problem]:
    """Modes and groups of the kit home (nodkit.security.access): secrets private to the service, the store,
    config and signing.pub readable by the staff group, logs/ and audit/ writable by it."""
    from nodkit.security import access
    station = config.station
    credentials = [Path(p) if Path(p).is_absolute() else config.home / p
                   for p in ((station.credentials_file, station.client_key) if station else ()) if p]
    severities = {"critical": CRITICAL, "warning": WARNING}
    return [Problem(severities[f.severity], "permissions", f.path, f.message)
            for f in access.check(config.home, config.staff_group, credentials)]


def _lock_busy(store: Store) -> bool:
    """Does a live process hold the store lock? Read-only: verify never takes the lock."""
    try:
        info = json.loads((store.root / ".lock").read_text() or "{}")
    except (OSError, ValueError):
        return False
    pid = info.get("pid")
    return isinstance(pid, int) and _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


# ---------------------------------------------------------------- health

def check_freshness(config: KitConfig, jobs: list, latest_created: dt.datetime | None, now: dt.datetime,
                    report: VerifyReport, checked_at: dt.datetime | None = None) -> list[Problem]:
    """Missed export runs since LATEST was made or, when later, since the last valid unchanged
    check (`checked_at`); and max_age_hours, always from LATEST's creation (its binders say
    "valid until"; an export makes a new set long before that, see export.pipeline)."""
    from nodkit.config.schedules import due_times
    problems: list[Problem] = []
    exports = [j for j in jobs if j.action == "export"]
    grace = dt.timedelta(minutes=config.monitoring.grace_minutes)
    if exports:
        upcoming = [t for j in exports for t in due_times(j, config.timezone, now, now + dt.timedelta(days=8), limit=1)]
        report.next_due = min(upcoming) if upcoming else None
    if latest_created is None:
        return problems
    age = (now - latest_created).total_seconds()
    store_latest = str(config.store / "LATEST")
    if age > config.max_age_hours * 3600:
        problems.append(Problem(CRITICAL, "age", store_latest,
                                f"the newest good lists are {age_text(age)} old (max_age_hours = {config.max_age_hours:g})"))
    if not exports:
        return problems
    if latest_created > now:
        return problems  # reported as a clock problem
    since = max(latest_created, checked_at) if checked_at is not None else latest_created
    missed = sorted({t for j in exports for t in due_times(j, config.timezone, since, now - grace, limit=1000)})
    report.missed_runs = len(missed)
    if missed:
        severity = CRITICAL if len(missed) >= 2 else WARNING
        runs = "1 scheduled export run" if len(missed) == 1 else f"{len(missed)} scheduled export runs"
        what = ("the last check of unchanged sources" if since != latest_created else "the newest good set")
        problems.append(Problem(severity, "freshness", store_latest,
                                f"{runs} missed since {what} (last due "
                                f"{missed[-1].astimezone(config.timezone):%Y-%m-%d %H:%M})"))
    return problems


def check_disk(config: KitConfig, report: VerifyReport) -> list[Problem]:
    target = config.store if config.store.exists() else config.home
    try:
        usage = shutil.disk_usage(target)
    except OSError as exc:
        return [Problem(WARNING, "disk", str(target), f"cannot read free space: {exc.strerror}")]
    report.disk_free_bytes, report.disk_total_bytes = usage.free, usage.total
    percent = report.disk_free_percent or 0.0
    mon = config.monitoring
    text = f"{usage.free / 1e9:.1f} GB free ({percent:.1f} %)"
    if percent < mon.disk_critical_percent:
        return [Problem(CRITICAL, "disk", str(target), f"{text}, below disk_critical_percent = {mon.disk_critical_percent:g}")]
    if percent < mon.disk_warning_percent:
        return [Problem(WARNING, "disk", str(target), f"{text}, below disk_warning_percent = {mon.disk_warning_percent:g}")]
    return []


def check_footprint(config: KitConfig, jobs: list, now: dt.datetime, report: VerifyReport) -> list[Problem]:
    """WARNING when the retention policy, at this schedule, would need more disk than is free.

    Projection: LATEST's size times the sets the policy keeps if every export
    run of the last `hours` made a set (sources that change each run), plus
    one a day for the rest of `days`. The sets already stored count as used.
    """
    from nodkit.config.schedules import due_times
    policy = config.retention
    if not report.latest_bytes or report.disk_free_bytes is None or policy.empty:
        return []
    window = dt.timedelta(hours=policy.hours or 0)
    runs = len({t for j in jobs if j.action == "export"
                for t in due_times(j, config.timezone, now - window, now, limit=10_000)}) if window else 0
    sets = policy.expected_sets(max(runs, 1))
    report.projected_bytes = sets * report.latest_bytes
    needed = report.projected_bytes - report.store_sets_bytes
    if needed <= report.disk_free_bytes:
        return []
    target = config.store if config.store.exists() else config.home
    return [Problem(WARNING, "disk", str(target),
                    f"projected footprint {report.projected_bytes / 1e9:.1f} GB ({sets} sets of "
                    f"{report.latest_bytes / 1e6:.0f} MB: {runs} export runs in {policy.hours or 0:g} h, then one a "
                    f"day for {policy.days:g} days) exceeds the {report.disk_free_bytes / 1e9:.1f} GB free beside the "
                    f"{report.store_sets_bytes / 1e9:.1f} GB the sets use now; shorten [retention] or add disk")]


def printing_queue(config: KitConfig, lpstat: str = "lpstat") -> str | None:
    """The CUPS queue staff print to: `queue` in [printer], else the PC's default printer (lpstat -d)
    when CUPS has one. None: this PC does not print through CUPS (a command backend, an exporter
    without printers), and the printer and spool checks do not apply."""
    if config.printer.backend != "cups":
        return None
    if isinstance(config.printer.queue, str) and config.printer.queue:
        return config.printer.queue
    if shutil.which(lpstat) is None:
        return None
    try:
        out = subprocess.run([lpstat, "-d"], capture_output=True, text=True, timeout=15,
                             env={**os.environ, "LC_ALL": "C", "LANG": "C"}).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = out.strip().rsplit(":", 1)[-1].strip() if "system default destination:" in out else ""
    return found or None


def check_printer(config: KitConfig, lpstat: str = "lpstat", queue: str | None = None) -> list[Problem]:
    """The queue staff print to (`printing_queue`) exists, is enabled and accepts jobs (CUPS lpstat).
    No queue: no check."""
    queue = queue or (config.printer.queue if config.printer.backend == "cups" else None)
    if not queue or not isinstance(queue, str):
        return []
    where = f"printer queue '{queue}'"
    if shutil.which(lpstat) is None:
        return [Problem(CRITICAL, "printer", where, "lpstat not found: is CUPS installed?")]
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        accepting = subprocess.run([lpstat, "-a", queue], capture_output=True, text=True, timeout=15, env=env)
        state = subprocess.run([lpstat, "-p", queue], capture_output=True, text=True, timeout=15, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Problem(CRITICAL, "printer", where, f"lpstat failed: {exc}")]
    out_a = (accepting.stdout + accepting.stderr).strip()
    out_p = (state.stdout + state.stderr).strip()
    if accepting.returncode != 0 or not out_a:
        detail = out_a.splitlines()[0] if out_a else f"lpstat exit {accepting.returncode}"
        if "scheduler is not running" in out_a.lower():
            return [Problem(CRITICAL, "printer", where, "the print system (CUPS) is not running")]
        return [Problem(CRITICAL, "printer", where, f"queue missing or unknown to CUPS ({detail})")]
    if "not accepting" in out_a:
        return [Problem(CRITICAL, "printer", where, "not accepting jobs (cupsaccept the queue)")]
    if state.returncode == 0 and " disabled" in out_p:
        return [Problem(WARNING, "printer", where, "accepts jobs but is disabled (paused); run cupsenable")]
    return []


def check_spooler(config: KitConfig, cupsd_conf: Path | None = None, files_conf: Path | None = None,
                  queue: str | None = None) -> list[Problem]:
    """A CUPS that keeps job files (PreserveJobFiles) keeps every printed list decrypted; any nodkit job file
    still in the spool is such a copy. Checked where staff print through CUPS: a queue configured or
    (`queue`, from printing_queue) the PC's default printer."""
    from nodkit.printing import cupsconf
    if not (config.printer.backend == "cups" and (queue or config.printer.queue)):
        return []
    severities = {"critical": CRITICAL, "warning": WARNING}
    return [Problem(severities[sev], "spool", where, message)
            for sev, where, message in cupsconf.problems(cupsd_conf or cupsconf.CUPSD_CONF,
                                                         files_conf or cupsconf.CUPS_FILES_CONF)]


def check_heartbeat(config: KitConfig, jobs: list, now: dt.datetime, report: VerifyReport) -> list[Problem]:
    """A scheduler that once ran must keep its heartbeat fresh while schedules exist."""
    beat = heartbeat.read(config.home)
    if beat is None or not jobs:
        return []
    where = str(config.home / heartbeat.FILE)
    try:
        updated = beat.updated
    except ValueError:
        return [Problem(WARNING, "heartbeat", where, "unreadable time in the heartbeat")]
    report.heartbeat_at = updated
    if updated > now + CLOCK_SLACK:
        return [Problem(WARNING, "clock", where, f"heartbeat written in the future ({updated:%Y-%m-%d %H:%M %z}): "
                                                 "the PC's clock jumped back")]
    grace = dt.timedelta(minutes=config.monitoring.grace_minutes)
    overdue = []
    for job_id, when in (beat.next_runs or {}).items():
        try:
            t = dt.datetime.fromisoformat(when)
        except (TypeError, ValueError):
            continue
        if t + grace < now and t > updated:
            overdue.append((t, job_id))
    age = (now - updated).total_seconds()
    if overdue:
        t, job_id = min(overdue)
        return [Problem(WARNING, "heartbeat", where, f"scheduler silent since {updated:%Y-%m-%d %H:%M}: job '{job_id}' "
                                                     f"was due {t.astimezone(config.timezone):%Y-%m-%d %H:%M}; "
                                                     "is 'nodkit run' still running?")]
    if age > config.monitoring.heartbeat_max_age_hours * 3600:
        return [Problem(WARNING, "heartbeat", where, f"scheduler heartbeat is {age_text(age)} old "
                                                     f"(heartbeat_max_age_hours = {config.monitoring.heartbeat_max_age_hours:g})")]
    return []


def check_drills(config: KitConfig, latest: ExportSet | None, now: dt.datetime, report: VerifyReport) -> list[Problem]:
    """Days since the last good drill of every (audience, unit) in LATEST. A unit never drilled counts
    from the kit's creation (keys/signing.pub), so a new kit is not WARNING on its first day."""
    from nodkit.printing.drill import last_drills
    limit = config.monitoring.drill_warn_days
    if latest is None or latest.manifest is None:
        return []
    try:
        drills = last_drills(config)
    except NodkitError as exc:
        return [Problem(WARNING, "drill", str(config.home / "audit.log"), f"cannot read the drills: {exc}")]
    try:
        since_kit = dt.datetime.fromtimestamp((config.keys / "signing.pub").stat().st_mtime, dt.timezone.utc)
    except OSError:
        since_kit = None
    problems = []
    for audience, unit in sorted({(f.audience, f.unit) for f in latest.manifest.files}):
        last = drills.get((audience, unit))
        report.drill_days[f"{audience}/{unit}"] = None if last is None else max(0.0, (now - last).total_seconds() / 86400)
        if not limit:
            continue
        start = last or since_kit
        if start is not None and (now - start).total_seconds() > limit * 86400:
            when = f"last drill {(now - last).total_seconds() / 86400:.0f} days ago" if last else "never drilled"
            problems.append(Problem(WARNING, "drill", f"{audience}/{unit}",
                                    f"{when} (drill_warn_days = {limit:g}); run 'nodkit drill' or the kiosk's Øvelse"))
    return problems


def check_audit(config: KitConfig, limit: int = 5) -> list[Problem]:
    """The audit chains (`nodkit audit verify`): a record changed, removed or out of order is
    WARNING (kind `audit`), naming the chain and the record; the lists themselves are unaffected,
    but the record of who printed what, and the drills counted from it, can no longer be trusted."""
    from nodkit.printing.audit import AuditLog
    try:
        result = AuditLog(config.home).verify()
    except NodkitError as exc:
        return [Problem(WARNING, "audit", str(config.home / "audit"), f"cannot check the audit log: {exc}")]
    problems = [Problem(WARNING, "audit", str(config.home / (p.file or "audit.log")),
                        str(p).removeprefix(f"{p.file}: ") + " (run 'nodkit audit verify')")
                for p in result.problems[:limit]]
    if len(result.problems) > limit:
        problems.append(Problem(WARNING, "audit", str(config.home / "audit"),
                                f"{len(result.problems) - limit} more audit log problem(s) ('nodkit audit verify')"))
    return problems


# ---------------------------------------------------------------- the kit

def verify_kit(config: KitConfig, now: dt.datetime | None = None, *, decrypt: bool = False,
               all_sets: bool = False, health: bool = True) -> VerifyReport:
    """Everything `nodkit verify` checks. Raises NodkitError only when nothing can be checked."""
    import time
    started = time.monotonic()
    now = now or config.now()
    report = VerifyReport(checked_at=now, kit=config.name, level="decrypt" if decrypt else "default", role=config.role)
    store = Store(config.store)
    public = crypto.load_public(config.keys)
    station = config.station
    book = None
    if decrypt and station is not None:
        decrypt = False
        report.level = "default"
        report.problems.append(Problem(WARNING, "password", str(config.keys),
                                       "a station holds no audience passwords: --decrypt is not possible here; "
                                       "signatures, hashes and encryption were checked"))
    if decrypt:
        try:
            book = crypto.PasswordBook(config.keys)
        except NodkitError as exc:
            report.problems.append(Problem(CRITICAL, "password", str(config.keys), str(exc)))
    latest = store.latest_id()
    sets = store.sets()
    by_id = {s.id: s for s in sets}
    for s in sets:
        report.sets_by_status[s.status] = report.sets_by_status.get(s.status, 0) + 1
    if latest is None:
        # staff would get no lists at all: CRITICAL, and say why the newest set is not good
        newest = next((s for s in sets if s.manifest is not None), None)
        why = (f"; the newest set {newest.id} is {newest.status}: " + "; ".join(newest.manifest.status_reasons[:3])
               if newest is not None else "")
        report.problems.append(Problem(CRITICAL, "latest", str(store.latest_file),
                                       "no good export set yet (LATEST missing)" + why))
    elif latest not in by_id:
        report.problems.append(Problem(CRITICAL, "latest", str(store.latest_file), f"names set {latest}, which does not exist"))
    else:
        report.latest = latest
        latest_set = by_id[latest]
        report.latest_created = latest_set.created_at
        if latest_set.manifest is not None and latest_set.status != "good":
            report.problems.append(Problem(CRITICAL, "latest", str(store.latest_file), f"names a {latest_set.status} set"))
        rolled_back = store.rollback(public)
        if rolled_back:
            report.problems.append(Problem(CRITICAL, "latest", str(store.latest_file), rolled_back))
        newer_good = [s.id for s in sets if s.id > latest and s.status == "good"]
        if newer_good:
            report.problems.append(Problem(WARNING, "latest", str(store.latest_file),
                                           f"a newer good set exists ({newer_good[0]}) but LATEST names {latest}"))
    if book is not None and latest in by_id:
        report.problems += check_current_passwords(config, by_id[latest], book)
    report.store_sets_bytes = sum(s.manifest.stored_bytes() for s in sets if s.manifest)
    if report.latest is not None and by_id[report.latest].manifest is not None:
        report.latest_bytes = by_id[report.latest].manifest.stored_bytes()
    to_check = sets if all_sets else [by_id[latest]] if latest in by_id else []
    for s in to_check:
        problems, files = verify_set(s, book, public, decrypt=decrypt, station=station)
        if not s.path.exists():
            log.info("set %s was removed (pruned) while it was being checked", s.id)
            continue  # not a missing file: the whole set left sets/ by retention meanwhile
        report.problems += problems
        report.files_checked += files
        report.sets_checked.append(s.id)
    scan, _ = _scan_store(store, sets, set(report.sets_checked), _lock_busy(store), station)
    report.problems += scan
    report.problems += _scan_home(config.home)
    report.problems += check_permissions(config)
    for s in sets:
        created = s.created_at
        if created is not None and created > now + CLOCK_SLACK:
            report.problems.append(Problem(WARNING, "clock", str(s.path),
                                           f"created in the future ({created:%Y-%m-%d %H:%M %z}): check the PC's clock"))
    _read_check(config, store, public, report, now)
    # newer than LATEST; set ids order only to the second, so a set made in LATEST's second counts too
    latest_created = by_id[latest].created_at if latest in by_id else None
    for s in (s for s in sets if latest is None or s.id > latest or (
            s.id != latest and latest_created is not None and s.created_at is not None
            and s.created_at >= latest_created)):
        if s.manifest is not None and s.status != "good":
            report.problems.append(Problem(WARNING, "status", str(s.path), f"newer set is {s.status}: "
                                           + "; ".join(s.manifest.status_reasons[:3])))
    if health:
        report.problems += _health(config, now, report)
        report.problems += check_drills(config, by_id.get(latest) if latest else None, now, report)
        report.problems += check_audit(config)
    report.seconds = time.monotonic() - started
    return report


def _read_check(config: KitConfig, store: Store, public, report: VerifyReport, now: dt.datetime) -> None:
    """store/CHECKED vouches for freshness only when signed, naming a LATEST that is good, and newer than it."""
    try:
        record = store_check.read_check(store.root, public)
    except NodkitError as exc:
        report.problems.append(Problem(WARNING, "check", str(store.root / store_check.FILE), str(exc)))
        return
    latest_ok = report.latest is not None and not any(p.kind == "latest" and p.severity == CRITICAL
                                                      for p in report.problems)
    valid = store_check.valid_check(record, report.latest if latest_ok else None, report.latest_created, now,
                                    CLOCK_SLACK)
    if valid is not None:
        report.sources_checked_at = valid.checked
        report.check_text = valid.text(config.timezone)
    elif record is not None and record.set_id == report.latest and record.checked > now + CLOCK_SLACK:
        report.problems.append(Problem(WARNING, "clock", str(store.root / store_check.FILE),
                                       f"check recorded in the future ({record.checked:%Y-%m-%d %H:%M %z}): "
                                       "the PC's clock jumped back; not counted"))


def _health(config: KitConfig, now: dt.datetime, report: VerifyReport) -> list[Problem]:
    from nodkit.errors import ConfigError
    from nodkit.config.schedules import load_jobs
    problems: list[Problem] = []
    try:
        jobs = load_jobs(config.home, config.timezone)
    except ConfigError as exc:
        problems.append(Problem(CRITICAL, "schedule", str(config.home / "schedules"), str(exc)))
        jobs = []
    problems += check_freshness(config, jobs, report.latest_created, now, report, report.sources_checked_at)
    problems += check_disk(config, report)
    problems += check_footprint(config, jobs, now, report)
    queue = printing_queue(config)
    problems += check_printer(config, queue=queue)
    problems += check_spooler(config, queue=queue)
    problems += check_heartbeat(config, jobs, now, report)
    problems += check_sync(config, report)
    return problems


def check_sync(config: KitConfig, report: VerifyReport) -> list[Problem]:
    """A station: did its last sync reach the exporter, and was what it offered acceptable?

    A failed sync is a WARNING (the station keeps printing its sets; max_age_hours
    turns it CRITICAL); a refused one (rollback, foreign key, swapped file) is
    CRITICAL: someone or something upstream is offering lists that must not be printed.
    """
    if config.station is None:
        return []
    where = str(config.home / "logs" / "sync.json")
    state = read_state(config.home)
    if state is not None:
        report.sync = {k: getattr(state, k) for k in ("last_attempt", "last_success", "last_result", "error_kind",
                                                       "last_error", "upstream_reachable", "upstream_latest",
                                                       "consecutive_failures", "bytes_last", "seconds_last")}
    if state is None:
        return [Problem(WARNING, "sync", where, "never synced from the exporter (run 'nodkit station sync')")]
    if state.last_result == "refused":
        return [Problem(CRITICAL, "sync", where, f"last sync refused ({state.error_kind}): {state.last_error}; "
                                                 "the station keeps its earlier sets")]
    if state.last_result == "failed":
        since = state.last_success or "never"
        return [Problem(WARNING, "sync", where, f"sync failing ({state.error_kind}, {state.consecutive_failures} "
                                                f"attempt(s), last success {since}): {state.last_error}; newest set "
                                                f"{age_text(report.age_seconds)} old")]
    return []
