"""What the database holds about people: every column of every table classified as personal data,
free text or neither, with the reason, and how many rows hold a value in each now.

For the privacy officer and the beheerder (`python -m bot privacy report [--json]`), and a guard
for developers: the classification must cover every column of `storage.models` (a test checks
it), so a new column cannot reach production without someone deciding what it holds and how
long it stays. The reasons are in Dutch: they are printed for the organisation.

Kinds:
- personal: identifies a person or leads to one: names, e-mail addresses, Entra object ids,
  Teams user and personal-chat ids, conversation references (which name the user).
- free_text: words someone typed; may hold anything, including personal data the guards in
  `bot.privacy` cannot recognise (names, addresses).
- none: codes, numbers, dates, flags, ids of organisations, channels and messages.

`purged` marks what retention (`bot.retention`) removes from requests closed longer than
RETENTION_DAYS.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, MetaData, String, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from bot import retention
from bot.config import Settings
from storage.db import Database
from storage.grants import app_role_statements
from storage.models import Base


class Kind(StrEnum):
    PERSONAL = "personal"
    FREE_TEXT = "free_text"
    NONE = "none"


KIND_LABELS = {
    Kind.PERSONAL: "persoonsgegeven",
    Kind.FREE_TEXT: "vrije tekst",
    Kind.NONE: "geen",
}


@dataclass(frozen=True)
class Column:
    kind: Kind
    why: str
    purged: bool = False


def personal(why: str, *, purged: bool = False) -> Column:
    return Column(Kind.PERSONAL, why, purged)


def free_text(why: str, *, purged: bool = False) -> Column:
    return Column(Kind.FREE_TEXT, why, purged)


def none(why: str = "") -> Column:
    return Column(Kind.NONE, why)


_ID = none("technische sleutel")
_TIME = none("tijdstip")
_CODE = none("code of status")
_AAD = "Entra-object-id: herleidbaar tot een persoon via de eigen directory"
_OUTBOX = "rijen van een opgeschoonde aanvraag worden verwijderd; rijen zonder aanvraag blijven"

CLASSIFICATION: dict[str, dict[str, Column]] = {
    "bot_state": {
        "key": personal("sleutel met het Teams-gesprek of de Teams-gebruiker"),
        "document": free_text(
            "gespreksstatus: een aanvraag in concept bevat getypte antwoorden tot ze is ingediend"
        ),
        "etag": _CODE,
        "updated_at": _TIME,
    },
    "knowledge_entries": {
        "id": _ID,
        "kind": _CODE,
        "title": none("gecureerde inhoud"),
        "data": free_text(
            "gecureerde inhoud; in de chat goedgekeurde items bevatten een "
            "getypt antwoord van een expert"
        ),
        "checksum": _CODE,
        "source_path": none("bestandsnaam"),
        "updated_at": _TIME,
    },
    "gemeenten": {"id": _ID, "name": none("naam van een organisatie")},
    "basisteams": {
        "id": _ID,
        "name": none("naam van een organisatie"),
        "district": none("naam van een organisatie"),
        "eenheid": none("naam van een organisatie"),
    },
    "basisteam_gemeenten": {"basisteam_id": _ID, "gemeente_id": _ID},
    "content_version": {"id": _ID, "token": _CODE},
    "reference_counters": {"year": none("jaar"), "last": none("volgnummer")},
    "requests": {
        "id": _ID,
        "reference": none("kenmerk BR-jaar-volgnummer; blijft voor de cijfers"),
        "status": _CODE,
        "version": _CODE,
        "bevoegdheid_id": _CODE,
        "gemeente_id": _CODE,
        "basisteam_id": _CODE,
        "subject": free_text("onderwerp zoals de aanvrager het typte", purged=True),
        "criminal_investigation": _CODE,
        "boa_route_possible": _CODE,
        "boa_route_reason": free_text("waarom toch een BR, getypt", purged=True),
        "report_type": _CODE,
        "desired_date": _TIME,
        "answers": free_text(
            "checklistantwoorden: keuzes, ja/nee, datums en getallen blijven, getypte tekst gaat",
            purged=True,
        ),
        "requester_aad_id": personal(_AAD, purged=True),
        "requester_name": personal("naam van de aanvrager", purged=True),
        "requester_conversation": personal(
            "gespreksverwijzing van de aanvrager (Teams-gebruiker en -gesprek)", purged=True
        ),
        "zaakofficier_consulted": _CODE,
        "status_since": _TIME,
        "nudged_at": _TIME,
        "due_at": _TIME,
        "escalated_at": _TIME,
        "priority": _CODE,
        "outcome": _CODE,
        "quality_feedback": free_text("terugkoppeling van de gemeente, getypt", purged=True),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "request_events": {
        "id": _ID,
        "request_id": _ID,
        "at": _TIME,
        "actor_aad_id": personal(
            _AAD + "; blijft: de audittrail legt vast wie (pseudoniem), wanneer en wat"
        ),
        "actor_name": personal("naam van wie de stap zette", purged=True),
        "action": _CODE,
        "from_status": _CODE,
        "to_status": _CODE,
        "reason": free_text("toelichting bij de stap, getypt", purged=True),
        "activity_id": none("id van een Teams-bericht"),
    },
    "people": {
        "aad_object_id": personal(_AAD + "; register van wie een rol heeft"),
        "name": personal("naam; register van wie een rol heeft"),
        "email": personal("e-mailadres; register van wie een rol heeft"),
    },
    "person_roles": {
        "aad_object_id": personal(_AAD),
        "role": _CODE,
        "scope": _CODE,
    },
    "contacts": {
        "aad_object_id": personal(_AAD),
        "user_id": personal("Teams-gebruikers-id"),
        "tenant_id": _CODE,
        "service_url": none("adres van de Teams-dienst"),
        "conversation_id": personal("id van een persoonlijke chat"),
        "updated_at": _TIME,
    },
    "outbox": {
        "id": _ID,
        "key": personal(
            "sleutel met het Entra-object-id van de ontvanger; " + _OUTBOX, purged=True
        ),
        "kind": _CODE,
        "request_id": _ID,
        "recipient": personal("ontvanger (person:<Entra-object-id>); " + _OUTBOX, purged=True),
        "recipient_aad_id": personal(_AAD + "; " + _OUTBOX, purged=True),
        "conversation": personal("gespreksverwijzing van de ontvanger; " + _OUTBOX, purged=True),
        "activity": free_text(
            "het bericht of de kaart, met de tekst van de aanvraag; " + _OUTBOX, purged=True
        ),
        "status": _CODE,
        "attempts": _CODE,
        "last_status": _CODE,
        "last_error": none("foutcode, nooit de tekst van het bericht"),
        "next_attempt_at": _TIME,
        "lease_until": _TIME,
        "claimed_by": none("id van een botproces"),
        "sent_at": _TIME,
        "sent_activity_id": none("id van een Teams-bericht"),
        "sent_conversation_id": personal(
            "id van de chat van de ontvanger; " + _OUTBOX, purged=True
        ),
        "replaces_key": none("sleutel van een kanaalkaart"),
        "created_at": _TIME,
    },
    "card_copies": {
        "request_id": _ID,
        "recipient": personal(
            "wie de kaart in de chat heeft; verwijderd met de aanvraag", purged=True
        ),
        "service_url": none("adres van de Teams-dienst"),
        "conversation_id": personal("id van de chat; verwijderd met de aanvraag", purged=True),
        "activity_id": none("id van een Teams-bericht"),
        "updated_at": _TIME,
    },
    "channel_links": {
        "id": _ID,
        "purpose": _CODE,
        "basisteam_id": _CODE,
        "conversation": none("verwijzing naar een kanaal, zonder gebruiker"),
        "service_url": none("adres van de Teams-dienst"),
        "linked_by": personal(_AAD + " van de beheerder die het kanaal koppelde"),
        "linked_at": _TIME,
        "meeting_rhythm": _CODE,
    },
    "digests": {
        "id": _ID,
        "basisteam_id": _CODE,
        "meeting_at": _TIME,
        "conversation": none("verwijzing naar een kanaal, zonder gebruiker"),
        "notification_key": none("sleutel van een kanaalkaart"),
        "late": _CODE,
        "created_at": _TIME,
    },
    "knowledge_feedback": {
        "id": _ID,
        "entry_id": _CODE,
        "aad_object_id": personal(_AAD),
        "helpful": _CODE,
        "comment": free_text("opmerking bij een antwoord, getypt"),
        "created_at": _TIME,
        "activity_id": none("id van een Teams-bericht"),
    },
    "expert_questions": {
        "id": _ID,
        "question": free_text("vraag aan de experts, getypt"),
        "asker_aad_id": personal(_AAD),
        "asker_name": personal("naam van wie de vraag stelde"),
        "asker_conversation": personal("gespreksverwijzing van wie de vraag stelde"),
        "status": _CODE,
        "version": _CODE,
        "created_at": _TIME,
        "due_at": _TIME,
        "nudged_at": _TIME,
        "answer": free_text("antwoord van een expert, getypt"),
        "answered_by_aad_id": personal(_AAD),
        "answered_by_name": personal("naam van de expert"),
        "answered_at": _TIME,
        "answer_activity_id": none("id van een Teams-bericht"),
    },
    "knowledge_drafts": {
        "id": _ID,
        "expert_question_id": _ID,
        "question": free_text("vraag aan de experts, getypt"),
        "answer": free_text("antwoord van een expert, getypt"),
        "expert_aad_id": personal(_AAD),
        "expert_name": personal("naam van de expert"),
        "created_by": personal(_AAD),
        "created_at": _TIME,
        "status": _CODE,
        "decided_by_aad_id": personal(_AAD),
        "decided_by_name": personal("naam van de beheerder"),
        "decided_at": _TIME,
        "entry_id": _CODE,
    },
    "unreachable_recipients": {
        "recipient": personal("ontvanger (person:<Entra-object-id>) of een kanaal"),
        "since": _TIME,
        "reason": none("foutcode van Teams"),
    },
    "deletions": {
        "id": _ID,
        "request_id": _ID,
        "closed_at": _TIME,
        "retention_days": none("bewaartermijn in dagen"),
        "removed": none("aantallen per kolom, nooit de waarden"),
        "purged_at": _TIME,
    },
}


def unclassified(metadata: MetaData = Base.metadata) -> list[str]:
    """Every model column without a classification, as "table.column" (must stay empty)."""
    return [
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name not in CLASSIFICATION.get(table.name, {})
    ]


def stale(metadata: MetaData = Base.metadata) -> list[str]:
    """Every classified column no longer in the models, as "table.column" (must stay empty)."""
    return [
        f"{table}.{column}"
        for table, columns in CLASSIFICATION.items()
        for column in columns
        if table not in metadata.tables or column not in metadata.tables[table].columns
    ]


@dataclass(frozen=True)
class ColumnCount:
    column: str
    kind: Kind
    why: str
    purged: bool
    non_empty: int


@dataclass(frozen=True)
class TableCount:
    table: str
    rows: int
    columns: list[ColumnCount]


def _holds_value(column: Any) -> ColumnElement[bool]:
    """A value that says something: not NULL, not empty, not the retention marker."""
    if isinstance(column.type, JSON):
        # JSON null, an empty object or list, or a bare string: nothing of a person.
        as_text = cast(column, String)
        return column.is_not(None) & as_text.not_in(["null", "{}", "[]", '""'])
    if isinstance(column.type, String):
        return column.is_not(None) & (column != "") & (column != retention.PURGED)
    return column.is_not(None)


async def report(database: Database) -> list[TableCount]:
    """Per table, the personal and free-text columns and how many rows hold a value in each."""
    result: list[TableCount] = []
    async with database.sessions() as session:
        for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
            wanted = [
                (column, CLASSIFICATION[table.name][column.name])
                for column in table.columns
                if CLASSIFICATION[table.name][column.name].kind is not Kind.NONE
            ]
            if not wanted:
                continue
            counts = (
                await session.execute(
                    select(
                        func.count(),
                        *(func.count(case((_holds_value(column), 1))) for column, _ in wanted),
                    ).select_from(table)
                )
            ).one()
            result.append(
                TableCount(
                    table=table.name,
                    rows=int(counts[0]),
                    columns=[
                        ColumnCount(column.name, info.kind, info.why, info.purged, int(count))
                        for (column, info), count in zip(wanted, counts[1:], strict=True)
                    ],
                )
            )
    return result


def report_json(tables: list[TableCount]) -> str:
    return json.dumps(
        {
            "tables": [
                {
                    "table": table.table,
                    "rows": table.rows,
                    "columns": [
                        {
                            "column": column.column,
                            "kind": column.kind.value,
                            "why": column.why,
                            "purged_after_retention": column.purged,
                            "non_empty": column.non_empty,
                        }
                        for column in table.columns
                    ],
                }
                for table in tables
            ]
        },
        ensure_ascii=False,
        indent=2,
    )


def report_text(tables: list[TableCount]) -> str:
    lines = [
        "Persoonsgegevens en vrije tekst per tabel: aantal rijen met een waarde, en of de "
        "bewaartermijn het wist (* = gewist bij gesloten aanvragen na RETENTION_DAYS)."
    ]
    for table in tables:
        lines.append("")
        lines.append(f"{table.table} ({table.rows} rijen)")
        for column in table.columns:
            lines.append(
                f"  {column.column:<24} {KIND_LABELS[column.kind]:<16} {column.non_empty:>6}"
                f" {'*' if column.purged else ' '}  {column.why}"
            )
    return "\n".join(lines)


# --- The `python -m bot privacy …` commands ------------------------------------------------------


async def report_command(settings: Settings, *, as_json: bool) -> int:
    database = Database.connect(settings.database_url)
    try:
        tables = await report(database)
    finally:
        await database.dispose()
    print(report_json(tables) if as_json else report_text(tables))
    return 0


async def purge_command(settings: Settings, *, dry_run: bool, now: dt.datetime) -> int:
    database = Database.connect(settings.database_url)
    try:
        done = await retention.purge(
            database,
            now=now,
            retention=dt.timedelta(days=settings.retention_days),
            dry_run=dry_run,
        )
    finally:
        await database.dispose()
    cutoff = done.cutoff.astimezone(settings.tz)
    print(
        f"bewaartermijn {settings.retention_days} dagen: aanvragen gesloten vóór "
        f"{cutoff:%Y-%m-%d %H:%M}" + (" (proefdraai: er is niets gewijzigd)" if dry_run else "")
    )
    for request in done.purged:
        removed = ", ".join(f"{name} {count}" for name, count in request.removed.items())
        print(
            f"  {request.reference}  gesloten {request.closed_at.astimezone(settings.tz):%Y-%m-%d}"
            f"  {'te verwijderen' if dry_run else 'verwijderd'}: {removed or '-'}"
        )
    for reference in done.postponed:
        print(f"  {reference}  uitgesteld: een bericht wordt net bezorgd; de volgende ronde")
    verb = "zouden worden opgeschoond" if dry_run else "opgeschoond"
    print(f"{len(done.purged)} aanvragen {verb}, {len(done.postponed)} uitgesteld")
    return 0


def grants_command(role: str, schema: str) -> int:
    try:
        statements = app_role_statements(role, schema=schema)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(
        "-- Voer uit als eigenaar van de tabellen (de rol die `python -m bot migrate` draait),\n"
        f"-- in de database van de bot, na elke migratie opnieuw. De rol {role} moet bestaan."
    )
    print("\n".join(statements))
    return 0
