"""Validation alone: every list of a kit prepared in one process, CPU seconds (issue 19).

    python -m bench.validation KIT [--runs 3] [--profile] [--compare REV] [--use REV] [--damage N]

KIT is a kit home, e.g. one kept by `python -m bench --scale copenhagen --fleet 0 --keep DIR`
(DIR/kit; its sources in DIR/kilder are used when the paths in nodkit.toml no longer exist).
Every dataset is fetched once, then `prepare` runs for every list the kit's audiences use,
`--runs` times; the median, min and max CPU seconds of all lists together are printed, and
per list. `--profile` prints cProfile's top functions (by own time) of one more run; `--use REV`
times nodkit/lists/validate.py as it was at git revision REV instead (for a before/after).

`--compare REV` also loads nodkit/lists/validate.py as it was at git revision REV and checks
that both give the same PreparedList, object for object (units, sections, rows, cells,
problems, keys, order, warnings, filtered, flagged, unplaced …). `--damage N` damages N lines
of every source file first (a copy in a temporary folder): ragged rows, empty required,
unit and section values, bad dates and times, duplicated lines.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib.util
import io
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nodkit.config.settings import load_config
from nodkit.lists import validate
from nodkit.lists.templates import load_templates
from nodkit.sources import open_source


def _kit(home: Path, sources: Path | None) -> Path:
    """The kit home, its nodkit.toml pointed at `sources` (or at ../kilder when its own paths are gone)."""
    toml = home / "nodkit.toml"
    text = toml.read_text(encoding="utf-8")
    config = load_config(home)
    paths = [Path(str(d.options["path"])) for d in config.datasets.values() if d.options.get("path")]
    old = next((p.parent for p in paths if p.parent.name == "kilder"), None)
    target = sources or (home.parent / "kilder" if not (old and old.exists()) else None)
    if old is not None and target is not None and old != target:
        toml.write_text(text.replace(old.as_posix(), target.resolve().as_posix()), encoding="utf-8")
    return home


def damage(src: Path, dst: Path, lines: int, seed: int = 19) -> None:
    """A copy of the CSV sources with `lines` damaged lines per file, of every kind that matters."""
    rnd = random.Random(seed)
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if path.suffix.lower() != ".csv":
            shutil.copy2(path, dst / path.name)
            continue
        data = path.read_bytes()
        crlf = b"\r\n" in data
        rows = data.split(b"\r\n" if crlf else b"\n")
        header, body = rows[0], rows[1:]
        sep = b";" if header.count(b";") >= header.count(b",") else b","
        names = header.split(sep)
        for _ in range(lines):
            if len(body) < 3:
                break
            i = rnd.randrange(len(body) - 1)
            parts = body[i].split(sep)
            how = rnd.randrange(7)
            if how == 0:  # ragged: one field too many
                parts.append(b"x")
            elif how == 1 and len(parts) > 2:  # ragged: one field too few
                parts.pop(rnd.randrange(len(parts)))
            elif how == 2:  # an empty value (unit, section, required, date …)
                parts[rnd.randrange(len(parts))] = b""
            elif how == 3:  # a bad date or time in whichever column holds one
                dated = [j for j, n in enumerate(names) if n.strip() in (b"Dato", b"Fra", b"Til", b"Tidspunkter")]
                parts[rnd.choice(dated) if dated else 0] = b"32-13-2026"
            elif how == 4:  # a duplicate line
                body.insert(i, body[i])
                continue
            elif how == 5:  # the first (unit) field empty
                parts[0] = b"  "
            else:  # a value nobody has seen
                j = rnd.randrange(len(parts))
                parts[j] = parts[j] + b" *"
            body[i] = sep.join(parts)
        (dst / path.name).write_bytes((b"\r\n" if crlf else b"\n").join([header, *body]))


def damage_rows(snap, lines: int, seed: int = 19) -> None:
    """The damage of `damage` done to a snapshot's rows in memory (for a source that is not a file):
    a reader problem, a shifted row, empty values, a bad date, a duplicate."""
    rnd = random.Random(seed)
    rows = snap.rows
    for _ in range(lines):
        i = rnd.randrange(len(rows))
        row = rows[i]
        cells = list(row.cells)
        how = rnd.randrange(6)
        if how == 0:
            row = dataclasses.replace(row, problems=("rækken kunne ikke læses helt",))
        elif how == 1:
            row = dataclasses.replace(row, fields=len(cells) + 1)
        elif how == 2:
            cells[rnd.randrange(len(cells))] = ""
        elif how == 3:
            cells[rnd.randrange(len(cells))] = None
        elif how == 4:
            cells[rnd.randrange(len(cells))] = "32-13-2026"
        else:
            rows.insert(i, row)
            continue
        rows[i] = dataclasses.replace(row, cells=tuple(cells))


def _old_module(rev: str):
    """nodkit/lists/validate.py as it was at `rev`, as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    code = subprocess.run(["git", "show", f"{rev}:nodkit/lists/validate.py"], cwd=root, check=True,
                          capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("nodkit_validate_" + rev.replace("/", "_"), loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(code, f"{rev}:nodkit/lists/validate.py", "exec"), module.__dict__)
    return module


def _plain(obj):
    """A PreparedList (or any part of it) as plain values: equal iff the lists are equal, object for
    object; Problems by their fields, whichever module's class made them."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if type(obj).__name__ == "Template":
            return ("Template", obj.id)
        return (type(obj).__name__, tuple((f.name, _plain(getattr(obj, f.name))) for f in dataclasses.fields(obj)))
    if isinstance(obj, dict):
        return ("dict", tuple((_plain(k), _plain(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_plain(v) for v in obj))
    return (type(obj).__name__, obj)


def _derived(prepared) -> tuple:
    """What completeness and the pages read through properties (not fields)."""
    return (prepared.rows, prepared.flagged,
            [(u.unit, u.rows, u.flagged, [(s.title, len(s.flagged)) for s in u.sections])
             for u in prepared.units.values()],
            [[[(r.flagged) for r in s.rows] for s in u.sections] for u in prepared.units.values()])


def _first_difference(a, b, path="") -> str:
    if type(a) is not type(b) or not isinstance(a, tuple):
        return f"{path}: {a!r:.200} != {b!r:.200}"
    if len(a) != len(b):
        return f"{path}: length {len(a)} != {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: equal"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validation", description=__doc__.split("\n")[0])
    parser.add_argument("kit", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--compare", metavar="REV", help="check the PreparedLists against validate.py at REV")
    parser.add_argument("--use", metavar="REV", help="time validate.py as it was at REV instead")
    parser.add_argument("--damage", type=int, default=0, metavar="N", help="damaged lines per source file")
    args = parser.parse_args(argv)

    tmp = None
    sources = None
    home = _kit(args.kit, None)
    toml_text = (home / "nodkit.toml").read_text(encoding="utf-8")
    if args.damage:
        tmp = Path(tempfile.mkdtemp(prefix="nodkit-validation-"))
        config = load_config(home)
        src = next(Path(str(d.options["path"])).parent for d in config.datasets.values() if d.options.get("path"))
        damage(src, tmp / "kilder", args.damage)
        sources = tmp / "kilder"
    try:
        home = _kit(args.kit, sources)
        config = load_config(home)
        templates = load_templates(home)
        used = sorted({t for a in config.audiences.values() for t in a.templates if t in templates})
        datasets = sorted({templates[t].dataset for t in used})
        now = config.now()
        t0 = time.perf_counter()
        snaps = {name: open_source(config.datasets[name], config.timezone).fetch(now) for name in datasets}
        if args.damage:  # sources that are not files (SQL): the same kinds of damage to the rows read
            for name, snap in snaps.items():
                if config.datasets[name].kind != "csv":
                    damage_rows(snap, args.damage)
        print(f"fetched {len(snaps)} datasets, {sum(len(s.rows) for s in snaps.values()):,} rows, "
              f"{time.perf_counter() - t0:.1f} s")

        timed = _old_module(args.use) if args.use else validate

        def one(tid, module=None):
            module = module or timed
            t = templates[tid]
            return module.prepare(t, config.datasets[t.dataset], snaps[t.dataset], today=now.date())

        per_list: dict[str, list[float]] = {tid: [] for tid in used}
        totals = []
        rows = {}
        for _ in range(args.runs):
            total = 0.0
            for tid in used:
                c0 = time.process_time()
                prepared = one(tid)
                seconds = time.process_time() - c0
                per_list[tid].append(seconds)
                total += seconds
                rows[tid] = (prepared.read, prepared.rows, prepared.flagged, prepared.filtered, len(prepared.units))
                del prepared
            totals.append(total)
        for tid in used:
            read, printed, flagged, filtered, units = rows[tid]
            print(f"  {tid:16} {statistics.median(per_list[tid]):6.2f} s  read {read:,} printed {printed:,} "
                  f"flagged {flagged:,} filtered {filtered:,} units {units}")
        print(f"all {len(used)} lists: median {statistics.median(totals):.2f} CPU s "
              f"(min {min(totals):.2f}, max {max(totals):.2f}; runs {', '.join(f'{t:.2f}' for t in totals)})")

        if args.compare:
            old = _old_module(args.compare)
            differ = 0
            for tid in used:
                new_p, old_p = one(tid, validate), one(tid, old)
                a, b = _plain(new_p), _plain(old_p)
                same = a == b and _derived(new_p) == _derived(old_p)
                differ += not same
                print(f"  compare {tid:16} {'same' if same else 'DIFFERENT: ' + _first_difference(a, b)}")
                del new_p, old_p, a, b
            print(f"compared with {args.compare}: {len(used) - differ} of {len(used)} lists the same"
                  + (f" ({args.damage} damaged lines per source file)" if args.damage else " (clean sources)"))
            if differ:
                return 1

        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for tid in used:
                one(tid)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
        return 0
    finally:
        (args.kit / "nodkit.toml").write_text(toml_text, encoding="utf-8")
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
