"""Use cases: what the bot can do, with storage passed in and no Teams types.

Each use case is one unit of work: it loads, asks the domain, writes the change with its audit
event in the same transaction, and returns plain values for the caller to present.
"""

from __future__ import annotations

import datetime as dt
import weakref
import zoneinfo
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import intake, lifecycle
from bot.content import Bevoegdheid
from bot.due_dates import DeadlinePolicy
from bot.intake import Catalogue, Key, Option
from bot.privacy import find_bsn
from bot.workflow import Action, ReportType, RequestStatus, Role, holds_the_ball, transition
from cards.render import text
from storage import repositories
from storage.db import Database
from storage.models import Request, RequestEvent


@dataclass(frozen=True)
class Person:
    """Who acts, as Teams says (never as card data says)."""

    aad_object_id: str
    name: str


def option_labels() -> dict[str, str]:
    """Dutch labels of the fixed choices, from the message catalogue."""
    return {
        f"{group}.{code}": text(f"option_{group}_{code}")
        for group, codes in intake.FIXED_CHOICES.items()
        for code in codes
    }


@dataclass(frozen=True)
class _LoadedCatalogue:
    token: str | None
    catalogue: Catalogue


# Per process and database: the catalogue with the content version it was loaded at.
_catalogues: weakref.WeakKeyDictionary[Any, _LoadedCatalogue] = weakref.WeakKeyDictionary()


async def load_catalogue(database: Database) -> Catalogue:
    """The catalogue, read from the database only when its content changed since the last call.

    Every change to the content tables replaces the content version's token in the same
    transaction (triggers, migration 0011), so one primary-key read tells whether the kept copy
    is current, whichever process made the change. The token is read before the content: a
    change committed in between is then loaded under the older token, and the next call reads
    it again, never the other way round."""
    token = await database.content_token()
    key = database.engine.sync_engine
    kept = _catalogues.get(key)
    if kept is not None and kept.token == token and token is not None:
        return kept.catalogue
    catalogue = await _read_catalogue(database)
    _catalogues[key] = _LoadedCatalogue(token, catalogue)
    return catalogue


async def _read_catalogue(database: Database) -> Catalogue:
    async with database.sessions() as session:
        entries = await repositories.knowledge_of_kind(session, "bevoegdheid")
        gemeenten = await repositories.gemeenten(session)
        teams = await repositories.basisteams_by_gemeente(session)
    return Catalogue(
        labels=option_labels(),
        bevoegdheden=tuple(Bevoegdheid.model_validate(entry.data) for entry in entries),
        gemeenten=tuple(Option(g.id, g.name) for g in gemeenten),
        basisteams_by_gemeente={
            gemeente_id: tuple(Option(t.id, t.name) for t in team_rows)
            for gemeente_id, team_rows in teams.items()
        },
    )


class IncompleteRequest(Exception):
    """The draft misses an answer; the dialog asks it instead of submitting."""


@dataclass(frozen=True)
class Submitted:
    reference: str
    request_id: int


async def submit(
    database: Database,
    *,
    answers: dict[str, Any],
    requester: Person,
    conversation: dict[str, Any],
    catalogue: Catalogue,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    deadlines: DeadlinePolicy,
    draft_id: str | None = None,
) -> Submitted:
    """Store a complete request as `ingediend` with its reference, due date and audit event.

    A draft is submitted once. The dialog state is saved after the turn, so a crash (or a
    database error) between this commit and that save leaves the dialog on its summary, and the
    repeated "indienen" would file the request a second time. With `draft_id` the submit event
    carries `draft:<id>` in its unique `activity_id` (the column that makes a replayed card
    action a no-op), and a draft that was submitted before gets its request back instead."""
    if draft_id is not None:
        earlier = await submitted_draft(database, draft_id)
        if earlier is not None:
            return earlier
    if intake.next_question(answers, catalogue) is not None:
        raise IncompleteRequest
    # Defence in depth: the dialog refuses BSNs per answer; nothing carrying one is stored.
    for value in answers.values():
        if isinstance(value, str) and find_bsn(value):
            raise IncompleteRequest
    status = transition(Action.SUBMIT, RequestStatus.CONCEPT, Role.AANVRAGER)
    checklist = intake.checklist_values(answers)
    draft_key = _draft_key(draft_id) if draft_id is not None else None
    try:
        async with database.sessions.begin() as session:
            number = await repositories.next_reference_number(session, now.year)
            request = Request(
                reference=f"BR-{now.year}-{number:04d}",
                status=status.value,
                version=1,
                bevoegdheid_id=str(answers[Key.BEVOEGDHEID]),
                gemeente_id=str(answers[Key.GEMEENTE]),
                basisteam_id=str(answers[Key.BASISTEAM]),
                subject=str(answers[Key.SUBJECT]),
                criminal_investigation=str(answers[Key.INVESTIGATION]),
                boa_route_possible=bool(answers[Key.BOA_POSSIBLE]),
                boa_route_reason=answers.get(Key.BOA_REASON),
                report_type=str(answers[Key.REPORT_TYPE]),
                desired_date=dt.date.fromisoformat(str(answers[Key.DESIRED_DATE])),
                answers=checklist,
                requester_aad_id=requester.aad_object_id,
                requester_name=requester.name,
                requester_conversation=conversation,
                created_at=now,
                updated_at=now,
                status_since=now,
                due_at=deadlines.due_at(status, ReportType(str(answers[Key.REPORT_TYPE])), now, tz),
            )
            session.add(request)
            await session.flush()
            session.add(
                RequestEvent(
                    request_id=request.id,
                    at=now,
                    actor_aad_id=requester.aad_object_id,
                    actor_name=requester.name,
                    action=Action.SUBMIT.value,
                    from_status=RequestStatus.CONCEPT.value,
                    to_status=status.value,
                    activity_id=draft_key,
                )
            )
            await session.flush()
            await lifecycle.announce_submitted(
                session, request, lifecycle.Context(catalogue, tz), now
            )
    except IntegrityError:
        # Another turn (a second replica, a re-delivered message) submitted the same draft at
        # the same moment: the unique draft key let only one of them through.
        earlier = await submitted_draft(database, draft_id) if draft_id is not None else None
        if earlier is None:
            raise
        return earlier
    return Submitted(reference=request.reference, request_id=request.id)


