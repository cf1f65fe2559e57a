"""The fleet view: a small signed status file per station, and the exporter's table of them.

A station writes `<station>.json` after every sync: its newest set and that
set's age, the last sync attempt and success, bytes, upstream reachable,
the last error (one line, no data). The file is signed with the station's
own Ed25519 key (keys/station.key; the public key travels in the file and
is pinned by the exporter on first sight, keys/stations.json), so a web
server that accepts the PUT cannot make a broken station look healthy
without the pinned key changing, which `nodkit fleet status` flags.
It goes wherever the station can write: HTTP PUT (nginx dav_methods, IIS
WebDAV) or a folder on the share. The exporter reads the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from nodkit.config.settings import KitConfig
from nodkit.errors import NodkitError
from nodkit.fsutil import secret_dir, write_atomic
from nodkit.security import crypto
from nodkit.store.sets import Store, safe_name

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FLEET_DIR = "fleet"  # in the exporter's kit home: where the stations' status files arrive
PINS = "stations.json"  # in the exporter's keys/: station name -> public key PEM, pinned on first sight
STALE_HOURS = 2.0  # a station silent for longer is flagged


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def station_name(config: KitConfig) -> str:
    return (config.station.name if config.station and config.station.name else config.name)


def build_status(config: KitConfig, now: dt.datetime | None = None) -> dict:
    from nodkit.distribution.station import STATION_PUB
    from nodkit.distribution.sync import read_state
    now = now or config.now()
    store = Store(config.store)
    latest = store.latest_id()
    newest = store.load(latest) if latest else None
    created = newest.created_at if newest is not None and newest.manifest is not None else None
    state = read_state(config.home)
    return {
        "format_version": FORMAT_VERSION,
        "station": station_name(config),
        "generated_at": now.isoformat(timespec="seconds"),
        "latest": latest,
        "latest_created_at": created.isoformat() if created else None,
        "age_seconds": round((now - created).total_seconds()) if created else None,
        "max_age_hours": config.max_age_hours,
        "sets": len(store.sets()),
        "audiences": list(config.station.audiences) if config.station else [],
        "units": list(config.station.units) if config.station else [],
        "sync": {k: getattr(state, k) for k in ("last_attempt", "last_success", "last_result", "last_error",
                                                 "error_kind", "upstream_reachable", "upstream_latest",
                                                 "consecutive_failures", "bytes_last", "seconds_last")}
        if state else None,
        "public_key": (config.keys / STATION_PUB).read_text("ascii"),
    }


def signed_status(config: KitConfig, now: dt.datetime | None = None) -> bytes:
    from nodkit.distribution.station import STATION_KEY
    status = build_status(config, now)
    signature = crypto.sign(config.keys, _canonical(status), STATION_KEY).decode("ascii").strip()
    return (json.dumps({"status": status, "signature": signature}, ensure_ascii=False, indent=1) + "\n").encode()


def report_status(config: KitConfig, now: dt.datetime | None = None) -> str | None:
    """Upload the signed status where [station] status_upload says. Never raises: reporting is best effort."""
    station = config.station
    if station is None or not station.status_upload:
        return None
    name = safe_name(station_name(config)) + ".json"
    try:
        data = signed_status(config, now)
        target = station.status_upload
        if "://" in target:
            from nodkit.distribution.transport import Upstream
            url = target.rstrip("/") + "/" + urllib.parse.quote(name)
            Upstream(station).put(url, data)
            return url
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / name, data)
        return str(folder / name)
    except (NodkitError, OSError) as exc:
        log.warning("station status not reported to %s: %s", station.status_upload, exc)
        return None


@dataclass
class StationRow:
    station: str
    file: str
    latest: str | None = None
    age_seconds: float | None = None
    last_contact: str | None = None  # when the status was generated (after the station's last sync attempt)
    last_success: str | None = None
    reachable: bool | None = None
    problems: list[str] = field(default_factory=list)
    severity: str = "OK"  # OK | WARNING | CRITICAL

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def read_fleet(config: KitConfig, folder: Path | None = None, now: dt.datetime | None = None,
               stale_hours: float = STALE_HOURS) -> list[StationRow]:
    """Every station that reported into `folder` (default: <kit>/fleet), with its problems."""
    folder = folder or config.home / FLEET_DIR
    now = now or config.now()
    pins_path = config.keys / PINS
    try:
        pins = json.loads(pins_path.read_text("utf-8"))
    except FileNotFoundError:
        pins = {}
    except (OSError, ValueError):
        raise NodkitError(f"{pins_path}: unreadable station key pins") from None
    rows, changed = [], False
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        row, pin = _read_one(path, pins, now, stale_hours)
        if pin is not None:
            pins[row.station] = pin
            changed = True
        rows.append(row)
    if changed:
        secret_dir(config.keys)
        write_atomic(pins_path, json.dumps(pins, indent=1, sort_keys=True).encode("utf-8"))
    return rows


def _read_one(path: Path, pins: dict, now: dt.datetime, stale_hours: float) -> tuple[StationRow, str | None]:
    row = StationRow(station=path.stem, file=str(path))
    try:
        outer = json.loads(path.read_text("utf-8"))
        status, signature = outer["status"], outer["signature"]
        row.station = str(status["station"])
        key = crypto.public_from_pem(status["public_key"].encode("ascii"), str(path))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, NodkitError) as exc:
        row.problems.append(f"unreadable status file ({type(exc).__name__})")
        row.severity = "CRITICAL"
        return row, None
    new_pin = None
    if not crypto.check_signature(key, _canonical(status), (signature + "\n").encode("ascii")):
        row.problems.append("signature does not match: the status file was changed")
        row.severity = "CRITICAL"
        return row, None
    pinned = pins.get(row.station)
    if pinned is None:
        new_pin = status["public_key"]
    elif pinned != status["public_key"]:
        row.problems.append(f"signed by another key than the one pinned in keys/{PINS}: not this station, "
                            "or it was set up anew (remove its entry to accept the new key)")
        row.severity = "CRITICAL"
        return row, None
    row.latest, row.age_seconds = status.get("latest"), status.get("age_seconds")
    row.last_contact = status.get("generated_at")
    sync = status.get("sync") or {}
    row.last_success, row.reachable = sync.get("last_success"), sync.get("upstream_reachable")
    severity = 0
    try:
        contact = dt.datetime.fromisoformat(row.last_contact)
        silent = (now - contact).total_seconds()
    except (TypeError, ValueError):
        silent = None
    if silent is None or silent > stale_hours * 3600:
        row.problems.append(f"stopped reporting: last contact {row.last_contact or 'unknown'}")
        severity = max(severity, 1)
    if row.latest is None:
        row.problems.append("holds no set")
        severity = 2
    elif row.age_seconds is not None:
        age_now = row.age_seconds + max(0.0, silent or 0.0)
        if age_now > float(status.get("max_age_hours") or 26) * 3600:
            row.problems.append(f"newest set is {age_now / 3600:.1f} h old (max_age_hours = {status.get('max_age_hours')})")
            severity = 2
    if sync.get("last_result") in ("failed", "refused"):
        row.problems.append(f"last sync {sync['last_result']} ({sync.get('error_kind')}): {sync.get('last_error')}")
        severity = max(severity, 2 if sync["last_result"] == "refused" else 1)
    row.severity = ("OK", "WARNING", "CRITICAL")[severity]
    return row, new_pin
