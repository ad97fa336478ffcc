"""People of the registry and their roles.

Revision ID: 0003_people_and_roles
Revises: 0002_registry_and_requests
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_people_and_roles"
down_revision: str | None = "0002_registry_and_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("aad_object_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("aad_object_id", name=op.f("pk_people")),
    )
    op.create_table(
        "person_roles",
        sa.Column("aad_object_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["aad_object_id"],
            ["people.aad_object_id"],
            name=op.f("fk_person_roles_aad_object_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("aad_object_id", "role", "scope", name=op.f("pk_person_roles")),
    )
    op.create_index("ix_person_roles_role_scope", "person_roles", ["role", "scope"])


def downgrade() -> None:
    op.drop_index("ix_person_roles_role_scope", table_name="person_roles")
    op.drop_table("person_roles")
    op.drop_table("people")
