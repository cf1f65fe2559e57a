"""The CUPS settings that decide whether the spooler keeps plaintext, and the spool check.

A default CUPS keeps every job's document after printing (PreserveJobFiles,
by default one day): /var/spool/cups/d000NN-001 is then the whole decrypted
list. nodkit's promise "no plaintext on disk" needs

    PreserveJobFiles No        the document is removed once the job ends
    PreserveJobHistory 30m     the job's record (title, pages, state; no
                               content) stays long enough for nodkit to read
                               the outcome, then goes

`configure` writes these two lines into cupsd.conf (`nodkit printer setup`,
also run by `nodkit service install`); `problems` is what `verify` reports:
a cupsd.conf that keeps job files, and job files of a nodkit job (title
"nodkit …") still in the spool. CUPS must be restarted after a change.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from nodkit.fsutil import write_atomic

log = logging.getLogger(__name__)

CUPSD_CONF = Path("/etc/cups/cupsd.conf")
CUPS_FILES_CONF = Path("/etc/cups/cups-files.conf")
DEFAULT_SPOOL = Path("/var/spool/cups")
WANTED = {"PreserveJobFiles": "No", "PreserveJobHistory": "30m"}
JOB_TITLE_PREFIX = b"nodkit "  # spooler.job_title: every nodkit job is named "nodkit <unit> <list> <set>"


def directives(path: Path) -> dict[str, str]:
    """Top-level directives of a CUPS config file (lower-cased names; inside <Location> etc. skipped)."""
    out: dict[str, str] = {}
    depth = 0
    for line in path.read_text("utf-8", "replace").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("</"):
            depth = max(0, depth - 1)
            continue
        if text.startswith("<"):
            depth += 1
            continue
        if depth == 0:
            name, _, value = text.partition(" ")
            out[name.lower()] = value.strip()
    return out


def keeps_job_files(value: str | None) -> bool:
    """PreserveJobFiles: absent means CUPS's default (86400 s = keep a day); only No/Off/False/0 keeps none."""
    return value is None or value.strip().lower() not in ("no", "off", "false", "0")


def configure(path: Path = CUPSD_CONF) -> list[str]:
    """Set WANTED in cupsd.conf (replacing any existing top-level line); returns what changed.
    The file keeps its mode; CUPS reads it on restart."""
    lines = path.read_text("utf-8").splitlines()
    found: set[str] = set()
    changes: list[str] = []
    depth = 0
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("</"):
            depth = max(0, depth - 1)
        elif text.startswith("<"):
            depth += 1
        elif depth == 0 and text and not text.startswith("#"):
            name = text.split(None, 1)[0]
            for key, value in WANTED.items():
                if name.lower() == key.lower():
                    found.add(key)
                    if text != f"{key} {value}":
                        changes.append(f"{text} -> {key} {value}")
                        lines[i] = f"{key} {value}"
    missing = [k for k in WANTED if k not in found]
    if missing:
        lines += ["", "# nodkit: no decrypted job documents kept after printing (docs/printing.md)"]
        for key in missing:
            lines.append(f"{key} {WANTED[key]}")
            changes.append(f"added {key} {WANTED[key]}")
    if changes:
        mode = path.stat().st_mode & 0o777
        write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
        os.chmod(path, mode)
        log.info("CUPS configured in %s: %s", path, "; ".join(changes))
    return changes


def spool_dir(files_conf: Path = CUPS_FILES_CONF) -> Path:
    try:
        root = directives(files_conf).get("requestroot")
    except OSError:
        root = None
    return Path(root) if root else DEFAULT_SPOOL


def temp_dir(files_conf: Path = CUPS_FILES_CONF) -> Path:
    try:
        temp = directives(files_conf).get("tempdir")
    except OSError:
        temp = None
    return Path(temp) if temp else spool_dir(files_conf) / "tmp"


