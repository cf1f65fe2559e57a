"""Printing leaves nothing behind: after a printed and an unprintable job, the CUPS spool and temp
folder hold no decrypted list and no personal data (the plaintext scan of the survival suite)."""

from __future__ import annotations

import pytest

from conftest import run_cli
from test_printing_cups import cups, dead_queue  # noqa: F401  (the private cupsd fixtures)

from nodkit.printing import cupsconf
from nodkit.security import crypto
from survival_kit import assert_no_secrets, load_secrets, scan_home

pytestmark = pytest.mark.survival


def test_cups_spool_holds_no_plaintext_after_printing(demo_kit, cups, dead_queue):  # noqa: F811
    home = demo_kit.home
    cfg = home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8") + "\n[printer]\nwait_seconds = 5\n", "utf-8")
    outputs = []
    for queue, code in ((cups.queue, 0), (dead_queue, 16)):
        result = run_cli("print", "--kit", str(home), "--unit", "Område Nord", "--template", "care-route",
                         "--printer", queue, "--password-stdin", input=demo_kit.passwords["pleje"] + "\n",
                         env=cups.env)
        assert result.exit_code == code, result.output
        outputs.append(result.output)
    assert "Udskrevet:" in outputs[0] and "Printeren svarer ikke" in outputs[1]
    secrets = load_secrets(demo_kit.sources, home, demo_kit.passwords)
    # the spool proper (RequestRoot) holds no job document, printed or cancelled
    assert_no_secrets(home, secrets, *outputs, spool=(cups.root / "spool",))
    # CUPS's TempDir: the killed filters of the cancelled job leave their temp files (CUPS 2.4); nodkit
    # cannot remove files of user lp from a staff login, so verify must name every one that holds plaintext
    files_conf = cups.root / "cups-files.conf"
    leaks = [line.split(":")[0].split("/")[-1] for line in scan_home(home, secrets, (cups.root / "tmp",))]
    reported = cupsconf.problems(cups.root / "cupsd.conf", files_conf, temp_min_age=0)
    named = " ".join(message for _sev, _where, message in reported)
    for leak in leaks:
        assert leak in named or len(leaks) > 3, (leak, reported)
    if leaks:
        assert any(where == str(cups.root / "tmp") and sev == "critical" for sev, where, _m in reported)
    # the scan sees the spool: a kept job file would be caught
    plain = demo_kit.set_dir / "pleje" / "Område Nord" / "binder.pdf"  # it holds the care route (store format 4)
    (cups.root / "spool" / "d09999-001").write_bytes(crypto.decrypt_pdf(plain.read_bytes(), demo_kit.passwords["pleje"]))
    try:
        with pytest.raises(AssertionError, match=r"\[spool\]/d09999-001"):
            assert_no_secrets(home, secrets, spool=(cups.root / "spool",))
    finally:
        (cups.root / "spool" / "d09999-001").unlink()
