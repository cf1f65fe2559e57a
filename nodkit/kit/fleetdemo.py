"""`nodkit demo --fleet DIR` (make demo-fleet): one exporter, a real HTTP server, two stations.

The demo exporter's store is served read-only by Python's own HTTP server on
a free loopback port (nginx in the tests and the benchmark; any static
server works). Two stations with different audiences and units sync from
it, verify, and report their signed status into the exporter's fleet/ folder
(the "share" route), which `fleet status` then reads.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from nodkit.config.settings import load_config
from nodkit.distribution import fleet
from nodkit.distribution.station import init_station
from nodkit.distribution.sync import SyncResult, run_sync
from nodkit.export.pipeline import run_export
from nodkit.kit.demo import create_demo

STATIONS = (("station-nord", "pleje", ["Område Nord"]), ("station-vestre", "skole", ["Vestre Skole"]))


class _ReadOnly(SimpleHTTPRequestHandler):
    def list_directory(self, path):  # no listings, like `autoindex off`
        self.send_error(404)
        return None

    def log_message(self, *args):  # quiet
        pass


@dataclass
class FleetDemo:
    exporter: Path
    url: str
    passwords: dict[str, str]
    stations: dict[str, SyncResult] = field(default_factory=dict)
    rows: list = field(default_factory=list)


def run_fleet_demo(base: Path) -> FleetDemo:
    base.mkdir(parents=True, exist_ok=True)
    exporter = base / "exporter"
    passwords, _sources = create_demo(exporter)
    config = load_config(exporter)
    run_export(config)
    handler = functools.partial(_ReadOnly, directory=str(config.store))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    demo = FleetDemo(exporter=exporter, url=url, passwords=passwords)
    try:
        for name, audience, units in STATIONS:
            station = init_station(base / name, upstream=url, pubkey=config.keys / "signing.pub",
                                   audiences=[audience], units=units, name=name,
                                   status_upload=str(exporter / fleet.FLEET_DIR))
            demo.stations[name] = run_sync(station)
            fleet.report_status(station)
    finally:
        server.shutdown()
        server.server_close()
    demo.rows = fleet.read_fleet(config)
    return demo
