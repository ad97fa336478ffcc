"""The outbox dispatcher: delivers the `outbox` rows that use cases commit with their changes.

A use case never talks to Teams. It writes `Notification` rows in the transaction of the state
change; this module sends them after commit, through the Bot Framework SDK's own connector client
(so obtaining and refreshing JWTs stays the SDK's job), and keeps the delivery record on the row.

Public API
----------
- `Notifier(database, authentication, *, bot_id, tenant_id, fallback_service_url=...,
  clock=..., sleep=asyncio.sleep, monotonic=time.monotonic, rng=random.random, worker_id=None,
  lease=timedelta(seconds=60), max_attempts=8, per_conversation_per_second=7,
  per_tenant_per_second=50, batch_size=50, poll_interval=1.0, request_timeout=30.0,
  after_send=None, service_url_allowed=<Teams' hosts over https>, max_concurrent_calls=None)`:
  a row whose service URL is not allowed fails at once and is logged (bot.guards).
- `await notifier.drain() -> DrainReport`: recover, then send everything due now (retries that
  became due included) until nothing is due; counts sent / failed / retried / unconfirmed.
- `await notifier.recover() -> int`: settle rows left in `sending` by a dead worker.
- `notifier.wake()`: nudge the background loop (after a commit that wrote outbox rows).
- `await notifier.start()` / `await notifier.stop()`: the background loop (drain, then wait for
  `wake()` or `poll_interval`); stop lets the current round finish, then closes the clients.
- `await delivery_status(database, *, request_id=None, status=None) -> list[DeliveryLine]` and
  `await retry_delivery(database, row_id, *, now) -> RetryOutcome` for the `outbox` CLI.
- `SendWindow(monotonic, sleep)`, `async with window.hold([(key, per_second), ...])`: the
  pacing every connector call of the dispatcher goes through (see the class).

Row kinds: "notice" posts a new message; "card" puts a request card in someone's chat, in place
when `card_copies` knows where it is; "update" replaces, in place, the message an earlier row
(`replaces_key`) posted, such as the sturingsoverleg agenda in a team channel, where Teams'
card refresh does not work.

Rows hold cards as rendered for Teams. Each is adapted to the channel of the conversation it goes
to just before sending (`cards.render.for_channel`): the stored conversation reference says it
for a conversation, the contact (`storage.contacts.channel_of`) for a person. Only Teams can
replace a message in place; Web Chat, Direct Line and the Emulator answer an update with "This
channel does not support this operation", so there a "card" or "update" row posts the card anew.

Row life cycle (`Notification.status`)
--------------------------------------
`pending` → (claimed: lease + worker id) → `sending` (committed just before the HTTP call,
attempts + 1) → `sent` | `pending` again with `next_attempt_at` (retry) | `failed` |
`unconfirmed`. Rows of one recipient go strictly in id order: a row is only claimed while no
earlier row of its recipient is `pending` or `sending`, so a card update never overtakes the card.

Why `unconfirmed` exists: creating an activity (POST) is not idempotent in the Bot Framework and
accepts no idempotency key. When a worker dies between starting a POST and recording its result,
nobody knows whether Teams showed the message; sending it again could show it twice. Such a row
becomes `unconfirmed` (logged, visible in `python -m bot outbox list`) and an operator decides,
after looking at the chat, whether to `outbox retry` it. An in-place card update (PUT to a known
activity id) is idempotent and is simply sent again. The same reasoning applies to a connection
that breaks after the request went out. A row's `sent_activity_id` is filled when `sending` is
committed for an update, which is how recovery tells the two apart.

Retries are ours alone: msrest's own retry policy (which re-sends POSTs on 5xx and sleeps on
Retry-After inside a worker thread) is switched off on every connector client created here.
Retried: 429 (Retry-After honoured, at most an hour), 412, 502, 503, 504 and connections that
never reached the server, with exponential backoff (1 s × 2ⁿ, at most 300 s) and full jitter, up
to `max_attempts`. Everything else (403 bot removed, 404 user or conversation gone, 413 too large,
other statuses) fails at once. Logs name the row id and recipient, never the message text.

Pacing follows Teams' bot limits (7 requests per second per conversation, 50 per second per
tenant, for this process; chat openings and in-place updates count too) as Teams sees them,
whatever the latency of the send path (`SendWindow`); several replicas divide the limits between
them (OUTBOX_TENANT_RATE, OUTBOX_CONVERSATION_RATE), longer windows are left to Teams' 429 and its
Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import email.utils
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeVar

from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
)
from msrest.exceptions import HttpOperationError
from sqlalchemy import and_, case, delete, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from urllib3.exceptions import ConnectTimeoutError

from bot.guards import DEFAULT_SERVICE_HOSTS, service_url_allowed
from bot.registry import RegistryRole
from cards.render import CARD_CONTENT_TYPE, for_channel, text
from storage import contacts, outbox_signal
from storage.db import Database
from storage.models import (
    CardCopy,
    ChannelLink,
    Contact,
    Notification,
    Person,
    PersonRole,
    UnreachableRecipient,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
TEAMS_CHANNEL_ID = "msteams"
# Channels whose messages the bot can replace in place (PUT .../activities/{id}). Direct Line
# (Web Chat) and the Emulator refuse it: microsoft/BotFramework-WebChat#2426,
# microsoft/BotFramework-Emulator#1123.
UPDATABLE_CHANNELS = frozenset({TEAMS_CHANNEL_ID})
# Statuses worth another try: throttled, precondition (a concurrent edit of the same activity),
# and the gateway family. Everything else will not get better by waiting.
RETRYABLE_STATUSES = frozenset({412, 429, 502, 503, 504})
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_FACTOR = 2.0
BACKOFF_CAP_SECONDS = 300.0
RETRY_AFTER_CAP_SECONDS = 3600.0
LAST_ERROR_MAX_LENGTH = 200
# Claim rounds in a row that found rows but lost them all to other workers before giving up.
MAX_CONTENDED_CLAIMS = 3


def _default_concurrent_calls() -> int:
    """Connector calls in flight at once. The SDK's client (msrest over requests) runs every
    call in the event loop's default thread pool (min(32, CPUs + 4) threads). A row is committed
    as `sending` just before its call; when more calls are started than the pool has threads,
    the rest wait in the pool's queue with their rows already `sending`, and a crash then makes
    them `unconfirmed` (never sent again) although they never left the process: lost messages
    (tests/e2e/test_kill.py, without this limit: 5 of 10 new messages `sending` at a SIGKILL had
    not reached the connector). Two threads are left for the pool's other users (turn replies,
    name lookups); those can still delay a call briefly, which only narrows the window."""
    return max(1, min(32, (os.cpu_count() or 1) + 4) - 2)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


# Rows in these states hold back the later rows of their recipient.
_IN_FLIGHT = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)


@dataclass(frozen=True)
class DrainReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unconfirmed: int = 0
    parked: int = 0

    def __add__(self, other: DrainReport) -> DrainReport:
        return DrainReport(
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            retried=self.retried + other.retried,
            unconfirmed=self.unconfirmed + other.unconfirmed,
            parked=self.parked + other.parked,
        )


@dataclass(frozen=True)
class Delivery:
    """What was just sent; handed to the `after_send` hook (tests use it to crash right after)."""

    row_id: int
    key: str
    kind: str
    recipient: str
    conversation_id: str
    activity_id: str | None
    in_place: bool


@dataclass(frozen=True)
class DeliveryLine:
    """One outbox row for operators: bookkeeping only, never the message content."""

    id: int
    key: str
    kind: str
    recipient: str
    request_id: int | None
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    created_at: dt.datetime


class RetryOutcome(StrEnum):
    RETRIED = "retried"
    NOT_FOUND = "not_found"
    NOT_RETRYABLE = "not_retryable"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class _Row:
    """A claimed row, detached from its session."""

    id: int
    key: str
    kind: str
    request_id: int | None
    recipient: str
    conversation: dict[str, Any] | None
    activity: dict[str, Any]
    attempts: int
    replaces_key: str | None = None


@dataclass(frozen=True)
class _Target:
    service_url: str
    conversation_id: str
    tenant_id: str
    channel_id: str
    bot: ChannelAccount
    user: ChannelAccount | None
    conversation_type: str | None
    # Set when the recipient already has this card: the activity to update in place.
    update_activity_id: str | None = None


_Verdict = Literal["sent", "retry", "failed", "unconfirmed", "parked"]


@dataclass(frozen=True)
class _Outcome:
    verdict: _Verdict
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    activity_id: str | None = None


class _Settled(Exception):
    """Delivery ended before the message was sent (no conversation, bad payload, …)."""

    def __init__(self, outcome: _Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; everything stored here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _short(text: str) -> str:
    return text[:LAST_ERROR_MAX_LENGTH]


def _default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _teams_service_url(url: str) -> bool:
    return service_url_allowed(url, hosts=DEFAULT_SERVICE_HOSTS, local=False)


def _system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _insert_for(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _never_reached_server(error: BaseException) -> bool:
    """True when the connection itself failed (refused, DNS, connect timeout): the request was
    certainly not delivered. A read timeout or a dropped connection may come after delivery."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        # urllib3's NewConnectionError (refused, DNS) is a ConnectTimeoutError too.
        if isinstance(current, ConnectTimeoutError):
            return True
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [item for item in linked if isinstance(item, BaseException)]
    return False


