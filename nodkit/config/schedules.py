"""Schedules: when the unattended jobs run (schedules/*.toml).

Built-ins live in schedules/; a file with the same name in the kit's
schedules/ replaces it, a new file adds jobs. A job has an id, an action
("export"; "sync" on a station; or "verify") and a 5-field cron expression in the kit's timezone
(APScheduler's CronTrigger, correct across DST). For tests and drills a job
may instead give `every_seconds`.

Export jobs run at most every 15 minutes (MIN_EXPORT_MINUTES): a cron whose
fire times come closer is a config error, and so is an export every_seconds
below 900 unless the job says `drill = true`. A built-in file with
`optional = true` (schedules/twice-daily.toml: 05:00 and 14:00) adds no jobs
by itself; a kit's schedule file takes its jobs with `use = "twice-daily"`
(a kit schedules/default.toml saying only that replaces the built-in
every-30-minutes default with the twice-daily pattern).

`due_times` answers "when should this job have run between A and B?", which
the scheduler uses for catch-up and verify uses for freshness.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from nodkit.config import tomlfile
from nodkit.errors import ConfigError
from nodkit.resources import builtin_dir

ACTIONS = ("export", "sync", "verify")  # sync: a station pulls from its exporter
INTERVAL_ANCHOR = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
DST_HOUR = 2  # 02:00-02:59 local is skipped or repeated when the clocks change (EU rules)
FORMAT_VERSION = 1
MIN_EXPORT_MINUTES = 15  # more often gains little (the export takes about a minute) and wears the PC


@dataclass(frozen=True)
class Job:
    id: str
    action: str
    cron: str | None
    every_seconds: float | None
    source: str  # "file:line" for messages

    def trigger(self, tz: dt.tzinfo):
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=tz)
        # A fixed anchor (not "now") keeps interval fire times the same in every
        # process, so past due times can be computed for catch-up.
        return IntervalTrigger(seconds=self.every_seconds, timezone=tz, start_date=INTERVAL_ANCHOR)


def schedule_files(kit_home: Path | None) -> dict[str, Path]:
    files: dict[str, Path] = {}
    folders = [builtin_dir("schedules")]
    if kit_home is not None and (kit_home / "schedules").is_dir():
        folders.append(kit_home / "schedules")
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            files[path.name] = path
    return dict(sorted(files.items()))


def _min_gap(cron: str) -> dt.timedelta | None:
    """The shortest time between two fire times of `cron` over a week (in UTC: no DST artefacts)."""
    trigger = CronTrigger.from_crontab(cron, timezone=dt.timezone.utc)
    start = dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
    times, previous, probe = [], None, start
    while len(times) < 20_000:
        nxt = trigger.get_next_fire_time(previous, probe)
        if nxt is None or nxt > start + dt.timedelta(days=7):
            break
        times.append(nxt)
        previous, probe = nxt, nxt + dt.timedelta(microseconds=1)
    return min((b - a for a, b in zip(times, times[1:])), default=None)


def load_file(path: Path, tz: dt.tzinfo, *, optional_too: bool = False) -> list[Job]:
    """The jobs of one schedule file; [] for an optional built-in unless `optional_too`."""
    doc = tomlfile.load(path, ConfigError)
    top = tomlfile.Reader(doc, (), doc.data, ConfigError)
    version = top.get("format_version", int, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise top.fail("format_version", f"this nodkit reads schedule format {FORMAT_VERSION}, file says {version}")
    optional = top.get("optional", bool, False)
    use = top.get("use", str, None)
    jobs = []
    if use is not None:
        library = builtin_dir("schedules") / f"{use}.toml"
        if not library.is_file() or library.resolve() == path.resolve():
            raise top.fail("use", f"no built-in schedule '{use}' (built-in: "
                                  f"{', '.join(sorted(p.stem for p in builtin_dir('schedules').glob('*.toml')))})")
        jobs += load_file(library, tz, optional_too=True)
    for i, raw in enumerate(top.get("jobs", list, [])):
        if not isinstance(raw, dict):
            raise top.fail("jobs", "use [[jobs]] tables")
        r = tomlfile.Reader(doc, ("jobs", i), raw, ConfigError)
        job_id = r.get("id", str)
        action = r.get("action", str, choices=ACTIONS)
        cron = r.get("cron", str, None)
        every = r.get("every_seconds", float, None)
        if (cron is None) == (every is None):
            raise r.fail("cron", "give exactly one of cron = \"M H DOM MON DOW\" or every_seconds")
        if every is not None and every <= 0:
            raise r.fail("every_seconds", "must be greater than 0")
        drill = r.get("drill", bool, False)
        if cron is not None:
            try:
                CronTrigger.from_crontab(cron, timezone=tz)
            except ValueError as exc:
                raise r.fail("cron", f"invalid cron expression: {exc}") from None
            gap = _min_gap(cron) if action == "export" else None
            if gap is not None and gap < dt.timedelta(minutes=MIN_EXPORT_MINUTES):
                raise r.fail("cron", f"export job '{job_id}' would run every {gap.total_seconds() / 60:g} minutes; "
                                     f"exports run at most every {MIN_EXPORT_MINUTES} minutes "
                                     f"(e.g. \"*/15 6-21 * * *\")")
        elif action == "export" and every < MIN_EXPORT_MINUTES * 60 and not drill:
            raise r.fail("every_seconds", f"export job '{job_id}' every {every:g} s; exports run at most every "
                                          f"{MIN_EXPORT_MINUTES * 60} s (add drill = true for a drill or a test)")
        r.check_unknown()
        jobs.append(Job(id=job_id, action=action, cron=cron, every_seconds=every, source=doc.where("jobs", i)))
    top.check_unknown()
    return [] if optional and not optional_too else jobs


def load_jobs(kit_home: Path | None, tz: dt.tzinfo) -> list[Job]:
    jobs: dict[str, Job] = {}
    for path in schedule_files(kit_home).values():
        for job in load_file(path, tz):
            if job.id in jobs and Path(jobs[job.id].source.rsplit(":", 1)[0]).name != path.name:
                raise ConfigError(f"{job.source}: job id '{job.id}' is already defined at {jobs[job.id].source}")
            jobs[job.id] = job
    return list(jobs.values())


def due_times(job: Job, tz: dt.tzinfo, start: dt.datetime, end: dt.datetime, limit: int = 1000) -> list[dt.datetime]:
    """Fire times of `job` in (start, end], oldest first (at most `limit`)."""
    trigger = job.trigger(tz)
    times: list[dt.datetime] = []
    previous = None
    probe = start
    while len(times) < limit:
        nxt = trigger.get_next_fire_time(previous, probe)
        if nxt is None or nxt > end:
            break
        if nxt > start:
            times.append(nxt)
        previous, probe = nxt, nxt + dt.timedelta(microseconds=1)
    return times


_WINDOWS = (dt.timedelta(minutes=10), dt.timedelta(hours=3), dt.timedelta(days=1), dt.timedelta(days=8))


def last_due(jobs: list[Job], action: str, tz: dt.tzinfo, now: dt.datetime,
             lookback: dt.timedelta = dt.timedelta(days=8)) -> dt.datetime | None:
    """The most recent time at or before `now` when an `action` job was due.

    Searches growing windows back from `now`, so a job that fires every few
    seconds and a weekly one are both answered exactly without listing
    thousands of fire times.
    """
    latest = None
    for job in jobs:
        if job.action != action:
            continue
        for window in [w for w in _WINDOWS if w < lookback] + [lookback]:
            times = due_times(job, tz, now - window, now, limit=200_000)
            if times:
                if latest is None or times[-1] > latest:
                    latest = times[-1]
                break
    return latest


def next_due(jobs: list[Job], action: str, tz: dt.tzinfo, now: dt.datetime) -> dt.datetime | None:
    """The first time strictly after `now` when an `action` job is due."""
    found = None
    for job in jobs:
        if job.action != action:
            continue
        nxt = job.trigger(tz).get_next_fire_time(None, now + dt.timedelta(microseconds=1))
        if nxt is not None and (found is None or nxt < found):
            found = nxt
    return found


def dst_warnings(jobs: list[Job]) -> list[str]:
    """Cron jobs that can fire between 02:00 and 03:00 local time.

    On the last Sunday of March that hour does not exist and on the last
    Sunday of October it happens twice, so such a job runs late, early or
    twice a year. The check looks only at the minute and hour fields, on a
    day without a clock change.
    """
    warnings = []
    for job in jobs:
        if job.cron is None:
            continue
        minute, hour = job.cron.split()[:2]
        plain = CronTrigger(minute=minute, hour=hour, timezone=dt.timezone.utc)
        day = dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
        nxt = plain.get_next_fire_time(None, day.replace(hour=DST_HOUR))
        if nxt is not None and nxt < day.replace(hour=DST_HOUR + 1):
            warnings.append(f"{job.source}: job '{job.id}' ({job.cron}) can run between 02:00 and 03:00, the hour "
                            "the clocks change (skipped in March, repeated in October); move it outside that hour")
    return warnings
