"""A simulated student for the frozen evaluation conversations (data/eval/gesprekken).

Each evaluation conversation is the student's messages in a fixed order of roles (opening,
"ja", experience, role, ..., the plan's day, the last "klopt"). Sent in that order, the set
only fits one shape of the conversation: once a school or a release reorders questions,
switches a step or a summary check off, or adds a question, message 7 no longer answers
question 7. This student answers the question the coach asks instead: the role's message
(after a vague one marked `# vaag` / `# geen dag`, the better one when the coach asks again),
"ja" style confirmations for summary checks from the role written for that step, and
"overslaan" for a question the writer wrote no answer for, and "nee" when the coach checks
whether the student is safe (every evaluation conversation is an ordinary one: such a check is
a false alarm, and a student would say no and go on; the rubric counts it as a derailment).
The coach's questions are recognised through the script (as for the demo students), so
rewording changes nothing either."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.conversation.script import Script
from bot.demo_talk import CHECK, CRISIS_CHECK, ENDINGS, OFFER, Coach
from bot.portal import yaml_roundtrip

# The order of the messages in every evaluation conversation (the set's header).
ROLES = ("opening", "start", "ervaring", "rol", "verwachting", "terugkijken_check",
         "goed_gedaan", "leuk_niet_leuk", "inzicht_naam", "reflecteren_check", "uitproberen",
         "nodig_voor_keuze", "vooruitkijken_check", "hulp_contact", "obstakel", "oplossing",
         "wanneer", "activeren_check")
RETRY_MARKS = ("vaag", "geen dag")  # the next message answers the same question again
SKIP = "overslaan"
NOT_UNSAFE = "nee"  # to the crisis check question, in an ordinary conversation
MAX_TURNS = 60


def roles_of(messages: Any) -> dict[str, list[str]]:
    """The messages of one conversation per role; `messages` as loaded by yaml_roundtrip
    (its comments say which messages are followed by a second try)."""
    if all(isinstance(m, dict) and len(m) == 1 for m in messages):
        # Sets from set2 on name each message's role ({ervaring: "..."}); the same role again
        # is the second try at the same question.
        named: dict[str, list[str]] = {}
        for message in messages:
            (role, text), = message.items()
            named.setdefault(str(role), []).append(str(text))
        return named
    comments = getattr(messages, "ca", None)
    marked = set()
    for index, tokens in (comments.items.items() if comments is not None else []):
        text = " ".join(str(t.value) for t in tokens if t is not None and hasattr(t, "value"))
        if any(mark in text for mark in RETRY_MARKS):
            marked.add(index)
    roles: dict[str, list[str]] = {}
    role = 0
    for index, message in enumerate(messages):
        if role >= len(ROLES):
            break
        roles.setdefault(ROLES[role], []).append(str(message))
        if index not in marked:
            role += 1
    return roles


def load_conversations(text: str) -> list[dict[str, Any]]:
    """The conversations of a set, each with its `rollen` (see roles_of)."""
    doc = yaml_roundtrip.load(text)
    found = []
    for conversation in doc.get("gesprekken") or []:
        plain = yaml_roundtrip.plain(conversation)
        plain["rollen"] = roles_of(conversation["berichten"])
        found.append(plain)
    return found


@dataclass
class Student:
    """Answers whatever the coach asks with the role's messages. What a message of the coach
    asks is recognised as for the demo students (bot.demo_talk.Coach)."""

    coach: Coach
    roles: dict[str, list[str]]
    sent: dict[str, int] = field(default_factory=dict)
    level: str | None = None  # what the student answers to "Zit je op het vmbo of het mbo?"

    @classmethod
    def of(cls, script: Script, roles: dict[str, list[str]], level: str | None = None
           ) -> Student:
        return cls(Coach(script, level), roles, level=level)

    def reply(self, bot_lines: list[str] | tuple[str, ...]) -> str | None:
        """The student's next message; None when the coach asks nothing (the plan is made,
        a crisis reply, a pause) or something the script does not explain."""
        asked = self.coach.asked(list(bot_lines))
        if asked == CRISIS_CHECK:
            return NOT_UNSAFE
        if asked is None or asked in ENDINGS:
            return None
        key = {OFFER: "start"}.get(asked, asked)
        if key.startswith(CHECK):
            key = f"{key[len(CHECK):]}_check"
        messages = self.roles.get(key)
        if key == self.coach.level_key and not messages and self.level:
            messages = [self.level]  # a student knows their school
        if not messages:
            return "ja" if key.endswith("_check") else SKIP
        n = self.sent.get(key, 0)
        self.sent[key] = n + 1
        if n > len(messages):  # asked again after the last answer, twice: move on
            return SKIP if not key.endswith("_check") else "ja"
        return messages[min(n, len(messages) - 1)]
