"""Render many (template, unit) lists across processes, results in a fixed order.

reportlab is pure Python and holds the GIL, so more cores help only with more
processes. Each job carries just what its PDF needs (template, "data as of",
one unit's sections), is rendered to bytes in a worker, and comes back to the
caller, which encrypts and writes it. Rules kept here:

- Deterministic: results are yielded in the order of the jobs given, whatever
  order the workers finish in; the PDFs are the same as a sequential render
  (same page counts, rows and text; tests/test_parallel.py checks it).
- Nothing touches the disk: workers return PDF bytes through a pipe, the
  plain PDF (for binders) and, when the job names audiences and passwords,
  the encrypted copies, so encryption is spread over the cores as well.
- Given a list, big jobs are started first so the cores finish together;
  given a generator (the export validates list by list), each job starts as
  soon as it exists, so rendering overlaps validation. Either way the caller
  receives the results in job order.
- Workers start from a fresh interpreter (spawn), not a fork of the
  exporting process, so they do not copy its snapshot memory; fonts are
  registered once per worker process and reused for every job.
- A render process that dies (killed, out of memory) or cannot start does
  not fail the export: the remaining lists are rendered in this process.
- `workers = "auto"` renders in-process when the export is small (a process
  pool costs about a second to start) and otherwise uses one process per core.
- Binders (`assemble_all`) are assembled and encrypted in the processes too,
  in the order given; jobs are taken from the caller's iterator only as
  processes free up, so list PDFs no later binder needs can be let go early.
  Only the encrypted binder comes back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

from .. import crypto
from ..validate import PreparedList, UnitList
from .document import RenderResult, render_unit

if TYPE_CHECKING:
    from .binder import Binder

log = logging.getLogger(__name__)

# Below this many rows in total, "auto" renders in the exporting process.
AUTO_MIN_ROWS = 3000
MAX_AUTO_WORKERS = 8


@dataclass
class RenderJob:
    prepared: PreparedList  # template and as_of; its units are not needed (and not sent)
    unit: UnitList
    kit_name: str
    generated_at: dt.datetime
    set_id: str
    file_label: str
    # audience -> password: the job also encrypts its PDF for these audiences, so
    # encryption runs in the render processes too (the plain PDF still comes back)
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.unit.rows


@dataclass
class RenderOutput:
    result: RenderResult
    seconds: float  # CPU seconds the render took in its process
    peak_rss: int = 0  # bytes, high-water mark of the rendering process so far (0 if unknown)
    encrypted: dict[str, bytes] = field(default_factory=dict)  # audience -> encrypted PDF
    encrypt_seconds: float = 0.0  # CPU seconds of that encryption


def resolve_workers(setting: int | str, total_rows: int, jobs: int) -> int:
    """How many processes to use for `jobs` jobs with `total_rows` rows."""
    if isinstance(setting, int):
        return max(1, min(setting, jobs or 1))
    if total_rows < AUTO_MIN_ROWS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_AUTO_WORKERS, jobs or 1))


def _light(job: RenderJob) -> RenderJob:
    """The job without the other units' rows, so only this unit is pickled."""
    # keep everything else of the list (printed columns with tick boxes, horizon days)
    prepared = dataclasses.replace(job.prepared, units={}, warnings=[])
    return dataclasses.replace(job, prepared=prepared)


def _render(job: RenderJob) -> RenderOutput:
    started = time.process_time()
    result = render_unit(job.prepared, job.unit, kit_name=job.kit_name, generated_at=job.generated_at,
                         set_id=job.set_id, file_label=job.file_label)
    rendered = time.process_time()
    encrypted = {audience: crypto.encrypt_pdf(result.pdf, password) for audience, password in job.passwords.items()}
    return RenderOutput(result, rendered - started, peak_rss(), encrypted, time.process_time() - rendered)


_render_in_worker = _render  # what the pool runs (a test swaps in a worker that dies)


def peak_rss() -> int:
    """This process's peak resident set size in bytes.

    Linux: VmHWM, which restarts at exec. getrusage's ru_maxrss does not: a
    spawned worker would report the (larger) exporting process's peak.
    """
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except ImportError:  # Windows
        return 0


def _warm_up() -> None:
    from . import fonts
    fonts.register()


def _context():
    # spawn, not fork: no copy of the exporter's memory or threads (the scheduler
    # runs exports from a thread), the same on Windows, and the workers are our
    # own children, so their CPU time shows in os.times() once they are joined
    return multiprocessing.get_context("spawn")


