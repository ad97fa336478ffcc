"""The outbox dispatcher on a real database (SQLite, and PostgreSQL when configured) against the
local connector, which records every request the SDK's connector client makes.

Time is fake: `FakeClock` is the wall clock (leases, retry times) and `FakeTime` the monotonic
clock of the pacing, moved only by the dispatcher's own sleeps and by the slowness a test asks for
(a slow database write, a slow answer); nothing here waits for real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import event, select, update

from bot.adapter import create_authentication
from bot.app import build_components
from bot.guards import DEFAULT_SERVICE_HOSTS, service_url_allowed
from bot.local_channel import BOT_ID, LOCAL_TENANT, Fault, LocalConnector, Received
from bot.notifier import (
    Delivery,
    DrainReport,
    Notifier,
    SendWindow,
    reactivate,
    retry_delivery,
)
from storage.db import Database
from storage.models import (
    Basisteam,
    CardCopy,
    Contact,
    Gemeente,
    Notification,
    Person,
    PersonRole,
    Request,
)
from support import FakeClock, local_settings

ANNE = "00000000-0000-0000-0000-0000000000a1"
CARLA = "00000000-0000-0000-0000-0000000000c1"
BEA = "00000000-0000-0000-0000-0000000000b1"
CARD = "application/vnd.microsoft.card.adaptive"
# Nothing listens here: a connection to it is refused before anything is sent.
DEAD_URL = "http://127.0.0.1:9/"


def LOOPBACK_ONLY(url: str) -> bool:
    """The local connector runs on loopback: what local mode allows."""
    return service_url_allowed(url, hosts=(), local=True)


class Killed(Exception):
    """The process died right after the HTTP call returned."""


class FakeTime:
    """Monotonic seconds for the pacing. A sleeper wakes at (time it fell asleep + seconds), and
    time jumps there at once; simulated slowness moves `now` forward the same way. It never goes
    back, and that is all the pacing may rely on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)  # let the other senders run, as a real sleep would


@dataclass
class Calls:
    """Every request that reached the connector, faulted or not, with its fake time."""

    time: FakeTime
    seen: list[tuple[str, str, float]] = field(default_factory=list)
    faults: dict[tuple[str, str], list[Fault]] = field(default_factory=dict)
    answer_after: Callable[[str, str], float] = lambda _method, _path: 0.0

    def fail(self, method: str, path: str, *faults: Fault) -> None:
        """Answer the next requests to (method, path) with these faults, in order."""
        self.faults.setdefault((method, path), []).extend(faults)

    def __call__(self, method: str, path: str) -> Fault | None:
        self.seen.append((method, path, self.time.now))
        # The answer comes back this much later than the request arrived.
        self.time.now += self.answer_after(method, path)
        queued = self.faults.get((method, path))
        return queued.pop(0) if queued else None

    def to(self, path: str) -> list[tuple[str, str, float]]:
        return [call for call in self.seen if call[1] == path]


@dataclass
class Outbox:
    url: str
    database: Database
    connector: LocalConnector
    clock: FakeClock
    time: FakeTime
    calls: Calls
    _keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def notifier(self, **overrides: Any) -> Notifier:
        options: dict[str, Any] = {
            "bot_id": BOT_ID,
            "tenant_id": LOCAL_TENANT,
            "fallback_service_url": self.connector.url,
            "clock": self.clock,
            "sleep": self.time.sleep,
            "monotonic": self.time.monotonic,
            "rng": lambda: 1.0,
            "service_url_allowed": LOOPBACK_ONLY,
        }
        options.update(overrides)
        return Notifier(self.database, create_authentication(local_settings(self.url)), **options)

    async def contact(
        self, aad: str, conversation_id: str | None = None, service_url: str | None = None
    ) -> None:
        async with self.database.sessions.begin() as session:
            session.add(
                Contact(
                    aad_object_id=aad,
                    user_id=f"29:{aad}",
                    tenant_id=LOCAL_TENANT,
                    service_url=service_url or self.connector.url,
                    conversation_id=conversation_id,
                    updated_at=self.clock(),
                )
            )

    async def person(self, aad: str, name: str, role: str | None = None) -> None:
        async with self.database.sessions.begin() as session:
            session.add(Person(aad_object_id=aad, name=name))
            if role:
                session.add(PersonRole(aad_object_id=aad, role=role, scope=""))

    async def request(self) -> int:
        async with self.database.sessions.begin() as session:
            if await session.get(Gemeente, "zeist") is None:
                session.add(Gemeente(id="zeist", name="Zeist"))
                session.add(
                    Basisteam(id="heuvelrug", name="Heuvelrug", district="Oost", eenheid="Midden")
                )
                await session.flush()
            count = len((await session.execute(select(Request.id))).all())
            request = Request(
                reference=f"BR-2026-{count + 1:04d}",
                status="ingediend",
                version=1,
                bevoegdheid_id="sluiting_drugspand",
                gemeente_id="zeist",
                basisteam_id="heuvelrug",
                subject="Pand",
                criminal_investigation="nee",
                boa_route_possible=False,
                report_type="eenvoudig",
                desired_date=dt.date(2026, 12, 15),
                answers={},
                requester_aad_id=ANNE,
                requester_name="Anne Aanvrager",
                requester_conversation={},
            )
            session.add(request)
            await session.flush()
            return request.id

    async def add(
        self,
        recipient: str,
        *,
        kind: str = "notice",
        request_id: int | None = None,
        text: str | None = None,
        conversation: dict[str, Any] | None = None,
        activity: dict[str, Any] | None = None,
    ) -> Notification:
        """One outbox row; the text (or card title) is its key, so deliveries can be counted."""
        key = f"row-{next(self._keys)}"
        if activity is None:
            body = text or key
            activity = (
                {
                    "type": "message",
                    "attachments": [
                        {
                            "contentType": CARD,
                            "content": {"type": "AdaptiveCard", "version": "1.5", "title": body},
                        }
                    ],
                }
                if kind == "card"
                else {"type": "message", "text": body}
            )
        row = Notification(
            key=key,
            kind=kind,
            request_id=request_id,
            recipient=recipient,
            recipient_aad_id=recipient.removeprefix("person:"),
            conversation=conversation,
            activity=activity,
            status="pending",
            attempts=0,
            next_attempt_at=self.clock(),
            created_at=self.clock(),
        )
        async with self.database.sessions.begin() as session:
            session.add(row)
        return row

    async def row(self, row_id: int) -> Notification:
        async with self.database.sessions() as session:
            found = await session.get(Notification, row_id)
        assert found is not None
        return found

    async def get(self, model: Any, key: Any) -> Any:
        async with self.database.sessions() as session:
            return await session.get(model, key)

    def delivered(self) -> list[str]:
        """The text or card title of every message the connector accepted, in order."""
        return [_label(item) for item in self.connector.received if item.method in ("POST", "PUT")]


