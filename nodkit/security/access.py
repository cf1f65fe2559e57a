"""Who may read what in a kit home: the exporting service account and the staff group.

Two roles (docs/design.md, "Accounts and permissions"; docs/operations.md):

- the **service account** (e.g. `nodkit`) owns the kit home, runs export,
  retention, sync and the scheduler, and alone can read `keys/` secrets
  (signing.key, audiences.json, station.key, *.env with source credentials);
- **staff logins** are members of the staff group (`[kit] staff_group`,
  e.g. `nodkit-staff`). They read nodkit.toml (which never holds a
  credential: the config refuses one), signing.pub (to check every
  manifest's signature) and the store, write logs/, and append to their own
  audit chain in audit/. They never read a secret: a list opens only with
  the password they type.

The layout (`planned`), with the owner's primary group unless said:

    <home>/           02750 group staff   (set-group-ID: what is created in it is the staff group's)
      nodkit.toml      0640 group staff
      keys/            0711                (staff may pass, not list)
        *.pub          0644
        everything else 0600
      store/ **        02750 / 0640 group staff (locks 0640 too; staff never take them)
      templates/, schedules/ **  02750 / 0640 group staff
      logs/            02770 group staff, files 0660
      audit/           03770 group staff, owned by root when set up by root
                        (sticky: a login can remove or rename only its own files)
        <user>.log, <user>.head   0640, the user's own

Files written after set-up get these modes from nodkit.fsutil (the folder
decides). Someone with the service account or root can still rewrite
anything; the modes keep staff logins (and other local accounts) out of
secrets and out of one another's audit records, nothing more.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from nodkit.errors import StoreError
from nodkit.fsutil import SECRET_MODE
from nodkit.security.crypto import PUBLIC_MODE

try:  # Unix only; on Windows the kit folder's ACLs are IT's (docs/operations.md)
    import grp
    import pwd
except ImportError:  # pragma: no cover - Windows
    grp = pwd = None  # type: ignore[assignment]

DEFAULT_GROUP = "nodkit-staff"
AUDIT_DIR = "audit"
SHARED_TREES = ("store", "templates", "schedules")
HOME_DIR_MODE = 0o2750
KEYS_DIR_MODE = 0o711
TREE_DIR_MODE = 0o2750
TREE_FILE_MODE = 0o640
LOGS_DIR_MODE = 0o2770
LOGS_FILE_MODE = 0o660
AUDIT_DIR_MODE = 0o3770
LOCKS = {".lock", ".run.lock"}


@dataclass(frozen=True)
class Planned:
    path: Path
    mode: int
    staff: bool  # group: the staff group (True) or the owner's primary group (False)


@dataclass(frozen=True)
class Finding:
    severity: str  # "critical" | "warning"
    path: str
    message: str


def supported() -> bool:
    return grp is not None and os.name == "posix"


def group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except (KeyError, AttributeError):
        return None


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, AttributeError):
        return f"uid {uid}"


def members(name: str) -> list[str]:
    """Logins in group `name`: its member list and those whose primary group it is."""
    try:
        entry = grp.getgrnam(name)
    except (KeyError, AttributeError):
        return []
    return sorted(set(entry.gr_mem) | {p.pw_name for p in pwd.getpwall() if p.pw_gid == entry.gr_gid})


def is_secret(path: Path) -> bool:
    """A file in keys/ other than a public key."""
    return not path.name.endswith(".pub")


def planned(home: Path) -> list[Planned]:
    """Every mode the set-up gives (see the module docstring), for what exists now."""
    out = [Planned(home, HOME_DIR_MODE, True)]
    config = home / "nodkit.toml"
    if config.exists():
        out.append(Planned(config, TREE_FILE_MODE, True))
    keys = home / "keys"
    if keys.is_dir():
        out.append(Planned(keys, KEYS_DIR_MODE, False))
        for path in sorted(keys.iterdir()):
            if path.is_file() and not path.is_symlink():
                out.append(Planned(path, SECRET_MODE if is_secret(path) else PUBLIC_MODE, False))
    for tree in SHARED_TREES:
        out += _tree(home / tree, TREE_DIR_MODE, TREE_FILE_MODE)
    out += _tree(home / "logs", LOGS_DIR_MODE, LOGS_FILE_MODE)
    for name in ("audit.log", "audit.head"):  # the single chain of a kit from before the set-up: history
        if (home / name).is_file():
            out.append(Planned(home / name, TREE_FILE_MODE, True))
    if (home / AUDIT_DIR).is_dir():  # its files stay their logins' own (0640, made so by AuditLog)
        out.append(Planned(home / AUDIT_DIR, AUDIT_DIR_MODE, True))
    return out


def _tree(root: Path, dir_mode: int, file_mode: int) -> list[Planned]:
    if not root.is_dir() or root.is_symlink():
        return []
    out = [Planned(root, dir_mode, True)]
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            continue
        out.append(Planned(path, dir_mode if path.is_dir() else file_mode, True))
    return out


def apply(home: Path, group: str, owner: str | None = None, *, dry_run: bool = False) -> list[str]:
    """Give the kit home the modes and groups above; with `owner` (root only) also its owner.

    Returns one line per change. Raises StoreError naming what could not be done
    and the commands IT must run instead (`commands`): nothing is skipped silently.
    """
    if not supported():
        raise StoreError("separate staff accounts are set up by IT on this system (folder permissions); "
                         "see docs/operations.md")
    gid = group_id(group)
    if gid is None:
        raise StoreError(f"group '{group}' does not exist", hint="run: " + " && ".join(commands(home, group, owner)))
    uid = primary = None
    if owner is not None:
        try:
            entry = pwd.getpwnam(owner)
        except KeyError:
            raise StoreError(f"user '{owner}' does not exist",
                             hint="run: " + " && ".join(commands(home, group, owner))) from None
        uid, primary = entry.pw_uid, entry.pw_gid
    audit = home / AUDIT_DIR
    done: list[str] = []
    try:
        if not audit.exists():
            done.append(f"mkdir {audit}")
            if not dry_run:
                audit.mkdir(mode=0o700)
        for item in planned(home):
            done += _apply_one(item, gid, uid, primary, dry_run=dry_run)
    except PermissionError as exc:
        raise StoreError(f"{exc.filename}: cannot set its owner, group or mode ({exc.strerror})",
                         hint="run: " + " && ".join(commands(home, group, owner))) from None
    return done


def _apply_one(item: Planned, gid: int, uid: int | None, primary: int | None, *, dry_run: bool) -> list[str]:
    st = item.path.lstat()
    want_gid = gid if item.staff else (primary if primary is not None else st.st_gid)
    # the audit folder belongs to root when root sets it up: then not even the service can remove a record
    want_uid = 0 if item.path.name == AUDIT_DIR and os.geteuid() == 0 else uid
    lines = []
    if (want_uid is not None and st.st_uid != want_uid) or st.st_gid != want_gid:
        lines.append(f"chown {user_name(want_uid if want_uid is not None else st.st_uid)}:"
                     f"{_group_name(want_gid)} {item.path}")
        if not dry_run:
            os.chown(item.path, -1 if want_uid is None else want_uid, want_gid, follow_symlinks=False)
    mode = item.mode
    if stat.S_IMODE(st.st_mode) != mode or lines:  # chown clears the set-group-ID bit: set the mode again
        if stat.S_IMODE(st.st_mode) != mode:
            lines.append(f"chmod {mode:04o} {item.path}")
        if not dry_run:
            os.chmod(item.path, mode)
    return lines


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def commands(home: Path, group: str, owner: str | None = None, staff: list[str] | None = None) -> list[str]:
    """The shell commands IT runs (as root) to set a kit home up for separate staff logins."""
    owner = owner or "nodkit"
    out = []
    if group_id(group) is None:
        out.append(f"sudo groupadd --system {group}")
    try:
        pwd.getpwnam(owner)
        out.append(f"sudo usermod -aG {group} {owner}")
    except (KeyError, AttributeError):
        out.append(f"sudo useradd --system --home-dir {home} --no-create-home --shell /usr/sbin/nologin "
                   f"--groups {group} {owner}")
    out.append(f"sudo nodkit permissions --kit {home} --owner {owner}")
    for login in staff or ["<staff login>"]:
        out.append(f"sudo usermod -aG {group} {login}")
    return out


# ------------------------------------------------------------------ checks (nodkit verify)

def check(home: Path, group: str | None, credential_files: list[Path] = ()) -> list[Finding]:
    """What is wrong with the kit home's modes and groups, each with its path and the fix.

    `group` None: a single-account kit: only that secrets are private and that
    nothing others can write could redirect the kit. Never returns an empty
    list for something it could not look at.
    """
    if not supported():
        return []
    found: list[Finding] = []
    try:
        found += _check_private(home, credential_files)
        if group is not None:
            found += _check_shared(home, group)
    except PermissionError as exc:
        found.append(Finding("warning", str(exc.filename or home),
                             f"cannot check the permissions ({exc.strerror}); run verify as the kit's owner or root"))
    return found


def _mode(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _check_private(home: Path, credential_files) -> list[Finding]:
    found = []
    st = _mode(home)
    if st is not None and st.st_mode & 0o022:
        found.append(Finding("critical", str(home), "the kit home is writable by group or others: they could "
                             f"replace keys/ or the store; fix: chmod g-w,o-w {home}"))
    keys = home / "keys"
    st = _mode(keys)
    if st is not None:
        if st.st_mode & 0o022:
            found.append(Finding("critical", str(keys), f"writable by group or others (could swap signing.pub); "
                                 f"fix: chmod 0711 {keys}"))
        elif st.st_mode & 0o044:
            found.append(Finding("warning", str(keys), f"listable by group or others; fix: chmod 0711 {keys}"))
        for path in sorted(keys.iterdir()):
            pst = _mode(path)
            if pst is None or not stat.S_ISREG(pst.st_mode):
                continue
            if is_secret(path) and pst.st_mode & 0o077:
                found.append(Finding("critical", str(path), f"secret readable or writable by group or others "
                                     f"(mode {stat.S_IMODE(pst.st_mode):04o}); fix: chmod 600 {path}"))
            elif is_secret(path) and pst.st_uid != st.st_uid and not path.name.startswith("."):
                # e.g. `sudo nodkit password set` run as root: the service can no longer read it
                owner = user_name(st.st_uid)
                found.append(Finding("critical", str(path), f"owned by {user_name(pst.st_uid)}, not by keys/'s owner "
                                     f"{owner}, who exports: it cannot read it; fix: chown {owner}: {path} "
                                     f"(and run nodkit as {owner}: sudo -u {owner} nodkit …)"))
            elif not is_secret(path) and pst.st_mode & 0o022:
                found.append(Finding("critical", str(path), f"public key writable by group or others: a swapped key "
                                     f"lets forged lists pass; fix: chmod 644 {path}"))
    for path in credential_files:
        pst = _mode(path)
        if pst is not None and pst.st_mode & 0o077:
            found.append(Finding("critical", str(path), f"credentials readable or writable by group or others "
                                 f"(mode {stat.S_IMODE(pst.st_mode):04o}); fix: chmod 600 {path}"))
    config = home / "nodkit.toml"
    pst = _mode(config)
    if pst is not None and pst.st_mode & 0o022:
        found.append(Finding("critical", str(config), f"writable by group or others (could change audiences or "
                             f"printers); fix: chmod 640 {config}"))
    return found


def _staff_can(st: os.stat_result, gid: int, bits: int) -> bool:
    """Can a staff login (group `gid`, not the owner) do `bits` (r=4, w=2, x=1) on it? Unix uses the group
    bits for a member of the file's group, else the others bits."""
    mode = stat.S_IMODE(st.st_mode)
    return ((mode >> 3) if st.st_gid == gid else mode) & bits == bits


