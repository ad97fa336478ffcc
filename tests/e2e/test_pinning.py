"""Activities from a foreign tenant, a foreign channel, a foreign service URL or without an
`aadObjectId` are refused at `/api/messages` before any handler runs (bot.guards)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.chat import local_identity
from bot.local_channel import LOCAL_TENANT, LocalConnector
from storage.db import Database
from storage.models import BotStateItem, Contact, Notification, UnreachableRecipient
from support import BotServer, local_settings


@pytest.fixture
async def server(sqlite_url: str, connector: LocalConnector) -> AsyncIterator[BotServer]:
    settings = local_settings(sqlite_url, allowed_tenants=[LOCAL_TENANT])
    bot = await BotServer(settings, connector).start()
    yield bot
    await bot.stop()


async def _rows(url: str, model: Any) -> int:
    database = Database.connect(url)
    try:
        async with database.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await database.dispose()


def _without_aad(activity: dict[str, Any]) -> dict[str, Any]:
    activity["from"] = {"id": "29:someone", "name": "Iemand"}
    return activity


FORGERIES = {
    "foreign tenant": lambda a: {**a, "channelData": {"tenant": {"id": "evil-tenant"}}},
    "second tenant hidden in conversation": lambda a: {
        **a,
        "conversation": {**a["conversation"], "tenantId": "evil-tenant"},
    },
    "no tenant": lambda a: {
        **{k: v for k, v in a.items() if k != "channelData"},
        "conversation": {k: v for k, v in a["conversation"].items() if k != "tenantId"},
    },
    "foreign channel": lambda a: {**a, "channelId": "slack"},
    "no aadObjectId": _without_aad,
    "service URL elsewhere": lambda a: {**a, "serviceUrl": "https://attacker.example/"},
}


@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
async def test_forged_activities_are_refused_before_any_handler(
    server: BotServer, connector: LocalConnector, sqlite_url: str, forgery: str
) -> None:
    chat = server.session("Frank Forger")
    chat.announce_install = False  # exactly the forged activity, nothing before it
    for kind in ("message", "invoke", "conversationUpdate"):
        fields: dict[str, Any] = {"type": kind, "text": "help"}
        if kind == "invoke":
            fields = {
                "type": "invoke",
                "name": "adaptiveCard/action",
                "value": {"action": {"type": "Action.Execute", "verb": "accepteren"}},
            }
        if kind == "conversationUpdate":
            fields = {"type": "conversationUpdate", "membersAdded": [{"id": "28:rapportagebot"}]}
        activity = FORGERIES[forgery](chat.activity(**fields))
        status, body, replies = await chat.post(activity)
        assert status == 403, (kind, body)
        assert "refused" in body["error"]
        assert replies == []
    assert connector.received == []
    # No handler ran: no conversation state, no remembered contact.
    assert await _rows(sqlite_url, BotStateItem) == 0
    assert await _rows(sqlite_url, Contact) == 0


async def test_the_same_activity_from_the_allowed_tenant_is_answered(
    server: BotServer, connector: LocalConnector, sqlite_url: str
) -> None:
    chat = server.session("Frank Forger")
    status, _, replies = await chat.post(chat.activity(type="message", text="help"))
    assert status in (200, 201)
    assert replies and replies[0].cards
    assert await _rows(sqlite_url, Contact) == 1


@pytest.mark.parametrize("channel", ["webchat", "directline", "emulator"])
async def test_local_mode_answers_the_local_clients(
    server: BotServer, connector: LocalConnector, channel: str
) -> None:
    chat = server.session("Wendy Web")
    chat.announce_install = False
    activity = chat.activity(type="message", text="help", channelId=channel)
    status, _, replies = await chat.post(activity)
    assert status in (200, 201)
    assert replies and all(r.body["channelId"] == channel for r in replies)


async def test_configured_channels_reach_the_guard(
    sqlite_url: str, connector: LocalConnector
) -> None:
    """ALLOWED_CHANNELS is what /api/messages checks (here: a channel only allowed by it)."""
    for allowed, expected in ((["msteams"], 403), (["msteams", "slack"], 201)):
        settings = local_settings(
            sqlite_url, allowed_tenants=[LOCAL_TENANT], allowed_channels=allowed
        )
        bot = await BotServer(settings, connector).start()
        try:
            chat = bot.session("Sam Slack")
            chat.announce_install = False
            status, _, _ = await chat.post(chat.activity(type="message", channelId="slack"))
            assert status == expected
        finally:
            await bot.stop()


async def test_reinstalling_the_app_delivers_what_was_parked(
    server: BotServer, connector: LocalConnector, sqlite_url: str
) -> None:
    """Teams refused delivery earlier (403: app removed); an installationUpdate from that person
    lets the parked messages go out."""
    chat = server.session("Anne Aanvrager")
    aad = local_identity("Anne Aanvrager")[1]
    status, _, _ = await chat.post(chat.activity(type="message", text="help"))  # a known chat
    assert status in (200, 201)
    before = len(connector.received)
    now = dt.datetime.now(dt.UTC)
    database = Database.connect(sqlite_url)
    try:
        async with database.sessions.begin() as session:
            session.add(
                UnreachableRecipient(
                    recipient=f"person:{aad}", since=now, reason="HTTP 403 BotDisabledByAdmin"
                )
            )
            session.add(
                Notification(
                    key="parked-1",
                    kind="notice",
                    recipient=f"person:{aad}",
                    recipient_aad_id=aad,
                    activity={"type": "message", "text": "Aanvraag BR-2026-0001 is geaccepteerd"},
                    status="pending",
                    attempts=1,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        await server.deliver()
        assert len(connector.received) == before  # parked

        status, _, _ = await chat.post(chat.activity(type="installationUpdate", action="add"))
        assert status in (200, 201)
        await server.deliver()
        assert [r.text for r in connector.received[before:]] == [
            "Aanvraag BR-2026-0001 is geaccepteerd"
        ]
        async with database.sessions() as session:
            assert await session.get(UnreachableRecipient, f"person:{aad}") is None
    finally:
        await database.dispose()
