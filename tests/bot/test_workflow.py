"""The transition table (pure)."""

from __future__ import annotations

import pytest

from bot.workflow import (
    DRAFTING,
    TERMINAL,
    TRANSITIONS,
    Action,
    Level,
    Needs,
    ReportType,
    RequestStatus,
    Role,
    TransitionRefused,
    allowed,
    holds_the_ball,
    transition,
    uses_investigation_data,
)


def test_submitting_a_concept_makes_it_ingediend() -> None:
    assert transition(Action.SUBMIT, RequestStatus.CONCEPT, Role.AANVRAGER) is (
        RequestStatus.INGEDIEND
    )


@pytest.mark.parametrize("status", [s for s in RequestStatus if s is not RequestStatus.CONCEPT])
def test_only_a_concept_can_be_submitted(status: RequestStatus) -> None:
    with pytest.raises(TransitionRefused):
        transition(Action.SUBMIT, status, Role.AANVRAGER)


def test_every_transition_is_unique_per_action_and_source() -> None:
    keys = [(t.action, t.source) for t in TRANSITIONS]
    assert len(keys) == len(set(keys))


def test_who_drafts_and_checks_each_report_type() -> None:
    assert DRAFTING[ReportType.EENVOUDIG].checked_by is Level.DISTRICT
    assert DRAFTING[ReportType.COMPLEX_SPOEDEISEND].drafted_by is Level.DISTRICT
    assert DRAFTING[ReportType.ZEER_COMPLEX_INNOVATIEF].checked_by is Level.EENHEID
    assert set(DRAFTING) == set(ReportType)


ALL_COMBINATIONS = [
    (action, status, role, data)
    for action in Action
    for status in RequestStatus
    for role in Role
    for data in (True, False, None)
]


def _expected(action: Action, status: RequestStatus, role: Role, data: bool | None) -> bool:
    for t in TRANSITIONS:
        if t.action is action and t.source is status and role in t.roles:
            if t.needs is Needs.INVESTIGATION_DATA:
                return data is not False
            if t.needs is Needs.NO_INVESTIGATION_DATA:
                return data is not True
            return True
    return False


def test_every_combination_is_either_allowed_by_the_table_or_refused_with_next_steps() -> None:
    allowed_count = refused_count = 0
    for action, status, role, data in ALL_COMBINATIONS:
        if _expected(action, status, role, data):
            target = transition(action, status, role, data)
            assert target in RequestStatus
            allowed_count += 1
        else:
            with pytest.raises(TransitionRefused) as refused:
                transition(action, status, role, data)
            assert refused.value.allowed_next == allowed(status, role, data)
            assert all(t.action is not action for t in refused.value.allowed_next)
            refused_count += 1
    assert allowed_count > 0 and refused_count > allowed_count


@pytest.mark.parametrize(
    ("action", "source", "target", "role"),
    [
        (Action.ACCEPT, RequestStatus.INGEDIEND, RequestStatus.GEACCEPTEERD, Role.COORDINATOR),
        (
            Action.REQUEST_INFO,
            RequestStatus.INGEDIEND,
            RequestStatus.AANVULLING_GEVRAAGD,
            Role.COORDINATOR,
        ),
        (Action.DECLINE, RequestStatus.INGEDIEND, RequestStatus.AFGEWEZEN, Role.COORDINATOR),
        (
            Action.SUPPLEMENT,
            RequestStatus.AANVULLING_GEVRAAGD,
            RequestStatus.INGEDIEND,
            Role.AANVRAGER,
        ),
        (
            Action.SUPPLEMENT,
            RequestStatus.AANVULLING_GEVRAAGD,
            RequestStatus.INGEDIEND,
            Role.GEMEENTELIJK_AANSPREEKPUNT,
        ),
        (Action.EXPIRE, RequestStatus.AANVULLING_GEVRAAGD, RequestStatus.INGETROKKEN, Role.SYSTEEM),
        (Action.COMPLETE, RequestStatus.VERSTREKT, RequestStatus.AFGEROND, Role.AANVRAGER),
    ],
)
def test_lifecycle_steps(
    action: Action, source: RequestStatus, target: RequestStatus, role: Role
) -> None:
    assert transition(action, source, role) is target


