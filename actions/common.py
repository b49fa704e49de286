"""Shared plumbing of the actions: reading the tracker, the once-per-message intake of
signals (flags for the mentor, replies by severity), and slot resets."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import service
from bot.conversation import coaching, form_events, intake
from bot.conversation.coaching import Reply
from bot.conversation.script import Script, get_script
from bot.conversation.turn import (
    DONT_KNOW_SLOT,
    EXPERIENCE_SLOT,
    FOLLOWUP_STATUS_SLOT,
    INSIGHT_SLOT,
    MODE_SLOT,
    PLAN_SLOT,
    PROBES_SLOT,
    Conversation,
    SaveReply,
    SetLevel,
    SetStatus,
    Write,
    answer_before_check,
)
from bot.text.signals import PARSE_DATA_KEY

log = logging.getLogger(__name__)
DEFAULT_CHANNEL = "rest"
LAST_SIGNAL_SLOT = "laatste_signaal"  # "<message id>|<severities>": the message handled last
CHECK = "check"  # in LAST_SIGNAL_SLOT: the crisis check question was asked, awaiting the answer
# In LAST_SIGNAL_SLOT: an attention flag was acknowledged a few messages ago and "liever niet"
# still refers to it ("open2": two more messages). A student who first answers the question
# and then says "liever niet" is heard too.
DECLINE_OPEN = "open"
OFFER = "aanbod"  # in LAST_SIGNAL_SLOT: a talk with the mentor was offered, awaiting "ja graag"
DECLINE_WINDOW = 3  # messages after the acknowledgement in which "liever niet" counts


@dataclass(frozen=True)
class Turn:
    """The student's latest message and who sent it."""

    sender_id: str
    channel: str
    text: str
    intent: str | None
    confidence: float
    message_id: str | None

    @property
    def reply(self) -> Reply:
        return Reply(self.text, self.intent, self.confidence)


def turn_of(tracker: Tracker) -> Turn:
    message = tracker.latest_message or {}
    intent = message.get("intent") or {}
    return Turn(
        sender_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or DEFAULT_CHANNEL,
        text=(message.get("text") or "").strip(),
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        message_id=message.get("message_id"),
    )


def screened(tracker: Tracker, turn: Turn) -> list[Any] | None:
    """The signals Rasa's NLU component found in this message (bot.rasa_plugins.components), when
    the parse data holds them for exactly this text; None: screen it here."""
    message = tracker.latest_message or {}
    found = message.get(PARSE_DATA_KEY)
    if not isinstance(found, list) or (message.get("text") or "").strip() != turn.text:
        return None
    return found


def perform_writes(script: Script, turn: Turn, session_id: int | None,
                   writes: Iterable[Write], level: str | None) -> list[str]:
    """Do a turn's writes (bot.conversation.turn) in order; `turn`: the message they are about.
    Without a conversation in the storage there is no reply or status to keep. Returns what the
    coach says about a failed write: the talk goes on."""
    operations: list[tuple[str, dict[str, Any]]] = []
    who = {"channel": turn.channel, "sender_id": turn.sender_id}
    for write in writes:
        if isinstance(write, SaveReply) and session_id:
            operations.append(("save_reply", dict(
                who, session_id=session_id, step=write.step, question_key=write.question_key,
                text=write.text, kind=write.kind, message_id=turn.message_id,
                competencies=(list(write.competencies)
                              if write.competencies is not None else None),
                method=write.method, headline=write.headline,
                followup_status=write.followup_status, followup_part=write.followup_part,
                when_date=write.when_date, experience=write.experience)))
        elif isinstance(write, SetLevel):
            operations.append(("set_level", dict(who, session_id=session_id,
                                                 level=write.level)))
        elif isinstance(write, SetStatus) and session_id:
            operations.append(("set_status", dict(who, session_id=session_id,
                                                  status="active", step=write.step)))
    saved = service.write_turn(operations)
    failed: list[str] = []
    for (name, _), ok in zip(operations, saved, strict=True):
        if name == "save_reply" and not ok:  # the student's words were not kept
            failed += script.text("opslaan_mislukt", level)
    return failed


# The form's marks: set every turn, changed or not (see slot_events).
_ALWAYS_SET = frozenset((form_events.ASKED_SLOT, form_events.REQUESTED_SLOT,
                         form_events.ANSWER_SLOT))


