"""Where each person can be reached in Teams (their personal chat), learnt from their turns."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contact


async def remember(
    session: AsyncSession,
    *,
    aad_object_id: str,
    user_id: str,
    tenant_id: str,
    service_url: str,
    conversation_id: str,
    now: dt.datetime,
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
