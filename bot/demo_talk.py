"""Holding a demo student's conversation with the real coach (bot.demo): recognise what the coach
just asked, from the conversation script (data/script/gesprek.yml), and answer it with the
student's prepared words for that question (data/demo/students.yml).

The answers are keyed by question, not a fixed list of messages, so a follow-up question on a
vague answer takes the next prepared answer for that question; anything the coach says that
the script does not explain stops the demo with the coach's words (DemoError)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.conversation.script import Role, Script

MAX_TURNS = 60  # a conversation has about 20 turns; more means the coach is going in circles

# What the coach's last message can mean besides a question.
OFFER = "aanbod"  # "Zullen we beginnen?"
DONE = "klaar"  # the plan is made: the conversation is completed
CRISIS = "crisis"  # the crisis reply: the questions stop
PAUSED = "pauze"  # the student paused
CHECK = "check:"  # + step: the step's summary, "Klopt dat?"
CRISIS_CHECK = "crisis_check"

ENDINGS = {DONE: "afgerond", CRISIS: "crisis", PAUSED: "gepauzeerd"}


class DemoError(RuntimeError):
    """The demo cannot go on (Dutch, for the person running `make demo`)."""


@dataclass(frozen=True)
class DemoConversation:
    """One student's conversation as written in the data file."""

    answers: dict[str, tuple[str, ...]]  # question key -> answers, in order
    weeks_ago: int = 0
    via_checkin: bool = False
    end: str = "afgerond"  # afgerond, crisis, gepauzeerd, afgehaakt
    pause: str | None = None  # what the student says to pause (einde: gepauzeerd)
    checks: dict[str, str] = field(default_factory=dict)  # step -> reply to "Klopt dat?"
    flags: tuple[str, ...] = ()  # flag categories this conversation should raise
    opener: str = "hoi"
    offer: str = "ja"


def _patterns(script: Script, value: Any, level: str | None) -> list[re.Pattern[str]]:
    return [p for form in script.form_patterns(value, level) for p in form]


class Coach:
    """Knows, for one level, what each of the coach's messages means."""

    def __init__(self, script: Script, level: str | None) -> None:
        self.level_key = script.key_of(Role.LEVEL)
        self.meanings: list[tuple[re.Pattern[str], str]] = []
        self.heads: list[tuple[re.Pattern[str], str]] = []

        def add(value: Any, meaning: str, only_last: bool = False) -> None:
            for form in script.form_patterns(value, level):
                for pattern in form[-1:] if only_last else form:
                    self.meanings.append((pattern, meaning))

        for step in script.steps.values():
            for question in step.questions:
                add(question.text, question.key)
                if question.later_text is not None:  # the open start of later conversations
                    add(question.later_text, question.key)
                for _, text in question.texts_if:  # what the coach knows from last time
                    add(text, question.key)
                for probe in question.probes:
                    add(probe, question.key)
                # After "weet niet" the coach explains the question and offers to skip it.
                add(question.explanation, question.key)
                add(question.example, question.key)
            add(step.summary_question, CHECK)
            self.heads += [(p, step.key) for p in _patterns(script, step.summary_head, level)]
        for key in ("aanbod_nieuw", "aanbod_terug", "aanbod_gepauzeerd", "aanbod_gepauzeerd_over"):
            add(script.raw["teksten"][key], OFFER, only_last=True)
        # After a side track the question comes in one bubble behind a lead ("Goed, terug naar
        # de vraag: ..."; bot.conversation.coaching.ask_messages).
        self.leads = sorted({line for key in ("terug_naar_vraag", "al_bezig")
                             for form in script.text_forms(key, level) for line in form},
                            key=len, reverse=True)
        add(script.raw["teksten"]["afronden"], DONE)
        if "afronden_met_plan" in script.raw["teksten"]:
            add(script.raw["teksten"]["afronden_met_plan"], DONE)
        add(script.raw["teksten"]["pauze"], PAUSED)
        add(script.raw["signalen"]["crisis"], CRISIS)
        add(script.raw["signalen"]["crisis_check"], CRISIS_CHECK)

    def asked(self, replies: list[str]) -> str | None:
        """What the coach's replies ask for, judged by the last message that means something
        (a question key, OFFER, CHECK + step, DONE, ...); None when nothing is recognised."""
        for reply in reversed(replies):
            text = reply.strip()
            lead = next((lead for lead in self.leads if text.startswith(lead + " ")), "")
            text = text[len(lead):].strip()
            for pattern, meaning in self.meanings:
                if pattern.fullmatch(text):
                    return CHECK + self._step_of_check(replies) if meaning == CHECK else meaning
        return None

    def _step_of_check(self, replies: list[str]) -> str:
        for reply in reversed(replies):
            for pattern, step in self.heads:
                if pattern.fullmatch(reply.strip()):
                    return step
        return "?"


Say = Callable[[str], list[str]]


def hold(say: Say, coach: Coach, conversation: DemoConversation, who: str,
         first_asked: str | None = None) -> str:
    """Hold `conversation` through `say` (one student message -> the coach's replies) and
    return how it ended (afgerond, crisis, gepauzeerd, afgehaakt). `first_asked`: the coach
    already asked this (a check-in it sent first); otherwise the student opens."""
    used: dict[str, int] = defaultdict(int)
    checked: set[str] = set()

    def answer(asked: str, replies: list[str]) -> str | None:
        if asked == OFFER:
            return conversation.offer
        if asked.startswith(CHECK):
            step = asked[len(CHECK):]
            reply = conversation.checks.get(step, "ja") if step not in checked else "ja"
            checked.add(step)
            return reply
        prepared = conversation.answers.get(asked)
        if prepared is None:
            return None
        if used[asked] >= len(prepared):
            raise DemoError(f"{who}: de coach vraagt nog een keer naar '{asked}', maar er "
                            f"staat geen antwoord meer klaar. Na {prepared[-1]!r} zei de "
                            f"coach: {replies!r}")
        used[asked] += 1
        return prepared[used[asked] - 1]

    if first_asked is not None:
        asked: str | None = first_asked
        replies: list[str] = []
    else:
        replies = say(conversation.opener)
        asked = coach.asked(replies)
    for _ in range(MAX_TURNS):
        if asked is None:
            raise DemoError(f"{who}: onverwacht antwoord van de coach: {replies!r}")
        if asked in ENDINGS:
            return ENDINGS[asked]
        text = answer(asked, replies)
        if text is None:
            if conversation.end == "afgehaakt":
                return "afgehaakt"  # the student stops replying
            if conversation.end == "gepauzeerd" and conversation.pause:
                text = conversation.pause
            else:
                raise DemoError(f"{who}: de coach vraagt '{asked}', maar daar staat geen "
                                "antwoord voor klaar.")
        replies = say(text)
        asked = coach.asked(replies)
    raise DemoError(f"{who}: het gesprek is na {MAX_TURNS} berichten nog niet klaar.")
