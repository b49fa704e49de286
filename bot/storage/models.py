"""The tables. Enumerations come from bot.taxonomy and are enforced with CHECK constraints.

Students are pseudonymous: a student is known by channel identities (channel + sender id)
and an optional display name chosen by the school, never by a real name."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import declarative_base, relationship

from bot.storage.types import UTCDateTime, one_of, utcnow
from bot.taxonomy import (
    COMPETENCY_KEYS,
    FLAG_BY_KEY,
    FLAG_STATUSES,
    LEVELS,
    SESSION_STATUSES,
    SEVERITIES,
    STEPS,
)

# Enumerations owned by the storage layer (not part of CONTRACTS.md).
ANSWER_KINDS: tuple[str, ...] = ("answer", "probe", "correction", "followup", "skip", "digression")
FOLLOWUP_STATUSES: tuple[str, ...] = ("gelukt", "deels", "niet_gelukt")
NOTIFICATION_CHANNELS: tuple[str, ...] = ("email", "webhook")
NOTIFICATION_STATUSES: tuple[str, ...] = ("pending", "sent", "failed")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def _created() -> Column:
    return Column(UTCDateTime(), nullable=False, default=utcnow)


class School(Base):
    __tablename__ = "schools"
    __table_args__ = (
        one_of("default_level", LEVELS, nullable=True),
        CheckConstraint("retention_months IS NULL OR retention_months BETWEEN 1 AND 120",
                        name="retention"),
    )

    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False, unique=True)
    created_at = _created()
    # Settings a coordinator changes in the portal (/beheer/instellingen).
    default_level = Column(String(20))  # for students whose level the school did not set
    notify_email = Column(String(320))  # e.g. the zorgcoördinator: flags of students without mentor
    retention_months = Column(Integer)  # conversations older than this are removed (None: kept)
    # When the coach may write first (bot.conversation.followups.QuietHours); None: the default.
    quiet_from = Column(String(5))  # "21:00"
    quiet_until = Column(String(5))  # "08:00"
    quiet_sunday = Column(Boolean)
    reminder_days = Column(Integer)  # a paused conversation is reminded after this; 0: never

    classes = relationship("SchoolClass", back_populates="school")


class SchoolClass(Base):
    __tablename__ = "school_classes"
    __table_args__ = (
        UniqueConstraint("school_id", "name", name="uq_school_classes_school_name"),
        one_of("level", LEVELS, nullable=True),
    )

    id = Column(Integer, primary_key=True)
    school_id = Column(Integer, ForeignKey("schools.id", ondelete="CASCADE"), nullable=False)
    name = Column(String(100), nullable=False)
    level = Column(String(20))
    created_at = _created()

    school = relationship("School", back_populates="classes")


class _PortalUser:
    """Columns shared by mentors and coordinators (portal logins)."""

    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False)
    email = Column(String(320), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    active = Column(Boolean, nullable=False, default=True, server_default=true())
    created_at = _created()


class Mentor(_PortalUser, Base):
    __tablename__ = "mentors"

    school_id = Column(Integer, ForeignKey("schools.id", ondelete="SET NULL"), index=True)
    school = relationship("School")
    students = relationship("Student", back_populates="mentor")


class Coordinator(_PortalUser, Base):
    __tablename__ = "coordinators"

    school_id = Column(Integer, ForeignKey("schools.id", ondelete="SET NULL"), index=True)
    # A school admin: a coordinator who also manages the school's coordinator accounts.
    is_admin = Column(Boolean, nullable=False, default=False, server_default=false())
    school = relationship("School")


class Student(Base):
    __tablename__ = "students"
    __table_args__ = (one_of("level", LEVELS, nullable=True),)

    id = Column(Integer, primary_key=True)
    school_id = Column(Integer, ForeignKey("schools.id", ondelete="SET NULL"), index=True)
    class_id = Column(Integer, ForeignKey("school_classes.id", ondelete="SET NULL"), index=True)
    mentor_id = Column(Integer, ForeignKey("mentors.id", ondelete="SET NULL"), index=True)
    level = Column(String(20))
    display_name = Column(String(200))  # a pseudonym chosen by the school, never required
    created_at = _created()
    reminders_off = Column(Boolean, nullable=False, default=False, server_default=false())
    last_proactive_at = Column(UTCDateTime())  # the coach's last message written first

    school = relationship("School")
    school_class = relationship("SchoolClass")
    mentor = relationship("Mentor", back_populates="students")
    identities = relationship("ChannelIdentity", back_populates="student",
                              cascade="all, delete-orphan", passive_deletes=True)


class ChannelIdentity(Base):
    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("channel", "sender_id", name="uq_channel_identities_channel_sender"),
    )

    id = Column(Integer, primary_key=True)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = Column(String(50), nullable=False)
    sender_id = Column(String(255), nullable=False)
    created_at = _created()

    student = relationship("Student", back_populates="identities")


class Conversation(Base):
    """One loopbaangesprek. Named apart from SQLAlchemy's and Rasa's sessions; its table keeps
    the name `sessions` (and its foreign keys `session_id`), so no data moves."""

    __tablename__ = "sessions"
    __table_args__ = (
        one_of("status", SESSION_STATUSES),
        one_of("step_reached", STEPS, nullable=True),
        one_of("level", LEVELS, nullable=True),
        Index("ix_sessions_student_status", "student_id", "status"),
        Index("ix_sessions_status_updated", "status", "updated_at"),
    )

    id = Column(Integer, primary_key=True)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False)
    channel = Column(String(50), nullable=False)
    level = Column(String(20))
    status = Column(String(20), nullable=False, default="active")
    step_reached = Column(String(20))
    experience = Column(Text)  # the experience the student told about (rode draad)
    started_at = _created()
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    ended_at = Column(UTCDateTime())
    reminded_at = Column(UTCDateTime())  # the one reminder to go on (bot.scheduled.reminders)
    script_version = Column(Integer)  # the script version it started with (None: the file)

    student = relationship("Student")
    answers = relationship("Answer", back_populates="session", passive_deletes=True)


class Answer(Base):
    """Everything the student said in answer to the script: answers, probes, corrections..."""

    __tablename__ = "answers"
    __table_args__ = (
        # Writes can be replayed from the spool: the same message is stored once.
        UniqueConstraint("session_id", "message_id", "question_key", "kind",
                         name="uq_answers_message"),
        one_of("kind", ANSWER_KINDS),
        one_of("step", STEPS, nullable=True),
    )

    id = Column(Integer, primary_key=True)
    session_id = Column(Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    step = Column(String(20))
    question_key = Column(String(100), nullable=False)
    text = Column(Text, nullable=False)
    kind = Column(String(20), nullable=False)
    message_id = Column(String(255))
    created_at = _created()

    session = relationship("Conversation", back_populates="answers")


class Insight(Base):
    """One competency label of something the student discovered (rank 0: the best label)."""

    __tablename__ = "insights"
    __table_args__ = (
        one_of("competency", COMPETENCY_KEYS),
        one_of("step", STEPS, nullable=True),
        Index("ix_insights_student_created", "student_id", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False)
    session_id = Column(Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    answer_id = Column(Integer, ForeignKey("answers.id", ondelete="SET NULL"), index=True)
    competency = Column(String(30), nullable=False, index=True)
    rank = Column(Integer, nullable=False, default=0)
    method = Column(String(50), nullable=False)  # how the competency was decided
    headline = Column(Text)  # the student's own name for the insight
    text = Column(Text, nullable=False)
    step = Column(String(20))
    question_key = Column(String(100))
    created_at = _created()

    student = relationship("Student")
    session = relationship("Conversation")
    answer = relationship("Answer")


PLAN_FROM_FOLLOWUP = "volgende_stap"


class ActionPlan(Base):
    """The next step agreed in `activeren`, and later how it went (follow-up)."""

    __tablename__ = "action_plans"
    __table_args__ = (
        UniqueConstraint("session_id", name="uq_action_plans_session_id"),
        one_of("followup_status", FOLLOWUP_STATUSES, nullable=True),
        Index("ix_action_plans_student_created", "student_id", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False)
    session_id = Column(Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False)
    what = Column(Text)
    who = Column(Text)
    how = Column(Text)
    when_text = Column(Text)
    when_date = Column(Date)
    obstacle = Column(Text)
    solution = Column(Text)
    followup_status = Column(String(20))
    followup_text = Column(Text)
    followup_reason = Column(Text)  # what helped, or what got in the way
    followup_at = Column(UTCDateTime())
    # None: agreed in `activeren`; PLAN_FROM_FOLLOWUP: a new small step named at a follow-up
    # (the student may leave that conversation before `activeren`).
    origin = Column(String(20))
    created_at = _created()

    student = relationship("Student")
    session = relationship("Conversation")


class NotUnderstood(Base):
    """A student message the coach did not understand (its fallback reply): when and whose,
    never what. The coordinator's figures show the share per class."""

    __tablename__ = "not_understood"
    __table_args__ = (Index("ix_not_understood_student_created", "student_id", "created_at"),)

    id = Column(Integer, primary_key=True)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False)
    created_at = _created()


