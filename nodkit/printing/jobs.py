"""Print jobs followed to their end: submit a PDF, watch the CUPS job, say the truth.

"Sent to the printer" is not "printed": a switched-off printer lets CUPS
hold the job for hours and print it later with nobody there. So every job is
watched until CUPS reports it completed, a printer-side problem is reported,
or a timeout passes; a job that did not print is cancelled (with its spool
files) so it never comes out unattended.

API (also used by the browser print page, issue 20):

    job_id = submit(pdf, title, copies, queue="kontor-1")   # -> "kontor-1-17"
    outcome = watch(job_id, timeout=120)                     # -> JobOutcome, blocks until known
    outcome.state    "printed" | "waiting" | "failed" | "sent"
    outcome.printed  True only for "printed"
    outcome.pages    pages CUPS reports as printed (all copies), or None
    outcome.message  Danish, for the person at the printer (no shell commands)
    outcome.detail   English, for IT and the log
    outcome.cancelled  the job was cancelled because it could not print

    problem = printer_problem("kontor-1")   # before sending: (Danish, English) or None
    cancel(job_id) -> bool; plural/pages_text/copies_text: "1 side", "2 sider", "2.950 sider"

States:
  printed  CUPS job-state completed; pages from job-impressions-completed.
  waiting  not printed: the printer is paused, unreachable, out of paper …,
           or nothing happened within the timeout; the job is cancelled.
  failed   CUPS aborted or someone cancelled the job; or it could not be
           followed (scheduler gone: then it is cancelled too; or the job
           vanished, as with PreserveJobHistory No). Pages may be missing.
  sent     a backend that cannot be followed (a print command): handed over,
           nodkit cannot see whether paper came out, and says so.

Job state comes from CUPS over IPP (nodkit/printing/ipp.py), on the same
server `lp` uses. Times are seconds; `clock`/`sleep` may be passed for tests
that must not wait on the wall clock.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Callable

from nodkit.errors import PrintError
from nodkit.printing import ipp

log = logging.getLogger(__name__)

PRINTED, WAITING, FAILED, SENT = "printed", "waiting", "failed", "sent"
TIMEOUT = 120.0   # s: longest wait for a job that shows no progress and no problem
STALL = 20.0      # s: a job with a printer message ("unavailable", "connecting") and no progress is not coming
POLL = 0.5
SUBMIT_TIMEOUT = 60
NO_ANSWER = "Printeren svarer ikke – tjek at den er tændt og har papir."
CANCELLED = "Udskriften er annulleret, så den ikke kommer ud senere."
NOT_CANCELLED = ("Udskriften kunne ikke annulleres og kan komme ud senere – sig det til IT-vagten.")

# printer-state-reasons (RFC 8011 §5.4.12, PWG 5100.9) that stop paper, in Danish without commands
_REASONS = {
    "media-empty": "Printeren mangler papir – læg papir i.",
    "media-needed": "Printeren mangler papir – læg papir i.",
    "media-jam": "Der sidder papir fast i printeren – fjern det.",
    "toner-empty": "Printeren mangler toner.",
    "marker-supply-empty": "Printeren mangler toner eller blæk.",
    "door-open": "En låge på printeren står åben – luk den.",
    "cover-open": "Et dæksel på printeren står åbent – luk det.",
    "offline": NO_ANSWER,
    "shutdown": NO_ANSWER,
    "paused": "Printeren er sat på pause og udskriver ikke.",
}
_BENIGN = {"none", "cups-waiting-for-job-completed", "processing-to-stop-point", "cups-insecure-filter-warning",
           "cups-missing-filter-warning"}


def plural(count: int, one: str, many: str) -> str:
    """'1 side', '2 sider', '2.950 sider' (Danish thousands separator)."""
    return f"{count:,}".replace(",", ".") + " " + (one if count == 1 else many)


def pages_text(count: int) -> str:
    return plural(count, "side", "sider")


def copies_text(count: int) -> str:
    return plural(count, "kopi", "kopier")


@dataclass
class JobOutcome:
    state: str
    job: str | None
    pages: int | None
    message: str
    detail: str
    cancelled: bool = False

    @property
    def printed(self) -> bool:
        return self.state == PRINTED

    def audit_result(self) -> str:
        """The audit log's `result` for this job: "ok" only when CUPS says it printed."""
        if self.printed:
            return "ok"
        if self.state == SENT:
            return "sendt (kan ikke følges)"
        return f"fejl: {self.state}{' (annulleret)' if self.cancelled else ''}: {self.detail}"

    def to_dict(self) -> dict:
        return {"job": self.job, "state": self.state, "pages": self.pages, "cancelled": self.cancelled,
                "message": self.message, "detail": self.detail}


