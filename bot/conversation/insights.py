"""Which answers are insights, and to which competencies they belong: the script says per
question (`competentie`: the competency an answer belongs to when the classifier finds none;
`doel: inzicht`: the student's own name for the insight)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversation.coaching import SKIPPED
from bot.conversation.script import Role, Script


@dataclass(frozen=True)
class InsightDecision:
    competencies: list[str]
    method: str
    headline: bool


def decide(script: Script, question_key: str, text: str) -> InsightDecision | None:
    """None when the answer is no insight (a factual question, or skipped)."""
    question = script.find_question(question_key)
    if question is None or question.competency is None or not text or text == SKIPPED:
        return None
    from bot.text.competencies import METHOD, classify

    headline = question.role == Role.INSIGHT
    found = classify(text)
    if found:
        return InsightDecision(found[:2], METHOD, headline)
    return InsightDecision([question.competency], f"vraag:{question_key}", headline)
