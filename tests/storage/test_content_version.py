"""Every change to a content table replaces the content version's token (migration 0011).

The catalogue cache trusts this token alone, so the triggers must fire for every table the
catalogue reads and for every kind of change, written by whatever code or process.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from requesting import load_content
from storage.db import Database
from storage.models import CONTENT_TABLES, CONTENT_VERSION_ID, ContentVersion

CHANGES: dict[str, list[str]] = {
    "knowledge_entries": [
        "INSERT INTO knowledge_entries (id, kind, title, data, checksum, source_path, updated_at)"
        " VALUES ('x', 'proces', 'X', '{}', 'c', 'x.yaml', CURRENT_TIMESTAMP)",
        "UPDATE knowledge_entries SET title = 'Y' WHERE id = 'x'",
        "DELETE FROM knowledge_entries WHERE id = 'x'",
    ],
    "gemeenten": [
        "INSERT INTO gemeenten (id, name) VALUES ('nergens', 'Nergens')",
        "UPDATE gemeenten SET name = 'Ergens' WHERE id = 'nergens'",
        "DELETE FROM gemeenten WHERE id = 'nergens'",
    ],
    "basisteams": [
        "INSERT INTO basisteams (id, name, district, eenheid) VALUES ('t', 'T', 'D', 'E')",
        "UPDATE basisteams SET name = 'U' WHERE id = 't'",
        "DELETE FROM basisteams WHERE id = 't'",
    ],
    "basisteam_gemeenten": [
        "INSERT INTO basisteam_gemeenten (basisteam_id, gemeente_id)"
        " VALUES ('heuvelrug', 'utrecht')",
        "UPDATE basisteam_gemeenten SET gemeente_id = 'leusden'"
        " WHERE basisteam_id = 'heuvelrug' AND gemeente_id = 'utrecht'",
        "DELETE FROM basisteam_gemeenten"
        " WHERE basisteam_id = 'heuvelrug' AND gemeente_id = 'leusden'",
    ],
}


async def _token(database: Database) -> str | None:
    async with database.sessions() as session:
        row = await session.get(ContentVersion, CONTENT_VERSION_ID)
        return row.token if row is not None else None


def test_every_content_table_is_covered() -> None:
    assert set(CHANGES) == set(CONTENT_TABLES)


@pytest.mark.parametrize("table", sorted(CHANGES))
async def test_each_change_of_a_content_table_replaces_the_token(
    database_url: str, database: Database, table: str
) -> None:
    await load_content(database_url)
    seen = {await _token(database)}
    for statement in CHANGES[table]:
        async with database.sessions.begin() as session:
            await session.execute(text(statement))
        token = await _token(database)
        assert token is not None and token not in seen, statement
        seen.add(token)


async def test_a_rolled_back_change_leaves_the_token(database: Database) -> None:
    before = await _token(database)
    async with database.sessions() as session:
        await session.execute(text(CHANGES["gemeenten"][0]))
        await session.rollback()
    assert await _token(database) == before


async def test_other_tables_leave_the_token(database: Database) -> None:
    before = await _token(database)
    async with database.sessions.begin() as session:
        await session.execute(text("INSERT INTO reference_counters (year, last) VALUES (2026, 1)"))
    assert await _token(database) == before


@pytest.mark.postgres
async def test_truncating_a_content_table_replaces_the_token(postgres_url: str) -> None:
    database = Database.connect(postgres_url)

    async def run(statement: str) -> None:
        async with database.sessions.begin() as session:
            await session.execute(text(statement))

    try:
        await run("TRUNCATE content_version")
        assert await _token(database) is None
        await run("TRUNCATE basisteam_gemeenten")
        assert await _token(database) is not None
    finally:
        await database.dispose()
