"""Queries the use cases need, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import LoadedEntry
from bot.registry import RegistryFile
from storage.models import (
    Basisteam,
    BasisteamGemeente,
    Gemeente,
    KnowledgeEntry,
    Person,
    PersonRole,
    ReferenceCounter,
    Request,
    RequestEvent,
)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Entries approved in chat (from an expert's answer) that the files do not hold yet.
    kept: list[str] = field(default_factory=list)


# `source_path` of an entry a beheerder approved in chat; see bot/experts.py.
APPROVED_IN_CHAT = "expertvraag "


async def replace_knowledge(session: AsyncSession, entries: Sequence[LoadedEntry]) -> ImportReport:
    """Make the stored entries equal to `entries` (the YAML files are the source of truth).

    Except for entries approved in chat that no file holds yet: `make run` imports on every
    start, and an approved expert answer must not vanish with the next restart. `kb export`
    writes them out; once their file is committed, the file governs them like any other."""
    report = ImportReport()
    stored = {row.id: row for row in (await session.execute(select(KnowledgeEntry))).scalars()}
    for entry in entries:
        row = stored.pop(entry.id, None)
        title = str(entry.data.get("title", entry.id))
        if row is None:
            session.add(
                KnowledgeEntry(
                    id=entry.id,
                    kind=entry.kind,
                    title=title,
                    data=entry.data,
                    checksum=entry.checksum,
                    source_path=entry.path,
                )
            )
            report.created.append(entry.id)
        elif row.checksum != entry.checksum or row.kind != entry.kind:
            row.kind, row.title, row.data = entry.kind, title, entry.data
            row.checksum, row.source_path = entry.checksum, entry.path
            report.updated.append(entry.id)
        else:
            # An entry approved in chat and since exported to a file is now the file's.
            row.source_path = entry.path
            report.unchanged.append(entry.id)
    report.kept.extend(
        sorted(i for i, row in stored.items() if row.source_path.startswith(APPROVED_IN_CHAT))
    )
    gone = sorted(set(stored) - set(report.kept))
    if gone:
        await session.execute(delete(KnowledgeEntry).where(KnowledgeEntry.id.in_(gone)))
        report.removed.extend(gone)
    return report


async def replace_registry(session: AsyncSession, registry: RegistryFile) -> dict[str, int]:
    """Upsert gemeenten and basisteams and reset which team serves which gemeente."""
    existing_gemeenten = {g.id: g for g in (await session.execute(select(Gemeente))).scalars()}
    for entry in registry.gemeenten:
        row = existing_gemeenten.get(entry.id)
        if row is None:
            session.add(Gemeente(id=entry.id, name=entry.name))
        else:
            row.name = entry.name
    existing_teams = {t.id: t for t in (await session.execute(select(Basisteam))).scalars()}
    for eenheid, district, team in registry.teams():
        row_team = existing_teams.get(team.id)
        if row_team is None:
            session.add(
                Basisteam(id=team.id, name=team.name, district=district.name, eenheid=eenheid.name)
            )
        else:
            row_team.name, row_team.district, row_team.eenheid = (
                team.name,
                district.name,
                eenheid.name,
            )
    await session.flush()
    await session.execute(delete(BasisteamGemeente))
    for _, _, team in registry.teams():
        for gemeente_id in team.gemeenten:
            session.add(BasisteamGemeente(basisteam_id=team.id, gemeente_id=gemeente_id))
    # The file is the source of truth for who holds which role.
    existing_people = {
        p.aad_object_id: p for p in (await session.execute(select(Person))).scalars()
    }
    await session.execute(delete(PersonRole))
    for person_entry in registry.people:
        person = existing_people.get(person_entry.aad_object_id)
        if person is None:
            session.add(
                Person(
                    aad_object_id=person_entry.aad_object_id,
                    name=person_entry.name,
                    email=person_entry.email,
                )
            )
        else:
            person.name, person.email = person_entry.name, person_entry.email
    await session.flush()
    for person_entry in registry.people:
        for role, scope in person_entry.roles():
            session.add(
                PersonRole(aad_object_id=person_entry.aad_object_id, role=role.value, scope=scope)
            )
    return {
        "gemeenten": len(registry.gemeenten),
        "basisteams": len(registry.teams()),
        "personen": len(registry.people),
    }


async def export_registry(session: AsyncSession) -> dict[str, Any]:
    """The stored registry in the file's shape, so `admin export` output can be imported again."""
    teams = list((await session.execute(select(Basisteam).order_by(Basisteam.id))).scalars())
    links = (await session.execute(select(BasisteamGemeente))).scalars().all()
    served: dict[str, list[str]] = {}
    for link in links:
        served.setdefault(link.basisteam_id, []).append(link.gemeente_id)
    eenheden: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for team in teams:
        eenheden.setdefault(team.eenheid, {}).setdefault(team.district, []).append(
            {"id": team.id, "name": team.name, "gemeenten": sorted(served.get(team.id, []))}
        )
    roles: dict[str, list[PersonRole]] = {}
    for role in (await session.execute(select(PersonRole))).scalars():
        roles.setdefault(role.aad_object_id, []).append(role)
    people = []
    for person in (await session.execute(select(Person).order_by(Person.name))).scalars():
        held = roles.get(person.aad_object_id, [])
        entry: dict[str, Any] = {"aad_object_id": person.aad_object_id, "name": person.name}
        if person.email:
            entry["email"] = person.email
        for key, code in (
            ("coordinator_of", "coordinator"),
            ("aanspreekpunt_of", "gemeentelijk_aanspreekpunt"),
        ):
            scopes = sorted(r.scope for r in held if r.role == code)
            if scopes:
                entry[key] = scopes
        for flag in ("expert", "beheerder"):
            if any(r.role == flag for r in held):
                entry[flag] = True
        people.append(entry)
    return {
        "eenheden": [
            {
                "name": eenheid,
                "districts": [
                    {"name": district, "basisteams": members}
                    for district, members in sorted(districts.items())
                ],
            }
            for eenheid, districts in sorted(eenheden.items())
        ],
        "gemeenten": [{"id": g.id, "name": g.name} for g in await gemeenten(session)],
        "people": people,
    }


