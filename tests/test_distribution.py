"""Print stations fed by an exporter through a real nginx on loopback (docs/distribution.md).

One nginx per module (its own prefix and port) serves copies of a real
exporter's store; each attack and fault gets its own copy. After every one,
the station's last good sets still verify and nothing half-written is visible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench import nginx as nginxtools
from conftest import ROOT, pdftotext, run_cli
from kittools import clone_set, edit_manifest
from nodkit.config.settings import load_config
from nodkit.distribution import fleet, sync
from nodkit.distribution.station import init_station
from nodkit.distribution.transport import UpstreamError
from nodkit.errors import CRITICAL, OK, StoreError, WARNING
from nodkit.monitoring.verify import verify_kit
from nodkit.security import crypto
from nodkit.store.sets import Store


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"nginx distribution test cannot run in CI: {reason}")
    pytest.skip(reason)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    if not Path(nginxtools.NGINX).exists():
        _unavailable("nginx not installed (apt-get install nginx)")
    if os.geteuid() != 0:
        _unavailable("needs root: the exporter's store is 0700 and nginx's worker must read it")
    prefix = tmp_path_factory.mktemp("nginx")
    prefix.chmod(0o755)
    server = nginxtools.start(prefix, tls=_self_signed(prefix))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def exporter(_demo_template):
    return _demo_template


def _publish(web, exporter, name: str) -> Path:
    """A copy of the exporter's store, served at /w/<name>/ (tests may tamper with it)."""
    target = web.www / name
    shutil.copytree(exporter.home / "store", target)
    return target


def _station(tmp_path: Path, upstream: str, exporter, *, audience="pleje", units=("Område Nord",), name="st",
             **extra):
    home = tmp_path / name
    config = init_station(home, upstream=upstream, pubkey=exporter.home / "keys" / "signing.pub",
                          audiences=[audience], units=list(units), name=f"Station {name}", **extra)
    return config


def _set_option(config, text: str):
    """Append options to [station] (the generated file's [station] table ends before [printer])."""
    path = config.home / "nodkit.toml"
    path.write_text(path.read_text("utf-8").replace("[printer]", text + "\n[printer]"), "utf-8")
    return load_config(config.home)


def _new_set(store: Path, exporter, minutes: int = 0, keys: Path | None = None, status: str = "good",
             fresh: bool = False) -> str:
    """A newer set on the served store (a clone of LATEST, re-signed by `keys`), made LATEST there.

    `fresh`: every file gets other bytes (a trailing PDF comment), as a real new export has,
    so the station cannot take them from the set it holds.
    """
    home = store.parent / f".home-{store.name}"
    home.mkdir(exist_ok=True)
    if not (home / "store").exists():
        (home / "store").symlink_to(store)
    shutil.copytree(keys or exporter.home / "keys", home / "keys", dirs_exist_ok=True)
    created = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
    new_id = clone_set(home, created, status=status)
    if fresh:
        def change(m):
            for relpath in {f["path"] for f in m["files"]}:  # each file once (a binder and its lists)
                path = store / "sets" / new_id / relpath
                blob = path.read_bytes() + f"% {new_id}\n".encode()
                path.write_bytes(blob)
                for f in m["files"]:
                    if f["path"] == relpath:
                        f.update(bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest())
        edit_manifest(store / "sets" / new_id, home / "keys", change)
    if status == "good":
        (store / "LATEST").write_text(new_id + "\n")
    return new_id


def _assert_intact(config, latest: str) -> None:
    """The station's sets verify, LATEST is unchanged, nothing half-written is visible."""
    store = Store(config.store)
    assert store.latest_id() == latest
    report = verify_kit(config, health=False, all_sets=True)
    assert [p for p in report.problems] == [], [p.line() for p in report.problems]
    assert report.files_checked > 0
    assert not any(store.incoming_dir.iterdir()), list(store.incoming_dir.iterdir())


def _held(config) -> set[str]:
    latest = Store(config.store).latest_id()
    base = config.store / "sets" / latest
    return {p.relative_to(base).as_posix() for p in base.rglob("*.pdf")}


