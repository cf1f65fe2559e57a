"""The systemd unit for `nodkit run` (Linux).

The unit runs the scheduler as a dedicated user with the file system
read-only except the kit home, restarts it whenever it stops, and maps
`systemctl reload` to SIGHUP (reload schedules) and `stop` to SIGTERM
(clean stop). Windows is covered in docs/operations.md.

`ensure_accounts` creates that user (a system account with no login shell:
nobody logs in as the service; staff print with their own logins in the
staff group, docs/operations.md "Accounts") and the group, as root only;
otherwise it returns the commands IT must run.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from nodkit.errors import StoreError
from nodkit.fsutil import write_atomic
from nodkit.security import access

NOLOGIN = "/usr/sbin/nologin"

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
# Source credentials (NODKIT_DB_PASSWORD_... ) live beside the other secrets, 0600, never in nodkit.toml.
EnvironmentFile=-{kit}/keys/nodkit.env
# Group bits for the staff group's folders (set-group-ID, nodkit.security.access); nodkit gives every file
# it writes its mode itself (0600 in keys/ and private folders, 0640 in the shared ones); others get nothing.
UMask=0027
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


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StoreError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip() or f'exit {proc.returncode}'}")


def ensure_accounts(home: Path, user: str, group: str | None) -> tuple[list[str], list[str]]:
    """Create the service user (and the staff group) and give it the kit home: (done, what IT must still run).

    As root: groupadd/useradd/usermod as needed, then the kit home's owner,
    groups and modes (access.apply). Not root: nothing is changed and every
    command is returned, so the caller can print them.
    """
    if not access.supported():
        return [], []
    todo: list[str] = []
    exists = _user_exists(user)
    if group and access.group_id(group) is None:
        todo.append(f"groupadd --system {group}")
    if not exists:
        todo.append(f"useradd --system --home-dir {home} --no-create-home --shell {NOLOGIN}"
                    + (f" --groups {group}" if group else "") + f" {user}")
    elif group and user not in access.members(group):
        todo.append(f"usermod -aG {group} {user}")
    share = f"nodkit permissions --kit {home} --owner {user}" if group else f"chown -R {user}: {home}"
    if os.geteuid() != 0:
        return [], ["sudo " + c for c in todo + [share]]
    done = []
    for command in todo:
        argv = command.split()
        if shutil.which(argv[0]) is None:
            raise StoreError(f"{argv[0]} not found: create the account by hand: {command}")
        _run(argv)
        done.append(command)
    done += access.apply(home, group, user) if group else access.give_to(home, user)
    return done, []


def _user_exists(user: str) -> bool:
    try:
        import pwd
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False
