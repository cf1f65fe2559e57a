"""Staff and IT are different accounts (issue 15): real Unix users, a kit built by the service user,
printing and reading tried as staff logins, `verify` on the modes and groups.

The two-user tests need root (useradd, groupadd, setpriv) and a private cupsd
(tests/cupsfixture.py); without root they are skipped locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import pdftotext, run_cli
from cupsfixture import cups  # noqa: F401  (the module's private cupsd)
from nodkit.fsutil import private_dir, secret_dir, write_atomic
from nodkit.security import access

ENV_SECRET = "Kilde-Hemmelighed-42"


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"two-user test cannot run in CI: {reason}")
    pytest.skip(reason)


def _sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True)


@dataclass
class Accounts:
    group: str
    service: str
    staff: str
    staff2: str
    outsider: str  # a login not in the staff group
    base: Path  # under /tmp, traversable: the users reach the venv and the kit home through it

    def run(self, user: str, *argv: str, input: str | None = None, env: dict | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
        """`argv` as `user` (its own uid, gid and groups; the environment is this one plus HOME)."""
        home = self.base / f"home-{user}"
        home.mkdir(exist_ok=True)
        shutil.chown(home, user)
        full = {**os.environ, "HOME": str(home), "USER": user, "LOGNAME": user, **(env or {})}
        full.pop("NODKIT_HOME", None)
        return subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv],
                              input=input, capture_output=True, text=True, env=full, check=check, timeout=300)

    def nodkit(self, user: str, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(user, sys.executable, "-m", "nodkit", *args, **kw)

    def python(self, user: str, code: str) -> subprocess.CompletedProcess:
        return self.run(user, sys.executable, "-c", code)


def _let_others_traverse(paths: list[Path]) -> list[tuple[Path, int]]:
    """o+x on every folder above the venv and the checkout that lacks it (a CI checkout under /root), so the
    test users can run this Python; the old modes are returned to be put back."""
    changed = []
    for path in paths:
        for folder in [path, *path.parents]:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if not mode & 0o001:
                changed.append((folder, mode))
                os.chmod(folder, mode | 0o001)
    return changed


@pytest.fixture(scope="session")
def accounts():
    if os.name != "posix" or os.geteuid() != 0:
        _unavailable("needs root: creates Unix users and a group")
    for tool in ("useradd", "groupadd", "userdel", "groupdel", "setpriv"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} not installed (apt-get install passwd util-linux)")
    tag = secrets.token_hex(3)
    acc = Accounts(group=f"nks{tag}", service=f"nkv{tag}", staff=f"nka{tag}", staff2=f"nkb{tag}",
                   outsider=f"nko{tag}", base=Path(tempfile.mkdtemp(prefix="nodkit-accounts-", dir="/tmp")))
    acc.base.chmod(0o755)
    made: list[tuple[str, str]] = []
    try:
        _sh("groupadd", acc.group)
        made.append(("groupdel", acc.group))
        _sh("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", acc.group,
            acc.service)
        made.append(("userdel", acc.service))
        for login in (acc.staff, acc.staff2):
            _sh("useradd", "--no-create-home", "--groups", acc.group, login)
            made.append(("userdel", login))
        _sh("useradd", "--no-create-home", acc.outsider)
        made.append(("userdel", acc.outsider))
        opened = _let_others_traverse([Path(sys.executable).parent, Path(__file__).resolve().parent.parent])
        made += [("chmod", f"{mode:o}:{path}") for path, mode in opened]
        probe = acc.python(acc.staff, "import nodkit, pikepdf")
        if probe.returncode != 0:
            _unavailable(f"the venv ({sys.executable}) is not usable by another user: {probe.stderr.strip()[-300:]}")
        yield acc
    finally:
        for tool, name in reversed(made):
            if tool == "chmod":
                mode, path = name.split(":", 1)
                os.chmod(path, int(mode, 8))
            else:
                subprocess.run([tool, name], capture_output=True)
        shutil.rmtree(acc.base, ignore_errors=True)


@dataclass
class SharedKit:
    acc: Accounts
    home: Path
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def shared_kit(accounts, _demo_template) -> SharedKit:
    """The demo kit, owned by the service user, shared with the staff group by `nodkit permissions` run as the
    service user (not root), then one more export by the service user: a set written after the set-up."""
    src = _demo_template
    base = accounts.base / f"kit-{secrets.token_hex(2)}"
    base.mkdir()
    home, sources = base / "kit", base / "kilder"
    shutil.copytree(src.home, home, symlinks=True)
    shutil.copytree(src.sources, sources)
    cfg = home / "nodkit.toml"
    text = cfg.read_text("utf-8").replace(src.sources.as_posix(), sources.as_posix())
    cfg.write_text(text.replace("[kit]\n", f'[kit]\nstaff_group = "{accounts.group}"\n', 1), "utf-8")
    (home / "store" / ".lock").unlink(missing_ok=True)
    # source credentials beside the other secrets (EnvironmentFile of the unit)
    (home / "keys" / "nodkit.env").write_text(f"NODKIT_DB_PASSWORD_X={ENV_SECRET}\n")
    (home / "keys" / "nodkit.env").chmod(0o600)
    _sh("chown", "-R", f"{accounts.service}:{accounts.service}", str(base))
    base.chmod(0o755)
    done = accounts.nodkit(accounts.service, "permissions", "--kit", str(home))
    assert done.returncode == 0, done.stderr
    export = accounts.nodkit(accounts.service, "export", "--kit", str(home), "--force")
    assert export.returncode == 0, export.stderr
    return SharedKit(acc=accounts, home=home, passwords=dict(src.passwords))


def _latest_file(kit: SharedKit, template: str = "binder", unit: str = "Område Nord") -> Path:
    """A file of LATEST: by default the unit's binder (it holds the care route: store format 4)."""
    latest = (kit.home / "store" / "LATEST").read_text().strip()
    return kit.home / "store" / "sets" / latest / "pleje" / unit / f"{template}.pdf"


