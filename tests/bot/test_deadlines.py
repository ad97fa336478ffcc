"""Working days and due dates (pure): Dutch holidays, our two corrections, DST-safe deadlines."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.deadlines import DEFAULT_CALENDAR, OM_TOETSING_WORKING_DAYS, WorkingCalendar

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
D = dt.date

HOLIDAYS = {
    2026: {
        D(2026, 1, 1): "Nieuwjaarsdag",
        D(2026, 4, 5): "Eerste paasdag",
        D(2026, 4, 6): "Tweede paasdag",
        D(2026, 4, 27): "Koningsdag",
        D(2026, 5, 5): "Bevrijdingsdag",
        D(2026, 5, 14): "Hemelvaartsdag",
        D(2026, 5, 24): "Eerste pinksterdag",
        D(2026, 5, 25): "Tweede pinksterdag",
        D(2026, 12, 25): "Eerste kerstdag",
        D(2026, 12, 26): "Tweede kerstdag",
    },
    2027: {
        D(2027, 1, 1): "Nieuwjaarsdag",
        D(2027, 3, 28): "Eerste paasdag",
        D(2027, 3, 29): "Tweede paasdag",
        D(2027, 4, 27): "Koningsdag",
        D(2027, 5, 5): "Bevrijdingsdag",
        D(2027, 5, 6): "Hemelvaartsdag",
        D(2027, 5, 16): "Eerste pinksterdag",
        D(2027, 5, 17): "Tweede pinksterdag",
        D(2027, 12, 25): "Eerste kerstdag",
        D(2027, 12, 26): "Tweede kerstdag",
    },
}


def days_of(year: int) -> list[dt.date]:
    first = D(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range((D(year + 1, 1, 1) - first).days)]


@pytest.mark.parametrize(
    ("day", "name"), [(day, name) for year in HOLIDAYS.values() for day, name in year.items()]
)
def test_every_domain_holiday_is_no_working_day(day: dt.date, name: str) -> None:
    assert DEFAULT_CALENDAR.holiday_name(day) == name
    assert not DEFAULT_CALENDAR.is_working_day(day)


@pytest.mark.parametrize("year", sorted(HOLIDAYS))
def test_the_domain_list_is_exactly_the_holidays(year: int) -> None:
    found = {d: DEFAULT_CALENDAR.holiday_name(d) for d in days_of(year)}
    assert {d: name for d, name in found.items() if name is not None} == HOLIDAYS[year]


def test_goede_vrijdag_is_a_working_day_by_default() -> None:
    good_friday = D(2026, 4, 3)
    assert DEFAULT_CALENDAR.holiday_name(good_friday) is None
    assert DEFAULT_CALENDAR.is_working_day(good_friday)


def test_goede_vrijdag_can_be_a_day_off() -> None:
    calendar = WorkingCalendar(good_friday_off=True)
    assert calendar.holiday_name(D(2026, 4, 3)) == "Goede vrijdag"
    assert not calendar.is_working_day(D(2026, 4, 3))


def test_bevrijdingsdag_is_a_day_off_every_year_by_default() -> None:
    assert DEFAULT_CALENDAR.holiday_name(D(2026, 5, 5)) == "Bevrijdingsdag"
    assert not DEFAULT_CALENDAR.is_working_day(D(2026, 5, 5))


def test_bevrijdingsdag_only_in_lustrum_years_when_asked() -> None:
    calendar = WorkingCalendar(liberation_day_every_year=False)
    assert calendar.holiday_name(D(2026, 5, 5)) is None
    assert calendar.is_working_day(D(2026, 5, 5))  # a Tuesday
    assert calendar.holiday_name(D(2025, 5, 5)) == "Bevrijdingsdag"  # lustrum year
    assert calendar.holiday_name(D(2030, 5, 5)) == "Bevrijdingsdag"


def test_koningsdag_on_a_sunday_moves_to_saturday_26_april() -> None:
    assert DEFAULT_CALENDAR.holiday_name(D(2025, 4, 26)) == "Koningsdag"
    assert DEFAULT_CALENDAR.holiday_name(D(2025, 4, 27)) is None
    assert not DEFAULT_CALENDAR.is_working_day(D(2025, 4, 27))  # Sunday anyway
    assert DEFAULT_CALENDAR.is_working_day(D(2025, 4, 28))
    assert DEFAULT_CALENDAR.add_working_days(D(2025, 4, 25), 1) == D(2025, 4, 28)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 11, 20), True),  # Friday
        (D(2026, 11, 21), False),  # Saturday
        (D(2026, 11, 22), False),  # Sunday
        (D(2026, 11, 23), True),  # Monday
        (D(2026, 5, 15), True),  # the Friday after Hemelvaart is no holiday
    ],
)
def test_weekends_are_no_working_days(day: dt.date, working: bool) -> None:
    assert DEFAULT_CALENDAR.is_working_day(day) is working


def test_the_calendar_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_CALENDAR.good_friday_off = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        # Christmas: 24 Thu (1), 25 Fri holiday, weekend, 28 Mon (2), 29 Tue (3).
        (D(2026, 12, 23), 3, D(2026, 12, 29)),
        # New Year: 31 Thu (1), 1 Jan Fri holiday, weekend, 4 Jan Mon (2).
        (D(2026, 12, 30), 2, D(2027, 1, 4)),
        # Easter: Goede vrijdag works, Tweede paasdag does not.
        (D(2026, 4, 2), 1, D(2026, 4, 3)),
        (D(2026, 4, 3), 1, D(2026, 4, 7)),
        # Hemelvaart (Thu 14 May) is off, the Friday after is not.
        (D(2026, 5, 13), 1, D(2026, 5, 15)),
        # Pinksteren: Tweede pinksterdag (Mon 25 May) is off.
        (D(2026, 5, 22), 1, D(2026, 5, 26)),
        # Koningsdag (Mon 27 April).
        (D(2026, 4, 24), 1, D(2026, 4, 28)),
        # Starting on a weekend or holiday counts from the next day as usual.
        (D(2026, 11, 21), 1, D(2026, 11, 23)),
        (D(2026, 12, 25), 1, D(2026, 12, 28)),
        # Zero: the day itself when it works, else the next working day.
        (D(2026, 12, 24), 0, D(2026, 12, 24)),
        (D(2026, 12, 25), 0, D(2026, 12, 28)),
        (D(2026, 11, 21), 0, D(2026, 11, 23)),
    ],
)
def test_add_working_days(start: dt.date, count: int, expected: dt.date) -> None:
    assert DEFAULT_CALENDAR.add_working_days(start, count) == expected


def test_add_working_days_with_goede_vrijdag_off() -> None:
    assert WorkingCalendar(good_friday_off=True).add_working_days(D(2026, 4, 2), 1) == D(2026, 4, 7)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        DEFAULT_CALENDAR.add_working_days(D(2026, 11, 23), -1)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 1 May (1), 4 (2), Bevrijdingsdag, 6-8 (3-5), 11-13 (6-8), Hemelvaart, 15 (9), 18 (10).
        (D(2026, 4, 30), D(2026, 5, 18)),
        # 18 Dec (1), 21-24 (2-5), Kerst, 28-31 (6-9), Nieuwjaar, 4 Jan (10).
        (D(2026, 12, 17), D(2027, 1, 4)),
    ],
)
def test_om_toetsing_takes_ten_working_days(start: dt.date, expected: dt.date) -> None:
    assert OM_TOETSING_WORKING_DAYS == 10
    assert DEFAULT_CALENDAR.add_working_days(start, OM_TOETSING_WORKING_DAYS) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2026, 11, 23), D(2026, 11, 23), 0),
        (D(2026, 11, 24), D(2026, 11, 23), 0),  # end before start
        (D(2026, 11, 20), D(2026, 11, 23), 1),  # Friday to Monday
        (D(2026, 11, 21), D(2026, 11, 22), 0),  # the weekend
        (D(2026, 12, 23), D(2026, 12, 29), 3),
        (D(2026, 4, 30), D(2026, 5, 18), 10),
        # 261 weekdays in 2026, 7 holidays fall on one (Goede vrijdag does not count).
        (D(2025, 12, 31), D(2026, 12, 31), 254),
    ],
)
def test_working_days_between(start: dt.date, end: dt.date, expected: int) -> None:
    assert DEFAULT_CALENDAR.working_days_between(start, end) == expected


def test_working_days_between_adds_up_over_split_ranges() -> None:
    between = DEFAULT_CALENDAR.working_days_between
    points = [D(2026, 1, 1) + dt.timedelta(days=d) for d in range(0, 365, 17)]
    for a in points:
        for b in points:
            if b <= a:
                assert between(a, b) == 0
                continue
            for c in points:
                if c >= b:
                    assert between(a, b) + between(b, c) == between(a, c)


def test_adding_and_counting_working_days_agree_for_every_day_of_2026() -> None:
    calendar = DEFAULT_CALENDAR
    for start in days_of(2026):
        for count in range(1, 26):
            due = calendar.add_working_days(start, count)
            assert calendar.is_working_day(due)
            assert calendar.working_days_between(start, due) == count, (start, count)
            assert calendar.working_days_between(start, due - dt.timedelta(days=1)) == count - 1
        # count 0 never lands on a day off, so from a day off it is the first working day after.
        due = calendar.add_working_days(start, 0)
        if calendar.is_working_day(start):
            assert due == start
            assert calendar.working_days_between(start, due) == 0
        else:
            assert due == calendar.add_working_days(start, 1) == calendar.next_working_day(start)
            assert calendar.working_days_between(start, due) == 1


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 11, 23), D(2026, 11, 23)),
        (D(2026, 11, 21), D(2026, 11, 23)),
        (D(2026, 12, 25), D(2026, 12, 28)),
        (D(2027, 4, 27), D(2027, 4, 28)),
    ],
)
def test_next_working_day(day: dt.date, expected: dt.date) -> None:
    assert DEFAULT_CALENDAR.next_working_day(day) == expected


def local(
    year: int, month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=AMSTERDAM, fold=fold)


def utc(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("start", "working_days", "expected_utc", "local_offset_hours"),
    [
        # Summer time starts Sunday 29 March 2026 at 02:00 (+01:00 -> +02:00).
        (local(2026, 3, 27, 10), 0, utc(2026, 3, 27, 22, 59, 59), 1),
        (local(2026, 3, 27, 10), 1, utc(2026, 3, 30, 21, 59, 59), 2),
        (local(2026, 3, 29, 1, 59), 0, utc(2026, 3, 30, 21, 59, 59), 2),  # just before
        (local(2026, 3, 29, 3, 0), 0, utc(2026, 3, 30, 21, 59, 59), 2),  # just after
        (local(2026, 3, 26, 16), 1, utc(2026, 3, 27, 22, 59, 59), 1),
        # Summer time ends Sunday 25 October 2026 at 03:00 (+02:00 -> +01:00).
        (local(2026, 10, 23, 10), 0, utc(2026, 10, 23, 21, 59, 59), 2),
        (local(2026, 10, 23, 10), 1, utc(2026, 10, 26, 22, 59, 59), 1),
        (local(2026, 10, 25, 2, 30, fold=0), 0, utc(2026, 10, 26, 22, 59, 59), 1),
        (local(2026, 10, 25, 2, 30, fold=1), 0, utc(2026, 10, 26, 22, 59, 59), 1),
        (local(2026, 10, 22, 16), 1, utc(2026, 10, 23, 21, 59, 59), 2),
        # A UTC start late on Thursday is already Friday in Amsterdam: one day later.
        (utc(2026, 3, 26, 23, 30), 1, utc(2026, 3, 30, 21, 59, 59), 2),
        (utc(2026, 3, 26, 22, 30), 1, utc(2026, 3, 27, 22, 59, 59), 1),
        # Ten working days of OM-toetsing across Bevrijdingsdag and Hemelvaart.
        (
            local(2026, 4, 30, 9),
            OM_TOETSING_WORKING_DAYS,
            utc(2026, 5, 18, 21, 59, 59),
            2,
        ),
    ],
)
def test_due_at_ends_on_the_right_local_day_across_dst(
    start: dt.datetime, working_days: int, expected_utc: dt.datetime, local_offset_hours: int
) -> None:
    due = DEFAULT_CALENDAR.due_at(start, working_days, AMSTERDAM)
    assert due == expected_utc
    assert due.utcoffset() == dt.timedelta(0)
    in_amsterdam = due.astimezone(AMSTERDAM)
    assert in_amsterdam.time() == dt.time(23, 59, 59)
    assert in_amsterdam.utcoffset() == dt.timedelta(hours=local_offset_hours)


def test_due_at_accepts_another_zone_and_end_of_day() -> None:
    # 18:00 in New York on Friday 27 March is 23:00 that Friday in Amsterdam.
    start = dt.datetime(2026, 3, 27, 18, tzinfo=ZoneInfo("America/New_York"))
    due = DEFAULT_CALENDAR.due_at(start, 1, AMSTERDAM, end_of_day=dt.time(17, 0))
    assert due == utc(2026, 3, 30, 15, 0)
    assert due.astimezone(AMSTERDAM).isoformat() == "2026-03-30T17:00:00+02:00"


def test_due_at_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT_CALENDAR.due_at(dt.datetime(2026, 3, 27, 10), 1, AMSTERDAM)


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        # Weekends: Monday back to Friday; from a Saturday or Sunday Friday is the first.
        (D(2026, 11, 23), 1, D(2026, 11, 20)),
        (D(2026, 11, 21), 1, D(2026, 11, 20)),
        (D(2026, 11, 22), 1, D(2026, 11, 20)),
        (D(2026, 11, 26), 5, D(2026, 11, 19)),
        # Koningsdag 2026 is Monday 27 April.
        (D(2026, 4, 28), 1, D(2026, 4, 24)),
        # In 2025 27 April is a Sunday, so Koningsdag is Saturday 26 April: no working day lost.
        (D(2025, 4, 28), 1, D(2025, 4, 25)),
        (D(2025, 4, 29), 2, D(2025, 4, 25)),
        # Bevrijdingsdag (Tuesday 5 May 2026) is off every year by default.
        (D(2026, 5, 6), 1, D(2026, 5, 4)),
        # Hemelvaart (Thursday 14 May 2026) is off, the Friday after is not.
        (D(2026, 5, 15), 1, D(2026, 5, 13)),
        (D(2026, 5, 18), 1, D(2026, 5, 15)),
        # Pinksteren: Tweede pinksterdag (Monday 25 May 2026) is off.
        (D(2026, 5, 26), 1, D(2026, 5, 22)),
        # Easter: Tweede paasdag is off, Goede vrijdag works.
        (D(2026, 4, 7), 1, D(2026, 4, 3)),
        # Christmas: 28 Dec back over the weekend and both Kerstdagen to Thursday 24 Dec.
        (D(2026, 12, 28), 1, D(2026, 12, 24)),
        (D(2026, 12, 29), 3, D(2026, 12, 23)),
        # New Year, across the turn of the year.
        (D(2027, 1, 4), 2, D(2026, 12, 30)),
        # Ten working days of OM-toetsing, backwards over Hemelvaart and Bevrijdingsdag.
        (D(2026, 5, 18), 10, D(2026, 4, 30)),
        # Zero: the day itself when it works, else the working day before it.
        (D(2026, 12, 24), 0, D(2026, 12, 24)),
        (D(2026, 12, 25), 0, D(2026, 12, 24)),
        (D(2026, 12, 27), 0, D(2026, 12, 24)),
        (D(2026, 11, 22), 0, D(2026, 11, 20)),
        (D(2027, 4, 27), 0, D(2027, 4, 26)),  # Koningsdag on a Tuesday
    ],
)
def test_subtract_working_days(day: dt.date, count: int, expected: dt.date) -> None:
    assert DEFAULT_CALENDAR.subtract_working_days(day, count) == expected


def test_subtract_working_days_with_goede_vrijdag_off() -> None:
    calendar = WorkingCalendar(good_friday_off=True)
    assert calendar.subtract_working_days(D(2026, 4, 7), 1) == D(2026, 4, 2)


def test_subtract_working_days_with_bevrijdingsdag_only_in_lustrum_years() -> None:
    calendar = WorkingCalendar(liberation_day_every_year=False)
    assert calendar.subtract_working_days(D(2026, 5, 6), 1) == D(2026, 5, 5)
    assert calendar.subtract_working_days(D(2025, 5, 6), 1) == D(2025, 5, 2)  # lustrum year


def test_subtracting_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        DEFAULT_CALENDAR.subtract_working_days(D(2026, 11, 23), -1)


def test_subtracting_undoes_adding_for_every_day_of_2026() -> None:
    calendar = DEFAULT_CALENDAR
    for day in days_of(2026):
        before = calendar.subtract_working_days(day, 0)
        assert calendar.is_working_day(before)
        assert before <= day
        for count in range(1, 26):
            back = calendar.subtract_working_days(calendar.add_working_days(day, count), count)
            # From a day off, the working days counted start after it, so back is the working
            # day before it: the same day that count 0 gives.
            assert back == (day if calendar.is_working_day(day) else before), (day, count)
            earlier = calendar.subtract_working_days(day, count)
            assert calendar.is_working_day(earlier)
            assert earlier < day
            # `day` itself never counts, but when it is a working day it ends the counted range.
            working = calendar.is_working_day(day)
            assert calendar.working_days_between(earlier, day) == count - (0 if working else 1)
            if working:
                assert calendar.add_working_days(earlier, count) == day, (day, count)
