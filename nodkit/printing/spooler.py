"""Printing: decrypt in memory and stream the PDF to the spooler.

Rules kept here (DESIGN rule 2): the plaintext PDF exists only in this
process's memory and in the spooler's pipe; nodkit never writes it to disk.
The password is the one the person at the PC types: it is checked against
the file itself, not looked up in keys/, so printing proves the person knows
the audience password. Every attempt, good or failed, is appended to the
audit log.

Backends (PrinterConfig.backend):
  cups     `lp -d QUEUE -n COPIES -t TITLE -` reading the PDF from stdin;
           before printing, `lpstat` tells whether the queue exists and is
           enabled, so a paused printer is reported before anything is sent.
  command  any argv with the PDF on stdin ({title}, {copies} filled in);
           for Windows, e.g. SumatraPDF or a print helper (docs/printing.md).

Errors are PrintError with a Danish message that says what to do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nodkit.security import crypto
from nodkit.lists import values
from nodkit.printing import jobs
from nodkit.printing.audit import AuditLog
from nodkit.render import pagecode
from nodkit.config.settings import KitConfig, PrinterConfig
from nodkit.errors import CryptoError, IntegrityError, PrintError, StoreError
from nodkit.store.manifest import FileEntry
from nodkit.store.sets import ExportSet, Store

log = logging.getLogger(__name__)

BINDER = "binder"
TIMEOUT = 60  # seconds for lp/lpstat; a hung spooler must not hang the staff's terminal
CALL_IT = "Ring til IT-vagten, eller åbn filerne i en PDF-læser med adgangskoden (se udskrivningsvejledningen)."


# ---------------------------------------------------------------- what can be printed

@dataclass
class Choice:
    """One menu entry: a binder or a single list of one unit for one audience."""

    label: str
    files: list[FileEntry]

    @property
    def pages(self) -> int:
        return sum(f.pages for f in self.files)


def resolve_set(config: KitConfig, set_id: str | None = None) -> ExportSet:
    """The set to print from: `set_id`, else LATEST (the newest good set)."""
    store = Store(config.store)
    wanted = set_id or store.latest_id()
    if wanted is None:
        raise PrintError("Der er ingen nødlister endnu (ingen eksport er lavet). " + CALL_IT)
    export_set = store.load(wanted)
    if export_set.manifest is None:
        if not export_set.path.exists():
            raise PrintError(f"Sættet {wanted} findes ikke i {store.sets_dir}. Vælg et andet med --set, "
                             "eller udelad --set for at bruge de nyeste lister.")
        raise PrintError(f"Sættet {wanted} kan ikke læses ({export_set.error}). " + CALL_IT)
    from nodkit.store.sets import MANIFEST, SIGNATURE
    try:
        sealed = crypto.check_signature(crypto.load_public(config.keys), (export_set.path / MANIFEST).read_bytes(),
                                        (export_set.path / SIGNATURE).read_bytes())
    except (OSError, CryptoError):
        sealed = False
    if not sealed:
        raise PrintError(f"Sættet {wanted}: manifest.sig passer ikke til manifest.json (ændret eller beskadiget). "
                         "Vælg et ældre sæt med --set, og ring til IT.")
    return export_set


def held(export_set: ExportSet, station=None) -> list[FileEntry]:
    """The set's files this kit holds: on a station, those of its audiences and units (the rest are absent on purpose)."""
    if station is None:
        return list(export_set.manifest.files)
    return [f for f in export_set.manifest.files
            if station.wants(f.audience, f.unit) or (export_set.path / f.path).exists()]


def units(export_set: ExportSet, station=None) -> list[str]:
    return sorted({f.unit for f in held(export_set, station)}, key=lambda u: (u == "Fælles", u.casefold()))


def rollback_warning(config: KitConfig, export_set: ExportSet) -> str | None:
    """A Danish warning when the set to print is older than one nodkit already published (rollback)."""
    try:
        problem = Store(config.store).rollback(crypto.load_public(config.keys))
    except CryptoError:
        return None  # resolve_set has already checked the key
    if problem is None:
        return None
    return (f"ADVARSEL: nyere lister end sæt {export_set.id} er udgivet på denne pc, men de vises ikke "
            f"({problem}). Listerne kan være forældede: ring til IT.")


