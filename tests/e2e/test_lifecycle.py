"""A request from `ingediend` to `afgerond` through cards, as Teams would drive it.

The aanvrager submits in her chat; the bot opens personal chats with the coördinatoren of the
basisteam and sends them the request card; they act on it with Universal Actions (invokes on
`/api/messages`); every party's copy is updated in place and the gemeente hears of every step.
All deliveries go through the outbox to the local connector, which records what Teams would get.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select

from bot import lifecycle, services
from bot.chat import ChatSession, local_identity
from bot.deadlines import DEFAULT_CALENDAR
from bot.local_channel import LocalConnector, Received
from cards.text import card_to_text
from requesting import answer_checklist, content, fixed_questions, load_content
from storage.db import Database
from storage.models import Notification, Request, RequestEvent, UnreachableRecipient
from support import BotServer, FakeClock, Transcript, local_settings

ANNE, GERT, CARLA, PIETER, ERIK, BEA = (
    "Anne Aanvrager",
    "Gert Gemeente",
    "Carla Coördinator",
    "Pieter Politie",
    "Erik Expert",
    "Bea Beheer",
)


def aad(name: str) -> str:
    return local_identity(name)[1]


class World:
    def __init__(self, server: BotServer, connector: LocalConnector, url: str) -> None:
        self.server, self.connector, self.url = server, connector, url
        self.clock: FakeClock = server.clock  # type: ignore[assignment]
        self.anne = Transcript(server.session(ANNE))

    async def submit(self, investigation: str = "nee") -> str:
        drugspand = content()["sluiting_drugspand"]
        await fixed_questions(self.anne, bevoegdheid="damocles", investigation=investigation)
        await answer_checklist(self.anne, drugspand)
        out = await self.anne.say("indienen")
        assert "is ingediend" in out
        await self.server.deliver()
        [request] = await self.rows(Request)
        return request.reference

    async def rows(self, model: Any) -> list[Any]:
        database = Database.connect(self.url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(model))).scalars())
        finally:
            await database.dispose()

    def conversation_of(self, name: str) -> str:
        """The personal chat the bot used for this person (its own or one it opened)."""
        mine = {f"a:local-chat-{aad(name)}", f"a:personal-{aad(name)}"}
        used = [r.conversation_id for r in self.connector.received if r.conversation_id in mine]
        assert used, f"the bot never wrote to {name}"
        return used[-1]

    def to(self, name: str) -> list[Received]:
        return self.connector.sent_to(self.conversation_of(name))

    def card_of(self, name: str) -> dict[str, Any]:
        """The card as it now stands in this person's chat (after updates in place)."""
        cards = [r for r in self.to(name) if r.cards and r.method in ("POST", "PUT")]
        assert cards, f"{name} has no card"
        return cards[-1].cards[0]

    def notices_to(self, name: str) -> list[str]:
        return [r.text for r in self.to(name) if r.method == "POST" and r.text]

    def session(self, name: str) -> ChatSession:
        chat = self.server.session(name)
        chat.conversation = self.conversation_of(name)
        return chat

    async def press(
        self,
        name: str,
        title: str,
        inputs: dict[str, str] | None = None,
        *,
        card: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any] | None, str]:
        """Click a button on the person's card; returns the card Teams shows after the click
        and any text the bot answered with."""
        chat = self.session(name)
        rendered = card_to_text(card or self.card_of(name))
        [button] = [b for b in rendered.buttons if b.title == title and b.kind == "execute"]
        replies, message = await chat.press(button, inputs or {})
        shown = next((r.cards[0] for r in replies if r.method == "INVOKE"), None)
        texts = [r.text for r in replies if r.text] + ([message] if message else [])
        await self.server.deliver()
        return shown, "\n".join(texts)

    async def audit(self) -> list[tuple[str, str | None, str, str]]:
        events = sorted(await self.rows(RequestEvent), key=lambda e: e.id)
        return [(e.action, e.from_status, e.to_status, e.actor_name) for e in events]

    async def status(self) -> str:
        [request] = await self.rows(Request)
        return request.status


def titles(card: dict[str, Any]) -> list[str]:
    return [b.title for b in card_to_text(card).buttons]


def text_of(card: dict[str, Any]) -> str:
    return "\n".join(card_to_text(card).lines)


