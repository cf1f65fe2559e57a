"""Render many (template, unit) lists and the binders across processes, results in a fixed order.

reportlab is pure Python and holds the GIL, so more cores help only with more
processes. Each list job carries just what its PDF needs (template, "data as
of", one unit's sections) and the passwords of the audiences that receive it;
a process renders it and encrypts it for each of them. Rules kept here:

- Deterministic: results are yielded in the order of the jobs given, whatever
  order the workers finish in; the PDFs are the same as a sequential render
  (same page counts, rows and text; tests/test_parallel.py checks it).
- Nothing plain touches the disk or leaves the process that made it: a list
  job returns only its encrypted copies (the plain PDF only when the job has
  no passwords); a binder job opens its audience's encrypted list files with
  the audience password, assembles them in memory and returns the encrypted
  binder.
- Given a list, big jobs are started first so the cores finish together;
  given a generator (the export validates list by list), each job starts as
  soon as it exists, so rendering overlaps validation, and a window of rows
  keeps validation from running far ahead of the processes. Either way the
  caller receives the results in job order.
- One pool (`RenderPool`) serves an export's lists and then its binders.
  Workers start from a fresh interpreter (spawn), not a fork of the exporting
  process, so they do not copy its snapshot memory; fonts are registered once
  per worker process and reused for every job.
- A render process dies with the export that started it (PR_SET_PDEATHSIG
  on Linux, a watch on the parent elsewhere): it holds personal data and
  passwords. Each leaves a marker (pid and start time) in the store's
  .incoming/, so the next export ends any it can prove are its own.
- A render process that dies (killed, out of memory) or cannot start does
  not fail the export: the remaining lists and binders are made in this
  process.
- `workers = "auto"` renders in-process when the export is small (a process
  pool costs about a second to start) and otherwise uses one process per core.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import itertools
import logging
import multiprocessing
import operator
import os
import pickle
import time
from pathlib import Path
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

from nodkit.process import gc_paused, no_core_dumps
from nodkit.security import crypto
from nodkit.lists.validate import PreparedList, PreparedRow, Section, UnitList
from nodkit.render import fonts
from nodkit.render.document import render_unit

if TYPE_CHECKING:
    from nodkit.render.binder import Binder

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
    # encryption runs in the render processes too (then only the encrypted copies come back)
    passwords: dict[str, str] = field(default_factory=dict)
    # set for a list that is stored only as pages of its binder (store format 4): instead of a PDF
    # encrypted per audience, one copy sealed with this export's key (crypto.seal_transient), which
    # only the binder job opens; each audience in `passwords` gets that copy
    transient_key: bytes | None = None

    @property
    def rows(self) -> int:
        return self.unit.rows


@dataclass
class RenderOutput:
    pages: int
    seconds: float  # CPU seconds the render took in its process
    peak_rss: int = 0  # bytes, high-water mark of the rendering process so far (0 if unknown)
    encrypted: dict[str, bytes] = field(default_factory=dict)  # audience -> encrypted PDF
    encrypt_seconds: float = 0.0  # CPU seconds of that encryption
    plain: bytes | None = None  # the plain PDF, only from a job without passwords (never sent otherwise)
    missing_glyphs: frozenset[str] = frozenset()  # characters in the cells the font cannot draw


def resolve_workers(setting: int | str, total_rows: int, jobs: int | None = None) -> int:
    """How many processes to use for `jobs` jobs (None: not known yet) with `total_rows` rows."""
    if isinstance(setting, int):
        return max(1, setting if jobs is None else min(setting, jobs or 1))
    if total_rows < AUTO_MIN_ROWS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_AUTO_WORKERS, jobs or MAX_AUTO_WORKERS))


def _light(job: RenderJob) -> RenderJob:
    """The job as it is sent: without the other units' rows, its own rows packed."""
    # keep everything else of the list (printed columns with tick boxes, horizon days)
    prepared = dataclasses.replace(job.prepared, units={}, warnings=[])
    return dataclasses.replace(job, prepared=prepared, unit=_PackedUnit.pack(job.unit))


@dataclass
class _PackedUnit:
    """A unit's rows as plain tuples of what rendering reads (cells, problems, origin),
    pickled on their own: the render process unpickles them inside `gc_paused`.

    Pickled and unpickled several times faster than the row objects, and
    without the sort keys and problem details that only validation needs.
    Unpickled by the pool with the job instead, the hundreds of thousands of
    new lists set off the collector again and again (4-5 times the unpickling).
    """

    unit: str
    sections: bytes  # pickle of [(title, [(cells, problems, origin), …]), …]

    @classmethod
    def pack(cls, unit: UnitList) -> "_PackedUnit":
        sections = [(s.title, list(map(_PACKED_ROW, s.rows))) for s in unit.sections]
        return cls(unit.unit, pickle.dumps(sections, pickle.HIGHEST_PROTOCOL))

    def unpack(self) -> UnitList:
        return UnitList(self.unit, [Section(title, list(itertools.starmap(PreparedRow, rows)))
                                    for title, rows in pickle.loads(self.sections)])


