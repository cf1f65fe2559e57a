"""Danish value parsing: the date, time and number forms real exports use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from nodkit.lists import values
from nodkit.lists.values import ValueProblem


@pytest.mark.parametrize("raw, expected", [
    ("31-12-2026", dt.date(2026, 12, 31)),
    ("31.12.2026", dt.date(2026, 12, 31)),
    ("31/12/2026", dt.date(2026, 12, 31)),
    ("2026-12-31", dt.date(2026, 12, 31)),
    ("1-2-2027", dt.date(2027, 2, 1)),
    ("31.12.26", dt.date(2026, 12, 31)),
    ("2026-12-31 00:00:00", dt.date(2026, 12, 31)),  # Excel / SQL datetime text
    ("2026-12-31T07:30", dt.date(2026, 12, 31)),
    (dt.datetime(2026, 12, 31, 7, 30), dt.date(2026, 12, 31)),  # Excel cell
    (" 31-12-2026 ", dt.date(2026, 12, 31)),
    (46022, dt.date(2025, 12, 31)),  # an xlsx cell holding Excel's day number without a date format
    (46022.5, dt.date(2025, 12, 31)),
])
def test_dates(raw, expected):
    assert values.parse(raw, "date") == expected


@pytest.mark.parametrize("raw", ["31-13-2026", "30-02-2026", "i morgen", "2026/31/12", "12345", "46022", True, -5])
def test_bad_dates(raw):
    with pytest.raises(ValueProblem) as exc:
        values.parse(raw, "date")
    assert str(raw).strip() not in str(exc.value)  # messages never carry the value


@pytest.mark.parametrize("raw, expected", [
    ("07.30", dt.time(7, 30)), ("07:30", dt.time(7, 30)), ("7.30", dt.time(7, 30)), ("0730", dt.time(7, 30)),
    ("23:59", dt.time(23, 59)), ("07:30:00", dt.time(7, 30)), (dt.time(8, 15), dt.time(8, 15)),
    (dt.datetime(1899, 12, 30, 7, 30), dt.time(7, 30)), (dt.timedelta(hours=7, minutes=30), dt.time(7, 30)),
    (0.3125, dt.time(7, 30)), (0.99999, dt.time(0, 0)),  # Excel fraction of a day (23:59:59.1 rounds to 24:00)
])
def test_times(raw, expected):
    assert values.parse(raw, "time") == expected


@pytest.mark.parametrize("raw", ["25.00", "07.61", "7h30", "morgen"])
def test_bad_times(raw):
    with pytest.raises(ValueProblem):
        values.parse(raw, "time")


@pytest.mark.parametrize("raw, expected", [
    ("1.234,50", Decimal("1234.50")), ("12,5", Decimal("12.5")), ("0,25", Decimal("0.25")), ("2", Decimal("2")),
    ("1234.5", Decimal("1234.5")), (2.5, Decimal("2.5")), ("-3,75", Decimal("-3.75")),
])
def test_decimal_comma(raw, expected):
    assert values.parse(raw, "decimal") == expected


def test_decimal_prints_with_comma():
    assert values.format_value(Decimal("12.5"), "decimal") == "12,5"
