"""The systemd unit for `nodkit run` (Linux).

The unit runs the scheduler as a dedicated user with the file system
read-only except the kit home, restarts it whenever it stops, and maps
`systemctl reload` to SIGHUP (reload schedules) and `stop` to SIGTERM
(clean stop). Windows is covered in docs/operations.md.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from nodkit.errors import StoreError
from nodkit.fsutil import write_atomic

UNIT = """\
# nodkit scheduler for {kit_name_comment}
# Written by 'nodkit service install'. Docs: docs/operations.md
[Unit]
Description=nodkit emergency lists scheduler ({kit})
Wants=network-online.target
After=network-online.target time-sync.target

[Service]
Type=simple
User={user}
Group={user}
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=30
KillSignal=SIGTERM
TimeoutStopSec=30
Environment=PYTHONUNBUFFERED=1
WorkingDirectory={kit}
# Files and folders the scheduler creates are private (0600/0700).
UMask=0077
# Hardening: read-only system, writable kit home only.
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={kit}
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
# No core dumps: a crashed export's memory holds every password and the personal data (issue 16).
LimitCORE=0

[Install]
WantedBy=multi-user.target
"""


def _quote(arg: str) -> str:
    """systemd's ExecStart quoting: double quotes, with \\ and " escaped; % doubled."""
    arg = arg.replace("%", "%%")
    if arg and all(c.isalnum() or c in "/._-+:=@," for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit(kit: Path, *, user: str = "nodkit", kit_name: str = "nodkit", python: str | None = None) -> str:
    kit = kit.resolve()
    if any(c in str(kit) for c in "\n\"'\\ ") :
        raise StoreError(f"{kit}: the kit home path must not contain spaces, quotes or backslashes "
                         "for a systemd unit; move it, e.g. to /srv/nodkit")
    python = python or sys.executable
    exec_start = " ".join(_quote(a) for a in [python, "-m", "nodkit", "run", "--kit", str(kit)])
    comment = kit_name.replace("\n", " ")
    return UNIT.format(kit=str(kit).replace("%", "%%"), user=user, exec_start=exec_start,
                       kit_name_comment=shlex.quote(comment))


def install_unit(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
        path.chmod(0o644)  # systemd reads units as root, but tools like systemctl cat run as users
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the unit: {exc.strerror or exc}",
                         hint="run as root, or give --output PATH") from None
