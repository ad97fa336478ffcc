"""Sturingsoverleg (issue 5): meeting rhythm on channel links, digests, priority and escalation
on requests, and in-place updates of channel cards through the outbox.

Revision ID: 0007_sturingsoverleg
Revises: 0006_due_dates
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_sturingsoverleg"
down_revision: str | None = "0006_due_dates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("channel_links") as batch:
        batch.add_column(sa.Column("meeting_rhythm", sa.String(length=16), nullable=True))
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("priority", sa.String(length=16), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("replaces_key", sa.String(length=200), nullable=True))
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("basisteam_id", sa.String(length=64), nullable=False),
        sa.Column("meeting_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("conversation", JSON_DOCUMENT, nullable=False),
        sa.Column("notification_key", sa.String(length=200), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["basisteam_id"],
            ["basisteams.id"],
            name=op.f("fk_digests_basisteam_id_basisteams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("basisteam_id", "meeting_at", name=op.f("uq_digests_basisteam_id")),
    )


def downgrade() -> None:
    op.drop_table("digests")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("replaces_key")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("priority")
        batch.drop_column("escalated_at")
    with op.batch_alter_table("channel_links") as batch:
        batch.drop_column("meeting_rhythm")