# ---------------------------------------------------------------- two stations, end to end

def test_two_stations_sync_print_and_verify(web, exporter, tmp_path):
    _publish(web, exporter, "main")
    upstream = f"{web.url}/w/main/"
    care = _station(tmp_path, upstream, exporter, name="nord", status_upload=f"{web.url}/fleet/")
    school = _station(tmp_path, upstream, exporter, audience="skole", units=("Vestre Skole",), name="vestre")
    synced = {}
    for config in (care, school):
        result = run_cli("station", "sync", "--kit", str(config.home), "--json")
        assert result.exit_code == 0, result.output
        synced[config.home] = json.loads(result.stdout)
        assert synced[config.home]["status"] == "synced"
    manifest_files = {f["path"] for f in json.loads((exporter.set_dir / "manifest.json").read_text())["files"]}
    nord, vestre = _held(care), _held(school)
    # store format 4: the unit's lists are pages of its binder, which is downloaded once
    binder = exporter.set_dir / "pleje" / "Område Nord" / "binder.pdf"
    assert "pleje/Område Nord/binder.pdf" in nord and not any(p.endswith("/care-route.pdf") for p in nord)
    held_bytes = sum((exporter.set_dir / p).stat().st_size for p in nord)
    assert synced[care.home]["files"] == len(nord)
    assert held_bytes <= synced[care.home]["bytes"] < held_bytes + binder.stat().st_size / 2
    assert nord and all(p.startswith(("pleje/Område Nord/", "pleje/Fælles/")) for p in nord)
    assert vestre and all(p.startswith(("skole/Vestre Skole/", "skole/Fælles/")) for p in vestre)
    assert nord == {p for p in manifest_files if p.startswith(("pleje/Område Nord/", "pleje/Fælles/"))}
    # verify knows the other units' files are absent on purpose; the set is the exporter's, unchanged
    for config in (care, school):
        result = run_cli("verify", "--kit", str(config.home))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("NODKIT OK")
    assert (care.store / "sets" / exporter.latest / "manifest.json").read_bytes() == \
        (exporter.set_dir / "manifest.json").read_bytes()
    # a second sync with nothing new reads only LATEST
    again = json.loads(run_cli("station", "sync", "--kit", str(care.home), "--json").stdout)
    assert again["status"] == "current" and again["bytes"] < 100
    # print on the station (command backend) with the password typed: the plain PDF reaches the printer
    paper = tmp_path / "paper"
    paper.mkdir()
    cfg = care.home / "nodkit.toml"
    cfg.write_text(cfg.read_text("utf-8").replace(
        'backend = "cups"', f'backend = "command"\ncommand = ["sh", "-c", "cat > {paper}/job-$$.pdf"]'), "utf-8")
    result = run_cli("print", "--kit", str(care.home), "--unit", "Område Nord", "--template", "care-route",
                     "--password-stdin", input=exporter.passwords["pleje"] + "\n")
    assert result.exit_code == 0, result.output
    printed = list(paper.glob("job-*.pdf"))
    assert len(printed) == 1 and "Område Nord" in pdftotext(printed[0], None)
    wrong_unit = run_cli("print", "--kit", str(care.home), "--unit", "Område Syd", "--template", "care-route",
                         "--password-stdin", input=exporter.passwords["pleje"] + "\n")
    assert wrong_unit.exit_code == 16 and "Område Syd" in wrong_unit.output
    assert run_cli("audit", "verify", "--kit", str(care.home)).exit_code == 0
    # the menu offers only the units the station holds
    from nodkit.printing import spooler
    export_set = Store(care.store).load(exporter.latest)
    assert spooler.units(export_set, care.station) == ["Område Nord", "Fælles"]
    # the care station reported to the exporter's /fleet/ over HTTP PUT; the exporter's view lists it
    assert (web.fleet / "Station nord.json").exists()
    rows = fleet.read_fleet(load_config(exporter.home), web.fleet)
    row = next(r for r in rows if r.station == "Station nord")
    assert row.severity == "OK" and row.latest == exporter.latest, row


