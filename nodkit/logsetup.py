"""Logging, configured once at the entry point on the `nodkit` logger.

stderr gets warnings (info with -v); the kit's logs/nodkit.log (0600,
rotating 5 x 2 MB; 0660 in a logs/ shared with the staff group, which the
service and every staff login write) gets info and up. Modules log counts, ids and file
names, never values from the data (personal data stays out of logs).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_quiet = False  # a staff command: no English log lines on the staff's screen (the log file keeps them)


def setup_stderr(verbose: int, *, staff: bool = False) -> None:
    """Log lines on stderr: warnings (info with -v). For a command staff run (`staff`), none unless
    -v is given: what staff need to know the command says itself, in Danish."""
    global _quiet
    _quiet = staff and not verbose
    root = logging.getLogger("nodkit")
    root.setLevel(logging.DEBUG)
    level = (logging.CRITICAL + 1 if _quiet else
             logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    for handler in root.handlers:
        if getattr(handler, "_nodkit_stderr", False):
            handler.setLevel(level)  # once per process; a later command (in-process tests) sets its own level
            return
    handler = logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("nodkit: %(levelname)s: %(message)s"))
    handler._nodkit_stderr = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def _log_mode(folder: Path) -> int:
    from nodkit.fsutil import is_shared
    return 0o660 if is_shared(folder) else 0o600


class _LogFileHandler(logging.handlers.RotatingFileHandler):
    """The kit's log file. When it cannot be written (disk full), say so once on stderr in one
    line and carry on: the logging module's default is a traceback on every record."""

    _warned = False

    def _open(self):
        """A new file (also after a rotation) gets the folder's mode, not the umask's: in a shared logs/
        the next writer may be another login."""
        mode = _log_mode(Path(self.baseFilename).parent)
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
        try:
            if os.fstat(fd).st_size == 0 and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
        except OSError:
            pass
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if self._warned:
            return
        self._warned = True
        exc = sys.exc_info()[1]
        reason = getattr(exc, "strerror", None) or exc
        _say(f"nodkit: warning: cannot write the log file {self.baseFilename}: {reason}\n")


def _say(text: str) -> None:
    """One line on stderr about logging itself; not on a staff screen."""
    if _quiet:
        return
    try:
        sys.stderr.write(text)
    except Exception:
        pass


_told_no_file = False


def setup_file(home: Path) -> bool:
    """Log to logs/nodkit.log when it can be written; True when it is (or already was) set up.

    Optional by design (issue 16): a kit on a read-only medium (a USB copy, a
    disk the kernel remounted read-only) must still print, list and verify,
    so a log file that cannot be opened is said once on stderr, never fatal.
    """
    root = logging.getLogger("nodkit")
    logs = home / "logs"
    if any(getattr(h, "_nodkit_file", None) == str(logs) for h in root.handlers):
        return True
    if not logs.is_dir():
        return False
    path = logs / "nodkit.log"
    try:
        handler = _LogFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    except OSError as exc:
        root.debug("no log file: %s", exc)
        global _told_no_file
        if not _told_no_file:
            _told_no_file = True
            _say(f"nodkit: warning: cannot write the log file {path}: {exc.strerror or exc}; "
                 "messages go to stderr only\n")
        return False
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._nodkit_file = str(logs)  # type: ignore[attr-defined]
    root.addHandler(handler)
    return True


def traceback_to_file(message: str) -> bool:
    """Write `message` and the current exception's traceback to the log file only (never stderr:
    a user sees one line, IT finds the details in logs/nodkit.log). True when a log file took it."""
    root = logging.getLogger("nodkit")
    record = root.makeRecord(root.name, logging.ERROR, __file__, 0, message, (), sys.exc_info())
    files = [h for h in root.handlers if getattr(h, "_nodkit_file", None)]
    for handler in files:
        handler.handle(record)
    return bool(files)
