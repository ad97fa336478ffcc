"""The scheduled side of the sturingsoverleg: digests before meetings, nudges before due dates,
escalations after them. Everything due is derived from the database (due dates, meeting rhythms,
what was already sent), never from in-memory jobs, so the scheduler only has to tick.

Never lost, never doubled, also with several replicas on one PostgreSQL:

- a digest is claimed by inserting its `digests` row (unique per basisteam and meeting);
- a nudge or escalation is claimed by a conditional update of the request
  (`… SET nudged_at = :now WHERE id = :id AND version = :v AND nudged_at IS NULL`); a replica
  that loses the race updates no row (PostgreSQL re-checks the condition after the winner
  commits) and sends nothing;
- the claim and the outbox rows are one transaction, and the outbox delivers each row once.

A bot that was down over a due time finds the work still unclaimed when it comes back and sends
it then, with a line saying it is late. Only the latest missed digest of a team is sent: last
week's agenda is of no use next to this week's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.deadlines import WorkingCalendar
from bot.digest import ball_label, card_message, conversation_id_of, digest_card
from bot.intake import Catalogue
from bot.sturing import MeetingRhythm, latest_digest_slot, nudge_at
from bot.sturingsoverleg import PURPOSE
from bot.views import due_day
from bot.workflow import RequestStatus, Role, holds_the_ball
from cards.render import text
from storage.db import Database
from storage.models import Basisteam, ChannelLink, Digest, Notification, Request

log = logging.getLogger(__name__)

# States whose due date gets a nudge and an escalation. An unanswered aanvulling has its own
# reminder and closes itself at its due date (`lifecycle.sweep_aanvullingen`).
WATCHED_STATES = (
    RequestStatus.INGEDIEND,
    RequestStatus.GEACCEPTEERD,
    RequestStatus.AFSTEMMING_ZAAKOFFICIER,
    RequestStatus.IN_OPSTELLING,
    RequestStatus.KWALITEITSCONTROLE,
    RequestStatus.OM_TOETSING,
)
_WATCHED = [s.value for s in WATCHED_STATES]


@dataclass(frozen=True)
class ReminderPolicy:
    digest_lead: dt.timedelta
    nudge_working_days: int
    # Work sent more than this after its planned time says it is late.
    late_after: dt.timedelta
    calendar: WorkingCalendar


@dataclass
class SweepReport:
    digests: list[str] = field(default_factory=list)  # "<basisteam>@<meeting iso>"
    nudged: list[str] = field(default_factory=list)  # request references
    escalated: list[str] = field(default_factory=list)  # request references
    late: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.digests or self.nudged or self.escalated)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _insert_for(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _short_hash(parts: list[str]) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _message(body: str) -> dict[str, Any]:
    return {"type": "message", "text": body, "textFormat": "markdown"}


def _late_line(planned: dt.datetime, now: dt.datetime, policy: ReminderPolicy, tz: Any) -> str:
    if now - planned <= policy.late_after:
        return ""
    return text("reminder_late", planned=planned.astimezone(tz).strftime("%d-%m-%Y %H:%M"))


async def sweep(
    database: Database,
    *,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    policy: ReminderPolicy,
) -> SweepReport:
    """Send every digest, nudge and escalation that is due and not yet sent."""
    report = SweepReport()
    await _digests(database, now, tz, catalogue, policy, report)
    await _nudges(database, now, tz, catalogue, policy, report)
    await _escalations(database, now, tz, catalogue, policy, report)
    return report


# --- digests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueDigest:
    """The agenda of one team's meeting, due and not yet posted."""

    basisteam_id: str
    conversation: dict[str, Any]
    meeting: dt.datetime
    planned: dt.datetime


