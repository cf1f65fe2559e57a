"""The export pipeline (DESIGN.md, data flow).

fetch every dataset once → validate per template → render per (template,
unit) in memory → encrypt per audience → write into .incoming/ → ready-made
reports stamped and encrypted like the lists (export/reports.py) → binders →
manifest → sign → publish atomically → LATEST (good sets only) → retention.

Status of a set:
  good        every configured list was produced, with its rows
  partial     a dataset or template failed; the other lists are there
  incomplete  an expected list came out empty, all its rows filtered or all
              flagged, a unit of the last good set vanished, or rows could not
              be placed or go to no audience (nodkit.export.completeness)
  suspect     a dataset's row count fell by more than `suspect_drop` against the
              newest good set (an empty or truncated source export), or a
              ready-made report lost that share of its pages
Only a good set becomes LATEST and only after a good set is anything pruned
(DESIGN rule 1). The CLI and the scheduler both call `run_export`.

No change, no new set: every dataset's digest (sources.base.snapshot_digest)
is recorded in the manifest. When a run reads every dataset successfully and
nothing differs from LATEST — digests, reader warnings, `inputs_digest` (nodkit
version, nodkit.toml, templates, password generations, signing key), the local
date (lists with a horizon change with the day) — and LATEST is sound (signed,
every file present at its size) and younger than half of max_age_hours (its
binder covers say "valid until"), the run writes no set: its result has status
"unchanged" and store/CHECKED records when it checked (nodkit.store.check).
Anything else, a failed dataset above all, is a normal export as before.

A source file whose bytes are those LATEST was made from is not even parsed
(`Export.same_files`): file sources fingerprint the bytes they parse
(sources.base.file_fingerprint, recorded in the manifest), and a run compares
a fresh fingerprint of the file first. Only when something else changed are
such files read after all, for the new set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from nodkit import __version__
from nodkit.process import gc_paused
from nodkit.security import crypto
from nodkit.config.settings import KitConfig
from nodkit.errors import ConfigError, NodkitError, SourceError, StoreError
from nodkit.render.guide import TITLE as GUIDE_TITLE, guide_pdf, write_guide
from nodkit.store.manifest import DatasetEntry, FileEntry, Manifest
from nodkit.render.binder import Appendix, Binder, BinderPart
from nodkit.render.parallel import BinderJob, RenderJob, RenderPool, end_leftover_workers, resolve_workers
from nodkit.render.stamp import stamp_and_encrypt
from nodkit.export.reports import ReportList, compare_with_last_good, plan_reports
from nodkit.sources import describe, open_source
from nodkit.sources.base import Snapshot, snapshot_digest
from nodkit.store.check import CheckRecord, remove_check, write_check
from nodkit.store.sets import MANIFEST, SIGNATURE, ExportSet, Store, UnitFolders, apply_retention, new_set_id
from nodkit.lists.templates import Template, load_templates
from nodkit.lists.validate import PreparedList, prepare
from nodkit.export import completeness

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
    first_page: int | None = None  # a list stored as pages of the binder at `path` (store format 4)


@dataclass
class ExportResult:
    set: ExportSet  # the new set; for an "unchanged" run, LATEST (no set was written)
    status: str  # good | partial | suspect | unchanged (every source read, nothing changed: no new set)
    reasons: list[str]
    files: list[ExportedFile]
    latest: bool
    seconds: float
    warnings: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    # CPU seconds {"render": {template: s}, "encrypt": s} (render in whichever process did it),
    # "fetch_wall"/"validate_wall" seconds, "render_peak_rss": bytes, the largest rendering process's peak
    timings: dict = field(default_factory=dict)
    check: CheckRecord | None = None  # set when status is "unchanged"

    @property
    def id(self) -> str:
        return self.set.id

    @property
    def ok(self) -> bool:
        """The newest good lists are current: a good set was made, or nothing changed since LATEST."""
        return self.status in ("good", "unchanged")


def plan_lists(config: KitConfig, templates: dict[str, Template]) -> dict[str, list[str]]:
    """Template id -> audiences that receive it; unknown names are config errors."""
    wanted: dict[str, list[str]] = {}
    for audience in config.audiences.values():
        for tid in audience.templates:
            wanted.setdefault(tid, []).append(audience.name)
    # a template missing or broken is reported by the caller
    unconfigured = config.unconfigured({tid: t.dataset for tid, t in templates.items()})
    if unconfigured:
        raise ConfigError("; ".join(text for _, text in unconfigured))
    return wanted


def fetch_all(config: KitConfig, names: set[str], now: dt.datetime) -> tuple[dict[str, Snapshot], dict[str, str]]:
    snapshots: dict[str, Snapshot] = {}
    errors: dict[str, str] = {}
    for name in sorted(names):
        try:
            with gc_paused():  # reading makes a million objects that live on: the collector only walked them
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
    # a floor per dataset works on the very first export too, when there is nothing to compare with
    reasons = [f"dataset '{name}' has {rows} rows, fewer than its min_rows = {config.datasets[name].min_rows} "
               f"({config.datasets[name].where})"
               for name, rows in sorted(row_counts.items()) if rows < config.datasets[name].min_rows]
    previous = store.newest_good()
    if previous is None or previous.manifest is None:
        return reasons
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
               prune: bool = True, appendices: list[Appendix] | None = None, force: bool = False) -> ExportResult:
    """Run one export. `appendices` (plaintext PDF bytes in memory) are added to every binder.
    `force` writes a new set even when nothing changed since LATEST."""
    if config.station is not None:  # a station has no datasets: an "export" would be an empty set
        from nodkit.errors import ConfigError
        raise ConfigError(f"{config.path}: this kit is a print station; its lists come from the exporter",
                          hint="sync instead: nodkit station sync")
    return Export(config, now or config.now(), progress=progress, prune=prune, appendices=appendices,
                  force=force).run()


def inputs_digest(config: KitConfig, templates: dict[str, Template], secrets: dict,
                  appendices: list[Appendix] | None) -> str:
    """SHA-256 of what shapes a set besides the data and the date: a change to any of them is a new set."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode("utf-8") + data)

    add("nodkit", __version__.encode())
    add("config", config.path.read_bytes() if config.path else b"")
    for tid, template in sorted(templates.items()):
        try:
            add(f"template {tid}", Path(template.source).read_bytes())
        except OSError:
            add(f"template {tid}", repr(template).encode("utf-8"))
    for audience, secret in sorted(secrets.items()):
        add(f"password {audience}", str(secret.generation).encode())
    add("signing key", (config.keys / "signing.pub").read_bytes())
    for appendix in appendices or []:  # None: the printing guide, made from config and version
        add(f"appendix {appendix.title}", hashlib.sha256(appendix.pdf).digest())
    return digest.hexdigest()


