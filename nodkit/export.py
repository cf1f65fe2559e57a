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

import dataclasses
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
from .guide import TITLE as GUIDE_TITLE, guide_pdf, write_guide
from .manifest import DatasetEntry, FileEntry, Manifest
from .render.binder import Appendix, Binder, BinderPart
from .render.parallel import BinderJob, RenderJob, RenderPool, resolve_workers
from .sources import describe, open_source
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
    # CPU seconds {"render": {template: s}, "encrypt": s} (render in whichever process did it),
    # "fetch_wall"/"validate_wall" seconds, "render_peak_rss": bytes, the largest rendering process's peak
    timings: dict = field(default_factory=dict)

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
        except Exception as exc:  # a bug or a driver surprise must not stop the other datasets
            errors[name] = (f"{describe(config.datasets[name])}: unexpected {type(exc).__name__} while reading "
                            "(a bug in nodkit or its reader; run 'nodkit --debug sources check')")
            log.error("dataset %s failed: unexpected %s", name, type(exc).__name__)
            log.debug("dataset %s traceback", name, exc_info=True)
    return snapshots, errors


def _suspect_reasons(config: KitConfig, store: Store, row_counts: dict[str, int]) -> list[str]:
    previous = store.newest_good()
    if previous is None or previous.manifest is None:
        return []
    reasons = []
    for name, now_rows in row_counts.items():
        before = previous.manifest.datasets.get(name)
        if before is None or before.rows == 0:
            continue
        if now_rows < before.rows * (1 - config.suspect_drop):
            drop = 100 * (before.rows - now_rows) / before.rows
            reasons.append(f"dataset '{name}' has {now_rows} rows, the last good set {previous.id} had "
                           f"{before.rows} (-{drop:.0f} %, limit {config.suspect_drop:.0%})")
    return reasons


