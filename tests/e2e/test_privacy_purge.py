"""After retention, nothing typed into a request is left anywhere in the database.

A request goes the whole way as Teams drives it: the aanvrager types it in her chat (subject,
boa-route reason, a free-text checklist answer), coördinatoren and the gemeente act on its card
with typed reasons, the bot delivers every card and notice through the outbox, and the gemeente
closes it with feedback. Then retention runs, and every text and JSON column of every table is
read back: none of the typed text may be found, and the request's rows name nobody.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import JSON, String, func, select

from bot import lifecycle, services
from bot.chat import local_identity
from bot.local_channel import LocalConnector
from bot.retention import PURGED, purge
from bot.workflow import RequestStatus
from cards.text import card_to_text
from requesting import answer_checklist, content, load_content, seed
from storage.db import Database
from storage.models import Base, CardCopy, Deletion, Notification, Request, RequestEvent
from support import BotServer, FakeClock, Transcript, local_settings

ANNE, GERT, CARLA, PIETER = "Anne Aanvrager", "Gert Gemeente", "Carla Coördinator", "Pieter Politie"
# A Monday long enough ago that, closed the same week, the request is past a year's retention on
# the real clock (PostgreSQL's function checks the period against the database's own clock).
START = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
RETENTION = dt.timedelta(days=365)

SUBJECT = "Hennepzolder Lindelaan 7, zoon van de bewoner"
BOA_REASON = "De boa mag de zolder aan de Lindelaan niet betreden"
ZAAKNUMMER = "PL0900-2025123 broer bewoner"  # at most 40
TYPED_ON_CARDS = {
    "aanvulling_vragen_reason": "Welke verdieping precies, Lindelaan zolder of schuur?",
    "aanvullen_reason": "De zolder, bereikbaar via het trapgat bij de keuken",
    "controle_afgekeurd_reason": "De bronnen over de oogst van maart ontbreken",
    "feedback": "Fijn dat wijkagent Smits zo snel meedacht",
}
TYPED = (SUBJECT, BOA_REASON, ZAAKNUMMER, *TYPED_ON_CARDS.values())


def aad(name: str) -> str:
    return local_identity(name)[1]


class Route:
    """The parties of one request in their own chats, on a clock the test moves."""

    def __init__(self, server: BotServer, connector: LocalConnector, url: str) -> None:
        self.server, self.connector, self.url = server, connector, url
        self.clock: FakeClock = server.clock  # type: ignore[assignment]

    def card_of(self, name: str) -> dict[str, Any]:
        mine = {f"a:local-chat-{aad(name)}", f"a:personal-{aad(name)}"}
        cards = [
            r.cards[0]
            for r in self.connector.received
            if r.conversation_id in mine and r.cards and r.method in ("POST", "PUT")
        ]
        assert cards, f"{name} has no card"
        return cards[-1]

    async def press(self, name: str, title: str, inputs: dict[str, str] | None = None) -> None:
        chat = self.server.session(name)
        [button] = [
            b
            for b in card_to_text(self.card_of(name)).buttons
            if b.title == title and b.kind == "execute"
        ]
        self.clock.advance(hours=1)
        replies, _ = await chat.press(button, inputs or {})
        assert any(r.method == "INVOKE" for r in replies), (name, title)
        await self.server.deliver()


@pytest.fixture
async def route(database_url: str, connector: LocalConnector) -> AsyncIterator[Route]:
    await load_content(database_url)
    server = await BotServer(local_settings(database_url), connector, FakeClock(START)).start()
    yield Route(server, connector, database_url)
    await server.stop()


async def everything_stored(url: str) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every text and JSON value in the database."""
    found: list[tuple[str, str, str]] = []
    database = Database.connect(url)
    try:
        async with database.sessions() as session:
            for table in Base.metadata.sorted_tables:
                columns = [c for c in table.columns if isinstance(c.type, String | JSON)]
                if not columns:
                    continue
                for row in (await session.execute(select(*columns))).all():
                    for column, value in zip(columns, row, strict=True):
                        if value is not None:
                            shown = value if isinstance(value, str) else json.dumps(value)
                            found.append((table.name, column.name, shown))
    finally:
        await database.dispose()
    return found


def containing(stored: list[tuple[str, str, str]], needle: str) -> list[str]:
    """Where `needle` is stored; JSON escapes non-ASCII, so look for both spellings."""
    spellings = {needle.casefold(), json.dumps(needle)[1:-1].casefold()}
    return sorted(
        {
            f"{table}.{column}"
            for table, column, value in stored
            if any(s in value.casefold() for s in spellings)
        }
    )


