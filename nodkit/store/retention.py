"""Retention: which export sets to keep, as a pure function.

`plan(sets, policy, now)` decides keep/remove for every set and gives the
reason. Rules, in order:

1. LATEST (the newest good set that was published as such) is always kept.
2. The newest `keep_min` good sets are always kept, however old, so that
   days of failing sources can never delete the last real lists.
3. Any set younger than `days` is kept.
4. Everything else is removed. Suspect, incomplete and partial sets count neither
   towards keep_min nor against it: they never protect nor displace good ones.

Nothing here touches the disk: `store.apply_retention` (after a good export)
and `store.prune` (`nodkit prune`, under the lock, also removing .incoming
debris) carry out the plan; docs/store-format.md, "Delete order".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class RetentionPolicy:
    days: float = 7
    keep_min: int = 3


@dataclass(frozen=True)
class SetInfo:
    id: str
    created_at: dt.datetime
    status: str  # "good" | "partial" | "incomplete" | "suspect"


@dataclass(frozen=True)
class Decision:
    set_id: str
    keep: bool
    reason: str


def plan(sets: list[SetInfo], policy: RetentionPolicy, now: dt.datetime, latest: str | None) -> list[Decision]:
    """Decisions for every set, newest first."""
    ordered = sorted(sets, key=lambda s: (s.created_at, s.id), reverse=True)
    good = [s.id for s in ordered if s.status == "good"]
    protected = set(good[: policy.keep_min])
    cutoff = now - dt.timedelta(days=policy.days)
    decisions = []
    for s in ordered:
        age_days = (now - s.created_at).total_seconds() / 86400
        if s.id == latest:
            decisions.append(Decision(s.id, True, "LATEST: the newest good set is never removed"))
        elif s.id in protected:
            rank = good.index(s.id) + 1
            decisions.append(Decision(s.id, True, f"one of the newest {policy.keep_min} good sets (#{rank}, keep_min)"))
        elif s.created_at > cutoff:
            decisions.append(Decision(s.id, True, f"{s.status} set, {age_days:.1f} days old, within {policy.days:g} days"))
        else:
            decisions.append(Decision(s.id, False, f"{s.status} set, {age_days:.1f} days old, older than {policy.days:g} days"))
    return decisions
