"""Where each person can be reached (their personal chat), learnt from their turns.

Besides the chat, the outbox needs its channel: a card for Teams carries Universal Actions, a
card for Web Chat or the Emulator plain submits (cards.render.for_channel). The `contacts` table
has no column for it, so until a migration adds one the channel is kept next to the contact as a
small document in `bot_state` under `contact-channel/<aadObjectId>` (no SDK state uses such a
key: theirs start with a channel id). Only chats outside Teams get one; no document means Teams.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BotStateItem, Contact

TEAMS_CHANNEL = "msteams"


def _channel_key(aad_object_id: str) -> str:
    return f"contact-channel/{aad_object_id}"


async def remember(
    session: AsyncSession,
    *,
    aad_object_id: str,
    user_id: str,
    tenant_id: str,
    service_url: str,
    conversation_id: str,
    now: dt.datetime,
    channel_id: str = TEAMS_CHANNEL,
) -> None:
    """Upsert: the newest personal-chat activity of a person says where to reach them."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {
        "user_id": user_id,
        "tenant_id": tenant_id,
        "service_url": service_url,
        "conversation_id": conversation_id,
        "updated_at": now,
    }
    statement = insert(Contact).values(aad_object_id=aad_object_id, **values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[Contact.aad_object_id], set_=values)
    )
    key = _channel_key(aad_object_id)
    if channel_id == TEAMS_CHANNEL:
        await session.execute(delete(BotStateItem).where(BotStateItem.key == key))
        return
    document = {"channel_id": channel_id}
    state = insert(BotStateItem).values(
        key=key, document=document, etag=uuid.uuid4().hex, updated_at=now
    )
    await session.execute(
        state.on_conflict_do_update(
            index_elements=[BotStateItem.key],
            set_={"document": document, "etag": uuid.uuid4().hex, "updated_at": now},
        )
    )


async def channel_of(session: AsyncSession, aad_object_id: str) -> str:
    """The channel of the person's chat as last learnt: Teams unless they wrote from elsewhere."""
    document = await session.scalar(
        select(BotStateItem.document).where(BotStateItem.key == _channel_key(aad_object_id))
    )
    channel = document.get("channel_id") if isinstance(document, dict) else None
    return channel if isinstance(channel, str) and channel else TEAMS_CHANNEL
