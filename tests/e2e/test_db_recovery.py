"""The database goes away while the bot runs, and comes back: the bot recovers by itself.

PostgreSQL is reached through a TCP proxy of the test's own, which can cut every connection and
refuse new ones (what a database restart or failover looks like to the bot), and restore them.
The app runs in-process on a loopback port and is never restarted. While the database is gone
/readyz says 503 and a user gets the Dutch "tijdelijk niet beschikbaar"; the dialog in progress
is kept. When it is back /readyz turns 200 again, the dialog continues where it was, and what
was queued in the outbox before and during the outage is delivered, exactly once, without any
incoming message to wake the dispatcher. The scheduler recovers too: an escalation that became
due during the outage goes out.

The test talks to PostgreSQL directly (not through the proxy) to queue work during the outage,
as a second replica or an operator's `outbox retry` could.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from process_support import DatabaseProxy, until, until_async
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.chat import local_identity
from bot.content import QuestionType
from bot.deadlines import DEFAULT_CALENDAR
from bot.local_channel import LocalConnector, Received
from bot.workflow import RequestStatus
from requesting import SUBJECT, answer_checklist, content, load_content
from storage.db import Database
from storage.models import Base, Notification, Request
from support import BotServer, Transcript, local_settings

pytestmark = pytest.mark.postgres

ANNE = local_identity("Anne Aanvrager")[1]
CARLA = local_identity("Carla Coördinator")[1]
UNAVAILABLE = "tijdelijk niet beschikbaar"
# How long to hope for the recovery (polled; nothing here asserts how fast it is). The
# dispatcher's pauses grow while the database is down, up to a minute.
RECOVERY_TIMEOUT = 120.0


@pytest.fixture
async def direct(postgres_url: str) -> AsyncIterator[Database]:
    """The session's PostgreSQL database, emptied, reached without the proxy."""
    database = Database.connect(postgres_url)
    async with database.engine.begin() as connection:
        names = ", ".join(table.name for table in Base.metadata.sorted_tables)
        await connection.execute(text(f"TRUNCATE {names}"))
    yield database
    await database.dispose()


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[DatabaseProxy]:
    url = make_url(postgres_url)
    running = await DatabaseProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield running
    await running.stop()


def notice(key: str, words: str, now: dt.datetime, due: dt.datetime) -> Notification:
    return Notification(
        key=key,
        kind="notice",
        request_id=None,
        recipient=f"person:{ANNE}",
        recipient_aad_id=ANNE,
        activity={"type": "message", "text": words},
        status="pending",
        attempts=0,
        next_attempt_at=due,
        created_at=now,
    )


def overdue_request(now: dt.datetime) -> Request:
    """A request past its due date, nudged before: due for an escalation to the coördinatoren."""
    return Request(
        reference="BR-2026-0900",
        status=RequestStatus.INGEDIEND.value,
        version=1,
        bevoegdheid_id="sluiting_drugspand",
        gemeente_id="zeist",
        basisteam_id="heuvelrug",
        subject="Pand",
        criminal_investigation="nee",
        boa_route_possible=False,
        report_type="eenvoudig",
        desired_date=(now + dt.timedelta(days=30)).date(),
        answers={},
        requester_aad_id=ANNE,
        requester_name="Anne Aanvrager",
        requester_conversation={},
        created_at=now - dt.timedelta(days=10),
        updated_at=now - dt.timedelta(days=10),
        status_since=now - dt.timedelta(days=10),
        due_at=now - dt.timedelta(days=1),
        nudged_at=now - dt.timedelta(days=3),
    )


def desired_date(today: dt.date) -> str:
    day = today + dt.timedelta(days=35)
    while not DEFAULT_CALENDAR.is_working_day(day):
        day += dt.timedelta(days=1)
    return day.strftime("%d-%m-%Y")


def texts_to(connector: LocalConnector, conversation: str, words: str) -> list[Received]:
    return [
        r
        for r in connector.received
        if r.conversation_id == conversation and r.method == "POST" and words in r.text
    ]