@pytest.mark.parametrize(
    ("action", "source", "role"),
    [
        (Action.ACCEPT, RequestStatus.INGEDIEND, Role.AANVRAGER),  # the gemeente cannot accept
        (Action.SUPPLEMENT, RequestStatus.AANVULLING_GEVRAAGD, Role.COORDINATOR),
        (Action.EXPIRE, RequestStatus.AANVULLING_GEVRAAGD, Role.AANVRAGER),
        (Action.COMPLETE, RequestStatus.VERSTREKT, Role.COORDINATOR),
        (Action.ACCEPT, RequestStatus.GEACCEPTEERD, Role.COORDINATOR),  # a replayed accept
        (Action.WITHDRAW, RequestStatus.VERSTREKT, Role.AANVRAGER),  # too late to withdraw
    ],
)
def test_forbidden_steps(action: Action, source: RequestStatus, role: Role) -> None:
    with pytest.raises(TransitionRefused):
        transition(action, source, role)


def test_investigation_data_routes_via_zaakofficier_and_om() -> None:
    police = Role.COORDINATOR
    with_data = [t.action for t in allowed(RequestStatus.GEACCEPTEERD, police, True)]
    assert with_data == [Action.CONSULT_ZAAKOFFICIER]
    without = [t.action for t in allowed(RequestStatus.GEACCEPTEERD, police, False)]
    assert without == [Action.START_DRAFTING]
    unknown = {t.action for t in allowed(RequestStatus.GEACCEPTEERD, police, None)}
    assert unknown == {Action.CONSULT_ZAAKOFFICIER, Action.START_DRAFTING}
    assert [t.action for t in allowed(RequestStatus.KWALITEITSCONTROLE, police, True)] == [
        Action.CHECK_REJECTED,
        Action.TO_OM,
    ]
    assert [t.action for t in allowed(RequestStatus.KWALITEITSCONTROLE, police, False)] == [
        Action.CHECK_REJECTED,
        Action.DELIVER,
    ]


@pytest.mark.parametrize(
    ("investigation", "consulted", "expected"),
    [
        ("ja", False, True),
        ("nee", False, False),
        ("onbekend", False, None),
        ("onbekend", True, True),
        ("nee", True, True),
    ],
)
def test_uses_investigation_data(
    investigation: str, consulted: bool, expected: bool | None
) -> None:
    assert uses_investigation_data(investigation, consulted) is expected


def test_every_state_is_reachable_and_every_path_can_end() -> None:
    reachable = {RequestStatus.CONCEPT}
    frontier = [RequestStatus.CONCEPT]
    while frontier:
        status = frontier.pop()
        for t in TRANSITIONS:
            if t.source is status and t.target not in reachable:
                reachable.add(t.target)
                frontier.append(t.target)
    assert reachable == set(RequestStatus)
    for status in RequestStatus:
        outgoing = [t for t in TRANSITIONS if t.source is status]
        assert (status in TERMINAL) == (not outgoing), status


def test_refusals_and_declines_need_a_reason() -> None:
    needs_reason = {t.action for t in TRANSITIONS if t.reason_required}
    assert {
        Action.REQUEST_INFO,
        Action.DECLINE,
        Action.ZAAKOFFICIER_OBJECTS,
        Action.OM_REFUSES,
        Action.OM_RETURNS,
        Action.CHECK_REJECTED,
    } <= needs_reason
    assert Action.ACCEPT not in needs_reason


@pytest.mark.parametrize(
    ("status", "roles"),
    [
        (RequestStatus.INGEDIEND, {Role.COORDINATOR}),
        (RequestStatus.AANVULLING_GEVRAAGD, {Role.AANVRAGER, Role.GEMEENTELIJK_AANSPREEKPUNT}),
        (RequestStatus.OM_TOETSING, {Role.COORDINATOR}),
        (RequestStatus.VERSTREKT, {Role.AANVRAGER, Role.GEMEENTELIJK_AANSPREEKPUNT}),
        (RequestStatus.AFGEROND, set()),
    ],
)
def test_who_holds_the_ball(status: RequestStatus, roles: set[Role]) -> None:
    assert holds_the_ball(status) == roles
