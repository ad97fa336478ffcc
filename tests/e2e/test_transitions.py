"""Every transition of the table, and every step it forbids, as Teams delivers the click: an
`adaptiveCard/action` invoke on `/api/messages`, the actor taken from the activity.

`tests/bot/test_lifecycle_rules.py` checks the same table against the use case directly; this
suite proves the adapter, the invoke handling and the notifications in between add nothing and
lose nothing. Requests are stored directly in each state, so one server walks the whole table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.chat import local_identity
from bot.local_channel import LocalConnector
from bot.workflow import Action, Needs, RequestStatus, Role, Transition
from cards.render import text
from requesting import ACTOR_OF, INPUTS, ON_CARDS, load_content, seed
from storage.db import Database
from storage.models import Request, RequestEvent
from support import BotServer, FakeClock, local_settings

CARD = "application/vnd.microsoft.card.adaptive"
ANNE = "Anne Aanvrager"


class Table:
    def __init__(self, server: BotServer, connector: LocalConnector, database: Database) -> None:
        self.server, self.connector, self.database = server, connector, database

    async def click(
        self, name: str, reference: str, verb: str
    ) -> tuple[int, dict[str, Any], list[str]]:
        """Press `verb` on the request's card as `name`, with the version the card shows."""
        request = await self.request(reference)
        chat = self.server.session(name)
        status, body, replies = await chat.post(
            chat.activity(
                type="invoke",
                name="adaptiveCard/action",
                value={
                    "action": {
                        "type": "Action.Execute",
                        "verb": verb,
                        "data": {"reference": reference, "version": request.version, **INPUTS},
                    },
                    "trigger": "manual",
                },
            )
        )
        return status, body, [r.text for r in replies if r.text]

    async def request(self, reference: str) -> Request:
        async with self.database.sessions() as session:
            return (
                await session.execute(select(Request).where(Request.reference == reference))
            ).scalar_one()

    async def events(self, reference: str) -> list[RequestEvent]:
        async with self.database.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(RequestEvent)
                        .join(Request, Request.id == RequestEvent.request_id)
                        .where(Request.reference == reference)
                    )
                ).scalars()
            )

    def notices_to_anne(self, reference: str) -> list[str]:
        """What reached Anne's personal chat: the one the bot opened, or, once she has written
        to the bot herself, the chat she wrote in."""
        anne = local_identity(ANNE)[1]
        return [
            r.text
            for chat in (f"a:personal-{anne}", f"a:local-chat-{anne}")
            for r in self.connector.sent_to(chat)
            if r.method == "POST" and r.text and reference in r.text
        ]


@pytest.fixture
async def table(database_url: str, connector: LocalConnector) -> AsyncIterator[Table]:
    await load_content(database_url)
    server = await BotServer(local_settings(database_url), connector, FakeClock()).start()
    database = Database.connect(database_url)
    yield Table(server, connector, database)
    await database.dispose()
    await server.stop()


def investigation_for(step: Transition) -> str:
    return "ja" if step.needs is Needs.INVESTIGATION_DATA else "nee"


async def test_every_transition_is_made_from_the_card_by_its_roles(table: Table) -> None:
    cases = [(step, role) for step in ON_CARDS for role in sorted(step.roles)]
    assert len(cases) >= len(ON_CARDS) > 15
    for step, role in cases:
        case = f"{step.action.value} {step.source.value} as {role.value}"
        reference = await seed(table.database, step.source, investigation_for(step))
        status, body, _ = await table.click(ACTOR_OF[role], reference, step.action.value)
        assert status == 200 and body.get("type") == CARD, case
        request = await table.request(reference)
        assert (request.status, request.version) == (step.target.value, 2), case
        [event] = await table.events(reference)
        assert (event.action, event.from_status, event.to_status, event.actor_name) == (
            step.action.value,
            step.source.value,
            step.target.value,
            ACTOR_OF[role],
        ), case
        await table.server.deliver()
        # The requester hears of every change she did not make herself, with the new status.
        heard = table.notices_to_anne(reference)
        if role is Role.AANVRAGER:
            assert heard == [], case
        else:
            assert len(heard) == 1, case
            assert text(f"status_{step.target.value}") in heard[0], case


async def test_every_other_step_is_refused_with_the_allowed_next_steps(table: Table) -> None:
    for source in RequestStatus:
        if source is RequestStatus.CONCEPT:
            continue
        reference = await seed(table.database, source, "nee")
        for role, name in ACTOR_OF.items():
            allowed = {t.action for t in ON_CARDS if t.source is source and role in t.roles}
            for action in Action:
                if action in allowed:
                    continue
                case = f"{action.value} {source.value} as {role.value}"
                status, _, said = await table.click(name, reference, action.value)
                assert status == 200, case
                assert any("Dat kan nu niet" in line for line in said), (case, said)
                if allowed:
                    offered = [text(f"action_{a.value}") for a in allowed]
                    assert any(o in line for o in offered for line in said), (case, said)
                else:
                    assert any("geen volgende stap" in line for line in said), (case, said)
        request = await table.request(reference)
        assert (request.status, request.version) == (source.value, 1), source
        assert await table.events(reference) == [], source
    async with table.database.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(RequestEvent))).scalar() == 0