def _label(item: Received) -> str:
    return item.text or (item.cards[0]["title"] if item.cards else item.path)


def _at(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns stored UTC timestamps without their zone.
    return value.replace(tzinfo=dt.UTC) if value and value.tzinfo is None else value


@pytest.fixture
async def outbox(database_url: str, connector: LocalConnector) -> AsyncIterator[Outbox]:
    time = FakeTime()
    calls = Calls(time)
    connector.fault = calls
    database = Database.connect(database_url)
    yield Outbox(database_url, database, connector, FakeClock(), time, calls)
    await database.dispose()


def activities(conversation_id: str) -> str:
    return f"/v3/conversations/{conversation_id}/activities"


async def test_a_notice_is_delivered_once_and_marked_sent(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    row = await outbox.add(f"person:{ANNE}", text="Je aanvraag is ingediend")
    notifier = outbox.notifier()

    assert await notifier.drain() == DrainReport(sent=1)

    [received] = outbox.connector.received
    assert (received.method, received.path) == ("POST", activities("a:chat-anne"))
    assert received.text == "Je aanvraag is ingediend"
    assert received.body["from"]["id"] == BOT_ID
    assert received.body["channelData"] == {"tenant": {"id": LOCAL_TENANT}}
    stored = await outbox.row(row.id)
    assert stored.status == "sent"
    assert stored.attempts == 1
    assert stored.last_status == 200 and stored.last_error is None
    assert stored.sent_activity_id == "activity-1"
    assert stored.sent_conversation_id == "a:chat-anne"
    assert _at(stored.sent_at) == outbox.clock()
    assert stored.lease_until is None
    # Nothing is sent twice, by this dispatcher or a later one.
    assert await notifier.drain() == DrainReport()
    assert await outbox.notifier().drain() == DrainReport()
    assert len(outbox.connector.received) == 1


async def test_a_stored_conversation_reference_is_used_as_it_is(outbox: Outbox) -> None:
    reference = {
        "serviceUrl": outbox.connector.url,
        "channelId": "msteams",
        "conversation": {
            "id": "19:team-channel;messageid=1",
            "tenantId": LOCAL_TENANT,
            "conversationType": "channel",
        },
        "bot": {"id": BOT_ID, "name": "Rapportagebot"},
    }
    await outbox.add("conversation:19:team-channel", conversation=reference, text="Nieuwe aanvraag")

    assert await outbox.notifier().drain() == DrainReport(sent=1)

    [received] = outbox.connector.received
    assert received.path == activities("19:team-channel;messageid=1")
    assert received.body["conversation"]["conversationType"] == "channel"


@pytest.mark.parametrize(
    "service_url",
    [
        "https://attacker.example/",  # a tampered channel link or contact
        "http://169.254.169.254/",  # cloud metadata, not loopback
        "https://smba.trafficmanager.net.attacker.example/teams/",
    ],
)
async def test_a_tampered_service_url_gets_nothing_and_the_row_fails_visibly(
    outbox: Outbox, service_url: str
) -> None:
    reference = {
        "serviceUrl": service_url,
        "channelId": "msteams",
        "conversation": {"id": "19:team-channel", "conversationType": "channel"},
        "bot": {"id": BOT_ID},
    }
    row = await outbox.add("conversation:19:team-channel", conversation=reference, text="Agenda")
    # Even with Teams' own allowlist (deployed mode) the attacker's host is refused.
    teams_only = outbox.notifier(
        service_url_allowed=lambda url: service_url_allowed(
            url, hosts=DEFAULT_SERVICE_HOSTS, local=False
        )
    )
    for notifier in (outbox.notifier(), teams_only):
        assert (await notifier.drain()).sent == 0
    assert outbox.connector.received == []
    stored = await outbox.row(row.id)
    assert stored.status == "failed" and stored.last_error == "service URL not allowed"


async def test_a_card_is_posted_then_updated_in_place_in_order(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    request_id = await outbox.request()
    first = await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="v1")
    await outbox.add(f"person:{ANNE}", text="Carla heeft geaccepteerd")
    second = await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="v2")

    assert await outbox.notifier().drain() == DrainReport(sent=3)

    post, notice, put = outbox.connector.received
    assert (post.method, post.cards[0]["title"]) == ("POST", "v1")
    assert (notice.method, notice.text) == ("POST", "Carla heeft geaccepteerd")
    card_id = (await outbox.row(first.id)).sent_activity_id
    assert card_id == "activity-1"
    assert (put.method, put.path) == ("PUT", f"{activities('a:chat-anne')}/{card_id}")
    assert put.cards[0]["title"] == "v2"
    assert put.body["id"] == card_id
    copy = await outbox.get(CardCopy, (request_id, f"person:{ANNE}"))
    assert (copy.conversation_id, copy.activity_id) == ("a:chat-anne", card_id)
    assert copy.service_url == outbox.connector.url
    assert (await outbox.row(second.id)).sent_activity_id == card_id


async def test_a_row_waiting_for_a_retry_holds_back_its_recipient_only(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    await outbox.contact(CARLA, "a:chat-carla")
    request_id = await outbox.request()
    await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="card")
    await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="update")
    await outbox.add(f"person:{CARLA}", text="for carla")
    outbox.calls.fail("POST", activities("a:chat-anne"), (502, {}, {}))

    assert await outbox.notifier().drain() == DrainReport(sent=1, retried=1)
    # The update is not sent before the card it updates; Carla is not kept waiting.
    assert outbox.delivered() == ["for carla"]

    outbox.clock.advance(seconds=1)
    assert await outbox.notifier().drain() == DrainReport(sent=2)
    assert outbox.delivered() == ["for carla", "card", "update"]
    assert outbox.connector.received[-1].method == "PUT"


