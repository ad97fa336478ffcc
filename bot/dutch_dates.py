"""Domain: the desired date as people type it in Dutch (pure: the caller passes `today`).

Advisers answer "wanneer wil je de rapportage hebben?" the way they would write to a colleague:
"15-12-2026", "15 dec", "vrijdag 18 december", "over 2 weken", "volgende week vrijdag". A
general-purpose parser guesses at everything; here a short table of exact patterns covers those
forms and anything else is None, so the dialog asks again instead of silently storing a wrong
deadline. Contradictions ("vrijdag 15 december" when the 15th is a Tuesday) are None for the same
reason: we cannot know which half the user meant.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass

from bot.deadlines import DEFAULT_CALENDAR, WorkingCalendar

MONTHS: dict[str, int] = {
    "januari": 1,
    "jan": 1,
    "februari": 2,
    "feb": 2,
    "febr": 2,
    "maart": 3,
    "mrt": 3,
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

WEEKDAYS: dict[str, int] = {
    "maandag": 0,
    "dinsdag": 1,
    "woensdag": 2,
    "donderdag": 3,
    "vrijdag": 4,
    "zaterdag": 5,
    "zondag": 6,
}

# Two-letter abbreviations ("vr 18 dec") are only read in front of a date, where the date itself
# confirms them; on their own ("do") they are too easily an ordinary word.
WEEKDAY_PREFIXES: dict[str, int] = {
    **WEEKDAYS,
    **{"ma": 0, "di": 1, "wo": 2, "do": 3, "vr": 4, "za": 5, "zo": 6},
}

# After accent stripping "één" and "eén" are "een".
NUMBER_WORDS: dict[str, int] = {
    "een": 1,
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

RELATIVE_DAYS: dict[str, int] = {"vandaag": 0, "morgen": 1, "overmorgen": 2}


@dataclass(frozen=True)
class ParsedDate:
    day: dt.date
    explicit_year: bool
    """False when the user left out the year and we chose it, so the dialog can confirm it."""


def parse_dutch_date(
    text: str, today: dt.date, calendar: WorkingCalendar | None = None
) -> ParsedDate | None:
    """Read a date typed in Dutch, relative to `today`; None when it is not clearly one date.

    `calendar` is only needed for "over N werkdagen"; it defaults to the domain calendar.
    """
    said = _clean(text)
    cal = calendar or DEFAULT_CALENDAR
    for pattern, read in _FORMS:
        match = pattern.fullmatch(said)
        if match:
            return read(match, today, cal)
    return None


def _clean(text: str) -> str:
    """Lower case, no accents, single spaces, no surrounding punctuation, commas as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = re.sub(r"\s*,\s*", " ", plain)
    plain = re.sub(r"\s+", " ", plain)
    return plain.strip(" .,;:!?()[]'\"")


def _alternatives(words: dict[str, int]) -> str:
    # Longest first, so "sept" is tried before "sep" and the group captures the whole word.
    return "|".join(sorted(words, key=len, reverse=True))


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _calendar_date(
    day: int, month: int, year_text: str | None, weekday_text: str | None, today: dt.date
) -> ParsedDate | None:
    """A day and month with an optional year and weekday, checked for existence and consistency.

    Without a year the user means the next time that date comes round: this year, or next year
    when it has already passed (typed on 20 December, "15 januari" is next January).
    """
    if year_text is not None:
        year = int(year_text)
        found = _date(2000 + year if len(year_text) == 2 else year, month, day)
    else:
        this_year = _date(today.year, month, day)
        if this_year is not None and this_year >= today:
            found = this_year
        else:
            # Also reached for 29 February in a non-leap year: the next one may be a leap year.
            found = _date(today.year + 1, month, day)
    if found is None:
        return None
    if weekday_text is not None and WEEKDAY_PREFIXES[weekday_text] != found.weekday():
        return None
    return ParsedDate(found, explicit_year=year_text is not None)


def _read_iso(match: re.Match[str], today: dt.date, cal: WorkingCalendar) -> ParsedDate | None:
    found = _date(int(match["year"]), int(match["month"]), int(match["day"]))
    return None if found is None else ParsedDate(found, explicit_year=True)


