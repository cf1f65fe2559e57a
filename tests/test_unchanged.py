"""No change, no new set (issue 19): an export of unchanged sources writes no set,
records "checked at …", and freshness is judged from that check — but never
when a source failed, LATEST is damaged or the record is forged."""

from __future__ import annotations

import datetime as dt
import json
import os

from nodkit.config.settings import load_config
from nodkit.errors import CRITICAL, OK, WARNING
from nodkit.export.pipeline import run_export
from nodkit.monitoring import heartbeat
from nodkit.monitoring.verify import verify_kit
from nodkit.store.check import FILE as CHECKED
from nodkit.unattended.scheduler import KitScheduler, decide_catch_up

from conftest import run_cli
from test_export_sources import export, manifest, set_ids


def kinds(report) -> dict[str, int]:
    return {p.kind: p.severity for p in report.problems}


def test_unchanged_sources_write_no_set_and_every_face_says_checked_at(demo_kit, tmp_path):
    code, first = export(demo_kit)  # the copied kit's nodkit.toml differs from the template's: a new set
    assert code == 0 and first["status"] == "good" and first["unchanged"] is False
    digests = {name: d["digest"] for name, d in manifest(demo_kit, first["set"])["datasets"].items()}
    assert len(digests) == 6 and all(len(d) == 64 for d in digests.values())
    before = set_ids(demo_kit)

    code, again = export(demo_kit)
    assert code == 0, again
    assert again["status"] == "unchanged" and again["unchanged"] is True and again["set"] == first["set"]
    assert again["files"] == [] and again["checked_at"] and again["unchanged_since"] == manifest(
        demo_kit, first["set"])["created_at"]
    assert set_ids(demo_kit) == before, "no set written"
    assert demo_kit.latest == first["set"]
    human = run_cli("export", "--kit", str(demo_kit.home))
    assert human.exit_code == 0 and "No new set: checked at " in human.stdout
    assert "sources unchanged since" in human.stdout and first["set"] in human.stdout

    prom = tmp_path / "nodkit.prom"
    verify = run_cli("verify", "--kit", str(demo_kit.home), "--prometheus", str(prom))
    assert verify.exit_code in (OK, WARNING), verify.output
    assert "; checked at " in verify.stdout.splitlines()[0] and "sources unchanged since" in verify.stdout
    assert "nodkit_sources_checked_timestamp_seconds{" in prom.read_text()
    status = json.loads(run_cli("status", "--kit", str(demo_kit.home), "--json").stdout)
    assert status["check"].startswith("checked at ") and status["sources_checked_at"]
    assert "Sources:   checked at" in run_cli("status", "--kit", str(demo_kit.home)).stdout

    # the scheduler's export job: the same check, and the heartbeat says so
    KitScheduler(demo_kit.home)._export_job("export-daytime")
    beat = heartbeat.read(demo_kit.home)
    assert beat.last_result == "ok" and beat.last_set == first["set"]
    assert beat.last_message.startswith("checked at ") and "sources unchanged since" in beat.last_message
    assert set_ids(demo_kit) == before
    assert "checked at" in run_cli("status", "--kit", str(demo_kit.home)).stdout.split("Last run:")[1]

    # one changed medication line: a new set, and the old check no longer stands
    med = demo_kit.sources / "medicin.csv"
    med.write_bytes(med.read_bytes().replace(b"1 tablet", b"2 tabletter", 1))
    code, changed = export(demo_kit)
    assert code == 0 and changed["status"] == "good" and changed["set"] != first["set"]
    assert manifest(demo_kit, changed["set"])["datasets"]["medication"]["digest"] != digests["medication"]
    assert manifest(demo_kit, changed["set"])["datasets"]["visits"]["digest"] == digests["visits"]
    assert not (demo_kit.home / "store" / CHECKED).exists()
    assert "--force" in run_cli("export", "--help").stdout
    forced = json.loads(run_cli("export", "--kit", str(demo_kit.home), "--json", "--force").stdout)
    assert forced["status"] == "good" and forced["set"] != changed["set"]


