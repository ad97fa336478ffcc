"""Run Alembic migrations from code, so `make run`, the CLI and the tests share one path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking: runs its own event loop, so call it via `asyncio.to_thread` from async code."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


class SchemaOutdatedError(Exception):
    """The database is not at the newest migration; the message says how to fix it."""


async def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from storage.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def assert_current(url: str) -> None:
    """Refuse to serve on an old schema rather than fail on the first user's message."""
    import asyncio

    current, head = asyncio.run(current_revision(url)), head_revision()
    if current != head:
        raise SchemaOutdatedError(
            f"database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `python -m bot migrate` (or `make migrate`) first"
        )