def _read_numeric(match: re.Match[str], today: dt.date, cal: WorkingCalendar) -> ParsedDate | None:
    return _calendar_date(
        int(match["day"]), int(match["month"]), match["year"], match["weekday"], today
    )


def _read_named(match: re.Match[str], today: dt.date, cal: WorkingCalendar) -> ParsedDate | None:
    return _calendar_date(
        int(match["day"]), MONTHS[match["month"]], match["year"], match["weekday"], today
    )


def _read_relative_day(
    match: re.Match[str], today: dt.date, cal: WorkingCalendar
) -> ParsedDate | None:
    return ParsedDate(today + dt.timedelta(days=RELATIVE_DAYS[match["word"]]), explicit_year=False)


def _read_in(match: re.Match[str], today: dt.date, cal: WorkingCalendar) -> ParsedDate | None:
    """`over N dagen/werkdagen/weken/maanden`, counted from today.

    A month later is the same day of the month, clamped to its last day (31 January plus a month
    is 28 February), because that is what people mean and there is no 31 February to refuse.
    """
    raw = match["count"]
    count = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]
    unit = match["unit"]
    if unit.startswith("werkdag"):
        found = cal.add_working_days(today, count)
    elif unit.startswith("dag"):
        found = today + dt.timedelta(days=count)
    elif unit.startswith("we"):
        found = today + dt.timedelta(weeks=count)
    else:
        index = today.month - 1 + count
        year, month = today.year + index // 12, index % 12 + 1
        found = dt.date(year, month, min(today.day, monthrange(year, month)[1]))
    return ParsedDate(found, explicit_year=False)


def _read_weekday(match: re.Match[str], today: dt.date, cal: WorkingCalendar) -> ParsedDate | None:
    """`vrijdag`, `aanstaande vrijdag`: the next one after today; `volgende week`: next ISO week.

    Today itself never counts: who types "vrijdag" on a Friday means a week later.
    """
    weekday = WEEKDAYS[match["weekday"]]
    if match["next_week"]:
        next_monday = today + dt.timedelta(days=7 - today.weekday())
        return ParsedDate(next_monday + dt.timedelta(days=weekday), explicit_year=False)
    ahead = (weekday - today.weekday()) % 7 or 7
    return ParsedDate(today + dt.timedelta(days=ahead), explicit_year=False)


_Reader = Callable[[re.Match[str], dt.date, WorkingCalendar], ParsedDate | None]

_PREFIX = rf"(?:(?P<weekday>{_alternatives(WEEKDAY_PREFIXES)})\.? )?"
_COUNT = rf"\d{{1,3}}|{_alternatives(NUMBER_WORDS)}"

_FORMS: tuple[tuple[re.Pattern[str], _Reader], ...] = (
    (re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"), _read_iso),
    (
        # The same separator twice: "15-12-2026", "15/12/26", "15.12"; never "15-12/2026".
        re.compile(
            _PREFIX + r"(?P<day>\d{1,2})(?P<sep>[-/.])(?P<month>\d{1,2})"
            r"(?:(?P=sep)(?P<year>\d{4}|\d{2}))?"
        ),
        _read_numeric,
    ),
    (
        re.compile(
            _PREFIX + rf"(?P<day>\d{{1,2}}) (?P<month>{_alternatives(MONTHS)})\.?"
            r"(?: (?P<year>\d{4}))?"
        ),
        _read_named,
    ),
    (re.compile(rf"(?P<word>{_alternatives(RELATIVE_DAYS)})"), _read_relative_day),
    (
        re.compile(
            rf"over (?P<count>{_COUNT}) "
            r"(?P<unit>dagen|dag|werkdagen|werkdag|weken|week|maanden|maand)"
        ),
        _read_in,
    ),
    (
        re.compile(
            r"(?:(?:(?P<next_week>volgende week)|aanstaande|komende) )?"
            rf"(?P<weekday>{_alternatives(WEEKDAYS)})"
        ),
        _read_weekday,
    ),
)
