"""The conversation as one Rasa form (bot.conversation.form_events): its validation action takes
each reply and asks the next question of the script, and one ask action asks the open question again
after a side track. What a turn means is decided by bot.conversation.turn; these actions only read
the tracker, run the intake of signals, perform the writes and say the lines."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    conversation_of,
    level_of,
    perform_writes,
    say,
    session_id_of,
    slot_events,
    take_in,
    turn_of,
)
from actions.conversation import side_track_messages
from bot.conversation import form_events
from bot.conversation.script import Script, get_script
from bot.conversation.turn import (
    Conversation,
    Message,
    TurnResult,
    ask_again,
    form_turn,
    intent_flags,
)

DomainDict = dict[str, Any]


class ValidateGesprek(Action):
    """validate_gesprek_form: the engine of the conversation. Takes the student's reply to the
    open question (`vraag`), keeps it in `antwoorden`, and asks the next question from the
    script in the same call (Rasa then skips action_ask_antwoord, see bot.rasa_plugins.speed)."""

    def name(self) -> str:
        return f"validate_{form_events.FORM}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        script = get_script()
        conversation = conversation_of(tracker)
        intake_events, message = _message(dispatcher, tracker, script, conversation)
        result = form_turn(script, conversation, message)
        return intake_events + _carry_out(dispatcher, tracker, script, result)


def _message(dispatcher: CollectingDispatcher, tracker: Tracker, script: Script,
             conversation: Conversation) -> tuple[list[EventType], Message | None]:
    """The reply that filled the form's slot (None: none did), after the intake of signals;
    the intake runs only for a reply to an open question."""
    if tracker.slots_to_validate().get(form_events.ANSWER_SLOT) is None:
        return [], None
    reply = turn_of(tracker).reply
    if not conversation.question:
        return [], Message(reply)
    taken = take_in(tracker, dispatcher, script,
                    intent_flags=intent_flags(script, conversation.question, reply))
    said = tuple(m["text"] for m in dispatcher.messages if m.get("text"))
    return list(taken.events), Message(reply, declined=taken.declined,
                                       consumed=taken.consumed,
                                       check_asked=taken.check_asked, spoke=taken.spoke,
                                       said=said)


def _carry_out(dispatcher: CollectingDispatcher, tracker: Tracker, script: Script,
               result: TurnResult) -> list[EventType]:
    """Say and write what the turn decided, in today's order: the side track's answer, a
    failed write's notice, the coach's lines; then the slots."""
    if result.side_track:
        say(dispatcher, side_track_messages(script, tracker, result.side_track))
    say(dispatcher, perform_writes(script, turn_of(tracker), session_id_of(tracker),
                                   result.writes, level_of(tracker)))
    say(dispatcher, result.lines)
    return slot_events(result.slots, tracker)


class AskQuestion(Action):
    """action_ask_antwoord: the open question again (after a side track or an interruption),
    or the next one when none is open; in the script's words."""

    def name(self) -> str:
        return f"action_ask_{form_events.ANSWER_SLOT}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        script = get_script()
        return _carry_out(dispatcher, tracker, script,
                          ask_again(script, conversation_of(tracker)))
