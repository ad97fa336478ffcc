"""Domain: working days (werkdagen) and due dates (pure: callers pass the date or time).

Every deadline in the process is counted in werkdagen, so one definition must serve the intake
check on the desired date, the due dates of states, nudges and the digest. A werkdag is Monday to
Friday except the Dutch public holidays the domain lists: Nieuwjaarsdag, Eerste en Tweede
Paasdag, Koningsdag, Bevrijdingsdag, Hemelvaartsdag, Eerste en Tweede Pinksterdag, Eerste en
Tweede Kerstdag.

The `holidays` package is the source, so moving feasts (Easter, Ascension, Whitsun) and the rule
that Koningsdag on a Sunday moves to Saturday 26 April are not ours to maintain. Two of its
choices do not match how the people using this bot work, and `WorkingCalendar` corrects them
(both are flags, so an organisation with other agreements can switch them back):

- Goede Vrijdag is in `holidays`, but it is not a general day off in the Netherlands and not in
  the domain list; police, OM and most gemeenten work that day. Excluded by default.
- Bevrijdingsdag is in `holidays` only in lustrum years (2025, 2030, ...), the national collective
  minimum. Government employers (Rijk, politie, gemeenten) give 5 May off every year, and those are
  exactly the people whose deadlines we count. Included every year by default.

Nothing here reads the clock or the time zone database on import: a stale "today" baked into a
module is the classic deadline bug, and the caller already knows its time zone from settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays

OM_TOETSING_WORKING_DAYS = 10
"""Working days the OM has to decide on a rapportage that uses investigation data.

From the improvement plan Midden-Nederland (2019), "Ambitie OM" B: the OM assesses reports as
quickly as possible "met een uiterste behandeltermijn van 10 werkdagen". It is the OM's own norm
and the one hard number in the process, so it is a constant and not organisation configuration.
"""

GOOD_FRIDAY = "Goede vrijdag"
LIBERATION_DAY = "Bevrijdingsdag"


@lru_cache(maxsize=128)
def _holidays(
    year: int, good_friday_off: bool, liberation_day_every_year: bool
) -> Mapping[dt.date, str]:
    """Days off in `year` with their Dutch names, after our two corrections.

    Cached per (year, flags) because counting working days asks about every day in a range and
    building a `holidays` year is comparatively slow. Read-only, since the cache shares it.
    """
    source = holidays.Netherlands(years=year, language="nl")
    days = {day: str(name) for day, name in source.items()}
    if not good_friday_off:
        # Matched by name: `holidays` may list Goede Vrijdag under differing capitalisation.
        days = {
            day: name for day, name in days.items() if name.casefold() != GOOD_FRIDAY.casefold()
        }
    if liberation_day_every_year:
        days.setdefault(dt.date(year, 5, 5), LIBERATION_DAY)
    return MappingProxyType(days)


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days count as werkdagen; frozen so it can be shared and used as a cache key."""

    good_friday_off: bool = False
    liberation_day_every_year: bool = True

    def holiday_name(self, day: dt.date) -> str | None:
        """The Dutch name of the public holiday on `day` (e.g. "Koningsdag"), else None.

        Returned as data so the user can be told *why* a date is not a working day.
        """
        return _holidays(day.year, self.good_friday_off, self.liberation_day_every_year).get(day)

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def next_working_day(self, day: dt.date) -> dt.date:
        """`day` itself when it is a working day, otherwise the first working day after it."""
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The `count`-th working day after `start`.

        `start` itself never counts, so a state entered on any day gets the full `count` working
        days. With `count` 0 the result is `start` when it is a working day, otherwise the next
        working day: a "due immediately" deadline never falls on a weekend or holiday.
        """
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        if count == 0:
            return self.next_working_day(start)
        day = start
        while count:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def subtract_working_days(self, day: dt.date, count: int) -> dt.date:
        """The `count`-th working day before `day`: the mirror of `add_working_days`.

        Used to plan ahead of a deadline ("nudge two working days before it is due"), so `day`
        itself never counts and for n >= 1 `subtract_working_days(add_working_days(d, n), n)` is
        `d` for a working day `d`. With `count` 0 the result is `day` when it is a working day,
        otherwise the working day before it: a reminder meant for the due day itself must not
        fall on a weekend or holiday, and moving it earlier keeps it ahead of the deadline.
        """
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        if count == 0:
            while not self.is_working_day(day):
                day -= dt.timedelta(days=1)
            return day
        while count:
            day -= dt.timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days d with start < d <= end; 0 when `end` is not after `start`.

        The half-open interval mirrors `add_working_days`, so for n >= 1
        `working_days_between(s, add_working_days(s, n)) == n`, and "how many working days does
        the police get" reads the same as "what date do n working days give".
        """
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def due_at(
        self,
        start: dt.datetime,
        working_days: int,
        tz: ZoneInfo,
        *,
        end_of_day: dt.time = dt.time(23, 59, 59),
    ) -> dt.datetime:
        """Deadline for a state entered at `start`: end of the due local day, as an aware UTC time.

        People think of a deadline as "by the end of that day" where they work, so the counting
        happens on local dates in `tz` and only the final wall-clock time is converted. Adding
        hours or days to a UTC timestamp instead would shift deadlines by an hour (or a day, near
        midnight) across the switch to and from summer time. UTC out, because that is what
        storage and the scheduler compare against.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            # A naive time would be read as the server's local time: an environment dependency.
            raise ValueError("start must be timezone-aware")
        local_day = start.astimezone(tz).date()
        due_day = self.add_working_days(local_day, working_days)
        return dt.datetime.combine(due_day, end_of_day, tzinfo=tz).astimezone(dt.UTC)


DEFAULT_CALENDAR = WorkingCalendar()
"""The calendar for government employers: no Goede Vrijdag, Bevrijdingsdag every year."""
