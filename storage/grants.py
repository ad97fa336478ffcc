"""The PostgreSQL privileges of the application's role, derived from the models.

The bot should not run as the role that owns the tables. The owner runs the migrations
(`python -m bot migrate`); the application's role gets what `app_role_statements` prints
(`python -m bot privacy grants --role <name>`): read and write on the working tables, and only
SELECT and INSERT on the two records that must not be rewritten, the audit trail
(`request_events`) and the deletion records (`deletions`). Retention blanks free text in the
audit trail through the one SECURITY DEFINER function that migration 0008 creates (its docstring
says why a function and not a column grant), so the role may execute that function.

The statements come from `Base.metadata`, so a table added later is covered by printing them
again after its migration (GRANT and REVOKE are idempotent). SQLite has no roles.
"""

from __future__ import annotations

import re

from sqlalchemy import MetaData

from storage.models import Base

# Created by migration 0008_privacy (the migration keeps its own copy: migrations are frozen).
BLANK_EVENTS_FUNCTION = "rapportagebot_blank_request_events"
BLANK_EVENTS_SIGNATURE = (
    f"{BLANK_EVENTS_FUNCTION}(integer, interval, timestamp with time zone)"  # for GRANT
)
# Written once, never changed by the application.
APPEND_ONLY_TABLES = frozenset({"request_events", "deletions"})
# Alembic's bookkeeping: the bot reads it at start (is the schema current?), the owner writes it.
READ_ONLY_TABLES = frozenset({"alembic_version"})

_PLAIN_ROLE = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


def quote_identifier(name: str) -> str:
    """A role or table name as a PostgreSQL identifier: bare when it is plain lower case
    (what people type and read back in `\\du`), double-quoted otherwise."""
    if _PLAIN_ROLE.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def app_role_statements(
    role: str, *, schema: str = "public", metadata: MetaData = Base.metadata
) -> list[str]:
    """GRANT/REVOKE statements for the application's role `role` (which must exist), to run as
    the owner of the tables in the bot's database; `schema` is where the migrations created
    them (the first schema of the owner's search path, normally public)."""
    if not role or "\x00" in role or not schema or "\x00" in schema:
        raise ValueError("a role and a schema name are required")
    who, where = quote_identifier(role), quote_identifier(schema)
    statements = [f"GRANT USAGE ON SCHEMA {where} TO {who};"]
    for table in sorted(metadata.tables):
        name = f"{where}.{quote_identifier(table)}"
        if table in APPEND_ONLY_TABLES:
            # An earlier, broader grant (UPDATE, TRUNCATE, TRIGGER, a column's UPDATE) would
            # survive a bare GRANT; REVOKE ALL on a table takes its column privileges too.
            statements.append(f"REVOKE ALL ON {name} FROM {who};")
            statements.append(f"GRANT SELECT, INSERT ON {name} TO {who};")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {who};")
    for table in sorted(READ_ONLY_TABLES):
        statements.append(f"GRANT SELECT ON {where}.{quote_identifier(table)} TO {who};")
    # Integer primary keys are serial: inserting takes the sequence's next value.
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who};")
    statements.append(f"GRANT EXECUTE ON FUNCTION {where}.{BLANK_EVENTS_SIGNATURE} TO {who};")
    return statements
