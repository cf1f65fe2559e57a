"""Field types: parsing source values and formatting them for the page.

Sources deliver text (CSV), native values (SQL, XLSX) or a mix. Each template
column names a type; `parse` turns a raw value into a typed one or raises
`ValueProblem` with a message that never contains the value itself (values
are personal data and messages may reach logs).

Accepted Danish forms: dates 31-12-2026, 31.12.2026, 31/12/2026, 2026-12-31
(and two-digit years); times 07.30, 07:30, 7.30, 0730; decimal comma.
Native numbers (spreadsheet cells without a date format) are read as Excel
serial dates (46022 = 31-12-2025) and day fractions (0.3125 = 07.30).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

TYPES = ("text", "int", "decimal", "date", "time", "datetime", "cpr", "phone", "bool")
CPR_MASKS = ("birthdate", "ddmmyy-xxxx", "none")


class ValueProblem(ValueError):
    """A value that does not fit its field type; message is safe to log."""


_DATE_DMY = re.compile(r"^\s*(\d{1,2})[-./](\d{1,2})[-./](\d{2}|\d{4})\s*$")
_DATE_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
_TIME = re.compile(r"^\s*(\d{1,2})[.:](\d{2})(?:[.:](\d{2}))?\s*$")
_TIME_COMPACT = re.compile(r"^\s*(\d{2})(\d{2})\s*$")
_CPR = re.compile(r"^\s*(\d{2})(\d{2})(\d{2})-?(\d{4})\s*$")


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse(value: Any, kind: str) -> Any:
    """Parse a non-empty raw value into the Python value for `kind`."""
    if kind in ("text", "phone"):
        return _text(value)
    if kind == "int":
        return _int(value)
    if kind == "decimal":
        return _decimal(value)
    if kind == "date":
        return parse_date(value)
    if kind == "time":
        return parse_time(value)
    if kind == "datetime":
        return parse_datetime(value)
    if kind == "cpr":
        return parse_cpr(value)
    if kind == "bool":
        return _bool(value)
    raise ValueProblem(f"unknown field type '{kind}'")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # phone numbers read from Excel as numbers
    return str(value).strip()


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueProblem("not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip().replace(".", "").replace(" ", "")
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    raise ValueProblem("not a whole number")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return Decimal(str(value))
    text = str(value).strip().replace(" ", "")
    if "," in text:  # Danish: 1.234,5
        text = text.replace(".", "").replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueProblem("not a number") from None


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


def _excel_serial(value: Any) -> dt.datetime | None:
    """A native number from a spreadsheet cell without a date format: Excel's day count."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value < 2958466:
        return _EXCEL_EPOCH + dt.timedelta(days=float(value))
    return None


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    serial = _excel_serial(value)
    if serial is not None:
        return serial.date()
    text = str(value).strip()
    if "T" in text or " " in text:
        try:
            return parse_datetime(text).date()
        except ValueProblem:
            pass
    try:
        m = _DATE_ISO.match(text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _DATE_DMY.match(text)
        if m:
            return dt.date(_year(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        raise ValueProblem("not a valid calendar date") from None
    raise ValueProblem("not a date (use 31-12-2026, 31.12.2026 or 2026-12-31)")


def parse_time(value: Any) -> dt.time:
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    if isinstance(value, dt.timedelta):  # some drivers return TIME as a duration
        seconds = int(value.total_seconds()) % 86400
        return dt.time(seconds // 3600, seconds // 60 % 60)
    if isinstance(value, float) and 0 <= value < 1:  # Excel time of day as a fraction of a day
        minutes = round(value * 1440) % 1440
        return dt.time(minutes // 60, minutes % 60)
    text = str(value).strip()
    m = _TIME.match(text) or _TIME_COMPACT.match(text)
    if m:
        try:
            return dt.time(int(m.group(1)), int(m.group(2)))
        except ValueError:
            raise ValueProblem("not a valid time of day") from None
    raise ValueProblem("not a time (use 07.30 or 07:30)")


def parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    parts = re.split(r"[ T]+", text, maxsplit=1)
    if len(parts) == 2:
        try:
            return dt.datetime.combine(parse_date(parts[0]), parse_time(parts[1]))
        except ValueProblem:
            pass
    raise ValueProblem("not a date and time (use 31-12-2026 07.30)")


def parse_cpr(value: Any) -> str:
    """Normalise to DDMMYY-SSSS; checks that the first six digits are a date."""
    if isinstance(value, int):
        value = f"{value:010d}"
    m = _CPR.match(str(value))
    if not m:
        raise ValueProblem("not a CPR number (DDMMYY-XXXX)")
    day, month, yy, serial = m.groups()
    real_day = int(day) - 60 if int(day) > 60 else int(day)  # erstatningspersonnummer: day + 60
    try:
        dt.date(2000 + int(yy), int(month), real_day)
    except ValueError:
        try:  # 29 February in a year that is leap only in the 1900s
            dt.date(1900 + int(yy), int(month), real_day)
        except ValueError:
            raise ValueProblem("CPR number does not start with a valid date") from None
    return f"{day}{month}{yy}-{serial}"


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "ja", "j", "yes", "y", "true", "sand", "x"):
        return True
    if text in ("0", "nej", "n", "no", "false", "falsk", ""):
        return False
    raise ValueProblem("not yes/no (use ja or nej)")


def format_value(value: Any, kind: str, mask: str | None = None) -> str:
    """Text for the printed page, in Danish conventions."""
    if value is None:
        return ""
    if kind == "date":
        return value.strftime("%d-%m-%Y")
    if kind == "time":
        return value.strftime("%H.%M")
    if kind == "datetime":
        return value.strftime("%d-%m-%Y %H.%M")
    if kind == "cpr":
        return mask_cpr(value, mask or "birthdate")
    if kind == "bool":
        return "Ja" if value else "Nej"
    if kind == "decimal":
        return format(value, "f").replace(".", ",")
    return str(value)


def danish_moment(moment: dt.datetime) -> str:
    """A point in time as every page prints it ("Data pr. 23-11-2026 kl. 10.43"); the
    print menu and status texts use the same form, so staff can compare them."""
    return moment.strftime("%d-%m-%Y kl. %H.%M")


def mask_cpr(cpr: str, mask: str) -> str:
    """birthdate → 31-12-26 (birth date only); ddmmyy-xxxx → 311226-XXXX; none → full."""
    if mask == "none":
        return cpr
    if mask == "ddmmyy-xxxx":
        return cpr[:6] + "-XXXX"
    day = int(cpr[0:2])
    return f"{day - 60 if day > 60 else day:02d}-{cpr[2:4]}-{cpr[4:6]}"


def sort_key(value: Any, natural: bool = False) -> tuple:
    """Sort key that puts empty values last and never compares across types.

    With `natural` (section values: routes, classes), text sorts naturally
    (Rute 2 before Rute 10); the folded text breaks ties so that "Rute 01" and
    "Rute 1" stay two sections. Rows sort by plain text: cheaper, and a row
    order nobody reads as numbered."""
    if value is None or value == "":
        return (2, "")
    if isinstance(value, str):
        folded = danish_fold(value)
        return (1, natural_key(folded), folded) if natural else (1, folded)
    return (0, value)


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """"rute 10" -> ("rute ", 10, ""): text parts at even places, numbers at odd ones, so
    two keys always compare text with text and number with number."""
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def natural_fold(text: str) -> tuple:
    """Sort key for unit names: Danish letters, numbers in number order."""
    folded = danish_fold(text)
    return (natural_key(folded), folded)


# Danish alphabet order: ... x y z æ ø å ('{' sorts after 'z')
_DANISH = str.maketrans({"æ": "{a", "ø": "{b", "å": "{c", "ä": "{a", "ö": "{b"})  # no digits: see natural_key


def danish_fold(text: str) -> str:
    folded = text.casefold()
    # translate() with a table walks the text in Python-object steps even when there is nothing to
    # replace; most names, routes and drugs are plain ASCII
    return folded if folded.isascii() else folded.translate(_DANISH)
