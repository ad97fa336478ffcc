"""Sturingsoverleg domain (pure): rhythms as typed in Dutch, digest slots across DST, nudges."""

from __future__ import annotations

import ast
import bisect
import dataclasses
import datetime as dt
import inspect
import sys
from zoneinfo import ZoneInfo

import pytest

import bot.sturing
from bot.deadlines import DEFAULT_CALENDAR, WorkingCalendar
from bot.sturing import (
    LinkCommand,
    MeetingRhythm,
    UnlinkCommand,
    latest_digest_slot,
    meeting_at,
    next_digest_slot,
    nudge_at,
    parse_link_command,
    parse_rhythm,
    parse_unlink_command,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
D = dt.date
T = dt.time
H = dt.timedelta(hours=1)
TUESDAY_10 = MeetingRhythm(1, T(10, 0))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def local(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=AMSTERDAM)


# --- The module stays pure ------------------------------------------------------------------


def test_the_module_imports_only_the_standard_library_and_pure_domain() -> None:
    tree = ast.parse(inspect.getsource(bot.sturing))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    allowed_first_party = {"bot.deadlines", "bot.textnorm"}
    for module in imported:
        top = module.split(".")[0]
        assert module in allowed_first_party or (
            top in sys.stdlib_module_names or top == "__future__"
        ), module


def test_the_module_never_reads_the_clock() -> None:
    source = inspect.getsource(bot.sturing)
    for call in ("now(", "today(", "utcnow(", "time.time(", "monotonic("):
        assert call not in source


# --- MeetingRhythm --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rhythm", "described", "stored"),
    [
        (MeetingRhythm(0, T(8, 30)), "elke maandag om 08:30", "0 08:30"),
        (MeetingRhythm(1, T(10, 0)), "elke dinsdag om 10:00", "1 10:00"),
        (MeetingRhythm(2, T(13, 15)), "elke woensdag om 13:15", "2 13:15"),
        (MeetingRhythm(3, T(14, 0)), "elke donderdag om 14:00", "3 14:00"),
        (MeetingRhythm(4, T(9, 5)), "elke vrijdag om 09:05", "4 09:05"),
        (MeetingRhythm(5, T(0, 0)), "elke zaterdag om 00:00", "5 00:00"),
        (MeetingRhythm(6, T(23, 59)), "elke zondag om 23:59", "6 23:59"),
    ],
)
def test_describe_and_storage_form(rhythm: MeetingRhythm, described: str, stored: str) -> None:
    assert rhythm.describe() == described
    assert rhythm.to_text() == stored
    assert MeetingRhythm.from_text(stored) == rhythm
    # What the bot says back is itself something the user could have typed.
    assert parse_rhythm(described) == rhythm


def test_every_rhythm_survives_storage() -> None:
    for weekday in range(7):
        for hour in range(24):
            for minute in (0, 1, 15, 30, 59):
                rhythm = MeetingRhythm(weekday, T(hour, minute))
                assert MeetingRhythm.from_text(rhythm.to_text()) == rhythm
                assert parse_rhythm(rhythm.describe()) == rhythm


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "1",
        "1 10",
        "1 9:30",  # always two digits
        "1 10:00 ",
        " 1 10:00",
        "1  10:00",
        "1 10:00:00",
        "1 10.00",
        "7 10:00",
        "-1 10:00",
        "1 24:00",
        "1 10:60",
        "01 10:00",
        "dinsdag 10:00",
        "elke dinsdag om 10:00",
        "１ 10:00",  # full-width digits are digits to Python's \d, not to storage
        "1 1０:00",
    ],
)
def test_from_text_refuses_anything_but_the_storage_form(text: str) -> None:
    with pytest.raises(ValueError, match="meeting rhythm"):
        MeetingRhythm.from_text(text)