def test_an_unchanged_file_is_not_parsed_but_an_edit_of_the_same_size_and_time_is_seen(demo_kit, monkeypatch):
    from nodkit.sources import csvsource
    code, first = export(demo_kit)
    assert code == 0 and first["status"] == "good"
    def rows(files):
        return {(f["audience"], f["unit"], f["template"]): f["rows"] for f in files}

    def no_parsing(path, **kw):
        raise RuntimeError(f"{path.name} parsed")

    # every CSV file is the one LATEST was made from: the run knows without parsing any of them
    real_read = csvsource.read_csv
    monkeypatch.setattr(csvsource, "read_csv", no_parsing)
    code, again = export(demo_kit)
    assert code == 0 and again["status"] == "unchanged", again
    monkeypatch.setattr(csvsource, "read_csv", real_read)

    # one character changed, the file's size and time put back: the bytes decide, not the file's stat
    med = demo_kit.sources / "medicin.csv"
    before = med.stat()
    data = med.read_bytes()
    assert b"1 tablet" in data
    med.write_bytes(data.replace(b"1 tablet", b"2 tablet", 1))
    os.utime(med, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert med.stat().st_size == before.st_size and med.stat().st_mtime_ns == before.st_mtime_ns
    code, edited = export(demo_kit)
    assert code == 0 and edited["status"] == "good" and edited["set"] != first["set"], edited
    sets = {name: manifest(demo_kit, s)["datasets"] for name, s in (("first", first["set"]), ("edited", edited["set"]))}
    assert sets["edited"]["medication"]["digest"] != sets["first"]["medication"]["digest"]
    assert sets["edited"]["medication"]["fingerprint"] != sets["first"]["medication"]["fingerprint"]
    # the files that were not parsed at first are read for the new set: every list has its rows
    assert sets["edited"]["visits"] == sets["first"]["visits"] | {"as_of": sets["edited"]["visits"]["as_of"]}
    assert rows(edited["files"]) == rows(first["files"])

    # the same bytes written again (a source that rewrites its export): still unchanged
    med.write_bytes(med.read_bytes())
    code, rewritten = export(demo_kit)
    assert code == 0 and rewritten["status"] == "unchanged" and rewritten["set"] == edited["set"]


def test_damaged_latest_or_a_failed_source_is_never_an_unchanged_check(demo_kit):
    code, first = export(demo_kit)
    assert code == 0
    # LATEST damaged (a file cut short): the run makes a new set instead of vouching for it
    victim = next(p for p in (demo_kit.home / "store" / "sets" / first["set"]).rglob("*.pdf"))
    victim.write_bytes(victim.read_bytes()[:-10])
    code, repaired = export(demo_kit)
    assert code == 0 and repaired["status"] == "good" and repaired["set"] != first["set"]
    # a source that cannot be read: a partial set as before, no check recorded
    code, again = export(demo_kit)
    assert again["status"] == "unchanged"
    checked = (demo_kit.home / "store" / CHECKED).read_bytes()
    med = demo_kit.sources / "medicin.csv"
    med.rename(med.with_name("medicin.away"))
    code, failed = export(demo_kit)
    assert code == 1 and failed["status"] == "partial" and failed["unchanged"] is False
    assert (demo_kit.home / "store" / CHECKED).read_bytes() == checked, "a failed run never refreshes the check"


def test_freshness_from_the_check_ok_while_checks_succeed_then_warning_and_critical(demo_kit):
    config = load_config(demo_kit.home)
    tz = config.timezone
    t0 = dt.datetime.combine(config.now().date() + dt.timedelta(days=1), dt.time(8, 0), tz)
    grace = dt.timedelta(minutes=config.monitoring.grace_minutes)
    made = run_export(config, now=t0)
    assert made.status == "good"
    t1 = t0 + dt.timedelta(hours=3)  # 11:00, six half-hourly runs later
    checked = run_export(load_config(demo_kit.home), now=t1)
    assert checked.status == "unchanged" and checked.id == made.id and checked.check.checked == t1

    ok = verify_kit(load_config(demo_kit.home), t1 + dt.timedelta(minutes=20))
    assert "freshness" not in kinds(ok) and ok.missed_runs == 0 and ok.sources_checked_at == t1
    assert "checked at 11.00, sources unchanged since 08.00" in ok.summary()
    # catch-up after a reboot counts the check too
    assert not decide_catch_up(config, [j for j in _jobs(demo_kit)], t1 + dt.timedelta(minutes=20)).needed

    # checks stop: one missed run WARNING, two CRITICAL (counted from 11.00, not from the set's 08.00)
    one = verify_kit(config, t1 + dt.timedelta(minutes=30) + grace + dt.timedelta(minutes=1))
    assert kinds(one)["freshness"] == WARNING and one.missed_runs == 1
    assert "since the last check of unchanged sources" in next(p.message for p in one.problems
                                                                if p.kind == "freshness")
    two = verify_kit(config, t1 + dt.timedelta(minutes=60) + grace + dt.timedelta(minutes=1))
    assert kinds(two)["freshness"] == CRITICAL and two.exit_code == CRITICAL

    # a run whose source fails does not refresh the check: it goes stale like no run at all
    med = demo_kit.sources / "medicin.csv"
    med.rename(med.with_name("medicin.away"))
    failed = run_export(load_config(demo_kit.home), now=t1 + dt.timedelta(minutes=30))
    assert failed.status == "partial"
    later = verify_kit(config, t1 + dt.timedelta(minutes=60) + grace + dt.timedelta(minutes=1))
    assert kinds(later)["freshness"] == CRITICAL and kinds(later)["status"] == WARNING

    # a forged check (time moved on, signature no longer matches) is ignored and reported
    path = demo_kit.home / "store" / CHECKED
    data = json.loads(path.read_text())
    data["checked_at"] = (t1 + dt.timedelta(hours=2)).isoformat()
    path.write_text(json.dumps(data))
    forged = verify_kit(config, t1 + dt.timedelta(hours=2, minutes=5))
    assert kinds(forged)["check"] == WARNING and forged.sources_checked_at is None
    assert kinds(forged)["freshness"] == CRITICAL


def _jobs(kit):
    from nodkit.config.schedules import load_jobs
    return load_jobs(kit.home, load_config(kit.home).timezone)


def test_snapshot_digest_sees_every_printed_change_and_ignores_the_file_name():
    from decimal import Decimal
    from nodkit.sources.base import Row, Snapshot, snapshot_digest

    def snap(rows, name="besoeg_0500.csv", kind="csv"):
        built = [Row.from_mapping({"navn": "".join(list(n)), "tid": t}, origin=f"{name}:{line}")  # new str objects
                 for n, t, line in rows]
        return Snapshot(dataset="d", kind=kind, source=name, as_of=dt.datetime.now(dt.timezone.utc),
                        columns=["navn", "tid"], rows=built)

    base = [("Anne", "08:00", 2), ("Bo", Decimal("1.50"), 3), ("Åse", None, 4)]
    digest = snapshot_digest(snap(base))
    assert snapshot_digest(snap(base)) == digest
    assert snapshot_digest(snap(base, name="besoeg_1400.csv")) == digest  # the file's name is not printed
    changed = [[("Anne", "08:01", 2)] + base[1:], base[::-1], [base[0], ("Bo", Decimal("1.5"), 3), base[2]],
               base[:2] + [("Åse", "", 4)], base[:2] + [("Åse", None, 5)], base[:2]]
    assert len({snapshot_digest(snap(rows)) for rows in changed} | {digest}) == len(changed) + 1
    assert snapshot_digest(snap(base, kind="xlsx")) != digest
    # a value pickle cannot write (a database driver's memoryview) is digested by its text
    blob = [("Anne", memoryview(b"x"), 2)]
    assert snapshot_digest(snap(blob)) == snapshot_digest(snap(blob))
