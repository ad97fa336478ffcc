"""Domain: which states have a deadline and how many werkdagen (pure: no clock, no I/O).

Issue 5 gives every state that waits on someone a due date when it is entered. The numbers are
organisation agreements except OM-toetsing, which is the OM's own norm
(`deadlines.OM_TOETSING_WORKING_DAYS`) and therefore cannot be overridden: an override that
tries is a configuration error rather than something silently ignored.

Defaults (werkdagen, per report type eenvoudig / complex_spoedeisend / zeer_complex_innovatief):

- ingediend (the coördinator decides): 5
- aanvulling_gevraagd: the AANVULLING_EXPIRE_WORKING_DAYS setting (passed in), so the due date
  shown is the moment `lifecycle.sweep_aanvullingen` expires the request
- geaccepteerd (priority in the sturingsoverleg): 5
- afstemming_zaakofficier: 5
- in_opstelling: 10 / 15 / 20
- kwaliteitscontrole: 5 / 5 / 10
- om_toetsing: 10 for every type, fixed
- concept, verstrekt, afgerond and the terminal states: no deadline
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo

from bot.deadlines import DEFAULT_CALENDAR, OM_TOETSING_WORKING_DAYS, WorkingCalendar
from bot.workflow import ReportType, RequestStatus

Override = int | Mapping[str, int]
"""A configured override: one number for all report types, or a number per report type."""

_ALL_TYPES = tuple(ReportType)

DEFAULT_WORKING_DAYS: Mapping[RequestStatus, Mapping[ReportType, int]] = MappingProxyType(
    {
        RequestStatus.INGEDIEND: dict.fromkeys(_ALL_TYPES, 5),
        RequestStatus.GEACCEPTEERD: dict.fromkeys(_ALL_TYPES, 5),
        RequestStatus.AFSTEMMING_ZAAKOFFICIER: dict.fromkeys(_ALL_TYPES, 5),
        RequestStatus.IN_OPSTELLING: {
            ReportType.EENVOUDIG: 10,
            ReportType.COMPLEX_SPOEDEISEND: 15,
            ReportType.ZEER_COMPLEX_INNOVATIEF: 20,
        },
        RequestStatus.KWALITEITSCONTROLE: {
            ReportType.EENVOUDIG: 5,
            ReportType.COMPLEX_SPOEDEISEND: 5,
            ReportType.ZEER_COMPLEX_INNOVATIEF: 10,
        },
    }
)
"""Organisation defaults for the configurable states (aanvulling_gevraagd comes from settings)."""

CONFIGURABLE_STATES = frozenset(DEFAULT_WORKING_DAYS)


class DeadlineConfigError(ValueError):
    """An override names an unknown state or type, a non-positive number, or OM-toetsing."""


def validate_overrides(raw: Mapping[str, Override]) -> dict[RequestStatus, dict[ReportType, int]]:
    """Parse configured overrides into typed form, or raise with a message naming the culprit.

    Validated at start so a typo in the environment stops the bot instead of quietly leaving a
    default in force for months.
    """
    parsed: dict[RequestStatus, dict[ReportType, int]] = {}
    for state_name, value in raw.items():
        if state_name == RequestStatus.OM_TOETSING.value:
            raise DeadlineConfigError(
                f"om_toetsing is fixed at {OM_TOETSING_WORKING_DAYS} working days (the OM's own "
                "norm) and cannot be configured"
            )
        if state_name == RequestStatus.AANVULLING_GEVRAAGD.value:
            raise DeadlineConfigError(
                "aanvulling_gevraagd is set with AANVULLING_EXPIRE_WORKING_DAYS, not here"
            )
        try:
            state = RequestStatus(state_name)
        except ValueError:
            state = None
        if state is None or state not in CONFIGURABLE_STATES:
            allowed = ", ".join(sorted(s.value for s in CONFIGURABLE_STATES))
            raise DeadlineConfigError(f"unknown state {state_name!r}; allowed: {allowed}")
        if isinstance(value, Mapping):
            per_type: dict[ReportType, int] = {}
            for type_name, days in value.items():
                try:
                    report_type = ReportType(type_name)
                except ValueError:
                    allowed = ", ".join(t.value for t in ReportType)
                    raise DeadlineConfigError(
                        f"unknown report type {type_name!r} for {state_name}; allowed: {allowed}"
                    ) from None
                per_type[report_type] = _positive(days, f"{state_name}.{type_name}")
            parsed[state] = per_type
        else:
            parsed[state] = dict.fromkeys(_ALL_TYPES, _positive(value, state_name))
    return parsed


def _positive(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeadlineConfigError(f"{where} must be a positive whole number, got {value!r}")
    return value


@dataclass(frozen=True)
class DeadlinePolicy:
    """Werkdagen per state and report type, with the organisation's overrides applied."""

    aanvulling_working_days: int
    overrides: Mapping[RequestStatus, Mapping[ReportType, int]] = field(default_factory=dict)
    calendar: WorkingCalendar = DEFAULT_CALENDAR

    def working_days(self, state: RequestStatus, report_type: ReportType) -> int | None:
        """Werkdagen allowed in `state`, or None when the state has no deadline."""
        if state is RequestStatus.OM_TOETSING:
            return OM_TOETSING_WORKING_DAYS
        if state is RequestStatus.AANVULLING_GEVRAAGD:
            return self.aanvulling_working_days
        override = self.overrides.get(state, {}).get(report_type)
        if override is not None:
            return override
        default = DEFAULT_WORKING_DAYS.get(state)
        return None if default is None else default[report_type]

    def due_at(
        self, state: RequestStatus, report_type: ReportType, entered: dt.datetime, tz: ZoneInfo
    ) -> dt.datetime | None:
        """Due time (aware UTC, end of the local due day) for `state` entered at `entered`."""
        days = self.working_days(state, report_type)
        return None if days is None else self.calendar.due_at(entered, days, tz)


DEFAULT_POLICY = DeadlinePolicy(aanvulling_working_days=10)
"""The documented defaults with AANVULLING_EXPIRE_WORKING_DAYS at its default of 10."""
