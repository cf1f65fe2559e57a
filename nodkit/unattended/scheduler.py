"""The unattended scheduler behind `nodkit run`.

An APScheduler 3.x BlockingScheduler runs the jobs of schedules/*.toml in
the kit's timezone. The rules it keeps:

- It calls the same `run_export` and `verify_kit` as the CLI (STYLE 3).
- One `nodkit run` per kit: it holds store/.run.lock (an OS lock, freed when
  the process dies) for its whole life. Exports still take the store lock,
  so a manual `nodkit export` during a scheduled one is refused, and the
  other way round.
- Catch-up comes from the store, not from APScheduler (which forgets fire
  times missed while the process was down): at start-up, if the newest good
  set is older than the last time an export was due, export at once.
- A failed export, or one whose set is partial or suspect because a source
  misbehaved, is retried with bounded exponential backoff ([scheduler] in
  nodkit.toml) but never past the next scheduled export. Every attempt is
  logged with its reason (messages name files and columns, never data).
- SIGTERM/SIGINT stop: an export in progress is abandoned at the next file
  (its .incoming folder is removed; if it is stuck in a source, it is left
  as debris that the next export removes). Published sets are never touched.
- SIGHUP, or a changed nodkit.toml or schedule file, reloads the schedules;
  an invalid change is logged and the running schedules are kept.
- logs/heartbeat.json is written at start, after every job and every minute.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from nodkit.monitoring import heartbeat
from nodkit.config.settings import CONFIG_NAME, KitConfig, SchedulerSettings, load_config
from nodkit.errors import LockError, NodkitError, SourceError, StoreError
from nodkit.export.pipeline import ExportResult, run_export
from nodkit.store.lock import KitLock
from nodkit.config.schedules import Job, dst_warnings, last_due, load_jobs, next_due, schedule_files
from nodkit.store.sets import Store

log = logging.getLogger(__name__)

RUN_LOCK = ".run.lock"
HOUSEKEEPING_SECONDS = 5.0  # reload check; also bounds how late a job fires after a clock jump or suspend
HEARTBEAT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
VERIFY_MISFIRE_SECONDS = 600
# Errors that a later attempt can cure: a source or disk that comes back, a manual export that finishes.
RETRYABLE = (SourceError, StoreError, LockError, OSError)

Clock = Callable[[], dt.datetime]
Wait = Callable[[float], bool]  # sleeps; True means "stop now" (threading.Event.wait)


class Abandoned(Exception):
    """Raised inside an export when `nodkit run` is stopping."""


# --- catch-up ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CatchUp:
    needed: bool
    reason: str
    due: dt.datetime | None = None
    newest_good: dt.datetime | None = None


def catch_up_needed(newest_good: dt.datetime | None, due: dt.datetime | None,
                    what: str = "the newest good set") -> CatchUp:
    """Pure decision: export now if no good set exists or the newest is older than the last due time."""
    if due is None:
        return CatchUp(False, "no export job is scheduled; no catch-up", due, newest_good)
    if newest_good is None:
        return CatchUp(True, f"catch-up: no good set yet, an export was due at {_hm(due)}", due, newest_good)
    if newest_good < due:
        return CatchUp(True, f"catch-up: {what} is from {_hm(newest_good)}, "
                             f"an export was due at {_hm(due)}", due, newest_good)
    return CatchUp(False, f"no catch-up: {what} ({_hm(newest_good)}) is newer than the last "
                          f"due export ({_hm(due)})", due, newest_good)


def decide_catch_up(config: KitConfig, jobs: list[Job], now: dt.datetime) -> CatchUp:
    """As `catch_up_needed`, with the newest good set's time or, when newer, a valid unchanged check."""
    from nodkit.security import crypto
    from nodkit.store.check import read_check, valid_check
    store = Store(config.store)
    newest = store.newest_good()
    created = newest.created_at if newest is not None else None
    if newest is not None and newest.id == store.latest_id():
        try:
            record = valid_check(read_check(store.root, crypto.load_public(config.keys)), newest.id, created, now)
        except NodkitError:
            record = None  # verify reports it; an export now is the safe answer
        if record is not None:
            return catch_up_needed(record.checked, last_due(jobs, "export", config.timezone, now),
                                   "the last check of unchanged sources")
    return catch_up_needed(created, last_due(jobs, "export", config.timezone, now))


