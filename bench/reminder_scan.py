"""Finding due reminder work among 100,000 requests: what one sweep tick reads before it sends.

Every `REMINDER_SWEEP_SECONDS` each replica asks the database which sturingsoverleg agendas,
nudges and escalations are due (`bot.reminders.due_digests`, `due_nudges`, `due_escalations`,
each in a session of its own, exactly as `reminders.sweep` calls them). That read runs every
minute for the life of the bot, mostly finding nothing, so it must stay cheap as the requests
table grows; the sending (claims, cards, outbox) only happens for what it finds and is not
timed here.

The database is made the way the app makes it (Alembic migrations, `storage.migrate.upgrade`)
and filled with SQLAlchemy core in bulk, with a fixed seed: about three years of requests, most
of them closed, a few thousand open in every waiting state with due dates from the real
deadline policy, and reminders as a bot would have left them that was down from Monday 17:00
until Tuesday 08:40 (Europe/Amsterdam): everything that fell due before the outage was nudged,
escalated or posted, everything that fell due during it was not. So the scan finds real work:
Tuesday's 08:00 nudges, Monday's passed deadlines and the agendas of the teams that met in
between, and the benchmark checks that it finds exactly what the seed left due.

For the README it records the query plan of every statement the scan runs (EXPLAIN QUERY PLAN
on SQLite, EXPLAIN on PostgreSQL, after ANALYZE as autovacuum would have done). SQLite is always
measured; PostgreSQL too when BENCH_DATABASE_URL or TEST_DATABASE_URL names a server, in a
database of its own that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert, text, update
from sqlalchemy.engine import make_url

from bot import reminders
from bot.deadlines import DEFAULT_CALENDAR
from bot.due_dates import DEFAULT_POLICY
from bot.sturing import MeetingRhythm, latest_digest_slot, meeting_at, nudge_at
from bot.sturingsoverleg import PURPOSE
from bot.workflow import ReportType, RequestStatus
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    Basisteam,
    BasisteamGemeente,
    ChannelLink,
    Digest,
    Gemeente,
    Request,
)

REQUESTS = 100_000
RUNS = 150
WARM_UP = 10
TARGET_SCAN_MS = 50.0
SEED = 20261124
TZ = ZoneInfo("Europe/Amsterdam")
# Tuesday 08:40 in Amsterdam; the bot was down since Monday 17:00.
NOW = dt.datetime(2026, 11, 24, 7, 40, tzinfo=dt.UTC)
DOWN_SINCE = dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC)
HISTORY = dt.timedelta(days=3 * 365)
# The app's defaults (bot/config.py): DIGEST_LEAD_MINUTES, NUDGE_WORKING_DAYS,
# REMINDER_LATE_AFTER_MINUTES.
POLICY = reminders.ReminderPolicy(
    digest_lead=dt.timedelta(minutes=120),
    nudge_working_days=2,
    late_after=dt.timedelta(minutes=15),
    calendar=DEFAULT_CALENDAR,
)
GEMEENTEN = 40
BASISTEAMS = 24
# Weekly meetings of the linked teams ("weekday HH:MM", as ChannelLink.meeting_rhythm stores
# them): several on Monday and Tuesday, so some agendas fell due during the outage.
RHYTHMS = (
    "0 09:00",
    "0 13:30",
    "0 19:00",
    "1 09:30",
    "1 10:00",
    "1 10:00",
    "1 10:30",
    "1 14:00",
    "2 09:00",
    "2 10:00",
    "3 09:30",
    "3 13:00",
    "4 09:00",
    "4 11:00",
    "0 14:00",  # linked on Monday 15:30, after that day's agenda time: not owed
    "1 10:15",
)
LINKED_WITHOUT_RHYTHM = 3
# Share of the requests per status; about 5% open, the rest closed (or delivered and not yet
# closed by the gemeente, which has no deadline).
STATUS_WEIGHTS: dict[RequestStatus, float] = {
    RequestStatus.AFGEROND: 79.0,
    RequestStatus.AFGEWEZEN: 6.5,
    RequestStatus.INGETROKKEN: 6.0,
    RequestStatus.VERSTREKT: 3.0,
    RequestStatus.INGEDIEND: 0.6,
    RequestStatus.AANVULLING_GEVRAAGD: 0.4,
    RequestStatus.GEACCEPTEERD: 0.7,
    RequestStatus.AFSTEMMING_ZAAKOFFICIER: 0.3,
    RequestStatus.IN_OPSTELLING: 1.8,
    RequestStatus.KWALITEITSCONTROLE: 0.7,
    RequestStatus.OM_TOETSING: 0.5,
}
REPORT_TYPE_WEIGHTS = {
    ReportType.EENVOUDIG: 60.0,
    ReportType.COMPLEX_SPOEDEISEND: 30.0,
    ReportType.ZEER_COMPLEX_INNOVATIEF: 10.0,
}
BEVOEGDHEDEN = (
    "sluiting_drugspand",
    "bibob_weigering_intrekking",
    "gebiedsverbod_groepsverbod",
    "tijdelijk_huisverbod",
    "horeca_exploitatievergunning",
    "sluiting_woning_openbare_orde",
    "last_onder_bestuursdwang_dwangsom",
    "cameratoezicht",
)
WATCHED = frozenset(reminders.WATCHED_STATES)
CLOSED = frozenset({RequestStatus.AFGEROND, RequestStatus.AFGEWEZEN, RequestStatus.INGETROKKEN})
BATCH = 5000


@dataclass
class Seeded:
    """What the seed left due at NOW: the scan must find exactly this."""

    digests: set[tuple[str, dt.datetime]] = field(default_factory=set)
    nudges: set[int] = field(default_factory=set)
    escalations: set[int] = field(default_factory=set)
    late: int = 0
    open_requests: int = 0


def _conversation(conversation_id: str) -> dict[str, Any]:
    return {
        "conversation": {"id": conversation_id, "conversationType": "channel"},
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "channelId": "msteams",
        "bot": {"id": "28:rapportagebot"},
    }


def _registry(seeded: Seeded) -> dict[Any, list[dict[str, Any]]]:
    """Gemeenten, basisteams, their channel links and the agendas posted before the outage."""
    gemeenten = [{"id": f"gemeente_{n:02d}", "name": f"Gemeente {n}"} for n in range(GEMEENTEN)]
    teams = [
        {
            "id": f"basisteam_{n:02d}",
            "name": f"Basisteam {n}",
            "district": f"District {n // 6}",
            "eenheid": f"Eenheid {n // 12}",
        }
        for n in range(BASISTEAMS)
    ]
    serves = [
        {"basisteam_id": f"basisteam_{n % BASISTEAMS:02d}", "gemeente_id": f"gemeente_{n:02d}"}
        for n in range(GEMEENTEN)
    ]
    links: list[dict[str, Any]] = []
    digests: list[dict[str, Any]] = []
    for n, rhythm_text in enumerate(RHYTHMS):
        team = f"basisteam_{n:02d}"
        reference = _conversation(f"19:sturing{n:02d}@thread.tacv2")
        # Most teams linked months ago; the last-but-one on Monday 15:30, after that day's
        # agenda time (12:00), so that agenda is not owed to it.
        linked_at = (
            dt.datetime(2026, 11, 23, 14, 30, tzinfo=dt.UTC)
            if n == len(RHYTHMS) - 2
            else NOW - dt.timedelta(days=30 + 23 * n)
        )
        links.append(
            {
                "purpose": PURPOSE,
                "basisteam_id": team,
                "conversation": reference,
                "service_url": reference["serviceUrl"],
                "linked_by": "aad-coordinator",
                "linked_at": linked_at,
                "meeting_rhythm": rhythm_text,
            }
        )
        rhythm = MeetingRhythm.from_text(rhythm_text)
        latest = latest_digest_slot(rhythm, NOW, POLICY.digest_lead, TZ)
        # Walk back week by week on the local calendar (meetings keep their wall-clock time).
        for weeks_back in range(400):
            day = latest.astimezone(TZ).date() - dt.timedelta(weeks=weeks_back)
            meeting = meeting_at(rhythm, day, TZ)
            planned = meeting - POLICY.digest_lead
            if planned < linked_at:
                break
            if planned < DOWN_SINCE:
                digests.append(
                    {
                        "basisteam_id": team,
                        "meeting_at": meeting,
                        "conversation": reference,
                        "notification_key": f"digest:{team}:{meeting.isoformat()}",
                        "late": False,
                        "created_at": planned,
                    }
                )
            elif weeks_back == 0:
                seeded.digests.add((team, meeting))
                seeded.late += NOW - planned > POLICY.late_after
    for n in range(len(RHYTHMS), len(RHYTHMS) + LINKED_WITHOUT_RHYTHM):
        reference = _conversation(f"19:sturing{n:02d}@thread.tacv2")
        links.append(
            {
                "purpose": PURPOSE,
                "basisteam_id": f"basisteam_{n:02d}",
                "conversation": reference,
                "service_url": reference["serviceUrl"],
                "linked_by": "aad-coordinator",
                "linked_at": NOW - dt.timedelta(days=200),
                "meeting_rhythm": None,
            }
        )
    experts = _conversation("19:experts@thread.tacv2")
    links.append(
        {
            "purpose": "experts",
            "basisteam_id": None,
            "conversation": experts,
            "service_url": experts["serviceUrl"],
            "linked_by": "aad-beheerder",
            "linked_at": NOW - dt.timedelta(days=400),
            "meeting_rhythm": None,
        }
    )
    return {
        Gemeente: gemeenten,
        Basisteam: teams,
        BasisteamGemeente: serves,
        ChannelLink: links,
        Digest: digests,
    }


def _open_request(
    rng: random.Random,
    request_id: int,
    status: RequestStatus,
    report_type: ReportType,
    seeded: Seeded,
) -> dict[str, Any]:
    """Timing and reminder columns of an open request, as a bot down since DOWN_SINCE left it;
    what fell due during the outage is added to `seeded`."""
    days = DEFAULT_POLICY.working_days(status, report_type)
    assert days is not None
    # Up to a third past the deadline (in calendar days), so about a quarter is overdue; no
    # state was entered during the outage.
    span = dt.timedelta(days=days * 7 / 5 * 1.35)
    if status is RequestStatus.AANVULLING_GEVRAAGD:
        span = dt.timedelta(days=days * 7 / 5 * 0.9)  # longer waits are closed by their sweep
    since = DOWN_SINCE - span * rng.random()
    due_at = DEFAULT_POLICY.due_at(status, report_type, since, TZ)
    assert due_at is not None
    nudged_at = escalated_at = None
    if status in WATCHED:
        planned = nudge_at(due_at, POLICY.nudge_working_days, TZ, POLICY.calendar)
        sent = max(planned, since) + dt.timedelta(seconds=rng.randint(1, 60))
        if sent <= DOWN_SINCE:
            nudged_at = sent
        elif due_at > NOW and planned <= NOW:
            seeded.nudges.add(request_id)
            seeded.late += NOW - planned > POLICY.late_after
        if due_at <= DOWN_SINCE:
            escalated_at = max(due_at, since) + dt.timedelta(seconds=rng.randint(1, 60))
        elif due_at <= NOW:
            seeded.escalations.add(request_id)
            seeded.late += NOW - due_at > POLICY.late_after
    elif since + dt.timedelta(days=7) <= DOWN_SINCE:
        nudged_at = since + dt.timedelta(days=7)  # the aanvulling reminder
    return {
        "status_since": since,
        "due_at": due_at,
        "nudged_at": nudged_at,
        "escalated_at": escalated_at,
    }


def _requests(rng: random.Random, seeded: Seeded) -> Iterator[list[dict[str, Any]]]:
    """The requests in batches, ids 1..REQUESTS in order of creation."""
    statuses, status_weights = zip(*STATUS_WEIGHTS.items(), strict=True)
    types, type_weights = zip(*REPORT_TYPE_WEIGHTS.items(), strict=True)
    serving = {f"gemeente_{n:02d}": f"basisteam_{n % BASISTEAMS:02d}" for n in range(GEMEENTEN)}
    gemeenten = list(serving)
    start = NOW - HISTORY
    batch: list[dict[str, Any]] = []
    per_year: dict[int, int] = {}
    for request_id in range(1, REQUESTS + 1):
        status = rng.choices(statuses, status_weights)[0]
        report_type = rng.choices(types, type_weights)[0]
        gemeente = rng.choice(gemeenten)
        row: dict[str, Any] = {
            "id": request_id,
            "status": status.value,
            "report_type": report_type.value,
            "gemeente_id": gemeente,
            "basisteam_id": serving[gemeente],
            "priority": None,
            "outcome": None,
            "nudged_at": None,
            "due_at": None,
            "escalated_at": None,
        }
        if status in WATCHED or status is RequestStatus.AANVULLING_GEVRAAGD:
            row.update(_open_request(rng, request_id, status, report_type, seeded))
            created = row["status_since"] - dt.timedelta(days=40 * rng.random())
            seeded.open_requests += 1
        else:
            # Closed (or delivered) a while ago: created up to three years back, no deadline,
            # reminder columns cleared by the last transition.
            created = start + (DOWN_SINCE - dt.timedelta(days=60) - start) * rng.random()
            row["status_since"] = created + dt.timedelta(days=10 + 50 * rng.random())
        if status not in {RequestStatus.INGEDIEND, RequestStatus.AANVULLING_GEVRAAGD}:
            row["priority"] = rng.choice(("hoog", "normaal", "normaal", "laag", None))
        if status is RequestStatus.AFGEROND:
            row["outcome"] = rng.choice(("maatregel_genomen", "geen_maatregel"))
        per_year[created.year] = per_year.get(created.year, 0) + 1
        purged = status in CLOSED and NOW - row["status_since"] > dt.timedelta(days=365)
        requester = f"aad-requester-{rng.randrange(400):03d}"
        row.update(
            reference=f"BR-{created.year}-{request_id:06d}",
            version=rng.randint(2, 9) if status is not RequestStatus.INGEDIEND else 1,
            bevoegdheid_id=rng.choice(BEVOEGDHEDEN),
            subject="[verwijderd]" if purged else f"Pand aan de Dorpsstraat {request_id % 300}",
            criminal_investigation=rng.choice(("nee", "nee", "ja")),
            boa_route_possible=False,
            boa_route_reason=None,
            desired_date=(created + dt.timedelta(days=30)).date(),
            answers={"omvang": "klein", "spoed": False},
            requester_aad_id="" if purged else requester,
            requester_name="" if purged else f"Aanvrager {requester[-3:]}",
            requester_conversation={}
            if purged
            else {"conversation": {"id": f"a:{requester}"}, "serviceUrl": "https://x.test/"},
            zaakofficier_consulted=False,
            quality_feedback=None,
            created_at=created,
            updated_at=row["status_since"],
        )
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def seed(database: Database) -> Seeded:
    rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not security
    seeded = Seeded()
    async with database.engine.begin() as connection:
        for table, rows in _registry(seeded).items():
            await connection.execute(insert(table), rows)
        for batch in _requests(rng, seeded):
            await connection.execute(insert(Request), batch)
    return seeded


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Found:
    digests: list[reminders.DueDigest]
    nudges: list[reminders.DueRequest]
    escalations: list[reminders.DueRequest]
    split_ms: tuple[float, ...]

    @property
    def late(self) -> int:
        planned = [d.planned for d in self.digests]
        planned += [r.planned for r in self.nudges + self.escalations]
        return sum(NOW - moment > POLICY.late_after for moment in planned)


async def scan(database: Database) -> Found:
    """The reads of one `reminders.sweep` at NOW, each in its own session as the sweep does."""
    started = time.perf_counter()
    async with database.sessions() as session:
        digests = await reminders.due_digests(session, NOW, TZ, POLICY)
    after_digests = time.perf_counter()
    async with database.sessions() as session:
        nudges = await reminders.due_nudges(session, NOW, TZ, POLICY)
    after_nudges = time.perf_counter()
    async with database.sessions() as session:
        escalations = await reminders.due_escalations(session, NOW)
    ended = time.perf_counter()
    return Found(
        digests,
        nudges,
        escalations,
        (
            (after_digests - started) * 1000,
            (after_nudges - after_digests) * 1000,
            (ended - after_nudges) * 1000,
        ),
    )


def _check(found: Found, seeded: Seeded) -> None:
    """The scan must find what the seed left due, or the timings measure the wrong work."""
    digests = {(d.basisteam_id, d.meeting) for d in found.digests}
    nudges = {r.id for r in found.nudges}
    escalations = {r.id for r in found.escalations}
    problems = [
        f"{name}: found {len(got)}, seeded {len(want)} (missing {sorted(want - got)[:5]}, "
        f"extra {sorted(got - want)[:5]})"
        for name, got, want in (
            ("digests", digests, seeded.digests),
            ("nudges", nudges, seeded.nudges),
            ("escalations", escalations, seeded.escalations),
        )
        if got != want
    ]
    if found.late != seeded.late:
        problems.append(f"late: found {found.late}, seeded {seeded.late}")
    if problems or not (digests and nudges and escalations):
        raise AssertionError("reminder scan does not find the seeded work: " + "; ".join(problems))


@contextmanager
def _captured(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) run inside the block."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def plans(database: Database) -> dict[str, str]:
    """The query plan of each statement of the scan, in the order the sweep runs them."""
    with _captured(database) as statements:
        await scan(database)
    names = ("links", "digests_sent", "nudges", "escalations")
    if len(statements) != len(names):
        raise AssertionError(f"expected {len(names)} statements, the scan ran {len(statements)}")
    result: dict[str, str] = {}
    async with database.engine.connect() as connection:
        for name, (statement, parameters) in zip(names, statements, strict=True):
            if database.dialect == "sqlite":
                rows = await connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                )
                plan = "; ".join(str(row[-1]) for row in rows)
            else:
                rows = await connection.exec_driver_sql(
                    "EXPLAIN (COSTS OFF) " + statement, parameters
                )
                # The plan's nodes, without their conditions (which repeat the statement).
                nodes = [str(row[0]).strip().removeprefix("->  ") for row in rows]
                plan = "; ".join(n for n in nodes if not re.match(r"[A-Z][\w ]*: ", n))
            result[f"plan_{name}"] = plan
    return result


def _percentiles(timings: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return round(cuts[49], 3), round(cuts[94], 3)


async def _timed(database: Database) -> tuple[Found, list[float], list[tuple[float, ...]]]:
    for _ in range(WARM_UP):
        await scan(database)
    totals: list[float] = []
    splits: list[tuple[float, ...]] = []
    for _ in range(RUNS):
        started = time.perf_counter()
        found = await scan(database)
        totals.append((time.perf_counter() - started) * 1000)
        splits.append(found.split_ms)
    return found, totals, splits


async def claim(database: Database, found: Found) -> None:
    """Mark the found work as done, as the sweep's claims would: the next tick finds nothing."""
    async with database.engine.begin() as connection:
        await connection.execute(
            update(Request)
            .where(Request.id.in_([r.id for r in found.nudges]))
            .values(nudged_at=NOW)
        )
        await connection.execute(
            update(Request)
            .where(Request.id.in_([r.id for r in found.escalations]))
            .values(escalated_at=NOW)
        )
        await connection.execute(
            insert(Digest),
            [
                {
                    "basisteam_id": d.basisteam_id,
                    "meeting_at": d.meeting,
                    "conversation": d.conversation,
                    "notification_key": f"digest:{d.basisteam_id}:{d.meeting.isoformat()}",
                    "late": NOW - d.planned > POLICY.late_after,
                    "created_at": NOW,
                }
                for d in found.digests
            ],
        )