@pytest.mark.parametrize(
    ("weekday", "time", "message"),
    [
        (7, T(10, 0), "weekday"),
        (-1, T(10, 0), "weekday"),
        (1, T(10, 0, tzinfo=dt.UTC), "tzinfo"),
        (1, T(10, 0, 30), "whole minutes"),
        (1, T(10, 0, 0, 1), "whole minutes"),
    ],
)
def test_a_rhythm_that_cannot_be_stored_is_refused(
    weekday: int, time: dt.time, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MeetingRhythm(weekday, time)


def test_the_rhythm_is_frozen_and_comparable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TUESDAY_10.weekday = 2  # type: ignore[misc]
    assert MeetingRhythm(1, T(10, 0)) == TUESDAY_10
    assert len({MeetingRhythm(1, T(10, 0)), TUESDAY_10}) == 1


# --- parse_rhythm ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weekday", "time"),
    [
        # The forms from the coordinators.
        ("elke dinsdag om 10:00", 1, T(10, 0)),
        ("iedere dinsdag om 10.00 uur", 1, T(10, 0)),
        ("dinsdag 10:00", 1, T(10, 0)),
        ("di 10u", 1, T(10, 0)),
        ("op dinsdagen om 9:30", 1, T(9, 30)),
        ("dinsdags 9.30", 1, T(9, 30)),
        ("elke di om 10", 1, T(10, 0)),
        ("Dinsdag om 10 uur", 1, T(10, 0)),
        ("wekelijks op dinsdag om 10:00", 1, T(10, 0)),
        ("elke dinsdagochtend om 10:00", 1, T(10, 0)),
        # Case, accents, spacing and trailing punctuation do not matter.
        ("ELKE DINSDAG OM 10:00", 1, T(10, 0)),
        ("  elke   dinsdag\tom  10:00  ", 1, T(10, 0)),
        ("élke dínsdag om 10:00", 1, T(10, 0)),
        ("Dinsdag om 10:00!", 1, T(10, 0)),
        ("elke dinsdag om 10:00 uur.", 1, T(10, 0)),
        ("dinsdag, 10:00", 1, T(10, 0)),
        # Every full name and its plural or adverbial form.
        ("maandag 8:30", 0, T(8, 30)),
        ("elke woensdag om 13.15", 2, T(13, 15)),
        ("op donderdagen om 14:00", 3, T(14, 0)),
        ("vrijdags om 9 uur", 4, T(9, 0)),
        ("zaterdag om 11:00", 5, T(11, 0)),
        ("iedere zondag 12:00 uur", 6, T(12, 0)),
        ("'s dinsdags om 10 uur", 1, T(10, 0)),
        ("’s woensdags om 10 uur", 2, T(10, 0)),
        # The two-letter abbreviations, with or without a full stop.
        ("ma 8:30", 0, T(8, 30)),
        ("di. 10:00", 1, T(10, 0)),
        ("elke wo om 13:15", 2, T(13, 15)),
        ("do 14u", 3, T(14, 0)),
        ("vr. om 9 uur", 4, T(9, 0)),
        ("za 11:00", 5, T(11, 0)),
        ("op zo om 12", 6, T(12, 0)),
        # The common clipped forms.
        ("din 10:00", 1, T(10, 0)),
        ("woe 10:00", 2, T(10, 0)),
        ("don 10:00", 3, T(10, 0)),
        ("elke vrij om 16:00", 4, T(16, 0)),
        ("zat 10:00", 5, T(10, 0)),
        ("zon 10:00", 6, T(10, 0)),
        # Other ways to write the time.
        ("di 10u30", 1, T(10, 30)),
        ("di 10h30", 1, T(10, 30)),
        ("di 9:30u", 1, T(9, 30)),
        ("di om 9.05 uur", 1, T(9, 5)),
        ("dinsdag 10 uur", 1, T(10, 0)),
        ("dinsdag om 0:00", 1, T(0, 0)),
        ("dinsdag om 23:59", 1, T(23, 59)),
        ("dinsdag om 07:45", 1, T(7, 45)),
        # Other leads and the time first.
        ("elke week op vrijdag om 8:15", 4, T(8, 15)),
        ("iedere week dinsdag om 10:00", 1, T(10, 0)),
        ("wekelijks dinsdag 10:00", 1, T(10, 0)),
        ("om 10:00 op dinsdag", 1, T(10, 0)),
        ("10:00 elke dinsdag", 1, T(10, 0)),
        ("om 9 uur op maandag", 0, T(9, 0)),
        ("om 14.00 uur, elke donderdag", 3, T(14, 0)),
        # A part of the day makes a 12-hour time a 24-hour one, when they agree.
        ("dinsdagochtend om 9", 1, T(9, 0)),
        ("dinsdagmorgen om 9", 1, T(9, 0)),
        ("dinsdagmiddag om 2 uur", 1, T(14, 0)),
        ("dinsdagmiddag om 12:30", 1, T(12, 30)),
        ("dinsdagmiddag om 14:30", 1, T(14, 30)),
        ("op dinsdagmiddagen om 1", 1, T(13, 0)),
        ("dinsdagavond om 7", 1, T(19, 0)),
        ("dinsdagavond om 19:30", 1, T(19, 30)),
        ("dinsdag om 7 uur 's avonds", 1, T(19, 0)),
        ("dinsdag om 10 uur 's avonds", 1, T(22, 0)),
        ("dinsdag om 2 uur ’s middags", 1, T(14, 0)),
        ("dinsdag om 9 uur 's ochtends", 1, T(9, 0)),
        ("dinsdagochtend om 9 uur 's morgens", 1, T(9, 0)),
    ],
)
def test_accepted_phrasings(text: str, weekday: int, time: dt.time) -> None:
    assert parse_rhythm(text) == MeetingRhythm(weekday, time)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        # Half a rhythm.
        "dinsdag",
        "elke dinsdag",
        "om 10:00",
        "10:00",
        "elke week",
        # A bare number could be a date ("dinsdag 10" = Tuesday the 10th).
        "dinsdag 10",
        "di 9",
        # Times that do not exist.
        "dinsdag 24:00",
        "dinsdag om 25 uur",
        "dinsdag 10:60",
        "dinsdag 10:5",
        "dinsdag 100:00",
        "dinsdag -1:00",
        # Two weekdays, or two times.
        "dinsdag en donderdag om 10:00",
        "dinsdag donderdag 10:00",
        "di/do 10:00",
        "elke dinsdag om 10:00 en donderdag om 14:00",
        "dinsdag om 10:00 of 11:00",
        # Only weekly meetings.
        "om de week op dinsdag om 10:00",
        "tweewekelijks op dinsdag om 10:00",
        "elke twee weken op dinsdag om 10:00",
        "om de twee weken dinsdag 10:00",
        "elke maand",
        "maandelijks op dinsdag om 10:00",
        "elke eerste dinsdag van de maand om 10:00",
        "elke dag om 10:00",
        "dagelijks om 10:00",
        # Not a weekday.
        "morgen om 10:00",
        "vandaag om 10:00",
        "dinsdag 15 december om 10:00",
        "maa 10:00",
        "vri 10:00",
        "tuesday 10:00",
        # Times in words are not read.
        "dinsdag om half tien",
        "dinsdag om tien uur",
        # A part of the day that contradicts the time.
        "dinsdagochtend om 15:00",
        "dinsdagochtend om 12:00",
        "dinsdagavond om 3",
        "dinsdagmiddag om 9",
        "dinsdag om 3 uur 's avonds",
        "dinsdag om 19:00 's middags",
        "dinsdagochtend om 2 uur 's middags",
        # Extra words.
        "elke dinsdag om 10:00 in de kantine",
        "graag elke dinsdag om 10:00",
    ],
)
def test_rejected_phrasings(text: str) -> None:
    assert parse_rhythm(text) is None


