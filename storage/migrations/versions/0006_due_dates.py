"""Due date of the current request state (issue 5), indexed with status for reminder scans.

Revision ID: 0006_due_dates
Revises: 0005_knowledge_and_experts
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_due_dates"
down_revision: str | None = "0005_knowledge_and_experts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing requests get no due date: their state was entered before the policy existed, and
    # inventing one now would nudge people for deadlines nobody announced.
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_requests_status_due_at", "requests", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_status_due_at", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("due_at")
