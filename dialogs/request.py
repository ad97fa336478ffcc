"""Request a bestuurlijke rapportage: one question at a time, then a summary to submit.

A small state machine over `bot.intake` rather than a fixed waterfall: the questions depend on
earlier answers (the checklist of the chosen bevoegdheid, its conditions, the boa triage), and
users go back (`terug`), edit from the summary (`wijzig 3`) and come back after a restart or the
next day. The whole draft lives in the dialog state, which is persisted in the database.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from botbuilder.core import StatePropertyAccessor, TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult
from botbuilder.schema import ActivityTypes

from bot import intake, services
from bot.due_dates import DeadlinePolicy
from bot.intake import Accepted, Catalogue, Key, Question
from bot.textnorm import normalise
from cards.render import text
from dialogs.checklist import question_card, rejection_text, summary_card, summary_rows
from dialogs.commands import Command, recognise
from storage.db import Database

Clock = Callable[[], dt.datetime]

ASKING, SUMMARY, RESUME_OFFER = "asking", "summary", "resume_offer"


class RequestDialog(Dialog):
    def __init__(
        self,
        database: Database,
        clock: Clock,
        time_zone: zoneinfo.ZoneInfo,
        last_gemeente: StatePropertyAccessor,
        deadlines: DeadlinePolicy,
    ) -> None:
        super().__init__(RequestDialog.__name__)
        self._deadlines = deadlines
        self._database = database
        self._clock = clock
        self._tz = time_zone
        self._last_gemeente = last_gemeente
        # A draft last touched before this process started was interrupted by a restart.
        self._started = clock()

    async def begin_dialog(self, dc: DialogContext, options: object = None) -> DialogTurnResult:
        catalogue = await services.load_catalogue(self._database)
        if not catalogue.bevoegdheden:
            await dc.context.send_activity(text("intake_no_content"))
            return await dc.end_dialog()
        state = self._state(dc)
        # The draft's identity: submitting it twice (a turn repeated after a crash) files it once.
        state.update(
            answers={}, history=[], phase=ASKING, current=None, editing=None, draft=_new_draft()
        )
        await dc.context.send_activity(text("intake_start"))
        prefilled = options.get("bevoegdheid") if isinstance(options, dict) else None
        if prefilled and catalogue.bevoegdheid(prefilled) is not None:
            state["answers"][Key.BEVOEGDHEID] = prefilled
            state["history"].append(Key.BEVOEGDHEID)
            bevoegdheid = catalogue.bevoegdheid(prefilled)
            assert bevoegdheid is not None
            await dc.context.send_activity(text("intake_prefilled", label=bevoegdheid.title))
        return await self._advance(dc, catalogue)

    async def continue_dialog(self, dc: DialogContext) -> DialogTurnResult:
        activity = dc.context.activity
        if activity.type != ActivityTypes.message:
            return Dialog.end_of_turn
        state = self._state(dc)
        catalogue = await services.load_catalogue(self._database)
        raw = (activity.text or "").strip()

        if state["phase"] == RESUME_OFFER:
            return await self._resume_answer(dc, catalogue, raw)
        if self._interrupted(state) and state["phase"] == SUMMARY and state.get("draft"):
            # The process died in the submit turn after the request was stored but before this
            # state was saved: say it was submitted rather than offering to continue the draft.
            submitted = await services.submitted_draft(self._database, state["draft"])
            if submitted is not None:
                return await self._submitted(dc, catalogue, submitted)
        if self._interrupted(state):
            state["phase_before"] = state["phase"]
            state["phase"] = RESUME_OFFER
            bevoegdheid = catalogue.bevoegdheid(state["answers"].get(Key.BEVOEGDHEID))
            await dc.context.send_activity(
                text(
                    "intake_resume_offer",
                    bevoegdheid=bevoegdheid.title if bevoegdheid else None,
                    answered=len(state["answers"]),
                )
            )
            return self._wait(state)

        command = recognise(raw)
        if command is Command.BACK:
            return await self._back(dc, catalogue)
        if command is Command.STATUS:
            return await self._status(dc, catalogue)
        if state["phase"] == SUMMARY:
            return await self._summary_answer(dc, catalogue, raw)
        return await self._answer(dc, catalogue, raw)

    async def resume_dialog(
        self, dc: DialogContext, reason: object, result: object = None
    ) -> DialogTurnResult:
        return await self.reprompt(dc)

    async def reprompt(self, dc: DialogContext) -> DialogTurnResult:
        catalogue = await services.load_catalogue(self._database)
        return await self._advance(dc, catalogue)

    # --- steps ---------------------------------------------------------------------------

    async def _answer(self, dc: DialogContext, catalogue: Catalogue, raw: str) -> DialogTurnResult:
        state = self._state(dc)
        question = self._question(state, catalogue, state.get("current"))
        if question is None:
            return await self._advance(dc, catalogue)
        offered = [o for o in question.options if o.value in (state.get("offered") or [])]
        if offered and raw.isdigit() and 1 <= int(raw) <= len(offered):
            # A number after a shortlist refers to the shortlist that was shown.
            raw = offered[int(raw) - 1].label
        state["offered"] = None
        outcome = intake.understand(question, raw, today=self._today())
        if not isinstance(outcome, Accepted):
            await dc.context.send_activity(rejection_text(outcome))
            if outcome.options and outcome.options != question.options:
                state["offered"] = [o.value for o in outcome.options]
                await dc.context.send_activity(
                    self._card(state, catalogue, question, options=outcome.options)
                )
            return self._wait(state)
        self._record(state, catalogue, question.key, outcome.value)
        if "working_days" in outcome.facts:
            await dc.context.send_activity(
                text("intake_date_ok", date=outcome.display, **outcome.facts)
            )
        if question.key == Key.GEMEENTE:
            await self._last_gemeente.set(dc.context, outcome.value)
        return await self._advance(dc, catalogue)

    async def _advance(self, dc: DialogContext, catalogue: Catalogue) -> DialogTurnResult:
        """Ask the next open question, or show the summary when everything is answered."""
        state = self._state(dc)
        while True:
            question = intake.next_question(state["answers"], catalogue)
            if question is None:
                state.update(phase=SUMMARY, current=None, editing=None)
                rows = summary_rows(intake.questions(state["answers"], catalogue), state["answers"])
                await dc.context.send_activity(summary_card(rows))
                return self._wait(state)
            if question.key == Key.BASISTEAM and len(question.options) == 1:
                # One possible answer (a gemeente with a single basisteam): fill it in, say so.
                only = question.options[0]
                self._record(state, catalogue, question.key, only.value)
                await dc.context.send_activity(text("intake_auto_choice", label=only.label))
                continue
            state.update(phase=ASKING, current=question.key)
            await dc.context.send_activity(await self._card_for(dc, state, catalogue, question))
            return self._wait(state)

    async def _summary_answer(
        self, dc: DialogContext, catalogue: Catalogue, raw: str
    ) -> DialogTurnResult:
        state = self._state(dc)
        said = normalise(raw)
        if said in {"indienen", "dien in", "verstuur", "versturen", "ja"}:
            return await self._submit(dc, catalogue)
        if said.startswith("wijzig"):
            rows = summary_rows(intake.questions(state["answers"], catalogue), state["answers"])
            number = said.removeprefix("wijzig").strip()
            if number.isdigit() and 1 <= int(number) <= len(rows):
                key = rows[int(number) - 1]["key"]
                question = self._question(state, catalogue, key)
                assert question is not None
                state.update(phase=ASKING, current=key, editing=key)
                await dc.context.send_activity(await self._card_for(dc, state, catalogue, question))
                return self._wait(state)
        await dc.context.send_activity(text("intake_summary_unclear"))
        return self._wait(state)

    async def _submit(self, dc: DialogContext, catalogue: Catalogue) -> DialogTurnResult:
        state = self._state(dc)
        activity = dc.context.activity
        sender = activity.from_property
        requester = services.Person(
            aad_object_id=(sender.aad_object_id or sender.id) if sender else "onbekend",
            name=(sender.name or "") if sender else "",
        )
        reference = TurnContext.get_conversation_reference(activity).serialize()
        try:
            submitted = await services.submit(
                self._database,
                answers=state["answers"],
                requester=requester,
                conversation=reference,
                catalogue=catalogue,
                now=self._clock(),
                tz=self._tz,
                deadlines=self._deadlines,
                # A draft saved before drafts had an id gets one now.
                draft_id=state.setdefault("draft", _new_draft()),
            )
        except services.IncompleteRequest:
            # The catalogue changed under the draft (content reloaded): ask what is missing.
            state["answers"] = intake.prune(state["answers"], catalogue)
            return await self._advance(dc, catalogue)
        return await self._submitted(dc, catalogue, submitted)

    async def _submitted(
        self, dc: DialogContext, catalogue: Catalogue, submitted: services.Submitted
    ) -> DialogTurnResult:
        state = self._state(dc)
        team = next(
            (
                option.label
                for option in catalogue.basisteams_by_gemeente.get(
                    str(state["answers"][Key.GEMEENTE]), ()
                )
                if option.value == state["answers"][Key.BASISTEAM]
            ),
            str(state["answers"][Key.BASISTEAM]),
        )
        await dc.context.send_activity(
            text("intake_submitted", reference=submitted.reference, basisteam=team)
        )
        return await dc.end_dialog(submitted.reference)

    async def _back(self, dc: DialogContext, catalogue: Catalogue) -> DialogTurnResult:
        state = self._state(dc)
        history: list[str] = state["history"]
        if not history:
            await dc.context.send_activity(text("intake_back_at_start"))
            return self._wait(state)
        previous = history.pop()
        state["answers"].pop(previous, None)
        state["answers"] = intake.prune(state["answers"], catalogue)
        state["editing"] = None
        return await self._advance(dc, catalogue)

    async def _status(self, dc: DialogContext, catalogue: Catalogue) -> DialogTurnResult:
        state = self._state(dc)
        all_questions = intake.questions(state["answers"], catalogue)
        answered = sum(1 for q in all_questions if q.key in state["answers"])
        bevoegdheid = catalogue.bevoegdheid(state["answers"].get(Key.BEVOEGDHEID))
        await dc.context.send_activity(
            text(
                "intake_status",
                number=min(answered + 1, len(all_questions)),
                total=len(all_questions),
                bevoegdheid=bevoegdheid.title if bevoegdheid else None,
            )
        )
        return self._wait(state)

    async def _resume_answer(
        self, dc: DialogContext, catalogue: Catalogue, raw: str
    ) -> DialogTurnResult:
        state = self._state(dc)
        said = normalise(raw)
        if said in {"doorgaan", "ga door", "verder", "ja"}:
            state["phase"] = state.pop("phase_before", ASKING)
            state["last_turn"] = self._clock().isoformat()
            if state["phase"] == SUMMARY:
                state["phase"] = ASKING
            return await self._advance(dc, catalogue)
        if said in {"weggooien", "gooi weg", "verwijderen", "nee"}:
            await dc.context.send_activity(text("intake_discarded"))
            return await dc.end_dialog()
        await dc.context.send_activity(text("intake_resume_unclear"))
        return self._wait(state)

    # --- helpers -------------------------------------------------------------------------

    def _state(self, dc: DialogContext) -> dict[str, Any]:
        assert dc.active_dialog is not None
        return dc.active_dialog.state

    def _wait(self, state: dict[str, Any]) -> DialogTurnResult:
        state["last_turn"] = self._clock().isoformat()
        return Dialog.end_of_turn

    def _today(self) -> dt.date:
        return self._clock().astimezone(self._tz).date()

    def _interrupted(self, state: dict[str, Any]) -> bool:
        last = state.get("last_turn")
        if not last:
            return False
        last_turn = dt.datetime.fromisoformat(last)
        return last_turn < self._started or (last_turn.astimezone(self._tz).date() != self._today())

    def _record(self, state: dict[str, Any], catalogue: Catalogue, key: str, value: Any) -> None:
        state["answers"][key] = value
        if key in state["history"]:
            state["history"].remove(key)
        state["history"].append(key)
        state["answers"] = intake.prune(state["answers"], catalogue)
        state["history"] = [k for k in state["history"] if k in state["answers"]]
        state["editing"] = None

    def _question(
        self, state: dict[str, Any], catalogue: Catalogue, key: str | None
    ) -> Question | None:
        return next(
            (q for q in intake.questions(state["answers"], catalogue) if q.key == key), None
        )

    async def _card_for(
        self, dc: DialogContext, state: dict[str, Any], catalogue: Catalogue, question: Question
    ) -> Any:
        context: dict[str, Any] = {}
        options = question.options
        if question.key == Key.GEMEENTE:
            last = await self._last_gemeente.get(dc.context, None)
            match = next((o for o in options if o.value == last), None)
            context["last"] = match.label if match else None
        return self._card(state, catalogue, question, options=options, **context)

    def _card(
        self,
        state: dict[str, Any],
        catalogue: Catalogue,
        question: Question,
        options: tuple[intake.Option, ...] | None = None,
        **context: Any,
    ) -> Any:
        all_questions = intake.questions(state["answers"], catalogue)
        number = next(
            (i for i, q in enumerate(all_questions, start=1) if q.key == question.key),
            len(all_questions),
        )
        context.setdefault("last", None)
        return question_card(
            question, number=number, total=len(all_questions), options=options, **context
        )


def _new_draft() -> str:
    return uuid.uuid4().hex
