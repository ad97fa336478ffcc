"""The registry in the database: import, role look-ups, re-import (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from bot.registry import load_registry
from storage.db import Database
from storage.repositories import basisteams_by_gemeente, people_with_role, replace_registry

ROOT = Path(__file__).resolve().parents[2]


async def test_coordinators_of_a_team_and_aanspreekpunt_of_a_gemeente(database: Database) -> None:
    registry = load_registry(ROOT / "knowledge/registry/demo.yaml")
    async with database.sessions.begin() as session:
        await replace_registry(session, registry)
    async with database.sessions() as session:
        coordinators = await people_with_role(session, "coordinator", "heuvelrug")
        assert [p.name for p in coordinators] == ["Carla Coördinator", "Pieter Politie"]
        assert [p.name for p in await people_with_role(session, "coordinator", "amersfoort")] == [
            "Pieter Politie"
        ]
        aanspreekpunt = await people_with_role(session, "gemeentelijk_aanspreekpunt", "zeist")
        assert [p.email for p in aanspreekpunt] == ["gert.gemeente@zeist.example"]
        assert [p.name for p in await people_with_role(session, "beheerder")] == ["Bea Beheer"]
        teams = await basisteams_by_gemeente(session)
        assert sorted(t.id for t in teams["utrecht"]) == ["utrecht_centrum", "utrecht_west"]


async def test_reimport_replaces_roles(database: Database) -> None:
    registry = load_registry(ROOT / "knowledge/registry/demo.yaml")
    async with database.sessions.begin() as session:
        await replace_registry(session, registry)
    people = [
        p.model_copy(update={"coordinator_of": []}) if p.name == "Carla Coördinator" else p
        for p in registry.people
    ]
    async with database.sessions.begin() as session:
        await replace_registry(session, registry.model_copy(update={"people": people}))
    async with database.sessions() as session:
        names = [p.name for p in await people_with_role(session, "coordinator", "heuvelrug")]
    assert names == ["Pieter Politie"]