def _retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (_utc(when) - now).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


def _error_code(error: HttpOperationError) -> str:
    # The connector's error body is {"error": {"code", "message"}}; the code is safe to keep,
    # the message may quote what was sent.
    body = getattr(error, "error", None)
    inner = getattr(body, "error", None)
    code = getattr(inner, "code", None)
    return str(code) if code else ""


def classify(error: BaseException, *, idempotent: bool, now: dt.datetime) -> _Outcome:
    """What a failed connector call means for the row (exposed for tests of the policy)."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(error, HttpOperationError) and isinstance(status, int):
        code = _error_code(error)
        text = _short(f"HTTP {status}" + (f" {code}" if code else ""))
        if status in RETRYABLE_STATUSES:
            headers = getattr(response, "headers", None) or {}
            return _Outcome(
                "retry",
                status=status,
                error=text,
                retry_after=_retry_after_seconds(headers.get("Retry-After"), now),
            )
        if status == 403 or (status == 404 and not idempotent):
            # The bot was removed, blocked or disabled, or the conversation is gone: waiting
            # will not help, and neither will retrying until someone installs the app again.
            return _Outcome("parked", status=status, error=text)
        return _Outcome("failed", status=status, error=text)
    if _never_reached_server(error):
        return _Outcome("retry", error=_short(f"connection failed: {type(error).__name__}"))
    if idempotent:
        return _Outcome("retry", error=_short(f"no answer: {type(error).__name__}"))
    return _Outcome(
        "unconfirmed",
        error=_short(f"no answer after sending, outcome unknown: {type(error).__name__}"),
    )


class SendWindow:
    """Teams' limits as Teams sees them: at most `limit` requests per key (a conversation, a
    tenant) in any one second, whatever the latency of our send path.

    A request is counted against each of its keys from just before it goes out (`hold` is
    entered) until one second after its answer arrived (`hold` is left), and a new one only
    goes while every key's count is below its limit. That bounds every second at Teams: the
    requests arriving in [t, t + 1) each entered before t + 1 and were answered no earlier than
    t, so all of them were counted at the moment the last of them entered, which was only
    allowed below the limit. Latency costs throughput (a request keeps its place for its
    latency plus a second), never the bound.

    Why not evenly spaced time slots (the pacer this replaced): a slot was handed out before the
    database write that marks the row `sending`, and the request left whenever the send path
    got there. A slow write or a queue for the connector's threads made requests leave late,
    where they bunched with later ones: Teams saw up to 59 requests in a second for a limit of
    50 (bench/fanout.py).

    Per process: replicas do not see each other's requests (see OUTBOX_TENANT_RATE in the
    README). `monotonic` and `sleep` are injectable so tests can run it on fake time."""

    def __init__(
        self,
        monotonic: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        *,
        seconds: float = 1.0,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._seconds = seconds
        self._in_flight: Counter[str] = Counter()
        # Per key, when each answered request stops counting, in the order they were answered
        # (so ascending: the clock is monotonic).
        self._answered: dict[str, deque[float]] = {}
        self._released = asyncio.Event()

    def count(self, key: str) -> int:
        """Requests counted against `key` now: in flight, or answered less than a second ago."""
        now = self._monotonic()
        expiries = self._answered.get(key)
        while expiries and expiries[0] <= now:
            expiries.popleft()
        if expiries is not None and not expiries:
            del self._answered[key]
        return self._in_flight[key] + len(expiries or ())

    def _wait(self, limits: Collection[tuple[str, int]]) -> float | None:
        """0 when every key has room now; otherwise the seconds until enough answered requests
        stop counting, or None when room depends on an answer still outstanding."""
        now = self._monotonic()
        wait = 0.0
        for key, limit in limits:
            excess = self.count(key) - limit + 1
            if excess <= 0:
                continue
            expiries = self._answered.get(key, ())
            if len(expiries) < excess:
                return None
            wait = max(wait, expiries[excess - 1] - now)
        return wait

    @contextlib.asynccontextmanager
    async def hold(self, limits: Collection[tuple[str, int]]) -> AsyncIterator[None]:
        """Wait until every (key, limit) has room, then count this request against the keys
        until a second after the block is left (also when it raises: the request may have
        gone out). Never enter a second `hold` inside one: two senders could wait for each
        other."""
        while (wait := self._wait(limits)) != 0:
            if wait is None:
                await self._released.wait()
            else:
                await self._sleep(wait)
        # No await between the check above and this: the room found is still there.
        keys = [key for key, _ in limits]
        self._in_flight.update(keys)
        try:
            yield
        finally:
            until = self._monotonic() + self._seconds
            self._in_flight.subtract(keys)
            for key in keys:
                if self._in_flight.get(key, 0) <= 0:
                    self._in_flight.pop(key, None)
                self._answered.setdefault(key, deque()).append(until)
            if len(self._answered) > 1024:
                # Keys nobody asks about any more keep their expired entries: drop them.
                for key in list(self._answered):
                    self.count(key)
            released, self._released = self._released, asyncio.Event()
            released.set()


class Notifier:
    """Sends the outbox; safe to run in several replicas against one PostgreSQL database."""

    def __init__(
        self,
        database: Database,
        authentication: BotFrameworkAuthentication,
        *,
        bot_id: str,
        tenant_id: str,
        fallback_service_url: str = TEAMS_SERVICE_URL,
        app_id: str | None = None,
        clock: Callable[[], dt.datetime] = _system_clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        worker_id: str | None = None,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        max_attempts: int = 8,
        per_conversation_per_second: int = 7,
        per_tenant_per_second: int = 50,
        batch_size: int = 50,
        poll_interval: float = 1.0,
        request_timeout: float = 30.0,
        after_send: Callable[[Delivery], Awaitable[None]] | None = None,
        service_url_allowed: Callable[[str], bool] = _teams_service_url,
        max_concurrent_calls: int | None = None,
    ) -> None:
        if request_timeout >= lease.total_seconds():
            # A call still running when its lease ends would be recovered as interrupted.
            raise ValueError("request_timeout must be shorter than the lease")
        if max_attempts < 1 or batch_size < 1:
            raise ValueError("max_attempts and batch_size must be at least 1")
        if per_conversation_per_second < 1 or per_tenant_per_second < 1:
            raise ValueError("rate limits must be at least 1 request per second")
        self.database = database
        self.authentication = authentication
        self.bot_id = bot_id
        self.tenant_id = tenant_id
        self.fallback_service_url = fallback_service_url
        # The bot's Entra app id: the bot id without Teams' "28:" prefix. Only used for the
        # SDK's credentials, which are empty in local mode anyway.
        self.app_id = app_id if app_id is not None else bot_id.removeprefix("28:")
        self.worker_id = (worker_id or _default_worker_id())[:64]
        self.lease = lease
        self.max_attempts = max_attempts
        self.per_conversation_per_second = per_conversation_per_second
        self.per_tenant_per_second = per_tenant_per_second
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self._clock = clock
        self._rng = rng
        self._after_send = after_send
        self._service_url_allowed = service_url_allowed
        self._calls = asyncio.Semaphore(max_concurrent_calls or _default_concurrent_calls())
        self._window = SendWindow(monotonic, sleep)
        self._clients: dict[str, ConnectorClient] = {}
        self._factory: Any = None
        self._drain_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- background loop ------------------------------------------------------------------

    def wake(self) -> None:
        """Ask the loop to drain now instead of at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-notifier")

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the round in progress finish (its rows then need no recovery), then close."""
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.close()

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wakeup.clear()
            try:
                await self._drain(until_stopped=True)
                failures = 0
            except Exception:
                # A database outage or a bug: the rows stay where they are and the next round
                # (or another replica) picks them up; polls thin out while it lasts.
                failures += 1
                log.exception("outbox round failed (%d in a row)", failures)
            if self._stopping:
                break
            wait = min(self.poll_interval * 2 ** min(failures, 10), 60.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), max(wait, self.poll_interval))

    # -- draining -------------------------------------------------------------------------

    async def drain(self) -> DrainReport:
        """Send everything due now; returns what happened to the rows this call settled."""
        return await self._drain(until_stopped=False)

    async def _drain(self, *, until_stopped: bool) -> DrainReport:
        # One drain at a time per process: the loop's and an explicit one (tests, the chat).
        async with self._drain_lock:
            report = DrainReport(unconfirmed=await self.recover())
            # On stop the loop ends after the round in flight, so no row is cut off mid-send.
            contended = 0
            while not (until_stopped and self._stopping):
                rows, found = await self._claim()
                if not rows:
                    # Another worker took every candidate: there may be more behind them.
                    if found and contended < MAX_CONTENDED_CLAIMS:
                        contended += 1
                        continue
                    break
                contended = 0
                results = await asyncio.gather(
                    *(self._deliver(row) for row in rows), return_exceptions=True
                )
                for result in results:
                    if isinstance(result, DrainReport):
                        report += result
                for result in results:
                    if isinstance(result, BaseException):
                        # Rows whose bookkeeping failed stay leased; recovery settles them.
                        raise result
            return report

    async def recover(self) -> int:
        """Settle rows a dead worker left in `sending`; returns how many became unconfirmed."""
        now = self._clock()
        expired = and_(
            Notification.status == OutboxStatus.SENDING.value,
            or_(Notification.lease_until.is_(None), Notification.lease_until < now),
        )

        async def work(session: AsyncSession) -> int:
            stale = (
                await session.execute(
                    select(
                        Notification.id,
                        Notification.kind,
                        Notification.recipient,
                        Notification.sent_activity_id,
                    )
                    .where(expired)
                    .order_by(Notification.id)
                )
            ).all()
            unconfirmed = 0
            for row_id, kind, recipient, update_of in stale:
                if kind in ("card", "update") and update_of is not None:
                    # An interrupted in-place update: PUT is idempotent, so send it again.
                    values: dict[str, Any] = {
                        "status": OutboxStatus.PENDING.value,
                        "next_attempt_at": now,
                        "lease_until": None,
                        "claimed_by": None,
                    }
                else:
                    values = {
                        "status": OutboxStatus.UNCONFIRMED.value,
                        "lease_until": None,
                        "last_error": "interrupted while sending: outcome unknown, not resent",
                    }
                result = await session.execute(
                    update(Notification)
                    .where(Notification.id == row_id, expired)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another replica settled it first
                if values["status"] == OutboxStatus.UNCONFIRMED.value:
                    unconfirmed += 1
                    log.warning(
                        "outbox row %s to %s was interrupted while sending: unconfirmed, "
                        "check the chat before `outbox retry %s`",
                        row_id,
                        recipient,
                        row_id,
                    )
                else:
                    log.info(
                        "outbox row %s to %s: interrupted card update requeued", row_id, recipient
                    )
            return unconfirmed

        return await self._unit(work)

    def _claimable(self, now: dt.datetime) -> Any:
        earlier = aliased(Notification)
        return and_(
            Notification.status == OutboxStatus.PENDING.value,
            Notification.next_attempt_at <= now,
            or_(Notification.lease_until.is_(None), Notification.lease_until < now),
            ~exists().where(
                earlier.recipient == Notification.recipient,
                earlier.id < Notification.id,
                earlier.status.in_(_IN_FLIGHT),
            ),
            # Parked: kept, in order, until the recipient can be reached again.
            ~exists().where(UnreachableRecipient.recipient == Notification.recipient),
        )

    async def _claim(self) -> tuple[list[_Row], bool]:
        """Lease the due heads of the recipients' queues. The conditional UPDATE is the lock:
        of two workers that picked the same row only one sees rowcount 1. Also says whether
        there were candidates at all (all lost to another worker: look again)."""
        now = self._clock()
        claimable = self._claimable(now)

        async def work(session: AsyncSession) -> tuple[list[_Row], bool]:
            candidates = (
                await session.execute(
                    select(Notification.id)
                    .where(claimable)
                    .order_by(Notification.id)
                    .limit(self.batch_size)
                )
            ).scalars()
            won: list[int] = []
            picked = list(candidates)
            for row_id in picked:
                result = await session.execute(
                    update(Notification)
                    .where(Notification.id == row_id, claimable)
                    .values(lease_until=now + self.lease, claimed_by=self.worker_id)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    won.append(row_id)
            if not won:
                return [], bool(picked)
            rows = (
                await session.execute(
                    select(Notification).where(Notification.id.in_(won)).order_by(Notification.id)
                )
            ).scalars()
            claimed = [
                _Row(
                    id=row.id,
                    key=row.key,
                    kind=row.kind,
                    request_id=row.request_id,
                    recipient=row.recipient,
                    conversation=row.conversation,
                    activity=dict(row.activity),
                    attempts=row.attempts,
                    replaces_key=row.replaces_key,
                )
                for row in rows
            ]
            return claimed, True

        return await self._unit(work)

    async def _deliver(self, row: _Row) -> DrainReport:
        # Opening a chat, marking the row `sending` and the call itself happen only while a
        # thread is free for them (see _default_concurrent_calls).
        async with self._calls:
            return await self._deliver_now(row)

    async def _deliver_now(self, row: _Row) -> DrainReport:
        try:
            target = await self._target(row)
            activity = self._activity(row, target)
            client = await self._client(target.service_url)
            await self._prepare_credentials(client)
        except _Settled as settled:
            return await self._settle(row, settled.outcome, attempts=row.attempts + 1)

        attempts = row.attempts + 1
        in_place = target.update_activity_id is not None
        failure: Exception | None = None
        activity_id: str | None = None
        # Counted against the conversation and the tenant from before the row is marked
        # `sending` (so no row waits for room in `sending`, where a crash would strand it as
        # unconfirmed) until a second after Teams answered: see SendWindow.
        async with self._window.hold(self._limits(target)):
            if not await self._mark_sending(row, target):
                log.warning(
                    "outbox row %s: claim lost before sending, left to its new owner", row.id
                )
                return DrainReport()
            try:
                if in_place:
                    assert target.update_activity_id is not None
                    activity.id = target.update_activity_id
                    await client.conversations.update_activity(
                        target.conversation_id, target.update_activity_id, activity
                    )
                    activity_id = target.update_activity_id
                else:
                    response = await client.conversations.send_to_conversation(
                        target.conversation_id, activity
                    )
                    activity_id = getattr(response, "id", None)
            except Exception as error:
                failure = error
        if failure is not None:
            outcome = classify(failure, idempotent=in_place, now=self._clock())
            return await self._settle(row, outcome, attempts=attempts, target=target)
        if self._after_send is not None:
            await self._after_send(
                Delivery(
                    row_id=row.id,
                    key=row.key,
                    kind=row.kind,
                    recipient=row.recipient,
                    conversation_id=target.conversation_id,
                    activity_id=activity_id,
                    in_place=in_place,
                )
            )
        outcome = _Outcome("sent", status=200, activity_id=activity_id)
        return await self._settle(row, outcome, attempts=attempts, target=target)

    # -- where to send --------------------------------------------------------------------

    async def _target(self, row: _Row) -> _Target:
        if row.kind not in ("notice", "card", "update"):
            raise _Settled(_Outcome("failed", error=_short(f"unknown kind {row.kind!r}")))
        base = await self._conversation_of(row)
        if row.kind == "update":
            return await self._replaced(row, base)
        updatable = (base.channel_id if base else TEAMS_CHANNEL_ID) in UPDATABLE_CHANNELS
        if row.kind == "card" and row.request_id is not None and updatable:
            async with self.database.sessions() as session:
                copy = await session.get(CardCopy, (row.request_id, row.recipient))
            if copy is not None:
                return _Target(
                    service_url=copy.service_url,
                    conversation_id=copy.conversation_id,
                    tenant_id=base.tenant_id if base else self.tenant_id,
                    channel_id=base.channel_id if base else TEAMS_CHANNEL_ID,
                    bot=base.bot if base else ChannelAccount(id=self.bot_id),
                    user=base.user if base else None,
                    conversation_type=base.conversation_type if base else None,
                    update_activity_id=copy.activity_id,
                )
        if base is not None:
            return base
        return await self._open_personal_chat(row)

    async def _replaced(self, row: _Row, base: _Target | None) -> _Target:
        """Where the message this row replaces was posted. Rows of one recipient go in order,
        so the original was settled before this row could be claimed."""
        async with self.database.sessions() as session:
            original = (
                await session.execute(
                    select(Notification.status, Notification.sent_activity_id).where(
                        Notification.key == row.replaces_key
                    )
                )
            ).first()
        if base is None or original is None or original[0] != "sent" or not original[1]:
            raise _Settled(_Outcome("failed", error="the message to update was never delivered"))
        if base.channel_id not in UPDATABLE_CHANNELS:
            return base  # posted anew: this channel cannot replace a message
        return dataclasses.replace(base, update_activity_id=original[1])

    async def _conversation_of(self, row: _Row) -> _Target | None:
        """The known conversation of the recipient, or None when a personal chat must be
        opened first."""
        scheme, _, identity = row.recipient.partition(":")
        if scheme == "conversation":
            reference = ConversationReference().deserialize(row.conversation or {})
            conversation = reference.conversation
            if not reference.service_url or conversation is None or not conversation.id:
                raise _Settled(_Outcome("failed", error="no conversation reference stored"))
            return _Target(
                service_url=reference.service_url,
                conversation_id=conversation.id,
                tenant_id=conversation.tenant_id or self.tenant_id,
                channel_id=reference.channel_id or TEAMS_CHANNEL_ID,
                bot=reference.bot or ChannelAccount(id=self.bot_id),
                user=reference.user,
                conversation_type=conversation.conversation_type,
            )
        if scheme != "person" or not identity:
            raise _Settled(_Outcome("failed", error="unknown recipient form"))
        async with self.database.sessions() as session:
            contact = await session.get(Contact, identity)
            if contact is None or not contact.conversation_id:
                return None
            channel_id = await contacts.channel_of(session, identity)
        return _Target(
            service_url=contact.service_url,
            conversation_id=contact.conversation_id,
            tenant_id=contact.tenant_id or self.tenant_id,
            channel_id=channel_id,
            bot=ChannelAccount(id=self.bot_id),
            user=ChannelAccount(id=contact.user_id, aad_object_id=identity),
            conversation_type="personal",
        )

    async def _open_personal_chat(self, row: _Row) -> _Target:
        """Create (or get back: Teams has one personal chat per user and bot) the personal chat
        and remember it on the contact. Safe to repeat, so its failures are simply retried."""
        aad_object_id = row.recipient.partition(":")[2]
        async with self.database.sessions() as session:
            contact = await session.get(Contact, aad_object_id)
            if contact is not None:
                service_url, tenant = contact.service_url, contact.tenant_id or self.tenant_id
                member_id = contact.user_id or aad_object_id
            else:
                tenant, member_id = self.tenant_id, aad_object_id
                # The tenant's own service URL, as learnt from anyone's last activity. Contacts
                # without a tenant count too (after those of the tenant): the SDK drops Teams'
                # `conversation.tenantId` (it expects "tenantID"), so turns often give none.
                service_url = (
                    await session.execute(
                        select(Contact.service_url)
                        .where(Contact.tenant_id.in_((tenant, "")))
                        .order_by(
                            case((Contact.tenant_id == tenant, 0), else_=1),
                            Contact.updated_at.desc(),
                        )
                        .limit(1)
                    )
                ).scalar() or self.fallback_service_url
        # Teams accepts the Entra object id as member in personal scope once the app is
        # installed for the user (https://learn.microsoft.com/microsoftteams/platform/bots/
        # how-to/conversations/send-proactive-messages).
        parameters = ConversationParameters(
            bot=ChannelAccount(id=self.bot_id),
            members=[ChannelAccount(id=member_id)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
            is_group=False,
        )
        client = await self._client(service_url)
        await self._prepare_credentials(client)
        # Teams counts opening a chat against the tenant like any other request.
        async with self._window.hold([(f"tenant:{tenant}", self.per_tenant_per_second)]):
            try:
                created = await client.conversations.create_conversation(parameters)
            except Exception as error:
                raise _Settled(classify(error, idempotent=True, now=self._clock())) from error
        conversation_id = getattr(created, "id", None)
        if not conversation_id:
            raise _Settled(_Outcome("retry", error="create conversation returned no id"))
        await self._remember_chat(
            aad_object_id,
            user_id=member_id,
            tenant=tenant,
            service_url=service_url,
            conversation_id=conversation_id,
        )
        return _Target(
            service_url=service_url,
            conversation_id=conversation_id,
            tenant_id=tenant,
            channel_id=TEAMS_CHANNEL_ID,
            bot=ChannelAccount(id=self.bot_id),
            user=ChannelAccount(id=member_id, aad_object_id=aad_object_id),
            conversation_type="personal",
        )

    async def _remember_chat(
        self,
        aad_object_id: str,
        *,
        user_id: str,
        tenant: str,
        service_url: str,
        conversation_id: str,
    ) -> None:
        now = self._clock()

        async def work(session: AsyncSession) -> None:
            statement = _insert_for(session)(Contact).values(
                aad_object_id=aad_object_id,
                user_id=user_id,
                tenant_id=tenant,
                service_url=service_url,
                conversation_id=conversation_id,
                updated_at=now,
            )
            # A chat the person's own activity taught us meanwhile wins.
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[Contact.aad_object_id],
                    set_={"conversation_id": conversation_id, "updated_at": now},
                    where=Contact.conversation_id.is_(None),
                )
            )

        await self._unit(work)

    def _activity(self, row: _Row, target: _Target) -> Activity:
        try:
            activity = Activity().deserialize(row.activity)
        except Exception as error:
            raise _Settled(
                _Outcome("failed", error=_short(f"invalid activity: {type(error).__name__}"))
            ) from error
        activity.type = activity.type or ActivityTypes.message
        activity.channel_id = target.channel_id
        for attachment in activity.attachments or []:
            if attachment.content_type == CARD_CONTENT_TYPE and isinstance(
                attachment.content, dict
            ):
                attachment.content = for_channel(attachment.content, target.channel_id)
        activity.service_url = target.service_url
        activity.from_property = target.bot
        activity.recipient = target.user
        activity.conversation = ConversationAccount(
            id=target.conversation_id,
            tenant_id=target.tenant_id,
            conversation_type=target.conversation_type,
        )
        # Teams reads the tenant of a proactive message from channelData.
        channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
        activity.channel_data = {"tenant": {"id": target.tenant_id}, **channel_data}
        return activity

    # -- the connector ----------------------------------------------------------------------

    async def _client(self, service_url: str) -> ConnectorClient:
        """One client per service URL (the SDK would build one, with a new HTTP session, per
        call), with msrest's own retries off: ours are the only ones."""
        client = self._clients.get(service_url)
        if client is not None:
            return client
        if not self._service_url_allowed(service_url):
            # A tampered conversation reference: the SDK would hand it the bot's token.
            log.warning("refused to send to a service URL outside the allowlist: %s", service_url)
            raise _Settled(_Outcome("failed", error="service URL not allowed"))
        try:
            if self._factory is None:
                # What CloudAdapter.continue_conversation does for a proactive message.
                claims = ClaimsIdentity(
                    {
                        AuthenticationConstants.AUDIENCE_CLAIM: self.app_id,
                        AuthenticationConstants.APP_ID_CLAIM: self.app_id,
                    },
                    True,
                )
                self._factory = self.authentication.create_connector_factory(claims)
            client = await self._factory.create(service_url, None)
        except Exception as error:
            log.warning("no connector client for %s: %s", service_url, type(error).__name__)
            raise _Settled(
                _Outcome("retry", error=_short(f"connector client: {type(error).__name__}"))
            ) from error
        _without_msrest_retries(client, timeout=self.request_timeout)
        return self._clients.setdefault(service_url, client)

    async def _prepare_credentials(self, client: ConnectorClient) -> None:
        """Fetch (or reuse) the bot's token before the row is marked `sending`: a token failure
        then leaves nothing in doubt and is simply retried."""
        credentials = client.config.credentials
        app_id = getattr(credentials, "microsoft_app_id", None)
        if not app_id or app_id == AuthenticationConstants.ANONYMOUS_SKILL_APP_ID:
            return  # local mode: no token
        try:
            await asyncio.to_thread(credentials.get_access_token)
        except Exception as error:
            log.warning("could not get a bot token: %s", type(error).__name__)
            raise _Settled(
                _Outcome("retry", error=_short(f"token: {type(error).__name__}"))
            ) from error

    def _limits(self, target: _Target) -> list[tuple[str, int]]:
        return [
            (f"conversation:{target.conversation_id}", self.per_conversation_per_second),
            (f"tenant:{target.tenant_id}", self.per_tenant_per_second),
        ]

    # -- bookkeeping ------------------------------------------------------------------------

    async def _mark_sending(self, row: _Row, target: _Target) -> bool:
        now = self._clock()

        async def work(session: AsyncSession) -> bool:
            result = await session.execute(
                update(Notification)
                .where(
                    Notification.id == row.id,
                    Notification.claimed_by == self.worker_id,
                    Notification.status == OutboxStatus.PENDING.value,
                )
                .values(
                    status=OutboxStatus.SENDING.value,
                    attempts=Notification.attempts + 1,
                    lease_until=now + self.lease,
                    sent_conversation_id=target.conversation_id,
                    # Recovery reads this: set means an idempotent in-place update.
                    sent_activity_id=target.update_activity_id,
                )
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

        return await self._unit(work)

    def _backoff(self, attempts: int) -> float:
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (attempts - 1))
        return self._rng() * ceiling

    async def _settle(
        self, row: _Row, outcome: _Outcome, *, attempts: int, target: _Target | None = None
    ) -> DrainReport:
        now = self._clock()
        verdict = outcome.verdict
        if verdict == "retry" and attempts >= self.max_attempts:
            verdict = "failed"
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status": outcome.status,
            "last_error": outcome.error,
            "lease_until": None,
        }
        if verdict == "sent":
            values |= {
                "status": OutboxStatus.SENT.value,
                "sent_at": now,
                "sent_activity_id": outcome.activity_id,
                "sent_conversation_id": target.conversation_id if target else None,
            }
        else:
            # Only a sent row has an activity; sent_conversation_id stays: it tells an
            # operator which chat to look in for an unconfirmed message.
            values["sent_activity_id"] = None
        if verdict == "retry":
            delay = outcome.retry_after
            if delay is None:
                delay = self._backoff(attempts)
            values |= {
                "status": OutboxStatus.PENDING.value,
                "next_attempt_at": now + dt.timedelta(seconds=delay),
                "claimed_by": None,
            }
        elif verdict == "parked":
            values |= {
                "status": OutboxStatus.PENDING.value,
                "next_attempt_at": now,
                "claimed_by": None,
            }
        elif verdict != "sent":
            values["status"] = verdict  # failed or unconfirmed

        async def work(session: AsyncSession) -> bool:
            result = await session.execute(
                update(Notification)
                .where(
                    Notification.id == row.id,
                    Notification.claimed_by == self.worker_id,
                    # `unconfirmed`: recovery elsewhere gave up on us, but the truth is better.
                    Notification.status.in_(
                        (*_IN_FLIGHT, OutboxStatus.UNCONFIRMED.value)
                        if verdict == "sent"
                        else _IN_FLIGHT
                    ),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            if verdict == "parked":
                await _park(session, row.recipient, outcome.error or "", now)
            if verdict == "failed" and not row.key.startswith(_BEHEER_NOTICES):
                # Refused for good (413 too large, retries exhausted, …): a beheerder hears of
                # it, once per row; a notice to a beheerder that fails is only logged (no loop).
                who = await _label(session, row.recipient)
                await _tell_beheerders(
                    session,
                    key=f"failed:{row.id}",
                    skip=row.recipient,
                    message=text("notice_failed", who=who, reason=outcome.error or "", row=row.id),
                    now=now,
                )
            if (
                verdict == "sent"
                and row.kind == "card"
                and row.request_id is not None
                and target is not None
                and outcome.activity_id
            ):
                copy = {
                    "service_url": target.service_url,
                    "conversation_id": target.conversation_id,
                    "activity_id": outcome.activity_id,
                    "updated_at": now,
                }
                statement = _insert_for(session)(CardCopy).values(
                    request_id=row.request_id, recipient=row.recipient, **copy
                )
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=[CardCopy.request_id, CardCopy.recipient], set_=copy
                    )
                )
            return True

        if not await self._unit(work):
            log.warning("outbox row %s: lease lost before its result was recorded", row.id)
            return DrainReport()
        if verdict == "sent":
            return DrainReport(sent=1)
        if verdict == "parked":
            log.warning(
                "outbox row %s: %s cannot be reached (%s); its messages wait until the app is "
                "installed again",
                row.id,
                row.recipient,
                outcome.error,
            )
            return DrainReport(parked=1)
        if verdict == "retry":
            log.info(
                "outbox row %s to %s: attempt %d failed (%s), retry at %s",
                row.id,
                row.recipient,
                attempts,
                outcome.error,
                values["next_attempt_at"].isoformat(),
            )
            return DrainReport(retried=1)
        log.warning(
            "outbox row %s to %s %s after %d attempt(s): %s",
            row.id,
            row.recipient,
            verdict,
            attempts,
            outcome.error,
        )
        return DrainReport(failed=1) if verdict == "failed" else DrainReport(unconfirmed=1)

    async def _unit(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await self.database.transaction(work)


async def _park(session: AsyncSession, recipient: str, reason: str, now: dt.datetime) -> None:
    """Mark the recipient unreachable and, the first time, tell the beheerders (in the same
    unit of work, through the outbox like everything else)."""
    inserted = await session.execute(
        _insert_for(session)(UnreachableRecipient)
        .values(recipient=recipient, since=now, reason=reason[:100])
        .on_conflict_do_nothing(index_elements=[UnreachableRecipient.recipient])
        .returning(UnreachableRecipient.recipient)
    )
    if inserted.first() is None:
        return  # already known (by us or another replica): told once
    await _tell_beheerders(
        session,
        key=f"unreachable:{recipient}:{now.isoformat()}",
        skip=recipient,
        message=text("notice_unreachable", who=await _label(session, recipient), reason=reason),
        now=now,
    )


# Keys of the notices to beheerders about deliveries: never themselves reported as failed.
_BEHEER_NOTICES = ("unreachable:", "failed:")


async def _tell_beheerders(
    session: AsyncSession, *, key: str, skip: str, message: str, now: dt.datetime
) -> None:
    """A notice to every beheerder (through the outbox, in the caller's unit of work), except
    the recipient the notice is about."""
    beheerders = (
        await session.execute(
            select(PersonRole.aad_object_id).where(PersonRole.role == RegistryRole.BEHEERDER.value)
        )
    ).scalars()
    for aad_object_id in sorted(set(beheerders)):
        if skip == f"person:{aad_object_id}":
            continue
        session.add(
            Notification(
                key=f"{key}:{aad_object_id}"[:200],
                kind="notice",
                request_id=None,
                recipient=f"person:{aad_object_id}",
                recipient_aad_id=aad_object_id,
                activity={"type": "message", "textFormat": "markdown", "text": message},
                status=OutboxStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )


async def _label(session: AsyncSession, recipient: str) -> str:
    """How a beheerder recognises the recipient: a person's name, or what the channel is for."""
    scheme, _, identity = recipient.partition(":")
    if scheme == "person":
        name = await session.scalar(select(Person.name).where(Person.aad_object_id == identity))
        return text("unreachable_person", name=name or identity)
    links = (await session.execute(select(ChannelLink))).scalars()
    purposes = sorted(
        f"{link.purpose} {link.basisteam_id or ''}".strip()
        for link in links
        if str((link.conversation.get("conversation") or {}).get("id", "")) == identity
    )
    return text("unreachable_channel", purposes=", ".join(purposes) or identity)


async def reactivate(
    database: Database, *, recipients: Collection[str] = (), channels: bool = False
) -> int:
    """The bot can reach these again (an `installationUpdate`, a person writing to it): their
    parked rows go out, in order. `channels` reactivates every channel: a team-wide install
    names the team, not the channel the bot posts in."""

    async def work(session: AsyncSession) -> int:
        conditions: list[Any] = []
        if recipients:
            conditions.append(UnreachableRecipient.recipient.in_(list(recipients)))
        if channels:
            conditions.append(UnreachableRecipient.recipient.like("conversation:%"))
        if not conditions:
            return 0
        result = await session.execute(
            delete(UnreachableRecipient)
            .where(or_(*conditions))
            .returning(UnreachableRecipient.recipient)
        )
        back = list(result.scalars())
        if back:
            log.info("reachable again: %s", ", ".join(back))
            outbox_signal.mark()  # their parked rows can go out: the turn wakes the dispatcher
        return len(back)

    return await database.transaction(work)


def _without_msrest_retries(client: ConnectorClient, *, timeout: float) -> None:
    """msrest configures urllib3 to retry 5xx (and to sleep out Retry-After in its worker
    thread) on every verb but POST; with an exhausted budget it even hides the status behind a
    RetryError. The Retry object is shared with the client's already created HTTP session, so
    it is changed in place: no retries, statuses passed through as they are."""
    policy = client.config.retry_policy
    policy.retries = 0  # total, connect and read
    retry = policy.policy
    retry.status = 0
    retry.other = 0
    retry.status_forcelist = frozenset()
    retry.raise_on_status = False
    retry.respect_retry_after_header = False
    retry.backoff_factor = 0
    client.config.connection.timeout = timeout


# -- operators ------------------------------------------------------------------------------


async def delivery_status(
    database: Database, *, request_id: int | None = None, status: str | None = None
) -> list[DeliveryLine]:
    """The outbox rows, oldest first, optionally of one request or in one status."""
    query = select(Notification).order_by(Notification.id)
    if request_id is not None:
        query = query.where(Notification.request_id == request_id)
    if status is not None:
        query = query.where(Notification.status == status)
    async with database.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return [
        DeliveryLine(
            id=row.id,
            key=row.key,
            kind=row.kind,
            recipient=row.recipient,
            request_id=row.request_id,
            status=row.status,
            attempts=row.attempts,
            last_status=row.last_status,
            last_error=row.last_error,
            next_attempt_at=_utc(row.next_attempt_at),
            sent_at=_utc(row.sent_at) if row.sent_at else None,
            created_at=_utc(row.created_at),
        )
        for row in rows
    ]


async def retry_delivery(database: Database, row_id: int, *, now: dt.datetime) -> RetryOutcome:
    """Put a `failed` or `unconfirmed` row back in the queue: an operator's decision, taken
    after checking the chat (for `unconfirmed`: that the message did not arrive).

    A card is not retried once a later card for the same request and person was sent: the old
    one would overwrite the newer copy in place."""

    async def work(session: AsyncSession) -> RetryOutcome:
        row = await session.get(Notification, row_id)
        if row is None:
            return RetryOutcome.NOT_FOUND
        if row.status not in (OutboxStatus.FAILED.value, OutboxStatus.UNCONFIRMED.value):
            return RetryOutcome.NOT_RETRYABLE
        if row.kind == "card" and row.request_id is not None:
            later = aliased(Notification)
            newer = await session.scalar(
                select(
                    exists().where(
                        later.request_id == row.request_id,
                        later.recipient == row.recipient,
                        later.kind == "card",
                        later.id > row.id,
                        later.status == OutboxStatus.SENT.value,
                    )
                )
            )
            if newer:
                return RetryOutcome.SUPERSEDED
        result = await session.execute(
            update(Notification)
            .where(
                Notification.id == row_id,
                Notification.status.in_(
                    (OutboxStatus.FAILED.value, OutboxStatus.UNCONFIRMED.value)
                ),
            )
            .values(
                status=OutboxStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                claimed_by=None,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return RetryOutcome.NOT_RETRYABLE
        log.info("outbox row %s to %s requeued by an operator", row_id, row.recipient)
        return RetryOutcome.RETRIED

    return await database.transaction(work)
