"""The print kiosk: the staff's print path as a local web page, in Danish, big buttons.

Four screens: unit tiles (search; grouped by audience) → the unit's binder,
then its single lists (pages, "Data pr.") → password and copies, with a
preview of the first page once unlocked → the job's live status. Every
screen carries the freshness banner (green/yellow/red, with words and a
symbol, never colour alone). `/it` shows the facts of `nodkit status`.
The logic is the text menu's (nodkit.printing.spooler: resolve_set, units,
choices, password_opens, unlock, print_files); this module is only the web
front of it.

Security rules kept here:
- loopback only: the server binds 127.0.0.1 (cli refuses other hosts unless
  forced) and every request whose peer is not a loopback address gets 403;
  the Host header must be a loopback name too (DNS rebinding);
- every POST carries the session's CSRF token or gets 403 before any
  password is looked at;
- the password is read from one POST body, checked against the file itself,
  used to decrypt the unit's files of that audience into this process's
  memory, and then dropped: never stored, logged or put in a URL;
- the decrypted bytes live in the server-side session only, which forgets
  them after IDLE_SECONDS without a request and right after printing;
- wrong passwords are audited (password_opens) and rate-limited for the whole
  kiosk (a new cookie does not reset it);
- every response says Cache-Control: no-store; every preview and print is audited.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from nodkit.config.settings import KitConfig
from nodkit.errors import NodkitError, PrintError
from nodkit.printing import jobs, spooler
from nodkit.printing.audit import AuditLog

log = logging.getLogger(__name__)

IDLE_SECONDS = 120.0  # the unlocked audience is forgotten after this long without a request
FREE_TRIES = 3  # wrong passwords before the kiosk makes the person wait
MAX_WAIT = 60.0
COOKIE = "nodkit_kiosk"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def label_of(choice: spooler.Choice) -> str:
    """The menu's label without its "(N sider)": the page shows the pages on a line of their own."""
    return re.sub(r" \(\d+ sider\)$", "", choice.label)


# ---------------------------------------------------------------- state

@dataclass
class Unlocked:
    """One audience's files of one unit, decrypted in memory with the password typed once."""
    set_id: str
    audience: str
    unit: str
    plain: dict[str, bytes]


@dataclass
class JobView:
    """What screen 4 shows; filled in by the print thread."""
    kind: str  # "print" | "drill"
    label: str
    unit: str
    copies: int
    pages: int
    printer: str
    state: str = "sending"  # sending | printed | waiting | failed | sent
    message: str = "Sender til printeren …"
    jobs: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state != "sending"


@dataclass
class Session:
    csrf: str
    seen: float
    unlocked: Unlocked | None = None
    jobs: dict[str, JobView] = field(default_factory=dict)


@dataclass
class Banner:
    level: str  # "ok" | "warn" | "bad"
    word: str  # the signal in words (not colour only)
    text: str


