"""The sturingsoverleg, end to end as Teams drives it, with a clock the test moves.

A coördinator links the team channel with its meeting rhythm; before the meeting the channel
gets the agenda; a priority chosen on that card is recorded, reaches the gemeente and replaces
the card in the channel; whoever holds the ball is nudged before a due date (one message for
several requests); an overdue request is escalated in the channel once; a bot that was down over
a digest sends it when it comes back, marked late. Everything goes through the outbox to the
local connector.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import sweep_reminders
from bot.chat import CARD_RESPONSE, ChatSession, local_identity
from bot.local_channel import LOCAL_TENANT, LocalConnector, Received
from cards.text import card_to_text
from requesting import answer_checklist, content, fixed_questions, load_content
from storage.db import Database
from storage.models import ChannelLink, Digest, Notification, Request, RequestEvent
from support import BotServer, FakeClock, Transcript, local_settings

ANNE, GERT, CARLA, PIETER, BEA = (
    "Anne Aanvrager",
    "Gert Gemeente",
    "Carla Coördinator",
    "Pieter Politie",
    "Bea Beheer",
)
CHANNEL = "19:sturingsoverleg-heuvelrug@thread.tacv2"
LINK = "koppel dit kanaal aan basisteam Heuvelrug elke dinsdag om 10:00"
# Monday 23 November 2026, 10:00 in Amsterdam (CET, UTC+1).
MONDAY = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def aad(name: str) -> str:
    return local_identity(name)[1]


def channel(thread: str = "1") -> dict[str, Any]:
    return {
        "id": f"{CHANNEL};messageid={thread}",
        "conversationType": "channel",
        "tenantId": LOCAL_TENANT,
    }


def text_of(card: dict[str, Any]) -> str:
    return "\n".join(card_to_text(card).lines)


class Team:
    def __init__(self, server: BotServer, connector: LocalConnector, url: str) -> None:
        self.server, self.connector, self.url = server, connector, url
        self.clock: FakeClock = server.clock
        self.anne = Transcript(server.session(ANNE))

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
        *,
        index: int = 0,
        conversation: dict[str, Any] | None = None,
        activity_id: str | None = None,
    ) -> tuple[dict[str, Any] | None, str]:
        """Click the `index`-th Universal Action titled `title` on `card`."""
        buttons = [b for b in card_to_text(card).buttons if b.title == title]
        button = buttons[index]
        assert button.kind == "execute"
        chat = self.chat(name)
        value = {
            "action": {"type": "Action.Execute", "verb": button.verb, "data": button.data},
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

    async def submit(self) -> str:
        drugspand = content()["sluiting_drugspand"]
        await fixed_questions(self.anne, bevoegdheid="damocles")
        await answer_checklist(self.anne, drugspand)
        out = await self.anne.say("indienen")
        assert "is ingediend" in out
        await self.server.deliver()
        newest = max(await self.rows(Request), key=lambda r: r.id)
        return newest.reference

    def personal(self, name: str) -> str:
        mine = {f"a:local-chat-{aad(name)}", f"a:personal-{aad(name)}"}
        used = [r.conversation_id for r in self.connector.received if r.conversation_id in mine]
        assert used, f"the bot never wrote to {name}"
        return used[-1]

    def card_of(self, name: str, reference: str) -> dict[str, Any]:
        cards = [
            r.cards[0]
            for r in self.connector.sent_to(self.personal(name))
            if r.cards and r.method in ("POST", "PUT") and reference in text_of(r.cards[0])
        ]
        assert cards, f"{name} has no card of {reference}"
        return cards[-1]

    async def accept(self, reference: str) -> None:
        chat = self.chat(CARLA)
        chat.conversation = self.personal(CARLA)
        card = self.card_of(CARLA, reference)
        [button] = [b for b in card_to_text(card).buttons if b.title == "Accepteren"]
        await chat.press(button, {})
        await self.server.deliver()
        assert (await self.request(reference)).status == "geaccepteerd"

    def in_channel(self, since: int = 0) -> list[Received]:
        return [r for r in self.connector.received[since:] if r.conversation_id == CHANNEL]

    def notices_to(self, name: str, since: int = 0) -> list[str]:
        mine = {f"a:local-chat-{aad(name)}", f"a:personal-{aad(name)}"}
        return [
            r.text
            for r in self.connector.received[since:]
            if r.conversation_id in mine and r.method == "POST" and r.text
        ]

    async def sweep(self) -> None:
        """One reminder tick, as the scheduler runs it; the scheduler's own tick at start may
        run at the same time (then one of them finds the work claimed), so wait for it too."""
        await self.settle()
        await sweep_reminders(self.server.components)
        await self.settle()

    async def settle(self) -> None:
        await asyncio.sleep(0.05)
        async with asyncio.timeout(10):
            await self.server.components.jobs.idle()
        await self.server.deliver()

    async def rows(self, model: Any) -> list[Any]:
        database = Database.connect(self.url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(model))).scalars())
        finally:
            await database.dispose()

    async def request(self, reference: str) -> Request:
        [row] = [r for r in await self.rows(Request) if r.reference == reference]
        return row


async def start(database_url: str, connector: LocalConnector, clock: FakeClock) -> BotServer:
    settings = local_settings(
        database_url, digest_lead_minutes=120, nudge_working_days=2, reminder_sweep_seconds=3600
    )
    return await BotServer(settings, connector, clock).start()


@pytest.fixture
async def team(database_url: str, connector: LocalConnector) -> AsyncIterator[Team]:
    await load_content(database_url)
    server = await start(database_url, connector, FakeClock(MONDAY))
    yield Team(server, connector, database_url)
    await server.stop()


async def test_linking_the_channel_needs_a_coordinator_of_the_team_and_a_channel(
    team: Team,
) -> None:
    [reply] = await team.say(ANNE, LINK, channel())
    assert "Alleen coördinatoren van Basisteam Heuvelrug" in reply.text
    [reply] = await team.say(CARLA, LINK)  # her personal chat is no team channel
    assert "in het Teams-kanaal" in reply.text
    [reply] = await team.say(CARLA, "koppel dit kanaal aan basisteam Atlantis", channel())
    assert 'geen basisteam "Atlantis"' in reply.text
    [reply] = await team.say(CARLA, "koppel dit kanaal aan basisteam Utrecht", channel())
    assert "Utrecht-Centrum" in reply.text and "Utrecht-West" in reply.text
    [reply] = await team.say(CARLA, "koppel dit kanaal aan Heuvelrug om de week", channel())
    assert "begrijp ik niet" in reply.text
    assert await team.rows(ChannelLink) == []

    [reply] = await team.say(CARLA, LINK, channel("7"))
    assert "sturingsoverleg van **Basisteam Heuvelrug**" in reply.text
    assert "elke dinsdag om 10:00" in reply.text
    assert "dinsdag 24-11-2026 10:00" in reply.text
    [link] = await team.rows(ChannelLink)
    assert link.basisteam_id == "heuvelrug" and link.meeting_rhythm
    # Posts go to the channel itself, not into the thread the command was typed in.
    assert link.conversation["conversation"]["id"] == CHANNEL

    # A beheerder may link a second team to the same channel; Pieter unlinks only his team.
    [reply] = await team.say(BEA, "koppel dit kanaal aan basisteam Amersfoort", channel())
    assert "Amersfoort" in reply.text and "Zeg ook wanneer" in reply.text
    [reply] = await team.say(PIETER, "ontkoppel basisteam Amersfoort", channel())
    assert "ontkoppeld" in reply.text and "Amersfoort" in reply.text
    [link] = await team.rows(ChannelLink)
    assert link.basisteam_id == "heuvelrug"
    [reply] = await team.say(ANNE, "ontkoppel", channel())
    assert "Alleen coördinatoren" in reply.text
    [reply] = await team.say(CARLA, "ontkoppel", channel())
    assert "ontkoppeld" in reply.text
    assert await team.rows(ChannelLink) == []


async def test_digest_before_the_meeting_priority_from_the_card_reaches_the_gemeente(
    team: Team,
) -> None:
    await team.say(CARLA, LINK, channel())
    new = await team.submit()
    accepted = await team.submit()
    await team.accept(accepted)
    # The meeting is Tuesday 10:00 (09:00 UTC); the agenda is due two hours before.
    team.clock.now = dt.datetime(2026, 11, 24, 6, 59, tzinfo=dt.UTC)
    await team.sweep()
    assert team.in_channel() == []
    team.clock.now = dt.datetime(2026, 11, 24, 7, 0, tzinfo=dt.UTC)
    await team.sweep()
    [posted] = team.in_channel()
    assert posted.method == "POST"
    digest = posted.cards[0]
    shown = text_of(digest)
    assert "AGENDA STURINGSOVERLEG BASISTEAM HEUVELRUG" in shown  # a Large heading
    assert "dinsdag 24-11-2026 om 10:00" in shown
    assert "Beslissing nodig: nieuwe aanvragen (1)" in shown and new in shown
    assert "Prioriteit bepalen (1)" in shown and accepted in shown
    assert "bal bij coördinator" in shown and "termijn ma 30-11-2026" in shown
    assert "Later verstuurd" not in shown
    # Another tick (or another replica) sends nothing more.
    await team.sweep()
    assert len(team.in_channel()) == 1
    assert len(await team.rows(Digest)) == 1

    # Anne has no role in the police team: refused, nothing recorded.
    card, said = await team.press(ANNE, digest, "Hoog", conversation=channel())
    assert "Alleen de coördinatoren" in said
    assert (await team.request(accepted)).priority is None

    mark = len(team.connector.received)
    card, said = await team.press(
        CARLA, digest, "Hoog", conversation=channel(), activity_id="act-prio-1"
    )
    assert card is not None
    assert "Prioriteit bepalen (0)" in text_of(card) and "prioriteit hoog" in text_of(card)
    assert (await team.request(accepted)).priority == "hoog"
    # The channel card is replaced in place (refresh does not work in channels).
    [update] = [r for r in team.in_channel(mark) if r.method == "PUT"]
    [stored] = await team.rows(Digest)
    [original] = [n for n in await team.rows(Notification) if n.key == stored.notification_key]
    assert original.sent_activity_id and update.activity_id == original.sent_activity_id
    assert "prioriteit hoog" in text_of(update.cards[0])
    # The gemeente hears it: the aanvrager and the aanspreekpunt.
    for name in (ANNE, GERT):
        assert any(
            accepted in notice and "prioriteit" in notice and "hoog" in notice
            for notice in team.notices_to(name, mark)
        ), name
    events = [e for e in await team.rows(RequestEvent) if e.action == "prioriteren"]
    assert [(e.reason, e.actor_name) for e in events] == [("hoog", CARLA)]

    # The same click again (Teams re-sends a slow invoke) changes nothing and adds no event.
    await team.press(CARLA, digest, "Hoog", conversation=channel(), activity_id="act-prio-1")
    events = [e for e in await team.rows(RequestEvent) if e.action == "prioriteren"]
    assert len(events) == 1

    # Any other change to the team's requests replaces the agenda in the channel as well.
    mark = len(team.connector.received)
    await team.accept(new)
    [update] = [r for r in team.in_channel(mark) if r.method == "PUT"]
    assert update.activity_id == original.sent_activity_id
    shown = text_of(update.cards[0])
    assert "Beslissing nodig: nieuwe aanvragen (0)" in shown
    assert "Prioriteit bepalen (1)" in shown and new in shown


async def test_nudge_before_the_due_date_merges_and_escalation_after_it_comes_once(
    team: Team,
) -> None:
    await team.say(CARLA, LINK, channel())
    first = await team.submit()
    second = await team.submit()
    # Submitted Monday 23-11: due Monday 30-11 (5 werkdagen); two werkdagen before is Thursday
    # 26-11, and the nudge goes out at 08:00 that morning (07:00 UTC).
    team.clock.now = dt.datetime(2026, 11, 26, 6, 59, tzinfo=dt.UTC)
    mark = len(team.connector.received)
    await team.sweep()
    assert team.notices_to(CARLA, mark) == []
    team.clock.now = dt.datetime(2026, 11, 26, 7, 0, tzinfo=dt.UTC)
    await team.sweep()
    for name in (CARLA, PIETER):  # both coördinatoren hold the ball
        [nudge] = team.notices_to(name, mark)
        assert "Herinnering" in nudge and first in nudge and second in nudge
        assert "termijn ma 30-11-2026" in nudge
    assert team.notices_to(ANNE, mark) == []  # the gemeente does not hold the ball
    await team.sweep()
    assert len(team.notices_to(CARLA, mark)) == 1

    # Past the end of Monday 30-11: one escalation in the channel, with the overdue count.
    team.clock.now = dt.datetime(2026, 11, 30, 23, 5, tzinfo=dt.UTC)
    mark = len(team.connector.received)
    await team.sweep()
    [escalation] = [r for r in team.in_channel(mark) if r.method == "POST"]
    assert "Termijn verstreken in Basisteam Heuvelrug" in escalation.text
    assert "2 aanvragen over de termijn" in escalation.text
    assert first in escalation.text and second in escalation.text
    assert "Later verstuurd" not in escalation.text
    team.clock.advance(hours=1)
    await team.sweep()
    assert [r for r in team.in_channel(mark) if r.method == "POST"] == [escalation]


async def test_accepting_resets_the_reminders_for_the_new_due_date(team: Team) -> None:
    reference = await team.submit()
    team.clock.now = dt.datetime(2026, 11, 26, 7, 0, tzinfo=dt.UTC)
    await team.sweep()
    assert (await team.request(reference)).nudged_at is not None
    await team.accept(reference)
    row = await team.request(reference)
    assert row.nudged_at is None and row.escalated_at is None
    # Without a linked channel, an escalation reaches the coördinatoren in their own chats.
    team.clock.now = dt.datetime(2026, 12, 4, 7, 0, tzinfo=dt.UTC)  # Fri: geaccepteerd due Thu
    mark = len(team.connector.received)
    await team.sweep()
    [escalation] = team.notices_to(CARLA, mark)
    assert "Termijn verstreken" in escalation and reference in escalation


async def test_a_digest_missed_while_the_bot_was_down_comes_when_it_is_back_marked_late(
    database_url: str, connector: LocalConnector
) -> None:
    await load_content(database_url)
    clock = FakeClock(MONDAY)
    server = await start(database_url, connector, clock)
    team = Team(server, connector, database_url)
    await team.say(CARLA, LINK, channel())
    await team.submit()
    await server.stop()
    # Down from Monday until Tuesday 08:30 local, past the 08:00 agenda time.
    clock.now = dt.datetime(2026, 11, 24, 7, 30, tzinfo=dt.UTC)
    server = await start(database_url, connector, clock)
    try:
        team = Team(server, connector, database_url)
        await team.sweep()  # also what the scheduler runs right after the start
        [posted] = [r for r in team.in_channel() if r.method == "POST"]
        assert "Later verstuurd dan gepland (24-11-2026 08:00)" in text_of(posted.cards[0])
        [digest] = await team.rows(Digest)
        assert digest.late
    finally:
        await server.stop()
    # Down again over the due date (end of Monday 30-11) and the next agenda time: the
    # escalation and the agenda of Tuesday 1-12 come when the bot is back, both marked late.
    clock.now = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    mark = len(connector.received)
    server = await start(database_url, connector, clock)
    try:
        team = Team(server, connector, database_url)
        await team.sweep()
        later = [r for r in team.in_channel(mark) if r.method == "POST"]
        [escalation] = [r for r in later if r.text]
        assert "Termijn verstreken" in escalation.text
        assert "Later verstuurd dan gepland, 30-11-2026 23:59" in escalation.text
        [agenda] = [r for r in later if r.cards]
        assert "Later verstuurd dan gepland (01-12-2026 08:00)" in text_of(agenda.cards[0])
        assert len(await team.rows(Digest)) == 2
    finally:
        await server.stop()
