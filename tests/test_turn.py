"""One turn of the conversation (bot.conversation.turn), without Rasa: scenario tables of the
conversation as the tracker holds it and the student's message, against the question asked next, the
slots that change and the writes. Question keys and the coach's texts come from the script."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import pytest

from bot.conversation.coaching import CONFIRMED, SKIPPED, Mode, Reply, State, question_text
from bot.conversation.form_events import (
    ANSWER_SLOT,
    ANSWERS_SLOT,
    ASKED_SLOT,
    QUESTION_SLOT,
    REQUESTED_SLOT,
    STEP_SLOT,
)
from bot.conversation.script import Role, load
from bot.conversation.turn import (
    DONT_KNOW_SLOT,
    FOLLOWUP_STATUS_SLOT,
    LEVEL_SLOT,
    MODE_SLOT,
    PROBES_SLOT,
    Conversation,
    Message,
    SaveReply,
    SetLevel,
    SetStatus,
    TurnResult,
    answer_before_check,
    ask_again,
    form_turn,
    intent_flags,
)

SCRIPT = load()
LEVEL = "mbo-bol"  # known: the conversation starts at the experience, not the level question
ANSWER = "ik hielp klanten bij de kassa en bleef rustig toen het druk was"
EXPERIENCE = SCRIPT.key_of(Role.EXPERIENCE)
LEVEL_QUESTION = SCRIPT.key_of(Role.LEVEL)
FOLLOWUP = SCRIPT.key_of(Role.FOLLOWUP)
WENT_WELL = SCRIPT.key_of(Role.WENT_WELL)
PLAN_WHO = SCRIPT.key_of(Role.PLAN_WHO)
CHECK = next(step.check_slot() for step in SCRIPT.steps.values() if step.check)
SAME, NEXT = "same", "next"  # where a turn leaves the conversation: the open question or on


def walk(base: Conversation) -> list[str]:
    """Every question the conversation asks from `base`, in order, each answered in full."""
    answers: dict[str, Any] = dict(base.answers)
    asked = []
    while (key := replace(base, answers=answers).next_question(SCRIPT)) is not None:
        asked.append(key)
        answers[key] = CONFIRMED if key.endswith("_check") else ANSWER
    return asked


def open_at(key: str, **changes: Any) -> Conversation:
    """The conversation with question `key` open, every question before it answered."""
    base = Conversation(**{"level": LEVEL, **changes})
    asked = walk(base)
    answers = {k: CONFIRMED if k.endswith("_check") else ANSWER
               for k in asked[:asked.index(key)]}
    return replace(base, answers=answers, question=key, step=SCRIPT.step_of_slot(key).key)


def next_after(conversation: Conversation, value: Any) -> str | None:
    """The question the conversation asks once the open one has `value`."""
    answers = {**conversation.answers, conversation.question: value}
    return replace(conversation, answers=answers).next_question(SCRIPT)


def saved(result: TurnResult) -> list[SaveReply]:
    return [w for w in result.writes if isinstance(w, SaveReply)]


def turn(conversation: Conversation, text: str, intent: str = "vertellen",
         **intake: Any) -> TurnResult:
    return form_turn(SCRIPT, conversation, Message(Reply(text, intent, 0.95), **intake))


def probes_of(key: str) -> int:
    return len(SCRIPT.question(key).probes)


# --- where a reply leads --------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    at: str  # the open question
    text: str
    intent: str = "vertellen"
    asking: State = State()
    repeated: bool = False
    intake: dict[str, Any] = field(default_factory=dict)  # what the intake did (Message flags)
    goes: str = NEXT  # SAME: the open question stays open
    mode: str | None = None  # how the question asked next is asked
    kind: str | None = "answer"  # how the reply is kept (SaveReply.kind); None: not at all
    side_track: str | None = None


CASES = {
    "an answer moves on": Case(EXPERIENCE, ANSWER),
    "a vague answer is probed": Case(EXPERIENCE, "gewoon", goes=SAME, mode=Mode.PROBE,
                                     kind="probe"),
    "a vague answer after every probe is taken": Case(
        EXPERIENCE, "gewoon", asking=State(Mode.PROBE, probes_of(EXPERIENCE))),
    "weet ik niet gets an explanation": Case(EXPERIENCE, "weet ik niet", "weet_niet",
                                             goes=SAME, mode=Mode.EXPLAIN, kind="probe"),
    "weet ik niet twice skips": Case(EXPERIENCE, "weet ik niet", "weet_niet",
                                     asking=State(Mode.EXPLAIN, 0, 1), kind="skip"),
    "overslaan skips": Case(EXPERIENCE, "overslaan", kind="skip"),
    "wat bedoel je explains": Case(EXPERIENCE, "wat bedoel je?", "uitleg_gevraagd", goes=SAME,
                                   mode=Mode.EXPLAIN, kind=None),
    "a side request is answered, then back": Case(
        EXPERIENCE, "ben jij een robot of een mens die meekijkt?", "bot_vraag", goes=SAME,
        mode=Mode.BACK, kind=None, side_track="bot_vraag"),
    "the same message again is the answer": Case(
        EXPERIENCE, "ben jij een robot of een mens die meekijkt?", "bot_vraag",
        asking=State(Mode.BACK), repeated=True),
    "a mentor request goes to the side track": Case(
        EXPERIENCE, "ik wil mijn mentor spreken", "mentor_gevraagd", goes=SAME,
        mode=Mode.BACK, kind=None, side_track="mentor_gevraagd"),
    "a mentor request the intake answered is not answered twice": Case(
        EXPERIENCE, "ik wil mijn mentor spreken", "mentor_gevraagd", intake={"spoke": True},
        goes=SAME, mode=Mode.BACK, kind=None),
    "consumed by the intake": Case(EXPERIENCE, "ja graag", "bevestigen",
                                   intake={"consumed": True, "spoke": True}, goes=SAME,
                                   mode=Mode.BACK, kind=None),
    "declined to the intake": Case(EXPERIENCE, "liever niet", "ontkennen",
                                   intake={"declined": True, "spoke": True}, goes=SAME,
                                   mode=Mode.BACK, kind=None),
    "the crisis check was asked": Case(EXPERIENCE, ANSWER, intake={"check_asked": True},
                                       goes=SAME, mode=Mode.BACK, kind=None),
    "yes to a summary": Case(CHECK, "ja", "bevestigen", kind=None),
    "no to a summary asks for the correction": Case(CHECK, "nee", "ontkennen", goes=SAME,
                                                    mode=Mode.CORRECT, kind=None),
    "a correction is kept": Case(CHECK, "de dag wordt vrijdag", asking=State(Mode.CORRECT),
                                 kind="correction"),
    "an addition to a summary is a correction": Case(CHECK, "ja maar het was op dinsdag",
                                                     "bevestigen", kind="correction"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_where_a_reply_leads(case: Case) -> None:
    conversation = replace(open_at(case.at), asking=case.asking, repeated=case.repeated)
    result = turn(conversation, case.text, case.intent, **case.intake)
    slots = result.slots
    answer = slots.get(ANSWERS_SLOT, {}).get(case.at)
    expected = case.at if case.goes == SAME else next_after(conversation, answer)
    assert slots[QUESTION_SLOT] == expected and (answer is not None) is (case.goes == NEXT)
    assert slots[MODE_SLOT] == case.mode and result.side_track == case.side_track
    assert [w.kind for w in saved(result)] == ([case.kind] if case.kind else [])
    for write in saved(result):
        assert (write.question_key, write.step, write.text) == (
            case.at, conversation.step, case.text)
    # The form goes on: the next question is asked in this call (Rasa skips its own ask).
    assert slots[ANSWER_SLOT] is None
    assert slots[REQUESTED_SLOT] == slots[ASKED_SLOT] == ANSWER_SLOT
    if Message(Reply(case.text, case.intent), **case.intake).taken_by_intake:
        assert ANSWERS_SLOT not in slots  # not a reply to the question at all


@pytest.mark.parametrize(("text", "intent", "asking", "after"), [
    ("gewoon", "vertellen", State(), State(Mode.PROBE, 1, 0)),
    ("ging wel", "vertellen", State(Mode.PROBE, 1, 0), State(Mode.PROBE, 2, 0)),
    ("weet ik niet", "weet_niet", State(Mode.PROBE, 1, 0), State(Mode.EXPLAIN, 1, 1)),
    ("weet ik niet", "weet_niet", State(Mode.EXPLAIN, 1, 1), State()),
    (ANSWER, "vertellen", State(Mode.PROBE, 2, 1), State()),  # an answer starts afresh
])
def test_the_counters_of_the_open_question(text, intent, asking, after) -> None:
    result = turn(replace(open_at(EXPERIENCE), asking=asking), text, intent)
    assert [result.slots[s] for s in (MODE_SLOT, PROBES_SLOT, DONT_KNOW_SLOT)] == [
        after.mode, float(after.probes), float(after.dont_know)]


# --- what the coach says ----------------------------------------------------------------------
def test_a_probe_is_the_questions_first_probe() -> None:
    result = turn(open_at(EXPERIENCE), "gewoon")
    assert list(result.lines) == SCRIPT.render(SCRIPT.question(EXPERIENCE).probes[0], LEVEL)


def test_weet_ik_niet_explains_the_question_with_its_example() -> None:
    question = SCRIPT.question(EXPERIENCE)
    result = turn(open_at(EXPERIENCE), "weet ik niet", "weet_niet")
    explained = SCRIPT.render(question.explanation, LEVEL) + SCRIPT.render(question.example,
                                                                            LEVEL)
    assert list(result.lines[:len(explained)]) == explained
    assert list(result.lines[len(explained):]) in SCRIPT.text_forms("weet_niet_aanbod", LEVEL)


def test_back_from_a_side_track_the_question_follows_its_lead_in_one_bubble() -> None:
    result = turn(open_at(EXPERIENCE), "ben jij een robot of een mens die meekijkt?",
                  "bot_vraag")
    question = SCRIPT.render(SCRIPT.question(EXPERIENCE).text, LEVEL)
    leads = [form[-1] for form in SCRIPT.text_forms("terug_naar_vraag", LEVEL)]
    assert any(result.lines[-1] == f"{lead} {question[0]}" for lead in leads)


def test_the_reaction_comes_before_the_next_question() -> None:
    conversation = open_at(WENT_WELL)
    result = turn(conversation, ANSWER)
    reactions = SCRIPT.forms(SCRIPT.question(WENT_WELL).reaction, LEVEL, antwoord=ANSWER)
    said = next(r for r in reactions if list(result.lines[:len(r)]) == r)
    following = SCRIPT.question(next_after(conversation, ANSWER))
    context = {**conversation.answers, WENT_WELL: ANSWER}
    assert list(result.lines[len(said):]) == SCRIPT.render(
        question_text(following, 0, context), LEVEL, **context)


def test_recurring_texts_take_turns_with_how_far_the_conversation_is() -> None:
    """Earlier conversations count too: a returning student reads the praise in another form."""
    forms = SCRIPT.forms(SCRIPT.question(WENT_WELL).reaction, LEVEL, antwoord=ANSWER)
    said = {turn(open_at(WENT_WELL, earlier=n), ANSWER).lines[0] for n in range(len(forms))}
    assert len(forms) > 1 and said == {form[0] for form in forms}


def test_skipping_says_so_before_the_next_question() -> None:
    result = turn(open_at(EXPERIENCE), "overslaan")
    assert result.slots[ANSWERS_SLOT][EXPERIENCE] == SKIPPED
    assert any(list(result.lines[:len(form)]) == form
               for form in SCRIPT.text_forms("overgeslagen", LEVEL))


def test_lines_said_in_this_turn_or_before_choose_another_form() -> None:
    """A step's intro has forms; one the student read (earlier, or from the intake in this
    turn) gives way to the next."""
    before, first = next((a, b) for a, b in pairwise(walk(Conversation(level=LEVEL)))
                         if SCRIPT.step_of_slot(a) != SCRIPT.step_of_slot(b))
    intro = SCRIPT.step_of_slot(first).intro
    forms = SCRIPT.forms(intro, LEVEL)
    assert len(forms) > 1
    reply = ("ja", "bevestigen") if before.endswith("_check") else (ANSWER, "vertellen")
    assert list(turn(open_at(before), *reply).lines[:len(forms[0])]) == forms[0]
    earlier = turn(open_at(before, said=frozenset(forms[0])), *reply)
    now = turn(open_at(before), *reply, said=tuple(forms[0]))  # said by the intake
    for result in (earlier, now):
        assert list(result.lines[:len(forms[1])]) == forms[1]


# --- the level, the follow-up, the steps and the end ------------------------------------------
LEVEL_CASES = [
    ("vmbo", "vertellen", "vmbo"),
    ("ik zit op het mbo", "vertellen", "mbo-bol"),
    ("bbl", "vertellen", "mbo-bbl"),
    ("weet ik niet", "weet_niet", None),
    ("ik weet het niet zeker", "vertellen", None),
]


@pytest.mark.parametrize(("text", "intent", "level"), LEVEL_CASES)
def test_the_level_question_sets_the_level(text, intent, level) -> None:
    conversation = open_at(LEVEL_QUESTION, level=None)
    assert conversation.level_unknown
    result = turn(conversation, text, intent)
    if level is None:  # asked again (probe or explanation): no level yet
        assert LEVEL_SLOT not in result.slots and result.slots[QUESTION_SLOT] == LEVEL_QUESTION
        assert not any(isinstance(w, SetLevel) for w in result.writes)
        return
    assert result.slots[LEVEL_SLOT] == level and SetLevel(level) in result.writes
    assert result.slots[ANSWERS_SLOT][LEVEL_QUESTION] == level
    # The level is known now: the next question is the one after it, in the level's words.
    following = result.slots[QUESTION_SLOT]
    assert following == next_after(replace(conversation, level=level), level)
    assert list(result.lines) == SCRIPT.render(SCRIPT.question(following).text, level)


def test_the_level_question_is_asked_only_in_a_first_conversation() -> None:
    assert walk(Conversation())[0] == LEVEL_QUESTION
    assert LEVEL_QUESTION not in walk(Conversation(earlier=1))
    assert LEVEL_QUESTION not in walk(Conversation(level=LEVEL))


@pytest.mark.parametrize(("text", "intent", "status", "role"), [
    ("ja het is gelukt", "bevestigen", "gelukt", Role.HELPED),
    ("nee niet gelukt", "ontkennen", "niet_gelukt", Role.HINDERED),
    ("een beetje", "vertellen", "deels", Role.HINDERED),
])
def test_how_the_previous_plan_went_chooses_the_next_question(text, intent, status,
                                                              role) -> None:
    conversation = open_at(FOLLOWUP, previous_plan="mijn cv maken")
    result = turn(conversation, text, intent)
    assert result.slots[FOLLOWUP_STATUS_SLOT] == status
    assert [(w.kind, w.followup_status) for w in saved(result)] == [("followup", status)]
    assert result.slots[QUESTION_SLOT] == SCRIPT.key_of(role)


STEP_STARTS = [(before, first) for before, first in pairwise(walk(Conversation(level=LEVEL)))
               if SCRIPT.step_of_slot(before) != SCRIPT.step_of_slot(first)]


@pytest.mark.parametrize(("before", "first"), STEP_STARTS)
def test_the_first_question_of_a_step_starts_it(before, first) -> None:
    conversation = open_at(before)
    reply = ("ja", "bevestigen") if before.endswith("_check") else (ANSWER, "vertellen")
    result = turn(conversation, *reply)
    step = SCRIPT.step_of_slot(first).key
    assert result.slots[QUESTION_SLOT] == first and result.slots[STEP_SLOT] == step
    assert result.writes[-1] == SetStatus(step)


def test_a_question_inside_the_step_changes_no_step() -> None:
    result = turn(open_at(EXPERIENCE), ANSWER)
    assert SCRIPT.step_of_slot(result.slots[QUESTION_SLOT]).key == open_at(EXPERIENCE).step
    assert STEP_SLOT not in result.slots
    assert not any(isinstance(w, SetStatus) for w in result.writes)


def test_starting_the_form_asks_the_first_question() -> None:
    result = form_turn(SCRIPT, Conversation(level=LEVEL, active=False), None)
    first = walk(Conversation(level=LEVEL))[0]
    step = SCRIPT.step_of_slot(first)
    assert result.slots == {ANSWER_SLOT: None, QUESTION_SLOT: first, STEP_SLOT: step.key,
                            REQUESTED_SLOT: ANSWER_SLOT, ASKED_SLOT: ANSWER_SLOT}
    assert result.writes == (SetStatus(step.key),)
    intro = SCRIPT.render(step.intro, LEVEL)
    assert list(result.lines) == intro + SCRIPT.render(SCRIPT.question(first).text, LEVEL)


def test_nothing_to_take_in_says_nothing() -> None:
    """The message filled no slot: Rasa rejects the form's turn and asks again itself."""
    result = form_turn(SCRIPT, open_at(EXPERIENCE), None)
    assert result == TurnResult(slots={REQUESTED_SLOT: ANSWER_SLOT})


