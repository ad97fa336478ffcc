"""Teams activity handler: turns activities and card actions into dialog turns and use-case
calls. It holds no business rules; it only knows Teams' shapes."""

from __future__ import annotations

import logging

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

from cards.render import render, text

log = logging.getLogger(__name__)

MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


class RapportageBot(TeamsActivityHandler):
    def __init__(
        self, conversation_state: ConversationState, user_state: UserState, dialog: Dialog
    ) -> None:
        self._conversation_state = conversation_state
        self._user_state = user_state
        self._dialog = dialog
        self._dialog_state = conversation_state.create_property("DialogState")
        self._welcomed = conversation_state.create_property("welcomed")

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        # Saved only when the turn succeeded: a failed turn leaves the previous state intact.
        await self._conversation_state.save_changes(turn_context)
        await self._user_state.save_changes(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.text:
            # In channels the text starts with "<at>Rapportagebot</at>"; commands follow it.
            TurnContext.remove_recipient_mention(activity)
            activity.text = (activity.text or "").strip()
        elif isinstance(activity.value, dict):
            # Action.Submit without imBack: a card button. No card actions exist yet.
            await turn_context.send_activity(text("unknown_card_action"))
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
            action = activity.value.get("action") if isinstance(activity.value, dict) else None
            verb = action.get("verb") if isinstance(action, dict) else None
            # No Universal Action verbs exist yet: every verb is unknown and changes nothing.
            log.info("unknown card verb %r (activity %s)", verb, activity.id)
            return _message_response(200, text("unknown_card_action"))
        response = await super().on_invoke_activity(turn_context)
        if response is not None and response.status == 501:
            # Teams may send invokes for features this bot does not offer; say so with a 4xx
            # rather than the SDK's 501.
            return _message_response(400, text("unsupported_invoke"))
        return response


def _message_response(status: int, message: str) -> InvokeResponse:
    return InvokeResponse(
        status=status, body={"statusCode": status, "type": MESSAGE_RESPONSE, "value": message}
    )
