"""The adapter reuses its connector clients (bot/adapter.py), and reuse changes nothing else.

Through the real app and /api/messages: turns to one service URL share one client (seen from the
connector's side as one kept-alive connection), another service URL gets its own client, every
reply still arrives, a cookie the service sets is never sent back on a later turn, no client is
made for a service URL outside the allowlist, and deployed, the bot's token for its own app id is
on every reply while its credentials are made once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botframework.connector.auth import ChannelValidation, ClaimsIdentity, JwtTokenExtractor
from botframework.connector.auth.microsoft_app_credentials import MicrosoftAppCredentials

from bot.adapter import ServiceUrlNotAllowedError
from bot.chat import ChatSession
from bot.local_channel import LocalConnector
from jwt_support import ChannelIssuer, TlsConnector, write_tls_files
from support import BotServer, local_settings

HELP_TITLE = "Wat kan de rapportagebot?"


class WatchingConnector(LocalConnector):
    """A LocalConnector that also notes, per call, the caller's TCP port and the cookies it
    sent, and sets a cookie on every answer (as a load balancer's affinity cookie would)."""

    def __init__(self) -> None:
        super().__init__()
        self.peer_ports: list[int] = []
        self.cookies_sent: list[str | None] = []

    async def _record(self, request: web.Request, body: dict[str, Any]) -> Any:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peer_ports.append(peer[1] if peer else -1)
        self.cookies_sent.append(request.headers.get("Cookie"))
        return await super()._record(request, body)

    async def _send(self, request: web.Request) -> web.Response:
        response = await super()._send(request)
        response.set_cookie("affinity", f"call-{len(self.peer_ports)}")
        return response


@pytest.fixture
async def connectors() -> AsyncIterator[tuple[WatchingConnector, WatchingConnector]]:
    first, second = WatchingConnector(), WatchingConnector()
    await first.start()
    await second.start()
    yield first, second
    await first.stop()
    await second.stop()


@pytest.fixture
async def server(
    sqlite_url: str, connectors: tuple[WatchingConnector, WatchingConnector]
) -> AsyncIterator[BotServer]:
    bot = await BotServer(local_settings(sqlite_url), connectors[0]).start()
    yield bot
    await bot.stop()


def _help_cards(chat: ChatSession, replies: list[Any]) -> list[dict[str, Any]]:
    return [
        card
        for reply in replies
        if reply.conversation_id == chat.conversation_id
        for card in reply.cards
        if card["body"][0].get("text") == HELP_TITLE
    ]


async def test_turns_to_one_service_url_share_one_client_and_each_url_has_its_own(
    server: BotServer,
    connectors: tuple[WatchingConnector, WatchingConnector],
    http: aiohttp.ClientSession,
) -> None:
    first, second = connectors
    anne = ChatSession(server.url("/api/messages"), first, "Anne Aanvrager", http)
    gert = ChatSession(server.url("/api/messages"), second, "Gert Gemeente", http)
    clients = server.components.adapter.connector_clients

    for _ in range(3):
        replies, _ = await anne.say("help")
        assert len(_help_cards(anne, replies)) == 1
    assert len(clients) == 1
    # One client, so one kept-alive connection for every reply of every turn (a client per
    # turn, as the SDK makes them, opens a new connection each turn).
    assert len(first.peer_ports) >= 3
    assert len(set(first.peer_ports)) == 1

    replies, _ = await gert.say("help")
    assert len(_help_cards(gert, replies)) == 1
    assert second.received and first.received
    assert all(item.conversation_id == gert.conversation_id for item in second.received)
    assert len(clients) == 2
    [client_of_first] = clients.for_service_url(first.url)
    [client_of_second] = clients.for_service_url(second.url)
    assert client_of_first is not client_of_second

    # Back to the first service URL: its own client again.
    before = len(first.peer_ports)
    replies, _ = await anne.say("help")
    assert len(_help_cards(anne, replies)) == 1
    assert len(clients) == 2
    assert clients.for_service_url(first.url) == [client_of_first]
    assert set(first.peer_ports[before:]) == set(first.peer_ports[:before])


async def test_a_reused_client_never_sends_back_a_cookie(
    server: BotServer,
    connectors: tuple[WatchingConnector, WatchingConnector],
    http: aiohttp.ClientSession,
) -> None:
    first, _ = connectors
    anne = ChatSession(server.url("/api/messages"), first, "Anne Aanvrager", http)
    bea = ChatSession(server.url("/api/messages"), first, "Bea Beheer", http)
    for chat in (anne, bea, anne):
        replies, _ = await chat.say("help")
        assert len(_help_cards(chat, replies)) == 1
    assert len(server.components.adapter.connector_clients) == 1
    assert len(first.cookies_sent) >= 3
    # Every answer set a cookie; no later call, of this or another conversation, carried one.
    assert first.cookies_sent == [None] * len(first.cookies_sent)


async def test_no_client_for_a_service_url_outside_the_allowlist(server: BotServer) -> None:
    adapter = server.components.adapter
    factory = adapter.bot_framework_authentication.create_connector_factory(
        ClaimsIdentity({}, True)
    )
    with pytest.raises(ServiceUrlNotAllowedError):
        await factory.create("https://smba.example.org/emea/", None)
    with pytest.raises(ServiceUrlNotAllowedError):
        await factory.create("http://10.0.0.1:3978/", None)
    assert len(adapter.connector_clients) == 0


# --- deployed: the bot's own token on every reply ---------------------------------------------

APP_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "11111111-2222-3333-4444-555555555555"
TEAMS_KEY = "teams-key"


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChannelIssuer]:
    issuer = ChannelIssuer()
    issuer.publish(TEAMS_KEY, ["msteams"])
    issuer.start()
    monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", issuer.metadata_url)
    monkeypatch.setattr(JwtTokenExtractor, "metadataCache", {})
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield issuer
    issuer.stop()