async def measure(url: str) -> dict[str, Any]:
    """The scan after the outage (everything the seed left due), then the scan of the next
    tick, when all of it has been claimed and nothing is due: what every other minute costs."""
    database = Database.connect(url)
    try:
        started = time.perf_counter()
        seeded = await seed(database)
        if database.dialect == "postgresql":
            # PostgreSQL's autovacuum analyses a table after a bulk insert like this one. SQLite
            # has no such thing and the app never runs ANALYZE, so its planner works without
            # statistics, as it does in production.
            async with database.engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        seed_s = time.perf_counter() - started
        _check(await scan(database), seeded)
        found, totals, splits = await _timed(database)
        _check(found, seeded)
        p50, p95 = _percentiles(totals)
        results = {
            "requests": REQUESTS,
            "open_requests": seeded.open_requests,
            "seed_s": round(seed_s, 1),
            "runs": RUNS,
            "scan_p50_ms": p50,
            "scan_p95_ms": p95,
            "digests_p50_ms": _percentiles([s[0] for s in splits])[0],
            "nudges_p50_ms": _percentiles([s[1] for s in splits])[0],
            "escalations_p50_ms": _percentiles([s[2] for s in splits])[0],
            "due_digests": len(found.digests),
            "due_nudges": len(found.nudges),
            "due_escalations": len(found.escalations),
            "due_late": found.late,
            **await plans(database),
        }
        await claim(database, found)
        idle, idle_totals, _ = await _timed(database)
        if idle.digests or idle.nudges or idle.escalations:
            raise AssertionError("the tick after the claims still finds due work")
        idle_p50, idle_p95 = _percentiles(idle_totals)
        return results | {
            "idle_scan_p50_ms": idle_p50,
            "idle_scan_p95_ms": idle_p95,
            "met": p95 <= TARGET_SCAN_MS,
        }
    finally:
        await database.dispose()


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(server_url)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _sqlite() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="reminder_scan_") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.sqlite3'}"
        upgrade(url)
        return asyncio.run(measure(url))


def _postgresql(server_url: str) -> dict[str, Any]:
    name = f"rapportagebot_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        return asyncio.run(measure(url))
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run() -> dict[str, Any]:
    results = {f"sqlite_{key}": value for key, value in _sqlite().items()}
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if server:
        results |= {f"postgresql_{key}": value for key, value in _postgresql(server).items()}
    scan_p95 = max(v for k, v in results.items() if k.endswith("scan_p95_ms"))
    results["target_scan_ms"] = TARGET_SCAN_MS
    results["met"] = scan_p95 <= TARGET_SCAN_MS
    return results