class _FallbackPool:
    """A process pool that, once a process dies or cannot start, does the rest in this process.

    Shared by render_all and assemble_all; only their scheduling differs.
    """

    def __init__(self, executor: ProcessPoolExecutor, noun: str, verb: str):
        self.executor, self.noun, self.verb = executor, noun, verb
        self.broken = False

    def submit(self, fn, arg) -> Future | None:
        """A future, or None once the pool is unusable (the caller then works locally)."""
        if self.broken:
            return None
        try:
            return self.executor.submit(fn, arg)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self.broken = True
            log.warning("%s processes unavailable (%s); %s in this process", self.noun, exc, self.verb)
            return None

    def result(self, future: Future | None, local, job):
        """The future's result, or `local(job)` when there is none or its process died."""
        if future is not None and not self.broken:
            try:
                return future.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                self.broken = True
                log.warning("a %s process failed (%s); %s the rest in this process", self.noun, exc, self.verb)
        return local(job)


def render_all(jobs: Iterable[RenderJob], workers: int | str = "auto", *,
               rows_hint: int | None = None) -> Iterator[tuple[RenderJob, RenderOutput]]:
    """Yield (job, output) for every job, in the order given.

    `jobs` may be a generator that prepares the next list while earlier ones
    render; then pass `rows_hint` (about how many rows in all) for "auto".
    """
    if rows_hint is None:
        jobs = list(jobs)
        rows_hint = sum(j.rows for j in jobs)
    count = resolve_workers(workers, rows_hint, len(jobs) if isinstance(jobs, list) else MAX_AUTO_WORKERS)
    if count <= 1:
        log.debug("rendering in-process")
        for job in jobs:
            yield job, _render(job)
        return
    log.info("rendering in %d processes", count)
    with ProcessPoolExecutor(max_workers=count, mp_context=_context(), initializer=_warm_up) as executor:
        pool = _FallbackPool(executor, "render", "rendering")
        submitted: list[tuple[RenderJob, Future | None]] = []

        def submit(job: RenderJob) -> Future | None:
            return pool.submit(_render_in_worker, _light(job))

        try:
            if isinstance(jobs, list):
                # all known: largest first, so no worker is left with one big list at the end
                order = sorted(range(len(jobs)), key=lambda i: -jobs[i].rows)
                futures = {i: submit(jobs[i]) for i in order}
                submitted = [(job, futures[i]) for i, job in enumerate(jobs)]
            else:
                for job in jobs:  # the workers start on each job while the next is prepared
                    submitted.append((job, submit(job)))
            for index, (job, future) in enumerate(submitted):
                output = pool.result(future, _render, job)
                submitted[index] = (job, None)  # let the PDF go once the caller has it
                yield job, output
        finally:
            for _job, future in submitted:
                if future is not None:
                    future.cancel()


@dataclass
class BinderJob:
    """One binder to assemble from plain list PDFs and encrypt, in a render process."""

    binder: "Binder"
    set_id: str
    file_label: str
    audience: str
    password: str


@dataclass
class BinderOutput:
    pages: int
    encrypted: bytes
    seconds: float  # CPU seconds assembling in its process
    encrypt_seconds: float
    peak_rss: int = 0


def _assemble(job: BinderJob) -> BinderOutput:
    from .binder import build_binder
    started = time.process_time()
    rendered = build_binder(job.binder, set_id=job.set_id, file_label=job.file_label)
    built = time.process_time()
    data = crypto.encrypt_pdf(rendered.pdf, job.password)
    return BinderOutput(rendered.pages, data, built - started, time.process_time() - built, peak_rss())


_assemble_in_worker = _assemble  # what the pool runs (a test swaps in a worker that dies)


def assemble_all(jobs: Iterable[BinderJob], workers: int) -> Iterator[tuple[BinderJob, BinderOutput]]:
    """Yield (job, output) for every binder job, in the order given.

    `jobs` is consumed lazily and at most two jobs per process are pending, so
    the caller can let go of list PDFs that no later binder needs while the
    earlier binders are being assembled. Only the encrypted binder comes back
    (the plain binder never leaves the process that built it). A dead or
    unavailable process pool falls back to this process, like render_all.
    """
    if workers <= 1:
        for job in jobs:
            yield job, _assemble(job)
        return
    log.info("assembling binders in %d processes", workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_warm_up) as executor:
        pool = _FallbackPool(executor, "binder", "assembling")
        pending: list[tuple[BinderJob, Future | None]] = []
        source = iter(jobs)

        def fill() -> None:
            while len(pending) < 2 * workers:
                job = next(source, None)
                if job is None:
                    return
                pending.append((job, pool.submit(_assemble_in_worker, job)))

        try:
            fill()
            while pending:
                job, future = pending.pop(0)
                output = pool.result(future, _assemble, job)
                fill()
                yield job, output
                del job, output
        finally:
            for _job, future in pending:
                if future is not None:
                    future.cancel()
