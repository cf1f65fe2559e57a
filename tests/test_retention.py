"""Retention as a pure function: tables of sets with injected dates → keep/remove and why.

The first tables use hours = 7 days, which is the single-window policy nodkit had before the
tiers; the tiered tables below use the defaults (every set of 24 h, then one good set a day).
"""

from __future__ import annotations

import datetime as dt

import pytest
from zoneinfo import ZoneInfo

from nodkit.store.retention import RetentionPolicy, SetInfo, plan

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def sets(*rows: tuple[str, float, str]) -> list[SetInfo]:
    return [SetInfo(name, days_ago(age), status) for name, age, status in rows]


def twice_daily(days: int, status: str = "good", start: float = 0.0) -> list[tuple[str, float, str]]:
    """Two runs a day for `days` days, newest first, starting `start` days ago."""
    return [(f"s{start + i / 2:05.1f}", start + i / 2, status) for i in range(days * 2)]


def removed(decisions) -> set[str]:
    return {d.set_id for d in decisions if not d.keep}


CASES = [
    pytest.param(
        sets(*twice_daily(10)), RetentionPolicy(7, 3, hours=168), "s000.0",
        {f"s{x / 2:05.1f}" for x in range(14, 20)}, id="7 days: twice-daily for 10 days, older than 7 removed"),
    pytest.param(
        sets(("new", 0.1, "good"), ("a", 8, "good"), ("b", 9, "good"), ("c", 10, "good"), ("d", 11, "good")),
        RetentionPolicy(7, 3, hours=168), "new", {"c", "d"}, id="keep_min keeps the newest 3 good although older than 7 days"),
    pytest.param(
        # ten days of failing sources: only partial sets since the last good one, LATEST is that good set
        sets(*twice_daily(10, "partial"), ("lastgood", 10.5, "good"), ("older", 11, "good"), ("oldest", 12, "good")),
        RetentionPolicy(7, 1, hours=168), "lastgood",
        {f"s{x / 2:05.1f}" for x in range(14, 20)} | {"older", "oldest"},
        id="ten days of failing sources: the last good set survives, partial sets never displace it"),
    pytest.param(
        sets(*twice_daily(10, "suspect"), ("lastgood", 10.5, "good"), ("g2", 11, "good"), ("g3", 12, "good"),
             ("g4", 13, "good")),
        RetentionPolicy(7, 3, hours=168), "lastgood",
        {f"s{x / 2:05.1f}" for x in range(14, 20)} | {"g4"},
        id="suspect sets count neither towards keep_min nor against it"),
    pytest.param(
        sets(("sus1", 8, "suspect"), ("sus2", 9, "suspect"), ("good1", 10, "good")),
        RetentionPolicy(7, 3, hours=168), "good1", {"sus1", "sus2"},
        id="old suspect sets are never protected by keep_min"),
    pytest.param(
        sets(("latest", 30, "good")), RetentionPolicy(7, 1, hours=168), "latest", set(),
        id="LATEST is never removed however old"),
    pytest.param(
        sets(("young-partial", 1, "partial"), ("latest", 2, "good")), RetentionPolicy(7, 1, hours=168), "latest", set(),
        id="within the window every status is kept"),
    pytest.param(
        sets(("x", 7.01, "good"), ("y", 6.99, "good"), ("z", 0, "good")), RetentionPolicy(7, 1, hours=168), "z", {"x"},
        id="the window edge: 6.99 days kept, 7.01 days removed"),
    pytest.param([], RetentionPolicy(7, 3, hours=168), None, set(), id="an empty store removes nothing"),
]


@pytest.mark.parametrize("infos,policy,latest,expected_removed", CASES)
def test_retention_table(infos, policy, latest, expected_removed):
    decisions = plan(infos, policy, NOW, latest)
    assert removed(decisions) == expected_removed
    assert {d.set_id for d in decisions} == {s.id for s in infos}, "every set gets exactly one decision"
    assert all(d.reason for d in decisions)


