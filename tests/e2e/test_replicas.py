"""Two bot processes on one PostgreSQL database deliver every due reminder exactly once.

What keeps replicas of the sturingsoverleg from doubling work are claims in the database: a
`digests` row per team and meeting, and a conditional update of `requests.nudged_at` /
`escalated_at` in the transaction that writes the outbox rows. This test runs the real thing:
two `python -m bot serve` processes against the same database with a hundred due items (a
digest per team, nudges, escalations), and the local connector counts what actually arrives.

Both replicas sweep right after their start, racing for the same rows. After that one sweeps
every 5 s and the other every 7 s, so their ticks drift against each other; the test reads the
ticks from the scheduler's log and lets the last escalations fall due just before a tick of each
replica in turn, so that both provably claim work (one replica taking everything would prove
little).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import zoneinfo
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from replica_support import (
    Replica,
    free_ports,
    quiet,
    replica_env,
    senders,
    start_all,
    truncate,
    until,
    until_async,
)
from sqlalchemy import func, select

from bot.chat import local_identity
from bot.deadlines import DEFAULT_CALENDAR
from bot.local_channel import BOT_ID, LOCAL_TENANT, LocalConnector, Received
from bot.registry import RegistryRole
from bot.sturing import MeetingRhythm, latest_digest_slot, next_digest_slot, nudge_at
from bot.sturingsoverleg import PURPOSE
from bot.workflow import RequestStatus
from requesting import load_content
from storage.db import Database
from storage.models import (
    ChannelLink,
    Digest,
    Notification,
    Person,
    PersonRole,
    Request,
)

pytestmark = pytest.mark.postgres

TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")
LEAD = dt.timedelta(minutes=120)
NUDGE_WORKING_DAYS = 2
# The basisteams of the demo registry, each with a gemeente it serves.
TEAMS = {
    "heuvelrug": "zeist",
    "amersfoort": "amersfoort",
    "utrecht_centrum": "utrecht",
    "utrecht_west": "utrecht",
    "gooi_vechtstreek": "hilversum",
}
# Coördinatoren per person: the demo registry's, and people added here for the other teams.
DEMO_COORDINATORS = {
    "Carla Coördinator": ("heuvelrug",),
    "Pieter Politie": ("heuvelrug", "amersfoort"),
}
EXTRA_COORDINATORS = {
    "Ulla Utrecht": ("utrecht_centrum", "utrecht_west"),
    "Wim West": ("utrecht_west",),
    "Gijs Gooi": ("gooi_vechtstreek",),
}
# With one digest per team: a hundred due items.
NUDGES, OVERDUE, FALLING_DUE = 40, 30, 25
SWEEP_SECONDS = {"a": 5, "b": 7}
# A tick gets the escalations that fall due just before it when the other replica's ticks keep
# at least this far away on either side (sweeps take well under that).
CLEAR_BEFORE = dt.timedelta(seconds=1.2)
CLEAR_AFTER = dt.timedelta(seconds=0.6)

REFERENCE = re.compile(r"\*\*(BR-\d{4}-\d{4})\*\*")
TICK = re.compile(r'Running job "sweep_reminders \(.*?\)" \(scheduled at ([^)]+)\)')
CLAIMS = re.compile(r"reminders: (\d+) digests, (\d+) nudged, (\d+) escalated")


def aad(name: str) -> str:
    return local_identity(name)[1]


ANNE = aad("Anne Aanvrager")


def coordinators_of(team: str) -> list[str]:
    people = {**DEMO_COORDINATORS, **EXTRA_COORDINATORS}
    return sorted(aad(name) for name, teams in people.items() if team in teams)


def channel_of(team: str) -> str:
    return f"19:team-{team}@thread.tacv2"


def channel_reference(team: str, service_url: str) -> dict[str, Any]:
    """What `dialogs.beheer.channel_reference` stores for a channel the command was typed in."""
    return {
        "serviceUrl": service_url,
        "channelId": "msteams",
        "conversation": {
            "id": channel_of(team),
            "conversationType": "channel",
            "tenantId": LOCAL_TENANT,
        },
        "bot": {"id": BOT_ID},
    }


@dataclass
class SweepingReplica(Replica):
    """A replica whose reminder sweep runs every `sweep_seconds`; its log says when it ticked
    and what it claimed."""

    sweep_seconds: int = 5

    def __post_init__(self) -> None:
        self.env["REMINDER_SWEEP_SECONDS"] = str(self.sweep_seconds)

    def ticks(self) -> list[dt.datetime]:
        """When the scheduler ran `sweep_reminders` (its planned moments: the interval grid)."""
        return [dt.datetime.fromisoformat(moment) for moment in TICK.findall(self.log())]

    def has_swept(self) -> bool:
        return bool(self.ticks())

    def claims(self) -> tuple[int, int, int]:
        """Digests, nudges and escalations this replica claimed, from its log."""
        counts = [tuple(int(n) for n in match) for match in CLAIMS.findall(self.log())]
        return (
            sum(c[0] for c in counts),
            sum(c[1] for c in counts),
            sum(c[2] for c in counts),
        )


@pytest.fixture
async def shared_database(postgres_url: str) -> AsyncIterator[Database]:
    """The session's PostgreSQL database, emptied: both replicas and the test use it."""
    await truncate(postgres_url)
    db = Database.connect(postgres_url)
    yield db
    await db.dispose()