def slot_events(slots: Mapping[str, Any], tracker: Tracker | None = None) -> list[EventType]:
    """SlotSet events for `slots`; with `tracker`, only for the slots whose value changes
    (every event is sent back and forth with the tracker and stored as a row: a turn set
    eight slots, most of them to the value they had). The form's marks are always set: Rasa
    reads them from this turn's events (bot.rasa_plugins.speed.asked_in_this_turn)."""
    return [SlotSet(name, value) for name, value in slots.items()
            if tracker is None or name in _ALWAYS_SET or tracker.get_slot(name) != value]


def said_in_conversation(tracker: Tracker) -> frozenset[str]:
    """Every line the coach said since the student's Rasa session began, so that a recurring
    text takes a form the student has not read yet (see Script.pick)."""
    said: set[str] = set()
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "bot" and event.get("text"):
            said.add(event["text"])
    return frozenset(said)


def said_again(tracker: Tracker) -> bool:
    """Whether the student's message repeats their previous one word for word (the student
    insists: what the coach took for a side request was meant as the answer)."""
    texts = []
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "user":
            texts.append(" ".join((event.get("text") or "").lower().split()))
            if len(texts) == 2:
                return bool(texts[0]) and texts[0] == texts[1]
    return False


def answers_of(tracker: Tracker) -> dict[str, Any]:
    """This conversation's answers so far, by question key (bot.conversation.form_events)."""
    return form_events.answers_in(tracker.slots)


def conversation_of(tracker: Tracker) -> Conversation:
    """The conversation as bot.conversation.turn sees it, read from the tracker."""
    return Conversation(
        answers=answers_of(tracker),
        question=tracker.get_slot(form_events.QUESTION_SLOT),
        step=tracker.get_slot(form_events.STEP_SLOT),
        asking=coaching.State(tracker.get_slot(MODE_SLOT),
                              int(tracker.get_slot(PROBES_SLOT) or 0),
                              int(tracker.get_slot(DONT_KNOW_SLOT) or 0)),
        level=level_of(tracker),
        previous_plan=tracker.get_slot(PLAN_SLOT),
        previous_experience=tracker.get_slot(EXPERIENCE_SLOT),
        previous_insight=tracker.get_slot(INSIGHT_SLOT),
        earlier=int(tracker.get_slot(coaching.EARLIER_SLOT) or 0),
        followup_status=tracker.get_slot(FOLLOWUP_STATUS_SLOT),
        said=said_in_conversation(tracker),
        repeated=said_again(tracker),
        active=(tracker.active_loop or {}).get("name") == form_events.FORM,
    )


def level_of(tracker: Tracker) -> str | None:
    return tracker.get_slot("niveau")


def session_id_of(tracker: Tracker) -> int | None:
    value = tracker.get_slot("sessie_id")
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def say(dispatcher: CollectingDispatcher, lines: list[str]) -> None:
    for line in lines:
        dispatcher.utter_message(text=line)


@dataclass
class IntakeResult:
    events: list[EventType]
    urgent: bool = False
    declined: bool = False  # the student said "liever niet" to the mentor's follow-up
    spoke: bool = False  # something was already said about the message
    consumed: bool = False  # the message answered the crisis check question, nothing else
    check_asked: bool = False  # an unsure crisis: the check question was asked


