"""The bot in clients other than Teams (Web Chat, Direct Line, the Emulator), through the real app
and `/api/messages`: cards without Universal Actions, card actions as messages handled by the
same use case with the same checks, and one greeting per conversation.

Clicks are what Web Chat 4.x posts for a button (tests/webchat_emulation.py, after Web Chat's
own source); replies are what the bot sends to the activity's service URL (the local connector).
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from webchat_emulation import actions, find, message_for

from bot import lifecycle, services
from bot.chat import ChatSession, local_identity
from bot.local_channel import BOT_ID, LocalConnector, Received
from bot.workflow import RequestStatus
from cards.text import Button, card_to_text
from requesting import answer_checklist, content, fixed_questions, load_content, seed
from storage import repositories
from storage.db import Database
from storage.models import KnowledgeFeedback, Notification, Request, RequestEvent
from support import BotServer, FakeClock, Transcript, local_settings

ANNE, GERT, CARLA, FRANK = "Anne Aanvrager", "Gert Gemeente", "Carla Coördinator", "Frank Vreemd"
OTHER_CHANNELS = ("webchat", "directline", "emulator")
TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")
WELCOME = "Welkom bij de rapportagebot"
HELP = "Wat kan de rapportagebot?"


def aad(name: str) -> str:
    return local_identity(name)[1]


@dataclass
class ClientChat(ChatSession):
    """A person's one-to-one conversation with the bot in a client other than Teams. Web Chat
    calls it personal; Direct Line and Emulator conversations often name no type at all. No
    tenant, no install announcement: such clients may start with an empty `membersAdded` or
    none. Typed lines are always sent as text; buttons are clicked with `click`."""

    channel: str = "webchat"
    announce_install: bool = False

    @property
    def conversation_id(self) -> str:
        return f"{self.channel}-conversation-{aad(self.user_name)}"

    def activity(self, **fields: Any) -> dict[str, Any]:
        base = super().activity()
        base.pop("channelData")
        base["channelId"] = self.channel
        base["conversation"] = {"id": self.conversation_id}
        if self.channel == "webchat":
            base["conversation"]["conversationType"] = "personal"
        base.update(fields)
        return base

    def _button_for(self, line: str) -> Button | None:
        return None

    async def click(
        self,
        card: dict[str, Any],
        title: str,
        inputs: dict[str, str] | None = None,
        *,
        activity_id: str | None = None,
    ) -> tuple[dict[str, Any], list[Received]]:
        """Press a button as Web Chat does; returns the activity posted and the replies."""
        fields = message_for(find(card, title), inputs)
        activity = self.activity(type="message", **fields)
        if activity_id:
            activity["id"] = activity_id
        status, _, replies = await self.post(activity)
        assert status in (200, 201), status
        return activity, replies


class World:
    def __init__(self, server: BotServer, connector: LocalConnector, url: str) -> None:
        self.server, self.connector, self.url = server, connector, url
        self.clock: FakeClock = server.clock  # type: ignore[assignment]

    def client(self, name: str, channel: str = "webchat") -> ClientChat:
        session = self.server.session(name)
        return ClientChat(session.bot_url, session.connector, name, session.http, channel=channel)

    async def introduce(self, name: str, channel: str = "webchat") -> ClientChat:
        """The person opens the chat as in Web Chat (a conversationUpdate that names nobody) and
        says hello: the bot greets before it answers."""
        chat = self.client(name, channel)
        status, _, replies = await chat.post(
            chat.activity(type="conversationUpdate", membersAdded=[])
        )
        assert status in (200, 201)
        assert replies == []
        replies, _ = await chat.say("hallo")
        assert texts(replies)[0] == WELCOME and len(texts(replies)) == 2
        return chat

    async def announced(self) -> str:
        """A request of Anne's in `ingediend`, its cards queued as on submission and delivered."""
        database = Database.connect(self.url)
        try:
            reference = await seed(database, RequestStatus.INGEDIEND, "nee")
            catalogue = await services.load_catalogue(database)
            async with database.sessions.begin() as session:
                request = await repositories.request_by_reference(session, reference)
                assert request is not None
                context = lifecycle.Context(catalogue, TZ)
                await lifecycle.announce_submitted(session, request, context, self.clock())
        finally:
            await database.dispose()
        await self.server.deliver()
        return reference

    def to(self, chat: ChatSession) -> list[Received]:
        return self.connector.sent_to(chat.conversation_id)

    def cards_to(self, chat: ChatSession) -> list[dict[str, Any]]:
        return [card for received in self.to(chat) for card in received.cards]

    def request_cards(self, chat: ChatSession) -> list[dict[str, Any]]:
        """The request cards in the person's chat, oldest first (the welcome left out)."""
        return [card for card in self.cards_to(chat) if is_request(card)]

    async def rows(self, model: Any) -> list[Any]:
        database = Database.connect(self.url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(model))).scalars())
        finally:
            await database.dispose()

    async def audit(self) -> list[tuple[str, str]]:
        events = sorted(await self.rows(RequestEvent), key=lambda e: e.id)
        return [(e.action, e.actor_aad_id) for e in events]

    async def status(self) -> str:
        [request] = await self.rows(Request)
        return request.status