async def test_a_person_without_a_chat_gets_one_opened_first(outbox: Outbox) -> None:
    # Anne wrote to the bot: her service URL is the tenant's. The global fallback is not used.
    await outbox.contact(ANNE, "a:chat-anne")
    first = await outbox.add(f"person:{CARLA}", text="Nieuwe aanvraag")
    notifier = outbox.notifier(fallback_service_url=DEAD_URL)

    assert await notifier.drain() == DrainReport(sent=1)

    create, message = outbox.connector.received
    assert (create.method, create.path) == ("POST", "/v3/conversations")
    assert create.body["members"] == [{"id": CARLA}]
    assert create.body["bot"]["id"] == BOT_ID
    assert create.body["tenantID"] == LOCAL_TENANT  # sic: the Python SDK's spelling
    assert create.body["channelData"] == {"tenant": {"id": LOCAL_TENANT}}
    assert create.body["isGroup"] is False
    assert message.path == activities(f"a:personal-{CARLA}")
    contact = await outbox.get(Contact, CARLA)
    assert contact.conversation_id == f"a:personal-{CARLA}"
    assert (contact.user_id, contact.tenant_id) == (CARLA, LOCAL_TENANT)
    assert contact.service_url == outbox.connector.url
    assert (await outbox.row(first.id)).sent_conversation_id == f"a:personal-{CARLA}"

    # The chat is known now: no second create.
    await outbox.add(f"person:{CARLA}", text="Herinnering")
    assert await notifier.drain() == DrainReport(sent=1)
    assert [r.path for r in outbox.connector.received].count("/v3/conversations") == 1


async def test_without_any_contact_the_fallback_service_url_is_used(outbox: Outbox) -> None:
    await outbox.add(f"person:{CARLA}", text="Nieuwe aanvraag")

    assert await outbox.notifier(fallback_service_url=outbox.connector.url).drain() == (
        DrainReport(sent=1)
    )
    assert [r.path for r in outbox.connector.received] == [
        "/v3/conversations",
        activities(f"a:personal-{CARLA}"),
    ]


