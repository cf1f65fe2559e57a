"""Smoke test of the benchmark script at the smallest scale (figures come from `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_bench_prints_every_figure():
    proc = subprocess.run([sys.executable, "-m", "bench", "--scale", "tiny", "--workers", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for needle in ("rows/s", "pages/s", "care-route", "medication", "class-list", "s wall", "s CPU",
                   "encryption:", "peak RSS:", "canvas floor", "ratio", "binders:", "print first page", "PASS"):
        assert needle in out, needle


@pytest.mark.slow
def test_bench_json_figures_are_consistent():
    proc = subprocess.run([sys.executable, "-m", "bench", "--scale", "tiny", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    fig = json.loads(proc.stdout)
    assert fig["status"] == "good"
    assert fig["rows"] == sum(r["rows"] for r in fig["templates"].values())
    assert fig["rows"] >= fig["generated_rows"]["medication"]
    for row in fig["templates"].values():
        assert row["pages"] >= 1 and row["rows_per_s"] > 0
    assert fig["export_wall_s"] > 0 and fig["export_cpu_s"] > 0
    assert 0 < fig["encrypt_share"] < 1
    assert fig["peak_rss_self"] > 10 * 1024 * 1024
    assert fig["floor"]["rows"] > 0 and fig["floor"]["ratio"] > 0
    assert fig["floor"]["nodkit_pages"] >= 1 and fig["floor"]["floor_pages"] >= 1
    assert fig["binder"]["is_binder"] and fig["binders"]["files"] >= 1 and fig["binders"]["pages"] > fig["pages"] / 2
    assert fig["binder"]["pages"] >= 1 and fig["binder"]["spooled_bytes"] > 0 and fig["binder"]["first_page_s"] > 0
    # store format 4: a unit's lists are pages of its binder; only kit-wide lists are files of their own
    disk = fig["disk"]
    assert disk["lists_in_binders"] > 0 and fig["files"] < fig["lists"]
    assert disk["list_bytes"] < 0.2 * disk["binder_bytes"]
    assert disk["set_bytes"] < 1.05 * (disk["list_bytes"] + disk["binder_bytes"])
