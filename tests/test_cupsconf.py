"""CUPS must not keep decrypted job files: `nodkit printer setup` sets it, `verify` reports it (spool kind)."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from nodkit.config.settings import PrinterConfig, load_config
from nodkit.monitoring.verify import check_spooler
from nodkit.printing import cupsconf


def _files_conf(tmp_path: Path, spool: Path) -> Path:
    conf = tmp_path / "cups-files.conf"
    conf.write_text(f"RequestRoot {spool}\nUser lp\n")
    return conf


def _kit(demo_kit):
    config = load_config(demo_kit.home)
    config.printer = PrinterConfig(backend="cups", queue="kontor-1")
    return config


def test_verify_flags_a_cups_that_keeps_job_files_and_setup_fixes_it(demo_kit, tmp_path):
    config = _kit(demo_kit)
    spool = tmp_path / "spool"
    spool.mkdir()
    cupsd = tmp_path / "cupsd.conf"
    cupsd.write_text("LogLevel warn\n<Policy default>\n  PreserveJobFiles No\n</Policy>\n")  # nested: not top level
    [problem] = check_spooler(config, cupsd, _files_conf(tmp_path, spool))
    assert problem.kind == "spool" and problem.severity == 2
    assert "PreserveJobFiles (default: 1 day)" in problem.message and "nodkit printer setup" in problem.message
    cupsd.write_text("PreserveJobFiles 3600\n")
    assert "PreserveJobFiles 3600" in check_spooler(config, cupsd, _files_conf(tmp_path, spool))[0].message
    result = run_cli("printer", "setup", "--cupsd-conf", str(cupsd))
    assert result.exit_code == 0, result.output
    assert "PreserveJobFiles 3600 -> PreserveJobFiles No" in result.stderr
    assert check_spooler(config, cupsd, _files_conf(tmp_path, spool)) == []
    assert "already" in run_cli("printer", "setup", "--cupsd-conf", str(cupsd)).stderr


def test_verify_flags_nodkit_job_files_left_in_the_spool(demo_kit, tmp_path):
    config = _kit(demo_kit)
    spool = tmp_path / "spool"
    spool.mkdir()
    cupsd = tmp_path / "cupsd.conf"
    cupsd.write_text("PreserveJobFiles No\nPreserveJobHistory 30m\n")
    # another program's job is not nodkit's business
    (spool / "c00007").write_bytes(b"\x42\x00\x08job-name\x00\x0bholiday.pdf")
    (spool / "d00007-001").write_bytes(b"%PDF-1.4 someone else's")
    assert check_spooler(config, cupsd, _files_conf(tmp_path, spool)) == []
    (spool / "c00008").write_bytes(b"\x42\x00\x08job-name\x00\x20nodkit Omr\xc3\xa5de Nord care-route")
    (spool / "d00008-001").write_bytes(b"%PDF-1.4 the decrypted list")
    [problem] = check_spooler(config, cupsd, _files_conf(tmp_path, spool))
    assert problem.kind == "spool" and problem.severity == 2 and "d00008-001" in problem.message
    assert "1 decrypted nodkit print job file(s)" in problem.message
    result = run_cli("verify", "--kit", str(demo_kit.home))  # the demo prints by command: no CUPS check there
    assert "spool" not in result.output
