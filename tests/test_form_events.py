"""The conversation as one Rasa form (bot.conversation.form_events): the validation action takes a
reply and asks the next question of the script in the same call, says nothing when Rasa may still
reject the message, and ends the form after the last question; Rasa's form then leaves out
its own ask call (bot.rasa_plugins.speed). No database: no conversation id is set."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.steps import AskQuestion, ValidateGesprek
from bot.conversation import coaching
from bot.conversation.form_events import (
    ANSWER_SLOT,
    ANSWERS_SLOT,
    ASKED_SLOT,
    FORM,
    QUESTION_SLOT,
    REQUESTED_SLOT,
    answers_in,
)
from bot.conversation.script import get_script
from bot.rasa_plugins.speed import asked_in_this_turn

LEVEL = {"niveau": "mbo"}  # the level is known: the conversation starts at the experience


def _tracker(slots: dict[str, Any], text: str | None = None, loop: str | None = FORM,
             filled: bool = True) -> Tracker:
    """The tracker Rasa sends to the validation action; `filled`: the message filled the
    form's slot (Rasa's from_text mapping), else it was an interruption it rejects."""
    message = {"text": text, "intent": {"name": "vertellen", "confidence": 0.9},
               "message_id": "m1"} if text else {}
    events: list[dict[str, Any]] = []
    slots = {"doorvraag_teller": 0.0, "weet_niet_teller": 0.0, **LEVEL, **slots}
    if text:
        events.append({"event": "user", "text": text, "parse_data": message})
        if filled:
            slots[ANSWER_SLOT] = text
            events.append({"event": "slot", "name": ANSWER_SLOT, "value": text})
    return Tracker("form-events", slots, message, events, False, None,
                   {"name": loop} if loop else {}, "action_listen")


def _run(action: Any, tracker: Tracker) -> tuple[list[str], dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return ([m["text"] for m in dispatcher.messages if m.get("text")],
            {e["name"]: e["value"] for e in events if e.get("event") == "slot"})


def _question_lines(key: str) -> list[str]:
    return get_script().render(get_script().question(key).text, "mbo")


def test_starting_the_form_asks_the_first_question_in_the_same_call() -> None:
    said, slots = _run(ValidateGesprek(), _tracker({}, loop=None))
    first = coaching.next_question(get_script(), {}, {})
    assert slots[QUESTION_SLOT] == first and slots[REQUESTED_SLOT] == ANSWER_SLOT
    assert slots[ASKED_SLOT] == ANSWER_SLOT  # Rasa skips action_ask_antwoord
    assert slots["stap"] == get_script().step_of_slot(first).key
    assert said[-len(_question_lines(first)):] == _question_lines(first)


def test_a_reply_is_kept_under_the_open_question_and_the_next_one_is_asked() -> None:
    script = get_script()
    first = coaching.next_question(script, {}, {})
    text = "ik heb twee weken stage gelopen bij een garage in de werkplaats"
    said, slots = _run(ValidateGesprek(), _tracker(
        {QUESTION_SLOT: first, "stap": script.step_of_slot(first).key}, text))
    assert slots[ANSWERS_SLOT] == {first: text}
    second = coaching.next_question(script, {first: text}, coaching.answer_context(
        script, {first: text}))
    assert second != first and slots[QUESTION_SLOT] == second
    assert slots[ANSWER_SLOT] is None  # the form keeps asking
    assert said[-len(_question_lines(second)):] == _question_lines(second)


def test_a_message_that_filled_nothing_gets_no_words_so_that_rasa_can_reject_it() -> None:
    said, slots = _run(ValidateGesprek(), _tracker({QUESTION_SLOT: "moment"}, "pauze",
                                                   filled=False))
    assert said == [] and slots == {REQUESTED_SLOT: ANSWER_SLOT}


def test_after_the_last_answer_the_form_ends() -> None:
    script = get_script()
    answers: dict[str, Any] = {}
    while (key := coaching.next_question(script, answers, coaching.answer_context(
            script, answers))) != "activeren_check":
        answers[key] = "ik hielp klanten en dat vond ik leuk"
    said, slots = _run(ValidateGesprek(), _tracker(
        {QUESTION_SLOT: "activeren_check", ANSWERS_SLOT: answers, "stap": "activeren"}, "ja"))
    assert slots[REQUESTED_SLOT] is None and slots[QUESTION_SLOT] is None
    assert slots[ANSWERS_SLOT]["activeren_check"] == coaching.CONFIRMED


def test_a_question_added_to_the_script_is_asked_in_its_place() -> None:
    # A new question needs no slot in the domain: its key is enough.
    from bot.conversation.script import parse

    raw = get_script().raw
    import copy

    changed = copy.deepcopy(raw)
    vragen = changed["stappen"]["terugkijken"]["vragen"]
    at = next(i for i, q in enumerate(vragen) if q["key"] == "moment")
    vragen.insert(at, {"key": "eerste_indruk", "tekst": "Wat was je eerste indruk?",
                       "uitleg": "Wat dacht je toen je er binnenkwam?",
                       "voorbeeld": "Bijvoorbeeld: het was er druk."})
    script = parse(changed)
    assert coaching.next_question(script, {"ervaring": "stage"}, {}) == "eerste_indruk"


def test_the_ask_action_asks_the_open_question_again() -> None:
    before = {QUESTION_SLOT: "moment", "stap": "terugkijken", ANSWERS_SLOT: {"ervaring": "stage"}}
    said, slots = _run(AskQuestion(), _tracker(before))
    # The open question stays the open one (a slot keeping its value is not set again).
    assert said == _question_lines("moment") and {**before, **slots}[QUESTION_SLOT] == "moment"


def test_answers_are_read_only_from_a_dict() -> None:
    assert answers_in({ANSWERS_SLOT: {"a": 1}}) == {"a": 1}
    assert answers_in({ANSWERS_SLOT: "kapot"}) == {} and answers_in({}) == {}


def test_rasa_skips_only_the_ask_made_in_this_run_of_the_form() -> None:
    earlier = [ActionExecuted("action_listen"), UserUttered("hoi"),
               ActionExecuted(FORM), SlotSet(ASKED_SLOT, ANSWER_SLOT),
               ActionExecuted("action_listen"), UserUttered("toen ik hielp")]
    assert asked_in_this_turn(earlier) is None  # a mark from an earlier turn does not count
    now = [*earlier, BotUttered("Mooi."), SlotSet(ANSWER_SLOT, None),
           SlotSet(ASKED_SLOT, ANSWER_SLOT), SlotSet(REQUESTED_SLOT, ANSWER_SLOT)]
    assert asked_in_this_turn(now) == ANSWER_SLOT
