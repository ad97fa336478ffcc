"""SIGKILL of the bot process, mid-dialog and mid-delivery, on SQLite and PostgreSQL.

The bot runs as `python -m bot serve` and is killed the way an orchestrator or the kernel does
it: no shutdown hook, no `finally`. Then another process starts on the same database.

A request dialog is killed between two turns, during a turn (the turn's reply reached Teams but
the turn never finished) and during the submit turn (the request was committed, the dialog state
was not). Afterwards the dialog continues at the question its saved state was on, no answer that
was confirmed is lost, and exactly one request exists.

The outbox is killed mid-drain: the connector answers slowly and then freezes, so at the moment
of the kill some deliveries are provably in flight (they reached "Teams", their answer did not
come back). What must hold afterwards (bot/notifier.py): a new message in flight becomes
`unconfirmed` and is not sent again (a Bot Framework POST is not idempotent); an in-place card
update in flight is sent again (a PUT is); everything else arrives exactly once. And no row may
be `sending` at the kill without its call having reached Teams: such a row would end up
`unconfirmed` although nothing was shown, i.e. lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
import zoneinfo
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from process_support import BotProcess, SlowConnector, bot_env, free_port, until, until_async
from sqlalchemy import func, select

from bot import lifecycle, services
from bot.chat import ChatSession, local_identity
from bot.content import QuestionType
from bot.deadlines import DEFAULT_CALENDAR
from bot.due_dates import DEFAULT_POLICY
from bot.local_channel import Received
from bot.workflow import RequestStatus
from requesting import SUBJECT, answer_checklist, content, load_content
from storage.db import Database
from storage.models import Notification, Request, RequestEvent
from support import Transcript

TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")
CARLA = local_identity("Carla Coördinator")[1]
# The notifier's lease (bot/notifier.py): a row in flight at a kill is settled after it ends.
LEASE_SECONDS = 60


@pytest.fixture
async def slow_connector() -> AsyncIterator[SlowConnector]:
    connector = await SlowConnector().start()
    yield connector
    connector.thaw()
    await connector.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def desired_date(today: dt.date) -> str:
    """A working day well ahead of the real today (the process runs on the real clock)."""
    day = today + dt.timedelta(days=35)
    while not DEFAULT_CALENDAR.is_working_day(day):
        day += dt.timedelta(days=1)
    return day.strftime("%d-%m-%Y")


async def _requests(database: Database) -> list[Request]:
    async with database.sessions() as session:
        return list((await session.execute(select(Request).order_by(Request.id))).scalars())


async def _count(database: Database, model: Any, *where: Any) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


class Chat:
    """Anne's personal chat, typed line by line; `interrupted` sends a line whose turn is
    killed once its first reply reached the connector."""

    def __init__(self, url: str, connector: SlowConnector, http: aiohttp.ClientSession) -> None:
        self.session = ChatSession(url, connector, "Anne Aanvrager", http)
        self.transcript = Transcript(self.session)
        self.connector = connector

    async def say(self, line: str) -> str:
        return await self.transcript.say(line)

    async def answer_to(self, line: str) -> str:
        """Only the turn's own replies (not what the outbox delivers to the chat meanwhile)."""
        activity = self.session.activity(type="message", text=line)
        _, _, received = await self.session.post(activity)
        own = [r for r in received if r.path.endswith(f"/activities/{activity['id']}")]
        shown = "\n".join(self.session.render(own))
        self.transcript.lines += [f"jij: {line}", shown]
        return shown

    async def interrupted(self, line: str, bot: BotProcess) -> str:
        """Send `line`; once the turn's first reply reached Teams, SIGKILL the bot while the
        connector holds that reply (so the turn can neither finish nor save its state)."""
        activity = self.session.activity(type="message", text=line)
        reply_path = f"/activities/{activity['id']}"

        def replies() -> list[Received]:
            return [r for r in self.connector.received if r.path.endswith(reply_path)]

        self.connector.freeze()
        turn = asyncio.create_task(self.session.post(activity))
        try:
            await until(lambda: bool(replies()), 30, "the first reply of the turn")
            await bot.kill()
        finally:
            self.connector.thaw()
            with contextlib.suppress(aiohttp.ClientError):
                await turn
        shown = "\n".join(self.session.render(replies()))
        self.transcript.lines += [f"jij: {line}", shown, "----- SIGKILL -----"]
        return shown


