"""The Bot Framework edge: CloudAdapter with the SDK's own authentication, and the turn error
handler that turns failures into a Dutch message instead of silence.

Keeping this in one module is what lets the Microsoft 365 Agents SDK replace botbuilder later.

**Connector clients are reused.** The SDK's CloudAdapter (4.17) builds, for every turn, a new
msrest `ConnectorClient` for the reply and a new `TokenApiClient` for sign-in, each with fresh
credentials, a fresh `requests` session (so a new TCP and TLS connection per reply) and msrest's
retry policy, whose constructor alone scans ~500k list entries (`ClientRetryPolicy`). Deployed,
fresh credentials also mean a fresh MSAL application with an empty token cache. Reusing them took
our turn from about 40 to about 25 ms of CPU in `python -m bench.run turns`. The SDK's older
BotFrameworkAdapter cached clients per (service URL, app id, OAuth scope); `ConnectorClients` does
the same for the CloudAdapter:

- the key is what the credentials and the target depend on: the service URL, the app id the
  request was authenticated for, and the outbound audience, so a token is only ever attached to
  calls for the app id and audience it was issued for;
- a client is only made for a service URL that `bot.guards` allows (the SDK hands the bot's token
  to any URL), and the cache is bounded (least recently used goes first);
- a client keeps no state of one turn for the next: the session refuses cookies, the
  Authorization header is set by the credentials on every call, and nothing else per turn lives
  on the client (the turn's activity and ids are arguments of each call).

A turn's replies are then posted by `bot.replies.ReplyTransport` (aiohttp on the event loop)
instead of msrest's `requests` driver in a thread: `send_activities` below is the SDK's, step for
step, with that one call changed.

The outbox dispatcher (`bot.notifier`) keeps clients of its own: it turns msrest's retries off on
them, which must not change how a turn's reply is sent.
"""

from __future__ import annotations

import asyncio
import functools
import http.cookiejar
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes, ResourceResponse
from botframework.connector import Channels
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot import guards, openid_keys
from bot.config import Settings
from bot.replies import ReplyTransport
from cards.render import text
from storage.bot_state import StateConflictError

log = logging.getLogger(__name__)


def create_authentication(settings: Settings) -> BotFrameworkAuthentication:
    openid_keys.install()  # the SDK's signing-key cache, made safe (see bot/openid_keys.py)
    # The SDK reads these attribute names from its configuration object.
    configuration = SimpleNamespace(
        APP_ID=settings.microsoft_app_id or None,
        APP_PASSWORD=settings.microsoft_app_password.get_secret_value() or None,
        # Local mode has no identity; the SDK's "MultiTenant" path is the only one that accepts
        # an empty app id (and Settings only allows that on loopback).
        APP_TYPE="MultiTenant" if settings.local_mode else settings.microsoft_app_type.value,
        APP_TENANTID=settings.microsoft_app_tenant_id or None,
    )
    return ConfigurationBotFrameworkAuthentication(configuration)


def is_database_outage(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, ConnectionError | TimeoutError | OSError)


# Service URL x app id x audience combinations kept; deployed there are a handful (Teams' regional
# hosts), in local mode one per loopback connector.
MAX_CONNECTOR_CLIENTS = 64
# Refuses every cookie, so a reused session carries nothing from one reply to the next.
_NO_COOKIES = http.cookiejar.DefaultCookiePolicy(allowed_domains=[])


class ServiceUrlNotAllowedError(Exception):
    """No client (and so no token) for a service URL outside the allowlist."""


def _app_id(claims_identity: ClaimsIdentity | None) -> str:
    """The app id the SDK makes outbound credentials for (its `get_app_id`): the audience of a
    channel's token, the `appid` claim of the Emulator's; empty in local mode."""
    claims = (claims_identity.claims if claims_identity else None) or {}
    value = claims.get(AuthenticationConstants.AUDIENCE_CLAIM) or claims.get(
        AuthenticationConstants.APP_ID_CLAIM
    )
    return value if isinstance(value, str) else ""


def _refuse_cookies(session: Any, global_config: Any, local_config: Any, **kwargs: Any) -> Any:
    """msrest's per-request session hook (it hands over the `requests` session the call uses)."""
    session.cookies.set_policy(_NO_COOKIES)
    return kwargs


class ConnectorClients:
    """Connector and user-token clients, made once per key by the SDK's own factories and then
    reused (see the module docstring for what the key holds and why)."""

    def __init__(
        self, service_url_allowed: Callable[[str], bool], limit: int = MAX_CONNECTOR_CLIENTS
    ) -> None:
        self._allowed = service_url_allowed
        self._limit = limit
        self._connectors: OrderedDict[tuple[str, str, str], ConnectorClient] = OrderedDict()
        self._token_clients: dict[str, UserTokenClient] = {}

    def __len__(self) -> int:
        return len(self._connectors)

    def for_service_url(self, service_url: str) -> list[ConnectorClient]:
        """The clients kept for `service_url` (one per app id and audience)."""
        return [client for key, client in self._connectors.items() if key[0] == service_url]

    async def connector(
        self, factory: ConnectorFactory, service_url: str, app_id: str, audience: str | None
    ) -> ConnectorClient:
        if not self._allowed(service_url):
            log.warning("refused a connector client for a service URL outside the allowlist")
            raise ServiceUrlNotAllowedError("service URL not allowed")
        key = (service_url, app_id, audience or "")
        client = self._connectors.get(key)
        if client is None:
            made = await factory.create(service_url, audience)
            made.config.session_configuration_callback = _refuse_cookies
            # Another turn may have made one meanwhile: keep the first, so all share it.
            client = self._connectors.setdefault(key, made)
        self._connectors.move_to_end(key)
        while len(self._connectors) > self._limit:
            # Not closed: a turn still using it finishes; its session goes with the last use.
            self._connectors.popitem(last=False)
        return client

    async def user_token_client(
        self, app_id: str, create: Callable[[], Awaitable[UserTokenClient]]
    ) -> UserTokenClient:
        client = self._token_clients.get(app_id)
        if client is None:
            client = self._token_clients.setdefault(app_id, await create())
        return client

    def factory(
        self, inner: ConnectorFactory, claims_identity: ClaimsIdentity | None
    ) -> ConnectorFactory:
        if isinstance(inner, _ReusingConnectorFactory):
            return inner
        return _ReusingConnectorFactory(inner, _app_id(claims_identity), self)


