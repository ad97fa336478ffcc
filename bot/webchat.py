"""The browser try-out page of local mode: Bot Framework Web Chat talking to this same bot.

`make run` serves `http://127.0.0.1:3978/`: our page (web/index.html, web/app.js), Web Chat's
bundle from web/node_modules (installed from npm by `make webchat`, never committed, never from a
CDN), and two small HTTP faces of one in-memory conversation store:

- **A Direct Line 3.0 subset** under `/v3/directline`, exactly the calls Web Chat's DirectLineJS
  (botframework-directlinejs 0.15, `createDirectLine({domain, token, webSocket: false})`) makes
  when polling: `POST /conversations` -> `{conversationId, token, expires_in}`,
  `POST /conversations/{id}/activities` -> `{id}`, `GET /conversations/{id}/activities?
  watermark=w` -> `{activities, watermark}`, `GET /conversations/{id}?watermark=w` (reconnect)
  and `POST /tokens/refresh`. A 403 means "token not valid here" and a 404 "no such
  conversation", as DirectLineJS reads them. A poll with nothing new is held open for a few
  seconds (DirectLineJS waits up to 20 s and polls again at once), so replies show without delay.
- **The connector the bot replies to**: the `serviceUrl` of every activity the page injects points
  at `/webchat/connector/`, which takes the same Bot Connector calls the local stand-in
  (bot.local_channel) takes: replies and proactive messages (`POST .../activities`), updates
  (`PUT`), deletes, members, and opening a personal chat (`POST /v3/conversations`). So replies,
  card updates and outbox notifications all land in the right person's conversation.

A server-side endpoint rather than a client-side object implementing DirectLineJS' interface:
Web Chat then runs its own, unmodified Direct Line client as against Azure's service; the bot
sees real HTTP activities through `/api/messages` with every check of bot.app; and the protocol
is testable over HTTP without a browser (tests/e2e/test_directline.py). A client-side adapter
would still need a server channel for proactive messages, i.e. this endpoint under another name.

Every person has one personal conversation (`webchat-personal-<aadObjectId>`), as in Teams, so
switching persons on the page reconnects Web Chat to that person's conversation and shows its
history. Activities sent to the bot carry channelId `webchat`, a personal conversation in the
local tenant, the person's `aadObjectId`, and this server's loopback address as serviceUrl.
The first session of the page introduces every person of the registry to the bot (a
`conversationUpdate`, as when Teams installs an app for its users), so the bot knows each
person's chat and its channel before it first writes to them; activity ids are random, so the
audit trail's replay protection never sees an id twice across restarts.

Registered by bot.app only in local mode, which listens on loopback only. The handlers also
refuse a Host header that is not loopback (a DNS-rebinding page cannot drive them), and the POSTs
need a JSON body, which a cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.local_channel import BOT_ID, LOCAL_TENANT
from storage.db import Database
from storage.models import Basisteam, Gemeente, Person, PersonRole

log = logging.getLogger(__name__)

WEB_ROOT = Path(__file__).resolve().parents[1] / "web"
# Web Chat's full bundle (React, Adaptive Cards and Direct Line included) as npm installs it.
BUNDLE = Path("node_modules/botframework-webchat/dist/webchat.js")
CHANNEL = "webchat"
BOT_NAME = "Rapportagebot"
DIRECTLINE = "/v3/directline"
CONNECTOR = "/webchat/connector"
CONVERSATION_PREFIX = "webchat-personal-"
# How long a poll with nothing new is held (DirectLineJS gives up on a call after 20 s).
POLL_HOLD_SECONDS = 8.0
# Per conversation; the oldest activities go first (the page is a try-out, not an archive).
MAX_HISTORY = 500
TOKEN_SECONDS = 3600
# Fields of a client's activity passed on; the rest (sender, conversation, channel, serviceUrl,
# tenant) is set here from the token's person, never taken from the browser.
CLIENT_FIELDS = ("text", "value", "textFormat", "locale", "localTimestamp", "entities", "name")
FORWARDED_TYPES = frozenset({"message", "event"})


@dataclass
class _Entry:
    seq: int
    activity: dict[str, Any]


@dataclass
class Conversation:
    """One person's personal chat: what Web Chat is shown, in delivery order."""

    id: str
    aad_object_id: str
    name: str
    entries: list[_Entry] = field(default_factory=list)
    last_timestamp: dt.datetime | None = None
    # Set (and replaced) whenever something is appended: wakes the held polls.
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_id(self) -> str:
        # The same id `python -m bot chat --user` uses for the demo people (bot.chat).
        return f"29:{self.aad_object_id}"


