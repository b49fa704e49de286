"""Coaching behaviour inside a step, independent of Rasa: what to do with a student's reply
to a question (accept, probe, explain, skip, take a side track) and what to say when asking.

The Rasa form actions in `actions/` only translate between slots and these functions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from bot.dates import parse_when
from bot.script import Question, Script, Step

SKIPPED = "(overgeslagen)"  # slot value of a question the student chose to skip
CONFIRMED = "ja"
SIDE_TRACK_MIN_CONFIDENCE = 0.6  # below this a reply counts as an answer, not a side track
# Intents inside a form that are answered and then lead back to the same question.
SIDE_TRACKS = ("bot_vraag", "privacy_vraag", "mentor_gevraagd", "frustratie", "buiten_bereik",
               "bedanken", "overzicht_gevraagd")
ALREADY_BUSY = ("begroeten", "start_gesprek", "hervatten")
# Intents that are a plain answer to a particular question ("wie kan je helpen?" -
# "mijn mentor" is an answer there, not a wish to talk to the mentor now).
ANSWER_INTENTS: dict[str, frozenset[str]] = {
    "hulp_contact": frozenset({"mentor_gevraagd"}),
}

_WORD = re.compile(r"[a-z0-9à-ÿ']+")


# Modes of the next question (slot `vraag_modus`), read by the ask action.
class Mode:
    ASK = None
    PROBE = "doorvragen"
    EXPLAIN = "uitleg"
    BACK = "terug"
    BUSY = "al_bezig"
    CORRECT = "correctie"


@dataclass(frozen=True)
class Reply:
    text: str
    intent: str | None
    confidence: float = 1.0


@dataclass(frozen=True)
class State:
    mode: str | None = None
    probes: int = 0
    dont_know: int = 0


@dataclass
class Outcome:
    """What a reply leads to. `value` None means: ask the same question again (in `state.mode`)."""

    value: str | None
    state: State
    say: list[str] = field(default_factory=list)
    store_as: str | None = None  # answer kind to store the reply as, None: not an answer
    side_track: str | None = None  # intent whose side-track answer the action must give
    followup_status: str | None = None  # for the previous plan's follow-up question
    when: date | None = None


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_vague(text: str, script: Script) -> bool:
    """Vague: nothing concrete remains once vague and filler words are removed, or too short."""
    tokens = words(text)
    if len(tokens) < script.vague_min_words:
        return True
    rest = " " + " ".join(tokens) + " "
    for phrase in sorted(script.vague_words, key=len, reverse=True):
        rest = rest.replace(f" {phrase} ", " ")
    return all(t in script.filler_words for t in rest.split())


def intent_is_answer(question_key: str | None, intent: str | None) -> bool:
    return intent in ANSWER_INTENTS.get(question_key or "", frozenset())


def _side_track(reply: Reply, state: State) -> Outcome | None:
    if reply.confidence < SIDE_TRACK_MIN_CONFIDENCE:
        return None
    if reply.intent in SIDE_TRACKS:
        return Outcome(None, State(Mode.BACK, state.probes, state.dont_know),
                       side_track=reply.intent)
    if reply.intent in ALREADY_BUSY:
        return Outcome(None, State(Mode.BUSY, state.probes, state.dont_know))
    return None


def handle_answer(script: Script, question: Question, reply: Reply, state: State,
                  level: str | None = None, today: date | None = None) -> Outcome:
    """Decide what a reply to `question` leads to."""
    if question.key == "vorige_stap":
        return _handle_followup(script, reply, level)
    if intent_is_answer(question.key, reply.intent):
        reply = Reply(reply.text, "vertellen", reply.confidence)
    if outcome := _side_track(reply, state):
        return outcome
    fresh = State()
    if reply.intent == "uitleg_gevraagd" and reply.confidence >= SIDE_TRACK_MIN_CONFIDENCE:
        return Outcome(None, State(Mode.EXPLAIN, state.probes, state.dont_know))
    if reply.intent == "weet_niet" or _is_skip(reply.text):
        if state.dont_know >= 1:
            return Outcome(SKIPPED, fresh, script.text("overgeslagen", level), store_as="skip")
        return Outcome(None, State(Mode.EXPLAIN, state.probes, state.dont_know + 1),
                       store_as="probe")
    when = parse_when(reply.text, today) if question.needs_date else None
    unclear = (question.needs_date and when is None) or (
        not question.short_ok and not question.needs_date and is_vague(reply.text, script)
    )
    if unclear and state.probes < len(question.probes):
        return Outcome(None, State(Mode.PROBE, state.probes + 1, state.dont_know),
                       store_as="probe")
    say = script.text("verder_zonder_druk", level) if unclear else []
    if not unclear and question.reaction:
        say = script.render(question.reaction, level, antwoord=reply.text)
    return Outcome(reply.text.strip(), fresh, say, store_as="answer", when=when)


def handle_check(script: Script, reply: Reply, state: State, level: str | None = None) -> Outcome:
    """The student's reply to a step summary ("Klopt dat?")."""
    fresh = State()
    if state.mode == Mode.CORRECT:
        return Outcome(reply.text.strip(), fresh, script.text("correctie_ontvangen", level),
                       store_as="correction")
    if outcome := _side_track(reply, state):
        return outcome
    if reply.intent in ("bevestigen", "weet_niet", "bedanken"):
        return Outcome(CONFIRMED, fresh, script.text("samenvatting_goed", level))
    if reply.intent == "ontkennen" and len(words(reply.text)) <= 3:
        return Outcome(None, State(Mode.CORRECT))
    # Anything else is the student's own correction or addition.
    return Outcome(reply.text.strip(), fresh, script.text("correctie_ontvangen", level),
                   store_as="correction")