async def test_a_failed_chat_opening_is_retried_like_a_send(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    row = await outbox.add(f"person:{CARLA}", text="Nieuwe aanvraag")
    outbox.calls.fail("POST", "/v3/conversations", (503, {}, {}))

    assert await outbox.notifier().drain() == DrainReport(retried=1)
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.last_status) == ("pending", 1, 503)
    assert (await outbox.get(Contact, CARLA)) is None

    outbox.clock.advance(seconds=1)
    assert await outbox.notifier().drain() == DrainReport(sent=1)
    assert (await outbox.row(row.id)).attempts == 2
    assert outbox.delivered() == ["/v3/conversations", "Nieuwe aanvraag"]


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("30", dt.timedelta(seconds=30)),
        ("Mon, 23 Nov 2026 09:02:00 GMT", dt.timedelta(minutes=2)),
        ("86400", dt.timedelta(hours=1)),  # capped
    ],
)
async def test_429_is_retried_after_the_time_teams_asks_for(
    outbox: Outbox, retry_after: str, wait: dt.timedelta
) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    row = await outbox.add(f"person:{ANNE}", text="hallo")
    outbox.calls.fail("POST", activities("a:chat-anne"), (429, {"Retry-After": retry_after}, {}))
    start = outbox.clock()

    assert await outbox.notifier().drain() == DrainReport(retried=1)
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.last_status) == ("pending", 1, 429)
    assert _at(stored.next_attempt_at) == start + wait
    assert stored.lease_until is None and stored.claimed_by is None

    outbox.clock.advance(seconds=wait.total_seconds() - 1)
    assert await outbox.notifier().drain() == DrainReport()
    outbox.clock.advance(seconds=1)
    assert await outbox.notifier().drain() == DrainReport(sent=1)

    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.last_status) == ("sent", 2, 200)
    assert len(outbox.calls.to(activities("a:chat-anne"))) == 2
    assert outbox.delivered() == ["hallo"]


@pytest.mark.parametrize("in_place", [False, True], ids=["post", "put"])
async def test_a_502_is_retried_with_backoff_one_request_per_attempt(
    outbox: Outbox, in_place: bool
) -> None:
    """msrest would re-send a PUT on 5xx by itself (and hide the status); here each attempt is
    exactly one request, and the waits grow as 1 s × 2ⁿ scaled by the jitter."""
    await outbox.contact(ANNE, "a:chat-anne")
    request_id = await outbox.request()
    path = activities("a:chat-anne")
    if in_place:
        async with outbox.database.sessions.begin() as session:
            session.add(
                CardCopy(
                    request_id=request_id,
                    recipient=f"person:{ANNE}",
                    service_url=outbox.connector.url,
                    conversation_id="a:chat-anne",
                    activity_id="activity-7",
                )
            )
        path += "/activity-7"
    method = "PUT" if in_place else "POST"
    row = await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="v2")
    outbox.calls.fail(method, path, (502, {}, {}), (502, {}, {}))
    notifier = outbox.notifier(rng=lambda: 0.5)
    start = outbox.clock()

    assert await notifier.drain() == DrainReport(retried=1)
    assert len(outbox.calls.to(path)) == 1
    assert _at((await outbox.row(row.id)).next_attempt_at) == start + dt.timedelta(seconds=0.5)

    outbox.clock.advance(seconds=0.5)
    assert await notifier.drain() == DrainReport(retried=1)
    assert len(outbox.calls.to(path)) == 2
    assert _at((await outbox.row(row.id)).next_attempt_at) == outbox.clock() + dt.timedelta(
        seconds=1
    )

    outbox.clock.advance(seconds=1)
    assert await notifier.drain() == DrainReport(sent=1)
    assert [call[0] for call in outbox.calls.to(path)] == [method] * 3
    assert outbox.delivered() == ["v2"]
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.last_status) == ("sent", 3, 200)


async def test_a_refusal_fails_at_once_and_visibly(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    row = await outbox.add(f"person:{ANNE}", text="geheime inhoud")
    later = await outbox.add(f"person:{ANNE}", text="daarna")
    body = {"error": {"code": "MessageSizeTooBig", "message": "geheime inhoud"}}
    outbox.calls.fail("POST", activities("a:chat-anne"), (413, {}, body))

    assert await outbox.notifier().drain() == DrainReport(sent=1, failed=1)

    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.last_status) == ("failed", 1, 413)
    assert stored.last_error == "HTTP 413 MessageSizeTooBig"
    # A failed row does not block the recipient's later rows, and is never tried again.
    assert (await outbox.row(later.id)).status == "sent"
    outbox.clock.advance(days=1)
    assert await outbox.notifier().drain() == DrainReport()
    assert len(outbox.calls.to(activities("a:chat-anne"))) == 2
    assert f"outbox row {row.id} to person:{ANNE} failed" in caplog.text
    assert "geheime inhoud" not in caplog.text