def test_reasons_name_the_rule():
    decisions = {d.set_id: d for d in plan(
        sets(("latest", 9, "good"), ("g2", 10, "good"), ("p", 1, "partial"), ("old", 20, "partial")),
        RetentionPolicy(7, 2, hours=168), NOW, "latest")}
    assert "LATEST" in decisions["latest"].reason
    assert "keep_min" in decisions["g2"].reason
    assert "hourly" in decisions["p"].reason and "168 h" in decisions["p"].reason
    assert not decisions["old"].keep and "older than 7 days" in decisions["old"].reason


def test_ten_days_of_failures_day_by_day():
    """Simulate each day of a 10-day source outage: the last good lists exist every single day."""
    good = SetInfo("good", NOW, "good")
    history = [good]
    policy = RetentionPolicy(7, 3, hours=168)
    for day in range(1, 11):
        now = NOW + dt.timedelta(days=day)
        history.append(SetInfo(f"fail{day}", now, "partial"))
        gone = removed(plan(history, policy, now, "good"))
        history = [s for s in history if s.id not in gone]
        assert "good" in {s.id for s in history}, f"day {day}: the last good set was removed"
    assert {s.id for s in history} == {"good"} | {f"fail{d}" for d in range(4, 11)}


# ---------------------------------------------------------------- tiers (hourly, then daily)

CPH = ZoneInfo("Europe/Copenhagen")


def local(y, mo, d, h, mi=0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=CPH)


def every(start: dt.datetime, end: dt.datetime, minutes: int, status: str = "good") -> list[SetInfo]:
    """A set every `minutes` (real elapsed time, in UTC steps: DST days have 23 or 25 hours)."""
    out, t = [], start.astimezone(dt.timezone.utc)
    while t <= end.astimezone(dt.timezone.utc):
        out.append(SetInfo(t.astimezone(CPH).strftime("%Y%m%dT%H%M%z"), t.astimezone(CPH), status))
        t += dt.timedelta(minutes=minutes)
    return out


def kept(decisions) -> set[str]:
    return {d.set_id for d in decisions if d.keep}


def day_ids(infos, date: dt.date) -> list[str]:
    return sorted(s.id for s in infos if s.created_at.astimezone(CPH).date() == date)


def test_default_cadence_three_days_keeps_24_hours_then_the_last_good_set_of_each_day():
    now = local(2026, 12, 3, 12, 5)
    infos = every(local(2026, 11, 30, 5), now, 30)
    decisions = plan(infos, RetentionPolicy(), now, infos[-1].id)
    recent = {s.id for s in infos if now - s.created_at < dt.timedelta(hours=24)}
    daily = {day_ids(infos, dt.date(2026, 11, d))[-1] for d in (30,)} | {day_ids(infos, dt.date(2026, 12, 1))[-1]}
    assert kept(decisions) == recent | daily
    tiers = {d.set_id: d.tier for d in decisions}
    assert tiers[infos[-1].id] == "latest" and {tiers[i] for i in daily} == {"daily"}
    reason = next(d.reason for d in decisions if d.set_id == day_ids(infos, dt.date(2026, 12, 1))[0])
    assert "not the last of 2026-12-01" in reason, reason


