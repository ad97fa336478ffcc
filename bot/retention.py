"""Retention: a closed request loses its free text and personal data once it has been closed for
the retention period (`RETENTION_DAYS`), keeping anonymous figures and a deletion record.

DOMAIN.md ("Privacy"): the bot "deletes free text of closed requests after a configurable
retention period while keeping anonymous figures for evaluation". Closed means a final status
(`workflow.TERMINAL`: afgerond, afgewezen, ingetrokken), counted from `requests.status_since`,
the moment the request entered it. What happens, table by table (`bot.privacy_report` classifies
every column and says the same):

- `requests`: subject, boa-route reason, quality feedback and the requester's name become the
  marker "[verwijderd]"; the free-text checklist answers too (choices, yes/no, dates and numbers
  stay: the checklist of the bevoegdheid says which answer is which, and an answer it cannot
  place is treated as free text). The requester's Entra id and conversation reference are
  cleared: the row no longer leads to a person, so it drops out of the requester's own list.
- `request_events`: reason and actor name become the marker, through the database function of
  migration 0008 on PostgreSQL (the application's role may not UPDATE the audit trail). The
  actor's Entra id, the action, the statuses and the time stay: the trail keeps who (a
  pseudonymous id that only the tenant's directory resolves), when and what, which is what an
  audit trail is for; names and words go.
- `outbox`: the request's rows are deleted. The outbox is a delivery queue, not an archive, and
  every row holds a message or card with the request's text. A row being delivered at that very
  moment ("sending") postpones the request to the next run; rows still pending after the
  retention period (a recipient Teams cannot reach) are deleted with the rest.
- `card_copies`: deleted; nothing updates those cards any more.
- `deletions`: one record per request, counts per column only (`storage.models.Deletion`).

What stays are the figures: status, bevoegdheid, gemeente, basisteam, report type, the
criminal-investigation and boa-route answers, priority, outcome, zaakofficier consulted, and the
dates and deadlines. Teams keeps its own copy of the messages in the chats; the tenant's Teams
retention policy governs those.

Every request is purged in a unit of work of its own: the row is claimed with `FOR UPDATE SKIP
LOCKED` on PostgreSQL, a request with a deletion record is never purged again, and the unique
request id of the deletion record stops a second replica that got past both. So the job is
idempotent and safe with several replicas; a run that stops halfway leaves whole requests done
or untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import case, delete, exists, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Bevoegdheid, ChecklistQuestion, QuestionType
from bot.workflow import TERMINAL
from storage import repositories
from storage.db import Database
from storage.grants import BLANK_EVENTS_FUNCTION
from storage.models import CardCopy, Deletion, Notification, Request, RequestEvent

log = logging.getLogger(__name__)

# What a removed text reads as afterwards, on a card refreshed in Teams and in `requests show`.
# Migration 0008 writes the same marker into the audit trail.
PURGED = "[verwijderd]"
# The database function refuses shorter periods (migration 0008), so even a compromised
# application role cannot wipe the audit trail's reasons of recently closed requests.
MIN_RETENTION_DAYS = 30
CLOSED = tuple(sorted(status.value for status in TERMINAL))
# An outbox row a dispatcher is delivering right now; its request waits for the next run.
_SENDING = "sending"
# The database function's own refusal (RAISE EXCEPTION): its clock disagrees with ours.
_RAISED = "P0001"


@dataclass(frozen=True)
class PurgedRequest:
    reference: str
    closed_at: dt.datetime
    # "table.column" (or "table" for deleted rows) -> how many values were removed.
    removed: dict[str, int]


@dataclass
class PurgeReport:
    cutoff: dt.datetime
    retention: dt.timedelta
    dry_run: bool = False
    purged: list[PurgedRequest] = field(default_factory=list)
    # Due, but a notification of it was being delivered or the database's clock was behind.
    postponed: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for request in self.purged:
            for name, count in request.removed.items():
                totals[name] = totals.get(name, 0) + count
        return dict(sorted(totals.items()))


class _Postponed(Exception):
    """Leave this request's unit of work without writing anything; the next run tries again."""


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _is_figure(question: ChecklistQuestion | None, value: Any) -> bool:
    """Whether a stored checklist answer is a figure (a choice, yes/no, date or number) rather
    than words someone typed. Without its question only a yes/no is recognisably one."""
    if question is None or question.type is QuestionType.YES_NO:
        return isinstance(value, bool)
    if question.type is QuestionType.CHOICE:
        return isinstance(value, str) and value in {choice.value for choice in question.choices}
    if question.type is QuestionType.DATE:
        if not isinstance(value, str) or len(value) != len("2026-01-31"):
            return False
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    if question.type is QuestionType.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False  # text and long_text


