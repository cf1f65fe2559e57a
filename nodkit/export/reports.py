"""Ready-made reports (kind = "reports") in an export: which audiences get them, how they
compare with the last good set, and taking them in as lists.

Rules kept here:
- A report is one more list: stamped on every page (render/stamp.py),
  encrypted per audience, in the manifest with its page count, the hash of
  the file written and of the source file (format 2), in the unit's binder.
- Against the newest good set: a report that lost more than `suspect_drop`
  of its pages makes the set suspect (a truncated print-out must not become
  LATEST); the same source file taken for longer than `max_unchanged_hours`
  is stale (a warning, like a stale CSV export): the source system has
  stopped writing it.
- A report of the newest good set with no file now is named: the set is
  partial (the last good set, which has it, stays LATEST), or with
  `missing = "warning"` a warning (a report the source no longer makes).
- A report that cannot be stamped skips only its own entry (partial set).
- Messages name the file, counts and hashes, never the report's text.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from nodkit.config.settings import KitConfig
from nodkit.errors import ConfigError
from nodkit.sources.base import Snapshot
from nodkit.store.sets import Store

log = logging.getLogger(__name__)


@dataclass
class ReportList:
    """One report title of one dataset, as a list: who gets it and where it sits in the binders."""

    dataset: str
    title: str
    kit_wide: bool
    audiences: list[str] = field(default_factory=list)


def plan_reports(config: KitConfig) -> dict[str, list[str]]:
    """Report dataset -> the audiences that get its reports."""
    wanted: dict[str, list[str]] = {}
    for audience in config.audiences.values():
        for name in audience.reports:
            if name not in config.datasets or config.datasets[name].kind != "reports":
                raise ConfigError(f"{config.path}: audience '{audience.name}' gets reports of '{name}', "
                                  "which is not a dataset of kind \"reports\"")
            wanted.setdefault(name, []).append(audience.name)
    return wanted


@dataclass
class Comparison:
    """A report snapshot against the good sets kept."""

    stale: list[str] = field(default_factory=list)  # warnings
    suspect: list[str] = field(default_factory=list)  # most pages lost: the set is suspect
    missing: list[str] = field(default_factory=list)  # in the newest good set, no file now


def compare_with_last_good(config: KitConfig, store: Store, snapshot: Snapshot, now: dt.datetime) -> Comparison:
    good = [s for s in store.sets() if s.manifest is not None and s.manifest.status == "good"]
    result = Comparison()
    if not good:
        return result
    newest = max(good, key=lambda s: s.manifest.created_at)
    before: dict[tuple[str, str], int] = {(f.template, f.unit): f.pages for f in newest.manifest.files
                                          if f.source_sha256 is not None}
    first_seen: dict[tuple[str, str, str], dt.datetime] = {}
    for s in good:
        created = dt.datetime.fromisoformat(s.manifest.created_at)
        for f in s.manifest.files:
            if f.source_sha256 is not None:
                key = (f.template, f.unit, f.source_sha256)
                first_seen[key] = min(first_seen.get(key, created), created)
    limit = snapshot.details.get("max_unchanged_hours")
    warnings, suspects = result.stale, result.suspect
    present = {(d.list_id, d.unit) for d in snapshot.documents}
    present |= {tuple(key) for key in snapshot.details.get("skipped_keys", [])}  # already named as skipped
    titles = {(f.template, f.unit): f.title for f in newest.manifest.files if f.source_sha256 is not None}
    for list_id, unit in sorted(before):
        if list_id.startswith(f"{snapshot.dataset}-") and (list_id, unit) not in present:
            result.missing.append(f"report '{titles[(list_id, unit)]}' ({unit}) was in the last good set "
                                  f"{newest.id} but no file for it matches now")
    for doc in snapshot.documents:
        pages_before = before.get((doc.list_id, doc.unit))
        if pages_before and doc.pages < pages_before * (1 - config.suspect_drop):
            drop = 100 * (pages_before - doc.pages) / pages_before
            suspects.append(f"report '{doc.title}' ({doc.unit}, {doc.file}) has {doc.pages} page(s), the last good "
                            f"set {newest.id} had {pages_before} (-{drop:.0f} %, limit {config.suspect_drop:.0%})")
        seen = first_seen.get((doc.list_id, doc.unit, doc.sha256))
        if limit and seen is not None and (now - seen).total_seconds() / 3600 > limit:
            hours = (now - seen).total_seconds() / 3600
            warnings.append(f"stale: {doc.file} is the same file (SHA-256 {doc.sha256[:12]}…) as taken "
                            f"{hours:.1f} hours ago, more than max_unchanged_hours = {limit:g}: has the source "
                            "system stopped writing it?")
    return result
