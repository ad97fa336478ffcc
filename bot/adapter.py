"""The Bot Framework edge: CloudAdapter with the SDK's own authentication, and the turn error
handler that turns failures into a Dutch message instead of silence.

Keeping this in one module is what lets the Microsoft 365 Agents SDK replace botbuilder later.
"""

from __future__ import annotations

import logging
import uuid
from types import SimpleNamespace

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector.auth import BotFrameworkAuthentication
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot import openid_keys
from bot.config import Settings
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


def create_adapter(authentication: BotFrameworkAuthentication) -> CloudAdapter:
    adapter = CloudAdapter(authentication)

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
