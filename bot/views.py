"""What each party sees of a request: the request card, built for one viewer.

Cards differ per viewer only in their buttons, and the buttons come from the transition table
(`workflow.allowed`), so a card can never offer a step the use case would refuse.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from bot.intake import Catalogue, checklist_rows
from bot.workflow import (
    TRANSITIONS,
    Action,
    RequestStatus,
    Role,
    Transition,
    allowed,
    uses_investigation_data,
)
from cards.render import render, text
from storage.models import Request, RequestEvent

# Steps nobody takes from a card: submitting happens in the dialog, expiry is the bot's own.
NOT_ON_CARDS = frozenset({Action.SUBMIT, Action.EXPIRE})
OUTCOMES = ("maatregel_genomen", "geen_maatregel", "nog_niet")
STATUS_COLORS = {
    RequestStatus.AFGEWEZEN: "Attention",
    RequestStatus.INGETROKKEN: "Attention",
    RequestStatus.AANVULLING_GEVRAAGD: "Warning",
    RequestStatus.VERSTREKT: "Good",
    RequestStatus.AFGEROND: "Good",
}


@dataclass(frozen=True)
class Viewer:
    aad_object_id: str
    roles: frozenset[Role]


def investigation_data(request: Request) -> bool | None:
    return uses_investigation_data(request.criminal_investigation, request.zaakofficier_consulted)


def next_steps(request: Request, roles: frozenset[Role]) -> list[Transition]:
    """The steps these roles may take now, in table order."""
    status = RequestStatus(request.status)
    mine = {t for role in roles for t in allowed(status, role, investigation_data(request))}
    return [t for t in TRANSITIONS if t in mine and t.action not in NOT_ON_CARDS]


def local_time(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).strftime("%d-%m-%Y %H:%M")


WEEKDAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")


def due_day(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """The local due day as people say it ("di 01-12-2026"): a due date is a whole day."""
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    day = moment.astimezone(tz).date()
    return f"{WEEKDAYS[day.weekday()]} {day:%d-%m-%Y}"


def last_step(event: RequestEvent | None, tz: zoneinfo.ZoneInfo) -> str | None:
    if event is None:
        return None
    key = "last_step_reason" if event.reason else "last_step"
    return text(
        key,
        action=text(f"done_{event.action}"),
        actor=event.actor_name,
        at=local_time(event.at, tz),
        reason=event.reason or "",
    )


def _action(step: Transition, request: Request) -> dict[str, Any]:
    verb = step.action.value
    data = {"reference": request.reference, "version": request.version}
    action: dict[str, Any] = {
        "verb": verb,
        "title": text(f"action_{verb}"),
        "confirm": text(f"action_{verb}"),
        "data": data,
        "form": "none",
        "suggestion": None,
    }
    if step.action is Action.COMPLETE:
        action.update(
            form="complete",
            outcome_label=text("outcome_label"),
            outcomes=[{"title": text(f"outcome_{code}"), "value": code} for code in OUTCOMES],
            reason_label=text("feedback_label"),
        )
    elif step.action is Action.DECLINE:
        action.update(
            form="suggested",
            reason_label=text("reason_label_afwijzen"),
            suggestion=text("reason_suggestion_boa"),
        )
    elif step.reason_required or step.action is Action.WITHDRAW:
        action.update(
            form="reason" if step.reason_required else "optional",
            reason_label=text(f"reason_label_{verb}"),
        )
    return action


def request_card(
    request: Request,
    viewer: Viewer,
    catalogue: Catalogue,
    *,
    last_event: RequestEvent | None,
    open_question: str | None,
    tz: zoneinfo.ZoneInfo,
) -> dict[str, Any]:
    status = RequestStatus(request.status)
    titles = {b.id: b for b in catalogue.bevoegdheden}
    gemeenten = {o.value: o.label for o in catalogue.gemeenten}
    teams = {
        o.value: o.label for options in catalogue.basisteams_by_gemeente.values() for o in options
    }
    bevoegdheid = titles.get(request.bevoegdheid_id)
    labels = catalogue.labels
    facts = [
        ("label_bevoegdheid", bevoegdheid.title if bevoegdheid else request.bevoegdheid_id),
        ("label_gemeente", gemeenten.get(request.gemeente_id, request.gemeente_id)),
        ("label_basisteam", teams.get(request.basisteam_id, request.basisteam_id)),
        (
            "label_rapportagetype",
            labels.get(f"rapportagetype.{request.report_type}", request.report_type),
        ),
        (
            "label_strafrechtelijk_onderzoek",
            labels.get(
                f"strafrechtelijk_onderzoek.{request.criminal_investigation}",
                request.criminal_investigation,
            ),
        ),
        (
            "label_boa_route_mogelijk",
            labels.get(f"yes_no.{'ja' if request.boa_route_possible else 'nee'}", ""),
        ),
        ("label_gewenste_datum", request.desired_date.strftime("%d-%m-%Y")),
        ("label_aanvrager", request.requester_name),
        ("label_ingediend", local_time(request.created_at, tz)),
    ]
    if request.boa_route_reason:
        facts.insert(6, ("label_boa_route_reden", request.boa_route_reason))
    if request.outcome:
        facts.append(("label_uitkomst", text(f"outcome_{request.outcome}")))
    if request.due_at is not None:
        facts.append(("label_termijn", due_day(request.due_at, tz)))
    if request.priority:
        facts.append(("label_prioriteit", text(f"priority_{request.priority}")))
    steps = next_steps(request, viewer.roles)
    return render(
        "request",
        reference=request.reference,
        status=text(f"status_{status.value}"),
        status_color=STATUS_COLORS.get(status, "Default"),
        last_step=last_step(last_event, tz),
        open_question=open_question if status is RequestStatus.AANVULLING_GEVRAAGD else None,
        facts=[{"title": text(key), "value": value} for key, value in facts],
        subject=request.subject,
        checklist=[
            {"question": question, "answer": answer}
            for question, answer in (
                checklist_rows(bevoegdheid, dict(request.answers), labels) if bevoegdheid else []
            )
        ],
        actions=[_action(step, request) for step in steps],
        idle_note=text("card_idle_note"),
    )
