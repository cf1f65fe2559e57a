"""The README stays true: every command is documented, every documented command exists."""

from __future__ import annotations

import re

from conftest import ROOT
from nodkit.cli import cli
from nodkit.errors import EXIT_CODES

README = (ROOT / "README.md").read_text("utf-8")


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield " ".join(prefix + (name,))


def test_every_command_is_in_the_readme():
    for command in _commands(cli):
        assert f"nodkit {command}" in README, f"'nodkit {command}' is not documented in README.md"


def test_every_readme_command_exists():
    known = set(_commands(cli))
    groups = {name for name, cmd in cli.commands.items() if hasattr(cmd, "commands")}
    for match in re.finditer(r"`nodkit ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", README):
        first, second = match.group(1), match.group(2)
        name = f"{first} {second}" if first in groups and second else first
        assert name in known, f"README mentions 'nodkit {name}', which does not exist"


def test_readme_exit_code_table_matches_the_code():
    for code in EXIT_CODES:
        assert f"| {code.code} | {code.name} | {code.meaning} |" in README, code


def test_linked_docs_exist():
    for link in re.findall(r"\]\((docs/[^)]+)\)", README):
        assert (ROOT / link).exists(), f"README links to missing {link}"