# --- meeting_at -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # Summer time starts Sunday 29 March 2026 and ends Sunday 25 October 2026.
        (D(2026, 3, 24), utc(2026, 3, 24, 9)),  # CET, +01:00
        (D(2026, 3, 31), utc(2026, 3, 31, 8)),  # CEST, +02:00
        (D(2026, 10, 20), utc(2026, 10, 20, 8)),  # CEST
        (D(2026, 10, 27), utc(2026, 10, 27, 9)),  # CET
        (D(2026, 7, 7), utc(2026, 7, 7, 8)),
        (D(2026, 12, 29), utc(2026, 12, 29, 9)),
    ],
)
def test_meeting_at_keeps_the_local_wall_clock_time(day: dt.date, expected: dt.datetime) -> None:
    meeting = meeting_at(TUESDAY_10, day, AMSTERDAM)
    assert meeting == expected
    assert meeting.tzinfo is dt.UTC
    assert meeting.astimezone(AMSTERDAM).date() == day
    assert meeting.astimezone(AMSTERDAM).time() == T(10, 0)


def test_meeting_at_refuses_another_weekday() -> None:
    with pytest.raises(ValueError, match="woensdag"):
        meeting_at(TUESDAY_10, D(2026, 3, 25), AMSTERDAM)


def test_a_time_in_the_spring_forward_gap_lands_after_the_gap() -> None:
    # 02:30 does not exist on 29 March 2026: clocks jump from 02:00 CET to 03:00 CEST. fold=0
    # reads it with the winter offset, which is 01:30 UTC = 03:30 summer time.
    meeting = meeting_at(MeetingRhythm(6, T(2, 30)), D(2026, 3, 29), AMSTERDAM)
    assert meeting == utc(2026, 3, 29, 1, 30)
    assert meeting.astimezone(AMSTERDAM).isoformat() == "2026-03-29T03:30:00+02:00"
    # The week before and after it is 02:30 as usual.
    assert meeting_at(MeetingRhythm(6, T(2, 30)), D(2026, 3, 22), AMSTERDAM) == utc(
        2026, 3, 22, 1, 30
    )
    assert meeting_at(MeetingRhythm(6, T(2, 30)), D(2026, 4, 5), AMSTERDAM) == utc(
        2026, 4, 5, 0, 30
    )


