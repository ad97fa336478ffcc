"""The transition table (pure)."""

from __future__ import annotations

import pytest

from bot.workflow import (
    DRAFTING,
    TRANSITIONS,
    Action,
    Level,
    ReportType,
    RequestStatus,
    Role,
    TransitionRefused,
    transition,
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