def template_titles(config: KitConfig) -> dict[str, str]:
    from nodkit.lists.templates import load_templates
    titles = {BINDER: "Samlet mappe (alle lister)"}
    try:
        titles |= {tid: t.title for tid, t in load_templates(config.home, {}).items()}
    except Exception as exc:  # titles are a nicety; printing must work without them
        log.warning("could not load list titles: %s", exc)
    return titles


def list_title(entry: FileEntry, titles: dict[str, str]) -> str:
    """What staff read for a file: a ready-made report's own title, else its template's."""
    return entry.title or titles.get(entry.template, entry.template)


def choices(export_set: ExportSet, unit: str, titles: dict[str, str], audience_titles: dict[str, str],
            station=None, audience: str | None = None) -> list[Choice]:
    """The unit's binder(s) first (else "all lists" when there are several), then its single lists
    (only those of `audience` when given: the kiosk's tiles are per audience and unit)."""
    files = [f for f in held(export_set, station) if f.unit == unit and audience in (None, f.audience)]
    several = len({f.audience for f in files}) > 1
    binders = [f for f in files if f.template == BINDER]
    singles = sorted((f for f in files if f.template != BINDER),
                     key=lambda f: (list_title(f, titles).casefold(), f.audience))
    out = []
    if not binders and len(singles) > 1 and not several:
        # no binder exported for this unit: still let staff take everything in one go
        out.append(Choice(label=f"Alle lister for {unit} ({jobs.pages_text(sum(f.pages for f in singles))})",
                          files=singles))
    for f in binders + singles:
        label = list_title(f, titles)
        if several:
            label += f" – {audience_titles.get(f.audience, f.audience)}"
        out.append(Choice(label=f"{label} ({jobs.pages_text(f.pages)})", files=[f]))
    return out


def find_files(export_set: ExportSet, unit: str | None, template: str | None,
               audience: str | None = None, station=None) -> list[FileEntry]:
    files = [f for f in held(export_set, station)
             if (unit is None or f.unit == unit) and (template is None or f.template == template)
             and (audience is None or f.audience == audience)]
    if not files:
        known = ", ".join(units(export_set, station))
        what = " og ".join(x for x in (f"enhed '{unit}'" if unit else "", f"liste '{template}'" if template else "",
                                        f"målgruppe '{audience}'" if audience else "") if x)
        raise PrintError(f"Sættet {export_set.id} har ingen fil for {what or 'det valgte'}. Enheder: {known}.")
    return files


# ---------------------------------------------------------------- age

@dataclass
class Age:
    created_at: dt.datetime
    as_of: dt.datetime | None
    hours: float
    stale: bool

    def text(self) -> str:
        if self.hours >= 48:
            age = f"{int(self.hours // 24)} dage gamle"
        elif self.hours >= 1:
            age = f"{int(self.hours)} timer gamle"
        else:
            age = "under en time gamle"
        data = values.danish_moment(self.as_of or self.created_at)
        return f"Listerne er {age} – data pr. {data}"


def age_of(export_set: ExportSet, config: KitConfig, now: dt.datetime) -> Age:
    created = dt.datetime.fromisoformat(export_set.manifest.created_at).astimezone(config.timezone)
    stamps = [dt.datetime.fromisoformat(f.as_of) for f in export_set.manifest.files if f.as_of]
    as_of = min(stamps).astimezone(config.timezone) if stamps else None
    hours = max(0.0, (now - created).total_seconds() / 3600)
    return Age(created_at=created, as_of=as_of, hours=hours, stale=hours > config.max_age_hours)


# ---------------------------------------------------------------- decrypt

