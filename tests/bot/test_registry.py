"""The registry file is validated like content."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content import ContentError
from bot.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_registry_loads() -> None:
    registry = load_registry(ROOT / "knowledge/registry/demo.yaml")
    teams = {team.id for _, _, team in registry.teams()}
    assert {"heuvelrug", "utrecht_centrum", "utrecht_west"} <= teams


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gemeenten: [{id: zeist, name: Zeist}]\neenheden: []", "eenheden"),
        (
            "gemeenten: [{id: zeist, name: Zeist}]\neenheden: [{name: Eenheid X, districts: "
            "[{name: District Y, basisteams: [{id: tt, name: Team, gemeenten: [nergens]}]}]}]",
            "unknown gemeenten",
        ),
        (
            "gemeenten: [{id: zeist, name: Zeist}, {id: bunnik, name: Bunnik}]\neenheden: "
            "[{name: Eenheid X, districts: [{name: District Y, basisteams: "
            "[{id: tt, name: Team, gemeenten: [zeist]}]}]}]",
            "without a basisteam",
        ),
    ],
)
def test_broken_registries_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    with pytest.raises(ContentError) as error:
        load_registry(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


PERSON_BASE = (
    "gemeenten: [{id: zeist, name: Zeist}]\neenheden: [{name: Eenheid X, districts: "
    "[{name: District Y, basisteams: [{id: tt, name: Team, gemeenten: [zeist]}]}]}]\n"
)


def test_demo_people_have_their_roles() -> None:
    registry = load_registry(ROOT / "knowledge/registry/demo.yaml")
    roles = {p.name: {(r.value, scope) for r, scope in p.roles()} for p in registry.people}
    assert roles["Carla Coördinator"] == {("coordinator", "heuvelrug")}
    assert ("gemeentelijk_aanspreekpunt", "zeist") in roles["Gert Gemeente"]
    assert roles["Bea Beheer"] == {("beheerder", "")}
    assert roles["Anne Aanvrager"] == set()


def test_demo_people_match_the_local_chat_identities() -> None:
    from bot.chat import local_identity

    registry = load_registry(ROOT / "knowledge/registry/demo.yaml")
    for person in registry.people:
        assert local_identity(person.name)[1] == person.aad_object_id, person.name


@pytest.mark.parametrize(
    ("people", "message"),
    [
        ("people: [{aad_object_id: not-a-guid, name: X Y}]", "aad_object_id"),
        (
            "people: [{aad_object_id: 00000000-0000-0000-0000-000000000001, name: X Y, "
            "coordinator_of: [nergens]}]",
            "unknown basisteams",
        ),
        (
            "people: [{aad_object_id: 00000000-0000-0000-0000-000000000001, name: X Y, "
            "aanspreekpunt_of: [nergens]}]",
            "unknown gemeenten",
        ),
        (
            "people: [{aad_object_id: 00000000-0000-0000-0000-000000000001, name: X Y}, "
            "{aad_object_id: 00000000-0000-0000-0000-000000000001, name: Z Q}]",
            "used twice",
        ),
    ],
)
def test_broken_people_name_the_problem(tmp_path: Path, people: str, message: str) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(PERSON_BASE + people)
    with pytest.raises(ContentError, match=message):
        load_registry(path)
