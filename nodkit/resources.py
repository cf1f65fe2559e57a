"""Where the built-in templates/ and schedules/ live.

In a checkout (or an editable install) they are the top-level folders next to
the package; a regular ``pip install .`` copies them into the package as
``nodkit/builtin_templates`` and ``nodkit/builtin_schedules`` (see setup.cfg
``package_dir``). The installed location wins.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def builtin_dir(name: str) -> Path:
    """`name` is "templates" or "schedules"."""
    installed = _PACKAGE / f"builtin_{name}"
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"built-in {name} not found (looked in {installed} and {checkout}); reinstall nodkit")