class Kiosk:
    """The kiosk's state and library calls, apart from Flask so tests can drive the clock."""

    def __init__(self, config: KitConfig, *, queue: str | None = None,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], dt.datetime] | None = None,
                 platform: str | None = None):
        self.config = config
        self.queue = queue
        self.clock = clock
        self.now = now or config.now
        self.platform = platform
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        self.wrong = 0
        self.wait_until = 0.0
        self.titles = spooler.template_titles(config)
        self.audience_titles = {name: a.title for name, a in config.audiences.items()}

    # -- sessions
    def session(self, sid: str | None) -> tuple[str, Session]:
        now = self.clock()
        with self.lock:
            for old in [k for k, s in self.sessions.items() if now - s.seen > 3600]:
                del self.sessions[old]
            s = self.sessions.get(sid or "")
            if s is None:
                sid = secrets.token_urlsafe(32)
                s = self.sessions[sid] = Session(csrf=secrets.token_urlsafe(32), seen=now)
            if s.unlocked is not None and now - s.seen > IDLE_SECONDS:
                s.unlocked = None  # idle: forget the decrypted lists
            s.seen = now
            return sid, s

    # -- what staff see
    def backend(self) -> spooler.Backend:
        return spooler.backend_for(self.config.printer, self.queue)

    def cannot_print(self) -> str | None:
        return spooler.no_print_backend(self.config.printer, self.platform)

    def printer_problem(self) -> str | None:
        try:
            self.backend().check()
        except PrintError as exc:
            return str(exc)
        return None

    def export_set(self, set_id: str | None = None):
        return spooler.resolve_set(self.config, set_id)

    def freshness(self) -> Banner:
        """Green: fresh; yellow: one export missed; red: older (verify's CRITICAL) or no lists at all."""
        from nodkit.config.schedules import load_jobs
        from nodkit.errors import CRITICAL
        from nodkit.monitoring.verify import VerifyReport, check_freshness
        now = self.now()
        try:
            export_set = self.export_set()
        except NodkitError as exc:
            return Banner("bad", "INGEN LISTER", str(exc))
        age = spooler.age_of(export_set, self.config, now)
        try:
            jobs = load_jobs(self.config.home, self.config.timezone)
        except NodkitError:
            jobs = []
        report = VerifyReport(checked_at=now)
        problems = check_freshness(self.config, jobs, age.created_at, now, report)
        worst = max((p.severity for p in problems), default=0)
        if worst >= CRITICAL or age.stale:
            return Banner("bad", "FORÆLDET", f"{age.text()}. Ring og tjek medicin og adgang, før du bruger dem.")
        if problems:
            return Banner("warn", "ADVARSEL", f"En planlagt eksport mangler. {age.text()}. "
                                              "Tjek det vigtigste mundtligt.")
        return Banner("ok", "FRISKE", f"{age.text()}.")

    def tiles(self, query: str = "") -> list[dict]:
        """[{audience, title, units: [unit, …]}] grouped by audience, filtered by `query` (case-insensitive)."""
        export_set = self.export_set()
        q = query.strip().casefold()
        groups: dict[str, list[str]] = {}
        for unit in spooler.units(export_set):
            for audience in sorted({f.audience for f in export_set.manifest.files if f.unit == unit}):
                if not q or q in unit.casefold() or q in self.audience_titles.get(audience, audience).casefold():
                    groups.setdefault(audience, []).append(unit)
        order = list(self.config.audiences) + sorted(a for a in groups if a not in self.config.audiences)
        return [{"audience": a, "title": self.audience_titles.get(a, a), "units": groups[a]}
                for a in order if a in groups]

    def choices(self, export_set, audience: str, unit: str) -> list[spooler.Choice]:
        found = spooler.choices(export_set, unit, self.titles, self.audience_titles, self.config.station, audience)
        if not found:
            raise PrintError(f"Enheden '{unit}' har ingen lister for {self.audience_titles.get(audience, audience)} "
                             f"i sættet {export_set.id}.")
        return found

    def opens(self, audience: str) -> list[str]:
        """Titles of the lists the audience password opens (shown next to the password field)."""
        a = self.config.audiences.get(audience)
        return [self.titles.get(t, t) for t in (a.templates if a else ())]

    # -- passwords
    def wait_seconds(self) -> int:
        return max(0, int(self.wait_until - self.clock() + 0.999))

    def try_password(self, session: Session, export_set, audience: str, unit: str, password: str) -> str | None:
        """Unlock (audience, unit) with `password`; None on success, else the Danish reason."""
        waiting = self.wait_seconds()
        if waiting:
            return f"For mange forkerte adgangskoder. Vent {waiting} sekunder, og prøv igen."
        files = [f for f in export_set.manifest.files if f.audience == audience and f.unit == unit]
        if not password:
            return "Skriv adgangskoden til " + self.audience_titles.get(audience, audience) + "."
        if not spooler.password_opens(self.config, export_set, files[0], password, self.now()):
            with self.lock:
                self.wrong += 1
                if self.wrong >= FREE_TRIES:
                    self.wait_until = self.clock() + min(MAX_WAIT, 5.0 * 2 ** (self.wrong - FREE_TRIES))
            return ("Forkert adgangskode. Brug adgangskoden til "
                    f"{self.audience_titles.get(audience, audience)} (fra den forseglede kuvert). "
                    "Store/små bogstaver og bindestreger tæller.")
        with self.lock:
            self.wrong, self.wait_until = 0, 0.0
        plain = spooler.unlock(export_set, files, password)
        session.unlocked = Unlocked(set_id=export_set.id, audience=audience, unit=unit,
                                    plain={f.label: pdf for f, pdf in zip(files, plain)})
        return None

    @staticmethod
    def unlocked_for(session: Session, export_set, audience: str, unit: str) -> Unlocked | None:
        u = session.unlocked
        if u and u.set_id == export_set.id and u.audience == audience and u.unit == unit:
            return u
        return None

    # -- preview, print, drill
    def preview(self, export_set, choice: spooler.Choice, unlocked: Unlocked) -> bytes:
        from nodkit.printing.preview import first_page_png
        entry = choice.files[0]
        png = first_page_png(unlocked.plain[entry.label])
        AuditLog(self.config.home).append(action="preview", set_id=export_set.id, files=[entry.label], pages=1,
                                          printer=None, copies=0, result="ok", now=self.now())
        return png

    def start_print(self, session: Session, export_set, choice: spooler.Choice, copies: int) -> str:
        unlocked = session.unlocked
        plain = [unlocked.plain[f.label] for f in choice.files]
        session.unlocked = None  # printing ends the unlocked session; the thread holds the bytes until sent
        backend = self.backend()
        view = JobView(kind="print", label=label_of(choice), unit=unlocked.unit, copies=copies, pages=choice.pages,
                       printer=backend.label)

        def work() -> None:
            try:
                result = spooler.print_files(self.config, export_set, choice.files, None, copies, backend=backend,
                                             titles=self.titles, plain=plain, now=self.now())
                view.jobs = [j.job for j in result.jobs if j.job]
                show_outcome(view, result.outcome, result.pages_printed if result.printed else None)
            except NodkitError as exc:
                view.state, view.message = "failed", str(exc)
        return self._run(session, view, work)

    def start_drill(self, session: Session, export_set, unit: str, audience: str) -> str:
        from nodkit.printing.drill import run_drill
        unlocked = session.unlocked
        backend = self.backend()
        view = JobView(kind="drill", label="Øvelse: samlet mappe åbnet, sider talt, én øvelsesside",
                       unit=unit, copies=1, pages=1, printer=backend.label)

        def work() -> None:
            try:
                result = run_drill(self.config, export_set, unit, None, audience=audience, backend=backend,
                                   titles=self.titles, plain=unlocked.plain, now=self.now())
                view.jobs = [result.job] if result.job else []
                view.label = "Øvelse: " + ", ".join(f"{t} ({p} sider)" for t, p in result.checked) + " åbnet og talt"
                show_outcome(view, result.outcome)
            except NodkitError as exc:
                view.state, view.message = "failed", str(exc)
        return self._run(session, view, work)

    def _run(self, session: Session, view: JobView, work: Callable[[], None]) -> str:
        token = secrets.token_urlsafe(12)
        session.jobs[token] = view
        threading.Thread(target=work, name=f"kiosk-{view.kind}", daemon=True).start()
        return token


def show_outcome(view: JobView, outcome: jobs.JobOutcome | None, pages: int | None = None) -> None:
    """Screen 4 from the job's outcome as the spooler followed it (nodkit.printing.jobs): "Udskrevet"
    only when CUPS says completed; a print command that cannot be followed says "Sendt"."""
    if outcome is None:
        view.state, view.message = "failed", "Intet blev sendt til printeren. " + spooler.CALL_IT
        return
    view.state, view.message = outcome.state, outcome.message
    if outcome.state == jobs.PRINTED and pages:
        view.message = f"Udskrevet: {jobs.pages_text(pages)}. Hent papiret ved printeren."


from nodkit.staff.kiosk.web import create_app, serve  # noqa: E402,F401  (the Flask front)
