"""Free text outside a flow is a question for the knowledge store: an answer card when the
search is confident, an honest "Dat weet ik niet zeker." with close candidates otherwise, and on
both the way to an expert.

The question is checked like every free text before it goes anywhere: a BSN or an oversized text
is refused with the usual Dutch message and is neither searched, stored nor logged. The answer
cards are built here from the stored entry data, so `bot.teams` shows the same card when a
"Bedoelde je …" button or a 👍/👎 asks for it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext

from bot.knowledge import Hit
from bot.knowledge_service import KnowledgeService
from bot.privacy import check_free_text
from bot.textnorm import normalise
from cards.render import render, text

log = logging.getLogger(__name__)

QUESTION_MAX_LENGTH = 500
# A greeting is no question: searching it would only produce "Dat weet ik niet zeker."
GREETINGS = frozenset(
    {
        "hallo",
        "hoi",
        "hey",
        "hi",
        "dag",
        "goedemorgen",
        "goedemiddag",
        "goedenavond",
        "bedankt",
        "dank je",
        "dank je wel",
        "dankjewel",
        "dank u",
        "thanks",
        "top",
        "ok",
        "oke",
    }
)
# The messageBack verb of "Start een aanvraag met deze bevoegdheid": a chat turn, not an invoke,
# because it starts the request dialog.
START_REQUEST_VERB = "aanvraag_starten"


def start_request_options(value: Any) -> dict[str, str] | None:
    """The request dialog's options when the activity is a press of "start een aanvraag"."""
    if not isinstance(value, dict) or value.get("verb") != START_REQUEST_VERB:
        return None
    bevoegdheid = value.get("bevoegdheid")
    return {"bevoegdheid": bevoegdheid} if isinstance(bevoegdheid, str) else {}


async def answer(context: TurnContext, knowledge: KnowledgeService, question: str) -> None:
    verdict = check_free_text(question, max_length=QUESTION_MAX_LENGTH)
    if not verdict.ok:
        assert verdict.problem is not None
        await context.send_activity(
            text(f"invalid_text_{verdict.problem.value}", limit=verdict.limit)
        )
        return
    question = question.strip()
    if normalise(question) in GREETINGS:
        await context.send_activity(text("greeting"))
        return
    try:
        result = await knowledge.ask(question)
        entry = (
            await knowledge.entry(result.hits[0].id) if result.confident and result.hits else None
        )
    except Exception:
        # Never the question in the log: it is user text.
        log.exception("knowledge search failed")
        await context.send_activity(text("knowledge_unavailable"))
        return
    if entry is not None:
        card = answer_card(entry, question=question, alternatives=result.alternatives)
    else:
        card = unsure_card(question, result.alternatives)
    await context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))


def _date(value: Any) -> str:
    try:
        return dt.date.fromisoformat(str(value)).strftime("%d-%m-%Y")
    except ValueError:
        return str(value)


def _strings(values: Any) -> list[str]:
    return [str(v) for v in values] if isinstance(values, list) else []


def answer_card(
    entry: Mapping[str, Any],
    *,
    question: str,
    alternatives: Iterable[Hit] = (),
    thanked: bool = False,
) -> dict[str, Any]:
    """The answer card of one stored entry (a bevoegdheid or a process entry)."""
    kind = entry.get("kind")
    facts = [
        {"title": title, "value": str(entry[key])}
        for key, title in (("legal_basis", "Wettelijke basis"), ("competent_body", "Bevoegd"))
        if entry.get(key)
    ]
    facts.append({"title": "Laatst gecontroleerd", "value": _date(entry.get("last_checked", ""))})
    if kind == "bevoegdheid":
        heading, summary = "Wanneer", str(entry.get("applies_when", ""))
        # What the gemeente needs from the police: the questions of the power's checklist.
        needed = [
            str(item.get("text", ""))
            for item in entry.get("checklist") or []
            if isinstance(item, dict)
        ]
        bevoegdheid: str | None = str(entry["id"])
    else:
        heading, summary = "Antwoord", str(entry.get("answer", ""))
        needed = _strings(entry.get("needed_information"))
        linked = entry.get("bevoegdheid")
        bevoegdheid = str(linked) if linked else None
    sources = [
        f"{source.get('title', '')} — {source['reference']}"
        if source.get("reference")
        else str(source.get("title", ""))
        for source in entry.get("sources") or []
        if isinstance(source, dict)
    ]
    return render(
        "answer",
        id=str(entry.get("id", "")),
        title=str(entry.get("title", "")),
        question=question,
        starter=entry.get("review_status", "starter") == "starter",
        facts=facts,
        summary_heading=heading,
        summary=summary,
        steps=_strings(entry.get("steps")),
        needed=needed,
        sources=sources,
        alternatives=[
            {"id": hit.id, "title": hit.title} for hit in alternatives if hit.id != entry.get("id")
        ],
        bevoegdheid=bevoegdheid,
        thanked=thanked,
    )


def unsure_card(question: str, alternatives: Iterable[Hit]) -> dict[str, Any]:
    return render(
        "unsure",
        question=question,
        alternatives=[{"id": hit.id, "title": hit.title} for hit in alternatives],
    )
