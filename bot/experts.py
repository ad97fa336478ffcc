"""Use cases of knowledge answers and the expert network: feedback on an answer, asking the
experts, answering, turning an answer into a knowledge entry, and the nudge of late questions.

Like `bot.lifecycle`: every change is one unit of work that also writes its outbox rows, the
actor is who Teams says clicked (never card data), a conditional update decides who was first,
and a replayed Teams activity changes nothing. No Teams types here: the Teams side
(`bot.teams`, `dialogs`) passes plain values in and turns the results into responses.

Expert cards go out as "notice" rows carrying the card: "card" rows are updated in place through
`card_copies`, which belong to requests. A copy of an expert card in someone's chat is therefore
not updated when another expert answers; whoever clicks it later gets the current card back in
the invoke response and a line saying who answered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import zoneinfo
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import ProcessEntry
from bot.deadlines import WorkingCalendar
from bot.lifecycle import Actor
from bot.privacy import check_free_text
from bot.registry import RegistryRole
from bot.views import local_time
from cards.render import render, text
from storage import experts as store
from storage import repositories
from storage.db import Database
from storage.models import (
    ExpertQuestion,
    KnowledgeDraft,
    KnowledgeEntry,
    KnowledgeFeedback,
    Notification,
)

log = logging.getLogger(__name__)

EXPERTS_PURPOSE = "experts"
QUESTION_MAX_LENGTH = 500
QUESTION_MIN_LENGTH = 10
ANSWER_MAX_LENGTH = 2000
COMMENT_MAX_LENGTH = 300
TITLE_MAX_LENGTH = 120
OPEN, ANSWERED = "open", "beantwoord"
CONCEPT, APPROVED, REJECTED = "concept", "goedgekeurd", "afgewezen"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


class Outcome(StrEnum):
    DONE = "done"
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    TEXT_REJECTED = "text_rejected"
    ALREADY_DONE = "already_done"
    REPLAYED = "replayed"
    NO_EXPERTS = "no_experts"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    message: str = ""
    # The card to show in place of the clicked one; None leaves that card as it is.
    card: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.outcome is Outcome.DONE


class _Abort(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__(result.outcome)
        self.result = result


def _rejected(value: str, *, max_length: int, min_length: int = 1) -> Result | None:
    """The Dutch refusal for free text that may not be stored (a BSN, too long, empty)."""
    verdict = check_free_text(value, max_length=max_length, min_length=min_length)
    if verdict.ok:
        return None
    assert verdict.problem is not None
    problem = text(f"invalid_text_{verdict.problem.value}", limit=verdict.limit)
    return Result(Outcome.TEXT_REJECTED, text("act_text_rejected", problem=problem))


def _message(body: str) -> dict[str, Any]:
    return {"type": "message", "text": body, "textFormat": "markdown"}


def _card_message(card: dict[str, Any], summary: str) -> dict[str, Any]:
    # The summary is what Teams shows in the notification and the chat list.
    return {
        "type": "message",
        "summary": summary,
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}],
    }


def _row(key: str, recipient: str, activity: dict[str, Any], now: dt.datetime) -> Notification:
    return Notification(
        key=key,
        kind="notice",
        request_id=None,
        recipient=recipient,
        recipient_aad_id=recipient.removeprefix("person:")
        if recipient.startswith("person:")
        else None,
        activity=activity,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def _is(session: AsyncSession, aad_object_id: str, role: RegistryRole) -> bool:
    return bool(aad_object_id) and await repositories.has_role(session, aad_object_id, role.value)


async def _to_experts(
    session: AsyncSession, key: str, activity: dict[str, Any], now: dt.datetime
) -> int:
    """To the linked experts channel, or else to every expert's personal chat."""
    link = await store.channel_link(session, EXPERTS_PURPOSE)
    if link is not None:
        conversation_id = str((link.conversation.get("conversation") or {}).get("id", ""))
        row = _row(f"{key}:kanaal", f"conversation:{conversation_id}", activity, now)
        row.conversation = link.conversation
        session.add(row)
        return 1
    experts = await repositories.people_with_role(session, RegistryRole.EXPERT.value)
    for expert in experts:
        session.add(
            _row(f"{key}:{expert.aad_object_id}", f"person:{expert.aad_object_id}", activity, now)
        )
    return len(experts)


# --- cards ----------------------------------------------------------------------------------