def is_request(card: dict[str, Any]) -> bool:
    return str(card["body"][0].get("text", "")).startswith("Aanvraag ")


def universal_actions(node: Any) -> list[dict[str, Any]]:
    """Every Action.Execute in a card, fallbacks and nested cards included."""
    return [a for a in actions(node) if a.get("type") == "Action.Execute"]


def teams_data(node: Any) -> bool:
    return any(isinstance(a.get("data"), dict) and "msteams" in a["data"] for a in actions(node))


@pytest.fixture
async def world(database_url: str, connector: LocalConnector) -> AsyncIterator[World]:
    await load_content(database_url)
    server = await BotServer(local_settings(database_url), connector, FakeClock()).start()
    yield World(server, connector, database_url)
    await server.stop()


# --- A whole request in Web Chat -----------------------------------------------------------------


async def test_request_and_acceptance_in_web_chat_with_cards_it_can_use(world: World) -> None:
    carla = await world.introduce(CARLA)
    gert = await world.introduce(GERT)
    anne = world.client(ANNE)
    t = Transcript(anne)
    await fixed_questions(t, bevoegdheid="damocles")
    await answer_checklist(t, content()["sluiting_drugspand"])
    assert "is ingediend" in await t.say("indienen")
    await world.server.deliver()
    # Greeted once, before the answer to her first message.
    first = world.to(anne)
    assert first[0].cards[0]["body"][0]["text"] == WELCOME
    assert sum(WELCOME in str(card) for card in world.cards_to(anne)) == 1

    [card] = world.request_cards(carla)
    assert not universal_actions(card)
    before = len(world.connector.received)
    _, replies = await carla.click(card, "Accepteren")
    assert await world.status() == "geaccepteerd"
    assert [action for action, _ in await world.audit()] == ["indienen", "accepteren"]
    assert (await world.audit())[-1][1] == aad(CARLA)
    # No invoke response can replace her card: the line and the fresh card come as new messages.
    assert "geaccepteerd" in replies[0].text
    [fresh] = replies[1].cards
    assert "Status: geaccepteerd" in "\n".join(card_to_text(fresh).lines)
    assert not universal_actions(fresh)

    await world.server.deliver()
    after = world.connector.received[before:]
    # The outbox does not post Carla's card a second time; Anne and Gert get theirs anew (their
    # clients cannot update a message in place) and a line saying what happened.
    mine = [r for r in after if r.conversation_id == carla.conversation_id]
    assert mine == replies
    for chat in (anne, gert):
        mine = [r for r in after if r.conversation_id == chat.conversation_id]
        assert any("geaccepteerd" in r.text for r in mine)
        assert [r.method for r in mine if r.cards] == ["POST"]
    web = {chat.conversation_id for chat in (anne, gert, carla)}
    assert all(r.method != "PUT" for r in world.connector.received if r.conversation_id in web)
    # Pieter, the other coördinator, never wrote to the bot: he is reached in Teams.
    pieter = world.connector.sent_to(f"a:personal-{aad('Pieter Politie')}")
    assert universal_actions(next(r.cards[0] for r in pieter if r.cards))
    for received in world.connector.received:
        if received.conversation_id not in web:
            continue
        for sent in received.cards:
            assert not universal_actions(sent), sent
            assert not teams_data(sent), sent