def _check_shared(home: Path, group: str) -> list[Finding]:
    gid = group_id(group)
    fix = f"sudo nodkit permissions --kit {home}"
    if gid is None:
        return [Finding("critical", str(home), f"staff group '{group}' ([kit] staff_group) does not exist: no staff "
                        "login can read the lists, and the rest cannot be checked; fix: "
                        + " && ".join(commands(home, group)))]
    found = []
    logins = members(group)
    keys_st = _mode(home / "keys")
    owner = user_name(keys_st.st_uid) if keys_st is not None else None
    staff_logins = [u for u in logins if u != owner]
    if not staff_logins:
        found.append(Finding("warning", f"group {group}", "no staff login is in the group: only IT can print; fix: "
                             f"sudo usermod -aG {group} <login>"))
    if owner is not None and owner not in logins and owner != "root":
        found.append(Finding("warning", f"group {group}", f"the kit's owner '{owner}' is not in the group: it cannot "
                             f"give what it writes to staff; fix: sudo usermod -aG {group} {owner}"))
    st = _mode(home)
    if st is not None and not _staff_can(st, gid, 5):
        found.append(Finding("critical", str(home), f"staff (group {group}) cannot open the kit home: nobody can "
                             f"print without IT's account; fix: {fix}"))
    if keys_st is not None and not _staff_can(keys_st, gid, 1):
        found.append(Finding("critical", str(home / "keys"), "staff cannot reach keys/signing.pub, so no list "
                             f"passes the signature check; fix: chmod 0711 {home / 'keys'}"))
    for pub in sorted((home / "keys").glob("*.pub")):
        pst = _mode(pub)
        if pst is not None and not _staff_can(pst, gid, 4):
            found.append(Finding("critical", str(pub), f"staff cannot read the public key; fix: chmod 644 {pub}"))
    config = home / "nodkit.toml"
    pst = _mode(config)
    if pst is not None and not _staff_can(pst, gid, 4):
        found.append(Finding("critical", str(config), f"staff cannot read the configuration, so cannot print; fix: "
                             f"chgrp {group} {config} && chmod 640 {config}"))
    found += _check_tree(home / "store", gid, group, fix)
    logs = home / "logs"
    lst = _mode(logs)
    if lst is not None and not (_staff_can(lst, gid, 3) and lst.st_mode & stat.S_ISGID):
        found.append(Finding("warning", str(logs), f"staff cannot write the log (their prints go unlogged); fix: {fix}"))
    elif lst is not None:
        for path in sorted(logs.glob("nodkit.log*")):
            fst = _mode(path)
            if fst is not None and not _staff_can(fst, gid, 6):
                found.append(Finding("warning", str(path), f"staff cannot write the log; fix: chgrp {group} {path} "
                                     f"&& chmod 660 {path}"))
    found += _check_audit(home / AUDIT_DIR, gid, group, fix)
    return found


