"""Coaching behaviour inside a step (bot.coaching), without Rasa."""

from datetime import date

import pytest

from bot.coaching import (
    CONFIRMED,
    SKIPPED,
    Mode,
    Reply,
    State,
    ask_messages,
    handle_answer,
    handle_check,
    is_vague,
    overview_messages,
    required_slots,
)
from bot.script import load


@pytest.fixture(scope="module")
def script():
    return load()


def answer(text: str, intent: str = "vertellen", confidence: float = 0.95) -> Reply:
    return Reply(text, intent, confidence)


@pytest.mark.parametrize("text", ["gewoon", "ging wel", "ik vond het wel leuk", "niks", "ok",
                                  "was best goed eigenlijk"])
def test_vague_answers(script, text) -> None:
    assert is_vague(text, script)


@pytest.mark.parametrize("text", ["ik hielp klanten bij de kassa", "vakken vullen in de ah",
                                  "ik bleef rustig toen het druk was"])
def test_concrete_answers(script, text) -> None:
    assert not is_vague(text, script)


def test_vague_answer_is_probed_at_most_twice_then_accepted(script) -> None:
    question = script.question("ervaring")
    state = State()
    first = handle_answer(script, question, answer("gewoon"), state)
    assert first.value is None and first.state.mode == Mode.PROBE and first.state.probes == 1
    second = handle_answer(script, question, answer("ging wel"), first.state)
    assert second.value is None and second.state.probes == 2
    third = handle_answer(script, question, answer("niks"), second.state)
    assert third.value == "niks"  # no third probe: move on, without judging
    assert third.say == script.text("verder_zonder_druk")
    assert third.state == State()


def test_concrete_answer_is_kept_in_the_students_words(script) -> None:
    outcome = handle_answer(script, script.question("ervaring"),
                            answer("  ik heb stage gelopen bij een kapper "), State())
    assert outcome.value == "ik heb stage gelopen bij een kapper"
    assert outcome.store_as == "answer"


def test_praise_quotes_only_what_the_student_said(script) -> None:
    outcome = handle_answer(script, script.question("goed_gedaan"),
                            answer("ik bleef rustig toen het druk was"), State())
    assert any("ik bleef rustig toen het druk was" in line for line in outcome.say)


def test_dont_know_explains_then_skips(script) -> None:
    question = script.question("rol")
    first = handle_answer(script, question, answer("weet ik niet", "weet_niet"), State())
    assert first.value is None and first.state.mode == Mode.EXPLAIN
    asked = ask_messages(script, script.steps["terugkijken"], "rol", first.state, {})
    assert any("'weet ik niet'" in line for line in asked)  # the offer to skip
    assert any("Bijvoorbeeld" in line for line in asked)
    second = handle_answer(script, question, answer("geen idee", "weet_niet"), first.state)
    assert second.value == SKIPPED and second.store_as == "skip"
    assert second.say == script.text("overgeslagen")


def test_what_do_you_mean_gets_an_explanation_and_example(script) -> None:
    outcome = handle_answer(script, script.question("verwachting"),
                            answer("wat bedoel je", "uitleg_gevraagd"), State())
    assert outcome.value is None and outcome.state.mode == Mode.EXPLAIN
    lines = ask_messages(script, script.steps["terugkijken"], "verwachting", outcome.state, {})
    question = script.question("verwachting")
    assert script.render(question.explanation)[0] in lines
    assert lines[-1] == script.render(question.text)[0]


@pytest.mark.parametrize("intent", ["bot_vraag", "privacy_vraag", "frustratie",
                                    "buiten_bereik", "overzicht_gevraagd", "mentor_gevraagd"])
def test_side_track_then_back_to_the_same_question(script, intent) -> None:
    outcome = handle_answer(script, script.question("rol"), answer("…", intent), State())
    assert outcome.side_track == intent and outcome.value is None
    lines = ask_messages(script, script.steps["terugkijken"], "rol", outcome.state, {})
    assert lines[0] == script.text("terug_naar_vraag")[0]
    assert lines[-1] == script.render(script.question("rol").text)[0]