async def test_a_refused_message_is_reported_to_the_beheerders_once(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    """413 is not the recipient's fault (the chat is fine, this message is not): the row fails,
    the beheerders hear which row, and a notice to a beheerder that fails is only logged."""
    await outbox.contact(ANNE, "a:chat-anne")
    await outbox.contact(BEA, "a:chat-bea")
    await outbox.person(BEA, "Bea Beheer", role="beheerder")
    await outbox.person(ANNE, "Anne Aanvrager")
    row = await outbox.add(f"person:{ANNE}", text="geheime inhoud")
    body = {"error": {"code": "MessageSizeTooBig", "message": "geheime inhoud"}}
    outbox.calls.fail("POST", activities("a:chat-anne"), (413, {}, body))
    # Bea's chat refuses too: her notice fails, and nobody is told about that.
    outbox.calls.fail("POST", activities("a:chat-bea"), (413, {}, body))

    assert await outbox.notifier().drain() == DrainReport(failed=2)
    assert (await outbox.row(row.id)).status == "failed"
    assert len(outbox.calls.to(activities("a:chat-bea"))) == 1
    outbox.clock.advance(days=1)
    assert await outbox.notifier().drain() == DrainReport()
    assert len(outbox.calls.to(activities("a:chat-bea"))) == 1
    assert "geheime inhoud" not in caplog.text

    # When her chat works, the notice names the person, the reason and the row to retry.
    second = await outbox.add(f"person:{ANNE}", text="te groot")
    outbox.calls.fail("POST", activities("a:chat-anne"), (413, {}, body))
    assert await outbox.notifier().drain() == DrainReport(sent=1, failed=1)
    [told] = [r for r in outbox.connector.received if r.conversation_id == "a:chat-bea" and r.text]
    assert "Anne Aanvrager" in told.text and "MessageSizeTooBig" in told.text
    assert f"outbox retry {second.id}" in told.text


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (403, "BotNotInConversationRoster"),
        (403, "ConversationBlockedByUser"),
        (403, "BotDisabledByAdmin"),
        (404, "ConversationNotFound"),
    ],
)
async def test_an_unreachable_recipient_is_parked_a_beheerder_told_and_resumed_later(
    outbox: Outbox, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    await outbox.contact(BEA, "a:chat-bea")
    await outbox.person(BEA, "Bea Beheer", role="beheerder")
    await outbox.person(ANNE, "Anne Aanvrager")
    first = await outbox.add(f"person:{ANNE}", text="eerste")
    second = await outbox.add(f"person:{ANNE}", text="tweede")
    body = {"error": {"code": code, "message": "geheime inhoud"}}
    outbox.calls.fail("POST", activities("a:chat-anne"), (status, {}, body))

    report = await outbox.notifier().drain()
    assert report == DrainReport(sent=1, parked=1)  # the 'sent' one is Bea's notice
    # One attempt, no retry storm; both rows are kept, in order, for later.
    assert len(outbox.calls.to(activities("a:chat-anne"))) == 1
    for row in (first, second):
        assert (await outbox.row(row.id)).status == "pending"
    assert (await outbox.row(first.id)).last_error == f"HTTP {status} {code}"
    [told] = [r for r in outbox.connector.received if r.conversation_id == "a:chat-bea"]
    assert "Anne Aanvrager" in told.text and code in told.text
    assert "geheime inhoud" not in caplog.text
    # Later rounds (any replica) leave the parked rows alone and tell the beheerder only once.
    outbox.clock.advance(hours=1)
    await outbox.add(f"person:{ANNE}", text="derde")
    assert await outbox.notifier().drain() == DrainReport()
    assert len(outbox.calls.to(activities("a:chat-anne"))) == 1

    # Anne installs the app again: everything goes out, in order.
    assert await reactivate(outbox.database, recipients=[f"person:{ANNE}"]) == 1
    assert await outbox.notifier().drain() == DrainReport(sent=3)
    assert [r.text for r in outbox.connector.received if r.conversation_id == "a:chat-anne"] == [
        "eerste",
        "tweede",
        "derde",
    ]


async def test_after_max_attempts_the_row_fails(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    row = await outbox.add(f"person:{ANNE}", text="hallo")
    outbox.calls.fail("POST", activities("a:chat-anne"), *[(503, {}, {})] * 10)
    notifier = outbox.notifier(max_attempts=3)

    reports = []
    for _ in range(5):
        reports.append(await notifier.drain())
        outbox.clock.advance(minutes=10)

    assert reports[:3] == [DrainReport(retried=1), DrainReport(retried=1), DrainReport(failed=1)]
    assert reports[3:] == [DrainReport(), DrainReport()]
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.last_status) == ("failed", 3, 503)
    assert len(outbox.calls.to(activities("a:chat-anne"))) == 3


async def test_connection_refused_is_retried(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne", service_url=DEAD_URL)
    row = await outbox.add(f"person:{ANNE}", text="hallo")

    assert await outbox.notifier().drain() == DrainReport(retried=1)
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.last_status) == ("pending", 1, None)
    assert stored.last_error is not None and stored.last_error.startswith("connection failed")

    async with outbox.database.sessions.begin() as session:
        await session.execute(
            update(Contact)
            .where(Contact.aad_object_id == ANNE)
            .values(service_url=outbox.connector.url)
        )
    outbox.clock.advance(seconds=1)
    assert await outbox.notifier().drain() == DrainReport(sent=1)
    assert outbox.delivered() == ["hallo"]


async def test_a_post_whose_answer_is_lost_is_unconfirmed_not_resent(outbox: Outbox) -> None:
    """The request reached the server, the connection broke before the answer: Teams may have
    shown the message, so it is not sent again."""
    requests: list[bytes] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await outbox.contact(ANNE, "a:chat-anne", service_url=f"http://127.0.0.1:{port}/")
        row = await outbox.add(f"person:{ANNE}", text="hallo")

        assert await outbox.notifier().drain() == DrainReport(unconfirmed=1)
        outbox.clock.advance(hours=1)
        assert await outbox.notifier().drain() == DrainReport()
    finally:
        server.close()
        await server.wait_closed()
    assert len(requests) == 1
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts) == ("unconfirmed", 1)


