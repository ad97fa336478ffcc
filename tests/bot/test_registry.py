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
