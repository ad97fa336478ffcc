"""Teams activity handler: turns activities and card actions into dialog turns and use-case
calls. It holds no business rules; it only knows the channels' shapes.

A card action reaches the bot in one of two ways, and both go through the same use case with the
same checks (the actor is the activity's sender, never card data; a request's version guards the
step; the activity id is unique in the audit trail, so a replay changes nothing):

- Teams: an `adaptiveCard/action` invoke (`Action.Execute`), answered with the fresh card, which
  Teams puts in place of the clicked one.
- Any other client (Web Chat, Direct Line, the Emulator; cards reach them without Universal
  Actions, see `cards.render.for_channel`) and Teams clients without Universal Actions: a
  `message` activity whose `value` is an object with a string `verb` plus the card's data and
  input values, e.g. `{"verb": "accepteren", "reference": "BR-2026-0001", "version": 1}`. Such a
  client cannot replace the clicked card, so outside Teams the answer is a new message with the
  line about what happened and the fresh card.

Every card sent in a turn is adapted to the turn's channel on its way out (`on_turn`).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
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

from bot import experts, lifecycle, notifier, services, sturingsoverleg
from bot.deadlines import DEFAULT_CALENDAR, WorkingCalendar
from bot.digest import PRIORITY_VERB
from bot.due_dates import DEFAULT_POLICY, DeadlinePolicy
from bot.knowledge_service import KnowledgeService
from cards.render import (
    CARD_CONTENT_TYPE,
    TEAMS_CHANNEL,
    WEB_CHAT_CARD_ACTION,
    for_channel,
    render,
    text,
)
from dialogs import ask
from storage import contacts, outbox_signal
from storage.db import Database

log = logging.getLogger(__name__)

MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
CARD_RESPONSE = CARD_CONTENT_TYPE


@dataclass
class Runtime:
    """The side effects card actions need, passed in by the app factory."""

    database: Database
    clock: Callable[[], dt.datetime]
    tz: zoneinfo.ZoneInfo
    # Tells the outbox dispatcher that a turn may have committed notifications.
    wake: Callable[[], None]
    knowledge: KnowledgeService | None = None
    # Working days the experts get to answer a question before they are reminded.
    expert_due_working_days: int = 3
    calendar: WorkingCalendar = field(default_factory=lambda: DEFAULT_CALENDAR)
    # Werkdagen per state for due dates (settings.deadline_policy()).
    deadlines: DeadlinePolicy = field(default_factory=lambda: DEFAULT_POLICY)


# Card verbs of knowledge answers and the expert network; everything else is a request's.
KNOWLEDGE_VERBS = frozenset(
    {
        "kennis_toon",
        "kennis_duim_omhoog",
        "kennis_duim_omlaag",
        "expert_vragen",
        "expert_beantwoorden",
        "expert_concept",
        "concept_goedkeuren",
        "concept_afwijzen",
    }
)


@dataclass(frozen=True)
class CardAnswer:
    """What a card action answers: a line for the clicker and, when the card should change in
    place, the new card. `done` says the action did what was asked."""

    message: str
    card: dict[str, Any] | None
    done: bool


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
        self._known_contacts: dict[str, tuple[str, str, str, str]] = {}

    async def on_turn(self, turn_context: TurnContext) -> None:
        channel = turn_context.activity.channel_id
        if channel != TEAMS_CHANNEL:
            # Whatever sends a card in this turn (dialogs, welcome, answers), the client gets it
            # in the form it can use.
            turn_context.on_send_activities(_cards_for_channel)
            turn_context.on_update_activity(_card_for_channel)
        queued = outbox_signal.changes()
        try:
            await self._remember_contact(turn_context)
            await super().on_turn(turn_context)
            # Saved only when the turn succeeded: a failed turn leaves the previous state intact.
            await self._conversation_state.save_changes(turn_context)
            await self._user_state.save_changes(turn_context)
        finally:
            # Only a turn that queued something (or made parked rows deliverable) wakes the
            # dispatcher: waking it costs a claim round in the database.
            if outbox_signal.changes() != queued:
                self._runtime.wake()

    async def _remember_contact(self, turn_context: TurnContext) -> None:
        """A personal chat tells us how to reach its person proactively later on, and on which
        channel (so the outbox renders their cards for it)."""
        activity = turn_context.activity
        sender = activity.from_property
        conversation = activity.conversation
        if (
            not sender
            or not sender.aad_object_id
            or not conversation
            or not _personal(activity)
            or not activity.service_url
        ):
            return
        channel = activity.channel_id or TEAMS_CHANNEL
        seen = (sender.id or "", activity.service_url, conversation.id or "", channel)
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
                channel_id=channel,
            )
        self._known_contacts[sender.aad_object_id] = seen
        # Someone writing to the bot can be reached again (e.g. after unblocking it).
        await notifier.reactivate(
            self._runtime.database, recipients=[f"person:{sender.aad_object_id}"]
        )

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        """The app was (re)installed: whatever Teams refused to deliver there goes out now.
        A team-wide install names the team, not the channel the bot posts in, so every
        channel is tried again (one still unreachable is simply parked again)."""
        activity = turn_context.activity
        conversation = activity.conversation
        sender = activity.from_property
        recipients = []
        if conversation and conversation.id:
            recipients.append(f"conversation:{conversation.id.split(';messageid=', 1)[0]}")
        if conversation and conversation.conversation_type == "personal" and sender:
            recipients.append(f"person:{sender.aad_object_id}")
        await notifier.reactivate(
            self._runtime.database,
            recipients=recipients,
            channels=bool(conversation and conversation.conversation_type == "channel"),
        )

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        await self._greet_once(turn_context)
        _unwrap_posted_back_action(activity)
        if activity.text:
            # In channels the text starts with "<at>Rapportagebot</at>"; commands follow it.
            _remove_bot_mention(activity)
            activity.text = (activity.text or "").strip()
        elif ask.start_request_options(activity.value) is not None:
            # "Start een aanvraag" sent without text (a client that ignores messageBack text).
            await DialogExtensions.run_dialog(self._dialog, turn_context, self._dialog_state)
            return
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

    async def _greet_once(self, turn_context: TurnContext) -> None:
        """The welcome card before the answer to the first message of a chat that never got one:
        clients other than Teams may start without announcing the bot (empty `membersAdded`),
        and a Teams install event can be missed. Not in team channels: each thread there is a
        conversation of its own, and the team was welcomed on install."""
        conversation = turn_context.activity.conversation
        if conversation and conversation.conversation_type == "channel":
            return
        if await self._welcomed.get(turn_context, False):
            return
        await self._welcome(turn_context)
        # Kept even when answering the message fails below: the greeting was sent.
        await self._conversation_state.save_changes(turn_context)

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
        if result.message and not result.done:
            # The clicker gets the fresh card in place and a line saying why nothing changed.
            await turn_context.send_activity(result.message)
        card = for_channel(result.card, activity.channel_id)
        return InvokeResponse(
            status=200, body={"statusCode": 200, "type": CARD_RESPONSE, "value": card}
        )

    async def _submitted_card_action(
        self, turn_context: TurnContext, value: dict[str, Any]
    ) -> None:
        teams = turn_context.activity.channel_id == TEAMS_CHANNEL
        result = await self._card_action(
            turn_context, value.get("verb"), value, automatic=False, card_in_reply=not teams
        )
        if result is not None and result.card is not None and not teams:
            # No invoke response can replace the clicked card here (and no outbox update
            # either): the line about what happened and the fresh card come as new messages.
            replies = [MessageFactory.text(result.message)] if result.message else []
            replies.append(MessageFactory.attachment(CardFactory.adaptive_card(result.card)))
            await turn_context.send_activities(replies)
            return
        if result is not None and not result.message and result.card is not None:
            # Showing a card ("Bedoelde je …"): without Universal Actions it comes as a new one.
            await turn_context.send_activity(
                MessageFactory.attachment(CardFactory.adaptive_card(result.card))
            )
            return
        # A submit cannot replace the card it came from; the outbox updates that copy.
        await turn_context.send_activity(result.message if result else text("unknown_card_action"))

    async def _card_action(
        self,
        turn_context: TurnContext,
        verb: Any,
        data: dict[str, Any],
        *,
        automatic: bool,
        card_in_reply: bool = False,
    ) -> CardAnswer | None:
        if verb == PRIORITY_VERB:
            if automatic:
                return None  # digest cards have no refresh; nothing may change on one
            return await self._priority_action(turn_context, data)
        if isinstance(verb, str) and verb in KNOWLEDGE_VERBS:
            if automatic:
                return None  # these cards have no refresh; nothing may change on one
            return await self._knowledge_action(turn_context, verb, data)
        result = await self._request_action(
            turn_context, verb, data, automatic=automatic, card_in_reply=card_in_reply
        )
        if result is None:
            return None
        return CardAnswer(result.message, result.card, result.outcome is lifecycle.Outcome.DONE)

    async def _priority_action(
        self, turn_context: TurnContext, data: dict[str, Any]
    ) -> CardAnswer | None:
        """A priority chosen on the digest card in the team channel: the actor is the activity's
        sender, the card only says which request and which priority."""
        activity = turn_context.activity
        reference = data.get("reference")
        if not isinstance(reference, str):
            return None
        sender = activity.from_property
        if not sender or not sender.aad_object_id:
            return CardAnswer(text("priority_no_role", reference=reference), None, False)
        runtime = self._runtime
        result = await sturingsoverleg.set_priority(
            runtime.database,
            reference=reference,
            priority=data.get("priority"),
            actor=lifecycle.Actor(sender.aad_object_id, sender.name or ""),
            activity_id=activity.id,
            now=runtime.clock(),
            tz=runtime.tz,
            catalogue=await services.load_catalogue(runtime.database),
        )
        return CardAnswer(result.message, result.card, result.done)

    async def _request_action(
        self,
        turn_context: TurnContext,
        verb: Any,
        data: dict[str, Any],
        *,
        automatic: bool,
        card_in_reply: bool = False,
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
            deadlines=runtime.deadlines,
            card_in_reply=card_in_reply,
        )

    async def _knowledge_action(
        self, turn_context: TurnContext, verb: str, data: dict[str, Any]
    ) -> CardAnswer | None:
        """Knowledge answers and the expert network (`bot.experts`). As for requests, the actor
        is the activity's sender; card data only names the entry, question or draft."""
        activity = turn_context.activity
        sender = activity.from_property
        if not sender or not sender.aad_object_id:
            return CardAnswer(text("expert_not_expert"), None, False)
        actor = lifecycle.Actor(sender.aad_object_id, sender.name or "")
        runtime = self._runtime
        knowledge = runtime.knowledge or KnowledgeService(runtime.database)
        question = _text(data.get("question"))
        if verb in ("kennis_toon", "kennis_duim_omhoog", "kennis_duim_omlaag"):
            entry_id = _text(data.get("entry"))
            entry = await knowledge.entry(entry_id) if entry_id else None
            if entry is None:
                return CardAnswer(text("knowledge_entry_gone"), None, False)
            if verb == "kennis_toon":
                return CardAnswer("", ask.answer_card(entry, question=question), True)
            feedback = await experts.record_feedback(
                runtime.database,
                entry_id=entry_id,
                helpful=verb == "kennis_duim_omhoog",
                comment=_text(data.get("kennis_opmerking")),
                actor=actor,
                activity_id=activity.id,
                now=runtime.clock(),
            )
            if feedback.outcome in (experts.Outcome.DONE, experts.Outcome.REPLAYED):
                card = ask.answer_card(entry, question=question, thanked=True)
                return CardAnswer(feedback.message, card, True)
            return CardAnswer(feedback.message, None, False)
        result: experts.Result
        if verb == "expert_vragen":
            reference = TurnContext.get_conversation_reference(activity).serialize()
            result = await experts.ask(
                runtime.database,
                question=_text(data.get("expert_vraag")),
                asker=actor,
                conversation=reference,
                now=runtime.clock(),
                tz=runtime.tz,
                calendar=runtime.calendar,
                due_after=runtime.expert_due_working_days,
            )
        elif verb == "expert_beantwoorden":
            question_id = _number(data.get("question_id"))
            if question_id is None:
                return None
            result = await experts.answer(
                runtime.database,
                question_id=question_id,
                answer=_text(data.get("expert_antwoord")),
                actor=actor,
                activity_id=activity.id,
                now=runtime.clock(),
                tz=runtime.tz,
            )
        elif verb == "expert_concept":
            question_id = _number(data.get("question_id"))
            if question_id is None:
                return None
            result = await experts.make_draft(
                runtime.database,
                question_id=question_id,
                actor=actor,
                now=runtime.clock(),
                tz=runtime.tz,
            )
        else:
            draft_id = _number(data.get("draft_id"))
            if draft_id is None:
                return None
            result = await experts.decide_draft(
                runtime.database,
                draft_id=draft_id,
                approve=verb == "concept_goedkeuren",
                actor=actor,
                now=runtime.clock(),
                tz=runtime.tz,
            )
        return CardAnswer(result.message, result.card, result.done)


def _remove_bot_mention(activity: Any) -> None:
    """`TurnContext.remove_recipient_mention`, over the well-formed entities only.

    The SDK's version assumes every entity has a string `type` and every mention a `mentioned`
    object with an `id` and a string `text` or `name`; one malformed entity (say a mention
    without `mentioned`) raised KeyError or TypeError and failed the whole turn."""
    entities = activity.entities
    activity.entities = [entity for entity in entities or [] if _well_formed(entity)]
    try:
        TurnContext.remove_recipient_mention(activity)
    finally:
        activity.entities = entities


def _well_formed(entity: Any) -> bool:
    kind = getattr(entity, "type", None)
    if not isinstance(kind, str):
        return False
    if kind.lower() != "mention":
        return True
    properties = getattr(entity, "additional_properties", None) or {}
    mentioned = properties.get("mentioned")
    if not isinstance(mentioned, dict) or "id" not in mentioned:
        return False
    shown = properties.get("text") or mentioned.get("name")
    return isinstance(shown, str)


def _personal(activity: Any) -> bool:
    """A one-to-one chat with the bot: Teams says so; other clients often name no type."""
    conversation = activity.conversation
    if conversation.conversation_type == "personal":
        return True
    return (
        activity.channel_id != TEAMS_CHANNEL
        and not conversation.conversation_type
        and not conversation.is_group
    )


