"""The scheduler's decisions (catch-up, DST, retries) with an injected clock, and its locks."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from nodkit.config.settings import SchedulerSettings, load_config
from nodkit.errors import LockError
from nodkit.store.lock import KitLock
from nodkit.unattended.scheduler import RUN_LOCK, catch_up_needed, decide_catch_up, export_with_retries, plan_retry, retry_delay
from nodkit.config.schedules import Job, due_times, dst_warnings, last_due, load_jobs, next_due
from nodkit.store.sets import Store

from conftest import run_cli

CPH = ZoneInfo("Europe/Copenhagen")
DEFAULT = [Job("export-morning", "export", "0 5 * * *", None, "default.toml:5"),
           Job("export-afternoon", "export", "0 14 * * *", None, "default.toml:10"),
           Job("verify-hourly", "verify", "17 * * * *", None, "default.toml:15")]


def t(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CPH)


# --- catch-up ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("now, newest_good, expected_due, needed", [
    # PC was off at 05:00 and boots at 07:10: yesterday's 14:00 set is stale -> catch up
    (t(2026, 11, 23, 7, 10), t(2026, 11, 22, 14, 0, 3), t(2026, 11, 23, 5, 0), True),
    # boots at 04:30, the 14:00 set is the newest due one -> nothing to do
    (t(2026, 11, 23, 4, 30), t(2026, 11, 22, 14, 0, 3), t(2026, 11, 22, 14, 0), False),
    # the 05:00 export ran (set stamped 05:00:00) -> nothing to do at 09:00
    (t(2026, 11, 23, 9, 0), t(2026, 11, 23, 5, 0), t(2026, 11, 23, 5, 0), False),
    # no good set at all -> export now
    (t(2026, 11, 23, 9, 0), None, t(2026, 11, 23, 5, 0), True),
    # spring forward (29 March 2026, 02:00 -> 03:00): 05:00 CEST is still due, at 03:00 UTC
    (t(2026, 3, 29, 6, 0), t(2026, 3, 28, 14, 0), t(2026, 3, 29, 5, 0), True),
    (t(2026, 3, 29, 4, 59), t(2026, 3, 28, 14, 0), t(2026, 3, 28, 14, 0), False),
    # fall back (25 October 2026, 03:00 -> 02:00): 05:00 CET is at 04:00 UTC
    (t(2026, 10, 25, 5, 30), t(2026, 10, 24, 14, 0), t(2026, 10, 25, 5, 0), True),
    (t(2026, 10, 25, 4, 30), t(2026, 10, 24, 14, 0), t(2026, 10, 24, 14, 0), False),
    # off for a whole long weekend: still one catch-up, against the latest due time
    (t(2026, 11, 23, 6, 0), t(2026, 11, 19, 14, 0), t(2026, 11, 23, 5, 0), True),
])
def test_catch_up_decision_with_injected_clock(now, newest_good, expected_due, needed):
    due = last_due(DEFAULT, "export", CPH, now)
    assert due == expected_due
    assert due.utcoffset() == expected_due.utcoffset()
    decision = catch_up_needed(newest_good, due)
    assert decision.needed is needed
    assert decision.reason.startswith("catch-up:") is needed


def test_dst_day_fire_times_are_correct_in_utc():
    # 05:00 local is 03:00 UTC in summer time and 04:00 UTC in winter time
    assert last_due(DEFAULT, "export", CPH, t(2026, 3, 29, 6, 0)).astimezone(dt.timezone.utc).hour == 3
    assert last_due(DEFAULT, "export", CPH, t(2026, 3, 28, 6, 0)).astimezone(dt.timezone.utc).hour == 4
    assert next_due(DEFAULT, "export", CPH, t(2026, 10, 25, 0, 30)).astimezone(dt.timezone.utc).hour == 4


def test_no_export_job_means_no_catch_up():
    verify_only = [j for j in DEFAULT if j.action == "verify"]
    decision = catch_up_needed(None, last_due(verify_only, "export", CPH, t(2026, 11, 23, 9, 0)))
    assert not decision.needed


def test_seconds_schedule_last_due_is_exact():
    job = Job("fast", "export", None, 5.0, "x.toml:2")
    now = t(2026, 11, 23, 9, 0, 12)
    assert last_due([job], "export", CPH, now) == t(2026, 11, 23, 9, 0, 10)
    assert next_due([job], "export", CPH, now) == t(2026, 11, 23, 9, 0, 15)


def test_catch_up_against_the_real_store(demo_kit):
    config = load_config(demo_kit.home)
    jobs = load_jobs(demo_kit.home, config.timezone)
    created = Store(config.store).newest_good().created_at
    assert decide_catch_up(config, jobs, created + dt.timedelta(minutes=1)).needed is (
        last_due(jobs, "export", config.timezone, created + dt.timedelta(minutes=1)) > created)
    assert decide_catch_up(config, jobs, created + dt.timedelta(days=1, hours=1)).needed


# --- DST warnings -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cron, warned", [
    ("30 2 * * *", True), ("0 2 * * 0", True), ("*/15 1-3 * * *", True), ("0 */2 * * *", True),
    ("0 5 * * *", False), ("0 14 * * *", False), ("59 1 * * *", False), ("0 3 * * *", False),
    ("17 * * * *", True),  # hourly jobs also run at 02:17 (harmless for verify, but reported)
])
def test_dst_warning_for_jobs_in_the_changeover_hour(cron, warned):
    warnings = dst_warnings([Job("j", "export", cron, None, "s.toml:3")])
    assert bool(warnings) is warned
    if warned:
        assert "s.toml:3" in warnings[0] and "02:00" in warnings[0]


def test_run_check_shows_dst_warning_and_exits_1(demo_kit):
    (demo_kit.home / "schedules").mkdir(exist_ok=True)
    (demo_kit.home / "schedules" / "default.toml").write_text(
        'format_version = 1\n[[jobs]]\nid = "night"\naction = "export"\ncron = "30 2 * * *"\n')
    result = run_cli("run", "--check", "--kit", str(demo_kit.home))
    assert result.exit_code == 1
    assert "night" in result.stdout and "02:00 and 03:00" in result.stderr
    assert "export-daytime" not in result.stdout  # the site file replaced the built-in one


# --- the cadence ------------------------------------------------------------------------------------------

def test_default_schedule_exports_every_30_minutes_in_daytime_across_dst():
    jobs = load_jobs(None, CPH)
    exports = [j for j in jobs if j.action == "export"]
    assert [j.id for j in exports] == ["export-daytime"]
    for day in (dt.date(2026, 11, 23), dt.date(2026, 3, 29), dt.date(2026, 10, 25)):  # a plain day, both DST days
        start = dt.datetime.combine(day, dt.time(0, 0), CPH)
        times = due_times(exports[0], CPH, start, start + dt.timedelta(hours=23, minutes=59))
        local = [x.astimezone(CPH) for x in times]
        assert len(times) == 36 and local[0].time() == dt.time(5, 0) and local[-1].time() == dt.time(22, 30)
        assert all(b - a == dt.timedelta(minutes=30) for a, b in zip(times, times[1:]))  # in elapsed time too
    assert not [w for w in dst_warnings(exports)], "exports stay out of the DST hour"


def test_twice_daily_stays_available_as_a_built_in(tmp_path):
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "default.toml").write_text('format_version = 1\nuse = "twice-daily"\n')
    jobs = load_jobs(tmp_path, CPH)
    assert {j.id: j.cron for j in jobs if j.action == "export"} == {"export-morning": "0 5 * * *",
                                                                    "export-afternoon": "0 14 * * *"}
    assert "export-daytime" not in {j.id for j in load_jobs(tmp_path, CPH)}


@pytest.mark.parametrize("job,error", [
    ('action = "export"\ncron = "*/15 6-21 * * *"', None),
    ('action = "export"\ncron = "0,15,30,45 * * * *"', None),
    ('action = "export"\ncron = "*/10 6-21 * * *"', "every 10 minutes"),
    ('action = "export"\ncron = "0,5 8 * * *"', "every 5 minutes"),
    ('action = "export"\nevery_seconds = 900', None),
    ('action = "export"\nevery_seconds = 600', "at most every 900 s"),
    ('action = "export"\nevery_seconds = 4\ndrill = true', None),
    ('action = "verify"\ncron = "*/5 * * * *"', None),  # the bound is for exports only
])
def test_exports_run_at_most_every_15_minutes(demo_kit, job, error):
    (demo_kit.home / "schedules").mkdir(exist_ok=True)
    (demo_kit.home / "schedules" / "default.toml").write_text(f'format_version = 1\n[[jobs]]\nid = "j"\n{job}\n')
    result = run_cli("run", "--check", "--kit", str(demo_kit.home))
    if error is None:
        assert result.exit_code in (0, 1), result.output
    else:
        assert result.exit_code == 10 and error in result.stderr and "default.toml:" in result.stderr, result.output


# --- retries ----------------------------------------------------------------------------------------------

def test_backoff_is_exponential_bounded_and_stops_before_the_next_export():
    s = SchedulerSettings(retry_initial_seconds=60, retry_max_seconds=600, retry_max_attempts=6)
    assert [retry_delay(s, n) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]
    now = t(2026, 11, 23, 5, 0)
    assert plan_retry(s, 1, now, t(2026, 11, 23, 14, 0))[0] == 60
    assert plan_retry(s, 6, now, t(2026, 11, 23, 14, 0))[0] is None  # attempts used up
    delay, why = plan_retry(s, 3, t(2026, 11, 23, 13, 57), t(2026, 11, 23, 14, 0))
    assert delay is None and "next scheduled export" in why


def test_source_failing_twice_then_working_gives_a_good_set_on_the_third_attempt(demo_kit, caplog):
    config = load_config(demo_kit.home)
    jobs = load_jobs(demo_kit.home, config.timezone)
    medication = demo_kit.sources / "medicin.csv"
    hidden = medication.with_name("medicin.csv.away")
    medication.rename(hidden)  # the source is down
    offset = dt.timedelta()
    waits: list[float] = []
    # the retries (3 minutes in all) must fit before the next scheduled export (every 30 minutes
    # in daytime): run within 10 minutes of one, the attempts start just after it instead
    start = config.now()
    upcoming = next_due(jobs, "export", config.timezone, start)
    if upcoming is not None and upcoming - start < dt.timedelta(minutes=10):
        start = upcoming + dt.timedelta(seconds=1)

    def clock():
        return start + offset

    def wait(seconds):
        nonlocal offset
        waits.append(seconds)
        offset += dt.timedelta(seconds=seconds)
        if len(waits) == 2:
            hidden.rename(medication)  # the source comes back before the third attempt
        return False

    before = {s.id for s in Store(config.store).sets()}
    with caplog.at_level(logging.INFO, logger="nodkit"):
        outcome = export_with_retries(config, jobs, "export-morning", clock=clock, wait=wait)
    assert [a.outcome for a in outcome.attempts] == ["partial", "partial", "good"]
    assert waits == [60, 120]  # the built-in backoff: 60 s, then twice that
    store = Store(config.store)
    assert store.latest_id() == outcome.attempts[-1].set_id
    # the partial sets of attempts 1 and 2 were superseded and removed; the good one is published
    assert {s.id for s in store.sets()} - before == {outcome.attempts[-1].set_id}
    lines = [r.getMessage() for r in caplog.records if r.name == "nodkit.unattended.scheduler"]
    assert any("attempt 1: set" in m and "partial" in m and "medication" in m and "retrying in 60 s" in m
               for m in lines), lines
    assert any("attempt 2:" in m and "retrying in 120 s" in m for m in lines), lines
    assert any("attempt 3: good" in m for m in lines), lines
    assert any(m.startswith("run export-morning: good after 3 attempts") for m in lines), lines
    assert sum("removed partial set" in m for m in lines) == 2, lines


def test_all_sources_down_is_retried_then_given_up(demo_kit, caplog):
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + "\n[scheduler]\nretry_initial_seconds = 5\nretry_max_attempts = 3\n",
                   "utf-8")
    config = load_config(demo_kit.home)
    jobs = load_jobs(demo_kit.home, config.timezone)
    moved = demo_kit.sources.with_name("gone")
    demo_kit.sources.rename(moved)
    latest = Store(config.store).latest_id()
    waits = []
    with caplog.at_level(logging.INFO, logger="nodkit"):
        outcome = export_with_retries(config, jobs, "export-morning", wait=lambda s: waits.append(s) or False)
    assert [a.outcome for a in outcome.attempts] == ["failed"] * 3 and waits == [5, 10]
    assert outcome.heartbeat_result == "failed"
    assert Store(config.store).latest_id() == latest  # the last good set is still LATEST
    assert any("no more retries (retry_max_attempts = 3)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("text, message", [
    ("retry_initial_seconds = 0", "greater than 0"),
    ("retry_initial_seconds = 100\nretry_max_seconds = 10", "at least retry_initial_seconds"),
    ("retry_max_attempts = 0", "at least 1"),
    ("retry_forever = true", "unknown key"),
])
def test_scheduler_settings_are_validated(demo_kit, text, message):
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + f"\n[scheduler]\n{text}\n", "utf-8")
    result = run_cli("run", "--check", "--kit", str(demo_kit.home))
    assert result.exit_code == 10
    assert "nodkit.toml:" in result.stderr and message in result.stderr


# --- one instance -----------------------------------------------------------------------------------------

def test_second_run_is_refused(demo_kit):
    with KitLock(demo_kit.home / "store" / RUN_LOCK, "nodkit run"):
        result = run_cli("run", "--kit", str(demo_kit.home))
    assert result.exit_code == 17
    assert "'nodkit run' is already running for this kit" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr


def test_manual_export_during_a_running_export_is_refused(demo_kit):
    with Store(demo_kit.home / "store").lock("export"):
        result = run_cli("export", "--kit", str(demo_kit.home))
    assert result.exit_code == 17
    assert "busy with this kit (export, pid" in result.stderr


def test_lock_left_by_a_killed_process_is_taken_over(demo_kit):
    lock_path = demo_kit.home / "store" / RUN_LOCK
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from nodkit.store.lock import KitLock\n"
        f"l = KitLock(Path({str(lock_path)!r}), 'nodkit run').__enter__(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockError):
            KitLock(lock_path, "nodkit run").__enter__()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert str(holder.pid) in lock_path.read_text()  # the dead holder's note is still there…
        with KitLock(lock_path, "nodkit run"):  # …but the OS released the lock: taken over
            assert f'"pid": {os.getpid()}' in lock_path.read_text()
    finally:
        holder.kill()
        holder.wait()


# --- a real `nodkit run` ----------------------------------------------------------------------------------

FAST_SCHEDULE = """format_version = 1
# replaces the built-in default.toml (every 30 minutes, hourly verify) for this test
[[jobs]]
id = "export-fast"
action = "export"
every_seconds = {every}
drill = true
"""


def _start_run(home, log_path):
    out = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "nodkit", "-v", "run", "--kit", str(home)],
                            stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for(predicate, timeout, step=0.01):
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


@pytest.mark.slow
def test_real_run_exports_on_time_survives_sigkill_and_catches_up(demo_kit, tmp_path):
    import time
    home = demo_kit.home
    (home / "schedules").mkdir(exist_ok=True)
    (home / "schedules" / "default.toml").write_text(FAST_SCHEDULE.format(every=4))
    cfg = home / "nodkit.toml"  # a set every 4 seconds although the sources do not change
    cfg.write_text(cfg.read_text("utf-8").replace("[export]\n", "[export]\nskip_unchanged = false\n", 1), "utf-8")
    store = Store(home / "store")
    initial = {s.id for s in store.sets()}
    latest_before = store.latest_id()
    console = tmp_path / "run.out"

    proc = _start_run(home, console)
    try:
        # 1. on time: the catch-up set at start, then sets at the 4-second marks
        def new_good():
            return [s for s in Store(home / "store").sets() if s.id not in initial and s.status == "good"]
        assert _wait_for(lambda: len(new_good()) >= 2, 15, 0.1), console.read_text()
        sets = new_good()
        for s in sets[:-1]:  # all but the oldest, the catch-up set made at start-up
            created = s.created_at
            assert created.second % 4 == 0, (s.id, created)  # fired on its 4-second mark, not a second late
        from nodkit.monitoring import heartbeat
        beat = heartbeat.read(home)  # the contract `nodkit status` reads
        assert beat.pid == proc.pid and beat.last_action == "export" and list(beat.next_runs) == ["export-fast"]
        assert dt.datetime.fromisoformat(beat.next_runs["export-fast"]) > beat.updated - dt.timedelta(seconds=5)

        # 2. SIGKILL in the middle of an export (files in store/.incoming)
        incoming = home / "store" / ".incoming"
        assert _wait_for(lambda: any(incoming.glob("*/*")), 10), "never caught an export in progress"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        debris = [p.name for p in incoming.iterdir()]
        assert debris, "the kill should leave the unfinished set behind"
        published = {s.id: s.manifest.to_bytes() for s in Store(home / "store").sets()}
        latest_at_kill = Store(home / "store").latest_id()
        assert latest_at_kill != latest_before

        # 3. restart: stale locks taken over, debris removed, the killed export caught up
        log_lines_before = (home / "logs" / "nodkit.log").read_text("utf-8").count("\n")
        proc = _start_run(home, console)
        def new_log():
            return "\n".join((home / "logs" / "nodkit.log").read_text("utf-8").splitlines()[log_lines_before:])
        assert _wait_for(lambda: "run catch-up: good after 1 attempt" in new_log(), 15, 0.1), console.read_text()
        assert "catch-up: the newest good set is from" in new_log()
        assert Store(home / "store").latest_id() != latest_at_kill
        assert "removed 1 unfinished item(s) left by an interrupted run" in new_log()
        assert _wait_for(lambda: not any(incoming.iterdir()), 5)
        after = {s.id: s.manifest.to_bytes() for s in Store(home / "store").sets()}
        for set_id, manifest in published.items():  # published sets intact (retention keeps 7 days)
            assert after[set_id] == manifest
        verify = run_cli("verify", "--kit", str(home), "--all")
        assert verify.exit_code == 0, verify.output

        # 4. SIGTERM stops cleanly
        assert proc.poll() is None  # the restarted scheduler kept running: it took over the dead one's locks
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        beat = heartbeat.read(home)
        assert beat.pid == proc.pid and beat.last_message == "stopped" and beat.next_runs == {}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_reload_picks_up_a_changed_schedule_file(demo_kit):
    from nodkit.unattended.scheduler import KitScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    home = demo_kit.home
    sched = KitScheduler(home)
    sched._scheduler = BlockingScheduler(timezone=sched.config.timezone)
    sched._install_jobs()
    assert {j.id for j in sched._scheduler.get_jobs()} == {"export-daytime", "verify-hourly"}
    (home / "schedules").mkdir(exist_ok=True)
    (home / "schedules" / "default.toml").write_text(FAST_SCHEDULE.format(every=30))
    sched._housekeeping()  # notices the new file
    assert {j.id for j in sched._scheduler.get_jobs()} == {"export-fast"}
    (home / "schedules" / "default.toml").write_text("format_version = 1\n[[jobs]]\nid = 'x'\n")
    sched._housekeeping()  # invalid: logged, schedules kept
    assert {j.id for j in sched._scheduler.get_jobs()} == {"export-fast"}
    beat = (home / "logs" / "heartbeat.json").read_text()
    assert '"export-fast"' in beat


def test_stop_during_export_abandons_it_without_touching_published_sets(demo_kit):
    from nodkit.unattended.scheduler import Abandoned, KitScheduler
    sched = KitScheduler(demo_kit.home)
    store = Store(demo_kit.home / "store")
    before = {s.id: s.manifest.to_bytes() for s in store.sets()}
    latest = store.latest_id()
    calls = []

    def progress(phase, done, total):
        calls.append(done)
        if done == 2:
            sched._on_stop(signal.SIGTERM, None)  # what SIGTERM does (no scheduler running here)
        sched._check_stop(phase, done, total)

    with pytest.raises(Abandoned):
        export_with_retries(sched.config, sched.jobs, "export-morning", progress=progress)
    assert calls == [1, 2]
    assert not any((demo_kit.home / "store" / ".incoming").iterdir())
    assert {s.id: s.manifest.to_bytes() for s in store.sets()} == before and store.latest_id() == latest
    assert run_cli("export", "--kit", str(demo_kit.home)).exit_code == 0  # the store lock was released


def test_sighup_reloads_at_the_next_check(demo_kit, caplog):
    from nodkit.unattended.scheduler import KitScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    sched = KitScheduler(demo_kit.home)
    sched._scheduler = BlockingScheduler(timezone=sched.config.timezone)
    sched._install_jobs()
    with caplog.at_level(logging.INFO, logger="nodkit"):
        sched._housekeeping()
        assert not any("schedules reloaded" in r.getMessage() for r in caplog.records)  # nothing changed
        sched._on_hup(signal.SIGHUP, None)
        sched._housekeeping()
    assert any("schedules reloaded" in r.getMessage() for r in caplog.records)