def _request(
    number: int,
    team: str,
    due_at: dt.datetime,
    now: dt.datetime,
    nudged_at: dt.datetime | None = None,
) -> Request:
    status = (RequestStatus.INGEDIEND, RequestStatus.IN_OPSTELLING)[number % 2]
    return Request(
        reference=f"BR-2026-{number:04d}",
        status=status.value,
        version=1,
        bevoegdheid_id="sluiting_drugspand",
        gemeente_id=TEAMS[team],
        basisteam_id=team,
        subject="Pand",
        criminal_investigation="nee",
        boa_route_possible=False,
        report_type="eenvoudig",
        desired_date=(now + dt.timedelta(days=30)).date(),
        answers={},
        requester_aad_id=ANNE,
        requester_name="Anne Aanvrager",
        requester_conversation={},
        created_at=now - dt.timedelta(days=20),
        updated_at=now - dt.timedelta(days=10),
        status_since=now - dt.timedelta(days=10),
        due_at=due_at,
        nudged_at=nudged_at,
    )


@dataclass
class Seeded:
    meetings: dict[str, dt.datetime]  # the digest each team should get: its meeting
    nudged: dict[str, str]  # reference -> basisteam
    overdue: dict[str, str]


async def seed(database: Database, service_url: str, now: dt.datetime) -> Seeded:
    """Coördinatoren for every team, a linked channel per team whose last digest is due, 40
    requests due in a few hours (nudges) and 30 overdue ones (escalations)."""
    teams = list(TEAMS)
    seeded = Seeded({}, {}, {})
    async with database.sessions.begin() as session:
        for name, scopes in EXTRA_COORDINATORS.items():
            session.add(Person(aad_object_id=aad(name), name=name, email=""))
            await session.flush()
            for scope in scopes:
                session.add(
                    PersonRole(
                        aad_object_id=aad(name), role=RegistryRole.COORDINATOR.value, scope=scope
                    )
                )
        linked_at = now - dt.timedelta(days=30)
        for index, team in enumerate(teams):
            # Yesterday's weekday, some hours before the current time: the agenda of yesterday's
            # meeting is due (late), the next one is six days away.
            local = (now - dt.timedelta(days=1, hours=index)).astimezone(TZ)
            rhythm = MeetingRhythm(local.weekday(), dt.time(local.hour, local.minute))
            meeting = latest_digest_slot(rhythm, now, LEAD, TZ)
            assert linked_at < meeting - LEAD < now - dt.timedelta(hours=1)
            assert next_digest_slot(rhythm, now, LEAD, TZ) - LEAD > now + dt.timedelta(days=1)
            seeded.meetings[team] = meeting
            session.add(
                ChannelLink(
                    purpose=PURPOSE,
                    basisteam_id=team,
                    conversation=channel_reference(team, service_url),
                    service_url=service_url,
                    linked_by=aad("Pieter Politie"),
                    linked_at=linked_at,
                    meeting_rhythm=rhythm.to_text(),
                )
            )
        for number in range(1, NUDGES + OVERDUE + 1):
            team = teams[number % len(teams)]
            if number <= NUDGES:
                due_at = now + dt.timedelta(hours=3, minutes=number)
                # Due in a few hours, so the nudge (08:00, two working days before) is past.
                assert nudge_at(due_at, NUDGE_WORKING_DAYS, TZ, DEFAULT_CALENDAR) <= now
                request = _request(number, team, due_at, now)
                seeded.nudged[request.reference] = team
            else:
                request = _request(number, team, now - dt.timedelta(days=1, minutes=number), now)
                seeded.overdue[request.reference] = team
            session.add(request)
    return seeded