def test_newer_set_is_taken_and_unchanged_files_are_not_downloaded_again(web, exporter, tmp_path):
    store = _publish(web, exporter, "newer")
    config = _station(tmp_path, f"{web.url}/w/newer/", exporter)
    first = sync.run_sync(config)
    new_id = _new_set(store, exporter)  # same files (a clone): nothing new to download but the manifest
    second = sync.run_sync(config)
    assert second.status == "synced" and second.set_id == new_id
    assert second.reused == second.files > 0
    assert second.bytes < first.bytes / 10
    assert [s.id for s in Store(config.store).sets()] == [new_id, first.set_id]
    _assert_intact(config, new_id)


# ---------------------------------------------------------------- attacks (TUF's list)

@pytest.fixture
def synced(web, exporter, tmp_path, request):
    """A station that has synced the exporter's set from its own served copy."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    store = _publish(web, exporter, name)
    config = _station(tmp_path, f"{web.url}/w/{name}/", exporter)
    sync.run_sync(config)
    return config, store


def _refused(config, kind: str):
    with pytest.raises(sync.SyncRefused) as info:
        sync.run_sync(config)
    assert info.value.kind == kind, info.value
    state = sync.read_state(config.home)
    assert state.last_result == "refused" and state.error_kind == kind
    report = verify_kit(config)
    assert report.exit_code == CRITICAL and any(p.kind == "sync" for p in report.problems)
    return info.value


def test_rollback_to_an_older_set_is_refused(synced, exporter):
    config, store = synced
    old = exporter.latest
    new_id = _new_set(store, exporter)
    sync.run_sync(config)
    (store / "LATEST").write_text(old + "\n")  # the server offers the older, validly signed set again
    error = _refused(config, "rollback")
    assert old in str(error) and new_id in str(error)
    _assert_intact(config, new_id)


def test_rollback_is_refused_even_after_the_newer_set_was_pruned(synced, exporter):
    config, store = synced
    old = exporter.latest
    new_id = _new_set(store, exporter)
    sync.run_sync(config)
    Store(config.store).remove(old)  # the station no longer holds the old set; its record remembers
    (config.store / "LATEST").write_text(new_id + "\n")
    shutil.rmtree(config.store / "sets" / new_id)
    (config.store / "LATEST").unlink()
    (store / "LATEST").write_text(old + "\n")
    _refused(config, "rollback")


def test_manifest_signed_by_a_new_key_is_refused(synced, exporter, tmp_path):
    config, store = synced
    rogue = tmp_path / "rogue-keys"
    crypto.generate_signing_key(rogue)
    _new_set(store, exporter, keys=rogue)
    _refused(config, "signature")
    _assert_intact(config, exporter.latest)


def test_a_swapped_file_is_refused_and_nothing_is_published(synced, exporter):
    config, store = synced
    new_id = _new_set(store, exporter, fresh=True)
    target = store / "sets" / new_id / "pleje" / "Fælles" / "contacts.pdf"
    target.write_bytes((store / "sets" / new_id / "skole" / "Fælles" / "contacts.pdf").read_bytes())
    _refused(config, "hash")
    _assert_intact(config, exporter.latest)
    assert not (config.store / "sets" / new_id).exists()


def test_a_truncated_file_is_refused(synced, exporter):
    config, store = synced
    new_id = _new_set(store, exporter, fresh=True)
    target = store / "sets" / new_id / "pleje" / "Område Nord" / "binder.pdf"
    target.write_bytes(target.read_bytes()[:-500])
    _refused(config, "hash")
    _assert_intact(config, exporter.latest)


def test_a_list_whose_pages_do_not_fit_its_binder_is_refused(synced, exporter):
    """A signed set whose list runs past its binder's last page would not print: not taken."""
    config, store = synced
    new_id = _new_set(store, exporter)

    def change(m):
        binder = next(f for f in m["files"] if f["template"] == "binder" and f["unit"] == "Område Nord")
        route = next(f for f in m["files"] if f["template"] == "care-route" and f["unit"] == "Område Nord")
        route["first_page"] = binder["pages"]
    edit_manifest(store / "sets" / new_id, exporter.home / "keys", change)
    refused = _refused(config, "format")
    assert "care-route" in str(refused) and "are not inside" in str(refused)
    _assert_intact(config, exporter.latest)


