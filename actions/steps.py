"""The conversation as one Rasa form (bot.form_events): its validation action takes each reply
and asks the next question of the script (bot.coaching decides), and one ask action asks the
open question again after a side track."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    answer_event,
    answers_of,
    level_of,
    said_again,
    said_in_conversation,
    say,
    session_id_of,
    store_reply,
    take_in,
    turn_of,
)
from actions.conversation import side_track_messages
from bot import coaching, form_events, service
from bot.coaching import Mode, State
from bot.script import get_script
from bot.taxonomy import LEVELS

DomainDict = dict[str, Any]
LEVEL_CONTEXT = ("vorig_plan", "vorige_ervaring", "vorig_inzicht", "eerdere_gesprekken")
FOLLOWUP_STATUS_SLOT = "vorige_stap_status"  # gelukt / deels / niet_gelukt, once told


def _state(tracker: Tracker) -> State:
    return State(tracker.get_slot("vraag_modus"),
                 int(tracker.get_slot("doorvraag_teller") or 0),
                 int(tracker.get_slot("weet_niet_teller") or 0))


def _state_events(state: State) -> list[EventType]:
    return [SlotSet("vraag_modus", state.mode),
            SlotSet("doorvraag_teller", float(state.probes)),
            SlotSet("weet_niet_teller", float(state.dont_know))]


def _context(tracker: Tracker) -> dict[str, Any]:
    return {**{name: tracker.get_slot(name) for name in LEVEL_CONTEXT},
            # Asked once: in the first conversation only (not again after "weet ik niet", and
            # never at a check-in, which follows a finished conversation).
            "niveau_onbekend": level_of(tracker) is None
            and not tracker.get_slot(coaching.EARLIER_SLOT),
            **coaching.followup_context(tracker.get_slot(FOLLOWUP_STATUS_SLOT)),
            **coaching.answer_context(get_script(), answers_of(tracker))}


class ValidateGesprek(Action):
    """validate_gesprek_form: the engine of the conversation. Takes the student's reply to the
    open question (`vraag`), decides with bot.coaching what it means, keeps it in
    `antwoorden`, and asks the next question from the script in the same call (Rasa then
    skips action_ask_antwoord, see bot.rasa_speed)."""

    def name(self) -> str:
        return f"validate_{form_events.FORM}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        replied = tracker.slots_to_validate().get(form_events.ANSWER_SLOT) is not None
        activating = (tracker.active_loop or {}).get("name") != form_events.FORM
        if not replied and not activating:
            # Nothing to take in (Rasa rejects the form's turn when the message filled no
            # slot) or a return to the form after a side track: Rasa asks the open question
            # with action_ask_antwoord. Nothing may be said here.
            return [SlotSet(form_events.REQUESTED_SLOT, form_events.ANSWER_SLOT)]
        events: list[EventType] = [SlotSet(form_events.ANSWER_SLOT, None)]
        asked = tracker.get_slot(form_events.QUESTION_SLOT)
        if replied and asked:
            events += self._take_reply(dispatcher, tracker, asked)
            tracker.add_slots(events)
        slot = coaching.next_question(get_script(), answers_of(tracker), _context(tracker))
        if slot is None:  # every question answered: the form ends, the closing follows
            return events + [SlotSet(form_events.QUESTION_SLOT, None),
                             SlotSet(form_events.REQUESTED_SLOT, None)]
        said_now = frozenset(m["text"] for m in dispatcher.messages if m.get("text"))
        return events + ask(dispatcher, tracker, slot, said_now) + [
            SlotSet(form_events.REQUESTED_SLOT, form_events.ANSWER_SLOT),
            SlotSet(form_events.ASKED_SLOT, form_events.ANSWER_SLOT)]

    def _take_reply(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                    slot: str) -> list[EventType]:
        """The reply to question `slot`: what it means, what is kept, what the coach says."""
        script = get_script()
        turn = turn_of(tracker)
        # The intent raises its flag only where it stands: "mijn mentor" answers "wie kan je
        # helpen?", and a mentor request that names nobody is an answer, not a request.
        intent_flags = not coaching.intent_is_answer(script, slot, turn.intent) and (
            turn.intent != "mentor_gevraagd" or coaching.stands_inside_a_question(turn.reply))
        taken = take_in(tracker, dispatcher, script, intent_flags=intent_flags)
        events = list(taken.events)
        state = _state(tracker)
        step = script.step_of_slot(slot)
        if taken.declined or taken.consumed or taken.check_asked or step is None:
            # "liever niet" answered the mentor question, or the message was about the
            # crisis check (or the question left the script): not an answer to this question.
            return events + _state_events(State(Mode.BACK, state.probes, state.dont_know))
        level = level_of(tracker)
        answers = answers_of(tracker)
        if slot == step.check_slot():
            outcome = coaching.handle_check(script, turn.reply, state, level,
                                            said=said_in_conversation(tracker))
        else:
            outcome = coaching.handle_answer(script, script.question(slot), turn.reply, state,
                                             level,
                                             progress=coaching.progress(script, answers) + int(
                                                 tracker.get_slot(coaching.EARLIER_SLOT) or 0),
                                             said=said_in_conversation(tracker),
                                             repeated=said_again(tracker))
        if outcome.side_track and not (taken.spoke and outcome.side_track == "mentor_gevraagd"):
            say(dispatcher, side_track_messages(script, tracker, outcome.side_track))
        if outcome.store_as:
            store_reply(dispatcher, turn, session_id_of(tracker), step.key, slot, outcome,
                        level)
        say(dispatcher, outcome.say)
        if outcome.followup_status:
            events.append(SlotSet(FOLLOWUP_STATUS_SLOT, outcome.followup_status))
        if slot == script.key_of(coaching.LEVEL) and outcome.value in LEVELS:
            events.append(SlotSet("niveau", outcome.value))
            service.set_level(channel=turn.channel, sender_id=turn.sender_id,
                              session_id=session_id_of(tracker), level=outcome.value)
        return events + [answer_event(tracker, slot, outcome.value)] + _state_events(
            outcome.state)


class AskQuestion(Action):
    """action_ask_antwoord: the open question again (after a side track or an interruption),
    or the next one when none is open; in the script's words."""

    def name(self) -> str:
        return f"action_ask_{form_events.ANSWER_SLOT}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        script = get_script()
        slot = tracker.get_slot(form_events.QUESTION_SLOT)
        if script.step_of_slot(slot or "") is None or answers_of(tracker).get(slot) is not None:
            slot = coaching.next_question(script, answers_of(tracker), _context(tracker))
        return ask(dispatcher, tracker, slot) if slot else []


def ask(dispatcher: CollectingDispatcher, tracker: Tracker, slot: str,
        said_now: frozenset[str] = frozenset()) -> list[EventType]:
    """What the coach says to ask for `slot` (question, probe, explanation or summary);
    `said_now`: lines already said in this turn."""
    script = get_script()
    step = script.step_of_slot(slot)
    if step is None:  # the script no longer has this question: nothing to ask
        return []
    starting = tracker.get_slot(form_events.STEP_SLOT) != step.key
    slots = {**tracker.slots, **answers_of(tracker)}
    say(dispatcher, coaching.ask_messages(script, step, slot, _state(tracker), slots,
                                          level_of(tracker), starting_step=starting,
                                          context=_context(tracker),
                                          said=said_in_conversation(tracker) | said_now))
    events: list[EventType] = [SlotSet(form_events.QUESTION_SLOT, slot)]
    if starting:
        events.append(SlotSet(form_events.STEP_SLOT, step.key))
        session_id = session_id_of(tracker)
        if session_id:
            turn = turn_of(tracker)
            service.set_status(channel=turn.channel, sender_id=turn.sender_id,
                               session_id=session_id, status="active", step=step.key)
    return events