def test_a_time_that_happens_twice_is_the_first_one() -> None:
    # 02:30 happens twice on 25 October 2026: first in summer time (00:30 UTC), then in winter.
    meeting = meeting_at(MeetingRhythm(6, T(2, 30)), D(2026, 10, 25), AMSTERDAM)
    assert meeting == utc(2026, 10, 25, 0, 30)
    assert meeting.astimezone(AMSTERDAM).isoformat() == "2026-10-25T02:30:00+02:00"


def test_meeting_at_uses_the_zone_it_is_given() -> None:
    new_york = ZoneInfo("America/New_York")
    # The US switches on 8 March 2026, three weeks before Europe.
    assert meeting_at(TUESDAY_10, D(2026, 3, 3), new_york) == utc(2026, 3, 3, 15)
    assert meeting_at(TUESDAY_10, D(2026, 3, 10), new_york) == utc(2026, 3, 10, 14)


# --- latest_digest_slot / next_digest_slot ----------------------------------------------------

# Tuesday 10:00 meetings around the switch to summer time (29 March 2026) ...
MARCH_17, MARCH_24, MARCH_31, APRIL_7 = (
    utc(2026, 3, 17, 9),
    utc(2026, 3, 24, 9),
    utc(2026, 3, 31, 8),
    utc(2026, 4, 7, 8),
)
# ... and back to winter time (25 October 2026).
OCTOBER_13, OCTOBER_20, OCTOBER_27, NOVEMBER_3 = (
    utc(2026, 10, 13, 8),
    utc(2026, 10, 20, 8),
    utc(2026, 10, 27, 9),
    utc(2026, 11, 3, 9),
)
SECOND = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("now", "lead", "latest", "following"),
    [
        # Lead 2 hours. The digest for 24 March is at 07:00 UTC (08:00 CET) ...
        (utc(2026, 3, 24, 7) - SECOND, 2 * H, MARCH_17, MARCH_24),
        (utc(2026, 3, 24, 7), 2 * H, MARCH_24, MARCH_31),
        (utc(2026, 3, 24, 9), 2 * H, MARCH_24, MARCH_31),  # during the meeting
        (utc(2026, 3, 29, 1, 59), 2 * H, MARCH_24, MARCH_31),  # the night of the switch
        (utc(2026, 3, 29, 2), 2 * H, MARCH_24, MARCH_31),
        # ... and for 31 March at 06:00 UTC, still 08:00 local (CEST).
        (utc(2026, 3, 31, 6) - SECOND, 2 * H, MARCH_24, MARCH_31),
        (utc(2026, 3, 31, 6), 2 * H, MARCH_31, APRIL_7),
        # Lead 26 hours: Monday 08:00 local on both sides of the switch.
        (utc(2026, 3, 23, 7) - SECOND, 26 * H, MARCH_17, MARCH_24),
        (utc(2026, 3, 23, 7), 26 * H, MARCH_24, MARCH_31),
        (utc(2026, 3, 30, 6) - SECOND, 26 * H, MARCH_24, MARCH_31),
        (utc(2026, 3, 30, 6), 26 * H, MARCH_31, APRIL_7),
        # Lead 3 days spans the switch: 72 hours before 10:00 CEST is Saturday 09:00 CET.
        (utc(2026, 3, 28, 8) - SECOND, 72 * H, MARCH_24, MARCH_31),
        (utc(2026, 3, 28, 8), 72 * H, MARCH_31, APRIL_7),
        # A lead longer than a week: 8 days before 31 March is Monday 23 March 09:00 CET.
        (utc(2026, 3, 23, 8) - SECOND, 192 * H, MARCH_24, MARCH_31),
        (utc(2026, 3, 23, 8), 192 * H, MARCH_31, APRIL_7),
        # No lead: the slot is the meeting itself.
        (MARCH_24 - SECOND, dt.timedelta(0), MARCH_17, MARCH_24),
        (MARCH_24, dt.timedelta(0), MARCH_24, MARCH_31),
        # Back to winter time. Lead 2 hours: 06:00 UTC (CEST), then 07:00 UTC (CET).
        (utc(2026, 10, 20, 6) - SECOND, 2 * H, OCTOBER_13, OCTOBER_20),
        (utc(2026, 10, 20, 6), 2 * H, OCTOBER_20, OCTOBER_27),
        (utc(2026, 10, 25, 1), 2 * H, OCTOBER_20, OCTOBER_27),  # the second 02:00 CET
        (utc(2026, 10, 27, 6, 30), 2 * H, OCTOBER_20, OCTOBER_27),  # 06:00 would be summer
        (utc(2026, 10, 27, 7) - SECOND, 2 * H, OCTOBER_20, OCTOBER_27),
        (utc(2026, 10, 27, 7), 2 * H, OCTOBER_27, NOVEMBER_3),
        # Lead 26 hours: Monday 08:00 local.
        (utc(2026, 10, 19, 6) - SECOND, 26 * H, OCTOBER_13, OCTOBER_20),
        (utc(2026, 10, 19, 6), 26 * H, OCTOBER_20, OCTOBER_27),
        (utc(2026, 10, 26, 7) - SECOND, 26 * H, OCTOBER_20, OCTOBER_27),
        (utc(2026, 10, 26, 7), 26 * H, OCTOBER_27, NOVEMBER_3),
        # `now` in another zone is the same instant.
        (local(2026, 3, 31, 8), 2 * H, MARCH_31, APRIL_7),
        (local(2026, 3, 31, 7, 59, 59), 2 * H, MARCH_24, MARCH_31),
    ],
)
def test_digest_slots_around_dst(
    now: dt.datetime, lead: dt.timedelta, latest: dt.datetime, following: dt.datetime
) -> None:
    found_latest = latest_digest_slot(TUESDAY_10, now, lead, AMSTERDAM)
    found_next = next_digest_slot(TUESDAY_10, now, lead, AMSTERDAM)
    assert found_latest == latest
    assert found_next == following
    assert found_latest.tzinfo is dt.UTC
    assert found_next.tzinfo is dt.UTC


