"""The real bot as a process of its own, a connector that can be slowed down or frozen, and a
TCP proxy that can cut the database off: what the robustness tests (issue 7) kill and break.

`BotProcess` runs `python -m bot serve` in local mode, so a test can SIGKILL it as an operating
system or an orchestrator would, and start another one on the same database and port.
`SlowConnector` is the local Teams stand-in with two knobs: `delay` (every call is recorded at
once, answered after that many seconds) and `freeze()` (calls are recorded and then held until
`thaw()`), so a test knows exactly which calls reached "Teams" before a kill. `DatabaseProxy`
forwards loopback TCP to PostgreSQL and can `cut()` (close every connection and refuse new ones)
and `restore()` it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.local_channel import LocalConnector, Received
from requesting import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bot_env(database_url: str, connector: LocalConnector, **extra: str) -> dict[str, str]:
    """Settings for a local-mode bot process; the environment wins over any .env file."""
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
class BotProcess:
    """One `python -m bot serve` process; everything it prints goes to `log_path` (appended, so
    the log of a killed process and its successor read as one story)."""

    port: int
    log_path: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"

    async def start(self, env: dict[str, str], http: aiohttp.ClientSession) -> BotProcess:
        with self.log_path.open("ab") as log:
            log.write(b"===== start =====\n")
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                cwd=ROOT,
                env={**env, "PORT": str(self.port)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await self.wait_ready(http)
        return self

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.returncode is not None:
                pytest.fail(f"the bot exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                pytest.fail(f"the bot was not ready after {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook, no finally, no flush; whatever was in flight stays so."""
        process = self.process
        assert process is not None and process.returncode is None, "not running"
        process.send_signal(signal.SIGKILL)
        await process.wait()
        with self.log_path.open("ab") as log:
            log.write(b"===== SIGKILL =====\n")

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class SlowConnector(LocalConnector):
    """A LocalConnector whose answers take `delay` seconds, and that can freeze: a call that
    arrives while frozen is recorded (it reached Teams) and then held without an answer."""

    delay: float = 0.0
    # Freeze by itself when this says so of a call just recorded (e.g. the n-th PUT).
    freeze_when: Callable[[Received], bool] | None = None
    held: int = 0
    # Recorded and not answered yet (slow or held).
    unanswered: list[Received] = field(default_factory=list)
    _thawed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> SlowConnector:
        self._thawed.set()
        await super().start()
        return self

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    async def _answer_later(
        self, request: web.Request, answer: Callable[[web.Request], Awaitable[web.Response]]
    ) -> web.Response:
        before = len(self.received)
        response = await answer(request)
        recorded = self.received[before:]
        self.unanswered += recorded
        try:
            if self.freeze_when is not None and any(self.freeze_when(r) for r in recorded):
                self.freeze_when = None
                self.freeze()
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.frozen:
                self.held += 1
                try:
                    await self._thawed.wait()
                finally:
                    self.held -= 1
        finally:
            for item in recorded:
                self.unanswered.remove(item)
        return response

    async def _send(self, request: web.Request) -> web.Response:
        return await self._answer_later(request, super()._send)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        return await self._answer_later(request, super()._create_conversation)


class DatabaseProxy:
    """Loopback TCP in front of the database server. `cut()` closes every connection and stops
    listening (new connections are refused, as when the server is down); `restore()` listens on
    the same port again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> DatabaseProxy:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        return self

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()

    async def stop(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self._tasks.update(pipes)
        for pipe in pipes:
            pipe.add_done_callback(self._tasks.discard)
        await asyncio.gather(*pipes, return_exceptions=True)
        for end in (writer, upstream_writer):
            end.transport.abort()
            self._writers.discard(end)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` (no timing assertion: `timeout` is only how long to hope)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def until_async(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)