def expert_card(
    question: ExpertQuestion, draft: KnowledgeDraft | None, tz: zoneinfo.ZoneInfo
) -> dict[str, Any]:
    answered = question.status == ANSWERED
    return render(
        "expert_question",
        id=question.id,
        version=question.version,
        question=question.question,
        asker=question.asker_name,
        asked_at=local_time(question.created_at, tz),
        due=local_time(question.due_at, tz),
        answered=answered,
        answer=question.answer or "",
        expert=question.answered_by_name or "",
        answered_at=local_time(question.answered_at, tz) if question.answered_at else "",
        draft_status=draft.status if draft else None,
    )


def draft_card(draft: KnowledgeDraft, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return render(
        "knowledge_draft",
        id=draft.id,
        question=draft.question,
        answer=draft.answer,
        expert=draft.expert_name,
        created_at=local_time(draft.created_at, tz),
        status=draft.status,
        decided_by=draft.decided_by_name or "",
        decided_at=local_time(draft.decided_at, tz) if draft.decided_at else "",
        entry_id=draft.entry_id or "",
    )


# --- feedback -------------------------------------------------------------------------------


async def record_feedback(
    database: Database,
    *,
    entry_id: str,
    helpful: bool,
    comment: str,
    actor: Actor,
    activity_id: str | None,
    now: dt.datetime,
) -> Result:
    """Store a 👍/👎 with an optional short comment (checked like any free text)."""
    comment = comment.strip()
    if comment:
        rejected = _rejected(comment, max_length=COMMENT_MAX_LENGTH)
        if rejected is not None:
            return rejected

    async def work(session: AsyncSession) -> Result:
        if await session.get(KnowledgeEntry, entry_id) is None:
            raise _Abort(Result(Outcome.NOT_FOUND, text("knowledge_entry_gone")))
        session.add(
            KnowledgeFeedback(
                entry_id=entry_id,
                aad_object_id=actor.aad_object_id,
                helpful=helpful,
                comment=comment or None,
                created_at=now,
                activity_id=activity_id,
            )
        )
        await session.flush()
        return Result(Outcome.DONE, text("feedback_thanks"))

    try:
        return await database.transaction(work)
    except _Abort as abort:
        return abort.result
    except IntegrityError:
        return Result(Outcome.REPLAYED, text("feedback_thanks"))


# --- the experts channel --------------------------------------------------------------------


class LinkOutcome(StrEnum):
    LINKED = "linked"
    RELINKED = "relinked"
    UNLINKED = "unlinked"
    NOT_LINKED = "not_linked"
    NOT_ALLOWED = "not_allowed"


async def link_channel(
    database: Database,
    *,
    actor: str,
    conversation: dict[str, Any],
    service_url: str,
    now: dt.datetime,
    purpose: str = EXPERTS_PURPOSE,
    basisteam_id: str | None = None,
) -> LinkOutcome:
    """Make this channel the one the bot posts to for `purpose` (beheerders only)."""

    async def work(session: AsyncSession) -> LinkOutcome:
        if not await _is(session, actor, RegistryRole.BEHEERDER):
            return LinkOutcome.NOT_ALLOWED
        replaced = await store.replace_channel_link(
            session,
            purpose=purpose,
            basisteam_id=basisteam_id,
            conversation=conversation,
            service_url=service_url,
            linked_by=actor,
            now=now,
        )
        return LinkOutcome.RELINKED if replaced else LinkOutcome.LINKED

    return await database.transaction(work)


async def unlink_channel(
    database: Database,
    *,
    actor: str,
    purpose: str = EXPERTS_PURPOSE,
    basisteam_id: str | None = None,
) -> LinkOutcome:
    async def work(session: AsyncSession) -> LinkOutcome:
        if not await _is(session, actor, RegistryRole.BEHEERDER):
            return LinkOutcome.NOT_ALLOWED
        removed = await store.remove_channel_link(session, purpose, basisteam_id)
        return LinkOutcome.UNLINKED if removed else LinkOutcome.NOT_LINKED

    return await database.transaction(work)


# --- expert questions -----------------------------------------------------------------------


async def ask(
    database: Database,
    *,
    question: str,
    asker: Actor,
    conversation: dict[str, Any],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    calendar: WorkingCalendar,
    due_after: int,
) -> Result:
    """Put a question to the experts: stored (after the BSN check) with a due date, and the
    expert card to the experts channel or to every expert."""
    question = question.strip()
    rejected = _rejected(question, max_length=QUESTION_MAX_LENGTH, min_length=QUESTION_MIN_LENGTH)
    if rejected is not None:
        return rejected
    due_at = calendar.due_at(now, due_after, tz)

    async def work(session: AsyncSession) -> Result:
        row = ExpertQuestion(
            question=question,
            asker_aad_id=asker.aad_object_id,
            asker_name=asker.name,
            asker_conversation=conversation,
            status=OPEN,
            version=1,
            created_at=now,
            due_at=due_at,
        )
        session.add(row)
        await session.flush()
        card = expert_card(row, None, tz)
        summary = text("expert_card_summary", asker=asker.name)
        sent = await _to_experts(
            session, f"expertvraag:{row.id}:vraag", _card_message(card, summary), now
        )
        if not sent:
            # Nobody to ask: leave nothing behind.
            raise _Abort(Result(Outcome.NO_EXPERTS, text("expert_none")))
        return Result(Outcome.DONE, text("expert_asked", due=local_time(due_at, tz)))

    try:
        return await database.transaction(work)
    except _Abort as abort:
        return abort.result


async def answer(
    database: Database,
    *,
    question_id: int,
    answer: str,
    actor: Actor,
    activity_id: str | None,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> Result:
    """An expert answers on the card; the first answer wins and goes to the asker."""
    answer = answer.strip()

    async def work(session: AsyncSession) -> Result:
        if not await _is(session, actor.aad_object_id, RegistryRole.EXPERT):
            # The id comes from card data; it is not logged, since a forged card could carry a BSN.
            log.info("expert answer refused: actor %s lacks the expert role", actor.aad_object_id)
            raise _Abort(Result(Outcome.NOT_ALLOWED, text("expert_not_expert")))
        question = await session.get(ExpertQuestion, question_id)
        if question is None:
            raise _Abort(Result(Outcome.NOT_FOUND, text("expert_question_gone")))
        draft = await store.draft_of_question(session, question.id)
        current = expert_card(question, draft, tz)
        if activity_id and question.answer_activity_id == activity_id:
            raise _Abort(Result(Outcome.REPLAYED, text("act_replayed"), current))
        if question.status != OPEN:
            raise _Abort(Result(Outcome.ALREADY_DONE, _answered_by(question, tz), current))
        rejected = _rejected(answer, max_length=ANSWER_MAX_LENGTH)
        if rejected is not None:
            raise _Abort(Result(rejected.outcome, rejected.message, current))
        changed = await session.execute(
            update(ExpertQuestion)
            .where(
                ExpertQuestion.id == question.id,
                ExpertQuestion.status == OPEN,
                ExpertQuestion.version == question.version,
            )
            .values(
                status=ANSWERED,
                version=question.version + 1,
                answer=answer,
                answered_by_aad_id=actor.aad_object_id,
                answered_by_name=actor.name,
                answered_at=now,
                answer_activity_id=activity_id,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise _Abort(Result(Outcome.ALREADY_DONE))  # another expert was first
        await session.refresh(question)
        body = text(
            "notice_expert_answer", question=question.question, answer=answer, expert=actor.name
        )
        session.add(
            _row(
                f"expertvraag:{question.id}:antwoord",
                f"person:{question.asker_aad_id}",
                _message(body),
                now,
            )
        )
        return Result(Outcome.DONE, text("expert_answer_sent"), expert_card(question, None, tz))

    try:
        return await database.transaction(work)
    except _Abort as abort:
        if abort.result.card is None and abort.result.outcome is Outcome.ALREADY_DONE:
            return await _current(database, question_id, tz, replayed=False)
        return abort.result
    except IntegrityError:
        # The same Teams activity was processed concurrently (a resend).
        return await _current(database, question_id, tz, replayed=True)


def _answered_by(question: ExpertQuestion, tz: zoneinfo.ZoneInfo) -> str:
    return text(
        "expert_already_answered",
        expert=question.answered_by_name or "",
        at=local_time(question.answered_at, tz) if question.answered_at else "",
    )


async def _current(
    database: Database, question_id: int, tz: zoneinfo.ZoneInfo, *, replayed: bool
) -> Result:
    async with database.sessions() as session:
        question = await session.get(ExpertQuestion, question_id)
        if question is None:
            return Result(Outcome.NOT_FOUND, text("expert_question_gone"))
        draft = await store.draft_of_question(session, question_id)
        card = expert_card(question, draft, tz)
    if replayed:
        return Result(Outcome.REPLAYED, text("act_replayed"), card)
    return Result(Outcome.ALREADY_DONE, _answered_by(question, tz), card)


# --- drafts for the knowledge store ---------------------------------------------------------


def entry_id_for(question_id: int) -> str:
    return f"expert_{question_id}"


def _title(question: str) -> str:
    title = " ".join(question.split())
    if len(title) <= TITLE_MAX_LENGTH:
        return title
    cut = title[: TITLE_MAX_LENGTH - 1].rsplit(" ", 1)[0]
    return f"{cut}…"


def proposed_entry(
    *, question_id: int, question: str, answer: str, expert: str, today: dt.date
) -> dict[str, Any]:
    """The process entry an approved draft becomes, validated by the content schema so that
    `kb export` writes a file `kb import` accepts again. Raises ValueError when it does not fit
    (an answer too short to stand on its own)."""
    title = _title(question)
    raw = {
        "kind": "proces",
        "id": entry_id_for(question_id),
        "title": title,
        "topic": "proces",
        # The schema wants two phrasings; the title is the second until a beheerder adds more.
        "questions": [question, title],
        "answer": answer,
        "sources": [
            {
                "title": text("draft_source_title", expert=expert),
                "reference": f"{repositories.APPROVED_IN_CHAT}{question_id}",
            }
        ],
        "last_checked": today.isoformat(),
        "review_status": "starter",
    }
    try:
        entry = ProcessEntry.model_validate(raw)
    except ValidationError as error:
        raise ValueError(str(error)) from error
    return entry.model_dump(mode="json", by_alias=True, exclude_none=True)


async def make_draft(
    database: Database,
    *,
    question_id: int,
    actor: Actor,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> Result:
    """An expert proposes the answered question as a knowledge entry; the beheerders decide."""

    async def work(session: AsyncSession) -> Result:
        if not await _is(session, actor.aad_object_id, RegistryRole.EXPERT):
            raise _Abort(Result(Outcome.NOT_ALLOWED, text("expert_not_expert")))
        question = await session.get(ExpertQuestion, question_id)
        if question is None:
            raise _Abort(Result(Outcome.NOT_FOUND, text("expert_question_gone")))
        existing = await store.draft_of_question(session, question.id)
        if existing is not None:
            raise _Abort(
                Result(
                    Outcome.ALREADY_DONE,
                    text("draft_exists"),
                    expert_card(question, existing, tz),
                )
            )
        if question.status != ANSWERED or not question.answer:
            raise _Abort(
                Result(
                    Outcome.NOT_FOUND, text("draft_needs_answer"), expert_card(question, None, tz)
                )
            )
        try:
            proposed_entry(
                question_id=question.id,
                question=question.question,
                answer=question.answer,
                expert=question.answered_by_name or "",
                today=now.astimezone(tz).date(),
            )
        except ValueError:
            raise _Abort(
                Result(Outcome.TEXT_REJECTED, text("draft_unfit"), expert_card(question, None, tz))
            ) from None
        draft = KnowledgeDraft(
            expert_question_id=question.id,
            question=question.question,
            answer=question.answer,
            expert_aad_id=question.answered_by_aad_id or actor.aad_object_id,
            expert_name=question.answered_by_name or actor.name,
            created_by=actor.aad_object_id,
            created_at=now,
            status=CONCEPT,
        )
        session.add(draft)
        await session.flush()
        card = draft_card(draft, tz)
        summary = text("draft_card_summary", expert=draft.expert_name)
        for beheerder in await repositories.people_with_role(session, RegistryRole.BEHEERDER.value):
            session.add(
                _row(
                    f"concept:{draft.id}:{beheerder.aad_object_id}",
                    f"person:{beheerder.aad_object_id}",
                    _card_message(card, summary),
                    now,
                )
            )
        return Result(Outcome.DONE, text("draft_made"), expert_card(question, draft, tz))

    try:
        return await database.transaction(work)
    except _Abort as abort:
        return abort.result
    except IntegrityError:
        # Two clicks at once: the other one made the draft.
        async with database.sessions() as session:
            question = await session.get(ExpertQuestion, question_id)
            draft = await store.draft_of_question(session, question_id)
            card = expert_card(question, draft, tz) if question is not None else None
        return Result(Outcome.ALREADY_DONE, text("draft_exists"), card)


async def decide_draft(
    database: Database,
    *,
    draft_id: int,
    approve: bool,
    actor: Actor,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> Result:
    """A beheerder approves (the entry goes into the knowledge store, so the search finds it) or
    rejects a draft; the first decision stands."""

    async def work(session: AsyncSession) -> Result:
        if not await _is(session, actor.aad_object_id, RegistryRole.BEHEERDER):
            raise _Abort(Result(Outcome.NOT_ALLOWED, text("draft_not_beheerder")))
        draft = await session.get(KnowledgeDraft, draft_id)
        if draft is None:
            raise _Abort(Result(Outcome.NOT_FOUND, text("draft_gone")))
        if draft.status != CONCEPT:
            raise _Abort(
                Result(
                    Outcome.ALREADY_DONE,
                    text("draft_already_decided", by=draft.decided_by_name or ""),
                    draft_card(draft, tz),
                )
            )
        entry_id = entry_id_for(draft.expert_question_id) if approve else None
        changed = await session.execute(
            update(KnowledgeDraft)
            .where(KnowledgeDraft.id == draft.id, KnowledgeDraft.status == CONCEPT)
            .values(
                status=APPROVED if approve else REJECTED,
                decided_by_aad_id=actor.aad_object_id,
                decided_by_name=actor.name,
                decided_at=now,
                entry_id=entry_id,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise _Abort(Result(Outcome.ALREADY_DONE, text("draft_already_decided", by="")))
        await session.refresh(draft)
        if approve:
            assert entry_id is not None
            data = proposed_entry(
                question_id=draft.expert_question_id,
                question=draft.question,
                answer=draft.answer,
                expert=draft.expert_name,
                today=now.astimezone(tz).date(),
            )
            checksum = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
            await session.merge(
                KnowledgeEntry(
                    id=entry_id,
                    kind="proces",
                    title=str(data["title"]),
                    data=data,
                    checksum=checksum,
                    source_path=f"{repositories.APPROVED_IN_CHAT}{draft.expert_question_id}",
                    updated_at=now,
                )
            )
        body = text(
            "notice_draft_approved" if approve else "notice_draft_rejected",
            question=draft.question,
            beheerder=actor.name,
        )
        session.add(
            _row(
                f"concept:{draft.id}:besluit:{draft.expert_aad_id}",
                f"person:{draft.expert_aad_id}",
                _message(body),
                now,
            )
        )
        message = text("draft_approved" if approve else "draft_rejected", entry=entry_id or "")
        return Result(Outcome.DONE, message, draft_card(draft, tz))

    try:
        return await database.transaction(work)
    except _Abort as abort:
        if abort.result.card is None and abort.result.outcome is Outcome.ALREADY_DONE:
            async with database.sessions() as session:
                draft = await session.get(KnowledgeDraft, draft_id)
                card = draft_card(draft, tz) if draft is not None else None
            return Result(Outcome.ALREADY_DONE, abort.result.message, card)
        return abort.result


# --- nudges ---------------------------------------------------------------------------------


async def sweep_questions(
    database: Database, *, now: dt.datetime, tz: zoneinfo.ZoneInfo
) -> list[int]:
    """Remind the experts once of each open question past its due date. The claim is a
    conditional update of `nudged_at`, so two replicas sweeping at once nudge once."""
    async with database.sessions() as session:
        due = await store.open_questions_due(session, now)
    nudged: list[int] = []
    for question_id in due:

        async def work(session: AsyncSession, question_id: int = question_id) -> bool:
            claimed = await session.execute(
                update(ExpertQuestion)
                .where(
                    ExpertQuestion.id == question_id,
                    ExpertQuestion.status == OPEN,
                    ExpertQuestion.nudged_at.is_(None),
                )
                .values(nudged_at=now)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            question = await session.get(ExpertQuestion, question_id)
            assert question is not None
            await session.refresh(question)
            card = expert_card(question, None, tz)
            summary = text("notice_expert_nudge", asked_at=local_time(question.created_at, tz))
            activity = _card_message(card, summary)
            activity["text"] = summary
            await _to_experts(session, f"expertvraag:{question_id}:herinnering", activity, now)
            return True

        if await database.transaction(work):
            nudged.append(question_id)
    return nudged
