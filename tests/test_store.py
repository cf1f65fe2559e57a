"""The store's delete side: prune under the lock, dry runs, and the removal order."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from conftest import list_text, run_cli
from kittools import clone_set, quiet_schedule
from nodkit.config.settings import load_config
from nodkit.errors import LockError, StoreError
from nodkit.store.sets import Store


def old_sets(kit, ages_and_status):
    now = dt.datetime.now(dt.timezone.utc)
    return {clone_set(kit.home, now - dt.timedelta(days=age), status): (age, status) for age, status in ages_and_status}


def set_ids(kit) -> set[str]:
    return {p.name for p in (kit.home / "store" / "sets").iterdir()}


def test_prune_dry_run_prints_every_decision_and_deletes_nothing(demo_kit):
    made = old_sets(demo_kit, [(2, "good"), (8, "good"), (9, "suspect"), (10, "good"), (12, "good")])
    before = set_ids(demo_kit)
    result = run_cli("prune", "--kit", str(demo_kit.home), "--dry-run")
    assert result.exit_code == 0, result.output
    assert set_ids(demo_kit) == before
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(lines) == before, "one line per set"
    by_age = {age: sid for sid, (age, _) in made.items()}
    assert "keep" in lines[demo_kit.latest] and "LATEST" in lines[demo_kit.latest]
    assert "keep_min" in lines[by_age[2]] and "keep_min" in lines[by_age[8]]
    assert "would remove" in lines[by_age[9]] and "suspect set" in lines[by_age[9]]
    assert "would remove" in lines[by_age[10]] and "would remove" in lines[by_age[12]]
    assert "dry run" in result.stdout


def test_prune_removes_old_sets_and_debris_and_keeps_verify_clean(demo_kit):
    quiet_schedule(demo_kit.home)
    made = old_sets(demo_kit, [(1, "good"), (2, "good"), (8, "good"), (9, "partial")])
    debris = demo_kit.home / "store" / ".incoming" / "20261101T000000Z-abcd"
    debris.mkdir(parents=True)
    (debris / "half.pdf").write_bytes(b"%PDF-1.7 half")
    result = run_cli("prune", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    removed = {d["set"] for d in data["decisions"] if not d["keep"]}
    assert removed == {sid for sid, (age, _) in made.items() if age >= 8}
    assert set_ids(demo_kit) == {demo_kit.latest} | {sid for sid, (age, _) in made.items() if age < 8}
    assert data["debris"] == [debris.name] and not debris.exists()
    assert run_cli("verify", "--kit", str(demo_kit.home), "--all").exit_code == 0


def test_prune_refuses_while_an_export_holds_the_lock(demo_kit):
    store = Store(load_config(demo_kit.home).store)
    with store.lock("export"):
        result = run_cli("prune", "--kit", str(demo_kit.home))
    assert result.exit_code == LockError.exit_code
    assert "another nodkit process" in result.stderr


def test_removal_takes_the_set_out_of_view_before_deleting_files(demo_kit, monkeypatch):
    """A crash while deleting files leaves no half set in sets/, only debris the next run removes."""
    (victim,) = old_sets(demo_kit, [(10, "good")])
    store = Store(demo_kit.home / "store")
    seen = {}

    def crash(path, *a, **kw):
        seen["still_listed"] = victim in {s.id for s in store.sets()}
        seen["path"] = path
        raise OSError("power cut")
    monkeypatch.setattr(shutil, "rmtree", crash)
    with pytest.raises(OSError):
        store.remove(victim)
    assert seen["still_listed"] is False
    assert seen["path"].parent == store.incoming_dir
    monkeypatch.undo()
    assert victim not in set_ids(demo_kit)
    with store.lock("test"):
        assert store.clean_debris() == [seen["path"].name]


def test_latest_cannot_be_removed(demo_kit):
    with pytest.raises(StoreError, match="it is LATEST"):
        Store(demo_kit.home / "store").remove(demo_kit.latest)


def test_unreadable_set_is_kept_and_explained(demo_kit):
    (victim,) = old_sets(demo_kit, [(30, "good")])
    (demo_kit.home / "store" / "sets" / victim / "manifest.json").write_text("{broken", "utf-8")
    result = run_cli("prune", "--kit", str(demo_kit.home), "--dry-run")
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith(victim))
    assert "keep" in line and "unreadable manifest" in line


# ---------------------------------------------------------------- unit folder names (issue 16, item 2)

@pytest.mark.parametrize("names", [
    ["Nord/Syd", "Nord_Syd"],
    ["..", "_"],
    ["A" * 80 + "x", "A" * 80 + "y"],
    ["Vest", "vest"],  # one folder on Windows
    ["Nord_Syd", "Nord/Syd", "Nord:Syd", "nord_syd"],
])
def test_unit_folders_are_unique_by_construction(names):
    from nodkit.store.sets import UnitFolders, safe_name
    folders = UnitFolders()
    made = [folders.folder(n) for n in names]
    assert len({f.casefold() for f in made}) == len(names), made
    assert all(f == safe_name(f) and len(f) <= 80 for f in made)
    assert [folders.folder(n) for n in names] == made  # stable within a set


def test_units_whose_names_meet_in_one_folder_all_export(demo_kit):
    """'Nord/Syd' and 'Nord_Syd' (and '..'/'_', 80-character prefixes, case) used to abort the
    whole export with 'File exists'; now each unit has its own folder and its real name."""
    import csv
    path = demo_kit.sources / "medarbejdere.csv"
    text = path.read_text("utf-8-sig")
    rows = list(csv.reader(text.splitlines(), delimiter=";"))
    units = ["Nord/Syd", "Nord_Syd", "..", "_", "Ø" * 80 + "x", "Ø" * 80 + "y", "Vest", "vest"]
    for n, row in enumerate(rows[1:len(units) + 1]):
        row[1] = units[n]
    path.write_text("\n".join(";".join(r) for r in rows) + "\n", "utf-8")
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0, result.output
    files = [f for f in json.loads(result.stdout)["files"] if f["template"] == "staff"]
    by_unit = {f["unit"]: f for f in files}
    assert set(units) <= set(by_unit)
    folders = {Path(by_unit[u]["path"]).parent.name.casefold() for u in units}
    assert len(folders) == len(units)
    for unit in ("Nord/Syd", "Nord_Syd", ".."):
        assert unit in list_text(by_unit[unit], demo_kit.passwords["pleje"])


def _format_3_manifest():
    from nodkit.store.manifest import FileEntry, Manifest
    common = dict(audience="pleje", unit="Område Nord", password_generation=1)
    binder = FileEntry(path="pleje/Område Nord/binder.pdf", sha256="b" * 64, bytes=5000, pages=30,
                       template="binder", **common)
    route = FileEntry(path=binder.path, sha256=binder.sha256, bytes=binder.bytes, pages=24, template="care-route",
                      first_page=3, **common)
    contacts = FileEntry(path="pleje/Fælles/contacts.pdf", sha256="c" * 64, bytes=700, pages=1, template="contacts",
                         audience="pleje", unit="Fælles", password_generation=1)
    return Manifest(set_id="20261123T040002Z-9f3a", created_at="2026-11-23T05:00:02+01:00", kit="K",
                    nodkit_version="0.1.0", status="good", files=[route, contacts, binder])


def test_manifest_format_3_lists_as_pages_of_their_binder():
    from nodkit.errors import IntegrityError
    from nodkit.store.manifest import Manifest
    manifest = _format_3_manifest()
    raw = json.loads(manifest.to_bytes())
    assert raw["format_version"] == 4
    assert [f.get("first_page") for f in raw["files"]] == [3, None, None]  # only on a list inside a binder
    again = Manifest.from_bytes(manifest.to_bytes())
    assert again.files == manifest.files and again.range_problems() == []
    # each file once: what verify hashes, a station downloads, the disk figures count
    assert [f.template for f in again.stored()] == ["binder", "contacts"]
    assert again.stored_bytes() == 5700
    assert again.files[0].label == "pleje/Område Nord/binder.pdf side 3–26 (care-route)"
    # a range past the binder's last page, or without its binder, is named
    raw["files"][0]["first_page"] = 8
    [(entry, why)] = Manifest.from_bytes(json.dumps(raw).encode()).range_problems()
    assert entry.template == "care-route" and "8–31 are not inside the file's 30 pages" in why
    raw["files"][0]["path"] = "pleje/Område Nord/other.pdf"
    assert "no entry for the whole file" in Manifest.from_bytes(json.dumps(raw).encode()).range_problems()[0][1]
    # a format-3 manifest with the field of format 4 was written by no nodkit; a newer format is refused
    raw["format_version"] = 3
    with pytest.raises(IntegrityError, match="format_version 3 with fields of format 4"):
        Manifest.from_bytes(json.dumps(raw).encode())
    raw["format_version"] = 5
    with pytest.raises(IntegrityError, match="format_version 5 is not one this nodkit reads"):
        Manifest.from_bytes(json.dumps(raw).encode())


def test_sets_made_in_one_second_or_with_the_clock_set_back_sort_in_the_order_made(demo_kit):
    """Every reader takes the newest set by the order of the ids (newest good, retention, a
    station's sync). Two sets in one second once sorted by their random suffix: the next run
    compared with the older set, found it unlike LATEST and made a needless new set."""
    from nodkit.export.pipeline import run_export
    from nodkit.store.sets import new_set_id
    config = load_config(demo_kit.home)
    store = Store(config.store)
    now = config.now()
    made = [run_export(config, now=now, force=True).set.id for _ in range(3)]
    assert made == sorted(made) and len(set(made)) == 3
    assert made[-1] == store.latest_id() == store.newest_good().id == store.newest_id()
    # the run after them compares with the set it made last: nothing changed, no new set
    assert run_export(config, now=now).status == "unchanged"
    made.append(run_export(config, now=now - dt.timedelta(hours=1), force=True).set.id)  # the clock set back
    assert made == sorted(made) and made[-1] == store.latest_id() == store.newest_good().id
    # one second's last suffix left, then none left: the next second; a later clock: its own second
    assert new_set_id(dt.datetime(2026, 12, 2, 17, 9, 53, tzinfo=dt.timezone.utc), after="20261202T170953Z-ffff") \
        .startswith("20261202T170954Z-")
    assert new_set_id(dt.datetime(2026, 12, 2, 17, 9, 53, tzinfo=dt.timezone.utc), after="20261202T170953Z-fffe") \
        == "20261202T170953Z-ffff"
    assert new_set_id(dt.datetime(2026, 12, 2, 17, 9, 54, tzinfo=dt.timezone.utc),
                      after="20261202T170953Z-ffff").startswith("20261202T170954Z-")
