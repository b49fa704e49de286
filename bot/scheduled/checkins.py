"""The check-in on a plan's day: scheduled when a conversation ends with a plan, run by the
worker (kind "checkin"). The coach writes first through Rasa, so the conversation's state
stays right: Rasa starts a new conversation that opens with the previous plan's question
("Is het gelukt?"); the student's answer is stored with the plan (its follow-up).

Respect first: no check-in when the student already told how it went, switched reminders off,
or is in the middle of a conversation; never in quiet hours; at most one proactive message a
day. Channels that cannot receive a message now (REST) get it before the reply to the
student's next message (PendingMessage)."""

from __future__ import annotations

import functools
import json
import logging
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, tuple_
from sqlalchemy.orm import Session as DbSession

from bot.conversation import followups
from bot.scheduled import jobqueue
from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import (
    ActionPlan,
    ChannelIdentity,
    Conversation,
    PendingMessage,
    School,
    Student,
)

log = logging.getLogger(__name__)
KIND = "checkin"
TRIGGER_INTENT = "start_gesprek"  # arrives as "EXTERNAL: start_gesprek" (bot.scheduled.checkins)
EXTERNAL_PREFIX = "EXTERNAL: "
PUSH_CHANNELS = frozenset({"matrix"})  # channels whose output channel delivers at once
PATH_SAFE = "@:!$&'()*+,;="  # sub-delims and ':' '@': allowed as they are in a URL path


def _school(db: DbSession, student_id: int | None) -> School | None:
    student = db.get(Student, student_id) if student_id is not None else None
    return db.get(School, student.school_id) if student and student.school_id else None


def _day(plan: ActionPlan) -> str:
    return plan.when_date.isoformat() if plan.when_date else "-"


def schedule(db: DbSession, plan: ActionPlan) -> bool:
    """The check-in job for a plan (once per plan and day, also when saved again; a plan
    that gets another day, e.g. `activeren` after a follow-up's small step, gets a new job
    and the old one is skipped)."""
    quiet = followups.quiet_hours_of(_school(db, plan.student_id))
    due = followups.checkin_due(plan.when_date, plan.created_at, quiet)
    return jobqueue.schedule(db, KIND, due, f"{KIND}:{plan.id}:{_day(plan)}",
                             {"plan": plan.id, "day": _day(plan)}, student_id=plan.student_id)


@dataclass(frozen=True)
class Decision:
    action: str  # "skip", "later" or "send"
    reason: str = ""
    until: datetime | None = None
    channel: str | None = None
    sender_id: str | None = None
    student_id: int | None = None


def may_write(db: DbSession, student: Student | None, now: datetime,
              except_session: int | None = None) -> Decision:
    """Whether the coach may write to this student first now, and where (the identity in the
    channel they last used). Shared by check-ins and reminders (bot.scheduled.reminders)."""
    if student is None or student.reminders_off:
        return Decision("skip", "reminders_off")
    quiet = followups.quiet_hours_of(_school(db, student.id))
    busy = db.execute(select(Conversation.id).where(
        Conversation.student_id == student.id, Conversation.status.in_(("active", "paused")),
        *([Conversation.id != except_session] if except_session is not None else []))).first()
    if busy is not None:  # asked in that conversation instead, or tomorrow
        return Decision("later", "in_conversation", followups.tomorrow_morning(now, quiet))
    if followups.is_quiet(now, quiet):
        return Decision("later", "quiet_hours", followups.next_allowed(now, quiet))
    if not followups.may_write_today(student.last_proactive_at, now):
        return Decision("later", "already_today", followups.tomorrow_morning(now, quiet))
    last = db.execute(select(Conversation.channel).where(Conversation.student_id == student.id)
                      .order_by(Conversation.started_at.desc(), Conversation.id.desc())).first()
    channel = last[0] if last else None
    identity = db.execute(select(ChannelIdentity).where(
        ChannelIdentity.student_id == student.id,
        *([ChannelIdentity.channel == channel] if channel else []))
        .order_by(ChannelIdentity.id.desc())).scalars().first()
    if identity is None:
        return Decision("skip", "no_channel")
    return Decision("send", channel=identity.channel, sender_id=identity.sender_id,
                    student_id=student.id)


def decide(db: DbSession, plan_id: int, now: datetime, day: str | None = None) -> Decision:
    plan = db.get(ActionPlan, plan_id)
    if plan is None:
        return Decision("skip", "plan_gone")
    if plan.followup_status is not None:
        return Decision("skip", "already_followed_up")
    if day is not None and day != _day(plan):
        return Decision("skip", "plan_changed")
    student = db.get(Student, plan.student_id)
    newest = repo.latest_plan_needing_followup(db, student) if student else None
    if newest is None or newest.id != plan.id:
        return Decision("skip", "superseded")  # the coach asks about the newer plan
    return may_write(db, student, now)