async def test_a_request_dialog_survives_sigkill_between_turns_during_a_turn_and_at_submit(
    database_url: str, slow_connector: SlowConnector, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await load_content(database_url)
    database = Database.connect(database_url)
    bot = BotProcess(free_port(), tmp_path / "bot.log")
    env = bot_env(database_url, slow_connector)
    chat = Chat(bot.url, slow_connector, http)
    drugspand = content()["sluiting_drugspand"]
    date = desired_date(dt.datetime.now(TZ).date())
    # References count per year of the (real, UTC) clock.
    first, second = (f"BR-{dt.datetime.now(dt.UTC).year}-{n:04d}" for n in (1, 2))
    try:
        await bot.start(env, http)
        assert "Welke bevoegdheid" in await chat.say("nieuwe aanvraag")
        assert "Voor welke gemeente" in await chat.say("damocles")
        assert "kort onderwerp" in await chat.say("Zeist")
        assert "strafrechtelijk onderzoek" in await chat.say(SUBJECT)

        # 1. Killed between two turns; the next process continues on the same database.
        await bot.kill()
        await bot.start(env, http)
        out = await chat.say("nee")
        # Four answers kept (bevoegdheid, gemeente, the only basisteam, subject): the bot offers
        # to continue rather than taking "nee" as an answer to a question it did not ask.
        assert "Je was bezig met een aanvraag voor" in out, out
        assert "4 vragen beantwoord" in out, out
        out = await chat.say("doorgaan")
        assert "strafrechtelijk onderzoek" in out, out  # the question it was on
        assert "boa" in await chat.say("nee")

        # 2. Killed during a turn: its reply (the next question) reached Teams, the turn's end
        # (saving the dialog state) never came.
        shown = await chat.interrupted("nee", bot)
        assert "Welk type rapportage" in shown, shown
        await bot.start(env, http)
        # Anne saw the next question and answers it; the saved state is one answer behind.
        out = await chat.say("eenvoudig")
        assert "5 vragen beantwoord" in out, out
        out = await chat.say("doorgaan")
        assert "boa" in out and "Welk type rapportage" not in out, out
        assert "Welk type rapportage" in await chat.say("nee")
        assert "Wanneer heeft de gemeente" in await chat.say("eenvoudig")
        assert drugspand.checklist[0].text in await chat.say(date)
        dates = {q.id: date for q in drugspand.checklist if q.type is QuestionType.DATE}
        out, given = await answer_checklist(chat.transcript, drugspand, dates)
        assert "CONTROLEER JE AANVRAAG" in out, out

        # 3. Killed in the submit turn: the request is committed, the reply with its reference
        # reached Teams, the dialog state (still on the summary) was never saved.
        shown = await chat.interrupted("indienen", bot)
        assert f"ingediend met kenmerk {first}" in shown, shown
        assert len(await _requests(database)) == 1
        await bot.start(env, http)
        # Teams delivers the message again (or Anne types it again): the bot knows the draft
        # was filed and says so, instead of offering to continue it (and file it twice).
        out = await chat.answer_to("indienen")
        assert f"ingediend met kenmerk {first}" in out, out
        out = await chat.answer_to("mijn aanvragen")
        assert first in out and second not in out, out

        [request] = await _requests(database)
        assert request.reference == first
        assert request.status == RequestStatus.INGEDIEND.value
        assert request.subject == SUBJECT
        assert (request.bevoegdheid_id, request.gemeente_id, request.basisteam_id) == (
            "sluiting_drugspand",
            "zeist",
            "heuvelrug",
        )
        assert (request.criminal_investigation, request.boa_route_possible) == ("nee", False)
        assert request.report_type == "eenvoudig"
        assert request.desired_date == dt.datetime.strptime(date, "%d-%m-%Y").date()
        assert set(request.answers) == set(given)
        assert await _count(database, RequestEvent, RequestEvent.action == "indienen") == 1
        # Its cards and notices were queued once: one card per party (Anne, Gert, Carla, Pieter).
        cards = await _count(
            database,
            Notification,
            Notification.request_id == request.id,
            Notification.kind == "card",
        )
        assert cards == 4
    finally:
        await bot.stop()
        await database.dispose()
        print("\n".join(chat.transcript.lines))
        print(bot.log())


# --- the outbox ----------------------------------------------------------------------------

REQUESTS = 16


async def queue_notifications(database: Database, now: dt.datetime) -> None:
    """What the app writes when requests are submitted and then accepted, through the same use
    cases: per request its card (a new message) and notices to every party, then the accepted
    card (an in-place update, once the first card has an activity id) and notices to the
    gemeente side. Every request has its own aanvrager, so many chats are served at once."""
    catalogue = await services.load_catalogue(database)
    context = lifecycle.Context(catalogue, TZ)
    for number in range(1, REQUESTS + 1):
        name = f"Aanvrager {number:02d}"
        async with database.sessions.begin() as session:
            request = Request(
                reference=f"BR-2026-{number:04d}",
                status=RequestStatus.INGEDIEND.value,
                version=1,
                bevoegdheid_id="sluiting_drugspand",
                gemeente_id="zeist",
                basisteam_id="heuvelrug",
                subject=f"Pand {number}",
                criminal_investigation="nee",
                boa_route_possible=False,
                report_type="eenvoudig",
                desired_date=(now + dt.timedelta(days=40)).date(),
                answers={},
                requester_aad_id=local_identity(name)[1],
                requester_name=name,
                requester_conversation={},
                created_at=now,
                updated_at=now,
                status_since=now,
            )
            session.add(request)
            await session.flush()
            await lifecycle.announce_submitted(session, request, context, now)
        accepted = await lifecycle.act(
            database,
            reference=request.reference,
            verb="accepteren",
            actor=lifecycle.Actor(CARLA, "Carla Coördinator"),
            seen_version=1,
            inputs={},
            activity_id=f"kill-test-{uuid.uuid4().hex}",
            now=now,
            tz=TZ,
            catalogue=catalogue,
            deadlines=DEFAULT_POLICY,
        )
        assert accepted.outcome is lifecycle.Outcome.DONE, accepted


def _content_key(conversation_id: str, activity: dict[str, Any]) -> str:
    """A message as Teams sees it: where, and what (text and cards), nothing of the envelope."""
    return json.dumps(
        [conversation_id, activity.get("text") or "", activity.get("attachments") or []],
        sort_keys=True,
        ensure_ascii=False,
    )


def _is_message_call(received: Received) -> bool:
    return "/activities" in received.path and received.method in ("POST", "PUT")


async def _rows(database: Database) -> list[Notification]:
    async with database.sessions() as session:
        return list(
            (await session.execute(select(Notification).order_by(Notification.id))).scalars()
        )


async def test_sigkill_mid_drain_loses_nothing_and_sends_no_new_message_twice(
    database_url: str, slow_connector: SlowConnector, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await load_content(database_url)
    database = Database.connect(database_url)
    await queue_notifications(database, dt.datetime.now(dt.UTC))
    queued = await _rows(database)
    assert len(queued) == REQUESTS * 13  # 4 cards + 3 notices, 4 updated cards + 2 notices

    connector = slow_connector
    connector.delay = 0.2

    # Freeze well into the drain, when a new message arrives while a card update is still
    # unanswered: from then on every call that reaches the connector is held, like a Teams that
    # stopped answering, so both kinds are in flight at the kill.
    def both_kinds_under_way(received: Received) -> bool:
        updates = [r for r in connector.received if r.method == "PUT"]
        return (
            len(updates) >= 3
            and received.method == "POST"
            and received.path.endswith("/activities")
            and any(r.method == "PUT" for r in connector.unanswered)
        )

    connector.freeze_when = both_kinds_under_way
    bot = BotProcess(free_port(), tmp_path / "bot.log")
    env = bot_env(database_url, connector)
    try:
        await bot.start(env, http)
        await until(lambda: connector.frozen, 120, "a new message and a card update in flight")

        # Wait until the drain has nothing left to start: every row in `sending` has either
        # reached the frozen connector or never will.
        async def in_flight_settled() -> bool:
            before = (connector.held, await _count(database, Notification, _sending()))
            await asyncio.sleep(2.0)
            after = (connector.held, await _count(database, Notification, _sending()))
            return before == after

        await until_async(in_flight_settled, 60, "the calls in flight to settle")
        at_kill = [row for row in await _rows(database) if row.status == "sending"]
        received_at_kill = [r for r in connector.received if _is_message_call(r)]
        await bot.kill()
        connector.thaw()
        connector.delay = 0.0

        assert at_kill, "nothing was in flight at the kill: the test proves nothing"
        # `sending` with an activity id is an in-place update (PUT), without one a new message.
        in_flight_posts = [row for row in at_kill if row.sent_activity_id is None]
        in_flight_puts = [row for row in at_kill if row.sent_activity_id is not None]
        assert in_flight_posts, "no new message in flight at the kill"
        assert in_flight_puts, "no card update in flight at the kill"
        reached = Counter(
            (
                r.method,
                r.activity_id if r.method == "PUT" else None,
                _content_key(r.conversation_id, r.body),
            )
            for r in received_at_kill
        )

        def reached_teams(row: Notification) -> int:
            key = _content_key(row.sent_conversation_id or "", row.activity)
            if row.sent_activity_id is None:
                return reached[("POST", None, key)]
            return reached[("PUT", row.sent_activity_id, key)]

        # `sending` must mean "on its way to Teams". A new message committed as `sending` whose
        # POST never left the process is recovered as `unconfirmed` and never sent: lost. (A
        # card update in that state is only re-sent, but it shows the same window.)
        lost = [row.id for row in in_flight_posts if not reached_teams(row)]
        late = [row.id for row in in_flight_puts if not reached_teams(row)]
        assert (lost, late) == ([], []), (
            f"marked sending but never reached the connector before the kill: {len(lost)} of "
            f"{len(in_flight_posts)} new messages {lost} (lost), {len(late)} of "
            f"{len(in_flight_puts)} card updates {late} (re-sent)"
        )

        await bot.start(env, http)

        # The rows of the killed process keep their lease; then recovery settles them and the
        # recipients' queues move on. Poll (generously) until nothing is pending or sending.
        async def settled() -> bool:
            rows = await _rows(database)
            return all(row.status in ("sent", "unconfirmed", "failed") for row in rows)

        await until_async(settled, LEASE_SECONDS + 120, "the outbox to settle after the restart")
    finally:
        connector.thaw()
        await bot.stop()
        print(bot.log())

    rows = await _rows(database)
    await database.dispose()
    status = {row.id: row.status for row in rows}
    posts_at_kill = {row.id for row in in_flight_posts}
    puts_at_kill = {row.id for row in in_flight_puts}
    assert Counter(status.values())["failed"] == 0, Counter(status.values())
    # Exactly the new messages in flight at the kill are unconfirmed; everything else was sent.
    assert {i for i, s in status.items() if s == "unconfirmed"} == posts_at_kill
    assert all(s == "sent" for i, s in status.items() if i not in posts_at_kill)
    # Recovery re-sent the interrupted card updates rather than leaving them unconfirmed.
    assert all(status[i] == "sent" for i in puts_at_kill)

    calls = [r for r in connector.received if _is_message_call(r)]
    posts = Counter(_content_key(r.conversation_id, r.body) for r in calls if r.method == "POST")
    puts_received = Counter(
        (r.activity_id, _content_key(r.conversation_id, r.body)) for r in calls if r.method == "PUT"
    )
    for row in rows:
        assert row.sent_conversation_id, row.id
        key = _content_key(row.sent_conversation_id, row.activity)
        if _was_put(row, rows):
            # An in-place update: arrived once, or twice when the kill interrupted it.
            count = puts_received[(row.sent_activity_id, key)]
            assert count == (2 if row.id in puts_at_kill else 1), (row.id, count)
        else:
            # A new message (a card's first copy, a notice): exactly once, never again.
            assert posts[key] == 1, (row.id, row.kind, posts[key])
    # Nothing arrived that the outbox did not hold, and no new message twice.
    assert sum(posts.values()) == sum(1 for row in rows if not _was_put(row, rows))
    assert set(posts.values()) == {1}


def _sending() -> Any:
    return Notification.status == "sending"


def _was_put(row: Notification, rows: list[Notification]) -> bool:
    """A card row for a request and person whose earlier card was delivered (so its activity id
    is known): it goes out as an in-place update. Rows of one person go in order, so that
    earlier card was settled before this row was sent."""
    return row.kind == "card" and any(
        other.id < row.id
        and other.kind == "card"
        and other.request_id == row.request_id
        and other.recipient == row.recipient
        and other.status == "sent"
        for other in rows
    )
