"""Who may see which student: the one place that decides it.

A mentor sees their own students; a coordinator sees the students of their school. Anything
else is "not found", never "forbidden", so that nobody learns another mentor's student exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.sql import ColumnElement

from bot.storage.accounts import Principal
from bot.storage.audit import audit
from bot.storage.models import Flag, SchoolClass, Session, Student
from bot.taxonomy import SEVERITIES


class NoAccess(LookupError):
    """The student does not exist or is not this user's: the portal answers 404. The
    transaction is rolled back, so record the attempt afterwards with record_denied()."""

    def __init__(self, actor: str, student_id: int, action: str) -> None:
        super().__init__(student_id)
        self.actor, self.student_id, self.action = actor, student_id, action


def record_denied(db: DbSession, denied: NoAccess) -> None:
    """Audit a refused look at a student (in its own transaction)."""
    audit(db, denied.actor, "student.denied", "student", denied.student_id,
          {"tried": denied.action})


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.role == "mentor":
        return Student.mentor_id == principal.id
    if principal.role == "coordinator" and principal.school_id is not None:
        return Student.school_id == principal.school_id
    return Student.id.is_(None)  # nothing


def student_for(db: DbSession, principal: Principal, student_id: int, action: str) -> Student:
    """The student when `principal` may see them (the view is audited as `action`), else
    NoAccess."""
    student = db.execute(select(Student).where(Student.id == student_id, _visible(principal))
                         ).scalar_one_or_none()
    if student is None:
        raise NoAccess(principal.actor, student_id, action)
    audit(db, principal.actor, action, "student", student.id)
    return student


@dataclass(frozen=True)
class StudentRow:
    id: int
    display_name: str
    class_name: str | None
    level: str | None
    open_flags: int
    urgent_flags: int
    last_conversation_at: datetime | None


def display_name(student: Student) -> str:
    return student.display_name or f"Student {student.id}"


def students_for(db: DbSession, principal: Principal) -> list[StudentRow]:
    """The user's students with their open-flag counts: urgent first, then most open flags,
    then by name. Audited as one `students.list` (no names in the log)."""
    open_flags = (select(Flag.student_id, func.count().label("n"),
                         func.sum(case((Flag.severity == SEVERITIES[0], 1), else_=0))
                         .label("urgent"))
                  .where(Flag.status == "open").group_by(Flag.student_id).subquery())
    last = (select(Session.student_id, func.max(Session.started_at).label("at"))
            .group_by(Session.student_id).subquery())
    rows = db.execute(
        select(Student, SchoolClass.name, open_flags.c.n, open_flags.c.urgent, last.c.at)
        .outerjoin(SchoolClass, Student.class_id == SchoolClass.id)
        .outerjoin(open_flags, open_flags.c.student_id == Student.id)
        .outerjoin(last, last.c.student_id == Student.id)
        .where(_visible(principal))
    ).all()
    result = [StudentRow(s.id, display_name(s), class_name, s.level, int(n or 0),
                         int(urgent or 0), at) for s, class_name, n, urgent, at in rows]
    result.sort(key=lambda r: (-r.urgent_flags, -r.open_flags, r.display_name.lower(), r.id))
    audit(db, principal.actor, "students.list", detail={"count": len(result)})
    return result


def student_row(db: DbSession, principal: Principal, student_id: int) -> StudentRow:
    """One student as in students_for(); NoAccess when not visible. Audited."""
    student = student_for(db, principal, student_id, "student.view")
    counts = db.execute(
        select(func.count(), func.sum(case((Flag.severity == SEVERITIES[0], 1), else_=0)))
        .where(Flag.student_id == student.id, Flag.status == "open")).one()
    last = db.execute(select(func.max(Session.started_at))
                      .where(Session.student_id == student.id)).scalar_one()
    return StudentRow(student.id, display_name(student),
                      student.school_class.name if student.school_class else None,
                      student.level, int(counts[0] or 0), int(counts[1] or 0), last)


def flags_for(db: DbSession, principal: Principal, student_id: int,
              status: str | None = None) -> list[Flag]:
    """A visible student's flags: open first, most severe first, newest first. Audited."""
    student = student_for(db, principal, student_id, "student.flags.view")
    status_order = case({"open": 0, "acknowledged": 1, "resolved": 2}, value=Flag.status)
    severity_order = case({s: i for i, s in enumerate(SEVERITIES)}, value=Flag.severity)
    query = select(Flag).where(Flag.student_id == student.id)
    if status is not None:
        query = query.where(Flag.status == status)
    return list(db.execute(query.order_by(status_order, severity_order, Flag.created_at.desc(),
                                          Flag.id.desc())).scalars())
