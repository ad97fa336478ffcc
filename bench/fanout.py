"""Fan-out: 1,000 outbox notifications drained by the real dispatcher against a throttling Teams.

The load is what a busy morning of state changes writes: every change of a request puts a notice
in the personal chat of its aanvrager, its gemeentelijk aanspreekpunt and the coördinatoren of
its basisteam, and some also post in the team's sturingsoverleg channel (rows identical to those
`bot.lifecycle` and `bot.reminders` write: same keys, kinds, activities, conversation
references). 1,000 rows reach about 160 personal chats and 10 team channels in one tenant;
coördinatoren get the most (up to 40 each), so the per-conversation limit matters as much as the
tenant's. Some people never wrote to the bot, so their personal chat is opened first (a
`create_conversation` call, which counts against the tenant too).

The connector is `bot.local_channel.LocalConnector` (a real HTTP server on loopback, reached
through the SDK's connector client) with a fault hook: per request path a seeded random stream
answers 10 % with 429 and `Retry-After: 1` and 1 % with 502. Messages to one conversation go one
at a time, so the n-th request to a conversation always gets the same answer, whatever the
interleaving: the faults are the same in every run.

Measured at the connector: every request's arrival (faulted or not), from which the busiest
sliding one-second window per conversation and for the tenant; each message identified by its
conversation and text (unique per conversation by construction) against the outbox key that
should produce it: lost (never accepted) and duplicated (accepted more than once). The outbox
rows say how many attempts the dispatcher recorded, which must equal the faults injected.

The dispatcher is built as `bot.app` builds it (its defaults: batches of 50, a poll every
second) and runs its background loop; the drain time runs from its start to the last message
Teams accepted. At 50 requests per second 1,000 messages take at least 20 s.

`run()` uses a fresh SQLite file, the embedded single-process set-up; `fanout(url)` runs on any
migrated, empty database (tests/e2e/test_fanout_replicas.py reuses the load and the accounting
with two bot processes on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import hashlib
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.adapter import create_authentication
from bot.config import Settings
from bot.guards import service_url_allowed
from bot.local_channel import BOT_ID, LOCAL_TENANT, Fault, LocalConnector
from bot.notifier import Notifier
from bot.workflow import Action, RequestStatus
from cards.render import text
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Contact, Notification

SEED = 20261124
MESSAGES = 1000
TEAMS = 10
COORDINATORS_PER_TEAM = 2
GEMEENTEN = 24
REQUESTERS = 220
REQUESTS = 400
# Share of state changes that also post in the team channel (escalations, agenda news).
CHANNEL_SHARE = 0.3
# People who never wrote to the bot: the dispatcher opens their personal chat first.
WITHOUT_CHAT = 0.15
THROTTLED = 0.10
BAD_GATEWAY = 0.01
RETRY_AFTER = "1"
# Teams' limits for a bot (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/
# rate-limit): 7 requests per second per conversation ("thread"), 50 per second per app per
# tenant, whatever the number of processes sending.
PER_CONVERSATION_LIMIT = 7
PER_TENANT_LIMIT = 50
DRAIN_TIMEOUT = 100.0

_ACTIVITIES = re.compile(r"^/v3/conversations/([^/]+)/activities(?:/[^/]+)?$")
_CHANGES = (
    (RequestStatus.GEACCEPTEERD, Action.ACCEPT),
    (RequestStatus.AANVULLING_GEVRAAGD, Action.REQUEST_INFO),
    (RequestStatus.INGEDIEND, Action.SUPPLEMENT),
    (RequestStatus.IN_OPSTELLING, Action.START_DRAFTING),
    (RequestStatus.KWALITEITSCONTROLE, Action.SUBMIT_FOR_CHECK),
    (RequestStatus.IN_OPSTELLING, Action.CHECK_REJECTED),
    (RequestStatus.OM_TOETSING, Action.TO_OM),
    (RequestStatus.VERSTREKT, Action.DELIVER),
    (RequestStatus.AFGEROND, Action.COMPLETE),
)
_BEVOEGDHEDEN = (
    "Sluiting drugspand (art. 13b Opiumwet)",
    "Weigeren of intrekken van een vergunning (Wet Bibob)",
    "Gebiedsverbod (art. 172a Gemeentewet)",
    "Sluiting openbaar lokaal (art. 174 Gemeentewet)",
)


# -- the load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One outbox row and how the connector will recognise it."""

    key: str
    recipient: str
    conversation_id: str
    text: str