# Lists handed to the render processes and not yet back, in rows per process: enough
# work queued that the processes never wait for the next list to be validated, few
# enough validated rows held at a time (memory; docs/performance.md).
WINDOW_ROWS_PER_PROCESS = 25_000


@dataclass(eq=False)
class _ListJob:
    """One validated list, kept for the binders (its rows only when the covers need them)."""
    template: Template
    prepared: PreparedList
    tid: str
    audiences: list[str]


class Export:
    """One export run, its state named: the steps read top to bottom in the order
    of the data flow (fetch → validate → render → encrypt → binders → seal →
    publish → prune). `run()` is the whole of it."""

    def __init__(self, config: KitConfig, now: dt.datetime, *, progress: Progress | None = None,
                 prune: bool = True, appendices: list[Appendix] | None = None, force: bool = False):
        self.config, self.now, self.progress, self.do_prune = config, now, progress, prune
        self.force = force or not config.skip_unchanged
        self.appendices = appendices
        self.started = time.monotonic()
        self.reasons: list[str] = []   # why the set is not good (partial, suspect)
        self.gaps: list[str] = []      # expected lists not printed with their rows (incomplete)
        self.warnings: list[str] = []
        self.timings: dict = {"render": {}, "encrypt": 0.0}
        self.files: list[FileEntry] = []
        self.set_id: str | None = None  # chosen under the lock, after every set in the store
        self.status = "good"
        self.pruned: list[str] = []
        self.folders = UnitFolders()  # unit name -> its folder in each audience, unique within the set
        # seals the unit lists that are stored only as pages of their binder until the binder job
        # has read them (crypto.seal_transient); lives in memory only, for this run
        self.transient_key = crypto.transient_key()
        self._plan()

    # -- before the lock: what to make, and with which secrets ---------------------------------
    def _plan(self) -> None:
        config = self.config
        self.template_errors: dict = {}
        self.templates = load_templates(config.home, self.template_errors)
        self.wanted = plan_lists(config, self.templates)
        self.report_plan = plan_reports(config)  # report dataset -> audiences
        self.book = crypto.PasswordBook(config.keys)
        self.secrets = {a: self.book.current(a) for a in config.audiences}
        crypto.load_public(config.keys)  # fail before any work when keys are missing
        self.store = Store(config.store)
        previous = self.store.newest_good()
        self.previous_id = previous.id if previous else None
        self.previous_units = completeness.previous_units(previous.manifest if previous else None)

    def run(self) -> ExportResult:
        with self.store.lock("export"):
            end_leftover_workers(self.store.incoming_dir)  # of an export killed before its processes died
            self.store.clean_debris()
            for tmp in self.config.keys.glob(".*.tmp"):  # a crash while saving a key file (password set) left this
                tmp.unlink(missing_ok=True)
            self._note_missing_templates()
            self.fetch()
            check = self.unchanged()
            if check is not None:
                return self.record_check(check)
            self.guide = _render_guide(self.config)  # once: every binder's last page, and the store's guide file
            if self.appendices is None:
                self.appendices = [Appendix(GUIDE_TITLE, self.guide)] if self.guide else []
            self.set_id = new_set_id(self.now, after=self.store.newest_id())
            self.incoming = self.store.begin(self.set_id)
            try:
                with RenderPool(resolve_workers(self.config.workers, self._rows_hint()),
                                marker_dir=self.store.incoming_dir) as pool:
                    self.render(pool)
                    self.reports()
                    self.binders(pool)
                manifest = self.seal()
                self.published = self.publish(manifest)
            except BaseException:
                shutil.rmtree(self.incoming.path, ignore_errors=True)
                raise
            self.prune()
            if self.guide:
                _write_guide(self.config, self.guide)  # under the lock, like every other write to the store
        return self.result()

    def _note_missing_templates(self) -> None:
        for tid in sorted(self.wanted):
            if tid in self.template_errors:
                self.reasons.append(f"list '{tid}' skipped: {self.template_errors[tid]}")
            elif tid not in self.templates:
                self.reasons.append(f"list '{tid}' skipped: no template file {tid}.toml")
        self.usable = {tid: self.templates[tid] for tid in self.wanted if tid in self.templates}

    # -- fetch -----------------------------------------------------------------------------------
    def fetch(self) -> None:
        """Read every dataset, except those whose source files are byte for byte the ones LATEST
        was made from (`same_files`): they are read only if something else changed."""
        started = time.perf_counter()
        names = {t.dataset for t in self.usable.values()} | set(self.report_plan)
        self.inputs = inputs_digest(self.config, self.usable, self.secrets, self.appendices)
        # read once, under the export lock: nothing can publish a set while this run holds it
        self.comparable = (None, "forced") if self.force else self._comparable_latest()
        self.matched = self.same_files(names)
        self.snapshots, self.fetch_errors, self.digests = {}, {}, {}
        self._read(names - set(self.matched))
        self.timings["fetch_wall"] = time.perf_counter() - started
        if (self.usable or self.report_plan) and not self.snapshots and not self.matched:
            raise SourceError("no dataset could be read; nothing exported: " + "; ".join(
                f"{k}: {v}" for k, v in sorted(self.fetch_errors.items())))
        self.check_reports()  # adds to the report snapshots' warnings
        self.warnings += [f"dataset '{name}': {w}" for name, snap in sorted(self.snapshots.items())
                          for w in snap.warnings]

    def _read(self, names: set[str]) -> None:
        started = time.perf_counter()
        snapshots, errors = fetch_all(self.config, names, self.now)
        self.snapshots |= snapshots
        self.fetch_errors |= errors
        for name, err in sorted(errors.items()):
            self.reasons.append(f"dataset '{name}' failed: {err}")
        # the rows themselves are let go while rendering, once the last list that reads them is validated
        self.row_counts = {name: len(snap.rows) for name, snap in self.snapshots.items()}
        self.digests |= {name: snapshot_digest(snap) for name, snap in snapshots.items()}
        self.timings["digest_wall"] = self.timings.get("digest_wall", 0.0) + time.perf_counter() - started

    def read_matched(self) -> None:
        """Something changed after all: read the files `same_files` skipped, for the new set."""
        if not self.matched:
            return
        started = time.perf_counter()
        matched, self.matched = self.matched, {}
        self._read(set(matched))
        self.warnings += [f"dataset '{name}': {w}" for name in sorted(matched) if name in self.snapshots
                          for w in self.snapshots[name].warnings]
        self.timings["fetch_wall"] += time.perf_counter() - started

    def same_files(self, names: set[str]) -> dict:
        """Dataset -> LATEST's manifest entry, for each dataset whose source can tell without
        parsing (`fingerprint`: file sources) that it would read exactly what LATEST was made
        from. Empty when forced, when LATEST is not a good set, or when anything else that
        shapes the lists (nodkit, nodkit.toml, templates, passwords, key) changed."""
        previous, _why = self.comparable
        if previous is None:
            return {}
        manifest = previous.manifest
        same = {}
        for name in sorted(names):
            entry = manifest.datasets.get(name)
            if entry is None or entry.error is not None or entry.digest is None or entry.fingerprint is None:
                continue
            try:
                probe = getattr(open_source(self.config.datasets[name], self.config.timezone), "fingerprint", None)
                fingerprint = probe(self.now) if probe is not None else None
            except Exception as exc:  # the fetch reads it again and names the problem
                log.debug("dataset %s: no fingerprint (%s)", name, type(exc).__name__)
                continue
            if fingerprint == entry.fingerprint:
                same[name] = entry
        if same:
            log.info("sources: %s unchanged since set %s (same file bytes)", ", ".join(same), previous.id)
        return same

    def _comparable_latest(self) -> tuple[ExportSet | None, str | None]:
        """(LATEST, None) when this run's lists could be LATEST's: a good set, made with the same
        nodkit, nodkit.toml, templates, passwords and key; else (None, why not)."""
        previous = self.store.newest_good()
        manifest = previous.manifest if previous is not None else None
        if manifest is None or previous.id != self.store.latest_id() or previous.status != "good":
            return None, "no good LATEST set to compare with"
        if manifest.inputs_digest != self.inputs:
            return None, "nodkit, nodkit.toml, a template, a password or the signing key changed"
        return previous, None

    # -- no change, no new set -----------------------------------------------------------------------
    def unchanged(self) -> CheckRecord | None:
        """The check record when this run would make the same lists as LATEST, else None (and why,
        logged; the files `same_files` skipped are then read)."""
        check = None if self.force else self._compare()
        if check is None:
            self.read_matched()
        return check

    def _compare(self) -> CheckRecord | None:
        previous, why = self.comparable
        manifest = previous.manifest if previous is not None else None
        if self.reasons or self.fetch_errors:
            why = "a dataset or template failed"
        elif previous is None:
            pass  # why: from _comparable_latest
        elif set(manifest.datasets) != set(self.snapshots) | set(self.matched):
            why = "the datasets are not the same"
        else:
            created = previous.created_at
            changed = [name for name, snap in sorted(self.snapshots.items())
                       if manifest.datasets[name].error is not None or manifest.datasets[name].digest is None
                       or manifest.datasets[name].digest != self.digests[name]
                       or manifest.datasets[name].warnings != list(snap.warnings)]
            tz = self.config.timezone
            if changed:
                why = "changed: " + ", ".join(changed)
            elif created > self.now or created.astimezone(tz).date() != self.now.astimezone(tz).date():
                why = f"LATEST {previous.id} is from another day"
            elif (self.now - created).total_seconds() >= self.config.max_age_hours * 1800:
                why = f"LATEST {previous.id} is older than half of max_age_hours"
            else:
                why = _unsound(previous, self.config)
        if why is not None:
            log.info("sources: a new set is made (%s)", why)
            return None
        # a matched file's digest is LATEST's: the same bytes read the same way
        digests = self.digests | {name: entry.digest for name, entry in self.matched.items()}
        return CheckRecord(checked_at=self.now.isoformat(timespec="seconds"), set_id=previous.id,
                           unchanged_since=manifest.created_at, datasets=dict(sorted(digests.items())))

    def record_check(self, check: CheckRecord) -> ExportResult:
        """No set is written: store/CHECKED says when the unchanged sources were read; then retention."""
        write_check(self.store.root, check, self.config.keys)
        # the files not parsed have LATEST's reader warnings: the same bytes read the same way
        self.warnings += [f"dataset '{name}': {w}" for name, entry in sorted(self.matched.items())
                          for w in entry.warnings]
        self.published = self.store.load(check.set_id)
        self.status = "unchanged"
        self.prune()  # a successful run: the hourly tier ages into the daily one without new sets
        seconds = time.monotonic() - self.started
        log.info("export: no new set, %s, %.1f s", check.text(self.config.timezone), seconds)
        return ExportResult(set=self.published, status="unchanged", reasons=[], files=[], latest=True,
                            seconds=seconds, warnings=self.warnings, pruned=self.pruned, timings=self.timings,
                            check=check)

    def check_reports(self) -> None:
        """Ready-made reports: each one skipped names itself (partial), each compared with the last
        good set (stale when unchanged too long: a warning; most pages lost: suspect, in `seal`)."""
        self.report_suspects: list[str] = []
        for name in sorted(self.report_plan):
            snap = self.snapshots.get(name)
            if snap is None:
                continue
            self.reasons += [f"dataset '{name}': report skipped: {why}" for why in snap.skipped]
            found = compare_with_last_good(self.config, self.store, snap, self.now)
            if snap.details["missing"] == "partial":
                self.reasons += [f"dataset '{name}': {why}" for why in found.missing]
            snap.warnings += found.stale + ([] if snap.details["missing"] == "partial" else found.missing)
            self.report_suspects += [f"dataset '{name}': {why}" for why in found.suspect]

    def _rows_hint(self) -> int:
        return sum(len(self.snapshots[t.dataset].rows) for t in self.usable.values()
                   if t.dataset in self.snapshots)

    # -- validate ----------------------------------------------------------------------------------
    def validated(self):
        """Validate one list at a time and yield its units as render jobs at once, so the
        render processes work while the next list is being validated."""
        self.list_jobs: list[_ListJob] = []
        self.dataset_flags: dict[str, int] = {}
        self._targets: dict[int, tuple[Template, str, list[str]]] = {}
        order = sorted(self.usable.items())
        last_reader = {template.dataset: tid for tid, template in order}
        validate_started = time.perf_counter()
        for tid, template in order:
            prepared = self._prepare(tid, template, last_reader[template.dataset] == tid)
            if prepared is None:
                continue
            audiences = self.wanted[tid]
            self.list_jobs.append(_ListJob(template, prepared if template.cover_sections else _without_rows(prepared),
                                           tid, audiences))
            for job in self._render_jobs(tid, template, prepared, audiences):
                validate_ended = time.perf_counter()
                yield job
                validate_started += time.perf_counter() - validate_ended  # not validation time
            del prepared
        self.timings["validate_wall"] = time.perf_counter() - validate_started

    def _prepare(self, tid: str, template: Template, last_reader: bool) -> PreparedList | None:
        snap = self.snapshots.get(template.dataset)
        if snap is None:
            self.reasons.append(f"list '{tid}' skipped: its dataset '{template.dataset}' failed")
            return None
        try:
            prepared = prepare(template, self.config.datasets[template.dataset], snap, today=self.now.date())
        except SourceError as exc:
            self.reasons.append(f"list '{tid}' skipped: {exc}")
            log.error("list %s skipped: %s", tid, exc)
            return None
        finally:
            if last_reader:  # no later list reads these rows
                self.snapshots[template.dataset] = dataclasses.replace(snap, rows=[])
            del snap
        self.warnings.extend(prepared.warnings)
        if prepared.filtered:
            log.info("list %s: %d row(s) left out by the template's filter/horizon (intended)", tid,
                     prepared.filtered)
        flagged = prepared.flagged  # a walk over every row: once
        self.dataset_flags[template.dataset] = max(self.dataset_flags.get(template.dataset, 0), flagged)
        gaps = completeness.list_gaps(self.config, tid, prepared, self.wanted[tid],
                                      self.previous_units.get(tid), self.previous_id)
        self.gaps += gaps.reasons
        self.warnings += gaps.notes
        if flagged:
            log.warning("list %s: %d row(s) with problems, flagged on the pages", tid, flagged)
        return prepared

    def _render_jobs(self, tid: str, template: Template, prepared: PreparedList, audiences: list[str]):
        config = self.config
        for unit_name, unit in prepared.units.items():
            targets = completeness.receivers(config, audiences, unit_name)
            if not targets:
                continue  # named in the set's reasons by completeness.list_gaps
            job = RenderJob(prepared, unit, kit_name=config.name, generated_at=self.now, set_id=self.set_id,
                            file_label=f"{self.folders.folder(unit_name)}/{tid}.pdf",
                            passwords={a: self.secrets[a].password for a in targets},
                            transient_key=self.transient_key if template.unit is not None else None)
            self._targets[id(job)] = (template, tid, targets)
            yield job

    # -- render and encrypt (in the render processes), write ------------------------------------------
    def render(self, pool: RenderPool) -> None:
        # unit -> the lists rendered for it; a part's `pdf` is its file label inside each audience's
        # folder, where the binders read the encrypted files back
        self.parts: dict[str, list[BinderPart]] = {}
        missing: dict[str, set[str]] = {}  # list -> characters the font cannot draw (found while rendering)
        workers = pool.workers
        rendered = pool.render(self.validated(), window_rows=WINDOW_ROWS_PER_PROCESS * workers)
        for done, (job, output) in enumerate(rendered, start=1):
            template, tid, targets = self._targets.pop(id(job))
            self._add_timings(output, tid)
            if output.missing_glyphs:
                missing.setdefault(tid, set()).update(output.missing_glyphs)
            self._write_list(job, output, tid, targets)
            self.parts.setdefault(job.unit.unit, []).append(BinderPart(
                title=template.title, template=tid, unit=job.unit.unit, pdf=Path(job.file_label),
                pages=output.pages, as_of=job.prepared.as_of, sections=len(job.unit.sections), rows=job.unit.rows))
            del output, job
            if self.progress:
                self.progress("render", done, done + len(self._targets))
        for tid, chars in sorted(missing.items()):
            text = ", ".join(f"U+{ord(c):04X}" for c in sorted(chars))
            self.warnings.append(f"list '{tid}': the font cannot draw {len(chars)} character(s) ({text}); "
                                 "they print as empty boxes")
            log.warning(self.warnings[-1])

    # -- ready-made reports: stamped and encrypted like a rendered list -------------------------------
    def reports(self) -> None:
        """Every taken report stamped on each page, encrypted for its audiences, written, and
        added to its unit's binder. One that cannot be stamped skips only its own entry."""
        config = self.config
        self.report_lists: dict[str, ReportList] = {}
        for name, audiences in sorted(self.report_plan.items()):
            snap = self.snapshots.get(name)
            if snap is None:
                continue
            for doc in snap.documents:
                targets = [a for a in audiences
                           if config.audiences[a].units is None or doc.unit in config.audiences[a].units]
                if not targets:
                    continue
                label = f"{self.folders.folder(doc.unit)}/{doc.list_id}.pdf"
                started = time.process_time()
                try:
                    stamped = stamp_and_encrypt(
                        doc.data, doc.password, {a: self.secrets[a].password for a in targets},
                        position=snap.details["stamp"], margin_mm=snap.details["stamp_margin_mm"],
                        title=doc.title, unit=doc.unit,
                        kit_name=config.name, as_of=doc.as_of, generated_at=self.now, set_id=self.set_id,
                        file_label=label, source_sha256=doc.sha256)
                except Exception as exc:  # a report qpdf cannot rewrite must not stop the other lists
                    self.reasons.append(f"dataset '{name}': report skipped: {doc.file}: could not be stamped "
                                        f"({type(exc).__name__})")
                    log.error(self.reasons[-1])
                    continue
                self.timings["render"][doc.list_id] = (self.timings["render"].get(doc.list_id, 0.0)
                                                       + time.process_time() - started - stamped.encrypt_seconds)
                self.timings["encrypt"] += stamped.encrypt_seconds
                for audience in targets:
                    self.files.append(self._write(
                        f"{audience}/{label}", stamped.encrypted[audience], pages=stamped.pages,
                        template=doc.list_id, audience=audience, unit=doc.unit, sections=1, rows=0,
                        flagged_rows=0, as_of=doc.as_of, title=doc.title, source_sha256=doc.sha256))
                entry = self.report_lists.setdefault(doc.list_id, ReportList(name, doc.title, doc.kit_wide))
                entry.audiences = sorted(set(entry.audiences) | set(targets))
                self.parts.setdefault(doc.unit, []).append(BinderPart(
                    title=doc.title, template=doc.list_id, unit=doc.unit, pdf=Path(label), pages=stamped.pages,
                    as_of=doc.as_of, sections=1, rows=0))
                log.info("report %s/%s: %d pages, source SHA-256 %s", doc.unit, doc.list_id, stamped.pages,
                         doc.sha256[:12])
                del stamped
            snap.documents = []  # the plain report bytes are let go as soon as they are encrypted

    def _add_timings(self, output, tid: str | None = None) -> None:
        if tid is not None:
            self.timings["render"][tid] = self.timings["render"].get(tid, 0.0) + output.seconds
        self.timings["render_peak_rss"] = max(self.timings.get("render_peak_rss", 0), output.peak_rss)
        self.timings["encrypt"] += output.encrypt_seconds

    def _write_list(self, job: RenderJob, output, tid: str, targets: list[str]) -> None:
        unit = job.unit
        for audience in targets:
            self.files.append(self._write(
                f"{audience}/{job.file_label}", output.encrypted[audience], pages=output.pages, template=tid,
                audience=audience, unit=unit.unit, sections=len(unit.sections), rows=unit.rows,
                flagged_rows=unit.flagged, as_of=job.prepared.as_of))

    def _write(self, relpath: str, data: bytes, *, audience: str, as_of: dt.datetime, **entry) -> FileEntry:
        self.incoming.write(relpath, data)
        return FileEntry(path=relpath, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), audience=audience,
                         password_generation=self.secrets[audience].generation,
                         as_of=as_of.isoformat(timespec="seconds"), **entry)

    # -- binders ---------------------------------------------------------------------------------------
    def binders(self, pool: RenderPool) -> None:
        """One binder per (audience, unit): the unit's lists, then the kit-wide lists ("Fælles" unit).

        Assembled and encrypted in the render processes from the audience's
        encrypted list files in `incoming` (opened with the audience password,
        in memory), biggest first; each is written as soon as it is done, and
        the entries are added in plan order.

        Then the unit's own rendered lists are not stored twice (store format 4):
        each becomes a page range of the binder written for it (its entry's path,
        hash and size are the binder's, `first_page` where it starts) and its
        own file leaves `incoming`. Kit-wide lists (in every binder of the
        audience: a station holding some units needs them without another unit's
        binder) and ready-made reports (the source system's file as taken) stay
        files; so does every list whose binder was not written.
        """
        started = time.perf_counter()
        plan = [job for audience in self.config.audiences.values() for job in self._binder_plan(audience)]
        entries: list[FileEntry | None] = [None] * len(plan)  # in plan order, whatever order they finish in
        index = {id(job): n for n, job in enumerate(plan)}
        inside: dict[str, tuple[FileEntry, int]] = {}  # list file -> (its binder's entry, its first page there)
        singles = self._single_lists
        for job, output in pool.assemble(plan):
            self._add_timings(output)
            binder = job.binder
            entry = entries[index[id(job)]] = self._write(
                f"{job.audience}/{job.file_label}", output.encrypted, pages=output.pages, template="binder",
                audience=job.audience, unit=binder.unit, sections=len(binder.parts), rows=0, flagged_rows=0,
                as_of=min(p.as_of for p in binder.parts))
            for part, first in zip(binder.parts, output.first_pages):
                if part.unit == binder.unit and part.template in singles:
                    inside[part.pdf.relative_to(self.incoming.path).as_posix()] = (entry, first)
            log.info("binder %s/%s: %d lists, %d pages", job.audience, binder.unit, len(binder.parts),
                     output.pages)
            del output
        self.files = [self._in_binder(f, *inside[f.path]) if f.path in inside
                      else self._settled(f) if f.template in singles else f for f in self.files]
        self.files += entries
        self.timings["binder_wall"] = time.perf_counter() - started

    @property
    def _single_lists(self) -> set[str]:
        """Templates whose per-unit files are stored as pages of the unit's binder: rendered lists
        with a unit (not kit-wide), not ready-made reports."""
        return {j.tid for j in self.list_jobs if j.template.unit is not None}

    def _in_binder(self, entry: FileEntry, binder: FileEntry, first_page: int) -> FileEntry:
        """`entry`'s list as pages of `binder`; its own file is removed from incoming."""
        if entry.audience != binder.audience or first_page + entry.pages - 1 > binder.pages:
            raise StoreError(f"{entry.path}: pages {first_page}+{entry.pages} do not fit {binder.path} "
                             f"({binder.pages} pages)")  # a bug: never record pages that are not the list
        (self.incoming.path / entry.path).unlink()
        return dataclasses.replace(entry, path=binder.path, sha256=binder.sha256, bytes=binder.bytes,
                                   first_page=first_page)

    def _settled(self, entry: FileEntry) -> FileEntry:
        """A list sealed for its binder that no binder took (not expected: the plan gives every unit
        list a binder) becomes an ordinary PDF encrypted for its audience: never published sealed."""
        path = self.incoming.path / entry.path
        data = path.read_bytes()
        if not crypto.is_transient(data):
            return entry
        log.warning("%s: in no binder; written as a list file of its own", entry.path)
        pdf = crypto.encrypt_pdf(crypto.open_transient(data, self.transient_key), self.secrets[entry.audience].password)
        path.unlink()
        self.incoming.write(entry.path, pdf)
        return dataclasses.replace(entry, sha256=hashlib.sha256(pdf).hexdigest(), bytes=len(pdf))

    def _binder_plan(self, audience) -> list[BinderJob]:
        config, parts = self.config, self.parts
        reports = getattr(self, "report_lists", {})
        kit_wide = ({j.tid for j in self.list_jobs if j.template.unit is None}
                    | {tid for tid, r in reports.items() if r.kit_wide})
        order = {tid: n for n, tid in enumerate(audience.templates)}
        # ready-made reports after the rendered lists, by dataset in the audience's order, then title
        rank = {name: n for n, name in enumerate(audience.reports)}
        order |= {tid: len(order) + n for n, tid in enumerate(sorted(
            (tid for tid, r in reports.items() if audience.name in r.audiences),
            key=lambda tid: (rank[reports[tid].dataset], reports[tid].title.casefold())))}
        mine = ({j.tid for j in self.list_jobs if audience.name in j.audiences}
                | {tid for tid, r in reports.items() if audience.name in r.audiences})
        contacts = _cover_contacts([j for j in self.list_jobs if j.tid in mine], audience)
        folder = self.incoming.path / audience.name

        def chosen(unit: str) -> list[BinderPart]:
            return sorted((dataclasses.replace(p, pdf=folder / p.pdf) for p in parts.get(unit, [])
                           if p.template in mine), key=lambda p: order[p.template])

        def shown(unit: str) -> bool:
            return audience.units is None or unit in audience.units

        units = sorted({p.unit for ps in parts.values() for p in ps
                        if p.template in mine and p.template not in kit_wide and shown(p.unit)})
        common = [p for u in sorted({p.unit for ps in parts.values() for p in ps if p.template in kit_wide})
                  for p in chosen(u) if p.template in kit_wide and shown(u)]
        if not units and common:
            units = [common[0].unit]  # only kit-wide lists: one binder for them
        return [BinderJob(Binder(unit=unit, audience_title=audience.title, kit_name=config.name,
                                 parts=[p for p in chosen(unit) if p.template not in kit_wide] + common,
                                 generated_at=self.now,
                                 valid_until=self.now + dt.timedelta(hours=config.max_age_hours),
                                 contacts=contacts, appendices=self.appendices),
                          set_id=self.set_id, file_label=f"{self.folders.folder(unit)}/binder.pdf",
                          audience=audience.name, password=self.secrets[audience.name].password,
                          transient_key=self.transient_key)
                for unit in units]

    # -- seal, publish, prune ------------------------------------------------------------------------
    def seal(self) -> Manifest:
        """The set's status and its manifest (signed by `publish`)."""
        # one status, the most telling cause first: a collapsed source, a failed one, then gaps
        suspect = _suspect_reasons(self.config, self.store, self.row_counts) + self.report_suspects
        self.status = ("suspect" if suspect else "partial" if self.reasons else "incomplete" if self.gaps
                       else "good")
        self.reasons += suspect + self.gaps
        config = self.config
        datasets = {name: DatasetEntry(source=snap.source, kind=snap.kind,
                                       as_of=snap.as_of.isoformat(timespec="seconds"),
                                       rows=self.row_counts[name], flagged_rows=self.dataset_flags.get(name, 0),
                                       warnings=list(snap.warnings), digest=self.digests[name],
                                       fingerprint=snap.fingerprint)
                    for name, snap in self.snapshots.items()}
        datasets |= {name: DatasetEntry(source=describe(config.datasets[name]), kind=config.datasets[name].kind,
                                        as_of=None, rows=0, error=err)
                     for name, err in self.fetch_errors.items()}
        return Manifest(set_id=self.set_id, created_at=self.now.isoformat(timespec="seconds"), kit=config.name,
                        nodkit_version=__version__, status=self.status, status_reasons=self.reasons,
                        datasets=datasets, files=self.files, inputs_digest=self.inputs)

    def publish(self, manifest: Manifest) -> ExportSet:
        published = self.store.publish(self.incoming, manifest, self.config.keys, make_latest=(self.status == "good"))
        if self.status == "good":
            remove_check(self.store.root)  # it names the previous LATEST
        return published

    def prune(self) -> None:
        """Retention, only after a good set or an unchanged check (DESIGN rule 1)."""
        if self.do_prune and self.status in ("good", "unchanged"):
            decisions = apply_retention(self.store, self.config.retention, self.now)
            self.pruned = [d.set_id for d in decisions if not d.keep]
            _forget_old_passwords(self.store, self.book, self.config)

    def result(self) -> ExportResult:
        published = self.published
        exported = [ExportedFile(path=published.path / entry.path, relpath=entry.path, template=entry.template,
                                 audience=entry.audience, unit=entry.unit, pages=entry.pages, rows=entry.rows,
                                 flagged_rows=entry.flagged_rows, first_page=entry.first_page)
                    for entry in self.files]
        seconds = time.monotonic() - self.started
        result = ExportResult(set=published, status=self.status, reasons=self.reasons, files=exported,
                              latest=(self.status == "good"), seconds=seconds, warnings=self.warnings,
                              pruned=self.pruned, timings=self.timings)
        log.info("export %s: %s, %d files, %d rows, %d pages, %.1f s, %d warnings%s", self.set_id, self.status,
                 len(exported), sum(f.rows for f in exported), sum(f.pages for f in exported), seconds,
                 len(self.warnings) + len(self.reasons), "" if self.status == "good" else " — not made LATEST")
        for reason in self.reasons:
            log.warning("set %s: %s", self.set_id, reason)
        return result


