"""quiet hours and reminders per school; when a paused conversation was last reminded

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild): nullable columns, None means the default.
    op.add_column("schools", sa.Column("quiet_from", sa.String(length=5), nullable=True))
    op.add_column("schools", sa.Column("quiet_until", sa.String(length=5), nullable=True))
    op.add_column("schools", sa.Column("quiet_sunday", sa.Boolean(), nullable=True))
    op.add_column("schools", sa.Column("reminder_days", sa.Integer(), nullable=True))
    op.add_column("sessions", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("reminded_at")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("reminder_days")
        batch.drop_column("quiet_sunday")
        batch.drop_column("quiet_until")
        batch.drop_column("quiet_from")
