"""The benchmark: synthetic sources → the real export → figures, in one run.

Steps: write synthetic sources at a scale (bench.generate) into a private temp
folder, create a kit there with the demo's dataset configuration, run
`nodkit.export.pipeline.run_export` exactly as the CLI does, then
- rows/s and pages/s per template (rows or pages / CPU seconds spent rendering
  that template, in whichever process rendered it: a per-core rate),
- total wall and CPU seconds (this process + its finished child processes),
- peak RSS (this process during the export — the synthetic data is generated
  in a process of its own — the largest render worker, and this process +
  all workers as a bound),
- encryption's share of the export's CPU seconds,
- the largest single list rendered again in this process by nodkit (no
  encryption) and by a bare reportlab canvas loop (no layout engine, no
  encryption): the practical floor, and nodkit's ratio to it (five rounds
  of both, one after the other; the ratio of the two medians: the machine's
  speed drifts),
- the binders (one per audience and unit, assembled with pikepdf from the
  encrypted list files of the set, decrypted in memory only, plus cover,
  contents and printing guide):
  files, pages and the wall seconds to assemble and encrypt them,
- printing the first page of the largest binder (template "binder"; without
  binders, of the largest list): decrypt, extract page 1 in memory, hand it
  to a no-op spooler,
- (a) a second export of the unchanged sources: its wall seconds against the
  full export's, and that it wrote no set (status "unchanged"),
- (b) a re-export after 1 % of the visit and medication lines changed,
- (c) the whole-export floor ratio: the export's CPU seconds over the sum of
  the bare canvas floor of every list file (each list and unit rendered once
  by `canvas_floor` in this process),
- (d) bytes per set (lists and binders apart) and the disk that the default
  schedule and the tiered retention need for 7 days when every run changes
  the data (the upper bound: unchanged runs write no set).
Everything stays in the temp folder, which is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nodkit.config.schedules import due_times, load_jobs
from nodkit.config.settings import load_config
from nodkit.kit.demo import DEMO_DATASETS
from nodkit.export.pipeline import run_export
from nodkit.kit.home import config_text, init_kit
from nodkit.render import fonts
from nodkit.render.document import render_unit
from nodkit.render.parallel import peak_rss, resolve_workers
from nodkit.sources import open_source
from nodkit.lists.templates import load_templates
from nodkit.lists.validate import prepare
from nodkit.store.retention import RetentionPolicy
from nodkit.store.sets import Store

from .generate import SCALES, write_sources

PASSWORDS = {"pleje": "bench-pleje-hest-kop-42", "skole": "bench-skole-sne-mel-17"}
# datasets of the care audience; everything else (the school database) goes to "skole"
CARE_DATASETS = {"visits", "medication", "citizens", "staff", "contacts"}
SCHOOL_DATASETS = {"pupils", "contacts"}
FLOOR_ROUNDS = 5
# issue 19: Copenhagen export <= 40 s wall, whole-export floor ratio <= 2.0x, validation <= 5 s wall
TARGETS = {"copenhagen": {"wall": 40.0, "whole_floor": 2.0, "validate": 5.0}, "small": {"wall": 40.0}}
GIB = 1024 ** 3


def _audiences(templates) -> dict:
    care = sorted(t for t, tpl in templates.items() if tpl.dataset in CARE_DATASETS)
    school = sorted(t for t, tpl in templates.items() if tpl.dataset in SCHOOL_DATASETS)
    return {"pleje": ("Hjemmeplejen", care), "skole": ("Skoler", school)}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def canvas_floor(prepared, unit) -> tuple[float, int]:
    """The same rows on a bare reportlab canvas: one drawString per cell, a new
    page per section and when the page is full. No wrapping, frame or encryption."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas
    fonts.register()
    tpl = prepared.template
    page_w, page_h = landscape(A4) if tpl.orientation == "landscape" else A4
    total = sum(c.width for c in tpl.columns)
    xs, x = [], 34.0
    for col in tpl.columns:
        xs.append(x)
        x += (page_w - 68) * col.width / total
    started = time.process_time()
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(page_w, page_h))
    pages = 0
    for section in unit.sections:
        if pages:
            c.showPage()
        pages += 1
        c.setFont(fonts.BOLD, 12.5)
        c.drawString(34, page_h - 60, section.title)
        c.setFont(fonts.REGULAR, 9.5)
        y = page_h - 90
        for row in section.rows:
            if y < 60:
                c.showPage()
                pages += 1
                c.setFont(fonts.REGULAR, 9.5)
                y = page_h - 90
            for cx, text in zip(xs, row.cells):
                if text:
                    c.drawString(cx, y, text)
            y -= 17.5
    c.save()
    return time.process_time() - started, pages