READ = """
import sys
for path in sys.argv[1:] if len(sys.argv) > 1 else {paths!r}:
    try:
        open(path, 'rb').read(1)
        print('READ', path)
    except PermissionError:
        print('DENIED', path)
"""


def _tries(kit: SharedKit, user: str, paths: list[Path]) -> dict[str, str]:
    out = kit.acc.python(user, READ.format(paths=[str(p) for p in paths]))
    assert out.returncode == 0, out.stderr
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in out.stdout.splitlines()}


def test_staff_prints_with_the_typed_password_and_reads_no_secret(shared_kit, cups):
    kit, acc = shared_kit, shared_kit.acc
    fresh = _latest_file(kit)
    # the set the service exported after the set-up is the staff group's, 0640
    st = fresh.stat()
    assert st.st_gid == access.group_id(acc.group) and stat.S_IMODE(st.st_mode) == 0o640
    route = next(f for f in json.loads((fresh.parents[2] / "manifest.json").read_text("utf-8"))["files"]
                 if f["template"] == "care-route" and f["unit"] == "Område Nord")  # its pages of the binder
    listed = pdftotext(fresh, kit.passwords["pleje"], route["first_page"], route["first_page"] + route["pages"] - 1)
    names = re.findall(r"\b([A-Z][a-z]{2,} [A-Z][a-z]{2,})\b", listed)
    names = [n for n in dict.fromkeys(names) if not n.startswith(("Data pr", "Side"))][:3]
    assert len(names) == 3
    log = kit.home / "logs" / "nodkit.log"
    logged = log.read_text("utf-8").count("audit: print")
    before = cups.printed()
    result = acc.nodkit(acc.staff, "print", "--kit", str(kit.home), "--unit", "Område Nord", "--template",
                        "care-route", "--printer", cups.queue, "--password-stdin", "--json",
                        input=kit.passwords["pleje"] + "\n", env=cups.env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["printer"] == cups.queue
    [paper] = cups.wait_for_new(before)
    text = pdftotext(paper, None)  # what came out of the printer
    assert all(name in text for name in names), names
    # ... but no secret: not the audience passwords, not the signing key, not the source credentials
    tried = _tries(kit, acc.staff, [kit.home / "keys" / "audiences.json", kit.home / "keys" / "signing.key",
                                    kit.home / "keys" / "nodkit.env", kit.home / "keys" / "signing.pub",
                                    kit.home / "nodkit.toml", fresh])
    assert tried == {str(kit.home / "keys" / "audiences.json"): "DENIED",
                     str(kit.home / "keys" / "signing.key"): "DENIED",
                     str(kit.home / "keys" / "nodkit.env"): "DENIED",
                     str(kit.home / "keys" / "signing.pub"): "READ",
                     str(kit.home / "nodkit.toml"): "READ", str(fresh): "READ"}
    assert ENV_SECRET not in (kit.home / "nodkit.toml").read_text("utf-8")
    listing = acc.python(acc.staff, f"import os; os.listdir({str(kit.home / 'keys')!r})")
    assert "PermissionError" in listing.stderr  # keys/ can be passed (signing.pub), not listed
    # the print is in the staff login's own audit chain, owned by it
    chain = kit.home / "audit" / f"{acc.staff}.log"
    assert chain.stat().st_uid == access.pwd.getpwnam(acc.staff).pw_uid
    last = json.loads(chain.read_text().splitlines()[-1])
    assert (last["user"], last["action"], last["result"]) == (acc.staff, "print", "ok")
    assert kit.passwords["pleje"] not in chain.read_text()
    # and logged in the shared log, which the service and every staff login write
    assert log.read_text("utf-8").count("audit: print") == logged + 1
    assert stat.S_IMODE(log.stat().st_mode) == 0o660 and log.stat().st_gid == access.group_id(acc.group)


def test_a_tampered_set_is_refused_to_staff_too(shared_kit):
    """Staff check the signature with signing.pub: a manifest changed by someone is still refused."""
    kit, acc = shared_kit, shared_kit.acc
    latest = (kit.home / "store" / "LATEST").read_text().strip()
    manifest = kit.home / "store" / "sets" / latest / "manifest.json"
    original = manifest.read_bytes()
    try:
        manifest.write_bytes(original.replace(b'"pages": ', b'"pages":  ', 1))
        result = acc.nodkit(acc.staff, "print", "--kit", str(kit.home), "--unit", "Område Nord", "--template",
                            "care-route", "--password-stdin", input=kit.passwords["pleje"] + "\n")
        assert result.returncode != 0
        assert "manifest.sig passer ikke til manifest.json" in result.stderr, result.stderr
    finally:
        manifest.write_bytes(original)


def test_a_second_staff_login_cannot_rewrite_the_first_ones_record(shared_kit):
    kit, acc = shared_kit, shared_kit.acc
    # the second login's own record: a wrong password, recorded in its own chain
    wrong = acc.nodkit(acc.staff2, "print", "--kit", str(kit.home), "--unit", "Område Nord", "--template",
                       "care-route", "--password-stdin", input="forkert-kode\n")
    assert wrong.returncode != 0
    mine = kit.home / "audit" / f"{acc.staff2}.log"
    assert json.loads(mine.read_text().splitlines()[-1])["user"] == acc.staff2
    first = kit.home / "audit" / f"{acc.staff}.log"
    if not first.exists():  # this test alone: the first login records a wrong try too
        acc.nodkit(acc.staff, "print", "--kit", str(kit.home), "--unit", "Område Nord", "--password-stdin",
                   input="forkert\n")
    attack = f"""
import os
first, mine = {str(first)!r}, {str(mine)!r}
for what, act in [("write", lambda: open(first, "ab")), ("remove", lambda: os.unlink(first)),
                  ("rename", lambda: os.rename(first, first + ".x")), ("replace", lambda: os.replace(mine, first)),
                  ("head", lambda: os.replace(mine, first[:-4] + ".head"))]:
    try:
        act()
        print(what, "DONE")
    except PermissionError:
        print(what, "DENIED")
"""
    out = acc.python(acc.staff2, attack)
    assert out.stdout.split() == ["write", "DENIED", "remove", "DENIED", "rename", "DENIED", "replace", "DENIED",
                                  "head", "DENIED"], out.stdout + out.stderr
    # every chain is intact, and `audit verify` (run as the service) reads them all
    check = acc.nodkit(acc.service, "audit", "verify", "--kit", str(kit.home))
    assert check.returncode == 0, check.stdout + check.stderr
    shown = acc.nodkit(acc.service, "audit", "show", "--kit", str(kit.home))
    assert acc.staff in shown.stdout and acc.staff2 in shown.stdout


def test_a_login_outside_the_staff_group_reads_nothing_and_is_told_in_danish(shared_kit):
    kit, acc = shared_kit, shared_kit.acc
    tried = _tries(kit, acc.outsider, [kit.home / "nodkit.toml", _latest_file(kit)])
    assert set(tried.values()) == {"DENIED"}
    menu = acc.nodkit(acc.outsider, "print", "--kit", str(kit.home), input="\n")
    assert menu.returncode == 14, menu.stderr
    assert "Din bruger har ikke adgang til nødlisterne på denne pc" in menu.stderr, menu.stderr
    assert "Permission denied" not in menu.stderr and "Traceback" not in menu.stderr


def _permission_problems(kit: SharedKit) -> tuple[int, list[dict]]:
    result = kit.acc.nodkit(kit.acc.service, "verify", "--kit", str(kit.home), "--json")
    data = json.loads(result.stdout)
    return result.returncode, [p for p in data["problems"] if p["kind"] == "permissions"]


def test_verify_flags_a_readable_secret_and_a_set_of_the_wrong_group(shared_kit):
    kit, acc = shared_kit, shared_kit.acc
    _, problems = _permission_problems(kit)
    assert problems == [], problems  # as set up: nothing to report
    secret = kit.home / "keys" / "audiences.json"
    fresh = _latest_file(kit)
    try:
        secret.chmod(0o644)
        os.chown(fresh, -1, access.pwd.getpwnam(acc.service).pw_gid)
        code, problems = _permission_problems(kit)
        assert code == 2
        by_path = {p["path"]: p for p in problems}
        assert by_path[str(secret)]["severity"] == "CRITICAL"
        assert f"chmod 600 {secret}" in by_path[str(secret)]["message"]
        [store] = [p for p in problems if "cannot read" in p["message"] and "store" in p["message"]]
        assert store["severity"] == "CRITICAL" and store["path"] == str(fresh), problems
        # staff really cannot open that file now: the check is about what staff meet
        assert _tries(kit, acc.staff, [fresh]) == {str(fresh): "DENIED"}
        # source credentials readable by the group, an audit folder staff cannot append to
        (kit.home / "keys" / "nodkit.env").chmod(0o640)
        (kit.home / "audit").chmod(0o3750)
        code, problems = _permission_problems(kit)
        by_path = {p["path"]: p for p in problems}
        assert by_path[str(kit.home / "keys" / "nodkit.env")]["severity"] == "CRITICAL"
        audit = by_path[str(kit.home / "audit")]
        assert audit["severity"] == "WARNING" and "cannot append to the audit log" in audit["message"]
    finally:
        secret.chmod(0o600)
        os.chown(fresh, -1, access.group_id(acc.group))
        (kit.home / "keys" / "nodkit.env").chmod(0o600)
        (kit.home / "audit").chmod(0o3770)
    assert _permission_problems(kit)[1] == []


def test_service_install_creates_a_nologin_service_user_and_shares_the_kit(accounts, demo_kit, tmp_path):
    home = demo_kit.home
    cfg = home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace("[kit]\n", f'[kit]\nstaff_group = "{accounts.group}"\n', 1))
    user = f"nki{secrets.token_hex(3)}"
    cupsd = tmp_path / "cupsd.conf"
    cupsd.write_text("LogLevel warn\n")
    try:
        result = run_cli("service", "install", "--kit", str(home), "--user", user, "--output",
                         str(tmp_path / "nodkit.service"), "--cupsd-conf", str(cupsd))
        assert result.exit_code == 0, result.output
        entry = access.pwd.getpwnam(user)
        assert entry.pw_shell == "/usr/sbin/nologin"  # nobody logs in as the service: staff use their own logins
        assert user in access.members(accounts.group)
        assert (home / "keys" / "signing.key").stat().st_uid == entry.pw_uid
        assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o711
        assert stat.S_IMODE((home / "keys" / "signing.key").stat().st_mode) == 0o600
        audit = (home / "audit").stat()
        assert audit.st_uid == 0 and stat.S_IMODE(audit.st_mode) == 0o3770  # not even the service removes records
        assert "NOT set up" not in result.output
    finally:
        subprocess.run(["userdel", user], capture_output=True)


