"""Partial indexes for the reminder scan (issue 7): the requests still to nudge or to escalate.

Every sweep tick (`REMINDER_SWEEP_SECONDS`, on every replica) looks for watched requests with a
due date that were not nudged, or not escalated, yet. Through `ix_requests_status_due_at` it read
every open request in the due-date range and fetched its row to test `nudged_at` /
`escalated_at`: the escalation scan read every overdue request ever escalated, a set that only
grows, to find the few new ones. These indexes hold only the rows still waiting for their
reminder (closed requests have no due date), so a tick reads what is due and nothing else;
bench/reminder_scan.py shows the plans and timings.

They replace `ix_requests_status_due_at`, which served only this scan: while it existed,
PostgreSQL's planner kept choosing it over the partial ones.

The WHERE clause of each index must stay implied by the scan's own conditions in
`bot.reminders` (`… IS NULL AND due_at IS NOT NULL`), or the planners cannot use it
(tests/storage/test_reminder_indexes.py).

Revision ID: 0010_reminder_indexes
Revises: 0009_reachability
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_reminder_indexes"
down_revision: str | None = "0009_reachability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Index name -> the condition of the rows it holds (as in storage/models.py).
INDEXES = {
    "ix_requests_status_due_at_not_nudged": "nudged_at IS NULL AND due_at IS NOT NULL",
    "ix_requests_status_due_at_not_escalated": "escalated_at IS NULL AND due_at IS NOT NULL",
}


def upgrade() -> None:
    for name, condition in INDEXES.items():
        op.create_index(
            name,
            "requests",
            ["status", "due_at"],
            sqlite_where=sa.text(condition),
            postgresql_where=sa.text(condition),
        )
    op.drop_index("ix_requests_status_due_at", table_name="requests")


def downgrade() -> None:
    op.create_index("ix_requests_status_due_at", "requests", ["status", "due_at"])
    for name in INDEXES:
        op.drop_index(name, table_name="requests")
