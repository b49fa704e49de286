"""Everything a conversation reads and writes (called by bot.service), one function per thing.

Every function takes the open database session `db` (from session_scope) and never commits:
the caller's transaction does. Writes that can be replayed from the spool (bot.scheduled.spool) are
idempotent: answers by (session, message id, question, kind), flags by (message id,
category), insights by answer, action plans by session."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.sql import Select

from bot.storage.audit import audit
from bot.storage.models import (
    ANSWER_KINDS,
    FOLLOWUP_STATUSES,
    PLAN_FROM_FOLLOWUP,
    ActionPlan,
    Answer,
    ChannelIdentity,
    Conversation,
    Flag,
    Insight,
    Notification,
    NotUnderstood,
    Student,
    TrackerDeletion,
)
from bot.storage.portal import (  # noqa: F401  (re-exported for the portal)
    ClassCounts,
    class_counts,
    competency_counts,
    dropout_per_step,
    flag_counts,
    list_flags,
    sessions_for_student,
    set_flag_status,
)
from bot.storage.retry import StorageUnavailable, is_transient, run_with_retry  # noqa: F401
from bot.storage.types import utcnow
from bot.taxonomy import COMPETENCY_KEYS, FLAG_BY_KEY, LEVELS, SESSION_STATUSES, STEPS

log = logging.getLogger(__name__)
T = TypeVar("T")

OPEN_STATUSES = ("active", "paused")
CLOSED_STATUSES = ("completed", "abandoned")
EXCERPT_CHARS = 1000
REDACTED = "[verwijderd op verzoek]"


class NotFound(LookupError):
    """A row that should exist does not."""


def _insert_once(db: DbSession, row: T, existing: Callable[[], T | None]) -> tuple[T, bool]:
    """Insert `row` in a SAVEPOINT; when a unique constraint says it is already there (a
    concurrent or replayed write), return the stored row instead. (row, True when inserted)."""
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
        return row, True
    except IntegrityError:
        found = existing()
        if found is None:  # a different constraint failed: a real error
            raise
        return found, False


def _check(value: str | None, allowed: Sequence[str], what: str) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"unknown {what}: {value!r} (expected one of {', '.join(allowed)})")


# --- students --------------------------------------------------------------------------------


@functools.cache
def _identity_query() -> Select:
    # With its student in the same query: every turn asks for the student behind the identity
    # (built once: building the statement took longer than running it).
    return (select(ChannelIdentity).options(joinedload(ChannelIdentity.student))
            .where(ChannelIdentity.channel == bindparam("channel"),
                   ChannelIdentity.sender_id == bindparam("sender_id")))


def _identity(db: DbSession, channel: str, sender_id: str) -> ChannelIdentity | None:
    return db.execute(_identity_query(),
                      {"channel": channel, "sender_id": sender_id}).scalar_one_or_none()


def get_or_create_student(db: DbSession, channel: str, sender_id: str) -> Student:
    """The student behind a chat identity; a new pseudonymous student the first time."""
    identity = _identity(db, channel, sender_id)
    if identity is not None:
        return identity.student
    student = Student()
    identity = ChannelIdentity(channel=channel, sender_id=sender_id, student=student)
    identity, _ = _insert_once(db, identity, lambda: _identity(db, channel, sender_id))
    return identity.student


# --- sessions --------------------------------------------------------------------------------


def _newest_first(query: Select) -> Select:
    return query.order_by(Conversation.started_at.desc(), Conversation.id.desc())


def previous_sessions(db: DbSession, student: Student, limit: int = 5) -> list[Conversation]:
    """Closed (completed or abandoned) sessions, newest first."""
    query = select(Conversation).where(Conversation.student_id == student.id,
                                  Conversation.status.in_(CLOSED_STATUSES))
    return list(db.execute(_newest_first(query).limit(limit)).scalars())


def count_closed_sessions(db: DbSession, student: Student) -> int:
    """How many conversations the student finished or left (not only the latest few)."""
    return db.execute(select(func.count()).select_from(Conversation).where(
        Conversation.student_id == student.id,
        Conversation.status.in_(CLOSED_STATUSES))).scalar_one()


def latest_insight_name(db: DbSession, student: Student) -> str | None:
    """The name the student gave their insight in the newest closed conversation that has one
    (the rode draad of the next conversation)."""
    query = (select(Insight.headline).join(Conversation, Insight.session_id == Conversation.id)
             .where(Insight.student_id == student.id, Insight.rank == 0,
                    Insight.headline.is_not(None), Conversation.status.in_(CLOSED_STATUSES))
             .order_by(Insight.created_at.desc(), Insight.id.desc()).limit(1))
    return db.execute(query).scalar_one_or_none()


def open_session(db: DbSession, student: Student) -> Conversation | None:
    """The newest active or paused session, if any."""
    query = select(Conversation).where(Conversation.student_id == student.id,
                                  Conversation.status.in_(OPEN_STATUSES))
    return db.execute(_newest_first(query).limit(1)).scalar_one_or_none()


def start_session(db: DbSession, student: Student, channel: str, level: str | None) -> Conversation:
    _check(level, LEVELS, "level")
    if level is not None:
        student.level = level
    now = utcnow()
    session = Conversation(student=student, channel=channel, level=level or student.level,
                      status="active", started_at=now, updated_at=now)
    db.add(session)
    db.flush()
    return session


class ForeignSession(PermissionError):
    """A write names a session of another student (e.g. a forged `sessie_id` slot)."""


def session_of(db: DbSession, student: Student, session_id: int) -> Conversation:
    """The student's own session `session_id`; ForeignSession when it is someone else's."""
    session = get_session(db, session_id)
    if session.student_id != student.id:
        raise ForeignSession(f"session {session_id} does not belong to student {student.id}")
    return session


def get_session(db: DbSession, session_id: int) -> Conversation:
    session = db.get(Conversation, session_id)
    if session is None:
        raise NotFound(f"session {session_id} does not exist")
    return session


def set_session_status(db: DbSession, session: Conversation, status: str,
                       step: str | None = None) -> Conversation:
    """Change the status; `step_reached` only moves forward through STEPS.

    A completed session stays completed (a late or replayed write cannot reopen it);
    an abandoned one becomes active again when the student continues in it."""
    _check(status, SESSION_STATUSES, "session status")
    _check(step, STEPS, "step")
    now = utcnow()
    if step is not None and (session.step_reached is None
                             or STEPS.index(step) > STEPS.index(session.step_reached)):
        session.step_reached = step
    if session.status != "completed":
        if status in CLOSED_STATUSES:
            if session.status != status or session.ended_at is None:
                session.ended_at = now
        else:
            session.ended_at = None
        session.status = status
    session.updated_at = now
    db.flush()
    return session


def mark_abandoned(db: DbSession, older_than: timedelta,
                   paused_older_than: timedelta | None = None) -> list[Conversation]:
    """Active sessions idle for longer than `older_than` (and paused ones idle for longer than
    `paused_older_than`, when given) become abandoned. Returned with `.student` loaded."""
    now = utcnow()
    condition = and_(Conversation.status == "active", Conversation.updated_at < now - older_than)
    if paused_older_than is not None:
        condition = or_(condition, and_(Conversation.status == "paused",
                                        Conversation.updated_at < now - paused_older_than))
    stale = list(db.execute(
        select(Conversation).where(condition).options(selectinload(Conversation.student))
        .order_by(Conversation.id)
    ).scalars())
    for session in stale:
        set_session_status(db, session, "abandoned")
    return stale


# --- answers, insights, plans ----------------------------------------------------------------


@functools.cache
def _answer_query() -> Select:
    return select(Answer).where(  # built once: asked for every answer
        Answer.session_id == bindparam("session_id"),
        Answer.message_id == bindparam("message_id"),
        Answer.question_key == bindparam("question_key"), Answer.kind == bindparam("kind"))


def _answer(db: DbSession, session: Conversation, question_key: str, kind: str,
            message_id: str) -> Answer | None:
    return db.execute(_answer_query(), {
        "session_id": session.id, "message_id": message_id, "question_key": question_key,
        "kind": kind}).scalar_one_or_none()


def save_answer(db: DbSession, session: Conversation, step: str | None, question_key: str,
                text: str, kind: str, message_id: str | None) -> Answer:
    """Store what the student said. The same (session, message id, question, kind) is stored
    once; without a message id every call stores a row."""
    _check(kind, ANSWER_KINDS, "answer kind")
    _check(step, STEPS, "step")
    if message_id is not None:
        stored = _answer(db, session, question_key, kind, message_id)
        if stored is not None:
            return stored
    row = Answer(session_id=session.id, step=step, question_key=question_key, text=text,
                 kind=kind, message_id=message_id)
    if message_id is None:
        db.add(row)
        db.flush()
        return row
    answer, _ = _insert_once(db, row, lambda: _answer(db, session, question_key, kind,
                                                      message_id))
    return answer


def count_answers(db: DbSession, session: Conversation, kind: str | None = None) -> int:
    """How many answers the session has (of one kind, e.g. "skip", when given)."""
    _check(kind, ANSWER_KINDS, "answer kind")
    query = select(func.count()).select_from(Answer).where(Answer.session_id == session.id)
    if kind is not None:
        query = query.where(Answer.kind == kind)
    return db.execute(query).scalar_one()


def save_insight(db: DbSession, student: Student, session: Conversation, step: str | None,
                 question_key: str | None, text: str, competencies: Sequence[str],
                 method: str, headline: str | None = None,
                 answer: Answer | None = None) -> list[Insight]:
    """One row per competency, rank 0 for the best. Idempotent per answer."""
    keys = list(dict.fromkeys(competencies))
    for key in keys:
        _check(key, COMPETENCY_KEYS, "competency")
    _check(step, STEPS, "step")
    if answer is not None and answer.id is not None:
        stored = list(db.execute(select(Insight).where(Insight.answer_id == answer.id)
                                 .order_by(Insight.rank)).scalars())
        if stored:
            return stored
    rows = [Insight(student_id=student.id, session_id=session.id, answer=answer,
                    competency=key, rank=rank, method=method, headline=headline, text=text,
                    step=step, question_key=question_key)
            for rank, key in enumerate(keys)]
    db.add_all(rows)
    db.flush()
    return rows


def insight_overview(db: DbSession, student: Student) -> list[tuple[str, str]]:
    """(competency, the student's words) newest first: the best competency of each insight,
    the student's own headline instead of the full text when there is one."""
    rows = db.execute(
        select(Insight.competency, Insight.headline, Insight.text)
        .where(Insight.student_id == student.id, Insight.rank == 0)
        .order_by(Insight.created_at.desc(), Insight.id.desc())
    ).all()
    seen: set[tuple[str, str]] = set()
    result: list[tuple[str, str]] = []
    for competency, headline, text in rows:
        item = (competency, headline or text)
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result


def save_action_plan(db: DbSession, student: Student, session: Conversation, *,
                     what: str | None = None, who: str | None = None, how: str | None = None,
                     when_text: str | None = None, when_date: date | str | None = None,
                     obstacle: str | None = None, solution: str | None = None,
                     origin: str | None = None) -> ActionPlan:
    """The plan agreed in this session; saving again (a replay) updates the same plan, and
    the plan of `activeren` replaces a small step named at this session's follow-up."""
    if isinstance(when_date, datetime):
        when_date = when_date.date()
    elif isinstance(when_date, str):
        when_date = date.fromisoformat(when_date)
    plan = plan_of_session(db, session)
    if plan is None:
        plan = ActionPlan(student_id=student.id, session_id=session.id)
        db.add(plan)
    plan.what, plan.who, plan.how = what, who, how
    plan.when_text, plan.when_date = when_text, when_date
    plan.obstacle, plan.solution = obstacle, solution
    plan.origin = origin
    db.flush()
    return plan


def plan_of_session(db: DbSession, session: Conversation) -> ActionPlan | None:
    return db.execute(select(ActionPlan).where(ActionPlan.session_id == session.id)
                      ).scalar_one_or_none()


def latest_plan_needing_followup(db: DbSession, student: Student) -> ActionPlan | None:
    """The plan of the student's latest completed session with a plan, while it has no
    follow-up yet. Older plans are superseded by newer ones, so once the newest has its
    follow-up this returns None (which also keeps replayed follow-ups on the right plan)."""
    plan = db.execute(
        select(ActionPlan).join(Conversation, ActionPlan.session_id == Conversation.id)
        .where(ActionPlan.student_id == student.id,
               # a small step named at a follow-up counts even if that conversation stopped
               or_(Conversation.status == "completed", ActionPlan.origin == PLAN_FROM_FOLLOWUP))
        .order_by(ActionPlan.created_at.desc(), ActionPlan.id.desc()).limit(1)
    ).scalar_one_or_none()
    if plan is None or plan.followup_status is not None:
        return None
    return plan


def record_followup(db: DbSession, plan: ActionPlan, text: str, status: str) -> ActionPlan:
    _check(status, FOLLOWUP_STATUSES, "follow-up status")
    plan.followup_text, plan.followup_status, plan.followup_at = text, status, utcnow()
    db.flush()
    return plan


def plan_followed_up_in(db: DbSession, session: Conversation) -> ActionPlan | None:
    """The earlier plan whose follow-up the student gave in `session` (the newest one)."""
    return db.execute(
        select(ActionPlan).where(ActionPlan.student_id == session.student_id,
                                 ActionPlan.session_id != session.id,
                                 ActionPlan.followup_status.is_not(None),
                                 ActionPlan.followup_at >= session.started_at)
        .order_by(ActionPlan.followup_at.desc(), ActionPlan.id.desc()).limit(1)
    ).scalar_one_or_none()


def record_followup_reason(db: DbSession, session: Conversation, text: str) -> ActionPlan | None:
    """What helped, or what got in the way, on the plan followed up in `session`."""
    plan = plan_followed_up_in(db, session)
    if plan is not None:
        plan.followup_reason = text
        db.flush()
    return plan


# --- flags -----------------------------------------------------------------------------------


def _flag(db: DbSession, message_id: str, category: str) -> Flag | None:
    return db.execute(select(Flag).where(Flag.message_id == message_id,
                                         Flag.category == category)).scalar_one_or_none()


def save_flag(db: DbSession, student: Student, session: Conversation | None, category: str,
              evidence: str | None, text: str | None, message_id: str | None,
              severity: str | None = None) -> Flag | None:
    """A new open flag (severity from the taxonomy, or lower: an unsure crisis is a crisis
    flag of severity attention); None when this message already has a flag of this
    category. Unknown category or severity: ValueError."""
    if category not in FLAG_BY_KEY:
        raise ValueError(f"unknown flag category: {category!r}")
    _check(severity, ("urgent", "attention", "info"), "severity")
    if message_id is not None and _flag(db, message_id, category) is not None:
        return None
    row = Flag(student=student, session_id=session.id if session else None,
               category=category, severity=severity or FLAG_BY_KEY[category].severity,
               evidence=evidence,
               excerpt=text[:EXCERPT_CHARS] if text else None, message_id=message_id,
               status="open", student_declined=False)
    if message_id is None:
        db.add(row)
        db.flush()
        return row
    flag, inserted = _insert_once(db, row, lambda: _flag(db, message_id, category))
    return flag if inserted else None


def flag_categories_of_session(db: DbSession, student: Student, session_id: int) -> set[str]:
    """Categories of the flags raised in one of the student's sessions."""
    session = session_of(db, student, session_id)
    return set(db.execute(select(Flag.category).where(Flag.session_id == session.id))
               .scalars())


def set_student_level(db: DbSession, student: Student, session_id: int | None, level: str
                      ) -> None:
    """The level the student told the coach: kept on the student (asked once) and on the
    conversation it was told in. A level the school set is never overwritten."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    gesprek = session_of(db, student, session_id) if session_id else None
    if student.level is None:
        student.level = level
    if gesprek is not None:
        gesprek.level = level


def set_contact_wish(db: DbSession, student: Student, message_id: str, wanted: bool
                     ) -> list[Flag]:
    """The student's answer to an offered talk with the mentor, on the attention flags their
    message `message_id` raised: `wanted` False until they accept (the flags stay open and
    visible; the mentor sees whether the student wants contact)."""
    flags = list(db.execute(
        select(Flag).where(Flag.student_id == student.id, Flag.message_id == message_id,
                           Flag.severity == "attention").order_by(Flag.id)).scalars())
    for flag in flags:
        flag.student_declined = not wanted
    if flags and wanted:
        audit(db, "student", "flag.contact_accepted", "student", student.id,
              {"flags": [f.id for f in flags]})
    return flags


def mark_declined_contact(db: DbSession, student: Student, message_id: str) -> list[Flag]:
    """The student said "liever niet" to contact: mark the open attention flags raised by their
    previous flagged message (the latest batch, not this message) as declined. The flags stay
    open; the mentor sees the wish. Returns the flags newly marked."""
    latest = db.execute(
        select(Flag).where(Flag.student_id == student.id, Flag.severity != "info",
                           or_(Flag.message_id.is_(None), Flag.message_id != message_id))
        .order_by(Flag.created_at.desc(), Flag.id.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is None:
        return []
    same_batch = (Flag.message_id == latest.message_id if latest.message_id is not None
                  else Flag.created_at == latest.created_at)
    flags = list(db.execute(
        select(Flag).where(Flag.student_id == student.id, same_batch, Flag.status == "open",
                           Flag.severity == "attention", Flag.student_declined.is_(False))
        .order_by(Flag.id)
    ).scalars())
    for flag in flags:
        flag.student_declined = True
    if flags:
        audit(db, "student", "flag.contact_declined", "student", student.id,
              {"flags": [f.id for f in flags]})
    db.flush()
    return flags


# --- deletion --------------------------------------------------------------------------------


def delete_student_data(db: DbSession, student: Student, actor: str) -> dict[str, int]:
    """Delete everything the student said or that was derived from it.

    Kept: the student row and channel identities (pseudonymous; the student is recognised
    and starts over as new), and unresolved urgent/attention flags with their content
    replaced by REDACTED, so that a mentor still follows up. Returns deleted counts."""
    sid = student.id
    session_ids = select(Conversation.id).where(Conversation.student_id == sid).scalar_subquery()
    keep = and_(Flag.student_id == sid, Flag.severity.in_(("urgent", "attention")),
                Flag.status != "resolved")
    doomed_flags = select(Flag.id).where(Flag.student_id == sid, ~keep).scalar_subquery()

    def delete(model: type, condition: object) -> int:
        return db.query(model).filter(condition).delete(synchronize_session=False)

    counts = {
        "insights": delete(Insight, Insight.student_id == sid),
        "action_plans": delete(ActionPlan, ActionPlan.student_id == sid),
        "answers": delete(Answer, Answer.session_id.in_(session_ids)),
        "not_understood": delete(NotUnderstood, NotUnderstood.student_id == sid),
        "notifications": delete(Notification, Notification.flag_id.in_(doomed_flags)),
        "flags": delete(Flag, and_(Flag.student_id == sid, ~keep)),
    }
    counts["flags_redacted"] = db.query(Flag).filter(keep).update(
        {Flag.evidence: REDACTED, Flag.excerpt: REDACTED, Flag.session_id: None},
        synchronize_session=False)
    counts["sessions"] = delete(Conversation, Conversation.student_id == sid)
    audit(db, actor, "student.data_deleted", "student", sid, dict(counts))
    db.flush()
    db.expire_all()
    return counts


# --- tracker deletions ---------------------------------------------------------------------


def request_tracker_deletion(db: DbSession, sender_id: str) -> TrackerDeletion:
    row = TrackerDeletion(sender_id=sender_id, attempts=0)
    db.add(row)
    db.flush()
    return row


def pending_tracker_deletions(db: DbSession, limit: int = 50) -> list[TrackerDeletion]:
    return list(db.execute(
        select(TrackerDeletion).where(TrackerDeletion.done_at.is_(None))
        .order_by(TrackerDeletion.id).limit(limit)
    ).scalars())


def finish_tracker_deletion(db: DbSession, deletion_id: int, error: str | None = None) -> None:
    row = db.get(TrackerDeletion, deletion_id)
    if row is None:
        return
    row.attempts = (row.attempts or 0) + 1
    if error is None:
        row.done_at = utcnow()
        row.last_error = None
    else:
        row.last_error = error[:200]