_PACKED_ROW = operator.attrgetter("cells", "problems", "origin")  # a row as (cells, problems, origin), in C


def _render(job: RenderJob) -> RenderOutput:
    with gc_paused():  # the collector walked the unit's rows and the page objects again and again
        return _render_unpaused(job)


def _render_unpaused(job: RenderJob) -> RenderOutput:
    started = time.process_time()
    unit = job.unit.unpack() if isinstance(job.unit, _PackedUnit) else job.unit
    result = render_unit(job.prepared, unit, kit_name=job.kit_name, generated_at=job.generated_at,
                         set_id=job.set_id, file_label=job.file_label)
    rows = itertools.chain.from_iterable(section.rows for section in unit.sections)
    missing = fonts.missing_glyphs(itertools.chain.from_iterable(map(_CELLS, rows)))
    rendered = time.process_time()
    if job.transient_key is not None and job.passwords:
        sealed = crypto.seal_transient(result.pdf, job.transient_key)
        encrypted = dict.fromkeys(job.passwords, sealed)
    else:
        encrypted = {audience: crypto.encrypt_pdf(result.pdf, password) for audience, password in job.passwords.items()}
    return RenderOutput(result.pages, rendered - started, peak_rss(), encrypted,
                        time.process_time() - rendered, plain=None if job.passwords else result.pdf,
                        missing_glyphs=frozenset(missing))


_CELLS = operator.attrgetter("cells")

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


MARKER_PREFIX = ".render-"  # <marker dir>/.render-<pid>: a live render process of this kit's export


# The render processes run this much nicer than the export that started them: the exporting
# process validates the next list, writes the files and feeds the processes, so it gets a core
# first (validation wall in the Copenhagen bench about 6.5 s -> 5 s, the export no slower), and
# whatever else the PC does (the print page, a staff member printing) is not slowed by a
# background export every half hour. The processes still take all the CPU nobody else wants.
WORKER_NICENESS = 10


def _warm_up(parent_pid: int | None = None, marker_dir: str | None = None) -> None:
    no_core_dumps()  # execve made this fresh interpreter dumpable again
    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # Windows has no nice(); a failure only costs the priority
        pass
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    if marker_dir is not None:
        _mark(Path(marker_dir))
    fonts.register()


def _die_with_parent(parent_pid: int) -> None:
    """A render process holds personal data and passwords: it must not outlive a killed export.

    Linux: the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG).
    Everywhere: a thread waits on the parent's sentinel and ends the process.
    Either way a parent that died before this ran is noticed at once.
    """
    import sys
    import threading
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch() -> None:
            from multiprocessing.connection import wait
            wait([parent.sentinel])
            os._exit(1)
        threading.Thread(target=watch, name="nodkit-parent-watch", daemon=True).start()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell it from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def _mark(marker_dir: Path) -> None:
    started = _start_time(os.getpid())
    if started is None:
        return  # no /proc: the parent watch is the only guard here
    try:
        (marker_dir / f"{MARKER_PREFIX}{os.getpid()}").write_text(started)
    except OSError:
        pass


def end_leftover_workers(marker_dir: Path) -> list[int]:
    """SIGKILL render processes an earlier, killed export of this kit left running; their pids.

    Only a process whose pid *and* start time match its marker is ended, so a
    reused pid is never hit. Call while holding the store lock.
    """
    import signal
    ended = []
    for marker in marker_dir.glob(MARKER_PREFIX + "*"):
        try:
            pid = int(marker.name[len(MARKER_PREFIX):])
            if _start_time(pid) == marker.read_text().strip() and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
                ended.append(pid)
        except (ValueError, OSError):
            pass
        marker.unlink(missing_ok=True)
    if ended:
        log.warning("ended %d render process(es) left running by an interrupted export", len(ended))
    return ended


def _context():
    # spawn, not fork: no copy of the exporter's memory or threads (the scheduler
    # runs exports from a thread), the same on Windows, and the workers are our
    # own children, so their CPU time shows in os.times() once they are joined
    return multiprocessing.get_context("spawn")


class _FallbackPool:
    """A process pool that, once a process dies or cannot start, does the rest in this process."""

    def __init__(self, executor: ProcessPoolExecutor):
        self.executor = executor
        self.broken = False

    def submit(self, fn, arg, verb: str) -> Future | None:
        """A future, or None once the pool is unusable (the caller then works locally)."""
        if self.broken:
            return None
        try:
            return self.executor.submit(fn, arg)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            self.broken = True
            log.warning("render processes unavailable (%s); %s in this process", exc, verb)
            return None

    def result(self, future: Future | None, local, job, verb: str):
        """The future's result, or `local(job)` when there is none or its process died.

        A job a process finished before the pool broke keeps its result."""
        if future is not None and (not self.broken or (future.done() and not future.cancelled())):
            try:
                return future.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                if not self.broken:
                    self.broken = True
                    log.warning("a render process failed (%s); %s the rest in this process", exc, verb)
        return local(job)