def test_a_reply_without_an_open_question_is_not_an_answer() -> None:
    result = turn(Conversation(level=LEVEL), ANSWER)
    assert ANSWERS_SLOT not in result.slots and not saved(result)
    assert result.slots[QUESTION_SLOT] == walk(Conversation(level=LEVEL))[0]


def test_the_last_answer_ends_the_form() -> None:
    last = walk(Conversation(level=LEVEL))[-1]
    reply = ("ja", "bevestigen") if last.endswith("_check") else (ANSWER, "vertellen")
    result = turn(open_at(last), *reply)
    assert result.slots[QUESTION_SLOT] is None and result.slots[REQUESTED_SLOT] is None
    assert ASKED_SLOT not in result.slots and result.slots[ANSWERS_SLOT][last] is not None


# --- asking again, the answer before a crisis check, the intake's flags ----------------------
@pytest.mark.parametrize(("conversation", "asked", "starts"), [
    (open_at(EXPERIENCE), EXPERIENCE, False),
    (replace(open_at(EXPERIENCE), asking=State(Mode.BACK)), EXPERIENCE, False),
    # Answered meanwhile (or gone from the script): the next question.
    (replace(open_at(EXPERIENCE), answers={**open_at(EXPERIENCE).answers, EXPERIENCE: ANSWER}),
     next_after(open_at(EXPERIENCE), ANSWER), False),
    (replace(open_at(EXPERIENCE), question="niet_meer_in_het_script"), EXPERIENCE, False),
    (Conversation(level=LEVEL), walk(Conversation(level=LEVEL))[0], True),
])
def test_asking_again(conversation, asked, starts) -> None:
    result = ask_again(SCRIPT, conversation)
    assert result.slots[QUESTION_SLOT] == asked and (STEP_SLOT in result.slots) is starts
    assert result.writes == ((SetStatus(SCRIPT.step_of_slot(asked).key),) if starts else ())
    assert result.lines and result.side_track is None