def _draft_key(draft_id: str) -> str:
    return f"draft:{draft_id}"


async def submitted_draft(database: Database, draft_id: str) -> Submitted | None:
    """The request a dialog's draft became, if it was submitted."""
    async with database.sessions() as session:
        found = (
            await session.execute(
                select(Request.reference, Request.id)
                .join(RequestEvent, RequestEvent.request_id == Request.id)
                .where(RequestEvent.activity_id == _draft_key(draft_id))
            )
        ).first()
    return Submitted(reference=found[0], request_id=found[1]) if found else None


@dataclass(frozen=True)
class RequestLine:
    reference: str
    status: str
    ball: tuple[str, ...]
    bevoegdheid: str
    gemeente: str
    basisteam: str
    report_type: str
    created: dt.datetime
    desired_date: dt.date
    # Due time of the current state (aware UTC), None when the state has no deadline.
    due: dt.datetime | None = None
    # Set by the sturingsoverleg (hoog / normaal / laag), None until then.
    priority: str | None = None


async def list_requests(
    database: Database, requester_aad_id: str | None = None
) -> list[RequestLine]:
    async with database.sessions() as session:
        rows = (
            await repositories.requests_of(session, requester_aad_id)
            if requester_aad_id is not None
            else await repositories.all_requests(session)
        )
    return await _lines(database, rows)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC; everything past storage works with aware times."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


async def _lines(database: Database, rows: list[Request]) -> list[RequestLine]:
    """Requests as people read them: names instead of codes, and whose move it is."""
    catalogue = await load_catalogue(database)
    titles = {b.id: b.title for b in catalogue.bevoegdheden}
    gemeenten = {o.value: o.label for o in catalogue.gemeenten}
    teams = {
        o.value: o.label for options in catalogue.basisteams_by_gemeente.values() for o in options
    }
    return [
        RequestLine(
            reference=row.reference,
            status=row.status,
            ball=tuple(sorted(holds_the_ball(RequestStatus(row.status)))),
            bevoegdheid=titles.get(row.bevoegdheid_id, row.bevoegdheid_id),
            gemeente=gemeenten.get(row.gemeente_id, row.gemeente_id),
            basisteam=teams.get(row.basisteam_id, row.basisteam_id),
            report_type=row.report_type,
            created=row.created_at,
            desired_date=row.desired_date,
            due=_aware(row.due_at),
            priority=row.priority,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class AuditLine:
    at: dt.datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    reason: str | None


@dataclass(frozen=True)
class RequestDetail:
    line: RequestLine
    subject: str
    criminal_investigation: str
    boa_route_possible: bool
    boa_route_reason: str | None
    answers: dict[str, Any]
    requester: str
    audit: list[AuditLine]


async def show_request(database: Database, reference: str) -> RequestDetail | None:
    """One request with its audit trail, for operators (`python -m bot requests show`)."""
    async with database.sessions() as session:
        row = await repositories.request_by_reference(session, reference)
        if row is None:
            return None
        events = await repositories.events_of(session, row.id)
    [line] = await _lines(database, [row])
    return RequestDetail(
        line=line,
        subject=row.subject,
        criminal_investigation=row.criminal_investigation,
        boa_route_possible=row.boa_route_possible,
        boa_route_reason=row.boa_route_reason,
        answers=dict(row.answers),
        requester=row.requester_name,
        audit=[
            AuditLine(e.at, e.actor_name, e.action, e.from_status, e.to_status, e.reason)
            for e in events
        ],
    )
