"""Who may see which student: the one place that decides it.

A mentor sees their own students; a coordinator sees the students of their school. Anything
else is "not found", never "forbidden", so that nobody learns another mentor's student exists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.sql import ColumnElement

from bot.conversation.student_status import StudentFacts
from bot.conversation.summaries import (
    CompetencySection,
    SessionSummary,
    TimelineEntry,
    local_date,
    session_summary,
    student_overview,
)
from bot.storage.accounts import Principal
from bot.storage.audit import audit
from bot.storage.models import (
    ActionPlan,
    Conversation,
    Coordinator,
    Flag,
    Mentor,
    SchoolClass,
    Student,
)
from bot.storage.portal import sessions_for_student, set_flag_status
from bot.taxonomy import SEVERITIES


class NoAccess(LookupError):
    """The student does not exist or is not this user's: the portal answers 404. The
    transaction is rolled back, so record the attempt afterwards with record_denied()."""

    def __init__(self, actor: str, student_id: int, action: str,
                 object_type: str = "student") -> None:
        super().__init__(student_id)
        self.actor, self.student_id, self.action = actor, student_id, action
        self.object_type = object_type  # "student", or "flag" (then student_id is a flag id)


def record_denied(db: DbSession, denied: NoAccess) -> None:
    """Audit a refused look at (or change of) a student or one of their flags (in its own
    transaction): `student.denied` / `flag.denied`."""
    audit(db, denied.actor, f"{denied.object_type}.denied", denied.object_type,
          denied.student_id, {"tried": denied.action})


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.role == "mentor":
        return Student.mentor_id == principal.id
    if principal.school_wide and principal.school_id is not None:
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
    class_id: int | None = None
    plan_date: date | None = None  # the latest plan's date (when the student named one)
    plan_followup: str | None = None  # how the latest plan went, once asked
    mentor_id: int | None = None

    def facts(self) -> StudentFacts:
        last = self.last_conversation_at
        return StudentFacts(self.open_flags, self.urgent_flags,
                            local_date(last) if last is not None else None,
                            self.plan_date, self.plan_followup)


def display_name(student: Student) -> str:
    return student.display_name or f"Student {student.id}"


def _latest_plans(db: DbSession, student_ids: list[int]) -> dict[int, ActionPlan]:
    plans: dict[int, ActionPlan] = {}
    if student_ids:
        for plan in db.execute(select(ActionPlan).where(ActionPlan.student_id.in_(student_ids))
                               .order_by(ActionPlan.created_at, ActionPlan.id)).scalars():
            plans[plan.student_id] = plan  # the newest wins
    return plans


def students_for(db: DbSession, principal: Principal,
                 class_id: int | None = None) -> list[StudentRow]:
    """The user's students (of one class when `class_id`) with their open-flag counts and
    latest plan: urgent first, then most open flags, then by name. Audited as one
    `students.list` (no names in the log)."""
    open_flags = (select(Flag.student_id, func.count().label("n"),
                         func.sum(case((Flag.severity == SEVERITIES[0], 1), else_=0))
                         .label("urgent"))
                  .where(Flag.status == "open").group_by(Flag.student_id).subquery())
    last = (select(Conversation.student_id, func.max(Conversation.started_at).label("at"))
            .group_by(Conversation.student_id).subquery())
    query = (select(Student, SchoolClass.name, open_flags.c.n, open_flags.c.urgent, last.c.at)
             .outerjoin(SchoolClass, Student.class_id == SchoolClass.id)
             .outerjoin(open_flags, open_flags.c.student_id == Student.id)
             .outerjoin(last, last.c.student_id == Student.id)
             .where(_visible(principal)))
    if class_id is not None:
        query = query.where(Student.class_id == class_id)
    rows = db.execute(query).all()
    plans = _latest_plans(db, [s.id for s, *_ in rows])
    result = [_row(s, class_name, n, urgent, at, plans.get(s.id))
              for s, class_name, n, urgent, at in rows]
    result.sort(key=lambda r: (-r.urgent_flags, -r.open_flags, r.display_name.lower(), r.id))
    audit(db, principal.actor, "students.list", detail={"count": len(result)})
    return result


def _row(student: Student, class_name: str | None, n: int | None, urgent: int | None,
         last: datetime | None, plan: ActionPlan | None) -> StudentRow:
    return StudentRow(student.id, display_name(student), class_name, student.level,
                      int(n or 0), int(urgent or 0), last, student.class_id,
                      plan.when_date if plan is not None else None,
                      plan.followup_status if plan is not None else None, student.mentor_id)


def classes_for(db: DbSession, principal: Principal) -> list[tuple[int, str]]:
    """The classes of the user's students (id, name), for the class filter."""
    return [(i, n) for i, n in db.execute(
        select(SchoolClass.id, SchoolClass.name).join(Student, Student.class_id == SchoolClass.id)
        .where(_visible(principal)).distinct().order_by(SchoolClass.name)).all()]


