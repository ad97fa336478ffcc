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


async def test_the_scheduler_only_ticks_in_memory_and_pickles_nothing(database_url: str) -> None:
    """APScheduler's SQLAlchemy job store pickles jobs (code execution for whoever can write the
    table) and cannot be shared by replicas: every job lives in memory, durable work in our own
    tables, and a restart has nothing to unpickle."""
    from aiohttp.test_utils import TestServer
    from apscheduler.jobstores.memory import MemoryJobStore
    from sqlalchemy import inspect

    from bot.app import COMPONENTS, create_app

    app = create_app(local_settings(database_url))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        scheduler = app[COMPONENTS].scheduler
        stores = scheduler._jobstores  # no public accessor; the names and kinds are what matter
        assert stores and all(isinstance(store, MemoryJobStore) for store in stores.values())
        jobs = scheduler.get_jobs()
        assert {job.id for job in jobs} >= {"sweep_reminders", "sweep_retention"}
        # A tick missed while the process was busy still runs (no one-second misfire grace).
        assert all(job.misfire_grace_time is None for job in jobs)
        async with app[COMPONENTS].database.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert not [t for t in tables if "apscheduler" in t]
    finally:
        await server.close()