def left_temp_files(temp: Path, min_age: float = 600) -> list[Path]:
    """Files the filters and backends left in CUPS's TempDir for longer than `min_age` seconds.
    A cancelled job's killed filters (ghostscript gs_*, the backend's copy of the print data) do not
    remove theirs: measured with CUPS 2.4 and a socket:// printer that does not answer."""
    import time
    now = time.time()
    out = []
    for path in sorted(temp.iterdir()):
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file() and st.st_size > 0 and now - st.st_mtime >= min_age:
            out.append(path)
    return out


def nodkit_job_files(spool: Path) -> list[Path]:
    """Document files (dNNNNN-NNN) whose control file (cNNNNN) names a nodkit job. OSError if unreadable."""
    found = []
    for doc in sorted(spool.iterdir()):
        m = re.fullmatch(r"d(\d+)-\d+", doc.name)
        if not m:
            continue
        try:
            control = (spool / f"c{m.group(1)}").read_bytes()
        except FileNotFoundError:
            control = b""
        # job-name is stored as an IPP name value; a job without a readable control file counts too
        if not control or JOB_TITLE_PREFIX in control:
            found.append(doc)
    return found


def problems(cupsd_conf: Path = CUPSD_CONF, files_conf: Path = CUPS_FILES_CONF,
             temp_min_age: float = 600) -> list[tuple[str, str, str]]:
    """(severity "critical"/"warning", where, English message) for verify. No CUPS config: nothing to say."""
    out: list[tuple[str, str, str]] = []
    if not cupsd_conf.exists():
        return out
    try:
        conf = directives(cupsd_conf)
    except OSError as exc:
        return [("warning", str(cupsd_conf), f"cannot read the CUPS config ({exc.strerror}): "
                                             "cannot tell whether printed lists stay in the spool")]
    value = conf.get("preservejobfiles")
    if keeps_job_files(value):
        out.append(("critical", str(cupsd_conf),
                    f"PreserveJobFiles {value or '(default: 1 day)'}: CUPS keeps every printed list decrypted "
                    "in its spool; run 'nodkit printer setup' and restart CUPS"))
    spool = spool_dir(files_conf)
    try:
        left = nodkit_job_files(spool)
    except FileNotFoundError:
        left = []
    except OSError as exc:
        out.append(("warning", str(spool), f"cannot read the CUPS spool ({exc.strerror}); run verify as root "
                                           "to check it for left-over print jobs"))
        left = []
    if left:
        out.append(("critical", str(spool), f"{len(left)} decrypted nodkit print job file(s) left in the spool "
                                            f"({', '.join(p.name for p in left[:3])}); cancel them "
                                            "('cancel -a -x') and set PreserveJobFiles No"))
    temp = temp_dir(files_conf)
    try:
        stale = left_temp_files(temp, temp_min_age)
    except FileNotFoundError:
        stale = []
    except OSError as exc:
        out.append(("warning", str(temp), f"cannot read CUPS's TempDir ({exc.strerror}); run verify as root"))
        stale = []
    if stale:
        out.append(("critical", str(temp), f"{len(stale)} file(s) left by print filters in CUPS's TempDir "
                                           f"({', '.join(p.name for p in stale[:3])}): they may hold a decrypted "
                                           "list of a cancelled job; delete them (as root) when no job is printing"))
    return out


def setup(path: Path = CUPSD_CONF, *, restart: bool = True) -> list[str]:
    """configure() and, if anything changed and `restart`, restart CUPS through systemd. Lines for IT."""
    import shutil
    import subprocess
    if not path.exists():
        return [f"{path} not found: CUPS is not installed here; nothing to configure"]
    changes = configure(path)
    if not changes:
        return [f"{path}: already {', '.join(f'{k} {v}' for k, v in WANTED.items())}"]
    lines = [f"{path}: {c}" for c in changes]
    systemctl = shutil.which("systemctl")
    if restart and systemctl and path == CUPSD_CONF:
        proc = subprocess.run([systemctl, "restart", "cups"], capture_output=True, text=True, timeout=60)
        lines.append("CUPS restarted" if proc.returncode == 0 else
                     f"restart CUPS yourself (systemctl restart cups failed: {proc.stderr.strip()[:200]})")
    else:
        lines.append("restart CUPS for the change to take effect (systemctl restart cups)")
    return lines