@pytest.fixture
async def world(database_url: str, connector: LocalConnector) -> AsyncIterator[World]:
    await load_content(database_url)
    server = await BotServer(local_settings(database_url), connector, FakeClock()).start()
    yield World(server, connector, database_url)
    await server.stop()


async def test_submitting_sends_the_card_to_every_coordinator_in_a_chat_the_bot_opens(
    world: World,
) -> None:
    reference = await world.submit()
    created = [r for r in world.connector.received if r.path == "/v3/conversations"]
    opened_for = sorted(member["id"] for r in created for member in r.body["members"])
    # Carla, Pieter (coördinatoren of Heuvelrug) and Gert (aanspreekpunt of Zeist) never wrote
    # to the bot: it opens their personal chats itself. Anne's own chat is known.
    assert opened_for == sorted([aad(CARLA), aad(PIETER), aad(GERT)])
    for name in (CARLA, PIETER):
        card = world.card_of(name)
        assert card["version"] == "1.5"
        assert reference in text_of(card)
        assert {"Accepteren", "Aanvulling vragen", "Afwijzen"} <= set(titles(card))
        execute = next(a for a in card["actions"] if a["type"] == "Action.Execute")
        assert execute["fallback"]["type"] == "Action.Submit"
        assert execute["fallback"]["data"]["verb"] == execute["verb"] == "accepteren"
    assert "Nieuwe aanvraag" in world.notices_to(GERT)[0]
    # The aanvrager's own card offers only what the gemeente may do.
    assert titles(world.card_of(ANNE)) == ["Aanvraag intrekken"]
    assert "Accepteren" not in titles(world.card_of(GERT))
    # Nobody without a role got anything.
    assert not any(aad(ERIK) in r.conversation_id for r in world.connector.received)


async def test_accepting_updates_every_copy_and_tells_the_gemeente(world: World) -> None:
    reference = await world.submit()
    [pieter_copy_id] = [
        row.sent_activity_id
        for row in await world.rows(Notification)
        if row.kind == "card" and row.recipient_aad_id == aad(PIETER)
    ]
    shown, _ = await world.press(CARLA, "Accepteren")
    assert shown is not None and "Status: geaccepteerd" in text_of(shown)
    assert "Accepteren" not in titles(shown)
    assert await world.status() == "geaccepteerd"
    # Pieter's copy is updated in place and shows who decided and when.
    update = world.to(PIETER)[-1]
    assert update.method == "PUT"
    assert update.activity_id == pieter_copy_id
    assert "Geaccepteerd door Carla Coördinator op 23-11-2026" in text_of(update.cards[0])
    assert "Accepteren" not in titles(update.cards[0])
    for name in (ANNE, GERT):
        assert any(
            reference in notice and "geaccepteerd" in notice and "Carla" in notice
            for notice in world.notices_to(name)
        )
        assert "Status: geaccepteerd" in text_of(world.card_of(name))


async def test_two_coordinators_accepting_at_once_make_one_decision(world: World) -> None:
    await world.submit()
    carla_card, pieter_card = world.card_of(CARLA), world.card_of(PIETER)
    (_, said_carla), (_, said_pieter) = await asyncio.gather(
        world.press(CARLA, "Accepteren", card=carla_card),
        world.press(PIETER, "Accepteren", card=pieter_card),
    )
    accepts = [a for a in await world.audit() if a[0] == "accepteren"]
    assert len(accepts) == 1
    winner = accepts[0][3]
    loser_said = said_pieter if winner == CARLA else said_carla
    assert "niet meer actueel" in loser_said and winner in loser_said


async def test_someone_without_the_coordinator_role_is_refused_politely(world: World) -> None:
    await world.submit()
    carla_card = world.card_of(CARLA)
    queued = len(await world.rows(Notification))
    shown, said = await press_as(world, ERIK, carla_card, "Accepteren")
    assert shown is None and "geen rol in aanvraag" in said
    for name in (ANNE, GERT):  # a role in the request, but not this step
        shown, said = await press_as(world, name, carla_card, "Accepteren")
        assert "Dat kan nu niet" in said and "Aanvraag intrekken" in said
        assert shown is not None and "Accepteren" not in titles(shown)
    assert await world.status() == "ingediend"
    assert [a[0] for a in await world.audit()] == ["indienen"]
    assert len(await world.rows(Notification)) == queued


