"""Check-ins on the plan's day (bot.scheduled.checkins) on SQLite and PostgreSQL: scheduled once per
plan when a conversation ends, and not sent when the student already told how it went,
switched reminders off, is in a conversation, in quiet hours or was written to today."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot import service
from bot.conversation.followups import LOCAL
from bot.scheduled import checkins
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import ActionPlan, ChannelIdentity, Job, PendingMessage


def _plan(sender: str, day: date | None) -> int:
    session_id = service.start_session("rest", sender, "vmbo")
    service.complete_session(channel="rest", sender_id=sender, session_id=session_id,
                             plan={"what": "mijn tante appen", "when_text": "vrijdag",
                                   "when_date": day.isoformat() if day else None})
    with dbmod.session_scope() as db:
        return db.execute(select(ActionPlan.id).join(ActionPlan.session)
                          .where(ActionPlan.session_id == session_id)).scalar_one()


def test_a_plan_schedules_one_checkin_on_its_day(storage: str) -> None:
    day = date.today() + timedelta(days=3)
    if day.weekday() == 6:
        day += timedelta(days=1)
    plan_id = _plan("s-plan", day)
    with dbmod.session_scope() as db:
        jobs = db.execute(select(Job).where(Job.kind == "checkin")).scalars().all()
        assert [j.dedupe_key for j in jobs] == [f"checkin:{plan_id}:{day.isoformat()}"]
        due = jobs[0].due_at.astimezone(LOCAL)
        assert (due.date(), due.hour) == (day, 10)
        assert jobs[0].payload == {"plan": plan_id, "day": day.isoformat()}
        assert jobs[0].student_id is not None
        plan = db.get(ActionPlan, plan_id)
        assert checkins.schedule(db, plan) is False  # once per plan


def _decide(plan_id: int, when: str, day: str | None = None) -> checkins.Decision:
    with dbmod.session_scope() as db:
        return checkins.decide(db, plan_id, datetime.fromisoformat(when).replace(tzinfo=LOCAL),
                               day)


def test_when_the_coach_writes_and_when_not(storage: str) -> None:
    plan_id = _plan("s-dec", date(2026, 12, 2))
    sent = _decide(plan_id, "2026-12-02T10:00")
    assert (sent.action, sent.channel, sent.sender_id) == ("send", "rest", "s-dec")
    quiet = _decide(plan_id, "2026-12-02T22:00")
    assert quiet.action == "later" and quiet.reason == "quiet_hours"
    assert quiet.until == datetime(2026, 12, 3, 8, 0, tzinfo=LOCAL)
    with dbmod.session_scope() as db:
        student = repo.get_or_create_student(db, "rest", "s-dec")
        student.last_proactive_at = datetime(2026, 12, 2, 9, 0, tzinfo=LOCAL)
    assert _decide(plan_id, "2026-12-02T10:00").reason == "already_today"
    assert _decide(plan_id, "2026-12-03T10:00").action == "send"
    busy = service.start_session("rest", "s-dec", "vmbo")
    assert _decide(plan_id, "2026-12-03T10:00").reason == "in_conversation"
    service.set_status(channel="rest", sender_id="s-dec", session_id=busy, status="abandoned")
    with dbmod.session_scope() as db:
        repo.get_or_create_student(db, "rest", "s-dec").reminders_off = True
    assert _decide(plan_id, "2026-12-03T10:00").reason == "reminders_off"
    with dbmod.session_scope() as db:
        repo.get_or_create_student(db, "rest", "s-dec").reminders_off = False
        repo.record_followup(db, db.get(ActionPlan, plan_id), "ja gelukt", "gelukt")
    assert _decide(plan_id, "2026-12-03T10:00").reason == "already_followed_up"


def _say(sender: str, session_id: int, key: str, text: str, **extra) -> None:
    assert service.save_reply(channel="rest", sender_id=sender, session_id=session_id,
                              step="terugkijken", question_key=key, text=text,
                              kind=extra.pop("kind", "answer"), message_id=None, **extra)


def test_the_follow_up_dialogue_is_kept_with_the_plan(storage: str) -> None:
    """How it went, what got in the way, a new small step: the step is the new
    conversation's plan with its own check-in, even if the student stops there; a plan
    agreed later in `activeren` replaces it and the step's check-in is skipped."""
    old_plan = _plan("s-fu", date(2026, 12, 4))
    now = service.start_session("rest", "s-fu", "vmbo")
    _say("s-fu", now, "vorige_stap", "nee", kind="followup", followup_status="niet_gelukt")
    _say("s-fu", now, "vorige_stap_lastig", "ik durfde niet", followup_part="reason")
    _say("s-fu", now, "nieuwe_stap", "maandag app ik haar", followup_part="next_step",
         when_date="2026-12-07")
    with dbmod.session_scope() as db:
        old = db.get(ActionPlan, old_plan)
        assert (old.followup_status, old.followup_text, old.followup_reason) == (
            "niet_gelukt", "nee", "ik durfde niet")
        step = db.execute(select(ActionPlan).where(ActionPlan.session_id == now)).scalar_one()
        assert (step.what, step.when_date, step.origin) == (
            "maandag app ik haar", date(2026, 12, 7), "volgende_stap")
        # The student stops here: the small step is still the plan asked about next time.
        student = repo.get_or_create_student(db, "rest", "s-fu")
        assert repo.latest_plan_needing_followup(db, student).id == step.id
        keys = db.execute(select(Job.dedupe_key).where(Job.kind == "checkin")).scalars().all()
        assert f"checkin:{step.id}:2026-12-07" in keys
    service.set_status(channel="rest", sender_id="s-fu", session_id=now, status="abandoned")
    assert _decide(step.id, "2026-12-07T10:00", "2026-12-07").action == "send"
    # A replayed save of the step changes nothing; `activeren` in the same conversation wins.
    _say("s-fu", now, "nieuwe_stap", "maandag app ik haar", followup_part="next_step",
         when_date="2026-12-07")
    service.complete_session(channel="rest", sender_id="s-fu", session_id=now,
                             plan={"what": "mailen naar de garage", "when_date": "2026-12-09"})
    with dbmod.session_scope() as db:
        plans = db.execute(select(ActionPlan).where(ActionPlan.session_id == now)).scalars().all()
        assert [(p.what, p.origin) for p in plans] == [("mailen naar de garage", None)]
    assert _decide(step.id, "2026-12-07T10:00", "2026-12-07").reason == "plan_changed"
    assert _decide(step.id, "2026-12-09T10:00", "2026-12-09").action == "send"
    # An older plan's job never writes about a plan that a newer one replaced.
    assert _decide(old_plan, "2026-12-09T10:00").reason == "already_followed_up"
    later = _plan("s-fu", date(2026, 12, 11))
    assert _decide(step.id, "2026-12-09T10:00", "2026-12-09").reason == "superseded"
    assert _decide(later, "2026-12-11T10:00", "2026-12-11").action == "send"


