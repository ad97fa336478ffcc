"""The sturingsoverleg agenda (digest) of a basisteam: what it lists, the card, and replacing
the posted card after a change.

Refresh does not work in channels, so the card in the team channel is replaced explicitly: every
use case that changes a request of the team (`bot.lifecycle`, `bot.sturingsoverleg`) calls
`queue_digest_update` in its own unit of work, which writes an outbox row of kind "update" that
replaces the latest digest message in place. The card posted before the meeting
(`bot.reminders`) and its replacements are the same view of the database.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.intake import Catalogue
from bot.views import due_day
from bot.workflow import RequestStatus, holds_the_ball
from cards.render import render, text
from storage.models import Basisteam, Digest, Notification, Request

PRIORITIES = ("hoog", "normaal", "laag")
PRIORITY_VERB = "prioriteren"
# Open work the team steers on; concept is the gemeente's draft, the rest is finished.
OPEN_STATES = frozenset(
    {
        RequestStatus.INGEDIEND,
        RequestStatus.AANVULLING_GEVRAAGD,
        RequestStatus.GEACCEPTEERD,
        RequestStatus.AFSTEMMING_ZAAKOFFICIER,
        RequestStatus.IN_OPSTELLING,
        RequestStatus.KWALITEITSCONTROLE,
        RequestStatus.OM_TOETSING,
    }
)
# Accepted work whose priority the sturingsoverleg sets (and may change later).
PRIORITY_STATES = OPEN_STATES - {RequestStatus.INGEDIEND, RequestStatus.AANVULLING_GEVRAAGD}
# A card per section keeps the digest readable and under Teams' card size; the rest is counted.
SECTION_LIMIT = 15
# The digest of a meeting that is this long past is no longer updated after a change.
DIGEST_UPDATE_WINDOW = dt.timedelta(days=7)
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def conversation_id_of(reference: dict[str, Any]) -> str:
    return str((reference.get("conversation") or {}).get("id", ""))


@dataclass
class DigestItem:
    reference: str
    version: int
    bevoegdheid: str
    gemeente: str
    status: str
    due: str
    overdue: bool
    ball: str
    priority: str

    @property
    def line(self) -> str:
        return f"**{self.reference}** · {self.bevoegdheid} · {self.gemeente}"

    @property
    def detail(self) -> str:
        parts = [self.status, f"termijn {self.due}" + (" (verstreken)" if self.overdue else "")]
        parts.append(f"bal bij {self.ball}")
        if self.priority:
            parts.append(f"prioriteit {self.priority}")
        return " · ".join(parts)


@dataclass
class DigestSections:
    decisions: list[DigestItem] = field(default_factory=list)
    to_prioritise: list[DigestItem] = field(default_factory=list)
    overdue: list[DigestItem] = field(default_factory=list)
    running: list[DigestItem] = field(default_factory=list)


def ball_label(status: RequestStatus) -> str:
    """Who holds the ball, as the team says it: "coördinator", "gemeente", …"""
    roles = holds_the_ball(status)
    return ", ".join(sorted(text(f"ball_{role.value}") for role in roles)) or "-"


async def open_requests(session: AsyncSession, basisteam_id: str) -> list[Request]:
    statement = (
        select(Request)
        .where(
            Request.basisteam_id == basisteam_id,
            Request.status.in_([s.value for s in OPEN_STATES]),
        )
        .order_by(Request.due_at.is_(None), Request.due_at, Request.id)
    )
    return list((await session.execute(statement)).scalars())


def sections(
    requests: list[Request], catalogue: Catalogue, now: dt.datetime, tz: zoneinfo.ZoneInfo
) -> DigestSections:
    """Each request once, in the first section that asks something of the meeting: a decision
    (ingediend), a priority, an overdue due date, or else just running."""
    titles = {b.id: b.title for b in catalogue.bevoegdheden}
    gemeenten = {o.value: o.label for o in catalogue.gemeenten}
    result = DigestSections()
    for request in requests:
        status = RequestStatus(request.status)
        due = _aware(request.due_at) if request.due_at is not None else None
        item = DigestItem(
            reference=request.reference,
            version=request.version,
            bevoegdheid=titles.get(request.bevoegdheid_id, request.bevoegdheid_id),
            gemeente=gemeenten.get(request.gemeente_id, request.gemeente_id),
            status=text(f"status_{status.value}"),
            due=due_day(due, tz) if due else "-",
            overdue=due is not None and due < now,
            ball=ball_label(status),
            priority=text(f"priority_{request.priority}") if request.priority else "",
        )
        if status is RequestStatus.INGEDIEND:
            result.decisions.append(item)
        elif status in PRIORITY_STATES and not request.priority:
            result.to_prioritise.append(item)
        elif item.overdue:
            result.overdue.append(item)
        else:
            result.running.append(item)
    return result


def _section(title: str, items: list[DigestItem], *, buttons: bool = False) -> dict[str, Any]:
    return {
        "title": title,
        "count": len(items),
        "items": items[:SECTION_LIMIT],
        "more": max(0, len(items) - SECTION_LIMIT),
        "buttons": buttons,
    }


async def digest_card(
    session: AsyncSession,
    basisteam_id: str,
    *,
    meeting_at: dt.datetime,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    late_planned_at: dt.datetime | None = None,
) -> dict[str, Any]:
    team = await session.get(Basisteam, basisteam_id)
    found = sections(await open_requests(session, basisteam_id), catalogue, now, tz)
    local = meeting_at.astimezone(tz)
    return render(
        "digest",
        basisteam=team.name if team else basisteam_id,
        meeting=f"{text(f'weekday_{local.weekday()}')} {local:%d-%m-%Y} om {local:%H:%M}",
        late=(
            text("digest_late", planned=late_planned_at.astimezone(tz).strftime("%d-%m-%Y %H:%M"))
            if late_planned_at
            else ""
        ),
        sections=[
            _section(text("digest_decisions"), found.decisions),
            _section(text("digest_to_prioritise"), found.to_prioritise, buttons=True),
            _section(text("digest_overdue"), found.overdue),
            _section(text("digest_running"), found.running),
        ],
        priorities=[{"value": p, "title": text(f"priority_{p}").capitalize()} for p in PRIORITIES],
        verb=PRIORITY_VERB,
        updated=local_now(now, tz),
    )


def local_now(now: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    return now.astimezone(tz).strftime("%d-%m-%Y %H:%M")


def card_message(card: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "type": "message",
        "summary": summary,
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}],
    }


async def current_digest(
    session: AsyncSession, basisteam_id: str, now: dt.datetime
) -> Digest | None:
    """The latest digest of the team, if its meeting is recent enough to still be in use."""
    return await session.scalar(
        select(Digest)
        .where(
            Digest.basisteam_id == basisteam_id,
            Digest.meeting_at >= now - DIGEST_UPDATE_WINDOW,
        )
        .order_by(Digest.meeting_at.desc())
        .limit(1)
    )


async def digest_view(
    session: AsyncSession,
    digest: Digest | None,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
) -> dict[str, Any] | None:
    if digest is None:
        return None
    return await digest_card(
        session,
        digest.basisteam_id,
        meeting_at=_aware(digest.meeting_at),
        now=now,
        tz=tz,
        catalogue=catalogue,
    )


async def queue_digest_update(
    session: AsyncSession,
    basisteam_id: str,
    *,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    catalogue: Catalogue,
    tag: str,
) -> dict[str, Any] | None:
    """Replace the team's current digest card in its channel with the database as it now is
    (within the caller's unit of work). `tag` makes the outbox key unique per change. Returns
    the new card, or None when the team has no current digest."""
    digest = await current_digest(session, basisteam_id, now)
    card = await digest_view(session, digest, now, tz, catalogue)
    if digest is None or card is None:
        return None
    team = await session.get(Basisteam, basisteam_id)
    session.add(
        Notification(
            key=f"{digest.notification_key}:update:{tag}"[:200],
            kind="update",
            request_id=None,
            recipient=f"conversation:{conversation_id_of(digest.conversation)}",
            recipient_aad_id=None,
            conversation=digest.conversation,
            activity=card_message(
                card, text("digest_summary", basisteam=team.name if team else basisteam_id)
            ),
            replaces_key=digest.notification_key,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return card
