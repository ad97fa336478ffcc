"""A burst of concurrent turns on SQLite keeps its connections (storage/db.py): each pooled
aiosqlite connection is a thread with WAL pragmas, so opening and closing one per turn beyond the
pool size cost the turns of a busy minute a large share of their CPU."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from storage.db import SQLITE_POOL_SIZE, Database


async def _burst(database: Database, size: int) -> None:
    async def read() -> None:
        async with database.sessions() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)  # all of them hold a connection at once

    await asyncio.gather(*(read() for _ in range(size)))


async def test_a_second_burst_of_twenty_opens_no_new_connection(sqlite_url: str) -> None:
    database = Database.connect(sqlite_url)
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: opened.append(1))
    try:
        await _burst(database, SQLITE_POOL_SIZE)
        first = len(opened)
        assert first == SQLITE_POOL_SIZE
        await _burst(database, SQLITE_POOL_SIZE)
        assert len(opened) == first
    finally:
        await database.dispose()
