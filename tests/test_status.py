"""nodkit status: the IT overview (runs, LATEST, kept sets and why, warnings, disk)."""

from __future__ import annotations

import datetime as dt
import json

from conftest import run_cli
from kittools import clone_set, quiet_schedule
from nodkit.monitoring import heartbeat


def test_status_shows_latest_sets_reasons_and_disk(demo_kit):
    quiet_schedule(demo_kit.home)
    old = clone_set(demo_kit.home, dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=9), "partial")
    result = run_cli("status", "--kit", str(demo_kit.home))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"LATEST:    {demo_kit.latest}" in out
    assert "LATEST keep: LATEST: the newest good set is never removed" in out
    assert f"{old}" in out and "REMOVE at next prune: partial set, 9.0 days old, older than 7 days" in out
    assert "Disk:" in out and "GB free" in out
    assert "no scheduler heartbeat" in out
    assert "Problems:  none" in out


def test_status_reads_the_heartbeat(demo_kit):
    now = dt.datetime.now(dt.timezone.utc)
    heartbeat.write(demo_kit.home, heartbeat.Heartbeat(
        pid=4242, updated_at=now.isoformat(), started_at=now.isoformat(), last_job="export-morning",
        last_action="export", last_started=now.isoformat(), last_finished=now.isoformat(), last_result="ok",
        last_set=demo_kit.latest, next_runs={"export-afternoon": (now + dt.timedelta(hours=3)).isoformat()}))
    result = run_cli("status", "--kit", str(demo_kit.home), "--json")
    data = json.loads(result.stdout)
    assert data["last_run"]["job"] == "export-morning" and data["last_run"]["result"] == "ok"
    assert data["next_run"] == {"job": "export-afternoon", "at": (now + dt.timedelta(hours=3)).isoformat(),
                                "from": "heartbeat"}
    assert data["latest"] == demo_kit.latest and data["sets"][0]["keep"] is True
    human = run_cli("status", "--kit", str(demo_kit.home)).stdout
    assert "Last run:  export-morning (export)" in human and "(export-afternoon)" in human


def test_status_reports_problems_and_exits_with_them(demo_kit):
    quiet_schedule(demo_kit.home)
    sorted(demo_kit.set_dir.rglob("*.pdf"))[0].unlink()
    result = run_cli("status", "--kit", str(demo_kit.home))
    assert result.exit_code == 2
    assert "CRITICAL:" in result.stdout and "listed in the manifest but missing" in result.stdout
