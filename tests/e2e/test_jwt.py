"""Deployed mode against real signatures: channel tokens signed with a test key that the SDK finds
through test OpenID metadata. Every defect is a 401 that runs no handler; a valid token runs the
turn.

How the SDK is pointed at the test issuer (botframework-connector 4.17): with no CHANNEL_SERVICE
and no "parameterized" settings, `ConfigurationBotFrameworkAuthentication` is the public-cloud
authentication, which validates channel tokens in `ChannelValidation`. That reads its metadata URL
from the class attribute `ChannelValidation.open_id_metadata_endpoint` (falling back to
login.botframework.com), and `JwtTokenExtractor.metadataCache` keeps the fetched keys per URL
for a day. Both are patched per test, so nothing leaks into other tests and nothing leaves the
machine. Replies go to an https LocalConnector trusted through REQUESTS_CA_BUNDLE (the SDK's
connector client uses `requests`), with the bot's outbound Entra token replaced by a fixed one.

Each refusal is also checked for its reason: the same `authenticate_request` the app calls must
fail with the SDK's error for that defect, so a case cannot pass because, say, the metadata was
unreachable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from botbuilder.schema import Activity
from botframework.connector.auth import ChannelValidation, JwtTokenExtractor
from botframework.connector.auth.microsoft_app_credentials import MicrosoftAppCredentials
from sqlalchemy import func, select

from bot import openid_keys
from bot.config import Settings
from jwt_support import ChannelIssuer, TlsConnector, rsa_key, write_tls_files
from storage.db import Database
from storage.models import BotStateItem
from support import BotServer, local_settings

APP_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_APP_ID = "ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee"
OUTBOUND_TOKEN = "outbound-test-token"  # what the bot sends to the connector instead of Entra's
TEAMS_KEY = "teams-key"  # endorsed for msteams (and more, like Microsoft's keys)
WEBCHAT_KEY = "webchat-key"  # endorsed for webchat only
SKEW = 5 * 60  # the SDK's clock tolerance for channel tokens (ChannelValidation)
MARGIN = 60  # distance from the skew boundary, so a slow run cannot flip a case


def deployed(database_url: str) -> Settings:
    return local_settings(
        database_url,
        microsoft_app_id=APP_ID,
        microsoft_app_password="test-secret",
        microsoft_app_tenant_id=TENANT,
        # The TLS connector on loopback stands in for Teams' service host.
        service_url_hosts=["127.0.0.1"],
    )


async def _state_rows(url: str) -> int:
    database = Database.connect(url)
    try:
        async with database.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(BotStateItem)) or 0)
    finally:
        await database.dispose()


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChannelIssuer]:
    issuer = ChannelIssuer()
    issuer.publish(TEAMS_KEY, ["msteams", "skype", "webchat"])
    issuer.publish(WEBCHAT_KEY, ["webchat"])
    issuer.start()
    monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", issuer.metadata_url)
    # The SDK's per-URL key cache (a class attribute): fresh for this test, restored after.
    monkeypatch.setattr(JwtTokenExtractor, "metadataCache", {})
    # requests honours proxy variables; loopback must never go through one.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield issuer
    issuer.stop()


@pytest.fixture
async def teams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TlsConnector]:
    ca, cert, key = write_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    # The bot's own token for its replies would come from login.microsoftonline.com.
    monkeypatch.setattr(
        MicrosoftAppCredentials,
        "get_access_token",
        lambda self, force_refresh=False: OUTBOUND_TOKEN,
    )
    connector = await TlsConnector(cert, key).start()
    yield connector
    await connector.stop()


@pytest.fixture
async def server(
    sqlite_url: str, issuer: ChannelIssuer, teams: TlsConnector
) -> AsyncIterator[BotServer]:
    # After `issuer`: the SDK must never see the real metadata URL, not even at start-up.
    server = await BotServer(deployed(sqlite_url), teams).start()
    yield server
    await server.stop()


def help_message(server: BotServer) -> dict[str, Any]:
    """A message exactly as Teams would send it to this bot in its own tenant."""
    chat = server.session()
    activity = chat.activity(type="message", text="help")  # a fresh activity id each time
    activity["conversation"]["tenantId"] = TENANT
    activity["channelData"] = {"tenant": {"id": TENANT}}
    activity["recipient"] = {"id": f"28:{APP_ID}", "name": "Rapportagebot"}
    return activity


async def post(server: BotServer, activity: dict[str, Any], token: str) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return await server.post("/api/messages", json.dumps(activity).encode(), headers)


@dataclass(frozen=True)
class Forgery:
    """A token with one defect, and the SDK error that defect must produce."""

    make: Callable[[ChannelIssuer, str], str]  # (issuer, the activity's serviceUrl) -> token
    error: type[BaseException]
    reason: str  # regex on the error message


def _signed(**overrides: Any) -> Callable[[ChannelIssuer, str], str]:
    """Signed with the msteams key; an override may be a function of the current time, so
    times are taken when the token is made, not when this module is imported."""

    def make(issuer: ChannelIssuer, url: str) -> str:
        now = int(time.time())
        claims = {
            name: value(now) if callable(value) else value for name, value in overrides.items()
        }
        return issuer.sign(issuer.claims(APP_ID, url, **claims), TEAMS_KEY)

    return make


FORGERIES = {
    "wrong_audience": Forgery(_signed(aud=OTHER_APP_ID), PermissionError, "Invalid AppId"),
    "no_audience": Forgery(_signed(aud=None), PermissionError, "Invalid AppId"),
    "audience_list": Forgery(_signed(aud=[APP_ID, OTHER_APP_ID]), PermissionError, "AppId"),
    # Not in the trusted list: refused before any key lookup (the extractor returns no identity).
    "wrong_issuer": Forgery(_signed(iss="https://evil.example"), PermissionError, "No valid"),
    "issuer_lookalike": Forgery(
        _signed(iss="https://api.botframework.com/"), PermissionError, "No valid identity"
    ),
    # The SDK's emulator check reads token["iss"] unguarded: a KeyError, still a 401 here.
    "no_issuer": Forgery(_signed(iss=None), KeyError, "iss"),
    "expired_beyond_skew": Forgery(
        _signed(exp=lambda now: now - SKEW - MARGIN, nbf=lambda now: now - 7200),
        jwt.ExpiredSignatureError,
        "expired",
    ),
    "not_yet_valid_beyond_skew": Forgery(
        _signed(nbf=lambda now: now + SKEW + MARGIN), jwt.ImmatureSignatureError, "not yet"
    ),
    # Someone else's key presented under the real key's id.
    "bad_signature": Forgery(
        lambda issuer, url: issuer.sign(issuer.claims(APP_ID, url), TEAMS_KEY, key=rsa_key()),
        jwt.InvalidSignatureError,
        "Signature verification failed",
    ),
    # A genuine token for another bot, re-addressed to this one.
    "readdressed_payload": Forgery(
        lambda issuer, url: _swap_payload(
            issuer.sign(issuer.claims(OTHER_APP_ID, url), TEAMS_KEY),
            issuer.claims(APP_ID, url),
        ),
        jwt.InvalidSignatureError,
        "Signature verification failed",
    ),
    "serviceurl_elsewhere": Forgery(
        lambda issuer, url: issuer.sign(
            issuer.claims(APP_ID, "https://smba.trafficmanager.net/emea/"), TEAMS_KEY
        ),
        PermissionError,
        "service_url claim do not match",
    ),
    "serviceurl_missing": Forgery(
        _signed(serviceurl=None), PermissionError, "service_url claim do not match"
    ),
    # A genuine key, but Microsoft published it for another channel than the activity's.
    "key_not_endorsed_for_msteams": Forgery(
        lambda issuer, url: issuer.sign(issuer.claims(APP_ID, url), WEBCHAT_KEY),
        Exception,
        "Could not validate endorsement key",
    ),
    "unknown_kid": Forgery(
        lambda issuer, url: issuer.sign(issuer.claims(APP_ID, url), "rotated-away", key=rsa_key()),
        PermissionError,
        "unknown or untrusted signing key",
    ),
    "no_kid": Forgery(
        lambda issuer, url: issuer.sign(
            issuer.claims(APP_ID, url), None, key=issuer.private_keys[TEAMS_KEY]
        ),
        PermissionError,
        "unknown or untrusted signing key",
    ),
    "hmac_algorithm": Forgery(
        lambda issuer, url: issuer.sign(
            issuer.claims(APP_ID, url), TEAMS_KEY, key="s" * 32, algorithm="HS256"
        ),
        Exception,
        "algorithm not in allowed list",
    ),
}


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("case", list(FORGERIES))
async def test_forged_or_misaddressed_token_gets_401_and_runs_no_handler(
    case: str, issuer: ChannelIssuer, server: BotServer, teams: TlsConnector, sqlite_url: str
) -> None:
    forgery = FORGERIES[case]
    activity = help_message(server)
    token = forgery.make(issuer, activity["serviceUrl"])

    status, body = await post(server, activity, token)
    assert status == 401, body
    assert json.loads(body) == {"error": "unauthorized"}
    # The reason: the app's own authentication object refuses this token for this defect.
    with pytest.raises(forgery.error, match=forgery.reason):
        await server.components.authentication.authenticate_request(
            Activity().deserialize(activity), f"Bearer {token}"
        )
    assert teams.received == []
    assert await _state_rows(sqlite_url) == 0


async def test_valid_channel_token_runs_the_turn(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector, sqlite_url: str
) -> None:
    activity = help_message(server)
    token = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), TEAMS_KEY)

    status, body = await post(server, activity, token)

    assert status == 201, body
    replies = await teams.wait_for(1)
    reply = replies[0]
    assert reply.conversation_id == activity["conversation"]["id"]
    assert reply.activity_id == activity["id"]  # a reply to this very activity
    assert reply.text or reply.cards
    # The bot's own token went to the service URL the channel vouched for, and nowhere else.
    assert reply.authorization == f"Bearer {OUTBOUND_TOKEN}"
    assert await _state_rows(sqlite_url) > 0
    # The keys came from the test metadata: one fetch of each document.
    assert issuer.requests == ["/v1/.well-known/openidconfiguration", "/v1/.well-known/keys"]


async def test_token_just_past_expiry_is_still_inside_the_sdk_clock_skew(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector
) -> None:
    activity = help_message(server)
    now = int(time.time())
    token = issuer.sign(
        issuer.claims(APP_ID, activity["serviceUrl"], exp=now - SKEW + MARGIN, nbf=now - 3600),
        TEAMS_KEY,
    )
    status, body = await post(server, activity, token)
    assert status == 201, body
    assert len(await teams.wait_for(1)) >= 1


async def test_keys_are_cached_and_unknown_key_ids_do_not_refetch(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector
) -> None:
    """Tokens with made-up key ids cannot make the bot hammer the metadata endpoint."""
    for _ in range(3):
        activity = help_message(server)
        token = FORGERIES["unknown_kid"].make(issuer, activity["serviceUrl"])
        assert (await post(server, activity, token))[0] == 401
    activity = help_message(server)
    valid = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), TEAMS_KEY)
    assert (await post(server, activity, valid))[0] == 201
    assert issuer.metadata_fetches == 1


async def test_key_without_any_endorsements_is_refused(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector, sqlite_url: str
) -> None:
    # SDK 4.17 skips the endorsement check for such a key; bot/openid_keys.py does not trust it.
    issuer.publish("bare-key", None)
    issuer.publish("empty-key", [])
    for kid in ("bare-key", "empty-key"):
        activity = help_message(server)
        token = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), kid)
        assert (await post(server, activity, token))[0] == 401, kid
    assert teams.received == []
    assert await _state_rows(sqlite_url) == 0


async def test_token_without_expiry_is_refused(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector, sqlite_url: str
) -> None:
    # SDK 4.17 lets PyJWT accept a token without `exp`; bot.app refuses it itself.
    activity = help_message(server)
    token = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"], exp=None), TEAMS_KEY)
    assert (await post(server, activity, token))[0] == 401
    assert teams.received == []
    assert await _state_rows(sqlite_url) == 0


async def test_a_newly_published_signing_key_is_fetched_when_first_used(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector
) -> None:
    """Key rotation: the channel publishes a key and starts signing with it. SDK 4.17 raised
    IndexError on the unknown key id and refused every request until its daily refresh."""
    activity = help_message(server)
    valid = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), TEAMS_KEY)
    assert (await post(server, activity, valid))[0] == 201
    issuer.publish("rotated-key", ["msteams"])
    # Made-up key ids may force a fetch at most every few minutes: let those minutes pass.
    [cache] = JwtTokenExtractor.metadataCache.values()
    cache.last_updated -= openid_keys.UNKNOWN_KEY_REFRESH + dt.timedelta(seconds=1)
    activity = help_message(server)
    rotated = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), "rotated-key")
    assert (await post(server, activity, rotated))[0] == 201
    assert issuer.metadata_fetches == 2


async def test_a_slow_metadata_host_does_not_freeze_other_requests(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector
) -> None:
    """SDK 4.17 fetched keys with blocking requests.get on the event loop: while the metadata
    host was slow, nothing else in the process could run."""
    issuer.hold = True
    activity = help_message(server)
    valid = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), TEAMS_KEY)
    validating = asyncio.ensure_future(post(server, activity, valid))
    assert await asyncio.to_thread(issuer.asked.wait, 30)  # the fetch has started
    assert (await server.get("/healthz"))[0] == 200
    # healthz was answered while the metadata host was still holding its answer.
    assert not issuer.answered.is_set()
    issuer.release.set()
    assert (await validating)[0] == 201


async def test_concurrent_first_requests_share_one_key_fetch(
    issuer: ChannelIssuer, server: BotServer, teams: TlsConnector
) -> None:
    issuer.delay = 0.3
    posts = []
    for _ in range(5):
        activity = help_message(server)
        token = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), TEAMS_KEY)
        posts.append(post(server, activity, token))
    assert [status for status, _ in await asyncio.gather(*posts)] == [201] * 5
    assert issuer.metadata_fetches == 1


async def test_a_metadata_host_that_never_answers_gives_401_not_a_hang(
    issuer: ChannelIssuer,
    server: BotServer,
    teams: TlsConnector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(openid_keys, "FETCH_TIMEOUT", 0.2)
    issuer.delay = 2.0
    activity = help_message(server)
    valid = issuer.sign(issuer.claims(APP_ID, activity["serviceUrl"]), TEAMS_KEY)
    assert (await post(server, activity, valid))[0] == 401
    assert teams.received == []