async def test_the_bot_recovers_by_itself_when_postgresql_comes_back(
    postgres_url: str,
    direct: Database,
    proxy: DatabaseProxy,
    connector: LocalConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await load_content(postgres_url)
    through_proxy = (
        make_url(postgres_url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )
    settings = local_settings(
        through_proxy, teams_service_url=connector.url, reminder_sweep_seconds=5
    )
    server = await BotServer(settings, connector).start()
    t = Transcript(server.session("Anne Aanvrager"))
    anne_chat = t.chat.conversation_id
    date = desired_date(dt.datetime.now(dt.UTC).date())
    try:
        # Working normally: a dialog halfway, ready.
        assert (await server.get("/readyz"))[0] == 200
        assert "Welke bevoegdheid" in await t.say("nieuwe aanvraag")
        assert "Voor welke gemeente" in await t.say("damocles")
        assert "kort onderwerp" in await t.say("Zeist")
        assert "strafrechtelijk onderzoek" in await t.say(SUBJECT)

        # Queued before the outage, falling due during it (as a retry would).
        now = dt.datetime.now(dt.UTC)
        before_due = now + dt.timedelta(seconds=3)
        async with direct.sessions.begin() as session:
            session.add(notice("test:before", "Bericht van voor de storing", now, before_due))

        # The database goes away.
        await proxy.cut()
        status, body = await server.get("/readyz")
        assert (status, json.loads(body)["status"]) == (503, "unavailable")
        out = await t.say("nee")
        assert UNAVAILABLE in out, out
        assert "boa" not in out

        # Meanwhile, elsewhere: a message queued and a request falling overdue.
        async with direct.sessions.begin() as session:
            now = dt.datetime.now(dt.UTC)
            session.add(notice("test:during", "Bericht uit de storing", now, now))
            session.add(overdue_request(now))
        # The background work has met the outage (and lived), and the first row is due.
        await until(
            lambda: any("outbox round failed" in r.getMessage() for r in caplog.records),
            RECOVERY_TIMEOUT,
            "the dispatcher to meet the outage",
        )
        await until(
            lambda: any("sweep_reminders failed" in r.getMessage() for r in caplog.records),
            RECOVERY_TIMEOUT,
            "a reminder sweep to meet the outage",
        )
        await until(lambda: dt.datetime.now(dt.UTC) > before_due, 10, "the first row to be due")
        assert (await server.get("/readyz"))[0] == 503
        assert texts_to(connector, anne_chat, "storing") == []

        # The database comes back; nothing is restarted and nobody writes to the bot.
        await proxy.restore()

        async def ready() -> bool:
            return (await server.get("/readyz"))[0] == 200

        await until_async(ready, RECOVERY_TIMEOUT, "/readyz to say 200 again")
        await until(
            lambda: bool(
                texts_to(connector, anne_chat, "voor de storing")
                and texts_to(connector, anne_chat, "uit de storing")
            ),
            RECOVERY_TIMEOUT,
            "the outbox to deliver what was queued before and during the outage",
        )
        carla_chat = f"a:personal-{CARLA}"
        await until(
            lambda: any("BR-2026-0900" in r.text for r in connector.sent_to(carla_chat)),
            RECOVERY_TIMEOUT,
            "the escalation that fell due during the outage",
        )

        # The dialog continues at the question it was on: the answer is asked again, not lost.
        out = await t.say("nee")
        assert "Je was bezig" not in out and UNAVAILABLE not in out, out
        assert "boa" in out, out
        assert "Welk type rapportage" in await t.say("nee")
        assert "Wanneer heeft de gemeente" in await t.say("eenvoudig")
        drugspand = content()["sluiting_drugspand"]
        assert drugspand.checklist[0].text in await t.say(date)
        dates = {q.id: date for q in drugspand.checklist if q.type is QuestionType.DATE}
        out, _ = await answer_checklist(t, drugspand, dates)
        assert "CONTROLEER JE AANVRAAG" in out, out
        year = dt.datetime.now(dt.UTC).year
        assert f"ingediend met kenmerk BR-{year}-0001" in await t.say("indienen")

        async def drained() -> bool:
            async with direct.sessions() as session:
                statuses = (await session.execute(select(Notification.status))).scalars()
                return set(statuses) == {"sent"}

        await until_async(drained, RECOVERY_TIMEOUT, "every outbox row to be sent")
    finally:
        await server.stop()
        print("\n".join(t.lines))

    # Each message queued around the outage arrived once.
    assert len(texts_to(connector, anne_chat, "voor de storing")) == 1
    assert len(texts_to(connector, anne_chat, "uit de storing")) == 1
    escalations = [r for r in connector.sent_to(carla_chat) if "BR-2026-0900" in r.text]
    assert len(escalations) == 1
    async with direct.sessions() as session:
        requests = list((await session.execute(select(Request.reference))).scalars())
        rows = list((await session.execute(select(Notification))).scalars())
    assert sorted(requests) == sorted([f"BR-{year}-0001", "BR-2026-0900"])
    posts = Counter(
        (r.conversation_id, r.text, json.dumps(r.cards, sort_keys=True))
        for r in connector.received
        if r.method == "POST" and re.search(r"/activities$", r.path)
    )
    # No new message twice, and every outbox row's message arrived (all are new messages here).
    assert set(posts.values()) == {1}, [k for k, n in posts.items() if n > 1]
    for row in rows:
        cards = [
            a["content"]
            for a in row.activity.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]
        key = (
            row.sent_conversation_id or "",
            str(row.activity.get("text") or ""),
            json.dumps(cards, sort_keys=True),
        )
        assert posts[key] == 1, (row.id, row.key)
    # Nothing was lost on the way: no row ended unconfirmed or failed.
    assert {row.status for row in rows} == {"sent"}