def open_flag_count(db: DbSession, principal: Principal) -> int:
    """Open flags of the user's students (the count in the portal's header)."""
    return int(db.execute(select(func.count(Flag.id)).join(Student, Flag.student_id == Student.id)
                          .where(Flag.status == "open", _visible(principal))).scalar_one())


def student_row(db: DbSession, principal: Principal, student_id: int) -> StudentRow:
    """One student as in students_for(); NoAccess when not visible. Audited."""
    student = student_for(db, principal, student_id, "student.view")
    counts = db.execute(
        select(func.count(), func.sum(case((Flag.severity == SEVERITIES[0], 1), else_=0)))
        .where(Flag.student_id == student.id, Flag.status == "open")).one()
    last = db.execute(select(func.max(Conversation.started_at))
                      .where(Conversation.student_id == student.id)).scalar_one()
    return _row(student, student.school_class.name if student.school_class else None,
                counts[0], counts[1], last, _latest_plans(db, [student.id]).get(student.id))


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


# --- the flag workflow -----------------------------------------------------------------------

NOTE_MAX_CHARS = 2000
# The statuses a flag may move to, each with the statuses it may move from: a mentor marks an
# open flag as seen (acknowledged) and resolves an open or seen one with a note. Resolved is final.
FLAG_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "acknowledged": ("open",),
    "resolved": ("open", "acknowledged"),
}


class FlagConflict(ValueError):
    """The flag's status does not allow this change (e.g. it is already resolved)."""

    def __init__(self, flag_id: int, student_id: int, status: str) -> None:
        super().__init__(status)
        self.flag_id, self.student_id, self.status = flag_id, student_id, status


class BadNote(ValueError):
    """A resolve without a note, or with one longer than NOTE_MAX_CHARS."""

    def __init__(self, flag_id: int, student_id: int) -> None:
        super().__init__(flag_id)
        self.flag_id, self.student_id = flag_id, student_id


# A note holds at least one visible character: not white space, not a control character.
# The API document states the same rule as its `pattern` (bot.portal.openapi), so that what
# the schema allows is exactly what is accepted.
NOTE_VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f]"
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and line end


def clean_note(note: object) -> str | None:
    """The note without control characters (line ends as \\n) and surrounding white space;
    None when it is missing, holds nothing visible (NOTE_VISIBLE), is too long or is not valid
    text (e.g. a lone surrogate)."""
    if (not isinstance(note, str) or len(note) > NOTE_MAX_CHARS  # as sent (the maxLength)
            or not re.search(NOTE_VISIBLE, note)):
        return None
    text = _CONTROLS.sub("", note.replace("\r\n", "\n").replace("\r", "\n")).strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text or None


def flag_for(db: DbSession, principal: Principal, flag_id: int, action: str,
             lock: bool = False) -> Flag:
    """A flag of a student `principal` may see (locked for update when `lock`), else NoAccess
    (a flag of another mentor's student is "not found")."""
    query = (select(Flag).join(Student, Flag.student_id == Student.id)
             .where(Flag.id == flag_id, _visible(principal)))
    if lock:
        query = query.with_for_update(of=Flag)
    flag = db.execute(query).scalar_one_or_none()
    if flag is None:
        raise NoAccess(principal.actor, flag_id, action, "flag")
    return flag


def flag_view(db: DbSession, principal: Principal, flag_id: int) -> Flag:
    """A visible flag (its page, e.g. from the link in an urgent e-mail); audited as
    `flag.view`, else NoAccess."""
    flag = flag_for(db, principal, flag_id, "flag.view")
    audit(db, principal.actor, "flag.view", "flag", flag.id)
    return flag


def change_flag(db: DbSession, principal: Principal, flag_id: int, status: str,
                note: object = None) -> Flag:
    """Acknowledge (`status="acknowledged"`) or resolve (`"resolved"`, with a note) a visible
    flag; who and when are recorded on the flag, and the audit log gets one row without
    content (bot.storage.portal.set_flag_status). NoAccess, FlagConflict or BadNote otherwise."""
    allowed_from = FLAG_TRANSITIONS[status]
    flag = flag_for(db, principal, flag_id, f"flag.{status}", lock=True)
    if flag.status not in allowed_from:
        raise FlagConflict(flag.id, flag.student_id, flag.status)
    text = None
    if status == "resolved":
        text = clean_note(note)
        if text is None:
            raise BadNote(flag.id, flag.student_id)
    return set_flag_status(db, flag, status, principal.actor, text)


def actor_names(db: DbSession, actors: Iterable[str | None]) -> dict[str, str]:
    """Display names of audit actors such as "mentor:3" (who acknowledged or resolved a flag);
    actors that are not a portal user keep their own name."""
    names: dict[str, str] = {}
    for actor in {a for a in actors if a}:
        role, _, number = actor.partition(":")
        model = {"mentor": Mentor, "coordinator": Coordinator}.get(role)
        user = db.get(model, int(number)) if model is not None and number.isdigit() else None
        names[actor] = user.name if user is not None else actor
    return names


