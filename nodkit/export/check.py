"""`nodkit sources check`: can every dataset be read, and does it fit its lists?

For each configured dataset: reachable or not and why, rows, "data as of",
the source columns, which template field maps to which column (per list that
uses the dataset), source columns no list uses, structural gaps (a required
field without a column), and the first few row problems with their
file:line:column. Nothing is rendered or written; the source is read exactly
as an export would read it (same adapters, same validation).

Per list it predicts the export: rows read → inside the horizon → printed
(in a unit some audience receives) → flagged, the oldest and newest date,
and whether the set would be good, judged by the same rule the export uses
(`nodkit.export.completeness`, against the newest good set in the store).

A dataset of kind "reports" lists instead the ready-made PDFs it would take
(file, unit, title, pages, "data as of"), the ones it would skip and why
(broken: the export would be partial), the older or unmatched files it
ignores, and the stale / lost-pages findings against the last good set.

Rules kept here: no cell values in the report (locations, column names,
counts and reasons only); one broken dataset never hides the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field

from nodkit.config.settings import KitConfig
from nodkit.errors import CRITICAL, OK, WARNING, ConfigError, NodkitError, SourceError
from nodkit.export import completeness
from nodkit.store.sets import Store
from nodkit.lists.templates import Template, load_templates
from nodkit.lists.validate import header_looks_like_data, match_columns, prepare
from nodkit.sources import describe, open_source
from nodkit.sources.base import Snapshot, cell_location

log = logging.getLogger(__name__)

MAX_PROBLEMS = 5


@dataclass
class ListCheck:
    template: str
    mapping: dict[str, str | None]  # template field -> source column (None: printed empty)
    missing: list[str] = field(default_factory=list)  # structural gaps: the list is skipped
    rows: int = 0
    flagged_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    read: int = 0  # rows read → inside the horizon → printed (a unit some audience receives) → flagged
    inside_horizon: int = 0
    printed: int = 0
    oldest: str | None = None  # dd-mm-yyyy, the horizon field's dates in the source
    newest: str | None = None
    incomplete: list[str] = field(default_factory=list)  # why an export would not be good (completeness)
    notes: list[str] = field(default_factory=list)  # named by the export too, but not against a good set

    @property
    def would_be(self) -> str:
        return "skipped" if self.missing else "incomplete" if self.incomplete else "good"


@dataclass
class DatasetCheck:
    name: str
    kind: str
    source: str
    reachable: bool = False
    error: str | None = None
    rows: int | None = None
    as_of: str | None = None
    columns: list[str] = field(default_factory=list)
    read_as: dict = field(default_factory=dict)  # encoding and delimiter (csv), sheet and header row (xlsx)
    unmapped_columns: list[str] = field(default_factory=list)
    lists: list[ListCheck] = field(default_factory=list)
    flagged_rows: int = 0
    problems: list[str] = field(default_factory=list)  # first few, "file:line:column (Column): reason"
    more_problems: int = 0
    warnings: list[str] = field(default_factory=list)
    # kind "reports": the files it would take, skip ("file: reason") and ignore (older, not matching)
    reports: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.reachable or self.skipped or any(lc.missing for lc in self.lists):
            return "broken"
        if any(lc.incomplete for lc in self.lists):
            return "incomplete"
        if self.warnings or self.flagged_rows or any(lc.warnings for lc in self.lists):
            return "warning"
        return "ok"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["status"] = self.status
        for lc, out in zip(self.lists, data["lists"]):
            out["would_be"] = lc.would_be
        return data


@dataclass
class SourcesReport:
    datasets: list[DatasetCheck]
    lists_skipped: dict[str, str] = field(default_factory=dict)  # template id -> why (broken template file)

    @property
    def exit_code(self) -> int:
        if any(d.status == "broken" for d in self.datasets):
            return SourceError.exit_code
        if any(d.status == "incomplete" for d in self.datasets):
            return CRITICAL  # the export would not be good
        if self.lists_skipped or any(d.status == "warning" for d in self.datasets):
            return WARNING
        return OK

    def summary(self) -> str:
        counts = {s: sum(1 for d in self.datasets if d.status == s)
                  for s in ("ok", "warning", "incomplete", "broken")}
        return (f"{len(self.datasets)} dataset(s): {counts['ok']} ok, {counts['warning']} with warnings, "
                + (f"{counts['incomplete']} incomplete, " if counts["incomplete"] else "")
                + f"{counts['broken']} broken")

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "exit_code": self.exit_code,
                "datasets": [d.to_dict() for d in self.datasets], "lists_skipped": self.lists_skipped}


def _lists_by_dataset(config: KitConfig, templates: dict[str, Template]) -> dict[str, list[Template]]:
    wanted = {tid for a in config.audiences.values() for tid in a.templates}
    by_dataset: dict[str, list[Template]] = {}
    for tid in sorted(wanted):
        if tid in templates:
            by_dataset.setdefault(templates[tid].dataset, []).append(templates[tid])
    return by_dataset


def check_sources(config: KitConfig, now: dt.datetime, names: list[str] | None = None,
                  max_problems: int = MAX_PROBLEMS) -> SourcesReport:
    """Read every (or each named) dataset once and check it against the lists that use it."""
    template_errors: dict = {}
    templates = load_templates(config.home, template_errors)
    by_dataset = _lists_by_dataset(config, templates)
    wanted = {tid for a in config.audiences.values() for tid in a.templates}
    skipped = {tid: str(err) for tid, err in template_errors.items() if tid in wanted}
    skipped |= {tid: f"no template file {tid}.toml" for tid in wanted if tid not in templates and tid not in skipped}
    unconfigured = config.unconfigured({tid: t.dataset for tid, t in templates.items()})
    if unconfigured and not names:  # the export would refuse to run: so does the whole check
        raise ConfigError("; ".join(text for _, text in unconfigured))
    for tid, text in unconfigured:  # checking named datasets: the others need not be configured yet
        skipped.setdefault(tid, text)
    selected = names or sorted(config.datasets)
    unknown = [n for n in selected if n not in config.datasets]
    if unknown:
        raise ConfigError(f"{config.path}: no dataset {', '.join(repr(n) for n in unknown)} "
                          f"(configured: {', '.join(sorted(config.datasets))})")
    previous = Store(config.store).newest_good()
    context = _Context(config, now, max_problems, _audiences_by_list(config),
                       completeness.previous_units(previous.manifest if previous else None),
                       previous.id if previous else None)
    return SourcesReport(datasets=[_check_one(context, name, by_dataset.get(name, [])) for name in selected],
                         lists_skipped=skipped)


@dataclass
class _Context:
    config: KitConfig
    now: dt.datetime
    max_problems: int
    audiences: dict[str, list[str]]  # template id -> audiences that ask for it
    previous_units: dict[str, dict[str, int]]  # of the newest good set: template -> unit -> rows
    previous_set: str | None


def _audiences_by_list(config: KitConfig) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    for audience in config.audiences.values():
        for tid in audience.templates:
            wanted.setdefault(tid, []).append(audience.name)
    return wanted


def _check_one(context: _Context, name: str, lists: list[Template]) -> DatasetCheck:
    config, now, max_problems = context.config, context.now, context.max_problems
    ds = config.datasets[name]
    result = DatasetCheck(name=name, kind=ds.kind, source=describe(ds))
    try:
        snap = open_source(ds, config.timezone).fetch(now)
    except NodkitError as exc:
        result.error = str(exc)
        log.info("dataset %s: not readable: %s", name, exc)
        return result
    result.reachable = True
    result.source, result.rows = snap.source, len(snap.rows)
    result.as_of = snap.as_of.isoformat(timespec="seconds")
    hide = header_looks_like_data(ds, snap)  # a missing header line would show a data row here
    result.columns = [] if hide else list(snap.columns)
    result.read_as = dict(snap.details)
    result.warnings = list(snap.warnings)
    if snap.kind == "reports":
        _check_reports(config, snap, result, now)
        return result
    if hide:
        result.warnings.append(f"none of the configured column names is in the first line ({len(snap.columns)} "
                               "columns, not shown): is the header line missing?")
    used: set[str] = set()
    problems: dict[str, tuple[int, str]] = {}  # location+reason -> (row index, text), source order
    by_origin = {row.origin: i for i, row in enumerate(snap.rows)}
    for template in lists:
        mapping, missing, warnings = match_columns(template, ds, snap)
        used.update(c for c in mapping.values() if c)
        check = ListCheck(template=template.id, mapping=mapping, missing=[m.message for m in missing],
                          warnings=warnings)
        result.lists.append(check)
        if missing:
            continue
        prepared = prepare(template, ds, snap, today=now.date())  # the export's horizon, from today
        check.rows, check.flagged_rows = prepared.rows, prepared.flagged
        audiences = context.audiences.get(template.id, [])
        check.read, check.inside_horizon = prepared.read, prepared.read - prepared.outside_horizon
        check.printed = sum(u.rows for unit, u in prepared.units.items()
                            if completeness.receivers(config, audiences, unit))
        check.oldest, check.newest = (d.strftime("%d-%m-%Y") if d else None for d in (prepared.oldest, prepared.newest))
        gaps = completeness.list_gaps(config, template.id, prepared, audiences,
                                      context.previous_units.get(template.id), context.previous_set)
        check.incomplete, check.notes = gaps.reasons, gaps.notes
        result.flagged_rows = max(result.flagged_rows, prepared.flagged)
        _collect(snap, prepared, problems, by_origin)
    result.unmapped_columns = [c for c in snap.columns if c not in used] if lists and not hide else []
    ordered = sorted(problems.values())
    result.problems = [text for _, text in ordered[:max_problems]]
    result.more_problems = max(0, len(ordered) - max_problems)
    return result


def _check_reports(config: KitConfig, snap: Snapshot, result: DatasetCheck, now: dt.datetime) -> None:
    from nodkit.export.reports import compare_with_last_good
    from nodkit.store.sets import Store
    result.columns = []
    result.ignored = list(result.read_as.pop("ignored", []))
    result.skipped = list(snap.skipped)
    result.reports = [{"file": d.file, "unit": d.unit, "title": d.title, "pages": d.pages,
                       "as_of": d.as_of.isoformat(timespec="seconds"), "sha256": d.sha256} for d in snap.documents]
    found = compare_with_last_good(config, Store(config.store), snap, now)
    result.warnings += found.stale + [f"suspect: {why}" for why in found.suspect]
    if snap.details["missing"] == "partial":
        result.skipped += [f"missing: {why}" for why in found.missing]
    else:
        result.warnings += [f"missing: {why}" for why in found.missing]


def _collect(snap: Snapshot, prepared, problems: dict, by_origin: dict[str, int]) -> None:
    for unit in prepared.units.values():
        for section in unit.sections:
            for row in section.rows:
                for p in row.details:
                    text = f"{cell_location(snap, row.origin, p.column)}: {p.reason}"
                    problems.setdefault(text, (by_origin.get(row.origin, 0), text))
