"""Requesting a rapportage as a user does, shared by the conversation tests of several suites."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bot.content import Bevoegdheid, QuestionType, bevoegdheden, load_directory
from bot.registry import load_registry
from storage.db import Database
from storage.repositories import replace_knowledge, replace_registry
from support import Transcript

ROOT = Path(__file__).resolve().parents[1]
SUBJECT = "Pand aan de rand van het centrum, zaak Z-2026-17"


def content() -> dict[str, Bevoegdheid]:
    return {b.id: b for b in bevoegdheden(load_directory(ROOT / "knowledge"))}


async def load_content(url: str) -> None:
    database = Database.connect(url)
    try:
        async with database.sessions.begin() as session:
            await replace_knowledge(session, load_directory(ROOT / "knowledge"))
            await replace_registry(session, load_registry(ROOT / "knowledge/registry/demo.yaml"))
    finally:
        await database.dispose()


def valid_answer(question: Any) -> str:
    kind = question.type
    if kind is QuestionType.CHOICE:
        return question.choices[0].label
    if kind is QuestionType.YES_NO:
        return "ja"
    if kind is QuestionType.DATE:
        return "15-01-2027"
    if kind is QuestionType.NUMBER:
        return str(int(question.minimum if question.minimum is not None else 1))
    return "Toelichting zonder namen".ljust(max(question.min_length or 0, 10), ".")


async def answer_checklist(
    t: Transcript, bevoegdheid: Bevoegdheid, overrides: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Answer the checklist as the content defines it; check the bot asks exactly those."""
    overrides = overrides or {}
    given: dict[str, Any] = {}
    out = ""
    for question in bevoegdheid.checklist:
        if question.condition is not None and not question.condition.holds(given):
            assert question.text not in out
            continue
        assert question.text in out or not given, (question.id, out)
        answer = overrides.get(question.id, valid_answer(question))
        if question.type is QuestionType.YES_NO:
            given[question.id] = answer == "ja"
        elif question.type is QuestionType.CHOICE:
            given[question.id] = next(
                c.value for c in question.choices if c.label == answer or c.value == answer
            )
        elif question.type is QuestionType.DATE:
            given[question.id] = dt.datetime.strptime(answer, "%d-%m-%Y").date().isoformat()
        elif question.type is QuestionType.NUMBER:
            given[question.id] = int(answer)
        else:
            given[question.id] = answer
        out = await t.say(answer)
    return out, given


async def fixed_questions(
    t: Transcript,
    *,
    bevoegdheid: str,
    report_type: str = "eenvoudig",
    investigation: str = "nee",
) -> str:
    out = await t.say("nieuwe aanvraag")
    assert "Welke bevoegdheid" in out
    out = await t.say(bevoegdheid)
    assert "Voor welke gemeente" in out
    out = await t.say("Zeist")
    # Zeist is served by one basisteam: filled in, not asked.
    assert "Basisteam Heuvelrug is de enige keuze" in out
    assert "kort onderwerp" in out
    out = await t.say(SUBJECT)
    assert "strafrechtelijk onderzoek" in out
    out = await t.say(investigation)
    assert "boa" in out
    out = await t.say("nee")
    assert "Welk type rapportage" in out
    out = await t.say(report_type)
    assert "Wanneer heeft de gemeente" in out
    return await t.say("15-12-2026")
