"""messages the coach did not understand (for the coordinator's figures; no content)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "not_understood",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], ondelete="CASCADE",
                                name=op.f("fk_not_understood_student_id_students")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_not_understood")),
    )
    op.create_index("ix_not_understood_student_created", "not_understood",
                    ["student_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_not_understood_student_created", table_name="not_understood")
    op.drop_table("not_understood")
