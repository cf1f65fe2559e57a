"""The audit log: an append-only, hash-chained record of every decrypt and print.

File: <kit home>/audit.log (0600) on a single-account kit; on a kit set up
for separate staff logins (nodkit.security.access) one chain per login,
audit/<login>.log (0640, the login's own, in a sticky folder: no other login
can remove or replace it), read and verified together. One JSON object per
line (UTF-8, sorted keys). Every record carries:

    seq     1, 2, 3 … without gaps
    prev    SHA-256 (hex) of the previous record's line, exactly as written
            (without the newline); 64 zeros for the first record
    hash    SHA-256 (hex) of this record's canonical JSON without "hash"
    time    ISO 8601 with offset, the kit's timezone
    user    the OS user who ran nodkit
    action  "print" | "decrypt" | "preview" (the kiosk showed page 1) | "drill"
    set, files, pages, printer, copies, result ("ok" or why it failed)

<kit home>/audit.head (audit/<login>.head) holds the seq and line hash of
the newest record of its chain, so a removed tail is noticed too.

Appends are atomic (issue 16): one `write` of the whole line, its length
checked; a short write (full disk) is cut off again at once. A crash in the
middle of a write leaves a *torn tail*: bytes after the last newline that
are not a record, while audit.head still names the record before them.
`verify` reports that as an interrupted write (`torn_tail`), not as
tampering, and the next append cuts it off before it writes. A tail cut
from a record that audit.head already names is still reported as removed. `verify_log` names the first record that was
edited, removed or reordered. The chain detects careless or casual editing;
someone with write access who recomputes every hash is not stopped by it
(docs/printing.md, "Audit log").

No personal data is written: file paths name audience, unit and list, never
a person. The password typed is never recorded.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nodkit.errors import IntegrityError, StoreError
from nodkit.fsutil import FILE_MODE, SHARED_FILE_MODE, write_atomic

log = logging.getLogger(__name__)

LOG_NAME = "audit.log"
HEAD_NAME = "audit.head"
CHAIN_DIR = "audit"  # one chain per login (a kit with a staff group)
GENESIS = "0" * 64
FIELDS = ("action", "copies", "files", "hash", "pages", "prev", "printer", "result", "seq", "set", "time", "user")


def os_user() -> str:
    """The login running nodkit, from the process's user id (not $USER, which a login can set to anything)."""
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        pass
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment (service account, container)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "ukendt"


def _canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class AuditRecord:
    seq: int
    time: str
    user: str
    action: str
    set: str | None
    files: list[str]
    pages: int
    printer: str | None
    copies: int
    result: str
    prev: str = GENESIS
    hash: str = ""

    def body(self) -> dict:
        data = {k: getattr(self, k) for k in FIELDS if k != "hash"}
        return data

    def line(self) -> bytes:
        data = self.body()
        data["hash"] = _sha(_canonical(self.body()))
        return _canonical(data)


@dataclass
class Problem:
    seq: int | None
    line: int | None
    message: str
    file: str | None = None  # the chain (audit/<login>.log) on a kit with one chain per login

    def __str__(self) -> str:
        where = f"record {self.seq}" if self.seq is not None else "audit log"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{self.file}: {where}: {self.message}" if self.file else f"{where}: {self.message}"


@dataclass
class VerifyResult:
    records: int
    problems: list[Problem] = field(default_factory=list)
    torn_tail: int = 0  # bytes of an interrupted write after the last record (not tampering)

    @property
    def ok(self) -> bool:
        return not self.problems


def _chain_name(user: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in user).lstrip(".") or "_"


