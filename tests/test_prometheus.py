"""verify --prometheus FILE: a node_exporter textfile that a strict parser accepts."""

from __future__ import annotations

import stat

from prometheus_client.parser import text_string_to_metric_families

from conftest import run_cli
from kittools import quiet_schedule
from nodkit.config.settings import load_config
from nodkit.monitoring.verify import verify_kit


def samples(path) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text("utf-8")):
        for s in family.samples:
            out[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "kit")))] = s.value
    return out


def test_textfile_parses_and_carries_the_facts(demo_kit, tmp_path):
    quiet_schedule(demo_kit.home)
    prom = tmp_path / "textfile" / "nodkit.prom"
    prom.parent.mkdir()
    result = run_cli("verify", "--kit", str(demo_kit.home), "--prometheus", str(prom))
    assert result.exit_code == 0, result.output
    values = samples(prom)
    created = verify_kit(load_config(demo_kit.home)).latest_created
    assert values[("nodkit_verify_status", ())] == 0
    assert values[("nodkit_last_success_timestamp_seconds", ())] == created.timestamp()
    assert values[("nodkit_latest_age_seconds", ())] >= 0
    assert values[("nodkit_sets", (("status", "good"),))] == 1
    assert values[("nodkit_files_checked", ())] == len({f["path"] for f in demo_kit.files()})  # each file once
    assert values[("nodkit_problems", (("kind", "hash"), ("severity", "critical")))] == 0
    assert values[("nodkit_disk_free_bytes", ())] > 0
    # readable by node_exporter (another user), and no temporary file left beside it
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    assert [p.name for p in prom.parent.iterdir()] == ["nodkit.prom"]


def test_textfile_counts_problems_by_kind(demo_kit, tmp_path):
    prom = tmp_path / "nodkit.prom"
    target = sorted(demo_kit.set_dir.rglob("*.pdf"))[0]
    target.unlink()
    (demo_kit.set_dir / "extra.txt").write_text("x")
    result = run_cli("verify", "--kit", str(demo_kit.home), "--prometheus", str(prom))
    assert result.exit_code == 2
    values = samples(prom)
    assert values[("nodkit_verify_status", ())] == 2
    assert values[("nodkit_problems", (("kind", "missing"), ("severity", "critical")))] == 1
    assert values[("nodkit_problems", (("kind", "stray"), ("severity", "critical")))] == 1


def test_kit_name_with_quotes_is_escaped(demo_kit, tmp_path):
    cfg = demo_kit.home / "nodkit.toml"
    text = cfg.read_text("utf-8")
    start = text.index("name = ")
    end = text.index("\n", start)
    cfg.write_text(text[:start] + 'name = "Kommune \\"Syd\\" \\\\ pc"' + text[end:], "utf-8")
    prom = tmp_path / "nodkit.prom"
    run_cli("verify", "--kit", str(demo_kit.home), "--prometheus", str(prom))
    families = list(text_string_to_metric_families(prom.read_text("utf-8")))
    assert families[0].samples[0].labels["kit"] == 'Kommune "Syd" \\ pc'


def test_unwritable_textfile_is_unknown(demo_kit, tmp_path):
    result = run_cli("verify", "--kit", str(demo_kit.home), "--prometheus", str(tmp_path / "missing" / "x.prom"))
    assert result.exit_code == 3 and result.stdout.startswith("NODKIT UNKNOWN")


def test_unknown_overwrites_the_last_good_values(demo_kit, tmp_path):
    prom = tmp_path / "nodkit.prom"
    assert run_cli("verify", "--kit", str(demo_kit.home), "--prometheus", str(prom)).exit_code in (0, 1)
    (demo_kit.home / "keys" / "signing.pub").unlink()
    result = run_cli("verify", "--kit", str(demo_kit.home), "--prometheus", str(prom))
    assert result.exit_code == 3 and "signing key missing" in result.stdout
    values = samples(prom)
    assert values[("nodkit_verify_status", ())] == 3
    assert ("nodkit_last_success_timestamp_seconds", ()) not in values
    assert values[("nodkit_problems", (("kind", "unknown"), ("severity", "unknown")))] == 1