def test_a_lead_over_the_switch_is_elapsed_time_not_wall_clock_time() -> None:
    # Monday 30 March 10:00 CEST is 08:00 UTC; 26 hours earlier is Sunday 08:00 CEST, not 09:00:
    # the night of the switch is an hour shorter. The scheduler subtracts the lead from UTC.
    monday_10 = MeetingRhythm(0, T(10, 0))
    monday_march_23, monday_march_30 = utc(2026, 3, 23, 9), utc(2026, 3, 30, 8)
    assert latest_digest_slot(monday_10, utc(2026, 3, 29, 6) - SECOND, 26 * H, AMSTERDAM) == (
        monday_march_23
    )
    assert latest_digest_slot(monday_10, utc(2026, 3, 29, 6), 26 * H, AMSTERDAM) == (
        monday_march_30
    )
    assert (monday_march_30 - 26 * H).astimezone(AMSTERDAM).time() == T(8, 0)


def test_digest_slots_refuse_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        latest_digest_slot(TUESDAY_10, dt.datetime(2026, 3, 24, 7), 2 * H, AMSTERDAM)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_digest_slot(TUESDAY_10, dt.datetime(2026, 3, 24, 7), 2 * H, AMSTERDAM)


def _all_meetings(rhythm: MeetingRhythm, first: dt.date, last: dt.date) -> list[dt.datetime]:
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [meeting_at(rhythm, day, AMSTERDAM) for day in days if day.weekday() == rhythm.weekday]


@pytest.mark.parametrize(
    "rhythm",
    [
        TUESDAY_10,
        MeetingRhythm(0, T(8, 0)),
        MeetingRhythm(6, T(2, 30)),  # in the gap and the overlap on the switch Sundays
        MeetingRhythm(4, T(23, 45)),
    ],
)
@pytest.mark.parametrize("lead", [dt.timedelta(0), 2 * H, 26 * H, 72 * H, 192 * H])
def test_digest_slots_agree_with_a_brute_force_search(
    rhythm: MeetingRhythm, lead: dt.timedelta
) -> None:
    meetings = _all_meetings(rhythm, D(2026, 2, 1), D(2026, 12, 31))
    digests = [meeting - lead for meeting in meetings]
    for start, end in ((utc(2026, 3, 14), utc(2026, 4, 12)), (utc(2026, 10, 10), utc(2026, 11, 8))):
        now = start
        while now < end:
            # Index of the last digest at or before now.
            index = bisect.bisect_right(digests, now) - 1
            latest = latest_digest_slot(rhythm, now, lead, AMSTERDAM)
            following = next_digest_slot(rhythm, now, lead, AMSTERDAM)
            assert latest == meetings[index], (now, lead)
            assert following == meetings[index + 1], (now, lead)
            assert latest - lead <= now < following - lead
            now += dt.timedelta(minutes=37)
        # Exactly on each digest time and one microsecond before.
        for index, digest in enumerate(digests):
            if start <= digest < end:
                assert latest_digest_slot(rhythm, digest, lead, AMSTERDAM) == meetings[index]
                before = digest - dt.timedelta(microseconds=1)
                assert latest_digest_slot(rhythm, before, lead, AMSTERDAM) == meetings[index - 1]
                assert next_digest_slot(rhythm, before, lead, AMSTERDAM) == meetings[index]


