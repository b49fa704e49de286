"""Reads and writes for the mentor and coordinator portal, and the notification outbox.

Aggregates return counts only, never content (coordinators see no transcripts)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from bot.storage.audit import audit
from bot.storage.models import (
    Conversation,
    Flag,
    Insight,
    Mentor,
    SchoolClass,
    Student,
)
from bot.storage.types import utcnow
from bot.taxonomy import COMPETENCY_KEYS, FLAG_BY_KEY, FLAG_STATUSES, SEVERITIES, STEPS

# --- flags -----------------------------------------------------------------------------------


def list_flags(db: DbSession, status: str | None = None,
               mentor: Mentor | int | None = None) -> list[Flag]:
    """Flags, most severe first, then newest first; only `mentor`'s students when given."""
    if status is not None and status not in FLAG_STATUSES:
        raise ValueError(f"unknown flag status: {status!r}")
    severity_order = case({s: i for i, s in enumerate(SEVERITIES)}, value=Flag.severity)
    query = select(Flag).options(selectinload(Flag.student))
    if status is not None:
        query = query.where(Flag.status == status)
    if mentor is not None:
        mentor_id = mentor if isinstance(mentor, int) else mentor.id
        query = query.join(Student, Flag.student_id == Student.id).where(
            Student.mentor_id == mentor_id)
    query = query.order_by(severity_order, Flag.created_at.desc(), Flag.id.desc())
    return list(db.execute(query).scalars())


def set_flag_status(db: DbSession, flag: Flag, status: str, actor: str,
                    note: str | None = None) -> Flag:
    """open -> acknowledged -> resolved (or back to open), with who and when; audited."""
    if status not in FLAG_STATUSES:
        raise ValueError(f"unknown flag status: {status!r}")
    now, previous = utcnow(), flag.status
    if status in ("acknowledged", "resolved") and flag.acknowledged_at is None:
        flag.acknowledged_at, flag.acknowledged_by = now, actor
    if status == "resolved":
        flag.resolved_at, flag.resolved_by = now, actor
    else:
        flag.resolved_at, flag.resolved_by = None, None
    if status == "open":
        flag.acknowledged_at, flag.acknowledged_by = None, None
    if note is not None:
        flag.note = note
    flag.status = status
    audit(db, actor, "flag.status", "flag", flag.id,
          {"from": previous, "to": status, "note": note is not None})
    db.flush()
    return flag


# --- sessions --------------------------------------------------------------------------------


def sessions_for_student(db: DbSession, student: Student | int) -> list[Conversation]:
    """All sessions of a student, newest first."""
    student_id = student if isinstance(student, int) else student.id
    return list(db.execute(
        select(Conversation).where(Conversation.student_id == student_id)
        .order_by(Conversation.started_at.desc(), Conversation.id.desc())
    ).scalars())


# --- aggregates ------------------------------------------------------------------------------


def competency_counts(db: DbSession, school_id: int | None = None) -> dict[str, int]:
    """Insight labels per competency (every rank), all competencies present."""
    query = select(Insight.competency, func.count()).group_by(Insight.competency)
    if school_id is not None:
        query = query.join(Student, Insight.student_id == Student.id).where(
            Student.school_id == school_id)
    counts = dict.fromkeys(COMPETENCY_KEYS, 0)
    counts.update({key: n for key, n in db.execute(query).all()})
    return counts


def flag_counts(db: DbSession, status: str | None = None,
                school_id: int | None = None) -> dict[str, int]:
    """Flags per category, all categories present."""
    query = select(Flag.category, func.count()).group_by(Flag.category)
    if status is not None:
        query = query.where(Flag.status == status)
    if school_id is not None:
        query = query.join(Student, Flag.student_id == Student.id).where(
            Student.school_id == school_id)
    counts = dict.fromkeys(FLAG_BY_KEY, 0)
    counts.update({key: n for key, n in db.execute(query).all()})
    return counts


def dropout_per_step(db: DbSession) -> dict[str | None, int]:
    """Abandoned sessions by the step they reached (None: before the first step)."""
    counts: dict[str | None, int] = {None: 0, **dict.fromkeys(STEPS, 0)}
    rows = db.execute(select(Conversation.step_reached, func.count())
                      .where(Conversation.status == "abandoned")
                      .group_by(Conversation.step_reached))
    counts.update({step: n for step, n in rows.all()})
    return counts


@dataclass(frozen=True)
class ClassCounts:
    class_id: int | None  # None: students without a class
    class_name: str | None
    students: int
    sessions: int
    completed: int
    abandoned: int
    open_flags: int


def class_counts(db: DbSession, school_id: int | None = None) -> list[ClassCounts]:
    """Per school class: students, sessions started/completed/abandoned, open flags."""
    student_filter = [] if school_id is None else [Student.school_id == school_id]
    students = dict(db.execute(select(Student.class_id, func.count()).where(*student_filter)
                               .group_by(Student.class_id)).all())
    sessions = db.execute(
        select(Student.class_id, func.count(),
               func.sum(case((Conversation.status == "completed", 1), else_=0)),
               func.sum(case((Conversation.status == "abandoned", 1), else_=0)))
        .select_from(Conversation).join(Student, Conversation.student_id == Student.id)
        .where(*student_filter)
        .group_by(Student.class_id)
    ).all()
    per_class = {cid: (n, int(done or 0), int(gone or 0)) for cid, n, done, gone in sessions}
    flags = dict(db.execute(
        select(Student.class_id, func.count()).select_from(Flag)
        .join(Student, Flag.student_id == Student.id)
        .where(Flag.status == "open", *student_filter).group_by(Student.class_id)
    ).all())
    names = dict(db.execute(select(SchoolClass.id, SchoolClass.name)).all())
    result = []
    for cid in sorted(students, key=lambda c: (c is None, names.get(c) or "", c or 0)):
        n, done, gone = per_class.get(cid, (0, 0, 0))
        result.append(ClassCounts(cid, names.get(cid), students[cid], n, done, gone,
                                  flags.get(cid, 0)))
    return result
