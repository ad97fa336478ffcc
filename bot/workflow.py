"""Domain: request states, report types and the ONE transition table (pure).

Stored values are the process's own Dutch names as stable snake_case codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RequestStatus(StrEnum):
    CONCEPT = "concept"
    INGEDIEND = "ingediend"
    AANVULLING_GEVRAAGD = "aanvulling_gevraagd"
    AFGEWEZEN = "afgewezen"
    INGETROKKEN = "ingetrokken"
    GEACCEPTEERD = "geaccepteerd"
    AFSTEMMING_ZAAKOFFICIER = "afstemming_zaakofficier"
    IN_OPSTELLING = "in_opstelling"
    KWALITEITSCONTROLE = "kwaliteitscontrole"
    OM_TOETSING = "om_toetsing"
    VERSTREKT = "verstrekt"
    AFGEROND = "afgerond"


class Level(StrEnum):
    BASISTEAM = "basisteam"
    DISTRICT = "district"
    EENHEID = "eenheid"


class ReportType(StrEnum):
    EENVOUDIG = "eenvoudig"
    COMPLEX_SPOEDEISEND = "complex_spoedeisend"
    ZEER_COMPLEX_INNOVATIEF = "zeer_complex_innovatief"


@dataclass(frozen=True)
class Drafting:
    drafted_by: Level
    checked_by: Level


# Who drafts and who checks each report type (improvement plan of the politie, 2019).
DRAFTING: dict[ReportType, Drafting] = {
    ReportType.EENVOUDIG: Drafting(Level.BASISTEAM, Level.DISTRICT),
    ReportType.COMPLEX_SPOEDEISEND: Drafting(Level.DISTRICT, Level.EENHEID),
    ReportType.ZEER_COMPLEX_INNOVATIEF: Drafting(Level.EENHEID, Level.EENHEID),
}


class Action(StrEnum):
    SUBMIT = "indienen"
    ACCEPT = "accepteren"
    REQUEST_INFO = "aanvulling_vragen"
    DECLINE = "afwijzen"
    SUPPLEMENT = "aanvullen"
    WITHDRAW = "intrekken"
    EXPIRE = "verlopen"
    CONSULT_ZAAKOFFICIER = "zaakofficier_raadplegen"
    ZAAKOFFICIER_AGREES = "zaakofficier_akkoord"
    ZAAKOFFICIER_OBJECTS = "zaakofficier_bezwaar"
    START_DRAFTING = "opstellen"
    SUBMIT_FOR_CHECK = "ter_controle"
    CHECK_REJECTED = "controle_afgekeurd"
    TO_OM = "naar_om"
    DELIVER = "verstrekken"
    OM_APPROVES = "om_akkoord"
    OM_RETURNS = "om_terug"
    OM_REFUSES = "om_weigert"
    COMPLETE = "afronden"


class Role(StrEnum):
    AANVRAGER = "aanvrager"
    GEMEENTELIJK_AANSPREEKPUNT = "gemeentelijk_aanspreekpunt"
    COORDINATOR = "coordinator"
    SYSTEEM = "systeem"  # the bot itself, e.g. closing an unanswered aanvulling


class Needs(StrEnum):
    """What the request's investigation data must be for a transition to apply."""

    ANY = "any"
    INVESTIGATION_DATA = "investigation_data"  # a BR with investigation data: zaakofficier, OM
    NO_INVESTIGATION_DATA = "no_investigation_data"


@dataclass(frozen=True)
class Transition:
    action: Action
    source: RequestStatus
    target: RequestStatus
    roles: frozenset[Role]
    needs: Needs = Needs.ANY
    reason_required: bool = False


S = RequestStatus
GEMEENTE = frozenset({Role.AANVRAGER, Role.GEMEENTELIJK_AANSPREEKPUNT})
POLITIE = frozenset({Role.COORDINATOR})
# Until the report is delivered the gemeente may withdraw its request.
WITHDRAWABLE = (
    S.INGEDIEND,
    S.AANVULLING_GEVRAAGD,
    S.GEACCEPTEERD,
    S.AFSTEMMING_ZAAKOFFICIER,
    S.IN_OPSTELLING,
    S.KWALITEITSCONTROLE,
    S.OM_TOETSING,
)

