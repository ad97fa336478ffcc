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


class Role(StrEnum):
    AANVRAGER = "aanvrager"
    GEMEENTELIJK_AANSPREEKPUNT = "gemeentelijk_aanspreekpunt"
    COORDINATOR = "coordinator"


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


@dataclass(frozen=True)
class Transition:
    action: Action
    source: RequestStatus
    target: RequestStatus
    roles: frozenset[Role]


# The one table of allowed state changes; cards, dialogs and reminders read it. The approvals
# issue adds the police decisions and the rest of the lifecycle here.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        Action.SUBMIT,
        RequestStatus.CONCEPT,
        RequestStatus.INGEDIEND,
        frozenset({Role.AANVRAGER, Role.GEMEENTELIJK_AANSPREEKPUNT, Role.COORDINATOR}),
    ),
)


class TransitionRefused(Exception):
    def __init__(self, action: Action, status: RequestStatus, role: Role) -> None:
        super().__init__(f"{role} may not {action} a request in status {status}")
        self.action, self.status, self.role = action, status, role


def transition(action: Action, status: RequestStatus, role: Role) -> RequestStatus:
    for candidate in TRANSITIONS:
        if candidate.action is action and candidate.source is status and role in candidate.roles:
            return candidate.target
    raise TransitionRefused(action, status, role)