def test_mix_and_match_an_old_manifest_under_a_new_id_is_refused(synced, exporter):
    config, store = synced
    new_id = _new_set(store, exporter)
    for name in ("manifest.json", "manifest.sig"):  # validly signed, but another set's manifest
        shutil.copy(store / "sets" / exporter.latest / name, store / "sets" / new_id / name)
    _refused(config, "mix-and-match")
    _assert_intact(config, exporter.latest)


def test_a_suspect_set_named_by_latest_is_refused(synced, exporter):
    config, store = synced
    suspect = _new_set(store, exporter, status="suspect")
    (store / "LATEST").write_text(suspect + "\n")
    _refused(config, "status")
    _assert_intact(config, exporter.latest)


def test_endless_data_is_cut_off(synced, exporter):
    config, store = synced
    (store / "LATEST").write_bytes(b"2" * 10_000_000)
    with pytest.raises(UpstreamError) as info:
        sync.run_sync(config)
    assert info.value.kind == "too-big"
    _assert_intact(config, exporter.latest)


def test_a_set_without_the_stations_unit_is_not_taken(synced, exporter):
    config, store = synced
    new_id = _new_set(store, exporter)
    edit_manifest(store / "sets" / new_id, exporter.home / "keys",
                  lambda m: m.update(files=[f for f in m["files"] if f["unit"] != "Område Nord"]))
    _refused(config, "selection")
    _assert_intact(config, exporter.latest)


# ---------------------------------------------------------------- faults on the way

def _failed(config, kind: str):
    with pytest.raises(UpstreamError) as info:
        sync.run_sync(config)
    assert info.value.kind == kind, info.value
    state = sync.read_state(config.home)
    assert state.last_result == "failed" and state.error_kind == kind and state.consecutive_failures >= 1
    report = verify_kit(config)
    assert report.exit_code == WARNING, report.summary()
    assert any(p.kind == "sync" and kind in p.message for p in report.problems)
    return state


def _repoint(config, upstream: str, extra: str = ""):
    path = config.home / "nodkit.toml"
    text = path.read_text("utf-8")
    start = text.index("upstream = ")
    end = text.index("\n", start)
    path.write_text(text[:start] + f'upstream = "{upstream}"' + extra + text[end:], "utf-8")
    return load_config(config.home)


def test_upstream_unreachable_keeps_the_sets_and_turns_critical_after_max_age(synced, exporter):
    config, _store = synced
    config = _repoint(config, f"http://127.0.0.1:{nginxtools.free_port()}/")
    state = _failed(config, "unreachable")
    assert state.upstream_reachable is False
    _assert_intact(config, exporter.latest)
    later = verify_kit(config, config.now() + dt.timedelta(hours=config.max_age_hours + 1))
    assert later.exit_code == CRITICAL and any(p.kind == "age" for p in later.problems)


def test_http_404_and_500(synced, web, exporter):
    config, _store = synced
    _failed(_repoint(config, f"{web.url}/w/no-such-store/"), "missing")
    _failed(_repoint(config, f"{web.url}/err500/"), "http")
    _assert_intact(config, exporter.latest)


def test_tls_is_verified_and_a_ca_bundle_makes_it_work(web, exporter, tmp_path):
    _publish(web, exporter, "tls")
    config = _station(tmp_path, f"{web.tls_url}/w/tls/", exporter)
    with pytest.raises(UpstreamError) as info:
        sync.run_sync(config)
    assert info.value.kind == "tls" and "certificate" in str(info.value)
    assert Store(config.store).latest_id() is None
    trusted = _set_option(config, f'ca_bundle = "{web.prefix / "server.pem"}"')
    assert sync.run_sync(trusted).status == "synced"
    _assert_intact(trusted, exporter.latest)