# --- placing a student (coordinators) ----------------------------------------------------------


class BadPlacement(ValueError):
    """The class or mentor is not one of the school's (or the mentor is inactive)."""

    def __init__(self, student_id: int) -> None:
        super().__init__(student_id)
        self.student_id = student_id


def placement_options(db: DbSession, principal: Principal
                      ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The school's classes and active mentors (id, name), for moving a student."""
    if not principal.school_wide or principal.school_id is None:
        return [], []
    classes = db.execute(select(SchoolClass.id, SchoolClass.name)
                         .where(SchoolClass.school_id == principal.school_id)
                         .order_by(SchoolClass.name)).all()
    mentors = db.execute(select(Mentor.id, Mentor.name)
                         .where(Mentor.school_id == principal.school_id, Mentor.active.is_(True))
                         .order_by(Mentor.name)).all()
    return [(i, n) for i, n in classes], [(i, n) for i, n in mentors]


def move_student(db: DbSession, principal: Principal, student_id: int,
                 class_id: int | None, mentor_id: int | None) -> Student:
    """Put a student of the school in another class and/or with another mentor (None: none).
    Only coordinators and the school admin; for anyone else the student is "not found".
    Audited with the ids, never names."""
    if not principal.school_wide:
        raise NoAccess(principal.actor, student_id, "student.move")
    student = student_for(db, principal, student_id, "student.move")
    classes, mentors = placement_options(db, principal)
    if (class_id is not None and class_id not in dict(classes)) or (
            mentor_id is not None and mentor_id not in dict(mentors)):
        raise BadPlacement(student.id)
    before = {"class": student.class_id, "mentor": student.mentor_id}
    student.class_id, student.mentor_id = class_id, mentor_id
    audit(db, principal.actor, "student.moved", "student", student.id,
          {"from": before, "to": {"class": class_id, "mentor": mentor_id}})
    db.flush()
    return student


def new_link_code(db: DbSession, principal: Principal, student_id: int
                  ) -> tuple[str, datetime]:
    """A koppelcode for a visible student (their mentor or the school's coordinators);
    NoAccess otherwise. Audited (bot.storage.links)."""
    from bot.storage.links import make_code

    student = student_for(db, principal, student_id, "student.link_code")
    return make_code(db, student, principal.actor)


# --- conversations and insights --------------------------------------------------------------

MAX_CONVERSATIONS = 20  # on the student page; older ones are counted


@dataclass(frozen=True)
class StudentStory:
    """What a student told, for their mentor: conversations newest first (summaries in the
    student's own words) and the insights per competency."""

    conversations: list[SessionSummary]
    older: int  # conversations not shown (beyond MAX_CONVERSATIONS)
    competencies: list[CompetencySection]
    timeline: list[TimelineEntry] = field(default_factory=list)  # the LOB-cv, newest first
    months: list[str] = field(default_factory=list)  # "YYYY-MM" of the competency counts


def story_for(db: DbSession, principal: Principal, student_id: int,
              limit: int = MAX_CONVERSATIONS) -> StudentStory:
    """A visible student's conversations and insights (bot.conversation.summaries); audited as
    `student.conversations.view`, else NoAccess."""
    student = student_for(db, principal, student_id, "student.conversations.view")
    sessions = sessions_for_student(db, student)
    summaries = [session_summary(db, s) for s in sessions[:limit]]
    overview = student_overview(db, student)
    return StudentStory(summaries, max(0, len(sessions) - limit), overview.competencies,
                        overview.timeline, overview.months)


# --- the loopbaandossier and the gesprekskaart -----------------------------------------------


@dataclass(frozen=True)
class StudentDossier:
    """What the loopbaandossier export and the gesprekskaart show of one student: every
    conversation (newest first), the insights per competency and the unresolved flags."""

    student_id: int
    display_name: str
    class_name: str | None
    conversations: list[SessionSummary]
    competencies: list[CompetencySection]
    open_flags: list[Flag]  # open or acknowledged: most severe first, then newest


def dossier_for(db: DbSession, principal: Principal, student_id: int,
                action: str = "student.dossier.export") -> StudentDossier:
    """A visible student's dossier (all conversations); audited as `action` (one row, no
    content), else NoAccess."""
    student = student_for(db, principal, student_id, action)
    summaries = [session_summary(db, s) for s in sessions_for_student(db, student)]
    overview = student_overview(db, student)
    severity_order = case({s: i for i, s in enumerate(SEVERITIES)}, value=Flag.severity)
    flags = list(db.execute(
        select(Flag).where(Flag.student_id == student.id,
                           Flag.status.in_(("open", "acknowledged")))
        .order_by(severity_order, Flag.created_at.desc(), Flag.id.desc())).scalars())
    return StudentDossier(student.id, display_name(student),
                          student.school_class.name if student.school_class else None,
                          summaries, overview.competencies, flags)