def take_in(tracker: Tracker, dispatcher: CollectingDispatcher,
            script: Script | None = None, intent_flags: bool = True) -> IntakeResult:
    """Detect signals in the latest message once (several actions may run for one message),
    store the flags and say what fits each severity. `intent_flags=False`: the intent is an
    answer to the question asked, so it raises no flag by itself."""
    turn = turn_of(tracker)
    previous = tracker.get_slot(LAST_SIGNAL_SLOT) or ""
    key = turn.message_id or f"{turn.text}"
    if not turn.text or previous.split("|", 1)[0] == key:
        return IntakeResult([])
    script = script or get_script()
    level = level_of(tracker)
    result = IntakeResult([])
    marks = previous.split("|", 1)[-1].split(",")
    if CHECK in marks:
        return _check_answered(tracker, dispatcher, script, turn, key)
    if OFFER in marks and (intake.is_accept(turn.text) or intake.is_no(turn.text)):
        return _offer_answered(tracker, dispatcher, script, turn, key,
                               offered=previous.split("|", 1)[0])
    open_for = _decline_open_for(marks)
    if open_for and intake.is_decline(turn.text):
        if not service.decline_contact(channel=turn.channel, sender_id=turn.sender_id,
                                       message_id=turn.message_id or key):
            say(dispatcher, script.text("opslaan_mislukt", level))
        say(dispatcher, script.signal_reply("liever_niet", level))
        result.declined = result.spoke = True
        result.events.append(SlotSet(LAST_SIGNAL_SLOT, f"{key}|"))
        return result
    asked = script.find_question(tracker.get_slot(form_events.QUESTION_SLOT))
    found = intake.analyse(turn.text, turn.intent if intent_flags else None,
                           asked.rules_only if asked else (), screened=screened(tracker, turn))
    severities = ",".join(sorted({f.severity for f in found.findings}))
    if not found.findings and open_for > 1:
        severities = f"{DECLINE_OPEN}{open_for - 1}"
    result.events.append(SlotSet(LAST_SIGNAL_SLOT, f"{key}|{severities}"))
    if not found.findings:
        return result
    log.info("intake.signals", extra={"categories": [f.category for f in found.findings]})
    said = said_in_conversation(tracker)
    acknowledged = (service.flagged_categories(turn.channel, turn.sender_id,
                                               session_id_of(tracker))
                    | intake.acknowledged_in(script, said, level)
                    if found.attention else frozenset())
    # Offered, not announced: the flags are stored without a request for contact until the
    # student accepts ("ja graag").
    offer = intake.is_offer(script, found, turn.text, acknowledged)
    saved = service.save_flags(channel=turn.channel, sender_id=turn.sender_id,
                               session_id=session_id_of(tracker),
                               signals=[f.as_dict() for f in found.findings],
                               text=turn.text, message_id=turn.message_id or key,
                               contact_wanted=not offer)
    if found.unsure_crisis and intake.check_closed(script, said, level):
        # The student said "nee" to the check earlier in this conversation: asking again
        # at every unsure message would stop the conversation each time. The mentor has the
        # attention flag; a certain crisis still gets the crisis reply.
        lines = []
    elif found.unsure_crisis:  # ask once before giving the crisis reply
        lines = script.signal_reply("crisis_check", level)
        result.events[-1] = SlotSet(LAST_SIGNAL_SLOT, f"{key}|{severities},{CHECK}")
        result.check_asked = True
    elif offer:
        lines = intake.replies(script, found, level, acknowledged, offer=True)
        result.events[-1] = SlotSet(LAST_SIGNAL_SLOT, f"{key}|{OFFER}")
    else:
        lines = intake.replies(script, found, level, acknowledged)
    if lines and not saved:
        lines = lines + script.text("opslaan_mislukt", level)
    say(dispatcher, lines)
    result.urgent = found.urgent
    result.spoke = bool(lines)
    return result


def _offer_answered(tracker: Tracker, dispatcher: CollectingDispatcher, script: Script,
                    turn: Turn, key: str, offered: str) -> IntakeResult:
    """"ja graag" or "nee" to the offered talk with the mentor: the answer is kept on the
    flags of the message that raised it; the question the coach asked comes again."""
    level = level_of(tracker)
    wanted = intake.is_accept(turn.text)
    saved = service.contact_wish(channel=turn.channel, sender_id=turn.sender_id,
                                 message_id=offered, wanted=wanted)
    say(dispatcher, script.signal_reply("aanbod_aangenomen" if wanted else "liever_niet", level))
    if not saved:
        say(dispatcher, script.text("opslaan_mislukt", level))
    return IntakeResult([SlotSet(LAST_SIGNAL_SLOT, f"{key}|")], spoke=True, consumed=True)


def _answer_before_check(tracker: Tracker, dispatcher: CollectingDispatcher,
                         script: Script) -> list[EventType]:
    """After "nee" to the check: the message that raised it, as the reply to the question
    that was open then; the conversation's form goes on from there."""
    before, question = _message_and_question_before_check(tracker)
    result = answer_before_check(script, conversation_of(tracker), question,
                                 before.reply if before else None)
    if before is not None:
        say(dispatcher, perform_writes(script, before, session_id_of(tracker), result.writes,
                                       level_of(tracker)))
    say(dispatcher, result.lines)
    if not result.slots:  # no question was interrupted: the conversation stays paused
        return []
    return slot_events(result.slots) + [FollowupAction(form_events.FORM)]


