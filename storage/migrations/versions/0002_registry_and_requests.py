"""Registry (gemeenten, basisteams) and requests with their audit trail.

Revision ID: 0002_registry_and_requests
Revises: 0001_foundation
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_registry_and_requests"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "gemeenten",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gemeenten")),
    )
    op.create_table(
        "basisteams",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("eenheid", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_basisteams")),
    )
    op.create_table(
        "basisteam_gemeenten",
        sa.Column("basisteam_id", sa.String(length=64), nullable=False),
        sa.Column("gemeente_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["basisteam_id"], ["basisteams.id"],
            name=op.f("fk_basisteam_gemeenten_basisteam_id_basisteams"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["gemeente_id"], ["gemeenten.id"],
            name=op.f("fk_basisteam_gemeenten_gemeente_id_gemeenten"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("basisteam_id", "gemeente_id", name=op.f("pk_basisteam_gemeenten")),
    )
    op.create_index(
        op.f("ix_basisteam_gemeenten_gemeente_id"), "basisteam_gemeenten", ["gemeente_id"]
    )
    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_reference_counters")),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bevoegdheid_id", sa.String(length=64), nullable=False),
        sa.Column("gemeente_id", sa.String(length=64), nullable=False),
        sa.Column("basisteam_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("criminal_investigation", sa.String(length=16), nullable=False),
        sa.Column("boa_route_possible", sa.Boolean(), nullable=False),
        sa.Column("boa_route_reason", sa.Text(), nullable=True),
        sa.Column("report_type", sa.String(length=32), nullable=False),
        sa.Column("desired_date", sa.Date(), nullable=False),
        sa.Column("answers", JSON_DOCUMENT, nullable=False),
        sa.Column("requester_aad_id", sa.String(length=64), nullable=False),
        sa.Column("requester_name", sa.Text(), nullable=False),
        sa.Column("requester_conversation", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["basisteam_id"], ["basisteams.id"], name=op.f("fk_requests_basisteam_id_basisteams")
        ),
        sa.ForeignKeyConstraint(
            ["gemeente_id"], ["gemeenten.id"], name=op.f("fk_requests_gemeente_id_gemeenten")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_requests_reference")),
    )
    op.create_index(op.f("ix_requests_status"), "requests", ["status"])
    op.create_index(op.f("ix_requests_gemeente_id"), "requests", ["gemeente_id"])
    op.create_index(op.f("ix_requests_basisteam_id"), "requests", ["basisteam_id"])
    op.create_index(op.f("ix_requests_requester_aad_id"), "requests", ["requester_aad_id"])
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_aad_id", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_request_events_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    op.create_index(op.f("ix_request_events_request_id"), "request_events", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_request_events_request_id"), table_name="request_events")
    op.drop_table("request_events")
    for name in ("requester_aad_id", "basisteam_id", "gemeente_id", "status"):
        op.drop_index(op.f(f"ix_requests_{name}"), table_name="requests")
    op.drop_table("requests")
    op.drop_table("reference_counters")
    op.drop_index(op.f("ix_basisteam_gemeenten_gemeente_id"), table_name="basisteam_gemeenten")
    op.drop_table("basisteam_gemeenten")
    op.drop_table("basisteams")
    op.drop_table("gemeenten")
