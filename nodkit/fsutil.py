"""Durable file writes with the kit's modes: fsync, atomic replace, private or shared.

The store's crash safety (DESIGN rule 5) rests on these: a file is written to
a temporary name in the same folder, fsynced, renamed over the target, and
the folder is fsynced so the rename itself survives a power cut.

Modes (docs/design.md, "Accounts and permissions"): the folder decides. A
folder shared with the staff group carries the set-group-ID bit (the group
then passes to everything created in it); what is written there is 0640 and
a new folder 02750, so staff can read what the service writes after set-up
(new sets, LATEST, a station's sync). Anywhere else a file is 0600 and a
folder 0700. The mode is set on the open file, so a narrow umask (systemd's
UMask=0077) cannot hide a new set from staff. Secrets never follow the
folder: their writers pass `mode=SECRET_MODE`.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
SECRET_MODE = 0o600  # keys/ secrets: never group- or world-readable, whatever the folder
SHARED_FILE_MODE = 0o640
SHARED_DIR_MODE = 0o2750


def is_shared(folder: Path) -> bool:
    """Is `folder` shared with the staff group (set-group-ID bit, set by nodkit.security.access)?"""
    try:
        return bool(os.stat(folder).st_mode & stat.S_ISGID)
    except OSError:
        return False


def file_mode(folder: Path) -> int:
    """The mode of a new file in `folder`."""
    return SHARED_FILE_MODE if is_shared(folder) else FILE_MODE


def private_dir(path: Path) -> Path:
    """`path` as a kit folder. A new one is 0700, or 02750 inside a shared folder; every folder it creates
    on the way gets the same rule (mkdir(parents=True) would leave those to the umask, e.g. an audience
    folder above a unit folder). An existing shared folder is left as IT set it up (`nodkit
    permissions`); any other existing folder is made 0700 again. keys/ is `secret_dir`'s."""
    if not path.parent.exists() and path.parent != path:
        private_dir(path.parent)
    if path.is_dir():
        if not is_shared(path):
            _set_mode(path, DIR_MODE)
        return path
    shared = is_shared(path.parent)
    path.mkdir(mode=0o750 if shared else DIR_MODE, exist_ok=True)
    _set_mode(path, SHARED_DIR_MODE if shared else DIR_MODE)
    return path


def secret_dir(path: Path) -> Path:
    """`path` (keys/) as a folder of secrets: never shared, whatever its parent. A new one is 0700 (the
    set-group-ID bit a shared parent passes on is cleared); an existing one loses group/other read and
    write and the set-group-ID bit, and keeps the traversal bit staff need for signing.pub (0711)."""
    if not path.parent.exists() and path.parent != path:
        private_dir(path.parent)
    if path.is_dir():
        _tighten(path)
        return path
    path.mkdir(mode=DIR_MODE, exist_ok=True)
    _set_mode(path, DIR_MODE)
    return path


def _tighten(path: Path) -> None:
    """No set-group-ID bit, no group/other read or write; the traversal bits stay (keys/ 0711)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if mode & (0o066 | stat.S_ISGID):
        _set_mode(path, mode & ~(0o066 | stat.S_ISGID))


def _set_mode(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(os.stat(path).st_mode) != mode:
            os.chmod(path, mode)
    except OSError:
        pass  # not ours to change (another owner); `nodkit verify` names a folder staff cannot read


def fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a directory for fsync; NTFS journals renames
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, mode: int | None = None) -> None:
    """Create `path` (must not exist) with `mode` (default: by its folder, see above), write and fsync."""
    mode = file_mode(path.parent) if mode is None else mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        if hasattr(os, "fchmod") and mode != FILE_MODE:
            os.fchmod(fd, mode)  # the umask may have narrowed the mode given to open()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` atomically with `data` (`mode` as in write_new), durable across power loss."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write_new(tmp, data, mode)
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
