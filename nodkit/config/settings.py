"""The kit configuration, nodkit.toml, with errors that name file, line and key.

One file describes the kit PC: its name and timezone, the datasets to fetch
(kind, location, column mapping), the audiences (who gets which lists under
which password), retention and the printer. Reference: docs/configuration.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nodkit.config import tomlfile
from nodkit.errors import ConfigError
from nodkit.store.retention import RetentionPolicy
from nodkit.sources.base import DatasetConfig

CONFIG_NAME = "nodkit.toml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Audience:
    name: str
    title: str
    templates: tuple[str, ...]
    units: tuple[str, ...] | None = None  # None = every unit


@dataclass(frozen=True)
class MonitoringPolicy:
    """[monitoring]: thresholds for `nodkit verify` beyond the files themselves."""
    disk_warning_percent: float = 10.0  # free space on the store's filesystem below this: WARNING
    disk_critical_percent: float = 5.0  # ... below this: CRITICAL
    grace_minutes: float = 60.0  # an export due less than this ago is not yet "missed"
    heartbeat_max_age_hours: float = 25.0  # scheduler heartbeat older than this: WARNING


@dataclass(frozen=True)
class SchedulerSettings:
    """[scheduler]: how `nodkit run` retries a failed or partial export."""

    retry_initial_seconds: float = 60.0
    retry_max_seconds: float = 1800.0
    retry_max_attempts: int = 10


BACKENDS = ("cups", "command")


@dataclass(frozen=True)
class PrinterConfig:
    """[printer]: how `nodkit print` reaches paper (docs/printing.md).

    backend "cups": `lp -d QUEUE` (QUEUE empty = the system's default printer);
    backend "command": `command` (an argv list) gets the PDF on stdin; the
    placeholders {title} and {copies} are filled in, and without {copies}
    the command is run once per copy.
    """

    backend: str = "cups"
    queue: str | None = None
    command: tuple[str, ...] = ()
    copies: int = 1
    max_copies: int = 50
    lp: str = "lp"
    lpstat: str = "lpstat"

    @property
    def label(self) -> str:
        if self.backend == "command":
            return "kommando " + (self.command[0] if self.command else "?")
        return self.queue or "standardprinteren"


@dataclass
class KitConfig:
    home: Path
    name: str
    timezone: dt.tzinfo
    max_age_hours: float
    retention: RetentionPolicy
    suspect_drop: float
    datasets: dict[str, DatasetConfig]
    audiences: dict[str, Audience]
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    path: Path | None = None
    monitoring: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    location: str | None = None  # where the kit PC stands (printed on the guide)
    contact: str | None = None   # whom to call when printing fails (printed on the guide)
    workers: int | str = "auto"  # render processes: "auto" (one per core) or a number
    skip_unchanged: bool = True  # no new set when every source is unchanged since LATEST (store/CHECKED)

    @property
    def store(self) -> Path:
        return self.home / "store"

    @property
    def keys(self) -> Path:
        return self.home / "keys"

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.timezone)


def load_config(home: Path) -> KitConfig:
    path = home / CONFIG_NAME
    if not path.exists():
        raise ConfigError(
            f"{path}: no kit here (no {CONFIG_NAME})",
            hint="create one with 'nodkit init DIR', or point to it with --kit DIR or NODKIT_HOME")
    doc = tomlfile.load(path, ConfigError)
    top = tomlfile.Reader(doc, (), doc.data, ConfigError)

    kit = top.sub("kit")
    name = kit.get("name", str)
    tzname = kit.get("timezone", str, "Europe/Copenhagen")
    try:
        tz = ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        raise kit.fail("timezone", f"unknown timezone '{tzname}' (e.g. Europe/Copenhagen)") from None
    max_age = kit.get("max_age_hours", float, 26.0)
    if max_age <= 0:
        raise kit.fail("max_age_hours", "must be greater than 0")
    location = kit.get("location", str, None)
    contact = kit.get("contact", str, None)
    kit.check_unknown()

    ret = top.sub("retention")
    policy = RetentionPolicy(days=ret.get("days", float, 7.0), keep_min=ret.get("keep_min", int, 3),
                             hours=ret.get("hours", float, 24.0))
    if policy.days <= 0:
        raise ret.fail("days", "must be greater than 0")
    if policy.hours < 0:
        raise ret.fail("hours", "must be 0 or more (0: only the daily tier)")
    if policy.keep_min < 1:
        raise ret.fail("keep_min", "must be at least 1: the newest good set is always kept")
    ret.check_unknown()

    exp = top.sub("export")
    suspect_drop = exp.get("suspect_drop", float, 0.5)
    if not 0 < suspect_drop <= 1:
        raise exp.fail("suspect_drop", "must be a share between 0 and 1, e.g. 0.5 for 50 %")
    workers = exp.get("workers", (str, int), "auto")
    if (isinstance(workers, str) and workers != "auto") or (isinstance(workers, int) and not 1 <= workers <= 64):
        raise exp.fail("workers", f"must be \"auto\" or a number of processes from 1 to 64; got '{workers}'")
    skip_unchanged = exp.get("skip_unchanged", bool, True)
    exp.check_unknown()

    sch = top.sub("scheduler")
    defaults = SchedulerSettings()
    scheduler = SchedulerSettings(
        retry_initial_seconds=sch.get("retry_initial_seconds", float, defaults.retry_initial_seconds),
        retry_max_seconds=sch.get("retry_max_seconds", float, defaults.retry_max_seconds),
        retry_max_attempts=sch.get("retry_max_attempts", int, defaults.retry_max_attempts))
    if scheduler.retry_initial_seconds <= 0:
        raise sch.fail("retry_initial_seconds", "must be greater than 0")
    if scheduler.retry_max_seconds < scheduler.retry_initial_seconds:
        raise sch.fail("retry_max_seconds", "must be at least retry_initial_seconds")
    if scheduler.retry_max_attempts < 1:
        raise sch.fail("retry_max_attempts", "must be at least 1 (1 = no retries)")
    sch.check_unknown()

    datasets: dict[str, DatasetConfig] = {}
    for dname, r in top.named_tables("datasets", "dataset", _NAME, "a-z, 0-9, - and _"):
        raw = r.table
        from nodkit.sources import known_kinds
        kind = r.get("kind", str, choices=tuple(known_kinds()))
        cols = r.get("columns", dict, {})
        for fname, col in cols.items():
            if not isinstance(col, str):
                raise r.sub("columns").fail(fname, "must be the source column name as text")
        options = {k: v for k, v in raw.items() if k not in ("kind", "columns")}
        for key in ("path",):
            if key in options and isinstance(options[key], str):
                options[key] = _resolve(home, options[key])
        if "url" in options and isinstance(options["url"], str):
            options["url"] = _resolve_sqlite(home, options["url"])
        datasets[dname] = DatasetConfig(name=dname, kind=kind, options=options, columns=dict(cols),
                                        where=doc.where("datasets", dname))

    audiences: dict[str, Audience] = {}
    for aname, r in top.named_tables("audiences", "audience", _NAME, "a-z, 0-9, - and _ (they name folders)"):
        templates = r.get("templates", list)
        if not templates or not all(isinstance(t, str) for t in templates):
            raise r.fail("templates", "must list at least one template id, e.g. [\"care-route\"]")
        units = r.get("units", list, None)
        audiences[aname] = Audience(name=aname, title=r.get("title", str, aname), templates=tuple(templates),
                                    units=tuple(units) if units else None)
        r.check_unknown()
    if not audiences:
        raise top.fail("audiences", "define at least one [audiences.NAME] with its templates")

    printer = _printer(top.sub("printer"))
    monitoring = _monitoring(top.sub("monitoring"))
    top.check_unknown()
    return KitConfig(home=home, name=name, timezone=tz, max_age_hours=max_age, retention=policy,
                     suspect_drop=suspect_drop, datasets=datasets, audiences=audiences,
                     printer=printer, path=path, monitoring=monitoring, scheduler=scheduler,
                     location=location, contact=contact, workers=workers, skip_unchanged=skip_unchanged)


def _monitoring(mon) -> MonitoringPolicy:
    d = MonitoringPolicy()
    values = {}
    for key in ("disk_warning_percent", "disk_critical_percent", "grace_minutes", "heartbeat_max_age_hours"):
        values[key] = mon.get(key, float, getattr(d, key))
        if values[key] < 0:
            raise mon.fail(key, "must not be negative")
    for key in ("disk_warning_percent", "disk_critical_percent"):
        if values[key] > 100:
            raise mon.fail(key, "is a percentage of the disk: 0 to 100")
    if values["disk_critical_percent"] > values["disk_warning_percent"]:
        raise mon.fail("disk_critical_percent", "must not be above disk_warning_percent")
    if values["heartbeat_max_age_hours"] == 0:
        raise mon.fail("heartbeat_max_age_hours", "must be greater than 0")
    mon.check_unknown()
    return MonitoringPolicy(**values)


def _printer(r) -> PrinterConfig:
    backend = r.get("backend", str, "cups", choices=BACKENDS)
    queue = r.get("queue", str, None) or None
    command = r.get("command", list, [])
    if not all(isinstance(part, str) for part in command):
        raise r.fail("command", 'must be a list of texts, e.g. ["lpr", "-P", "kontor", "-#", "{copies}"]')
    if backend == "command" and not command:
        raise r.fail("command", 'is required with backend = "command", e.g. ["lpr", "-P", "kontor"]')
    copies = r.get("copies", int, 1)
    max_copies = r.get("max_copies", int, 50)
    if max_copies < 1:
        raise r.fail("max_copies", "must be at least 1")
    if not 1 <= copies <= max_copies:
        raise r.fail("copies", f"must be between 1 and max_copies ({max_copies})")
    lp = r.get("lp", str, "lp")
    lpstat = r.get("lpstat", str, "lpstat")
    r.check_unknown()
    return PrinterConfig(backend=backend, queue=queue, command=tuple(command), copies=copies,
                         max_copies=max_copies, lp=lp, lpstat=lpstat)


def _resolve(home: Path, value: str) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else home / p)


def _resolve_sqlite(home: Path, url: str) -> str:
    """sqlite:///relative.db is relative to the kit home, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix):]
        if rest and not re.match(r"^[A-Za-z]:[/\\]", rest) and rest != ":memory:":
            return prefix + str(home / rest)
    return url