async def people_with_role(session: AsyncSession, role: str, scope: str = "") -> list[Person]:
    statement = (
        select(Person)
        .join(PersonRole, PersonRole.aad_object_id == Person.aad_object_id)
        .where(PersonRole.role == role, PersonRole.scope == scope)
        .order_by(Person.name)
    )
    return list((await session.execute(statement)).scalars())


async def gemeenten(session: AsyncSession) -> list[Gemeente]:
    return list((await session.execute(select(Gemeente).order_by(Gemeente.name))).scalars())


async def basisteams_by_gemeente(session: AsyncSession) -> dict[str, list[Basisteam]]:
    rows = await session.execute(
        select(BasisteamGemeente.gemeente_id, Basisteam)
        .join(Basisteam, Basisteam.id == BasisteamGemeente.basisteam_id)
        .order_by(Basisteam.name)
    )
    result: dict[str, list[Basisteam]] = {}
    for gemeente_id, team in rows:
        result.setdefault(gemeente_id, []).append(team)
    return result


async def knowledge_of_kind(session: AsyncSession, kind: str) -> list[KnowledgeEntry]:
    statement = (
        select(KnowledgeEntry).where(KnowledgeEntry.kind == kind).order_by(KnowledgeEntry.title)
    )
    return list((await session.execute(statement)).scalars())


async def next_reference_number(session: AsyncSession, year: int) -> int:
    """Atomically take the next number of `year` (safe with several replicas: one statement)."""
    build = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        build(ReferenceCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(
            index_elements=[ReferenceCounter.year], set_={"last": ReferenceCounter.last + 1}
        )
        .returning(ReferenceCounter.last)
    )
    return int((await session.execute(statement)).scalar_one())