class _ReusingConnectorFactory(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, app_id: str, clients: ConnectorClients) -> None:
        self._inner = inner
        self._app_id = app_id
        self._clients = clients

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        return await self._clients.connector(self._inner, service_url, self._app_id, audience)


class _ReusingAuthentication(BotFrameworkAuthentication):
    """The SDK's authentication, unchanged, except that the clients it makes come from
    `ConnectorClients`. Validation of inbound requests is entirely the SDK's."""

    def __init__(self, inner: BotFrameworkAuthentication, clients: ConnectorClients) -> None:
        self._inner = inner
        self._clients = clients

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = self._clients.factory(
                result.connector_factory, result.claims_identity
            )
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        inner = self._inner.create_connector_factory(claims_identity)
        return self._clients.factory(inner, claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self._clients.user_token_client(
            _app_id(claims_identity),
            functools.partial(self._inner.create_user_token_client, claims_identity),
        )

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


class ReusingCloudAdapter(CloudAdapter):
    """The SDK's CloudAdapter with its clients from `ConnectorClients`, also for a request that
    the app authenticated itself before handing the result over (bot/app.py does), and a turn's
    replies sent by `ReplyTransport` (bot/replies.py)."""

    def __init__(self, authentication: BotFrameworkAuthentication, clients: ConnectorClients):
        super().__init__(_ReusingAuthentication(authentication, clients))
        self.connector_clients = clients
        self.replies = ReplyTransport()

    async def send_activities(
        self, context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse]:
        """The SDK's `CloudAdapterBase.send_activities` step for step, with the connector call
        made by `ReplyTransport`."""
        if not context:
            raise TypeError("Expected TurnContext but got None instead")
        if not activities:
            raise TypeError("Expecting one or more activities, but the list was empty.")
        responses: list[ResourceResponse] = []
        for activity in activities:
            activity.id = None
            response: ResourceResponse | None = None
            if activity.type == "delay":
                await asyncio.sleep(int((activity.value or 1000) / 1000))
            elif activity.type == ActivityTypes.invoke_response:
                context.turn_state[self._INVOKE_RESPONSE_KEY] = activity
            elif activity.type == ActivityTypes.trace and activity.channel_id != Channels.emulator:
                pass
            else:
                client = context.turn_state.get(self.BOT_CONNECTOR_CLIENT_KEY)
                if not client:
                    raise RuntimeError("Unable to extract ConnectorClient from turn context.")
                response = await self.replies.send(client, activity)
            responses.append(response or ResourceResponse(id=activity.id or ""))
        return responses

    async def close(self) -> None:
        await self.replies.close()

    async def process_activity(
        self,
        auth_header_or_authenticate_request_result: str | AuthenticateRequestResult,
        activity: Activity,
        logic: Callable[[TurnContext], Awaitable[Any]],
    ) -> InvokeResponse | None:
        result = auth_header_or_authenticate_request_result
        if isinstance(result, AuthenticateRequestResult) and result.connector_factory:
            result.connector_factory = self.connector_clients.factory(
                result.connector_factory, result.claims_identity
            )
        return await super().process_activity(result, activity, logic)


def create_adapter(
    authentication: BotFrameworkAuthentication, settings: Settings
) -> ReusingCloudAdapter:
    adapter = ReusingCloudAdapter(
        authentication,
        ConnectorClients(
            functools.partial(
                guards.service_url_allowed,
                hosts=settings.service_url_hosts,
                local=settings.local_mode,
            )
        ),
    )

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        reference = uuid.uuid4().hex[:8]
        activity = context.activity
        if is_database_outage(error):
            key = "unavailable"
            log.warning(
                "database unavailable during turn (ref %s, activity %s, conversation %s): %s",
                reference,
                activity.id,
                activity.conversation.id if activity.conversation else None,
                type(error).__name__,
            )
        elif isinstance(error, StateConflictError):
            key = "concurrent_messages"
            log.info("state conflict (ref %s, activity %s)", reference, activity.id)
        else:
            key = "internal_error"
            # Log the exception type and trace, never the user's text.
            log.exception(
                "turn failed (ref %s, activity %s, conversation %s)",
                reference,
                activity.id,
                activity.conversation.id if activity.conversation else None,
            )
        message = text(key, reference=reference)
        try:
            if activity.type == ActivityTypes.invoke:
                # An invoke needs an answer in the HTTP response; a message body shows the text.
                body = {
                    "statusCode": 200,
                    "type": "application/vnd.microsoft.activity.message",
                    "value": message,
                }
                await context.send_activity(
                    Activity(
                        type=ActivityTypes.invoke_response,
                        value=InvokeResponse(status=200, body=body),
                    )
                )
            else:
                await context.send_activity(message)
        except Exception:
            log.warning("could not tell the user about failure ref %s", reference)

    adapter.on_turn_error = on_turn_error
    return adapter
