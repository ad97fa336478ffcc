"""`python -m bot privacy report | purge | grants`: the classification of every column, the counts
of what the database holds now, and the commands operators run."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, Text, select, update

from bot.privacy_report import CLASSIFICATION, Kind, report, stale, unclassified
from bot.retention import PURGED
from bot.workflow import RequestStatus
from requesting import load_content, seed
from storage.db import Database
from storage.models import Request

ROOT = Path(__file__).resolve().parents[2]


def test_every_column_of_every_table_is_classified() -> None:
    """A new column cannot slip in: someone must say whether it holds personal data or free
    text (and whether retention removes it) before this passes."""
    assert unclassified() == []
    assert stale() == []
    for table, columns in CLASSIFICATION.items():
        for name, column in columns.items():
            if column.kind is not Kind.NONE:
                assert column.why, f"{table}.{name} needs a reason"


def test_an_unclassified_column_is_found() -> None:
    metadata = MetaData()
    Table("requests", metadata, Column("id", Integer), Column("notes_of_the_coordinator", Text))
    assert unclassified(metadata) == ["requests.notes_of_the_coordinator"]
    assert "deletions.removed" in stale(metadata)


def test_retention_removes_every_personal_or_free_text_column_of_the_request_it_marks() -> None:
    """What the report promises is what bot/retention.py does (checked on data in
    tests/e2e/test_privacy_purge.py): the request's own free text all goes."""
    requests = CLASSIFICATION["requests"]
    assert {name for name, c in requests.items() if c.kind is not Kind.NONE} == {
        name for name, c in requests.items() if c.purged
    }
    assert {n for n, c in CLASSIFICATION["request_events"].items() if c.purged} == {
        "reason",
        "actor_name",
    }


async def test_report_counts_rows_with_a_value_per_column(database_url: str) -> None:
    await load_content(database_url)
    database = Database.connect(database_url)
    try:
        await seed(database, RequestStatus.INGEDIEND, "nee")
        purged = await seed(database, RequestStatus.AFGEROND, "nee")
        async with database.sessions.begin() as session:
            await session.execute(
                update(Request)
                .where(Request.reference == purged)
                .values(subject=PURGED, requester_aad_id="", requester_conversation={})
            )
            await session.execute(
                update(Request)
                .where(Request.reference != purged)
                .values(requester_conversation={"conversation": {"id": "a:1"}})
            )
        tables = {table.table: table for table in await report(database)}
    finally:
        await database.dispose()
    requests = {column.column: column for column in tables["requests"].columns}
    assert tables["requests"].rows == 2
    assert requests["subject"].non_empty == 1  # the marker holds nothing
    assert requests["requester_name"].non_empty == 2
    assert requests["requester_aad_id"].non_empty == 1
    assert requests["requester_conversation"].non_empty == 1  # {} is empty
    assert requests["answers"].non_empty == 0
    assert requests["boa_route_reason"].non_empty == 0  # NULL
    assert requests["subject"].kind is Kind.FREE_TEXT and requests["subject"].purged
    assert "status" not in requests  # neither personal nor free text: not listed
    assert tables["request_events"].rows == 0
    assert {c.column for c in tables["people"].columns} == {"aad_object_id", "name", "email"}
    assert "gemeenten" not in tables  # nothing personal there
    assert "deletions" not in tables


def run(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSOFT_")}
    env["DATABASE_URL"] = url
    env.pop("RETENTION_DAYS", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_privacy_commands(database_url: str) -> None:
    await load_content(database_url)
    database = Database.connect(database_url)
    try:
        reference = await seed(database, RequestStatus.AFGEWEZEN, "nee")
        await seed(database, RequestStatus.INGEDIEND, "nee")
        async with database.sessions.begin() as session:
            # Closed 400 days ago on the real clock (PostgreSQL's function checks its own).
            await session.execute(
                update(Request)
                .where(Request.reference == reference)
                .values(status_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
            )
    finally:
        await database.dispose()

    shown = run("privacy", "report", "--json", url=database_url)
    assert shown.returncode == 0, shown.stderr
    tables = {t["table"]: t for t in json.loads(shown.stdout)["tables"]}
    subject = next(c for c in tables["requests"]["columns"] if c["column"] == "subject")
    assert subject == {
        "column": "subject",
        "kind": "free_text",
        "why": CLASSIFICATION["requests"]["subject"].why,
        "purged_after_retention": True,
        "non_empty": 2,
    }
    text = run("privacy", "report", url=database_url).stdout
    assert "requests (2 rijen)" in text and "vrije tekst" in text

    dry = run("privacy", "purge", "--dry-run", url=database_url)
    assert dry.returncode == 0, dry.stderr
    assert "proefdraai" in dry.stdout and reference in dry.stdout
    assert "1 aanvragen zouden worden opgeschoond" in dry.stdout
    done = run("privacy", "purge", url=database_url)
    assert done.returncode == 0, done.stderr
    assert f"{reference}  gesloten" in done.stdout and "requests.subject 1" in done.stdout
    again = run("privacy", "purge", url=database_url)
    assert "0 aanvragen opgeschoond" in again.stdout

    database = Database.connect(database_url)
    try:
        async with database.sessions() as session:
            subjects = dict(
                (await session.execute(select(Request.reference, Request.subject))).all()
            )
    finally:
        await database.dispose()
    assert subjects[reference] == PURGED
    assert sorted(subjects.values()) == sorted([PURGED, "Pand"])


def test_grants_are_printed_for_a_role(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'none.sqlite3'}"
    printed = run("privacy", "grants", "--role", "rapportagebot_app", url=url)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert "GRANT SELECT, INSERT ON public.request_events TO rapportagebot_app;" in lines
    assert "REVOKE ALL ON public.request_events FROM rapportagebot_app;" in lines
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON public.requests TO rapportagebot_app;" in lines
    assert not any("UPDATE" in line and "request_events" in line for line in lines)
    quoted = run("privacy", "grants", "--role", "Bot App", url=url).stdout
    assert 'TO "Bot App";' in quoted
