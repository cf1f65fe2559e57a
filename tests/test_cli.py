"""CLI conventions: kit discovery, init, error lines with file:line:key, exit codes, --debug."""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import run_cli
from nodkit.errors import EXIT_CODES


def test_help_lists_exit_codes_and_every_command_has_an_example():
    result = run_cli("--help")
    assert result.exit_code == 0
    for code in EXIT_CODES:
        assert f"{code.code:>4}  {code.name}" in result.stdout
    from nodkit.cli import cli

    def walk(group, prefix=()):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from walk(cmd, prefix + (name,))
            else:
                yield prefix + (name,), cmd
    for path, cmd in walk(cli):
        assert cmd.epilog and "Example:" in cmd.epilog, f"'nodkit {' '.join(path)}' has no example in its help"


def test_init_generate_creates_private_kit(tmp_path):
    home = tmp_path / "kit"
    result = run_cli("init", str(home), "--generate", "--name", "Test Kommune", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["passwords"]) == {"pleje", "skole"}
    assert (home / "nodkit.toml").exists()
    for p in ("keys", "store", "keys/signing.key", "keys/audiences.json", "nodkit.toml"):
        assert stat.S_IMODE((home / p).stat().st_mode) & 0o077 == 0, p
    assert "Test Kommune" in (home / "nodkit.toml").read_text("utf-8")
    again = run_cli("init", str(home), "--generate")
    assert again.exit_code == 10 and "already exists" in again.stderr


def test_init_asks_twice_and_checks_strength(tmp_path):
    good = "Stærk-Kode-2026!"
    result = run_cli("init", str(tmp_path / "k"), input=f"{good}\n{good}\n{good}\n{good}\n")
    assert result.exit_code == 0, result.output
    weak = run_cli("init", str(tmp_path / "k2"), input="abc\nabc\n")
    assert weak.exit_code != 0 and "Too weak" in weak.output
    assert not (tmp_path / "k2" / "nodkit.toml").exists()


def test_kit_found_from_env_then_cwd(demo_kit, tmp_path, monkeypatch):
    result = run_cli("list", "--json", env={"NODKIT_HOME": str(demo_kit.home)})
    assert result.exit_code == 0 and json.loads(result.stdout)["kit"] == str(demo_kit.home)
    monkeypatch.chdir(demo_kit.home)
    monkeypatch.delenv("NODKIT_HOME", raising=False)
    result = run_cli("list", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["kit"] == str(demo_kit.home)


def test_missing_kit_is_one_line_with_hint(tmp_path):
    result = run_cli("export", "--kit", str(tmp_path / "nothing"))
    assert result.exit_code == 10
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("nodkit: error: ") and "nodkit.toml" in lines[0]
    assert "Traceback" not in result.output


def _break_config(home, old, new):
    cfg = home / "nodkit.toml"
    text = cfg.read_text("utf-8")
    assert old in text
    cfg.write_text(text.replace(old, new, 1), "utf-8")
    return text[: text.index(old)].count("\n") + 1


@pytest.mark.parametrize("old,new,expect", [
    ("days = 7", "days = \"seven\"", "key 'retention.days': expected a number"),
    ("keep_min = 3", "keep_min = 0", "keep_min"),
    ("timezone = \"Europe/Copenhagen\"", "timezone = \"Mars/Olympus\"", "unknown timezone"),
    ("max_age_hours = 26", "max_age_hourz = 26", "unknown key"),
    ("kind = \"csv\"", "kind = \"ftp\"", "got 'ftp'"),
])
def test_config_errors_name_file_line_and_key(demo_kit, old, new, expect):
    line = _break_config(demo_kit.home, old, new)
    result = run_cli("export", "--kit", str(demo_kit.home))
    assert result.exit_code == 10, result.output
    msg = result.stderr.strip().splitlines()[0]
    assert f"nodkit.toml:{line}" in msg and expect in msg


def test_toml_syntax_error_names_line_and_column(demo_kit):
    line = _break_config(demo_kit.home, "keep_min = 3", "keep_min = = 3")
    result = run_cli("verify", "--kit", str(demo_kit.home))
    assert result.exit_code == 3  # verify: UNKNOWN, per the plugin convention
    assert f"nodkit.toml:{line}: column" in result.stdout
    result = run_cli("export", "--kit", str(demo_kit.home))
    assert result.exit_code == 10 and "invalid TOML" in result.stderr


def test_debug_shows_traceback(tmp_path):
    result = run_cli("--debug", "export", "--kit", str(tmp_path))
    assert result.exit_code != 0
    assert result.exc_info is not None and result.exc_info[0].__name__ == "ConfigError"


def test_broken_site_template_names_file_line_and_key_and_others_still_export(demo_kit):
    (demo_kit.home / "templates" / "contacts.toml").write_text(
        'format_version = 1\ntitle = "Kontakter"\ndataset = "contacts"\n\n[[columns]]\nfield = "name"\nwidth = -2\n',
        "utf-8")
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 1, result.output  # partial set
    data = json.loads(result.stdout)
    assert data["status"] == "partial" and not data["latest"]
    reason = next(r for r in data["reasons"] if "contacts" in r)
    assert "contacts.toml:7" in reason and "columns.width" in reason
    assert {f["template"] for f in data["files"]} >= {"care-route", "medication", "class-list"}


def test_missing_signing_key_is_a_crypto_error(demo_kit):
    os.remove(demo_kit.home / "keys" / "signing.key")
    result = run_cli("export", "--kit", str(demo_kit.home))
    assert result.exit_code == 13
    assert "signing.key" in result.stderr and "Traceback" not in result.output


def test_init_name_with_quotes_and_backslash_gives_valid_config(tmp_path):
    name = 'Kommune "Syd" \\ Nødliste'
    result = run_cli("init", str(tmp_path / "k"), "--generate", "--name", name)
    assert result.exit_code == 0, result.output
    from nodkit.config.settings import load_config
    assert load_config(tmp_path / "k").name == name


def test_verify_usage_error_is_unknown_for_monitoring(demo_kit):
    result = run_cli("verify", "--kit", str(demo_kit.home), "--no-such-option")
    assert result.exit_code == 3
    result = run_cli("list", "--no-such-option")
    assert result.exit_code == 2


def test_export_removes_key_file_debris(demo_kit):
    debris = demo_kit.home / "keys" / ".audiences.json.0badc0de.tmp"
    debris.write_text("{}")
    assert run_cli("export", "--kit", str(demo_kit.home)).exit_code == 0
    assert not debris.exists()
    assert (demo_kit.home / "keys" / "audiences.json").exists()


def test_internal_error_is_one_line_without_traceback(demo_kit, monkeypatch):
    """A bug (here: an unexpected exception inside `list`) is one stderr line and exit 2; the
    traceback goes to the log file, and on stderr only with --debug (issue 16, item 9)."""
    import nodkit.store.sets as sets

    def bug(self):
        raise KeyError("surprise")
    monkeypatch.setattr(sets.Store, "sets", bug)
    result = run_cli("list", "--kit", str(demo_kit.home))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nodkit: internal error: KeyError"), result.stderr
    assert "Traceback" in (demo_kit.home / "logs" / "nodkit.log").read_text("utf-8")
    debug = run_cli("--debug", "list", "--kit", str(demo_kit.home))
    assert isinstance(debug.exception, KeyError)
