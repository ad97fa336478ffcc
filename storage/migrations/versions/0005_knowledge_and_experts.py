"""Knowledge feedback, expert questions, knowledge drafts and channel links.

Revision ID: 0005_knowledge_and_experts
Revises: 0004_outbox_and_lifecycle
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_knowledge_and_experts"
down_revision: str | None = "0004_outbox_and_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "channel_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("basisteam_id", sa.String(length=64), nullable=True),
        sa.Column("conversation", JSON_DOCUMENT, nullable=False),
        sa.Column("service_url", sa.Text(), nullable=False),
        sa.Column("linked_by", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["basisteam_id"],
            ["basisteams.id"],
            name=op.f("fk_channel_links_basisteam_id_basisteams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_links")),
    )
    op.create_index(
        "ix_channel_links_purpose_basisteam_id", "channel_links", ["purpose", "basisteam_id"]
    )
    op.create_table(
        "knowledge_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("aad_object_id", sa.String(length=64), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activity_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_feedback")),
        sa.UniqueConstraint("activity_id", name=op.f("uq_knowledge_feedback_activity_id")),
    )
    op.create_index(op.f("ix_knowledge_feedback_entry_id"), "knowledge_feedback", ["entry_id"])
    op.create_table(
        "expert_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("asker_aad_id", sa.String(length=64), nullable=False),
        sa.Column("asker_name", sa.Text(), nullable=False),
        sa.Column("asker_conversation", JSON_DOCUMENT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nudged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by_aad_id", sa.String(length=64), nullable=True),
        sa.Column("answered_by_name", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_activity_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expert_questions")),
        sa.UniqueConstraint(
            "answer_activity_id", name=op.f("uq_expert_questions_answer_activity_id")
        ),
    )
    op.create_index(op.f("ix_expert_questions_asker_aad_id"), "expert_questions", ["asker_aad_id"])
    # The nudge sweep's scan: open questions by due date.
    op.create_index("ix_expert_questions_status_due_at", "expert_questions", ["status", "due_at"])
    op.create_table(
        "knowledge_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_question_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("expert_aad_id", sa.String(length=64), nullable=False),
        sa.Column("expert_name", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by_aad_id", sa.String(length=64), nullable=True),
        sa.Column("decided_by_name", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entry_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["expert_question_id"],
            ["expert_questions.id"],
            name=op.f("fk_knowledge_drafts_expert_question_id_expert_questions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_drafts")),
        sa.UniqueConstraint(
            "expert_question_id", name=op.f("uq_knowledge_drafts_expert_question_id")
        ),
    )
    op.create_index(op.f("ix_knowledge_drafts_status"), "knowledge_drafts", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_drafts_status"), table_name="knowledge_drafts")
    op.drop_table("knowledge_drafts")
    op.drop_index("ix_expert_questions_status_due_at", table_name="expert_questions")
    op.drop_index(op.f("ix_expert_questions_asker_aad_id"), table_name="expert_questions")
    op.drop_table("expert_questions")
    op.drop_index(op.f("ix_knowledge_feedback_entry_id"), table_name="knowledge_feedback")
    op.drop_table("knowledge_feedback")
    op.drop_index("ix_channel_links_purpose_basisteam_id", table_name="channel_links")
    op.drop_table("channel_links")