def _hm(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


# --- retries ----------------------------------------------------------------------------------------------

def retry_delay(settings: SchedulerSettings, attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): initial, 2x, 4x … capped."""
    return min(settings.retry_max_seconds, settings.retry_initial_seconds * 2 ** (attempt - 1))


def plan_retry(settings: SchedulerSettings, attempt: int, now: dt.datetime,
               next_export: dt.datetime | None) -> tuple[float | None, str]:
    """Delay before the next attempt, or None with the reason to give up."""
    if attempt >= settings.retry_max_attempts:
        return None, f"no more retries (retry_max_attempts = {settings.retry_max_attempts})"
    delay = retry_delay(settings, attempt)
    if next_export is not None and now + dt.timedelta(seconds=delay) >= next_export:
        return None, f"no more retries: the next scheduled export is at {_hm(next_export)}"
    return delay, f"retrying in {delay:g} s"


@dataclass
class Attempt:
    number: int
    started: dt.datetime
    outcome: str  # good | unchanged (no new set: nothing changed since LATEST) | partial | incomplete | suspect | failed
    reason: str = ""
    set_id: str | None = None


@dataclass
class RunOutcome:
    job_id: str
    attempts: list[Attempt] = field(default_factory=list)
    result: ExportResult | None = None  # the last export that produced a set
    stopped: bool = False

    @property
    def status(self) -> str:
        return self.attempts[-1].outcome if self.attempts else "failed"

    @property
    def heartbeat_result(self) -> str:
        return {"good": "ok", "unchanged": "ok", "partial": "warning", "incomplete": "warning",
                "suspect": "warning"}.get(self.status, "failed")


def export_with_retries(config: KitConfig, jobs: list[Job], job_id: str, *, clock: Clock | None = None,
                        wait: Wait | None = None, progress=None) -> RunOutcome:
    """Run one scheduled export, retrying as `plan_retry` allows. Raises Abandoned when stopping."""
    clock = clock or config.now
    wait = wait or (lambda seconds: time.sleep(seconds) or False)
    settings = config.scheduler
    outcome = RunOutcome(job_id)
    started = clock()
    next_export = next_due(jobs, "export", config.timezone, started)
    while True:
        number = len(outcome.attempts) + 1
        now = clock()
        try:
            result = run_export(config, now, progress=progress)
        except Abandoned:
            raise
        except RETRYABLE as exc:
            attempt = Attempt(number, now, "failed", _one_line(exc))
        except NodkitError as exc:  # configuration, template, key: a person must act, retrying cannot help
            outcome.attempts.append(Attempt(number, now, "failed", _one_line(exc)))
            log.error("%s attempt %d: failed, not retried (needs attention): %s", job_id, number, _one_line(exc))
            break
        else:
            outcome.result = result
            reason = result.check.text(config.timezone) if result.check else "; ".join(result.reasons)
            attempt = Attempt(number, now, result.status, reason, result.id)
            _drop_superseded(config, outcome.attempts, attempt)
        outcome.attempts.append(attempt)
        if attempt.outcome == "good":
            log.info("%s attempt %d: good, set %s", job_id, number, attempt.set_id)
            break
        if attempt.outcome == "unchanged":
            log.info("%s attempt %d: no new set, %s", job_id, number, attempt.reason)
            break
        delay, why = plan_retry(settings, number, clock(), next_export)
        what = f"set {attempt.set_id} is {attempt.outcome}" if attempt.set_id else "failed"
        log.warning("%s attempt %d: %s: %s; %s", job_id, number, what, attempt.reason, why)
        if delay is None:
            break
        if wait(delay):
            outcome.stopped = True
            log.warning("%s: retries stopped, nodkit run is stopping", job_id)
            break
    _log_summary(outcome, clock() - started)
    return outcome


def sync_with_retries(config: KitConfig, jobs: list[Job], job_id: str, *, clock: Clock | None = None,
                      wait: Wait | None = None) -> RunOutcome:
    """A station's scheduled sync, retried with the same backoff as an export, never past the next sync.

    Every failure keeps the station's sets; the sync state (logs/sync.json)
    records each attempt for status, verify and the fleet report.
    """
    from nodkit.distribution.fleet import report_status
    from nodkit.distribution.sync import run_sync
    clock = clock or config.now
    wait = wait or (lambda seconds: time.sleep(seconds) or False)
    outcome = RunOutcome(job_id)
    started = clock()
    next_sync = min((t for t in (next_due(jobs, a, config.timezone, started) for a in ("sync", "export")) if t),
                    default=None)
    while True:
        number = len(outcome.attempts) + 1
        now = clock()
        try:
            result = run_sync(config, now)
        except NodkitError as exc:  # unreachable, refused, disk full: all may be cured upstream or by IT
            outcome.attempts.append(Attempt(number, now, "failed", _one_line(exc)))
        else:
            outcome.attempts.append(Attempt(number, now, "good", result.message, result.set_id))
        report_status(config)
        if outcome.status == "good":
            break
        delay, why = plan_retry(config.scheduler, number, clock(), next_sync)
        log.warning("%s attempt %d: sync failed: %s; %s", job_id, number, outcome.attempts[-1].reason, why)
        if delay is None or wait(delay):
            outcome.stopped = delay is not None
            break
    level = logging.INFO if outcome.status == "good" else logging.ERROR
    log.log(level, "run %s: sync %s after %d attempt(s), %.1f s", job_id, outcome.status, len(outcome.attempts),
            (clock() - started).total_seconds())
    return outcome


def _drop_superseded(config: KitConfig, earlier: list[Attempt], latest: Attempt) -> None:
    """Remove the partial/suspect sets of this run's earlier attempts once a newer attempt published a set.

    They are older copies of the same lists; keeping one per attempt would
    fill the disk during a long source outage (up to retry_max_attempts sets
    per scheduled run). The newest set of the run is kept, and LATEST is
    never removed.
    """
    store = Store(config.store)
    stale = [a for a in earlier if a.set_id and a.outcome != "good"]
    if not stale:
        return
    try:
        with store.lock("remove superseded retry sets"):
            latest_id = store.latest_id()
            for a in stale:
                if a.set_id != latest_id and (store.sets_dir / a.set_id).is_dir():
                    store.remove(a.set_id)
                    log.info("removed %s set %s of attempt %d: superseded by set %s of attempt %d",
                             a.outcome, a.set_id, a.number, latest.set_id, latest.number)
                a.set_id = None if a.set_id != latest_id else a.set_id
    except (LockError, StoreError, OSError) as exc:
        log.warning("could not remove the sets of earlier attempts (retention will): %s", _one_line(exc))


def _log_summary(outcome: RunOutcome, elapsed: dt.timedelta) -> None:
    n = len(outcome.attempts)
    r = outcome.result if outcome.status != "failed" else None
    detail = (f"no new set, {outcome.attempts[-1].reason}" if r is not None and r.check is not None else
              f"set {r.id}, {len({f.path for f in r.files})} files, {sum(f.rows for f in r.files)} rows, "
              f"{sum(f.pages for f in r.files)} pages, {len(r.warnings) + len(r.reasons)} warnings"
              if r is not None else "no set published")
    level = logging.INFO if outcome.status in ("good", "unchanged") else logging.ERROR if outcome.status == "failed" else logging.WARNING
    log.log(level, "run %s: %s after %d attempt%s, %s, %.1f s", outcome.job_id, outcome.status, n,
            "" if n == 1 else "s", detail, elapsed.total_seconds())


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


# --- schedule overview ------------------------------------------------------------------------------------

def next_runs(jobs: list[Job], tz: dt.tzinfo, now: dt.datetime) -> dict[str, dt.datetime]:
    runs = {}
    for job in jobs:
        nxt = job.trigger(tz).get_next_fire_time(None, now)
        if nxt is not None:
            runs[job.id] = nxt
    return runs


def describe(job: Job) -> str:
    return f"cron '{job.cron}'" if job.cron is not None else f"every {job.every_seconds:g} s"


# --- the long-running process -----------------------------------------------------------------------------

class KitScheduler:
    """`nodkit run` for one kit home. `run()` blocks until SIGTERM/SIGINT."""

    def __init__(self, home: Path):
        self.home = home
        self.config = load_config(home)
        self.jobs = load_jobs(home, self.config.timezone)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._export_busy = threading.Lock()
        self._beat_lock = threading.Lock()
        self._signature = self._watch_signature()
        self._last_beat = 0.0
        now = self.config.now()
        self.beat = heartbeat.Heartbeat(pid=os.getpid(), updated_at=_hm(now), started_at=_hm(now))
        self._scheduler: BlockingScheduler | None = None
        self._final = False  # after the "stopped" heartbeat, late jobs must not overwrite it

    # files whose change reloads the schedules
    def _watch_signature(self) -> tuple:
        paths = [self.home / CONFIG_NAME, self.home / "schedules", *schedule_files(self.home).values()]
        sig = []
        for p in paths:
            try:
                st = p.stat()
                sig.append((str(p), st.st_mtime_ns, st.st_size))
            except OSError:
                sig.append((str(p), None, None))
        return tuple(sig)

    def run(self) -> int:
        store = Store(self.config.store)
        store.ensure()
        run_lock = KitLock(self.config.store / RUN_LOCK, "nodkit run")
        try:
            run_lock.__enter__()
        except LockError:
            raise LockError(f"{self.home}: 'nodkit run' is already running for this kit ({run_lock._holder()}); "
                            "refusing to start a second one",
                            hint="stop the other one first (systemctl stop nodkit); see logs/heartbeat.json") from None
        try:
            return self._run()
        finally:
            run_lock.__exit__(None, None, None)

    def _run(self) -> int:
        tz = self.config.timezone
        self._scheduler = BlockingScheduler(
            timezone=tz, executors={"default": ThreadPoolExecutor(3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": VERIFY_MISFIRE_SECONDS})
        self._install_jobs()
        self._scheduler.add_job(self._housekeeping, IntervalTrigger(seconds=HOUSEKEEPING_SECONDS, timezone=tz),
                                id="_housekeeping", misfire_grace_time=None)
        for warning in dst_warnings(self.jobs):
            log.warning(warning)
        now = self.config.now()
        catch = (CatchUp(True, "station: sync at start-up") if self.config.station is not None
                 else decide_catch_up(self.config, self.jobs, now))
        log.info(catch.reason)
        if catch.needed:
            self._scheduler.add_job(self._export_job, DateTrigger(now, timezone=tz), args=["catch-up"],
                                    id="catch-up", misfire_grace_time=None)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self._on_hup)
        self._write_beat(extra={"catch-up": now} if catch.needed else None)
        log.info("nodkit run started for %s (pid %d): %s", self.config.name, os.getpid(),
                 ", ".join(f"{j.id} {describe(j)}" for j in self.jobs) or "no jobs")
        if not self._stop.is_set():
            self._scheduler.start()  # blocks until _on_stop shuts it down
        return self._finish()

    def _install_jobs(self) -> None:
        assert self._scheduler is not None
        wanted = {j.id for j in self.jobs}
        for existing in self._scheduler.get_jobs():
            if not existing.id.startswith("_") and existing.id != "catch-up" and existing.id not in wanted:
                existing.remove()
        for job in self.jobs:
            func = self._export_job if job.action in ("export", "sync") else self._verify_job
            # A late export is better than none (the PC was asleep, the clock jumped): no grace limit.
            grace = None if job.action == "export" else VERIFY_MISFIRE_SECONDS
            self._scheduler.add_job(func, job.trigger(self.config.timezone), args=[job.id], id=job.id,
                                    name=job.id, replace_existing=True, misfire_grace_time=grace)

    # signals ----------------------------------------------------------------------------------------------
    def _on_stop(self, signum, _frame) -> None:
        if self._stop.is_set():
            return
        log.warning("received %s: stopping", signal.Signals(signum).name)
        self._stop.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_hup(self, _signum, _frame) -> None:
        log.info("received SIGHUP: reloading the schedules at the next check (within %g s)", HOUSEKEEPING_SECONDS)
        self._reload.set()

    def _finish(self) -> int:
        if not self._export_busy.acquire(timeout=STOP_GRACE_SECONDS):
            log.warning("an export did not stop within %g s; its unfinished files stay in store/.incoming and "
                        "the next export removes them; published sets are untouched", STOP_GRACE_SECONDS)
            self._write_beat(message="stopped (export abandoned)", final=True)
            logging.shutdown()
            os._exit(0)  # the worker thread cannot be interrupted; the OS frees the locks
        self._export_busy.release()
        self._write_beat(message="stopped", final=True)
        log.info("nodkit run stopped")
        return 0

    # jobs -------------------------------------------------------------------------------------------------
    def _check_stop(self, _phase: str, _done: int, _total: int) -> None:
        if self._stop.is_set():
            raise Abandoned()

    def _export_job(self, job_id: str) -> None:
        if self._stop.is_set():
            return
        if not self._export_busy.acquire(blocking=False):
            log.warning("%s: skipped, the previous export is still running", job_id)
            return
        try:
            config, jobs = self.config, self.jobs
            self._start_beat(job_id, "sync" if config.station is not None else "export")
            try:
                if config.station is not None:  # a station pulls its sets instead of exporting
                    outcome = sync_with_retries(config, jobs, job_id, wait=self._stop.wait)
                elif any(j.id == job_id and j.action == "sync" for j in jobs):
                    log.error("%s: a sync job on an exporter (no [station] in nodkit.toml); not run", job_id)
                    self._end_beat("failed", None, "sync job on an exporter")
                    return
                else:
                    outcome = export_with_retries(config, jobs, job_id, wait=self._stop.wait,
                                                  progress=self._check_stop)
            except Abandoned:
                log.warning("%s: export abandoned because nodkit run is stopping; its unfinished files were "
                            "removed, published sets are untouched", job_id)
                self._end_beat("failed", None, "abandoned: nodkit run stopped")
                return
            except Exception as exc:  # a bug must not kill the scheduler; the next run tries again
                log.error("%s: internal error: %s", job_id, _one_line(exc), exc_info=True)
                self._end_beat("failed", None, f"internal error: {type(exc).__name__}")
                return
            last = outcome.attempts[-1] if outcome.attempts else None
            if outcome.status == "unchanged" and last is not None:
                message = last.reason  # "checked at 10.30, sources unchanged since 08.00 (set …)"
            else:
                message = (f"{outcome.status} after {len(outcome.attempts)} attempt(s)"
                           + (f": {last.reason}" if last and last.reason else ""))
            self._end_beat(outcome.heartbeat_result, last.set_id if last else None, message)
        finally:
            self._export_busy.release()

    def _verify_job(self, job_id: str) -> None:
        from nodkit.monitoring.verify import verify_kit
        self._start_beat(job_id, "verify")
        try:
            # a station holds no passwords: its verify checks signatures, hashes and encryption dictionaries
            report = verify_kit(self.config, decrypt=self.config.station is None)
        except NodkitError as exc:
            log.error("%s: verify could not check: %s", job_id, _one_line(exc))
            self._end_beat("failed", None, f"UNKNOWN: {_one_line(exc)}")
            return
        level = {0: logging.INFO, 1: logging.WARNING}.get(report.exit_code, logging.ERROR)
        log.log(level, "%s: %s", job_id, report.summary())
        result = {0: "ok", 1: "warning"}.get(report.exit_code, "failed")
        self._end_beat(result, report.latest, report.summary().split(" | ")[0])

    def _housekeeping(self) -> None:
        if self._reload.is_set() or self._watch_signature() != self._signature:
            self.reload()
        if time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
            self._write_beat()

    def reload(self) -> bool:
        """Re-read nodkit.toml and the schedules; keep the running ones if the new ones are invalid."""
        self._reload.clear()
        self._signature = self._watch_signature()
        try:
            config = load_config(self.home)
            jobs = load_jobs(self.home, config.timezone)
        except NodkitError as exc:
            log.error("reload failed, keeping the current schedules: %s", exc)
            return False
        self.config, self.jobs = config, jobs
        self._install_jobs()
        for warning in dst_warnings(jobs):
            log.warning(warning)
        log.info("schedules reloaded: %s", ", ".join(f"{j.id} {describe(j)}" for j in jobs) or "no jobs")
        self._write_beat()
        return True

    # heartbeat --------------------------------------------------------------------------------------------
    def _start_beat(self, job_id: str, action: str) -> None:
        with self._beat_lock:
            self.beat.last_job, self.beat.last_action = job_id, action
            self.beat.last_started = _hm(self.config.now())
            self.beat.last_finished = self.beat.last_result = self.beat.last_set = self.beat.last_message = None
        self._write_beat()

    def _end_beat(self, result: str, set_id: str | None, message: str) -> None:
        with self._beat_lock:
            self.beat.last_finished = _hm(self.config.now())
            self.beat.last_result, self.beat.last_set, self.beat.last_message = result, set_id, message[:300]
        self._write_beat()

    def _write_beat(self, *, extra: dict[str, dt.datetime] | None = None, message: str | None = None,
                    final: bool = False) -> None:
        with self._beat_lock:
            if self._final:
                return
            self._final = final
            now = self.config.now()
            runs = {} if final else next_runs(self.jobs, self.config.timezone, now)
            runs.update(extra or {})
            self.beat.updated_at = _hm(now)
            self.beat.next_runs = {k: _hm(v) for k, v in sorted(runs.items(), key=lambda kv: kv[1])}
            if message is not None:
                self.beat.last_message = message
            try:
                heartbeat.write(self.home, self.beat)
            except OSError as exc:
                log.error("cannot write %s: %s", heartbeat.FILE, exc.strerror or exc)
            self._last_beat = time.monotonic()


def run(home: Path) -> int:
    return KitScheduler(home).run()