def test_asking_again_when_everything_is_answered_says_nothing() -> None:
    last = walk(Conversation(level=LEVEL))[-1]
    done = replace(open_at(last), answers={**open_at(last).answers, last: CONFIRMED})
    assert ask_again(SCRIPT, done) == TurnResult()


@pytest.mark.parametrize(("question", "text", "value", "kind", "mode"), [
    (EXPERIENCE, ANSWER, ANSWER, "answer", None),
    (EXPERIENCE, "gewoon", None, "probe", Mode.PROBE),
    (CHECK, "ja", CONFIRMED, None, None),
    (CHECK, "de dag wordt vrijdag", "de dag wordt vrijdag", "correction", None),
])
def test_the_answer_before_a_crisis_check(question, text, value, kind, mode) -> None:
    """After "nee" to the check, the message that raised it answers the question open then
    (afresh: the counters of that moment do not count), and the form goes on."""
    conversation = replace(open_at(question), asking=State(Mode.PROBE, 2, 1), question=None)
    result = answer_before_check(SCRIPT, conversation, question, Reply(text, "vertellen"))
    assert result.slots[ANSWERS_SLOT].get(question) == value
    assert result.slots[MODE_SLOT] == mode and result.slots[REQUESTED_SLOT] is None
    assert [w.kind for w in saved(result)] == ([kind] if kind else [])