async def press_as(
    world: World, name: str, card: dict[str, Any], title: str, inputs: dict[str, str] | None = None
) -> tuple[dict[str, Any] | None, str]:
    """Click a button of a card someone else received (as if it were forwarded)."""
    chat = world.server.session(name)
    [button] = [b for b in card_to_text(card).buttons if b.title == title]
    replies, message = await chat.press(button, inputs or {})
    shown = next((r.cards[0] for r in replies if r.method == "INVOKE"), None)
    return shown, "\n".join([r.text for r in replies if r.text] + ([message] if message else []))


async def test_a_replayed_or_stale_action_changes_nothing(world: World) -> None:
    await world.submit()
    card = world.card_of(CARLA)
    chat = world.session(CARLA)
    [button] = [b for b in card_to_text(card).buttons if b.title == "Accepteren"]
    invoke = chat.activity(
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": button.verb, "data": button.data}},
    )
    first = await chat.post(invoke)
    again = await chat.post(invoke)  # Teams re-sends an invoke it thinks was too slow
    assert first[0] == again[0] == 200
    assert "al verwerkt" in " ".join(r.text for r in again[2])
    # A new click on the old card (a different activity, the version it showed) is stale.
    _, said = await world.press(PIETER, "Accepteren", card=world.to(PIETER)[0].cards[0])
    assert "niet meer actueel" in said
    assert [a[0] for a in await world.audit()] == ["indienen", "accepteren"]


async def test_automatic_refresh_never_changes_anything(world: World) -> None:
    await world.submit()
    chat = world.session(CARLA)
    [button] = [b for b in card_to_text(world.card_of(CARLA)).buttons if b.title == "Accepteren"]
    status, body, _ = await chat.post(
        chat.activity(
            type="invoke",
            name="adaptiveCard/action",
            value={
                "action": {"type": "Action.Execute", "verb": "accepteren", "data": button.data},
                "trigger": "automatic",
            },
        )
    )
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert await world.status() == "ingediend"


async def test_the_submit_fallback_takes_the_same_path(world: World) -> None:
    await world.submit()
    card = world.card_of(CARLA)
    execute = next(a for a in card["actions"] if a.get("verb") == "accepteren")
    chat = world.session(CARLA)
    # A client without Universal Actions sends the fallback's data as a message value.
    _, _, replies = await chat.post(
        chat.activity(type="message", value=execute["fallback"]["data"])
    )
    assert "geaccepteerd" in " ".join(r.text for r in replies).lower()
    assert await world.status() == "geaccepteerd"
    # Forged data does not make someone a coördinator: the actor is the activity's sender.
    erik = world.server.session(ERIK)
    forged = {**execute["fallback"]["data"], "verb": "opstellen", "actor": aad(CARLA)}
    _, _, replies = await erik.post(erik.activity(type="message", value=forged))
    assert "geen rol" in " ".join(r.text for r in replies)
    assert await world.status() == "geaccepteerd"


async def test_a_step_that_needs_a_reason_is_refused_without_one_or_with_a_bsn(
    world: World,
) -> None:
    await world.submit()
    _, said = await world.press(CARLA, "Aanvulling vragen")
    assert "Vul eerst in: Welke informatie ontbreekt?" in said
    _, said = await world.press(
        CARLA, "Aanvulling vragen", {"aanvulling_vragen_reason": "Gaat om BSN 111222333"}
    )
    assert "burgerservicenummer" in said
    assert await world.status() == "ingediend"
    assert [a[0] for a in await world.audit()] == ["indienen"]


