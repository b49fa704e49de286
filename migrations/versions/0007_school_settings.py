"""school settings: default level, notification address, retention period

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("default_level", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("notify_email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("retention_months", sa.Integer(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_schools_default_level"),
            "default_level IS NULL OR default_level IN ('vmbo', 'mbo-bol', 'mbo-bbl')")
        batch.create_check_constraint(
            op.f("ck_schools_retention"),
            "retention_months IS NULL OR retention_months BETWEEN 1 AND 120")


def downgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.drop_constraint(op.f("ck_schools_retention"), type_="check")
        batch.drop_constraint(op.f("ck_schools_default_level"), type_="check")
        batch.drop_column("retention_months")
        batch.drop_column("notify_email")
        batch.drop_column("default_level")