def scrub_answers(
    answers: Mapping[str, Any], checklist: Sequence[ChecklistQuestion] | None
) -> tuple[dict[str, Any], int]:
    """The checklist answers with every free-text value replaced by the marker, and how many
    were replaced. `checklist` is the bevoegdheid's (None when it is no longer in the store:
    then only yes/no answers are kept)."""
    questions = {question.id: question for question in checklist or ()}
    kept: dict[str, Any] = {}
    removed = 0
    for key, value in answers.items():
        if value is None or value in ("", PURGED) or _is_figure(questions.get(key), value):
            kept[key] = value
        else:
            kept[key] = PURGED
            removed += 1
    return kept, removed


def _has_text(value: str | None) -> bool:
    return bool(value) and value != PURGED


async def _checklists(database: Database) -> dict[str, list[ChecklistQuestion]]:
    async with database.sessions() as session:
        entries = await repositories.knowledge_of_kind(session, "bevoegdheid")
    checklists: dict[str, list[ChecklistQuestion]] = {}
    for entry in entries:
        try:
            bevoegdheid = Bevoegdheid.model_validate(entry.data)
        except ValidationError:
            # Content of an older shape: its answers are treated as unknown (free text).
            log.warning("retention: bevoegdheid %s does not validate; answers unplaced", entry.id)
            continue
        checklists[bevoegdheid.id] = list(bevoegdheid.checklist)
    return checklists


def _due(cutoff: dt.datetime) -> list[Any]:
    return [Request.status.in_(CLOSED), Request.status_since <= cutoff]


async def _candidates(database: Database, cutoff: dt.datetime) -> list[int]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(Request.id)
            .where(*_due(cutoff), ~exists().where(Deletion.request_id == Request.id))
            .order_by(Request.id)
        )
        return list(rows.scalars())


async def purge(
    database: Database,
    *,
    now: dt.datetime,
    retention: dt.timedelta,
    dry_run: bool = False,
) -> PurgeReport:
    """Purge every request closed at least `retention` before `now` and not purged yet.

    With `dry_run` nothing is written: the report says what a real run would remove now."""
    if retention < dt.timedelta(days=MIN_RETENTION_DAYS):
        raise ValueError(f"retention must be at least {MIN_RETENTION_DAYS} days")
    report = PurgeReport(cutoff=now - retention, retention=retention, dry_run=dry_run)
    checklists = await _checklists(database)
    for request_id in await _candidates(database, report.cutoff):

        async def work(session: AsyncSession, request_id: int = request_id) -> PurgedRequest | None:
            return await _purge_one(
                session, request_id, report=report, now=now, checklists=checklists
            )

        try:
            if dry_run:
                async with database.sessions() as session:
                    done = await work(session)  # read only; closing the session rolls back
            else:
                done = await database.transaction(work)
        except _Postponed as postponed:
            report.postponed.append(str(postponed))
            continue
        except IntegrityError:
            # Another replica wrote the deletion record first: it purged this request.
            log.info("retention: request id %s was purged by another process", request_id)
            continue
        if done is not None:
            report.purged.append(done)
            if not dry_run:
                log.info("retention: request %s purged", done.reference)
    return report


