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
from nodkit.sources.base import DatasetConfig, Derivation

CONFIG_NAME = "nodkit.toml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_HOUR = r"(?:[01]?\d|2[0-3])(?:[.:][0-5]\d)?"
_HOURS = re.compile(rf"^\s*{_HOUR}\s*-\s*{_HOUR}\s*$")
PARTS = ("date", "time")
NAME_STYLES = ("last_first",)


@dataclass(frozen=True)
class Audience:
    name: str
    title: str
    templates: tuple[str, ...]
    units: tuple[str, ...] | None = None  # None = every unit
    where: str = ""  # "nodkit.toml:31" for error messages
    reports: tuple[str, ...] = ()  # datasets of kind "reports" whose ready-made PDFs this audience gets


@dataclass(frozen=True)
class MonitoringPolicy:
    """[monitoring]: thresholds for `nodkit verify` beyond the files themselves."""
    disk_warning_percent: float = 10.0  # free space on the store's filesystem below this: WARNING
    disk_critical_percent: float = 5.0  # ... below this: CRITICAL
    grace_minutes: float = 60.0  # an export due less than this ago is not yet "missed"
    heartbeat_max_age_hours: float = 25.0  # scheduler heartbeat older than this: WARNING
    drill_warn_days: float = 35.0  # a unit whose last print drill is older than this: WARNING (0 = off)


@dataclass(frozen=True)
class SchedulerSettings:
    """[scheduler]: how `nodkit run` retries a failed or partial export."""

    retry_initial_seconds: float = 60.0
    retry_max_seconds: float = 1800.0
    retry_max_attempts: int = 10


@dataclass(frozen=True)
class StationConfig:
    """[station]: this kit is a print station fed by an exporter (docs/distribution.md).

    A station has no datasets, no source credentials and no stored audience
    passwords; keys/signing.pub is the exporter's public key, pinned at
    `nodkit station init`. Credentials for the upstream never live here: the
    file names below point at them, or they come from the environment.
    """

    upstream: str  # https://host/path/ (the exporter's store/, served read-only) or a folder (a mounted share)
    audiences: tuple[str, ...]
    units: tuple[str, ...] = ()  # empty: every unit of its audiences
    name: str = ""  # station name in the fleet view (default: the kit name)
    ca_bundle: str | None = None  # PEM file of the municipal CA(s); default: the system's trust store
    client_cert: str | None = None  # PEM client certificate (mutual TLS) ...
    client_key: str | None = None  # ... and its key file (0600)
    credentials_file: str | None = None  # "user:password" for HTTP basic auth (0600); or NODKIT_UPSTREAM_USER/_PASSWORD
    timeout_seconds: float = 30.0  # per connection and per read
    sync_deadline_seconds: float = 900.0  # a whole sync; a slow server cannot hold the station forever
    status_upload: str | None = None  # where the signed station status goes: URL (HTTP PUT) or folder

    def wants(self, audience: str, unit: str) -> bool:
        """Does this station hold the file of (audience, unit)? Kit-wide files ("Fælles") go with their audience."""
        if audience not in self.audiences:
            return False
        return not self.units or unit in self.units or unit == KIT_WIDE_UNIT


