"""Entering a state through the use case stores that state's due date (real database)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot import lifecycle, services
from bot.chat import local_identity
from bot.due_dates import DEFAULT_POLICY, DeadlinePolicy, validate_overrides
from bot.workflow import Needs, ReportType, RequestStatus, Role, Transition
from requesting import ACTOR_OF, INPUTS, NOW, ON_CARDS, load_content, seed
from storage.db import Database
from storage.models import Request

TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await load_content(database_url)
    db = Database.connect(database_url)
    yield db
    await db.dispose()


async def stored(database: Database) -> Request:
    async with database.sessions() as session:
        return (await session.execute(select(Request))).scalar_one()


@pytest.mark.parametrize(
    "step",
    ON_CARDS,
    ids=lambda t: t.action.value + "-" + t.source.value,
)
async def test_every_transition_sets_the_due_date_of_its_target(
    database: Database, step: Transition
) -> None:
    investigation = "ja" if step.needs is Needs.INVESTIGATION_DATA else "nee"
    reference = await seed(database, step.source, investigation)
    before = await stored(database)
    role = sorted(step.roles)[0]
    name = ACTOR_OF[role]
    policy = DeadlinePolicy(
        aanvulling_working_days=10, overrides=validate_overrides({"in_opstelling": 7})
    )
    result = await lifecycle.act(
        database,
        reference=reference,
        verb=step.action.value,
        actor=lifecycle.Actor(local_identity(name)[1], name),
        seen_version=before.version,
        inputs=INPUTS,
        activity_id=None,
        now=NOW,
        tz=TZ,
        catalogue=await services.load_catalogue(database),
        deadlines=policy,
    )
    assert result.outcome is lifecycle.Outcome.DONE, result.message
    request = await stored(database)
    expected = policy.due_at(step.target, ReportType(request.report_type), NOW, TZ)
    due = request.due_at
    if due is not None and due.tzinfo is None:  # SQLite hands back naive UTC
        due = due.replace(tzinfo=dt.UTC)
    assert due == expected
    if step.target is RequestStatus.OM_TOETSING:
        # Mon 23 Nov 2026 + 10 werkdagen = Mon 7 Dec, 23:59:59 local (CET).
        assert due == dt.datetime(2026, 12, 7, 22, 59, 59, tzinfo=dt.UTC)
    if step.target is RequestStatus.IN_OPSTELLING:
        assert due == DEFAULT_POLICY.calendar.due_at(NOW, 7, TZ)
    assert role in Role