def _unsound(previous: ExportSet, config: KitConfig) -> str | None:
    """Why LATEST cannot stand for this run's lists (signature, a file missing or of another size), or None.

    Cheap on purpose (no hashing of every PDF): `verify` checks the hashes and
    the encryption of LATEST on every run and is CRITICAL when they fail."""
    try:
        data = (previous.path / MANIFEST).read_bytes()
        signature = (previous.path / SIGNATURE).read_bytes()
        if not crypto.check_signature(crypto.load_public(config.keys), data, signature):
            return f"LATEST {previous.id}: the manifest signature does not match"
        for entry in previous.manifest.stored():
            if (previous.path / entry.path).stat().st_size != entry.bytes:
                return f"LATEST {previous.id}: {entry.path} has another size than its manifest says"
    except OSError as exc:
        return f"LATEST {previous.id}: {exc.filename}: {exc.strerror}"
    return None


def _without_rows(prepared: PreparedList) -> PreparedList:
    """The list's template, columns and "data as of" without its rows (enough for the binders)."""
    return dataclasses.replace(prepared, units={}, warnings=[])


def _cover_contacts(jobs, audience, limit: int = 14) -> list[str]:
    """'Whom to call' lines for one audience's binder covers: rows of the sections a kit-wide
    template names in cover_sections. With `cover_audience`, a row whose cell names other
    audiences (by name or title, separated by commas) is left off: a school's cover does not
    list the home-care leaders. An empty cell is for everyone."""
    ours = {audience.name.casefold(), audience.title.casefold()}
    lines: list[str] = []
    for job in jobs:
        if not job.template.cover_sections:
            continue
        columns = [c.field for c in job.prepared.columns]
        tag = columns.index(job.template.cover_audience) if job.template.cover_audience in columns else None
        for unit in job.prepared.units.values():
            by_title = {s.title: s for s in unit.sections}
            for title in job.template.cover_sections:
                for row in by_title.get(title, _EMPTY).rows:
                    named = {n.strip().casefold() for n in re.split(r"[,;]", row.cells[tag])} - {""} if tag is not None else set()
                    if named and not named & ours:
                        continue
                    lines.append(" · ".join([cell for i, cell in enumerate(row.cells) if i != tag and cell][:4]))
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