def run_export(config: KitConfig, now: dt.datetime | None = None, *, progress: Progress | None = None,
               prune: bool = True, appendices: list[Appendix] | None = None) -> ExportResult:
    """Run one export. `appendices` (plaintext PDF bytes in memory) are added to every binder."""
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
        for tmp in config.keys.glob(".*.tmp"):  # a crash while saving a key file (password set) left this
            tmp.unlink(missing_ok=True)
        reasons: list[str] = []
        warnings: list[str] = []
        for tid in sorted(wanted):
            if tid in template_errors:
                reasons.append(f"list '{tid}' skipped: {template_errors[tid]}")
            elif tid not in templates:
                reasons.append(f"list '{tid}' skipped: no template file {tid}.toml")
        usable = {tid: templates[tid] for tid in wanted if tid in templates}
        fetch_started = time.perf_counter()
        snapshots, fetch_errors = fetch_all(config, {t.dataset for t in usable.values()}, now)
        fetch_seconds = time.perf_counter() - fetch_started
        if usable and not snapshots:
            raise SourceError("no dataset could be read; nothing exported: " + "; ".join(
                f"{k}: {v}" for k, v in sorted(fetch_errors.items())))
        for name, err in sorted(fetch_errors.items()):
            reasons.append(f"dataset '{name}' failed: {err}")
        warnings += [f"dataset '{name}': {w}" for name, snap in sorted(snapshots.items()) for w in snap.warnings]
        # the rows themselves are let go while rendering, once the last list that reads them is validated
        row_counts = {name: len(snap.rows) for name, snap in snapshots.items()}
        set_id = new_set_id(now)
        guide = _render_guide(config)  # once: the last page of every binder, and store/udskrivningsvejledning.pdf
        if appendices is None:
            appendices = [Appendix(GUIDE_TITLE, guide)] if guide else []
        timings: dict = {"render": {}, "encrypt": 0.0, "fetch_wall": fetch_seconds}
        incoming = store.begin(set_id)
        try:
            files, list_warnings, dataset_flags = _render_and_write(
                config, usable, wanted, snapshots, secrets_by_audience, incoming, set_id, now, reasons, progress,
                appendices, timings)
            warnings += list_warnings
            status = "partial" if reasons else "good"
            suspect = _suspect_reasons(config, store, row_counts)
            if suspect:
                status = "suspect"
                reasons += suspect
            manifest = Manifest(
                set_id=set_id, created_at=now.isoformat(timespec="seconds"), kit=config.name,
                nodkit_version=__version__, status=status, status_reasons=reasons,
                datasets={name: DatasetEntry(source=snap.source, kind=snap.kind,
                                             as_of=snap.as_of.isoformat(timespec="seconds"),
                                             rows=row_counts[name], flagged_rows=dataset_flags.get(name, 0),
                                             warnings=list(snap.warnings))
                          for name, snap in snapshots.items()}
                | {name: DatasetEntry(source=describe(config.datasets[name]),
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
        if guide:
            _write_guide(config, guide)  # under the lock, like every other write to the store
    exported = [ExportedFile(path=published.path / entry.path, relpath=entry.path, template=entry.template,
                             audience=entry.audience, unit=entry.unit, pages=entry.pages, rows=entry.rows,
                             flagged_rows=entry.flagged_rows) for entry in files]
    seconds = time.monotonic() - started
    result = ExportResult(set=published, status=status, reasons=reasons, files=exported,
                          latest=(status == "good"), seconds=seconds, warnings=warnings, pruned=pruned,
                          timings=timings)
    log.info("export %s: %s, %d files, %d rows, %d pages, %.1f s, %d warnings%s", set_id, status, len(exported),
             sum(f.rows for f in exported), sum(f.pages for f in exported), seconds, len(warnings) + len(reasons),
             "" if status == "good" else " — not made LATEST")
    for reason in reasons:
        log.warning("set %s: %s", set_id, reason)
    return result


# Lists handed to the render processes and not yet back, in rows per process: enough
# work queued that the processes never wait for the next list to be validated, few
# enough validated rows held at a time (memory; docs/performance.md).
WINDOW_ROWS_PER_PROCESS = 25_000


def _render_and_write(config, usable, wanted, snapshots, secrets_by_audience, incoming, set_id, now,
                      reasons, progress, appendices=(), timings=None):
    timings = timings if timings is not None else {"render": {}, "encrypt": 0.0}
    warnings: list[str] = []
    dataset_flags: dict[str, int] = {}
    # (template, prepared, tid, audiences) per validated list, for the binders; a list's rows are
    # kept only when its template puts some of them on the binder covers (cover_sections)
    jobs: list[tuple[Template, PreparedList, str, list[str]]] = []
    by_job: dict[int, tuple[Template, str, list[str]]] = {}
    order = sorted(usable.items())
    last_reader = {template.dataset: tid for tid, template in order}

    def planned():
        """Validate one list at a time and hand its units to the renderers at once, so
        the render processes work while the next list is being validated."""
        validate_started = time.perf_counter()
        for tid, template in order:
            snap = snapshots.get(template.dataset)
            if snap is None:
                reasons.append(f"list '{tid}' skipped: its dataset '{template.dataset}' failed")
                continue
            try:
                prepared = prepare(template, config.datasets[template.dataset], snap, today=now.date())
            except SourceError as exc:
                reasons.append(f"list '{tid}' skipped: {exc}")
                log.error("list %s skipped: %s", tid, exc)
                continue
            finally:
                if last_reader[template.dataset] == tid:  # no later list reads these rows
                    snapshots[template.dataset] = dataclasses.replace(snap, rows=[])
                del snap
            warnings.extend(prepared.warnings)
            if prepared.filtered:
                log.info("list %s: %d row(s) left out by the template's filter/horizon (intended)", tid,
                         prepared.filtered)
            dataset_flags[template.dataset] = max(dataset_flags.get(template.dataset, 0), prepared.flagged)
            if prepared.flagged:
                log.warning("list %s: %d row(s) with problems, flagged on the pages", tid, prepared.flagged)
            audiences = wanted[tid]
            jobs.append((template, prepared if template.cover_sections else _without_rows(prepared), tid,
                         audiences))
            for unit_name, unit in prepared.units.items():
                targets = [a for a in audiences
                           if config.audiences[a].units is None or unit_name in config.audiences[a].units]
                if not targets:
                    continue
                file_label = f"{safe_name(unit_name)}/{tid}.pdf"
                job = RenderJob(prepared, unit, kit_name=config.name, generated_at=now, set_id=set_id,
                                file_label=file_label,
                                passwords={a: secrets_by_audience[a].password for a in targets})
                by_job[id(job)] = (template, tid, targets)
                validate_ended = time.perf_counter()
                yield job
                validate_started += time.perf_counter() - validate_ended  # not validation time
            del prepared
        timings["validate_wall"] = time.perf_counter() - validate_started

    rows_hint = sum(len(snapshots[t.dataset].rows) for t in usable.values() if t.dataset in snapshots)
    files: list[FileEntry] = []
    # unit -> the lists rendered for it; a part's `pdf` is its file label inside each audience's
    # folder, where the binders read the encrypted files back
    parts: dict[str, list[BinderPart]] = {}
    missing: dict[str, set[str]] = {}  # list -> characters the font cannot draw (found while rendering)
    workers = resolve_workers(config.workers, rows_hint)
    with RenderPool(workers) as pool:
        rendered = pool.render(planned(), window_rows=WINDOW_ROWS_PER_PROCESS * workers)
        for done, (job, output) in enumerate(rendered, start=1):
            template, tid, targets = by_job.pop(id(job))
            unit_name, unit = job.unit.unit, job.unit
            timings["render"][tid] = timings["render"].get(tid, 0.0) + output.seconds
            timings["render_peak_rss"] = max(timings.get("render_peak_rss", 0), output.peak_rss)
            timings["encrypt"] += output.encrypt_seconds
            if output.missing_glyphs:
                missing.setdefault(tid, set()).update(output.missing_glyphs)
            for audience in targets:
                secret = secrets_by_audience[audience]
                data = output.encrypted[audience]
                relpath = f"{audience}/{job.file_label}"
                incoming.write(relpath, data)
                files.append(FileEntry(
                    path=relpath, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), pages=output.pages,
                    template=tid, audience=audience, unit=unit_name, password_generation=secret.generation,
                    sections=len(unit.sections), rows=unit.rows, flagged_rows=unit.flagged,
                    as_of=job.prepared.as_of.isoformat(timespec="seconds")))
            parts.setdefault(unit_name, []).append(BinderPart(
                title=template.title, template=tid, unit=unit_name, pdf=Path(job.file_label), pages=output.pages,
                as_of=job.prepared.as_of, sections=len(unit.sections), rows=unit.rows))
            del output, job, unit
            if progress:
                progress("render", done, done + len(by_job))
        for tid, chars in sorted(missing.items()):
            text = ", ".join(f"U+{ord(c):04X}" for c in sorted(chars))
            warnings.append(f"list '{tid}': the font cannot draw {len(chars)} character(s) ({text}); "
                            "they print as empty boxes")
            log.warning(warnings[-1])
        binder_started = time.perf_counter()
        files += _write_binders(config, jobs, parts, secrets_by_audience, incoming, set_id, now,
                                list(appendices), pool, timings)
        timings["binder_wall"] = time.perf_counter() - binder_started
    return files, warnings, dataset_flags


def _without_rows(prepared: PreparedList) -> PreparedList:
    """The list's template, columns and "data as of" without its rows (enough for the binders)."""
    return dataclasses.replace(prepared, units={}, warnings=[])


def _write_binders(config, jobs, parts, secrets_by_audience, incoming, set_id, now, appendices, pool: RenderPool,
                   timings=None) -> list[FileEntry]:
    """One binder per (audience, unit): the unit's lists, then the kit-wide lists ("Fælles" unit).

    Assembled and encrypted in the render processes from the audience's
    encrypted list files in `incoming` (opened with the audience password, in
    memory), biggest first; each is written as soon as it is done, and the
    entries are returned in plan order.
    """
    kit_wide = {tid for template, _, tid, _ in jobs if template.unit is None}
    plan: list[BinderJob] = []
    for audience in config.audiences.values():
        order = {tid: n for n, tid in enumerate(audience.templates)}
        mine = {tid for _, _, tid, auds in jobs if audience.name in auds}
        contacts = _cover_contacts([job for job in jobs if job[2] in mine])
        folder = incoming.path / audience.name

        def chosen(unit: str) -> list[BinderPart]:
            return sorted((dataclasses.replace(p, pdf=folder / p.pdf) for p in parts.get(unit, [])
                           if p.template in mine), key=lambda p: order[p.template])

        units = sorted({p.unit for ps in parts.values() for p in ps if p.template in mine
                        and p.template not in kit_wide
                        and (audience.units is None or p.unit in audience.units)})
        common = [p for u in sorted({p.unit for ps in parts.values() for p in ps if p.template in kit_wide})
                  for p in chosen(u) if p.template in kit_wide and (audience.units is None or u in audience.units)]
        if not units and common:
            units = [common[0].unit]  # only kit-wide lists: one binder for them
        for unit in units:
            own = [p for p in chosen(unit) if p.template not in kit_wide]
            plan.append(BinderJob(Binder(unit=unit, audience_title=audience.title, kit_name=config.name,
                                         parts=own + common, generated_at=now,
                                         valid_until=now + dt.timedelta(hours=config.max_age_hours),
                                         contacts=contacts, appendices=appendices),
                                  set_id=set_id, file_label=f"{safe_name(unit)}/binder.pdf",
                                  audience=audience.name, password=secrets_by_audience[audience.name].password))

    entries: list[FileEntry | None] = [None] * len(plan)  # in plan order, whatever order they finish in
    index = {id(job): n for n, job in enumerate(plan)}
    for job, output in pool.assemble(plan):
        binder, audience = job.binder, config.audiences[job.audience]
        secret = secrets_by_audience[audience.name]
        if timings is not None:
            timings["encrypt"] = timings.get("encrypt", 0.0) + output.encrypt_seconds
            timings["render_peak_rss"] = max(timings.get("render_peak_rss", 0), output.peak_rss)
        data = output.encrypted
        relpath = f"{audience.name}/{job.file_label}"
        incoming.write(relpath, data)
        entries[index[id(job)]] = FileEntry(
            path=relpath, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), pages=output.pages,
            template="binder", audience=audience.name, unit=binder.unit, password_generation=secret.generation,
            sections=len(binder.parts), rows=0, flagged_rows=0,
            as_of=min(p.as_of for p in binder.parts).isoformat(timespec="seconds"))
        log.info("binder %s/%s: %d lists, %d pages", audience.name, binder.unit, len(binder.parts), output.pages)
        del output, data
    return entries


def _cover_contacts(jobs, limit: int = 14) -> list[str]:
    """'Whom to call' lines for binder covers: rows of the sections a kit-wide template names in cover_sections."""
    lines: list[str] = []
    for template, prepared, _, _ in jobs:
        if not template.cover_sections:
            continue
        for unit in prepared.units.values():
            by_title = {s.title: s for s in unit.sections}
            for title in template.cover_sections:
                for row in by_title.get(title, _EMPTY).rows:
                    lines.append(" · ".join(cell for cell in row.cells[:4] if cell))
    return lines[:limit]


class _EMPTY:
    rows: list = []


def _render_guide(config: KitConfig) -> bytes | None:
    """The plain one-page printing guide; a failure never fails the export."""
    try:
        return guide_pdf(config)
    except Exception as exc:
        log.warning("could not render the printing guide: %s", exc)
        return None


def _write_guide(config: KitConfig, pdf: bytes) -> None:
    """store/udskrivningsvejledning.pdf beside the sets; a failure never fails the export."""
    try:
        write_guide(config, pdf)
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