async def test_from_ingediend_to_afgerond_entirely_through_cards(world: World) -> None:
    """The issue's 'done when': every step on a card, everybody informed, all in the audit."""
    reference = await world.submit(investigation="ja")
    steps: list[tuple[str, str, dict[str, str], str]] = [
        (
            CARLA,
            "Aanvulling vragen",
            {"aanvulling_vragen_reason": "Welk adres precies?"},
            "aanvulling_gevraagd",
        ),
        (ANNE, "Aanvulling geven", {"aanvullen_reason": "Dorpsstraat, achterzijde"}, "ingediend"),
        (PIETER, "Accepteren", {}, "geaccepteerd"),
        (CARLA, "Zaakofficier raadplegen", {}, "afstemming_zaakofficier"),
        (CARLA, "Zaakofficier akkoord", {}, "in_opstelling"),
        (CARLA, "Naar kwaliteitscontrole", {}, "kwaliteitscontrole"),
        (
            PIETER,
            "Controle afgekeurd",
            {"controle_afgekeurd_reason": "Bronnen ontbreken"},
            "in_opstelling",
        ),
        (CARLA, "Naar kwaliteitscontrole", {}, "kwaliteitscontrole"),
        (CARLA, "Naar OM-toetsing", {}, "om_toetsing"),
        (CARLA, "OM akkoord, verstrekt", {}, "verstrekt"),
        (
            ANNE,
            "Afronden",
            {"outcome": "maatregel_genomen", "feedback": "Helder en op tijd"},
            "afgerond",
        ),
    ]
    for actor, button, inputs, status in steps:
        notices = {name: len(world.notices_to(name)) for name in (ANNE, GERT)}
        world.clock.advance(hours=1)
        shown, said = await world.press(actor, button, inputs)
        assert shown is not None, said
        assert await world.status() == status, (button, said)
        for name in (ANNE, GERT):
            if name != actor:
                # The gemeente hears of every change, and its card shows the new status.
                assert len(world.notices_to(name)) == notices[name] + 1, (button, name)
                assert f"Status: {status.replace('_', ' ')}" in text_of(
                    world.card_of(name)
                ).replace("OM-toetsing", "om toetsing")
    audit = await world.audit()
    assert [a[2] for a in audit] == ["ingediend"] + [s[3] for s in steps]
    assert [a[3] for a in audit] == [ANNE] + [s[0] for s in steps]
    [request] = await world.rows(Request)
    assert (request.outcome, request.quality_feedback) == ("maatregel_genomen", "Helder en op tijd")
    # The card ends without buttons for anyone.
    for name in (ANNE, GERT, CARLA, PIETER):
        assert titles(world.card_of(name)) == [], name
    detail = await services.show_request(Database.connect(world.url), reference)
    assert detail is not None and len(detail.audit) == len(steps) + 1


async def test_withdrawing_and_declining_end_the_request(world: World) -> None:
    await world.submit()
    shown, _ = await world.press(CARLA, "Afwijzen", {"afwijzen_suggested": "boa"})
    assert shown is not None and "Status: afgewezen" in text_of(shown)
    [*_, last] = await world.rows(RequestEvent)
    assert last.reason == "De informatie is via een boa-constateringsrapport te verkrijgen."
    assert any("afgewezen" in n for n in world.notices_to(ANNE))
    # Nothing is possible on a closed request.
    assert titles(world.card_of(ANNE)) == []


async def test_an_unanswered_aanvulling_is_nudged_then_closed(world: World) -> None:
    reference = await world.submit()
    await world.press(CARLA, "Aanvulling vragen", {"aanvulling_vragen_reason": "Welk adres?"})
    components = world.server.components

    async def sweep() -> lifecycle.SweepReport:
        catalogue = await services.load_catalogue(components.database)
        report = await lifecycle.sweep_aanvullingen(
            components.database,
            now=world.clock(),
            tz=components.settings.tz,
            calendar=DEFAULT_CALENDAR,
            nudge_after=5,
            expire_after=10,
            catalogue=catalogue,
        )
        await world.server.deliver()
        return report

    assert await sweep() == lifecycle.SweepReport()
    # Monday 23 Nov + 5 working days = Monday 30 Nov: the aanvrager has that whole day.
    world.clock.advance(days=7)
    assert await sweep() == lifecycle.SweepReport()
    # A sweep with nothing due only reads: no write transaction per waiting request.
    own = Database.connect(world.url)
    commits: list[object] = []
    event.listen(own.engine.sync_engine, "commit", lambda *_: commits.append(1))
    try:
        quiet = await lifecycle.sweep_aanvullingen(
            own,
            now=world.clock(),
            tz=components.settings.tz,
            calendar=DEFAULT_CALENDAR,
            nudge_after=5,
            expire_after=10,
            catalogue=await services.load_catalogue(own),
        )
    finally:
        await own.dispose()
    assert quiet == lifecycle.SweepReport() and commits == []
    world.clock.advance(days=1)
    first = await sweep()
    assert len(first.nudged) == 1 and not first.expired
    assert "Herinnering" in world.notices_to(ANNE)[-1]
    assert (await sweep()).nudged == []  # once
    world.clock.advance(days=6)  # Monday 7 December, the tenth working day: still open
    assert await sweep() == lifecycle.SweepReport()
    world.clock.advance(days=1)
    assert len((await sweep()).expired) == 1
    assert await world.status() == "ingetrokken"
    for name in (ANNE, CARLA):
        assert any(reference in n and "ingetrokken" in n for n in world.notices_to(name)), name
    assert (await world.audit())[-1][:3] == ("verlopen", "aanvulling_gevraagd", "ingetrokken")


