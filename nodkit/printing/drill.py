"""Drills: practise the whole print path without printing personal data.

`run_drill` takes the unit's binder (else all the unit's lists for that
audience), checks each file's hash, decrypts it in memory with the password
the person typed, counts its pages against the manifest, and prints one
drill sheet ("ØVELSE – ikke til brug", nodkit.render.drill) with the set id,
the data time and the date. The outcome, good or failed, is one audit record
with action "drill"; `verify` reads the newest good one per unit
(`last_drills`) and warns when a unit has not practised for
[monitoring] drill_warn_days.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from nodkit.config.settings import KitConfig
from nodkit.errors import PrintError, StoreError
from nodkit.printing import jobs, spooler
from nodkit.printing.audit import AuditLog
from nodkit.printing.preview import page_count
from nodkit.render.drill import DrillSheet, drill_pdf
from nodkit.store.manifest import FileEntry
from nodkit.store.sets import ExportSet

log = logging.getLogger(__name__)

ACTION = "drill"


@dataclass
class DrillResult:
    set_id: str
    unit: str
    audience: str
    printer: str
    checked: list[tuple[str, int]] = field(default_factory=list)
    job: str | None = None
    outcome: jobs.JobOutcome | None = None  # the drill page's job followed to its end

    def to_dict(self) -> dict:
        return {"set": self.set_id, "unit": self.unit, "audience": self.audience, "printer": self.printer,
                "checked": [{"list": t, "pages": p} for t, p in self.checked], "job": self.job,
                "outcome": self.outcome.to_dict() if self.outcome else None}


def drill_files(export_set: ExportSet, unit: str, audience: str | None) -> list[FileEntry]:
    """The binder of (audience, unit), else every list of it."""
    files = spooler.find_files(export_set, unit, None, audience)
    if audience is None:
        audience = files[0].audience  # a unit shared by several audiences: the first; pass --audience for another
        files = [f for f in files if f.audience == audience]
    binders = [f for f in files if f.template == spooler.BINDER]
    return binders or files


def run_drill(config: KitConfig, export_set: ExportSet, unit: str, password: str | None, *,
              audience: str | None = None, backend: spooler.Backend | None = None, now: dt.datetime | None = None,
              titles: dict[str, str] | None = None, plain: dict[str, bytes] | None = None) -> DrillResult:
    """`plain`: FileEntry.label → bytes already decrypted with the typed password (the kiosk's unlocked session)."""
    now = now or config.now()
    backend = backend or spooler.backend_for(config.printer)
    titles = titles or spooler.template_titles(config)
    files = drill_files(export_set, unit, audience)
    audience = files[0].audience
    names = [f.label for f in files]
    result = DrillResult(set_id=export_set.id, unit=unit, audience=audience, printer=backend.label)
    try:
        backend.check()
        if plain is not None and all(f.label in plain for f in files):
            opened = [plain[f.label] for f in files]
        else:
            opened = spooler.unlock(export_set, files, password or "")
        for entry, pdf in zip(files, opened):
            pages = page_count(pdf)
            if pages != entry.pages:
                raise PrintError(f"{entry.label}: {pages} sider, men manifestet siger {entry.pages}. "
                                 "Listen er ikke hel – " + spooler.CALL_IT)
            result.checked.append((titles.get(entry.template, entry.template), pages))
        del opened
        as_of = spooler.age_of(export_set, config, now).as_of
        sheet = DrillSheet(kit=config.name, unit=unit, audience=config.audiences[audience].title
                           if audience in config.audiences else audience, set_id=export_set.id,
                           as_of=as_of, drilled_at=now, checked=result.checked)
        submitted = backend.submit(drill_pdf(sheet), f"nodkit ØVELSE {unit} {export_set.id}", 1)
        result.job = submitted.job
        result.outcome = backend.watch(submitted, 1, config.printer.wait_seconds)
    except (PrintError, StoreError) as exc:
        AuditLog(config.home).append(action=ACTION, set_id=export_set.id, files=names, pages=0,
                                     printer=backend.label, copies=0, result=f"fejl: {exc}", now=now)
        raise
    # a drill counts (verify's days since the last drill) only when its page really printed
    AuditLog(config.home).append(action=ACTION, set_id=export_set.id, files=names, pages=1, printer=backend.label,
                                 copies=1, result=result.outcome.audit_result(), now=now)
    log.info("drill: unit %s, %d file(s) checked, set %s: %s", unit, len(files), export_set.id, result.outcome.state)
    return result


def last_drills(config: KitConfig) -> dict[tuple[str, str], dt.datetime]:
    """(audience, unit) → time of the newest successful drill, from the audit log."""
    out: dict[tuple[str, str], dt.datetime] = {}
    for record in AuditLog(config.home).records():
        if record.get("action") != ACTION or record.get("result") != "ok":
            continue
        try:
            when = dt.datetime.fromisoformat(record["time"])
        except (KeyError, TypeError, ValueError):
            continue
        for path in record.get("files") or []:
            parts = str(path).split("/")
            if len(parts) >= 3:
                key = (parts[0], parts[1])
                if key not in out or when > out[key]:
                    out[key] = when
    return out
