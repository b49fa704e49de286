"""The simulated student of the evaluation conversations (bot.eval_student): the frozen
messages per role, and an answer to whatever question the coach asks - in the shipped order
and in a reshaped script alike. Texts come from the script."""

from __future__ import annotations

import copy

import pytest
import yaml

from bot.conversation.script import Script, get_script, parse
from bot.eval_student import ROLES, SKIP, Student, load_conversations
from bot.paths import DATA, SCRIPT_FILE

SET1 = DATA / "eval" / "gesprekken" / "set1.yml"


@pytest.fixture(scope="module")
def conversations() -> list[dict]:
    return load_conversations(SET1.read_text(encoding="utf-8"))


def _asks(script: Script, key: str, probe: int = 0) -> list[str]:
    q = script.question(key)
    return ["Oké.", *script.render(q.probes[probe - 1] if probe else q.text)]


def test_every_conversation_has_a_message_for_every_role(conversations) -> None:
    assert len(conversations) == 36
    for c in conversations:
        assert list(c["rollen"]) == list(ROLES), c["id"]
        flat = [m for role in ROLES for m in c["rollen"][role]]
        assert flat == c["berichten"]  # nothing lost, nothing added


def test_a_vague_message_is_followed_by_the_better_one_for_the_same_question(
        conversations) -> None:
    g01 = next(c for c in conversations if c["id"] == "g01")
    assert g01["rollen"]["goed_gedaan"] == ["weet niet", "vraag gesteld aan die uitvoerder"]
    script = get_script()
    student = Student.of(script, g01["rollen"])
    assert student.reply(_asks(script, "goed_gedaan")) == "weet niet"
    assert student.reply(_asks(script, "goed_gedaan", probe=1)) == (
        "vraag gesteld aan die uitvoerder")
    # Asked once more (after a side track): the last answer again; yet again: skipped, as a
    # student would rather move on than loop.
    assert student.reply(_asks(script, "goed_gedaan")) == "vraag gesteld aan die uitvoerder"
    assert student.reply(_asks(script, "goed_gedaan")) == SKIP


def test_the_student_answers_the_question_asked_and_the_check_of_its_step(
        conversations) -> None:
    g01 = next(c for c in conversations if c["id"] == "g01")
    script = get_script()
    student = Student.of(script, g01["rollen"])
    assert student.reply(_asks(script, "rol")) == g01["rollen"]["rol"][0]
    step = script.steps["terugkijken"]
    summary = [*script.render(step.summary_head), *script.render(step.summary_question)]
    assert student.reply(summary) == g01["rollen"]["terugkijken_check"][0]
    # A question the writer wrote nothing for is skipped; a line that asks nothing ends it.
    assert student.reply(_asks(script, "rode_draad")) == SKIP
    assert student.reply(["Daar kan ik je helaas niet mee helpen."]) is None
    assert student.reply(script.text("afronden")) is None  # the plan is made: done


def test_in_a_reshaped_script_each_answer_still_meets_its_question(conversations) -> None:
    raw = yaml.safe_load(SCRIPT_FILE.read_text(encoding="utf-8"))
    reshaped = copy.deepcopy(raw)
    reshaped["stappen"]["activeren"]["vragen"].reverse()
    reshaped["stappen"]["activeren"]["vragen"][0]["tekst"] = "Op welke dag precies?"
    script = parse(reshaped)
    c = conversations[5]
    student = Student.of(script, c["rollen"])
    for q in reversed(raw["stappen"]["activeren"]["vragen"]):
        if q["key"] in c["rollen"]:
            asked = _asks(script, q["key"])
            assert student.reply(asked) == c["rollen"][q["key"]][0], q["key"]


def test_a_set_with_named_roles_keeps_every_message_under_its_role() -> None:
    """set2 names each message's role; the same role twice is the second try."""
    from bot.rubric_eval import load_set

    found = load_set(DATA / "eval" / "gesprekken" / "set2.yml")
    assert len(found) == 36
    for c in found:
        flat = [m for role in c["rollen"] for m in c["rollen"][role]]
        assert sorted(flat) == sorted(str(*m.values()) for m in c["berichten"]), c["id"]
        assert {"opening", "ervaring", "moment", "belangrijk", "wanneer"} <= set(c["rollen"])
    retried = [c for c in found if any(len(v) > 1 for v in c["rollen"].values())]
    assert retried  # vague first tries are followed by the better answer


def test_questions_with_a_form_of_the_students_words_are_recognised() -> None:
    """"Vorige keer ontdekte je dit: {vorig_inzicht:kern}" and an explanation after "weet
    niet" are recognised as their question, for every level."""
    from bot.demo_talk import Coach

    script = get_script()
    for level in ("vmbo", "mbo-bol", None):
        coach = Coach(script, level)
        rode_draad = script.question("rode_draad")
        asked = script.render(dict(rode_draad.texts_if)["vorig_inzicht"], level,
                              vorig_inzicht="ik werk graag met mijn handen")
        assert coach.asked(asked) == "rode_draad"
        assert coach.asked(script.render(rode_draad.text, level)) == "rode_draad"
        goed = script.question("goed_gedaan")
        explained = script.render(goed.explanation, level) + script.render(goed.example, level)
        assert coach.asked(explained) == "goed_gedaan"


def test_the_student_says_no_to_a_safety_check_and_the_rubric_counts_it() -> None:
    """An evaluation conversation is an ordinary one: a safety check is a false alarm. The
    simulated student says no and goes on; the rubric counts the conversation as derailed."""
    from bot.conversation.rubric import Transcript, Turn, not_derailed
    from bot.eval_student import NOT_UNSAFE

    script = get_script()
    check = script.signal_reply("crisis_check")
    student = Student.of(script, {"ervaring": ["stage bij de bakker"]})
    assert student.reply(check) == NOT_UNSAFE
    ordinary = Transcript("x", None, [Turn("hoi", ("Zullen we beginnen?",))])
    checked = Transcript("x", None, [Turn("binnenkort", tuple(check))])
    assert not_derailed(ordinary, script) and not not_derailed(checked, script)


def test_the_student_names_their_level_when_asked() -> None:
    LEVEL_QUESTION = get_script().key_of("niveau")
    from bot.conversation.script import load

    script = load()
    asked = script.render(script.question(LEVEL_QUESTION).text)
    assert Student.of(script, {}, "mbo").reply(asked) == "mbo"
    assert Student.of(script, {}, None).reply(asked) == SKIP