# --- nudge_at -------------------------------------------------------------------------------


def end_of(year: int, month: int, day: int) -> dt.datetime:
    """A due date as `WorkingCalendar.due_at` makes it: end of the local day, in UTC."""
    return local(year, month, day, 23, 59, 59).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("due_at", "working_days", "expected"),
    [
        # An ordinary week: two working days before Thursday is Tuesday, 08:00 CET.
        (end_of(2026, 11, 26), 2, utc(2026, 11, 24, 7)),
        (end_of(2026, 11, 26), 1, utc(2026, 11, 25, 7)),
        # Over a weekend.
        (end_of(2026, 11, 23), 1, utc(2026, 11, 20, 7)),
        # Hemelvaart (Thursday 14 May): one working day before Friday is Wednesday (CEST).
        (end_of(2026, 5, 15), 1, utc(2026, 5, 13, 6)),
        # Christmas: one working day before Monday 28 December is Thursday 24 December.
        (end_of(2026, 12, 28), 1, utc(2026, 12, 24, 7)),
        # Koningsdag (Monday 27 April) and Bevrijdingsdag (Tuesday 5 May).
        (end_of(2026, 4, 28), 1, utc(2026, 4, 24, 6)),
        (end_of(2026, 5, 6), 1, utc(2026, 5, 4, 6)),
        (end_of(2026, 5, 6), 2, utc(2026, 5, 1, 6)),  # 1 May is no holiday
        # Across the switch to summer time: the nudge is 08:00 CET, due day is in CEST.
        (end_of(2026, 3, 30), 1, utc(2026, 3, 27, 7)),
        (end_of(2026, 3, 31), 1, utc(2026, 3, 30, 6)),
        # Across the switch back to winter time.
        (end_of(2026, 10, 26), 1, utc(2026, 10, 23, 6)),
        (end_of(2026, 10, 27), 1, utc(2026, 10, 26, 7)),
        # Zero: the morning of the due day, or of the working day before a day off.
        (end_of(2026, 11, 26), 0, utc(2026, 11, 26, 7)),
        (end_of(2026, 11, 22), 0, utc(2026, 11, 20, 7)),
        (end_of(2026, 12, 25), 0, utc(2026, 12, 24, 7)),
    ],
)
def test_nudge_at(due_at: dt.datetime, working_days: int, expected: dt.datetime) -> None:
    nudge = nudge_at(due_at, working_days, AMSTERDAM, DEFAULT_CALENDAR)
    assert nudge == expected
    assert nudge.tzinfo is dt.UTC
    assert nudge.astimezone(AMSTERDAM).time() == T(8, 0)


def test_the_due_day_is_the_local_date() -> None:
    # 23:30 UTC on Sunday 22 November is already Monday in Amsterdam: one working day before
    # Monday is Friday. Read as a UTC date it would have been Thursday.
    assert nudge_at(utc(2026, 11, 22, 23, 30), 1, AMSTERDAM, DEFAULT_CALENDAR) == utc(
        2026, 11, 20, 7
    )
    # The same instant given in another zone is the same nudge.
    in_new_york = utc(2026, 11, 22, 23, 30).astimezone(ZoneInfo("America/New_York"))
    assert nudge_at(in_new_york, 1, AMSTERDAM, DEFAULT_CALENDAR) == utc(2026, 11, 20, 7)


def test_nudges_for_one_day_fall_at_one_moment() -> None:
    # Whatever time on Thursday things are due, the nudges coincide and merge into one message.
    dues = [local(2026, 11, 26, hour, minute) for hour, minute in ((0, 0), (9, 30), (17, 0))]
    nudges = {nudge_at(due, 2, AMSTERDAM, DEFAULT_CALENDAR) for due in dues}
    assert nudges == {utc(2026, 11, 24, 7)}


def test_nudge_at_another_morning_time_and_calendar() -> None:
    # Goede vrijdag off: one working day before Tuesday 7 April is Thursday 2 April.
    calendar = WorkingCalendar(good_friday_off=True)
    nudge = nudge_at(end_of(2026, 4, 7), 1, AMSTERDAM, calendar, at=T(9, 15))
    assert nudge == utc(2026, 4, 2, 7, 15)
    assert nudge_at(end_of(2026, 4, 7), 1, AMSTERDAM, DEFAULT_CALENDAR) == utc(2026, 4, 3, 6)


