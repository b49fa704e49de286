"""One friendly reminder for a conversation left midway (paused, or abandoned after a
silence): "We waren gebleven bij … Zin om verder te gaan?". Scheduled by the worker each tick
(kind "reminder", once per conversation), sent through Rasa like a check-in
(bot.scheduled.checkins) so
that a "ja" goes on where the student was. The same respect: reminders switched off, quiet
hours, one proactive message a day, and never when the student has started something newer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from bot.conversation import followups
from bot.scheduled import checkins, jobqueue
from bot.storage.db import session_scope
from bot.storage.models import Conversation, School, Student

log = logging.getLogger(__name__)
KIND = "reminder"
TRIGGER_INTENT = "begroeten"  # -> action_aanbod, which offers to go on ("ja" resumes)
WAITING = ("paused", "abandoned")


def _newest_session_id(db: DbSession, student_id: int) -> int | None:
    return db.execute(select(Conversation.id).where(Conversation.student_id == student_id)
                      .order_by(Conversation.started_at.desc(), Conversation.id.desc())).scalar()


def schedule_due(db: DbSession, now: datetime) -> int:
    """A reminder job for every conversation left midway long enough ago (the school's
    reminder_days; 0 switches reminders off for the school). Returns how many were added."""
    shortest = timedelta(days=1)
    rows = db.execute(
        select(Conversation.id, Conversation.updated_at, Conversation.student_id, School)
        .join(Student, Student.id == Conversation.student_id)
        .outerjoin(School, School.id == Student.school_id)
        .where(Conversation.status.in_(WAITING), Conversation.step_reached.is_not(None),
               Conversation.reminded_at.is_(None), Student.reminders_off.is_(False),
               Conversation.updated_at <= now - shortest)).all()
    added = 0
    for session_id, updated_at, student_id, school in rows:
        days = followups.reminder_days_of(school)
        if days == 0 or updated_at > now - timedelta(days=days):
            continue
        if _newest_session_id(db, student_id) != session_id:
            continue  # the student has started a newer conversation since
        added += jobqueue.schedule(db, KIND, now, f"{KIND}:{session_id}",
                                   {"session": session_id}, student_id=student_id)
    return added


def decide(db: DbSession, session_id: int, now: datetime) -> checkins.Decision:
    session = db.get(Conversation, session_id)
    if session is None:
        return checkins.Decision("skip", "session_gone")
    if session.status not in WAITING or session.reminded_at is not None:
        return checkins.Decision("skip", "no_longer_waiting")
    if _newest_session_id(db, session.student_id) != session_id:
        return checkins.Decision("skip", "newer_session")
    decision = checkins.may_write(db, db.get(Student, session.student_id), now,
                                  except_session=session_id)
    if decision.reason == "in_conversation":
        return checkins.Decision("skip", "in_conversation")  # it is going on by itself
    return decision


def run(session_id: int, now: datetime) -> dict[str, int]:
    """The worker's handler (kind "reminder")."""
    with session_scope() as db:
        decision = decide(db, session_id, now)
        checkins.postpone(db, KIND, str(session_id), {"session": session_id}, decision)
    if decision.action != "send":
        log.info("reminder.not_now", extra={"session": session_id,
                                            "decision": decision.action,
                                            "reason": decision.reason})
        return {"reminders_postponed" if decision.action == "later" else "reminders_skipped": 1}
    count = checkins.send(decision, now, TRIGGER_INTENT)
    with session_scope() as db:
        session = db.get(Conversation, session_id)
        if session is not None:
            session.reminded_at = now
    log.info("reminder.sent", extra={"session": session_id, "channel": decision.channel,
                                     "messages": count})
    return {"reminders_sent": 1}
