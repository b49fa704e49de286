"""One student turn inside the conversation, without Rasa: the conversation as the tracker holds
it and the student's message in; what the coach says, the slots that change and what is to be
written out. Nothing here reads a tracker, says a line or touches the storage, so every turn
can be tested as a table (tests/test_turn.py); the actions (actions/steps.py) read the tracker
into a `Conversation`, perform the writes through bot.service, say the lines and set the slots.

bot.conversation.coaching decides what one reply means and what asking sounds like; this module
strings those decisions into a turn of the form: take the reply to the open question, keep it, and
ask the next question of the script in the same call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.conversation import coaching, insights
from bot.conversation.coaching import EARLIER_SLOT, Mode, Outcome, Reply, State
from bot.conversation.form_events import (
    ANSWER_SLOT,
    ANSWERS_SLOT,
    ASKED_SLOT,
    QUESTION_SLOT,
    REQUESTED_SLOT,
    STEP_SLOT,
)
from bot.conversation.script import Role, Script, Step
from bot.taxonomy import LEVELS

MODE_SLOT, PROBES_SLOT, DONT_KNOW_SLOT = "vraag_modus", "doorvraag_teller", "weet_niet_teller"
LEVEL_SLOT = "niveau"
FOLLOWUP_STATUS_SLOT = "vorige_stap_status"  # gelukt / deels / niet_gelukt, once told
# What the coach knows from earlier conversations (set when the conversation starts).
PLAN_SLOT, EXPERIENCE_SLOT, INSIGHT_SLOT = "vorig_plan", "vorige_ervaring", "vorig_inzicht"
LEVEL_UNKNOWN = "niveau_onbekend"  # condition (`alleen_bij`) of the level question
MENTOR = "mentor_gevraagd"
OVERVIEW = "overzicht_gevraagd"  # the side track whose answer needs the storage


@dataclass(frozen=True)
class Conversation:
    """The conversation as the tracker holds it when the student's message comes in."""

    answers: Mapping[str, Any] = field(default_factory=dict)  # by question key
    question: str | None = None  # `vraag`: the question open now
    step: str | None = None  # `stap`: the step reached
    asking: State = State()  # how the open question is asked (mode, probes, "weet ik niet")
    level: str | None = None
    previous_plan: str | None = None
    previous_experience: str | None = None
    previous_insight: str | None = None
    earlier: int = 0  # conversations the student finished before this one
    followup_status: str | None = None  # how the previous plan went, once told
    said: frozenset[str] = frozenset()  # every line the coach said in this conversation
    repeated: bool = False  # the message repeats the student's previous one word for word
    active: bool = True  # the form runs already (False: this turn activates it)

    @property
    def level_unknown(self) -> bool:
        # Asked once: in the first conversation only (not again after "weet ik niet", and
        # never at a check-in, which follows a finished conversation).
        return self.level is None and not self.earlier

    def context(self, script: Script) -> dict[str, Any]:
        """The conditions and names the script's questions depend on (`alleen_bij`,
        `tekst_als`, placeholders), beyond the answers themselves."""
        return {PLAN_SLOT: self.previous_plan, EXPERIENCE_SLOT: self.previous_experience,
                INSIGHT_SLOT: self.previous_insight, EARLIER_SLOT: self.earlier,
                LEVEL_UNKNOWN: self.level_unknown,
                **coaching.followup_context(self.followup_status),
                **coaching.answer_context(script, dict(self.answers))}

    def next_question(self, script: Script) -> str | None:
        return coaching.next_question(script, dict(self.answers), self.context(script))


@dataclass(frozen=True)
class Message:
    """The student's reply that filled the form's slot, and what the intake of signals
    (actions.common.take_in, which has side effects of its own) already did with it."""

    reply: Reply
    declined: bool = False  # "liever niet" to the mentor's follow-up
    consumed: bool = False  # it answered the crisis check or the mentor's offer, nothing else
    check_asked: bool = False  # an unsure crisis: the check question was asked
    spoke: bool = False  # the intake already said something about it
    said: tuple[str, ...] = ()  # the lines the intake said in this turn

    @property
    def taken_by_intake(self) -> bool:
        return self.declined or self.consumed or self.check_asked


# --- writes: what the action performs through bot.service, in this order -------------------
@dataclass(frozen=True)
class SaveReply:
    """Keep the student's reply to a question (service.save_reply)."""

    step: str
    question_key: str
    text: str
    kind: str  # answer, probe, skip, correction, followup
    competencies: tuple[str, ...] | None = None
    method: str | None = None
    headline: bool = False
    followup_status: str | None = None
    followup_part: str | None = None
    when_date: str | None = None  # ISO date
    experience: bool = False  # the answer names the experience the conversation is about