class AuditLog:
    """The kit's audit log: appends go to this login's chain; records and verify cover every chain."""

    def __init__(self, home: Path):
        self.home = home
        self.shared = (home / CHAIN_DIR).is_dir()
        if self.shared:
            name = _chain_name(os_user())
            self.path, self.head = home / CHAIN_DIR / f"{name}.log", home / CHAIN_DIR / f"{name}.head"
        else:
            self.path, self.head = home / LOG_NAME, home / HEAD_NAME

    def chains(self) -> list[tuple[str | None, Path, Path]]:
        """(label, log, head) of every chain: a kit's single audit.log (its history from before the staff
        group, on a shared kit), then one per login."""
        out = []
        if (self.home / LOG_NAME).exists() or not self.shared:
            out.append((LOG_NAME if self.shared else None, self.home / LOG_NAME, self.home / HEAD_NAME))
        if self.shared:
            for path in sorted((self.home / CHAIN_DIR).glob("*.log")):
                out.append((f"{CHAIN_DIR}/{path.name}", path, path.with_suffix(".head")))
        return out

    @contextmanager
    def _locked(self):
        mode = SHARED_FILE_MODE if self.shared else FILE_MODE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), mode)
        try:
            if self.shared and hasattr(os, "fchmod") and os.fstat(fd).st_size == 0:
                os.fchmod(fd, mode)  # a new chain: readable by the staff group (verify), whatever the umask
            try:
                import fcntl
                fcntl.flock(fd, fcntl.LOCK_EX)
            except ImportError:  # Windows: a single interactive user; no lock needed in practice
                pass
            yield fd
        finally:
            os.close(fd)

    def append(self, *, action: str, set_id: str | None, files: list[str], pages: int, printer: str | None,
               copies: int, result: str, now: dt.datetime, user: str | None = None) -> AuditRecord:
        """Add one record; the chain continues from the last line on disk."""
        try:
            with self._locked() as fd:
                size = _cut_torn_tail(fd, self.path, os.fstat(fd).st_size)
                last_line = _last_line(self.path, size)
                seq, prev = 1, GENESIS
                if last_line is not None:
                    try:
                        seq = int(json.loads(last_line)["seq"]) + 1
                    except (ValueError, KeyError, TypeError):
                        seq = sum(1 for _ in self.path.open("rb")) + 1
                    prev = _sha(last_line)
                record = AuditRecord(seq=seq, time=now.isoformat(timespec="seconds"), user=user or os_user(),
                                     action=action, set=set_id, files=list(files), pages=pages, printer=printer,
                                     copies=copies, result=result, prev=prev)
                line = record.line()
                record.hash = json.loads(line)["hash"]
                _append_whole(fd, line + b"\n", size)
                write_atomic(self.head, json.dumps({"seq": seq, "line_sha256": _sha(line)}).encode() + b"\n")
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot append to the audit log: {exc.strerror}") from None
        log.info("audit: %s set=%s files=%d pages=%d result=%s", action, set_id, len(files), pages,
                 "ok" if result == "ok" else "failed")
        return record

    def append_if_possible(self, **record) -> str | None:
        """`append`, for a print that has already happened or cannot wait: None when recorded, else why not.

        Decision (docs/printing.md, "Audit log"): during an outage the paper
        matters more than its record, so a print from a read-only medium or a
        full disk goes ahead; the caller must say that it was not recorded.
        """
        try:
            self.append(**record)
            return None
        except StoreError as exc:
            log.warning("audit record not written: %s", exc)
            return str(exc)

    def records(self) -> list[dict]:
        """Every record as written (for `audit show`), every chain, in time order; unreadable lines are
        skipped here, verify names them."""
        out = []
        for _label, path, _head in self.chains():
            for _number, raw in _lines(path):
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    out.append(record)
        if len(self.chains()) > 1:
            out.sort(key=_record_time)
        return out

    def verify(self) -> VerifyResult:
        """Every chain checked on its own; a chain in audit/ must also belong to the login it is named after."""
        total = VerifyResult(records=0)
        for label, path, head in self.chains():
            try:
                one = _verify_chain(path, head)
            except StoreError as exc:  # another login's chain this login may not read: not "intact"
                total.problems.append(Problem(None, None, str(exc), label))
                continue
            for problem in one.problems:
                problem.file = label
            total.records += one.records
            total.problems += one.problems
            total.torn_tail += one.torn_tail
            if label is not None and label != LOG_NAME:
                total.problems += _owner_problems(label, path)
        return total

    def check(self) -> VerifyResult:
        """verify() that raises IntegrityError naming the first problem."""
        result = self.verify()
        if not result.ok:
            more = f" (and {len(result.problems) - 1} more problem(s))" if len(result.problems) > 1 else ""
            first = result.problems[0]
            raise IntegrityError((f"{self.home}/{first}" if first.file else f"{self.path}: {first}") + more)
        return result

    def _read_head(self) -> tuple[int, str] | None:
        return _read_head(self.head)


def _record_time(record: dict) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(record.get("time")))
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _owner_problems(label: str, path: Path) -> list[Problem]:
    """audit/anna.log must be anna's: a chain owned by another login was written (or replaced) by it."""
    try:
        import pwd
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return []
    if _chain_name(owner) != path.stem:
        return [Problem(None, None, f"owned by '{owner}', not by the login it is named after", label)]
    return []