def plan_ticks(
    replicas: list[SweepingReplica], earliest: dt.datetime
) -> dict[str, list[dt.datetime]]:
    """Per replica, its next ticks (at most two, within 15 s) that the other replica's ticks
    leave clear on both sides: escalations due just before such a tick go to that replica."""
    grids = {
        r.name: [r.ticks()[-1] + dt.timedelta(seconds=r.sweep_seconds * k) for k in range(8)]
        for r in replicas
    }
    horizon = earliest + dt.timedelta(seconds=15)
    chosen: dict[str, list[dt.datetime]] = {}
    for name, grid in grids.items():
        others = [moment for other, ticks in grids.items() if other != name for moment in ticks]
        chosen[name] = [
            moment
            for moment in grid
            if earliest <= moment <= horizon
            and all(not moment - CLEAR_BEFORE < o < moment + CLEAR_AFTER for o in others)
        ][:2]
    return chosen


async def test_two_replicas_deliver_a_hundred_due_reminders_exactly_once(
    shared_database: Database, postgres_url: str, connector: LocalConnector, tmp_path: Path
) -> None:
    database = shared_database
    await load_content(postgres_url)
    now = dt.datetime.now(dt.UTC)
    seeded = await seed(database, connector.url, now)

    env = replica_env(
        postgres_url,
        connector,
        TIME_ZONE=TZ.key,
        NUDGE_WORKING_DAYS=str(NUDGE_WORKING_DAYS),
        DIGEST_LEAD_MINUTES=str(int(LEAD.total_seconds() // 60)),
    )
    replicas = [
        SweepingReplica(name, port, tmp_path / f"replica-{name}.log", sweep_seconds=seconds)
        for (name, seconds), port in zip(
            SWEEP_SECONDS.items(), free_ports(len(SWEEP_SECONDS)), strict=True
        )
    ]
    falling: dict[str, str] = {}  # reference -> basisteam
    planned: dict[str, list[dt.datetime]] = {}
    started = time.monotonic()
    try:
        # Started together: both sweep at once on start and race for the same rows.
        await start_all(replicas, env)
        for replica in replicas:
            await until(replica.has_swept, 10, f"a sweep logged by replica {replica.name}")

        # The rest falls due while both run, just before ticks of each replica in turn.
        earliest = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
        planned = plan_ticks(replicas, earliest)
        assert all(planned.values()), f"no clear tick for a replica: {planned}"
        moments = sorted(moment for ticks in planned.values() for moment in ticks)
        async with database.sessions.begin() as session:
            for index in range(FALLING_DUE):
                number = NUDGES + OVERDUE + 1 + index
                team = list(TEAMS)[number % len(TEAMS)]
                moment = moments[index % len(moments)]
                due_at = moment - dt.timedelta(seconds=0.4 + 0.02 * (index // len(moments)))
                # Nudged before (so only the escalation is due here).
                request = _request(number, team, due_at, now, nudged_at=now - dt.timedelta(days=1))
                falling[request.reference] = team
                session.add(request)
        # Stored before the first of those ticks, or the plan is off (not the product).
        assert dt.datetime.now(dt.UTC) < min(moments) - dt.timedelta(seconds=0.2)

        nudge_references = list(seeded.nudged)

        async def settled() -> bool:
            async with database.sessions() as session:
                open_rows = await session.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.status.in_(("pending", "sending")))
                )
                digests = await session.scalar(select(func.count()).select_from(Digest))
                nudged = await session.scalar(
                    select(func.count())
                    .select_from(Request)
                    .where(Request.reference.in_(nudge_references), Request.nudged_at.is_not(None))
                )
                escalated = await session.scalar(
                    select(func.count())
                    .select_from(Request)
                    .where(Request.escalated_at.is_not(None))
                )
            return (open_rows, digests, nudged, escalated) == (
                0,
                len(TEAMS),
                NUDGES,
                OVERDUE + FALLING_DUE,
            )

        await until(
            lambda: dt.datetime.now(dt.UTC) > max(moments) + dt.timedelta(seconds=0.5), 30, "ticks"
        )
        await until_async(settled, 30, "every due item claimed and the outbox drained")
        await quiet(connector, seconds=2.0, timeout=30)
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
        took = time.monotonic() - started
        for replica in replicas:
            print(f"===== replica {replica.name} (every {replica.sweep_seconds} s) =====")
            print(replica.log())
        print(f"replicas ran {took:.1f} s; planned ticks {planned}")

    posts = [r for r in connector.received if r.method == "POST" and r.path.endswith("/activities")]
    assert [r for r in connector.received if r.method not in ("POST",)] == []

    # One digest card per team channel, for the meeting the test expects.
    channels = {channel_of(team): team for team in TEAMS}
    digests = [r for r in posts if r.cards]
    assert Counter(channels.get(r.conversation_id) for r in digests) == Counter(list(TEAMS))
    for post in digests:
        assert str(post.body.get("summary")).startswith("Agenda sturingsoverleg"), post.body
    async with database.sessions() as session:
        stored = list((await session.execute(select(Digest))).scalars())
        requests = {r.reference: r for r in (await session.execute(select(Request))).scalars()}
        outbox = list((await session.execute(select(Notification))).scalars())
    assert sorted((d.basisteam_id, d.meeting_at) for d in stored) == sorted(seeded.meetings.items())

    # Every escalation in its team's channel exactly once; nothing else posted there.
    escalations = [r for r in posts if not r.cards and r.conversation_id in channels]
    for post in escalations:
        assert "Termijn verstreken in" in post.text, post.text
    escalated = Counter(
        (channels[post.conversation_id], reference)
        for post in escalations
        for reference in REFERENCE.findall(post.text)
    )
    overdue = {**seeded.overdue, **falling}
    assert escalated == Counter((team, reference) for reference, team in overdue.items())

    # Every nudge exactly once to every coördinator of the team, in their personal chat.
    personal = {f"a:personal-{aad(name)}": aad(name) for name in DEMO_COORDINATORS}
    personal |= {f"a:personal-{aad(name)}": aad(name) for name in EXTRA_COORDINATORS}
    nudges = [r for r in posts if r.conversation_id not in channels]
    assert {r.conversation_id for r in nudges} <= set(personal), _where(nudges)
    for post in nudges:
        assert "Herinnering" in post.text, post.text
    nudged = Counter(
        (personal[post.conversation_id], reference)
        for post in nudges
        for reference in REFERENCE.findall(post.text)
    )
    assert nudged == Counter(
        (person, reference)
        for reference, team in seeded.nudged.items()
        for person in coordinators_of(team)
    )

    # The database agrees: every claim once, every outbox row delivered.
    assert Counter(row.status for row in outbox) == {"sent": len(outbox)}
    assert len(outbox) == len(posts)
    for reference in seeded.nudged:
        assert requests[reference].nudged_at is not None, reference
        assert requests[reference].escalated_at is None, reference
    for reference in overdue:
        assert requests[reference].escalated_at is not None, reference
    for reference in seeded.overdue:
        assert requests[reference].nudged_at is None, reference
    for reference in falling:
        assert requests[reference].nudged_at == now - dt.timedelta(days=1), reference

    # Both replicas did part of the work: their logs add up to every item exactly once, each
    # claimed some of it, and each sent some of the outbox.
    claims = {r.name: r.claims() for r in replicas}
    totals = tuple(sum(c[i] for c in claims.values()) for i in range(3))
    assert totals == (len(TEAMS), NUDGES, OVERDUE + FALLING_DUE), claims
    assert all(sum(c) > 0 for c in claims.values()), claims
    sent_by = senders(outbox)
    assert set(sent_by) == {r.pid for r in replicas}, sent_by
    for replica in replicas:
        assert " ERROR " not in replica.log(), replica.name
        # SIGTERM is a clean stop: scheduler and notifier wound down, nothing killed.
        assert replica.process is not None and replica.process.returncode == 0, replica.name


def _where(posts: list[Received]) -> list[str]:
    return sorted({post.conversation_id for post in posts})
