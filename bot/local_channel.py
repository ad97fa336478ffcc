"""A local stand-in for the Bot Connector service a Teams activity's `serviceUrl` points at.

The bot sends replies, proactive messages and card updates over HTTP to the service URL, exactly
as in Teams. Pointing `serviceUrl` at this small aiohttp server lets the terminal chat and the
tests drive the real adapter end to end and see precisely what the bot sent, with no network.
Faults can be scripted per request to exercise the delivery layer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    authorization: str | None

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [
            attachment["content"]
            for attachment in self.body.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]


# Who the bot and the tenant are when there is no Teams: stable ids for the chat and the tests.
BOT_ID = "28:rapportagebot"
LOCAL_TENANT = "00000000-0000-0000-0000-00000000c0de"

# (status, headers, body) to answer one request with instead of success.
Fault = tuple[int, dict[str, str], dict[str, Any]]


@dataclass
class LocalConnector:
    """Records every call; `url` is the service URL to put on activities."""

    host: str = "127.0.0.1"
    received: list[Received] = field(default_factory=list)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fault: Callable[[str, str], Fault | None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _port: int = 0
    _changed: asyncio.Condition | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}/"

    async def start(self) -> LocalConnector:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._send)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._send)
        app.router.add_delete("/v3/conversations/{conversation}/activities/{activity}", self._send)
        app.router.add_get("/v3/conversations/{conversation}/members", self._members)
        app.router.add_get("/v3/conversations/{conversation}/pagedmembers", self._paged_members)
        self._changed = asyncio.Condition()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def clear(self) -> None:
        self.received.clear()

    def sent_to(self, conversation_id: str) -> list[Received]:
        return [item for item in self.received if item.conversation_id == conversation_id]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until at least `count` calls arrived (for deliveries that happen after a turn)."""
        assert self._changed is not None
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    async def _record(self, request: web.Request, body: dict[str, Any]) -> Fault | None:
        conversation = request.match_info.get("conversation", "")
        fault = self.fault(request.method, request.path) if self.fault else None
        if fault is None:
            self.received.append(
                Received(
                    method=request.method,
                    path=request.path,
                    conversation_id=conversation,
                    activity_id=request.match_info.get("activity"),
                    body=body,
                    authorization=request.headers.get("Authorization"),
                )
            )
            assert self._changed is not None
            async with self._changed:
                self._changed.notify_all()
        return fault

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json(loads=json.loads)
        return data if isinstance(data, dict) else {}

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        fault = await self._record(request, body)
        if fault is not None:
            status, headers, payload = fault
            return web.json_response(payload, status=status, headers=headers)
        if request.method == "DELETE":
            return web.Response(status=200)
        activity_id = request.match_info.get("activity") if request.method == "PUT" else None
        return web.json_response({"id": activity_id or f"activity-{next(self._ids)}"})

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        fault = await self._record(request, body)
        if fault is not None:
            status, headers, payload = fault
            return web.json_response(payload, status=status, headers=headers)
        members = body.get("members") or [{}]
        conversation_id = f"a:personal-{members[0].get('id', 'unknown')}"
        return web.json_response({"id": conversation_id, "activityId": None})

    async def _members(self, request: web.Request) -> web.Response:
        return web.json_response(self.members.get(request.match_info["conversation"], []))

    async def _paged_members(self, request: web.Request) -> web.Response:
        members = self.members.get(request.match_info["conversation"], [])
        return web.json_response({"members": members, "continuationToken": None})