# ------------------------------------------------------------------ without other users (any machine)

def test_a_shared_folder_passes_its_group_and_0640_to_what_is_written_later(tmp_path):
    shared = tmp_path / "store"
    shared.mkdir()
    os.chmod(shared, 0o2750)  # what `nodkit permissions` gives a store (the group here: our own)
    write_atomic(shared / "LATEST", b"x\n")
    assert stat.S_IMODE((shared / "LATEST").stat().st_mode) == 0o640
    new = private_dir(shared / "sets" / "20261201T000000Z-abcd")
    assert stat.S_IMODE(new.stat().st_mode) == 0o2750 and stat.S_IMODE(new.parent.stat().st_mode) == 0o2750
    # keys/ never becomes shared, even in a shared home, and keeps the traversal bit staff need
    keys = secret_dir(shared / "keys")
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    keys.chmod(0o2755)
    secret_dir(keys)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o711
    write_atomic(keys / "audiences.json", b"{}", 0o600)
    assert stat.S_IMODE((keys / "audiences.json").stat().st_mode) == 0o600
    # a private folder stays private
    plain = private_dir(tmp_path / "private" / "a")
    write_atomic(plain / "f", b"x")
    assert stat.S_IMODE(plain.stat().st_mode) == 0o700 and stat.S_IMODE((plain / "f").stat().st_mode) == 0o600


