"""The store: sealed export sets on disk, published atomically.

Layout (docs/store-format.md):

    store/sets/<set-id>/      manifest.json, manifest.sig, <audience>/<unit>/<template>.pdf
    store/.incoming/<set-id>/ work in progress; renamed into sets/ only when complete
    store/LATEST              id of the newest good set
    store/PUBLISHED           the set id nodkit last made LATEST, Ed25519-signed (rollback check)
    store/.lock               held while exporting or pruning

Write order: every PDF (already encrypted) and the manifest are written and
fsynced inside .incoming/<id>/, then the folder is renamed into sets/, then
LATEST is replaced atomically. Removal renames a set back out of sets/ first
and deletes the files after. A crash at any instant leaves either the old or
the new state; `clean_debris` removes leftovers at the start of the next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from nodkit.security import crypto
from nodkit.errors import StoreError
from nodkit.fsutil import fsync_dir, private_dir, write_atomic, write_new
from nodkit.store.lock import KitLock
from nodkit.store.manifest import Manifest

log = logging.getLogger(__name__)

SET_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLISHED = "PUBLISHED"


def _published_message(set_id: str) -> bytes:
    """What store/PUBLISHED's signature covers: bound to its purpose, so no other signature fits."""
    return f"nodkit published set: {set_id}\n".encode()


def new_set_id(now: dt.datetime, after: str | None = None) -> str:
    """A new set's id: its UTC second and 4 random hex digits, sorting after `after` (the newest
    set in the store). Every reader takes the newest set by the order of the ids, so two sets made
    in the same second (or with the clock set back) must still sort in the order they were made."""
    stamp, low = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"), 0
    if after is not None and SET_ID.match(after) and after[:16] >= stamp:
        stamp, low = after[:16], int(after[17:], 16) + 1
        if low > 0xFFFF:  # the newest set took the second's last suffix: the next second
            second = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") + dt.timedelta(seconds=1)
            stamp, low = second.strftime("%Y%m%dT%H%M%SZ"), 0
    return f"{stamp}-{low + secrets.randbelow(min(0x100, 0x10000 - low)):04x}"  # room for more in that second


NAME_LIMIT = 80


def safe_name(text: str) -> str:
    """A folder/file name that works on Linux and Windows; keeps Danish letters."""
    cleaned = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", text).strip(" .")
    return cleaned[:NAME_LIMIT] or "_"


