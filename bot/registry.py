"""The registry file: eenheden → districts → basisteams, and the gemeenten each team serves.

Validated like curated content, so a team pointing at an unknown gemeente stops the import with
the place at fault instead of producing a request nobody can route.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.content import Code, ContentError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class GemeenteEntry(_Strict):
    id: Code
    name: str = Field(min_length=2)


class BasisteamEntry(_Strict):
    id: Code
    name: str = Field(min_length=2)
    gemeenten: list[Code] = Field(min_length=1)


class DistrictEntry(_Strict):
    name: str = Field(min_length=2)
    basisteams: list[BasisteamEntry] = Field(min_length=1)


class EenheidEntry(_Strict):
    name: str = Field(min_length=2)
    districts: list[DistrictEntry] = Field(min_length=1)


class RegistryRole(StrEnum):
    """Stored role codes; scoped to a basisteam or gemeente where the role is local."""

    COORDINATOR = "coordinator"
    GEMEENTELIJK_AANSPREEKPUNT = "gemeentelijk_aanspreekpunt"
    EXPERT = "expert"
    BEHEERDER = "beheerder"


class PersonEntry(_Strict):
    """Someone with a role, identified by their Entra (AAD) object id as Teams reports it."""

    aad_object_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )
    name: str = Field(min_length=2)
    email: str = Field(default="", pattern=r"^$|^[^@\s]+@[^@\s]+$")
    coordinator_of: list[Code] = Field(default_factory=list)
    aanspreekpunt_of: list[Code] = Field(default_factory=list)
    expert: bool = False
    beheerder: bool = False

    def roles(self) -> list[tuple[RegistryRole, str]]:
        return [
            *((RegistryRole.COORDINATOR, team) for team in self.coordinator_of),
            *((RegistryRole.GEMEENTELIJK_AANSPREEKPUNT, g) for g in self.aanspreekpunt_of),
            *([(RegistryRole.EXPERT, "")] if self.expert else []),
            *([(RegistryRole.BEHEERDER, "")] if self.beheerder else []),
        ]


class RegistryFile(_Strict):
    eenheden: list[EenheidEntry] = Field(min_length=1)
    gemeenten: list[GemeenteEntry] = Field(min_length=1)
    people: list[PersonEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> RegistryFile:
        gemeenten = [g.id for g in self.gemeenten]
        if len(set(gemeenten)) != len(gemeenten):
            raise ValueError("gemeenten: an id is used twice")
        teams = [team for _, _, team in self.teams()]
        if len({t.id for t in teams}) != len(teams):
            raise ValueError("basisteams: an id is used twice")
        for team in teams:
            unknown = set(team.gemeenten) - set(gemeenten)
            if unknown:
                raise ValueError(f"basisteam {team.id}: unknown gemeenten {sorted(unknown)}")
        served = {g for team in teams for g in team.gemeenten}
        unserved = set(gemeenten) - served
        if unserved:
            raise ValueError(f"gemeenten without a basisteam: {sorted(unserved)}")
        ids = [person.aad_object_id for person in self.people]
        if len(set(ids)) != len(ids):
            raise ValueError("people: an aad_object_id is used twice")
        team_ids = {t.id for t in teams}
        for person in self.people:
            if set(person.coordinator_of) - team_ids:
                raise ValueError(
                    f"{person.name}: coordinator_of names unknown basisteams "
                    f"{sorted(set(person.coordinator_of) - team_ids)}"
                )
            if set(person.aanspreekpunt_of) - set(gemeenten):
                raise ValueError(
                    f"{person.name}: aanspreekpunt_of names unknown gemeenten "
                    f"{sorted(set(person.aanspreekpunt_of) - set(gemeenten))}"
                )
        return self

    def teams(self) -> list[tuple[EenheidEntry, DistrictEntry, BasisteamEntry]]:
        return [
            (eenheid, district, team)
            for eenheid in self.eenheden
            for district in eenheid.districts
            for team in district.basisteams
        ]


def load_registry(path: Path) -> RegistryFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ContentError(f"{path}: kan het register niet lezen: {error}") from error
    try:
        return RegistryFile.model_validate(raw)
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(bestand)'}: {item['msg']}"
            for item in error.errors()
        )
        raise ContentError(f"{path}: ongeldig register: {details}") from error
