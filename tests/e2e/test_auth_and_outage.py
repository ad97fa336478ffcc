"""With an app id every request needs a valid Bot Framework JWT; a database outage is answered
in Dutch and reported by /readyz."""

from __future__ import annotations

import json

import jwt
from sqlalchemy import func, select

from bot.local_channel import LocalConnector
from storage.db import Database
from storage.models import BotStateItem
from support import BotServer, local_settings

APP_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "11111111-2222-3333-4444-555555555555"


def deployed(database_url: str):  # type: ignore[no-untyped-def]
    return local_settings(
        database_url,
        microsoft_app_id=APP_ID,
        microsoft_app_password="test-secret",
        microsoft_app_tenant_id=TENANT,
    )


async def _state_rows(url: str) -> int:
    database = Database.connect(url)
    try:
        async with database.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(BotStateItem)) or 0)
    finally:
        await database.dispose()


async def test_unsigned_and_garbage_tokens_get_401_and_run_no_handler(
    sqlite_url: str, connector: LocalConnector
) -> None:
    server = await BotServer(deployed(sqlite_url), connector).start()
    try:
        chat = server.session()
        for activity in (
            chat.activity(type="message", text="help"),
            chat.activity(type="conversationUpdate", membersAdded=[{"id": "28:rapportagebot"}]),
        ):
            body = json.dumps(activity).encode()
            headers = {"Content-Type": "application/json"}
            assert (await server.post("/api/messages", body, headers))[0] == 401
            for token in ("Bearer not-a-jwt", "Basic abc", "Bearer " + "x" * 50):
                headers["Authorization"] = token
                assert (await server.post("/api/messages", body, headers))[0] == 401, token
            # A token from an issuer the SDK does not trust is refused before any key lookup.
            forged = jwt.encode({"iss": "https://evil.example", "aud": APP_ID}, "k" * 32)
            headers["Authorization"] = f"Bearer {forged}"
            assert (await server.post("/api/messages", body, headers))[0] == 401
        assert connector.received == []
        assert await _state_rows(sqlite_url) == 0
    finally:
        await server.stop()


async def test_database_down_readyz_503_and_a_dutch_message(connector: LocalConnector) -> None:
    # Nothing listens on port 1: every connection attempt is refused at once.
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/rapportagebot"
    server = await BotServer(local_settings(unreachable), connector).start()
    try:
        assert (await server.get("/healthz"))[0] == 200
        status, body = await server.get("/readyz")
        assert status == 503
        assert json.loads(body)["status"] == "unavailable"
        status, _, replies = await server.session().post(
            server.session().activity(type="message", text="help")
        )
        assert status == 201
        assert len(replies) == 1
        assert "tijdelijk niet beschikbaar" in replies[0].text
    finally:
        await server.stop()