def _message_and_question_before_check(tracker: Tracker) -> tuple[Turn | None, str | None]:
    """The student's message before this one, and the question that was open for it (None
    when none was: the form was not active, e.g. after a pause)."""
    users = [i for i, e in enumerate(tracker.events) if e.get("event") == "user"]
    if len(users) < 2:
        return None, None
    index = users[-2]
    event = tracker.events[index]
    before = tracker.events[:index]
    loop = next((e.get("name") for e in reversed(before) if e.get("event") == "active_loop"),
                None)
    question = next((e.get("value") for e in reversed(before)
                     if e.get("event") == "slot"
                     and e.get("name") == form_events.QUESTION_SLOT), None)
    intent = (event.get("parse_data") or {}).get("intent") or {}
    turn = Turn(sender_id=tracker.sender_id,
                channel=event.get("input_channel") or DEFAULT_CHANNEL,
                text=(event.get("text") or "").strip(), intent="vertellen",
                confidence=float(intent.get("confidence") or 0.0),
                message_id=event.get("message_id"))
    return turn, question if loop == form_events.FORM else None


def _decline_open_for(marks: list[str]) -> int:
    """How many messages, this one included, "liever niet" may still answer an attention
    acknowledgement (0: none is open)."""
    if "attention" in marks:
        return DECLINE_WINDOW
    for mark in marks:
        if mark.startswith(DECLINE_OPEN) and mark[len(DECLINE_OPEN):].isdigit():
            return int(mark[len(DECLINE_OPEN):])
    return 0


def _check_answered(tracker: Tracker, dispatcher: CollectingDispatcher, script: Script,
                    turn: Turn, key: str) -> IntakeResult:
    """The answer to "Denk je erover om jezelf iets aan te doen, of ben je niet veilig?":
    a "nee" closes the check (the mentor keeps the attention flag); "ja" or anything unclear
    gets the crisis reply and an urgent flag."""
    level = level_of(tracker)
    result = IntakeResult([SlotSet(LAST_SIGNAL_SLOT, f"{key}|")], spoke=True, consumed=True)
    if intake.check_answer(turn.text, turn.intent) == "nee":
        say(dispatcher, script.signal_reply("crisis_check_nee", level))
        after = intake.after_check_no(tracker.get_slot(form_events.STEP_SLOT),
                                      form_active=bool((tracker.active_loop or {}).get("name")))
        if after == intake.GO_ON_WITH_ANSWER:
            result.events += _answer_before_check(tracker, dispatcher, script)
        elif after == intake.START_HINT:
            say(dispatcher, script.text("start_hint", level))
        return result
    evidence = f"antwoord op de controlevraag: {turn.text[:150]}"
    saved = service.save_flags(channel=turn.channel, sender_id=turn.sender_id,
                               session_id=session_id_of(tracker),
                               signals=[{"category": "crisis", "severity": "urgent",
                                         "evidence": evidence}],
                               text=turn.text, message_id=turn.message_id or key)
    say(dispatcher, script.signal_reply("crisis", level))
    if not saved:
        say(dispatcher, script.text("opslaan_mislukt", level))
    result.events = [SlotSet(LAST_SIGNAL_SLOT, f"{key}|urgent")]
    result.urgent = True
    return result


def reset_conversation(**keep: Any) -> list[EventType]:
    """Slot events that clear a finished or replaced conversation."""
    events: list[EventType] = [
        SlotSet(form_events.ANSWERS_SLOT, None), SlotSet(form_events.QUESTION_SLOT, None),
        SlotSet(form_events.STEP_SLOT, None), SlotSet("vraag_modus", None),
        SlotSet("doorvraag_teller", 0.0), SlotSet("weet_niet_teller", 0.0),
        SlotSet(form_events.REQUESTED_SLOT, None), SlotSet("vorige_stap_status", None)]
    events += [SlotSet(name, value) for name, value in keep.items()]
    return events
