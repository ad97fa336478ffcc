"""Retention (bot/retention.py): a closed request loses its free text and personal data after the
retention period, keeps its figures, gets one deletion record, and is never purged twice.

Runs on SQLite and PostgreSQL. On PostgreSQL the audit trail is blanked by the database function
of migration 0008, which also checks the period against the database's own clock: requests are
therefore stored as closed in the real past, relative to the real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot import retention
from bot.config import ConfigError, Settings, load_settings
from bot.content import ChecklistQuestion, QuestionType
from bot.retention import PURGED, purge, scrub_answers
from requesting import load_content
from storage.db import Database
from storage.models import CardCopy, Deletion, Notification, Request, RequestEvent

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
RETENTION = dt.timedelta(days=365)
ANNE, CARLA = ("aad-anne", "Anne Aanvrager"), ("aad-carla", "Carla Coördinator")
SUBJECT = "Woning Kerkstraat 12, familie Jansen"
BOA_REASON = "Boa komt niet binnen bij de familie Jansen"
FEEDBACK = "Dank aan wijkagent Bakker voor de snelle hulp"
QUESTION = "Welk adres precies, Kerkstraat of Molenweg?"
ANSWER_REASON = "Molenweg 3, achter de schuur van Jansen"
ZAAKNUMMER = "Z-2024-991 bij buurman De Vries"
FREE_TEXT = (SUBJECT, BOA_REASON, FEEDBACK, QUESTION, ANSWER_REASON, ZAAKNUMMER, "oude tekst")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await load_content(database_url)
    db = Database.connect(database_url)
    yield db
    await db.dispose()


async def store(
    database: Database,
    *,
    status: str = "afgerond",
    closed: dt.timedelta = dt.timedelta(days=400),
    outbox: tuple[str, ...] = ("sent", "pending"),
) -> str:
    """A request with free text everywhere it can have it, closed `closed` before NOW."""
    async with database.sessions.begin() as session:
        count = await session.scalar(select(func.count()).select_from(Request))
        reference = f"BR-2024-{(count or 0) + 1:04d}"
        created = NOW - closed - dt.timedelta(days=30)
        request = Request(
            reference=reference,
            status=status,
            version=4,
            bevoegdheid_id="sluiting_drugspand",
            gemeente_id="zeist",
            basisteam_id="heuvelrug",
            subject=SUBJECT,
            criminal_investigation="ja",
            boa_route_possible=True,
            boa_route_reason=BOA_REASON,
            report_type="eenvoudig",
            desired_date=dt.date(2024, 12, 16),
            answers={
                "pand_type": "woning",
                "minderjarigen": True,
                "periode": "anders",
                "zaaknummer": ZAAKNUMMER,
                # No longer in the checklist: a text cannot be placed, a yes/no can.
                "vervallen_vraag": "oude tekst",
                "vervallen_ja_nee": False,
            },
            requester_aad_id=ANNE[0],
            requester_name=ANNE[1],
            requester_conversation={"conversation": {"id": "a:anne"}, "user": {"id": "29:anne"}},
            zaakofficier_consulted=True,
            status_since=NOW - closed,
            priority="hoog",
            outcome="maatregel_genomen" if status == "afgerond" else None,
            quality_feedback=FEEDBACK if status == "afgerond" else None,
            created_at=created,
            updated_at=NOW - closed,
        )
        session.add(request)
        await session.flush()
        for actor, action, reason in (
            (ANNE, "indienen", None),
            (CARLA, "aanvulling_vragen", QUESTION),
            (ANNE, "aanvullen", ANSWER_REASON),
        ):
            session.add(
                RequestEvent(
                    request_id=request.id,
                    at=created,
                    actor_aad_id=actor[0],
                    actor_name=actor[1],
                    action=action,
                    from_status="ingediend",
                    to_status=status,
                    reason=reason,
                )
            )
        for index, delivery in enumerate(outbox):
            session.add(
                Notification(
                    key=f"{reference}:v{index}:card:{CARLA[0]}",
                    kind="card",
                    request_id=request.id,
                    recipient=f"person:{CARLA[0]}",
                    recipient_aad_id=CARLA[0],
                    activity={"type": "message", "text": f"{SUBJECT} — {QUESTION}"},
                    status=delivery,
                    next_attempt_at=created,
                    created_at=created,
                )
            )
        for who in (ANNE, CARLA):
            session.add(
                CardCopy(
                    request_id=request.id,
                    recipient=f"person:{who[0]}",
                    service_url="https://smba.example/",
                    conversation_id=f"a:{who[0]}",
                    activity_id="1",
                )
            )
    return reference


async def row(database: Database, reference: str) -> Request:
    async with database.sessions() as session:
        return (
            await session.execute(select(Request).where(Request.reference == reference))
        ).scalar_one()


async def count(database: Database, model: Any, *where: Any) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_checklist_answers_keep_choices_yes_no_dates_and_numbers_and_lose_typed_text() -> None:
    def question(id: str, kind: QuestionType, **extra: Any) -> ChecklistQuestion:
        return ChecklistQuestion(id=id, text=f"Vraag {id}?", type=kind, **extra)

    checklist = [
        question(
            "soort",
            QuestionType.CHOICE,
            choices=[{"value": "woning", "label": "Woning"}, {"value": "erf", "label": "Erf"}],
        ),
        question("ja_nee", QuestionType.YES_NO),
        question("datum", QuestionType.DATE),
        question("aantal", QuestionType.NUMBER),
        question("toelichting", QuestionType.TEXT),
        question("verhaal", QuestionType.LONG_TEXT),
    ]
    answers = {
        "soort": "woning",
        "ja_nee": False,
        "datum": "2026-12-15",
        "aantal": 3,
        "toelichting": "Jansen woont er",
        "verhaal": None,  # skipped: nothing to remove
        "onbekend_ja_nee": True,
        "onbekend_tekst": "Kerkstraat 12",
    }
    kept, removed = scrub_answers(answers, checklist)
    assert kept == {
        **answers,
        "toelichting": PURGED,
        "onbekend_tekst": PURGED,
    }
    assert removed == 2
    # A value that does not fit its question's type was typed somewhere: it goes too.
    odd = {"soort": "villa van Jansen", "datum": "15 december", "aantal": "drie", "ja_nee": "ja"}
    kept, removed = scrub_answers(odd, checklist)
    assert kept == dict.fromkeys(odd, PURGED) and removed == 4
    # Without the bevoegdheid's checklist only yes/no answers are recognisably figures.
    kept, removed = scrub_answers(answers, None)
    assert kept["ja_nee"] is False and kept["soort"] == PURGED and kept["aantal"] == PURGED
    # Scrubbing what was scrubbed removes nothing more.
    assert scrub_answers(kept, None) == (kept, 0)


async def test_a_closed_request_past_retention_loses_free_text_and_keeps_its_figures(
    database: Database,
) -> None:
    reference = await store(database)
    other = await store(database, status="in_opstelling")  # open: untouched
    async with database.sessions.begin() as session:
        # A channel card without a request (the sturingsoverleg agenda) is not the request's.
        session.add(
            Notification(
                key="digest:heuvelrug:1",
                kind="card",
                recipient="conversation:19:team",
                activity={"type": "message", "text": "agenda"},
                status="sent",
            )
        )
    before = await row(database, reference)

    report = await purge(database, now=NOW, retention=RETENTION)

    assert [p.reference for p in report.purged] == [reference] and report.postponed == []
    after = await row(database, reference)
    assert (after.subject, after.boa_route_reason, after.quality_feedback) == (PURGED,) * 3
    assert after.answers == {
        "pand_type": "woning",
        "minderjarigen": True,
        "periode": "anders",
        "zaaknummer": PURGED,
        "vervallen_vraag": PURGED,
        "vervallen_ja_nee": False,
    }
    assert (after.requester_name, after.requester_aad_id, after.requester_conversation) == (
        PURGED,
        "",
        {},
    )
    figures = (
        "reference",
        "status",
        "version",
        "bevoegdheid_id",
        "gemeente_id",
        "basisteam_id",
        "criminal_investigation",
        "boa_route_possible",
        "report_type",
        "desired_date",
        "zaakofficier_consulted",
        "status_since",
        "due_at",
        "priority",
        "outcome",
        "created_at",
    )
    assert {f: getattr(after, f) for f in figures} == {f: getattr(before, f) for f in figures}
    async with database.sessions() as session:
        events = list(
            (
                await session.execute(
                    select(RequestEvent)
                    .where(RequestEvent.request_id == after.id)
                    .order_by(RequestEvent.id)
                )
            ).scalars()
        )
        [deletion] = (await session.execute(select(Deletion))).scalars()
    # Who (by pseudonymous id), when and what stay; names and words go.
    assert [(e.actor_aad_id, e.actor_name, e.action, e.reason) for e in events] == [
        (ANNE[0], PURGED, "indienen", None),
        (CARLA[0], PURGED, "aanvulling_vragen", PURGED),
        (ANNE[0], PURGED, "aanvullen", PURGED),
    ]
    assert await count(database, Notification, Notification.request_id == after.id) == 0
    assert await count(database, CardCopy, CardCopy.request_id == after.id) == 0
    other_row = await row(database, other)
    assert other_row.subject == SUBJECT
    assert await count(database, Notification, Notification.request_id == other_row.id) == 2
    assert await count(database, CardCopy, CardCopy.request_id == other_row.id) == 2
    assert await count(database, Notification, Notification.request_id.is_(None)) == 1
    # The record counts, it does not repeat.
    assert deletion.request_id == after.id and deletion.retention_days == 365
    assert (
        deletion.removed
        == report.purged[0].removed
        == {
            "requests.subject": 1,
            "requests.answers": 2,
            "requests.boa_route_reason": 1,
            "requests.quality_feedback": 1,
            "requests.requester_name": 1,
            "requests.requester_aad_id": 1,
            "requests.requester_conversation": 1,
            "request_events.reason": 2,
            "request_events.actor_name": 3,
            "outbox": 2,
            "card_copies": 2,
        }
    )
    assert not any(text in str(deletion.removed) for text in FREE_TEXT)


async def test_every_closed_status_is_purged_and_nothing_before_its_time(
    database: Database,
) -> None:
    closed = {status: await store(database, status=status) for status in retention.CLOSED}
    assert set(closed) == {"afgerond", "afgewezen", "ingetrokken"}
    recent = await store(database, closed=RETENTION - dt.timedelta(hours=1))
    # Verstrekt waits for the gemeente to close it: not closed, however old.
    waiting = await store(database, status="verstrekt", closed=dt.timedelta(days=2000))

    report = await purge(database, now=NOW, retention=RETENTION)

    assert sorted(p.reference for p in report.purged) == sorted(closed.values())
    for reference in (recent, waiting):
        kept = await row(database, reference)
        assert (kept.subject, kept.requester_name) == (SUBJECT, ANNE[1])
        assert await count(database, Deletion, Deletion.request_id == kept.id) == 0


async def test_purging_again_purges_nothing_and_writes_no_second_record(
    database: Database,
) -> None:
    reference = await store(database)
    first = await purge(database, now=NOW, retention=RETENTION)
    purged_once = await row(database, reference)
    again = await purge(database, now=NOW + dt.timedelta(days=1), retention=RETENTION)
    assert len(first.purged) == 1 and again.purged == []
    assert await count(database, Deletion) == 1
    assert (await row(database, reference)).updated_at == purged_once.updated_at


async def test_a_dry_run_tells_what_would_go_and_changes_nothing(database: Database) -> None:
    reference = await store(database)
    dry = await purge(database, now=NOW, retention=RETENTION, dry_run=True)
    assert dry.dry_run and [p.reference for p in dry.purged] == [reference]
    assert dry.purged[0].removed["requests.subject"] == 1
    kept = await row(database, reference)
    assert (kept.subject, kept.requester_aad_id) == (SUBJECT, ANNE[0])
    assert await count(database, Deletion) == 0
    assert await count(database, Notification) == 2
    real = await purge(database, now=NOW, retention=RETENTION)
    assert real.purged == dry.purged


async def test_a_request_whose_card_is_being_delivered_waits_for_the_next_run(
    database: Database,
) -> None:
    reference = await store(database, outbox=("sent", "sending"))
    first = await purge(database, now=NOW, retention=RETENTION)
    assert first.purged == [] and first.postponed == [reference]
    assert (await row(database, reference)).subject == SUBJECT
    async with database.sessions.begin() as session:
        await session.execute(update(Notification).values(status="sent"))
    second = await purge(database, now=NOW, retention=RETENTION)
    assert [p.reference for p in second.purged] == [reference]


async def test_two_replicas_purging_at_once_purge_every_request_once(database_url: str) -> None:
    await load_content(database_url)
    first, second = Database.connect(database_url), Database.connect(database_url)
    try:
        references = [await store(first) for _ in range(12)]
        reports = await asyncio.gather(
            purge(first, now=NOW, retention=RETENTION),
            purge(second, now=NOW, retention=RETENTION),
        )
        purged = [p.reference for report in reports for p in report.purged]
        assert sorted(purged) == sorted(references)  # each once, by one of the two
        assert await count(first, Deletion) == len(references)
    finally:
        await first.dispose()
        await second.dispose()


async def test_on_postgresql_the_database_clock_decides_too(database: Database) -> None:
    """A caller whose clock runs ahead (or lies) cannot blank the audit trail early: the function
    refuses, and the request is left whole for a later run."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite has no roles and no database function")
    reference = await store(database, closed=dt.timedelta(days=10))
    report = await purge(database, now=NOW + dt.timedelta(days=400), retention=RETENTION)
    assert report.purged == [] and report.postponed == [reference]
    kept = await row(database, reference)
    assert kept.subject == SUBJECT
    assert await count(database, Deletion) == 0


async def test_a_retention_period_under_the_floor_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="at least 30 days"):
        await purge(database, now=NOW, retention=dt.timedelta(days=29))
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        load_settings(_env_file=None, retention_days=29)
    floor = next(m.ge for m in Settings.model_fields["retention_days"].metadata if hasattr(m, "ge"))
    assert floor == retention.MIN_RETENTION_DAYS
    assert load_settings(_env_file=None).retention_days == 365
