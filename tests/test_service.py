"""`nodkit service install`: the systemd unit."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from nodkit.unattended.service import render_unit

from conftest import run_cli


def test_dry_run_prints_a_hardened_unit_for_this_kit(demo_kit):
    result = run_cli("service", "install", "--kit", str(demo_kit.home), "--user", "nodkit", "--dry-run")
    assert result.exit_code == 0, result.output
    unit = result.stdout
    home = demo_kit.home.resolve()
    for line in ["Restart=always", "User=nodkit", "ProtectSystem=strict", f"ReadWritePaths={home}",
                 "PrivateTmp=yes", "NoNewPrivileges=yes", "UMask=0027", "ExecReload=/bin/kill -HUP $MAINPID",
                 f"ExecStart={sys.executable} -m nodkit run --kit {home}", "WantedBy=multi-user.target",
                 "LimitCORE=0", f"EnvironmentFile=-{home}/keys/nodkit.env"]:
        assert line in unit.splitlines(), line


def test_install_writes_the_unit_and_says_how_to_enable_it(demo_kit, tmp_path):
    target = tmp_path / "units" / "nodkit-test.service"
    cupsd = tmp_path / "cupsd.conf"
    cupsd.write_text("LogLevel warn\nPreserveJobFiles Yes\n<Location />\n  Order allow,deny\n</Location>\n")
    result = run_cli("service", "install", "--kit", str(demo_kit.home), "--output", str(target),
                     "--cupsd-conf", str(cupsd), "--no-accounts")
    assert result.exit_code == 0, result.output
    assert "Restart=always" in target.read_text()
    # the install also stops CUPS from keeping decrypted job files
    assert "PreserveJobFiles No\n" in cupsd.read_text() and "PreserveJobFiles Yes" not in cupsd.read_text()
    assert "PreserveJobHistory 30m" in cupsd.read_text() and "<Location />" in cupsd.read_text()
    assert "systemctl enable --now nodkit-test.service" in result.stdout
    # a single-account demo kit: the owner is not set up, and the install says so with the command
    assert f"NOT set up yet; run (as root):\n  sudo chown -R nodkit: {demo_kit.home}" in result.stdout


def test_kit_path_with_space_is_refused(tmp_path):
    with pytest.raises(Exception, match="must not contain spaces"):
        render_unit(tmp_path / "my kit")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze_verify(demo_kit, tmp_path):
    import getpass
    unit = tmp_path / "nodkit.service"
    unit.write_text(render_unit(demo_kit.home, user=getpass.getuser()))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    problems = [line for line in proc.stderr.splitlines() if "nodkit.service" in line]
    assert proc.returncode == 0 and not problems, proc.stderr
