"""The station's side: pull the exporter's newest good set, only this station's files.

One sync (`run_sync`), under the store lock:

1. read upstream `LATEST` (a set id, at most 256 bytes);
2. the same id as the station's newest set: nothing to do ("current");
   an id older than the newest the station holds or has ever published
   (`store/.station-newest`, the rollback record): refused (rollback);
3. fetch `manifest.json` and `manifest.sig`; the signature MUST verify with
   the pinned exporter key (keys/signing.pub) and the manifest MUST name the
   same set id and be `good` (no mix-and-match, no partial set as LATEST);
4. fetch each file of this station's audiences and units (and the kit-wide
   ones of its audiences), at most the manifest's size, and check its size
   and SHA-256; a file already held with the same hash is copied locally;
5. publish with the export's write order (docs/store-format.md): files and
   the unchanged manifest + signature into `.incoming/<id>/`, fsync, one
   rename into `sets/`, LATEST replaced atomically; then the rollback record,
   then retention.

Any failure removes `.incoming/<id>/` and leaves the station's sets and
LATEST as they were: a half-synced set is never visible. Every attempt is
recorded in logs/sync.json (times, ids, bytes, one-line error; never data),
which `status`, `verify`, Prometheus and the fleet report read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nodkit.config.settings import KitConfig
from nodkit.distribution.transport import Upstream, UpstreamError
from nodkit.errors import ConfigError, IntegrityError, NodkitError, StoreError
from nodkit.fsutil import write_atomic
from nodkit.security import crypto
from nodkit.store.manifest import Manifest
from nodkit.store.sets import MANIFEST, SET_ID, SIGNATURE, Store, apply_retention

log = logging.getLogger(__name__)

STATE_FILE = Path("logs") / "sync.json"
NEWEST_RECORD = ".station-newest"  # in store/: the newest set this station ever published (rollback record)
MAX_LATEST = 256
MAX_MANIFEST = 64 * 1024 * 1024
MAX_SIGNATURE = 1024


class SyncRefused(IntegrityError):
    """Upstream offered something the station must not take (rollback, foreign key, swapped file)."""

    def __init__(self, message: str, *, kind: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.kind = kind  # rollback | signature | mix-and-match | status | hash | selection | format


@dataclass
class SyncState:
    """logs/sync.json: the last sync attempt and the last success."""

    last_attempt: str | None = None
    last_success: str | None = None  # last attempt that reached upstream and ended synced or current
    last_result: str | None = None  # synced | current | failed | refused
    last_error: str | None = None  # one line, no personal data
    error_kind: str | None = None  # unreachable | tls | http | timeout | too-big | truncated | missing | disk | rollback …
    upstream_reachable: bool | None = None
    upstream_latest: str | None = None
    station_latest: str | None = None
    consecutive_failures: int = 0
    bytes_last: int = 0
    files_last: int = 0
    reused_last: int = 0
    seconds_last: float = 0.0
    history: list[dict] = field(default_factory=list)  # the last attempts, newest first (for the fleet view)

    @property
    def last_attempt_at(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.last_attempt) if self.last_attempt else None

    @property
    def last_success_at(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.last_success) if self.last_success else None


def read_state(home: Path) -> SyncState | None:
    try:
        raw = json.loads((home / STATE_FILE).read_text("utf-8"))
        return SyncState(**raw)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def write_state(home: Path, state: SyncState) -> None:
    path = home / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, json.dumps(asdict(state), indent=1).encode("utf-8"))
    except OSError as exc:  # a full disk must not hide the sync's own result
        log.error("cannot write %s: %s", path, exc.strerror or exc)


@dataclass
class SyncResult:
    status: str  # synced | current
    set_id: str | None
    files: int = 0
    reused: int = 0
    bytes: int = 0
    seconds: float = 0.0
    pruned: list[str] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class Newest:
    set_id: str
    created_at: str


def newest_known(store: Store) -> Newest | None:
    """The newest set this station holds or ever published: a set older than this is a rollback."""
    candidates = [Newest(s.id, s.manifest.created_at) for s in store.sets() if s.manifest is not None]
    try:
        raw = json.loads((store.root / NEWEST_RECORD).read_text("utf-8"))
        candidates.append(Newest(str(raw["set_id"]), str(raw["created_at"])))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("%s unreadable; the sets held are the rollback baseline", store.root / NEWEST_RECORD)
    return max(candidates, key=lambda n: n.set_id, default=None)


def run_sync(config: KitConfig, now: dt.datetime | None = None) -> SyncResult:
    """One sync. Raises UpstreamError (retry later), SyncRefused, StoreError (disk) or LockError."""
    if config.station is None:
        raise ConfigError(f"{config.path}: this kit is an exporter, not a station (no [station] in nodkit.toml)",
                          hint="'nodkit station init DIR --upstream URL --pubkey FILE' makes a station")
    now = now or config.now()
    started = time.monotonic()
    state = read_state(config.home) or SyncState()
    state.last_attempt = now.isoformat(timespec="seconds")
    store = Store(config.store)
    upstream = Upstream(config.station)
    try:
        with store.lock("sync"):
            store.clean_debris()
            result = _sync(config, store, upstream, now, state)
    except NodkitError as exc:
        _record_failure(state, exc, upstream, time.monotonic() - started)
        write_state(config.home, state)
        raise
    except OSError as exc:  # a disk that fails outside the store's own error handling
        err = StoreError(f"{config.store}: {exc.strerror or exc}")
        _record_failure(state, err, upstream, time.monotonic() - started)
        write_state(config.home, state)
        raise err from None
    result.seconds = time.monotonic() - started
    result.bytes = upstream.bytes_received
    state.last_success = state.last_attempt
    state.last_result, state.last_error, state.error_kind = result.status, None, None
    state.upstream_reachable, state.consecutive_failures = True, 0
    state.station_latest = result.set_id
    state.bytes_last, state.files_last, state.reused_last = result.bytes, result.files, result.reused
    state.seconds_last = round(result.seconds, 3)
    _history(state)
    write_state(config.home, state)
    log.info("sync: %s, set %s, %d files (%d reused), %d bytes, %.1f s", result.status, result.set_id,
             result.files, result.reused, result.bytes, result.seconds)
    return result


def _record_failure(state: SyncState, exc: NodkitError, upstream: Upstream, seconds: float) -> None:
    if isinstance(exc, SyncRefused):
        state.last_result, state.error_kind, state.upstream_reachable = "refused", exc.kind, True
    elif isinstance(exc, UpstreamError):
        state.last_result, state.error_kind = "failed", exc.kind
        # the server answered (with a wrong answer) or delivered something before it went away
        state.upstream_reachable = exc.kind in ("missing", "http", "too-big", "truncated") or upstream.bytes_received > 0
    else:
        state.last_result = "failed"
        state.error_kind = "disk" if isinstance(exc, StoreError) else type(exc).__name__.lower()
    state.last_error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    state.consecutive_failures += 1
    state.bytes_last, state.seconds_last = upstream.bytes_received, round(seconds, 3)
    _history(state)
    log.warning("sync %s (%s): %s; the station keeps its sets", state.last_result, state.error_kind, state.last_error)


def _history(state: SyncState) -> None:
    entry = {"at": state.last_attempt, "result": state.last_result, "kind": state.error_kind,
             "bytes": state.bytes_last, "seconds": state.seconds_last}
    state.history = [entry] + state.history[:9]


def _sync(config: KitConfig, store: Store, upstream: Upstream, now: dt.datetime, state: SyncState) -> SyncResult:
    station = config.station
    assert station is not None
    latest_raw = upstream.get("LATEST", MAX_LATEST)
    set_id = latest_raw.decode("utf-8", "replace").strip()
    if not SET_ID.match(set_id):
        raise SyncRefused(f"{upstream.where('LATEST')}: does not name a set ({set_id[:40]!r})", kind="format")
    state.upstream_latest = set_id
    known = newest_known(store)
    if known is not None and set_id == known.set_id and (store.sets_dir / set_id).is_dir():
        if store.latest_id() != set_id:  # the publish got as far as the rename last time: finish it
            write_atomic(store.latest_file, (set_id + "\n").encode())
        return SyncResult("current", set_id, message=f"set {set_id} is already the newest here")
    if known is not None and set_id <= known.set_id:
        raise SyncRefused(f"upstream LATEST names set {set_id}, older than set {known.set_id} that this station "
                          "already has: rollback refused; the station keeps its sets", kind="rollback",
                          hint="if the exporter was really restored from backup, export a new set there")
    base = f"sets/{set_id}/"
    data = upstream.get(base + MANIFEST, MAX_MANIFEST)
    signature = upstream.get(base + SIGNATURE, MAX_SIGNATURE)
    if not crypto.check_signature(crypto.load_public(config.keys), data, signature):
        raise SyncRefused(f"{upstream.where(base + MANIFEST)}: not signed by the exporter key pinned in "
                          f"{config.keys / crypto.PUBLIC_KEY}: refused", kind="signature",
                          hint="a new exporter key is pinned only on purpose (docs/distribution.md, key rotation)")
    try:
        manifest = Manifest.from_bytes(data, upstream.where(base + MANIFEST))
    except IntegrityError as exc:
        raise SyncRefused(str(exc), kind="format") from None
    if manifest.set_id != set_id:
        raise SyncRefused(f"{upstream.where(base + MANIFEST)}: is the manifest of set {manifest.set_id}, "
                          f"not of {set_id}: refused", kind="mix-and-match")
    if manifest.status != "good":
        raise SyncRefused(f"upstream LATEST names a {manifest.status} set ({set_id}): refused", kind="status")
    if known is not None and _not_after(manifest.created_at, known.created_at):
        raise SyncRefused(f"set {set_id} was made {manifest.created_at}, not after set {known.set_id} "
                          f"({known.created_at}): rollback refused", kind="rollback")
    wanted = [f for f in manifest.files if station.wants(f.audience, f.unit)]
    _check_selection(config, manifest, wanted)
    unfit = [(e, why) for e, why in manifest.range_problems() if station.wants(e.audience, e.unit)]
    if unfit:  # it would not print: the station keeps its sets
        raise SyncRefused(f"{upstream.where(base + MANIFEST)}: list {unfit[0][0].label}: {unfit[0][1]}: set refused",
                          kind="format")
    held = _held_files(store)
    incoming = store.begin(set_id)
    reused = 0
    try:
        # each file once: a unit's binder also holds its lists' pages (store format 4)
        paths = {e.path for e in wanted}
        for entry in (e for e in manifest.stored() if e.path in paths):
            blob = _reuse(held.get(entry.sha256), entry)
            if blob is None:
                blob = upstream.get(base + entry.path, entry.bytes)
            else:
                reused += 1
            if len(blob) != entry.bytes or hashlib.sha256(blob).hexdigest() != entry.sha256:
                raise SyncRefused(f"{upstream.where(base + entry.path)}: size or SHA-256 does not match the signed "
                                  "manifest (swapped or damaged file): set refused", kind="hash")
            incoming.write(entry.path, blob)
        store.publish_signed(incoming, manifest, data, signature, make_latest=True)
    except BaseException:
        shutil.rmtree(incoming.path, ignore_errors=True)
        raise
    try:
        write_atomic(store.root / NEWEST_RECORD,
                     json.dumps({"set_id": set_id, "created_at": manifest.created_at}).encode())
    except OSError as exc:  # the set itself is the baseline too; the record only outlives its pruning
        log.warning("cannot write the rollback record %s: %s", store.root / NEWEST_RECORD, exc.strerror)
    decisions = apply_retention(store, config.retention, now)
    pruned = [d.set_id for d in decisions if not d.keep]
    return SyncResult("synced", set_id, files=len(paths), reused=reused, pruned=pruned,
                      message=f"set {set_id}: {len(paths)} of {len(manifest.stored())} files")


def _not_after(created: str, known: str) -> bool:
    """True when `created` is not later than `known` (times with offsets: compared as instants, not text)."""
    try:
        return dt.datetime.fromisoformat(created) <= dt.datetime.fromisoformat(known)
    except ValueError:
        return True  # an unreadable time cannot prove the set is newer


def _check_selection(config: KitConfig, manifest: Manifest, wanted: list) -> None:
    """A set without lists for one of this station's audiences or units is not taken (never an empty LATEST)."""
    station = config.station
    have_audiences = {f.audience for f in wanted}
    have_units = {f.unit for f in wanted}
    missing = [f"audience {a}" for a in station.audiences if a not in have_audiences]
    missing += [f"unit {u}" for u in station.units if u not in have_units]
    if missing:
        raise SyncRefused(f"set {manifest.set_id} has no lists for {', '.join(missing)} of this station: "
                          "not taken; the station keeps its sets", kind="selection",
                          hint=f"check [station] audiences/units in {config.path} against the exporter's units")


def _held_files(store: Store) -> dict[str, Path]:
    """sha256 -> a file this station already holds (so an unchanged list is not downloaded again)."""
    held: dict[str, Path] = {}
    for s in store.sets():
        if s.manifest is None:
            continue
        for f in s.manifest.files:
            held.setdefault(f.sha256, s.path / f.path)
    return held


def _reuse(path: Path | None, entry) -> bytes | None:
    if path is None:
        return None
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    return blob if hashlib.sha256(blob).hexdigest() == entry.sha256 else None
