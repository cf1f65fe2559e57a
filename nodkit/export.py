"""The export pipeline (DESIGN.md, data flow).

fetch every dataset once → validate per template → render per (template,
unit) in memory → encrypt per audience → write into .incoming/ → manifest →
sign → publish atomically → LATEST (good sets only) → retention.

Status of a set:
  good     every configured list was produced
  partial  a dataset or template failed; the other lists are there
  suspect  a dataset's row count fell by more than `suspect_drop` against the
           newest good set (an empty or truncated source export)
Only a good set becomes LATEST and only after a good set is anything pruned
(DESIGN rule 1). The CLI and the scheduler both call `run_export`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__, crypto
from .config import KitConfig
from .errors import ConfigError, NodkitError, SourceError, StoreError
from .manifest import DatasetEntry, FileEntry, Manifest
from .render import render_unit
from .render.fonts import missing_glyphs
from .sources import open_source
from .sources.base import Snapshot
from .store import ExportSet, Store, apply_retention, new_set_id, safe_name
from .templates import Template, load_templates
from .validate import PreparedList, prepare

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class ExportedFile:
    path: Path
    relpath: str
    template: str
    audience: str
    unit: str
    pages: int
    rows: int
    flagged_rows: int


@dataclass
class ExportResult:
    set: ExportSet
    status: str
    reasons: list[str]
    files: list[ExportedFile]
    latest: bool
    seconds: float
    warnings: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.set.id


def plan_lists(config: KitConfig, templates: dict[str, Template]) -> dict[str, list[str]]:
    """Template id -> audiences that receive it; unknown names are config errors."""
    wanted: dict[str, list[str]] = {}
    doc_where = f"{config.path}"
    for audience in config.audiences.values():
        for tid in audience.templates:
            wanted.setdefault(tid, []).append(audience.name)
    for tid in wanted:
        if tid not in templates:
            continue  # reported by the caller (template missing or broken)
        ds = templates[tid].dataset
        if ds not in config.datasets:
            raise ConfigError(f"{doc_where}: list '{tid}' reads dataset '{ds}', which is not configured; "
                              f"add [datasets.{ds}] or remove '{tid}' from the audiences")
    return wanted


def fetch_all(config: KitConfig, names: set[str], now: dt.datetime) -> tuple[dict[str, Snapshot], dict[str, str]]:
    snapshots: dict[str, Snapshot] = {}
    errors: dict[str, str] = {}
    for name in sorted(names):
        try:
            snapshots[name] = open_source(config.datasets[name], config.timezone).fetch(now)
            log.info("dataset %s: %d rows, data as of %s", name, len(snapshots[name].rows),
                     snapshots[name].as_of.isoformat(timespec="minutes"))
            for warning in snapshots[name].warnings:
                log.warning("dataset %s: %s", name, warning)
        except ConfigError:
            raise
        except NodkitError as exc:
            errors[name] = str(exc)
            log.error("dataset %s failed: %s", name, exc)
    return snapshots, errors


def _suspect_reasons(config: KitConfig, store: Store, snapshots: dict[str, Snapshot]) -> list[str]:
    previous = store.newest_good()
    if previous is None or previous.manifest is None:
        return []
    reasons = []
    for name, snap in snapshots.items():
        before = previous.manifest.datasets.get(name)
        if before is None or before.rows == 0:
            continue
        now_rows = len(snap.rows)
        if now_rows < before.rows * (1 - config.suspect_drop):
            drop = 100 * (before.rows - now_rows) / before.rows
            reasons.append(f"dataset '{name}' has {now_rows} rows, the last good set {previous.id} had "
                           f"{before.rows} (-{drop:.0f} %, limit {config.suspect_drop:.0%})")
    return reasons


def run_export(config: KitConfig, now: dt.datetime | None = None, *, progress: Progress | None = None,
               prune: bool = True) -> ExportResult:
    started = time.monotonic()
    now = now or config.now()
    template_errors: dict = {}
    templates = load_templates(config.home, template_errors)
    wanted = plan_lists(config, templates)
    book = crypto.PasswordBook(config.keys)
    secrets_by_audience = {a: book.current(a) for a in config.audiences}
    crypto.load_public(config.keys)  # fail before any work when keys are missing
    store = Store(config.store)
    with store.lock("export"):
        store.clean_debris()
        reasons: list[str] = []
        warnings: list[str] = []
        for tid in sorted(wanted):
            if tid in template_errors:
                reasons.append(f"list '{tid}' skipped: {template_errors[tid]}")
            elif tid not in templates:
                reasons.append(f"list '{tid}' skipped: no template file {tid}.toml")
        usable = {tid: templates[tid] for tid in wanted if tid in templates}
        snapshots, fetch_errors = fetch_all(config, {t.dataset for t in usable.values()}, now)
        if usable and not snapshots:
            raise SourceError("no dataset could be read; nothing exported: " + "; ".join(
                f"{k}: {v}" for k, v in sorted(fetch_errors.items())))
        for name, err in sorted(fetch_errors.items()):
            reasons.append(f"dataset '{name}' failed: {err}")
        set_id = new_set_id(now)
        incoming = store.begin(set_id)
        try:
            files, list_warnings, dataset_flags = _render_and_write(
                config, usable, wanted, snapshots, secrets_by_audience, incoming, set_id, now, reasons, progress)
            warnings += list_warnings
            status = "partial" if reasons else "good"
            suspect = _suspect_reasons(config, store, snapshots)
            if suspect:
                status = "suspect"
                reasons += suspect
            manifest = Manifest(
                set_id=set_id, created_at=now.isoformat(timespec="seconds"), kit=config.name,
                nodkit_version=__version__, status=status, status_reasons=reasons,
                datasets={name: DatasetEntry(source=snap.source, kind=snap.kind,
                                             as_of=snap.as_of.isoformat(timespec="seconds"),
                                             rows=len(snap.rows), flagged_rows=dataset_flags.get(name, 0))
                          for name, snap in snapshots.items()}
                | {name: DatasetEntry(source=config.datasets[name].options.get("path", config.datasets[name].kind),
                                      kind=config.datasets[name].kind, as_of=None, rows=0, error=err)
                   for name, err in fetch_errors.items()},
                files=files)
            published = store.publish(incoming, manifest, config.keys, make_latest=(status == "good"))
        except BaseException:
            shutil.rmtree(incoming.path, ignore_errors=True)
            raise
        pruned: list[str] = []
        if prune and status == "good":
            decisions = apply_retention(store, config.retention, now)
            pruned = [d.set_id for d in decisions if not d.keep]
            _forget_old_passwords(store, book, config)
    _write_guide(config)
    exported = [ExportedFile(path=published.path / entry.path, relpath=entry.path, template=entry.template,
                             audience=entry.audience, unit=entry.unit, pages=entry.pages, rows=entry.rows,
                             flagged_rows=entry.flagged_rows) for entry in files]
    seconds = time.monotonic() - started
    result = ExportResult(set=published, status=status, reasons=reasons, files=exported,
                          latest=(status == "good"), seconds=seconds, warnings=warnings, pruned=pruned)
    log.info("export %s: %s, %d files, %d rows, %d pages, %.1f s, %d warnings%s", set_id, status, len(exported),
             sum(f.rows for f in exported), sum(f.pages for f in exported), seconds, len(warnings) + len(reasons),
             "" if status == "good" else " — not made LATEST")
    for reason in reasons:
        log.warning("set %s: %s", set_id, reason)
    return result


def _render_and_write(config, usable, wanted, snapshots, secrets_by_audience, incoming, set_id, now,
                      reasons, progress):
    jobs: list[tuple[Template, PreparedList, str, list[str]]] = []
    warnings: list[str] = []
    dataset_flags: dict[str, int] = {}
    for tid, template in sorted(usable.items()):
        snap = snapshots.get(template.dataset)
        if snap is None:
            reasons.append(f"list '{tid}' skipped: its dataset '{template.dataset}' failed")
            continue
        try:
            prepared = prepare(template, config.datasets[template.dataset], snap)
        except SourceError as exc:
            reasons.append(f"list '{tid}' skipped: {exc}")
            log.error("list %s skipped: %s", tid, exc)
            continue
        warnings += prepared.warnings
        dataset_flags[template.dataset] = max(dataset_flags.get(template.dataset, 0), prepared.flagged)
        if prepared.flagged:
            log.warning("list %s: %d row(s) with problems, flagged on the pages", tid, prepared.flagged)
        missing = missing_glyphs(cell for u in prepared.units.values() for s in u.sections
                                 for r in s.rows for cell in r.cells)
        if missing:
            text = ", ".join(f"U+{ord(c):04X}" for c in sorted(missing))
            warnings.append(f"list '{tid}': the font cannot draw {len(missing)} character(s) ({text}); "
                            "they print as empty boxes")
            log.warning(warnings[-1])
        jobs.append((template, prepared, tid, wanted[tid]))
    total = sum(len(p.units) for _, p, _, _ in jobs)
    done = 0
    files: list[FileEntry] = []
    for template, prepared, tid, audiences in jobs:
        for unit_name, unit in prepared.units.items():
            targets = [a for a in audiences
                       if config.audiences[a].units is None or unit_name in config.audiences[a].units]
            if not targets:
                continue
            file_label = f"{safe_name(unit_name)}/{tid}.pdf"
            rendered = render_unit(prepared, unit, kit_name=config.name, generated_at=now, set_id=set_id,
                                   file_label=file_label)
            for audience in targets:
                secret = secrets_by_audience[audience]
                data = crypto.encrypt_pdf(rendered.pdf, secret.password)
                relpath = f"{audience}/{file_label}"
                incoming.write(relpath, data)
                files.append(FileEntry(
                    path=relpath, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), pages=rendered.pages,
                    template=tid, audience=audience, unit=unit_name, password_generation=secret.generation,
                    sections=len(unit.sections), rows=unit.rows, flagged_rows=unit.flagged,
                    as_of=prepared.as_of.isoformat(timespec="seconds")))
            del rendered
            done += 1
            if progress:
                progress("render", done, total)
    return files, warnings, dataset_flags


def _write_guide(config: KitConfig) -> None:
    """The plain one-page printing guide beside the sets; a failure never fails the export."""
    from .guide import write_guide
    try:
        write_guide(config)
    except Exception as exc:
        log.warning("could not write the printing guide: %s", exc)


def _forget_old_passwords(store: Store, book: crypto.PasswordBook, config: KitConfig) -> None:
    in_use: dict[str, set[int]] = {}
    for s in store.sets():
        if s.manifest:
            for f in s.manifest.files:
                in_use.setdefault(f.audience, set()).add(f.password_generation)
    try:
        for audience in book.audiences():
            book.forget_unused(audience, in_use.get(audience, set()))
    except (OSError, StoreError) as exc:
        log.warning("could not tidy old password generations: %s", exc)
