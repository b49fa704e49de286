"""follow-ups: reminders switch per student, the last proactive message, waiting messages

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("students") as batch:
        batch.add_column(sa.Column("reminders_off", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("last_proactive_at", sa.DateTime(timezone=True),
                                   nullable=True))
    op.create_table(
        "pending_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_messages")),
    )
    op.create_index("ix_pending_messages_to", "pending_messages",
                    ["channel", "sender_id", "delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_messages_to", table_name="pending_messages")
    op.drop_table("pending_messages")
    with op.batch_alter_table("students") as batch:
        batch.drop_column("last_proactive_at")
        batch.drop_column("reminders_off")