# The one table of allowed state changes (domain brief, "The process"); cards, dialogs and
# reminders read it and never re-encode it. Police steps are taken by the team's coördinatoren
# on the request card; OM decisions are recorded by them too (the OM has no seat in the bot).
TRANSITIONS: tuple[Transition, ...] = (
    Transition(Action.SUBMIT, S.CONCEPT, S.INGEDIEND, GEMEENTE | POLITIE),
    Transition(Action.ACCEPT, S.INGEDIEND, S.GEACCEPTEERD, POLITIE),
    Transition(
        Action.REQUEST_INFO, S.INGEDIEND, S.AANVULLING_GEVRAAGD, POLITIE, reason_required=True
    ),
    Transition(Action.DECLINE, S.INGEDIEND, S.AFGEWEZEN, POLITIE, reason_required=True),
    Transition(
        Action.SUPPLEMENT, S.AANVULLING_GEVRAAGD, S.INGEDIEND, GEMEENTE, reason_required=True
    ),
    Transition(Action.EXPIRE, S.AANVULLING_GEVRAAGD, S.INGETROKKEN, frozenset({Role.SYSTEEM})),
    *(Transition(Action.WITHDRAW, source, S.INGETROKKEN, GEMEENTE) for source in WITHDRAWABLE),
    Transition(
        Action.CONSULT_ZAAKOFFICIER,
        S.GEACCEPTEERD,
        S.AFSTEMMING_ZAAKOFFICIER,
        POLITIE,
        needs=Needs.INVESTIGATION_DATA,
    ),
    Transition(
        Action.START_DRAFTING,
        S.GEACCEPTEERD,
        S.IN_OPSTELLING,
        POLITIE,
        needs=Needs.NO_INVESTIGATION_DATA,
    ),
    Transition(Action.ZAAKOFFICIER_AGREES, S.AFSTEMMING_ZAAKOFFICIER, S.IN_OPSTELLING, POLITIE),
    Transition(
        Action.ZAAKOFFICIER_OBJECTS,
        S.AFSTEMMING_ZAAKOFFICIER,
        S.AFGEWEZEN,
        POLITIE,
        reason_required=True,
    ),
    Transition(Action.SUBMIT_FOR_CHECK, S.IN_OPSTELLING, S.KWALITEITSCONTROLE, POLITIE),
    Transition(
        Action.CHECK_REJECTED, S.KWALITEITSCONTROLE, S.IN_OPSTELLING, POLITIE, reason_required=True
    ),
    Transition(
        Action.TO_OM, S.KWALITEITSCONTROLE, S.OM_TOETSING, POLITIE, needs=Needs.INVESTIGATION_DATA
    ),
    Transition(
        Action.DELIVER,
        S.KWALITEITSCONTROLE,
        S.VERSTREKT,
        POLITIE,
        needs=Needs.NO_INVESTIGATION_DATA,
    ),
    Transition(Action.OM_APPROVES, S.OM_TOETSING, S.VERSTREKT, POLITIE),
    Transition(Action.OM_RETURNS, S.OM_TOETSING, S.IN_OPSTELLING, POLITIE, reason_required=True),
    Transition(Action.OM_REFUSES, S.OM_TOETSING, S.AFGEWEZEN, POLITIE, reason_required=True),
    Transition(Action.COMPLETE, S.VERSTREKT, S.AFGEROND, GEMEENTE),
)

TERMINAL = frozenset({S.AFGEWEZEN, S.INGETROKKEN, S.AFGEROND})


def uses_investigation_data(
    criminal_investigation: str, consulted_zaakofficier: bool
) -> bool | None:
    """True/False when known; None while it is open (an 'onbekend' investigation before the
    coördinator chose a path). A zaakofficier consultation settles it: investigation data."""
    if consulted_zaakofficier or criminal_investigation == "ja":
        return True
    if criminal_investigation == "nee":
        return False
    return None


def _applies(candidate: Transition, investigation_data: bool | None) -> bool:
    if candidate.needs is Needs.INVESTIGATION_DATA:
        return investigation_data is not False
    if candidate.needs is Needs.NO_INVESTIGATION_DATA:
        return investigation_data is not True
    return True


def allowed(
    status: RequestStatus, role: Role, investigation_data: bool | None = None
) -> list[Transition]:
    """The next steps `role` may take from `status`, in table order (for cards and refusals)."""
    return [
        t
        for t in TRANSITIONS
        if t.source is status and role in t.roles and _applies(t, investigation_data)
    ]


class TransitionRefused(Exception):
    def __init__(
        self, action: Action, status: RequestStatus, role: Role, allowed_next: list[Transition]
    ) -> None:
        super().__init__(f"{role} may not {action} a request in status {status}")
        self.action, self.status, self.role = action, status, role
        self.allowed_next = allowed_next


def transition(
    action: Action,
    status: RequestStatus,
    role: Role,
    investigation_data: bool | None = None,
) -> RequestStatus:
    options = allowed(status, role, investigation_data)
    for candidate in options:
        if candidate.action is action:
            return candidate.target
    raise TransitionRefused(action, status, role, options)


# Steps any party may always take (withdrawing, the bot's expiry) do not say whose turn it is.
_NOT_THE_BALL = frozenset({Action.WITHDRAW, Action.EXPIRE})


def holds_the_ball(status: RequestStatus) -> frozenset[Role]:
    """Whose move it is: the roles that can take the next step of the process."""
    return frozenset(
        role
        for t in TRANSITIONS
        if t.source is status and t.action not in _NOT_THE_BALL
        for role in t.roles
    )
