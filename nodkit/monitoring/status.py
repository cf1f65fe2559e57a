"""`nodkit status`: one overview for IT, built from the same checks as verify.

Last and next run (scheduler heartbeat, else the schedule), the LATEST set
and its age, every set with the retention decision and its reason, the
problems of a default-level verify, and disk use. Reads only; never takes
the store lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from nodkit.monitoring import heartbeat
from nodkit.config.settings import KitConfig
from nodkit.store.sets import Store
from nodkit.monitoring.verify import VerifyReport, verify_kit


@dataclass
class SetRow:
    id: str
    created_at: dt.datetime | None
    status: str
    latest: bool
    files: int | None
    bytes: int
    keep: bool
    reason: str
    tier: str = "kept"  # the retention rule that decided (store.retention.TIERS)


@dataclass
class KitStatus:
    kit: str
    home: str
    now: dt.datetime
    verify: VerifyReport
    heartbeat: heartbeat.Heartbeat | None
    sets: list[SetRow] = field(default_factory=list)
    store_bytes: int = 0

    @property
    def tiers(self) -> dict[str, dict]:
        """Disk use per retention tier: {"hourly": {"sets": 12, "bytes": …}, …}, in TIERS order."""
        from nodkit.store.retention import TIERS
        out: dict[str, dict] = {}
        for s in self.sets:
            row = out.setdefault(s.tier, {"sets": 0, "bytes": 0})
            row["sets"] += 1
            row["bytes"] += s.bytes
        return {t: out[t] for t in sorted(out, key=lambda t: TIERS.index(t) if t in TIERS else len(TIERS))}

    @property
    def last_run(self) -> dict | None:
        b = self.heartbeat
        if b is None or not b.last_job:
            return None
        return {"job": b.last_job, "action": b.last_action, "started": b.last_started, "finished": b.last_finished,
                "result": b.last_result, "set": b.last_set, "message": b.last_message}

    @property
    def next_run(self) -> dict | None:
        """The scheduler's own announcement, else the export schedule."""
        if self.heartbeat and self.heartbeat.next_runs:
            job, when = min(self.heartbeat.next_runs.items(), key=lambda kv: kv[1])
            return {"job": job, "at": when, "from": "heartbeat"}
        if self.verify.next_due:
            return {"job": None, "at": self.verify.next_due.isoformat(), "from": "schedule"}
        return None

    def to_dict(self) -> dict:
        v = self.verify
        return {
            "kit": self.kit, "home": self.home, "now": self.now.isoformat(), "status": v.status,
            "exit_code": v.exit_code, "latest": v.latest,
            "latest_created_at": v.latest_created.isoformat() if v.latest_created else None,
            "age_seconds": v.age_seconds, "missed_runs": v.missed_runs,
            "sources_checked_at": v.sources_checked_at.isoformat() if v.sources_checked_at else None,
            "check": v.check_text,
            "last_run": self.last_run, "next_run": self.next_run,
            "heartbeat_at": self.heartbeat.updated_at if self.heartbeat else None,
            "sets": [{"set": s.id, "created_at": s.created_at.isoformat() if s.created_at else None,
                      "status": s.status, "latest": s.latest, "files": s.files, "bytes": s.bytes,
                      "keep": s.keep, "reason": s.reason, "tier": s.tier} for s in self.sets],
            "tiers": self.tiers, "store_bytes": self.store_bytes,
            "projected_bytes": v.projected_bytes, "disk_free_bytes": v.disk_free_bytes,
            "disk_total_bytes": v.disk_total_bytes,
            "problems": [p.to_dict() for p in v.problems],
        }


def kit_status(config: KitConfig, now: dt.datetime | None = None) -> KitStatus:
    from nodkit.store.sets import retention_plan
    now = now or config.now()
    report = verify_kit(config, now)
    store = Store(config.store)
    latest = store.latest_id()
    decisions = {d.set_id: d for d in retention_plan(store, config.retention, now)}
    rows = []
    for s in store.sets():
        d = decisions.get(s.id)
        rows.append(SetRow(id=s.id, created_at=s.created_at, status=s.status, latest=s.id == latest,
                           files=len(s.manifest.stored()) if s.manifest else None, bytes=s.size(),
                           keep=d.keep if d else True, reason=d.reason if d else "?",
                           tier=d.tier if d else "kept"))
    return KitStatus(kit=config.name, home=str(config.home), now=now, verify=report,
                     heartbeat=heartbeat.read(config.home), sets=rows, store_bytes=sum(r.bytes for r in rows))
