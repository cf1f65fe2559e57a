"""The node_exporter textfile for `nodkit verify --prometheus FILE`.

Prometheus text exposition format 0.0.4. Written atomically (temporary file
in the same folder, then rename) so the textfile collector never reads half
a file; mode 0644 because node_exporter usually runs as another user. It
holds counts, times and the kit name only, never personal data.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from nodkit.fsutil import fsync_dir
from nodkit.monitoring.verify import KINDS, VerifyReport

PUBLIC_MODE = 0o644


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(report: VerifyReport) -> str:
    kit = f'kit="{_label(report.kit)}"'
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{{{labels}}} {value:.17g}" if isinstance(value, float) else f"{name}{{{labels}}} {value}")

    metric("nodkit_verify_status", "gauge", "Result of nodkit verify: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
           [(kit, report.exit_code)])
    metric("nodkit_verify_timestamp_seconds", "gauge", "When nodkit verify ran (Unix time).",
           [(kit, float(report.checked_at.timestamp()))])
    metric("nodkit_verify_duration_seconds", "gauge", "How long nodkit verify took.", [(kit, float(report.seconds))])
    if report.latest_created is not None:
        metric("nodkit_last_success_timestamp_seconds", "gauge",
               "Creation time of the newest good export set (LATEST), Unix time.",
               [(kit, float(report.latest_created.timestamp()))])
        metric("nodkit_latest_age_seconds", "gauge", "Age of the newest good export set.",
               [(kit, float(report.age_seconds or 0.0))])
        metric("nodkit_fresh_timestamp_seconds", "gauge",
               "What freshness is judged from: the newer of LATEST's creation and the last run that read every "
               "source and found it unchanged since LATEST (Unix time).",
               [(kit, float(report.fresh_as_of.timestamp()))])
    if report.sources_checked_at is not None:
        metric("nodkit_sources_checked_timestamp_seconds", "gauge",
               "The last run that read every source and found nothing changed since LATEST, so wrote no set "
               "(Unix time).", [(kit, float(report.sources_checked_at.timestamp()))])
    statuses = sorted({"good", "partial", "incomplete", "suspect", "broken", *report.sets_by_status})
    metric("nodkit_sets", "gauge", "Export sets in the store, by status.",
           [(f'{kit},status="{_label(s)}"', report.sets_by_status.get(s, 0)) for s in statuses])
    metric("nodkit_files_checked", "gauge", "Files checked by this verify run.", [(kit, report.files_checked)])
    if report.missed_runs is not None:
        metric("nodkit_missed_export_runs", "gauge", "Scheduled export runs missed since the newest good set.",
               [(kit, report.missed_runs)])
    if report.disk_total_bytes:
        metric("nodkit_disk_free_bytes", "gauge", "Free space on the store's filesystem.",
               [(kit, report.disk_free_bytes or 0)])
        metric("nodkit_disk_size_bytes", "gauge", "Size of the store's filesystem.", [(kit, report.disk_total_bytes)])
    if report.sync is not None:
        _sync_metrics(report.sync, kit, metric)
    if report.drill_days:
        metric("nodkit_drill_age_days", "gauge", "Days since the last good print drill per audience and unit "
               "(-1: never drilled).",
               [(f'{kit},audience="{_label(k.split("/", 1)[0])}",unit="{_label(k.split("/", 1)[1])}"',
                 float(v) if v is not None else -1.0) for k, v in sorted(report.drill_days.items())])
    counts: dict[tuple[str, str], int] = {}
    for p in report.problems:
        key = (p.kind, {1: "warning", 2: "critical"}.get(p.severity, "unknown"))
        counts[key] = counts.get(key, 0) + 1
    kinds = sorted({*KINDS, *(k for k, _ in counts)})
    metric("nodkit_problems", "gauge", "Problems found by verify, by kind and severity.",
           [(f'{kit},kind="{_label(k)}",severity="{sev}"', counts.get((k, sev), 0))
            for k in kinds for sev in ("critical", "warning")]
           + [(f'{kit},kind="{_label(k)}",severity="unknown"', n) for (k, sev), n in sorted(counts.items())
              if sev == "unknown"])
    return "\n".join(lines) + "\n"


def _sync_metrics(sync: dict, kit: str, metric) -> None:
    """A station's last sync from its exporter (docs/distribution.md)."""
    import datetime as dt
    for key, name, text in (("last_attempt", "nodkit_sync_last_attempt_timestamp_seconds", "Last sync attempt"),
                            ("last_success", "nodkit_sync_last_success_timestamp_seconds",
                             "Last sync that reached the exporter and ended synced or current")):
        if sync.get(key):
            metric(name, "gauge", f"{text} (Unix time).", [(kit, float(dt.datetime.fromisoformat(sync[key]).timestamp()))])
    metric("nodkit_sync_upstream_reachable", "gauge", "1 if the last sync reached the exporter's server.",
           [(kit, 1 if sync.get("upstream_reachable") else 0)])
    metric("nodkit_sync_bytes", "gauge", "Bytes received by the last sync.", [(kit, int(sync.get("bytes_last") or 0))])
    metric("nodkit_sync_duration_seconds", "gauge", "Duration of the last sync.",
           [(kit, float(sync.get("seconds_last") or 0.0))])
    metric("nodkit_sync_consecutive_failures", "gauge", "Failed or refused syncs since the last good one.",
           [(kit, int(sync.get("consecutive_failures") or 0))])


def write_textfile(path: Path, report: VerifyReport) -> None:
    """Replace `path` atomically with the metrics of `report`."""
    path = Path(path)
    # node_exporter only reads *.prom: the temporary name must not end in .prom.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    data = render(report).encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PUBLIC_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if hasattr(os, "fchmod"):
                os.fchmod(fd, PUBLIC_MODE)  # umask may have narrowed the mode given to open()
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