KIT_WIDE_UNIT = "Fælles"  # the unit name of kit-wide lists (contacts, power-dependent)

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
    wait_seconds: float = 120.0  # how long to follow a job that shows no progress before calling it not printed

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
    # the Unix group of the staff logins that print (docs/operations.md, "Accounts"); None: a single-account
    # kit, where whoever prints logs in as the kit's owner
    staff_group: str | None = None
    staff_login: str | None = None  # which login to use for printing, in Danish, printed on the guide
    workers: int | str = "auto"  # render processes: "auto" (one per core) or a number
    skip_unchanged: bool = True  # no new set when every source is unchanged since LATEST (store/CHECKED)
    station: StationConfig | None = None  # set: this kit is a print station (sync instead of export)

    @property
    def role(self) -> str:
        return "station" if self.station is not None else "exporter"

    @property
    def store(self) -> Path:
        return self.home / "store"

    @property
    def keys(self) -> Path:
        return self.home / "keys"

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.timezone)

    def unconfigured(self, dataset_of: dict[str, str]) -> list[tuple[str, str]]:
        """(list, message) for each list an audience asks for whose dataset has no [datasets.NAME] table;
        the message names the audience's file and line, the list and the missing dataset."""
        found = []
        for audience in self.audiences.values():
            for tid in audience.templates:
                ds = dataset_of.get(tid)
                if ds is not None and ds not in self.datasets:
                    found.append((tid, f"{audience.where or self.path}: audience '{audience.name}' asks for list '{tid}', "
                                 f"which reads dataset '{ds}': [datasets.{ds}] is not configured yet; add it "
                                 f"(see the commented example in nodkit.toml) or remove '{tid}' from the audience"))
        return found


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
    staff_group = kit.get("staff_group", str, None) or None  # "" = a single-account kit, as when absent
    if staff_group is not None and not re.fullmatch(r"[a-z_][a-z0-9_.-]{0,31}", staff_group):
        raise kit.fail("staff_group", f"'{staff_group}' is not a Unix group name (e.g. nodkit-staff)")
    staff_login = kit.get("staff_login", str, None)
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
        absent = r.get("absent", list, [])
        if not all(isinstance(f, str) for f in absent):
            raise r.fail("absent", 'must list template field names, e.g. ["cpr", "access"]')
        defaults = r.get("defaults", dict, {})
        for fname, value in defaults.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise r.sub("defaults").fail(fname, "must be a text or a number")
        derive_r = r.sub("derive")
        derive = _derive(derive_r, derive_r.fail)
        for fname in derive:
            if fname in cols:
                raise derive_r.fail(fname, f"field '{fname}' is also mapped under columns; keep one")
        min_rows = r.get("min_rows", int, 0)
        if min_rows < 0:
            raise r.fail("min_rows", "must be 0 or more")
        options = {k: v for k, v in raw.items()
                   if k not in ("kind", "columns", "absent", "defaults", "derive", "min_rows")}
        for key in ("path",):
            if key in options and isinstance(options[key], str):
                options[key] = _resolve(home, options[key])
        if "url" in options and isinstance(options["url"], str):
            options["url"] = _resolve_sqlite(home, options["url"])
        if kind == "reports" and isinstance(options.get("path"), str) and _inside(home, options["path"]):
            # the other system's plaintext reports under the kit home: verify would (rightly) call every one
            # of them an unencrypted PDF in the kit, CRITICAL
            raise r.fail("path", "the folder of ready-made reports must be outside the kit home (the source "
                                 "system's plaintext PDFs do not belong in the kit); give an absolute path")
        datasets[dname] = DatasetConfig(name=dname, kind=kind, options=options, columns=dict(cols),
                                        where=doc.where("datasets", dname), absent=tuple(absent),
                                        defaults=dict(defaults), derive=derive, min_rows=min_rows)

    audiences: dict[str, Audience] = {}
    for aname, r in top.named_tables("audiences", "audience", _NAME, "a-z, 0-9, - and _ (they name folders)"):
        reports = r.get("reports", list, [])
        if not all(isinstance(d, str) for d in reports):
            raise r.fail("reports", "must list dataset names of kind \"reports\", e.g. [\"cura\"]")
        for dname in reports:
            if dname not in datasets or datasets[dname].kind != "reports":
                raise r.fail("reports", f"'{dname}' is not a [datasets.{dname}] with kind = \"reports\"")
        templates = r.get("templates", list, [] if reports else None)
        if (not templates and not reports) or not all(isinstance(t, str) for t in templates):
            raise r.fail("templates", "must list at least one template id, e.g. [\"care-route\"]")
        units = r.get("units", list, None)
        audiences[aname] = Audience(name=aname, title=r.get("title", str, aname), templates=tuple(templates),
                                    units=tuple(units) if units else None, where=doc.where("audiences", aname),
                                    reports=tuple(reports))
        r.check_unknown()
    station = _station(top.sub("station"), home) if "station" in doc.data else None
    if station is not None:
        if datasets:
            raise top.fail("datasets", "a station has no datasets: its lists come from the exporter ([station] upstream)")
        for aname in station.audiences:
            audiences.setdefault(aname, Audience(name=aname, title=aname, templates=()))
    elif not audiences:
        raise top.fail("audiences", "define at least one [audiences.NAME] with its templates")

    printer = _printer(top.sub("printer"))
    monitoring = _monitoring(top.sub("monitoring"))
    top.check_unknown()
    return KitConfig(home=home, name=name, timezone=tz, max_age_hours=max_age, retention=policy,
                     suspect_drop=suspect_drop, datasets=datasets, audiences=audiences,
                     printer=printer, path=path, monitoring=monitoring, scheduler=scheduler,
                     location=location, contact=contact, staff_group=staff_group, staff_login=staff_login,
                     workers=workers, station=station, skip_unchanged=skip_unchanged)