async def _purge_one(
    session: AsyncSession,
    request_id: int,
    *,
    report: PurgeReport,
    now: dt.datetime,
    checklists: Mapping[str, Sequence[ChecklistQuestion]],
) -> PurgedRequest | None:
    claim = select(Request).where(Request.id == request_id, *_due(report.cutoff))
    if not report.dry_run:
        # Another replica holding the row is purging it: leave it (SQLite has one writer).
        claim = claim.with_for_update(skip_locked=True)
    request = (await session.execute(claim)).scalar_one_or_none()
    if request is None:
        return None
    if await session.scalar(select(Deletion.id).where(Deletion.request_id == request_id)):
        return None
    if await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.request_id == request_id, Notification.status == _SENDING)
    ):
        raise _Postponed(request.reference)

    answers, answers_removed = scrub_answers(
        dict(request.answers), checklists.get(request.bevoegdheid_id)
    )
    events = (
        await session.execute(
            select(RequestEvent.reason, RequestEvent.actor_name).where(
                RequestEvent.request_id == request_id
            )
        )
    ).all()
    outbox_rows = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.request_id == request_id)
    )
    card_copies = await session.scalar(
        select(func.count()).select_from(CardCopy).where(CardCopy.request_id == request_id)
    )
    counts = {
        "requests.subject": int(_has_text(request.subject)),
        "requests.answers": answers_removed,
        "requests.boa_route_reason": int(_has_text(request.boa_route_reason)),
        "requests.quality_feedback": int(_has_text(request.quality_feedback)),
        "requests.requester_name": int(_has_text(request.requester_name)),
        "requests.requester_aad_id": int(bool(request.requester_aad_id)),
        "requests.requester_conversation": int(bool(request.requester_conversation)),
        "request_events.reason": sum(1 for event in events if _has_text(event.reason)),
        "request_events.actor_name": sum(1 for event in events if _has_text(event.actor_name)),
        "outbox": int(outbox_rows or 0),
        "card_copies": int(card_copies or 0),
    }
    purged = PurgedRequest(
        reference=request.reference,
        closed_at=_aware(request.status_since),
        removed={name: count for name, count in counts.items() if count},
    )
    if report.dry_run:
        return purged

    def blanked(value: str | None) -> str | None:
        return None if value is None else PURGED

    await session.execute(
        update(Request)
        .where(Request.id == request_id, *_due(report.cutoff))
        .values(
            subject=PURGED,
            answers=answers,
            boa_route_reason=blanked(request.boa_route_reason),
            quality_feedback=blanked(request.quality_feedback),
            requester_name=PURGED,
            requester_aad_id="",
            requester_conversation={},
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await _blank_events(session, request, report=report, now=now)
    await session.execute(
        delete(Notification).where(
            Notification.request_id == request_id, Notification.status != _SENDING
        )
    )
    if await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.request_id == request_id)
    ):
        # A dispatcher claimed a row between our check and our delete.
        raise _Postponed(request.reference)
    await session.execute(delete(CardCopy).where(CardCopy.request_id == request_id))
    session.add(
        Deletion(
            request_id=request_id,
            closed_at=purged.closed_at,
            retention_days=report.retention.days,
            removed=purged.removed,
            purged_at=now,
        )
    )
    await session.flush()  # a second replica's record fails here, on the unique request id
    return purged


async def _blank_events(
    session: AsyncSession, request: Request, *, report: PurgeReport, now: dt.datetime
) -> None:
    """Reason and actor name of the request's audit events become the marker. On PostgreSQL
    through the function of migration 0008: the application's role has no UPDATE on the audit
    trail, and the function checks the request is closed for the retention period by the
    database's own clock too. SQLite has no roles: a plain update."""
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(
            update(RequestEvent)
            .where(RequestEvent.request_id == request.id)
            .values(
                reason=case((RequestEvent.reason.is_(None), None), else_=PURGED),
                actor_name=PURGED,
            )
            .execution_options(synchronize_session=False)
        )
        return
    try:
        await session.execute(
            text(f"SELECT {BLANK_EVENTS_FUNCTION}(:request_id, :retention, :now)"),
            {"request_id": request.id, "retention": report.retention, "now": now},
        )
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != _RAISED:
            raise
        # Our clock is ahead of the database's: the request is not due by its clock yet.
        log.warning("retention: database refused request %s for now", request.reference)
        raise _Postponed(request.reference) from error