async def due_digests(
    session: AsyncSession, now: dt.datetime, tz: zoneinfo.ZoneInfo, policy: ReminderPolicy
) -> list[DueDigest]:
    """Per linked team with a rhythm, the latest meeting whose agenda is due by `now`, unless
    its `digests` row exists already.

    Reading the sent ones first spares every tick a write transaction per linked team; the
    insert in `_digests` stays the claim, so a replica that posts in between still wins once.
    """
    linked = list(
        (
            await session.execute(
                select(ChannelLink).where(
                    ChannelLink.purpose == PURPOSE,
                    ChannelLink.meeting_rhythm.is_not(None),
                    ChannelLink.basisteam_id.is_not(None),
                )
            )
        ).scalars()
    )
    candidates: list[DueDigest] = []
    for link in linked:
        assert link.basisteam_id is not None and link.meeting_rhythm is not None
        try:
            rhythm = MeetingRhythm.from_text(link.meeting_rhythm)
        except ValueError:
            log.warning("channel link %s has an unreadable meeting rhythm", link.id)
            continue
        meeting = latest_digest_slot(rhythm, now, policy.digest_lead, tz)
        planned = meeting - policy.digest_lead
        if planned < _aware(link.linked_at):
            continue  # that meeting's agenda was due before the channel was linked
        candidates.append(DueDigest(link.basisteam_id, dict(link.conversation), meeting, planned))
    if not candidates:
        return []
    sent = {
        (basisteam_id, _aware(meeting_at))
        for basisteam_id, meeting_at in await session.execute(
            select(Digest.basisteam_id, Digest.meeting_at).where(
                Digest.basisteam_id.in_({c.basisteam_id for c in candidates}),
                Digest.meeting_at >= min(c.meeting for c in candidates),
            )
        )
    }
    return [c for c in candidates if (c.basisteam_id, c.meeting) not in sent]