def test_a_follow_up_without_a_new_step_makes_no_plan(storage: str) -> None:
    _plan("s-fu2", date(2026, 12, 4))
    now = service.start_session("rest", "s-fu2", "vmbo")
    _say("s-fu2", now, "vorige_stap", "ja gelukt", kind="followup", followup_status="gelukt")
    _say("s-fu2", now, "vorige_stap_hielp", "mijn zus", followup_part="reason")
    with dbmod.session_scope() as db:
        assert db.execute(select(ActionPlan).where(ActionPlan.session_id == now)).first() is None
        assert db.execute(select(ActionPlan.followup_reason).where(
            ActionPlan.followup_status == "gelukt")).scalar_one() == "mijn zus"


def test_waiting_messages_are_delivered_once_in_order(storage: str) -> None:
    with dbmod.session_scope() as db:
        db.add_all([PendingMessage(channel="rest", sender_id="s-w", text=t)
                    for t in ("een", "twee")])
        db.add(PendingMessage(channel="rest", sender_id="ander", text="niet voor jou"))
    now = datetime.now(LOCAL)
    with dbmod.read_scope() as db:
        assert checkins.waiting_for(db, "rest", "s-w")
        assert not checkins.waiting_for(db, "rest", "niemand")
    with dbmod.session_scope() as db:
        assert checkins.take_pending(db, "rest", "s-w", now) == ["een", "twee"]
    with dbmod.session_scope() as db:
        assert checkins.take_pending(db, "rest", "s-w", now) == []
        assert not checkins.waiting_for(db, "rest", "s-w")
    # A web chat forgets its id: the same (linked) student in a new chat gets them there.
    with dbmod.session_scope() as db:
        student = repo.get_or_create_student(db, "rest", "web-oud")
        db.add(ChannelIdentity(channel="rest", sender_id="web-nieuw", student=student))
        db.add(PendingMessage(channel="rest", sender_id="web-oud", text="hoe ging het?"))
    with dbmod.read_scope() as db:
        assert checkins.waiting_for(db, "rest", "web-nieuw")
    # A message kept for a channel that pushes (Matrix) is sent there, not shown in the chat.
    with dbmod.session_scope() as db:
        student = repo.get_or_create_student(db, "rest", "s-push")
        db.add(ChannelIdentity(channel="matrix", sender_id="@s:school.nl", student=student))
        db.add(PendingMessage(channel="matrix", sender_id="@s:school.nl", text="alleen daar"))
    with dbmod.read_scope() as db:
        assert not checkins.waiting_for(db, "rest", "s-push")
        assert checkins.waiting_for(db, "matrix", "@s:school.nl")
    with dbmod.session_scope() as db:
        assert checkins.take_pending(db, "rest", "ander", now) == ["niet voor jou"]
        assert checkins.take_pending(db, "rest", "web-nieuw", now) == ["hoe ging het?"]
        assert checkins.take_pending(db, "rest", "web-oud", now) == []


