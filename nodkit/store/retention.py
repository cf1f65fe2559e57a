"""Retention: which export sets to keep, as a pure function (borg/restic style tiers).

`plan(sets, policy, now, latest)` decides keep/remove for every set, names the
rule (`tier`) and gives the reason. Rules, in order; the first that keeps a
set wins:

1. LATEST (the newest good set that was published as such) is always kept.
2. The newest `keep_min` good sets are always kept, however old, so that
   days of failing sources can never delete the last real lists.
3. hourly: every set younger than `hours` (default 24) is kept, whatever its
   status.
4. daily: for each calendar day (in the timezone of `now`, so a 23- or
   25-hour DST day is still one day) younger than `days` (default 7), the
   last good set of that day is kept.
5. daily evidence: for each such day, the newest set that is not good
   (partial, incomplete, suspect, or any other status that is not "good") is kept for
   inspection; it never takes the place of the day's good set, nor counts
   towards keep_min.
6. Everything else is removed.

Only the status "good" is good: any other status (partial, suspect, and
whatever a later nodkit adds) never protects nor displaces a good set.
A policy with neither `hours` nor `days` (an empty policy) removes nothing.

Nothing here touches the disk: `store.apply_retention` (after a good export or
an unchanged check) and `store.prune` (`nodkit prune`, under the lock, also
removing .incoming debris) carry out the plan; docs/store-format.md, "Delete order".
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

TIERS = ("latest", "keep_min", "hourly", "daily", "evidence", "unreadable", "kept", "remove")


@dataclass(frozen=True)
class RetentionPolicy:
    days: float | None = 7        # daily tier: the last good set of each day, for this many days
    keep_min: int = 3             # the newest good sets always kept
    hours: float | None = 24      # hourly tier: every set of the last `hours`

    @property
    def empty(self) -> bool:
        return self.days is None and self.hours is None

    def describe(self) -> str:
        if self.empty:
            return "no retention rule: nothing is removed"
        parts = []
        if self.hours:
            parts.append(f"keep every set of the last {self.hours:g} h")
        if self.days:
            parts.append(f"then the last good set of each day for {self.days:g} days")
        return "; ".join(parts) + f"; always LATEST and the newest {self.keep_min} good sets"

    def expected_sets(self, runs_in_hours: int) -> int:
        """How many sets the policy keeps at most, when every one of `runs_in_hours` runs made a set."""
        if self.empty:
            return 0
        daily = math.ceil(max(0.0, (self.days or 0) * 24 - (self.hours or 0)) / 24) if self.days else 0
        return max(self.keep_min, runs_in_hours + daily)


@dataclass(frozen=True)
class SetInfo:
    id: str
    created_at: dt.datetime
    status: str  # "good" is good; anything else is not


@dataclass(frozen=True)
class Decision:
    set_id: str
    keep: bool
    reason: str
    tier: str = "kept"  # one of TIERS: the rule that decided


def _age(now: dt.datetime, created: dt.datetime) -> str:
    hours = (now - created).total_seconds() / 3600
    return f"{hours:.1f} h old" if hours < 48 else f"{hours / 24:.1f} days old"


def plan(sets: list[SetInfo], policy: RetentionPolicy, now: dt.datetime, latest: str | None) -> list[Decision]:
    """Decisions for every set, newest first."""
    ordered = sorted(sets, key=lambda s: (s.created_at, s.id), reverse=True)
    if policy.empty:
        return [Decision(s.id, True, "no retention rule configured (neither hours nor days): nothing is removed",
                         "kept") for s in ordered]
    tz = now.tzinfo
    good = [s.id for s in ordered if s.status == "good"]
    protected = set(good[: policy.keep_min])
    hour_cut = now - dt.timedelta(hours=policy.hours) if policy.hours else None
    day_cut = now - dt.timedelta(days=policy.days) if policy.days else None

    def day(s: SetInfo) -> dt.date:
        return s.created_at.astimezone(tz).date()

    last_good: dict[dt.date, str] = {}   # the newest good set of each day
    last_other: dict[dt.date, str] = {}  # the newest not-good set of each day
    for s in ordered:
        (last_good if s.status == "good" else last_other).setdefault(day(s), s.id)

    decisions = []
    for s in ordered:
        age, d = _age(now, s.created_at), day(s)
        if s.id == latest:
            decisions.append(Decision(s.id, True, "LATEST: the newest good set is never removed", "latest"))
        elif s.id in protected:
            rank = good.index(s.id) + 1
            decisions.append(Decision(s.id, True, f"one of the newest {policy.keep_min} good sets "
                                                  f"(#{rank}, keep_min)", "keep_min"))
        elif hour_cut is not None and s.created_at > hour_cut:
            decisions.append(Decision(s.id, True, f"hourly: {s.status} set, {age}, within the last "
                                                  f"{policy.hours:g} h", "hourly"))
        elif day_cut is not None and s.created_at > day_cut and s.status == "good" and last_good[d] == s.id:
            decisions.append(Decision(s.id, True, f"daily: the last good set of {d}, {age}, within "
                                                  f"{policy.days:g} days", "daily"))
        elif day_cut is not None and s.created_at > day_cut and s.status != "good" and last_other[d] == s.id:
            decisions.append(Decision(s.id, True, f"daily evidence: the newest {s.status} set of {d}, {age}, kept "
                                                  "for inspection (never instead of a good one)", "evidence"))
        elif day_cut is None or s.created_at <= day_cut:
            limit = f"older than {policy.days:g} days" if day_cut is not None else f"older than {policy.hours:g} h"
            decisions.append(Decision(s.id, False, f"{s.status} set, {age}, {limit}", "remove"))
        elif s.status == "good":
            decisions.append(Decision(s.id, False, f"good set, {age}, older than {policy.hours or 0:g} h and not the "
                                                   f"last of {d} (kept: {last_good[d]})", "remove"))
        else:
            decisions.append(Decision(s.id, False, f"{s.status} set, {age}, older than {policy.hours or 0:g} h; a newer "
                                                   f"{last_other[d]} is kept as the evidence of {d}", "remove"))
    return decisions