class RenderPool:
    """The render processes of one export, shared by its lists and its binders.

    `workers` <= 1 does everything in this process. The processes start with
    the first job; leaving the `with` block stops them.
    """

    def __init__(self, workers: int, marker_dir: Path | None = None):
        self.workers = workers
        self.marker_dir = marker_dir  # where each process leaves its pid (`end_leftover_workers`)
        self._executor: ProcessPoolExecutor | None = None
        self._pool: _FallbackPool | None = None

    def __enter__(self) -> "RenderPool":
        return self

    def __exit__(self, *exc) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            if self.marker_dir is not None:
                for marker in self.marker_dir.glob(MARKER_PREFIX + "*"):
                    marker.unlink(missing_ok=True)

    def _processes(self) -> _FallbackPool | None:
        if self.workers <= 1:
            return None
        if self._pool is None:
            log.info("rendering in %d processes", self.workers)
            marker = str(self.marker_dir) if self.marker_dir is not None else None
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context(),
                                                 initializer=_warm_up, initargs=(os.getpid(), marker))
            self._pool = _FallbackPool(self._executor)
        return self._pool

    def render(self, jobs: Iterable[RenderJob], *, window_rows: int = 0) -> Iterator[tuple[RenderJob, RenderOutput]]:
        """Yield (job, output) for every list job, in the order given.

        A list of jobs is started largest first, so no process is left with one
        big list at the end. A generator (the export validates list by list) is
        consumed as it goes: each job starts as soon as it exists; with
        `window_rows`, no further job is taken while that many rows are being
        rendered and not yet handed back, so validation does not run far ahead
        and the validated rows waiting for a process stay few.
        """
        return self._ordered(jobs, lambda pool, job: pool.submit(_render_in_worker, _light(job), "rendering"),
                             _render, lambda job: job.rows, window_rows, "rendering")

    def assemble(self, jobs: list["BinderJob"]) -> Iterator[tuple["BinderJob", "BinderOutput"]]:
        """Yield (job, output) for every binder job as it is finished (started largest first).

        Finished order, not the order given: a binder waiting for its turn would
        hold its encrypted bytes in this process; the caller puts the results in order.
        """
        pool = self._processes()
        if pool is None:
            for job in jobs:
                yield job, _assemble(job)
            return
        started = [(job, pool.submit(_assemble_in_worker, job, "assembling"))
                   for job in sorted(jobs, key=lambda job: -job.pages)]
        remote = {future: job for job, future in started if future is not None}
        here = [job for job, future in started if future is None]
        del started
        try:
            for future in as_completed(list(remote)):
                job = remote.pop(future)
                yield job, pool.result(future, _assemble, job, "assembling")
            for job in here:
                yield job, _assemble(job)
        finally:
            for future in remote:
                future.cancel()

    def _ordered(self, jobs, send, local, size, window: int, verb: str):
        pool = self._processes()
        if pool is None:
            for job in jobs:
                yield job, local(job)
            return
        submitted: collections.deque = collections.deque()  # (job, future) not yet handed back
        try:
            if isinstance(jobs, list):
                order = sorted(range(len(jobs)), key=lambda i: -size(jobs[i]))
                futures = {i: send(pool, jobs[i]) for i in order}
                submitted.extend((job, futures[i]) for i, job in enumerate(jobs))
                jobs = []
            in_flight = 0
            for job in jobs:
                submitted.append((job, send(pool, job)))
                in_flight += size(job)
                # keep every process busy even when one job alone fills the window
                while window and in_flight >= window and len(submitted) > self.workers:
                    done, future = submitted.popleft()
                    in_flight -= size(done)
                    yield done, pool.result(future, local, done, verb)
            while submitted:
                done, future = submitted.popleft()
                yield done, pool.result(future, local, done, verb)
        finally:
            for _job, future in submitted:
                if future is not None:
                    future.cancel()


@dataclass
class BinderJob:
    """One binder to assemble from list PDFs and encrypt, in a render process."""

    binder: "Binder"
    set_id: str
    file_label: str
    audience: str
    password: str  # the audience's: opens the list files given as paths, encrypts the binder
    transient_key: bytes | None = None  # opens the list files sealed for the binder only (RenderJob)

    @property
    def pages(self) -> int:
        return sum(part.pages for part in self.binder.parts)


@dataclass
class BinderOutput:
    pages: int
    encrypted: bytes
    seconds: float  # CPU seconds assembling and encrypting in its process
    encrypt_seconds: float  # of which the encrypted save
    peak_rss: int = 0
    first_pages: list[int] = field(default_factory=list)  # 1-based, of each of the binder's parts


def _assemble(job: BinderJob) -> BinderOutput:
    from nodkit.render.binder import build_binder
    started = time.process_time()
    with gc_paused():
        built = build_binder(job.binder, set_id=job.set_id, file_label=job.file_label, password=job.password,
                             transient_key=job.transient_key)
    return BinderOutput(built.pages, built.pdf, time.process_time() - started, built.encrypt_seconds, peak_rss(),
                        built.first_pages)


_assemble_in_worker = _assemble  # what the pool runs (a test swaps in a worker that dies)
