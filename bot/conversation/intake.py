"""What every student message goes through before the conversation answers it: signal
detection (bot.text.signals) plus the flags that follow from an intent, and what to tell the
student per severity. Independent of Rasa; the actions call `analyse` once per message."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.conversation.coaching import has_words
from bot.conversation.script import Script
from bot.taxonomy import FLAG_BY_KEY, SEVERITIES, STEPS

# Intents that raise a flag by themselves (the NLU recognised them, the detector may not).
INTENT_FLAGS = {"mentor_gevraagd": "mentor_gevraagd", "signaal_crisis": "crisis"}
_DECLINE = re.compile(r"^\s*(liever\s*niet|lievr\s*niet|hoeft\s*niet|niet\s*nodig|nee\s*dank\s*je"
                      r"|nee\s*liever\s*niet|laat\s*maar|niet\s*doen)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    category: str
    severity: str
    evidence: str
    unsure: bool = False  # a crisis the detector is not sure about: ask one check question

    def as_dict(self) -> dict[str, str]:
        return {"category": self.category, "severity": self.severity, "evidence": self.evidence}


@dataclass
class Intake:
    findings: list[Finding] = field(default_factory=list)

    @property
    def urgent(self) -> bool:
        return any(f.severity == "urgent" for f in self.findings)

    @property
    def unsure_crisis(self) -> bool:
        """Only an unsure crisis (no certain one): the coach asks its check question."""
        return not self.urgent and any(f.unsure for f in self.findings)

    @property
    def attention(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "attention" and not f.unsure]


def analyse(text: str, intent: str | None, rules_only: Collection[str] = (),
            screened: Sequence[Any] | None = None) -> Intake:
    """Signals in `text`, plus a flag for an intent that implies one. `rules_only`: attention
    categories the question asked lets only the rules raise (the script's `alleen_regels`).
    `screened`: what Rasa's NLU component already found in this very text with the rules
    file (`bot.rasa_plugins.components`); used instead of screening the message a second time,
    unless a coordinator's rules version applies to this student."""
    from bot.text.signals import ACTIVE_RULES, Signal, detect  # detect loads the pipeline

    signals = None
    if screened is not None and ACTIVE_RULES.get() is None:
        signals = [Signal.from_parse_data(item) for item in screened]
        if any(signal is None for signal in signals):
            signals = None  # malformed: screen again rather than trust part of it
    if signals is None:
        signals = detect(text or "")
    findings = [Finding(s.category, s.severity, s.evidence, s.unsure)
                for s in signals
                if not (s.source == "model" and s.category in rules_only
                        and s.category != "crisis")]  # a crisis always counts
    seen = {f.category for f in findings}
    category = INTENT_FLAGS.get(intent or "")
    if category and category not in seen:
        evidence = (text or "").strip()[:200]
        findings.append(Finding(category, FLAG_BY_KEY[category].severity, evidence))
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.unsure))
    if any(f.severity == "urgent" for f in findings):  # certain: no check question needed
        findings = [f for f in findings if not f.unsure]
    return Intake(findings)


_CHECK_NO = re.compile(
    r"^\s*(nee+|neej|nope|nah|nee\s*hoor|nee\s*echt\s*niet|echt\s*niet|niet\s*echt|"
    r"nee\s*dat\s*niet|helemaal\s*niet|zeker\s*niet|nee\s*hoor\s*gaat\s*wel|gaat\s*wel|"
    r"nee\s*(ik\s*)?(ben|voel\s*me)\s*(wel\s*)?veilig|ik\s*ben\s*(wel\s*)?veilig)"
    r"\b[\s.!,]*(hoor|echt|gwn|gewoon|joh|haha|hihi|hoor\s*haha)?[\s.!,]*$",
    re.IGNORECASE)


def check_answer(text: str, intent: str | None) -> str:
    """The answer to the crisis check question: "nee" closes the check; "ja" and anything
    unclear lead to the crisis reply (when in doubt, the student gets the help numbers)."""
    if _CHECK_NO.match(text or "") or (intent == "ontkennen" and len((text or "").split()) <= 3
                                       and not re.search(r"\bweet\b", text or "", re.I)):
        return "nee"
    return "ja"


# What follows a "nee" to the check question (after_check_no).
GO_ON_WITH_ANSWER = "go_on_with_answer"
START_HINT = "start_hint"
NOTHING_MORE = "nothing_more"


