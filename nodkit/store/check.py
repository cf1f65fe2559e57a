"""store/CHECKED: the last export run that found every source unchanged.

When an export reads every dataset successfully and each one's digest equals
the one in the newest good set (LATEST), no new set is written (the lists
would be the same); the run records here when it checked, against which set,
and since when the sources are unchanged. Freshness (verify, status, the
scheduler's catch-up) is then judged from `checked_at` instead of the set's
creation time — but only while the record names the current LATEST, is newer
than it and carries a valid Ed25519 signature of the kit's key, so a stale,
copied or hand-edited file can never make old lists look fresh.

Format: canonical JSON (sorted keys) of the record plus "signature", the base64
signature over the same JSON without that key. Written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from nodkit.security import crypto
from nodkit.errors import IntegrityError
from nodkit.fsutil import write_atomic

log = logging.getLogger(__name__)

FILE = "CHECKED"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CheckRecord:
    checked_at: str       # ISO 8601 with offset: when the sources were read and found unchanged
    set_id: str           # the good set (LATEST) they were compared with
    unchanged_since: str  # that set's created_at: the sources have not changed since
    datasets: dict        # dataset -> digest, as read by this check (equal to the set's)
    format_version: int = FORMAT_VERSION

    @property
    def checked(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.checked_at)

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.unchanged_since)

    def text(self, tz: dt.tzinfo) -> str:
        """'checked at 10.30, sources unchanged since 08.00' (with the date when it is another day)."""
        checked, since = self.checked.astimezone(tz), self.since.astimezone(tz)
        since_text = f"{since:%H.%M}" if since.date() == checked.date() else f"{since:%Y-%m-%d %H.%M}"
        return f"checked at {checked:%H.%M}, sources unchanged since {since_text} (set {self.set_id})"

    def _payload(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False).encode("utf-8")


def write_check(store_root: Path, record: CheckRecord, keys_dir: Path) -> None:
    """Sign and replace store/CHECKED. The caller holds the store lock."""
    signature = crypto.sign(keys_dir, record._payload()).decode("ascii").strip()
    data = json.dumps({**asdict(record), "signature": signature}, sort_keys=True, ensure_ascii=False, indent=1)
    write_atomic(store_root / FILE, (data + "\n").encode("utf-8"))


def read_check(store_root: Path, public) -> CheckRecord | None:
    """The record, or None when there is none. Raises IntegrityError when it is
    unreadable or its signature does not match (verify reports that; nothing trusts it)."""
    path = store_root / FILE
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: unreadable ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
        raise IntegrityError(f"{path}: not a check record this nodkit reads")
    signature = raw.pop("signature", None)
    try:
        record = CheckRecord(**raw)
        record.checked, record.since  # noqa: B018 - the times must parse
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"{path}: fields do not match the schema ({exc})") from None
    if not isinstance(signature, str) or not crypto.check_signature(
            public, record._payload(), signature.encode("ascii", "replace") + b"\n"):
        raise IntegrityError(f"{path}: signature does not match: the check record was changed or not made by "
                             "this kit; ignored")
    return record


def valid_check(record: CheckRecord | None, latest_id: str | None, latest_created: dt.datetime | None,
                now: dt.datetime, slack: dt.timedelta = dt.timedelta(minutes=5)) -> CheckRecord | None:
    """The record when it may vouch for freshness: it names LATEST, is newer than it, not from the future."""
    if record is None or latest_id is None or latest_created is None or record.set_id != latest_id:
        return None
    if not latest_created <= record.checked <= now + slack:
        return None
    return record


def remove_check(store_root: Path) -> None:
    """A new set supersedes the record (it names an older set); removed so nobody has to reason about it."""
    try:
        (store_root / FILE).unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", store_root / FILE, exc.strerror)
