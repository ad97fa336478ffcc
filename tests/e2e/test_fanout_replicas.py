"""Two bot processes on one PostgreSQL database drain a fan-out through a throttling Teams.

The load and the accounting are the `fanout` benchmark's (bench/fanout.py): notices of many
request changes to about a hundred personal chats (some not opened yet) and the team channels of
one tenant, written as the app writes them, and a connector that answers a seeded 10 % of the
requests with 429 and `Retry-After: 1` and 1 % with 502. Two `python -m bot serve` processes
run their own outbox dispatcher against it, as deployed replicas do.

What must hold: every message reaches Teams exactly once (a 429 or 502 is retried, never lost,
and no row is sent by both replicas); every request Teams saw is accounted for by the attempts
the outbox recorded; both replicas sent part of it; each stops cleanly.

Pacing is per process (a send window in each dispatcher, bot/notifier.py `SendWindow`), so the
most two replicas promise together is twice the per-process limits: at most 14 requests in any
second per conversation and 100 per tenant. Teams' limits (7 per second per conversation, 50 per
app and tenant) do not grow with the number of replicas, and two replicas at the default rates do
exceed them: with the full load the busiest second held 100 requests for the tenant and 13 in one
personal chat. Hence OUTBOX_TENANT_RATE and OUTBOX_CONVERSATION_RATE, to be divided by the number
of replicas (with 25 and 3 each, the same load peaked at 50 and 5). Teams answers an excess with
429 and Retry-After, which the dispatcher honours. The test prints the busiest seconds it saw;
its assertion says what is promised, not what Teams would like.

The default load is 300 notifications; the benchmark's full 1,000 runs with `-m heavy`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from replica_support import (
    Replica,
    free_ports,
    replica_env,
    senders,
    start_all,
    truncate,
    until_async,
)
from sqlalchemy import func, select

from bench.fanout import (
    MESSAGES,
    PER_CONVERSATION_LIMIT,
    PER_TENANT_LIMIT,
    FaultInjector,
    build_load,
    outbox_state,
    store_load,
    tally,
)
from bot.local_channel import LocalConnector
from storage.db import Database
from storage.models import Notification

pytestmark = pytest.mark.postgres

REPLICAS = ("a", "b")
LIGHT = 300


@pytest.fixture
async def shared_database(postgres_url: str) -> AsyncIterator[Database]:
    """The session's PostgreSQL database, emptied: both replicas and the test use it."""
    await truncate(postgres_url)
    db = Database.connect(postgres_url)
    yield db
    await db.dispose()


def _heavy_selected(config: pytest.Config) -> bool:
    return "heavy" in str(config.getoption("markexpr") or "")


@pytest.mark.parametrize(
    "messages", [LIGHT, pytest.param(MESSAGES, marks=pytest.mark.heavy, id="heavy")]
)
async def test_two_replicas_deliver_a_throttled_fan_out_exactly_once(
    messages: int,
    request: pytest.FixtureRequest,
    shared_database: Database,
    postgres_url: str,
    connector: LocalConnector,
    tmp_path: Path,
) -> None:
    if messages != LIGHT and not _heavy_selected(request.config):
        pytest.skip("the full fan-out load runs only when selected: -m heavy")
    database = shared_database
    injector = FaultInjector()
    connector.fault = injector
    load = build_load(connector.url, dt.datetime.now(dt.UTC), messages=messages)
    replicas = [
        Replica(name, port, tmp_path / f"replica-{name}.log")
        for name, port in zip(REPLICAS, free_ports(len(REPLICAS)), strict=True)
    ]

    async def settled() -> bool:
        async with database.sessions() as session:
            open_rows = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.status.in_(("pending", "sending")))
            )
        return open_rows == 0

    started = time.monotonic()
    try:
        await start_all(replicas, replica_env(postgres_url, connector))
        # Written while both run, as the app's use cases would: each replica's loop picks the
        # rows up at its next poll and the two compete for them from the first round.
        await store_load(database, load)
        await until_async(settled, 30 + messages / 10, "the outbox drained")
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
        took = time.monotonic() - started
        for replica in replicas:
            print(f"===== replica {replica.name} =====")
            print(replica.log())
        print(f"replicas ran {took:.1f} s")

    result = tally(load, connector, injector)
    state = await outbox_state(database)
    async with database.sessions() as session:
        outbox = list((await session.execute(select(Notification))).scalars())
    print(
        f"{result.requests} requests, {result.throttled} × 429, {result.bad_gateway} × 502; "
        f"busiest second: {result.busiest_tenant_second} for the tenant, "
        f"{result.busiest_conversation_second} in {result.busiest_conversation}"
    )

    # Every message exactly once, nothing else.
    assert (result.lost, result.duplicated, result.unexpected) == (0, 0, 0), result
    assert result.delivered == len(load.messages)
    assert state.statuses == {"sent": len(load.messages)}
    # Faults were injected and every one was retried: each request Teams saw is an attempt the
    # outbox recorded, apart from the personal chats opened (recorded on the contact instead).
    assert result.throttled > 0 and result.bad_gateway > 0
    assert state.retries == result.throttled + result.bad_gateway
    assert result.requests == state.attempts + load.chats_to_open

    # Both replicas sent part of the fan-out, and stopped cleanly.
    sent_by = senders(outbox)
    assert set(sent_by) == {r.pid for r in replicas}, sent_by
    for replica in replicas:
        assert " ERROR " not in replica.log(), replica.name
        assert replica.process is not None and replica.process.returncode == 0, replica.name

    # Pacing: per process, so together at most the replicas' sum (see the module docstring).
    assert result.busiest_conversation_second <= len(replicas) * PER_CONVERSATION_LIMIT
    assert result.busiest_tenant_second <= len(replicas) * PER_TENANT_LIMIT