def job_number(job_id: str) -> int:
    """'kontor-1-17' -> 17 (lp's request id is QUEUE-NUMBER)."""
    m = re.search(r"(\d+)$", job_id)
    if not m:
        raise PrintError(f"Ukendt udskriftsjob '{job_id}'.")
    return int(m.group(1))


def _c_env() -> dict:
    # CUPS translates its messages; the C locale keeps lp's "request id is" parseable
    return {**os.environ, "LC_ALL": "C", "LANG": "C"}


def submit(pdf: bytes, title: str, copies: int, *, queue: str, lp: str = "lp") -> str:
    """Hand the PDF to CUPS on stdin (nothing written by nodkit); the CUPS job id ("QUEUE-N")."""
    try:
        proc = subprocess.run([lp, "-d", queue, "-n", str(copies), "-t", title, "-"], input=pdf,
                              capture_output=True, timeout=SUBMIT_TIMEOUT, env=_c_env())
    except FileNotFoundError:
        raise PrintError(f"Programmet '{lp}' findes ikke på denne pc, så der kan ikke udskrives herfra. "
                         "Bed IT installere printersystemet (CUPS).") from None
    except subprocess.TimeoutExpired:
        raise PrintError(f"Printersystemet svarede ikke inden for {SUBMIT_TIMEOUT} sekunder. {NO_ANSWER}") from None
    text = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise PrintError(f"Printeren '{queue}' tog ikke imod udskriften. {NO_ANSWER}", hint=text)
    m = re.search(r"request id is (\S+)", proc.stdout.decode("utf-8", "replace"))
    if not m:
        raise PrintError(f"Printeren '{queue}' gav ikke noget jobnummer; det kan ikke ses, om der udskrives.",
                         hint=proc.stdout.decode("utf-8", "replace"))
    return m.group(1)


def cancel(job_id: str, server: ipp.Server | None = None) -> bool:
    """Cancel and purge the job; True when CUPS confirms (or the job is already gone)."""
    try:
        ipp.cancel_job(job_number(job_id), server)
        return True
    except ipp.IppError as exc:
        if exc.status == ipp.NOT_FOUND:
            return True
        if exc.status == 0x0407:  # client-error-not-possible: already finished (completed/cancelled/aborted)
            return True
        log.warning("could not cancel job %s: %s", job_id, exc)
        return False


def _problem(printer: dict[str, list]) -> tuple[str, str] | None:
    """(Danish, English) when the printer's own state says it cannot print now."""
    reasons = [r for r in printer.get("printer-state-reasons", []) if isinstance(r, str)]
    state = (printer.get("printer-state") or [0])[0]
    message = (printer.get("printer-state-message") or [""])[0]
    if state == 5 or "paused" in reasons:
        return _REASONS["paused"], f"printer stopped/paused ({', '.join(reasons) or 'no reason'}; {message!r})"
    if printer.get("printer-is-accepting-jobs") == [False]:
        return "Printeren tager ikke imod udskrifter.", "printer is not accepting jobs"
    for reason in reasons:
        base = re.sub(r"-(error|warning|report)$", "", reason)
        if reason.endswith(("-warning", "-report")) or base in _BENIGN or base == "connecting-to-device":
            continue
        if base in _REASONS:
            return _REASONS[base], f"printer-state-reasons {reason} ({message!r})"
        if reason.endswith("-error"):
            return "Printeren melder en fejl – se printerens display.", f"printer-state-reasons {reason} ({message!r})"
    return None


def printer_problem(queue: str, server: ipp.Server | None = None) -> tuple[str, str] | None:
    """Before sending: (Danish, English) if the queue is missing, paused or reports a problem; else None."""
    try:
        printer = ipp.get_printer(queue, server)
    except ipp.IppError as exc:
        if exc.status == ipp.NOT_FOUND:
            return (f"Printeren '{queue}' findes ikke på denne pc.", f"CUPS has no queue {queue!r}")
        return ("Printersystemet på denne pc svarer ikke.", str(exc))
    return _problem(printer)


