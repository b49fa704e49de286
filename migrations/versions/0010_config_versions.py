"""versions of what coordinators edit (the conversation script, the flag rules)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('script', 'signal_rules')",
                           name=op.f("ck_config_versions_kind")),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"], ondelete="CASCADE",
                                name=op.f("fk_config_versions_school_id_schools")),
        sa.ForeignKeyConstraint(["author_id"], ["coordinators.id"], ondelete="SET NULL",
                                name=op.f("fk_config_versions_author_id_coordinators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_versions")),
        sa.UniqueConstraint("kind", "school_id", "number",
                            name=op.f("uq_config_versions_kind_school_number")),
    )
    op.create_index("ix_config_versions_current", "config_versions",
                    ["kind", "school_id", "number"])
    op.add_column("sessions", sa.Column("script_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("script_version")
    op.drop_index("ix_config_versions_current", table_name="config_versions")
    op.drop_table("config_versions")