# --- The same use case, the same checks, on every non-Teams channel ------------------------------


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
async def test_a_cards_data_sent_as_a_message_performs_the_action(
    world: World, channel: str
) -> None:
    carla = await world.introduce(CARLA, channel)
    await world.announced()
    [card] = world.request_cards(carla)
    assert not universal_actions(card) and not teams_data(card)
    activity, replies = await carla.click(card, "Accepteren")
    # What the client sent: a message without text whose value carries the verb and the data.
    assert activity["type"] == "message" and "text" not in activity
    assert activity["value"]["verb"] == "accepteren"
    assert await world.status() == "geaccepteerd"
    assert await world.audit() == [("accepteren", aad(CARLA))]
    assert "geaccepteerd" in replies[0].text
    [fresh] = replies[1].cards
    assert not universal_actions(fresh)
    # The card that came with the answer works like the first one.
    _, replies = await carla.click(fresh, "Start opstellen")
    assert await world.status() == "in_opstelling"
    assert [action for action, _ in await world.audit()] == ["accepteren", "opstellen"]


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
async def test_a_reason_typed_in_the_cards_form_arrives_with_the_click(
    world: World, channel: str
) -> None:
    carla = await world.introduce(CARLA, channel)
    await world.announced()
    [card] = world.request_cards(carla)
    _, replies = await carla.click(card, "Aanvulling vragen")
    assert replies[0].text.startswith("Vul eerst in")
    assert await world.status() == "ingediend"
    _, replies = await carla.click(
        card, "Aanvulling vragen", {"aanvulling_vragen_reason": "Welk adres?"}
    )
    assert await world.status() == "aanvulling_gevraagd"
    [event] = await world.rows(RequestEvent)
    assert (event.action, event.reason) == ("aanvulling_vragen", "Welk adres?")


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
async def test_a_forged_actor_in_the_data_changes_nothing(world: World, channel: str) -> None:
    carla = await world.introduce(CARLA, channel)
    await world.announced()
    [card] = world.request_cards(carla)
    anne = await world.introduce(ANNE, channel)
    forged = {"actor": aad(CARLA), "aadObjectId": aad(CARLA), "from": {"aadObjectId": aad(CARLA)}}
    fields = message_for(find(card, "Accepteren"))
    fields["value"] = {**fields["value"], **forged}
    _, _, replies = await anne.post(anne.activity(type="message", **fields))
    # Anne is the aanvrager: she may see the request, not accept it.
    assert replies[0].text.startswith("Dat kan nu niet")
    assert await world.status() == "ingediend"
    assert await world.audit() == []


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
async def test_someone_without_a_role_is_refused(world: World, channel: str) -> None:
    carla = await world.introduce(CARLA, channel)
    await world.announced()
    [card] = world.request_cards(carla)
    frank = await world.introduce(FRANK, channel)
    _, replies = await frank.click(card, "Accepteren")
    assert [r.text for r in replies] == [
        f"Je hebt geen rol in aanvraag {card_reference(card)}, dus je kunt haar niet inzien of "
        "behandelen. Er is niets veranderd."
    ]
    assert await world.status() == "ingediend"
    assert await world.audit() == []


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
async def test_a_replayed_message_changes_nothing(world: World, channel: str) -> None:
    carla = await world.introduce(CARLA, channel)
    await world.announced()
    [card] = world.request_cards(carla)
    activity_id = f"{channel}|{uuid.uuid4().hex}"
    await carla.click(card, "Accepteren", activity_id=activity_id)
    await world.server.deliver()
    sent = len(world.connector.received)
    _, replies = await carla.click(card, "Accepteren", activity_id=activity_id)
    assert replies[0].text == "Deze actie was al verwerkt. Er is niets veranderd."
    assert await world.status() == "geaccepteerd"
    assert await world.audit() == [("accepteren", aad(CARLA))]
    await world.server.deliver()
    # Nobody else hears anything new.
    assert all(r.conversation_id == carla.conversation_id for r in world.connector.received[sent:])


