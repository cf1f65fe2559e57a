"""The fleet scenario: the benchmark's export served by nginx on loopback to N simulated stations.

Each station is its own kit home (`station init` with the exporter's public
key), holding one unit of one audience, cycling through the export's units.
They sync one after the other (one round, as after an export), each timed in
wall and CPU seconds of this process; the bytes each received come from the
sync itself, the exporter-side total from nginx's access log. A second round
with nothing new measures the "current" check every 15 minutes.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from nodkit.config.settings import KIT_WIDE_UNIT
from nodkit.distribution.station import init_station
from nodkit.distribution.sync import run_sync

from . import nginx


def _served_bytes(log: Path) -> int:
    total = 0
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split('" ')
        if len(parts) > 1:
            fields = parts[1].split()
            if len(fields) > 1 and fields[1].isdigit():
                total += int(fields[1])
    return total


def fleet_round(exporter, base: Path, stations: int) -> dict | None:
    """Figures for one round of `stations` syncs, or None with nginx missing (the bench still runs)."""
    if stations <= 0:
        return None
    if not Path(nginx.NGINX).exists():
        return {"skipped": "nginx not installed"}
    units = sorted({(f.audience, f.unit) for f in exporter.files if f.unit != KIT_WIDE_UNIT})
    prefix = base / "nginx"
    prefix.mkdir(parents=True)
    os.chmod(prefix, 0o755)
    www = prefix / "www"
    www.mkdir()
    (www / "store").symlink_to(exporter.store_root)
    server = nginx.start(prefix, www)
    try:
        homes = []
        for i in range(stations):
            audience, unit = units[i % len(units)]
            homes.append(init_station(base / f"station-{i:03d}", upstream=f"{server.url}/w/store/",
                                      pubkey=exporter.keys / "signing.pub", audiences=[audience], units=[unit],
                                      name=f"station-{i:03d}"))
        rounds = []
        for _ in range(2):  # a round after a new export, then one with nothing new
            walls, cpus, sizes = [], [], []
            for config in homes:
                w0, c0 = time.perf_counter(), time.process_time()
                result = run_sync(config)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
                sizes.append(result.bytes)
            rounds.append((walls, cpus, sizes))
        served = _served_bytes(prefix / "access.log")
    finally:
        server.stop()
    (walls, cpus, sizes), (walls2, _c2, sizes2) = rounds
    return {"stations": stations, "units": len(units),
            "bytes_median": int(statistics.median(sizes)), "bytes_max": max(sizes),
            "sync_s_median": round(statistics.median(walls), 3), "sync_s_max": round(max(walls), 3),
            "cpu_s_median": round(statistics.median(cpus), 3), "cpu_s_max": round(max(cpus), 3),
            "round_s": round(sum(walls), 2), "served_bytes": served,
            "export_bytes": exporter.export_bytes,
            "current_bytes_median": int(statistics.median(sizes2)),
            "current_s_median": round(statistics.median(walls2), 4)}


def report_lines(fig: dict | None) -> list[str]:
    if not fig:
        return []
    if "skipped" in fig:
        return [f"fleet: skipped ({fig['skipped']})"]
    mib = 1024 ** 2
    return [f"fleet: {fig['stations']} stations ({fig['units']} units) syncing from nginx on loopback, one after "
            f"the other: per station {fig['bytes_median'] / mib:.1f} MiB median, {fig['bytes_max'] / mib:.1f} MiB max; "
            f"sync {fig['sync_s_median']:.2f} s median, {fig['sync_s_max']:.2f} s max wall; station CPU "
            f"{fig['cpu_s_median']:.2f} s median, {fig['cpu_s_max']:.2f} s max",
            f"fleet: one round {fig['round_s']:.1f} s, exporter served {fig['served_bytes'] / mib:.0f} MiB "
            f"(the whole set is {fig['export_bytes'] / mib:.0f} MiB); nothing new: "
            f"{fig['current_bytes_median']} bytes, {fig['current_s_median'] * 1000:.1f} ms per station"]