async def test_rows_that_can_never_be_delivered_fail_without_a_request(outbox: Outbox) -> None:
    unknown = await outbox.add("pigeon:ANNE", text="hallo")
    no_reference = await outbox.add("conversation:19:somewhere", text="hallo")
    bad_kind = await outbox.add(f"person:{ANNE}", kind="telegram", text="hallo")

    assert await outbox.notifier().drain() == DrainReport(failed=3)
    for row in (unknown, no_reference, bad_kind):
        assert (await outbox.row(row.id)).status == "failed"
    assert outbox.calls.seen == []


async def test_a_crash_after_a_post_leaves_the_row_unconfirmed_and_never_resends(
    outbox: Outbox,
) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    row = await outbox.add(f"person:{ANNE}", text="eenmalig")
    later = await outbox.add(f"person:{ANNE}", text="daarna")

    async def die(delivery: Delivery) -> None:
        raise Killed(delivery.key)

    with pytest.raises(Killed):
        await outbox.notifier(after_send=die).drain()
    assert outbox.delivered() == ["eenmalig"]
    assert (await outbox.row(row.id)).status == "sending"

    # A restarted process, while the dead worker's lease still runs: nothing moves, and the
    # later row waits behind the one in doubt.
    assert await outbox.notifier().drain() == DrainReport()
    outbox.clock.advance(seconds=61)
    assert await outbox.notifier().drain() == DrainReport(sent=1, unconfirmed=1)

    assert outbox.delivered() == ["eenmalig", "daarna"]
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts) == ("unconfirmed", 1)
    assert stored.last_error is not None and "not resent" in stored.last_error
    assert (await outbox.row(later.id)).status == "sent"
    assert await outbox.notifier().drain() == DrainReport()


async def test_a_crash_during_a_card_update_resends_the_update(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    request_id = await outbox.request()
    card = await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="v1")
    assert await outbox.notifier().drain() == DrainReport(sent=1)
    card_id = (await outbox.row(card.id)).sent_activity_id
    row = await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="v2")

    async def die(delivery: Delivery) -> None:
        assert delivery.in_place
        raise Killed(delivery.key)

    with pytest.raises(Killed):
        await outbox.notifier(after_send=die).drain()
    outbox.clock.advance(seconds=61)
    assert await outbox.notifier().drain() == DrainReport(sent=1)

    post, put, again = outbox.connector.received
    assert post.method == "POST"
    assert (put.method, put.activity_id, again.method, again.activity_id) == (
        "PUT",
        card_id,
        "PUT",
        card_id,
    )
    stored = await outbox.row(row.id)
    assert (stored.status, stored.attempts, stored.sent_activity_id) == ("sent", 2, card_id)


async def test_two_dispatchers_deliver_every_row_exactly_once_in_order(
    outbox: Outbox, database_url: str
) -> None:
    people = [f"00000000-0000-0000-0000-{n:012d}" for n in range(10)]
    for aad in people:
        await outbox.contact(aad, f"a:chat-{aad}")
    rows = [await outbox.add(f"person:{aad}") for _ in range(10) for aad in people]
    replicas = [Database.connect(database_url) for _ in range(2)]
    try:
        notifiers = [
            Notifier(
                replica,
                create_authentication(local_settings(database_url)),
                bot_id=BOT_ID,
                tenant_id=LOCAL_TENANT,
                clock=outbox.clock,
                sleep=outbox.time.sleep,
                monotonic=outbox.time.monotonic,
                service_url_allowed=LOOPBACK_ONLY,
                worker_id=f"replica-{n}",
                per_conversation_per_second=1000,
                per_tenant_per_second=1000,
                batch_size=7,
            )
            for n, replica in enumerate(replicas)
        ]
        reports = await asyncio.gather(*(notifier.drain() for notifier in notifiers))
    finally:
        for replica in replicas:
            await replica.dispose()

    assert sum(report.sent for report in reports) == 100
    assert all(report.sent for report in reports)  # both really took part
    assert sorted(outbox.delivered()) == sorted(row.key for row in rows)
    for aad in people:
        sent = [item.text for item in outbox.connector.sent_to(f"a:chat-{aad}")]
        assert sent == [row.key for row in rows if row.recipient == f"person:{aad}"]
    for row in rows:
        assert (await outbox.row(row.id)).status == "sent"