def unlock(export_set: ExportSet, files: list[FileEntry], password: str) -> list[bytes]:
    """Plain PDF bytes of `files` in memory, in their order. Checks each file's hash against the
    manifest first. A list stored as pages of its unit's binder (store format 4) is those pages
    alone, cut from the binder in memory; each file is read and opened once."""
    by_path: dict[str, list[int]] = {}
    for n, entry in enumerate(files):
        by_path.setdefault(entry.path, []).append(n)
    unfit = export_set.manifest.range_problems()  # the signed manifest's own numbers first
    for entry in files:
        for bad, why in unfit:
            if bad == entry:
                _range_refused(export_set.path / entry.path, entry, why)
    out: list[bytes | None] = [None] * len(files)
    for relpath, numbers in by_path.items():
        entries = [files[n] for n in numbers]
        path = export_set.path / relpath
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PrintError(f"{path}: kan ikke læses ({exc.strerror}). " + CALL_IT) from None
        if any(hashlib.sha256(data).hexdigest() != entry.sha256 for entry in entries):
            raise PrintError(f"{path}: filen er ændret eller beskadiget siden eksporten (forkert SHA-256). "
                             "Vælg et ældre sæt med --set, og ring til IT.")
        try:
            plain = crypto.decrypt_parts(data, password, [None if e.first_page is None else (e.first_page, e.pages)
                                                          for e in entries])
        except CryptoError:
            raise PrintError("Forkert adgangskode. Brug adgangskoden til jeres målgruppe "
                             "(fra den forseglede kuvert), og prøv igen.") from None
        except crypto.PageRangeError as exc:
            _range_refused(path, next(e for e in entries if e.first_page is not None
                                      and (e.first_page < 1 or e.last_page > exc.total)), str(exc))
        except Exception as exc:
            raise PrintError(f"{path}: kan ikke åbnes ({type(exc).__name__}). " + CALL_IT) from None
        for n, pdf in zip(numbers, plain):
            _check_range(export_set, path, files[n], pdf)
            out[n] = pdf
    return out


def _check_range(export_set: ExportSet, path: Path, entry: FileEntry, pdf: bytes) -> None:
    """A list cut from its binder must be that list: its first and last page read back (PDFium)
    must be pages 1 and n of n of the list the manifest names. A wrong first page that still fits
    the binder would otherwise print another list's pages under this list's name."""
    if entry.first_page is None:
        return
    from nodkit.printing import preview  # it imports this module
    first, last = preview.page_texts(pdf, [0, entry.pages - 1])
    why = pagecode.range_problem(first, last, set_id=export_set.id, file_label=entry.footer_label,
                                 pages=entry.pages)
    if why is not None:
        _range_refused(path, entry, why)


def _range_refused(path: Path, entry: FileEntry, why: str) -> None:
    """A list's pages that do not fit its binder: nothing is printed (never another list's pages)."""
    log.error("%s: %s: %s", path, entry.label, why)
    raise PrintError(f"{path}: listen skulle stå på side {entry.first_page}–{entry.last_page} i mappen, men det "
                     "passer ikke med mappen. Der er ikke udskrevet noget. Vælg et ældre sæt med --set, "
                     "og ring til IT.")


def password_opens(config: KitConfig, export_set: ExportSet, entry: FileEntry, password: str,
                   now: dt.datetime | None = None, *, audit: bool = True) -> bool:
    """Does the typed password open `entry`? A wrong one is recorded in the audit log
    (unless `audit` is false: picking which audience's file a password opens is not a failed attempt)."""
    try:
        crypto.inspect_pdf((export_set.path / entry.path).read_bytes(), password)
        return True
    except CryptoError:
        if audit:
            AuditLog(config.home).append_if_possible(action="decrypt", set_id=export_set.id, files=[entry.path],
                                                     pages=0, printer=None, copies=0,
                                                     result="fejl: forkert adgangskode", now=now or config.now())
        return False
    except (OSError, IntegrityError) as exc:
        raise PrintError(f"{export_set.path / entry.path}: kan ikke åbnes ({exc}). " + CALL_IT) from None


# ---------------------------------------------------------------- backends

@dataclass
class Submitted:
    title: str
    job: str | None
    outcome: jobs.JobOutcome | None = None


class Backend:
    label: str

    def check(self) -> None:
        """Raise PrintError if the printer obviously cannot print now."""

    def submit(self, pdf: bytes, title: str, copies: int) -> Submitted:
        raise NotImplementedError

    def watch(self, submitted: Submitted, pages: int, timeout: float) -> jobs.JobOutcome:
        """Follow the job to its end (jobs.watch); a backend that cannot be followed says so."""
        return jobs.JobOutcome(jobs.SENT, submitted.job, None,
                               f"Sendt til {self.label}. nodkit kan ikke se, om papiret kommer ud – "
                               "tjek ved printeren.", "print command: the job cannot be followed")

    def cancel(self, submitted: Submitted) -> bool:
        """Stop a job that must not come out later; False when it cannot be stopped from here."""
        return False