def after_check_no(step: str | None, form_active: bool) -> str:
    """What the coach does after the student's "nee" to the check question, besides its reply:
    - inside a step, between questions (the check interrupted the form): most checks follow
      an ordinary answer the detector was unsure about, so that message answers the open
      question and the conversation goes on by itself (not waiting for "ga door", and not
      asking the same question again, whose answer in the same words would get the check
      again);
    - outside a conversation (the check came before the first question, e.g. on a long yes to
      "Zullen we beginnen?"): say how to begin, or the talk stops there;
    - otherwise (the form still runs): the form asks its question itself."""
    if step in STEPS and not form_active:
        return GO_ON_WITH_ANSWER
    if step not in STEPS:
        return START_HINT
    return NOTHING_MORE


_ACCEPT = re.compile(
    r"^\s*(ja+|jep|jup|yes|graag|ja\s*graag|graag\s*ja|is\s*goed|ja\s*is\s*goed|oke+|ok|oké|"
    r"ja\s*oke|ja\s*doe\s*maar|doe\s*maar|ja\s*dat\s*wil\s*ik|dat\s*wil\s*ik|ja\s*please|"
    r"ja\s*plz|prima|ja\s*prima|lijkt\s*me\s*goed|ja\s*lijkt\s*me\s*goed)[\s.!,]*$",
    re.IGNORECASE)
_NO = re.compile(r"^\s*(nee+|neej|nope|nah|nee\s*hoor|nee\s*dank\s*je(\s*wel)?|nee\s*bedankt|"
                 r"hoeft\s*niet|niet\s*nodig)[\s.!,]*$", re.IGNORECASE)


def is_accept(text: str) -> bool:
    """"ja graag" to the offer of a talk with the mentor."""
    return bool(_ACCEPT.match(text or ""))


def is_no(text: str) -> bool:
    """A plain "nee" (or "liever niet") to the offer of a talk with the mentor."""
    return bool(_NO.match(text or "")) or is_decline(text)


def is_offer(script: Script, intake: Intake, text: str,
             acknowledged: frozenset[str] = frozenset()) -> bool:
    """Whether the coach offers a talk with the mentor instead of announcing it: every new
    concern is of a kind the script offers (`aanbieden`, e.g. disagreement with parents about
    a choice, what a course costs), it is the only one, and nothing in the message makes it
    serious (`aanbod_niet_bij`)."""
    fresh = {f.category for f in intake.attention if f.category not in acknowledged}
    if intake.urgent or intake.unsure_crisis or len(fresh) != 1:
        return False  # two concerns at once are told, not offered
    if not fresh <= script.offered_categories:
        return False
    return not has_words(text or "", script.offer_exceptions, prefix=True)


def check_closed(script: Script, said: Collection[str], level: str | None) -> bool:
    """The student answered "nee" to the crisis check earlier in this conversation: `said`,
    the coach's lines in it, hold the reply to that "nee"."""
    return bool(set(script.signal_reply("crisis_check_nee", level)[:1]) & set(said))


def acknowledged_in(script: Script, said: Collection[str], level: str | None) -> frozenset[str]:
    """Concerns whose acknowledgement is among the coach's lines `said` in this conversation,
    also before it had a session in the database (a concern in the first message)."""
    specific = script.raw["signalen"].get("aandacht_per_soort") or {}
    return frozenset(category for category, text in specific.items()
                     if set(script.render(text, level)) & set(said))


def is_decline(text: str) -> bool:
    """"liever niet": the student does not want the mentor to follow up."""
    return bool(_DECLINE.match(text or ""))


def replies(script: Script, intake: Intake, level: str | None,
            acknowledged: frozenset[str] = frozenset(), offer: bool = False) -> list[str]:
    """What the coach says about the signals: urgent -> the crisis text with help numbers;
    attention -> one acknowledgement (+ the mentor will follow up); info -> nothing.

    `acknowledged`: categories already acknowledged earlier in this conversation. Their
    flags are still stored, but the student does not hear the same acknowledgement twice;
    after a first acknowledgement, a new concern gets its own sentence and a short note
    that the mentor hears this too (not the whole explanation again)."""
    if intake.urgent:
        return script.signal_reply("crisis", level)
    fresh = [f for f in intake.attention if f.category not in acknowledged]
    if not fresh:
        return []
    # One acknowledgement per message, for the most important concern. A student who
    # asks for the mentor is told the mentor will hear it (no "liever niet" offer).
    first = fresh[0].category
    if first == "mentor_gevraagd":
        return script.side_track("mentor_gevraagd", level)
    if offer:  # `is_offer`: a talk offered, not announced
        return script.attention_reply(first, level, offer=True)
    if acknowledged - {"mentor_gevraagd"}:
        return script.attention_reply(first, level, again=True)
    return script.attention_reply(first, level)
