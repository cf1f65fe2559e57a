"""Full disk (DESIGN rule 5): the kit home on a small tmpfs that the test fills up.

The export must fail with one clear line and exit 14 (STORE), leave the
published sets intact and verifying, and the next run (after space is freed)
must clean up whatever the failed one left and succeed. Needs root to mount;
skipped otherwise, except in CI (CI=true), where it runs as root and a skip
would hide a missing check, so it fails instead.
"""

from __future__ import annotations

import logging
import re
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from survival_kit import assert_no_secrets, assert_store_sound, load_secrets, make_small, record, state, tmpfs

pytestmark = pytest.mark.survival

SIZE = 16 * 1024 * 1024  # bytes; a small-kit set with binders is a few hundred kB and the 7-day window keeps every run


def _need_root():
    if os.geteuid() != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the full-disk test must run as root in CI (it mounts a tmpfs)")
        pytest.skip("mounting a small tmpfs needs root (runs in CI as root)")


@pytest.fixture
def small_fs(tmp_path):
    _need_root()
    with tmpfs(tmp_path / "mnt", SIZE) as mnt:
        try:
            yield mnt
        finally:
            _close_log_handlers(mnt)


def _close_log_handlers(under: Path) -> None:
    """In-process CLI runs leave a file handler on the kit's log; close it so the tmpfs can unmount."""
    root = logging.getLogger("nodkit")
    for handler in list(root.handlers):
        if str(getattr(handler, "_nodkit_file", "")).startswith(str(under)):
            root.removeHandler(handler)
            handler.close()


def _fill(mnt: Path, leave: int) -> Path:
    """Fill the filesystem until about `leave` bytes are free."""
    filler = mnt / "filler"
    stat = os.statvfs(mnt)
    free = stat.f_bavail * stat.f_frsize
    size = max(0, free - leave)
    with open(filler, "wb") as fh:
        try:
            fh.write(b"\0" * size)
        except OSError:
            pass
    return filler


def _free(mnt: Path) -> int:
    stat = os.statvfs(mnt)
    return stat.f_bavail * stat.f_frsize


def _published_bytes(home: Path) -> dict[str, bytes]:
    sets = home / "store" / "sets"
    return {str(p.relative_to(sets)): p.read_bytes() for p in sets.rglob("*") if p.is_file()}


def test_full_disk_fails_cleanly_and_keeps_published_sets(demo_kit, small_fs):
    home = small_fs / "kit"
    shutil.copytree(demo_kit.home, home)
    shutil.rmtree(home / "store")  # the demo's big sets would not fit; start with the small kit's own
    make_small(home)
    secrets = load_secrets(demo_kit.sources, home, demo_kit.passwords)
    first = run_cli("export", "--kit", str(home))
    assert first.exit_code == 0, first.output
    set_size = sum(len(b) for b in _published_bytes(home).values())
    outputs = [first.output]
    # Leave less room than one set needs, at several levels, so the disk runs full at different
    # moments: a PDF, the manifest, the signature, LATEST, the log line.
    # tmpfs allocates whole pages: room for exactly the PDFs (+0..3 pages) makes the disk run full
    # at the manifest, the signature or the new LATEST instead
    page = os.statvfs(small_fs).f_frsize
    pdf_pages = sum(-(-len(b) // page) * page for k, b in _published_bytes(home).items() if k.endswith(".pdf"))
    levels = [0, 4096, set_size // 4, set_size // 2, (set_size * 3) // 4, set_size - 8192,
              pdf_pages, pdf_pages + page, pdf_pages + 2 * page, pdf_pages + 3 * page]
    failures = 0
    messages: list[str] = []
    for leave in levels:
        before = state(home)
        published = _published_bytes(home)
        filler = _fill(small_fs, leave)
        result = run_cli("export", "--kit", str(home))
        outputs += [result.stdout, result.stderr]
        if result.exit_code == 0:
            # it fitted after all (tmpfs rounds to pages): then it must be a normal good run
            assert state(home).latest != before.latest
        else:
            failures += 1
            assert result.exit_code == 14, f"leave {leave}: exit {result.exit_code}: {result.output}"
            assert "Traceback" not in result.output, result.output
            errors = [line for line in result.stderr.splitlines() if line.startswith("nodkit: error:")]
            assert len(errors) == 1, result.stderr
            assert "No space left on device" in errors[0], errors[0]
            messages.append(re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{4}", "<set>", errors[0].replace(str(home), "<kit>")))
            after = state(home)
            assert after.latest == before.latest, "LATEST changed by a failed export"
            assert _published_bytes(home) == published, "published sets changed by a failed export"
        assert_store_sound(home, must_keep=[before.latest])
        filler.unlink()
        # the next run, with space again, cleans up and succeeds
        again = run_cli("export", "--kit", str(home))
        outputs += [again.stdout, again.stderr]
        assert again.exit_code == 0, again.output
        after = assert_store_sound(home)
        assert after.incoming == [] and after.tmp_files == [], f"half-written files left: {after}"
    verify = run_cli("verify", "--kit", str(home))
    assert verify.exit_code in (0, 1) and "CRITICAL" not in verify.stdout, verify.output
    assert_no_secrets(home, secrets, *outputs, verify.output)
    assert failures >= len(levels) - 4, f"only {failures} of {len(levels)} exports hit the full disk"
    record("full_disk", filesystem_bytes=SIZE, set_bytes=set_size, levels=len(levels), failed_cleanly=failures, fitted=len(levels) - failures,
           messages=sorted(set(messages)))
