"""Domain: working days (werkdagen) and due dates, in Europe/Amsterdam (pure; pass `today`).

A werkdag is Monday to Friday except the Dutch public holidays the domain lists: Nieuwjaarsdag,
Eerste en Tweede Paasdag, Koningsdag, Bevrijdingsdag, Hemelvaartsdag, Eerste en Tweede
Pinksterdag, Eerste en Tweede Kerstdag. The `holidays` package is the source, with two deliberate
corrections: it lists Goede Vrijdag, which is no general day off, and it lists Bevrijdingsdag
only in lustrum years, while government employers (Rijk, politie, gemeenten) give 5 May off every
year. Both are flags, so an organisation with other agreements can change them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

# The OM decides on a rapportage with investigation data within 10 working days (improvement
# plan OM Midden-Nederland, 2019). Fixed by the OM's own norm, not configurable.
OM_TOETSING_WORKING_DAYS = 10

GOOD_FRIDAY = "Goede vrijdag"
LIBERATION_DAY = "Bevrijdingsdag"


@lru_cache(maxsize=64)
def _holidays(
    year: int, good_friday_off: bool, liberation_day_every_year: bool
) -> dict[dt.date, str]:
    days = {day: str(name) for day, name in holidays.Netherlands(years=year, language="nl").items()}
    if not good_friday_off:
        days = {day: name for day, name in days.items() if name != GOOD_FRIDAY}
    if liberation_day_every_year:
        days.setdefault(dt.date(year, 5, 5), LIBERATION_DAY)
    return days


@dataclass(frozen=True)
class WorkingCalendar:
    good_friday_off: bool = False
    liberation_day_every_year: bool = True

    def holiday_name(self, day: dt.date) -> str | None:
        return _holidays(day.year, self.good_friday_off, self.liberation_day_every_year).get(day)

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def next_working_day(self, day: dt.date) -> dt.date:
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The `count`-th working day after `start` (0: `start` or the next working day)."""
        if count < 0:
            raise ValueError("count must not be negative")
        if count == 0:
            return self.next_working_day(start)
        day = start
        while count:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days d with start < d <= end (0 when end is not after start)."""
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
        """End of the local day `working_days` after the local date of `start`, in UTC.

        Counting on local dates and converting at the end keeps a deadline on the right day
        across the switch to and from summer time.
        """
        local_day = start.astimezone(tz).date()
        due_day = self.add_working_days(local_day, working_days)
        return dt.datetime.combine(due_day, end_of_day, tzinfo=tz).astimezone(dt.UTC)


DEFAULT_CALENDAR = WorkingCalendar()