def test_nudge_at_refuses_a_naive_due_time_and_a_negative_count() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        nudge_at(dt.datetime(2026, 11, 26, 23, 59, 59), 1, AMSTERDAM, DEFAULT_CALENDAR)
    with pytest.raises(ValueError, match="negative"):
        nudge_at(end_of(2026, 11, 26), -1, AMSTERDAM, DEFAULT_CALENDAR)


# --- parse_link_command ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "basisteam", "rhythm", "rhythm_text"),
    [
        # The forms from the coordinators.
        (
            "koppel dit kanaal aan basisteam Heuvelrug elke dinsdag om 10:00",
            "Heuvelrug",
            TUESDAY_10,
            "elke dinsdag om 10:00",
        ),
        ("koppel kanaal aan basisteam Utrecht-Centrum", "Utrecht-Centrum", None, ""),
        (
            "koppel dit kanaal aan Heuvelrug, elke di 9:30",
            "Heuvelrug",
            MeetingRhythm(1, T(9, 30)),
            "elke di 9:30",
        ),
        (
            "koppel aan basisteam Zeist/Heuvelrug op donderdag 14.00 uur",
            "Zeist/Heuvelrug",
            MeetingRhythm(3, T(14, 0)),
            "op donderdag 14.00 uur",
        ),
        # The bot's mention left in front.
        (
            "@Rapportagebot koppel dit kanaal aan basisteam Heuvelrug elke dinsdag om 10:00",
            "Heuvelrug",
            TUESDAY_10,
            "elke dinsdag om 10:00",
        ),
        (
            "<at>Rapportagebot</at> koppel dit kanaal aan basisteam Heuvelrug dinsdag 10:00",
            "Heuvelrug",
            TUESDAY_10,
            "dinsdag 10:00",
        ),
        ("  <at>Rapportage Bot</at>   koppel aan Heuvelrug", "Heuvelrug", None, ""),
        ("<AT>Rapportagebot</AT>koppel aan Heuvelrug", "Heuvelrug", None, ""),
        # Teams sometimes sends a non-breaking space as an HTML entity.
        ("koppel&nbsp;aan Heuvelrug elke di om 10", "Heuvelrug", TUESDAY_10, "elke di om 10"),
        # The words around the name are optional and case-insensitive.
        ("koppelen aan basisteam Heuvelrug", "Heuvelrug", None, ""),
        ("KOPPEL DIT KANAAL AAN BASISTEAM Heuvelrug", "Heuvelrug", None, ""),
        ("koppel dit kanaal met basisteam Heuvelrug", "Heuvelrug", None, ""),
        ("koppel het kanaal aan het basisteam Heuvelrug", "Heuvelrug", None, ""),
        ("koppel aan team Heuvelrug", "Heuvelrug", None, ""),
        ("koppel Heuvelrug di 10:00", "Heuvelrug", TUESDAY_10, "di 10:00"),
        (
            "koppel basisteam Heuvelrug aan dit kanaal elke dinsdag om 10:00",
            "Heuvelrug",
            TUESDAY_10,
            "elke dinsdag om 10:00",
        ),
        # The name as typed: case, accents, inner spaces, without punctuation around it.
        ("koppel aan basisteam HEUVELRUG", "HEUVELRUG", None, ""),
        (
            "koppel aan basisteam Súdwest-Fryslân elke ma om 9",
            "Súdwest-Fryslân",
            MeetingRhythm(0, T(9, 0)),
            "elke ma om 9",
        ),
        ("koppel aan basisteam   Gooi en Vechtstreek  ", "Gooi en Vechtstreek", None, ""),
        ("koppel aan basisteam Heuvelrug.", "Heuvelrug", None, ""),
        ("koppel aan basisteam 'Heuvelrug'", "Heuvelrug", None, ""),
        (
            "koppel aan basisteam “Heuvelrug”, elke di om 10",
            "Heuvelrug",
            TUESDAY_10,
            "elke di om 10",
        ),
        # Names with "op" or "aan" in them.
        ("koppel aan Bergen op Zoom", "Bergen op Zoom", None, ""),
        (
            "koppel aan Bergen op Zoom op dinsdag om 10:00",
            "Bergen op Zoom",
            TUESDAY_10,
            "op dinsdag om 10:00",
        ),
        (
            "koppel dit kanaal aan Alphen aan den Rijn elke do om 14:00",
            "Alphen aan den Rijn",
            MeetingRhythm(3, T(14, 0)),
            "elke do om 14:00",
        ),
        # The time first.
        (
            "koppel aan Heuvelrug om 10:00 op dinsdag",
            "Heuvelrug",
            TUESDAY_10,
            "om 10:00 op dinsdag",
        ),
        # No team.
        ("koppel", "", None, ""),
        ("koppel dit kanaal", "", None, ""),
        ("koppel dit kanaal aan basisteam", "", None, ""),
        ("koppel dit kanaal elke dinsdag om 10:00", "", TUESDAY_10, "elke dinsdag om 10:00"),
        # A rhythm the bot cannot read is handed back as typed, not glued to the name.
        (
            "koppel aan Heuvelrug om de week op dinsdag om 10:00",
            "Heuvelrug",
            None,
            "om de week op dinsdag om 10:00",
        ),
        (
            "koppel aan Heuvelrug tweewekelijks op dinsdag om 10:00",
            "Heuvelrug",
            None,
            "tweewekelijks op dinsdag om 10:00",
        ),
        ("koppel aan Heuvelrug elke maand", "Heuvelrug", None, "elke maand"),
        ("koppel aan Heuvelrug dinsdag", "Heuvelrug", None, "dinsdag"),
        ("koppel aan Heuvelrug op dinsdag", "Heuvelrug", None, "op dinsdag"),
        ("koppel aan Heuvelrug om 10:00", "Heuvelrug", None, "om 10:00"),
        ("koppel aan Heuvelrug 10:00", "Heuvelrug", None, "10:00"),
        ("koppel aan Heuvelrug dinsdag 25:00", "Heuvelrug", None, "dinsdag 25:00"),
        ("koppel aan Heuvelrug, di 10", "Heuvelrug", None, "di 10"),
        (
            "koppel aan Heuvelrug op dinsdag en donderdag om 10:00",
            "Heuvelrug",
            None,
            "op dinsdag en donderdag om 10:00",
        ),
    ],
)
def test_link_commands(
    text: str, basisteam: str, rhythm: MeetingRhythm | None, rhythm_text: str
) -> None:
    assert parse_link_command(text) == LinkCommand(basisteam, rhythm, rhythm_text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "help",
        "@Rapportagebot help",
        "ontkoppel",
        "ontkoppel dit kanaal",
        "koppeling maken met Heuvelrug",
        "kun je dit kanaal koppelen aan Heuvelrug",
        "<at>Rapportagebot</at>",
    ],
)
def test_other_text_is_no_link_command(text: str) -> None:
    assert parse_link_command(text) is None


