"""The due-date policy: which states have a deadline, how many werkdagen, and what is fixed."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.due_dates import DeadlineConfigError, DeadlinePolicy, validate_overrides
from bot.workflow import ReportType, RequestStatus

AMS = ZoneInfo("Europe/Amsterdam")
E, C, Z = ReportType.EENVOUDIG, ReportType.COMPLEX_SPOEDEISEND, ReportType.ZEER_COMPLEX_INNOVATIEF
S = RequestStatus
POLICY = DeadlinePolicy(aanvulling_working_days=10)

EXPECTED = {
    S.INGEDIEND: (5, 5, 5),
    S.AANVULLING_GEVRAAGD: (10, 10, 10),
    S.GEACCEPTEERD: (5, 5, 5),
    S.AFSTEMMING_ZAAKOFFICIER: (5, 5, 5),
    S.IN_OPSTELLING: (10, 15, 20),
    S.KWALITEITSCONTROLE: (5, 5, 10),
    S.OM_TOETSING: (10, 10, 10),
    S.CONCEPT: (None, None, None),
    S.VERSTREKT: (None, None, None),
    S.AFGEROND: (None, None, None),
    S.AFGEWEZEN: (None, None, None),
    S.INGETROKKEN: (None, None, None),
}


def test_every_state_is_covered() -> None:
    assert set(EXPECTED) == set(RequestStatus)


@pytest.mark.parametrize("state", list(EXPECTED))
def test_defaults_per_state_and_type(state: RequestStatus) -> None:
    got = tuple(POLICY.working_days(state, t) for t in (E, C, Z))
    assert got == EXPECTED[state]


def test_aanvulling_follows_the_expire_setting() -> None:
    policy = DeadlinePolicy(aanvulling_working_days=7)
    assert policy.working_days(S.AANVULLING_GEVRAAGD, C) == 7


def test_overrides_a_number_for_all_types_or_per_type() -> None:
    policy = DeadlinePolicy(
        aanvulling_working_days=10,
        overrides=validate_overrides(
            {"in_opstelling": {"complex_spoedeisend": 12}, "ingediend": 3}
        ),
    )
    assert [policy.working_days(S.IN_OPSTELLING, t) for t in (E, C, Z)] == [10, 12, 20]
    assert [policy.working_days(S.INGEDIEND, t) for t in (E, C, Z)] == [3, 3, 3]
    assert policy.working_days(S.OM_TOETSING, C) == 10


def test_om_toetsing_stays_ten_even_with_a_forged_override() -> None:
    # validate_overrides refuses it; the policy ignores it even when built by hand.
    policy = DeadlinePolicy(aanvulling_working_days=10, overrides={S.OM_TOETSING: {E: 2}})
    assert policy.working_days(S.OM_TOETSING, E) == 10


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"om_toetsing": 5}, "om_toetsing is fixed at 10"),
        ({"aanvulling_gevraagd": 5}, "AANVULLING_EXPIRE_WORKING_DAYS"),
        ({"bestaat_niet": 5}, "unknown state 'bestaat_niet'"),
        ({"verstrekt": 5}, "unknown state 'verstrekt'"),
        ({"ingediend": 0}, "ingediend must be a positive"),
        ({"in_opstelling": {"complex": 5}}, "unknown report type 'complex'"),
        ({"in_opstelling": {"eenvoudig": -1}}, "in_opstelling.eenvoudig must be a positive"),
    ],
)
def test_invalid_overrides_are_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(DeadlineConfigError, match=message):
        validate_overrides(raw)  # type: ignore[arg-type]


def test_due_date_across_the_october_dst_switch() -> None:
    # Friday 23 Oct 2026, 20:30 local (CEST, UTC+2); clocks go back on Sunday 25 Oct.
    entered = dt.datetime(2026, 10, 23, 20, 30, tzinfo=AMS)
    due = POLICY.due_at(S.OM_TOETSING, E, entered, AMS)
    assert due is not None
    assert due.tzinfo is dt.UTC
    # 10 werkdagen from Fri 23 Oct: Mon 26 .. Fri 6 Nov, end of day in CET (UTC+1).
    assert due.astimezone(AMS) == dt.datetime(2026, 11, 6, 23, 59, 59, tzinfo=AMS)
    assert due == dt.datetime(2026, 11, 6, 22, 59, 59, tzinfo=dt.UTC)


def test_no_due_date_for_states_without_deadline() -> None:
    entered = dt.datetime(2026, 10, 23, 9, 0, tzinfo=dt.UTC)
    assert POLICY.due_at(S.VERSTREKT, E, entered, AMS) is None
