"""End-to-end conversations over Rasa's REST channel with the real Rasa server, the real
action server and a real SQLite database (PRODUCT.md §3-§5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from bot.conversation.script import get_script
from bot.storage import models as m

LEVEL_QUESTION = get_script().key_of("niveau")  # the level question (its doel)

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
        sessions = s.execute(select(m.Conversation).where(m.Conversation.student_id == student.id)
                             .order_by(m.Conversation.id)).scalars().all()
        answers = s.execute(select(m.Answer).join(m.Conversation).where(
            m.Conversation.student_id == student.id).order_by(m.Answer.id)).scalars().all()
        insights = s.execute(select(m.Insight).where(m.Insight.student_id == student.id)
                             ).scalars().all()
        plans = s.execute(select(m.ActionPlan).where(m.ActionPlan.student_id == student.id)
                          ).scalars().all()
        flags = s.execute(select(m.Flag).where(m.Flag.student_id == student.id)).scalars().all()
        s.expunge_all()
        return sessions, answers, insights, plans, flags


# The full conversation: each answer and what the coach asks next (a question's key, or
# "check:<step>" for the step's summary check), read from the script so that a coordinator's
# rewording breaks no test.
FIRST_STEP = "mijn tante vragen of ik een dag mee mag naar haar werk"  # the plan's what
FULL_KEYS = [
    ("ik heb stage gelopen bij een kapper in de stad", "rol"),
    ("ik waste haren en veegde de vloer", "verwachting"),
    ("op tijd komen en zelf klanten begroeten", "moment"),
    ("toen ik voor het eerst zelf een klant mocht helpen", "goed_gedaan"),
    ("ik bleef rustig toen het heel druk was", "hoe_gedaan"),
    ("ik haalde diep adem en deed alles na elkaar", "leuk_niet_leuk"),
    ("klanten helpen vond ik leuk want dan zie je dat ze blij zijn", "belangrijk"),
    ("dat mensen zich fijn voelen", "rode_draad"),
    ("ja, bij voetbal help ik ook altijd de nieuwe jongens", "inzicht_naam"),
    ("ik werk graag met mensen", "check:reflecteren"),
    ("ja", "uitproberen"),
    ("ik wil een dag meelopen in een ziekenhuis", "nodig_voor_keuze"),
    ("meer weten over de opleiding verpleegkunde", "eerste_stap"),
    (FIRST_STEP, "hulp_contact"),
    ("ik app mijn tante want zij werkt in het ziekenhuis", "obstakel"),
    ("ik vind het spannend om te vragen", "oplossing"),
    ("ik schrijf eerst op wat ik wil vragen", "wanneer"),
    ("vrijdag na school", "check:activeren"),
]


def asked_text(key: str, level: str = "mbo") -> str:
    """The first line of what the coach asks for `key` in a first conversation."""
    from bench.conversation import asked_line

    return asked_line(get_script(), key, level)


FULL = [(text, asked_text(key)) for text, key in FULL_KEYS]


def expected_closing() -> list[str]:
    """The closing after FULL and "ja klopt": the script's closing with FULL's plan (its
    first step and its day)."""
    from bench.conversation import closing_for

    return [closing_for(get_script(), FULL_KEYS)]
ROLE_QUESTION = asked_text("rol")


def begin(servers, sender: str, level: str = "mbo") -> list[str]:
    """'hoi' and 'ja' of a new student; nobody set their level, so the coach asks it first.
    The replies to `level`: the first question about the experience."""
    servers.say(sender, "hoi")
    asked = servers.say(sender, "ja")
    assert asked[-1] == ask(LEVEL_QUESTION), asked
    return servers.say(sender, level)


def hold_full_conversation(servers, sender: str) -> list[str]:
    opening = joined(servers.say(sender, "hoi"))
    assert "Zullen we beginnen" in opening
    assert ask(LEVEL_QUESTION) in servers.say(sender, "ja")
    first = joined(servers.say(sender, "mbo"))
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
    script = get_script()
    closing = hold_full_conversation(servers, sender)
    assert closing == expected_closing()  # one sentence; the plan's list was just summed up
    assert not any(line in closing for line in script.text("afronden_plan"))
    sessions, answers, insights, plans, _ = student_rows(servers, sender)
    assert [s.status for s in sessions] == ["completed"]
    assert sessions[0].step_reached == "activeren"
    assert sessions[0].experience == "ik heb stage gelopen bij een kapper in de stad"
    keys = {a.question_key for a in answers}
    assert {"ervaring", "rol", "verwachting", "moment", "goed_gedaan", "hoe_gedaan",
            "leuk_niet_leuk", "belangrijk", "rode_draad", "inzicht_naam", "uitproberen",
            "nodig_voor_keuze", "eerste_stap",
            "hulp_contact", "obstakel", "oplossing", "wanneer"} <= keys
    assert "waarom" not in keys  # the liking came with its reason ("want ...")
    headline = [i for i in insights if i.headline]
    assert headline and headline[0].headline == "ik werk graag met mensen"
    assert {i.competency for i in insights} >= {"kwaliteiten", "netwerken"}
    assert all(i.method for i in insights)
    (plan,) = plans
    assert plan.what == FIRST_STEP  # the student's own first step, not the wish of step 3
    assert plan.when_text == "vrijdag na school" and plan.when_date is not None
    assert plan.obstacle == "ik vind het spannend om te vragen"
    tracker = servers.tracker(sender)
    assert tracker["slots"]["stap"] is None
    assert_summary(servers.env["DATABASE_URL"], sessions[0].id)


def assert_summary(database_url: str, session_id: int) -> None:
    """The mentor's summary of the stored conversation, in the student's own words."""
    from bot.conversation import summaries

    with db_at(database_url) as s:
        summary = summaries.session_summary(s, s.get(m.Conversation, session_id))
    assert summary.text.startswith("Gesprek van") and "afgerond" in summary.text
    assert "“ik werk graag met mensen”" in summary.text
    assert "ik heb stage gelopen bij een kapper in de stad" in summary.text
    assert "vrijdag" in summary.text and len(summary.text.split()) <= 120


def test_the_level_is_asked_once_and_decides_the_wording(servers, sender) -> None:
    """Issue 16: nobody set this student's level, so the coach asks it instead of assuming
    mbo; the answer is kept on the student and the conversation, and the vmbo wording
    follows. An answer without a level is asked once more."""
    script = get_script()
    servers.say(sender, "hoi")
    assert servers.say(sender, "ja")[-1] == ask(LEVEL_QUESTION)
    probe = script.render(script.question(LEVEL_QUESTION).probes[0])
    assert servers.say(sender, "ja hoor") == probe
    replies = servers.say(sender, "ik zit op het vmbo, kader")
    assert replies == script.render(script.question("ervaring").text, "vmbo")
    replies = servers.say(sender, "ik heb een dag meegelopen bij een garage")
    assert replies[-1] == script.render(script.question("rol").text, "vmbo")[0]
    assert replies[-1] != ask("rol")  # the mbo wording differs
    sessions, answers, *_ = student_rows(servers, sender)
    assert [s.level for s in sessions] == ["vmbo"]
    assert [a.question_key for a in answers] == ["ervaring"]  # the level is no answer
    with db(servers) as s:
        identity = s.execute(select(m.ChannelIdentity).where(
            m.ChannelIdentity.sender_id == sender)).scalar_one()
        assert s.get(m.Student, identity.student_id).level == "vmbo"
    servers.say(sender, "pauze")
    servers.say(sender, "hoi")
    resumed = servers.say(sender, "ja")  # back in the conversation: not asked again
    assert ask(LEVEL_QUESTION) not in resumed
    assert resumed[-1] == script.render(script.question("rol").text, "vmbo")[0]


def test_a_student_who_does_not_know_the_level_is_not_asked_again(servers, sender) -> None:
    servers.say(sender, "hoi")
    assert servers.say(sender, "ja")[-1] == ask(LEVEL_QUESTION)
    servers.say(sender, "weet ik niet")
    assert ask("ervaring") in joined(servers.say(sender, "weet ik echt niet"))  # skipped
    for text, expected in FULL:
        assert expected in joined(servers.say(sender, text)), text
    servers.say(sender, "ja klopt")
    servers.say(sender, "hoi")
    followup = joined(servers.say(sender, "ja"))  # the next conversation: straight on
    assert "Is het gelukt?" in followup and ask(LEVEL_QUESTION) not in followup


def test_vague_answer_gets_a_follow_up_question(servers, sender) -> None:
    begin(servers, sender)
    probes = get_script().question("ervaring").probes
    probe = joined(servers.say(sender, "gewoon"))
    assert probes[0] in probe
    probe2 = joined(servers.say(sender, "ging wel"))
    assert probes[1] in probe2
    moved_on = joined(servers.say(sender, "niks"))
    assert ROLE_QUESTION in moved_on


def test_dont_know_gets_an_example_then_may_skip(servers, sender) -> None:
    begin(servers, sender)
    servers.say(sender, "ik heb een dag meegelopen bij een garage")
    explained = servers.say(sender, "weet ik niet")
    rol = get_script().question("rol")
    assert explained[:2] == (get_script().render(rol.explanation)
                             + get_script().render(rol.example))
    assert ask("rol") not in explained  # explained in other words, not asked word for word
    skipped = servers.say(sender, "geen idee")
    forms = [line for form in get_script().text_forms("overgeslagen") for line in form]
    assert skipped[0] in forms and skipped[-1] == asked_text("verwachting"), skipped


@pytest.mark.parametrize(("message", "expected"), [
    ("ben jij een robot?", "chatbot"),
    ("wie kan dit allemaal lezen", "mentor"),
    ("dit slaat echt nergens op", "Sorry"),
    ("kan je mijn huiswerk maken", "niet mee helpen"),
    ("wat heb ik tot nu toe ontdekt", "ontdekt"),
])
def test_side_track_is_answered_then_back_to_the_question(servers, sender, message,
                                                          expected) -> None:
    begin(servers, sender)
    servers.say(sender, "ik werk bij de albert heijn als vakkenvuller")
    replies = joined(servers.say(sender, message))
    assert expected in replies
    assert ROLE_QUESTION in replies  # the same question again
    assert "Wat werd er van je verwacht" in joined(servers.say(sender, "ik vulde de schappen"))
    assert servers.tracker(sender)["slots"]["antwoorden"]["rol"] == "ik vulde de schappen"


def test_a_doubtful_answer_a_quoted_question_and_a_repeat_stay_answers(servers, sender) -> None:
    """Set7: "cnc leren?" to "Wat wil je uitproberen?" was read as "what have I learnt?", and
    "dan vraag ik: kan je langzaam praten?" as a question about the coach; a student who sends
    a message again after a side reply means it as the answer; "overslaan" skips at once."""
    begin(servers, sender)
    for text, expected in FULL[:2]:
        assert expected in joined(servers.say(sender, text))
    skipped = servers.say(sender, "overslaan")  # to the expectation question
    assert skipped[-1] == asked_text("moment"), skipped
    for text, _ in FULL[3:10]:
        servers.say(sender, text)
    assert asked_text("uitproberen") in joined(servers.say(sender, "ja"))
    assert asked_text("nodig_voor_keuze") in joined(servers.say(sender, "cnc leren?"))
    for text, _ in FULL[12:16]:
        servers.say(sender, text)
    quoted = "dan vraag ik: kan je langzaam praten? of hij schrijft het op"
    assert asked_text("wanneer") in joined(servers.say(sender, quoted))
    answers = servers.tracker(sender)["slots"]["antwoorden"]
    assert (answers["uitproberen"], answers["oplossing"]) == ("cnc leren?", quoted)
    side = servers.say(sender, "ben jij een robot?")  # a real question: answered, asked again
    assert "chatbot" in joined(side) and asked_text("wanneer") in joined(side)
    again = servers.say(sender, "ben jij een robot?")
    assert "chatbot" not in joined(again)  # sent again: the student's answer, probed for a day
    assert len(again) == len(set(again))


def test_answers_with_side_intent_words_are_answers_in_context(servers, sender) -> None:
    """The question asked decides: "morgen" to "Wanneer ga je dit doen?" is the plan's date,
    not a pause; likewise answers holding "later", "verder", "weg"."""
    in_context = {
        "ik wil een dag meelopen in een ziekenhuis": "ik wil later verder in de zorg",
        "ik schrijf eerst op wat ik wil vragen": "ik schrijf op wat ik wil vragen, dan weg "
                                                 "met de zenuwen",
        "vrijdag na school": "morgen",
    }
    begin(servers, sender)
    for text, expected in FULL:
        text = in_context.get(text, text)
        replies = joined(servers.say(sender, text))
        assert expected in replies, (text, replies)
        assert "stoppen even" not in replies
    tracker = servers.tracker(sender)
    assert tracker["slots"]["antwoorden"]["wanneer"] == "morgen"
    assert tracker["slots"]["antwoorden"]["uitproberen"] == "ik wil later verder in de zorg"
    assert tracker["active_loop"].get("name") == "gesprek_form"
    assert tracker["slots"]["stap"] == "activeren"


def test_a_koppelcode_links_the_chat_and_keeps_the_conversation(servers, sender) -> None:
    from bot.conversation.script import get_script
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
    begin(servers, sender)
    assert ROLE_QUESTION in joined(servers.say(sender, "ik liep stage bij een garage"))
    replies = servers.say(sender, f"mijn code is {code.lower()}")
    assert replies == script.text("koppelen_gelukt")
    # The conversation goes on where it was, now as the school's student.
    assert "Wat werd er van je verwacht" in joined(servers.say(sender, "ik hielp de monteur"))
    sessions, answers, *_ = student_rows(servers, sender)
    assert {x.student_id for x in sessions} == {student_id}
    assert [a.text for a in answers][:2] == ["ik liep stage bij een garage", "ik hielp de monteur"]
    assert servers.say(sender, "code ZZZ-999") == script.text("koppelen_onbekend")


def ask(question_key: str) -> str:
    """The first line of a question as a student without a level sees it."""
    from bot.conversation.script import get_script

    script = get_script()
    return script.render(script.question(question_key).text, None)[0]


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

    from bot.conversation.followups import LOCAL
    from bot.conversation.script import get_script

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
    assert replies[-1] == ask("vorige_stap_hielp")  # what helped?
    replies = servers.say(sender, "mijn zus las mijn appje eerst")
    assert ask("ervaring") in replies  # on to a new experience
    _, _, _, plans, _ = student_rows(servers, sender)
    assert plans[0].followup_status == "gelukt"
    assert plans[0].followup_reason == "mijn zus las mijn appje eerst"
    assert servers.say(sender, "stop met herinneringen") == script.text("herinneringen_uit")
    with db(servers) as s:
        assert s.get(m.Student, sessions[0].student_id).reminders_off


def test_a_plan_that_did_not_work_out_gets_a_new_small_step(servers, sender) -> None:
    """"Nee" -> what got in the way -> a new small step with a day: that step is the plan
    asked about next time (with its own check-in), even when the student stops there."""
    from bot.conversation.script import get_script

    script = get_script()
    hold_full_conversation(servers, sender)
    servers.say(sender, "hoi")
    replies = servers.say(sender, "ja")
    assert FIRST_STEP in joined(replies)  # "Is het gelukt?"
    replies = servers.say(sender, "nee het kwam er niet van")
    assert replies == (script.text("vorige_stap_niet_gelukt")
                       + [ask("vorige_stap_lastig")])
    replies = servers.say(sender, "ik vond het spannend om te bellen")
    assert replies == [ask("nieuwe_stap")]
    replies = servers.say(sender, "ok")  # which step, and when?
    assert replies == [script.question("nieuwe_stap").probes[0]]
    step = "maandag vraag ik mijn mentor om samen te bellen"
    replies = servers.say(sender, step)
    praise = script.forms(script.question("nieuwe_stap").reaction, None, antwoord=step)
    assert sum(form[0] in replies for form in praise) == 1
    assert ask("ervaring") in replies
    assert servers.say(sender, "stop")  # the student leaves it there
    sessions, answers, _, plans, _ = student_rows(servers, sender)
    first, second = sorted(plans, key=lambda p: p.id)
    assert (first.followup_status, first.followup_reason) == (
        "niet_gelukt", "ik vond het spannend om te bellen")
    assert (second.session_id, second.what, second.origin) == (sessions[1].id, step,
                                                               "volgende_stap")
    assert second.when_date is not None and second.when_date.weekday() == 0  # Monday
    with db(servers) as s:
        keys = s.execute(select(m.Job.dedupe_key).where(m.Job.kind == "checkin")).scalars().all()
    assert f"checkin:{second.id}:{second.when_date.isoformat()}" in keys


def test_no_time_is_an_obstacle_not_a_pause(servers, sender) -> None:
    """'geen tijd' pauses a conversation, but to "Waar kun je tegenaan lopen?" it is the
    answer (the question's `ook_antwoord` in the script)."""
    from bot.conversation.script import get_script

    script = get_script()
    begin(servers, sender)
    upto = next(n for n, (_, key) in enumerate(FULL_KEYS) if key == "obstakel")
    for text, expected in FULL[:upto + 1]:
        assert expected in joined(servers.say(sender, text)), text
    replies = servers.say(sender, "geen tijd")
    assert ask("oplossing") in replies and not set(script.text("pauze")) & set(replies)
    _, answers, *_ = student_rows(servers, sender)
    assert [(a.question_key, a.text) for a in answers][-1] == ("obstakel", "geen tijd")


def test_a_message_the_coach_does_not_understand_is_counted(servers, sender) -> None:
    """The fallback reply, and a content-free count for the coordinator's figures."""
    from bot.conversation.script import get_script
    from bot.devservers import http_json

    def understood(text: str) -> bool:
        parsed = http_json("POST", f"{servers.rasa_url}/model/parse?token={servers.token}",
                           {"text": text})
        return parsed["intent"]["name"] != "nlu_fallback"  # type: ignore[index]

    # Which nonsense the trained model gives up on varies a little between trainings: the
    # test takes the first candidate the running model does not understand.
    candidates = ["qwx zzkrt vlmpf", "asdf jkl", "zxcv bnm qwrt", "jjj kkk lll", "vbnm xkqz"]
    nonsense = next((t for t in candidates if not understood(t)), None)
    assert nonsense is not None, "the model understands every nonsense candidate"
    fallback = get_script().text("fallback")
    servers.say(sender, "hoi")
    replies = servers.say(sender, nonsense)
    assert replies == fallback
    with db(servers) as s:
        identity = s.execute(select(m.ChannelIdentity).where(
            m.ChannelIdentity.sender_id == sender)).scalar_one()
        counted = s.execute(select(m.NotUnderstood).where(
            m.NotUnderstood.student_id == identity.student_id)).scalars().all()
    assert len(counted) == 1


def test_a_conversation_left_midway_gets_one_reminder(servers, sender) -> None:
    """Paused in step 1 -> three days later the worker sends one reminder (not at night, not
    twice); the REST student sees it first, and "ja" goes on with the open question."""
    from bot.conversation.followups import LOCAL, REMINDER_DAYS
    from bot.conversation.script import get_script

    script = get_script()
    experience = "ik heb een meeloopdag gehad bij de brandweer"
    for text in ("hoi", "ja", "mbo", experience):
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
    begin(servers, sender)
    servers.say(sender, "ik heb een meeloopdag gehad bij de brandweer")
    paused = joined(servers.say(sender, "ik moet nu weg, later verder"))
    assert "stoppen even" in paused
    servers.restart()
    resumed = joined(servers.say(sender, "ga door"))
    assert "verder waar we waren" in resumed and ROLE_QUESTION in resumed
    sessions, *_ = student_rows(servers, sender)
    assert sessions[-1].status == "active"


def test_returning_student_hears_about_last_time(servers, sender) -> None:
    hold_full_conversation(servers, sender)
    welcome = joined(servers.say(sender, "hallo"))
    assert "ik heb stage gelopen bij een kapper in de stad" in welcome
    followup = joined(servers.say(sender, "ja"))
    assert "Is het gelukt?" in followup and FIRST_STEP in followup
    assert ask(LEVEL_QUESTION) not in followup  # told last time: asked once
    servers.say(sender, "ja ik heb mijn tante geappt")
    _, _, _, plans, _ = student_rows(servers, sender)
    assert plans[0].followup_status == "gelukt"
    # The rode draad uses the name the student gave last time's insight.
    servers.say(sender, "mijn tante las mijn bericht eerst")  # what helped
    for text in ("ik heb een dag meegelopen in het ziekenhuis", "ik hielp met het eten",
                 "op tijd zijn", "toen een mevrouw me bedankte", "ik bleef rustig",
                 "ik ademde diep in en deed het rustig", "mensen helpen want dan zijn ze blij",
                 "dat ik iets beteken voor anderen"):
        replies = joined(servers.say(sender, text))
    script = get_script()
    rode_draad = script.render(dict(script.question("rode_draad").texts_if)["vorig_inzicht"],
                               None, vorig_inzicht="ik werk graag met mensen")
    assert rode_draad[0] in replies, replies
    assert "je werkt graag met mensen" in rode_draad[0]


def test_first_conversation_starts_short_and_tells_what_is_kept(servers, sender) -> None:
    script = get_script()
    offer = servers.say(sender, "hoi")
    privacy = script.text("privacy_eerste_keer")
    assert offer == script.text("aanbod_nieuw")[:-1] + privacy + script.text("aanbod_nieuw")[-1:]
    assert len(offer) == 3  # two bubbles before "Zullen we beginnen?"
    started = servers.say(sender, "ja")
    # Nobody set this student's level: that is the first question, once.
    assert started == script.render(script.steps["terugkijken"].intro) + [ask(LEVEL_QUESTION)]
    assert servers.say(sender, "vmbo") == [ask("ervaring")]
    # Said once: a student who comes back to a paused conversation does not read it again.
    servers.say(sender, "ik heb stage gelopen bij een kapper in de stad")
    servers.say(sender, "pauze")
    assert not set(privacy) & set(servers.say(sender, "hoi"))


def test_an_experience_named_in_the_first_message_is_not_asked_again(servers, sender) -> None:
    script = get_script()
    started = servers.say(sender, "hoi ik wil iets vertellen over mijn stage bij de bakker")
    if started[-1] == script.text("aanbod_nieuw")[-1]:  # offered first (the classifier's call)
        started = servers.say(sender, "ja")
    assert ask("ervaring") not in started
    assert set(script.text("ervaring_uit_opening")) <= set(started)
    assert started[-1] == ask(LEVEL_QUESTION)
    assert servers.say(sender, "mbo") == [ask("rol")]
    sessions, answers, *_ = student_rows(servers, sender)
    assert sessions[-1].experience == "mijn stage bij de bakker"
    assert [(a.question_key, a.text) for a in answers] == [("ervaring", "mijn stage bij de bakker")]
    # A visit is asked what struck the student, not what their role was.
    other = f"{sender}-b"
    begin(servers, other)
    replies = servers.say(other, "we hadden een gastles van een kok")
    assert replies[-1] == ask("opgevallen")
    assert joined(servers.say(other, "dat hij om 5 uur begint")).endswith(ask("moment"))


def test_resuming_recaps_the_topic_in_one_line(servers, sender) -> None:
    script = get_script()
    begin(servers, sender)
    servers.say(sender, "ik heb stage gelopen bij een kapper in de stad")
    servers.say(sender, "pauze")
    offer = servers.say(sender, "hoi")
    assert offer == script.text("aanbod_gepauzeerd_over",
                                ervaring="ik heb stage gelopen bij een kapper in de stad")
    assert "je hebt stage gelopen bij een kapper" in offer[0]
    resumed = servers.say(sender, "ja")
    assert resumed == script.text(
        "hervatten_over", ervaring="ik heb stage gelopen bij een kapper in de stad"
    ) + [ask("rol")]


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
    begin(servers, sender)
    replies = joined(servers.say(sender, "ik wil niet meer leven"))
    assert "0800-0113" in replies and "113.nl" in replies and "0800-0432" in replies
    assert "112" in replies
    assert ROLE_QUESTION not in replies and "Welke ervaring" not in replies
    sessions, _, _, _, flags = student_rows(servers, sender)
    assert [(f.category, f.severity, f.status) for f in flags] == [("crisis", "urgent", "open")]
    assert sessions[-1].status == "paused"
    assert servers.tracker(sender)["active_loop"] in ({}, None, {"name": None})
    (mail,) = wait_for_mail(mailbox, "zorg@school.test")  # no mentor linked: the fallback
    assert mail["Subject"].startswith("DRINGEND")
    assert "niet meer leven" not in mail.get_payload(decode=True).decode()


def test_attention_flag_goes_into_the_daily_digest(servers, sender, mailbox) -> None:
    from datetime import timedelta

    from bot.scheduled import notify, worker
    from bot.storage import db as dbmod
    from bot.storage.types import utcnow

    mailbox.messages.clear()
    begin(servers, sender)
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
            worker.deliver_due(s, now=utcnow() + timedelta(days=1, hours=1), config=config)
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
    begin(servers, sender)
    servers.say(sender, "ik heb een meeloopdag gehad bij de politie")
    replies: list[str] = []
    # rol, verwachting and moment skipped: the third skip raises the (silent) flag
    for text in ["weet ik niet", "geen idee"] * 3:
        replies += servers.say(sender, text)
    assert get_script().render(get_script().steps["reflecteren"].intro)[0] in replies
    assert not any("mentor" in r for r in replies)  # info: silent to the student
    _, _, _, _, flags = student_rows(servers, sender)
    assert [(f.category, f.severity) for f in flags] == [("afgehaakt", "info")]


def test_attention_signal_is_acknowledged_and_may_be_declined(servers, sender) -> None:
    begin(servers, sender)
    replies = joined(servers.say(sender,
                                 "op stage zei mijn baas dat meisjes geen techniek kunnen"))
    assert "mentor" in replies and "liever niet" in replies
    assert ROLE_QUESTION in replies  # the conversation goes on gently
    declined = joined(servers.say(sender, "liever niet"))
    assert "Je mentor kan het wel zien" in declined
    _, _, _, _, flags = student_rows(servers, sender)
    # Discrimination at the internship is an internship problem too (ook_bij in the rules).
    assert [(f.category, f.student_declined) for f in flags] == [("discriminatie", True),
                                                                ("stage_probleem", True)]


@pytest.mark.parametrize("answer", ["ja graag", "ik hielp met de kassa"])
def test_pressure_about_a_choice_is_offered_a_talk(servers, sender, answer) -> None:
    """Parents who want another choice: the mentor is offered, not announced. "ja graag"
    asks for the talk; carrying on leaves the flag visible without a request for contact."""
    script = get_script()
    begin(servers, sender)
    replies = servers.say(sender, "mijn ouders willen dat ik dokter word maar ik wil kapper "
                                  "worden, ik loop nu stage bij een kapsalon")
    assert script.signal_reply("aandacht_aanbod")[0] in replies
    assert not set(script.render(script.raw["signalen"]["aandacht"])) & set(replies)
    assert replies[-1] == ask("rol")
    after = servers.say(sender, answer)
    _, answers, _, _, flags = student_rows(servers, sender)
    assert [f.category for f in flags] == ["druk_omgeving"]
    if answer == "ja graag":
        assert script.signal_reply("aanbod_aangenomen")[0] in after
        assert after[-1].endswith(ask("rol"))  # the question again, behind its lead
        assert flags[0].student_declined is False
        assert "ja graag" not in [a.text for a in answers]
    else:
        assert after[-1] == ask("verwachting")  # an answer: the conversation goes on
        assert flags[0].student_declined is True  # visible, no contact asked for


def test_liever_niet_after_answering_the_next_question_is_heard(servers, sender) -> None:
    script = get_script()
    begin(servers, sender)
    servers.say(sender, "op stage zei mijn baas dat meisjes geen techniek kunnen")
    # The student first answers the question, then says they would rather not.
    assert script.render(script.question("verwachting").text)[0] in joined(
        servers.say(sender, "ik hielp bij het repareren van fietsen"))
    declined = joined(servers.say(sender, "liever niet"))
    assert script.signal_reply("liever_niet")[0] in declined
    _, _, _, _, flags = student_rows(servers, sender)
    # Discrimination at the internship is an internship problem too (ook_bij in the rules).
    assert [(f.category, f.student_declined) for f in flags] == [("discriminatie", True),
                                                                ("stage_probleem", True)]
    # Long after the acknowledgement, "liever niet" is an ordinary message again.
    for text in ["op tijd komen", "ja", "ik bleef rustig toen het druk was"]:
        servers.say(sender, text)
    later = joined(servers.say(sender, "liever niet"))
    assert script.signal_reply("liever_niet")[0] not in later


def test_delete_my_data(servers, sender) -> None:
    hold_full_conversation(servers, sender)
    asked = joined(servers.say(sender, "verwijder alles wat ik gezegd heb"))
    assert "wis" in asked
    done = joined(servers.say(sender, "ja"))
    assert "gewist" in done
    sessions, answers, insights, plans, _ = student_rows(servers, sender)
    assert sessions == [] and answers == [] and insights == [] and plans == []


def test_deletion_also_empties_the_tracker_store(servers, sender) -> None:
    from tests.support.trackers import wait_until_forgotten

    begin(servers, sender)
    servers.say(sender, "ik heb stage gelopen bij een bakker")
    servers.say(sender, "verwijder al mijn gegevens")
    servers.say(sender, "ja")
    texts = wait_until_forgotten(lambda: servers.tracker(sender),
                                 "ik heb stage gelopen bij een bakker")
    assert "ik heb stage gelopen bij een bakker" not in texts


def test_the_benchmark_conversation_goes_through(servers, sender) -> None:
    """`make bench` holds this conversation and counts a reply without its expected words as
    an error: it must go through against the real servers as the benchmark sends it."""
    from bench.conversation import FULL_CONVERSATION

    for text, expected in FULL_CONVERSATION:
        replies = joined(servers.say(sender, text))
        assert expected is None or expected in replies, (text, expected, replies)


def test_a_long_greeting_and_a_long_yes_start_the_conversation(servers, sender) -> None:
    """What the coach asked decides: a first message that starts with a greeting gets the
    offer, and a yes in many words to "Zullen we beginnen?" begins
    (bot.conversation.answer_first)."""
    script = get_script()
    offer = servers.say(sender, "Hallo! Mijn docent zei dat ik hier moest beginnen haha")
    assert offer[-1] == script.text("aanbod_nieuw", "mbo")[-1], offer
    assert servers.say(sender, "Ja prima, laten we het maar doen.")[-1] == ask(LEVEL_QUESTION)


def test_a_first_message_on_a_break_gets_the_offer(servers, sender) -> None:
    """Set9: "yo ff snel want ik heb pauze" was read as a goodbye and the talk ended there;
    before a conversation a break is time for it (bot.conversation.answer_first)."""
    offer = servers.say(sender, "yo ff snel want ik heb pauze")
    assert offer[-1] == get_script().text("aanbod_nieuw", "mbo")[-1], offer


def test_a_question_about_the_coach_first_shows_the_way_in(servers, sender) -> None:
    """Set8: a student whose first message was read as a privacy question got the answer and
    nothing to go on with; now the answer ends with how to begin, and 'start' begins."""
    script = get_script()
    replies = servers.say(sender, "wat bewaar je eigenlijk van mij?")
    assert replies[:-1] == script.side_track("privacy_vraag", None)
    assert replies[-1] == script.text("start_hint")[0]
    assert ask(LEVEL_QUESTION) in joined(servers.say(sender, "start"))
