"""The request dialog keeps the catalogue per process, and never shows a stale one.

The catalogue (bevoegdheden, gemeenten, basisteams) is reread only when the content version
changed (migration 0011: triggers on the content tables replace its token in the same
transaction). Conversations go through /api/messages; the content changes the way operators
change it: `admin import` and `kb import` from another process (a Database connection of its
own), and a write by the bot's own process on its own connection pool.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.content import load_directory
from bot.local_channel import LocalConnector
from bot.registry import load_registry
from requesting import load_content
from storage.db import Database
from storage.repositories import replace_knowledge, replace_registry
from support import BotServer, FakeClock, Transcript, local_settings

ROOT = Path(__file__).resolve().parents[2]
DRUGSPAND = "Sluiting van een drugspand (Wet Damocles)"
RENAMED = "Sluiting van een drugspand of drugslab (Wet Damocles)"


@pytest.fixture
async def server(database_url: str, connector: LocalConnector) -> AsyncIterator[BotServer]:
    await load_content(database_url)
    bot = await BotServer(local_settings(database_url), connector, FakeClock()).start()
    yield bot
    await bot.stop()


def registry_with_two_teams_for_zeist(tmp_path: Path) -> Path:
    """The demo registry, but Basisteam Utrecht-Centrum serves Zeist too."""
    source = (ROOT / "knowledge/registry/demo.yaml").read_text(encoding="utf-8")
    changed = source.replace(
        "id: utrecht_centrum\n            name: Basisteam Utrecht-Centrum\n"
        "            gemeenten: [utrecht]",
        "id: utrecht_centrum\n            name: Basisteam Utrecht-Centrum\n"
        "            gemeenten: [utrecht, zeist]",
    )
    assert changed != source
    path = tmp_path / "registry.yaml"
    path.write_text(changed, encoding="utf-8")
    return path


def knowledge_with_renamed_drugspand(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", root)
    entry = root / "bevoegdheden/sluiting_drugspand.yaml"
    source = entry.read_text(encoding="utf-8")
    assert f"title: {DRUGSPAND}\n" in source
    entry.write_text(source.replace(f"title: {DRUGSPAND}\n", f"title: {RENAMED}\n"), "utf-8")
    return root


async def admin_import(url: str, registry: Path) -> None:
    """What `python -m bot admin import` does: its own process, its own connection."""
    database = Database.connect(url)
    try:
        async with database.sessions.begin() as session:
            await replace_registry(session, load_registry(registry))
    finally:
        await database.dispose()


async def test_an_admin_import_by_another_process_is_seen_on_the_next_turn(
    server: BotServer, database_url: str, tmp_path: Path
) -> None:
    t = Transcript(server.session())
    await t.say("nieuwe aanvraag")
    out = await t.say("damocles")
    assert "Voor welke gemeente" in out  # the catalogue is loaded and kept by now

    await admin_import(database_url, registry_with_two_teams_for_zeist(tmp_path))

    out = await t.say("Zeist")
    # Zeist has two basisteams now: asked, not filled in as the only choice.
    assert "enige keuze" not in out
    assert "Basisteam Utrecht-Centrum" in out
    assert "Basisteam Heuvelrug" in out


async def test_a_kb_import_by_another_process_is_seen_on_the_next_turn(
    server: BotServer, database_url: str, tmp_path: Path
) -> None:
    t = Transcript(server.session())
    out = await t.say("nieuwe aanvraag")
    assert DRUGSPAND in out

    database = Database.connect(database_url)
    try:
        async with database.sessions.begin() as session:
            await replace_knowledge(
                session, load_directory(knowledge_with_renamed_drugspand(tmp_path))
            )
    finally:
        await database.dispose()

    out = await t.say("damocles")
    assert "Voor welke gemeente" in out
    out = await t.say("terug")
    assert RENAMED in out
    assert DRUGSPAND not in out


async def test_a_change_made_in_the_bots_own_process_is_seen_at_once(
    server: BotServer, tmp_path: Path
) -> None:
    """The same process and connection pool as the cache (as a change made in chat would be)."""
    t = Transcript(server.session())
    await t.say("nieuwe aanvraag")
    assert "Voor welke gemeente" in await t.say("damocles")

    own: Database = server.components.database
    async with own.sessions.begin() as session:
        await replace_registry(session, load_registry(registry_with_two_teams_for_zeist(tmp_path)))

    out = await t.say("Zeist")
    assert "enige keuze" not in out
    assert "Basisteam Utrecht-Centrum" in out


async def test_unchanged_content_is_not_read_again(server: BotServer) -> None:
    """The point of the cache: a turn reads the content version, not the content."""
    t = Transcript(server.session())
    await t.say("nieuwe aanvraag")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lower())

    engine = server.components.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert "Voor welke gemeente" in await t.say("damocles")
        assert "Welke bevoegdheid" in await t.say("terug")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert any("content_version" in s for s in statements)
    for table in ("gemeenten", "basisteams", "knowledge_entries"):
        assert not any(f"from {table}" in s for s in statements), table
