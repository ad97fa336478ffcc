"""Use cases of the sturingsoverleg: linking a team channel and setting a priority.

Like `bot.lifecycle`: each change is one unit of work that writes its own outbox rows, the actor
is who Teams says acted (never card data), and a replayed Teams activity changes nothing (its id
is unique in the audit trail). The agenda card is `bot.digest`; the scheduled side (posting
digests, nudges, escalations) is `bot.reminders`.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import lifecycle
from bot.digest import (
    PRIORITIES,
    PRIORITY_STATES,
    conversation_id_of,
    current_digest,
    digest_view,
)
from bot.intake import Catalogue
from bot.privacy import redact_bsn
from bot.registry import RegistryRole
from bot.sturing import MeetingRhythm, next_digest_slot
from bot.textnorm import normalise
from bot.workflow import RequestStatus, Role
from cards.render import text
from storage import experts as links
from storage import repositories
from storage.db import Database
from storage.models import Basisteam, ChannelLink, Request, RequestEvent

log = logging.getLogger(__name__)

PURPOSE = "sturingsoverleg"
PRIORITY_ACTION = "prioriteren"  # the audit trail's action for a priority decision
TEAM_MATCH_CUTOFF = 85


# --- linking a channel ------------------------------------------------------------------------


class LinkOutcome(StrEnum):
    LINKED = "linked"
    RELINKED = "relinked"
    UNLINKED = "unlinked"
    NOT_LINKED = "not_linked"
    NOT_ALLOWED = "not_allowed"
    UNKNOWN_TEAM = "unknown_team"
    AMBIGUOUS_TEAM = "ambiguous_team"


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    basisteams: tuple[str, ...] = ()  # names of the teams linked or unlinked (or candidates)
    rhythm: MeetingRhythm | None = None
    next_meeting: dt.datetime | None = None


async def match_basisteams(session: AsyncSession, typed: str) -> list[Basisteam]:
    """The basisteams a person means by `typed`: exact name or id first, then a name that
    contains it, then a close spelling ("Heuvelrg"). More than one means: ask which."""
    teams = list((await session.execute(select(Basisteam).order_by(Basisteam.name))).scalars())
    wanted = normalise(typed).removeprefix("basisteam ").strip()
    if not wanted:
        return []
    exact = [
        t
        for t in teams
        if wanted
        in (normalise(t.name), normalise(t.name).removeprefix("basisteam "), normalise(t.id))
    ]
    if exact:
        return exact
    containing = [t for t in teams if wanted in normalise(t.name)]
    if containing:
        return containing
    names = {t.id: normalise(t.name) for t in teams}
    close = process.extract(wanted, names, scorer=fuzz.WRatio, score_cutoff=TEAM_MATCH_CUTOFF)
    by_id = {t.id: t for t in teams}
    return [by_id[key] for _, _, key in close]


async def _may_steer(session: AsyncSession, actor: str, basisteam_id: str) -> bool:
    """Coördinatoren of the team and beheerders link and unlink its sturingsoverleg."""
    if not actor:
        return False
    if await repositories.has_role(session, actor, RegistryRole.BEHEERDER.value):
        return True
    coordinators = await repositories.people_with_role(
        session, RegistryRole.COORDINATOR.value, basisteam_id
    )
    return any(person.aad_object_id == actor for person in coordinators)


async def link(
    database: Database,
    *,
    actor: str,
    typed_team: str,
    rhythm: MeetingRhythm | None,
    conversation: dict[str, Any],
    service_url: str,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    digest_lead: dt.timedelta,
) -> LinkResult:
    """Make this channel the sturingsoverleg channel of one basisteam. A team has one such
    channel (linking another moves it); a channel may serve several teams. Without a rhythm
    typed, a relink of the same channel keeps the rhythm it had."""

    async def work(session: AsyncSession) -> LinkResult:
        found = await match_basisteams(session, typed_team)
        if not found:
            return LinkResult(LinkOutcome.UNKNOWN_TEAM)
        if len(found) > 1:
            return LinkResult(LinkOutcome.AMBIGUOUS_TEAM, tuple(t.name for t in found[:5]))
        team = found[0]
        if not await _may_steer(session, actor, team.id):
            return LinkResult(LinkOutcome.NOT_ALLOWED, (team.name,))
        kept = rhythm
        if kept is None:
            earlier = await links.channel_link(session, PURPOSE, team.id)
            if (
                earlier is not None
                and earlier.meeting_rhythm
                and conversation_id_of(earlier.conversation) == conversation_id_of(conversation)
            ):
                kept = MeetingRhythm.from_text(earlier.meeting_rhythm)
        replaced = await links.replace_channel_link(
            session,
            purpose=PURPOSE,
            basisteam_id=team.id,
            conversation=conversation,
            service_url=service_url,
            linked_by=actor,
            now=now,
        )
        await session.flush()
        await session.execute(
            update(ChannelLink)
            .where(ChannelLink.purpose == PURPOSE, ChannelLink.basisteam_id == team.id)
            .values(meeting_rhythm=kept.to_text() if kept else None)
            .execution_options(synchronize_session=False)
        )
        log.info("sturingsoverleg of %s linked by %s", team.id, actor)
        return LinkResult(
            LinkOutcome.RELINKED if replaced else LinkOutcome.LINKED,
            (team.name,),
            kept,
            next_digest_slot(kept, now, digest_lead, tz) if kept else None,
        )

    return await database.transaction(work)


async def unlink(
    database: Database, *, actor: str, conversation_id: str, typed_team: str | None
) -> LinkResult:
    """Stop posting for the named team (or every team this channel serves) in this channel."""

    async def work(session: AsyncSession) -> LinkResult:
        here = [
            row
            for row in (
                await session.execute(select(ChannelLink).where(ChannelLink.purpose == PURPOSE))
            ).scalars()
            if conversation_id_of(row.conversation) == conversation_id
        ]
        if typed_team:
            wanted = {t.id for t in await match_basisteams(session, typed_team)}
            here = [row for row in here if row.basisteam_id in wanted]
        if not here:
            return LinkResult(LinkOutcome.NOT_LINKED)
        names = {t.id: t.name for t in (await session.execute(select(Basisteam))).scalars()}
        allowed = [
            row
            for row in here
            if row.basisteam_id and await _may_steer(session, actor, row.basisteam_id)
        ]
        if not allowed:
            return LinkResult(LinkOutcome.NOT_ALLOWED)
        for row in allowed:
            await session.delete(row)
        log.info("sturingsoverleg unlinked by %s: %d team(s)", actor, len(allowed))
        return LinkResult(
            LinkOutcome.UNLINKED,
            tuple(names.get(row.basisteam_id or "", row.basisteam_id or "") for row in allowed),
        )

    return await database.transaction(work)


# --- setting a priority from the digest card ---------------------------------------------------


class PriorityOutcome(StrEnum):
    DONE = "done"
    UNCHANGED = "unchanged"
    NOT_FOUND = "not_found"
    NO_ROLE = "no_role"
    CLOSED = "closed"
    REPLAYED = "replayed"
    CONFLICT = "conflict"
    UNKNOWN_PRIORITY = "unknown_priority"


@dataclass(frozen=True)
class PriorityResult:
    outcome: PriorityOutcome
    message: str
    # The digest card as it now stands, for the clicker's copy; None leaves the card as it is.
    card: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.outcome is PriorityOutcome.DONE


class _Abort(Exception):
    def __init__(self, result: PriorityResult) -> None:
        super().__init__(result.outcome)
        self.result = result


async def set_priority(
    database: Database,
    *,
    reference: str,
    priority: Any,
    actor: lifecycle.Actor,
    activity_id: str | None,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
) -> PriorityResult:
    """Record the sturingsoverleg's priority for a request. The gemeente (aanvrager and
    aanspreekpunten) is told, every request card is updated, and so is the digest card in the
    team channel: refresh does not work in channels, so it is replaced explicitly."""
    if priority not in PRIORITIES:
        return PriorityResult(PriorityOutcome.UNKNOWN_PRIORITY, text("priority_unknown"))
    context = lifecycle.Context(catalogue, tz)

    async def work(session: AsyncSession) -> PriorityResult:
        request = await session.scalar(select(Request).where(Request.reference == reference))
        if request is None:
            raise _Abort(
                PriorityResult(
                    PriorityOutcome.NOT_FOUND,
                    text("act_not_found", reference=redact_bsn(reference)),
                )
            )
        roles = await lifecycle.roles_of(session, request, actor.aad_object_id)
        if Role.COORDINATOR not in roles:
            raise _Abort(
                PriorityResult(
                    PriorityOutcome.NO_ROLE, text("priority_no_role", reference=reference)
                )
            )
        digest = await current_digest(session, request.basisteam_id, now)
        if RequestStatus(request.status) not in PRIORITY_STATES:
            raise _Abort(
                PriorityResult(
                    PriorityOutcome.CLOSED,
                    text(
                        "priority_not_open",
                        reference=reference,
                        status=text(f"status_{request.status}"),
                    ),
                    await digest_view(session, digest, now, tz, catalogue),
                )
            )
        label = text(f"priority_{priority}")
        if request.priority == priority:
            raise _Abort(
                PriorityResult(
                    PriorityOutcome.UNCHANGED,
                    text("priority_unchanged", reference=reference, priority=label),
                    await digest_view(session, digest, now, tz, catalogue),
                )
            )
        session.add(
            RequestEvent(
                request_id=request.id,
                at=now,
                actor_aad_id=actor.aad_object_id,
                actor_name=actor.name,
                action=PRIORITY_ACTION,
                from_status=request.status,
                to_status=request.status,
                reason=priority,
                activity_id=activity_id,
            )
        )
        try:
            await session.flush()
        except IntegrityError:
            raise _Abort(
                PriorityResult(PriorityOutcome.REPLAYED, text("act_replayed", reference=reference))
            ) from None
        changed = await session.execute(
            update(Request)
            .where(Request.id == request.id, Request.version == request.version)
            .values(priority=priority, version=request.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            # Someone acted on the request in between: nothing of ours is committed.
            raise _Abort(
                PriorityResult(
                    PriorityOutcome.CONFLICT, text("priority_conflict", reference=reference)
                )
            )
        await session.refresh(request)
        team = await session.get(Basisteam, request.basisteam_id)
        labels = {
            "reference": reference,
            "priority": label,
            "actor": actor.name,
            "basisteam": team.name if team else request.basisteam_id,
        }

        def notice(party: lifecycle.Party) -> str | None:
            if party.aad_object_id == actor.aad_object_id:
                return None
            if party.roles & {Role.AANVRAGER, Role.GEMEENTELIJK_AANSPREEKPUNT}:
                return text("notice_priority", **labels)
            return None

        # The cards, the notices and the replaced agenda in the channel (`bot.digest`).
        await lifecycle.queue_cards_and_notices(session, request, context, now, notice=notice)
        card = await digest_view(session, digest, now, tz, catalogue)
        log.info("priority of %s set by %s", reference, actor.aad_object_id)
        return PriorityResult(PriorityOutcome.DONE, text("priority_done", **labels), card)

    try:
        return await database.transaction(work)
    except _Abort as abort:
        return abort.result
