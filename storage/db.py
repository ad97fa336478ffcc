"""Async engine and session factory for SQLite (embedded default) and PostgreSQL (replicas).

Nothing is created at import time: `Database.connect(url)` is called by the app's start-up
and the CLI, and `dispose()` by their shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.models import CONTENT_VERSION_ID, ContentVersion

T = TypeVar("T")

# Connections kept open for a file database (see create_engine).
SQLITE_POOL_SIZE = 20


def create_engine(url: str) -> AsyncEngine:
    """`hide_parameters`: a database error's message would otherwise quote the statement's
    values (a subject, a reason) into the log; log lines carry ids, never free text."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        pool: dict[str, Any] = {}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # Every pooled aiosqlite connection is a thread of its own, and a connection beyond
            # the pool size is closed when it is checked in: with the default 5, a burst of 20
            # turns opened (thread, WAL pragmas) and closed a connection for most of them.
            pool = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE}
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, hide_parameters=True, **pool
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # pre-ping lets the pool recover by itself after the database was restarted.
    return create_async_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the chat CLI and a running server read while the other writes; busy_timeout makes
    # a writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = create_engine(url)
        return cls(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when a trivial query succeeds within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def content_token(self) -> str | None:
        """The token that every change to the content tables replaces (migration 0011): one
        primary-key read tells a process whether what it built from that content is current."""
        async with self.engine.connect() as connection:
            token = await connection.scalar(
                select(ContentVersion.token).where(ContentVersion.id == CONTENT_VERSION_ID)
            )
        return None if token is None else str(token)

    async def transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` as one unit of work and commit it. SQLite refuses a second writer whose
        snapshot is stale ("database is locked") even with a busy timeout, so the whole unit is
        tried again a few times; every other error is the caller's."""
        for attempt in range(5):
            try:
                async with self.sessions.begin() as session:
                    return await work(session)
            except OperationalError as error:
                if "locked" not in str(error).lower() or attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()
