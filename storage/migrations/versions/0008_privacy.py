"""Privacy by design (issue 8): the deletion record of purged requests and, on PostgreSQL, the one
narrow way for the application to blank free text in the append-only audit trail.

The application's role gets no UPDATE on `request_events` (`storage.grants`). Retention must
still blank `reason` and `actor_name` of requests closed longer than the retention period, so
this migration creates `rapportagebot_blank_request_events`, a SECURITY DEFINER function owned by
the migrating role that does exactly that and nothing else:

- it writes the fixed marker '[verwijderd]', never a value the caller hands in, so the function
  cannot be used to rewrite what the audit trail says;
- only for a request in a closed status (afgerond, afgewezen, ingetrokken: `workflow.TERMINAL`;
  a change there needs a new migration) that entered it at least the retention period before
  the earlier of the caller's `now` and the database's own clock, so a caller cannot move time
  forward;
- never with a retention period under 30 days (`bot.retention.MIN_RETENTION_DAYS`), so even a
  compromised application cannot wipe the reasons of recently closed requests.

The alternative, a column grant (`GRANT UPDATE (reason, actor_name)`) guarded by a trigger, was
not taken: the grant listing would then show UPDATE on the audit table, and the whole rule would
live in a trigger that also fires for the owner. Here `\\dp request_events` reads SELECT, INSERT
for the application, and the exception is one function an auditor can read in full.

On SQLite there are no roles: `bot.retention` blanks the two columns with a plain UPDATE.

Revision ID: 0008_privacy
Revises: 0007_sturingsoverleg
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_privacy"
down_revision: str | None = "0007_sturingsoverleg"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
FUNCTION = "rapportagebot_blank_request_events(integer, interval, timestamp with time zone)"


def _create_function(schema: str) -> None:
    quoted = '"' + schema.replace('"', '""') + '"'
    op.execute(
        f"""
CREATE OR REPLACE FUNCTION rapportagebot_blank_request_events(
    p_request_id integer, p_retention interval, p_now timestamp with time zone
) RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = {quoted}, pg_temp
AS $function$
DECLARE
    blanked integer;
BEGIN
    IF p_retention IS NULL OR p_retention < interval '30 days' THEN
        RAISE EXCEPTION 'retention period % is shorter than 30 days', p_retention;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM requests
        WHERE id = p_request_id
          AND status IN ('afgerond', 'afgewezen', 'ingetrokken')
          AND status_since <= LEAST(p_now, now()) - p_retention
    ) THEN
        RAISE EXCEPTION 'request % is not closed for the retention period', p_request_id;
    END IF;
    UPDATE request_events
       SET reason = CASE WHEN reason IS NULL THEN NULL ELSE '[verwijderd]' END,
           actor_name = '[verwijderd]'
     WHERE request_id = p_request_id;
    GET DIAGNOSTICS blanked = ROW_COUNT;
    RETURN blanked;
END
$function$
"""
    )
    # Functions are executable by PUBLIC by default; only roles granted it may call this one.
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")


def upgrade() -> None:
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("removed", JSON_DOCUMENT, nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_deletions_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletions")),
        sa.UniqueConstraint("request_id", name=op.f("uq_deletions_request_id")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        _create_function(str(schema))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
    op.drop_table("deletions")