async def requests_of(session: AsyncSession, requester_aad_id: str) -> list[Request]:
    statement = (
        select(Request)
        .where(Request.requester_aad_id == requester_aad_id)
        .order_by(Request.created_at.desc(), Request.id.desc())
    )
    return list((await session.execute(statement)).scalars())


async def all_requests(session: AsyncSession) -> list[Request]:
    return list((await session.execute(select(Request).order_by(Request.id))).scalars())


async def request_by_reference(session: AsyncSession, reference: str) -> Request | None:
    return await session.scalar(select(Request).where(Request.reference == reference.upper()))


async def events_of(session: AsyncSession, request_id: int) -> list[RequestEvent]:
    statement = (
        select(RequestEvent)
        .where(RequestEvent.request_id == request_id)
        .order_by(RequestEvent.at, RequestEvent.id)
    )
    return list((await session.execute(statement)).scalars())


# --- Beheer: people and roles changed one at a time by a beheerder in chat ---------------------


async def basisteams(session: AsyncSession) -> list[Basisteam]:
    return list((await session.execute(select(Basisteam).order_by(Basisteam.name))).scalars())


async def has_role(session: AsyncSession, aad_object_id: str, role: str) -> bool:
    """Whether the person holds `role` for any scope."""
    statement = (
        select(PersonRole.aad_object_id)
        .where(PersonRole.aad_object_id == aad_object_id, PersonRole.role == role)
        .limit(1)
    )
    return (await session.scalar(statement)) is not None


async def role_holders(
    session: AsyncSession, role: str | None = None, *, lock: bool = False
) -> list[tuple[Person, PersonRole]]:
    """Every (person, role) pair, or those of one role. `lock` takes row locks on PostgreSQL so
    two beheerders removing each other at once cannot both pass the last-beheerder check (SQLite
    has one writer at a time and ignores it)."""
    statement = (
        select(Person, PersonRole)
        .join(PersonRole, PersonRole.aad_object_id == Person.aad_object_id)
        .order_by(Person.name, PersonRole.role, PersonRole.scope)
    )
    if role is not None:
        statement = statement.where(PersonRole.role == role)
    if lock:
        statement = statement.with_for_update()
    return [(person, held) for person, held in await session.execute(statement)]


async def roles_of(session: AsyncSession, aad_object_ids: Sequence[str]) -> list[PersonRole]:
    if not aad_object_ids:
        return []
    statement = (
        select(PersonRole)
        .where(PersonRole.aad_object_id.in_(list(aad_object_ids)))
        .order_by(PersonRole.role, PersonRole.scope)
    )
    return list((await session.execute(statement)).scalars())


async def upsert_person(session: AsyncSession, aad_object_id: str, name: str, email: str) -> None:
    """Create the person or refresh their display name and e-mail (one statement, so two
    beheerders adding the same person at once do not collide)."""
    build = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = build(Person).values(aad_object_id=aad_object_id, name=name, email=email)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Person.aad_object_id],
            set_={"name": statement.excluded.name, "email": statement.excluded.email},
        )
    )


async def add_role(session: AsyncSession, aad_object_id: str, role: str, scope: str) -> bool:
    """Grant a role; False when the person already held it (nothing written)."""
    build = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        build(PersonRole)
        .values(aad_object_id=aad_object_id, role=role, scope=scope)
        .on_conflict_do_nothing()
        .returning(PersonRole.role)
    )
    return (await session.execute(statement)).first() is not None


async def remove_role(session: AsyncSession, aad_object_id: str, role: str, scope: str) -> bool:
    """Take a role away; False when the person did not hold it."""
    statement = (
        delete(PersonRole)
        .where(
            PersonRole.aad_object_id == aad_object_id,
            PersonRole.role == role,
            PersonRole.scope == scope,
        )
        .returning(PersonRole.role)
    )
    return (await session.execute(statement)).first() is not None
