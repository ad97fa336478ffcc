"""Requesting a rapportage as a user does, shared by the conversation tests of several suites."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.chat import local_identity
from bot.content import Bevoegdheid, QuestionType, bevoegdheden, load_directory
from bot.registry import load_registry
from bot.workflow import TRANSITIONS, Action, RequestStatus, Role
from storage.db import Database
from storage.models import Request
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


# --- A stored request in any state, for the lifecycle tests -------------------------------------

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
# One person of the demo registry per role in a Zeist request handled by basisteam Heuvelrug.
ACTOR_OF = {
    Role.AANVRAGER: "Anne Aanvrager",
    Role.GEMEENTELIJK_AANSPREEKPUNT: "Gert Gemeente",
    Role.COORDINATOR: "Carla Coördinator",
}
# The steps taken on cards (submitting is the dialog's, expiring the bot's).
ON_CARDS = [t for t in TRANSITIONS if t.action not in (Action.SUBMIT, Action.EXPIRE)]
# Card inputs that satisfy every step that needs a reason or an outcome.
INPUTS = {
    "aanvulling_vragen_reason": "Welk adres?",
    "afwijzen_reason": "Geen grond",
    "aanvullen_reason": "Dorpsstraat",
    "zaakofficier_bezwaar_reason": "Onderzoek loopt",
    "controle_afgekeurd_reason": "Bronnen ontbreken",
    "om_terug_reason": "Proportionaliteit",
    "om_weigert_reason": "Opsporingsbelang",
    "outcome": "geen_maatregel",
}


async def seed(database: Database, status: RequestStatus, investigation: str) -> str:
    """Store a request of Anne's directly in `status`; returns its reference."""
    anne = local_identity("Anne Aanvrager")[1]
    async with database.sessions.begin() as session:
        count = (await session.execute(select(func.count()).select_from(Request))).scalar_one()
        reference = f"BR-2026-{count + 1:04d}"
        session.add(
            Request(
                reference=reference,
                status=status.value,
                version=1,
                bevoegdheid_id="sluiting_drugspand",
                gemeente_id="zeist",
                basisteam_id="heuvelrug",
                subject="Pand",
                criminal_investigation=investigation,
                boa_route_possible=False,
                report_type="eenvoudig",
                desired_date=dt.date(2026, 12, 15),
                answers={},
                requester_aad_id=anne,
                requester_name="Anne Aanvrager",
                requester_conversation={},
                created_at=NOW,
                updated_at=NOW,
                status_since=NOW,
            )
        )
    return reference
