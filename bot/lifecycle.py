"""Use cases after submission: acting on a request from its card, and the bot's own steps.

Every state change is one unit of work: the conditional update of the request (first to act
wins: `WHERE version = :seen`), its audit event (unique on the Teams activity id, so a replayed
or re-sent action adds nothing) and the outbox rows that inform every party are committed
together. Sending happens later, from the outbox (`bot.notifier`).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.deadlines import WorkingCalendar
from bot.digest import queue_digest_update
from bot.due_dates import DeadlinePolicy
from bot.intake import Catalogue
from bot.privacy import check_free_text, redact_bsn
from bot.registry import RegistryRole
from bot.views import OUTCOMES, Viewer, investigation_data, last_step, next_steps, request_card
from bot.workflow import Action, ReportType, RequestStatus, Role, Transition, transition
from cards.render import text
from storage import repositories
from storage.db import Database
from storage.models import Notification, PersonRole, Request, RequestEvent

log = logging.getLogger(__name__)

REASON_MAX_LENGTH = 500
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SYSTEM_ACTOR_ID = "rapportagebot"
T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who acts, as Teams says (the activity's sender), never as card data says."""

    aad_object_id: str
    name: str


class Outcome(StrEnum):
    DONE = "done"
    NOT_FOUND = "not_found"
    NO_ROLE = "no_role"
    STALE = "stale"
    REPLAYED = "replayed"
    REFUSED = "refused"
    REASON_MISSING = "reason_missing"
    OUTCOME_MISSING = "outcome_missing"
    TEXT_REJECTED = "text_rejected"
    UNKNOWN_ACTION = "unknown_action"


@dataclass(frozen=True)
class ActResult:
    outcome: Outcome
    message: str
    # The actor's fresh view of the request; None when they may not see it.
    card: dict[str, Any] | None = None
    status: RequestStatus | None = None


@dataclass
class Party:
    aad_object_id: str
    name: str
    roles: set[Role] = field(default_factory=set)


async def parties(session: AsyncSession, request: Request) -> dict[str, Party]:
    """Everyone with a role in the request: the aanvrager, the gemeente's aanspreekpunten and
    the basisteam's coördinatoren (one entry per person, with all their roles here)."""
    result: dict[str, Party] = {
        request.requester_aad_id: Party(
            request.requester_aad_id, request.requester_name, {Role.AANVRAGER}
        )
    }
    scopes = (
        (
            RegistryRole.GEMEENTELIJK_AANSPREEKPUNT,
            request.gemeente_id,
            Role.GEMEENTELIJK_AANSPREEKPUNT,
        ),
        (RegistryRole.COORDINATOR, request.basisteam_id, Role.COORDINATOR),
    )
    for registry_role, scope, role in scopes:
        for person in await repositories.people_with_role(session, registry_role.value, scope):
            party = result.setdefault(
                person.aad_object_id, Party(person.aad_object_id, person.name)
            )
            party.roles.add(role)
    return result


async def roles_of(session: AsyncSession, request: Request, aad_object_id: str) -> frozenset[Role]:
    roles: set[Role] = set()
    if aad_object_id and request.requester_aad_id == aad_object_id:
        roles.add(Role.AANVRAGER)
    rows = await session.execute(
        select(PersonRole.role, PersonRole.scope).where(PersonRole.aad_object_id == aad_object_id)
    )
    for role, scope in rows:
        if role == RegistryRole.COORDINATOR.value and scope == request.basisteam_id:
            roles.add(Role.COORDINATOR)
        elif role == RegistryRole.GEMEENTELIJK_AANSPREEKPUNT.value and scope == request.gemeente_id:
            roles.add(Role.GEMEENTELIJK_AANSPREEKPUNT)
    return frozenset(roles)


@dataclass(frozen=True)
class Context:
    """What rendering a card needs besides the request: loaded once per unit of work."""

    catalogue: Catalogue
    tz: zoneinfo.ZoneInfo


async def _history(
    session: AsyncSession, request: Request
) -> tuple[RequestEvent | None, str | None]:
    events = await repositories.events_of(session, request.id)
    last = events[-1] if events else None
    question = next(
        (e.reason for e in reversed(events) if e.action == Action.REQUEST_INFO.value), None
    )
    return last, question


