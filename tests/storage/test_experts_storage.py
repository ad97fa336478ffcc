"""Channel links and expert questions in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot import experts
from bot.registry import load_registry
from storage import experts as store
from storage.db import Database
from storage.models import ExpertQuestion
from storage.repositories import replace_registry

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def reference(conversation_id: str) -> dict[str, object]:
    return {"serviceUrl": "https://smba.example/", "conversation": {"id": conversation_id}}


async def test_one_link_per_purpose_and_basisteam(database: Database) -> None:
    async with database.sessions.begin() as session:
        await replace_registry(session, load_registry(ROOT / "knowledge/registry/demo.yaml"))
    async with database.sessions.begin() as session:
        link = {"service_url": "https://smba.example/", "linked_by": "bea", "now": NOW}
        assert not await store.replace_channel_link(
            session, purpose="experts", basisteam_id=None, conversation=reference("a"), **link
        )
        assert await store.replace_channel_link(
            session, purpose="experts", basisteam_id=None, conversation=reference("b"), **link
        )
        # Issue 5's sturingsoverleg channels are per basisteam and do not touch the experts'.
        for team, channel in (("heuvelrug", "c"), ("utrecht_west", "d")):
            await store.replace_channel_link(
                session,
                purpose="sturingsoverleg",
                basisteam_id=team,
                conversation=reference(channel),
                **link,
            )
    async with database.sessions() as session:
        found = await store.channel_link(session, "experts")
        assert found is not None and found.conversation["conversation"] == {"id": "b"}
        team = await store.channel_link(session, "sturingsoverleg", "heuvelrug")
        assert team is not None and team.conversation["conversation"] == {"id": "c"}
        assert await store.channel_link(session, "sturingsoverleg") is None
    async with database.sessions.begin() as session:
        assert await store.remove_channel_link(session, "experts")
        assert not await store.remove_channel_link(session, "experts")
        assert await store.channel_link(session, "sturingsoverleg", "utrecht_west") is not None


async def test_only_open_questions_past_due_and_not_nudged_are_due(database: Database) -> None:
    added: list[ExpertQuestion] = []
    async with database.sessions.begin() as session:
        for status, due, nudged in (
            ("open", NOW - dt.timedelta(minutes=1), None),
            ("open", NOW + dt.timedelta(minutes=1), None),
            ("open", NOW - dt.timedelta(days=1), NOW),
            ("beantwoord", NOW - dt.timedelta(days=1), None),
        ):
            added.append(
                ExpertQuestion(
                    question="Een vraag voor de experts",
                    asker_aad_id="anne",
                    asker_name="Anne",
                    asker_conversation={},
                    status=status,
                    version=1,
                    created_at=NOW - dt.timedelta(days=5),
                    due_at=due,
                    nudged_at=nudged,
                )
            )
        session.add_all(added)
        await session.flush()
        ids = [question.id for question in added]
    async with database.sessions() as session:
        assert await store.open_questions_due(session, NOW) == ids[:1]


def test_a_draft_becomes_a_process_entry_the_content_schema_accepts() -> None:
    question = "Mag een boa " + "heel " * 40 + "lang vragen?"
    entry = experts.proposed_entry(
        question_id=4, question=question, answer="a " * 30, expert="Erik", today=NOW.date()
    )
    assert entry["id"] == "expert_4"
    assert len(entry["title"]) <= 120 and entry["title"].endswith("…")
    assert entry["questions"][0] == question
    assert (entry["kind"], entry["topic"], entry["review_status"]) == (
        "proces",
        "proces",
        "starter",
    )
    with pytest.raises(ValueError):
        experts.proposed_entry(
            question_id=4, question=question, answer="Ja.", expert="Erik", today=NOW.date()
        )