def print_first_page(data: bytes, password: str) -> tuple[float, int]:
    """Decrypt in memory, take page 1, hand it to a no-op spooler; (seconds, bytes spooled)."""
    import pikepdf
    started = time.perf_counter()
    with pikepdf.open(io.BytesIO(data), password=password) as doc:
        single = pikepdf.Pdf.new()
        single.pages.append(doc.pages[0])
        out = io.BytesIO()
        single.save(out)
    spooled = len(out.getvalue())  # the no-op spooler: accepts the bytes
    return time.perf_counter() - started, spooled


def change_lines(path: Path, share: float = 0.01) -> int:
    """Change `share` of the data lines of a semicolon CSV (the last field gets a mark); returns how many."""
    lines = path.read_bytes().split(b"\r\n")
    step = max(1, round(1 / share))
    changed = 0
    for i in range(1, len(lines)):
        if lines[i] and i % step == 0:
            lines[i] += b" *"
            changed += 1
    path.write_bytes(b"\r\n".join(lines))
    return changed


def whole_floor(config, templates) -> tuple[float, int]:
    """CPU seconds of the bare canvas floor over every list file the export made (each (list, unit) once)."""
    fonts.register()
    total, files = 0.0, 0
    used = {t for a in config.audiences.values() for t in a.templates}
    by_dataset: dict[str, list] = {}
    for tid in sorted(used):
        if tid in templates:
            by_dataset.setdefault(templates[tid].dataset, []).append(templates[tid])
    for dataset, tpls in sorted(by_dataset.items()):
        snap = open_source(config.datasets[dataset], config.timezone).fetch(config.now())
        for tpl in tpls:
            prepared = prepare(tpl, config.datasets[dataset], snap, today=config.now().date())
            for unit in prepared.units.values():
                seconds, _pages = canvas_floor(prepared, unit)
                total += seconds
                files += 1
            del prepared
        del snap
    return total, files


def timed_export(config) -> tuple[object, float, float]:
    gc.collect()
    cpu0, wall0 = _cpu(), time.perf_counter()
    result = run_export(config)
    return result, time.perf_counter() - wall0, _cpu() - cpu0


FLEET_STATIONS = {"copenhagen": 150, "small": 5, "tiny": 0}  # simulated print stations (bench/fleet.py)


class _Exported:
    """What the fleet scenario needs of the export."""

    def __init__(self, config, result):
        self.store_root, self.keys = config.store, config.keys
        self.files = result.set.manifest.files
        self.export_bytes = result.set.manifest.stored_bytes()  # each file once (store format 4)