@pytest.mark.parametrize("day,hours_in_day", [
    pytest.param(dt.date(2026, 3, 29), 23, id="spring forward: a 23-hour day is one day"),
    pytest.param(dt.date(2026, 10, 25), 25, id="fall back: a 25-hour day (02:xx twice) is one day"),
])
def test_dst_days_are_calendar_days_in_the_kit_timezone(day, hours_in_day):
    start = dt.datetime.combine(day, dt.time(0, 0), CPH)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), CPH)
    infos = every(start, end - dt.timedelta(minutes=1), 60)  # hourly, in elapsed time
    assert len(infos) == hours_in_day
    neighbours = [SetInfo("before", start - dt.timedelta(minutes=30), "good"),
                  SetInfo("after", end + dt.timedelta(minutes=30), "good")]
    now = end + dt.timedelta(days=3)
    latest = SetInfo("latest", now - dt.timedelta(minutes=5), "good")
    decisions = plan(infos + neighbours + [latest], RetentionPolicy(keep_min=1), now, "latest")
    of_day = [d for d in decisions if d.set_id in {s.id for s in infos}]
    assert [d.set_id for d in of_day if d.keep] == [infos[-1].id]  # 23:00 local, the last of that day
    assert infos[-1].created_at.astimezone(CPH).hour == 23
    assert kept(decisions) >= {"before", "after", "latest"}  # each the last set of its own day


@pytest.mark.parametrize("infos,policy,latest,expected_kept", [
    pytest.param([SetInfo("old-latest", NOW - dt.timedelta(days=30), "good"),
                  SetInfo("newer-partial", NOW - dt.timedelta(hours=1), "partial")],
                 RetentionPolicy(), "old-latest", {"old-latest", "newer-partial"},
                 id="LATEST is never removed, however old"),
    pytest.param([SetInfo(f"g{n}", NOW - dt.timedelta(days=20 + n / 10), "good") for n in range(5)],
                 RetentionPolicy(keep_min=3), "g0", {"g0", "g1", "g2"},
                 id="keep_min: the newest 3 good sets however old, even from one day"),
    pytest.param([SetInfo("a", NOW - dt.timedelta(days=1, hours=2), "good"),
                  SetInfo("b", NOW - dt.timedelta(days=1, hours=1), "partial"),
                  SetInfo("c", NOW - dt.timedelta(days=1, minutes=90), "suspect"),
                  SetInfo("latest", NOW, "good")],
                 RetentionPolicy(keep_min=1), "latest", {"a", "b", "latest"},
                 id="a day's newer partial set never displaces its last good set; the newest not-good set is evidence"),
    pytest.param([SetInfo("inc", NOW - dt.timedelta(days=2, hours=1), "incomplete"),
                  SetInfo("inc-old", NOW - dt.timedelta(days=2, hours=3), "incomplete"),
                  SetInfo("latest", NOW, "good")],
                 RetentionPolicy(keep_min=3), "latest", {"inc", "latest"},
                 id="an unknown status is not good: it neither counts as the day's good set nor for keep_min"),
    pytest.param([SetInfo("ancient", NOW - dt.timedelta(days=400), "partial"),
                  SetInfo("old", NOW - dt.timedelta(days=40), "good"), SetInfo("new", NOW, "good")],
                 RetentionPolicy(days=None, keep_min=0, hours=None), None, {"ancient", "old", "new"},
                 id="an empty policy (no hours, no days) removes nothing"),
    pytest.param([SetInfo("h1", NOW - dt.timedelta(hours=1), "good"), SetInfo("h2", NOW - dt.timedelta(hours=2), "good"),
                  SetInfo("latest", NOW, "good")],
                 RetentionPolicy(keep_min=1, hours=0), "latest", {"latest"},
                 id="hours = 0: only the daily tier (one good set a day)"),
    pytest.param([], RetentionPolicy(), None, set(), id="an empty store removes nothing"),
])
def test_tier_protection_table(infos, policy, latest, expected_kept):
    decisions = plan(infos, policy, NOW, latest)
    assert kept(decisions) == expected_kept
    assert {d.set_id for d in decisions} == {s.id for s in infos}
    assert all(d.reason and d.tier for d in decisions)


def test_expected_sets_for_the_projection():
    assert RetentionPolicy().expected_sets(36) == 36 + 6  # 24 h of 30-minute daytime runs, then 6 more days
    assert RetentionPolicy(keep_min=3).expected_sets(1) == 7
    assert RetentionPolicy(days=None, hours=None).expected_sets(36) == 0
