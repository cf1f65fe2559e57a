"""Retention as a pure function: tables of sets with injected dates → keep/remove and why."""

from __future__ import annotations

import datetime as dt

import pytest

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
        sets(*twice_daily(10)), RetentionPolicy(7, 3), "s000.0",
        {f"s{x / 2:05.1f}" for x in range(14, 20)}, id="7 days: twice-daily for 10 days, older than 7 removed"),
    pytest.param(
        sets(("new", 0.1, "good"), ("a", 8, "good"), ("b", 9, "good"), ("c", 10, "good"), ("d", 11, "good")),
        RetentionPolicy(7, 3), "new", {"c", "d"}, id="keep_min keeps the newest 3 good although older than 7 days"),
    pytest.param(
        # ten days of failing sources: only partial sets since the last good one, LATEST is that good set
        sets(*twice_daily(10, "partial"), ("lastgood", 10.5, "good"), ("older", 11, "good"), ("oldest", 12, "good")),
        RetentionPolicy(7, 1), "lastgood",
        {f"s{x / 2:05.1f}" for x in range(14, 20)} | {"older", "oldest"},
        id="ten days of failing sources: the last good set survives, partial sets never displace it"),
    pytest.param(
        sets(*twice_daily(10, "suspect"), ("lastgood", 10.5, "good"), ("g2", 11, "good"), ("g3", 12, "good"),
             ("g4", 13, "good")),
        RetentionPolicy(7, 3), "lastgood",
        {f"s{x / 2:05.1f}" for x in range(14, 20)} | {"g4"},
        id="suspect sets count neither towards keep_min nor against it"),
    pytest.param(
        sets(("sus1", 8, "suspect"), ("sus2", 9, "suspect"), ("good1", 10, "good")),
        RetentionPolicy(7, 3), "good1", {"sus1", "sus2"},
        id="old suspect sets are never protected by keep_min"),
    pytest.param(
        sets(("latest", 30, "good")), RetentionPolicy(7, 1), "latest", set(),
        id="LATEST is never removed however old"),
    pytest.param(
        sets(("young-partial", 1, "partial"), ("latest", 2, "good")), RetentionPolicy(7, 1), "latest", set(),
        id="within the window every status is kept"),
    pytest.param(
        sets(("x", 7.01, "good"), ("y", 6.99, "good"), ("z", 0, "good")), RetentionPolicy(7, 1), "z", {"x"},
        id="the window edge: 6.99 days kept, 7.01 days removed"),
    pytest.param([], RetentionPolicy(7, 3), None, set(), id="an empty store removes nothing"),
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
        RetentionPolicy(7, 2), NOW, "latest")}
    assert "LATEST" in decisions["latest"].reason
    assert "keep_min" in decisions["g2"].reason
    assert "within 7 days" in decisions["p"].reason
    assert not decisions["old"].keep and "older than 7 days" in decisions["old"].reason


def test_ten_days_of_failures_day_by_day():
    """Simulate each day of a 10-day source outage: the last good lists exist every single day."""
    good = SetInfo("good", NOW, "good")
    history = [good]
    policy = RetentionPolicy(7, 3)
    for day in range(1, 11):
        now = NOW + dt.timedelta(days=day)
        history.append(SetInfo(f"fail{day}", now, "partial"))
        gone = removed(plan(history, policy, now, "good"))
        history = [s for s in history if s.id not in gone]
        assert "good" in {s.id for s in history}, f"day {day}: the last good set was removed"
    assert {s.id for s in history} == {"good"} | {f"fail{d}" for d in range(4, 11)}
