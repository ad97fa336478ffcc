"""Queries for knowledge answers and the expert network: channel links, expert questions,
drafts and feedback. Nothing more than the use cases in `bot.experts` need."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelLink, ExpertQuestion, KnowledgeDraft


def _scope(purpose: str, basisteam_id: str | None) -> list[Any]:
    conditions: list[Any] = [ChannelLink.purpose == purpose]
    if basisteam_id is None:
        conditions.append(ChannelLink.basisteam_id.is_(None))
    else:
        conditions.append(ChannelLink.basisteam_id == basisteam_id)
    return conditions


async def channel_link(
    session: AsyncSession, purpose: str, basisteam_id: str | None = None
) -> ChannelLink | None:
    """The channel linked for a purpose (and basisteam); the newest wins should two beheerders
    have linked at the same moment."""
    statement = (
        select(ChannelLink)
        .where(*_scope(purpose, basisteam_id))
        .order_by(ChannelLink.linked_at.desc(), ChannelLink.id.desc())
        .limit(1)
    )
    return await session.scalar(statement)


async def replace_channel_link(
    session: AsyncSession,
    *,
    purpose: str,
    basisteam_id: str | None,
    conversation: dict[str, Any],
    service_url: str,
    linked_by: str,
    now: dt.datetime,
) -> bool:
    """Link the channel, replacing an earlier link for the same purpose; True when one existed."""
    removed = await remove_channel_link(session, purpose, basisteam_id)
    session.add(
        ChannelLink(
            purpose=purpose,
            basisteam_id=basisteam_id,
            conversation=conversation,
            service_url=service_url,
            linked_by=linked_by,
            linked_at=now,
        )
    )
    return removed


async def remove_channel_link(
    session: AsyncSession, purpose: str, basisteam_id: str | None = None
) -> bool:
    statement = delete(ChannelLink).where(*_scope(purpose, basisteam_id)).returning(ChannelLink.id)
    return bool((await session.execute(statement)).all())


async def open_questions_due(session: AsyncSession, now: dt.datetime) -> list[int]:
    """Open expert questions past their due date that were not nudged yet."""
    statement = select(ExpertQuestion.id).where(
        ExpertQuestion.status == "open",
        ExpertQuestion.due_at <= now,
        ExpertQuestion.nudged_at.is_(None),
    )
    return list((await session.execute(statement)).scalars())


async def draft_of_question(session: AsyncSession, question_id: int) -> KnowledgeDraft | None:
    return await session.scalar(
        select(KnowledgeDraft).where(KnowledgeDraft.expert_question_id == question_id)
    )