def _run(argv: list[str], data: bytes | None = None, *, c_locale: bool = False) -> subprocess.CompletedProcess:
    # CUPS translates its messages (a Danish desktop gets "printeren … er deaktiveret"); the C locale
    # keeps lpstat/lp output parseable. Our own message to the person is Danish anyway.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"} if c_locale else None
    try:
        return subprocess.run(argv, input=data, capture_output=True, timeout=TIMEOUT, env=env)
    except FileNotFoundError:
        raise PrintError(f"Programmet '{argv[0]}' findes ikke på denne pc, så der kan ikke udskrives herfra. "
                         "Bed IT installere printersystemet (CUPS) eller rette [printer] i nodkit.toml. "
                         + CALL_IT) from None
    except subprocess.TimeoutExpired:
        raise PrintError(f"'{argv[0]}' svarede ikke inden for {TIMEOUT} sekunder. Tjek at printeren er tændt, "
                         "og prøv igen. " + CALL_IT) from None


def _first_line(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else ""


class CupsBackend(Backend):
    def __init__(self, printer: PrinterConfig, queue: str | None = None):
        self.queue = queue or printer.queue
        self.lp, self.lpstat = printer.lp, printer.lpstat
        self.label = self.queue or "standardprinteren"

    def _queue(self) -> str:
        if self.queue:
            return self.queue
        proc = _run([self.lpstat, "-d"], c_locale=True)
        m = re.search(r":\s*(\S+)\s*$", proc.stdout.decode("utf-8", "replace").strip())
        if proc.returncode != 0 or not m:
            raise PrintError("Der er ikke valgt nogen printer til nødlisterne på denne pc. Bed IT vælge en. "
                             + CALL_IT, hint="queue in [printer] of nodkit.toml, or --printer QUEUE")
        self.queue = self.label = m.group(1)
        return self.queue

    def check(self) -> None:
        sched = _run([self.lpstat, "-r"], c_locale=True)
        if b"not running" in sched.stdout + sched.stderr or sched.returncode != 0:
            raise PrintError("Printersystemet kører ikke på denne pc. Genstart pc'en, eller bed IT starte det. "
                             + CALL_IT, hint="systemctl start cups")
        queue = self._queue()
        proc = _run([self.lpstat, "-p", queue], c_locale=True)
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        if proc.returncode != 0 or f"printer {queue} " not in text:
            raise PrintError(f"Printeren '{queue}' findes ikke på denne pc. Vælg en anden printer. " + CALL_IT,
                             hint="lpstat -p lists the queues; --printer QUEUE picks one")
        if re.search(rf"printer {re.escape(queue)} (is )?disabled", text) or "Paused" in text:
            raise PrintError(f"Printeren '{queue}' er sat på pause og udskriver ikke. Tjek papir og strøm, og "
                             "bed IT slå den til igen; eller vælg en anden printer.",
                             hint=f"cupsenable {queue}")

    def submit(self, pdf: bytes, title: str, copies: int) -> Submitted:
        return Submitted(title=title, job=jobs.submit(pdf, title, copies, queue=self._queue(), lp=self.lp))

    def watch(self, submitted: Submitted, pages: int, timeout: float) -> jobs.JobOutcome:
        return jobs.watch(submitted.job, timeout)

    def cancel(self, submitted: Submitted) -> bool:
        return bool(submitted.job) and jobs.cancel(submitted.job)


class CommandBackend(Backend):
    def __init__(self, printer: PrinterConfig):
        self.argv = list(printer.command)
        self.label = printer.label

    def check(self) -> None:
        if not self.argv or (shutil.which(self.argv[0]) is None and not Path(self.argv[0]).exists()):
            raise PrintError(f"Udskriftskommandoen '{self.argv[0] if self.argv else ''}' findes ikke. "
                             "Bed IT rette command i [printer] i nodkit.toml. " + CALL_IT)

    def submit(self, pdf: bytes, title: str, copies: int) -> Submitted:
        per_copy = not any("{copies}" in part for part in self.argv)
        argv = [part.replace("{title}", title).replace("{copies}", str(copies)) for part in self.argv]
        for _ in range(copies if per_copy else 1):
            proc = _run(argv, pdf)
            if proc.returncode != 0:
                raise PrintError(f"Udskriftskommandoen '{argv[0]}' fejlede (kode {proc.returncode}): "
                                 f"{_first_line(proc.stderr)}. " + CALL_IT)
        return Submitted(title=title, job=None)


def no_print_backend(printer: PrinterConfig, platform: str | None = None) -> str | None:
    """Why this PC cannot print from nodkit at all (Danish, for staff), or None.
    On Windows there is no CUPS: only a configured command backend prints."""
    import sys
    if (platform or sys.platform) == "win32" and printer.backend == "cups":
        return ("Denne pc kan ikke udskrive direkte fra nodkit (Windows uden udskriftskommando). Åbn i stedet "
                "listen i en PDF-læser med adgangskoden, og udskriv med Ctrl+P – se udskrivningsvejledningen.")
    return None


def other_queues(printer: PrinterConfig, current: str | None) -> list[str]:
    """CUPS queues on this PC other than `current` (`lpstat -e`), for "choose another printer"."""
    try:
        proc = _run([printer.lpstat, "-e"], c_locale=True)
    except PrintError:
        return []
    names = proc.stdout.decode("utf-8", "replace").split() if proc.returncode == 0 else []
    return [n for n in names if n != current]


def other_audience(config: KitConfig, export_set: ExportSet, password: str, skip: str) -> tuple[str, list[str]] | None:
    """(audience title, its units) when `password` opens another audience's lists in this set."""
    for audience in sorted({f.audience for f in export_set.manifest.files} - {skip}):
        entry = next(f for f in export_set.manifest.files if f.audience == audience)
        if password_opens(config, export_set, entry, password, audit=False):
            title = config.audiences[audience].title if audience in config.audiences else audience
            return title, sorted({f.unit for f in export_set.manifest.files if f.audience == audience})
    return None


def backend_for(printer: PrinterConfig, override: str | None = None) -> Backend:
    """--printer QUEUE always means a CUPS queue, whatever the configured backend."""
    if override or printer.backend == "cups":
        return CupsBackend(printer, override)
    return CommandBackend(printer)


# ---------------------------------------------------------------- print

@dataclass
class PrintResult:
    set_id: str
    printer: str
    copies: int
    pages: int
    jobs: list[Submitted] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    audit_error: str | None = None  # the print happened but could not be recorded (read-only or full disk)

    @property
    def printed(self) -> bool:
        """True only when every job is reported printed (a print command's "sent" counts: it cannot be followed)."""
        return bool(self.jobs) and all(j.outcome is not None and j.outcome.state in (jobs.PRINTED, jobs.SENT)
                                       for j in self.jobs)

    @property
    def outcome(self) -> jobs.JobOutcome | None:
        """The first job that did not print, else the last one (what to tell the person)."""
        done = [j.outcome for j in self.jobs if j.outcome is not None]
        bad = [o for o in done if o.state not in (jobs.PRINTED, jobs.SENT)]
        return bad[0] if bad else (done[-1] if done else None)

    @property
    def pages_printed(self) -> int | None:
        counts = [j.outcome.pages for j in self.jobs if j.outcome is not None]
        return sum(counts) if counts and all(c is not None for c in counts) else None

    def to_dict(self) -> dict:
        return {"set": self.set_id, "printer": self.printer, "copies": self.copies, "pages": self.pages,
                "files": self.files, "jobs": [j.job for j in self.jobs], "printed": self.printed,
                "outcomes": [j.outcome.to_dict() for j in self.jobs if j.outcome is not None],
                "audit_error": self.audit_error}


class PrintInterrupted(KeyboardInterrupt):
    """Printing was stopped by Ctrl-C/SIGTERM; `message` tells the person, in Danish, what became of it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _stop_unfinished(backend: Backend, result: PrintResult) -> tuple[str, str]:
    """Cancel the jobs that were sent but not seen printed; (Danish message, audit detail)."""
    unfinished = [j for j in result.jobs if j.outcome is None or j.outcome.state not in (jobs.PRINTED, jobs.SENT)]
    done = len(result.jobs) - len(unfinished)
    said = "Afbrudt. " + (f"{done} af {len(result.jobs)} udskrifter kom ud før afbrydelsen. " if done else "")
    if not unfinished:
        return said + ("Der udskrives ikke mere." if done else "Der blev ikke sendt noget til printeren."), \
            "nothing was being printed"
    sending = [j for j in unfinished if j.job is None]  # stopped inside lp: it may or may not have queued it
    failed = [j for j in unfinished if j.job is not None and not backend.cancel(j)]
    cancelled = [j for j in unfinished if j.job is not None and j not in failed]
    detail = "; ".join(part for part in (
        f"job(s) {', '.join(str(j.job) for j in cancelled)} cancelled" if cancelled else "",
        f"CANCEL FAILED for {', '.join(str(j.job) for j in failed)}: may print later" if failed else "",
        "interrupted while handing a job to the spooler: unknown whether it was queued" if sending else "") if part)
    if failed:
        return said + jobs.NOT_CANCELLED, detail
    if sending:
        return (said + "Det kan ikke ses, om udskriften nåede printeren. Kommer der papir ud senere, så sig det "
                "til IT-vagten."), detail
    return said + jobs.CANCELLED + " Der kan være kommet enkelte sider ud – tjek ved printeren.", detail


def job_title(export_set: ExportSet, entry: FileEntry, titles: dict[str, str] | None = None) -> str:
    title = list_title(entry, titles or {})
    return f"nodkit {entry.unit} {title} {export_set.id}"


def print_files(config: KitConfig, export_set: ExportSet, files: list[FileEntry], password: str | None, copies: int,
                *, backend: Backend | None = None, now: dt.datetime | None = None,
                titles: dict[str, str] | None = None, timeout: float | None = None,
                plain: list[bytes] | None = None) -> PrintResult:
    """Check the printer, decrypt every file in memory, send each as one job and follow it to its end
    (jobs.watch); audit the outcome. A job that did not print stops the rest and is cancelled; the
    result says so (`printed` false) rather than raising, so the menu can offer another try.
    `plain`: the files already decrypted in memory by the caller (the kiosk's unlocked session)."""
    now = now or config.now()
    backend = backend or backend_for(config.printer)
    audit = AuditLog(config.home)
    names = [f.label for f in files]  # a list inside a binder: the binder, its pages and the list
    pages = sum(f.pages for f in files)
    wait = config.printer.wait_seconds if timeout is None else timeout
    if not 1 <= copies <= config.printer.max_copies:
        raise PrintError(f"Antal kopier skal være mellem 1 og {config.printer.max_copies} (max_copies i [printer]).")
    action = "print"
    result = PrintResult(set_id=export_set.id, printer=backend.label, copies=copies, pages=pages, files=names)
    try:
        backend.check()
        action = "decrypt"
        if plain is None:
            plain = unlock(export_set, files, password or "")
        action = "print"
        for entry, pdf in zip(files, plain):
            submitted = Submitted(title=job_title(export_set, entry, titles), job=None)
            result.jobs.append(submitted)
            submitted.job = backend.submit(pdf, submitted.title, copies).job
            submitted.outcome = backend.watch(submitted, entry.pages * copies, wait)
            if submitted.outcome.state not in (jobs.PRINTED, jobs.SENT):
                break  # the printer cannot print: do not queue the rest behind it
        del plain
    except (PrintError, StoreError) as exc:
        audit.append_if_possible(action=action, set_id=export_set.id, files=names, pages=pages,
                                 printer=backend.label, copies=copies, result=f"fejl: {exc}", now=now)
        raise
    except KeyboardInterrupt:
        # Ctrl-C, SIGTERM or the window closed while a job was being sent or followed: stop it, so
        # it does not come out later with nobody at the printer, and record what happened
        message, detail = _stop_unfinished(backend, result)
        audit.append_if_possible(action=action, set_id=export_set.id, files=names, pages=pages,
                                 printer=backend.label, copies=copies, result=f"afbrudt: {detail}", now=now)
        log.info("print interrupted: %s", detail)
        raise PrintInterrupted(message) from None
    outcome = result.outcome
    result.audit_error = audit.append_if_possible(action="print", set_id=export_set.id, files=names, pages=pages,
                                                  printer=backend.label, copies=copies,
                                                  result=outcome.audit_result(), now=now)
    log.info("print %d file(s), %d page(s) x %d from set %s on %s: %s", len(files), pages, copies,
             export_set.id, backend.label, outcome.state if outcome else "nothing sent")
    return result
