"""The coordinator's figures (counts only, small groups withheld), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.storage import db as dbmod
from bot.storage.figures import MIN_GROUP, figures
from bot.storage.models import (
    ActionPlan,
    Answer,
    AuditLog,
    Conversation,
    Flag,
    NotUnderstood,
    School,
    SchoolClass,
    Student,
)
from bot.storage.types import utcnow
from tests.storage.test_mentor_portal import Seed, login, portal, seed  # noqa: F401

WORDS = "mijn geheime woorden over de bakkerij"


def _school(big: int = 6, small: int = 2) -> int:
    """Class "Groot" with `big` students who each held conversations, class "Klein" with
    `small`; flags and plans on some of them."""
    now = utcnow()
    with dbmod.session_scope() as db:
        school = db.execute(select(School).where(School.name == "Het College")).scalar_one()
        groot = SchoolClass(school_id=school.id, name="Groot")
        klein = SchoolClass(school_id=school.id, name="Klein")
        db.add_all([groot, klein])
        db.flush()
        for i in range(big + small):
            student = Student(school_id=school.id, class_id=(groot if i < big else klein).id,
                              display_name=f"Student {i}")
            db.add(student)
            db.flush()
            status = "completed" if i % 3 else "abandoned"
            session = Conversation(student_id=student.id, channel="rest", status=status,
                              step_reached="reflecteren", started_at=now - timedelta(days=i),
                              updated_at=now - timedelta(days=i))
            db.add(session)
            db.flush()
            db.add(Answer(session_id=session.id, question_key="ervaring", kind="answer",
                          text=WORDS, step="terugkijken"))
            if status == "completed":
                db.add(ActionPlan(student_id=student.id, session_id=session.id, what=WORDS,
                                  followup_status="gelukt" if i % 2 else None))
            if i in (0, 1, 7):  # the coach did not understand a message of these three
                db.add(NotUnderstood(student_id=student.id, created_at=now - timedelta(hours=2)))
            if i < 2:
                created = now - timedelta(hours=30)
                db.add(Flag(student_id=student.id, session_id=session.id, category="financien",
                            severity="attention", evidence=WORDS, status="acknowledged",
                            created_at=created, acknowledged_at=created + timedelta(hours=6)))
        return school.id


def test_figures_count_and_withhold_small_groups(seed: Seed) -> None:  # noqa: F811
    school_id = _school()
    now = utcnow()
    with dbmod.session_scope() as db:
        groups = {g.name: g for g in figures(db, school_id, now - timedelta(weeks=12),
                                             now + timedelta(seconds=1), "School")}
    school, groot, klein = groups["School"], groups["Groot"], groups["Klein"]
    assert school.students == 8 and groot.students == 6
    assert klein.suppressed and klein.students == 2 < MIN_GROUP and not klein.flags
    assert sum(school.started) == 8
    assert sum(school.completed) == 5  # i % 3 != 0 for 8 students: 1,2,4,5,7
    assert school.dropout_step["reflecteren"] == 3
    assert school.dropout_question == {"ervaring": 3}
    assert (school.plans, school.plans_followed_up, school.plans_worked) == (5, 3, 3)
    # The seed also has an open one (no response yet: not in the response time).
    assert school.flags["financien"] == 3 and school.response_hours["financien"] == 6.0
    assert groot.flags["financien"] == 2
    assert groups["Klas-Geheim-4B"].suppressed  # the seed's class: nobody held a conversation
    # NLU fallback rate: 3 of 8 answers + 3 not understood in the school; 2 of 6 + 2 in Groot.
    assert (school.not_understood, school.messages) == (3, 11)
    assert (groot.not_understood, groot.messages) == (2, 8) and groot.fallback_rate == 0.25
    assert klein.not_understood == 0  # withheld with the rest of the small class
    with dbmod.session_scope() as db:
        old = figures(db, school_id, now - timedelta(weeks=12), now - timedelta(hours=3))
    assert old[0].not_understood == 0  # outside the period


async def test_the_figures_page_and_csv_for_coordinators_only(portal: TestClient,  # noqa: F811
                                                              seed: Seed) -> None:  # noqa: F811
    _school()
    await login(portal, "c1@school.test")
    text = await (await portal.get("/beheer/cijfers")).text()
    assert "<h2>Groot</h2>" in text and "Minder dan 5 studenten" in text
    assert text.count("<svg") >= 4 and WORDS not in text and "Student 1" not in text
    r = await portal.get("/beheer/cijfers.csv", params={"weken": "4"})
    assert r.status == 200 and r.headers["Content-Disposition"].endswith('4-weken.csv"')
    rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["groep", "onderdeel", "sleutel", "waarde"]
    assert ["Groot", "signalen", "financien", "2"] in rows
    assert ["Groot", "berichten", "niet_begrepen", "2"] in rows
    assert "niet begrepen door de coach: 2 van 8 berichten (25 %)" in text
    assert ["Klein", "niet getoond", "minder dan 5 studenten", ""] in rows
    assert WORDS not in str(rows)
    for junk in ("-3", "abc", "0", "99999", ""):
        assert (await portal.get("/beheer/cijfers", params={"weken": junk})).status == 200
    # Another school's coordinator sees their own (empty) school, nothing of this one.
    await login(portal, "c2@elders.test")
    other = await (await portal.get("/beheer/cijfers")).text()
    assert "Groot" not in other and "Minder dan 5 studenten" in other
    # Mentors have no figures page.
    await login(portal, "m1@school.test")
    assert (await portal.get("/beheer/cijfers")).status == 404
    assert (await portal.get("/beheer/cijfers.csv")).status == 404
    with dbmod.session_scope() as db:
        views = db.execute(select(AuditLog).where(AuditLog.action == "figures.view")
                           ).scalars().all()
        assert len(views) >= 2 and all(WORDS not in str(v.detail) for v in views)


def test_the_weeks_are_the_schools_local_weeks() -> None:
    """Sunday 23:30 UTC is Monday 00:30 in Amsterdam: a conversation started then belongs to
    the new week, which the figures must list (it fell outside the list before)."""
    from bot.storage.figures import period_weeks

    until = datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)  # a Sunday
    assert period_weeks(until - timedelta(weeks=1), until + timedelta(seconds=1))[-1] == (
        "2026-W50")
    assert period_weeks(datetime(2026, 11, 30, 12, tzinfo=timezone.utc),
                        datetime(2026, 12, 6, 12, tzinfo=timezone.utc)) == ["2026-W49"]
