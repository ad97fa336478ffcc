"""Recipients Teams refused to deliver to (403/404): their outbox rows wait until the bot can
reach them again (issue 8, retries under our control).

Revision ID: 0009_reachability
Revises: 0008_privacy
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_reachability"
down_revision: str | None = "0008_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unreachable_recipients",
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("recipient", name=op.f("pk_unreachable_recipients")),
    )


def downgrade() -> None:
    op.drop_table("unreachable_recipients")