def busiest_second(times: list[float]) -> int:
    # Half-open windows [t, t + 1), as bench/fanout.py counts them at the connector.
    return max(sum(1 for other in times if t <= other < t + 1 - 1e-9) for t in times)


def per_second(times: list[float]) -> dict[float, int]:
    """Arrivals per instant: with no latency the window lets each second's share go at once."""
    return dict(sorted(Counter(round(at, 6) for at in times).items()))


def slow_sending_writes(outbox: Outbox, seconds: Callable[[int], float]) -> None:
    """The n-th database write marking a row `sending` (n from 0) takes `seconds(n)`: fake time
    jumps by that much while it runs, as a database under load makes it. Recognised by its SQL
    (`Notifier._mark_sending` counts the attempt in the statement itself)."""
    writes = itertools.count()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE outbox SET") and "attempts=(outbox.attempts +" in statement:
            outbox.time.now += seconds(next(writes))

    event.listen(outbox.database.engine.sync_engine, "before_cursor_execute", before)


async def test_one_conversation_gets_at_most_seven_messages_a_second(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    for _ in range(20):
        await outbox.add(f"person:{ANNE}")

    assert await outbox.notifier().drain() == DrainReport(sent=20)

    # Answers take no (fake) time: seven go, the eighth waits until the first is a second old.
    times = [at for _, _, at in outbox.calls.to(activities("a:chat-anne"))]
    assert per_second(times) == {0.0: 7, 1.0: 7, 2.0: 6}


@pytest.mark.parametrize(
    ("write", "answer"),
    [
        (lambda n: 0.9 if n == 0 else 0.0, lambda n: 0.0),
        (lambda n: 0.0, lambda n: 0.9 if n % 8 == 0 else 0.0),
        (lambda n: (n % 5) * 0.13, lambda n: (n % 3) * 0.21),
    ],
    ids=["slow-first-write", "slow-answers", "both-uneven"],
)
async def test_a_slow_send_path_never_bunches_a_conversations_requests(
    outbox: Outbox, write: Callable[[int], float], answer: Callable[[int], float]
) -> None:
    """What Teams counts is arrivals. With time slots handed out before the write that marks a
    row `sending` (the pacer this replaced), a first write of 0.9 s sent its request late, in
    the same second as the next seven: eight at Teams."""
    await outbox.contact(ANNE, "a:chat-anne")
    for _ in range(30):
        await outbox.add(f"person:{ANNE}")
    slow_sending_writes(outbox, write)
    answers = itertools.count()
    outbox.calls.answer_after = lambda _method, _path: answer(next(answers))

    assert await outbox.notifier().drain() == DrainReport(sent=30)

    times = [at for _, _, at in outbox.calls.to(activities("a:chat-anne"))]
    assert len(times) == 30
    assert busiest_second(times) <= 7


async def test_one_tenant_gets_at_most_fifty_messages_a_second(outbox: Outbox) -> None:
    people = [f"00000000-0000-0000-0000-{n:012d}" for n in range(120)]
    for aad in people:
        await outbox.contact(aad, f"a:chat-{aad}")
        await outbox.add(f"person:{aad}")

    assert await outbox.notifier().drain() == DrainReport(sent=120)

    # Nothing is slow: the limit is used in full, fifty requests each second.
    assert per_second([at for _, _, at in outbox.calls.seen]) == {0.0: 50, 1.0: 50, 2.0: 20}


async def test_a_slow_send_path_never_bunches_a_tenants_requests(outbox: Outbox) -> None:
    """Every request counts against the tenant: new messages, chat openings and in-place card
    updates. Two writes marking a row `sending` and one answer take 0.9 s; Teams still never
    sees more than fifty requests in a second. (With time slots handed out before the write,
    the requests held up arrived together with later ones: 53 to 57 in a second here.)"""
    request_id = await outbox.request()
    people = [f"00000000-0000-0000-0000-{n:012d}" for n in range(150)]
    for n, aad in enumerate(people):
        if n % 3 == 0:
            # Never wrote to the bot: its chat is opened first (a request of its own).
            await outbox.add(f"person:{aad}")
            continue
        await outbox.contact(aad, f"a:chat-{aad}")
        if n % 3 == 1:
            await outbox.add(f"person:{aad}")
            continue
        async with outbox.database.sessions.begin() as session:
            session.add(
                CardCopy(
                    request_id=request_id,
                    recipient=f"person:{aad}",
                    service_url=outbox.connector.url,
                    conversation_id=f"a:chat-{aad}",
                    activity_id=f"activity-{aad}",
                )
            )
        await outbox.add(f"person:{aad}", kind="card", request_id=request_id)
    slow_sending_writes(outbox, lambda n: 0.9 if n in (30, 110) else 0.0)
    answers = itertools.count()
    outbox.calls.answer_after = lambda _method, _path: 0.9 if next(answers) == 80 else 0.0

    # As on a larger machine: sixteen calls in flight at once.
    assert await outbox.notifier(max_concurrent_calls=16).drain() == DrainReport(sent=150)

    methods = Counter(
        "create" if path == "/v3/conversations" else method for method, path, _ in outbox.calls.seen
    )
    assert methods == {"create": 50, "POST": 100, "PUT": 50}
    assert busiest_second([at for _, _, at in outbox.calls.seen]) <= 50


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(st.tuples(st.floats(0, 1.5), st.floats(0, 1.5)), min_size=1, max_size=40),
    senders=st.integers(1, 8),
    limit=st.integers(1, 6),
)
def test_the_send_window_bounds_every_second_whatever_the_latency(
    requests: list[tuple[float, float]], senders: int, limit: int
) -> None:
    """The window on its own: concurrent senders, each request slow before it reaches Teams
    (`before`) and slow to be answered (`after`); no one-second window of arrivals holds more
    than `limit`."""

    async def simulate() -> list[float]:
        time = FakeTime()
        window = SendWindow(time.monotonic, time.sleep)
        queue = list(requests)
        arrivals: list[float] = []

        async def sender() -> None:
            while queue:
                before, after = queue.pop(0)
                async with window.hold([("tenant", limit)]):
                    await time.sleep(before)
                    arrivals.append(time.now)
                    await time.sleep(after)

        await asyncio.gather(*(sender() for _ in range(senders)))
        return arrivals

    arrivals = asyncio.run(simulate())
    assert len(arrivals) == len(requests)
    assert busiest_second(arrivals) <= limit


async def test_the_rates_are_settings_for_several_replicas(database_url: str) -> None:
    """Pacing is per process: with two replicas an operator halves OUTBOX_TENANT_RATE and
    OUTBOX_CONVERSATION_RATE. More than Teams allows is refused at start."""
    components = build_components(
        local_settings(database_url, outbox_tenant_rate=25, outbox_conversation_rate=3)
    )
    try:
        notifier = components.notifier
        assert (notifier.per_tenant_per_second, notifier.per_conversation_per_second) == (25, 3)
    finally:
        await components.database.dispose()
    with pytest.raises(ValidationError, match="outbox_tenant_rate"):
        local_settings(database_url, outbox_tenant_rate=51)
    with pytest.raises(ValidationError, match="outbox_conversation_rate"):
        local_settings(database_url, outbox_conversation_rate=0)


async def test_the_background_loop_sends_after_a_wake_and_stops_cleanly(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    notifier = outbox.notifier(poll_interval=60)
    await notifier.start()
    try:
        row = await outbox.add(f"person:{ANNE}", text="hallo")
        notifier.wake()
        await outbox.connector.wait_for(1)
    finally:
        await notifier.stop()
    # Stopping let the round finish: the result is recorded, nothing is left in doubt.
    assert outbox.delivered() == ["hallo"]
    assert (await outbox.row(row.id)).status == "sent"


async def test_an_operator_can_requeue_an_unconfirmed_row(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    row = await outbox.add(f"person:{ANNE}", text="hallo")
    outbox.calls.fail("POST", activities("a:chat-anne"), (413, {}, {}))
    await outbox.notifier().drain()
    assert (await outbox.row(row.id)).status == "failed"

    assert await retry_delivery(outbox.database, row.id, now=outbox.clock()) == "retried"
    assert await retry_delivery(outbox.database, row.id, now=outbox.clock()) == "not_retryable"
    assert await outbox.notifier().drain() == DrainReport(sent=1)
    assert outbox.delivered() == ["hallo"]


async def test_an_old_card_is_not_requeued_over_a_newer_one(outbox: Outbox) -> None:
    await outbox.contact(ANNE, "a:chat-anne")
    request_id = await outbox.request()
    old = await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="v1")
    await outbox.add(f"person:{ANNE}", kind="card", request_id=request_id, text="v2")
    outbox.calls.fail("POST", activities("a:chat-anne"), (413, {}, {}))
    assert await outbox.notifier().drain() == DrainReport(sent=1, failed=1)

    assert await retry_delivery(outbox.database, old.id, now=outbox.clock()) == "superseded"
    assert await retry_delivery(outbox.database, 999_999, now=outbox.clock()) == "not_found"


def test_a_lease_shorter_than_a_request_is_refused() -> None:
    with pytest.raises(ValueError, match="lease"):
        Notifier(
            None,  # type: ignore[arg-type]
            None,
            bot_id=BOT_ID,
            tenant_id=LOCAL_TENANT,
            lease=dt.timedelta(seconds=10),
            request_timeout=30,
        )