def _station(r, home: Path) -> StationConfig:
    upstream = r.get("upstream", str)
    if not upstream.strip():
        raise r.fail("upstream", "the exporter's store: an https:// URL or a folder on a mounted share")
    if "@" in upstream.split("/")[2 if "://" in upstream else 0]:
        raise r.fail("upstream", "no credentials in the URL: use credentials_file or NODKIT_UPSTREAM_USER/_PASSWORD")
    audiences = r.get("audiences", list)
    if not audiences or not all(isinstance(a, str) and _NAME.match(a) for a in audiences):
        raise r.fail("audiences", 'must list the audiences this station prints for, e.g. ["pleje"]')
    units = r.get("units", list, [])
    if not all(isinstance(u, str) and u for u in units):
        raise r.fail("units", 'must list unit names as text, e.g. ["Område Nord"]')
    paths = {}
    for key in ("ca_bundle", "client_cert", "client_key", "credentials_file"):
        value = r.get(key, str, None)
        paths[key] = _resolve(home, value) if value else None
    if (paths["client_cert"] is None) != (paths["client_key"] is None):
        raise r.fail("client_cert", "give both client_cert and client_key, or neither")
    timeout = r.get("timeout_seconds", float, 30.0)
    deadline = r.get("sync_deadline_seconds", float, 900.0)
    if timeout <= 0:
        raise r.fail("timeout_seconds", "must be greater than 0")
    if deadline < timeout:
        raise r.fail("sync_deadline_seconds", "must be at least timeout_seconds")
    upload = r.get("status_upload", str, None) or None
    if upload and "://" not in upload:
        upload = _resolve(home, upload)
    station = StationConfig(upstream=upstream if "://" in upstream else _resolve(home, upstream),
                            audiences=tuple(audiences), units=tuple(units), name=r.get("name", str, ""),
                            timeout_seconds=timeout, sync_deadline_seconds=deadline, status_upload=upload,
                            **paths)
    r.check_unknown()
    return station


def _monitoring(mon) -> MonitoringPolicy:
    d = MonitoringPolicy()
    values = {}
    for key in ("disk_warning_percent", "disk_critical_percent", "grace_minutes", "heartbeat_max_age_hours",
                "drill_warn_days"):
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
    wait = r.get("wait_seconds", int, 120)
    if wait < 5:
        raise r.fail("wait_seconds", "must be at least 5 (seconds to follow a print job)")
    r.check_unknown()
    return PrinterConfig(backend=backend, queue=queue, command=tuple(command), copies=copies,
                         max_copies=max_copies, lp=lp, lpstat=lpstat, wait_seconds=float(wait))


def _resolve(home: Path, value: str) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else home / p)


def _inside(home: Path, path: str) -> bool:
    try:
        Path(path).resolve().relative_to(home.resolve())
        return True
    except ValueError:
        return False


def _resolve_sqlite(home: Path, url: str) -> str:
    """sqlite:///relative.db is relative to the kit home, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix):]
        if rest and not re.match(r"^[A-Za-z]:[/\\]", rest) and rest != ":memory:":
            return prefix + str(home / rest)
    return url


def _derive(reader, fail) -> dict[str, Derivation]:
    """[datasets.NAME.derive] -> field -> Derivation (applied by nodkit.lists.mapping)."""
    rules: dict[str, Derivation] = {}
    for name, raw in reader.table.items():
        if not isinstance(raw, dict):
            raise fail(name, 'must be a table, e.g. { from = "Tidspunkt", part = "time" }')
        source = raw.get("from")
        if not isinstance(source, str) or not source:
            raise fail(name, "needs from = \"<source column>\"")
        kinds = [k for k in ("part", "hours", "names") if k in raw]
        unknown = sorted(set(raw) - {"from", "part", "hours", "names"})
        if unknown or len(kinds) != 1:
            raise fail(name, "needs exactly one of part = \"date\"|\"time\", hours = { Dag = \"07-15\", … } "
                             "or names = \"last_first\"" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        part, hours, names = raw.get("part"), raw.get("hours"), raw.get("names")
        if part is not None and part not in PARTS:
            raise fail(name, f"part must be one of {', '.join(PARTS)}")
        if names is not None and names not in NAME_STYLES:
            raise fail(name, f"names must be one of {', '.join(NAME_STYLES)}")
        if hours is not None:
            if not isinstance(hours, dict) or not hours:
                raise fail(name, 'hours must be a table like { Dag = "07-15", Aften = "15-23", Nat = "23-07" }')
            for label, span in hours.items():
                if not isinstance(span, str) or not _HOURS.match(span):
                    raise fail(name, f"hours.{label}: '{span}' is not an hour range like \"07-15\" or "
                                     "\"07.00-15.30\"")
            hours = tuple(hours.items())
        rules[name] = Derivation(source=source, part=part, hours=hours or (), names=names)
    return rules
