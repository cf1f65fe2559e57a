"""The package's wings import only downwards (docs/design.md, "Wings").

Each module's `nodkit` imports (module level and inside functions) are read
with `ast`; a module may import its own wing and any wing below it in
`ORDER`. A new wing must be placed in `ORDER` (and in docs/design.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nodkit"

# lowest first; "base" is the package's top-level modules (errors, fsutil, resources, logsetup, process)
ORDER = ["base", "security", "store", "sources", "config", "lists", "render", "export", "distribution", "printing",
         "monitoring", "unattended", "staff", "kit", "cli"]


def wing_of(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "cli"  # `python -m nodkit` is the command line
    if len(parts) < 2 or not (PACKAGE / parts[1]).is_dir():
        return "base"  # a top-level module, or a name defined in nodkit/__init__.py
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "nodkit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "nodkit":
                continue
            if target == "nodkit":  # from nodkit import x: x is a module or a name of nodkit/__init__
                found += [(node.lineno, f"nodkit.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = wing_of(module_name(path))
        if mine not in ORDER:
            problems.append(f"{path.relative_to(PACKAGE.parent)}: wing '{mine}' is not in ORDER")
            continue
        for line, target in imports_of(path):
            theirs = wing_of(target)
            if theirs not in ORDER:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {target}, "
                                f"wing '{theirs}' is not in ORDER")
            elif ORDER.index(theirs) > ORDER.index(mine):
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: wing '{mine}' imports {target} "
                                f"from the higher wing '{theirs}'")
    return problems


def test_wings_import_only_downwards():
    assert violations() == []


def test_every_wing_says_what_it_is_for_and_what_it_may_import():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert init.parent.name in ORDER, init
        assert "import" in doc and len(doc) > 80, f"{init}: the docstring must say the wing's purpose and imports"


def test_design_doc_lists_the_wings_in_order():
    text = (PACKAGE.parent / "docs" / "design.md").read_text()
    section = text.split("## Wings", 1)[1]
    positions = [section.find(f"`{wing}`") for wing in ORDER]
    assert -1 not in positions, [w for w, p in zip(ORDER, positions) if p == -1]
    assert positions == sorted(positions)


@pytest.mark.parametrize("source, wing", [
    ("from nodkit.cli import cli\n", "cli"),
    ("from nodkit.export.pipeline import run_export\n", "export"),
])
def test_the_check_catches_an_upward_import(tmp_path, monkeypatch, source, wing):
    """A store module importing a higher wing is reported (the test above can fail)."""
    fake = tmp_path / "nodkit"
    for name in ("store", "cli", "export"):
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text('"""A wing for the test; it may import the base modules."""')
    (fake / "errors.py").write_text("")
    (fake / "store" / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    found = violations()
    assert len(found) == 1 and f"higher wing '{wing}'" in found[0] and "store/bad.py:1" in found[0]
