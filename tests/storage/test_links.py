"""Linking a chat identity to the school's student with a koppelcode (bot.storage.links), on
SQLite and PostgreSQL: everything said before moves along; wrong, used, expired and guessed
codes are refused."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.storage import links
from bot.storage import repository as repo
from bot.storage.links import Outcome
from bot.storage.models import AuditLog, ChannelIdentity, Flag, LinkFailure, School, Student
from bot.storage.types import utcnow


def _school_student(db, name: str = "Vos") -> Student:
    school = School(name=f"School {name}")
    student = Student(school=school, display_name=name, level="vmbo")
    db.add_all([school, student])
    db.flush()
    return student


def test_linking_moves_what_the_student_said_before(db) -> None:
    target = _school_student(db)
    code, expires = links.make_code(db, target, "mentor:1")
    assert expires - utcnow() > timedelta(days=29)
    before = repo.get_or_create_student(db, "rest", "s-1")
    session = repo.start_session(db, before, "rest", None)
    repo.save_flag(db, before, session, "financien", "geen geld", "geen geld", "m-1")
    db.flush()
    old_id = before.id

    assert links.redeem(db, "rest", "s-1", code.lower()) is Outcome.LINKED
    db.expire_all()
    assert db.get(Student, old_id) is None
    assert repo.get_or_create_student(db, "rest", "s-1").id == target.id
    flag = db.execute(select(Flag)).scalar_one()
    assert flag.student_id == target.id and flag.session.student_id == target.id
    assert links.redeem(db, "rest", "s-1", code) is Outcome.ALREADY
    # A second channel of the same student, with a new code.
    code2, _ = links.make_code(db, target, "mentor:1")
    assert links.redeem(db, "matrix", "@vos:school.nl", code2) is Outcome.LINKED
    identities = db.execute(select(ChannelIdentity).where(
        ChannelIdentity.student_id == target.id)).scalars().all()
    assert {(i.channel, i.sender_id) for i in identities} == {("rest", "s-1"),
                                                             ("matrix", "@vos:school.nl")}
    audits = db.execute(select(AuditLog).where(AuditLog.action == "student.linked")).scalars()
    assert all("s-1" not in str(a.detail) and "@vos" not in a.actor for a in audits)


def test_used_expired_replaced_and_unknown_codes_are_refused(db) -> None:
    target = _school_student(db)
    old, _ = links.make_code(db, target, "mentor:1")
    new, _ = links.make_code(db, target, "mentor:1")  # the old one stops working
    assert links.redeem(db, "rest", "a", old) is Outcome.UNKNOWN
    assert links.redeem(db, "rest", "a", "ZZZ-999") is Outcome.UNKNOWN
    assert links.redeem(db, "rest", "a", new, now=utcnow() + timedelta(days=31)) is Outcome.UNKNOWN
    assert links.redeem(db, "rest", "a", new) is Outcome.LINKED
    assert links.redeem(db, "rest", "b", new) is Outcome.UNKNOWN  # used
    assert db.execute(select(LinkFailure)).scalars().all()  # wrong tries are counted


def test_a_school_student_is_never_merged_into_another(db) -> None:
    first, second = _school_student(db, "Vos"), _school_student(db, "Das")
    code1, _ = links.make_code(db, first, "mentor:1")
    code2, _ = links.make_code(db, second, "mentor:2")
    assert links.redeem(db, "rest", "s-vos", code1) is Outcome.LINKED
    assert links.redeem(db, "rest", "s-vos", code2) is Outcome.OTHER_STUDENT
    assert db.get(Student, first.id) is not None


def test_guessing_is_rate_limited(db) -> None:
    target = _school_student(db)
    code, _ = links.make_code(db, target, "mentor:1")
    for guess in ("AAA-222", "BBB-333", "CCC-444", "DDD-555", "EEE-666"):
        assert links.redeem(db, "rest", "gok", guess) is Outcome.UNKNOWN
    assert links.redeem(db, "rest", "gok", code) is Outcome.LIMITED
    assert links.redeem(db, "rest", "gok", code, now=utcnow() + timedelta(hours=2)) is (
        Outcome.LINKED)
    assert links.redeem(db, "rest", "ander", "FFF-777") is Outcome.UNKNOWN  # per identity
