"""The reminder scan's partial indexes: migrated as the models declare them, and used by the scan.

`test_migrations.py` compares the migrated schema with the models through Alembic, which checks
an index's name and columns but not the WHERE clause of a partial index; that is compared here.
And the scan's own statements must go through those indexes: a change to the query that keeps
its results but makes the index unusable (a function around `due_at`, an OR across columns, a
condition the index's WHERE no longer follows from) would otherwise only show as a slow bot.
The plan is checked on SQLite, whose planner has no statistics here just as in production;
PostgreSQL's choice depends on its statistics (bench/reminder_scan.py shows it on 100,000 rows).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Index, event, inspect

from bot import reminders
from bot.deadlines import DEFAULT_CALENDAR
from storage.db import Database
from storage.models import Request

PARTIAL = {
    "ix_requests_status_due_at_not_nudged": "nudged_at IS NULL AND due_at IS NOT NULL",
    "ix_requests_status_due_at_not_escalated": "escalated_at IS NULL AND due_at IS NOT NULL",
}
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
POLICY = reminders.ReminderPolicy(
    digest_lead=dt.timedelta(minutes=120),
    nudge_working_days=2,
    late_after=dt.timedelta(minutes=15),
    calendar=DEFAULT_CALENDAR,
)


def _condition(clause: Any) -> str:
    """A WHERE clause without the parentheses and spacing PostgreSQL adds when it reports one."""
    return re.sub(r"\s+", " ", str(clause).replace("(", "").replace(")", "")).strip().upper()


def _model_conditions(dialect: str) -> dict[str, str]:
    indexes: set[Index] = Request.__table__.indexes  # type: ignore[attr-defined]
    return {
        str(index.name): _condition(index.dialect_options[dialect]["where"])
        for index in indexes
        if index.dialect_options[dialect]["where"] is not None
    }


async def test_the_partial_indexes_are_migrated_with_the_models_conditions(
    database: Database,
) -> None:
    async with database.engine.connect() as connection:
        reflected = await connection.run_sync(lambda sync: inspect(sync).get_indexes("requests"))
    dialect = database.dialect
    migrated = {
        str(index["name"]): _condition(index["dialect_options"][f"{dialect}_where"])
        for index in reflected
        if index.get("dialect_options", {}).get(f"{dialect}_where") is not None
    }
    expected = {name: _condition(condition) for name, condition in PARTIAL.items()}
    assert migrated == expected
    assert _model_conditions(dialect) == expected


@contextmanager
def _statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield captured
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def _plan(database: Database, statement: str, parameters: Any) -> str:
    async with database.engine.connect() as connection:
        rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "; ".join(str(row[-1]) for row in rows)


async def test_the_scan_reads_requests_through_the_partial_indexes(sqlite_url: str) -> None:
    database = Database.connect(sqlite_url)
    now = dt.datetime(2026, 11, 24, 7, 40, tzinfo=dt.UTC)
    try:
        with _statements(database) as nudges:
            async with database.sessions() as session:
                await reminders.due_nudges(session, now, AMSTERDAM, POLICY)
        with _statements(database) as escalations:
            async with database.sessions() as session:
                await reminders.due_escalations(session, now)
        for captured, index in (
            (nudges, "ix_requests_status_due_at_not_nudged"),
            (escalations, "ix_requests_status_due_at_not_escalated"),
        ):
            [(statement, parameters)] = [s for s in captured if "FROM requests" in s[0]]
            plan = await _plan(database, statement, parameters)
            assert f"SEARCH requests USING INDEX {index} (status=? AND due_at>? AND due_at<?)" in (
                plan
            ), plan
    finally:
        await database.dispose()
