"""Beheer: who is coördinator, gemeentelijk aanspreekpunt, expert or beheerder, changed in chat.

Parsing the typed command and matching names are pure. The use cases take the `Database` (as
`bot.services` does), check in their own transaction that the actor is a beheerder, and return
plain outcomes; the chat side (`dialogs.beheer`) fetches the Teams roster, passes it in as plain
`Member` values and turns the outcomes into Dutch text. No Teams types here.

People are identified by their Entra (AAD) object id. A person to add is taken from the roster
Teams reports, never from what was typed, so a typo cannot create a role for a made-up id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.registry import RegistryRole
from bot.textnorm import normalise, tokens
from storage import repositories
from storage.db import Database
from storage.models import Person

log = logging.getLogger(__name__)

# Roles that hold for one place: a coördinator for a basisteam, an aanspreekpunt for a gemeente.
SCOPED_ROLES = frozenset({RegistryRole.COORDINATOR, RegistryRole.GEMEENTELIJK_AANSPREEKPUNT})

_ROLE_WORDS: dict[str, RegistryRole] = {
    "coordinator": RegistryRole.COORDINATOR,
    "aanspreekpunt": RegistryRole.GEMEENTELIJK_AANSPREEKPUNT,
    "gemeentelijk_aanspreekpunt": RegistryRole.GEMEENTELIJK_AANSPREEKPUNT,
    "expert": RegistryRole.EXPERT,
    "beheerder": RegistryRole.BEHEERDER,
}
# Words people put before a place's own name; "Heuvelrug" should find "Basisteam Heuvelrug".
_PLACE_PREFIXES = frozenset({"basisteam", "gemeente"})


class Action(StrEnum):
    HELP = "help"
    OVERVIEW = "overzicht"
    SEARCH = "zoek"
    GRANT = "toekennen"
    REVOKE = "verwijder"
    EXPERT_CHANNEL = "expertkanaal"
    UNKNOWN = "onbekend"


@dataclass(frozen=True)
class Command:
    """A parsed `beheer …` line; `rest` is what follows the command and role, as typed."""

    action: Action
    role: RegistryRole | None = None
    rest: str = ""


def parse(line: str) -> Command:
    """`beheer [help | overzicht | zoek <naam> | <rol> <naam> [plaats] | verwijder <rol> … |
    expertkanaal [ontkoppel]]`."""
    words = line.split()
    if words and normalise(words[0]) == "beheer":
        words = words[1:]
    if not words:
        return Command(Action.HELP)
    first = normalise(words[0])
    if first in ("help", "hulp", "?", "menu"):
        return Command(Action.HELP)
    if first == "overzicht":
        return Command(Action.OVERVIEW)
    if first in ("zoek", "zoeken"):
        return Command(Action.SEARCH, rest=" ".join(words[1:]))
    if first == "expertkanaal":
        # `beheer expertkanaal [ontkoppel]`: linking the channel it is typed in (bot.experts).
        return Command(Action.EXPERT_CHANNEL, rest=" ".join(words[1:]))
    if first in ("verwijder", "verwijderen"):
        role, rest = _take_role(words[1:])
        return Command(Action.REVOKE, role, " ".join(rest))
    role, rest = _take_role(words)
    if role is not None:
        return Command(Action.GRANT, role, " ".join(rest))
    return Command(Action.UNKNOWN)


def _take_role(words: list[str]) -> tuple[RegistryRole | None, list[str]]:
    if not words:
        return None, words
    first = normalise(words[0])
    if first == "gemeentelijk" and len(words) > 1 and normalise(words[1]) == "aanspreekpunt":
        return RegistryRole.GEMEENTELIJK_AANSPREEKPUNT, words[2:]
    role = _ROLE_WORDS.get(first)
    return (role, words[1:]) if role is not None else (None, words)


@dataclass(frozen=True)
class Member:
    """A person as the Teams roster or the registry knows them."""

    aad_object_id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class Place:
    """A basisteam or gemeente: what a scoped role's scope points at."""

    id: str
    name: str


def find_place(typed: str, places: Sequence[Place]) -> Place | None:
    """The place whose id or name is `typed`, ignoring case, accents, punctuation and a leading
    "basisteam"/"gemeente"."""
    wanted = tuple(tokens(typed))
    if not wanted:
        return None
    for place in places:
        name = tuple(tokens(place.name))
        forms = {tuple(tokens(place.id)), name}
        if len(name) > 1 and name[0] in _PLACE_PREFIXES:
            forms.add(name[1:])
        if wanted in forms:
            return place
    return None


@dataclass(frozen=True)
class Split:
    name: str
    place: Place | None = None
    # The words taken to be the place when no known place matched them.
    unknown_place: str = ""


