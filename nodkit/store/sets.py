"""The store: sealed export sets on disk, published atomically.

Layout (docs/store-format.md):

    store/sets/<set-id>/      manifest.json, manifest.sig, <audience>/<unit>/<template>.pdf
    store/.incoming/<set-id>/ work in progress; renamed into sets/ only when complete
    store/LATEST              id of the newest good set
    store/.lock               held while exporting or pruning

Write order: every PDF (already encrypted) and the manifest are written and
fsynced inside .incoming/<id>/, then the folder is renamed into sets/, then
LATEST is replaced atomically. Removal renames a set back out of sets/ first
and deletes the files after. A crash at any instant leaves either the old or
the new state; `clean_debris` removes leftovers at the start of the next run.
"""

from __future__ import annotations

import datetime as dt
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


def new_set_id(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def safe_name(text: str) -> str:
    """A folder/file name that works on Linux and Windows; keeps Danish letters."""
    cleaned = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", text).strip(" .")
    return cleaned[:80] or "_"


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
        incoming.write(MANIFEST, data)
        incoming.write(SIGNATURE, crypto.sign(keys_dir, data))
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
        return ExportSet(incoming.id, target, manifest)

    def _latest_quietly(self) -> str | None:
        try:
            return self.latest_id()
        except StoreError:
            return None

    def latest_id(self) -> str | None:
        try:
            text = self.latest_file.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{self.latest_file}: cannot read: {exc.strerror}") from None
        return text or None

    def load(self, set_id: str) -> ExportSet:
        path = self.sets_dir / set_id
        try:
            manifest = Manifest.from_bytes((path / MANIFEST).read_bytes(), str(path / MANIFEST))
        except FileNotFoundError:
            return ExportSet(set_id, path, None, f"{path / MANIFEST}: missing")
        except Exception as exc:  # IntegrityError and OSError both make the set unreadable
            return ExportSet(set_id, path, None, str(exc))
        return ExportSet(set_id, path, manifest)

    def sets(self) -> list[ExportSet]:
        """All published sets, newest first."""
        if not self.sets_dir.exists():
            return []
        ids = sorted((p.name for p in self.sets_dir.iterdir() if p.is_dir() and SET_ID.match(p.name)), reverse=True)
        return [self.load(i) for i in ids]

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