def test_a_slow_server_is_given_up_after_the_deadline(synced, web, exporter):
    config, store = synced
    _new_set(store, exporter)
    _repoint(config, f"{web.url}/slow/{store.name}/")  # nginx limit_rate 2k
    path = config.home / "nodkit.toml"
    path.write_text(path.read_text("utf-8").replace("timeout_seconds = 30", "timeout_seconds = 1")
                    .replace("sync_deadline_seconds = 900", "sync_deadline_seconds = 2"), "utf-8")
    started = time.monotonic()
    _failed(load_config(config.home), "timeout")
    assert time.monotonic() - started < 20
    _assert_intact(config, exporter.latest)


class _Dropper(threading.Thread):
    """An HTTP server that serves LATEST and the manifest from `store`, then dies in the middle of a PDF."""

    def __init__(self, store: Path):
        super().__init__(daemon=True)
        self.store = store
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]

    def run(self):
        from urllib.parse import unquote
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536).decode("latin-1")
                path = unquote(request.split(" ")[1]).lstrip("/")
                data = (self.store / path).read_bytes()
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                if path.endswith(".pdf"):
                    conn.sendall(head + data[: len(data) // 2])  # ... and the server is gone
                    self.sock.close()
                    return
                conn.sendall(head + data)


def test_server_gone_mid_sync(synced, exporter):
    config, store = synced
    _new_set(store, exporter, fresh=True)
    dropper = _Dropper(store)
    dropper.start()
    _failed(_repoint(config, f"http://127.0.0.1:{dropper.port}/"), "truncated")
    _assert_intact(config, exporter.latest)


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB tmpfs: a station's home that fills up."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        _unavailable(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_on_the_station(web, exporter, small_disk):
    store = _publish(web, exporter, "diskfull")
    config = _station(small_disk, f"{web.url}/w/diskfull/", exporter)
    sync.run_sync(config)
    new_id = _new_set(store, exporter, fresh=True)  # other bytes: a real new export
    free = shutil.disk_usage(small_disk).free
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * max(0, free - 64 * 1024))
    with pytest.raises(StoreError):
        sync.run_sync(config)
    assert sync.read_state(config.home).error_kind == "disk"
    _assert_intact(config, exporter.latest)
    filler.unlink()
    assert sync.run_sync(config).set_id == new_id  # the next attempt, with room again, takes it
    _assert_intact(config, new_id)


# ---------------------------------------------------------------- nodkit run, fleet

def test_nodkit_run_on_a_station_syncs_at_start_up(web, exporter, tmp_path):
    _publish(web, exporter, "run")
    config = _station(tmp_path, f"{web.url}/w/run/", exporter)
    proc = subprocess.Popen([sys.executable, "-m", "nodkit", "run", "--kit", str(config.home)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Store(config.store).latest_id() is None:
            time.sleep(0.2)
        assert Store(config.store).latest_id() == exporter.latest
        deadline = time.monotonic() + 20
        beat = None
        while time.monotonic() < deadline:
            beat = json.loads((config.home / "logs" / "heartbeat.json").read_text())
            if beat.get("last_finished"):
                break
            time.sleep(0.2)
        assert beat["last_action"] == "sync" and beat["last_result"] == "ok", beat
        assert "sync" in beat["next_runs"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read().decode()


def test_sync_is_retried_with_backoff_when_upstream_fails(synced):
    from nodkit.config.schedules import load_jobs
    from nodkit.unattended.scheduler import sync_with_retries
    config, _store = synced
    config = _repoint(config, f"http://127.0.0.1:{nginxtools.free_port()}/")
    waits = []
    clock = [config.now().replace(minute=0, second=5, microsecond=0)]  # the next sync (*/15) is at :15

    def wait(seconds):
        waits.append(seconds)
        clock[0] += dt.timedelta(seconds=seconds)
        return False
    outcome = sync_with_retries(config, load_jobs(config.home, config.timezone), "sync", clock=lambda: clock[0],
                                wait=wait)
    assert outcome.status == "failed"
    assert waits == [60, 120, 240]  # doubling; a fourth wait (480 s) would pass the next scheduled sync


def test_fleet_status_flags_a_silent_or_tampered_station(synced, exporter, tmp_path):
    config, _store = synced
    inbox = tmp_path / "inbox"
    config = _set_option(config, f'status_upload = "{inbox}"')
    assert fleet.report_status(config)
    exp_config = load_config(exporter.home)
    keys = tmp_path / "exp-keys"
    shutil.copytree(exporter.home / "keys", keys)
    exp_config.__dict__["home"] = tmp_path  # pins go to tmp_path/keys, not the shared exporter
    shutil.copytree(keys, tmp_path / "keys", dirs_exist_ok=True)
    [row] = fleet.read_fleet(exp_config, inbox)
    assert row.severity == "OK"
    [silent] = fleet.read_fleet(exp_config, inbox, now=exp_config.now() + dt.timedelta(hours=3))
    assert silent.severity == "WARNING" and "stopped reporting" in silent.problems[0]
    path = next(inbox.glob("*.json"))
    doc = json.loads(path.read_text())
    doc["status"]["age_seconds"] = 0
    doc["status"]["latest"] = "20991231T000000Z-ffff"
    path.write_text(json.dumps(doc))
    [tampered] = fleet.read_fleet(exp_config, inbox)
    assert tampered.severity == "CRITICAL" and "signature" in tampered.problems[0]


# ---------------------------------------------------------------- the station's configuration

def test_a_station_refuses_to_export_and_its_config_holds_no_credentials(exporter, tmp_path):
    config = _station(tmp_path, "https://nodkit.example/store/", exporter)
    assert config.role == "station" and config.datasets == {}
    assert not (config.keys / "signing.key").exists() and not (config.keys / "audiences.json").exists()
    result = run_cli("export", "--kit", str(config.home))
    assert result.exit_code == 10 and "print station" in result.stderr
    assert list(config.store.glob("sets/*")) == []
    path = config.home / "nodkit.toml"
    text = path.read_text("utf-8")
    path.write_text(text.replace("https://nodkit.example/", "https://user:pw@nodkit.example/"), "utf-8")
    bad = run_cli("verify", "--kit", str(config.home))
    assert bad.exit_code == 3 and "no credentials in the URL" in bad.output
    path.write_text(text + '\n[datasets.visits]\nkind = "csv"\npath = "x.csv"\n', "utf-8")
    assert "a station has no datasets" in run_cli("verify", "--kit", str(config.home)).output


def test_station_init_refuses_a_private_key(exporter, tmp_path):
    result = run_cli("station", "init", str(tmp_path / "st"), "--upstream", "https://x/", "--pubkey",
                     str(exporter.home / "keys" / "signing.key"), "--audience", "pleje")
    assert result.exit_code != 0 and not (tmp_path / "st" / "nodkit.toml").exists()


def test_a_set_with_a_newer_id_but_an_older_signed_time_is_refused(synced, exporter):
    """The id is only a name; the signed created_at (with another UTC offset here) must be later too."""
    config, store = synced
    new_id = _new_set(store, exporter)
    held = Store(config.store).load(exporter.latest).created_at
    earlier = (held - dt.timedelta(minutes=5)).astimezone(dt.timezone(dt.timedelta(hours=5)))  # sorts after as text
    edit_manifest(store / "sets" / new_id, exporter.home / "keys",
                  lambda m: m.update(created_at=earlier.isoformat()))
    _refused(config, "rollback")
    _assert_intact(config, exporter.latest)


def test_the_print_menu_warns_on_a_station_whose_sync_stopped(synced, exporter):
    from nodkit.printing import spooler
    config, _store = synced
    export_set = Store(config.store).load(exporter.latest)
    assert not spooler.age_of(export_set, config, config.now()).stale
    assert spooler.age_of(export_set, config, config.now() + dt.timedelta(hours=config.max_age_hours + 1)).stale
