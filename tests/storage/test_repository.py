"""Repository behaviour (bot.storage.repository), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.scheduled import notify
from bot.storage import repository as repo
from bot.storage.models import (
    ActionPlan,
    Answer,
    AuditLog,
    ChannelIdentity,
    Conversation,
    Flag,
    Insight,
    Notification,
    NotUnderstood,
    Student,
)
from bot.taxonomy import FLAG_BY_KEY, STEPS


def count(db, model) -> int:
    return db.execute(select(func.count()).select_from(model)).scalar_one()


def student_and_session(db, sender: str = "s1", level: str | None = "vmbo"):
    student = repo.get_or_create_student(db, "rest", sender)
    return student, repo.start_session(db, student, "rest", level)


def age(session: Conversation, delta: timedelta) -> None:
    session.updated_at = datetime.now(timezone.utc) - delta


# --- students and sessions -------------------------------------------------------------------


def test_a_level_the_student_told_is_kept_but_never_overrides_the_school(db) -> None:
    student, session = student_and_session(db, level=None)
    assert student.level is None and session.level is None
    repo.set_student_level(db, student, session.id, "mbo-bbl")
    assert (student.level, session.level) == ("mbo-bbl", "mbo-bbl")
    repo.set_student_level(db, student, None, "vmbo")  # the school's (or first) level stays
    assert student.level == "mbo-bbl"
    with pytest.raises(ValueError):
        repo.set_student_level(db, student, session.id, "havo")
    other, _ = student_and_session(db, "s2", level=None)
    with pytest.raises(repo.ForeignSession):  # never into another student's conversation
        repo.set_student_level(db, other, session.id, "vmbo")
    assert other.level is None and session.level == "mbo-bbl"


def test_get_or_create_student_is_stable_per_identity(db) -> None:
    a = repo.get_or_create_student(db, "rest", "abc")
    assert repo.get_or_create_student(db, "rest", "abc").id == a.id
    assert repo.get_or_create_student(db, "whatsapp", "abc").id != a.id
    assert count(db, Student) == 2 and count(db, ChannelIdentity) == 2
    assert a.created_at.tzinfo is not None


def test_start_and_open_session(db) -> None:
    student = repo.get_or_create_student(db, "rest", "s")
    assert repo.open_session(db, student) is None
    first = repo.start_session(db, student, "rest", "mbo-bol")
    assert first.status == "active" and first.level == "mbo-bol" and first.ended_at is None
    assert student.level == "mbo-bol"
    assert repo.open_session(db, student).id == first.id
    repo.set_session_status(db, first, "paused")
    assert repo.open_session(db, student).id == first.id
    second = repo.start_session(db, student, "rest", None)
    assert second.level == "mbo-bol"  # the student's known level
    assert repo.open_session(db, student).id == second.id
    with pytest.raises(ValueError):
        repo.start_session(db, student, "rest", "havo")


def test_previous_sessions_closed_newest_first(db) -> None:
    student, s1 = student_and_session(db)
    s1.experience = "stage bij de kapper"
    repo.set_session_status(db, s1, "completed")
    s2 = repo.start_session(db, student, "rest", None)
    repo.set_session_status(db, s2, "abandoned")
    s3 = repo.start_session(db, student, "rest", None)  # open: not previous
    previous = repo.previous_sessions(db, student, limit=5)
    assert [s.id for s in previous] == [s2.id, s1.id]
    assert s3.id not in [s.id for s in previous]
    assert repo.previous_sessions(db, student, limit=1) == [s2]
    assert next(s.experience for s in previous if s.experience) == "stage bij de kapper"


def test_get_session(db) -> None:
    _, session = student_and_session(db)
    assert repo.get_session(db, session.id) is session
    with pytest.raises(repo.NotFound, match="999999"):
        repo.get_session(db, 999999)
    assert issubclass(repo.NotFound, LookupError)


def test_step_reached_only_moves_forward(db) -> None:
    _, session = student_and_session(db)
    before = session.updated_at
    repo.set_session_status(db, session, "active", step="reflecteren")
    assert session.step_reached == "reflecteren" and session.updated_at >= before
    repo.set_session_status(db, session, "active", step="terugkijken")
    assert session.step_reached == "reflecteren"
    repo.set_session_status(db, session, "paused")
    assert session.step_reached == "reflecteren" and session.status == "paused"
    repo.set_session_status(db, session, "active", step="activeren")
    assert session.step_reached == "activeren"
    with pytest.raises(ValueError):
        repo.set_session_status(db, session, "active", step="bestaat_niet")
    with pytest.raises(ValueError):
        repo.set_session_status(db, session, "klaar")


def test_ended_at_and_completed_is_final(db) -> None:
    _, session = student_and_session(db)
    repo.set_session_status(db, session, "abandoned")
    assert session.ended_at is not None
    repo.set_session_status(db, session, "active", step="terugkijken")  # the student came back
    assert session.status == "active" and session.ended_at is None
    repo.set_session_status(db, session, "completed", step="activeren")
    ended = session.ended_at
    assert session.status == "completed" and ended is not None
    repo.set_session_status(db, session, "active", step="activeren")  # a late write
    assert session.status == "completed" and session.ended_at == ended
    db.commit()
    db.expire_all()
    assert repo.get_session(db, session.id).ended_at.tzinfo is not None


def test_mark_abandoned(db) -> None:
    student, idle = student_and_session(db, "a")
    _, fresh = student_and_session(db, "b")
    _, paused = student_and_session(db, "c")
    _, done = student_and_session(db, "d")
    repo.set_session_status(db, paused, "paused")
    repo.set_session_status(db, done, "completed")
    for session in (idle, paused, done):
        age(session, timedelta(hours=3))
    db.commit()

    stale = repo.mark_abandoned(db, timedelta(hours=1))
    assert [s.id for s in stale] == [idle.id]
    assert stale[0].student.id == student.id
    assert idle.status == "abandoned" and idle.ended_at is not None
    assert fresh.status == "active" and paused.status == "paused" and done.status == "completed"

    assert repo.mark_abandoned(db, timedelta(hours=1), paused_older_than=timedelta(hours=5)) == []
    stale = repo.mark_abandoned(db, timedelta(hours=1), paused_older_than=timedelta(hours=2))
    assert [s.id for s in stale] == [paused.id] and paused.status == "abandoned"


# --- answers, insights, plans ----------------------------------------------------------------


def test_save_answer_is_idempotent(db) -> None:
    _, session = student_and_session(db)
    a = repo.save_answer(db, session, "terugkijken", "ervaring", "stage bij kapper", "answer", "m1")
    b = repo.save_answer(db, session, "terugkijken", "ervaring", "stage bij kapper", "answer", "m1")
    assert a.id == b.id and count(db, Answer) == 1
    # the same message as another kind or for another question is a different row
    repo.save_answer(db, session, "terugkijken", "ervaring", "stage bij kapper", "probe", "m1")
    repo.save_answer(db, session, "terugkijken", "taak", "stage bij kapper", "answer", "m1")
    # without a message id nothing can be recognised: every call stores
    repo.save_answer(db, session, "terugkijken", "ervaring", "x", "answer", None)
    repo.save_answer(db, session, "terugkijken", "ervaring", "x", "answer", None)
    assert count(db, Answer) == 5
    with pytest.raises(ValueError):
        repo.save_answer(db, session, "terugkijken", "ervaring", "x", "praatje", "m2")


def test_save_answer_survives_a_replay_in_a_new_transaction(db, storage) -> None:
    from bot.storage.db import session_scope

    _, session = student_and_session(db)
    repo.save_answer(db, session, "reflecteren", "gevoel", "trots", "answer", "m9")
    db.commit()
    with session_scope() as other:
        again = repo.save_answer(other, repo.get_session(other, session.id), "reflecteren",
                                 "gevoel", "trots", "answer", "m9")
        assert again.text == "trots"
    assert count(db, Answer) == 1


def test_save_insight_one_row_per_competency(db) -> None:
    student, session = student_and_session(db)
    answer = repo.save_answer(db, session, "reflecteren", "kwaliteit", "ik kan goed luisteren",
                              "answer", "m1")
    rows = repo.save_insight(db, student, session, "reflecteren", "kwaliteit",
                             "ik kan goed luisteren", ["kwaliteiten", "netwerken", "kwaliteiten"],
                             "classifier", answer=answer)
    assert [(r.competency, r.rank) for r in rows] == [("kwaliteiten", 0), ("netwerken", 1)]
    assert all(r.answer_id == answer.id and r.method == "classifier" for r in rows)
    again = repo.save_insight(db, student, session, "reflecteren", "kwaliteit",
                              "ik kan goed luisteren", ["kwaliteiten", "netwerken"],
                              "classifier", answer=answer)
    assert [r.id for r in again] == [r.id for r in rows] and count(db, Insight) == 2
    with pytest.raises(ValueError):
        repo.save_insight(db, student, session, "reflecteren", "k", "t", ["hobby"], "rule")


def test_insight_overview_newest_first_headline_preferred(db) -> None:
    student, session = student_and_session(db)
    assert repo.insight_overview(db, student) == []
    first = repo.save_insight(db, student, session, "terugkijken", "ervaring",
                              "ik hielp klanten bij de kassa", ["werkexploratie"], "rule")
    second = repo.save_insight(db, student, session, "reflecteren", "kwaliteit",
                               "ik bleef rustig toen het druk was", ["kwaliteiten", "motieven"],
                               "classifier", headline="Rust in de storm")
    first[0].created_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert second[0].headline == "Rust in de storm"
    assert repo.insight_overview(db, student) == [
        ("kwaliteiten", "Rust in de storm"),
        ("werkexploratie", "ik hielp klanten bij de kassa"),
    ]
    other, _ = student_and_session(db, "other")
    assert repo.insight_overview(db, other) == []


def _completed_with_plan(db, student, what: str) -> ActionPlan:
    session = repo.start_session(db, student, "rest", None)
    plan = repo.save_action_plan(db, student, session, what=what, who="mentor", how="mailen",
                                 when_text="volgende week", when_date=date(2026, 1, 15),
                                 obstacle="vergeten", solution="wekker")
    repo.set_session_status(db, session, "completed", step="activeren")
    return plan


def test_save_action_plan_and_replay(db) -> None:
    student, session = student_and_session(db)
    plan = repo.save_action_plan(db, student, session, what="cv maken", who=None, how=None,
                                 when_text="morgen", when_date="2026-02-01", obstacle=None,
                                 solution=None)
    assert plan.when_date == date(2026, 2, 1)
    again = repo.save_action_plan(db, student, session, what="cv maken", who="decaan",
                                  how=None, when_text="morgen", when_date=date(2026, 2, 1),
                                  obstacle=None, solution=None)
    assert again.id == plan.id and again.who == "decaan" and count(db, ActionPlan) == 1


def test_latest_plan_needing_followup(db) -> None:
    student, current = student_and_session(db)
    assert repo.latest_plan_needing_followup(db, student) is None
    # a plan in a session that is not completed does not count
    repo.save_action_plan(db, student, current, what="nog bezig")
    assert repo.latest_plan_needing_followup(db, student) is None
    repo.set_session_status(db, current, "abandoned")
    old = _completed_with_plan(db, student, "stage zoeken")
    old.created_at = datetime.now(timezone.utc) - timedelta(days=7)
    new = _completed_with_plan(db, student, "cv maken")
    found = repo.latest_plan_needing_followup(db, student)
    assert found.id == new.id and found.what == "cv maken"
    repo.record_followup(db, new, "ja gelukt", "gelukt")
    assert new.followup_status == "gelukt" and new.followup_at is not None
    # the newest plan has its follow-up: older ones are superseded, also for replays
    assert repo.latest_plan_needing_followup(db, student) is None
    with pytest.raises(ValueError):
        repo.record_followup(db, old, "x", "super")


# --- flags -----------------------------------------------------------------------------------


def test_save_flag_severity_and_duplicates(db) -> None:
    student, session = student_and_session(db)
    flag = repo.save_flag(db, student, session, "crisis", "wil dood", "ik wil dood", "m1")
    assert flag is not None and flag.severity == FLAG_BY_KEY["crisis"].severity == "urgent"
    assert flag.status == "open" and flag.student_declined is False
    assert flag.excerpt == "ik wil dood" and flag.session_id == session.id
    assert repo.save_flag(db, student, session, "crisis", "wil dood", "ik wil dood", "m1") is None
    assert repo.save_flag(db, student, session, "zelfvertrouwen", "kan niks", "x", "m1")
    assert count(db, Flag) == 2
    with pytest.raises(ValueError):
        repo.save_flag(db, student, session, "verveling", "", "x", "m2")
    # without message or session (the abandoned-session job)
    assert repo.save_flag(db, student, None, "afgehaakt", "gestopt", None, None).severity == "info"
    assert repo.save_flag(db, student, None, "afgehaakt", "gestopt", None, None) is not None
    long = repo.save_flag(db, student, session, "financien", "geld", "a" * 5000, "m3")
    assert len(long.excerpt) == repo.EXCERPT_CHARS


def test_duplicate_flag_in_a_new_transaction(db, storage) -> None:
    from bot.storage.db import session_scope

    student, session = student_and_session(db)
    repo.save_flag(db, student, session, "uitval", "stoppen", "ik wil stoppen", "m7")
    db.commit()
    with session_scope() as other:
        s = repo.get_or_create_student(other, "rest", "s1")
        assert repo.save_flag(other, s, None, "uitval", "stoppen", "ik wil stoppen", "m7") is None


def _at(flag: Flag, minutes_ago: int) -> None:
    flag.created_at = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)


def test_mark_declined_contact_marks_latest_batch_only(db) -> None:
    student, session = student_and_session(db)
    old = repo.save_flag(db, student, session, "financien", "geld", "geen geld", "m1")
    _at(old, 10)
    fin = repo.save_flag(db, student, session, "druk_omgeving", "ouders", "mijn ouders", "m2")
    disc = repo.save_flag(db, student, session, "discriminatie", "kleur", "om mijn kleur", "m2")
    info = repo.save_flag(db, student, session, "afgehaakt", "gestopt", None, None)
    _at(fin, 2), _at(disc, 2), _at(info, 1)
    other, _ = student_and_session(db, "other")
    foreign = repo.save_flag(db, other, None, "financien", "geld", "geld", "x1")

    marked = repo.mark_declined_contact(db, student, "m3")
    assert {f.id for f in marked} == {fin.id, disc.id}
    assert fin.student_declined and disc.student_declined
    assert fin.status == "open"  # the flag stays for the mentor
    assert not old.student_declined and not foreign.student_declined
    assert repo.mark_declined_contact(db, student, "m3") == []  # a replay changes nothing
    audits = db.execute(select(AuditLog).where(AuditLog.action == "flag.contact_declined")
                        ).scalars().all()
    assert len(audits) == 1 and audits[0].object_id == str(student.id)
    assert "mijn ouders" not in str(audits[0].detail)


def test_mark_declined_contact_ignores_urgent_and_empty(db) -> None:
    student, session = student_and_session(db)
    assert repo.mark_declined_contact(db, student, "m1") == []
    crisis = repo.save_flag(db, student, session, "crisis", "dood", "ik wil dood", "m1")
    assert repo.mark_declined_contact(db, student, "m2") == []
    assert crisis.student_declined is False


# --- deletion --------------------------------------------------------------------------------


def test_delete_student_data(db) -> None:
    student, session = student_and_session(db)
    answer = repo.save_answer(db, session, "terugkijken", "ervaring", "geheim", "answer", "m1")
    repo.save_insight(db, student, session, "terugkijken", "ervaring", "geheim",
                      ["werkexploratie"], "rule", answer=answer)
    repo.save_action_plan(db, student, session, what="geheim plan")
    urgent = repo.save_flag(db, student, session, "crisis", "dood", "geheim", "m2")
    attention = repo.save_flag(db, student, session, "financien", "geld", "geheim", "m3")
    resolved = repo.save_flag(db, student, session, "uitval", "stop", "geheim", "m4")
    repo.set_flag_status(db, resolved, "resolved", "mentor@school.nl")
    repo.save_flag(db, student, session, "afgehaakt", "gestopt", None, None)
    notify.enqueue(db, urgent)
    notify.enqueue(db, resolved)
    db.add(NotUnderstood(student_id=student.id))
    bystander, other_session = student_and_session(db, "bystander")
    repo.save_answer(db, other_session, "terugkijken", "ervaring", "blijft", "answer", "b1")
    db.commit()
    urgent_id, attention_id, student_id = urgent.id, attention.id, student.id

    counts = repo.delete_student_data(db, student, actor="student")
    db.commit()
    assert counts == {"insights": 1, "action_plans": 1, "answers": 1, "notifications": 1,
                      "not_understood": 1, "flags": 2, "flags_redacted": 2, "sessions": 1}
    kept = db.execute(select(Flag).where(Flag.student_id == student_id).order_by(Flag.id)
                      ).scalars().all()
    assert [f.id for f in kept] == [urgent_id, attention_id]
    assert all(f.excerpt == f.evidence == repo.REDACTED and f.session_id is None for f in kept)
    assert all(f.status == "open" for f in kept)
    assert count(db, Notification) == 1  # the urgent flag's notification is still sent
    assert count(db, Answer) == 1 and count(db, Conversation) == 1  # the bystander's
    # the student is recognised again and starts as new
    again = repo.get_or_create_student(db, "rest", "s1")
    assert again.id == student_id
    assert repo.previous_sessions(db, again, 5) == [] and repo.open_session(db, again) is None
    assert repo.insight_overview(db, again) == []
    audit = db.execute(select(AuditLog).where(AuditLog.action == "student.data_deleted")
                       ).scalar_one()
    assert audit.actor == "student" and audit.detail["answers"] == 1
    assert "geheim" not in str(audit.detail)
    assert repo.previous_sessions(db, bystander, 5) == []  # untouched, still open
    assert repo.open_session(db, bystander).id == other_session.id


# --- portal ----------------------------------------------------------------------------------


def test_list_and_set_flag_status(db) -> None:
    from bot.storage.models import Mentor

    mentor = Mentor(name="Mevr. De Vries", email="devries@school.nl", password_hash="x")
    db.add(mentor)
    db.flush()
    mine, session = student_and_session(db, "mine")
    mine.mentor_id = mentor.id
    other, _ = student_and_session(db, "other")
    att = repo.save_flag(db, mine, session, "financien", "geld", "geen geld", "m1")
    urgent = repo.save_flag(db, mine, session, "crisis", "dood", "dood", "m2")
    _at(urgent, 60)
    foreign = repo.save_flag(db, other, None, "uitval", "stop", "stop", "m3")

    assert [f.id for f in repo.list_flags(db)][0] == urgent.id  # most severe first
    assert {f.id for f in repo.list_flags(db, mentor=mentor)} == {att.id, urgent.id}
    assert {f.id for f in repo.list_flags(db, mentor=mentor.id)} == {att.id, urgent.id}

    repo.set_flag_status(db, att, "acknowledged", "devries@school.nl", note="gebeld")
    assert att.acknowledged_by == "devries@school.nl" and att.acknowledged_at is not None
    repo.set_flag_status(db, att, "resolved", "devries@school.nl")
    assert att.resolved_at is not None and att.note == "gebeld"
    assert {f.id for f in repo.list_flags(db, status="open")} == {urgent.id, foreign.id}
    assert [f.id for f in repo.list_flags(db, status="resolved")] == [att.id]
    repo.set_flag_status(db, att, "open", "devries@school.nl")
    assert att.resolved_at is None and att.acknowledged_at is None
    with pytest.raises(ValueError):
        repo.set_flag_status(db, att, "weg", "x")
    with pytest.raises(ValueError):
        repo.list_flags(db, status="weg")
    actions = db.execute(select(AuditLog.action).where(AuditLog.object_type == "flag")
                         ).scalars().all()
    assert actions == ["flag.status"] * 3


def test_sessions_for_student(db) -> None:
    student, first = student_and_session(db)
    repo.set_session_status(db, first, "completed")
    second = repo.start_session(db, student, "rest", None)
    assert [s.id for s in repo.sessions_for_student(db, student)] == [second.id, first.id]
    assert [s.id for s in repo.sessions_for_student(db, student.id)] == [second.id, first.id]


def test_aggregates(db) -> None:
    from bot.storage.models import School, SchoolClass

    school = School(name="Vakcollege")
    klas = SchoolClass(school=school, name="3B", level="vmbo")
    db.add_all([school, klas])
    db.flush()
    a, sa = student_and_session(db, "a")
    b, sb = student_and_session(db, "b")
    c, _ = student_and_session(db, "c")  # no class
    for s in (a, b):
        s.class_id, s.school_id = klas.id, school.id
    repo.set_session_status(db, sa, "completed", step="activeren")
    repo.set_session_status(db, sb, "abandoned", step="reflecteren")
    repo.save_insight(db, a, sa, "reflecteren", "k", "luisteren", ["kwaliteiten", "netwerken"],
                      "rule")
    repo.save_insight(db, b, sb, "reflecteren", "k", "koken", ["kwaliteiten"], "rule")
    repo.save_flag(db, a, sa, "financien", "geld", "geld", "m1")
    repo.save_flag(db, c, None, "financien", "geld", "geld", "m2")
    repo.save_flag(db, c, None, "crisis", "dood", "dood", "m3")

    comp = repo.competency_counts(db)
    assert comp["kwaliteiten"] == 2 and comp["netwerken"] == 1 and comp["motieven"] == 0
    assert repo.competency_counts(db, school_id=school.id)["kwaliteiten"] == 2
    flags = repo.flag_counts(db)
    assert flags["financien"] == 2 and flags["crisis"] == 1 and flags["uitval"] == 0
    assert set(flags) == set(FLAG_BY_KEY)
    assert repo.flag_counts(db, school_id=school.id)["financien"] == 1
    assert repo.flag_counts(db, status="resolved")["financien"] == 0
    drop = repo.dropout_per_step(db)
    assert drop["reflecteren"] == 1 and drop[None] == 0 and set(STEPS) <= set(drop)
    rows = {r.class_name: r for r in repo.class_counts(db)}
    assert rows["3B"] == repo.ClassCounts(klas.id, "3B", 2, 2, 1, 1, 1)
    assert rows[None].students == 1 and rows[None].open_flags == 2 and rows[None].sessions == 1
    assert [r.class_name for r in repo.class_counts(db, school_id=school.id)] == ["3B"]