def split_name_and_place(rest: str, places: Sequence[Place], *, required: bool) -> Split:
    """Separate "<naam> <plaats>": both may have several words, so the longest tail that names a
    known place wins; a comma ("Jan de Vries, Heuvelrug") settles it when names and places
    overlap. Without a match and a place `required`, the last word is taken as the unknown place
    so the reply can say which one it did not recognise."""
    if "," in rest:
        name, typed = (part.strip() for part in rest.rsplit(",", 1))
        if not typed:
            return Split(name)
        place = find_place(typed, places)
        return Split(name, place) if place else Split(name, unknown_place=typed)
    words = rest.split()
    for start in range(1, len(words)):
        place = find_place(" ".join(words[start:]), places)
        if place is not None:
            return Split(" ".join(words[:start]), place)
    if required and len(words) > 1:
        return Split(" ".join(words[:-1]), unknown_place=words[-1])
    return Split(" ".join(words))


def match_people(query: str, people: Sequence[Member]) -> list[Member]:
    """People whose display name fits `query`: an exact (normalised) full name wins; otherwise
    every typed word must start a word of the name ("carla coord" finds "Carla Coördinator").
    An e-mail address or UPN matches exactly, for two people with the same name."""
    wanted = normalise(query)
    if not wanted:
        return []
    if "@" in wanted:
        return [person for person in people if normalise(person.email) == wanted]
    typed = tokens(query)
    if not typed:
        return []
    exact = [person for person in people if tokens(person.name) == typed]
    if exact:
        return exact
    return [
        person
        for person in people
        if all(any(part.startswith(word) for part in tokens(person.name)) for word in typed)
    ]


def _unique(people: Sequence[Member]) -> list[Member]:
    seen: dict[str, Member] = {}
    for person in people:
        seen.setdefault(person.aad_object_id, person)
    return list(seen.values())


# --- Use cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldRole:
    role: RegistryRole
    scope: str
    # The display name of the scope's basisteam or gemeente; '' for expert and beheerder.
    place: str


@dataclass(frozen=True)
class PlaceHolders:
    place: Place
    people: tuple[str, ...]


@dataclass(frozen=True)
class Overview:
    basisteams: tuple[PlaceHolders, ...]
    gemeenten: tuple[PlaceHolders, ...]
    experts: tuple[str, ...]
    beheerders: tuple[str, ...]


@dataclass(frozen=True)
class Found:
    member: Member
    roles: tuple[HeldRole, ...]


class Outcome(StrEnum):
    ADDED = "added"
    ALREADY_HELD = "already_held"
    REMOVED = "removed"
    NOT_ALLOWED = "not_allowed"
    NO_NAME = "no_name"
    NOT_IN_ROSTER = "not_in_roster"
    NO_HOLDER = "no_holder"
    AMBIGUOUS = "ambiguous"
    NO_PLACE = "no_place"
    UNKNOWN_PLACE = "unknown_place"
    WHICH_PLACE = "which_place"
    NOT_HELD = "not_held"
    LAST_BEHEERDER = "last_beheerder"


@dataclass(frozen=True)
class Change:
    """What a grant or revoke did, or why it did nothing; the chat side words it."""

    outcome: Outcome
    role: RegistryRole
    person: str = ""
    place: str = ""
    typed: str = ""
    # Who fits an ambiguous name; which places exist or are held, when one must be named.
    people: tuple[Member, ...] = ()
    places: tuple[Place, ...] = ()


async def is_beheerder(database: Database, aad_object_id: str) -> bool:
    if not aad_object_id:
        return False
    async with database.sessions() as session:
        return await repositories.has_role(session, aad_object_id, RegistryRole.BEHEERDER)


async def _places(session: AsyncSession, role: RegistryRole) -> list[Place]:
    if role is RegistryRole.COORDINATOR:
        return [Place(t.id, t.name) for t in await repositories.basisteams(session)]
    if role is RegistryRole.GEMEENTELIJK_AANSPREEKPUNT:
        return [Place(g.id, g.name) for g in await repositories.gemeenten(session)]
    return []


async def _place_names(session: AsyncSession) -> dict[tuple[RegistryRole, str], str]:
    return {
        (role, place.id): place.name
        for role in SCOPED_ROLES
        for place in await _places(session, role)
    }


def _held(role: str, scope: str, names: dict[tuple[RegistryRole, str], str]) -> HeldRole:
    code = RegistryRole(role)
    return HeldRole(code, scope, names.get((code, scope), scope))


async def overview(database: Database) -> Overview:
    """Who holds which role, per basisteam and gemeente; places nobody covers are listed too,
    because those are what a beheerder needs to fill."""
    async with database.sessions() as session:
        teams = [Place(t.id, t.name) for t in await repositories.basisteams(session)]
        gemeenten = [Place(g.id, g.name) for g in await repositories.gemeenten(session)]
        holdings = await repositories.role_holders(session)
    by_role: dict[tuple[str, str], list[str]] = {}
    for person, held in holdings:
        by_role.setdefault((held.role, held.scope), []).append(person.name)

    def per_place(role: RegistryRole, places: list[Place]) -> tuple[PlaceHolders, ...]:
        return tuple(
            PlaceHolders(place, tuple(by_role.get((role.value, place.id), []))) for place in places
        )

    return Overview(
        basisteams=per_place(RegistryRole.COORDINATOR, teams),
        gemeenten=per_place(RegistryRole.GEMEENTELIJK_AANSPREEKPUNT, gemeenten),
        experts=tuple(by_role.get((RegistryRole.EXPERT.value, ""), [])),
        beheerders=tuple(by_role.get((RegistryRole.BEHEERDER.value, ""), [])),
    )