# --- parse_unlink_command -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "basisteam"),
    [
        ("ontkoppel", None),
        ("ontkoppel dit kanaal", None),
        ("Ontkoppel kanaal.", None),
        ("ontkoppelen", None),
        ("@Rapportagebot ontkoppel", None),
        ("<at>Rapportagebot</at> ontkoppel dit kanaal", None),
        ("ontkoppel alles", None),
        ("ontkoppel alle basisteams", None),
        ("ontkoppel dit kanaal van alle teams", None),
        ("ontkoppel basisteam Heuvelrug", "Heuvelrug"),
        ("ontkoppel dit kanaal van basisteam Heuvelrug", "Heuvelrug"),
        ("ONTKOPPEL BASISTEAM Heuvelrug", "Heuvelrug"),
        ("ontkoppel het basisteam Heuvelrug", "Heuvelrug"),
        ("ontkoppel dit kanaal los van Heuvelrug", "Heuvelrug"),
        ("ontkoppel Heuvelrug", "Heuvelrug"),
        ("ontkoppel Heuvelrug van dit kanaal", "Heuvelrug"),
        ("ontkoppel basisteam 'Utrecht-Centrum'", "Utrecht-Centrum"),
        ("ontkoppel Alphen aan den Rijn", "Alphen aan den Rijn"),
        ("<at>Rapportagebot</at> ontkoppel dit kanaal van Zeist/Heuvelrug", "Zeist/Heuvelrug"),
    ],
)
def test_unlink_commands(text: str, basisteam: str | None) -> None:
    assert parse_unlink_command(text) == UnlinkCommand(basisteam)


@pytest.mark.parametrize(
    "text",
    ["", "help", "koppel dit kanaal", "koppel aan Heuvelrug", "ontkoppeling", "@Rapportagebot"],
)
def test_other_text_is_no_unlink_command(text: str) -> None:
    assert parse_unlink_command(text) is None


def test_commands_are_frozen() -> None:
    command = parse_link_command("koppel aan Heuvelrug")
    assert command is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.basisteam = "Zeist"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        UnlinkCommand(None).basisteam = "Zeist"  # type: ignore[misc]
