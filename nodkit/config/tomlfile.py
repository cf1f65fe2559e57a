"""Read TOML files with errors that name file, line and key.

`tomllib` reports syntax errors with a line and column but forgets positions
once parsed. `TomlDoc` keeps the text so that a later validation error about
``datasets.visits.path`` can still point at the line where that key is
written (or the table header it belongs under, or line 1 when it is missing).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nodkit.errors import TemplateError

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-.]+)\s*=""")


def _split_key(text: str) -> list[str]:
    parts, buf, quote = [], "", None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                buf += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    parts.append(buf.strip())
    return parts


@dataclass
class TomlDoc:
    path: Path
    text: str
    data: dict[str, Any]

    def line_of(self, *keys: str | int) -> int:
        """Best line number for a key path such as ("datasets", "visits", "path").

        Integer parts (array-of-tables indexes) are matched by counting
        ``[[name]]`` headers. Falls back to the nearest enclosing table, then 1.
        """
        want = [k for k in keys]
        best = 1
        table: list[str] = []
        counts: dict[tuple[str, ...], int] = {}
        for number, raw in enumerate(self.text.splitlines(), start=1):
            m = _HEADER.match(raw)
            if m and not _KEY.match(raw):
                name = tuple(_split_key(m.group(1)))
                if raw.lstrip().startswith("[["):
                    idx = counts.get(name, -1) + 1
                    counts[name] = idx
                    table = [*name, idx]  # type: ignore[list-item]
                else:
                    table = list(name)
                if _prefix(table, want):
                    best = number
                    if len(table) == len(want):
                        return number
                continue
            km = _KEY.match(raw)
            if km:
                path = table + _split_key(km.group(1))
                if path == want:
                    return number
                if _prefix(path, want) and len(path) < len(want):
                    best = number
        return best

    def where(self, *keys: str | int) -> str:
        return f"{self.path}:{self.line_of(*keys)}"


def _prefix(have: list, want: list) -> bool:
    return len(have) <= len(want) and list(want[: len(have)]) == list(have)


def load(path: Path, error: Callable[[str], Exception]) -> TomlDoc:
    """Parse a TOML file; a syntax error becomes ``error("file:line: ...")``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except PermissionError:
        raise  # not a broken file: this login may not read it (exit 14; a staff login is told which to use)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            msg = msg[: m.start()].strip()
            raise error(f"{path}:{m.group(1)}: column {m.group(2)}: invalid TOML: {msg}") from None
        raise error(f"{path}: invalid TOML: {msg}") from None
    return TomlDoc(path=path, text=text, data=data)


class Reader:
    """Typed access to a table of a TomlDoc, raising located errors."""

    def __init__(self, doc: TomlDoc, keys: tuple, table: dict, error: Callable[[str], Exception]):
        self.doc, self.keys, self.table, self.error = doc, keys, table, error
        self.seen: set[str] = set()

    def fail(self, key: str | None, message: str) -> Exception:
        path = self.keys + ((key,) if key is not None else ())
        dotted = ".".join(str(k) for k in path if not isinstance(k, int)) or "(top level)"
        return self.error(f"{self.doc.where(*path)}: key '{dotted}': {message}")

    def get(self, key: str, kind: type | tuple, default: Any = ..., *, choices: tuple | None = None) -> Any:
        self.seen.add(key)
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "is required")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool in (type(value),) and bool not in kinds:
            raise self.fail(key, f"expected {_kind_name(kinds)}, got true/false")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise self.fail(key, f"expected {_kind_name(kinds)}, got {type(value).__name__}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(map(str, choices))}; got '{value}'")
        return value

    def sub(self, key: str, default_empty: bool = True) -> "Reader":
        table = self.get(key, dict, {} if default_empty else ...)
        return Reader(self.doc, self.keys + (key,), table, self.error)

    def named_tables(self, key: str, what: str, name_pattern, name_rule: str):
        """Yield (name, Reader) for each [key.NAME] table, checking that NAME fits the pattern."""
        top = self.sub(key)
        for name, raw in top.table.items():
            top.seen.add(name)
            if not isinstance(raw, dict):
                raise top.fail(name, f"must be a table [{key}.NAME]")
            if not name_pattern.match(name):
                raise top.fail(name, f"{what} names use {name_rule}")
            yield name, top.sub(name)

    def check_unknown(self) -> None:
        for key in self.table:
            if key not in self.seen:
                reference = "docs/templates.md" if self.error is TemplateError else "docs/configuration.md"
                raise self.fail(key, f"unknown key (check the spelling; see {reference})")


def _kind_name(kinds: tuple) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true/false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def quote(text: str) -> str:
    """`text` as a TOML basic string, for the nodkit.toml files nodkit writes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