async def test_a_removed_bot_parks_that_chat_tells_the_beheerder_and_the_others_get_their_card(
    world: World,
) -> None:
    target = f"a:personal-{aad(PIETER)}"

    def fault(method: str, path: str) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        if path == f"/v3/conversations/{target}/activities":
            return 403, {}, {"error": {"code": "BotNotInConversationRoster"}}
        return None

    world.connector.fault = fault
    await world.submit()
    rows = {r.recipient_aad_id: r for r in await world.rows(Notification) if r.kind == "card"}
    # Not retried, not lost: kept until Pieter's chat can be reached again.
    assert rows[aad(PIETER)].status == "pending" and rows[aad(PIETER)].last_status == 403
    assert [r.recipient for r in await world.rows(UnreachableRecipient)] == [
        f"person:{aad(PIETER)}"
    ]
    assert rows[aad(CARLA)].status == "sent"
    assert "Accepteren" in titles(world.card_of(CARLA))
    [told] = world.notices_to(BEA)
    assert "Pieter Politie" in told and "BotNotInConversationRoster" in told


@pytest.fixture
async def quick_world(database_url: str, connector: LocalConnector) -> AsyncIterator[World]:
    """A world whose organisation gives the coördinator 3 werkdagen instead of 5."""
    await load_content(database_url)
    settings = local_settings(database_url, deadline_working_days={"ingediend": 3})
    server = await BotServer(settings, connector, FakeClock()).start()
    yield World(server, connector, database_url)
    await server.stop()


async def test_cards_show_the_configured_due_date_of_each_state(quick_world: World) -> None:
    world = quick_world
    await world.submit()
    # Submitted on Monday 23 November: 3 werkdagen (the configured setting) is Thursday.
    assert "Termijn: do 26-11-2026" in text_of(world.card_of(CARLA))
    assert "Termijn: do 26-11-2026" in text_of(world.card_of(ANNE))
    world.clock.advance(days=1)  # Tuesday: accepted, 5 werkdagen (the default) is next Tuesday
    shown, _ = await world.press(CARLA, "Accepteren")
    assert shown is not None and "Termijn: di 01-12-2026" in text_of(shown)
    update = world.to(PIETER)[-1]
    assert update.method == "PUT" and "Termijn: di 01-12-2026" in text_of(update.cards[0])
    [request] = await world.rows(Request)
    assert request.status == "geaccepteerd" and request.due_at is not None


async def test_the_same_invoke_arriving_twice_at_once_makes_one_decision(world: World) -> None:
    """Teams re-sends an invoke it thinks was answered too slowly, possibly while the first is
    still being handled: the unique key on the activity id makes it one decision, one audit row."""
    await world.submit()
    chat = world.session(CARLA)
    [button] = [b for b in card_to_text(world.card_of(CARLA)).buttons if b.title == "Accepteren"]
    invoke = chat.activity(
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": button.verb, "data": button.data}},
    )
    results = await asyncio.gather(*(chat.post(invoke) for _ in range(4)))
    assert [status for status, _, _ in results] == [200] * 4
    # Three are recognised as the same click (not as a stale card): the person sees one answer.
    said = [" ".join(r.text for r in replies if r.text) for _, _, replies in results]
    assert sum("al verwerkt" in s for s in said) == 3, said
    assert [a[0] for a in await world.audit()] == ["indienen", "accepteren"]
    assert await world.status() == "geaccepteerd"
    await world.server.deliver()
    # The gemeente hears of the acceptance once.
    told = [t for t in world.notices_to(ANNE) if "geaccepteerd" in t.lower()]
    assert len(told) == 1, told
