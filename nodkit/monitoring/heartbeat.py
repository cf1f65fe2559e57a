"""The scheduler's heartbeat: logs/heartbeat.json, written by `nodkit run`.

`nodkit status` and `nodkit verify` read it to tell whether the unattended
scheduler is alive and when it last ran and will run next. Written
atomically; contains ids and times only, never data.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nodkit.fsutil import write_atomic

FILE = Path("logs") / "heartbeat.json"


@dataclass
class Heartbeat:
    pid: int
    updated_at: str  # ISO 8601 with offset
    started_at: str  # when this scheduler process started
    last_job: str | None = None  # job id, e.g. "export-morning"
    last_action: str | None = None  # "export" | "verify"
    last_started: str | None = None
    last_finished: str | None = None
    last_result: str | None = None  # "ok" | "warning" | "failed"
    last_set: str | None = None
    last_message: str | None = None  # one line, no personal data
    next_runs: dict[str, str] = field(default_factory=dict)  # job id -> ISO time

    @property
    def updated(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.updated_at)


def write(home: Path, beat: Heartbeat) -> None:
    path = home / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(asdict(beat), indent=1).encode("utf-8"))


def read(home: Path) -> Heartbeat | None:
    """None when no scheduler has ever run; unreadable content also gives None."""
    try:
        return Heartbeat(**json.loads((home / FILE).read_text("utf-8")))
    except (FileNotFoundError, ValueError, TypeError):
        return None