@dataclass(frozen=True)
class SetLevel:
    """The level the student told, on the student and the session (service.set_level)."""

    level: str


@dataclass(frozen=True)
class SetStatus:
    """The session is active at `step` (service.set_status)."""

    step: str


Write = SaveReply | SetLevel | SetStatus


@dataclass(frozen=True)
class TurnResult:
    """What a turn leads to. Said in this order: the side track's answer (rendered by the
    action: the overview needs the storage), a failed write's notice, then `lines`."""

    lines: tuple[str, ...] = ()
    side_track: str | None = None  # the side request to answer first
    slots: Mapping[str, Any] = field(default_factory=dict)  # slot name -> new value
    writes: tuple[Write, ...] = ()


def _merged(*results: TurnResult) -> TurnResult:
    return TurnResult(tuple(line for r in results for line in r.lines),
                      next((r.side_track for r in results if r.side_track), None),
                      {name: value for r in results for name, value in r.slots.items()},
                      tuple(write for r in results for write in r.writes))


def asking_slots(state: State) -> dict[str, Any]:
    return {MODE_SLOT: state.mode, PROBES_SLOT: float(state.probes),
            DONT_KNOW_SLOT: float(state.dont_know)}


def with_answer(answers: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """The answers with `key` set to `value` (None: not answered)."""
    changed = dict(answers)
    if value is None:
        changed.pop(key, None)
    else:
        changed[key] = value
    return changed


def intent_flags(script: Script, question: str | None, reply: Reply) -> bool:
    """Whether the message's intent may raise a flag by itself while `question` is open. The
    intent raises its flag only where it stands: "mijn mentor" answers "wie kan je helpen?",
    and a mentor request that names nobody is an answer, not a request."""
    return not coaching.intent_is_answer(script, question, reply.intent) and (
        reply.intent != MENTOR or coaching.stands_inside_a_question(reply))


# --- the entry points --------------------------------------------------------------------
def form_turn(script: Script, conversation: Conversation,
              message: Message | None) -> TurnResult:
    """One call of the form's validation: the reply to the open question taken in, then the
    next question asked, or the form's end once every question is answered. `message`: None
    when the message filled no slot of the form (or the form is only being activated)."""
    if message is None and conversation.active:
        # Nothing to take in (Rasa rejects the form's turn when the message filled no slot)
        # or a return to the form after a side track: Rasa asks the open question with
        # action_ask_antwoord. Nothing may be said here.
        return TurnResult(slots={REQUESTED_SLOT: ANSWER_SLOT})
    taken = TurnResult(slots={ANSWER_SLOT: None})
    now = conversation
    if message is not None and conversation.question:
        now, reply_taken = _take(script, conversation, message)
        taken = _merged(taken, reply_taken)
    key = now.next_question(script)
    if key is None:  # every question answered: the form ends, the closing follows
        return _merged(taken, TurnResult(slots={QUESTION_SLOT: None, REQUESTED_SLOT: None}))
    # Lines said earlier in this turn count as said: a recurring text takes another form.
    said_now = frozenset((*(message.said if message else ()),
                          *_side_track_lines(script, conversation, taken.side_track),
                          *taken.lines))
    return _merged(taken, _ask(script, now, key, said_now),
                   TurnResult(slots={REQUESTED_SLOT: ANSWER_SLOT, ASKED_SLOT: ANSWER_SLOT}))


def ask_again(script: Script, conversation: Conversation) -> TurnResult:
    """The open question again (after a side track or an interruption), or the next one when
    none is open or the open one was answered meanwhile."""
    key = conversation.question
    if script.step_of_slot(key or "") is None or conversation.answers.get(key) is not None:
        key = conversation.next_question(script)
    return _ask(script, conversation, key) if key else TurnResult()


def answer_before_check(script: Script, conversation: Conversation, question: str | None,
                        reply: Reply | None) -> TurnResult:
    """After "nee" to the crisis check: the message that raised it (`reply`) as the reply to
    the question that was open then (`question`; None: the form was not active). The slots
    carry the form on from there; none when the check interrupted no question."""
    step = script.step_of_slot(question) if question else None
    if reply is None or question is None or step is None:
        # The check did not interrupt a question (the conversation was paused): it stays so.
        return TurnResult(tuple(script.text("verder_gaan_hint", conversation.level)))
    # The question is taken up afresh, without the turns around it: its place in the script
    # chooses the forms of recurring texts.
    level, said = conversation.level, conversation.said
    if question == step.check_slot():
        outcome = coaching.handle_check(script, reply, State(), level, said=said)
    else:
        outcome = coaching.handle_answer(script, script.question(question), reply, State(),
                                         level, said=said)
    writes = (_save(script, step, question, reply, outcome),) if outcome.store_as else ()
    return TurnResult(tuple(outcome.say), slots={
        ANSWERS_SLOT: with_answer(conversation.answers, question, outcome.value),
        **asking_slots(outcome.state), REQUESTED_SLOT: None}, writes=writes)


# --- taking the reply, asking --------------------------------------------------------------
def _take(script: Script, conversation: Conversation,
          message: Message) -> tuple[Conversation, TurnResult]:
    """The reply to the open question: what it means, what is kept, what the coach says; and
    the conversation as it stands after it."""
    key = conversation.question or ""
    step = script.step_of_slot(key)
    state = conversation.asking
    if message.taken_by_intake or step is None:
        # "liever niet" answered the mentor question, or the message was about the crisis
        # check (or the question left the script): not an answer to this question.
        back = State(Mode.BACK, state.probes, state.dont_know)
        return replace(conversation, asking=back), TurnResult(slots=asking_slots(back))
    outcome = _outcome(script, conversation, step, key, message.reply)
    # A mentor request the intake already answered (the mentor is informed) is not answered
    # twice.
    side_track = outcome.side_track if not (
        message.spoke and outcome.side_track == MENTOR) else None
    writes: list[Write] = ([_save(script, step, key, message.reply, outcome)]
                           if outcome.store_as else [])
    slots: dict[str, Any] = {}
    if outcome.followup_status:
        slots[FOLLOWUP_STATUS_SLOT] = outcome.followup_status
    level = conversation.level
    if key == script.key_of(Role.LEVEL) and outcome.value in LEVELS:
        level = slots[LEVEL_SLOT] = outcome.value
        writes.append(SetLevel(level))
    answers = with_answer(conversation.answers, key, outcome.value)
    slots[ANSWERS_SLOT] = answers
    slots.update(asking_slots(outcome.state))
    after = replace(conversation, answers=answers, asking=outcome.state, level=level,
                    followup_status=outcome.followup_status or conversation.followup_status)
    return after, TurnResult(tuple(outcome.say), side_track, slots, tuple(writes))


def _outcome(script: Script, conversation: Conversation, step: Step, key: str,
             reply: Reply) -> Outcome:
    """bot.conversation.coaching's decision on `reply` to question `key` (or to the step's summary
    check)."""
    level, said = conversation.level, conversation.said
    if key == step.check_slot():
        return coaching.handle_check(script, reply, conversation.asking, level, said=said)
    progress = coaching.progress(script, dict(conversation.answers)) + conversation.earlier
    return coaching.handle_answer(script, script.question(key), reply, conversation.asking,
                                  level, progress=progress, said=said,
                                  repeated=conversation.repeated)


def _save(script: Script, step: Step, key: str, reply: Reply, outcome: Outcome) -> SaveReply:
    """The reply kept as `outcome` says (answer, probe, skip, ...), with its competencies when
    it is an answer."""
    decision = (insights.decide(script, key, outcome.value or "")
                if outcome.store_as == "answer" else None)
    return SaveReply(
        step=step.key, question_key=key, text=reply.text, kind=outcome.store_as or "",
        competencies=tuple(decision.competencies) if decision else None,
        method=decision.method if decision else None,
        headline=decision.headline if decision else False,
        followup_status=outcome.followup_status, followup_part=outcome.followup_part,
        when_date=outcome.when.isoformat() if outcome.when else None,
        experience=key == script.key_of(Role.EXPERIENCE))


def _side_track_lines(script: Script, conversation: Conversation,
                      intent: str | None) -> tuple[str, ...]:
    """The side track's answer as the action will render it (actions.conversation.
    side_track_messages), where that needs no storage: the overview's lines (from the
    storage) are never a question's, so leaving them out changes no form."""
    if not intent or intent == OVERVIEW:
        return ()
    return tuple(script.side_track(intent, conversation.level, said=conversation.said))


def _ask(script: Script, conversation: Conversation, key: str,
         said_now: frozenset[str] = frozenset()) -> TurnResult:
    """What the coach says to ask for `key` (question, probe, explanation or summary), and the
    step it starts; `said_now`: lines already said in this turn."""
    step = script.step_of_slot(key)
    if step is None:  # the script no longer has this question: nothing to ask
        return TurnResult()
    starting = conversation.step != step.key
    lines = coaching.ask_messages(script, step, key, conversation.asking,
                                  dict(conversation.answers), conversation.level,
                                  starting_step=starting, context=conversation.context(script),
                                  said=conversation.said | said_now)
    if not starting:
        return TurnResult(tuple(lines), slots={QUESTION_SLOT: key})
    return TurnResult(tuple(lines), slots={QUESTION_SLOT: key, STEP_SLOT: step.key},
                      writes=(SetStatus(step.key),))
