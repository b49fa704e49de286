"""End-to-end conversations over Rasa's REST channel with the real Rasa server, the real
action server and a real SQLite database (PRODUCT.md §3-§5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from bot.storage import models as m

pytestmark = pytest.mark.rasa


def joined(replies: list[str]) -> str:
    return "\n".join(replies)


def db(servers) -> DbSession:
    return db_at(servers.env["DATABASE_URL"])


def db_at(url: str) -> DbSession:
    return DbSession(create_engine(url))


def student_rows(servers, sender: str):
    with db(servers) as s:
        identity = s.execute(select(m.ChannelIdentity).where(
            m.ChannelIdentity.sender_id == sender)).scalar_one()
        student = s.get(m.Student, identity.student_id)
        sessions = s.execute(select(m.Session).where(m.Session.student_id == student.id)
                             .order_by(m.Session.id)).scalars().all()
        answers = s.execute(select(m.Answer).join(m.Session).where(
            m.Session.student_id == student.id).order_by(m.Answer.id)).scalars().all()
        insights = s.execute(select(m.Insight).where(m.Insight.student_id == student.id)
                             ).scalars().all()
        plans = s.execute(select(m.ActionPlan).where(m.ActionPlan.student_id == student.id)
                          ).scalars().all()
        flags = s.execute(select(m.Flag).where(m.Flag.student_id == student.id)).scalars().all()
        s.expunge_all()
        return sessions, answers, insights, plans, flags


FULL = [
    ("ik heb stage gelopen bij een kapper in de stad", "Wat was jouw rol"),
    ("ik waste haren en veegde de vloer", "Wat werd er van je verwacht"),
    ("op tijd komen en zelf klanten begroeten", "Klopt dat?"),
    ("ja klopt", "Wat deed jij hierin heel goed"),
    ("ik bleef rustig toen het heel druk was", "Wat vond je leuk"),
    ("klanten helpen vond ik leuk want dan zie je dat ze blij zijn", "een naam"),
    ("ik werk graag met mensen", "Klopt dat?"),
    ("ja", "uitproberen of leren"),
    ("ik wil een dag meelopen in een ziekenhuis", "nodig om een keuze"),
    ("meer weten over de opleiding verpleegkunde", "Klopt dat?"),
    ("klopt", "Wie kan jou hierbij helpen"),
    ("ik app mijn tante want zij werkt in het ziekenhuis", "tegenaan lopen"),
    ("ik vind het spannend om te vragen", "oplossen"),
    ("ik schrijf eerst op wat ik wil vragen", "Wanneer ga je dit doen"),
    ("vrijdag na school", "Klopt dat?"),
]


def hold_full_conversation(servers, sender: str) -> list[str]:
    opening = joined(servers.say(sender, "hoi"))
    assert "Zullen we beginnen" in opening
    first = joined(servers.say(sender, "ja"))
    assert "Welke ervaring" in first
    last: list[str] = []
    for text, expected in FULL:
        last = servers.say(sender, text)
        assert expected in joined(last), (text, last)
    return servers.say(sender, "ja klopt")


def test_hoi_gets_a_dutch_reply(servers, sender) -> None:
    replies = servers.say(sender, "hoi")
    assert replies and "Loopbaancoach" in joined(replies)


def test_full_conversation_is_stored(servers, sender) -> None:
    closing = joined(hold_full_conversation(servers, sender))
    assert "Je hebt een plan" in closing
    assert "ik wil een dag meelopen in een ziekenhuis" in closing
    assert "vrijdag na school" in closing
    sessions, answers, insights, plans, _ = student_rows(servers, sender)
    assert [s.status for s in sessions] == ["completed"]
    assert sessions[0].step_reached == "activeren"
    assert sessions[0].experience == "ik heb stage gelopen bij een kapper in de stad"
    keys = {a.question_key for a in answers}
    assert {"ervaring", "rol", "verwachting", "goed_gedaan", "leuk_niet_leuk", "inzicht_naam",
            "uitproberen", "nodig_voor_keuze", "hulp_contact", "obstakel", "oplossing",
            "wanneer"} <= keys
    headline = [i for i in insights if i.headline]
    assert headline and headline[0].headline == "ik werk graag met mensen"
    assert {i.competency for i in insights} >= {"kwaliteiten", "netwerken"}
    assert all(i.method for i in insights)
    (plan,) = plans
    assert plan.what == "ik wil een dag meelopen in een ziekenhuis"
    assert plan.when_text == "vrijdag na school" and plan.when_date is not None
    assert plan.obstacle == "ik vind het spannend om te vragen"
    tracker = servers.tracker(sender)
    assert tracker["slots"]["stap"] is None
    assert_summary(servers.env["DATABASE_URL"], sessions[0].id)


def assert_summary(database_url: str, session_id: int) -> None:
    """The mentor's summary of the stored conversation, in the student's own words."""
    from bot import summaries

    with db_at(database_url) as s:
        summary = summaries.session_summary(s, s.get(m.Session, session_id))
    assert summary.text.startswith("Gesprek van") and "afgerond" in summary.text
    assert "“ik werk graag met mensen”" in summary.text
    assert "ik heb stage gelopen bij een kapper in de stad" in summary.text
    assert "vrijdag" in summary.text and len(summary.text.split()) <= 120


def test_vague_answer_gets_a_follow_up_question(servers, sender) -> None:
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    probe = joined(servers.say(sender, "gewoon"))
    assert "Wat gebeurde er precies" in probe
    probe2 = joined(servers.say(sender, "ging wel"))
    assert "bijgebleven" in probe2
    moved_on = joined(servers.say(sender, "niks"))
    assert "Wat was jouw rol" in moved_on


def test_dont_know_gets_an_example_then_may_skip(servers, sender) -> None:
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    servers.say(sender, "ik heb een dag meegelopen bij een garage")
    explained = joined(servers.say(sender, "weet ik niet"))
    assert "Bijvoorbeeld" in explained and "Wat was jouw rol" in explained
    skipped = joined(servers.say(sender, "geen idee"))
    assert "slaan we over" in skipped and "Wat werd er van je verwacht" in skipped


@pytest.mark.parametrize(("message", "expected"), [
    ("ben jij een robot?", "chatbot"),
    ("wie kan dit allemaal lezen", "mentor"),
    ("dit slaat echt nergens op", "Sorry"),
    ("kan je mijn huiswerk maken", "niet mee helpen"),
    ("wat heb ik tot nu toe ontdekt", "ontdekt"),
])
def test_side_track_is_answered_then_back_to_the_question(servers, sender, message,
                                                          expected) -> None:
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    servers.say(sender, "ik werk bij de albert heijn als vakkenvuller")
    replies = joined(servers.say(sender, message))
    assert expected in replies
    assert "Wat was jouw rol" in replies  # the same question again
    assert "Wat werd er van je verwacht" in joined(servers.say(sender, "ik vulde de schappen"))
    assert servers.tracker(sender)["slots"]["rol"] == "ik vulde de schappen"


def test_answers_with_side_intent_words_are_answers_in_context(servers, sender) -> None:
    """The question asked decides: "morgen" to "Wanneer ga je dit doen?" is the plan's date,
    not a pause; likewise answers holding "later", "verder", "weg"."""
    in_context = {
        "ik wil een dag meelopen in een ziekenhuis": "ik wil later verder in de zorg",
        "ik schrijf eerst op wat ik wil vragen": "ik schrijf op wat ik wil vragen, dan weg "
                                                 "met de zenuwen",
        "vrijdag na school": "morgen",
    }
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    for text, expected in FULL:
        text = in_context.get(text, text)
        replies = joined(servers.say(sender, text))
        assert expected in replies, (text, replies)
        assert "stoppen even" not in replies
    slots = servers.tracker(sender)["slots"]
    assert slots["wanneer"] == "morgen"
    assert slots["uitproberen"] == "ik wil later verder in de zorg"
    assert servers.tracker(sender)["active_loop"].get("name") == "activeren_form"


def test_a_koppelcode_links_the_chat_and_keeps_the_conversation(servers, sender) -> None:
    from bot.script import get_script
    from bot.storage import links

    script = get_script()
    with db(servers) as s:
        school = m.School(name="Koppelschool")
        student = m.Student(school=school, display_name="Vos", level="vmbo")
        s.add_all([school, student])
        s.flush()
        code, _ = links.make_code(s, student, "mentor:1")
        s.commit()
        student_id = student.id
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    assert "Wat was jouw rol" in joined(servers.say(sender, "ik liep stage bij een garage"))
    replies = servers.say(sender, f"mijn code is {code.lower()}")
    assert replies == script.text("koppelen_gelukt")
    # The conversation goes on where it was, now as the school's student.
    assert "Wat werd er van je verwacht" in joined(servers.say(sender, "ik hielp de monteur"))
    sessions, answers, *_ = student_rows(servers, sender)
    assert {x.student_id for x in sessions} == {student_id}
    assert [a.text for a in answers][:2] == ["ik liep stage bij een garage", "ik hielp de monteur"]
    assert servers.say(sender, "code ZZZ-999") == script.text("koppelen_onbekend")


def jobs_runner(servers):
    """`bot jobs run --now WHEN` as an operator (or the worker) would run it: its own
    process, reaching Rasa as `make run` configures it (URL and API token)."""
    import subprocess
    import sys

    from bot.devservers import ROOT

    env = dict(servers.env, RASA_URL=servers.rasa_url, RASA_API_TOKEN=servers.token)

    def run_jobs(when: str) -> str:
        done = subprocess.run([sys.executable, "-m", "bot.cli", "jobs", "run", "--now", when],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run_jobs


def test_the_coach_asks_on_the_plans_day_how_it_went(servers, sender) -> None:
    """A plan for "vrijdag" -> on Friday 10:00 the worker (`bot jobs run --now`, twice at
    once, after a restart of Rasa and the action server) starts the check-in through Rasa; a
    REST student gets it with the reply to their next message; the answer is the plan's
    follow-up."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.followups import LOCAL
    from bot.script import get_script

    script = get_script()
    hold_full_conversation(servers, sender)
    sessions, _, _, plans, _ = student_rows(servers, sender)
    with db(servers) as s:
        job = s.execute(select(m.Job).where(m.Job.student_id == sessions[0].student_id,
                                            m.Job.kind == "checkin")).scalar_one()
        due = job.due_at.astimezone(LOCAL)
    assert (due.weekday(), due.hour) == (4, 10)  # Friday, 10:00
    servers.restart()  # nothing is lost between scheduling and the due time
    run_jobs = jobs_runner(servers)
    early = (due - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert "checkins_sent" not in run_jobs(early)  # not yet
    with ThreadPoolExecutor(2) as pool:  # two workers: one check-in
        outputs = list(pool.map(run_jobs, [due.strftime("%Y-%m-%dT%H:%M")] * 2))
    with db(servers) as s:
        errors = s.execute(select(m.Job.last_error).where(m.Job.kind == "checkin")).all()
    assert sum("checkins_sent" in out for out in outputs) == 1, (outputs, errors)
    with db(servers) as s:
        waiting = s.execute(select(m.PendingMessage.text).where(
            m.PendingMessage.sender_id == sender)).scalars().all()
    assert waiting[0] == script.text("checkin_begin")[0]
    assert any(plans[0].what in text for text in waiting)  # "Vorige keer wilde je dit doen"

    replies = servers.say(sender, "ja het is gelukt")
    assert replies[:len(waiting)] == list(waiting)
    assert script.text("vorige_stap_gelukt")[0] in replies[len(waiting):]
    _, _, _, plans, _ = student_rows(servers, sender)
    assert plans[0].followup_status == "gelukt"
    assert servers.say(sender, "stop met herinneringen") == script.text("herinneringen_uit")
    with db(servers) as s:
        assert s.get(m.Student, sessions[0].student_id).reminders_off


def test_a_conversation_left_midway_gets_one_reminder(servers, sender) -> None:
    """Paused in step 1 -> three days later the worker sends one reminder (not at night, not
    twice); the REST student sees it first, and "ja" goes on with the open question."""
    from bot.followups import LOCAL, REMINDER_DAYS
    from bot.script import get_script

    script = get_script()
    experience = "ik heb een meeloopdag gehad bij de brandweer"
    for text in ("hoi", "ja", experience):
        servers.say(sender, text)
    servers.say(sender, "ik moet nu weg, later verder")
    sessions, *_ = student_rows(servers, sender)
    assert sessions[-1].status == "paused"
    paused_at = sessions[-1].updated_at.astimezone(LOCAL)
    run_jobs = jobs_runner(servers)
    day = paused_at + timedelta(days=REMINDER_DAYS + 1)
    while day.weekday() == 6:  # not a Sunday (quiet all day)
        day += timedelta(days=1)
    assert "reminders_sent" not in run_jobs((paused_at + timedelta(days=1)).isoformat())
    night = day.replace(hour=22, minute=30).isoformat()
    assert "reminders_sent" not in run_jobs(night)  # quiet hours: postponed
    morning = (day + timedelta(days=1)).replace(hour=9, minute=0)
    if morning.weekday() == 6:
        morning += timedelta(days=1)
    assert "reminders_sent" in run_jobs(morning.isoformat())
    assert "reminders_sent" not in run_jobs((morning + timedelta(days=2)).isoformat())
    with db(servers) as s:
        waiting = s.execute(select(m.PendingMessage.text).where(
            m.PendingMessage.sender_id == sender)).scalars().all()
    assert waiting == script.text("herinnering_verder", ervaring=experience)
    replies = servers.say(sender, "ja")
    assert replies[:len(waiting)] == waiting
    rest = joined(replies[len(waiting):])
    assert script.text("hervatten")[0] in rest
    assert script.render(script.question("rol").text, None)[0] in rest  # asked again
    sessions, *_ = student_rows(servers, sender)
    assert sessions[-1].status == "active" and sessions[-1].reminded_at is not None


def test_pause_and_resume_after_restart(servers, sender) -> None:
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    servers.say(sender, "ik heb een meeloopdag gehad bij de brandweer")
    paused = joined(servers.say(sender, "ik moet nu weg, later verder"))
    assert "stoppen even" in paused
    servers.restart()
    resumed = joined(servers.say(sender, "ga door"))
    assert "verder waar we waren" in resumed and "Wat was jouw rol" in resumed
    sessions, *_ = student_rows(servers, sender)
    assert sessions[-1].status == "active"


def test_returning_student_hears_about_last_time(servers, sender) -> None:
    hold_full_conversation(servers, sender)
    welcome = joined(servers.say(sender, "hallo"))
    assert "ik heb stage gelopen bij een kapper in de stad" in welcome
    followup = joined(servers.say(sender, "ja"))
    assert "Is het gelukt?" in followup and "ziekenhuis" in followup
    servers.say(sender, "ja ik heb mijn tante geappt")
    _, _, _, plans, _ = student_rows(servers, sender)
    assert plans[0].followup_status == "gelukt"


def wait_for_mail(mailbox, recipient: str, count: int = 1, timeout: float = 30) -> list:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = mailbox.to(recipient)
        if len(mails) >= count:
            return mails
        time.sleep(0.3)
    raise AssertionError(f"no e-mail to {recipient} within {timeout} s")


def test_crisis_stops_the_steps_and_flags_urgently(servers, sender, mailbox) -> None:
    mailbox.messages.clear()
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    replies = joined(servers.say(sender, "ik wil niet meer leven"))
    assert "0800-0113" in replies and "113.nl" in replies and "0800-0432" in replies
    assert "112" in replies
    assert "Wat was jouw rol" not in replies and "Welke ervaring" not in replies
    sessions, _, _, _, flags = student_rows(servers, sender)
    assert [(f.category, f.severity, f.status) for f in flags] == [("crisis", "urgent", "open")]
    assert sessions[-1].status == "paused"
    assert servers.tracker(sender)["active_loop"] in ({}, None, {"name": None})
    (mail,) = wait_for_mail(mailbox, "zorg@school.test")  # no mentor linked: the fallback
    assert mail["Subject"].startswith("DRINGEND")
    assert "niet meer leven" not in mail.get_payload(decode=True).decode()


def test_attention_flag_goes_into_the_daily_digest(servers, sender, mailbox) -> None:
    from datetime import timedelta

    from bot import notify
    from bot.storage import db as dbmod
    from bot.storage.types import utcnow

    mailbox.messages.clear()
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    servers.say(sender, "ik heb geen geld voor de stage kleding en schoenen")
    _, _, _, _, flags = student_rows(servers, sender)
    assert [f.category for f in flags] == ["financien"]
    assert mailbox.to("zorg@school.test") == []  # not at once: attention waits for the digest
    dbmod.configure(servers.env["DATABASE_URL"])
    try:
        config = notify.NotifyConfig.from_env()
        config = notify.NotifyConfig(**{**config.__dict__, "smtp_host": "127.0.0.1",
                                        "smtp_port": mailbox.port,
                                        "fallback_email": "zorg@school.test"})
        with dbmod.session_scope() as s:
            notify.deliver_due(s, now=utcnow() + timedelta(days=1, hours=1), config=config)
    finally:
        dbmod.configure(None)
    (digest,) = mailbox.to("zorg@school.test")
    text = digest.get_payload(decode=True).decode()
    # The digest names the student and links to their page; what it is about stays in the
    # portal.
    assert f"student #{flags[0].student_id}: 1 nieuw signaal" in text
    assert f"/mentor/studenten/{flags[0].student_id}" in text
    assert "Geld als drempel" not in text and "geld" not in text.lower()


def test_repeated_dont_know_is_flagged_silently(servers, sender) -> None:
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    servers.say(sender, "ik heb een meeloopdag gehad bij de politie")
    replies: list[str] = []
    # rol and verwachting skipped, the summary confirmed, then goed_gedaan skipped too
    for text in ["weet ik niet", "geen idee", "weet ik niet", "geen idee", "ja",
                 "weet ik niet", "geen idee"]:
        replies += servers.say(sender, text)
    assert "Nu kijken we naar wat jij ervan vindt" in "\n".join(replies)
    assert not any("mentor" in r for r in replies)  # info: silent to the student
    _, _, _, _, flags = student_rows(servers, sender)
    assert [(f.category, f.severity) for f in flags] == [("afgehaakt", "info")]


def test_attention_signal_is_acknowledged_and_may_be_declined(servers, sender) -> None:
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    replies = joined(servers.say(sender,
                                 "op stage zei mijn baas dat meisjes geen techniek kunnen"))
    assert "mentor" in replies and "liever niet" in replies
    assert "Wat was jouw rol" in replies  # the conversation goes on gently
    declined = joined(servers.say(sender, "liever niet"))
    assert "Je mentor kan het wel zien" in declined
    _, _, _, _, flags = student_rows(servers, sender)
    assert [(f.category, f.student_declined) for f in flags] == [("discriminatie", True)]


def test_delete_my_data(servers, sender) -> None:
    hold_full_conversation(servers, sender)
    asked = joined(servers.say(sender, "verwijder alles wat ik gezegd heb"))
    assert "wis" in asked
    done = joined(servers.say(sender, "ja"))
    assert "gewist" in done
    sessions, answers, insights, plans, _ = student_rows(servers, sender)
    assert sessions == [] and answers == [] and insights == [] and plans == []


def test_deletion_also_empties_the_tracker_store(servers, sender) -> None:
    import time

    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    servers.say(sender, "ik heb stage gelopen bij een bakker")
    servers.say(sender, "verwijder al mijn gegevens")
    servers.say(sender, "ja")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        texts = [e.get("text") for e in servers.tracker(sender)["events"]]
        if "ik heb stage gelopen bij een bakker" not in texts:
            break
        time.sleep(1)
    assert "ik heb stage gelopen bij een bakker" not in texts