def _verify_chain(path: Path, head_path: Path) -> VerifyResult:
    """One chain: the records in order, each hash and link, and the head file naming the last."""
    problems: list[Problem] = []
    prev_line: bytes | None = None
    expected_seq = 1
    count = 0
    lines = list(_lines(path))
    torn = 0
    if lines and _is_torn(path, lines[-1][1]):
        torn = len(lines.pop()[1])
    for number, raw in lines:
        count += 1
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            problems.append(Problem(None, number, "not a readable record (edited or damaged)"))
            prev_line = raw
            expected_seq += 1
            continue
        seq = data.get("seq")
        claimed = data.get("hash")
        body = {k: v for k, v in data.items() if k != "hash"}
        if set(data) != set(FIELDS):
            problems.append(Problem(seq, number, "fields added or removed (record edited)"))
        elif claimed != _sha(_canonical(body)):
            problems.append(Problem(seq, number, "content does not match its hash (record edited)"))
        if seq != expected_seq:
            if isinstance(seq, int) and seq > expected_seq:
                missing = f"record {expected_seq}" if seq == expected_seq + 1 else f"records {expected_seq}–{seq - 1}"
                problems.append(Problem(seq, number, f"{missing} missing before it (removed)"))
            else:
                problems.append(Problem(seq, number, f"expected record number {expected_seq} here "
                                                     "(records reordered, duplicated or renumbered)"))
        want_prev = GENESIS if prev_line is None else _sha(prev_line)
        if data.get("prev") != want_prev and seq == expected_seq:
            problems.append(Problem(seq, number, "does not follow the record before it "
                                                 "(the previous record was edited or replaced)"))
        prev_line = raw
        expected_seq = (seq + 1) if isinstance(seq, int) else expected_seq + 1
    head = _read_head(head_path)
    if head == (-1, ""):
        problems.append(Problem(None, None, f"{head_path} is unreadable (edited or damaged)"))
    elif head is not None:
        head_seq, head_sha = head
        last_seq = expected_seq - 1
        if head_seq > last_seq:
            gone = f"record {head_seq}" if head_seq == last_seq + 1 else f"records {last_seq + 1}–{head_seq}"
            problems.append(Problem(None, None, f"{gone} missing at the end (removed; {head_path.name} "
                                                f"says the newest record is {head_seq})"))
        elif head_seq == last_seq and prev_line is not None and _sha(prev_line) != head_sha:
            problems.append(Problem(last_seq, count, f"does not match {head_path.name} (newest record edited)"))
    elif count:
        problems.append(Problem(None, None, f"{head_path} missing: the end of the log cannot be checked"))
    return VerifyResult(records=count, problems=problems, torn_tail=torn)


def _read_head(head: Path) -> tuple[int, str] | None:
    try:
        data = json.loads(head.read_text("utf-8"))
        return int(data["seq"]), str(data["line_sha256"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, OSError):
        return (-1, "")


def _lines(path: Path):
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror}") from None
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            yield number, raw


def _is_torn(path: Path, last: bytes) -> bool:
    """Is `last` (the final line) an interrupted write: no newline after it, and not a whole record?"""
    try:
        with path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return False
    except OSError:
        return False
    try:
        return not isinstance(json.loads(last), dict)
    except ValueError:
        return True


def _cut_torn_tail(fd: int, path: Path, size: int) -> int:
    """Cut an interrupted write off the end of the log (see the module docstring); the new size."""
    if size == 0:
        return 0
    with path.open("rb") as fh:
        back = min(size, 65536)
        fh.seek(size - back)
        tail = fh.read()
    if tail.endswith(b"\n"):
        return size
    cut = tail.rfind(b"\n")
    if cut < 0 and back < size:
        return size  # one enormous line: leave it to verify
    piece = tail[cut + 1:]
    try:
        if isinstance(json.loads(piece), dict):
            os.write(fd, b"\n")  # a whole record without its newline: keep it, end the line
            return size + 1
    except ValueError:
        pass
    keep = size - len(piece)
    os.ftruncate(fd, keep)
    log.warning("audit: cut off %d byte(s) of an interrupted write at the end of %s", len(piece), path)
    return keep


def _append_whole(fd: int, data: bytes, size: int) -> None:
    """Append `data` in one write; a short or failed write is cut off again so no torn record stays."""
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(28, "No space left on device (short write)")
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError:
            pass  # the next append or verify recognises the torn tail
        raise


def _last_line(path: Path, size: int) -> bytes | None:
    if size == 0:
        return None
    with path.open("rb") as fh:
        back = min(size, 65536)
        fh.seek(size - back)
        tail = fh.read()
    lines = [line for line in tail.split(b"\n") if line.strip()]
    if not lines:
        return None
    if back < size and len(lines) == 1:  # one enormous line: read it all
        lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    return lines[-1]
