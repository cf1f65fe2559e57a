"""Parallel rendering gives the same lists as rendering in one process."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import run_cli
from nodkit.config.settings import load_config
from nodkit.errors import ConfigError
from nodkit.export.pipeline import run_export
from nodkit.render.document import BODY_SIZE, _wrap, wrap_text
from nodkit.render import fonts
from nodkit.render.parallel import AUTO_MIN_ROWS, RenderJob, RenderPool, resolve_workers
from reportlab.pdfbase import pdfmetrics


def _set_workers(home, value: str) -> None:
    cfg = home / "nodkit.toml"
    text = re.sub(r"^workers = .*\n", "", cfg.read_text("utf-8"), flags=re.M)
    cfg.write_text(text.replace("[export]\n", f"[export]\nworkers = {value}\n", 1), "utf-8")


def _raw_text(path, password, first: int | None = None, pages: int = 0) -> str:
    # reading order, not -layout: the layout mode places columns page-wide, so
    # the (random) set id in the footer would shift every column
    where = [] if first is None else ["-f", str(first), "-l", str(first + pages - 1)]
    proc = subprocess.run(["pdftotext", "-upw", password, *where, str(path), "-"], capture_output=True, text=True,
                          check=True)
    return proc.stdout


def _key(f) -> str:
    """A file, or a list inside its binder (store format 4), named as its own list file was."""
    relpath = getattr(f, "relpath", None) or f.path  # an export's result, or a manifest entry
    return relpath if f.first_page is None else relpath.rsplit("/", 1)[0] + f"/{f.template}.pdf"


def _texts(result, passwords, mask_checks: bool = False) -> dict[str, tuple[int, int, str]]:
    out = {}
    for f in result.files:
        text = _raw_text(f.path, passwords[f.audience], f.first_page, f.pages).replace(result.id, "<set>")
        if mask_checks:  # the page code's content check covers "data as of", to the second,
            # and two reads of a database a moment apart can fall in different minutes (the
            # "Data pr." on its pages, the binder's cover and contents)
            text = re.sub(r"kontrol [0-9a-f]+", "kontrol <check>", text)
            text = re.sub(r"\d\d-\d\d-\d{4} kl\. \d\d\.\d\d", "<time>", text)
        out[_key(f)] = (f.pages, f.rows, text)
    return out


def _sequential_then_two_workers(demo_kit):
    """(the export made with workers = 1, the kit's config set to 2 workers, the export's time)."""
    _set_workers(demo_kit.home, "1")
    config = load_config(demo_kit.home)
    now = config.now()
    sequential = run_export(config, now)
    _set_workers(demo_kit.home, "2")
    config = load_config(demo_kit.home)
    assert config.workers == 2
    return sequential, config, now


def _medication(demo_kit):
    """(the demo kit's config, its medication list validated)."""
    from nodkit.sources import open_source
    from nodkit.lists.templates import load_templates
    from nodkit.lists.validate import prepare
    config = load_config(demo_kit.home)
    tpl = load_templates(None)["medication"]
    snap = open_source(config.datasets[tpl.dataset], config.timezone).fetch(config.now())
    return config, prepare(tpl, config.datasets[tpl.dataset], snap)


def test_parallel_and_sequential_exports_are_the_same(demo_kit):
    sequential, config, now = _sequential_then_two_workers(demo_kit)
    parallel = run_export(config, now)
    assert parallel.status == sequential.status == "good"
    assert [f.relpath for f in parallel.files] == [f.relpath for f in sequential.files]
    seq, par = _texts(sequential, demo_kit.passwords), _texts(parallel, demo_kit.passwords)
    assert seq.keys() == par.keys()
    # a database's "data as of" is the time of the read, so its lists' check codes differ
    # between the two exports; files from the same data must match to the check code
    as_of = {_key(f): f.as_of for f in sequential.set.manifest.files}
    lists = [f for f in parallel.set.manifest.files if f.template != "binder"]
    same_data = [_key(f) for f in lists if f.as_of == as_of[_key(f)]]
    # a binder holds all of its audience's lists
    same_data += [f.path for f in parallel.set.manifest.files if f.template == "binder"
                  and all(_key(g) in same_data for g in lists if g.audience == f.audience)]
    assert any(p.endswith("medication.pdf") for p in same_data) and any("binder" in p for p in same_data)
    for relpath in same_data:
        assert par[relpath] == seq[relpath], relpath
    assert [f.first_page for f in parallel.files] == [f.first_page for f in sequential.files]
    seq_m, par_m = (_texts(sequential, demo_kit.passwords, mask_checks=True),
                    _texts(parallel, demo_kit.passwords, mask_checks=True))
    for relpath in seq:
        assert par_m[relpath] == seq_m[relpath], relpath
    # the text really is there: special names survive the one-text-object-per-table writer
    routes = "".join(t for path, (_p, _r, t) in par.items() if path.endswith("care-route.pdf"))
    for name in ("Łukasz Wiśniewski", "Nguyễn Thị Hoa", "Şükrü Yılmaz"):
        assert name in routes
    list_texts = [t for path, (_p, _r, t) in par.items() if not path.endswith("binder.pdf")]
    assert sum(t.count("Side 1 af") for t in list_texts) == len(list_texts)
    # render time is reported per list for the benchmark, the binders' assembly as a whole
    assert set(parallel.timings["render"]) == {f.template for f in parallel.files} - {"binder"}
    assert parallel.timings["binder_wall"] > 0


@pytest.mark.parametrize("setting, rows, jobs, expected", [
    (1, 10**6, 50, 1),
    (4, 10**6, 2, 2),           # never more processes than lists
    ("auto", AUTO_MIN_ROWS - 1, 50, 1),  # small exports render in-process
])
def test_resolve_workers(setting, rows, jobs, expected):
    assert resolve_workers(setting, rows, jobs) == expected


def test_auto_uses_the_cores_for_big_exports():
    assert 1 <= resolve_workers("auto", 10**6, 100) <= 8
    assert resolve_workers("auto", 10**6) == resolve_workers("auto", 10**6, 100)


def test_a_number_of_workers_is_taken_as_given_before_the_jobs_are_known():
    assert resolve_workers(12, 10**6) == 12  # "auto" stops at 8; a number is the admin's choice


@pytest.mark.parametrize("value", ['"many"', "0", "1.5"])
def test_bad_workers_setting_names_the_line(demo_kit, value):
    _set_workers(demo_kit.home, value)
    with pytest.raises(ConfigError) as err:
        load_config(demo_kit.home)
    assert "nodkit.toml" in str(err.value) and "workers" in str(err.value)


def test_export_command_still_works_with_workers(demo_kit):
    _set_workers(demo_kit.home, '"auto"')
    result = run_cli("export", "--kit", str(demo_kit.home))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("text, width", [
    ("Kort", 100.0),
    ("Gives med mad, knuses ikke, måles før: blodsukker og blodtryk hver morgen", 60.0),
    ("Ééééééééééééééééééééééééééééééééééééééééééé", 30.0),
    ("linje 1\nlinje 2 er længere end kolonnen tillader", 50.0),
])
def test_memoised_wrap_matches_the_plain_wrap(text, width):
    fonts.register()
    measure = pdfmetrics.getFont(fonts.REGULAR).stringWidth
    first = wrap_text(text, width)
    assert list(first) == _wrap(text, width, measure, BODY_SIZE)
    assert wrap_text(text, width) == first
    assert all(measure(line, BODY_SIZE) <= width or len(line) == 1 for line in first)
    assert "".join(first).replace(" ", "") == text.replace("\n", "").replace(" ", "")


def _die(job):  # a worker that is killed mid-export
    import os
    os._exit(9)


def test_a_dying_render_process_does_not_fail_the_export(demo_kit, monkeypatch, caplog):
    from nodkit.render import parallel
    config, prepared = _medication(demo_kit)
    jobs = [RenderJob(prepared, unit, "Test", config.now(), "set", f"{name}.pdf")
            for name, unit in prepared.units.items()]
    with RenderPool(1) as pool:
        expected = [out.pages for _job, out in pool.render(jobs)]
    monkeypatch.setattr(parallel, "_render_in_worker", _die)
    with RenderPool(2) as pool:
        got = [(job.file_label, out.pages) for job, out in pool.render(jobs)]
    assert [label for label, _ in got] == [j.file_label for j in jobs]
    assert [pages for _, pages in got] == expected
    assert "rendering the rest in this process" in caplog.text


def test_a_dying_binder_process_does_not_fail_the_export(demo_kit, monkeypatch, caplog):
    from nodkit.render import parallel
    sequential, config, now = _sequential_then_two_workers(demo_kit)
    monkeypatch.setattr(parallel, "_assemble_in_worker", _die)
    result = run_export(config, now)
    assert result.status == "good"
    assert "assembling the rest in this process" in caplog.text
    binders = [(f.relpath, f.pages) for f in result.files if f.template == "binder"]
    assert binders and binders == [(f.relpath, f.pages) for f in sequential.files if f.template == "binder"]
    assert [f.relpath for f in result.files] == [f.relpath for f in sequential.files]
    first = next(f for f in result.files if f.template == "binder")
    text = _raw_text(first.path, demo_kit.passwords[first.audience])
    assert "Nødmappe" in text and "Indhold" in text


@pytest.mark.parametrize("window_units", [3, 0.5])
def test_validation_stays_a_window_ahead_of_the_render_processes(demo_kit, window_units):
    """The export validates list by list into a generator; the pool takes the next job only
    while fewer than `window_rows` rows are out, so validated rows do not pile up in memory,
    but always as many jobs as there are processes, so none of them waits."""
    config, prepared = _medication(demo_kit)
    unit = max(prepared.units.values(), key=lambda u: u.rows)
    pulled = 0

    def jobs():
        nonlocal pulled
        for n in range(12):
            pulled += 1
            yield RenderJob(prepared, unit, "Test", config.now(), "set", f"{n:02d}.pdf", passwords={"pleje": "x" * 12})

    window = int(window_units * unit.rows)
    ahead = []
    with RenderPool(2) as pool:
        got = []
        for job, output in pool.render(jobs(), window_rows=window):
            got.append((job.file_label, output.pages, sorted(output.encrypted), output.plain))
            ahead.append(pulled - len(got))
    assert [label for label, *_ in got] == [f"{n:02d}.pdf" for n in range(12)]
    assert {(pages, tuple(auds), plain) for _, pages, auds, plain in got} == {(got[0][1], ("pleje",), None)}
    # a window of 3 units: three jobs out; of half a unit: still one per process plus the one handed back
    assert max(ahead) == 2 and ahead[-1] == 0


def test_render_processes_run_at_a_lower_priority_than_the_export(demo_kit):
    """The exporting process (validation, writing) and the PC's print page get the CPU first."""
    import os
    import time
    from nodkit.render import parallel
    config, prepared = _medication(demo_kit)
    jobs = [RenderJob(prepared, unit, "Test", config.now(), "set", f"{name}.pdf")
            for name, unit in prepared.units.items()]
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + parallel.WORKER_NICENESS)
    with RenderPool(2) as pool:
        pages = [out.pages for _job, out in pool.render(jobs)]
        workers = list(pool._executor._processes)
        deadline = time.monotonic() + 30  # a process that got no job may still be starting
        while True:
            niceness = {os.getpriority(os.PRIO_PROCESS, pid) for pid in workers}
            if niceness == {expected} or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert pages and all(pages)
    assert len(workers) == 2 and niceness == {expected}
