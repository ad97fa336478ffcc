"""Every transition of the table is allowed for its roles and every other step is refused, as the
use case applies them to a stored request (real database; the cards call this same use case)."""

from __future__ import annotations

import zoneinfo
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot import lifecycle, services
from bot.chat import local_identity
from bot.due_dates import DEFAULT_POLICY
from bot.workflow import Action, Needs, RequestStatus, Role, Transition
from requesting import ACTOR_OF, INPUTS, NOW, ON_CARDS, load_content, seed
from storage.db import Database
from storage.models import Notification, Request, RequestEvent

TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await load_content(database_url)
    db = Database.connect(database_url)
    yield db
    await db.dispose()


async def act(
    database: Database, reference: str, action: Action, role: Role
) -> lifecycle.ActResult:
    name = ACTOR_OF[role]
    async with database.sessions() as session:
        request = (
            await session.execute(select(Request).where(Request.reference == reference))
        ).scalar_one()
    return await lifecycle.act(
        database,
        reference=reference,
        verb=action.value,
        actor=lifecycle.Actor(local_identity(name)[1], name),
        seen_version=request.version,
        inputs=INPUTS,
        activity_id=None,
        now=NOW,
        tz=TZ,
        catalogue=await services.load_catalogue(database),
        deadlines=DEFAULT_POLICY,
    )


def investigation_for(step: Transition) -> str:
    return "ja" if step.needs is Needs.INVESTIGATION_DATA else "nee"


@pytest.mark.parametrize(
    ("step", "role"),
    [(t, r) for t in ON_CARDS for r in sorted(t.roles)],
    ids=lambda v: v.action.value + "-" + v.source.value if isinstance(v, Transition) else str(v),
)
async def test_every_transition_is_allowed_for_its_roles(
    database: Database, step: Transition, role: Role
) -> None:
    reference = await seed(database, step.source, investigation_for(step))
    result = await act(database, reference, step.action, role)
    assert result.outcome is lifecycle.Outcome.DONE, result.message
    assert result.status is step.target
    async with database.sessions() as session:
        request = (await session.execute(select(Request))).scalar_one()
        [event] = (await session.execute(select(RequestEvent))).scalars()
        notices = (
            await session.execute(select(Notification).where(Notification.kind == "notice"))
        ).scalars()
    assert (request.status, request.version) == (step.target.value, 2)
    assert (event.action, event.from_status, event.to_status) == (
        step.action.value,
        step.source.value,
        step.target.value,
    )
    # The aanvrager hears of every change she did not make herself.
    anne = local_identity("Anne Aanvrager")[1]
    assert (role is Role.AANVRAGER) != any(n.recipient_aad_id == anne for n in notices)


@pytest.mark.parametrize(
    ("status", "role"),
    [(s, r) for s in RequestStatus if s is not RequestStatus.CONCEPT for r in ACTOR_OF],
    ids=str,
)
async def test_every_other_step_is_refused_with_the_allowed_next_steps(
    database: Database, status: RequestStatus, role: Role
) -> None:
    reference = await seed(database, status, "nee")
    allowed = {t.action for t in ON_CARDS if t.source is status and role in t.roles}
    for action in Action:
        if action in allowed:
            continue
        result = await act(database, reference, action, role)
        assert result.outcome is lifecycle.Outcome.REFUSED, (action, result.message)
        if not allowed:
            assert "geen volgende stap" in result.message
    async with database.sessions() as session:
        request = (await session.execute(select(Request))).scalar_one()
        events = (await session.execute(select(func.count()).select_from(RequestEvent))).scalar()
        queued = (await session.execute(select(func.count()).select_from(Notification))).scalar()
    assert (request.status, request.version, events, queued) == (status.value, 1, 0, 0)


async def test_investigation_data_decides_between_drafting_and_the_zaakofficier(
    database: Database,
) -> None:
    without = await seed(database, RequestStatus.GEACCEPTEERD, "nee")
    refused = await act(database, without, Action.CONSULT_ZAAKOFFICIER, Role.COORDINATOR)
    assert refused.outcome is lifecycle.Outcome.REFUSED and "Start opstellen" in refused.message
    with_data = await seed(database, RequestStatus.KWALITEITSCONTROLE, "ja")
    refused = await act(database, with_data, Action.DELIVER, Role.COORDINATOR)
    assert refused.outcome is lifecycle.Outcome.REFUSED and "Naar OM-toetsing" in refused.message
