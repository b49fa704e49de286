"""The conversation as one Rasa form whose questions come from the script, not the domain.

Rasa sees a single form (`gesprek_form`) with a single required slot (`antwoord`): the
student's reply to whatever question is open. Which question that is (`vraag`), the answers so
far (`antwoorden`, by question key) and the step reached live in slots the domain declares
once; the validation action (actions/steps.py) decides with bot.conversation.coaching what the reply
means and asks the next question from the script. So a question added, removed, reordered or
switched off in the script needs no domain change and no retraining."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FORM = "gesprek_form"
REQUESTED_SLOT = "requested_slot"
ANSWER_SLOT = "antwoord"  # the form's one required slot: the reply to the open question
QUESTION_SLOT = "vraag"  # the key of the question open now (a question or "<step>_check")
ANSWERS_SLOT = "antwoorden"  # this conversation's answers: {question key: value}
STEP_SLOT = "stap"
# Set by the validation action when it has just asked the open question; Rasa's form does not
# call action_ask_antwoord for it again in the same turn (bot.rasa_plugins.speed).
ASKED_SLOT = "al_gevraagd"


def answers_in(slots: Mapping[str, Any]) -> dict[str, Any]:
    """The answers held in a tracker's slots (an empty dict when none, or when malformed)."""
    value = slots.get(ANSWERS_SLOT)
    return dict(value) if isinstance(value, dict) else {}