class Flag(Base):
    """A signal a human must act on (CONTRACTS.md, Flags)."""

    __tablename__ = "flags"
    __table_args__ = (
        # The same message never yields the same flag twice (NULL message ids are distinct).
        UniqueConstraint("message_id", "category", name="uq_flags_message_category"),
        one_of("category", FLAG_BY_KEY),
        one_of("severity", SEVERITIES),
        one_of("status", FLAG_STATUSES),
        Index("ix_flags_student_status", "student_id", "status"),
        Index("ix_flags_status_severity", "status", "severity"),
    )

    id = Column(Integer, primary_key=True)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False)
    session_id = Column(Integer, ForeignKey("sessions.id", ondelete="SET NULL"), index=True)
    category = Column(String(30), nullable=False)
    severity = Column(String(20), nullable=False)
    evidence = Column(Text)  # the words that triggered the flag
    excerpt = Column(Text)  # the message (truncated)
    message_id = Column(String(255))
    status = Column(String(20), nullable=False, default="open")
    student_declined = Column(Boolean, nullable=False, default=False, server_default=false())
    note = Column(Text)  # the mentor's note
    created_at = _created()
    acknowledged_at = Column(UTCDateTime())
    acknowledged_by = Column(String(200))
    resolved_at = Column(UTCDateTime())
    resolved_by = Column(String(200))

    student = relationship("Student")
    session = relationship("Conversation")
    notifications = relationship("Notification", back_populates="flag", passive_deletes=True)


