"""Reading the desired date as people type it in Dutch (pure; `today` is fixed)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.deadlines import WorkingCalendar
from bot.dutch_dates import MONTHS, ParsedDate, parse_dutch_date

D = dt.date
TODAY = D(2026, 11, 22)  # a Sunday


@pytest.mark.parametrize(
    ("typed", "day", "explicit_year"),
    [
        # Numbers, with the year.
        ("15-12-2026", D(2026, 12, 15), True),
        ("15/12/2026", D(2026, 12, 15), True),
        ("15.12.2026", D(2026, 12, 15), True),
        ("15-12-26", D(2026, 12, 15), True),
        ("5-1-2027", D(2027, 1, 5), True),
        ("2026-12-15", D(2026, 12, 15), True),
        # Numbers, without the year.
        ("15-12", D(2026, 12, 15), False),
        ("15/12", D(2026, 12, 15), False),
        # Month names.
        ("15 december", D(2026, 12, 15), False),
        ("15 dec", D(2026, 12, 15), False),
        ("15 dec.", D(2026, 12, 15), False),
        ("15 December", D(2026, 12, 15), False),
        ("15 december 2026", D(2026, 12, 15), True),
        ("15 dec 2027", D(2027, 12, 15), True),
        ("15 mrt", D(2027, 3, 15), False),
        ("3 sept", D(2027, 9, 3), False),
        # A weekday in front must agree with the date (18 December 2026 is a Friday).
        ("vrijdag 18 december", D(2026, 12, 18), False),
        ("Vrijdag, 18 december 2026", D(2026, 12, 18), True),
        ("vrijdag 18-12-2026", D(2026, 12, 18), True),
        ("vr 18 dec", D(2026, 12, 18), False),
        ("dinsdag 15 december", D(2026, 12, 15), False),
        # Relative.
        ("vandaag", D(2026, 11, 22), False),
        ("morgen", D(2026, 11, 23), False),
        ("overmorgen", D(2026, 11, 24), False),
        ("over 1 dag", D(2026, 11, 23), False),
        ("over 10 dagen", D(2026, 12, 2), False),
        ("over 3 werkdagen", D(2026, 11, 25), False),
        ("over 1 week", D(2026, 11, 29), False),
        ("over 2 weken", D(2026, 12, 6), False),
        ("over twee weken", D(2026, 12, 6), False),
        ("over een maand", D(2026, 12, 22), False),
        ("over één maand", D(2026, 12, 22), False),
        ("over 1 maand", D(2026, 12, 22), False),
        ("over twaalf maanden", D(2027, 11, 22), False),
        # Weekdays: the next one after today; "volgende week" is the next ISO week, which on a
        # Sunday starts tomorrow.
        ("vrijdag", D(2026, 11, 27), False),
        ("aanstaande vrijdag", D(2026, 11, 27), False),
        ("komende vrijdag", D(2026, 11, 27), False),
        ("volgende week vrijdag", D(2026, 11, 27), False),
        ("volgende week maandag", D(2026, 11, 23), False),
        ("zondag", D(2026, 11, 29), False),
        # Case, surrounding whitespace and punctuation.
        ("  15-12-2026. ", D(2026, 12, 15), True),
        ("(15 december)", D(2026, 12, 15), False),
        ("Morgen!", D(2026, 11, 23), False),
        ("'VRIJDAG'", D(2026, 11, 27), False),
        ("OVER  2  WEKEN", D(2026, 12, 6), False),
    ],
)
def test_understood(typed: str, day: dt.date, explicit_year: bool) -> None:
    assert parse_dutch_date(typed, TODAY) == ParsedDate(day, explicit_year)


@pytest.mark.parametrize(
    "typed",
    [
        "31-02-2026",
        "29-02-2027",
        "2026-02-30",
        "00-12-2026",
        "15-13-2026",
        "32 januari",
        "31 april",
        "29 februari",  # neither 2026 nor 2027 is a leap year
        "15-12/2026",  # mixed separators
        "15 decembre",
        "1512",
        "vrijdag 15 december",  # 15 December 2026 is a Tuesday
        "maandag 18-12-2026",  # a Friday
        "vrijdag 15 januari 2026",  # a Thursday
        "do",  # abbreviations only in front of a date
        "volgende week",
        "over weken",
        "over een paar weken",
        "over -2 dagen",
        "gisteren",
        "banaan",
        "zo snel mogelijk",
        "",
        "   ",
    ],
)
def test_not_a_date(typed: str) -> None:
    assert parse_dutch_date(typed, TODAY) is None


@pytest.mark.parametrize(("name", "month"), list(MONTHS.items()))
def test_every_month_name_and_abbreviation(name: str, month: int) -> None:
    # From 22 November, 1 December is still ahead and every other 1st has passed.
    year = 2026 if month == 12 else 2027
    assert parse_dutch_date(f"1 {name}", TODAY) == ParsedDate(D(year, month, 1), False)


@pytest.mark.parametrize(
    ("typed", "day", "explicit_year"),
    [
        ("15 januari", D(2027, 1, 15), False),
        ("15-01", D(2027, 1, 15), False),
        ("vrijdag 15 januari", D(2027, 1, 15), False),  # checked against the year we chose
        ("20 december", D(2026, 12, 20), False),  # today has not passed
        ("19 december", D(2027, 12, 19), False),
        ("15-01-2026", D(2026, 1, 15), True),  # an explicit year is kept, even in the past
        ("over een maand", D(2027, 1, 20), False),
    ],
)
def test_year_rollover(typed: str, day: dt.date, explicit_year: bool) -> None:
    assert parse_dutch_date(typed, D(2026, 12, 20)) == ParsedDate(day, explicit_year)


@pytest.mark.parametrize(
    ("typed", "today", "day"),
    [
        ("29 februari", D(2027, 3, 1), D(2028, 2, 29)),
        ("over een maand", D(2027, 1, 31), D(2027, 2, 28)),  # clamped to the end of the month
        ("over 2 maanden", D(2027, 12, 31), D(2028, 2, 29)),
        ("over 1 maand", D(2026, 12, 15), D(2027, 1, 15)),
        ("vrijdag", D(2026, 11, 25), D(2026, 11, 27)),  # a Wednesday
        ("volgende week vrijdag", D(2026, 11, 25), D(2026, 12, 4)),
        ("vrijdag", D(2026, 11, 27), D(2026, 12, 4)),  # on a Friday: the next one
        ("aanstaande vrijdag", D(2026, 11, 27), D(2026, 12, 4)),
        ("volgende week vrijdag", D(2026, 11, 27), D(2026, 12, 4)),
    ],
)
def test_relative_to_other_days(typed: str, today: dt.date, day: dt.date) -> None:
    assert parse_dutch_date(typed, today) == ParsedDate(day, False)


def test_working_days_skip_christmas() -> None:
    # 24 Dec (1), Kerst, weekend, 28 (2), 29 (3).
    assert parse_dutch_date("over 3 werkdagen", D(2026, 12, 23)) == ParsedDate(
        D(2026, 12, 29), False
    )


def test_working_days_use_the_given_calendar() -> None:
    thursday_before_easter = D(2026, 4, 2)
    assert parse_dutch_date("over 1 werkdag", thursday_before_easter) == ParsedDate(
        D(2026, 4, 3), False
    )
    assert parse_dutch_date(
        "over een werkdag", thursday_before_easter, calendar=WorkingCalendar(good_friday_off=True)
    ) == ParsedDate(D(2026, 4, 7), False)
