"""The try-out page's Direct Line endpoint over HTTP, as Web Chat's DirectLineJS calls it (no
browser): a person's conversation with the bot, replies and outbox notices routed to the right
person's conversation, tokens bound to one person, and nothing of it outside local mode."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot import webchat
from bot.chat import local_identity
from bot.local_channel import BOT_ID, LOCAL_TENANT, LocalConnector
from requesting import ROOT, SUBJECT, load_content
from storage import contacts
from storage.db import Database
from storage.models import Contact
from support import BotServer, FakeClock, local_settings

ANNE = local_identity("Anne Aanvrager")[1]
CARLA = local_identity("Carla Coördinator")[1]
APP_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "11111111-2222-3333-4444-555555555555"
CARD = "application/vnd.microsoft.card.adaptive"


class DirectLineClient:
    """What DirectLineJS does in polling mode, one person at a time."""

    def __init__(self, server: BotServer, http: aiohttp.ClientSession) -> None:
        self.server = server
        self.http = http
        self.token = ""
        self.conversation = ""
        self.watermark = ""

    async def connect(self, person: str) -> dict[str, Any]:
        async with self.http.post(
            self.server.url("/webchat/session"), json={"person": person}
        ) as r:
            assert r.status == 200, await r.text()
            session = await r.json()
        self.token, self.watermark = session["token"], ""
        async with self.http.post(
            self.server.url("/v3/directline/conversations"), headers=self.headers, json={}
        ) as response:
            assert response.status == 201, await response.text()
            started = await response.json()
        self.conversation = started["conversationId"]
        assert started["token"] == self.token
        return dict(session)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, **activity: Any) -> str:
        body = {"from": {"id": "whoever", "role": "user"}, **activity}
        url = self.server.url(f"/v3/directline/conversations/{self.conversation}/activities")
        async with self.http.post(url, headers=self.headers, json=body) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["id"])

    async def activities(self) -> list[dict[str, Any]]:
        """New activities since the last call (the first call: the whole history)."""
        url = self.server.url(
            f"/v3/directline/conversations/{self.conversation}/activities"
            f"?watermark={self.watermark}"
        )
        async with self.http.get(url, headers=self.headers) as response:
            assert response.status == 200, await response.text()
            group = await response.json()
        self.watermark = group["watermark"]
        return list(group["activities"])

    async def say(self, text: str) -> str:
        """Send a line; the text of everything new (the echo and the bot's replies)."""
        await self.post(type="message", text=text, channelData={"clientActivityID": text})
        return "\n".join(_text(activity) for activity in await self.activities())


def _text(activity: dict[str, Any]) -> str:
    parts = [str(activity.get("text") or "")]
    parts += [
        json.dumps(attachment["content"], ensure_ascii=False)
        for attachment in activity.get("attachments") or []
        if attachment.get("contentType") == CARD
    ]
    return "\n".join(part for part in parts if part)


def _actions(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [action for item in node for action in _actions(item)]
    if not isinstance(node, dict):
        return []
    found = [node] if str(node.get("type", "")).startswith("Action.") else []
    return found + [action for value in node.values() for action in _actions(value)]


@pytest.fixture
async def page(sqlite_url: str, connector: LocalConnector) -> AsyncIterator[BotServer]:
    await load_content(sqlite_url)
    server = await BotServer(local_settings(sqlite_url), connector, clock=FakeClock()).start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_nothing_of_the_page_exists_when_deployed(
    sqlite_url: str, connector: LocalConnector
) -> None:
    settings = local_settings(
        sqlite_url,
        microsoft_app_id=APP_ID,
        microsoft_app_password="test-secret",
        microsoft_app_tenant_id=TENANT,
    )
    server = await BotServer(settings, connector).start()
    try:
        for path in (
            "/",
            "/webchat/app.js",
            "/webchat/webchat.js",
            "/webchat/people",
            f"/v3/directline/conversations/{webchat.conversation_id_of(ANNE)}/activities",
            f"/webchat/connector/v3/conversations/{webchat.conversation_id_of(ANNE)}/members",
        ):
            assert (await server.get(path))[0] == 404, path
        json_type = {"Content-Type": "application/json"}
        for path in (
            "/webchat/session",
            "/v3/directline/conversations",
            "/v3/directline/tokens/refresh",
            "/webchat/connector/v3/conversations",
            f"/webchat/connector/v3/conversations/{webchat.conversation_id_of(ANNE)}/activities",
        ):
            body = json.dumps({"person": ANNE, "type": "message", "text": "help"}).encode()
            assert (await server.post(path, body, json_type))[0] == 404, path
        assert connector.received == []
    finally:
        await server.stop()


async def test_the_page_and_the_people_to_act_as(
    page: BotServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(page.url("/")) as response:
        assert response.status == 200
        html = await response.text()
        # Only this server's own files and Web Chat: nothing from elsewhere.
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<script src="/webchat/webchat.js">' in html
    assert "make webchat" in html  # shown when Web Chat is not installed
    assert (await page.get("/webchat/app.js"))[0] == 200

    status, body = await page.get("/webchat/people")
    assert status == 200
    people = {person["name"]: person for person in json.loads(body)["people"]}
    assert set(people) == {
        "Anne Aanvrager",
        "Gert Gemeente",
        "Carla Coördinator",
        "Pieter Politie",
        "Bea Beheer",
        "Erik Expert",
    }
    assert people["Anne Aanvrager"]["roles"] == []
    assert people["Carla Coördinator"]["id"] == CARLA
    assert people["Carla Coördinator"]["roles"] == [
        {"role": "coordinator", "scope": "heuvelrug", "scope_name": "Basisteam Heuvelrug"}
    ]
    assert {"role": "beheerder", "scope": "", "scope_name": ""} in people["Bea Beheer"]["roles"]


async def test_without_web_chat_installed_the_page_says_how_to_get_it(
    sqlite_url: str, connector: LocalConnector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("index.html", "app.js"):
        shutil.copy(ROOT / "web" / name, tmp_path / name)
    monkeypatch.setattr(webchat, "WEB_ROOT", tmp_path)
    server = await BotServer(local_settings(sqlite_url), connector).start()
    try:
        status, body = await server.get("/webchat/webchat.js")
        assert status == 404
        assert "make webchat" in body
        status, html = await server.get("/")
        assert status == 200
        assert "Web Chat is nog niet geïnstalleerd" in html
        assert (await server.get("/healthz"))[0] == 200
    finally:
        await server.stop()


async def test_a_conversation_as_web_chat_has_it(
    page: BotServer, http: aiohttp.ClientSession
) -> None:
    anne = DirectLineClient(page, http)
    session = await anne.connect(ANNE)
    assert session["userId"] == f"29:{ANNE}"
    assert anne.conversation == f"webchat-personal-{ANNE}"

    # Direct Line's conversationUpdate made the bot welcome her.
    history = await anne.activities()
    assert [activity["from"]["role"] for activity in history] == ["bot"]
    assert "Welkom bij de rapportagebot" in _text(history[0])
    assert history[0]["from"]["id"] == BOT_ID

    sent_id = await anne.post(type="message", text="help", channelData={"clientActivityID": "c-1"})
    echo, *replies = await anne.activities()
    # The echo carries Web Chat's clientActivityID, so Web Chat marks the message as sent.
    assert echo["id"] == sent_id
    assert echo["channelData"]["clientActivityID"] == "c-1"
    assert echo["text"] == "help"
    assert echo["from"] == {
        "id": f"29:{ANNE}",
        "name": "Anne Aanvrager",
        "aadObjectId": ANNE,
        "role": "user",
    }
    assert [reply["from"]["role"] for reply in replies] == ["bot"]
    assert "nieuwe aanvraag" in _text(replies[0])
    timestamps = [activity["timestamp"] for activity in [*history, echo, *replies]]
    assert timestamps == sorted(timestamps)

    # What the bot learnt from the activities: a personal Web Chat conversation, reachable at
    # this server's own connector routes (the tenant passed the pinning check; the SDK's model
    # drops `conversation.tenantId`, so contacts keep none, as for Teams' own activities).
    database = page.components.database
    async with database.sessions() as session_:
        contact = await session_.get(Contact, ANNE)
        assert contact is not None
        assert contact.user_id == f"29:{ANNE}"
        assert contact.conversation_id == anne.conversation
        assert contact.service_url == page.url("/webchat/connector/")
        assert await contacts.channel_of(session_, ANNE) == "webchat"
        # The page's first session introduced every person of the registry.
        known = set((await session_.execute(select(Contact.aad_object_id))).scalars())
    assert len(known) == 6
    assert CARLA in known


async def test_tokens_belong_to_one_person(page: BotServer, http: aiohttp.ClientSession) -> None:
    anne, carla = DirectLineClient(page, http), DirectLineClient(page, http)
    await anne.connect(ANNE)
    await carla.connect(CARLA)
    for conversation, token, status in (
        (carla.conversation, anne.token, 403),
        (carla.conversation, "made-up", 403),
        (carla.conversation, "", 403),
        ("webchat-personal-nobody", carla.token, 404),
    ):
        url = page.url(f"/v3/directline/conversations/{conversation}/activities")
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(url, headers=headers) as response:
            assert response.status == status, (conversation, token)
        async with http.post(url, headers=headers, json={"type": "message", "text": "x"}) as r:
            assert r.status == status
    async with http.post(
        page.url("/v3/directline/conversations"), headers={"Authorization": "Bearer made-up"}
    ) as response:
        assert response.status == 403
    # Tokens refresh (DirectLineJS does so every 15 minutes) and reconnect.
    async with http.post(
        page.url("/v3/directline/tokens/refresh"), headers=anne.headers
    ) as response:
        assert (await response.json())["conversationId"] == anne.conversation
    async with http.get(
        page.url(f"/v3/directline/conversations/{anne.conversation}?watermark=3"),
        headers=anne.headers,
    ) as response:
        assert (await response.json())["conversationId"] == anne.conversation

    async with http.post(page.url("/webchat/session"), json={"person": "nobody"}) as response:
        assert response.status == 404
    async with http.post(page.url("/webchat/session"), data=f'{{"person": "{ANNE}"}}') as r:
        assert r.status == 415  # a cross-site form cannot send JSON
    async with http.get(page.url("/webchat/people"), headers={"Host": "rebound.example"}) as r:
        assert r.status == 403  # DNS rebinding: a page elsewhere resolving to loopback

    # A person's sender fields come from the token, whatever the client says.
    await anne.activities()
    await anne.post(
        type="message",
        text="help",
        **{"from": {"id": f"29:{CARLA}", "aadObjectId": CARLA, "role": "user"}},
    )
    echo = (await anne.activities())[0]
    assert echo["from"]["aadObjectId"] == ANNE


async def test_request_accept_and_status_over_direct_line(
    page: BotServer, http: aiohttp.ClientSession
) -> None:
    """The page's walkthrough without the browser: Anne requests, Carla accepts on her card
    (a plain Action.Submit in Web Chat), and Anne hears of it in her own conversation."""
    anne, carla = DirectLineClient(page, http), DirectLineClient(page, http)
    await anne.connect(ANNE)
    await anne.activities()
    for line, expected in (
        ("nieuwe aanvraag", "Welke bevoegdheid"),
        ("cameratoezicht", "Voor welke gemeente"),
        ("Zeist", "kort onderwerp"),
        (SUBJECT, "strafrechtelijk onderzoek"),
        ("nee", "boa"),
        ("nee", "Welk type rapportage"),
        ("eenvoudig", "Wanneer heeft de gemeente"),
        ("15-12-2026", "nieuw besluit"),
        ("Nieuw cameratoezicht", "Om wat voor gebied"),
        ("Binnenstad of uitgaansgebied", "soort incidenten"),
        ("Geweld en overlast", "camera"),
        ("Vaste camera's", "periode"),
        ("Laatste 12 maanden", "zaaknummer"),
        ("sla over", "Controleer je aanvraag"),
        ("indienen", "is ingediend met kenmerk"),
    ):
        out = await anne.say(line)
        assert expected in out, (line, out)
    await page.deliver()

    # Carla never opened the page, yet her card waits in her own conversation.
    await carla.connect(CARLA)
    cards = [
        attachment["content"]
        for activity in await carla.activities()
        for attachment in activity.get("attachments") or []
        if "BR-2026-0001" in json.dumps(attachment)
    ]
    assert len(cards) == 1
    accept = next(a for a in _actions(cards[0]) if a.get("title") == "Accepteren")
    # Web Chat handles Action.Submit only; its data carries the verb.
    assert accept["type"] == "Action.Submit"
    await carla.post(type="message", value=accept["data"], channelData={"postBack": True})
    assert "de status is nu geaccepteerd" in "\n".join(map(_text, await carla.activities()))
    await page.deliver()

    news = "\n".join(map(_text, await anne.activities()))
    assert "BR-2026-0001" in news
    assert "is nu **geaccepteerd**" in news


async def test_the_connector_the_bot_sends_to(page: BotServer, http: aiohttp.ClientSession) -> None:
    """Opening a personal chat, replacing a message where it is, deleting, members: the Bot
    Connector calls the SDK makes against the page's serviceUrl."""
    anne = DirectLineClient(page, http)
    await anne.connect(ANNE)
    await anne.activities()
    connector = page.url("/webchat/connector/v3/conversations")
    opened_with = {"bot": {"id": BOT_ID}, "members": [{"id": f"29:{ANNE}"}], "isGroup": False}
    async with http.post(connector, json=opened_with) as response:
        assert (await response.json())["id"] == anne.conversation

    # A held poll answers as soon as the bot sends something.
    poll = asyncio.create_task(anne.activities())
    await asyncio.sleep(0)
    async with http.post(
        f"{connector}/{anne.conversation}/activities", json={"type": "message", "text": "eerste"}
    ) as response:
        first_id = (await response.json())["id"]
    (first,) = await poll
    assert (first["id"], first["text"], first["from"]["role"]) == (first_id, "eerste", "bot")

    async with http.put(
        f"{connector}/{anne.conversation}/activities/{first_id}",
        json={"type": "message", "id": first_id, "text": "vervangen"},
    ) as response:
        assert (await response.json())["id"] == first_id
    (replaced,) = await anne.activities()
    # Same id and timestamp: Web Chat swaps it in place.
    assert (replaced["id"], replaced["text"]) == (first_id, "vervangen")
    assert replaced["timestamp"] == first["timestamp"]

    async with http.get(f"{connector}/{anne.conversation}/members") as response:
        assert [m["aadObjectId"] for m in await response.json()] == [ANNE]
    async with http.delete(f"{connector}/{anne.conversation}/activities/{first_id}") as response:
        assert response.status == 200
    fresh = DirectLineClient(page, http)
    await fresh.connect(ANNE)
    assert first_id not in [activity["id"] for activity in await fresh.activities()]

    # Only the page's own conversations exist here.
    async with http.post(
        f"{connector}/a:{uuid.uuid4().hex}/activities", json={"type": "message", "text": "x"}
    ) as response:
        assert response.status == 404


async def test_a_notification_reaches_the_persons_conversation_after_a_restart(
    sqlite_url: str, connector: LocalConnector, http: aiohttp.ClientSession
) -> None:
    """The bot keeps a person's chat in its contacts; after a restart the page's memory is
    empty, but a message to that chat still lands in the person's conversation."""
    await load_content(sqlite_url)
    first = await BotServer(local_settings(sqlite_url), connector).start()
    try:
        await DirectLineClient(first, http).connect(ANNE)
    finally:
        await first.stop()
    second = await BotServer(local_settings(sqlite_url), connector).start()
    try:
        database: Database = second.components.database
        async with database.sessions() as session:
            contact = await session.get(Contact, ANNE)
        assert contact is not None
        # The new server listens elsewhere; the person's conversation id is the same.
        url = second.url(
            f"/webchat/connector/v3/conversations/{contact.conversation_id}/activities"
        )
        async with http.post(url, json={"type": "message", "text": "nog steeds hier"}) as r:
            assert r.status == 200
        anne = DirectLineClient(second, http)
        await anne.connect(ANNE)
        assert "nog steeds hier" in [a.get("text") for a in await anne.activities()]
    finally:
        await second.stop()


@pytest.mark.parametrize(("allowed", "status"), [(LOCAL_TENANT, 200), ("0ther-tenant", 502)])
async def test_activities_name_the_local_tenant(
    sqlite_url: str,
    connector: LocalConnector,
    http: aiohttp.ClientSession,
    allowed: str,
    status: int,
) -> None:
    """The bot's tenant pinning sees the local tenant on the page's activities: allowed when
    ALLOWED_TENANTS names it, refused (403, so Direct Line's 502) when it does not."""
    await load_content(sqlite_url)
    server = await BotServer(local_settings(sqlite_url, allowed_tenants=allowed), connector).start()
    try:
        anne = DirectLineClient(server, http)
        await anne.connect(ANNE)
        url = server.url(f"/v3/directline/conversations/{anne.conversation}/activities")
        async with http.post(
            url, headers=anne.headers, json={"type": "message", "text": "help"}
        ) as r:
            assert r.status == status
    finally:
        await server.stop()
