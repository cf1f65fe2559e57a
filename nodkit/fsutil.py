"""Durable, private file writes: 0600 files, 0700 folders, fsync, atomic replace.

The store's crash safety (DESIGN rule 5) rests on these: a file is written to
a temporary name in the same folder, fsynced, renamed over the target, and
the folder is fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """`path` as a 0700 folder; every folder it creates on the way is 0700 too (mkdir(parents=True)
    would leave those to the umask, e.g. an audience folder above a unit folder)."""
    if not path.parent.exists() and path.parent != path:
        private_dir(path.parent)
    path.mkdir(mode=DIR_MODE, exist_ok=True)
    try:
        os.chmod(path, DIR_MODE)
    except OSError:
        pass
    return path


def fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; NTFS journals renames
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> None:
    """Create `path` (must not exist) with mode 0600, write and fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data` (0600), durable across power loss."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


if os.name == "nt":  # pragma: no cover - Windows only
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Take an exclusive OS lock on the open file `fd` without waiting; False when another holds it."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Take an exclusive OS lock on the open file `fd` without waiting; False when another holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False


@contextmanager
def short_lock(path: Path, wait_seconds: float = 30.0):
    """Hold an exclusive OS lock on `path` for a short read-modify-write of a small file.

    Waits (unlike the kit lock, which refuses at once): the holders are quick
    (`password set`, an export forgetting old password generations), and the
    OS releases the lock when a holder dies. Raises TimeoutError after
    `wait_seconds`.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        deadline = time.monotonic() + wait_seconds
        while not try_lock(fd):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}: still locked after {wait_seconds:.0f} s")
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock
