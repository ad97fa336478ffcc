"""Teams activity handler: turns activities and card actions into dialog turns and use-case
calls. It holds no business rules; it only knows Teams' shapes."""

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
from cards.render import render, text
from dialogs import ask
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
        if activity.text:
            # In channels the text starts with "<at>Rapportagebot</at>"; commands follow it.
            TurnContext.remove_recipient_mention(activity)
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
        return InvokeResponse(
            status=200, body={"statusCode": 200, "type": CARD_RESPONSE, "value": result.card}
        )

    async def _submitted_card_action(
        self, turn_context: TurnContext, value: dict[str, Any]
    ) -> None:
        result = await self._card_action(turn_context, value.get("verb"), value, automatic=False)
        if result is not None and not result.message and result.card is not None:
            # Showing a card ("Bedoelde je …"): without Universal Actions it comes as a new one.
            await turn_context.send_activity(
                MessageFactory.attachment(CardFactory.adaptive_card(result.card))
            )
            return
        # A submit cannot replace the card it came from; the outbox updates that copy.
        await turn_context.send_activity(result.message if result else text("unknown_card_action"))

    async def _card_action(
        self, turn_context: TurnContext, verb: Any, data: dict[str, Any], *, automatic: bool
    ) -> CardAnswer | None:
        if verb == PRIORITY_VERB:
            if automatic:
                return None  # digest cards have no refresh; nothing may change on one
            return await self._priority_action(turn_context, data)
        if isinstance(verb, str) and verb in KNOWLEDGE_VERBS:
            if automatic:
                return None  # these cards have no refresh; nothing may change on one
            return await self._knowledge_action(turn_context, verb, data)
        result = await self._request_action(turn_context, verb, data, automatic=automatic)
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
            deadlines=runtime.deadlines,
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