def _first(attrs: dict[str, list], name: str, default=None):
    values = attrs.get(name)
    return values[0] if values else default


def watch(job_id: str, timeout: float = TIMEOUT, *, stall: float | None = None, cancel_if_not_printed: bool = True,
          server: ipp.Server | None = None, poll: float = POLL,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> JobOutcome:
    """Follow CUPS job `job_id` until it completes, a printer problem shows, or `timeout` passes
    without it completing. A job that did not print is cancelled (unless `cancel_if_not_printed` is false)."""
    number = job_number(job_id)
    stall = min(STALL, timeout) if stall is None else stall
    start = clock()
    progress_at, last_pages = start, -1
    outcome: JobOutcome | None = None
    while outcome is None:
        try:
            job = ipp.get_job(number, server)
        except ipp.IppError as exc:
            gone = exc.status == ipp.NOT_FOUND
            outcome = JobOutcome(FAILED, job_id, None,
                                 "Det kan ikke ses, om udskriften kom ud – tjek ved printeren. " + NO_ANSWER,
                                 ("job vanished from CUPS before it was seen completed (PreserveJobHistory "
                                  "off or purged)" if gone else f"cannot follow the job: {exc}"))
            break
        state = _first(job, "job-state", 0)
        pages = _first(job, "job-impressions-completed", 0) or 0
        printer_msg = _first(job, "job-printer-state-message", "") or ""
        reasons = ", ".join(job.get("job-state-reasons", []))
        if pages != last_pages:
            progress_at, last_pages = clock(), pages
        if state == 9:
            outcome = JobOutcome(PRINTED, job_id, pages or None,
                                 (f"Udskrevet: {pages_text(pages)}. " if pages else "Udskrevet. ")
                                 + "Hent papiret ved printeren.",
                                 f"job completed, {pages} impression(s)")
            break
        if state in (7, 8):
            who = "annulleret" if state == 7 else "afbrudt af printersystemet"
            outcome = JobOutcome(FAILED, job_id, pages or None,
                                 f"Udskriften blev {who}" + (f" efter {pages_text(pages)}" if pages else "")
                                 + " – der kan mangle sider. Prøv igen, eller vælg en anden printer.",
                                 f"job {ipp.JOB_STATES[state]} ({reasons}; printer: {printer_msg!r})")
            break
        queue = str(_first(job, "job-printer-uri", "")).rsplit("/", 1)[-1]
        problem = None
        if queue:
            try:
                problem = _problem(ipp.get_printer(queue, server))
            except ipp.IppError as exc:
                problem = (NO_ANSWER, f"printer state unreadable: {exc}")
        if problem is None and state == 6:
            problem = (NO_ANSWER, f"job processing-stopped ({reasons})")
        now = clock()
        if problem is None and printer_msg and now - progress_at >= stall:
            # the backend keeps retrying an unreachable device: "unavailable", "Unable to connect"
            problem = (NO_ANSWER, f"no progress for {now - progress_at:.0f} s; printer says {printer_msg!r}")
        if problem is None and now - start >= timeout:
            problem = (NO_ANSWER, f"not completed after {timeout:.0f} s (job {ipp.JOB_STATES.get(state, state)}; "
                                  f"printer says {printer_msg!r})")
        if problem is not None:
            danish, detail = problem
            outcome = JobOutcome(WAITING, job_id, pages or None, danish + " Der er ikke udskrevet noget.",
                                 detail)
            break
        sleep(poll)
    # a job still queued (waiting) or one we lost sight of may yet print unattended: stop it
    if cancel_if_not_printed and (outcome.state == WAITING or outcome.detail.startswith("cannot follow")):
        outcome.cancelled = cancel(job_id, server)
        outcome.message += " " + (CANCELLED if outcome.cancelled else NOT_CANCELLED)
        outcome.detail += "; job cancelled" if outcome.cancelled else "; CANCEL FAILED: the job may print later"
    log.info("job %s: %s (%s)", job_id, outcome.state, outcome.detail)
    return outcome
