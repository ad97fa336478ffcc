"""Ask an expert, end to end as Teams drives it: the question goes to the experts channel (or to
each expert's personal chat), an expert answers on the card, the asker hears the answer, the
answer becomes a draft knowledge entry that a beheerder approves, and the search then finds it.
Late questions get one reminder. Everything is delivered through the outbox to the local
connector.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot import experts
from bot.app import sweep_expert_questions
from bot.chat import CARD_RESPONSE, ChatSession, local_identity
from bot.knowledge_service import KnowledgeService
from bot.local_channel import LOCAL_TENANT, LocalConnector, Received
from cards.text import card_to_text
from requesting import load_content
from storage.db import Database
from storage.models import ChannelLink, ExpertQuestion, KnowledgeDraft, KnowledgeEntry
from support import BotServer, FakeClock, local_settings

ANNE, ERIK, BEA, CARLA = "Anne Aanvrager", "Erik Expert", "Bea Beheer", "Carla Coördinator"
CHANNEL = "19:experts@thread.tacv2"
QUESTION = "Mag een boa een constateringsrapport opmaken in een woning zonder toestemming?"
ANSWER = (
    "Nee, een boa heeft voor het binnentreden van een woning zonder toestemming een machtiging "
    "tot binnentreden nodig (Algemene wet op het binnentreden)."
)


def aad(name: str) -> str:
    return local_identity(name)[1]


def channel(thread: str = "1") -> dict[str, Any]:
    return {
        "id": f"{CHANNEL};messageid={thread}",
        "conversationType": "channel",
        "tenantId": LOCAL_TENANT,
    }


class Experts:
    def __init__(self, server: BotServer, connector: LocalConnector, url: str) -> None:
        self.server, self.connector, self.url = server, connector, url
        self.clock: FakeClock = server.clock  # type: ignore[assignment]

    def chat(self, name: str) -> ChatSession:
        return self.server.session(name)

    async def say(
        self, name: str, line: str, conversation: dict[str, Any] | None = None
    ) -> list[Received]:
        chat = self.chat(name)
        fields: dict[str, Any] = {"type": "message", "text": line}
        if conversation:
            fields["conversation"] = conversation
        _, _, replies = await chat.post(chat.activity(**fields))
        return replies

    async def press(
        self,
        name: str,
        card: dict[str, Any],
        title: str,
        inputs: dict[str, str] | None = None,
        *,
        conversation: dict[str, Any] | None = None,
        activity_id: str | None = None,
    ) -> tuple[dict[str, Any] | None, str]:
        """Click a Universal Action; returns the card Teams shows instead, or the message."""
        [button] = [b for b in card_to_text(card).buttons if b.title == title]
        assert button.kind == "execute"
        chat = self.chat(name)
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": button.verb,
                "data": {**button.data, **(inputs or {})},
            },
            "trigger": "manual",
        }
        fields: dict[str, Any] = {"type": "invoke", "name": "adaptiveCard/action", "value": value}
        if conversation:
            fields["conversation"] = conversation
        if activity_id:
            fields["id"] = activity_id
        status, body, replies = await chat.post(chat.activity(**fields))
        assert status == 200
        await self.server.deliver()
        said = " ".join(r.text for r in replies if r.text)
        if body.get("type") == CARD_RESPONSE:
            return body["value"], said
        return None, " ".join(filter(None, [str(body.get("value") or ""), said]))

    async def ask_anne(self) -> None:
        """Anne asks something the knowledge store does not know and sends it to the experts."""
        [reply] = await self.say(ANNE, "avondklok")
        [card] = reply.cards
        assert card["body"][0]["text"] == "Dat weet ik niet zeker."
        shown, message = await self.press(ANNE, card, "Versturen", {"expert_vraag": QUESTION})
        assert shown is None
        assert "doorgestuurd naar de experts" in message

    def cards_in(self, conversation_id: str) -> list[dict[str, Any]]:
        return [c for r in self.connector.sent_to(conversation_id) for c in r.cards]

    def personal(self, name: str) -> str:
        mine = {f"a:local-chat-{aad(name)}", f"a:personal-{aad(name)}"}
        used = [r.conversation_id for r in self.connector.received if r.conversation_id in mine]
        assert used, f"the bot never wrote to {name}"
        return used[-1]

    async def rows(self, model: Any) -> list[Any]:
        database = Database.connect(self.url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(model))).scalars())
        finally:
            await database.dispose()


def text_of(card: dict[str, Any]) -> str:
    return "\n".join(card_to_text(card).lines)


def titles(card: dict[str, Any]) -> list[str]:
    return [b.title for b in card_to_text(card).buttons]


@pytest.fixture
async def world(database_url: str, connector: LocalConnector) -> AsyncIterator[Experts]:
    await load_content(database_url)
    server = await BotServer(local_settings(database_url), connector, FakeClock()).start()
    yield Experts(server, connector, database_url)
    await server.stop()


async def test_only_a_beheerder_links_the_experts_channel(world: Experts) -> None:
    [reply] = await world.say(ERIK, "beheer expertkanaal", channel())
    assert "alleen voor beheerders" in reply.text
    assert await world.rows(ChannelLink) == []

    [reply] = await world.say(BEA, "beheer expertkanaal")
    assert "in het kanaal" in reply.text  # a personal chat is no channel
    assert await world.rows(ChannelLink) == []

    [reply] = await world.say(BEA, "beheer expertkanaal", channel())
    assert reply.text.startswith("Dit kanaal is nu het expertkanaal")
    [link] = await world.rows(ChannelLink)
    assert (link.purpose, link.basisteam_id, link.linked_by) == ("experts", None, aad(BEA))
    # New posts go to the channel itself, not into the thread the command was typed in.
    assert link.conversation["conversation"]["id"] == CHANNEL
    assert "user" not in link.conversation

    [reply] = await world.say(BEA, "beheer expertkanaal", channel("2"))
    assert "vorige expertkanaal is ontkoppeld" in reply.text
    assert len(await world.rows(ChannelLink)) == 1

    [reply] = await world.say(ERIK, "beheer expertkanaal ontkoppel")
    assert "alleen voor beheerders" in reply.text
    [reply] = await world.say(BEA, "beheer expertkanaal ontkoppel")
    assert reply.text.startswith("Het expertkanaal is ontkoppeld")
    assert await world.rows(ChannelLink) == []


async def test_expert_question_end_to_end_through_the_channel(world: Experts) -> None:
    await world.say(BEA, "beheer expertkanaal", channel())
    await world.ask_anne()
    await world.server.deliver()
    [question] = await world.rows(ExpertQuestion)
    assert (question.question, question.status, question.asker_aad_id) == (
        QUESTION,
        "open",
        aad(ANNE),
    )
    # Asked on Monday 23-11 at 10:00 local: three working days later, end of Thursday 26-11.
    assert question.due_at.replace(tzinfo=dt.UTC) == dt.datetime(
        2026, 11, 26, 22, 59, 59, tzinfo=dt.UTC
    )

    [card] = world.cards_in(CHANNEL)
    assert QUESTION in text_of(card)
    assert "Gesteld door Anne Aanvrager" in text_of(card)
    assert titles(card) == ["Beantwoorden"]

    # Someone without the expert role cannot answer.
    shown, message = await world.press(
        CARLA, card, "Beantwoorden", {"expert_antwoord": "Geen idee"}, conversation=channel()
    )
    assert shown is None and "Alleen experts" in message
    assert (await world.rows(ExpertQuestion))[0].status == "open"

    # A BSN in the answer is refused, nothing is stored.
    shown, message = await world.press(
        ERIK, card, "Beantwoorden", {"expert_antwoord": "Zie BSN 123456782"}, conversation=channel()
    )
    assert "burgerservicenummer" in message
    assert (await world.rows(ExpertQuestion))[0].answer is None

    shown, _ = await world.press(
        ERIK,
        card,
        "Beantwoorden",
        {"expert_antwoord": ANSWER},
        conversation=channel(),
        activity_id="erik-answers",
    )
    assert shown is not None
    assert "Beantwoord door Erik Expert" in text_of(shown) and ANSWER in text_of(shown)
    assert titles(shown) == ["Maak er een concept-kennisitem van"]

    relayed = [r.text for r in world.connector.sent_to(world.personal(ANNE)) if r.text]
    assert any(ANSWER in line and QUESTION in line and "Erik Expert" in line for line in relayed)

    # The same click again (Teams resends) and a second answer change nothing.
    to_anne = len(world.connector.sent_to(world.personal(ANNE)))
    shown, message = await world.press(
        ERIK,
        card,
        "Beantwoorden",
        {"expert_antwoord": "Iets anders"},
        conversation=channel(),
        activity_id="erik-answers",
    )
    assert shown is not None and ANSWER in text_of(shown)
    assert "al verwerkt" in message
    shown, message = await world.press(
        ERIK, card, "Beantwoorden", {"expert_antwoord": "Iets anders"}, conversation=channel()
    )
    assert "al beantwoord door Erik Expert" in message
    [question] = await world.rows(ExpertQuestion)
    assert (question.answer, question.version) == (ANSWER, 2)
    assert len(world.connector.sent_to(world.personal(ANNE))) == to_anne

    # The answer becomes a draft; the beheerders get it to decide.
    answered = shown
    assert answered is not None
    shown, _ = await world.press(
        ERIK, answered, "Maak er een concept-kennisitem van", conversation=channel()
    )
    assert shown is not None and "concept-kennisitem van gemaakt" in text_of(shown)
    assert titles(shown) == []
    [draft] = await world.rows(KnowledgeDraft)
    assert (draft.status, draft.expert_name, draft.question) == ("concept", ERIK, QUESTION)
    [draft_card] = world.cards_in(world.personal(BEA))
    assert titles(draft_card) == ["Goedkeuren", "Afwijzen"]

    # Only a beheerder decides.
    shown, message = await world.press(ERIK, draft_card, "Goedkeuren")
    assert shown is None and "Alleen beheerders" in message
    shown, _ = await world.press(BEA, draft_card, "Goedkeuren")
    assert shown is not None and "Goedgekeurd door Bea Beheer" in text_of(shown)
    shown, message = await world.press(BEA, draft_card, "Afwijzen")
    assert "al besloten" in message
    assert (await world.rows(KnowledgeDraft))[0].status == "goedgekeurd"

    entries = {e.id: e for e in await world.rows(KnowledgeEntry)}
    entry = entries[f"expert_{question.id}"]
    assert entry.kind == "proces"
    assert entry.data["answer"] == ANSWER
    assert entry.data["review_status"] == "starter"
    assert entry.data["last_checked"] == "2026-11-23"
    assert entry.data["sources"] == [
        {"title": "Antwoord van expert Erik Expert", "reference": f"expertvraag {question.id}"}
    ]
    assert "goedgekeurd" in " ".join(r.text for r in world.connector.sent_to(world.personal(ERIK)))

    # The search now finds it, and the answer card shows it as starter content.
    database = Database.connect(world.url)
    try:
        result = await KnowledgeService(database, check_interval=0).ask(QUESTION)
    finally:
        await database.dispose()
    assert result.confident and result.hits[0].id == entry.id
    # The bot's own service notices the change within its check interval (5 s); not waited for.
    world.server.components.knowledge._check_interval = 0
    [reply] = await world.say(ANNE, QUESTION)
    [card] = reply.cards
    assert card["body"][0]["text"] == entry.title
    assert "Startinhoud, nog niet getoetst door juristen" in text_of(card)


async def test_without_a_channel_every_expert_gets_the_card_in_a_personal_chat(
    world: Experts,
) -> None:
    await world.ask_anne()
    await world.server.deliver()
    [card] = world.cards_in(world.personal(ERIK))
    assert QUESTION in text_of(card)
    shown, _ = await world.press(ERIK, card, "Beantwoorden", {"expert_antwoord": ANSWER})
    assert shown is not None and "Beantwoord door Erik Expert" in text_of(shown)


async def test_without_experts_nothing_is_stored(world: Experts) -> None:
    database = Database.connect(world.url)
    try:
        async with database.sessions.begin() as session:
            from storage.models import PersonRole

            await session.execute(PersonRole.__table__.delete().where(PersonRole.role == "expert"))
    finally:
        await database.dispose()
    [reply] = await world.say(ANNE, "avondklok")
    _, message = await world.press(ANNE, reply.cards[0], "Versturen", {"expert_vraag": QUESTION})
    assert "nog geen experts" in message
    assert await world.rows(ExpertQuestion) == []


async def test_a_bsn_in_the_expert_question_is_refused_and_not_stored(world: Experts) -> None:
    [reply] = await world.say(ANNE, "avondklok")
    _, message = await world.press(
        ANNE, reply.cards[0], "Versturen", {"expert_vraag": "Wat mag ik met BSN 123456782?"}
    )
    assert "burgerservicenummer" in message
    assert await world.rows(ExpertQuestion) == []


async def test_an_unanswered_question_is_nudged_once_after_its_due_date(world: Experts) -> None:
    await world.say(BEA, "beheer expertkanaal", channel())
    await world.ask_anne()
    await world.server.deliver()
    database = world.server.components.database
    tz = world.server.settings.tz

    # Due at the end of Thursday 26-11: nothing on Thursday, a reminder on Friday, only once.
    world.clock.advance(days=3)
    assert await experts.sweep_questions(database, now=world.clock(), tz=tz) == []
    world.clock.advance(days=1)
    # Two replicas sweeping at the same moment nudge once; the scheduler's tick adds nothing.
    first, second = await asyncio.gather(
        experts.sweep_questions(database, now=world.clock(), tz=tz),
        experts.sweep_questions(database, now=world.clock(), tz=tz),
    )
    [question_id] = first + second
    await sweep_expert_questions(world.server.components)
    await world.server.deliver()
    nudges = [r for r in world.connector.sent_to(CHANNEL) if "Herinnering" in r.text]
    assert len(nudges) == 1 and QUESTION in text_of(nudges[0].cards[0])
    [question] = await world.rows(ExpertQuestion)
    assert question.id == question_id and question.nudged_at is not None

    # An answered question is never nudged.
    [card] = world.cards_in(CHANNEL)[:1]
    await world.press(ERIK, card, "Beantwoorden", {"expert_antwoord": ANSWER})
    await world.ask_anne()
    world.clock.advance(days=10)
    assert len(await experts.sweep_questions(database, now=world.clock(), tz=tz)) == 1