def _verify_json(home: Path) -> tuple[int, list[dict]]:
    result = run_cli("verify", "--kit", str(home), "--json")
    return result.exit_code, [p for p in json.loads(result.stdout)["problems"] if p["kind"] == "permissions"]


def test_verify_on_a_single_account_kit_flags_a_readable_secret(demo_kit):
    assert _verify_json(demo_kit.home)[1] == []
    secret = demo_kit.home / "keys" / "signing.key"
    secret.chmod(0o640)
    code, problems = _verify_json(demo_kit.home)
    assert code == 2 and [p["path"] for p in problems] == [str(secret)]
    assert problems[0]["severity"] == "CRITICAL" and "fix: chmod 600" in problems[0]["message"]


def test_verify_never_says_ok_for_a_staff_group_that_does_not_exist(demo_kit):
    cfg = demo_kit.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace("[kit]\n", '[kit]\nstaff_group = "nodkit-nosuch-grp"\n', 1))
    code, problems = _verify_json(demo_kit.home)
    assert code == 2
    assert [p["severity"] for p in problems] == ["CRITICAL"]
    assert "'nodkit-nosuch-grp' ([kit] staff_group) does not exist" in problems[0]["message"]
    assert "sudo groupadd --system nodkit-nosuch-grp" in problems[0]["message"]


