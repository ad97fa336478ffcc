"""Entry dialog: answers commands and anything typed outside a running flow, and starts flows.

`annuleer` and `help` interrupt whatever runs (the pattern of the SDK's core-bot sample); other
input goes to the running flow. Free text that is no command is a question for the knowledge
store (`dialogs.ask`). "Start een aanvraag met deze bevoegdheid" on an answer card starts a
request with that bevoegdheid filled in, also in the middle of another one.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from botbuilder.core import CardFactory, MessageFactory, StatePropertyAccessor
from botbuilder.dialogs import (
    ComponentDialog,
    DialogContext,
    DialogTurnResult,
    DialogTurnStatus,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.schema import ActivityTypes

from bot import services
from bot.due_dates import DeadlinePolicy
from bot.knowledge_service import KnowledgeService
from cards.render import render, text
from dialogs import ask, beheer, sturingsoverleg
from dialogs.commands import Command, recognise
from dialogs.request import Clock, RequestDialog
from storage.db import Database


class MainDialog(ComponentDialog):
    def __init__(
        self,
        database: Database,
        clock: Clock,
        time_zone: zoneinfo.ZoneInfo,
        last_gemeente: StatePropertyAccessor,
        *,
        deadlines: DeadlinePolicy,
        digest_lead: dt.timedelta,
        knowledge: KnowledgeService | None = None,
    ) -> None:
        super().__init__(MainDialog.__name__)
        self._database = database
        self._clock = clock
        self._knowledge = knowledge or KnowledgeService(database)
        self._tz = time_zone
        self._digest_lead = digest_lead
        self.add_dialog(RequestDialog(database, clock, time_zone, last_gemeente, deadlines))
        self.add_dialog(WaterfallDialog("main", [self._dispatch, self._finish]))
        self.initial_dialog_id = "main"

    async def on_continue_dialog(self, inner_dc: DialogContext) -> DialogTurnResult:
        interrupted = await self._interrupt(inner_dc)
        if interrupted is not None:
            return interrupted
        return await super().on_continue_dialog(inner_dc)

    async def _interrupt(self, inner_dc: DialogContext) -> DialogTurnResult | None:
        activity = inner_dc.context.activity
        if activity.type != ActivityTypes.message:
            return None
        start = ask.start_request_options(activity.value)
        if start is not None:
            # A new request from an answer card replaces the one in progress, saying so.
            await inner_dc.context.send_activity(text("request_restarted"))
            await inner_dc.cancel_all_dialogs()
            return await inner_dc.begin_dialog(RequestDialog.__name__, start)
        if not activity.text:
            return None
        command = recognise(activity.text)
        if command is Command.CANCEL:
            await inner_dc.context.send_activity(text("cancelled"))
            return await inner_dc.cancel_all_dialogs()
        if command is Command.HELP:
            # Show help and keep the running question waiting for its answer.
            await send_help(inner_dc)
            return DialogTurnResult(DialogTurnStatus.Waiting)
        return None

    async def _dispatch(self, step: WaterfallStepContext) -> DialogTurnResult:
        start = ask.start_request_options(step.context.activity.value)
        if start is not None:
            return await step.begin_dialog(RequestDialog.__name__, start)
        command = recognise(step.context.activity.text or "")
        if command is Command.NEW_REQUEST:
            return await step.begin_dialog(RequestDialog.__name__)
        if command is Command.HELP:
            await send_help(step)
        elif command is Command.CANCEL:
            await step.context.send_activity(text("nothing_to_cancel"))
        elif command in (Command.MY_REQUESTS, Command.STATUS):
            await self._my_requests(step)
        elif command is Command.BEHEER:
            await beheer.handle(step.context, self._database, self._clock())
        elif command is Command.LINK:
            await sturingsoverleg.handle_link(
                step.context,
                self._database,
                now=self._clock(),
                tz=self._tz,
                digest_lead=self._digest_lead,
            )
        elif command is Command.UNLINK:
            await sturingsoverleg.handle_unlink(step.context, self._database)
        elif step.context.activity.text:
            await ask.answer(step.context, self._knowledge, step.context.activity.text)
        else:
            await step.context.send_activity(text("unknown_input"))
        return await step.end_dialog()

    async def _finish(self, step: WaterfallStepContext) -> DialogTurnResult:
        return await step.end_dialog(step.result)

    async def _my_requests(self, step: WaterfallStepContext) -> None:
        sender = step.context.activity.from_property
        aad_id = (sender.aad_object_id or sender.id) if sender else None
        lines = await services.list_requests(self._database, aad_id or "")
        if not lines:
            await step.context.send_activity(text("my_requests_none"))
            return
        card = render(
            "my_requests",
            requests=[
                {
                    "reference": line.reference,
                    "status": text(f"status_{line.status}"),
                    "bevoegdheid": line.bevoegdheid,
                    "gemeente": line.gemeente,
                    "basisteam": line.basisteam,
                    "submitted": line.created.astimezone(self._tz).strftime("%d-%m-%Y"),
                    "desired": line.desired_date.strftime("%d-%m-%Y"),
                }
                for line in lines
            ],
        )
        await step.context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))


async def send_help(dc: DialogContext) -> None:
    card = render("help")
    await dc.context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