@dataclass
class Load:
    rows: list[Notification]
    contacts: list[Contact]
    messages: list[Message]

    @property
    def conversations(self) -> set[str]:
        return {message.conversation_id for message in self.messages}

    @property
    def chats_to_open(self) -> int:
        known = {contact.aad_object_id for contact in self.contacts}
        return len(
            {
                message.recipient
                for message in self.messages
                if message.recipient.startswith("person:")
                and message.recipient.removeprefix("person:") not in known
            }
        )


def _aad(kind: str, number: int) -> str:
    digest = hashlib.sha256(f"{kind}:{number}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def personal_chat(aad_object_id: str) -> str:
    """The personal chat id the local connector hands out when the bot opens one."""
    return f"a:personal-{aad_object_id}"


def team_channel(team: int) -> str:
    return f"19:fanout-team-{team:02d}@thread.tacv2"


def channel_reference(team: int, service_url: str) -> dict[str, Any]:
    """What `dialogs.beheer` stores for a linked sturingsoverleg channel."""
    return {
        "serviceUrl": service_url,
        "channelId": "msteams",
        "conversation": {
            "id": team_channel(team),
            "conversationType": "channel",
            "tenantId": LOCAL_TENANT,
        },
        "bot": {"id": BOT_ID},
    }


def _notice(body: str) -> dict[str, Any]:
    # bot.lifecycle._message
    return {"type": "message", "text": body, "textFormat": "markdown"}


def build_load(
    service_url: str, now: dt.datetime, *, messages: int = MESSAGES, seed: int = SEED
) -> Load:
    """State changes of random requests until `messages` rows are written, in the order (and so
    with the ids) the app would have committed them."""
    rng = random.Random(seed)  # noqa: S311 - reproducible load, not security
    coordinators = {
        team: [_aad("coordinator", team * 10 + n) for n in range(COORDINATORS_PER_TEAM)]
        for team in range(TEAMS)
    }
    aanspreekpunten = {gemeente: _aad("aanspreekpunt", gemeente) for gemeente in range(GEMEENTEN)}
    requesters = [_aad("aanvrager", n) for n in range(REQUESTERS)]
    people = sorted(
        {*requesters, *aanspreekpunten.values(), *(a for c in coordinators.values() for a in c)}
    )
    contacts = [
        Contact(
            aad_object_id=aad,
            user_id=aad,
            tenant_id=LOCAL_TENANT,
            service_url=service_url,
            conversation_id=personal_chat(aad),
            updated_at=now,
        )
        for aad in people
        if rng.random() >= WITHOUT_CHAT
    ]
    requests = [
        (
            f"BR-2026-{number:04d}",
            rng.choice(requesters),
            gemeente := rng.randrange(GEMEENTEN),
            gemeente % TEAMS,
            rng.choice(_BEVOEGDHEDEN),
        )
        for number in range(1, REQUESTS + 1)
    ]
    versions: Counter[str] = Counter()
    rows: list[Notification] = []
    expected: list[Message] = []

    def add(key: str, recipient: str, conversation_id: str, body: str, **extra: Any) -> None:
        rows.append(
            Notification(
                key=key,
                kind="notice",
                request_id=None,
                recipient=recipient,
                activity=_notice(body),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                **extra,
            )
        )
        expected.append(Message(key, recipient, conversation_id, body))

    while len(rows) < messages:
        reference, requester, gemeente, team, bevoegdheid = rng.choice(requests)
        versions[reference] += 1
        version = versions[reference] + 1
        status, action = _CHANGES[(version - 2) % len(_CHANGES)]
        actor = f"Coördinator {team:02d}-{rng.randrange(COORDINATORS_PER_TEAM)}"
        body = text(
            "notice_change",
            reference=reference,
            bevoegdheid=bevoegdheid,
            gemeente=f"Gemeente {gemeente:02d}",
            status=text(f"status_{status.value}"),
            action=text(f"done_{action.value}"),
            actor=actor,
            reason=f"ronde {version}",
        )
        parties = dict.fromkeys([requester, aanspreekpunten[gemeente], *coordinators[team]])
        for aad in parties:
            # bot.lifecycle._row
            add(
                f"{reference}:v{version}:notice:{aad}",
                f"person:{aad}",
                personal_chat(aad),
                body,
                recipient_aad_id=aad,
            )
        if rng.random() < CHANNEL_SHARE:
            channel = team_channel(team)
            line = text("escalation_intro", basisteam=f"Basisteam {team:02d}", overdue=version)
            # bot.reminders: an escalation in the team's channel
            add(
                f"escalation:team-{team:02d}:{reference}v{version}:{channel}",
                f"conversation:{channel}",
                channel,
                f"{line}\n{body}",
                recipient_aad_id=None,
                conversation=channel_reference(team, service_url),
            )
    del rows[messages:], expected[messages:]
    pairs = Counter((m.conversation_id, m.text) for m in expected)
    assert max(pairs.values()) == 1, "a message must be recognisable in its conversation"
    return Load(rows=rows, contacts=contacts, messages=expected)


async def store_load(database: Database, load: Load) -> None:
    """Commit the contacts, then the rows in app order (row ids give the per-recipient order)."""
    async with database.sessions.begin() as session:
        session.add_all(load.contacts)
    async with database.sessions.begin() as session:
        session.add_all(load.rows)


# -- the throttling connector -----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    at: float  # time.monotonic() on arrival
    method: str
    path: str
    status: int

    @property
    def conversation_id(self) -> str | None:
        match = _ACTIVITIES.match(self.path)
        return match.group(1) if match else None


@dataclass
class FaultInjector:
    """`LocalConnector.fault`: answers a seeded share of requests with 429 (with Retry-After) or
    502, from one random stream per (method, path), and records every request's arrival."""

    seed: int = SEED
    throttled: float = THROTTLED
    bad_gateway: float = BAD_GATEWAY
    retry_after: str = RETRY_AFTER
    calls: list[Call] = field(default_factory=list)
    _streams: dict[str, random.Random] = field(default_factory=dict)

    def __call__(self, method: str, path: str) -> Fault | None:
        at = time.monotonic()
        stream = self._streams.get(f"{method} {path}")
        if stream is None:
            stream = random.Random(f"{self.seed}:{method}:{path}")  # noqa: S311 - test faults
            self._streams[f"{method} {path}"] = stream
        draw = stream.random()
        if draw < self.throttled:
            status = 429
            fault: Fault | None = (
                429,
                {"Retry-After": self.retry_after},
                {"error": {"code": "TooManyRequests", "message": "throttled"}},
            )
        elif draw < self.throttled + self.bad_gateway:
            status = 502
            fault = (502, {}, {"error": {"code": "BadGateway", "message": "bad gateway"}})
        else:
            status, fault = 200, None
        self.calls.append(Call(at, method, path, status))
        return fault

    def count(self, status: int) -> int:
        return sum(1 for call in self.calls if call.status == status)


def busiest_window(times: Sequence[float], seconds: float = 1.0) -> int:
    """The most arrivals in any half-open window [t, t + seconds)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + seconds) - i for i, t in enumerate(ordered)), default=0
    )


def busiest_per_conversation(calls: Sequence[Call]) -> tuple[int, str | None]:
    by_conversation: dict[str, list[float]] = {}
    for call in calls:
        if call.conversation_id is not None:
            by_conversation.setdefault(call.conversation_id, []).append(call.at)
    worst = max(by_conversation.items(), key=lambda item: busiest_window(item[1]), default=None)
    return (busiest_window(worst[1]), worst[0]) if worst else (0, None)


@dataclass(frozen=True)
class Tally:
    """What the connector saw, against what the outbox should produce."""

    expected: int
    delivered: int
    lost: int
    duplicated: int
    unexpected: int
    requests: int
    throttled: int
    bad_gateway: int
    busiest_conversation_second: int
    busiest_conversation: str | None
    busiest_tenant_second: int
    first_request_at: float | None
    last_delivery_at: float | None

    def pacing_respected(
        self, per_conversation: int = PER_CONVERSATION_LIMIT, per_tenant: int = PER_TENANT_LIMIT
    ) -> bool:
        return (
            self.busiest_conversation_second <= per_conversation
            and self.busiest_tenant_second <= per_tenant
        )


def tally(load: Load, connector: LocalConnector, injector: FaultInjector) -> Tally:
    wanted = {(m.conversation_id, m.text) for m in load.messages}
    accepted = Counter(
        (item.conversation_id, item.text)
        for item in connector.received
        if item.method == "POST" and _ACTIVITIES.match(item.path)
    )
    calls = injector.calls
    busiest, where = busiest_per_conversation(calls)
    # One tenant: every request counts against it, chat creations included.
    delivered = [call.at for call in calls if call.status == 200 and call.conversation_id]
    return Tally(
        expected=len(wanted),
        delivered=sum(1 for pair in accepted if pair in wanted),
        lost=sum(1 for pair in wanted if accepted[pair] == 0),
        duplicated=sum(1 for pair in wanted if accepted[pair] > 1),
        unexpected=sum(count for pair, count in accepted.items() if pair not in wanted),
        requests=len(calls),
        throttled=injector.count(429),
        bad_gateway=injector.count(502),
        busiest_conversation_second=busiest,
        busiest_conversation=where,
        busiest_tenant_second=busiest_window([call.at for call in calls]),
        first_request_at=min((call.at for call in calls), default=None),
        last_delivery_at=max(delivered, default=None),
    )


@dataclass(frozen=True)
class OutboxState:
    statuses: dict[str, int]
    attempts: int
    rows: int

    @property
    def retries(self) -> int:
        """Attempts beyond the first, as the dispatcher recorded them."""
        return self.attempts - self.rows


async def outbox_state(database: Database) -> OutboxState:
    async with database.sessions() as session:
        statuses = dict(
            (
                await session.execute(
                    select(Notification.status, func.count()).group_by(Notification.status)
                )
            ).all()
        )
        attempts = await session.scalar(select(func.coalesce(func.sum(Notification.attempts), 0)))
    return OutboxState(
        statuses={str(k): int(v) for k, v in statuses.items()},
        attempts=int(attempts or 0),
        rows=sum(int(v) for v in statuses.values()),
    )


async def wait_until_settled(database: Database, timeout: float) -> bool:
    """True once no row is pending or sending; False when `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await outbox_state(database)
        if state.statuses.get("pending", 0) + state.statuses.get("sending", 0) == 0:
            return True
        await asyncio.sleep(0.2)
    return False


# -- the benchmark ----------------------------------------------------------------------------


def _loopback(url: str) -> bool:
    return service_url_allowed(url, hosts=(), local=True)


async def fanout(database_url: str, *, messages: int = MESSAGES) -> dict[str, Any]:
    """Drain `messages` notifications with one dispatcher, configured as `bot.app` does."""
    injector = FaultInjector()
    connector = await LocalConnector(fault=injector).start()
    database = Database.connect(database_url)
    settings = Settings(_env_file=None, database_url=database_url, microsoft_app_id="")  # type: ignore[call-arg]
    notifier = Notifier(
        database,
        create_authentication(settings),
        bot_id=BOT_ID,
        tenant_id=LOCAL_TENANT,
        fallback_service_url=connector.url,
        rng=random.Random(SEED).random,  # noqa: S311 - reproducible backoff jitter
        service_url_allowed=_loopback,
    )
    try:
        load = build_load(connector.url, dt.datetime.now(dt.UTC), messages=messages)
        await store_load(database, load)
        started = time.monotonic()
        # The background loop the app runs: drain, then wait for a wake-up or the next poll.
        await notifier.start()
        try:
            settled = await wait_until_settled(database, DRAIN_TIMEOUT)
        finally:
            await notifier.stop()
        state = await outbox_state(database)
    finally:
        await connector.stop()
        await database.dispose()
    result = tally(load, connector, injector)
    drain = (result.last_delivery_at or time.monotonic()) - started
    pacing = result.pacing_respected()
    return {
        "messages": len(load.messages),
        "recipients": len(load.conversations),
        "chats_opened": load.chats_to_open,
        "drained": settled,
        "drain_s": round(drain, 2),
        "throughput_msgs_per_s": round(result.delivered / drain, 1) if drain > 0 else 0.0,
        "floor_s_at_tenant_limit": round(len(load.messages) / PER_TENANT_LIMIT, 1),
        "delivered": result.delivered,
        "lost": result.lost,
        "duplicated": result.duplicated,
        "unexpected": result.unexpected,
        "requests": result.requests,
        "injected_429": result.throttled,
        "injected_502": result.bad_gateway,
        # Attempts beyond the first, as the outbox recorded them: every fault retried.
        "retried": state.retries,
        # Requests the outbox has no attempt for (a successful chat creation is none): 0.
        "requests_unaccounted": result.requests - state.attempts - load.chats_to_open,
        "outbox": state.statuses,
        "max_per_conversation_1s": result.busiest_conversation_second,
        "max_per_tenant_1s": result.busiest_tenant_second,
        "limit_per_conversation_1s": PER_CONVERSATION_LIMIT,
        "limit_per_tenant_1s": PER_TENANT_LIMIT,
        "met": settled and result.lost == 0 and result.duplicated == 0 and pacing,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'fanout.sqlite3'}"
        upgrade(url)
        return asyncio.run(fanout(url))