class Notification(Base):
    """Outbox of mentor notifications about flags, sent (and retried) by a worker."""

    __tablename__ = "notifications"
    __table_args__ = (
        one_of("channel", NOTIFICATION_CHANNELS),
        one_of("status", NOTIFICATION_STATUSES),
        Index("ix_notifications_status_next", "status", "next_attempt_at"),
    )

    id = Column(Integer, primary_key=True)
    flag_id = Column(Integer, ForeignKey("flags.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    channel = Column(String(20), nullable=False)
    recipient = Column(String(500), nullable=False)
    status = Column(String(20), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text)
    next_attempt_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    sent_at = Column(UTCDateTime())
    created_at = _created()

    flag = relationship("Flag", back_populates="notifications")


class AuditLog(Base):
    """Who did what to which object. `detail` never holds message content."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    actor = Column(String(200), nullable=False)
    action = Column(String(100), nullable=False)
    object_type = Column(String(50))
    object_id = Column(String(100))
    detail = Column(JSON)


class TrackerDeletion(Base):
    """A student's request to delete their conversation from Rasa's tracker store.

    Persisted so that it survives restarts; the Rasa process carries it out under the
    conversation's lock (bot.rasa_plugins) and retries until done. Holds no message content."""

    __tablename__ = "tracker_deletions"
    __table_args__ = (Index("ix_tracker_deletions_pending", "done_at"),)

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(200), nullable=False)
    requested_at = _created()
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(String(200))
    done_at = Column(UTCDateTime())


# --- linking a chat identity to a student ------------------------------------------------------


class LinkCode(Base):
    """A koppelcode: typed once by a student in any channel, it attaches that channel's
    identity to the student the school made (class, mentor). Stored as SHA-256, single use."""

    __tablename__ = "link_codes"

    id = Column(Integer, primary_key=True)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    code_hash = Column(String(64), nullable=False, unique=True)
    created_by = Column(String(200), nullable=False)
    created_at = _created()
    expires_at = Column(UTCDateTime(), nullable=False)
    used_at = Column(UTCDateTime())


class LinkFailure(Base):
    """A wrong koppelcode, for rate limiting guesses per chat identity. No code kept."""

    __tablename__ = "link_failures"
    __table_args__ = (Index("ix_link_failures_sender_at", "channel", "sender_id", "at"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(50), nullable=False)
    sender_id = Column(String(255), nullable=False)
    at = Column(UTCDateTime(), nullable=False, default=utcnow)


class PendingMessage(Base):
    """A message the coach wrote first (a check-in) to a chat identity whose channel cannot
    receive it now (REST): delivered before the reply to the student's next message."""

    __tablename__ = "pending_messages"
    __table_args__ = (Index("ix_pending_messages_to", "channel", "sender_id", "delivered_at"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(50), nullable=False)
    sender_id = Column(String(255), nullable=False)
    text = Column(Text, nullable=False)  # the coach's words, never the student's
    created_at = _created()
    delivered_at = Column(UTCDateTime())


# --- portal logins ----------------------------------------------------------------------------
# A session, an API token and a login failure belong to exactly one mentor or coordinator.
_ONE_OWNER = "(mentor_id IS NULL) <> (coordinator_id IS NULL)"


def _owner_columns() -> tuple[Column, Column]:
    return (Column(Integer, ForeignKey("mentors.id", ondelete="CASCADE"), index=True),
            Column(Integer, ForeignKey("coordinators.id", ondelete="CASCADE"), index=True))


class PortalSession(Base):
    """A logged-in browser. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "portal_sessions"
    __table_args__ = (CheckConstraint(_ONE_OWNER, name="owner"),)

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    mentor_id, coordinator_id = _owner_columns()
    created_at = _created()
    last_seen_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class ApiToken(Base):
    """A bearer token for the JSON API (school systems, scripts). Stored as SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_ONE_OWNER, name="owner"),)

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    mentor_id, coordinator_id = _owner_columns()
    created_at = _created()
    last_used_at = Column(UTCDateTime())
    revoked_at = Column(UTCDateTime())


class LoginFailure(Base):
    """A failed login, for rate limiting (per account and IP address). No password kept."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_email_ip_at", "email", "ip", "at"),)

    id = Column(Integer, primary_key=True)
    email = Column(String(320), nullable=False)
    ip = Column(String(64), nullable=False)
    at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)


# --- background jobs ---------------------------------------------------------------------------
JOB_STATUSES: tuple[str, ...] = ("pending", "running", "done", "failed")


class Job(Base):
    """One background job, run by `bot worker` (bot.scheduled.worker). The payload holds ids and
    settings only, never student text. `locked_by`/`locked_until` are a lease: a job whose
    worker died is claimed again once the lease has expired. Scheduling the same
    `dedupe_key` twice makes one job."""

    __tablename__ = "jobs"
    __table_args__ = (
        one_of("status", JOB_STATUSES),
        Index("ix_jobs_status_due", "status", "due_at"),
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(50), nullable=False)
    due_at = Column(UTCDateTime(), nullable=False)
    payload = Column(JSON, nullable=False, default=dict)
    student_id = Column(Integer, ForeignKey("students.id", ondelete="CASCADE"), index=True)
    status = Column(String(20), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(String(200))
    locked_by = Column(String(100))
    locked_until = Column(UTCDateTime())
    dedupe_key = Column(String(200), nullable=False, unique=True)
    created_at = _created()
    done_at = Column(UTCDateTime())


CONFIG_KINDS: tuple[str, ...] = ("script", "signal_rules")


class ConfigVersion(Base):
    """A saved version of what a coordinator edits (the conversation script, the flag rules),
    for one school (school_id) or the whole installation (None). The newest number is in use;
    a rollback saves an older content again as a new version, so history is never lost."""

    __tablename__ = "config_versions"
    __table_args__ = (
        one_of("kind", CONFIG_KINDS),
        UniqueConstraint("kind", "school_id", "number",
                         name="uq_config_versions_kind_school_number"),
        Index("ix_config_versions_current", "kind", "school_id", "number"),
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(30), nullable=False)
    school_id = Column(Integer, ForeignKey("schools.id", ondelete="CASCADE"))
    number = Column(Integer, nullable=False)
    content = Column(Text, nullable=False)  # YAML, as the file in data/ would hold it
    summary = Column(Text)  # what changed, in Dutch, for the version list
    author_id = Column(Integer, ForeignKey("coordinators.id", ondelete="SET NULL"))
    author_name = Column(String(200))
    created_at = _created()