async def card_for(
    session: AsyncSession, request: Request, viewer: Viewer, context: Context
) -> dict[str, Any]:
    last, question = await _history(session, request)
    return request_card(
        request,
        viewer,
        context.catalogue,
        last_event=last,
        open_question=question,
        tz=context.tz,
    )


def _message(body: str) -> dict[str, Any]:
    return {"type": "message", "text": body, "textFormat": "markdown"}


def _card_message(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}


def _row(
    request: Request, kind: str, party: Party, activity: dict[str, Any], now: dt.datetime, tag: str
) -> Notification:
    return Notification(
        key=f"{request.reference}:v{request.version}:{tag}:{party.aad_object_id}",
        kind=kind,
        request_id=request.id,
        recipient=f"person:{party.aad_object_id}",
        recipient_aad_id=party.aad_object_id,
        activity=activity,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def queue_cards_and_notices(
    session: AsyncSession,
    request: Request,
    context: Context,
    now: dt.datetime,
    *,
    notice: Callable[[Party], str | None],
    card_not_for: str | None = None,
) -> int:
    """Put the current card in every party's chat (in place where it already is) and, where
    `notice` says so, a short message that makes Teams notify them; replace the team's agenda
    card in its channel. `card_not_for` already has the card (in the reply to their action).
    Returns the row count."""
    rows = 0
    for party in (await parties(session, request)).values():
        if party.aad_object_id != card_not_for:
            viewer = Viewer(party.aad_object_id, frozenset(party.roles))
            card = await card_for(session, request, viewer, context)
            session.add(_row(request, "card", party, _card_message(card), now, "card"))
            rows += 1
        body = notice(party)
        if body:
            session.add(_row(request, "notice", party, _message(body), now, "notice"))
            rows += 1
    # The team's agenda in its channel shows this request too; refresh does not work there.
    if await queue_digest_update(
        session,
        request.basisteam_id,
        now=now,
        tz=context.tz,
        catalogue=context.catalogue,
        tag=f"{request.reference}:v{request.version}",
    ):
        rows += 1
    return rows


def _labels(request: Request, context: Context) -> dict[str, str]:
    titles = {b.id: b.title for b in context.catalogue.bevoegdheden}
    gemeenten = {o.value: o.label for o in context.catalogue.gemeenten}
    return {
        "reference": request.reference,
        "bevoegdheid": titles.get(request.bevoegdheid_id, request.bevoegdheid_id),
        "gemeente": gemeenten.get(request.gemeente_id, request.gemeente_id),
        "status": text(f"status_{request.status}"),
    }


async def announce_submitted(
    session: AsyncSession, request: Request, context: Context, now: dt.datetime
) -> int:
    """On `ingediend`: the card to every coördinator, the aanspreekpunten and the aanvrager.
    The aanvrager was answered in the chat already; the others get a line that notifies."""
    labels = _labels(request, context)

    def notice(party: Party) -> str | None:
        if party.roles == {Role.AANVRAGER}:
            return None
        return text("notice_new_request", requester=request.requester_name, **labels)

    return await queue_cards_and_notices(session, request, context, now, notice=notice)


async def _announce_change(
    session: AsyncSession,
    request: Request,
    context: Context,
    now: dt.datetime,
    *,
    step: Transition,
    actor: Actor,
    reason: str | None,
    card_in_reply: bool = False,
) -> None:
    labels = _labels(request, context)
    gemeente_side = step.roles.isdisjoint({Role.COORDINATOR})

    def notice(party: Party) -> str | None:
        if party.aad_object_id == actor.aad_object_id:
            return None  # the actor sees the result on their own card
        # The gemeente hears of every change; the police of what the gemeente or the bot did.
        gemeente = bool(party.roles & {Role.AANVRAGER, Role.GEMEENTELIJK_AANSPREEKPUNT})
        if not gemeente and not gemeente_side:
            return None
        return text(
            "notice_change",
            action=text(f"done_{step.action.value}"),
            actor=actor.name,
            reason=reason or "",
            **labels,
        )

    await queue_cards_and_notices(
        session,
        request,
        context,
        now,
        notice=notice,
        card_not_for=actor.aad_object_id if card_in_reply else None,
    )


class _Abort(Exception):
    """Leave the unit of work without writing anything, with this answer."""

    def __init__(self, result: ActResult) -> None:
        super().__init__(result.outcome)
        self.result = result


def _free_text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


async def act(
    database: Database,
    *,
    reference: str,
    verb: str,
    actor: Actor,
    seen_version: int | None,
    inputs: dict[str, Any],
    activity_id: str | None,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    deadlines: DeadlinePolicy,
    card_in_reply: bool = False,
) -> ActResult:
    """Take one step on a request for `actor`, or explain why nothing changed.

    The target state's due date is set in the same update as the state, so the card, the list
    and a later reminder scan never see a state with the previous state's deadline.
    `card_in_reply`: the actor's client gets the fresh card in the reply to their action (one
    that cannot replace a message in place), so the outbox does not post it to them again."""
    context = Context(catalogue, tz)
    try:
        action = Action(verb)
    except ValueError:
        return ActResult(Outcome.UNKNOWN_ACTION, text("unknown_card_action"))

    async def work(session: AsyncSession) -> ActResult:
        request = await repositories.request_by_reference(session, reference)
        if request is None:
            raise _Abort(
                ActResult(Outcome.NOT_FOUND, text("act_not_found", reference=redact_bsn(reference)))
            )
        roles = await roles_of(session, request, actor.aad_object_id)
        if not roles:
            log.info("card action by someone without a role (request %s)", request.id)
            raise _Abort(ActResult(Outcome.NO_ROLE, text("act_no_role", reference=reference)))
        viewer = Viewer(actor.aad_object_id, roles)

        async def current(outcome: Outcome, message: str) -> ActResult:
            card = await card_for(session, request, viewer, context)
            return ActResult(outcome, message, card, RequestStatus(request.status))

        if activity_id and await _seen(session, activity_id):
            raise _Abort(await current(Outcome.REPLAYED, text("act_replayed")))
        if seen_version is None or seen_version != request.version:
            raise _Abort(await current(Outcome.STALE, await _stale_text(session, request, tz)))
        step = next((s for s in next_steps(request, roles) if s.action is action), None)
        if step is None or action in (Action.SUBMIT, Action.EXPIRE):
            options = ", ".join(
                text(f"action_{s.action.value}") for s in next_steps(request, roles)
            )
            raise _Abort(
                await current(
                    Outcome.REFUSED,
                    text(
                        "act_refused",
                        reference=reference,
                        status=text(f"status_{request.status}"),
                        options=options,
                    ),
                )
            )
        reason, extra = _inputs(step, inputs, request)
        if isinstance(reason, ActResult):
            raise _Abort(await current(reason.outcome, reason.message))
        role = next(r for r in sorted(roles) if r in step.roles)
        target = transition(
            action, RequestStatus(request.status), role, investigation_data(request)
        )
        changed = await session.execute(
            update(Request)
            .where(Request.id == request.id, Request.version == request.version)
            .values(
                status=target.value,
                version=request.version + 1,
                status_since=now,
                nudged_at=None,
                escalated_at=None,
                due_at=deadlines.due_at(target, ReportType(request.report_type), now, tz),
                updated_at=now,
                **extra,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            # Someone else acted between our read and our write: first to act wins.
            raise _Abort(ActResult(Outcome.STALE, ""))
        await session.refresh(request)
        session.add(
            RequestEvent(
                request_id=request.id,
                at=now,
                actor_aad_id=actor.aad_object_id,
                actor_name=actor.name,
                action=action.value,
                from_status=step.source.value,
                to_status=target.value,
                reason=reason or None,
                activity_id=activity_id,
            )
        )
        await session.flush()
        await _announce_change(
            session,
            request,
            context,
            now,
            step=step,
            actor=actor,
            reason=reason or None,
            card_in_reply=card_in_reply,
        )
        return await current(
            Outcome.DONE,
            text(
                "act_done",
                reference=reference,
                action=text(f"done_{action.value}"),
                status=text(f"status_{target.value}"),
            ),
        )

    try:
        return await database.transaction(work)
    except _Abort as abort:
        if abort.result.outcome is Outcome.STALE and not abort.result.message:
            return await _after_race(database, reference, actor, context, activity_id=activity_id)
        return abort.result
    except IntegrityError:
        # The same Teams activity was processed concurrently (a resend): it changed nothing here.
        return await _after_race(database, reference, actor, context, replayed=True)


async def _after_race(
    database: Database,
    reference: str,
    actor: Actor,
    context: Context,
    *,
    replayed: bool = False,
    activity_id: str | None = None,
) -> ActResult:
    """What the loser of a race sees. The winner may have been this very click, re-sent by Teams
    while the first was still being handled: then it is a replay, not a stale card."""
    async with database.sessions() as session:
        request = await repositories.request_by_reference(session, reference)
        assert request is not None
        if activity_id and not replayed:
            replayed = await _seen(session, activity_id)
        roles = await roles_of(session, request, actor.aad_object_id)
        card = await card_for(session, request, Viewer(actor.aad_object_id, roles), context)
        message = (
            text("act_replayed") if replayed else await _stale_text(session, request, context.tz)
        )
    outcome = Outcome.REPLAYED if replayed else Outcome.STALE
    return ActResult(outcome, message, card, RequestStatus(request.status))


async def _seen(session: AsyncSession, activity_id: str) -> bool:
    found = await session.execute(
        select(RequestEvent.id).where(RequestEvent.activity_id == activity_id).limit(1)
    )
    return found.first() is not None


async def _stale_text(session: AsyncSession, request: Request, tz: zoneinfo.ZoneInfo) -> str:
    last, _ = await _history(session, request)
    return text("act_stale", last=last_step(last, tz) or text(f"status_{request.status}"))


def _inputs(
    step: Transition, inputs: dict[str, Any], request: Request
) -> tuple[str | ActResult, dict[str, Any]]:
    """The reason (and outcome fields) a step needs, checked like any free text: no BSN."""
    extra: dict[str, Any] = {}
    # Input ids carry the verb: one card holds a form per step, and ids must be unique.
    verb = step.action.value
    reason = _free_text(inputs.get(f"{verb}_reason"))
    if step.action is Action.DECLINE and inputs.get(f"{verb}_suggested") == "boa":
        suggestion = text("reason_suggestion_boa")
        reason = f"{suggestion} {reason}".strip() if reason else suggestion
    if step.action is Action.COMPLETE:
        outcome = inputs.get("outcome")
        if outcome not in OUTCOMES:
            return ActResult(Outcome.OUTCOME_MISSING, text("act_outcome_missing")), extra
        extra["outcome"] = outcome
        reason = _free_text(inputs.get("feedback"))
        if reason:
            extra["quality_feedback"] = reason
    if step.action is Action.CONSULT_ZAAKOFFICIER:
        extra["zaakofficier_consulted"] = True
    if step.reason_required and not reason:
        label = text(f"reason_label_{step.action.value}")
        return ActResult(Outcome.REASON_MISSING, text("act_reason_missing", label=label)), extra
    if reason:
        verdict = check_free_text(reason, max_length=REASON_MAX_LENGTH)
        if not verdict.ok:
            assert verdict.problem is not None
            problem = text(f"invalid_text_{verdict.problem.value}", limit=verdict.limit)
            return ActResult(
                Outcome.TEXT_REJECTED, text("act_text_rejected", problem=problem)
            ), extra
    return reason, extra


async def view(
    database: Database, *, reference: str, actor: Actor, tz: zoneinfo.ZoneInfo, catalogue: Catalogue
) -> ActResult:
    """The actor's current card, changing nothing (Universal Actions' automatic refresh)."""
    async with database.sessions() as session:
        request = await repositories.request_by_reference(session, reference)
        if request is None:
            return ActResult(
                Outcome.NOT_FOUND, text("act_not_found", reference=redact_bsn(reference))
            )
        roles = await roles_of(session, request, actor.aad_object_id)
        if not roles:
            return ActResult(Outcome.NO_ROLE, text("act_no_role", reference=reference))
        card = await card_for(
            session, request, Viewer(actor.aad_object_id, roles), Context(catalogue, tz)
        )
    return ActResult(Outcome.DONE, "", card, RequestStatus(request.status))


@dataclass(frozen=True)
class SweepReport:
    nudged: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


async def sweep_aanvullingen(
    database: Database,
    *,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    calendar: WorkingCalendar,
    nudge_after: int,
    expire_after: int,
    catalogue: Catalogue,
) -> SweepReport:
    """Nudge the aanvrager of an unanswered "aanvulling gevraagd" once after `nudge_after`
    working days, and close it as `ingetrokken` after `expire_after`, telling both sides.

    Each step is a conditional update, so two replicas sweeping at once do it once."""
    context = Context(catalogue, tz)
    report = SweepReport()

    def step(
        since: dt.datetime, due: dt.datetime | None, nudged: dt.datetime | None
    ) -> tuple[str, dt.datetime]:
        """What is due ("expire", "nudge" or "") and when the request expires."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        # The due date set on entering the state is what the card promised; it only falls back
        # to the setting for requests that entered the state before due dates existed.
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=dt.UTC)
        expire_at = due or calendar.due_at(since, expire_after, tz)
        if now >= expire_at:
            return "expire", expire_at
        if nudged is None and now >= calendar.due_at(since, nudge_after, tz):
            return "nudge", expire_at
        return "", expire_at

    # One read decides which requests are due; only those get a write transaction (where the
    # step is decided again on the row as it is then).
    async with database.sessions() as session:
        rows = (
            await session.execute(
                select(Request.id, Request.status_since, Request.due_at, Request.nudged_at).where(
                    Request.status == RequestStatus.AANVULLING_GEVRAAGD.value
                )
            )
        ).all()
    due_ids = [row.id for row in rows if step(row.status_since, row.due_at, row.nudged_at)[0]]
    for request_id in due_ids:

        async def work(session: AsyncSession, request_id: int = request_id) -> str | None:
            request = await session.get(Request, request_id)
            if request is None or request.status != RequestStatus.AANVULLING_GEVRAAGD.value:
                return None
            kind, expire_at = step(request.status_since, request.due_at, request.nudged_at)
            match kind:
                case "expire":
                    return await _expire(session, request, context, now, expire_after)
                case "nudge":
                    return await _nudge(session, request, context, now, expire_at)
            return None

        done = await database.transaction(work)
        if done == "expired":
            report.expired.append(str(request_id))
        elif done == "nudged":
            report.nudged.append(str(request_id))
    return report


async def _nudge(
    session: AsyncSession,
    request: Request,
    context: Context,
    now: dt.datetime,
    expire_at: dt.datetime,
) -> str | None:
    claimed = await session.execute(
        update(Request)
        .where(Request.id == request.id, Request.version == request.version)
        .where(Request.nudged_at.is_(None))
        .values(nudged_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    deadline = expire_at.astimezone(context.tz).strftime("%d-%m-%Y %H:%M")
    body = text("notice_aanvulling_nudge", reference=request.reference, deadline=deadline)
    for party in (await parties(session, request)).values():
        if party.roles & {Role.AANVRAGER, Role.GEMEENTELIJK_AANSPREEKPUNT}:
            row = _row(request, "notice", party, _message(body), now, "nudge")
            session.add(row)
    return "nudged"


async def _expire(
    session: AsyncSession, request: Request, context: Context, now: dt.datetime, days: int
) -> str | None:
    target = transition(Action.EXPIRE, RequestStatus(request.status), Role.SYSTEEM)
    changed = await session.execute(
        update(Request)
        .where(Request.id == request.id, Request.version == request.version)
        .values(
            status=target.value,
            version=request.version + 1,
            status_since=now,
            due_at=None,  # ingetrokken is final: no deadline
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await session.refresh(request)
    session.add(
        RequestEvent(
            request_id=request.id,
            at=now,
            actor_aad_id=SYSTEM_ACTOR_ID,
            actor_name=text("system_actor"),
            action=Action.EXPIRE.value,
            from_status=RequestStatus.AANVULLING_GEVRAAGD.value,
            to_status=target.value,
            reason=None,
        )
    )
    await session.flush()
    body = text("notice_expired", reference=request.reference, days=days)
    await queue_cards_and_notices(session, request, context, now, notice=lambda _party: body)
    return "expired"
