"""Linking chat identities to students with a koppelcode (bot.channels.linking): making codes, and
redeeming one, which attaches the identity and everything said through it to the school's
student (one student across channels). Rate-limited against guessing."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session as DbSession

from bot.channels.linking import code_hash, new_code
from bot.storage.audit import audit
from bot.storage.models import Base, ChannelIdentity, LinkCode, LinkFailure, Student
from bot.storage.types import utcnow

VALID_FOR = timedelta(days=30)
MAX_WRONG = 5  # wrong codes per chat identity ...
WRONG_WINDOW = timedelta(hours=1)  # ... within this window


class Outcome(enum.Enum):
    LINKED = "gekoppeld"
    ALREADY = "al_gekoppeld"
    UNKNOWN = "onbekend"  # wrong, expired or used
    OTHER_STUDENT = "ander"  # this identity already belongs to another school's student
    LIMITED = "te_vaak"


def make_code(db: DbSession, student: Student, actor: str,
              now: datetime | None = None) -> tuple[str, datetime]:
    """A new code for `student` (earlier unused codes stop working); returns it once."""
    now = now or utcnow()
    db.execute(delete(LinkCode).where(LinkCode.student_id == student.id,
                                      LinkCode.used_at.is_(None)))
    while True:
        code = new_code()
        if db.execute(select(LinkCode.id).where(LinkCode.code_hash == code_hash(code))
                      ).first() is None:
            break
    expires = now + VALID_FOR
    db.add(LinkCode(student_id=student.id, code_hash=code_hash(code), created_by=actor,
                    expires_at=expires))
    audit(db, actor, "student.link_code", "student", student.id)
    db.flush()
    return code, expires


def _limited(db: DbSession, channel: str, sender_id: str, now: datetime) -> bool:
    return db.execute(select(func.count(LinkFailure.id)).where(
        LinkFailure.channel == channel, LinkFailure.sender_id == sender_id,
        LinkFailure.at > now - WRONG_WINDOW)).scalar_one() >= MAX_WRONG


def _move_everything(db: DbSession, source: Student, target: Student) -> None:
    """Every row of `source` (sessions, answers via sessions, insights, plans, flags, jobs,
    identities, ...) now belongs to `target`; then `source` goes."""
    for table in Base.metadata.sorted_tables:
        if "student_id" in table.c and table.name != "students":
            db.execute(update(table).where(table.c.student_id == source.id)
                       .values(student_id=target.id))
    target.level = target.level or source.level
    db.flush()
    # The rows moved behind the ORM's back: forget what it loaded, or deleting `source`
    # would cascade to identities it still believes are source's.
    source_id = source.id
    db.expire_all()
    db.delete(db.get(Student, source_id))


def redeem(db: DbSession, channel: str, sender_id: str, code: str,
           now: datetime | None = None) -> Outcome:
    """Attach the identity (channel, sender_id) to the code's student. What was said before
    through this identity moves along. Audited with ids only."""
    now = now or utcnow()
    if _limited(db, channel, sender_id, now):
        return Outcome.LIMITED
    row = db.execute(select(LinkCode).where(LinkCode.code_hash == code_hash(code))
                     .with_for_update()).scalar_one_or_none()
    identity = db.execute(select(ChannelIdentity).where(
        ChannelIdentity.channel == channel, ChannelIdentity.sender_id == sender_id)
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= now:
        if identity is not None and row is not None and row.student_id == identity.student_id:
            return Outcome.ALREADY
        db.add(LinkFailure(channel=channel[:50], sender_id=sender_id[:255], at=now))
        db.flush()
        return Outcome.UNKNOWN
    target = db.get(Student, row.student_id)
    if identity is None:
        db.add(ChannelIdentity(channel=channel, sender_id=sender_id, student=target))
    elif identity.student_id != target.id:
        current = identity.student
        if current.school_id is not None:  # made by a school: never merged by a code
            return Outcome.OTHER_STUDENT
        _move_everything(db, current, target)
    row.used_at = now
    audit(db, f"{channel}:student", "student.linked", "student", target.id)
    db.flush()
    return Outcome.LINKED
