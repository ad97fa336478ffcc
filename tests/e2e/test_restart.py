"""State written by one app instance is read by the next (a restart)."""

from __future__ import annotations

from bot.local_channel import LocalConnector
from support import BotServer, local_settings


async def test_welcome_state_survives_a_restart(database_url: str) -> None:
    connector = await LocalConnector().start()
    try:
        first = await BotServer(local_settings(database_url), connector).start()
        try:
            assert len(await first.session("Rik Restart").start()) == 1
        finally:
            await first.stop()
        second = await BotServer(local_settings(database_url), connector).start()
        try:
            # A new process, engine and adapter: the stored conversation state says "welcomed".
            assert await second.session("Rik Restart").start() == []
            assert len(await second.session("Iemand Anders").start()) == 1
        finally:
            await second.stop()
    finally:
        await connector.stop()


async def test_shutdown_stops_the_scheduler_and_disposes_the_database(sqlite_url: str) -> None:
    from aiohttp.test_utils import TestServer

    from bot.app import COMPONENTS, create_app

    app = create_app(local_settings(sqlite_url))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    components = app[COMPONENTS]
    assert components.scheduler.running
    assert await components.database.ping()
    pool = components.database.engine.pool
    await server.close()
    assert not components.scheduler.running
    # dispose() replaces the pool: the one in use while serving is gone with its connections.
    assert components.database.engine.pool is not pool