async def test_teams_gets_the_cards_as_before_next_to_a_web_chat_user(world: World) -> None:
    """Carla on Teams, Gert in Web Chat, one request: Carla's card is exactly the stored Teams
    card with its Universal Actions; Gert's is the same card without them."""
    teams = world.server.session(CARLA)
    await teams.start()
    gert = await world.introduce(GERT)
    await world.announced()
    [teams_card] = world.request_cards(teams)
    stored = {
        row.recipient_aad_id: row.activity["attachments"][0]["content"]
        for row in await world.rows(Notification)
        if row.kind == "card"
    }
    assert teams_card == stored[aad(CARLA)]
    assert universal_actions(teams_card)
    assert all(a["fallback"]["type"] == "Action.Submit" for a in universal_actions(teams_card))
    [gert_card] = world.request_cards(gert)
    assert not universal_actions(gert_card)
    assert card_to_text(gert_card).lines == card_to_text(stored[aad(GERT)]).lines

    # Carla decides in Teams (an invoke); Gert's copy is posted anew, Carla's updated in place.
    [button] = [b for b in card_to_text(teams_card).buttons if b.title == "Accepteren"]
    teams.conversation = teams.conversation_id
    _, message = await teams.press(button, {})
    assert message is None
    await world.server.deliver()
    assert await world.status() == "geaccepteerd"
    assert [r.method for r in world.to(teams) if r.cards][-1] == "PUT"
    assert [r.method for r in world.to(gert) if r.cards and is_request(r.cards[0])] == [
        "POST",
        "POST",
    ]


async def test_knowledge_cards_work_in_web_chat(world: World) -> None:
    """The answer card's messageBack, its feedback buttons and its expert form, as Web Chat
    performs them."""
    anne = await world.introduce(ANNE)
    replies, _ = await anne.say("kan de burgemeester een drugspand sluiten")
    [answer] = [card for r in replies for card in r.cards]
    assert not universal_actions(answer) and not teams_data(answer)

    _, replies = await anne.click(answer, "👍", {"kennis_opmerking": "Helder"})
    assert "Bedankt voor je beoordeling." in card_to_text(replies[-1].cards[0]).lines
    [feedback] = await world.rows(KnowledgeFeedback)
    assert (feedback.aad_object_id, feedback.helpful, feedback.comment) == (
        aad(ANNE),
        True,
        "Helder",
    )

    activity, replies = await anne.click(answer, "Start een aanvraag met deze bevoegdheid")
    assert activity["text"] == "nieuwe aanvraag"
    out = "\n".join(anne.render(replies))
    assert "Bevoegdheid: Sluiting van een drugspand (Wet Damocles)." in out
    assert "Voor welke gemeente" in out


async def test_the_channel_a_person_last_wrote_from_decides_their_cards(world: World) -> None:
    await world.introduce(CARLA)
    teams = world.server.session(CARLA)
    await teams.say("help")  # Carla now uses Teams: her chat there is where the bot writes
    await world.announced()
    [card] = world.request_cards(teams)
    assert universal_actions(card)


