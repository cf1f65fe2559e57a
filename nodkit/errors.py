"""Error classes and the exit-code table.

Every error a user can cause or meet is a `NodkitError` subclass that carries
its own exit code; the CLI has one handler that maps it to that code and a
one-line message. The table below is the single source of truth: the README,
``nodkit --help`` and the tests read it from here.

`verify` follows the Nagios/Icinga plugin convention and only ever exits
0..3; any other error while verifying is reported as UNKNOWN (3).
"""

from __future__ import annotations

from dataclasses import dataclass

OK = 0
WARNING = 1
CRITICAL = 2
UNKNOWN = 3


@dataclass(frozen=True)
class ExitCode:
    code: int
    name: str
    meaning: str


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(0, "OK", "success; verify: everything checked is sound and fresh"),
    ExitCode(1, "WARNING", "done with warnings (partial, incomplete or suspect set, stale data); verify: WARNING"),
    ExitCode(2, "CRITICAL", "failed, or wrong command-line usage; verify: CRITICAL (tampered, missing, too old)"),
    ExitCode(3, "UNKNOWN", "verify could not check (no kit home, unreadable config)"),
    ExitCode(10, "CONFIG", "nodkit.toml or a schedule is invalid (file, line and key are named)"),
    ExitCode(11, "TEMPLATE", "a list template is invalid (file, line and key are named)"),
    ExitCode(12, "SOURCE", "a data source cannot be read (file, line and column are named)"),
    ExitCode(13, "CRYPTO", "wrong password, missing or unreadable key"),
    ExitCode(14, "STORE", "the store cannot be read or written (disk full, permissions)"),
    ExitCode(15, "INTEGRITY", "a set failed its signature or hash check"),
    ExitCode(16, "PRINT", "printing failed"),
    ExitCode(17, "BUSY", "another nodkit process holds the kit lock"),
    ExitCode(130, "INTERRUPTED", "stopped by Ctrl-C or SIGTERM"),
)


def exit_code_table() -> str:
    """The exit-code table as plain text, for --help and docs."""
    return "\n".join(f"{e.code:>4}  {e.name:<11} {e.meaning}" for e in EXIT_CODES)


class NodkitError(Exception):
    """Base class: a problem with a clear one-line message and an exit code."""

    exit_code = CRITICAL

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(NodkitError):
    exit_code = 10


class TemplateError(NodkitError):
    exit_code = 11


class SourceError(NodkitError):
    exit_code = 12


class CryptoError(NodkitError):
    exit_code = 13


class StoreError(NodkitError):
    exit_code = 14


class IntegrityError(NodkitError):
    exit_code = 15


class PrintError(NodkitError):
    exit_code = 16


class LockError(NodkitError):
    exit_code = 17


def where(path: object, line: int | None = None, column: object | None = None) -> str:
    """Format a location as ``file:line: column 'x'`` for error messages."""
    text = str(path)
    if line is not None:
        text += f":{line}"
    if column is not None:
        text += f": column '{column}'"
    return text
