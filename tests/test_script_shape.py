"""A school reshapes the conversation in its script version, and the running assistant follows
without retraining: questions in another order, a whole step switched off, a step without its
summary check. Against the real Rasa and action servers; texts come from the version's script."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import yaml

from bench.conversation import closing_line
from bot.conversation import live_config
from bot.conversation.script import Script, get_script, parse
from bot.paths import SCRIPT_FILE
from bot.portal import yaml_roundtrip
from bot.storage import config_versions as versions
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import School
from tests.test_conversation import student_rows

pytestmark = pytest.mark.rasa


def _reshaped() -> str:
    """Step 1 asks `verwachting` before `rol` and has no summary check; step 2 is off; step 3
    gets its summary check back (the shipped script has none there)."""
    doc = yaml_roundtrip.load(SCRIPT_FILE.read_text(encoding="utf-8"))
    questions = doc["stappen"]["terugkijken"]["vragen"]
    keys = [q["key"] for q in questions]
    rol, verwachting = keys.index("rol"), keys.index("verwachting")
    questions[rol], questions[verwachting] = questions[verwachting], questions[rol]
    doc["stappen"]["terugkijken"]["controle"] = False
    doc["stappen"]["reflecteren"]["aan"] = False
    doc["stappen"]["vooruitkijken"]["controle"] = True
    return yaml_roundtrip.dump(doc)


def _school_with(servers, content: str, summary: str) -> int:  # noqa: ANN001
    """A new school whose script version is `content`; the action server has noticed it."""
    dbmod.configure(servers.env["DATABASE_URL"])
    try:
        with dbmod.session_scope() as db:
            # The school set a level: its students are not asked for one.
            row = School(name=f"Vorm College {uuid.uuid4().hex[:6]}", default_level="mbo-bol")
            db.add(row)
            db.flush()
            versions.save(db, "script", row.id, content, summary, None)
            school_id = row.id
    finally:
        dbmod.configure(None)
    time.sleep(live_config.CACHE_SECONDS + 0.5)  # the action server notices versions exist
    return school_id


@pytest.fixture(scope="module")
def school(servers) -> Iterator[tuple[int, Script]]:  # noqa: ANN001 - tests.conftest.Servers
    content = _reshaped()
    yield _school_with(servers, content, "Andere volgorde."), parse(yaml.safe_load(content))


def _student(servers, school_id: int) -> str:  # noqa: ANN001
    sender = f"vorm-{uuid.uuid4().hex[:10]}"
    dbmod.configure(servers.env["DATABASE_URL"])
    try:
        with dbmod.session_scope() as db:
            repo.get_or_create_student(db, "rest", sender).school_id = school_id
    finally:
        dbmod.configure(None)
    return sender


def _question(script: Script, key: str) -> str:
    return script.render(script.question(key).text)[0]


def test_reordered_questions_a_step_off_and_no_check(servers, school) -> None:  # noqa: ANN001
    school_id, script = school
    sender = _student(servers, school_id)

    def say(text: str) -> str:
        return "\n".join(servers.say(sender, text))

    say("hoi")
    assert _question(script, "ervaring") in say("ja")
    # The school's order: verwachting before rol.
    assert _question(script, "verwachting") in say("ik liep stage bij een fietsenmaker")
    assert _question(script, "rol") in say("op tijd zijn en netjes werken")
    assert _question(script, "moment") in say("ik plakte banden en hielp klanten")
    # No summary check after step 1, and step 2 (reflecteren) is skipped entirely.
    after_step_one = say("toen een klant blij was met zijn gerepareerde fiets")
    check_question = script.render(script.steps["terugkijken"].summary_question)[0]
    assert check_question not in after_step_one
    assert script.render(script.steps["vooruitkijken"].intro)[0] in after_step_one
    assert _question(script, "uitproberen") in after_step_one
    for q in script.steps["reflecteren"].questions:
        assert _question(script, q.key) not in after_step_one
    # Step 3 keeps its summary check; then step 4 and the closing as usual.
    assert _question(script, "nodig_voor_keuze") in say("een dag meelopen bij een autobedrijf")
    assert script.render(script.steps["vooruitkijken"].summary_question)[0] in say(
        "weten of techniek echt iets voor mij is")
    assert _question(script, "eerste_stap") in say("ja")
    assert _question(script, "hulp_contact") in say("bij de garage vragen of ik mag meekijken")
    assert _question(script, "obstakel") in say("mijn oom werkt bij een garage")
    assert _question(script, "oplossing") in say("ik durf het niet goed te vragen")
    assert _question(script, "wanneer") in say("ik oefen het eerst met mijn moeder")
    say("zaterdag")
    closing = say("ja")
    # One sentence with the plan (its list was summed up just before).
    assert closing.split("\n") == [closing_line(script, "bij de garage vragen of ik mag meekijken",
                                                 "zaterdag")]
    sessions, answers, _, plans, _ = student_rows(servers, sender)
    assert [s.status for s in sessions] == ["completed"]
    stored = {a.question_key: a.text for a in answers}
    assert stored["rol"] == "ik plakte banden en hielp klanten"
    assert stored["verwachting"] == "op tijd zijn en netjes werken"
    assert not {q.key for q in script.steps["reflecteren"].questions} & set(stored)
    assert [p.what for p in plans] == ["bij de garage vragen of ik mag meekijken"]


NEW_QUESTION = {"key": "eerste_indruk",
                "tekst": "Wat was je eerste indruk toen je daar binnenkwam?",
                "uitleg": "Wat zag of voelde je op de eerste dag?",
                "voorbeeld": "Bijvoorbeeld: het was er druk en iedereen was aardig."}


def _with_a_new_question() -> str:
    """Step 1 gets a question the model never saw (after the experience), and loses `moment`;
    the step ends with its summary check, which shows the new answer."""
    doc = yaml_roundtrip.load(SCRIPT_FILE.read_text(encoding="utf-8"))
    step = doc["stappen"]["terugkijken"]
    questions = step["vragen"]
    questions.insert([q["key"] for q in questions].index("ervaring") + 1, NEW_QUESTION)
    del questions[[q["key"] for q in questions].index("moment")]
    del step["samenvatting"]["regels"]["moment"]
    step["samenvatting"]["regels"]["eerste_indruk"] = "• Je eerste indruk: {eerste_indruk:kern}"
    step.pop("controle", None)  # with its summary check
    return yaml_roundtrip.dump(doc)


def test_a_question_added_to_the_script_is_asked_without_retraining(servers) -> None:  # noqa: ANN001
    content = _with_a_new_question()
    script = parse(yaml.safe_load(content))
    sender = _student(servers, _school_with(servers, content, "Een nieuwe vraag."))

    def say(text: str) -> str:
        return "\n".join(servers.say(sender, text))

    say("hoi")
    assert _question(script, "ervaring") in say("ja")
    assert _question(script, "eerste_indruk") in say("ik liep stage bij een fietsenmaker")
    assert _question(script, "rol") in say("het was er rommelig maar iedereen was aardig")
    assert _question(script, "verwachting") in say("ik plakte banden en hielp klanten")
    summary = say("op tijd zijn en netjes werken")
    assert "Je eerste indruk:" in summary and "rommelig" in summary
    removed = get_script().render(get_script().question("moment").text)[0]
    assert removed not in summary
    assert script.render(script.steps["terugkijken"].summary_question)[0] in summary
    step_two = say("ja")
    first_of_two = next(q for q in script.steps["reflecteren"].questions
                        if q.enabled and q.only_if is None)
    assert _question(script, first_of_two.key) in step_two
    _, answers, _, _, _ = student_rows(servers, sender)
    stored = {a.question_key: a.text for a in answers if a.kind == "answer"}
    assert stored["eerste_indruk"] == "het was er rommelig maar iedereen was aardig"
    assert "moment" not in stored