def test_init_says_which_commands_it_must_run_when_it_cannot_share(tmp_path):
    result = run_cli("init", str(tmp_path / "k"), "--generate", "--staff-group", "nodkit-nosuch-grp")
    assert result.exit_code == 0, result.output
    assert "NOT shared with the staff group 'nodkit-nosuch-grp' yet" in result.stderr
    assert "sudo groupadd --system nodkit-nosuch-grp" in result.stderr
    assert f"sudo nodkit permissions --kit {tmp_path / 'k'} --owner nodkit" in result.stderr
    assert 'staff_group = "nodkit-nosuch-grp"' in (tmp_path / "k" / "nodkit.toml").read_text("utf-8")
    # nothing was shared on the way: the kit stays private until IT runs the commands
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700


def test_one_chain_per_login_is_verified_and_named(demo_kit):
    """A kit with audit/ (shared with staff): each login appends to its own chain; verify names the chain."""
    tmp_path = demo_kit.home
    import datetime as dt
    from nodkit.printing.audit import AuditLog, os_user
    now = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.timezone.utc)
    old = AuditLog(tmp_path)  # before the set-up: the single chain, kept as history
    old.append(action="print", set_id=None, files=[], pages=1, printer="p", copies=1, result="ok", now=now)
    (tmp_path / "audit").mkdir()
    log = AuditLog(tmp_path)
    assert log.path == tmp_path / "audit" / f"{os_user()}.log"
    for minute in (1, 2):
        log.append(action="print", set_id=None, files=[], pages=minute, printer="p", copies=1, result="ok",
                   now=now + dt.timedelta(minutes=minute))
    assert [r["pages"] for r in log.records()] == [1, 1, 2] and log.verify().ok
    lines = log.path.read_text().splitlines()
    log.path.write_text(lines[0] + "\n" + lines[1].replace('"pages":2', '"pages":9') + "\n")
    problem = log.verify().problems[0]
    assert str(problem) == f"audit/{os_user()}.log: record 2 (line 2): content does not match its hash (record edited)"
    result = run_cli("audit", "verify", "--kit", str(tmp_path))
    assert result.exit_code == 15 and f"{tmp_path}/audit/{os_user()}.log: record 2" in result.stdout


