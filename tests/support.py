"""Test helpers shared by the suites (fixtures live in conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from bot.app import system_clock
from bot.chat import ChatSession
from bot.config import Settings
from bot.local_channel import LocalConnector

Clock = Callable[[], dt.datetime]


class FakeClock:
    """A clock the test moves; starts on a Monday morning in Amsterdam."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class Transcript:
    """Drive a personal chat line by line and read the bot's answers as text."""

    def __init__(self, chat: ChatSession) -> None:
        self.chat = chat
        self.lines: list[str] = []

    async def say(self, line: str) -> str:
        replies, message = await self.chat.say(line)
        rendered = self.chat.render(replies)
        if message:
            rendered.append(f"bot: {message}")
        self.lines += [f"jij: {line}", *rendered]
        return "\n".join(rendered)

    async def run(self, *lines: str) -> str:
        out = ""
        for line in lines:
            out = await self.say(line)
        return out


def local_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(_env_file=None, database_url=database_url, **overrides)  # type: ignore[call-arg]


class BotServer:
    """The real app on a loopback port; talk to it like Teams does."""

    def __init__(
        self, settings: Settings, connector: LocalConnector, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.connector = connector
        self.clock = clock
        self._server: object | None = None
        self._http: object | None = None
        self.components: Any = None

    async def start(self) -> BotServer:
        import aiohttp
        from aiohttp.test_utils import TestServer

        from bot.app import build_components, create_app

        components = build_components(self.settings, clock=self.clock or system_clock)
        self.components = components
        server = TestServer(create_app(self.settings, components), host="127.0.0.1")
        await server.start_server()
        self._server = server
        self._http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()  # type: ignore[attr-defined]
        if self._server is not None:
            await self._server.close()  # type: ignore[attr-defined]

    async def deliver(self) -> None:
        """Send what the outbox holds now (the dispatcher also runs by itself; this makes a
        test wait for it deterministically)."""
        await self.components.notifier.drain()

    def url(self, path: str) -> str:
        return str(self._server.make_url(path))  # type: ignore[attr-defined]

    def session(self, user_name: str = "Anne Aanvrager") -> ChatSession:
        return ChatSession(self.url("/api/messages"), self.connector, user_name, self._http)  # type: ignore[arg-type]

    async def post(self, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with self._http.post(self.url(path), data=data, headers=headers) as response:  # type: ignore[attr-defined]
            return response.status, await response.text()

    async def get(self, path: str) -> tuple[int, str]:
        async with self._http.get(self.url(path)) as response:  # type: ignore[attr-defined]
            return response.status, await response.text()
