"""Several `python -m bot serve` processes on one PostgreSQL database, for the replica tests.

Each replica is a real bot process in local mode whose output goes to a log file the test reads
(what it claimed, that it logged no error) and prints when it ends. The database is the test
session's PostgreSQL database, emptied first; the replicas reach "Teams" through the local
connector of the test process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot.local_channel import LocalConnector
from requesting import ROOT
from storage.db import Database
from storage.models import Base, Notification


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports nobody listens on right now."""
    ports: set[int] = set()
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.add(int(probe.getsockname()[1]))
    return sorted(ports)


def replica_env(database_url: str, connector: LocalConnector, **extra: str) -> dict[str, str]:
    """Local mode on the shared database, sending to the test's connector, logging INFO."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MICROSOFT_")},
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "MICROSOFT_APP_ID": "",
        "TEAMS_SERVICE_URL": connector.url,
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class Replica:
    """One `python -m bot serve` process; everything it prints goes to `log_path`. `env` is
    added to the shared environment given to `start`."""

    name: str
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None

    async def start(self, env: dict[str, str]) -> None:
        log = _open_for_writing(self.log_path)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                cwd=ROOT,
                env={**env, **self.env, "PORT": str(self.port)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()  # the child has its own copy

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.returncode is not None:
                pytest.fail(f"replica {self.name} exited with {self.process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                pytest.fail(f"replica {self.name} not ready after {timeout} s")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM, as an orchestrator stops a replica; killed only if it hangs."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


def _open_for_writing(path: Path) -> io.BufferedWriter:
    return path.open("wb")


async def start_all(replicas: Iterable[Replica], env: dict[str, str]) -> None:
    """Start the replicas together and wait until every one answers /readyz."""
    started = list(replicas)
    await asyncio.gather(*(r.start(env) for r in started))
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(r.wait_ready(http) for r in started))


async def truncate(url: str) -> None:
    """Start from empty tables, like conftest's `database_url` does for PostgreSQL."""
    database = Database.connect(url)
    try:
        async with database.engine.begin() as connection:
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names}"))
    finally:
        await database.dispose()


def senders(outbox: Iterable[Notification]) -> Counter[int]:
    """Rows per sending process: a worker id is host:pid:random."""
    return Counter(int(row.claimed_by.split(":")[-2]) for row in outbox if row.claimed_by)


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def until_async(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


async def quiet(connector: LocalConnector, *, seconds: float, timeout: float) -> None:
    """Wait until the connector received nothing new for `seconds`."""
    deadline = time.monotonic() + timeout
    count, since = len(connector.received), time.monotonic()
    while time.monotonic() - since < seconds:
        if time.monotonic() > deadline:
            pytest.fail("the connector kept receiving")
        await asyncio.sleep(0.1)
        if len(connector.received) != count:
            count, since = len(connector.received), time.monotonic()