_YES = {"ja", "jaa", "jep", "yes", "ye", "gelukt", "zeker", "jazeker", "yep", "jup", "klopt"}
_NO = {"nee", "neen", "nope", "no", "nah", "niet", "mislukt"}


def _handle_followup(script: Script, reply: Reply, level: str | None) -> Outcome:
    tokens = words(reply.text)
    first = tokens[0] if tokens else ""
    if reply.intent == "bevestigen" or first in _YES:
        status, key = "gelukt", "vorige_stap_gelukt"
    elif reply.intent == "ontkennen" or first in _NO or "niet gelukt" in " ".join(tokens):
        status, key = "niet_gelukt", "vorige_stap_niet_gelukt"
    else:
        status, key = "deels", "vorige_stap_anders"
    return Outcome(reply.text.strip(), State(), script.text(key, level), store_as="followup",
                   followup_status=status)


def _is_skip(text: str) -> bool:
    return " ".join(words(text)) in {"overslaan", "sla over", "skip", "volgende vraag", "volgende"}


# --- asking -------------------------------------------------------------------------------


def ask_messages(script: Script, step: Step, slot: str, state: State, slots: dict,
                 level: str | None = None, starting_step: bool = False,
                 context: dict | None = None) -> list[str]:
    """What the coach says to ask for `slot` (a question or the step's summary check)."""
    ctx = {**{k: v for k, v in slots.items() if v != SKIPPED}, **(context or {})}
    intro = script.render(step.intro, level) if starting_step else []
    if slot == step.check_slot():
        if state.mode == Mode.CORRECT:
            return script.text("correctie_vraag", level)
        lines = [
            line
            for key, template in step.summary_lines.items()
            if slots.get(key) and slots.get(key) != SKIPPED
            for line in script.render(template, level, **ctx)
        ]
        return (intro + script.render(step.summary_head, level) + lines
                + script.render(step.summary_question, level))
    question = script.question(slot)
    text = script.render(question.text, level, **ctx)
    if state.mode == Mode.PROBE and 0 < state.probes <= len(question.probes):
        return script.render(question.probes[state.probes - 1], level, **ctx)
    if state.mode == Mode.EXPLAIN:
        offer = script.text("weet_niet_aanbod", level) if state.dont_know == 1 else []
        return (script.render(question.explanation, level, **ctx)
                + script.render(question.example, level, **ctx) + offer + text)
    if state.mode == Mode.BACK:
        return script.text("terug_naar_vraag", level) + text
    if state.mode == Mode.BUSY:
        return script.text("al_bezig", level) + text
    return intro + text


def required_slots(script: Script, step_key: str, context: dict) -> list[str]:
    """The questions asked in a step, in order: enabled ones, and conditional ones only when
    their condition holds (e.g. a previous plan to follow up on), then the summary check."""
    step = script.steps[step_key]
    slots = [q.key for q in step.questions
             if q.enabled and (q.only_if is None or context.get(q.only_if))]
    return slots + [step.check_slot()]


def overview_messages(script: Script, items: list[tuple[str, str]], level: str | None = None,
                      limit: int = 8) -> list[str]:
    """The student's own discoveries per competency ("wat heb ik ontdekt?"), newest first."""
    from bot.taxonomy import COMPETENCY_BY_KEY

    if not items:
        return script.text("overzicht_leeg", level)
    lines = script.text("overzicht_kop", level)
    for key, words_ in items[:limit]:
        label = COMPETENCY_BY_KEY[key].label if key in COMPETENCY_BY_KEY else key
        lines += script.text("overzicht_regel", level, label=label, tekst=words_)
    return lines
