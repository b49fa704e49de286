"""The closing (bot.conversation.closing): one sentence with the student's first step and its
day, in the script's words; without a step or a day, or in a script without that text, the
plain closing."""

from __future__ import annotations

from datetime import date

import pytest

from bot.conversation.closing import closing_lines, day_words
from bot.conversation.dates import spoken_day
from bot.conversation.echo import kern
from bot.conversation.script import Script, load

TODAY = date(2026, 12, 7)  # a Monday


@pytest.fixture(scope="module")
def script() -> Script:
    return load()


@pytest.mark.parametrize(("day", "said"), [
    (date(2026, 12, 7), "vandaag"),
    (date(2026, 12, 8), "morgen"),
    (date(2026, 12, 9), "overmorgen"),
    (date(2026, 12, 11), "op vrijdag"),
    (date(2026, 12, 14), "op maandag 14 december"),
    (date(2027, 1, 6), "op woensdag 6 januari"),
])
def test_a_day_is_said_as_the_coach_says_it(day: date, said: str) -> None:
    assert spoken_day(day, TODAY) == said


@pytest.mark.parametrize(("answer", "said"), [
    ("morgen", "morgen"),
    ("vrijdag na school", "op vrijdag"),
    ("volgende week dinsdag", "op dinsdag 15 december"),
    ("na de kerstvakantie", "na de kerstvakantie"),  # no date: the student's own words
    ("", None),
    ("   ", None),
    (None, None),
])
def test_the_plans_day(answer: str | None, said: str | None) -> None:
    assert day_words(answer, TODAY) == said


def test_the_closing_names_the_first_step_and_its_day_in_one_sentence(script: Script) -> None:
    what = "ik ga mijn tante appen"
    for choice in range(3):
        lines = closing_lines(script, "mbo", choice, what=what, when_text="morgen",
                              today=TODAY)
        assert lines == script.pick_text("afronden_met_plan", "mbo", choice, wat=what,
                                          dag="morgen")
        assert len(lines) == 1 and kern(what) in lines[0] and "morgen" in lines[0]
        # One sentence: one end, at the end (before the emoji).
        assert sum(lines[0].count(end) for end in ".!?") == 1


@pytest.mark.parametrize(("what", "when"), [
    (None, "morgen"), ("", "morgen"), ("mijn oom appen", None), ("mijn oom appen", "  ")])
def test_without_a_step_or_a_day_the_plain_closing(script: Script, what: str | None,
                                                    when: str | None) -> None:
    assert closing_lines(script, "mbo", 1, what=what, when_text=when, today=TODAY) == \
        script.pick_text("afronden", "mbo", 1)


def test_a_script_without_the_plan_closing_uses_the_plain_one(script: Script) -> None:
    raw = {**script.raw, "teksten": {k: v for k, v in script.raw["teksten"].items()
                                     if k != "afronden_met_plan"}}
    older = Script(raw=raw, steps=script.steps)
    assert closing_lines(older, None, 0, what="mijn oom appen", when_text="morgen",
                         today=TODAY) == script.pick_text("afronden", None, 0)


def test_a_closing_already_said_gives_way_to_another_form(script: Script) -> None:
    first = closing_lines(script, None, 0, what="mijn oom appen", when_text="morgen",
                          today=TODAY)
    again = closing_lines(script, None, 0, what="mijn oom appen", when_text="morgen",
                          today=TODAY, said=first)
    assert again and again != first
