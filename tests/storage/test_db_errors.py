"""A database error never carries the statement's values into a log line."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from storage.models import RequestEvent

SECRET = "Woning Dorpsstraat 12, bewoner J. Jansen"


async def test_an_integrity_error_hides_the_parameters(database: Database) -> None:
    with pytest.raises(DBAPIError) as raised:
        async with database.sessions.begin() as session:
            session.add(
                RequestEvent(
                    request_id=999_999,  # no such request: a foreign-key violation
                    at=dt.datetime.now(dt.UTC),
                    actor_aad_id="x",
                    actor_name="x",
                    action="indienen",
                    from_status=None,
                    to_status="ingediend",
                    reason=SECRET,
                )
            )
    assert SECRET not in str(raised.value)
    assert "hide_parameters" in str(raised.value)