def _unwrap_posted_back_action(activity: Any) -> None:
    """A client that posts a card's Action.Submit data back as it is (no Web Chat to perform
    it) sends Teams' `{"msteams": {...}}` or Web Chat's card-action envelope as the value:
    treat it as the imBack or messageBack it describes (cards sent before they were adapted
    to the channel may also still show such buttons)."""
    value = activity.value
    if activity.text or not isinstance(value, dict):
        return
    action = value.get("msteams")
    if value.get(WEB_CHAT_CARD_ACTION) is True:
        action = value.get("cardAction")
    if not isinstance(action, dict):
        return
    kind = action.get("type")
    if kind == "imBack" and isinstance(action.get("value"), str):
        activity.text, activity.value = action["value"], None
    elif kind == "messageBack":
        text_value = action.get("text")
        activity.text = text_value if isinstance(text_value, str) else None
        activity.value = action.get("value")
    elif kind == "postBack":
        posted = action.get("value")
        activity.text, activity.value = (
            (posted, None) if isinstance(posted, str) else (None, posted)
        )


def _adapted(attachment: Any, channel: str | None) -> Any:
    if isinstance(attachment, dict):
        if attachment.get("contentType") == CARD_CONTENT_TYPE and isinstance(
            attachment.get("content"), dict
        ):
            return {**attachment, "content": for_channel(attachment["content"], channel)}
        return attachment
    if getattr(attachment, "content_type", None) == CARD_CONTENT_TYPE and isinstance(
        attachment.content, dict
    ):
        attachment.content = for_channel(attachment.content, channel)
    return attachment


def _adapt(activity: Any, channel: str | None) -> None:
    attachments = getattr(activity, "attachments", None)
    if attachments:
        activity.attachments = [_adapted(attachment, channel) for attachment in attachments]


async def _cards_for_channel(
    turn_context: TurnContext, activities: list[Any], next_send: Callable[[], Any]
) -> Any:
    for activity in activities:
        _adapt(activity, turn_context.activity.channel_id)
    return await next_send()


async def _card_for_channel(
    turn_context: TurnContext, activity: Any, next_update: Callable[[], Any]
) -> Any:
    _adapt(activity, turn_context.activity.channel_id)
    return await next_update()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _message_response(status: int, message: str) -> InvokeResponse:
    return InvokeResponse(
        status=status, body={"statusCode": status, "type": MESSAGE_RESPONSE, "value": message}
    )
