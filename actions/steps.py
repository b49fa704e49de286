"""The four steps as Rasa forms: a validation action per step (what a reply leads to, from
bot.coaching) and an ask action per question (what the coach says, from the script)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
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
from bot.taxonomy import LEVELS, STEPS

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
            **coaching.answer_context(get_script(), dict(tracker.slots))}


class StepValidation(FormValidationAction):
    """validate_<step>_form. Subclasses only name their step."""

    @property
    @abstractmethod
    def step(self) -> str:
        """The step (form) this action validates."""

    def name(self) -> str:
        return f"validate_{self.step}_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        """Validate the answer and, where the form goes on with a question of this step, ask
        it in the same call: one action call per student message instead of two (Rasa
        then skips action_ask_<slot>, see bot.rasa_speed)."""
        events = await super().run(dispatcher, tracker, domain)
        slot = form_events.asks_next(events)
        if slot is None or get_script().step_of_slot(slot) is None:
            return events
        tracker.add_slots([SlotSet("requested_slot", slot)])
        said_now = frozenset(m["text"] for m in dispatcher.messages if m.get("text"))
        return events + ask(dispatcher, tracker, slot, said_now) + [
            SlotSet(form_events.ASKED_SLOT, slot)]

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        return coaching.required_slots(get_script(), self.step, _context(tracker))

    async def next_requested_slot(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> EventType:
        """Always name the next slot (None: the step is done). The SDK leaves it to Rasa
        when the required slots happen to be the domain's own list; Rasa then picks the
        same slot, but the validation action could not know which one it will ask."""
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker,
                                             domain)
        return SlotSet("requested_slot",
                       next((s for s in required if tracker.slots.get(s) is None), None))

    async def get_extraction_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> list[EventType]:
        return []  # Rasa's from_text mappings fill the slots; nothing custom to extract

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> list[EventType]:
        script = get_script()
        slot = tracker.get_slot("requested_slot")
        # Only the student's reply fills the slot; a slot cleared in this turn (a new
        # conversation starting from an experience told up front) is not a reply to it.
        if not slot or tracker.slots_to_validate().get(slot) is None:
            return []
        turn = turn_of(tracker)
        # The intent raises its flag only where it stands: "mijn mentor" answers "wie kan je
        # helpen?", and a mentor request that names nobody is an answer, not a request.
        intent_flags = not coaching.intent_is_answer(slot, turn.intent) and (
            turn.intent != "mentor_gevraagd" or coaching.stands_inside_a_question(turn.reply))
        taken = take_in(tracker, dispatcher, script, intent_flags=intent_flags)
        events = list(taken.events)
        state = _state(tracker)
        if taken.declined or taken.consumed or taken.check_asked:
            # "liever niet" answered the mentor question, or the message was about the
            # crisis check: either way not an answer to this question.
            return events + [SlotSet(slot, None)] + _state_events(
                State(Mode.BACK, state.probes, state.dont_know))
        level = level_of(tracker)
        step = script.steps[self.step]
        if slot == step.check_slot():
            outcome = coaching.handle_check(script, turn.reply, state, level,
                                            said=said_in_conversation(tracker))
        else:
            outcome = coaching.handle_answer(script, script.question(slot), turn.reply, state,
                                             level,
                                             progress=coaching.progress(
                                                 script, dict(tracker.slots)) + int(
                                                 tracker.get_slot(coaching.EARLIER_SLOT) or 0),
                                             said=said_in_conversation(tracker),
                                             repeated=said_again(tracker))
        if outcome.side_track and not (taken.spoke and outcome.side_track == "mentor_gevraagd"):
            say(dispatcher, side_track_messages(script, tracker, outcome.side_track))
        if outcome.store_as:
            self._store(dispatcher, tracker, slot, outcome, level)
        say(dispatcher, outcome.say)
        if outcome.followup_status:
            events.append(SlotSet(FOLLOWUP_STATUS_SLOT, outcome.followup_status))
        if slot == coaching.LEVEL_QUESTION and outcome.value in LEVELS:
            events.append(SlotSet("niveau", outcome.value))
            service.set_level(channel=turn.channel, sender_id=turn.sender_id,
                              session_id=session_id_of(tracker), level=outcome.value)
        return events + [SlotSet(slot, outcome.value)] + _state_events(outcome.state)

    def _store(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str,
               outcome: coaching.Outcome, level: str | None) -> None:
        store_reply(dispatcher, turn_of(tracker), session_id_of(tracker), self.step, slot,
                    outcome, level)


class ValidateTerugkijken(StepValidation):
    step = "terugkijken"  # type: ignore[assignment]


class ValidateReflecteren(StepValidation):
    step = "reflecteren"  # type: ignore[assignment]


class ValidateVooruitkijken(StepValidation):
    step = "vooruitkijken"  # type: ignore[assignment]


class ValidateActiveren(StepValidation):
    step = "activeren"  # type: ignore[assignment]


class AskQuestion(Action, ABC):
    """action_ask_<slot>: the question, probe, explanation or summary, in the script's words."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The slot this action asks for."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        return ask(dispatcher, tracker, self.slot)


def ask(dispatcher: CollectingDispatcher, tracker: Tracker, slot: str,
        said_now: frozenset[str] = frozenset()) -> list[EventType]:
    """What the coach says to ask for `slot` (question, probe, explanation or summary);
    `said_now`: lines already said in this turn."""
    script = get_script()
    step = script.step_of_slot(slot)
    if step is None:  # the script no longer has this question: nothing to ask
        return []
    starting = tracker.get_slot("stap") != step.key
    slots = dict(tracker.slots)
    say(dispatcher, coaching.ask_messages(script, step, slot, _state(tracker), slots,
                                          level_of(tracker), starting_step=starting,
                                          context=_context(tracker),
                                          said=said_in_conversation(tracker) | said_now))
    events: list[EventType] = []
    if starting:
        events.append(SlotSet("stap", step.key))
        session_id = session_id_of(tracker)
        if session_id:
            turn = turn_of(tracker)
            service.set_status(channel=turn.channel, sender_id=turn.sender_id,
                               session_id=session_id, status="active", step=step.key)
    return events


def _ask_action_classes() -> list[type[AskQuestion]]:
    """One ask action per question and summary check of the script (Rasa needs a class each)."""
    script = get_script()
    slots = [q.key for key in STEPS for q in script.steps[key].questions]
    slots += [script.steps[key].check_slot() for key in STEPS]
    return [type(f"Ask_{slot}", (AskQuestion,), {"slot": slot}) for slot in slots]


ASK_ACTIONS = _ask_action_classes()
