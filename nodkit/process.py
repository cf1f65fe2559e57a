"""Process hardening at start-up: no core dumps of a process that holds secrets.

An export, a print, `password set` and `verify --decrypt` hold audience
passwords, the signing key and decrypted personal data in memory; a core
dump (a crash, `kill -SEGV`, gcore by another user) would write all of it to
disk in plaintext (issue 16). So every nodkit command and every render
process starts with:

- RLIMIT_CORE = 0 (soft and hard): the kernel writes no core file;
- PR_SET_DUMPABLE = 0 (Linux): no core even through a core_pattern pipe
  (systemd-coredump ignores RLIMIT_CORE), and no ptrace or /proc/<pid>/mem
  by other processes of the same user.
The systemd unit adds LimitCORE=0 (nodkit.unattended.service).

Also here: `gc_paused`, the one switch of the process's garbage collector (speed).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys

log = logging.getLogger(__name__)


def no_core_dumps() -> None:
    """Make this process undumpable; best effort where the OS has no such switch (Windows)."""
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError) as exc:  # Windows has no rlimits
        log.debug("core limit unchanged: %s", exc)
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        except (OSError, AttributeError) as exc:
            log.debug("dumpable flag unchanged: %s", exc)


@contextlib.contextmanager
def gc_paused(keep: bool = False):
    """No cyclic garbage collection inside the block (restored after it, also on an error).

    Validating and rendering make millions of small objects that live on (rows,
    cells, sort keys), so the collector runs again and again and walks every
    one of them each time: 10-25 % of the export's CPU time (docs/performance.md).
    These blocks make no reference cycles that matter; what they leave is
    collected after the block as usual. Reference counting still frees memory.

    `keep`: the block's objects are meant to live on (a validated list's rows). The
    first collection after the block would walk all of them only to find them
    alive (a sixth of the validation time); instead they are moved to the oldest
    generation as they are (`gc.freeze` then `gc.unfreeze`: two list splices, no
    walk), where the next full collection looks at them like at every other
    long-lived object. Nothing is exempt from collection for longer than that.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if keep and gc.get_freeze_count() == 0:  # nobody else's frozen objects to unfreeze by mistake
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()
