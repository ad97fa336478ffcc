"""Domain: the desired date as people type it in Dutch (pure; the caller passes `today`).

Advisers write "15-12-2026", "15 december", "over 2 weken" or "volgende week vrijdag". A small
table-driven parser covers these forms exactly; anything it does not recognise is None, so the
dialog asks again instead of guessing a date.
"""

from __future__ import annotations

import calendar as month_calendar
import datetime as dt
import re
from dataclasses import dataclass

from bot.deadlines import DEFAULT_CALENDAR, WorkingCalendar
from bot.textnorm import normalise

MONTHS = {
    "januari": 1,
    "jan": 1,
    "februari": 2,
    "feb": 2,
    "maart": 3,
    "mrt": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "mei": 5,
    "juni": 6,
    "jun": 6,
    "juli": 7,
    "jul": 7,
    "augustus": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "oktober": 10,
    "okt": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
WEEKDAYS = {
    "maandag": 0,
    "ma": 0,
    "dinsdag": 1,
    "di": 1,
    "woensdag": 2,
    "wo": 2,
    "donderdag": 3,
    "do": 3,
    "vrijdag": 4,
    "vr": 4,
    "zaterdag": 5,
    "za": 5,
    "zondag": 6,
    "zo": 6,
}
NUMBERS = {
    "een": 1,
    "één": 1,
    "eén": 1,
    "twee": 2,
    "drie": 3,
    "vier": 4,
    "vijf": 5,
    "zes": 6,
    "zeven": 7,
    "acht": 8,
    "negen": 9,
    "tien": 10,
    "elf": 11,
    "twaalf": 12,
}
RELATIVE_DAYS = {"vandaag": 0, "morgen": 1, "overmorgen": 2}


@dataclass(frozen=True)
class ParsedDate:
    day: dt.date
    explicit_year: bool


def parse_dutch_date(
    text: str, today: dt.date, *, calendar: WorkingCalendar | None = None
) -> ParsedDate | None:
    said = re.sub(r"[,;!?]", " ", text.lower()).strip().rstrip(".")
    said = re.sub(r"\s+", " ", said)
    plain = normalise(said)
    for parse in (_numeric, _iso, _named_month, _relative, _weekday):
        result = parse(said, plain, today, calendar or DEFAULT_CALENDAR)
        if result is not None:
            return result
    return None


def _build(year: int, month: int, day: int, explicit: bool, today: dt.date) -> ParsedDate | None:
    try:
        candidate = dt.date(year, month, day)
    except ValueError:
        return None
    if not explicit and candidate < today:
        try:
            candidate = dt.date(year + 1, month, day)
        except ValueError:
            return None
    return ParsedDate(candidate, explicit)


def _year(raw: str | None, today: dt.date) -> tuple[int, bool]:
    if raw is None:
        return today.year, False
    year = int(raw)
    return (2000 + year if year < 100 else year), True


def _numeric(said: str, _plain: str, today: dt.date, _cal: WorkingCalendar) -> ParsedDate | None:
    match = re.fullmatch(r"(?:[a-z]+ )?(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{4}|\d{2}))?", said)
    if not match:
        return None
    year, explicit = _year(match.group(3), today)
    parsed = _build(year, int(match.group(2)), int(match.group(1)), explicit, today)
    return _check_weekday(said, parsed)


def _iso(said: str, _plain: str, _today: dt.date, _cal: WorkingCalendar) -> ParsedDate | None:
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", said)
    if not match:
        return None
    try:
        return ParsedDate(dt.date(int(match[1]), int(match[2]), int(match[3])), True)
    except ValueError:
        return None


def _named_month(said: str, plain: str, today: dt.date, _cal: WorkingCalendar) -> ParsedDate | None:
    match = re.fullmatch(r"(?:([a-z]+) )?(\d{1,2}) ([a-z]+)\.?(?: (\d{4}))?", plain)
    if not match or match.group(3) not in MONTHS:
        return None
    if match.group(1) is not None and match.group(1) not in WEEKDAYS:
        return None
    year, explicit = _year(match.group(4), today)
    parsed = _build(year, MONTHS[match.group(3)], int(match.group(2)), explicit, today)
    return _check_weekday(plain, parsed)


def _check_weekday(said: str, parsed: ParsedDate | None) -> ParsedDate | None:
    """'vrijdag 15 december' must really be a Friday; a contradiction is not guessed away."""
    if parsed is None:
        return None
    first = normalise(said).split(" ", 1)[0]
    if first in WEEKDAYS and WEEKDAYS[first] != parsed.day.weekday():
        return None
    return parsed


def _count(raw: str) -> int | None:
    if raw.isdigit():
        return int(raw)
    return NUMBERS.get(raw)


def _relative(said: str, plain: str, today: dt.date, cal: WorkingCalendar) -> ParsedDate | None:
    if plain in RELATIVE_DAYS:
        return ParsedDate(today + dt.timedelta(days=RELATIVE_DAYS[plain]), False)
    match = re.fullmatch(r"over (\S+) (dag|dagen|werkdag|werkdagen|week|weken|maand|maanden)", said)
    if not match:
        return None
    count = _count(match.group(1))
    if count is None:
        return None
    unit = match.group(2)
    if unit.startswith("werkdag"):
        return ParsedDate(cal.add_working_days(today, count), False)
    if unit.startswith("dag"):
        return ParsedDate(today + dt.timedelta(days=count), False)
    if unit.startswith("week") or unit == "weken":
        return ParsedDate(today + dt.timedelta(weeks=count), False)
    month_index = today.month - 1 + count
    year, month = today.year + month_index // 12, month_index % 12 + 1
    day = min(today.day, month_calendar.monthrange(year, month)[1])
    return ParsedDate(dt.date(year, month, day), False)


def _weekday(_said: str, plain: str, today: dt.date, _cal: WorkingCalendar) -> ParsedDate | None:
    match = re.fullmatch(r"(volgende week |aanstaande |komende )?([a-z]+)", plain)
    if not match or match.group(2) not in WEEKDAYS or len(match.group(2)) < 5:
        return None
    weekday = WEEKDAYS[match.group(2)]
    if match.group(1) == "volgende week ":
        monday_next_week = today + dt.timedelta(days=7 - today.weekday())
        return ParsedDate(monday_next_week + dt.timedelta(days=weekday), False)
    ahead = (weekday - today.weekday()) % 7 or 7
    return ParsedDate(today + dt.timedelta(days=ahead), False)