async def test_after_the_purge_no_typed_text_of_the_request_is_stored_anywhere(
    route: Route, database_url: str
) -> None:
    anne = Transcript(route.server.session(ANNE))
    for line in (
        "nieuwe aanvraag",
        "damocles",
        "Zeist",
        SUBJECT,
        "ja",  # a criminal investigation: the zaakofficier is consulted
        "ja",  # a boa report could do …
        BOA_REASON,  # … but this is why not
        "eenvoudig",
    ):
        await anne.say(line)
    await anne.say("15-12-2026")
    await answer_checklist(anne, content()["sluiting_drugspand"], {"zaaknummer": ZAAKNUMMER})
    assert "is ingediend" in await anne.say("indienen")
    await route.server.deliver()

    for actor, button, inputs in (
        (CARLA, "Aanvulling vragen", ["aanvulling_vragen_reason"]),
        (ANNE, "Aanvulling geven", ["aanvullen_reason"]),
        (PIETER, "Accepteren", []),
        (CARLA, "Zaakofficier raadplegen", []),
        (CARLA, "Zaakofficier akkoord", []),
        (CARLA, "Naar kwaliteitscontrole", []),
        (PIETER, "Controle afgekeurd", ["controle_afgekeurd_reason"]),
        (CARLA, "Naar kwaliteitscontrole", []),
        (CARLA, "Naar OM-toetsing", []),
        (CARLA, "OM akkoord, verstrekt", []),
    ):
        await route.press(actor, button, {key: TYPED_ON_CARDS[key] for key in inputs})
    await route.press(
        ANNE, "Afronden", {"outcome": "maatregel_genomen", "feedback": TYPED_ON_CARDS["feedback"]}
    )

    database = Database.connect(database_url)
    try:
        async with database.sessions() as session:
            request = (await session.execute(select(Request))).scalar_one()
            assert request.status == "afgerond"
            outbox = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.request_id == request.id)
            )
        assert outbox and outbox > 10
        # The scan sees every typed text before the purge, and where.
        before = await everything_stored(database_url)
        for typed in TYPED:
            assert containing(before, typed), typed
        assert "requests.subject" in containing(before, SUBJECT)
        assert "outbox.activity" in containing(before, SUBJECT)
        assert "request_events.reason" in containing(before, TYPED_ON_CARDS["aanvullen_reason"])

        report = await purge(database, now=dt.datetime.now(dt.UTC), retention=RETENTION)
        assert [p.reference for p in report.purged] == [request.reference]

        after = await everything_stored(database_url)
        for typed in TYPED:
            assert containing(after, typed) == [], typed
        # The request's own rows name nobody; the registry (people) still knows its members.
        async with database.sessions() as session:
            purged = (await session.execute(select(Request))).scalar_one()
            events = list((await session.execute(select(RequestEvent))).scalars())
            copies = await session.scalar(select(func.count()).select_from(CardCopy))
            deletions = await session.scalar(select(func.count()).select_from(Deletion))
        names = (ANNE, GERT, CARLA, PIETER)
        own_rows = [
            json.dumps(
                {
                    c.name: getattr(purged, c.key)
                    for c in Request.__table__.columns
                    if c.key != "desired_date"
                },
                default=str,
                ensure_ascii=False,
            ),
            *(f"{e.actor_name} {e.reason}" for e in events),
        ]
        for name in names:
            assert not any(name in text for text in own_rows), name
        assert aad(ANNE) not in own_rows[0]
        assert {e.actor_name for e in events} == {PURGED}
        assert copies == 0 and deletions == 1
        assert (purged.status, purged.outcome, purged.report_type) == (
            "afgerond",
            "maatregel_genomen",
            "eenvoudig",
        )
        # A card refreshed in Teams afterwards shows the marker, not the old text.
        card = await lifecycle.view(
            database,
            reference=purged.reference,
            actor=lifecycle.Actor(aad(CARLA), CARLA),
            tz=route.server.settings.tz,
            catalogue=await services.load_catalogue(database),
        )
        assert card.card is not None
        shown = json.dumps(card.card, ensure_ascii=False)
        assert PURGED in shown and SUBJECT not in shown
    finally:
        await database.dispose()


async def test_the_scheduler_purges_by_itself(database_url: str, connector: LocalConnector) -> None:
    """The retention job runs at start and every six hours, on the bot's own clock."""
    await load_content(database_url)
    database = Database.connect(database_url)
    try:
        reference = await seed(database, RequestStatus.INGETROKKEN, "nee")
        async with database.sessions.begin() as session:
            request = (await session.execute(select(Request))).scalar_one()
            request.status_since = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        server = await BotServer(
            local_settings(database_url), connector, FakeClock(dt.datetime.now(dt.UTC))
        ).start()
        try:
            job = server.components.scheduler.get_job("sweep_retention")
            assert job is not None and job.trigger.interval == dt.timedelta(hours=6)
            async with asyncio.timeout(10):
                while not await database_has_deletion(database):
                    await asyncio.sleep(0.05)
                    await server.components.jobs.idle()
        finally:
            await server.stop()
        async with database.sessions() as session:
            purged = (await session.execute(select(Request))).scalar_one()
        assert (purged.reference, purged.subject) == (reference, PURGED)
    finally:
        await database.dispose()


async def database_has_deletion(database: Database) -> bool:
    async with database.sessions() as session:
        return bool(await session.scalar(select(func.count()).select_from(Deletion)))
