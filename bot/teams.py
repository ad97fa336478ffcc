"""Teams activity handler: turns activities and card actions into dialog turns and use-case
calls. It holds no business rules; it only knows Teams' shapes."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botbuilder.core import (
    CardFactory,
    ConversationState,
    InvokeResponse,
    MessageFactory,
    TurnContext,
    UserState,
)
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.dialogs import Dialog, DialogExtensions
from botbuilder.schema import ChannelAccount
from botbuilder.schema.teams import TeamInfo

from bot import lifecycle, services
from cards.render import render, text
from storage import contacts
from storage.db import Database

log = logging.getLogger(__name__)

MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"


@dataclass
class Runtime:
    """The side effects card actions need, passed in by the app factory."""

    database: Database
    clock: Callable[[], dt.datetime]
    tz: zoneinfo.ZoneInfo
    # Tells the outbox dispatcher that a turn may have committed notifications.
    wake: Callable[[], None]


class RapportageBot(TeamsActivityHandler):
    def __init__(
        self,
        conversation_state: ConversationState,
        user_state: UserState,
        dialog: Dialog,
        runtime: Runtime,
    ) -> None:
        self._conversation_state = conversation_state
        self._user_state = user_state
        self._dialog = dialog
        self._runtime = runtime
        self._dialog_state = conversation_state.create_property("DialogState")
        self._welcomed = conversation_state.create_property("welcomed")
        # Contacts already stored by this process, so a turn writes one only when it changed.
        self._known_contacts: dict[str, tuple[str, str, str]] = {}

    async def on_turn(self, turn_context: TurnContext) -> None:
        await self._remember_contact(turn_context)
        await super().on_turn(turn_context)
        # Saved only when the turn succeeded: a failed turn leaves the previous state intact.
        await self._conversation_state.save_changes(turn_context)
        await self._user_state.save_changes(turn_context)
        self._runtime.wake()

    async def _remember_contact(self, turn_context: TurnContext) -> None:
        """A personal chat tells us how to reach its person proactively later on."""
        activity = turn_context.activity
        sender = activity.from_property
        conversation = activity.conversation
        if (
            not sender
            or not sender.aad_object_id
            or not conversation
            or conversation.conversation_type != "personal"
            or not activity.service_url
        ):
            return
        seen = (sender.id or "", activity.service_url, conversation.id or "")
        if self._known_contacts.get(sender.aad_object_id) == seen:
            return
        async with self._runtime.database.sessions.begin() as session:
            await contacts.remember(
                session,
                aad_object_id=sender.aad_object_id,
                user_id=seen[0],
                tenant_id=conversation.tenant_id or "",
                service_url=seen[1],
                conversation_id=seen[2],
                now=self._runtime.clock(),
            )
        self._known_contacts[sender.aad_object_id] = seen

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.text:
            # In channels the text starts with "<at>Rapportagebot</at>"; commands follow it.
            TurnContext.remove_recipient_mention(activity)
            activity.text = (activity.text or "").strip()
        elif isinstance(activity.value, dict):
            # Action.Submit: the fallback of a card's Universal Action, or a client without them.
            await self._submitted_card_action(turn_context, activity.value)
            return
        if not activity.text:
            await turn_context.send_activity(text("unknown_input"))
            return
        await DialogExtensions.run_dialog(self._dialog, turn_context, self._dialog_state)

    async def on_teams_members_added_dispatch(
        self,
        members_added: list[ChannelAccount],
        team_info: TeamInfo,
        turn_context: TurnContext,
    ) -> None:
        # The SDK would fetch every added person from the Teams API first (one call each, and a
        # failed lookup fails the turn); only the bot's own arrival matters here.
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member.id == bot_id for member in members_added):
            await self._welcome(turn_context)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        # Non-Teams channels (the local chat, the Emulator) report installs this way.
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member.id == bot_id for member in members_added):
            await self._welcome(turn_context)

    async def _welcome(self, turn_context: TurnContext) -> None:
        if await self._welcomed.get(turn_context, False):
            return
        conversation = turn_context.activity.conversation
        scope = (
            "team"
            if conversation and conversation.conversation_type == "channel"
            else (conversation.conversation_type if conversation else "personal")
        )
        card = render("welcome", scope=scope or "personal")
        await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
        await self._welcomed.set(turn_context, True)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name == "adaptiveCard/action":
            # Routed here rather than via the SDK's on_adaptive_card_invoke: its response model
            # cannot carry the plain-text message body Teams shows for a "message" response.
            return await self._universal_action(turn_context)
        response = await super().on_invoke_activity(turn_context)
        if response is not None and response.status == 501:
            # Teams may send invokes for features this bot does not offer; say so with a 4xx
            # rather than the SDK's 501.
            return _message_response(400, text("unsupported_invoke"))
        return response

    async def _universal_action(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        value: dict[str, Any] = activity.value if isinstance(activity.value, dict) else {}
        action: dict[str, Any] = value.get("action") or {}
        if not isinstance(action, dict):
            action = {}
        data: dict[str, Any] = action.get("data") or {}
        if not isinstance(data, dict):
            data = {}
        verb = action.get("verb")
        # Universal Actions' refresh is sent by Teams on its own when a card is shown: it must
        # never change anything, whatever verb it names.
        automatic = value.get("trigger") == "automatic"
        result = await self._card_action(turn_context, verb, data, automatic=automatic)
        if result is None or result.card is None:
            message = result.message if result else text("unknown_card_action")
            return _message_response(200, message)
        if result.message and result.outcome is not lifecycle.Outcome.DONE:
            # The clicker gets the fresh card in place and a line saying why nothing changed.
            await turn_context.send_activity(result.message)
        return InvokeResponse(
            status=200, body={"statusCode": 200, "type": CARD_RESPONSE, "value": result.card}
        )

    async def _submitted_card_action(
        self, turn_context: TurnContext, value: dict[str, Any]
    ) -> None:
        result = await self._card_action(turn_context, value.get("verb"), value, automatic=False)
        # A submit cannot replace the card it came from; the outbox updates that copy.
        await turn_context.send_activity(result.message if result else text("unknown_card_action"))

    async def _card_action(
        self, turn_context: TurnContext, verb: Any, data: dict[str, Any], *, automatic: bool
    ) -> lifecycle.ActResult | None:
        """One path for Action.Execute and Action.Submit: same use case, same checks. The actor
        is the activity's sender; card data only says which request and which version."""
        activity = turn_context.activity
        reference = data.get("reference")
        if not isinstance(verb, str) or not isinstance(reference, str):
            log.info("unknown card action (activity %s)", activity.id)
            return None
        sender = activity.from_property
        if not sender or not sender.aad_object_id:
            return lifecycle.ActResult(
                lifecycle.Outcome.NO_ROLE, text("act_no_role", reference=reference)
            )
        actor = lifecycle.Actor(sender.aad_object_id, sender.name or "")
        runtime = self._runtime
        catalogue = await services.load_catalogue(runtime.database)
        if automatic or verb == "refresh":
            return await lifecycle.view(
                runtime.database,
                reference=reference,
                actor=actor,
                tz=runtime.tz,
                catalogue=catalogue,
            )
        version = data.get("version")
        return await lifecycle.act(
            runtime.database,
            reference=reference,
            verb=verb,
            actor=actor,
            seen_version=version if isinstance(version, int) else None,
            inputs=data,
            activity_id=activity.id,
            now=runtime.clock(),
            tz=runtime.tz,
            catalogue=catalogue,
        )


def _message_response(status: int, message: str) -> InvokeResponse:
    return InvokeResponse(
        status=status, body={"statusCode": status, "type": MESSAGE_RESPONSE, "value": message}
    )
