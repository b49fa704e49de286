"""The conversation rubric (bot.conversation.rubric) on hand-made transcripts: every criterion can
pass and fail, and coach texts are recognised through the script."""

from __future__ import annotations

from datetime import date

import pytest

from bot.conversation import rubric
from bot.conversation.rubric import Transcript, Turn
from bot.conversation.script import load


@pytest.fixture(scope="module")
def script():
    return load()


def _t(*turns: tuple[str, list[str]], plan: dict | None = None) -> Transcript:
    return Transcript("t", None, [Turn(s, tuple(b)) for s, b in turns], plan)


def _ask(script, key: str) -> str:
    return script.render(script.question(key).text, None)[0]


def test_an_experience_in_the_opening_is_not_asked_again(script) -> None:
    opening = "ik wil iets vertellen over mijn stage bij de bakker"
    asked = _t((opening, ["Leuk!"]), ("ja", [_ask(script, "ervaring")]))
    built_on = _t((opening, ["Leuk!"]), ("ja", [_ask(script, "rol")]))
    assert rubric.builds_on_opening(asked, script) is False
    assert rubric.builds_on_opening(built_on, script) is True
    assert rubric.builds_on_opening(_t(("hoi", ["Hoi!"])), script) is None
    # A long opening that names no experience leaves it to be asked.
    duty = "hallo, mijn mentor zei dat ik dit gesprek moest doen"
    assert rubric.builds_on_opening(_t((duty, ["Leuk!"]), ("ja", [_ask(script, "ervaring")])),
                                    script) is None


def test_moment_why_and_values(script) -> None:
    good = _t(("a", ["Welk moment is je het meest bijgebleven?", "Waarom vond je dat leuk?",
                     "Wat zegt dit over wat jij belangrijk vindt?"]))
    bare = _t(("a", [_ask(script, "leuk_niet_leuk")]), ("leuk", ["Wat deed je?"]))
    for check in (rubric.concrete_moment, rubric.asks_why, rubric.links_to_values):
        assert check(good, script) is True and check(bare, script) is False
    # No why needed when the student gave the reason, or left the liking question open.
    for answer in ("leuk want ik hou van mensen", "overslaan"):
        told = _t(("a", [_ask(script, "leuk_niet_leuk")]), (answer, ["Wat deed je?"]))
        assert rubric.asks_why(told, script) is None


def test_praise_must_name_what_the_student_did(script) -> None:
    named = _t(("ik heb de klanten zelf geholpen", ["Sterk! Je hebt klanten geholpen."]))
    # After "nee" to a safety check the praise is about the answer the check interrupted.
    checked = _t(("ik heb de klanten zelf geholpen", ["Denk je erover ...?"]),
                 ("nee", ["Dank je.", "Sterk! Je hebt klanten geholpen."]))
    assert rubric.specific_praise(checked, script) is True
    bare = _t(("ik heb de klanten zelf geholpen", ["Sterk!"]))
    assert rubric.specific_praise(named, script) is True
    assert rubric.specific_praise(bare, script) is False
    assert rubric.specific_praise(_t(("a", ["Wat deed je?"])), script) is None


def test_summaries_short_and_second_person(script) -> None:
    step = script.steps["terugkijken"]
    head = script.render(step.summary_head, None)[0]
    ask = script.render(step.summary_question, None)[0]
    short = _t(("a", [head, "Je hielp bij de kassa.", ask]))
    first_person = _t(("a", [head, "• Jouw rol: “ik hielp bij de kassa”", ask]))
    long = _t(("a", [head, "Je a.", "Je b.", "Je c.", "Je d.", ask]))
    assert rubric.summary_form(short, script) is True
    assert rubric.summary_form(first_person, script) is False
    assert rubric.summary_form(long, script) is False
    assert rubric.few_check_rounds(_t(("a", [ask]), ("b", [ask]), ("c", [ask])), script) is False
    assert rubric.few_check_rounds(short, script) is True


def test_repetition_share_plan_and_start(script) -> None:
    assert rubric.no_repeated_line(_t(("a", ["Top!"]), ("b", ["Top!"])), script) is False
    assert rubric.no_repeated_line(_t(("a", ["Top!"]), ("b", ["Mooi."])), script) is True
    talkative = _t(("ja", ["een twee drie vier vijf zes zeven acht negen tien"]))
    assert rubric.student_share_ok(talkative, script) is False
    assert rubric.student_share(_t(("een twee", ["drie twee"]))) == 0.5
    assert rubric.complete_plan(_t(plan={"what": "appen", "who": "tante",
                                         "when_date": date(2026, 12, 4)}), script) is True
    assert rubric.complete_plan(_t(plan={"what": "appen", "who": None,
                                         "when_date": None}), script) is False
    long_start = _t(("hoi", ["a"]), ("ja", ["b", "c", "d", "Wat deed je?"]))
    short_start = _t(("hoi", ["a"]), ("ja", ["b", "Wat deed je?"]))
    assert rubric.short_start(long_start, script) is False
    assert rubric.short_start(short_start, script) is True


def test_closing_and_derailing_come_from_the_script(script) -> None:
    closing = script.text("afronden", None)
    praised = ["Mooi hoe je dat bij de bakker aanpakte.", *closing]
    assert rubric.closing(_t(("ja klopt", praised)), script) is True
    with_plan = script.text("afronden_met_plan", None, wat="ik app mijn oom", dag="morgen")
    assert rubric.closing(_t(("ja klopt", with_plan)), script) is True
    assert rubric.closing(_t(("ja klopt", praised[:1])), script) is False  # no closing
    assert rubric.closing(_t(("ja klopt", ["Dag!"])), script) is False
    paused = _t(("ik heb geen tijd", script.text("pauze", None)))
    assert rubric.not_derailed(paused, script) is False
    assert rubric.not_derailed(_t(("a", ["Wat deed je?"])), script) is True


def test_score_counts_only_where_a_criterion_applies(script) -> None:
    plain = _t(("hoi", ["Hoi!"]), ("ja", ["Wat deed je?"]))
    scores = {s.key: s for s in rubric.score([plain], script)}
    assert scores["bouwt_voort"].applicable == 0
    assert (scores["geen_herhaling"].passed, scores["geen_herhaling"].applicable) == (1, 1)
    assert scores["concreet_moment"].failed_ids == ["t"]
    assert "Gesprekken: 1" in rubric.report(list(scores.values()), [plain])


def test_the_report_holds_the_typical_conversation_to_the_share_bar(script) -> None:
    """The share's bar is the median conversation; each conversation's share stays listed."""
    talkative = _t(("ja", ["een twee drie vier vijf zes zeven acht negen tien"]))
    even = _t(("een twee", ["drie twee"]))
    scores = rubric.score([talkative, even, even], script)
    assert rubric.median_share([talkative, even, even]) == 0.5
    typical = [line for line in rubric.report(scores, [talkative, even, even]).splitlines()
               if line.startswith("| Typisch gesprek")]
    assert typical == ["| Typisch gesprek: student schrijft ≥ 35% van de woorden (mediaan 50%)"
                       " | 1 | 1 | 100% |"]
    low = rubric.report(rubric.score([talkative, talkative, even], script),
                        [talkative, talkative, even])
    assert "(mediaan 9%) | 0 | 1 | 0% |" in low
