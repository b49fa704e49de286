"""A school's settings in the portal (default level, notification address, retention) and
what they do: the level a student starts with, who hears of a flag without a mentor, and the
worker's retention purge. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot import service
from bot.scheduled import notify
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import (
    ActionPlan,
    Answer,
    Conversation,
    Flag,
    Insight,
    School,
    SchoolClass,
    TrackerDeletion,
)
from bot.storage.schools import purge_expired
from bot.storage.types import utcnow
from tests.storage.test_mentor_portal import Seed, _csrf, login, portal, seed  # noqa: F401


async def test_coordinators_change_the_settings_with_checks(portal: TestClient,  # noqa: F811
                                                            seed: Seed) -> None:  # noqa: F811
    await login(portal, "c1@school.test")
    csrf = await _csrf(portal, "/beheer/instellingen")
    bad = {"csrf": csrf, "niveau": "havo", "email": "geen adres", "bewaren": "999"}
    r = await portal.post("/beheer/instellingen", data=bad)
    text = await r.text()
    assert r.status == 400
    for message in ("Kies als niveau", "geen geldig adres", "Bewaartermijn"):
        assert message in text
    assert 'value="geen adres"' in text and 'value="999"' in text  # nothing typed is lost
    good = {"csrf": csrf, "niveau": "vmbo", "email": "Zorg@School.test", "bewaren": "24"}
    r = await portal.post("/beheer/instellingen", data=good, allow_redirects=False)
    assert r.status == 303
    page = await (await portal.get("/beheer/instellingen?opgeslagen=1")).text()
    assert "Opgeslagen." in page and 'value="zorg@school.test"' in page
    with dbmod.session_scope() as db:
        school = db.execute(select(School).where(School.name == "Het College")).scalar_one()
        assert (school.default_level, school.notify_email, school.retention_months) == (
            "vmbo", "zorg@school.test", 24)
    await login(portal, "m1@school.test")
    assert (await portal.get("/beheer/instellingen")).status == 404


async def test_quiet_hours_and_reminders_are_a_schools_setting(portal: TestClient,  # noqa: F811
                                                               seed: Seed) -> None:  # noqa: F811
    from datetime import datetime

    from bot.conversation.followups import LOCAL, quiet_hours_of, reminder_days_of
    from bot.scheduled import checkins

    await login(portal, "c1@school.test")
    csrf = await _csrf(portal, "/beheer/instellingen")
    bad = {"csrf": csrf, "stil_van": "half tien", "stil_tot": "25:00", "herinnering": "-1",
           "zondag": "stil"}
    r = await portal.post("/beheer/instellingen", data=bad)
    text = await r.text()
    assert r.status == 400
    for message in ("Stille uren vanaf", "Stille uren tot", "Herinnering: een aantal dagen"):
        assert message in text
    assert 'value="half tien"' in text and 'value="25:00"' in text
    good = {"csrf": csrf, "stil_van": "22.30", "stil_tot": "7:00", "herinnering": "5"}
    r = await portal.post("/beheer/instellingen", data=good, allow_redirects=False)
    assert r.status == 303
    page = await (await portal.get("/beheer/instellingen")).text()
    assert 'value="22:30"' in page and 'value="07:00"' in page and 'value="5"' in page
    with dbmod.session_scope() as db:
        school = db.execute(select(School).where(School.name == "Het College")).scalar_one()
        assert (school.quiet_from, school.quiet_until, school.quiet_sunday,
                school.reminder_days) == ("22:30", "07:00", False, 5)
        quiet = quiet_hours_of(school)
        assert reminder_days_of(school) == 5
        sunday_noon = datetime(2026, 12, 6, 12, 0, tzinfo=LOCAL)
        assert not quiet.covers(sunday_noon)
        # A check-in of this school's student follows the school's hours.
        student = repo.get_or_create_student(db, "rest", "stille-uren")
        student.school_id = school.id
        db.flush()
        late = datetime(2026, 12, 2, 22, 0, tzinfo=LOCAL)
        assert checkins.may_write(db, student, late).action == "send"  # quiet by default
        assert checkins.may_write(db, student, late.replace(hour=23)).reason == "quiet_hours"


def test_default_level_and_the_schools_own_address_are_used(storage: str) -> None:
    with dbmod.session_scope() as db:
        school = School(name="Instelschool", default_level="vmbo", notify_email="zorg@i.test")
        db.add(school)
        student = repo.get_or_create_student(db, "rest", "s-inst")
        student.school = school
        session = repo.start_session(db, student, "rest", None)
        flag = repo.save_flag(db, student, session, "financien", "x", "x", "m-inst")
        rows = notify.enqueue(db, flag, notify.NotifyConfig.from_env())
        assert rows[0].recipient == "zorg@i.test"
    assert service.student_view("rest", "s-inst").level == "vmbo"


def test_the_level_comes_from_the_student_then_the_class_then_the_school(storage: str) -> None:
    """Only when none of the three has one is the student asked
    (bot.conversation.coaching.LEVEL_QUESTION)."""
    with dbmod.session_scope() as db:
        school = School(name="Niveauschool", default_level="mbo-bol")
        klas = SchoolClass(school=school, name="3K", level="vmbo")
        db.add_all([school, klas])
        for sender, level, klass in (("s-eigen", "mbo-bbl", klas), ("s-klas", None, klas),
                                     ("s-school", None, None)):
            student = repo.get_or_create_student(db, "rest", sender)
            student.school, student.school_class, student.level = school, klass, level
        repo.get_or_create_student(db, "rest", "s-niemand")
    assert [service.student_view("rest", s).level
            for s in ("s-eigen", "s-klas", "s-school", "s-niemand")] == [
        "mbo-bbl", "vmbo", "mbo-bol", None]


def test_retention_removes_old_conversations_and_their_tracker(storage: str) -> None:
    now = utcnow()
    with dbmod.session_scope() as db:
        keep = School(name="Bewaart alles")
        short = School(name="Kort", retention_months=6)
        db.add_all([keep, short])
        made = {}
        for name, school, age in (("oud", short, 400), ("nieuw", short, 10),
                                  ("ander", keep, 400)):
            student = repo.get_or_create_student(db, "rest", f"s-{name}")
            student.school = school
            session = repo.start_session(db, student, "rest", None)
            session.status, session.ended_at = "completed", now - timedelta(days=age)
            db.add(Answer(session_id=session.id, question_key="ervaring", kind="answer",
                          text="woorden"))
            db.add(Insight(student_id=student.id, session_id=session.id,
                           competency="kwaliteiten", method="t", text="woorden"))
            db.add(ActionPlan(student_id=student.id, session_id=session.id, what="woorden"))
            repo.save_flag(db, student, session, "financien", "x", "x", f"m-{name}")
            made[name] = session.id
    with dbmod.session_scope() as db:
        assert purge_expired(db, now) == {"sessions": 1, "trackers": 1}
    with dbmod.session_scope() as db:
        left = set(db.execute(select(Conversation.id)).scalars())
        assert left == {made["nieuw"], made["ander"]}
        for model in (Answer, Insight, ActionPlan):
            assert db.execute(select(func.count()).select_from(model)).scalar_one() == 2
        assert db.execute(select(func.count(Flag.id))).scalar_one() == 3  # flags stay
        assert [d.sender_id for d in db.execute(select(TrackerDeletion)).scalars()] == ["s-oud"]
        assert purge_expired(db, now) == {"sessions": 0, "trackers": 0}