@pytest.fixture
def credentials_used(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, str]]:
    """Which credentials object asked for a token, for which app id and scope. Entra is not
    reachable here: the token names the app id and scope it was asked for."""
    used: list[tuple[int, str, str]] = []

    def token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        used.append((id(self), self.microsoft_app_id, self.oauth_scope))
        return f"token-for-{self.microsoft_app_id}"

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", token)
    return used


@pytest.fixture
async def teams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TlsConnector]:
    ca, cert, key = write_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    connector = await TlsConnector(cert, key).start()
    yield connector
    await connector.stop()


async def test_deployed_replies_carry_the_token_of_the_bots_own_app_id(
    sqlite_url: str,
    issuer: ChannelIssuer,
    teams: TlsConnector,
    credentials_used: list[tuple[int, str, str]],
) -> None:
    settings = local_settings(
        sqlite_url,
        microsoft_app_id=APP_ID,
        microsoft_app_password="test-secret",
        microsoft_app_tenant_id=TENANT,
        service_url_hosts=["127.0.0.1"],
    )
    server = await BotServer(settings, teams).start()
    try:
        chat = server.session()
        for turn in range(3):
            activity = chat.activity(type="message", text="help")
            activity["conversation"]["tenantId"] = TENANT
            activity["channelData"] = {"tenant": {"id": TENANT}}
            activity["recipient"] = {"id": f"28:{APP_ID}", "name": "Rapportagebot"}
            token = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), TEAMS_KEY)
            status, body = await server.post(
                "/api/messages",
                json.dumps(activity).encode(),
                {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            assert status == 201, body
            assert any(reply.activity_id == activity["id"] for reply in teams.received), turn
        assert teams.received
        assert {reply.authorization for reply in teams.received} == {f"Bearer token-for-{APP_ID}"}
        assert len(server.components.adapter.connector_clients) == 1
        # One credentials object for every reply (deployed, its MSAL token cache is then reused
        # instead of a fresh one per turn), for the bot's app id and the channel's scope.
        assert len({identity for identity, _, _ in credentials_used}) == 1
        assert {(app, scope) for _, app, scope in credentials_used} == {
            (APP_ID, "https://api.botframework.com")
        }
    finally:
        await server.stop()
