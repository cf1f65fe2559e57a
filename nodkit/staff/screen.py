"""What staff see when something goes wrong outside the menu's own questions: Danish only.

Staff reach nodkit through the desktop icon (`nodkit launcher open`) and the
print menu (`nodkit print`). Whatever stops those commands — a broken
nodkit.toml, an unreadable store, a launcher with a wrong option, Ctrl-C,
a bug — must reach the person as a Danish sentence that says what it means
for them and what to do, never as an English error line or a traceback.
The technical detail goes to the kit's log file for IT (`logs/nodkit.log`).
"""

from __future__ import annotations

from nodkit.errors import (ConfigError, CryptoError, IntegrityError, LockError, NodkitError, PrintError,
                           SourceError, StoreError, TemplateError)

CALL_IT = "Giv IT besked – IT kan se fejlen med 'nodkit verify' og i nodkits log på denne pc."
FALLBACK = ("Brug imens den trykte nødmappe, eller åbn listerne i en PDF-læser med adgangskoden "
            "(se udskrivningsvejledningen).")

_BY_KIND = (
    (ConfigError, "nodkit er ikke sat rigtigt op på denne pc: indstillingerne kan ikke læses."),
    (TemplateError, "nodkit er ikke sat rigtigt op på denne pc: en listeskabelon kan ikke læses."),
    (SourceError, "nodkit kan ikke læse sine data på denne pc."),
    (IntegrityError, "Nødlisterne på denne pc er ændret eller beskadiget og kan ikke bruges."),
    (CryptoError, "Nøglerne til nødlisterne kan ikke bruges på denne pc."),
    (StoreError, "Nødlisterne på denne pc kan ikke læses."),
    (LockError, "nodkit er optaget af en anden opgave lige nu. Vent et minut, og prøv igen."),
)


def error_text(exc: BaseException) -> str:
    """The Danish lines for an error that ended a staff command."""
    if isinstance(exc, PrintError):
        return f"Udskrivning mislykkedes: {exc}"  # the printing wing's messages are written for staff
    if isinstance(exc, NodkitError):
        said = next((text for kind, text in _BY_KIND if isinstance(exc, kind)), "nodkit kan ikke udskrive lige nu.")
        return f"{said} {CALL_IT} {FALLBACK}"
    if isinstance(exc, PermissionError):  # a login outside the staff group (docs/operations.md, "Accounts")
        return ("Din bruger har ikke adgang til nødlisterne på denne pc. Log ind med den bruger, der står på "
                f"udskrivningsvejledningen. {CALL_IT} {FALLBACK}")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"En fil på denne pc kan ikke læses eller skrives{where}. {CALL_IT} {FALLBACK}"
    return f"Der skete en uventet fejl i nodkit. {CALL_IT} {FALLBACK}"


def usage_text() -> str:
    """A launcher or shortcut that calls nodkit with a wrong option (an old icon after an update)."""
    return f"Genvejen til udskrivning er sat forkert op. {CALL_IT} {FALLBACK}"


def interrupted_text(message: str | None = None) -> str:
    """Ctrl-C: what became of the printing (the spooler's message), else that nothing more is printed."""
    return message or "Afbrudt. Der sendes ikke noget til printeren."
