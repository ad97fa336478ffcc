"""Requesting a bestuurlijke rapportage, as conversations through /api/messages.

Each test reads like a chat: what the user types, what the bot must answer. The content and the
registry are the shipped ones (knowledge/), the database is real, the clock is fixed on
Monday 23 November 2026, 10:00 in Amsterdam.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.content import Bevoegdheid, QuestionType
from bot.local_channel import LocalConnector
from requesting import (
    SUBJECT,
    answer_checklist,
    content,
    fixed_questions,
    load_content,
)
from storage.db import Database
from storage.models import Request, RequestEvent
from support import BotServer, FakeClock, Transcript, local_settings


class Harness:
    def __init__(self, server: BotServer, clock: FakeClock, url: str) -> None:
        self.server, self.clock, self.url = server, clock, url

    def transcript(self, user: str = "Anne Aanvrager") -> Transcript:
        return Transcript(self.server.session(user))

    async def requests(self) -> list[Request]:
        database = Database.connect(self.url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(Request))).scalars())
        finally:
            await database.dispose()

    async def events(self) -> list[RequestEvent]:
        database = Database.connect(self.url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(RequestEvent))).scalars())
        finally:
            await database.dispose()


@pytest.fixture
async def harness(database_url: str, connector: LocalConnector) -> AsyncIterator[Harness]:
    await load_content(database_url)
    clock = FakeClock()
    server = await BotServer(local_settings(database_url), connector, clock).start()
    yield Harness(server, clock, database_url)
    await server.stop()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("eenvoudig", "eenvoudig"),
        ("complex", "complex_spoedeisend"),
        ("3", "zeer_complex_innovatief"),
    ],
)
async def test_a_complete_request_for_each_report_type(
    harness: Harness, typed: str, stored: str
) -> None:
    t = harness.transcript()
    drugspand = content()["sluiting_drugspand"]
    out = await fixed_questions(t, bevoegdheid="damocles", report_type=typed)
    assert drugspand.checklist[0].text in out
    out, given = await answer_checklist(t, drugspand)
    assert "CONTROLEER JE AANVRAAG" in out
    assert SUBJECT in out
    out = await t.say("indienen")
    assert "BR-2026-0001" in out
    [request] = await harness.requests()
    assert request.reference == "BR-2026-0001"
    assert request.status == "ingediend"
    assert request.report_type == stored
    assert request.bevoegdheid_id == "sluiting_drugspand"
    assert (request.gemeente_id, request.basisteam_id) == ("zeist", "heuvelrug")
    assert request.desired_date == dt.date(2026, 12, 15)
    assert request.answers == given
    assert request.requester_conversation["conversation"]["id"] == t.chat.conversation_id
    [event] = await harness.events()
    assert (event.action, event.from_status, event.to_status) == (
        "indienen",
        "concept",
        "ingediend",
    )
    assert event.request_id == request.id


async def test_references_count_up_per_year(harness: Harness) -> None:
    drugspand = content()["sluiting_drugspand"]
    for expected in ("BR-2026-0001", "BR-2026-0002"):
        t = harness.transcript()
        await fixed_questions(t, bevoegdheid="13b")
        await answer_checklist(t, drugspand)
        assert expected in await t.say("indienen")


@pytest.mark.parametrize("bevoegdheid_id", sorted(content()))
async def test_every_bevoegdheid_can_be_requested(harness: Harness, bevoegdheid_id: str) -> None:
    entry = content()[bevoegdheid_id]
    t = harness.transcript()
    out = await fixed_questions(t, bevoegdheid=entry.title)
    assert entry.checklist[0].text in out
    out, given = await answer_checklist(t, entry)
    assert "CONTROLEER JE AANVRAAG" in out
    assert "BR-2026-0001" in await t.say("indienen")
    [request] = await harness.requests()
    assert request.bevoegdheid_id == bevoegdheid_id
    assert request.answers == given


def _conditional(entry: Bevoegdheid) -> tuple[Any, Any] | None:
    for question in entry.checklist:
        if question.condition is not None:
            target = next(q for q in entry.checklist if q.id == question.condition.question)
            return target, question
    return None


CONDITIONAL = [b for b in sorted(content()) if _conditional(content()[b]) is not None]


def test_the_content_has_enough_conditional_checklists() -> None:
    assert len(CONDITIONAL) >= 3


@pytest.mark.parametrize("bevoegdheid_id", CONDITIONAL[:4])
async def test_a_conditional_question_is_asked_only_when_its_condition_holds(
    harness: Harness, bevoegdheid_id: str
) -> None:
    entry = content()[bevoegdheid_id]
    found = _conditional(entry)
    assert found is not None
    target, conditional = found
    condition = conditional.condition
    allowed = [condition.equals] if condition.equals is not None else list(condition.in_)

    def label_for(holds: bool) -> str:
        if target.type is QuestionType.YES_NO:
            return "ja" if (allowed[0] is True) == holds else "nee"
        matching = [c for c in target.choices if (c.value in allowed) == holds]
        return matching[0].label

    for holds in (True, False):
        t = harness.transcript(f"Tester {holds}")
        await fixed_questions(t, bevoegdheid=entry.title)
        await answer_checklist(t, entry, {target.id: label_for(holds)})
        summary = "\n".join(t.lines)
        assert (conditional.text in summary) is holds


async def test_validation_errors_are_answered_in_dutch_and_the_question_is_asked_again(
    harness: Harness,
) -> None:
    t = harness.transcript()
    out = await t.say("nieuwe aanvraag")
    out = await t.say("parkeerboete")
    assert "herken ik niet" in out
    out = await t.say("sluiting")
    assert "Dat past bij" in out  # more than one bevoegdheid closes something
    out = await t.say("damocles")
    assert "Voor welke gemeente" in out
    out = await t.say("Atlantis")
    assert "herken ik niet" in out
    await t.say("Zeist")
    out = await t.say("kort")
    assert "te kort" in out
    out = await t.say("x" * 200)
    assert "te lang" in out
    out = await t.say("Zaak van Jan, BSN 111 222 333")
    assert "burgerservicenummer" in out
    assert "niets opgeslagen" in out
    await t.say(SUBJECT)
    out = await t.say("misschien wel")
    assert "Wanneer" not in out
    await t.say("onbekend")
    out = await t.say("tja")
    assert "ja of nee" in out
    await t.say("nee")
    out = await t.say("heel lastig")
    assert "herken ik niet" in out
    await t.say("eenvoudig")
    for typed, expected in [
        ("ergens volgend jaar", "kan ik niet lezen"),
        ("20-11-2026", "niet in de toekomst"),
        ("23-11-2026", "niet in de toekomst"),
        ("28-11-2026", "weekend"),
        ("25-12-2026", "feestdag (Eerste kerstdag)"),
        ("31-02-2027", "kan ik niet lezen"),
    ]:
        out = await t.say(typed)
        assert expected in out, typed
        assert "Wanneer heeft de gemeente" not in out
    out = await t.say("over 2 weken")
    assert "07-12-2026" in out  # 23 November + 14 days, a Monday
    assert content()["sluiting_drugspand"].checklist[0].text in out
    # Nothing was stored along the way, certainly not the BSN.
    assert await harness.requests() == []


async def test_an_accepted_date_is_confirmed_with_its_working_days(harness: Harness) -> None:
    t = harness.transcript()
    out = await fixed_questions(t, bevoegdheid="damocles")
    # From Monday 23 November to Tuesday 15 December 2026: 16 working days.
    assert "15-12-2026, over 16 werkdagen" in out
    out, _ = await answer_checklist(t, content()["sluiting_drugspand"])
    assert "15-12-2026" in out


async def test_back_goes_to_the_previous_question(harness: Harness) -> None:
    t = harness.transcript()
    out = await t.say("nieuwe aanvraag")
    out = await t.say("terug")
    assert "eerste vraag" in out
    await t.say("damocles")
    out = await t.say("terug")
    assert "Welke bevoegdheid" in out
    out = await t.say("gebiedsverbod")
    assert "Voor welke gemeente" in out
    await t.say("Zeist")
    await t.say(SUBJECT)
    out = await t.say("status")
    assert "Je bent bij vraag 5" in out
    assert content()["gebiedsverbod_groepsverbod"].title in out


async def test_cancel_stops_and_stores_nothing(harness: Harness) -> None:
    t = harness.transcript()
    await t.run("nieuwe aanvraag", "damocles", "Zeist")
    out = await t.say("annuleer")
    assert "Er is niets ingediend" in out
    # No request runs any more: the same word is now a question for the knowledge store.
    out = await t.say("damocles")
    assert "Voor welke gemeente" not in out
    assert "SLUITING VAN EEN DRUGSPAND" in out
    assert await harness.requests() == []


async def test_help_during_a_request_keeps_the_question_open(harness: Harness) -> None:
    t = harness.transcript()
    await t.run("nieuwe aanvraag", "damocles")
    out = await t.say("help")
    assert "WAT KAN DE RAPPORTAGEBOT?" in out
    out = await t.say("Zeist")
    assert "kort onderwerp" in out


async def test_boa_triage_advises_the_boa_route_and_needs_a_reason(harness: Harness) -> None:
    t = harness.transcript()
    await t.run("nieuwe aanvraag", "damocles", "Zeist", SUBJECT, "nee")
    out = await t.say("ja")
    assert "constateringsrapport" in out
    assert "lichtste route" in out
    out = await t.say("geen")
    assert "te kort" in out
    reason = "Boa's hebben geen toegang tot de woning; politie heeft de waarnemingen"
    out = await t.say(reason)
    assert "Welk type rapportage" in out
    await t.run("eenvoudig", "15-12-2026")
    await answer_checklist(t, content()["sluiting_drugspand"])
    await t.say("indienen")
    [request] = await harness.requests()
    assert request.boa_route_possible is True
    assert request.boa_route_reason == reason


async def test_boa_triage_can_end_in_cancelling(harness: Harness) -> None:
    t = harness.transcript()
    await t.run("nieuwe aanvraag", "damocles", "Zeist", SUBJECT, "nee", "ja")
    out = await t.say("annuleer")
    assert "niets ingediend" in out
    assert await harness.requests() == []


async def test_edit_an_answer_from_the_summary(harness: Harness) -> None:
    t = harness.transcript()
    await fixed_questions(t, bevoegdheid="damocles")
    await answer_checklist(t, content()["sluiting_drugspand"])
    out = await t.say("wijzig 4")  # 1 bevoegdheid, 2 gemeente, 3 basisteam, 4 onderwerp
    assert "kort onderwerp" in out
    out = await t.say("Ander onderwerp, zaak Z-2026-18")
    assert "CONTROLEER JE AANVRAAG" in out
    assert "Ander onderwerp" in out
    out = await t.say("wat nu")
    assert "indienen" in out
    await t.say("indienen")
    [request] = await harness.requests()
    assert request.subject == "Ander onderwerp, zaak Z-2026-18"


async def test_changing_the_gemeente_asks_the_basisteam_again(harness: Harness) -> None:
    t = harness.transcript()
    out = await t.run("nieuwe aanvraag", "damocles", "Utrecht", "west")
    await t.run(SUBJECT, "nee", "nee", "eenvoudig", "15-12-2026")
    await answer_checklist(t, content()["sluiting_drugspand"])
    out = await t.say("wijzig 2")
    assert "Voor welke gemeente" in out
    out = await t.say("Zeist")
    # Utrecht-West does not serve Zeist: the only team that does is filled in instead.
    assert "Basisteam Heuvelrug is de enige keuze" in out
    assert "Utrecht-West" not in out
    await t.say("indienen")
    [request] = await harness.requests()
    assert (request.gemeente_id, request.basisteam_id) == ("zeist", "heuvelrug")


async def test_a_draft_survives_a_restart_and_is_offered_to_continue(
    database_url: str, connector: LocalConnector
) -> None:
    await load_content(database_url)
    clock = FakeClock()
    first = await BotServer(local_settings(database_url), connector, clock).start()
    try:
        t = Transcript(first.session("Rens Restart"))
        await t.run("nieuwe aanvraag", "damocles", "Zeist")
    finally:
        await first.stop()
    clock.advance(minutes=5)
    second = await BotServer(local_settings(database_url), connector, clock).start()
    try:
        t = Transcript(second.session("Rens Restart"))
        out = await t.say(SUBJECT)
        assert "Je was bezig met een aanvraag voor" in out
        assert "doorgaan" in out
        out = await t.say("doorgaan")
        assert "kort onderwerp" in out
        out = await t.say(SUBJECT)
        assert "strafrechtelijk onderzoek" in out
    finally:
        await second.stop()


async def test_a_draft_from_yesterday_can_be_discarded(harness: Harness) -> None:
    t = harness.transcript()
    await t.run("nieuwe aanvraag", "damocles")
    harness.clock.advance(days=1)
    out = await t.say("Zeist")
    assert "Je was bezig met een aanvraag" in out
    out = await t.say("weggooien")
    assert "weggegooid" in out
    # Nothing runs any more: "Zeist" is now a question, not an answer to a request.
    out = await t.say("Zeist")
    assert "basisteam" not in out.lower()
    assert "Je was bezig" not in out and "kort onderwerp" not in out


async def test_my_requests_lists_status_and_dates(harness: Harness) -> None:
    t = harness.transcript()
    out = await t.say("mijn aanvragen")
    assert "nog geen aanvragen" in out
    await fixed_questions(t, bevoegdheid="damocles")
    await answer_checklist(t, content()["sluiting_drugspand"])
    await t.say("indienen")
    out = await t.say("mijn aanvragen")
    assert "BR-2026-0001 · ingediend" in out
    assert "ingediend 23-11-2026 · gewenst 15-12-2026" in out
    # Another person does not see it.
    other = harness.transcript("Bert Buurgemeente")
    assert "nog geen aanvragen" in await other.say("mijn aanvragen")


async def test_the_last_gemeente_is_remembered(harness: Harness) -> None:
    t = harness.transcript()
    await t.run("nieuwe aanvraag", "damocles", "Zeist", "annuleer")
    out = await t.run("nieuwe aanvraag", "damocles")
    assert "Vorige keer koos je Zeist" in out


async def test_a_gemeente_with_two_basisteams_asks_which(harness: Harness) -> None:
    t = harness.transcript()
    out = await t.run("nieuwe aanvraag", "damocles", "Utrecht")
    assert "Welk basisteam" in out
    assert "Utrecht-Centrum" in out and "Utrecht-West" in out
    out = await t.say("west")
    assert "kort onderwerp" in out


async def test_nothing_in_the_tables_has_a_bsn(harness: Harness) -> None:
    t = harness.transcript()
    await t.run("nieuwe aanvraag", "damocles", "Zeist", "BSN 123456782 graag")
    database = Database.connect(harness.url)
    try:
        async with database.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(Request))
        assert count == 0
        async with database.engine.connect() as connection:
            for table in ("bot_state", "requests", "request_events"):
                rows = (await connection.exec_driver_sql(f"SELECT * FROM {table}")).all()
                assert "123456782" not in repr(rows), table
    finally:
        await database.dispose()