async def _digests(
    database: Database,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    policy: ReminderPolicy,
    report: SweepReport,
) -> None:
    async with database.sessions() as session:
        due = await due_digests(session, now, tz, policy)
    for item in due:
        basisteam_id, reference = item.basisteam_id, item.conversation
        meeting, planned = item.meeting, item.planned

        async def work(
            session: AsyncSession,
            basisteam_id: str = basisteam_id,
            reference: dict[str, Any] = reference,
            meeting: dt.datetime = meeting,
            planned: dt.datetime = planned,
        ) -> bool:
            key = f"digest:{basisteam_id}:{meeting.isoformat()}"
            late = bool(_late_line(planned, now, policy, tz))
            claimed = await session.execute(
                _insert_for(session)(Digest)
                .values(
                    basisteam_id=basisteam_id,
                    meeting_at=meeting,
                    conversation=reference,
                    notification_key=key,
                    late=late,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=[Digest.basisteam_id, Digest.meeting_at])
                .returning(Digest.id)
            )
            if claimed.first() is None:
                return False  # sent already, by us earlier or by another replica
            card = await digest_card(
                session,
                basisteam_id,
                meeting_at=meeting,
                now=now,
                tz=tz,
                catalogue=catalogue,
                late_planned_at=planned if late else None,
            )
            team = await session.get(Basisteam, basisteam_id)
            session.add(
                Notification(
                    key=key,
                    kind="notice",
                    request_id=None,
                    recipient=f"conversation:{conversation_id_of(reference)}",
                    recipient_aad_id=None,
                    conversation=reference,
                    activity=card_message(
                        card, text("digest_summary", basisteam=team.name if team else basisteam_id)
                    ),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            return True

        if await database.transaction(work):
            report.digests.append(f"{basisteam_id}@{meeting.isoformat()}")
            report.late += bool(_late_line(planned, now, policy, tz))


# --- nudges -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueRequest:
    """A request whose nudge or escalation is due: `version` guards the claim, `planned` is
    when it was due to go out (for the line saying it is late)."""

    id: int
    version: int
    due_at: dt.datetime
    planned: dt.datetime


def _line(key: str, request: Request, catalogue: Catalogue, tz: Any, **extra: str) -> str:
    titles = {b.id: b.title for b in catalogue.bevoegdheden}
    gemeenten = {o.value: o.label for o in catalogue.gemeenten}
    return "- " + text(
        key,
        reference=request.reference,
        bevoegdheid=titles.get(request.bevoegdheid_id, request.bevoegdheid_id),
        gemeente=gemeenten.get(request.gemeente_id, request.gemeente_id),
        status=text(f"status_{request.status}"),
        due=due_day(_aware(request.due_at), tz) if request.due_at else "-",
        **extra,
    )


def nudge_horizon(now: dt.datetime, policy: ReminderPolicy, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The start (UTC) of the first local due day whose nudge has not come by `now`.

    A nudge's time only moves later as the due day does, so every request whose nudge is due
    at `now` is due before this moment. Bounding the scan by it reads just those rows, instead
    of every request due in the next weeks (seven times as many in bench/reminder_scan.py, each
    then checked with `nudge_at`).
    """

    def planned(day: dt.date) -> dt.datetime:
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=tz)
        return nudge_at(noon, policy.nudge_working_days, tz, policy.calendar)

    day = now.astimezone(tz).date()
    while planned(day) > now:
        day -= dt.timedelta(days=1)
    while planned(day + dt.timedelta(days=1)) <= now:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)


async def due_nudges(
    session: AsyncSession, now: dt.datetime, tz: zoneinfo.ZoneInfo, policy: ReminderPolicy
) -> list[DueRequest]:
    """Watched requests whose nudge time (08:00, working days before the due date) has come,
    not yet nudged and not yet due."""
    rows = (
        await session.execute(
            select(Request.id, Request.version, Request.due_at)
            .where(
                Request.status.in_(_WATCHED),
                Request.due_at.is_not(None),
                Request.due_at > now,
                Request.due_at < nudge_horizon(now, policy, tz),
                Request.nudged_at.is_(None),
            )
            # One order for every replica, so their row locks cannot deadlock.
            .order_by(Request.id)
        )
    ).all()
    due: list[DueRequest] = []
    for request_id, version, stored_due in rows:
        assert stored_due is not None  # the query asks for due dates
        due_at = _aware(stored_due)
        planned = nudge_at(due_at, policy.nudge_working_days, tz, policy.calendar)
        if planned <= now:
            due.append(DueRequest(request_id, version, due_at, planned))
    return due


async def _nudges(
    database: Database,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    policy: ReminderPolicy,
    report: SweepReport,
) -> None:
    async with database.sessions() as session:
        due = await due_nudges(session, now, tz, policy)
    if not due:
        return

    async def work(session: AsyncSession) -> list[str]:
        context = lifecycle.Context(catalogue, tz)
        per_person: dict[str, list[tuple[Request, dt.datetime]]] = defaultdict(list)
        claimed: list[str] = []
        for item in due:
            won = await session.execute(
                update(Request)
                .where(
                    Request.id == item.id,
                    Request.version == item.version,
                    Request.nudged_at.is_(None),
                )
                .values(nudged_at=now)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another replica nudged it, or the request moved on
            request = await session.get(Request, item.id)
            assert request is not None
            claimed.append(request.reference)
            ball = holds_the_ball(RequestStatus(request.status))
            holders = [
                party
                for party in (await lifecycle.parties(session, request)).values()
                if party.roles & ball
            ]
            if not holders:
                log.warning("nudge for %s: nobody holds the ball", request.reference)
            for party in holders:
                per_person[party.aad_object_id].append((request, item.planned))
        for aad_object_id, items in per_person.items():
            items.sort(key=lambda pair: (pair[0].due_at or now, pair[0].reference))
            lines = [text("nudge_intro", count=len(items))]
            lines += [_line("nudge_line", request, context.catalogue, tz) for request, _ in items]
            late = _late_line(min(planned for _, planned in items), now, policy, tz)
            if late:
                lines.append(late)
                report.late += 1
            refs = [f"{r.id}v{r.version}" for r, _ in items]
            session.add(
                Notification(
                    key=f"nudge:{aad_object_id}:{_short_hash(refs)}",
                    kind="notice",
                    request_id=None,
                    recipient=f"person:{aad_object_id}",
                    recipient_aad_id=aad_object_id,
                    activity=_message("\n".join(lines)),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        return claimed

    report.nudged += await database.transaction(work)


# --- escalations ------------------------------------------------------------------------------


async def due_escalations(session: AsyncSession, now: dt.datetime) -> list[DueRequest]:
    """Watched requests past their due date whose passing was not escalated yet."""
    rows = (
        await session.execute(
            select(Request.id, Request.version, Request.due_at)
            .where(
                Request.status.in_(_WATCHED),
                Request.due_at.is_not(None),
                Request.due_at <= now,
                Request.escalated_at.is_(None),
            )
            .order_by(Request.id)
        )
    ).all()
    due: list[DueRequest] = []
    for request_id, version, stored_due in rows:
        assert stored_due is not None  # the query asks for due dates
        due_at = _aware(stored_due)
        due.append(DueRequest(request_id, version, due_at, due_at))
    return due


async def _escalations(
    database: Database,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    policy: ReminderPolicy,
    report: SweepReport,
) -> None:
    async with database.sessions() as session:
        rows = await due_escalations(session, now)
    if not rows:
        return

    async def work(session: AsyncSession) -> list[str]:
        per_team: dict[str, list[Request]] = defaultdict(list)
        for item in rows:
            won = await session.execute(
                update(Request)
                .where(
                    Request.id == item.id,
                    Request.version == item.version,
                    Request.escalated_at.is_(None),
                )
                .values(escalated_at=now)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                continue
            request = await session.get(Request, item.id)
            assert request is not None
            per_team[request.basisteam_id].append(request)
        claimed: list[str] = []
        for basisteam_id, requests in per_team.items():
            requests.sort(key=lambda r: (r.due_at or now, r.reference))
            claimed += [r.reference for r in requests]
            await _escalate(session, basisteam_id, requests, now, tz, catalogue, policy, report)
        return claimed

    report.escalated += await database.transaction(work)


async def _escalate(
    session: AsyncSession,
    basisteam_id: str,
    requests: list[Request],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    policy: ReminderPolicy,
    report: SweepReport,
) -> None:
    """One message per team channel with the newly overdue requests and the team's total; a
    team without a linked channel hears it in its coördinatoren's personal chats."""
    team = await session.get(Basisteam, basisteam_id)
    overdue = await session.scalar(
        select(func.count())
        .select_from(Request)
        .where(
            Request.basisteam_id == basisteam_id,
            Request.status.in_(_WATCHED),
            Request.due_at <= now,
        )
    )
    lines = [
        text("escalation_intro", basisteam=team.name if team else basisteam_id, overdue=overdue)
    ]
    lines += [
        _line("escalation_line", r, catalogue, tz, ball=ball_label(RequestStatus(r.status)))
        for r in requests
    ]
    late = _late_line(min(_aware(r.due_at) for r in requests if r.due_at), now, policy, tz)
    if late:
        lines.append(late)
        report.late += 1
    activity = _message("\n".join(lines))
    digest = _short_hash([f"{r.id}v{r.version}" for r in requests])
    channels = list(
        (
            await session.execute(
                select(ChannelLink).where(
                    ChannelLink.purpose == PURPOSE, ChannelLink.basisteam_id == basisteam_id
                )
            )
        ).scalars()
    )
    for link in channels:
        conversation_id = conversation_id_of(link.conversation)
        session.add(
            Notification(
                key=f"escalation:{basisteam_id}:{digest}:{conversation_id}"[:200],
                kind="notice",
                request_id=None,
                recipient=f"conversation:{conversation_id}",
                recipient_aad_id=None,
                conversation=link.conversation,
                activity=activity,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    if channels:
        return
    coordinators = {
        party.aad_object_id
        for request in requests
        for party in (await lifecycle.parties(session, request)).values()
        if Role.COORDINATOR in party.roles
    }
    if not coordinators:
        log.warning("escalation for basisteam %s: no channel and no coördinator", basisteam_id)
    for aad_object_id in sorted(coordinators):
        session.add(
            Notification(
                key=f"escalation:{basisteam_id}:{digest}:person:{aad_object_id}",
                kind="notice",
                request_id=None,
                recipient=f"person:{aad_object_id}",
                recipient_aad_id=aad_object_id,
                activity=activity,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
