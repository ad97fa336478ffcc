"""The edge of the knowledge search: reads the stored entries and keeps a built index.

The index is rebuilt only when the stored set changes, so `python -m bot kb import` on a
running bot takes effect within a few seconds and without a restart, while a question costs no
database round trip beyond an occasional cheap fingerprint query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import select

from bot.knowledge import KnowledgeIndex, SearchResult, documents_from, vocabulary_from
from storage.db import Database
from storage.models import KnowledgeEntry

# How often (seconds) a question may check whether the stored knowledge changed.
CHECK_INTERVAL = 5.0


class KnowledgeService:
    def __init__(self, database: Database, check_interval: float = CHECK_INTERVAL) -> None:
        # bm25s sets its own logger to DEBUG, which floods the operator's log on every rebuild.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._database = database
        self._check_interval = check_interval
        self._index: KnowledgeIndex | None = None
        self._fingerprint: str | None = None
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _stored_fingerprint(self) -> str | None:
        # Replaced with every write to the knowledge entries (and the other content tables):
        # unlike a count with the newest update time, no change can leave it as it was.
        return await self._database.content_token()

    def _fresh(self) -> bool:
        return time.monotonic() - self._checked_at < self._check_interval

    async def index(self) -> KnowledgeIndex:
        """The index over the stored entries, rebuilt when they changed (checked at most once
        every `check_interval` seconds)."""
        if self._index is not None and self._fresh():
            return self._index
        async with self._lock:
            if self._index is not None and self._fresh():
                return self._index
            fingerprint = await self._stored_fingerprint()
            if self._index is None or fingerprint is None or fingerprint != self._fingerprint:
                async with self._database.sessions() as session:
                    rows = (await session.execute(select(KnowledgeEntry.data))).scalars()
                    # Sorted here, not by the database: PostgreSQL's collation orders ids
                    # differently from SQLite's, and ties between equal scores must not
                    # depend on the backend.
                    entries = sorted((dict(data) for data in rows), key=lambda d: str(d["id"]))
                # Building is CPU work (about a second per thousand entries): keep it
                # off the event loop.
                self._index = await asyncio.to_thread(
                    KnowledgeIndex.build, documents_from(entries), vocabulary_from(entries)
                )
                self._fingerprint = fingerprint
            self._checked_at = time.monotonic()
            return self._index

    async def ask(self, question: str, k: int = 3) -> SearchResult:
        return (await self.index()).search(question, k=k)

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        """The stored data of one entry (for the answer card), or None."""
        async with self._database.sessions() as session:
            data = await session.scalar(
                select(KnowledgeEntry.data).where(KnowledgeEntry.id == entry_id)
            )
        return dict(data) if data is not None else None
