"""A content version for the catalogue cache (issue 7): one row whose token changes with the content.

Loading the catalogue (bevoegdheden, gemeenten, basisteams) took a third of a dialog turn. The
bot now keeps it per process and rereads it only when this token differs from the one it
loaded with: one primary-key read per turn instead of three queries and fifteen validations.

The token is written by triggers on the content tables, in the same transaction as the change,
rather than by the application's writers: `kb import`, `admin import`, an approved knowledge
draft, another replica, an operator's SQL — a writer added later cannot forget it. On SQLite a
row trigger per table and operation; on PostgreSQL one statement trigger per table (TRUNCATE
included) calling a function with a pinned search_path, so the application's role reaches the
table whatever its own search_path. The triggers upsert, so an emptied table (tests truncate
everything) is filled again by the next change.

Revision ID: 0011_content_version
Revises: 0010_reminder_indexes
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_content_version"
down_revision: str | None = "0010_reminder_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migrations are frozen: their own copy of storage.models.CONTENT_TABLES.
CONTENT_TABLES = ("knowledge_entries", "gemeenten", "basisteams", "basisteam_gemeenten")
SQLITE_OPERATIONS = ("insert", "update", "delete")
FUNCTION = "rapportagebot_bump_content_version"


def _trigger(table: str, operation: str = "") -> str:
    return f"content_version_{operation + '_' if operation else ''}{table}"


def upgrade() -> None:
    op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_version")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = str(bind.execute(sa.text("SELECT current_schema()")).scalar_one())
        quoted = '"' + schema.replace('"', '""') + '"'
        op.execute(
            f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql
SET search_path = {quoted}, pg_temp
AS $function$
BEGIN
    INSERT INTO content_version (id, token)
    VALUES (1, replace(gen_random_uuid()::text, '-', ''))
    ON CONFLICT (id) DO UPDATE SET token = excluded.token;
    RETURN NULL;
END
$function$
"""
        )
        for table in CONTENT_TABLES:
            op.execute(
                f"CREATE TRIGGER {_trigger(table)} "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
            )
        op.execute(
            "INSERT INTO content_version (id, token) "
            "VALUES (1, replace(gen_random_uuid()::text, '-', ''))"
        )
    else:
        for table in CONTENT_TABLES:
            for operation in SQLITE_OPERATIONS:
                op.execute(
                    f"CREATE TRIGGER {_trigger(table, operation)} "
                    f"AFTER {operation.upper()} ON {table} BEGIN "
                    "INSERT INTO content_version (id, token) "
                    "VALUES (1, lower(hex(randomblob(16)))) "
                    "ON CONFLICT (id) DO UPDATE SET token = excluded.token; END"
                )
        op.execute("INSERT INTO content_version (id, token) VALUES (1, lower(hex(randomblob(16))))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CONTENT_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    else:
        for table in CONTENT_TABLES:
            for operation in SQLITE_OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS {_trigger(table, operation)}")
    op.drop_table("content_version")
