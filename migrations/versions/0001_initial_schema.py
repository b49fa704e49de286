"""initial schema: every table of bot.storage.models

The CHECK constraints list the values of bot.taxonomy as they were when this revision was
written: a migration is a snapshot, so it must not import the live lists. A change to the
taxonomy needs a new revision (tests/storage/test_migrations.py compares both).

Revision ID: 0001
Revises:
Create Date: 2026-11-23 15:32:23.923662
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=True),
        sa.Column("object_id", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"], unique=False)

    op.create_table(
        "schools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schools")),
        sa.UniqueConstraint("name", name=op.f("uq_schools_name")),
    )
    op.create_table(
        "coordinators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_coordinators_school_id_schools"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coordinators")),
        sa.UniqueConstraint("email", name=op.f("uq_coordinators_email")),
    )
    op.create_index(op.f("ix_coordinators_school_id"), "coordinators", ["school_id"], unique=False)

    op.create_table(
        "mentors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_mentors_school_id_schools"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentors")),
        sa.UniqueConstraint("email", name=op.f("uq_mentors_email")),
    )
    op.create_index(op.f("ix_mentors_school_id"), "mentors", ["school_id"], unique=False)

    op.create_table(
        "school_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IS NULL OR level IN ('vmbo', 'mbo-bol', 'mbo-bbl')",
            name=op.f("ck_school_classes_level"),
        ),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_school_classes_school_id_schools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_classes")),
        sa.UniqueConstraint("school_id", "name", name="uq_school_classes_school_name"),
    )
    op.create_table(
        "students",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("class_id", sa.Integer(), nullable=True),
        sa.Column("mentor_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(length=20), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IS NULL OR level IN ('vmbo', 'mbo-bol', 'mbo-bbl')",
            name=op.f("ck_students_level"),
        ),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["school_classes.id"],
            name=op.f("fk_students_class_id_school_classes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"],
            ["mentors.id"],
            name=op.f("fk_students_mentor_id_mentors"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_students_school_id_schools"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_students")),
    )
    op.create_index(op.f("ix_students_class_id"), "students", ["class_id"], unique=False)
    op.create_index(op.f("ix_students_mentor_id"), "students", ["mentor_id"], unique=False)
    op.create_index(op.f("ix_students_school_id"), "students", ["school_id"], unique=False)

    op.create_table(
        "channel_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_channel_identities_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_identities")),
        sa.UniqueConstraint("channel", "sender_id", name="uq_channel_identities_channel_sender"),
    )
    op.create_index(
        op.f("ix_channel_identities_student_id"), "channel_identities", ["student_id"], unique=False
    )

    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("step_reached", sa.String(length=20), nullable=True),
        sa.Column("experience", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "level IS NULL OR level IN ('vmbo', 'mbo-bol', 'mbo-bbl')",
            name=op.f("ck_sessions_level"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'completed', 'abandoned')",
            name=op.f("ck_sessions_status"),
        ),
        sa.CheckConstraint(
            "step_reached IS NULL OR step_reached IN "
            "('terugkijken', 'reflecteren', 'vooruitkijken', 'activeren')",
            name=op.f("ck_sessions_step_reached"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_sessions_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(
        "ix_sessions_status_updated", "sessions", ["status", "updated_at"], unique=False
    )
    op.create_index(
        "ix_sessions_student_status", "sessions", ["student_id", "status"], unique=False
    )

    op.create_table(
        "action_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.Text(), nullable=True),
        sa.Column("who", sa.Text(), nullable=True),
        sa.Column("how", sa.Text(), nullable=True),
        sa.Column("when_text", sa.Text(), nullable=True),
        sa.Column("when_date", sa.Date(), nullable=True),
        sa.Column("obstacle", sa.Text(), nullable=True),
        sa.Column("solution", sa.Text(), nullable=True),
        sa.Column("followup_status", sa.String(length=20), nullable=True),
        sa.Column("followup_text", sa.Text(), nullable=True),
        sa.Column("followup_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "followup_status IS NULL OR followup_status IN ('gelukt', 'deels', 'niet_gelukt')",
            name=op.f("ck_action_plans_followup_status"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_action_plans_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_action_plans_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plans")),
        sa.UniqueConstraint("session_id", name="uq_action_plans_session_id"),
    )
    op.create_index(
        "ix_action_plans_student_created",
        "action_plans",
        ["student_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=True),
        sa.Column("question_key", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('answer', 'probe', 'correction', 'followup', 'skip', 'digression')",
            name=op.f("ck_answers_kind"),
        ),
        sa.CheckConstraint(
            "step IS NULL OR step IN ('terugkijken', 'reflecteren', 'vooruitkijken', 'activeren')",
            name=op.f("ck_answers_step"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_answers_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
        sa.UniqueConstraint(
            "session_id", "message_id", "question_key", "kind", name="uq_answers_message"
        ),
    )
    op.create_index(op.f("ix_answers_session_id"), "answers", ["session_id"], unique=False)

    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("student_declined", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "category IN ('crisis', 'discriminatie', 'druk_omgeving', 'financien', 'uitval', "
            "'stage_probleem', 'zelfvertrouwen', 'mentor_gevraagd', 'afgehaakt')",
            name=op.f("ck_flags_category"),
        ),
        sa.CheckConstraint(
            "severity IN ('urgent', 'attention', 'info')", name=op.f("ck_flags_severity")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_flags_status")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_flags_session_id_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_flags_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
        sa.UniqueConstraint("message_id", "category", name="uq_flags_message_category"),
    )
    op.create_index(op.f("ix_flags_session_id"), "flags", ["session_id"], unique=False)
    op.create_index("ix_flags_status_severity", "flags", ["status", "severity"], unique=False)
    op.create_index("ix_flags_student_status", "flags", ["student_id", "status"], unique=False)

    op.create_table(
        "insights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("competency", sa.String(length=30), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=50), nullable=False),
        sa.Column("headline", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=True),
        sa.Column("question_key", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "competency IN ('kwaliteiten', 'motieven', 'werkexploratie', 'loopbaansturing', "
            "'netwerken', 'verwachtingen')",
            name=op.f("ck_insights_competency"),
        ),
        sa.CheckConstraint(
            "step IS NULL OR step IN ('terugkijken', 'reflecteren', 'vooruitkijken', 'activeren')",
            name=op.f("ck_insights_step"),
        ),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_insights_answer_id_answers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_insights_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_insights_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights")),
    )
    op.create_index(op.f("ix_insights_answer_id"), "insights", ["answer_id"], unique=False)
    op.create_index(op.f("ix_insights_competency"), "insights", ["competency"], unique=False)
    op.create_index(op.f("ix_insights_session_id"), "insights", ["session_id"], unique=False)
    op.create_index(
        "ix_insights_student_created", "insights", ["student_id", "created_at"], unique=False
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'webhook')", name=op.f("ck_notifications_channel")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_notifications_status")
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["flags.id"],
            name=op.f("fk_notifications_flag_id_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_flag_id"), "notifications", ["flag_id"], unique=False)
    op.create_index(
        "ix_notifications_status_next", "notifications", ["status", "next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_status_next", table_name="notifications")
    op.drop_index(op.f("ix_notifications_flag_id"), table_name="notifications")

    op.drop_table("notifications")
    op.drop_index("ix_insights_student_created", table_name="insights")
    op.drop_index(op.f("ix_insights_session_id"), table_name="insights")
    op.drop_index(op.f("ix_insights_competency"), table_name="insights")
    op.drop_index(op.f("ix_insights_answer_id"), table_name="insights")

    op.drop_table("insights")
    op.drop_index("ix_flags_student_status", table_name="flags")
    op.drop_index("ix_flags_status_severity", table_name="flags")
    op.drop_index(op.f("ix_flags_session_id"), table_name="flags")

    op.drop_table("flags")
    op.drop_index(op.f("ix_answers_session_id"), table_name="answers")

    op.drop_table("answers")
    op.drop_index("ix_action_plans_student_created", table_name="action_plans")

    op.drop_table("action_plans")
    op.drop_index("ix_sessions_student_status", table_name="sessions")
    op.drop_index("ix_sessions_status_updated", table_name="sessions")

    op.drop_table("sessions")
    op.drop_index(op.f("ix_channel_identities_student_id"), table_name="channel_identities")

    op.drop_table("channel_identities")
    op.drop_index(op.f("ix_students_school_id"), table_name="students")
    op.drop_index(op.f("ix_students_mentor_id"), table_name="students")
    op.drop_index(op.f("ix_students_class_id"), table_name="students")

    op.drop_table("students")
    op.drop_table("school_classes")
    op.drop_index(op.f("ix_mentors_school_id"), table_name="mentors")

    op.drop_table("mentors")
    op.drop_index(op.f("ix_coordinators_school_id"), table_name="coordinators")

    op.drop_table("coordinators")
    op.drop_table("schools")
    op.drop_index("ix_audit_log_object", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")

    op.drop_table("audit_log")