def run(scale_name: str, workers: str | int = "auto", keep: Path | None = None,
        fleet: int | None = None) -> dict:
    scale = SCALES[scale_name]
    bench_started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="nodkit-bench-"))
    os.chmod(base, 0o700)
    try:
        sources = base / "kilder"
        today = dt.date.today()
        t0 = time.perf_counter()
        # in a process of its own, so the generator's memory is not counted as the export's
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as generator:
            generated = generator.submit(write_sources, sources, scale, today).result()
        generate_s = time.perf_counter() - t0
        home = base / "kit"
        templates = load_templates(None)
        datasets = DEMO_DATASETS.replace("{src}", sources.resolve().as_posix())
        text = config_text(f"Benchmark ({scale.name})", datasets, audiences=_audiences(templates))
        text = text.replace("[export]\n", f"[export]\nworkers = {json.dumps(workers)}\n", 1)
        init_kit(home, PASSWORDS, config=text)
        config = load_config(home)

        gc.collect()
        cpu0, wall0 = _cpu(), time.perf_counter()
        result = run_export(config)
        wall = time.perf_counter() - wall0
        cpu = _cpu() - cpu0
        rss_self = peak_rss()  # before the floor and the print test below use memory of their own
        store = Store(config.store)
        first_set_bytes = result.set.size()
        # files of their own only: a unit's lists are page ranges of its binder (store format 4)
        list_bytes = sum(f.path.stat().st_size for f in result.files if f.template != "binder" and f.first_page is None)
        binder_bytes = sum(f.path.stat().st_size for f in result.files if f.template == "binder")
        lists_in_binders = sum(f.first_page is not None for f in result.files)

        # (a) the same sources again: no set, only fetch, digest and compare
        sets_before = {s.id for s in store.sets()}
        again, again_wall, again_cpu = timed_export(config)
        unchanged = {"status": again.status, "wall_s": round(again_wall, 3), "cpu_s": round(again_cpu, 3),
                     "share_of_full": round(again_wall / wall, 4), "new_sets": len({s.id for s in store.sets()} - sets_before),
                     "fetch_wall_s": round(again.timings.get("fetch_wall", 0.0), 3),
                     "digest_wall_s": round(again.timings.get("digest_wall", 0.0), 3)}
        # (b) 1 % of the visit and medication lines changed: a new set (the whole export, as today)
        changed_lines = sum(change_lines(p) for p in [*sources.glob("besoeg_*.csv"), sources / "medicin.csv"])
        redo, redo_wall, redo_cpu = timed_export(config)
        changed = {"status": redo.status, "lines_changed": changed_lines, "wall_s": round(redo_wall, 2),
                   "cpu_s": round(redo_cpu, 2), "new_set": redo.id != result.id}
        # (c) the canvas floor of every list file, in this process
        floor_all_s, floor_files = whole_floor(config, templates)
        # (d) the default schedule's runs in 24 h and what the tiered retention keeps for 7 days
        policy = RetentionPolicy()
        jobs = [j for j in load_jobs(None, config.timezone) if j.action == "export"]
        day0 = dt.datetime.combine(today, dt.time(0, 0), config.timezone)
        runs_24h = len({t for j in jobs for t in due_times(j, config.timezone, day0, day0 + dt.timedelta(days=1))})
        kept_sets = policy.expected_sets(runs_24h)
        disk = {"set_bytes": first_set_bytes, "list_bytes": list_bytes, "binder_bytes": binder_bytes,
                "binder_share": round(binder_bytes / (list_bytes + binder_bytes), 3) if binder_bytes else 0.0,
                "lists_in_binders": lists_in_binders,
                "runs_per_day": runs_24h, "sets_kept_7d": kept_sets, "footprint_7d_bytes": kept_sets * first_set_bytes}

        # one file per (template, unit): the first audience's copy
        unique: dict[tuple[str, str], object] = {}
        for f in result.files:
            unique.setdefault((f.template, f.unit), f)
        render_s = result.timings.get("render", {})
        per_template = {}
        for (tid, _unit), f in unique.items():
            if tid == "binder":
                continue
            row = per_template.setdefault(tid, {"files": 0, "rows": 0, "pages": 0})
            row["files"] += 1
            row["rows"] += f.rows
            row["pages"] += f.pages
        for tid, row in per_template.items():
            seconds = render_s.get(tid, 0.0)
            row["render_cpu_s"] = round(seconds, 3)
            row["rows_per_s"] = round(row["rows"] / seconds, 1) if seconds else None
            row["pages_per_s"] = round(row["pages"] / seconds, 1) if seconds else None
        encrypt_s = result.timings.get("encrypt", 0.0)
        rows_total = sum(r["rows"] for r in per_template.values())
        pages_total = sum(r["pages"] for r in per_template.values())
        binder_files = [f for f in result.files if f.template == "binder"]
        binders = {"files": len(binder_files), "pages": sum(f.pages for f in binder_files),
                   "largest_pages": max((f.pages for f in binder_files), default=0),
                   "wall_s": round(result.timings.get("binder_wall", 0.0), 2)}
        n_workers = resolve_workers(config.workers, rows_total)

        # the floor: the largest single list, rendered in this process both ways
        largest = max((f for (t, _u), f in unique.items() if t != "binder"), key=lambda f: f.rows)
        tpl = templates[largest.template]
        snap = open_source(config.datasets[tpl.dataset], config.timezone).fetch(config.now())
        prepared = prepare(tpl, config.datasets[tpl.dataset], snap, today=config.now().date())
        unit = prepared.units[largest.unit]
        del snap
        # rounds of nodkit then the floor, one after the other: the machine's speed drifts,
        # so each side's median over the rounds is compared
        rounds = []
        for _ in range(FLOOR_ROUNDS):
            gc.collect()
            t0 = time.process_time()
            rendered = render_unit(prepared, unit, kit_name=config.name, generated_at=config.now(),
                                   set_id=result.id, file_label=largest.relpath)
            round_nodkit = time.process_time() - t0
            gc.collect()
            round_floor, floor_pages = canvas_floor(prepared, unit)
            rounds.append((round_nodkit, round_floor))
        nodkit_s = statistics.median(r[0] for r in rounds)
        floor_s = statistics.median(r[1] for r in rounds)
        ratio = nodkit_s / floor_s
        floor = {"template": largest.template, "unit": largest.unit, "rows": unit.rows,
                 "nodkit_s": round(nodkit_s, 3), "nodkit_pages": rendered.pages,
                 "nodkit_rows_per_s": round(unit.rows / nodkit_s, 1),
                 "floor_s": round(floor_s, 3), "floor_pages": floor_pages,
                 "floor_rows_per_s": round(unit.rows / floor_s, 1),
                 "ratio": round(ratio, 2), "ratio_rounds": [round(a / b, 2) for a, b in rounds]}
        del rendered, prepared, unit

        # printing page 1 of a binder; without binders, of the largest list (the same work:
        # open the encrypted file, decrypt page 1's objects, write a one-page PDF in memory)
        big = max(binder_files or result.files, key=lambda f: f.pages)
        seconds, spooled = print_first_page(big.path.read_bytes(), PASSWORDS[big.audience])
        binder = {"file": big.relpath, "template": big.template, "pages": big.pages,
                  "first_page_s": round(seconds, 3), "spooled_bytes": spooled, "is_binder": bool(binder_files)}
        from .fleet import fleet_round
        stations = FLEET_STATIONS.get(scale.name, 0) if fleet is None else fleet
        fleet_fig = fleet_round(_Exported(config, result), base / "fleet", stations)
        # a spawned child's ru_maxrss starts at its parent's peak (Linux keeps it over exec);
        # the workers report their own VmHWM instead
        worker_rss = result.timings.get("render_peak_rss", 0) if n_workers > 1 else 0
        figures = {
            "scale": scale.name, "workers": n_workers, "cores": os.cpu_count(),
            "status": result.status, "generated_rows": generated, "generate_s": round(generate_s, 2),
            "files": len({f.path for f in result.files}), "lists": sum(f.template != "binder" for f in result.files),
            "rows": rows_total, "pages": pages_total,
            "export_wall_s": round(wall, 2), "export_cpu_s": round(cpu, 2),
            "rows_per_s_wall": round(rows_total / wall, 1), "pages_per_s_wall": round(pages_total / wall, 1),
            "fetch_wall_s": round(result.timings.get("fetch_wall", 0.0), 2),
            "validate_wall_s": round(result.timings.get("validate_wall", 0.0), 2),
            "encrypt_cpu_s": round(encrypt_s, 2), "encrypt_share": round(encrypt_s / cpu, 3) if cpu else None,
            "peak_rss_self": rss_self, "peak_rss_child": worker_rss,
            "peak_rss_bound": rss_self + n_workers * worker_rss if n_workers > 1 else rss_self,
            "templates": per_template, "binders": binders, "floor": floor, "binder": binder,
            "fleet": fleet_fig,
            "unchanged": unchanged, "changed_1pct": changed,
            "whole_floor": {"files": floor_files, "floor_cpu_s": round(floor_all_s, 2),
                            "ratio": round(cpu / floor_all_s, 2) if floor_all_s else None},
            "disk": disk,
        }
        figures["bench_wall_s"] = round(time.perf_counter() - bench_started, 2)
        figures["targets"] = _targets(figures)
        return figures
    finally:
        if keep:
            shutil.copytree(base, keep, dirs_exist_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def _targets(fig: dict) -> dict:
    checks = {"peak RSS < 1 GiB": fig["peak_rss_bound"] < GIB,
              "largest list within 1.5x of the canvas floor": fig["floor"]["ratio"] <= 1.5}
    wall = TARGETS.get(fig["scale"], {}).get("wall")
    if fig["scale"] == "copenhagen":
        checks[f"export < {wall:.0f} s wall"] = fig["export_wall_s"] < wall
        limit = TARGETS["copenhagen"]
        checks[f"whole-export floor ratio <= {limit['whole_floor']}x"] = fig["whole_floor"]["ratio"] <= limit["whole_floor"]
        checks[f"validation <= {limit['validate']:.0f} s wall"] = fig["validate_wall_s"] <= limit["validate"]
    elif wall:
        checks[f"whole bench < {wall:.0f} s wall"] = fig["bench_wall_s"] < wall
    what = "a binder" if fig["binder"]["is_binder"] else "the largest list"
    checks[f"print first page of {what} < 2 s"] = fig["binder"]["first_page_s"] < 2
    checks["unchanged sources: no set written"] = (fig["unchanged"]["status"] == "unchanged"
                                                   and fig["unchanged"]["new_sets"] == 0)
    if fig["scale"] == "copenhagen":
        checks["unchanged sources: < 5 % of a full export's wall time"] = fig["unchanged"]["share_of_full"] < 0.05
    return checks


def report(fig: dict) -> str:
    mib = 1024 ** 2
    out = [f"nodkit benchmark — scale {fig['scale']}, {fig['workers']} render process(es) on {fig['cores']} core(s), "
           f"status {fig['status']}",
           f"data: {', '.join(f'{k} {v:,}' for k, v in fig['generated_rows'].items())} rows "
           f"(generated in {fig['generate_s']:.1f} s)",
           "",
           f"{'template':<18}{'files':>7}{'rows':>10}{'pages':>9}{'CPU s':>9}{'rows/s':>10}{'pages/s':>10}"]
    for tid, r in sorted(fig["templates"].items()):
        out.append(f"{tid:<18}{r['files']:>7}{r['rows']:>10,}{r['pages']:>9,}{r['render_cpu_s']:>9.2f}"
                   f"{(r['rows_per_s'] or 0):>10,.0f}{(r['pages_per_s'] or 0):>10,.0f}")
    bs = fig["binders"]
    out += ["(rows/s and pages/s: per core, CPU seconds spent rendering that template)",
            f"binders: {bs['files']} files, {bs['pages']:,} pages (largest {bs['largest_pages']:,}), assembled from "
            f"the encrypted list files and encrypted in {bs['wall_s']:.1f} s wall", "",
            f"export: {fig['files']} files, {fig['rows']:,} rows, {fig['pages']:,} list pages in "
            f"{fig['export_wall_s']:.1f} s wall, {fig['export_cpu_s']:.1f} s CPU (incl. child processes); "
            f"{fig['rows_per_s_wall']:,.0f} rows/s, {fig['pages_per_s_wall']:,.0f} pages/s wall",
            f"before rendering: fetch {fig['fetch_wall_s']:.1f} s, validate and sort {fig['validate_wall_s']:.1f} s "
            "(wall, in the exporting process)",
            f"encryption: {fig['encrypt_cpu_s']:.2f} s CPU = {100 * (fig['encrypt_share'] or 0):.1f} % of the export's CPU",
            f"peak RSS: {fig['peak_rss_self'] / mib:.0f} MiB this process, {fig['peak_rss_child'] / mib:.0f} MiB "
            f"largest child; bound {fig['peak_rss_bound'] / mib:.0f} MiB",
            ]
    fl = fig["floor"]
    out.append(f"largest list ({fl['template']}, {fl['unit']}, {fl['rows']:,} rows): nodkit {fl['nodkit_s']:.2f} s "
               f"({fl['nodkit_rows_per_s']:,.0f} rows/s, {fl['nodkit_pages']} pages), canvas floor {fl['floor_s']:.2f} s "
               f"({fl['floor_rows_per_s']:,.0f} rows/s, {fl['floor_pages']} pages): ratio {fl['ratio']:.2f}x "
               f"(medians of {len(fl['ratio_rounds'])} rounds; each round's ratio: "
               f"{', '.join(f'{r:.2f}' for r in fl['ratio_rounds'])})")
    b = fig["binder"]
    what = "the largest binder" if b["is_binder"] else "the largest list, no binders in this export"
    out.append(f"print first page ({what}: {b['template']}, {b['pages']:,} pages): {b['first_page_s']:.3f} s, "
               "decrypted in memory, page 1 to a no-op spooler")
    u, c, wf, d = fig["unchanged"], fig["changed_1pct"], fig["whole_floor"], fig["disk"]
    out.append(f"(a) unchanged sources again: {u['status']}, {u['new_sets']} new set(s), {u['wall_s']:.2f} s wall "
               f"= {100 * u['share_of_full']:.1f} % of the full export (fetch {u['fetch_wall_s']:.2f} s, "
               f"digests {u['digest_wall_s']:.2f} s)")
    out.append(f"(b) 1 % of visit and medication lines changed ({c['lines_changed']:,} lines): {c['status']}, "
               f"{c['wall_s']:.1f} s wall, {c['cpu_s']:.1f} s CPU")
    out.append(f"(c) whole export: {fig['export_cpu_s']:.1f} s CPU over the canvas floor of all {wf['files']} list "
               f"files {wf['floor_cpu_s']:.1f} s = {wf['ratio'] or 0:.2f}x")
    out.append(f"(d) one set {d['set_bytes'] / 1e6:.1f} MB (list files {d['list_bytes'] / 1e6:.1f} MB, binders "
               f"{d['binder_bytes'] / 1e6:.1f} MB = {100 * d['binder_share']:.0f} %; {d['lists_in_binders']} lists "
               f"stored as pages of their binder); default schedule "
               f"{d['runs_per_day']} runs a day, tiered retention keeps at most {d['sets_kept_7d']} sets: "
               f"{d['footprint_7d_bytes'] / 1e9:.2f} GB for 7 days if every run changed the data")
    from .fleet import report_lines
    out += report_lines(fig.get("fleet"))
    out.append(f"bench total: {fig['bench_wall_s']:.1f} s wall")
    out.append("")
    for name, ok in fig["targets"].items():
        out.append(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     epilog="Example: python -m bench --scale small")
    parser.add_argument("--scale", choices=sorted(SCALES), default="copenhagen")
    parser.add_argument("--workers", default="auto", help='render processes: "auto" or a number')
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", type=Path, help="copy the kit and sources here (synthetic data only)")
    parser.add_argument("--fleet", type=int, help="simulated print stations syncing the export from nginx "
                                                  "(default: copenhagen 150, small 5, tiny 0)")
    args = parser.parse_args(argv)
    workers = args.workers if args.workers == "auto" else int(args.workers)
    fig = run(args.scale, workers, args.keep, args.fleet)
    print(json.dumps(fig, indent=2, ensure_ascii=False) if args.json else report(fig))
    return 1 if args.strict and not all(fig["targets"].values()) else 0
