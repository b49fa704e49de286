"""portal accounts: login sessions, API tokens and login failures (rate limiting)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

ONE_OWNER = "(mentor_id IS NULL) <> (coordinator_id IS NULL)"


def _owned_table(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("mentor_id", sa.Integer(), nullable=True),
        sa.Column("coordinator_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *columns,
        sa.CheckConstraint(ONE_OWNER, name=op.f(f"ck_{name}_owner")),
        sa.ForeignKeyConstraint(["mentor_id"], ["mentors.id"],
                                name=op.f(f"fk_{name}_mentor_id_mentors"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["coordinator_id"], ["coordinators.id"],
                                name=op.f(f"fk_{name}_coordinator_id_coordinators"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("token_hash", name=op.f(f"uq_{name}_token_hash")),
    )
    op.create_index(op.f(f"ix_{name}_mentor_id"), name, ["mentor_id"])
    op.create_index(op.f(f"ix_{name}_coordinator_id"), name, ["coordinator_id"])


def upgrade() -> None:
    _owned_table("portal_sessions",
                 sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False))
    _owned_table("api_tokens",
                 sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
                 sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_email_ip_at", "login_failures", ["email", "ip", "at"])
    op.create_index(op.f("ix_login_failures_at"), "login_failures", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_at"), table_name="login_failures")
    op.drop_index("ix_login_failures_email_ip_at", table_name="login_failures")
    op.drop_table("login_failures")
    for name in ("api_tokens", "portal_sessions"):
        op.drop_index(op.f(f"ix_{name}_coordinator_id"), table_name=name)
        op.drop_index(op.f(f"ix_{name}_mentor_id"), table_name=name)
        op.drop_table(name)