def conversation_id_of(aad_object_id: str) -> str:
    return f"{CONVERSATION_PREFIX}{aad_object_id}"


def _problem(status: int, code: str, message: str) -> web.Response:
    # Direct Line's error shape.
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebChatPage:
    """The page, its static files, the Direct Line subset and the connector (module docstring)."""

    def __init__(self, database: Database, web_root: Path | None = None) -> None:
        self.database = database
        self.web_root = web_root or WEB_ROOT
        self.conversations: dict[str, Conversation] = {}
        self._tokens: dict[str, str] = {}  # token -> aad object id
        self._token_of: dict[str, str] = {}  # aad object id -> token
        self._seq = 0
        self._everyone_introduced = False
        self._closing = False
        self._http: aiohttp.ClientSession | None = None

    def register(self, app: web.Application) -> None:
        router = app.router
        router.add_get("/", self.page)
        router.add_get("/webchat/app.js", self.script)
        router.add_get("/webchat/webchat.js", self.bundle)
        router.add_get("/webchat/people", self.people)
        router.add_post("/webchat/session", self.session)
        conversation = f"{DIRECTLINE}/conversations/{{conversation}}"
        router.add_post(f"{DIRECTLINE}/conversations", self.start_conversation)
        router.add_get(conversation, self.reconnect)
        router.add_post(f"{conversation}/activities", self.post_activity)
        router.add_get(f"{conversation}/activities", self.get_activities)
        router.add_post(f"{DIRECTLINE}/tokens/refresh", self.refresh_token)
        chat = f"{CONNECTOR}/v3/conversations/{{conversation}}"
        router.add_post(f"{CONNECTOR}/v3/conversations", self.connector_open)
        router.add_post(f"{chat}/activities", self.connector_send)
        router.add_post(f"{chat}/activities/{{activity}}", self.connector_send)
        router.add_put(f"{chat}/activities/{{activity}}", self.connector_update)
        router.add_delete(f"{chat}/activities/{{activity}}", self.connector_delete)
        router.add_get(f"{chat}/members", self.connector_members)
        router.add_get(f"{chat}/pagedmembers", self.connector_paged_members)
        app.on_shutdown.append(self._shutdown)
        app.cleanup_ctx.append(self._client)

    # -- lifecycle ----------------------------------------------------------------------------

    async def _client(self, _app: web.Application) -> AsyncIterator[None]:
        yield
        if self._http is not None:
            await self._http.close()

    async def _shutdown(self, _app: web.Application) -> None:
        """Held polls answer at once, so stopping the server does not wait for them."""
        self._closing = True
        for conversation in self.conversations.values():
            conversation.changed.set()

    # -- the page -----------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        response = web.FileResponse(self.web_root / "index.html")
        response.headers.update(_PAGE_HEADERS)
        return response

    async def script(self, request: web.Request) -> web.StreamResponse:
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        response = web.FileResponse(self.web_root / "app.js")
        response.headers["Cache-Control"] = "no-cache"
        return response

    async def bundle(self, request: web.Request) -> web.StreamResponse:
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        path = self.web_root / BUNDLE
        if not path.is_file():
            # The page notices that Web Chat is missing and says how to install it.
            return web.Response(status=404, text="Web Chat is not installed: run `make webchat`.\n")
        return web.FileResponse(path)

    async def people(self, request: web.Request) -> web.Response:
        """The people of the registry with their roles, for the page's person switch."""
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        return web.json_response({"people": await self._registry_people()})

    async def session(self, request: web.Request) -> web.Response:
        """A Direct Line token for one person of the registry: the page's person switch."""
        refused = _foreign_host(request) or await _not_json(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "BadArgument", "body is not valid JSON")
        person_id = body.get("person") if isinstance(body, dict) else None
        if not isinstance(person_id, str):
            return _problem(400, "BadArgument", 'name a person: {"person": aadObjectId}')
        people = {person["id"]: person for person in await self._registry_people()}
        person = people.get(person_id)
        if person is None:
            return _problem(404, "NotFound", "no such person in the registry")
        if not self._everyone_introduced:
            # Like Teams installing the app for its users: the bot learns where everybody's
            # chat is (and that it is Web Chat) before it writes to them the first time.
            self._everyone_introduced = True
            for other in people.values():
                self._conversation(other["id"], other["name"])
                await self._introduce(request, self.conversations[conversation_id_of(other["id"])])
        conversation = self._conversation(person_id, person["name"])
        token = self._token_of.get(person_id)
        if token is None:
            token = secrets.token_urlsafe(24)
            self._tokens[token] = person_id
            self._token_of[person_id] = token
        return web.json_response(
            {
                "token": token,
                "conversationId": conversation.id,
                "userId": conversation.user_id,
                "name": conversation.name,
            }
        )

    # -- Direct Line ----------------------------------------------------------------------------

    async def start_conversation(self, request: web.Request) -> web.Response:
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        person_id = self._bearer(request)
        if person_id is None:
            return _problem(403, "TokenInvalid", "unknown token")
        conversation = self.conversations[conversation_id_of(person_id)]
        await self._introduce(request, conversation)
        return web.json_response(self._conversation_body(conversation), status=201)

    async def reconnect(self, request: web.Request) -> web.Response:
        found = self._authorized(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(self._conversation_body(found))

    async def refresh_token(self, request: web.Request) -> web.Response:
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        person_id = self._bearer(request)
        if person_id is None:
            return _problem(403, "TokenInvalid", "unknown token")
        conversation = self.conversations[conversation_id_of(person_id)]
        return web.json_response(self._conversation_body(conversation))

    async def post_activity(self, request: web.Request) -> web.Response:
        """An activity from Web Chat: shown back to the page (with its clientActivityID, so Web
        Chat marks it sent), then posted to the bot's own `/api/messages` as a Web Chat client's
        activity from the token's person."""
        found = self._authorized(request)
        if isinstance(found, web.Response):
            return found
        refused = await _not_json(request)
        if refused is not None:
            return refused
        try:
            posted = await request.json()
        except ValueError:
            return _problem(400, "BadArgument", "body is not valid JSON")
        if not isinstance(posted, dict) or not isinstance(posted.get("type"), str):
            return _problem(400, "BadArgument", "body must be an activity")
        conversation = found
        activity_id = uuid.uuid4().hex
        if posted["type"] not in FORWARDED_TYPES:
            return web.json_response({"id": activity_id})  # typing indicators and the like
        client_data = posted.get("channelData")
        client_data = client_data if isinstance(client_data, dict) else {}
        echo_data = {
            key: client_data[key] for key in ("clientActivityID", "postBack") if key in client_data
        }
        fields = {key: posted[key] for key in CLIENT_FIELDS if key in posted}
        sender = {
            "id": conversation.user_id,
            "name": conversation.name,
            "aadObjectId": conversation.aad_object_id,
            "role": "user",
        }
        timestamp = self._append(
            conversation,
            {
                **fields,
                "type": posted["type"],
                "id": activity_id,
                "channelId": CHANNEL,
                "from": sender,
                "conversation": {"id": conversation.id},
                "channelData": echo_data,
            },
        )
        status = await self._to_bot(
            request,
            conversation,
            {
                **fields,
                "type": posted["type"],
                "id": activity_id,
                "timestamp": timestamp,
                "from": sender,
                "channelData": {**echo_data, "tenant": {"id": LOCAL_TENANT}},
            },
        )
        if status >= 300:
            return _problem(502, "BotError", f"the bot answered {status}")
        return web.json_response({"id": activity_id})

    async def get_activities(self, request: web.Request) -> web.Response:
        found = self._authorized(request)
        if isinstance(found, web.Response):
            return found
        conversation = found
        try:
            watermark = int(request.query.get("watermark") or 0)
        except ValueError:
            watermark = 0
        newer = [entry for entry in conversation.entries if entry.seq > watermark]
        if not newer and not self._closing:
            changed = conversation.changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=POLL_HOLD_SECONDS)
            except TimeoutError:
                pass
            newer = [entry for entry in conversation.entries if entry.seq > watermark]
        last = max([watermark, *(entry.seq for entry in newer)])
        return web.json_response(
            {"activities": [entry.activity for entry in newer], "watermark": str(last)}
        )

    # -- the connector the bot sends to -------------------------------------------------------

    async def connector_open(self, request: web.Request) -> web.Response:
        """The bot opens a personal chat with someone (the outbox, for a person it has not heard
        from): the person's one conversation, so it shows when they open the page."""
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        body = await _json_object(request)
        members = body.get("members") if body else None
        member = members[0] if isinstance(members, list) and members else None
        member_id = member.get("id") if isinstance(member, dict) else None
        if not isinstance(member_id, str) or not member_id:
            return _problem(400, "BadArgument", "a personal chat needs one member")
        aad_object_id = member_id.removeprefix("29:")
        conversation = self._conversation(aad_object_id, await self._name_of(aad_object_id))
        return web.json_response({"id": conversation.id, "activityId": None})

    async def connector_send(self, request: web.Request) -> web.Response:
        conversation = await self._connector_conversation(request)
        if isinstance(conversation, web.Response):
            return conversation
        body = await _json_object(request)
        if body is None:
            return _problem(400, "BadArgument", "body must be an activity")
        activity_id = uuid.uuid4().hex
        shown = self._from_bot(body, activity_id, conversation)
        replied_to = request.match_info.get("activity")
        if replied_to:
            # A reply names what it answers in the URL (ReplyToActivity); Direct Line shows it.
            shown.setdefault("replyToId", replied_to)
        self._append(conversation, shown)
        return web.json_response({"id": activity_id})

    async def connector_update(self, request: web.Request) -> web.Response:
        """Replace a message where it is: Web Chat swaps an activity it receives again with the
        same id, and orders by timestamp, so the copy keeps the original's."""
        conversation = await self._connector_conversation(request)
        if isinstance(conversation, web.Response):
            return conversation
        body = await _json_object(request)
        if body is None:
            return _problem(400, "BadArgument", "body must be an activity")
        activity_id = request.match_info["activity"]
        original = next((e for e in conversation.entries if e.activity["id"] == activity_id), None)
        activity = self._from_bot(body, activity_id, conversation)
        if original is not None:
            conversation.entries.remove(original)
            activity["timestamp"] = original.activity.get("timestamp")
        # Unknown (e.g. sent before a restart, whose history is gone): shown as a new message.
        self._append(conversation, activity, keep_timestamp=original is not None)
        return web.json_response({"id": activity_id})

    async def connector_delete(self, request: web.Request) -> web.Response:
        conversation = await self._connector_conversation(request)
        if isinstance(conversation, web.Response):
            return conversation
        activity_id = request.match_info["activity"]
        conversation.entries[:] = [
            entry for entry in conversation.entries if entry.activity["id"] != activity_id
        ]
        return web.Response(status=200)

    async def connector_members(self, request: web.Request) -> web.Response:
        conversation = await self._connector_conversation(request)
        if isinstance(conversation, web.Response):
            return conversation
        return web.json_response([self._member(conversation)])

    async def connector_paged_members(self, request: web.Request) -> web.Response:
        conversation = await self._connector_conversation(request)
        if isinstance(conversation, web.Response):
            return conversation
        return web.json_response({"members": [self._member(conversation)]})

    # -- helpers --------------------------------------------------------------------------------

    def _conversation(self, aad_object_id: str, name: str) -> Conversation:
        conversation_id = conversation_id_of(aad_object_id)
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            conversation = Conversation(conversation_id, aad_object_id, name)
            self.conversations[conversation_id] = conversation
        elif name and not conversation.name:
            conversation.name = name
        return conversation

    async def _connector_conversation(self, request: web.Request) -> Conversation | web.Response:
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        conversation_id = request.match_info["conversation"]
        conversation = self.conversations.get(conversation_id)
        if conversation is not None:
            return conversation
        if not conversation_id.startswith(CONVERSATION_PREFIX):
            return _problem(404, "ConversationNotFound", "not a conversation of this page")
        # A person's chat from before a restart: the history is gone, the chat is not.
        aad_object_id = conversation_id.removeprefix(CONVERSATION_PREFIX)
        return self._conversation(aad_object_id, await self._name_of(aad_object_id))

    def _authorized(self, request: web.Request) -> Conversation | web.Response:
        refused = _foreign_host(request)
        if refused is not None:
            return refused
        conversation = self.conversations.get(request.match_info["conversation"])
        if conversation is None:
            return _problem(404, "ConversationNotFound", "no such conversation")
        if self._bearer(request) != conversation.aad_object_id:
            return _problem(403, "TokenInvalid", "the token is not for this conversation")
        return conversation

    def _bearer(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self._tokens.get(token.strip())

    def _conversation_body(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "conversationId": conversation.id,
            "token": self._token_of[conversation.aad_object_id],
            "expires_in": TOKEN_SECONDS,
        }

    def _append(
        self, conversation: Conversation, activity: dict[str, Any], *, keep_timestamp: bool = False
    ) -> str:
        """Add an activity for the page; timestamps strictly increase within a conversation,
        because Web Chat orders a transcript by them."""
        if not keep_timestamp:
            now = dt.datetime.now(dt.UTC)
            last = conversation.last_timestamp
            if last is not None and now <= last:
                now = last + dt.timedelta(milliseconds=1)
            conversation.last_timestamp = now
            activity["timestamp"] = _timestamp(now)
        self._seq += 1
        conversation.entries.append(_Entry(self._seq, activity))
        del conversation.entries[:-MAX_HISTORY]
        changed, conversation.changed = conversation.changed, asyncio.Event()
        changed.set()
        return str(activity["timestamp"])

    def _from_bot(
        self, body: dict[str, Any], activity_id: str, conversation: Conversation
    ) -> dict[str, Any]:
        shown = {
            key: value
            for key, value in body.items()
            if key not in ("serviceUrl", "recipient", "channelData")
        }
        shown.update(
            id=activity_id,
            channelId=CHANNEL,
            conversation={"id": conversation.id},
            recipient={"id": conversation.user_id, "name": conversation.name, "role": "user"},
        )
        shown["from"] = {"id": BOT_ID, "name": BOT_NAME, "role": "bot"}
        shown.setdefault("type", "message")
        return shown

    def _member(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "id": conversation.user_id,
            "name": conversation.name,
            "aadObjectId": conversation.aad_object_id,
            "tenantId": LOCAL_TENANT,
        }

    async def _introduce(self, request: web.Request, conversation: Conversation) -> None:
        """The conversationUpdate Direct Line sends when a conversation starts: the bot learns
        the person's chat (and welcomes them once; its state remembers that)."""
        members = [
            {"id": BOT_ID, "name": BOT_NAME},
            {"id": conversation.user_id, "name": conversation.name},
        ]
        status = await self._to_bot(
            request,
            conversation,
            {
                "type": "conversationUpdate",
                "id": uuid.uuid4().hex,
                "timestamp": _timestamp(dt.datetime.now(dt.UTC)),
                "membersAdded": members,
                "from": {
                    "id": conversation.user_id,
                    "name": conversation.name,
                    "aadObjectId": conversation.aad_object_id,
                },
                "channelData": {"tenant": {"id": LOCAL_TENANT}},
            },
        )
        if status >= 300:
            log.warning("web chat: conversation %s not introduced to the bot", conversation.id)

    async def _to_bot(
        self, request: web.Request, conversation: Conversation, activity: dict[str, Any]
    ) -> int:
        """POST the activity to this server's own `/api/messages`: the same path, checks and
        adapter as any channel's activity. Returns the bot's HTTP status."""
        base = _own_base_url(request)
        activity.update(
            channelId=CHANNEL,
            serviceUrl=f"{base}{CONNECTOR}/",
            recipient={"id": BOT_ID, "name": BOT_NAME, "role": "bot"},
            conversation={
                "id": conversation.id,
                "conversationType": "personal",
                "tenantId": LOCAL_TENANT,
            },
        )
        activity.setdefault("locale", "nl-NL")
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            async with self._http.post(f"{base}/api/messages", json=activity) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError as error:
            log.warning("web chat: the bot could not be reached: %s", type(error).__name__)
            return 503
        if status >= 300:
            log.warning(
                "web chat: the bot answered %s to activity %s (%s)",
                status,
                activity["id"],
                activity["type"],
            )
        return status

    async def _registry_people(self) -> list[dict[str, Any]]:
        async with self.database.sessions() as session:
            people = (await session.execute(select(Person).order_by(Person.name))).scalars()
            roles = (await session.execute(select(PersonRole))).scalars()
            names = {
                **{g.id: g.name for g in (await session.execute(select(Gemeente))).scalars()},
                **{t.id: t.name for t in (await session.execute(select(Basisteam))).scalars()},
            }
            held: dict[str, list[dict[str, str]]] = {}
            for role in roles:
                held.setdefault(role.aad_object_id, []).append(
                    {
                        "role": role.role,
                        "scope": role.scope,
                        "scope_name": names.get(role.scope, role.scope),
                    }
                )
            return [
                {
                    "id": person.aad_object_id,
                    "name": person.name,
                    "roles": sorted(
                        held.get(person.aad_object_id, []),
                        key=lambda r: (r["role"], r["scope_name"]),
                    ),
                }
                for person in people
            ]

    async def _name_of(self, aad_object_id: str) -> str:
        async with self.database.sessions() as session:
            person = await session.get(Person, aad_object_id)
        return person.name if person is not None else ""


# Only our own files and Web Chat, from this server: nothing is fetched from elsewhere. Web Chat
# injects its styles at run time (hence 'unsafe-inline' for styles) and shows images as data/blob.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _foreign_host(request: web.Request) -> web.Response | None:
    """A Host header naming anything but loopback: a page from elsewhere that resolved its name
    to 127.0.0.1 (DNS rebinding) must not drive the bot as the demo people."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    if _is_loopback(host):
        return None
    return _problem(403, "Forbidden", "the try-out page answers on loopback only")


async def _not_json(request: web.Request) -> web.Response | None:
    if request.content_type != "application/json":
        return _problem(415, "BadArgument", "Content-Type must be application/json")
    return None


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json(loads=json.loads)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _own_base_url(request: web.Request) -> str:
    """This server's own loopback address, from the socket (not the client's Host header)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not sockname:
        raise web.HTTPServiceUnavailable(text="no local address")
    host, port = sockname[0], sockname[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


WEBCHAT = web.AppKey("webchat", WebChatPage)


def register(app: web.Application, database: Database) -> WebChatPage:
    """Add the try-out page's routes; bot.app calls this in local mode only."""
    page = WebChatPage(database)
    app[WEBCHAT] = page
    page.register(app)
    return page
