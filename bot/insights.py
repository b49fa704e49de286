"""Which answers are insights, and to which competencies they belong."""

from __future__ import annotations

from dataclasses import dataclass

from bot.coaching import SKIPPED

# The competency an answer belongs to when the classifier finds none: decided by the
# question it answers (the four steps are built around the competencies).
QUESTION_COMPETENCY: dict[str, str] = {
    "rode_draad": "motieven",
    "opgevallen": "werkexploratie",
    "goed_gedaan": "kwaliteiten",
    "hoe_gedaan": "kwaliteiten",
    "leuk_niet_leuk": "motieven",
    "waarom": "motieven",
    "belangrijk": "motieven",
    "inzicht_naam": "kwaliteiten",
    "uitproberen": "werkexploratie",
    "nodig_voor_keuze": "loopbaansturing",
    "hulp_contact": "netwerken",
}
HEADLINE_QUESTION = "inzicht_naam"  # the student's own name for the insight


@dataclass(frozen=True)
class InsightDecision:
    competencies: list[str]
    method: str
    headline: bool


def decide(question_key: str, text: str) -> InsightDecision | None:
    """None when the answer is no insight (a factual question, or skipped)."""
    if question_key not in QUESTION_COMPETENCY or not text or text == SKIPPED:
        return None
    from bot.competencies import METHOD, classify

    found = classify(text)
    if found:
        return InsightDecision(found[:2], METHOD, question_key == HEADLINE_QUESTION)
    return InsightDecision([QUESTION_COMPETENCY[question_key]], f"vraag:{question_key}",
                           question_key == HEADLINE_QUESTION)