def _left_midway(sender: str, status: str, idle: timedelta) -> int:
    from bot.storage.models import Conversation

    session_id = service.start_session("rest", sender, "vmbo")
    with dbmod.session_scope() as db:
        session = db.get(Conversation, session_id)
        session.status, session.step_reached = status, "reflecteren"
        session.updated_at = session.updated_at - idle
    return session_id


def test_one_reminder_for_a_conversation_left_midway(storage: str) -> None:
    from bot.scheduled import reminders
    from bot.storage.models import Conversation, School, Student
    from bot.storage.types import utcnow

    now = utcnow()
    waiting = _left_midway("r-wacht", "paused", timedelta(days=4))
    recent = _left_midway("r-recent", "paused", timedelta(days=1))
    _left_midway("r-verlaten", "abandoned", timedelta(days=10))
    off = _left_midway("r-uit", "paused", timedelta(days=10))
    newer = _left_midway("r-nieuw", "paused", timedelta(days=10))
    service.start_session("rest", "r-nieuw", "vmbo")  # started something new since
    with dbmod.session_scope() as db:
        repo.get_or_create_student(db, "rest", "r-uit").reminders_off = True
    with dbmod.session_scope() as db:
        assert reminders.schedule_due(db, now) == 2
        assert reminders.schedule_due(db, now) == 0  # once per conversation
        keys = set(db.execute(select(Job.dedupe_key).where(Job.kind == "reminder")).scalars())
    assert f"reminder:{waiting}" in keys and f"reminder:{recent}" not in keys
    assert f"reminder:{off}" not in keys and f"reminder:{newer}" not in keys
    with dbmod.session_scope() as db:
        late_morning = now.astimezone(LOCAL).replace(hour=11)
        if late_morning.weekday() == 6:  # Sunday is quiet all day by default
            late_morning += timedelta(days=1)
        sent = reminders.decide(db, waiting, late_morning)
        assert (sent.action, sent.sender_id) == ("send", "r-wacht")
        db.get(Conversation, waiting).reminded_at = now
        assert reminders.decide(db, waiting, now).reason == "no_longer_waiting"
    # A school that switches reminders off (0 days) gets none; its own number of days counts.
    late = _left_midway("r-school", "paused", timedelta(days=30))
    with dbmod.session_scope() as db:
        school = School(name="Geen herinneringen", reminder_days=0)
        db.add(school)
        db.flush()
        db.get(Student, db.get(Conversation, late).student_id).school_id = school.id
    with dbmod.session_scope() as db:
        assert reminders.schedule_due(db, now) == 0
        db.execute(select(School).where(School.name == "Geen herinneringen")
                   ).scalar_one().reminder_days = 40
    with dbmod.session_scope() as db:
        assert reminders.schedule_due(db, now) == 0  # 30 days idle < 40
        assert reminders.schedule_due(db, now + timedelta(days=11)) == 2  # and r-recent
        assert db.execute(select(Job).where(Job.dedupe_key == f"reminder:{late}")).scalar()