@pytest.mark.parametrize(("question", "reply"), [
    (None, Reply(ANSWER, "vertellen")),  # the form was not active: a paused conversation
    ("niet_meer_in_het_script", Reply(ANSWER, "vertellen")),
    (EXPERIENCE, None),  # no message before the check
])
def test_a_check_that_interrupted_no_question_leaves_the_conversation_paused(question,
                                                                             reply) -> None:
    result = answer_before_check(SCRIPT, open_at(EXPERIENCE), question, reply)
    assert result == TurnResult(tuple(SCRIPT.text("verder_gaan_hint", LEVEL)))


@pytest.mark.parametrize(("question", "text", "intent", "flags"), [
    (PLAN_WHO, "mijn mentor", "mentor_gevraagd", False),  # the intent answers this question
    (EXPERIENCE, "ik wil mijn mentor spreken", "mentor_gevraagd", True),
    (EXPERIENCE, "ja allebei met mensen mooi maken", "mentor_gevraagd", False),  # names nobody
    (EXPERIENCE, "ik voel me rot", "vertellen", True),
])
def test_which_intents_raise_a_flag_by_themselves(question, text, intent, flags) -> None:
    assert intent_flags(SCRIPT, question, Reply(text, intent)) is flags


def test_the_turn_needs_no_rasa_and_no_storage() -> None:
    code = ("import sys, bot.conversation.turn; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rasa', 'rasa_sdk', 'sqlalchemy') or m.startswith(('bot.service', "
            "'bot.storage'))))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert found.stdout.strip() == "[]"
