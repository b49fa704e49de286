"""When a step's validation action may ask the next question itself (bot.form_events), and
when Rasa's form then leaves out its own ask call (bot.rasa_speed)."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from bot.form_events import ASKED_SLOT, asks_next
from bot.rasa_speed import asked_in_this_turn


def slot(name: str, value: object) -> dict:
    return {"event": "slot", "name": name, "value": value}


@pytest.mark.parametrize("events, expected", [
    # an answer taken, the next question of the step
    ([slot("moment", "toen ik hielp"), slot("requested_slot", "goed_gedaan")], "goed_gedaan"),
    # a probe: the same question again
    ([slot("moment", None), slot("vraag_modus", "doorvragen"),
      slot("requested_slot", "moment")], "moment"),
    # the step is done: the form ends, no question
    ([slot("reflecteren_check", "ja"), slot("requested_slot", None)], None),
    # the validation stopped the form (a crisis, a pause)
    ([slot("moment", None), {"event": "active_loop", "name": None},
      slot("requested_slot", "moment")], None),
    # nothing validated: Rasa may still reject the message, so nothing may be said yet
    ([slot("requested_slot", "moment")], None),
    ([], None),
    # Rasa asks for the first slot named
    ([slot("x", 1), slot("requested_slot", "a"), slot("requested_slot", "b")], "a"),
    ([slot("x", 1), slot("requested_slot", "")], None),
])
def test_the_validation_asks_only_where_the_form_will(events: list, expected: str | None) -> None:
    assert asks_next(events) == expected


def test_the_step_always_names_the_slot_it_asks_next() -> None:
    # The SDK names no requested slot when the required slots are the domain's own list;
    # the step's validation names it anyway, so that it can ask it in the same call.
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.steps import ValidateActiveren
    from bot.script import get_script

    keys = [q.key for q in get_script().steps["activeren"].questions]
    domain = {"forms": {"activeren_form": {"required_slots": keys}}}
    filled = {keys[0]: "mijn oom"}
    tracker = Tracker("s", filled, {}, [], False, None, {}, "action_listen")
    validation = ValidateActiveren()
    required = asyncio.run(validation.required_slots(keys, CollectingDispatcher(), tracker,
                                                     domain))
    event = asyncio.run(validation.next_requested_slot(CollectingDispatcher(), tracker, domain))
    assert event == {"event": "slot", "timestamp": None, "name": "requested_slot",
                     "value": next(k for k in required if k not in filled)}


def test_rasa_skips_only_the_ask_made_in_this_run_of_the_form() -> None:
    earlier = [ActionExecuted("action_listen"), UserUttered("hoi"),
               ActionExecuted("terugkijken_form"), SlotSet(ASKED_SLOT, "moment"),
               ActionExecuted("action_listen"), UserUttered("toen ik hielp")]
    assert asked_in_this_turn(earlier) is None  # a mark from an earlier turn does not count
    now = [*earlier, BotUttered("Mooi."), SlotSet("moment", "toen ik hielp"),
           SlotSet(ASKED_SLOT, "goed_gedaan"), SlotSet("requested_slot", "goed_gedaan")]
    assert asked_in_this_turn(now) == "goed_gedaan"
