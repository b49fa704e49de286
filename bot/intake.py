"""What every student message goes through before the conversation answers it: signal
detection (bot.signals) plus the flags that follow from an intent, and what to tell the
student per severity. Independent of Rasa; the actions call `analyse` once per message."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.script import Script
from bot.taxonomy import FLAG_BY_KEY

# Intents that raise a flag by themselves (the NLU recognised them, the detector may not).
INTENT_FLAGS = {"mentor_gevraagd": "mentor_gevraagd", "signaal_crisis": "crisis"}
_DECLINE = re.compile(r"^\s*(liever\s*niet|lievr\s*niet|hoeft\s*niet|niet\s*nodig|nee\s*dank\s*je"
                      r"|nee\s*liever\s*niet|laat\s*maar|niet\s*doen)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    category: str
    severity: str
    evidence: str

    def as_dict(self) -> dict[str, str]:
        return {"category": self.category, "severity": self.severity, "evidence": self.evidence}


@dataclass
class Intake:
    findings: list[Finding] = field(default_factory=list)

    @property
    def urgent(self) -> bool:
        return any(f.severity == "urgent" for f in self.findings)

    @property
    def attention(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "attention"]


def analyse(text: str, intent: str | None) -> Intake:
    """Signals in `text`, plus a flag for an intent that implies one."""
    from bot.signals import detect  # loads the Dutch pipeline on first use

    findings = [Finding(s.category, s.severity, s.evidence) for s in detect(text or "")]
    seen = {f.category for f in findings}
    category = INTENT_FLAGS.get(intent or "")
    if category and category not in seen:
        evidence = (text or "").strip()[:200]
        findings.append(Finding(category, FLAG_BY_KEY[category].severity, evidence))
    order = {"urgent": 0, "attention": 1, "info": 2}
    findings.sort(key=lambda f: order[f.severity])
    return Intake(findings)


def is_decline(text: str) -> bool:
    """"liever niet": the student does not want the mentor to follow up."""
    return bool(_DECLINE.match(text or ""))


def replies(script: Script, intake: Intake, level: str | None) -> list[str]:
    """What the coach says about the signals: urgent -> the crisis text with help numbers;
    attention -> one acknowledgement (+ the mentor will follow up); info -> nothing."""
    if intake.urgent:
        return script.signal_reply("crisis", level)
    if intake.attention:
        # One acknowledgement per message, for the most important concern. A student who
        # asks for the mentor is told the mentor will hear it (no "liever niet" offer).
        first = intake.attention[0].category
        if first == "mentor_gevraagd":
            return script.side_track("mentor_gevraagd", level)
        return script.attention_reply(first, level)
    return []
