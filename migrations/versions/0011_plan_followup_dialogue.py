"""follow-up dialogue: what helped or got in the way, and plans made at a follow-up

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action_plans") as batch:
        batch.add_column(sa.Column("followup_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("origin", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("action_plans") as batch:
        batch.drop_column("origin")
        batch.drop_column("followup_reason")