def _check_tree(root: Path, gid: int, group: str, fix: str) -> list[Finding]:
    unreadable, writable, unshared = [], [], []
    if not root.is_dir():
        return []
    for path in [root, *_walk(root)]:
        rel = path.relative_to(root).parts
        if rel[:1] == (".incoming",) or path.name in LOCKS or path.is_symlink():
            continue  # work in progress and locks: the service's own
        st = path.lstat()
        is_dir = stat.S_ISDIR(st.st_mode)
        if not _staff_can(st, gid, 5 if is_dir else 4):
            unreadable.append(path)
        if st.st_mode & 0o022:
            writable.append(path)
        if is_dir and not st.st_mode & stat.S_ISGID:
            unshared.append(path)
    found = []
    if unreadable:
        found.append(Finding("critical", str(unreadable[0]), f"staff (group {group}) cannot read "
                             f"{len(unreadable)} file(s) or folder(s) of the store, so cannot print them; fix: {fix}"))
    if unshared:
        found.append(Finding("warning", str(unshared[0]), f"{len(unshared)} store folder(s) without the set-group-ID "
                             f"bit: the next export's files will not be the staff group's; fix: {fix}"))
    if writable:
        found.append(Finding("warning", str(writable[0]), f"{len(writable)} file(s) or folder(s) of the store writable "
                             f"by group or others (lists could be removed); fix: {fix}"))
    return found


