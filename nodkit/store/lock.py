"""One export at a time: an OS-level lock on store/.lock.

The lock is an flock (POSIX) or msvcrt lock (Windows) held on an open file,
so the operating system releases it when the process dies, however it dies:
a lock "left behind" by a killed process is simply free again. The file
content (pid, start time, command) is only there to explain a refusal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from nodkit.errors import LockError
from nodkit.fsutil import FILE_MODE, try_lock as _try_lock


class KitLock:
    def __init__(self, path: Path, purpose: str):
        self.path = path
        self.purpose = purpose
        self.fd: int | None = None

    def __enter__(self) -> "KitLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        if not _try_lock(fd):
            holder = self._holder()
            os.close(fd)
            raise LockError(f"another nodkit process is busy with this kit ({holder}); try again when it has finished",
                            hint=f"lock file: {self.path}")
        info = {"pid": os.getpid(), "since": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                "purpose": self.purpose}
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(info).encode())
        except OSError:
            pass  # full disk: the note only explains a refusal; the lock itself is held
        return self

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            return f"{info.get('purpose', '?')}, pid {info.get('pid', '?')}, since {info.get('since', '?')}"
        except (OSError, ValueError):
            return "holder unknown"

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing releases the lock
            self.fd = None