class UnitFolders:
    """One folder name per unit name within a set, unique by construction.

    `safe_name` is lossy ('Nord/Syd' and 'Nord_Syd', '..' and '_', names
    equal in their first 80 characters), and Windows folds case ('Nord',
    'nord'). A name that `safe_name` changed, or that would meet another in
    case-folded form, gets '-' and 8 hex digits of the SHA-256 of the real
    name, so two units never share a folder. The real name stays in the
    manifest (`unit`) and on the pages.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, str] = {}
        self._taken: dict[str, str] = {}  # case-folded folder -> the unit name it belongs to

    def folder(self, name: str) -> str:
        if name in self._by_name:
            return self._by_name[name]
        base = safe_name(name)
        folder = base if base == name else self._suffixed(base, name)
        if self._taken.get(folder.casefold(), name) != name:
            folder = self._suffixed(base, name)
        self._taken[folder.casefold()] = name
        self._by_name[name] = folder
        return folder

    @staticmethod
    def _suffixed(base: str, name: str) -> str:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return f"{base[:NAME_LIMIT - 9]}-{digest}"


@dataclass
class ExportSet:
    id: str
    path: Path
    manifest: Manifest | None
    error: str | None = None  # why the manifest could not be read

    @property
    def created_at(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.manifest.created_at) if self.manifest else None

    @property
    def status(self) -> str:
        return self.manifest.status if self.manifest else "broken"

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


class Incoming:
    """A set being written; nothing in it is visible until `Store.publish`."""

    def __init__(self, path: Path, set_id: str):
        self.path, self.id = path, set_id

    def write(self, relpath: str, data: bytes) -> None:
        target = self.path / relpath
        private_dir(target.parent)
        try:
            write_new(target, data)
        except OSError as exc:
            raise StoreError(f"{target}: cannot write: {exc.strerror}") from None


class Store:
    def __init__(self, root: Path):
        self.root = root
        self.sets_dir = root / "sets"
        self.incoming_dir = root / ".incoming"
        self.latest_file = root / "LATEST"
        self.published_file = root / PUBLISHED

    def ensure(self) -> None:
        for folder in (self.root, self.sets_dir, self.incoming_dir):
            private_dir(folder)

    def lock(self, purpose: str) -> KitLock:
        self.ensure()
        return KitLock(self.root / ".lock", purpose)

    def clean_debris(self) -> list[str]:
        """Remove unfinished work left by a crash. Call only while holding the lock."""
        removed = []
        if self.incoming_dir.exists():
            for entry in self.incoming_dir.iterdir():
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed.append(entry.name)
        for entry in self.root.glob(".*.tmp"):  # fsutil.write_atomic temp files (LATEST, the guide)
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
        if removed:
            log.warning("removed %d unfinished item(s) left by an interrupted run", len(removed))
        return removed

    def begin(self, set_id: str) -> Incoming:
        self.ensure()
        path = self.incoming_dir / set_id
        private_dir(path)
        return Incoming(path, set_id)

    def publish(self, incoming: Incoming, manifest: Manifest, keys_dir: Path, *, make_latest: bool) -> ExportSet:
        data = manifest.to_bytes()
        return self.publish_signed(incoming, manifest, data, crypto.sign(keys_dir, data), make_latest=make_latest,
                                   record_with=keys_dir)

    def publish_signed(self, incoming: Incoming, manifest: Manifest, data: bytes, signature: bytes, *,
                       make_latest: bool, record_with: Path | None = None) -> ExportSet:
        """Steps 4-6 of the write order with a manifest signed elsewhere (a station publishing a synced set).

        `record_with`: the keys folder whose signing key signs store/PUBLISHED (the exporter's rollback
        record); a station keeps its own record of the newest set it took (nodkit.distribution.sync)."""
        incoming.write(MANIFEST, data)
        incoming.write(SIGNATURE, signature)
        for folder, _dirs, _files in os.walk(incoming.path, topdown=False):
            fsync_dir(Path(folder))
        target = self.sets_dir / incoming.id
        try:
            os.rename(incoming.path, target)
        except OSError as exc:
            raise StoreError(f"{target}: cannot publish: {exc.strerror}") from None
        try:
            fsync_dir(self.sets_dir)
            if make_latest:
                write_atomic(self.latest_file, (incoming.id + "\n").encode())
        except OSError as exc:
            # A failed run leaves no new set behind (e.g. the disk filled up writing LATEST):
            # move it back to .incoming/, where the caller or the next run removes it.
            # Never when LATEST already names it (the replace happened, only its fsync failed).
            if self._latest_quietly() != incoming.id:
                try:
                    os.rename(target, incoming.path)
                    fsync_dir(self.sets_dir)
                except OSError:
                    pass
            raise StoreError(f"{self.latest_file}: cannot publish set {incoming.id}: {exc.strerror}") from None
        if make_latest and record_with is not None:
            self._record_published(incoming.id, record_with)
        return ExportSet(incoming.id, target, manifest)

    def _record_published(self, set_id: str, keys_dir: Path) -> None:
        """store/PUBLISHED: the set just made LATEST, signed. Written after LATEST, so a crash between
        leaves the record one set behind LATEST (harmless), never ahead of it."""
        try:
            write_atomic(self.published_file,
                         (set_id + "\n").encode() + crypto.sign(keys_dir, _published_message(set_id)))
        except OSError as exc:
            log.warning("%s: cannot record set %s as published: %s", self.published_file, set_id, exc.strerror)

    def published_id(self, public) -> tuple[str | None, str | None]:
        """(the set id nodkit last made LATEST, why the record cannot be trusted); (None, None) when
        there is no record yet (a kit from before the record existed)."""
        try:
            raw = self.published_file.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"cannot read: {exc.strerror}"
        head, _, signature = raw.partition(b"\n")
        set_id = head.decode("ascii", "replace")
        if not SET_ID.match(set_id) or not crypto.check_signature(public, _published_message(set_id), signature):
            return None, "signature does not match (edited, damaged or copied from another kit)"
        return set_id, None

    def rollback(self, public) -> str | None:
        """Why LATEST is older than a set nodkit already published (a rolled-back kit), or None."""
        published, problem = self.published_id(public)
        if problem:
            return f"{self.published_file}: {problem}"
        latest = self._latest_quietly()
        if published and latest != published and (latest is None or latest < published):
            return (f"LATEST names {latest or 'nothing'}, but set {published} was published after it "
                    "(LATEST or the store rolled back)")
        return None

    def _latest_quietly(self) -> str | None:
        try:
            return self.latest_id()
        except StoreError:
            return None

    def latest_id(self) -> str | None:
        try:  # whatever bytes it holds: a name that is no set id is then a set that does not exist
            text = self.latest_file.read_bytes().decode("utf-8", "backslashreplace").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{self.latest_file}: cannot read: {exc.strerror}") from None
        return text or None

    def load(self, set_id: str) -> ExportSet:
        path = self.sets_dir / set_id
        if not SET_ID.match(set_id):  # never a path outside sets/ ('..', '/')
            return ExportSet(set_id, self.sets_dir / "?", None, f"{set_id!r} is not a set id")
        try:
            manifest = Manifest.from_bytes((path / MANIFEST).read_bytes(), str(path / MANIFEST))
        except FileNotFoundError:
            return ExportSet(set_id, path, None, f"{path / MANIFEST}: missing")
        except Exception as exc:  # IntegrityError and OSError both make the set unreadable
            return ExportSet(set_id, path, None, str(exc))
        if manifest.set_id != set_id:  # the signed id is the truth: an old set copied under a new name
            return ExportSet(set_id, path, None, f"{path / MANIFEST}: the manifest is set {manifest.set_id}, "
                                                 f"not {set_id} (a set copied under another name: rollback?)")
        return ExportSet(set_id, path, manifest)

    def _ids(self) -> list[str]:
        """The ids of the folders in sets/, newest first (the order of the ids)."""
        if not self.sets_dir.exists():
            return []
        return sorted((p.name for p in self.sets_dir.iterdir() if p.is_dir() and SET_ID.match(p.name)), reverse=True)

    def sets(self) -> list[ExportSet]:
        """All published sets, newest first."""
        return [self.load(i) for i in self._ids()]

    def newest_id(self) -> str | None:
        """The id that sorts last in sets/ (whatever its state), or None."""
        return next(iter(self._ids()), None)

    def newest_good(self) -> ExportSet | None:
        return next((s for s in self.sets() if s.status == "good"), None)

    def remove(self, set_id: str) -> None:
        """Take the set out of sets/ atomically, then delete its files."""
        if set_id == self.latest_id():
            raise StoreError(f"refusing to remove {set_id}: it is LATEST")
        source = self.sets_dir / set_id
        trash = self.incoming_dir / f"removing-{set_id}"
        private_dir(self.incoming_dir)
        os.rename(source, trash)
        fsync_dir(self.sets_dir)
        shutil.rmtree(trash)


def retention_plan(store: Store, policy, now: dt.datetime):
    """The retention decisions for every published set, newest first (reads only).

    Unreadable (broken) sets are never removed automatically: they are
    evidence for `verify`, and removing what cannot be read is IT's call.
    """
    from nodkit.store.retention import Decision, SetInfo, plan

    infos, broken = [], []
    for s in store.sets():
        if s.manifest is not None and s.created_at is not None:
            infos.append(SetInfo(s.id, s.created_at, s.status))
        else:
            broken.append(Decision(s.id, True, "unreadable manifest: kept for inspection, remove by hand",
                                   "unreadable"))
    decisions = plan(infos, policy, now, store.latest_id()) + broken
    return sorted(decisions, key=lambda d: d.set_id, reverse=True)


def apply_retention(store: Store, policy, now: dt.datetime, *, dry_run: bool = False):
    """Plan retention over every published set and carry it out (unless dry_run).

    The caller holds the store lock (export does; `prune` takes it).
    """
    decisions = retention_plan(store, policy, now)
    if not dry_run:
        for d in decisions:
            if not d.keep:
                store.remove(d.set_id)
                log.info("pruned set %s: %s", d.set_id, d.reason)
    return decisions


@dataclass
class PruneResult:
    decisions: list
    debris: list[str]
    dry_run: bool


def prune(store: Store, policy, now: dt.datetime, *, dry_run: bool = False) -> PruneResult:
    """`nodkit prune`: under the store lock, remove .incoming debris and apply retention."""
    with store.lock("prune"):
        if dry_run:
            debris = sorted(p.name for p in store.incoming_dir.iterdir()) if store.incoming_dir.exists() else []
        else:
            debris = store.clean_debris()
        decisions = apply_retention(store, policy, now, dry_run=dry_run)
    return PruneResult(decisions=decisions, debris=debris, dry_run=dry_run)
