"""Entry dialog: answers commands and anything else typed outside a running flow.

Later flows (a request, a knowledge question) become child dialogs started from here; `annuleer`
and `help` interrupt whatever runs, the pattern of the SDK's core-bot sample.
"""

from __future__ import annotations

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.dialogs import (
    ComponentDialog,
    DialogContext,
    DialogTurnResult,
    DialogTurnStatus,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.schema import ActivityTypes

from cards.render import render, text
from dialogs.commands import Command, recognise


class MainDialog(ComponentDialog):
    def __init__(self) -> None:
        super().__init__(MainDialog.__name__)
        self.add_dialog(WaterfallDialog("main", [self._dispatch]))
        self.initial_dialog_id = "main"

    async def on_continue_dialog(self, inner_dc: DialogContext) -> DialogTurnResult:
        interrupted = await self._interrupt(inner_dc)
        if interrupted is not None:
            return interrupted
        return await super().on_continue_dialog(inner_dc)

    async def _interrupt(self, inner_dc: DialogContext) -> DialogTurnResult | None:
        activity = inner_dc.context.activity
        if activity.type != ActivityTypes.message or not activity.text:
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
        command = recognise(step.context.activity.text or "")
        if command is Command.HELP:
            await send_help(step)
        elif command is Command.CANCEL:
            await step.context.send_activity(text("nothing_to_cancel"))
        else:
            await step.context.send_activity(text("unknown_input"))
        return await step.end_dialog()


async def send_help(dc: DialogContext) -> None:
    await dc.context.send_activity(
        MessageFactory.attachment(CardFactory.adaptive_card(render("help")))
    )
