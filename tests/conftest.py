"""Shared fixtures: real databases (SQLite always; PostgreSQL when asked), a local connector
standing in for the Teams service, and the bot served on loopback.

PostgreSQL runs when TEST_DATABASE_URL is set (a server URL, e.g.
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) or REQUIRE_POSTGRES=1 (then a missing
server fails the run instead of skipping). Each run creates and drops its own throwaway database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.local_channel import LocalConnector
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Base
from support import BotServer, local_settings

# Property tests: `make test` runs the "dev" profile; CI sets HYPOTHESIS_PROFILE=ci for the full
# count, derandomized so a CI failure reproduces from the same seed (and prints its blob). No
# timing assertions (deadline=None): the machine is shared. Found examples are kept outside the
# work tree, so no .hypothesis folder appears in it.
settings.register_profile(
    "dev",
    max_examples=200,
    deadline=None,
    database=DirectoryBasedExampleDatabase(
        Path(tempfile.gettempdir()) / "rapportagebot-hypothesis"
    ),
)
settings.register_profile(
    "ci", max_examples=1000, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
POSTGRES_SERVER = os.environ.get("TEST_DATABASE_URL") or (
    DEFAULT_POSTGRES if REQUIRE_POSTGRES else ""
)


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(server_url)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _blocking(function: Callable[..., Any], *args: Any) -> Any:
    """Run set-up that owns an event loop (asyncio.run, Alembic) off the test's running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated throwaway PostgreSQL database for this test run."""
    if not POSTGRES_SERVER:
        pytest.skip("PostgreSQL not requested (set TEST_DATABASE_URL or REQUIRE_POSTGRES=1)")
    name = f"rapportagebot_test_{uuid.uuid4().hex[:10]}"
    try:
        _blocking(asyncio.run, _admin(POSTGRES_SERVER, f'CREATE DATABASE "{name}"'))
    except Exception as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL is not usable: {error!r}")
        pytest.skip(f"PostgreSQL not reachable: {error!r}")
    url = make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    _blocking(upgrade, url)
    yield url
    _blocking(
        asyncio.run, _admin(POSTGRES_SERVER, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test gets a copy, so tests are isolated and fast."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _blocking(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "bot.sqlite3"
    target.write_bytes(sqlite_template.read_bytes())
    return f"sqlite+aiosqlite:///{target}"


async def _truncate(url: str) -> None:
    database = Database.connect(url)
    try:
        async with database.engine.begin() as connection:
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names}"))
    finally:
        await database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and (when configured) on a clean PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    url = str(request.getfixturevalue("postgres_url"))
    _blocking(asyncio.run, _truncate(url))
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database.connect(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def connector() -> AsyncIterator[LocalConnector]:
    local = await LocalConnector().start()
    yield local
    await local.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for talking to a bot server as Teams would."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bot_server(sqlite_url: str, connector: LocalConnector) -> AsyncIterator[BotServer]:
    server = await BotServer(local_settings(sqlite_url), connector).start()
    yield server
    await server.stop()
