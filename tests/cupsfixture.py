"""A private cupsd with a cups-pdf queue, for tests that print for real.

The fixture starts its own cupsd (own config, spool and socket in a temp
folder; CUPS_SERVER points the clients at it), so the system's CUPS is not
touched. cups-pdf reads its settings from /etc/cups/cups-pdf-<name>.conf for
the device URI cups-pdf:/<name>; the fixture writes one for its queue (root
only) so the "paper" lands in the temp folder, and removes it afterwards.
In CI (CI=true) a missing CUPS fails the tests instead of skipping them.
Use: `from cupsfixture import cups` in a test module (one cupsd per module).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CUPSD = shutil.which("cupsd") or "/usr/sbin/cupsd"
LPADMIN = shutil.which("lpadmin") or "/usr/sbin/lpadmin"
PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CUPS printing test cannot run in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Cups:
    root: Path
    queue: str
    out: Path
    env: dict

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env={**os.environ, **self.env}, capture_output=True, text=True,
                              check=check, timeout=30)

    def printed(self) -> set[Path]:
        return set(self.out.glob("*.pdf"))

    def wait_for_new(self, before: set[Path], count: int = 1, timeout: float = 90) -> list[Path]:
        """The new PDFs cups-pdf wrote, once the queue has no pending jobs left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = sorted(self.printed() - before)
            pending = self.run("lpstat", "-o", self.queue, check=False).stdout.strip()
            if len(new) >= count and not pending:
                return new
            time.sleep(0.3)
        log = (self.root / "log" / "error_log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"cups-pdf wrote {len(self.printed() - before)} file(s), expected {count}; log:\n{log}")


@pytest.fixture(scope="module")
def cups():
    if not Path(CUPSD).exists() or not shutil.which("lp"):
        _unavailable("cupsd/lp not installed (apt-get install cups cups-client printer-driver-cups-pdf)")
    if not PPD.exists() or not Path("/usr/lib/cups/backend/cups-pdf").exists():
        _unavailable("printer-driver-cups-pdf not installed")
    if os.geteuid() != 0:
        _unavailable("needs root: cups-pdf reads its per-queue settings from /etc/cups")
    root = Path(tempfile.mkdtemp(prefix="nodkit-cups-"))
    root.chmod(0o755)  # cupsd's filters run as lp and must reach the spool
    for sub in ("spool", "cache", "state", "log"):
        (root / sub).mkdir()
    for sub in ("out", "tmp"):
        (root / sub).mkdir(mode=0o1777)
        (root / sub).chmod(0o1777)
    sock = root / "cups.sock"
    (root / "cups-files.conf").write_text(
        f"ServerRoot {root}\nRequestRoot {root}/spool\nCacheDir {root}/cache\nStateDir {root}/state\n"
        f"TempDir {root}/tmp\nErrorLog {root}/log/error_log\nAccessLog {root}/log/access_log\n"
        f"PageLog {root}/log/page_log\nServerBin /usr/lib/cups\nDataDir /usr/share/cups\n"
        "User lp\nGroup lp\nSystemGroup root\nFileDevice No\nSandboxing Relaxed\n")
    (root / "cupsd.conf").write_text(
        f"LogLevel info\nListen {sock}\nBrowsing No\nWebInterface No\nDefaultAuthType None\n"
        # as `nodkit printer setup` configures a kit PC: no job files kept after printing
        "PreserveJobFiles No\nPreserveJobHistory 30m\n"
        "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n")
    queue = f"nodkit-test-{secrets.token_hex(3)}"
    pdf_conf = Path(f"/etc/cups/cups-pdf-{queue}.conf")
    pdf_conf.write_text(f"Out {root}/out\nAnonDirName {root}/out\nLabel 0\nTitlePref 1\n")
    proc = subprocess.Popen([CUPSD, "-f", "-c", str(root / "cupsd.conf"), "-s", str(root / "cups-files.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c = Cups(root=root, queue=queue, out=root / "out", env={"CUPS_SERVER": str(sock)})
    try:
        deadline = time.monotonic() + 20
        # lpstat -r exits 0 either way; only the text tells ("scheduler is not running")
        while c.run("lpstat", "-r", check=False).stdout.strip() != "scheduler is running":
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("private cupsd did not start: " +
                                     (root / "log" / "error_log").read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        c.run(LPADMIN, "-p", queue, "-E", "-v", f"cups-pdf:/{queue}", "-P", str(PPD))
        yield c
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pdf_conf.unlink(missing_ok=True)
        Path(f"/var/log/cups/cups-pdf-{queue}_log").unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