def _walk(root: Path) -> list[Path]:
    """Everything under `root`; a folder verify cannot list raises (PermissionError: "cannot check"),
    where Path.rglob would skip it silently and report nothing for it."""
    def fail(exc: OSError) -> None:
        raise exc
    out = []
    for folder, dirs, files in os.walk(root, onerror=fail):
        dirs.sort()
        out += [Path(folder, name) for name in sorted(dirs + files)]
    return out


def _check_audit(audit: Path, gid: int, group: str, fix: str) -> list[Finding]:
    st = _mode(audit)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return [Finding("warning", str(audit), f"no audit folder: staff logins cannot record their prints; fix: {fix}")]
    if not _staff_can(st, gid, 3):
        return [Finding("warning", str(audit), f"staff (group {group}) cannot append to the audit log; fix: {fix}")]
    found = []
    if not st.st_mode & stat.S_ISVTX:
        found.append(Finding("warning", str(audit), "no sticky bit: a staff login can remove or replace another's "
                             f"audit records; fix: chmod 3770 {audit}"))
    for path in sorted(audit.iterdir()):
        fst = _mode(path)
        if fst is not None and stat.S_ISREG(fst.st_mode) and fst.st_mode & 0o022:
            found.append(Finding("warning", str(path), f"writable by group or others (records could be rewritten); "
                                 f"fix: chmod 640 {path}"))
    return found


@dataclass
class SetUp:
    """What `set_up` did, or why it could not and what IT must run instead."""
    changes: list[str]
    problem: str | None = None
    commands: list[str] | None = None


def set_up(home: Path, group: str, owner: str | None = None) -> SetUp:
    """`apply` for `init`, `station init` and `service install`: never raises, never skips silently."""
    try:
        return SetUp(apply(home, group, owner))
    except StoreError as exc:
        return SetUp([], exc.message, commands(home, group, owner))


def give_to(home: Path, owner: str) -> list[str]:
    """A single-account kit (no staff group): the whole kit home to `owner` and its primary group, modes kept."""
    try:
        entry = pwd.getpwnam(owner)
    except (KeyError, AttributeError):
        raise StoreError(f"user '{owner}' does not exist") from None
    done = []
    for path in [home, *sorted(home.rglob("*"))]:
        st = path.lstat()
        if (st.st_uid, st.st_gid) != (entry.pw_uid, entry.pw_gid):
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
            done.append(f"chown {owner}: {path}")
    return done


def config_lines(group: str | None) -> str:
    """The [kit] lines of a new nodkit.toml about accounts (docs/configuration.md)."""
    if group:
        first = f'staff_group = "{group}"' + " " * max(1, 31 - len(group) - 16)
    else:
        first = f'# staff_group = "{DEFAULT_GROUP}"' + " "
    return (first + "# staff print with their own logins in this Unix group (docs/operations.md); "
            "absent: one account for all\n"
            '# staff_login = "din egen bruger (spørg IT)"   # which login the printed guide tells staff to use\n')