async def test_teams_submit_data_posted_back_as_it_is_still_works(world: World) -> None:
    """A client that posts a button's data back unchanged (or a card sent before cards were
    adapted) sends Teams' imBack or Web Chat's envelope as the value: it means the same."""
    chat = await world.introduce("Dirk Directline", "directline")
    posted = {"msteams": {"type": "imBack", "value": "help"}}
    _, _, replies = await chat.post(chat.activity(type="message", value=posted))
    assert texts(replies) == [HELP]
    envelope = {
        "__isBotFrameworkCardAction": True,
        "cardAction": {"type": "messageBack", "text": "mijn aanvragen", "value": {}},
    }
    _, _, replies = await chat.post(chat.activity(type="message", value=envelope))
    assert texts(replies) == [
        "Je hebt nog geen aanvragen ingediend. Typ **nieuwe aanvraag** om er een te beginnen."
    ]


def card_reference(card: dict[str, Any]) -> str:
    return str(card["body"][0]["text"]).removeprefix("Aanvraag ")


# --- Greeting ------------------------------------------------------------------------------------


def texts(replies: list[Received]) -> list[str]:
    """What the person sees: each card's title or the message text (the SDK's trace activities
    for the Emulator left out)."""
    return [
        r.cards[0]["body"][0]["text"] if r.cards else r.text
        for r in replies
        if r.body.get("type") != "trace"
    ]


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
async def test_the_first_message_is_greeted_once_even_after_a_restart(
    database_url: str, connector: LocalConnector, channel: str
) -> None:
    settings = local_settings(database_url)
    server = await BotServer(settings, connector).start()
    try:
        chat = World(server, connector, database_url).client("Wendy Web", channel)
        # Conversation updates that name nobody, or the user only: no crash, no greeting yet.
        for members in ([], None, [{"id": chat.user_id}]):
            fields: dict[str, Any] = {"type": "conversationUpdate"}
            if members is not None:
                fields["membersAdded"] = members
            status, _, replies = await chat.post(chat.activity(**fields))
            assert status in (200, 201) and replies == []
        assert texts((await chat.say("help"))[0]) == [WELCOME, HELP]
        assert texts((await chat.say("help"))[0]) == [HELP]
    finally:
        await server.stop()
    restarted = await BotServer(settings, connector).start()
    try:
        chat = World(restarted, connector, database_url).client("Wendy Web", channel)
        assert texts((await chat.say("help"))[0]) == [HELP]
        # Neither an empty update nor a late announcement of the bot greets again.
        for members in ([], [{"id": BOT_ID}]):
            status, _, replies = await chat.post(
                chat.activity(type="conversationUpdate", membersAdded=members)
            )
            assert status in (200, 201) and replies == []
    finally:
        await restarted.stop()


async def test_an_emulator_announcing_bot_and_user_is_welcomed_once(world: World) -> None:
    chat = world.client("Emma Emulator", "emulator")
    added = [{"id": BOT_ID, "name": "Rapportagebot"}, {"id": chat.user_id}]
    _, _, replies = await chat.post(chat.activity(type="conversationUpdate", membersAdded=added))
    assert texts(replies) == [WELCOME]
    assert not universal_actions(replies[0].cards[0]) and not teams_data(replies[0].cards[0])
    # The welcome's buttons work there: "Wat kun je?" sends "help" as text.
    _, replies = await chat.click(replies[0].cards[0], "Wat kun je?")
    assert texts(replies) == [HELP]


async def test_a_teams_chat_whose_install_was_missed_is_greeted_once(world: World) -> None:
    chat = world.server.session("Tom Teams")
    chat.announce_install = False
    replies, _ = await chat.say("help")
    assert texts(replies) == [WELCOME, HELP]
    # The Teams welcome card keeps Teams' own buttons.
    assert teams_data(replies[0].cards[0])
    replies, _ = await chat.say("help")
    assert texts(replies) == [HELP]
    assert await chat.start() == []  # a late install event does not greet again


async def test_a_team_channel_thread_is_not_greeted(world: World) -> None:
    """Each thread of a team channel is a conversation of its own; the team was welcomed when
    the app was added to it."""
    chat = world.server.session("Tom Teams")
    thread = {"id": "19:team@thread.tacv2;messageid=7", "conversationType": "channel"}
    _, _, replies = await chat.post(chat.activity(type="message", text="help", conversation=thread))
    assert texts(replies) == [HELP]