def trigger(rasa_url: str, token: str, sender_id: str, timeout: float = 30,
            intent: str = TRIGGER_INTENT) -> list[str]:
    """Start the check-in in Rasa; the texts Rasa could not deliver itself (REST)."""
    query = urllib.parse.urlencode({"output_channel": "latest", "token": token})
    # Rasa's router does not decode the path: only what a path cannot hold is encoded, so a
    # Matrix id "@leerling1:school.nl" reaches the student's own conversation.
    url = (f"{rasa_url}/conversations/{urllib.parse.quote(sender_id, safe=PATH_SAFE)}"
           f"/trigger_intent?{query}")
    body = json.dumps({"name": intent, "entities": {}}).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = json.loads(response.read() or b"{}")
    return [m["text"] for m in data.get("messages") or [] if isinstance(m.get("text"), str)]


def postpone(db: DbSession, kind: str, key: str, payload: dict[str, int],
             decision: Decision) -> None:
    """A "later" decision becomes a new job at the moment it names (check-ins, reminders)."""
    if decision.action == "later" and decision.until is not None:
        jobqueue.schedule(db, kind, decision.until, f"{kind}:{key}:{decision.until.isoformat()}",
                          payload)


def run(plan_id: int, now: datetime, day: str | None = None) -> dict[str, int]:
    """The worker's handler: decide, write through Rasa (no transaction open), record."""
    with session_scope() as db:
        decision = decide(db, plan_id, now, day)
        postpone(db, KIND, f"{plan_id}:{day or '-'}", {"plan": plan_id, "day": day}, decision)
    if decision.action != "send":
        log.info("checkin.not_now", extra={"plan": plan_id, "decision": decision.action,
                                           "reason": decision.reason})
        return {"checkins_postponed" if decision.action == "later" else "checkins_skipped": 1}
    count = send(decision, now, TRIGGER_INTENT)
    log.info("checkin.sent", extra={"plan": plan_id, "channel": decision.channel,
                                    "messages": count})
    return {"checkins_sent": 1}


def send(decision: Decision, now: datetime, intent: str) -> int:
    """Write first through Rasa; keep what a channel without push could not deliver, and
    remember the day (one proactive message a day). The number of messages."""
    from bot.config import settings

    assert decision.sender_id is not None and decision.channel is not None
    cfg = settings()
    texts = trigger(cfg.rasa_url, cfg.rasa_api_token, decision.sender_id, intent=intent)
    with session_scope() as db:
        student = db.get(Student, decision.student_id)
        if student is not None:
            student.last_proactive_at = now
        if decision.channel not in PUSH_CHANNELS:
            db.add_all(PendingMessage(channel=decision.channel, sender_id=decision.sender_id,
                                      text=text) for text in texts)
    return len(texts)


def _undelivered(channel: str, sender_id: str) -> Any:
    """The undelivered messages for this identity and for the student's other identities in
    channels without push (a web chat forgets its id; after a koppelcode the student is still
    the same student), in one query: Rasa asks before every message of every student."""
    student = select(ChannelIdentity.student_id).where(
        ChannelIdentity.channel == channel, ChannelIdentity.sender_id == sender_id
    ).scalar_subquery()
    others = select(ChannelIdentity.channel, ChannelIdentity.sender_id).where(
        ChannelIdentity.student_id == student, ChannelIdentity.channel.not_in(PUSH_CHANNELS))
    to = or_(and_(PendingMessage.channel == channel, PendingMessage.sender_id == sender_id),
             tuple_(PendingMessage.channel, PendingMessage.sender_id).in_(others))
    return select(PendingMessage).where(to, PendingMessage.delivered_at.is_(None))


def waiting_for(db: DbSession, channel: str, sender_id: str) -> bool:
    """Whether a message waits for this student (a read, no lock)."""
    return bool(db.execute(_waiting_query(), {"channel": channel, "sender_id": sender_id})
                .scalar())


@functools.cache
def _waiting_query() -> Any:
    # Asked before every message of every student: built once, with the identity as
    # parameters (building it each time was two thirds of the check's cost).
    return select(_undelivered(bindparam("channel"), bindparam("sender_id")).limit(1).exists())


def take_pending(db: DbSession, channel: str, sender_id: str,
                 now: datetime) -> list[str]:
    """The waiting messages for this student (oldest first), marked as delivered: those
    kept for this identity and for the student's other identities in channels without push."""
    rows = db.execute(_undelivered(channel, sender_id).order_by(PendingMessage.id)
                      .with_for_update()).scalars().all()
    for row in rows:
        row.delivered_at = now
    return [row.text for row in rows]


def is_checkin(latest_text: str | None) -> bool:
    """Rasa's turn is the check-in (an intent triggered from outside, not a student)."""
    return bool(latest_text) and str(latest_text).startswith(EXTERNAL_PREFIX)