async def search(database: Database, query: str, roster: Sequence[Member]) -> list[Found]:
    """Roster members fitting `query`, each with the roles the registry already gives them."""
    matches = match_people(query, _unique(roster))
    async with database.sessions() as session:
        names = await _place_names(session)
        held = await repositories.roles_of(session, [m.aad_object_id for m in matches])
    roles: dict[str, list[HeldRole]] = {}
    for row in held:
        roles.setdefault(row.aad_object_id, []).append(_held(row.role, row.scope, names))
    return [Found(m, tuple(roles.get(m.aad_object_id, []))) for m in matches]


async def grant(
    database: Database, *, actor: str, role: RegistryRole, rest: str, roster: Sequence[Member]
) -> Change:
    """Give the roster member named in `rest` the role (for the place named after the name).
    Idempotent: a role already held is reported, not written twice."""
    async with database.sessions.begin() as session:
        if not await repositories.has_role(session, actor, RegistryRole.BEHEERDER):
            return Change(Outcome.NOT_ALLOWED, role)
        if not rest.strip():
            return Change(Outcome.NO_NAME, role)
        places = await _places(session, role)
        scoped = role in SCOPED_ROLES
        split = split_name_and_place(rest, places, required=True) if scoped else Split(rest)
        if scoped and split.place is None:
            outcome = Outcome.UNKNOWN_PLACE if split.unknown_place else Outcome.NO_PLACE
            return Change(outcome, role, typed=split.unknown_place, places=tuple(places))
        if not split.name:
            return Change(Outcome.NO_NAME, role)
        matches = match_people(split.name, _unique(roster))
        if not matches:
            return Change(Outcome.NOT_IN_ROSTER, role, typed=split.name)
        if len(matches) > 1:
            return Change(Outcome.AMBIGUOUS, role, typed=split.name, people=tuple(matches))
        member = matches[0]
        scope = split.place.id if split.place else ""
        known = await session.get(Person, member.aad_object_id)
        # Teams leaves e-mail empty for some accounts; keep what the registry already had then.
        email = member.email or (known.email if known else "")
        await repositories.upsert_person(session, member.aad_object_id, member.name, email)
        added = await repositories.add_role(session, member.aad_object_id, role.value, scope)
    place = split.place.name if split.place else ""
    if not added:
        return Change(Outcome.ALREADY_HELD, role, person=member.name, place=place)
    log.info(
        "beheer: %s granted role %s (scope %r) to %s (%s)",
        actor,
        role.value,
        scope,
        member.aad_object_id,
        member.name,
    )
    return Change(Outcome.ADDED, role, person=member.name, place=place)


async def revoke(database: Database, *, actor: str, role: RegistryRole, rest: str) -> Change:
    """Take the role from the person named in `rest`, looked up among those who hold it. The
    last beheerder keeps the role: without one, nobody could manage the registry in chat."""
    async with database.sessions.begin() as session:
        if not await repositories.has_role(session, actor, RegistryRole.BEHEERDER):
            return Change(Outcome.NOT_ALLOWED, role)
        places = await _places(session, role)
        scoped = role in SCOPED_ROLES
        split = split_name_and_place(rest, places, required=False) if scoped else Split(rest)
        if split.unknown_place:
            return Change(
                Outcome.UNKNOWN_PLACE, role, typed=split.unknown_place, places=tuple(places)
            )
        if not split.name:
            return Change(Outcome.NO_NAME, role)
        holdings = await repositories.role_holders(session, role.value, lock=True)
        holders = _unique(
            [Member(p.aad_object_id, p.name, p.email) for p, _ in holdings],
        )
        matches = match_people(split.name, holders)
        if not matches:
            return Change(Outcome.NO_HOLDER, role, typed=split.name)
        if len(matches) > 1:
            return Change(Outcome.AMBIGUOUS, role, typed=split.name, people=tuple(matches))
        person = matches[0]
        by_id = {place.id: place for place in places}
        held = [
            by_id.get(r.scope, Place(r.scope, r.scope))
            for p, r in holdings
            if p.aad_object_id == person.aad_object_id
        ]
        if scoped:
            if split.place is not None and split.place not in held:
                return Change(
                    Outcome.NOT_HELD,
                    role,
                    person=person.name,
                    place=split.place.name,
                    places=tuple(held),
                )
            if split.place is None and len(held) > 1:
                return Change(Outcome.WHICH_PLACE, role, person=person.name, places=tuple(held))
            target = split.place or held[0]
        else:
            target = Place("", "")
        if role is RegistryRole.BEHEERDER and len(holders) <= 1:
            return Change(Outcome.LAST_BEHEERDER, role, person=person.name)
        await repositories.remove_role(session, person.aad_object_id, role.value, target.id)
    log.info(
        "beheer: %s revoked role %s (scope %r) from %s (%s)",
        actor,
        role.value,
        target.id,
        person.aad_object_id,
        person.name,
    )
    return Change(Outcome.REMOVED, role, person=person.name, place=target.name)
