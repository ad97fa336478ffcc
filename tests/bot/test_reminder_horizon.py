"""The nudge scan's bound (`reminders.nudge_horizon`) drops no due nudge and keeps no early one.

The scan reads only requests due before the horizon and then checks each with `nudge_at`; if
the bound were too tight a nudge would never go out, too loose and the scan reads rows for
nothing. So: for every due time after `now`, its nudge has come exactly when it is before the
horizon, over years of weekends, Dutch holidays and DST switches and every allowed
NUDGE_WORKING_DAYS.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.deadlines import DEFAULT_CALENDAR
from bot.reminders import ReminderPolicy, nudge_horizon
from bot.sturing import nudge_at

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def policy(working_days: int) -> ReminderPolicy:
    return ReminderPolicy(
        digest_lead=dt.timedelta(minutes=120),
        nudge_working_days=working_days,
        late_after=dt.timedelta(minutes=15),
        calendar=DEFAULT_CALENDAR,
    )


def local(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=AMSTERDAM).astimezone(dt.UTC)


days = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2029, 12, 31))
# Any moment, and the moments that matter most: around the 08:00 nudge time.
moments = st.one_of(
    st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2029, 12, 31)).map(
        lambda moment: moment.replace(tzinfo=dt.UTC)
    ),
    st.builds(
        lambda day, seconds: local(day, dt.time(8)) + dt.timedelta(seconds=seconds),
        days,
        st.integers(min_value=-2, max_value=2),
    ),
)


@st.composite
def due_times(draw: st.DrawFn, now: dt.datetime) -> dt.datetime:
    """After `now`: any time, or how due dates are stored (the end of a local day)."""
    if draw(st.booleans()):
        return now + draw(
            st.timedeltas(min_value=dt.timedelta(seconds=1), max_value=dt.timedelta(days=60))
        )
    day = now.astimezone(AMSTERDAM).date() + dt.timedelta(days=draw(st.integers(0, 60)))
    return max(local(day, dt.time(23, 59, 59)), now + dt.timedelta(seconds=1))


@settings(max_examples=500, deadline=None)
@given(data=st.data(), now=moments, working_days=st.integers(min_value=0, max_value=20))
def test_a_nudge_has_come_exactly_when_its_due_time_is_before_the_horizon(
    data: st.DataObject, now: dt.datetime, working_days: int
) -> None:
    due_at = data.draw(due_times(now))
    horizon = nudge_horizon(now, policy(working_days), AMSTERDAM)
    nudge_has_come = nudge_at(due_at, working_days, AMSTERDAM, DEFAULT_CALENDAR) <= now
    assert nudge_has_come == (due_at < horizon)


def test_on_a_tuesday_morning_two_working_days_ahead_reach_to_thursday() -> None:
    # Tuesday 24 November 2026, 08:40 in Amsterdam: Thursday's deadlines were nudged at 08:00.
    now = dt.datetime(2026, 11, 24, 7, 40, tzinfo=dt.UTC)
    assert nudge_horizon(now, policy(2), AMSTERDAM) == dt.datetime(
        2026, 11, 26, 23, 0, tzinfo=dt.UTC
    )
    # At 07:59 local the morning's nudges have not come: only Wednesday's deadlines (nudged on
    # Monday) are within reach.
    early = dt.datetime(2026, 11, 24, 6, 59, tzinfo=dt.UTC)
    assert nudge_horizon(early, policy(2), AMSTERDAM) == dt.datetime(
        2026, 11, 25, 23, 0, tzinfo=dt.UTC
    )


def test_on_friday_the_nudges_reach_over_the_weekend() -> None:
    # Friday 27 November 2026 09:00: two working days ahead is Tuesday, so the deadlines of
    # Saturday, Sunday, Monday and Tuesday have all been nudged.
    now = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
    assert nudge_horizon(now, policy(2), AMSTERDAM) == dt.datetime(
        2026, 12, 1, 23, 0, tzinfo=dt.UTC
    )
