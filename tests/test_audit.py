"""The audit log: hash chain, tamper detection naming the record, CLI exit codes."""

from __future__ import annotations

import datetime as dt
import json
import stat

import pytest

from conftest import run_cli
from nodkit.printing.audit import GENESIS, AuditLog
from nodkit.errors import IntegrityError

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def _fill(home, n=4) -> AuditLog:
    log = AuditLog(home)
    for i in range(n):
        log.append(action="print", set_id="20261123T080000Z-abcd", files=[f"pleje/Område Nord/list{i}.pdf"],
                   pages=10 + i, printer="kontor", copies=1, result="ok", now=NOW + dt.timedelta(minutes=i),
                   user="hjemmepleje")
    return log


def _lines(log):
    return log.path.read_text("utf-8").splitlines()


def _write(log, lines):
    log.path.write_text("".join(line + "\n" for line in lines), "utf-8")


def test_records_are_chained_and_private(tmp_path):
    log = _fill(tmp_path)
    records = [json.loads(line) for line in _lines(log)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev"] == GENESIS
    import hashlib
    for before, after in zip(_lines(log), records[1:]):
        assert after["prev"] == hashlib.sha256(before.encode()).hexdigest()
    assert {"time", "user", "set", "files", "pages", "printer", "result"} <= set(records[0])
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert log.verify().ok and log.verify().records == 4


@pytest.mark.parametrize("field,value", [("pages", 999), ("user", "someone-else"), ("result", "ok "),
                                         ("files", [])])
def test_editing_a_record_is_named(tmp_path, field, value):
    log = _fill(tmp_path)
    lines = _lines(log)
    record = json.loads(lines[1])
    record[field] = value
    lines[1] = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    _write(log, lines)
    result = log.verify()
    assert not result.ok
    assert str(result.problems[0]).startswith("record 2 (line 2)")
    with pytest.raises(IntegrityError, match="record 2"):
        log.check()


def test_editing_with_a_recomputed_hash_still_breaks_the_chain(tmp_path):
    import hashlib
    log = _fill(tmp_path)
    lines = _lines(log)
    record = json.loads(lines[1])
    record["pages"] = 1
    body = {k: v for k, v in record.items() if k != "hash"}
    record["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                               separators=(",", ":")).encode()).hexdigest()
    lines[1] = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    _write(log, lines)
    problems = [str(p) for p in log.verify().problems]
    assert problems == ["record 3 (line 3): does not follow the record before it "
                        "(the previous record was edited or replaced)"]


def test_removing_a_record_is_named(tmp_path):
    log = _fill(tmp_path)
    lines = _lines(log)
    del lines[1]
    _write(log, lines)
    problems = [str(p) for p in log.verify().problems]
    assert problems[0] == "record 3 (line 2): record 2 missing before it (removed)"


def test_removing_the_newest_record_is_noticed(tmp_path):
    log = _fill(tmp_path)
    _write(log, _lines(log)[:-1])
    problems = [str(p) for p in log.verify().problems]
    assert problems == ["audit log: record 4 missing at the end (removed; audit.head says the newest record is 4)"]


def test_editing_the_newest_record_is_noticed(tmp_path):
    log = _fill(tmp_path)
    lines = _lines(log)
    lines[-1] = lines[-1].replace('"pages":13', '"pages":3')
    _write(log, lines)
    assert str(log.verify().problems[0]).startswith("record 4 (line 4)")


def test_garbage_line_is_named(tmp_path):
    log = _fill(tmp_path)
    lines = _lines(log)
    lines[0] = "{broken"
    _write(log, lines)
    assert str(log.verify().problems[0]).startswith("audit log (line 1): not a readable record")


def test_append_continues_after_the_last_record(tmp_path):
    log = _fill(tmp_path, 2)
    again = AuditLog(tmp_path)  # a new process
    record = again.append(action="decrypt", set_id=None, files=[], pages=0, printer=None, copies=0,
                          result="fejl: forkert adgangskode", now=NOW)
    assert record.seq == 3
    assert again.verify().ok


def test_cli_show_and_verify(demo_kit):
    log = _fill(demo_kit.home, 3)
    result = run_cli("audit", "show", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0
    assert [r["seq"] for r in json.loads(result.stdout)["records"]] == [1, 2, 3]
    result = run_cli("audit", "show", "--kit", str(demo_kit.home), "--last", "1")
    assert result.exit_code == 0 and result.stdout.lstrip().startswith("3 ")
    ok = run_cli("audit", "verify", "--kit", str(demo_kit.home))
    assert ok.exit_code == 0 and "3 record(s)" in ok.stdout
    lines = _lines(log)
    del lines[0]
    _write(log, lines)
    bad = run_cli("audit", "verify", "--kit", str(demo_kit.home))
    assert bad.exit_code == 15
    assert "record 2 (line 1): record 1 missing before it" in bad.stdout
    assert "record 1 missing" in bad.stderr


# ---------------------------------------------------------------- atomic appends (issue 16, item 4)

def test_torn_tail_is_an_interrupted_write_and_the_next_append_repairs_it(tmp_path):
    log = _fill(tmp_path, 3)
    whole = log.path.read_bytes()
    (tmp_path / "other").mkdir()
    nxt = _fill(tmp_path / "other", 4).path.read_bytes().split(b"\n")[3]
    log.path.write_bytes(whole + nxt[: len(nxt) // 2])  # a crash in the middle of writing record 4
    result = log.verify()
    assert result.ok, [str(p) for p in result.problems]
    assert result.torn_tail == len(nxt) // 2
    record = AuditLog(tmp_path).append(action="print", set_id=None, files=[], pages=1, printer="kontor", copies=1,
                                       result="ok", now=NOW)
    assert record.seq == 4
    after = log.verify()
    assert after.ok and after.records == 4 and after.torn_tail == 0
    assert log.path.read_bytes().startswith(whole)


def test_a_cut_into_a_record_the_head_names_is_still_removal(tmp_path):
    log = _fill(tmp_path, 3)
    data = log.path.read_bytes()
    log.path.write_bytes(data[:-20])  # the newest record (named by audit.head) cut short: not a crash
    problems = [str(p) for p in log.verify().problems]
    assert problems and "record 3 missing at the end" in problems[0]


def test_verify_warns_about_a_tampered_audit_log(demo_kit):
    """`nodkit verify` (what monitoring runs) checks the chains too: an edited record is a WARNING
    naming the chain and the record, not a silent OK; an intact log adds nothing."""
    home = demo_kit.home
    log = _fill(home)
    before = json.loads(run_cli("verify", "--kit", str(home), "--json").stdout)
    assert not [p for p in before["problems"] if p["kind"] == "audit"]
    lines = _lines(log)
    record = json.loads(lines[2])
    record["pages"] = 1
    lines[2] = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    _write(log, lines)
    result = run_cli("verify", "--kit", str(home), "--json")
    found = [p for p in json.loads(result.stdout)["problems"] if p["kind"] == "audit"]
    assert result.exit_code >= 1 and found, result.stdout
    assert found[0]["severity"] == "WARNING" and found[0]["path"] == str(log.path)
    assert "record 3 (line 3)" in found[0]["message"] and "nodkit audit verify" in found[0]["message"]
