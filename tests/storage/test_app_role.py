"""The application's own PostgreSQL role (storage/grants.py): the audit trail and the deletion
records are append-only for it, the bot's work still runs under it, and retention blanks the
audit trail only through migration 0008's function.

A throwaway login role (unique name, dropped at the end) gets exactly what `python -m bot privacy
grants` prints; the test then connects as that role (trust authentication on the test server).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot import lifecycle, services
from bot.due_dates import DEFAULT_POLICY
from bot.retention import PURGED, purge
from requesting import load_content
from storage.db import Database
from storage.grants import BLANK_EVENTS_FUNCTION, app_role_statements
from storage.models import Base, Deletion, Request, RequestEvent

pytestmark = pytest.mark.postgres

TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")
NOW = dt.datetime.now(dt.UTC)
RETENTION = dt.timedelta(days=365)
ANNE = services.Person("48a91db4-66e2-5e09-b0ba-6bc4df771664", "Anne Aanvrager")
CARLA = lifecycle.Actor("d0ac1686-9658-5960-b41c-2854b83feb9a", "Carla Coördinator")
SUBJECT = "Pand aan de Kerkstraat, familie Jansen"


@dataclass
class AppRole:
    name: str
    url: str  # the bot's database, as the role

    async def connect(self) -> asyncpg.Connection:
        url = make_url(self.url)
        return await asyncpg.connect(
            host=url.host, port=url.port, user=self.name, database=url.database, timeout=5
        )


async def _owner(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
        timeout=5,
    )


@pytest.fixture
async def app_role(postgres_url: str) -> AsyncIterator[AppRole]:
    owner = await _owner(postgres_url)
    name = f"rapportagebot_test_app_{uuid.uuid4().hex[:10]}"
    try:
        names = ", ".join(table.name for table in Base.metadata.sorted_tables)
        await owner.execute(f"TRUNCATE {names}")
        await owner.execute(f"CREATE ROLE {name} LOGIN")
        for statement in app_role_statements(name):
            await owner.execute(statement)
        url = make_url(postgres_url).set(username=name, password=None)
        yield AppRole(name, url.render_as_string(hide_password=False))
    finally:
        # Privileges in this database would keep the role from being dropped.
        await owner.execute(f"DROP OWNED BY {name}")
        await owner.execute(f"DROP ROLE IF EXISTS {name}")
        await owner.close()


async def _submit_and_decline(database: Database, now: dt.datetime) -> str:
    """What the bot does for a request that is declined: as the role, through the use cases."""
    catalogue = await services.load_catalogue(database)
    answers = {
        "bevoegdheid": "sluiting_drugspand",
        "gemeente": "zeist",
        "basisteam": "heuvelrug",
        "onderwerp": SUBJECT,
        "strafrechtelijk_onderzoek": "nee",
        "boa_route_mogelijk": False,
        "rapportagetype": "eenvoudig",
        "gewenste_datum": (now + dt.timedelta(days=60)).date().isoformat(),
        "checklist.pand_type": "bedrijfspand",
        "checklist.aard_overtreding": "beide",
        "checklist.soort_middel": "softdrugs",
        "checklist.eerdere_waarschuwing": False,
        "checklist.beleidsregel": True,
        "checklist.periode": "drie_maanden",
        "checklist.zaaknummer": "Zaak van de familie Jansen",
    }
    submitted = await services.submit(
        database,
        answers=answers,
        requester=ANNE,
        conversation={"conversation": {"id": "a:anne"}},
        catalogue=catalogue,
        now=now,
        tz=TZ,
        deadlines=DEFAULT_POLICY,
    )
    result = await lifecycle.act(
        database,
        reference=submitted.reference,
        verb="afwijzen",
        actor=CARLA,
        seen_version=1,
        inputs={"afwijzen_reason": "Geen grond voor de familie Jansen"},
        activity_id=f"activity-{uuid.uuid4().hex}",
        now=now,
        tz=TZ,
        catalogue=catalogue,
        deadlines=DEFAULT_POLICY,
    )
    assert result.outcome is lifecycle.Outcome.DONE, result.message
    return submitted.reference


async def test_the_app_role_cannot_rewrite_the_audit_trail_but_the_bot_works_and_purges(
    postgres_url: str, app_role: AppRole
) -> None:
    await load_content(postgres_url)  # as the owner, like `kb import` / `admin import`
    database = Database.connect(app_role.url)
    try:
        # Closed 400 days ago by the clock of the use cases (the database function checks the
        # period against the database's clock too, so the past must be real).
        closed_long_ago = await _submit_and_decline(database, NOW - dt.timedelta(days=400))
        closed_recently = await _submit_and_decline(database, NOW - dt.timedelta(days=10))

        connection = await app_role.connect()
        try:
            for statement in (
                "UPDATE request_events SET reason = 'herschreven'",
                "UPDATE request_events SET actor_name = 'iemand anders'",
                "DELETE FROM request_events",
                "TRUNCATE request_events",
                "UPDATE deletions SET retention_days = 1",
                "DELETE FROM deletions",
            ):
                with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                    await connection.execute(statement)
            request_id = await connection.fetchval(
                "SELECT id FROM requests WHERE reference = $1", closed_recently
            )
            # Appending is what the role may do.
            await connection.execute(
                "INSERT INTO request_events (request_id, at, actor_aad_id, actor_name, action,"
                " from_status, to_status) VALUES ($1, now(), 'x', 'Xander', 'test', 'a', 'b')",
                request_id,
            )
            # The function blanks nothing of a request that is not closed for the period, and
            # refuses a period under the floor whatever the caller claims.
            with pytest.raises(asyncpg.exceptions.RaiseError, match="retention period"):
                await connection.fetchval(
                    f"SELECT {BLANK_EVENTS_FUNCTION}($1, $2, $3)",
                    request_id,
                    RETENTION,
                    NOW + dt.timedelta(days=1000),
                )
            with pytest.raises(asyncpg.exceptions.RaiseError, match="shorter than 30 days"):
                await connection.fetchval(
                    f"SELECT {BLANK_EVENTS_FUNCTION}($1, $2, $3)",
                    request_id,
                    dt.timedelta(days=1),
                    NOW,
                )
        finally:
            await connection.close()

        report = await purge(database, now=NOW, retention=RETENTION)
        assert [p.reference for p in report.purged] == [closed_long_ago]
        async with database.sessions() as session:
            purged = (
                await session.execute(select(Request).where(Request.reference == closed_long_ago))
            ).scalar_one()
            events = (
                await session.execute(
                    select(RequestEvent).where(RequestEvent.request_id == purged.id)
                )
            ).scalars()
            assert [(e.actor_name, e.reason) for e in events] == [
                (PURGED, None),
                (PURGED, PURGED),
            ]
            assert purged.subject == PURGED
            assert await session.scalar(select(Deletion.request_id)) == purged.id
    finally:
        await database.dispose()


async def test_execute_on_the_function_is_not_public(postgres_url: str, app_role: AppRole) -> None:
    database = Database.connect(postgres_url)
    try:
        async with database.engine.connect() as connection:
            public = await connection.scalar(
                text(
                    "SELECT bool_or(acl.grantee = 0) FROM pg_proc,"
                    " aclexplode(proacl) AS acl WHERE proname = :name"
                ),
                {"name": BLANK_EVENTS_FUNCTION},
            )
            granted = await connection.scalar(
                text(
                    "SELECT has_function_privilege(:role, oid, 'EXECUTE') FROM pg_proc"
                    " WHERE proname = :name"
                ),
                {"role": app_role.name, "name": BLANK_EVENTS_FUNCTION},
            )
    finally:
        await database.dispose()
    assert public is False
    assert granted is True