def test_unsure_intent_counts_as_an_answer(script) -> None:
    outcome = handle_answer(script, script.question("rol"),
                            answer("ik was hulpje in de keuken", "bot_vraag", 0.4), State())
    assert outcome.value == "ik was hulpje in de keuken"


def test_date_question_probes_until_a_day(script) -> None:
    question = script.question("wanneer")
    today = date(2026, 11, 23)
    vague = handle_answer(script, question, answer("binnenkort"), State(), today=today)
    assert vague.value is None and vague.state.mode == Mode.PROBE
    good = handle_answer(script, question, answer("vrijdag na school"), vague.state, today=today)
    assert good.value == "vrijdag na school" and good.when == date(2026, 11, 27)


def test_summary_check_confirm_and_correct(script) -> None:
    assert handle_check(script, answer("klopt", "bevestigen"), State()).value == CONFIRMED
    no = handle_check(script, answer("nee", "ontkennen"), State())
    assert no.value is None and no.state.mode == Mode.CORRECT
    lines = ask_messages(script, script.steps["terugkijken"], "terugkijken_check", no.state, {})
    assert lines == script.text("correctie_vraag")
    fixed = handle_check(script, answer("ik werkte bij de jumbo niet de ah"), no.state)
    assert fixed.value == "ik werkte bij de jumbo niet de ah" and fixed.store_as == "correction"


def test_summary_uses_the_students_own_words(script) -> None:
    slots = {"ervaring": "stage bij de kapper", "rol": "haren wassen", "verwachting": SKIPPED}
    lines = ask_messages(script, script.steps["terugkijken"], "terugkijken_check", State(), slots)
    text = "\n".join(lines)
    assert "“stage bij de kapper”" in text and "“haren wassen”" in text
    assert SKIPPED not in text
    assert lines[-1] == "Klopt dat?"


def test_step_intro_only_when_starting(script) -> None:
    step = script.steps["reflecteren"]
    first = ask_messages(script, step, "goed_gedaan", State(), {}, starting_step=True)
    later = ask_messages(script, step, "goed_gedaan", State(), {}, starting_step=False)
    assert len(first) == len(later) + 1


def test_follow_up_of_previous_plan(script) -> None:
    question = script.question("vorige_stap")
    done = handle_answer(script, question, answer("ja heb ik gedaan", "bevestigen"), State())
    assert done.followup_status == "gelukt" and done.store_as == "followup"
    not_done = handle_answer(script, question, answer("nee kwam er niet van", "ontkennen"),
                             State())
    assert not_done.followup_status == "niet_gelukt"


def test_conditional_questions(script) -> None:
    assert required_slots(script, "terugkijken", {})[0] == "ervaring"
    assert required_slots(script, "terugkijken", {"vorig_plan": "mailen"})[0] == "vorige_stap"
    assert required_slots(script, "reflecteren", {"vorige_ervaring": "kapper"})[0] == "rode_draad"
    assert required_slots(script, "activeren", {})[-1] == "activeren_check"


def test_overview_messages(script) -> None:
    assert overview_messages(script, []) == script.text("overzicht_leeg")
    lines = overview_messages(script, [("kwaliteiten", "ik ben een doorzetter")])
    assert "Ontdek je talent" in lines[1] and "ik ben een doorzetter" in lines[1]


def test_my_mentor_is_an_answer_to_who_can_help(script) -> None:
    outcome = handle_answer(script, script.question("hulp_contact"),
                            answer("mijn mentor", "mentor_gevraagd"), State())
    assert outcome.value == "mijn mentor" and outcome.side_track is None
    elsewhere = handle_answer(script, script.question("rol"),
                              answer("ik wil met mijn mentor praten", "mentor_gevraagd"),
                              State())
    assert elsewhere.side_track == "mentor_gevraagd"
