"""Migrations build exactly the models' schema and can be walked down and up again."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import create_engine
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import Base


async def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await current_revision(database_url) == head_revision()
    assert await _diff(database_url) == []


async def test_downgrade_to_nothing_and_up_again(database_url: str) -> None:
    await asyncio.to_thread(downgrade, database_url, "base")
    assert await current_revision(database_url) is None
    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(upgrade, database_url)  # idempotent
    assert await current_revision(database_url) == head_revision()
