"""`python -m bot outbox list | retry` for operators: delivery bookkeeping, never content."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from storage.db import Database
from storage.models import Notification

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SECRET = "Pand aan de Dorpsstraat 1"


@pytest.fixture
def cli(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Run the CLI in this process against a migrated SQLite copy; returns (code, out, err)."""
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in ("MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def add_rows(url: str, *rows: dict[str, Any]) -> list[int]:
    async def insert() -> list[int]:
        database = Database.connect(url)
        try:
            async with database.sessions.begin() as session:
                added = [
                    Notification(
                        key=row["key"],
                        kind=row.get("kind", "notice"),
                        recipient=row.get("recipient", "person:aad-anne"),
                        activity={"type": "message", "text": SECRET},
                        status=row["status"],
                        attempts=row.get("attempts", 0),
                        last_status=row.get("last_status"),
                        last_error=row.get("last_error"),
                        sent_at=row.get("sent_at"),
                        next_attempt_at=NOW,
                        created_at=NOW,
                    )
                    for row in rows
                ]
                session.add_all(added)
                await session.flush()
                return [row.id for row in added]
        finally:
            await database.dispose()

    return asyncio.run(insert())


def row_of(url: str, row_id: int) -> Notification:
    async def load() -> Notification:
        database = Database.connect(url)
        try:
            async with database.sessions() as session:
                found = await session.get(Notification, row_id)
                assert found is not None
                return found
        finally:
            await database.dispose()

    return asyncio.run(load())


def test_an_empty_outbox(cli: Any) -> None:
    assert cli("outbox", "list") == (0, "geen berichten in de outbox\n", "")
    code, out, _ = cli("outbox", "list", "--json")
    assert (code, json.loads(out)) == (0, [])


def test_list_shows_the_bookkeeping_and_never_the_content(cli: Any, sqlite_url: str) -> None:
    sent, failed, unconfirmed = add_rows(
        sqlite_url,
        {
            "key": "BR-2026-0001:v1:card:anne",
            "kind": "card",
            "status": "sent",
            "attempts": 1,
            "last_status": 200,
            "sent_at": NOW,
        },
        {
            "key": "BR-2026-0001:v1:notice:carla",
            "recipient": "person:aad-carla",
            "status": "failed",
            "attempts": 1,
            "last_status": 403,
            "last_error": "HTTP 403 BotNotInConversationRoster",
        },
        {"key": "BR-2026-0001:v2:notice:anne", "status": "unconfirmed", "attempts": 1},
    )

    code, out, _ = cli("outbox", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].split() == [
        str(sent),
        "sent",
        "1x",
        "200",
        "2026-11-23",
        "10:00",
        "card",
        "person:aad-anne",
        "BR-2026-0001:v1:card:anne",
    ]
    assert lines[1].split()[:4] == [str(failed), "failed", "1x", "403"]
    assert lines[2].split()[:5] == [str(unconfirmed), "unconfirmed", "1x", "-", "-"]

    code, out, _ = cli("outbox", "list", "--json")
    listed = json.loads(out)
    assert [item["id"] for item in listed] == [sent, failed, unconfirmed]
    assert listed[1] == {
        "id": failed,
        "key": "BR-2026-0001:v1:notice:carla",
        "recipient": "person:aad-carla",
        "kind": "notice",
        "request_id": None,
        "status": "failed",
        "attempts": 1,
        "last_status": 403,
        "last_error": "HTTP 403 BotNotInConversationRoster",
        "next_attempt_at": NOW.isoformat(),
        "sent_at": None,
    }
    assert listed[0]["sent_at"] == NOW.isoformat()

    for args in (("outbox", "list"), ("outbox", "list", "--json")):
        assert SECRET not in cli(*args)[1]

    code, out, _ = cli("outbox", "list", "--status", "failed", "--json")
    assert [item["id"] for item in json.loads(out)] == [failed]
    assert cli("outbox", "list", "--status", "pending")[1] == (
        "geen berichten in de outbox met status pending\n"
    )
    code, _, err = cli("outbox", "list", "--status", "kwijt")
    assert code == 2 and "onbekende status" in err


def test_retry_requeues_only_failed_or_unconfirmed_rows(cli: Any, sqlite_url: str) -> None:
    sent, failed, unconfirmed = add_rows(
        sqlite_url,
        {"key": "a", "status": "sent", "attempts": 1, "sent_at": NOW},
        {"key": "b", "status": "failed", "attempts": 8, "last_status": 503},
        {"key": "c", "status": "unconfirmed", "attempts": 1},
    )

    code, out, _ = cli("outbox", "retry", str(failed))
    assert code == 0 and f"bericht {failed} staat weer klaar" in out
    row = row_of(sqlite_url, failed)
    assert (row.status, row.attempts, row.lease_until, row.claimed_by) == ("pending", 0, None, None)
    assert row.last_status == 503  # the history stays visible until the next attempt

    assert cli("outbox", "retry", str(unconfirmed))[0] == 0
    assert row_of(sqlite_url, unconfirmed).status == "pending"

    code, _, err = cli("outbox", "retry", str(sent))
    assert code == 1 and "niet mislukt of onbevestigd" in err
    assert row_of(sqlite_url, sent).status == "sent"
    code, _, err = cli("outbox", "retry", str(failed))  # pending now
    assert code == 1
    code, _, err = cli("outbox", "retry", "424242")
    assert code == 1 and "geen bericht met id 424242" in err
