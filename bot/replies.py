"""A turn's replies over one aiohttp session, instead of msrest's `requests` driver.

The SDK sends each reply through msrest: a `requests` call run in a thread of the default
executor, wrapped in msrest's pipeline. Measured in `bench/turns.py`'s harness that costs about
1 ms of CPU per reply against 0.15 ms for the same POST with aiohttp on the event loop (the
connector's side included in both), a sixth of a whole turn. Only the two calls a turn's
`send_activities` makes go here (reply to an activity, send to a conversation); updates,
deletes, member look-ups and the outbox keep the SDK's clients.

What the SDK did stays as it was:

- the URL and headers are those of `ConversationsOperations.reply_to_activity` and
  `send_to_conversation`, on the base URL of the connector client the SDK made (and that
  `ConnectorClients` only makes for an allowed service URL);
- the Authorization header comes from the client's own credentials through their
  `signed_session`, so the SDK still decides when a token is attached and which one;
- the body is the activity serialized by msrest with the connector's models;
- TLS trust and proxies follow the environment as `requests` read it (REQUESTS_CA_BUNDLE or
  CURL_CA_BUNDLE, else certifi's bundle; HTTPS_PROXY and NO_PROXY), and no cookie is kept.

Retries are ours: a 429 or 503 (the service did not take the message) and a connection that could
not be made are tried again twice, after Retry-After (at most `MAX_RETRY_AFTER_S`) or a short
back-off. A 500, 502 or 504 is not: the message may have been posted, and a second copy in the
user's chat is worse than the Dutch error message the turn then gives. msrest's own policy
(urllib3 2) retried no POST on a status at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import aiohttp
import certifi
from botbuilder.schema import Activity, ResourceResponse
from botframework.connector import models
from botframework.connector.aio import ConnectorClient
from msrest import Serializer

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503})
ATTEMPTS = 3
MAX_RETRY_AFTER_S = 5.0
BACKOFF_S = 0.4
# msrest's connection timeout for the connector (BotFrameworkConnectorConfiguration).
TIMEOUT_S = 100.0

_SERIALIZER = Serializer({k: v for k, v in models.__dict__.items() if isinstance(v, type)})


class ReplyError(Exception):
    """The Bot Connector refused a reply (or could not be reached) after the retries."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


def _ca_file() -> str:
    environ = os.environ
    return environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or certifi.where()


def _retry_after(headers: Any, attempt: int) -> float:
    value = headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else BACKOFF_S * 2**attempt
    except ValueError:
        seconds = BACKOFF_S * 2**attempt
    return max(0.0, min(seconds, MAX_RETRY_AFTER_S))


class ReplyTransport:
    """One aiohttp session per adapter, made in the running loop at the first reply."""

    def __init__(
        self,
        timeout_s: float = TIMEOUT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.sleep = sleep  # passed in, so a test sees the waits without timing them
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ssl: tuple[str, ssl.SSLContext] | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        ca_file = _ca_file()
        if self._ssl is None or self._ssl[0] != ca_file:
            self._ssl = (ca_file, ssl.create_default_context(cafile=ca_file))
        return self._ssl[1]

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=True,
            )
        return self._session

    async def send(self, client: ConnectorClient, activity: Activity) -> ResourceResponse:
        """Post `activity` as the SDK's `send_activities` would: a reply when it answers an
        activity, else a new message in the conversation."""
        conversation_id = activity.conversation.id
        path = f"/v3/conversations/{quote(str(conversation_id), safe='')}/activities"
        if activity.reply_to_id:
            path += f"/{quote(str(activity.reply_to_id), safe='')}"
        url = client.config.base_url.rstrip("/") + path
        signed = SimpleNamespace(headers={})
        if client.config.credentials is not None:
            client.config.credentials.signed_session(signed)  # the SDK's own token logic
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
            "x-ms-conversation-id": conversation_id,
            "User-Agent": client.config.user_agent,
            **signed.headers,
        }
        body = _SERIALIZER.body(activity, "Activity")
        ssl_context = self._ssl_context() if url.startswith("https:") else None
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                async with self._http().post(
                    url,
                    json=body,
                    headers=headers,
                    ssl=ssl_context if ssl_context is not None else True,
                ) as response:
                    if response.status in (200, 201, 202):
                        return _resource_response(await _json(response))
                    if response.status not in RETRY_STATUSES or last:
                        raise ReplyError(
                            response.status, f"reply refused with HTTP {response.status}"
                        )
                    delay = _retry_after(response.headers, attempt)
            except aiohttp.ClientConnectorError as error:
                if last:
                    raise ReplyError(None, "connector not reachable") from error
                delay = BACKOFF_S * 2**attempt
            log.info("reply not taken (attempt %d), trying again in %.1f s", attempt + 1, delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


async def _json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _resource_response(document: Any) -> ResourceResponse:
    if isinstance(document, dict) and isinstance(document.get("id"), str):
        return ResourceResponse(id=document["id"])
    return ResourceResponse()
