"""Figures for the school's quality cycle (the coordinator's "Cijfers"): counts only, never a
student's words, and nothing of a group smaller than MIN_GROUP students.

A group is the school or one class; its size is the number of students who held at least one
conversation in the period. Below MIN_GROUP the group's figures are withheld (`suppressed`),
because a count of two students with a flag points at people."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from bot.conversation.summaries import local_date
from bot.storage.models import (
    ActionPlan,
    Answer,
    Conversation,
    Flag,
    NotUnderstood,
    SchoolClass,
    Student,
)
from bot.taxonomy import FLAG_BY_KEY, STEPS

MIN_GROUP = 5


@dataclass
class GroupFigures:
    """The figures of one group (the school or a class) over the period."""

    name: str
    students: int  # students with a conversation in the period
    suppressed: bool = False
    weeks: list[str] = field(default_factory=list)  # ISO weeks "2026-W48", oldest first
    started: list[int] = field(default_factory=list)  # conversations started per week
    completed: list[int] = field(default_factory=list)  # ... of which completed
    dropout_step: dict[str, int] = field(default_factory=dict)  # abandoned, by step reached
    dropout_question: dict[str, int] = field(default_factory=dict)  # by last answered question
    plans: int = 0
    plans_followed_up: int = 0
    plans_worked: int = 0  # gelukt or deels
    flags: dict[str, int] = field(default_factory=dict)  # per category
    response_hours: dict[str, float | None] = field(default_factory=dict)  # median, per category
    messages: int = 0  # student messages in the period (answers in conversations + not understood)
    not_understood: int = 0  # ... that the coach answered with its fallback

    @property
    def fallback_rate(self) -> float | None:
        """The NLU fallback rate: the share of messages the coach did not understand."""
        return self.not_understood / self.messages if self.messages else None


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks(start: date, end: date) -> list[str]:
    weeks, day = [], start
    while day <= end:
        if not weeks or weeks[-1] != iso_week(day):
            weeks.append(iso_week(day))
        day += timedelta(days=1)
    return weeks


def period_weeks(since: datetime, until: datetime) -> list[str]:
    """The weeks of [since, until) as the school sees them: the conversations are counted by
    their local date, so the weeks are too (on Monday 00:30 in Amsterdam it is still Sunday
    in UTC, and this week's conversations must not fall outside the list)."""
    return _weeks(local_date(since), local_date(until - timedelta(seconds=1)))


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def figures(db: DbSession, school_id: int, since: datetime, until: datetime,
            school_name: str = "Hele school") -> list[GroupFigures]:
    """The school's figures and each class's, in the period [since, until)."""
    sessions = db.execute(
        select(Conversation.id, Conversation.student_id, Conversation.status,
               Conversation.step_reached, Conversation.started_at, Student.class_id)
        .join(Student, Conversation.student_id == Student.id)
        .where(Student.school_id == school_id, Conversation.started_at >= since,
               Conversation.started_at < until)).all()
    ids = [s.id for s in sessions]
    last_question: dict[int, str] = {}
    if ids:
        latest = (select(Answer.session_id, func.max(Answer.id).label("last"))
                  .where(Answer.session_id.in_(ids)).group_by(Answer.session_id).subquery())
        for session_id, key in db.execute(
                select(Answer.session_id, Answer.question_key)
                .join(latest, Answer.id == latest.c.last)).all():
            last_question[session_id] = key
    plans = db.execute(
        select(ActionPlan.session_id, ActionPlan.followup_status)
        .where(ActionPlan.session_id.in_(ids))).all() if ids else []
    flags = db.execute(
        select(Flag.category, Flag.created_at, Flag.acknowledged_at, Flag.resolved_at,
               Student.class_id)
        .join(Student, Flag.student_id == Student.id)
        .where(Student.school_id == school_id, Flag.created_at >= since,
               Flag.created_at < until)).all()
    # Per student: messages in conversations, and messages the coach did not understand.
    answered = dict(db.execute(
        select(Conversation.student_id, func.count(Answer.id))
        .join(Answer, Answer.session_id == Conversation.id)
        .join(Student, Conversation.student_id == Student.id)
        .where(Student.school_id == school_id, Answer.created_at >= since,
               Answer.created_at < until)
        .group_by(Conversation.student_id)).all())
    missed = dict(db.execute(
        select(NotUnderstood.student_id, func.count(NotUnderstood.id))
        .join(Student, NotUnderstood.student_id == Student.id)
        .where(Student.school_id == school_id, NotUnderstood.created_at >= since,
               NotUnderstood.created_at < until)
        .group_by(NotUnderstood.student_id)).all())
    class_of = dict(db.execute(select(Student.id, Student.class_id)
                               .where(Student.school_id == school_id)).all())
    names = dict(db.execute(select(SchoolClass.id, SchoolClass.name)
                            .where(SchoolClass.school_id == school_id)).all())

    weeks = period_weeks(since, until)
    plan_of = {session_id: status for session_id, status in plans}
    groups: list[tuple[str, object]] = [(school_name, None)] + [
        (names[c], c) for c in sorted(names, key=lambda c: names[c])]
    result = []
    for name, class_id in groups:
        mine = [s for s in sessions if class_id is None or s.class_id == class_id]
        group = GroupFigures(name, len({s.student_id for s in mine}))
        if group.students < MIN_GROUP:
            group.suppressed = True
            result.append(group)
            continue
        started = Counter(iso_week(local_date(s.started_at)) for s in mine)
        done = Counter(iso_week(local_date(s.started_at)) for s in mine
                       if s.status == "completed")
        group.weeks = weeks
        group.started = [started.get(w, 0) for w in weeks]
        group.completed = [done.get(w, 0) for w in weeks]
        gone = [s for s in mine if s.status == "abandoned"]
        group.dropout_step = {step: sum(1 for s in gone if s.step_reached == step)
                              for step in ("", *STEPS)}
        group.dropout_question = dict(Counter(last_question.get(s.id, "") for s in gone))
        statuses = [plan_of[s.id] for s in mine if s.id in plan_of]
        group.plans = len(statuses)
        group.plans_followed_up = sum(1 for st in statuses if st)
        group.plans_worked = sum(1 for st in statuses if st in ("gelukt", "deels"))
        theirs = [f for f in flags if class_id is None or f.class_id == class_id]
        group.flags = {key: sum(1 for f in theirs if f.category == key) for key in FLAG_BY_KEY}
        waits: dict[str, list[float]] = defaultdict(list)
        for f in theirs:
            first = f.acknowledged_at or f.resolved_at
            if first is not None:
                waits[f.category].append(_hours(f.created_at, first))
        group.response_hours = {key: (round(statistics.median(waits[key]), 1)
                                      if waits.get(key) else None) for key in FLAG_BY_KEY}
        ours = [sid for sid in class_of if class_id is None or class_of[sid] == class_id]
        group.not_understood = sum(missed.get(sid, 0) for sid in ours)
        group.messages = sum(answered.get(sid, 0) for sid in ours) + group.not_understood
        result.append(group)
    return result