def test_the_printed_guide_says_which_login_to_use(demo_kit):
    from nodkit.config.settings import load_config
    from nodkit.render.guide import guide_pdf
    cfg = demo_kit.home / "nodkit.toml"
    original = cfg.read_text("utf-8")
    texts = {}
    for name, line in [("single", ""), ("group", 'staff_group = "nodkit-staff"\n'),
                       ("own", 'staff_group = "nodkit-staff"\nstaff_login = "nodliste (koden står i kuverten)"\n')]:
        cfg.write_text(original.replace("[kit]\n", "[kit]\n" + line, 1), "utf-8")
        out = demo_kit.home / f"guide-{name}.pdf"
        out.write_bytes(guide_pdf(load_config(demo_kit.home)))
        texts[name] = " ".join(pdftotext(out, None).split())
        out.unlink()
    assert "log ind som: nødliste-pc'ens fælles bruger" in texts["single"]
    assert "log ind som: din egen bruger (i gruppen nodkit-staff;" in texts["group"]
    assert "log ind som: nodliste (koden står i kuverten)" in texts["own"]


def test_verify_names_a_secret_the_exporting_owner_cannot_read(demo_kit, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another owner")
    secret = demo_kit.home / "keys" / "audiences.json"
    os.chown(secret, 65534, -1)  # as after `sudo nodkit password set` on a kit of another owner
    code, problems = _verify_json(demo_kit.home)
    assert code == 2 and [p["path"] for p in problems] == [str(secret)]
    assert "not by keys/'s owner root" in problems[0]["message"] and "fix: chown root:" in problems[0]["message"]


def test_the_kiosk_runs_as_a_staff_login(shared_kit):
    """The print page as the staff's desktop login (docs/operations.md, kiosk step 5): lists and units shown."""
    import socket
    import time
    import urllib.request
    kit, acc = shared_kit, shared_kit.acc
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = acc.base / f"home-{acc.staff}"
    home.mkdir(exist_ok=True)
    shutil.chown(home, acc.staff)
    proc = subprocess.Popen(["setpriv", f"--reuid={acc.staff}", f"--regid={acc.staff}", "--init-groups", "--",
                             sys.executable, "-m", "nodkit", "kiosk", "--kit", str(kit.home), "--port", str(port)],
                            env={**os.environ, "HOME": str(home)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, page = time.monotonic() + 30, None
        while page is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/enhed/pleje/Omr%C3%A5de%20Nord",
                                              timeout=5).read().decode()
            except OSError:
                time.sleep(0.3)
        assert page is not None, proc.stderr.read() if proc.poll() is not None else "kiosk did not answer"
        assert "Køreliste" in page and "Område Nord" in page
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_station_init_shares_its_store_with_the_staff_group(accounts, demo_kit, tmp_path):
    station = tmp_path / "station"
    result = run_cli("station", "init", str(station), "--upstream", "https://exporter.invalid/store/", "--pubkey",
                     str(demo_kit.home / "keys" / "signing.pub"), "--audience", "pleje", "--staff-group",
                     accounts.group, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["shared"] is True
    gid = access.group_id(accounts.group)
    modes = {p: (stat.S_IMODE(p.stat().st_mode), p.stat().st_gid == gid)
             for p in [station, station / "store", station / "keys", station / "keys" / "signing.pub",
                       station / "keys" / "station.key", station / "nodkit.toml", station / "audit"]}
    assert modes == {station: (0o2750, True), station / "store": (0o2750, True), station / "keys": (0o711, False),
                     station / "keys" / "signing.pub": (0o644, False),
                     station / "keys" / "station.key": (0o600, False), station / "nodkit.toml": (0o640, True),
                     station / "audit": (0o3770, True)}
    # the synced sets will land in store/sets: created now by the same rule as a sync does it
    private_dir(station / "store" / "sets" / "20261202T000000Z-abcd" / "pleje")
    write_atomic(station / "store" / "LATEST", b"20261202T000000Z-abcd\n")
    assert access.check(station, accounts.group) == []
