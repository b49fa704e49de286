"""Rasa NLU component: the safety layer in front of the dialogue policies.

When `bot.text.signals.detect` finds an urgent signal in a message, the intent becomes
`signaal_crisis` (confidence 1.0), whatever the classifier said, so that the rules stop the
reflection script at once. The detector is the only judge of a crisis: when the classifier
alone says `signaal_crisis`, the next intent of its ranking is used instead (measured on
data/signals/eval.yml, the classifier added no true crisis but 25 false alarms).
The classifier's ranking stays in the parse data for analysis. Detection rules are data
(data/signals/rules.yml): changing them needs no retraining."""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

log = logging.getLogger(__name__)

CRISIS_INTENT = "signaal_crisis"
UNSURE_ONLY = "signal_unsure_only"  # in the parse data: the crisis is only the model's guess
NEXT_BEST_MIN_CONFIDENCE = 0.45  # as the FallbackClassifier's threshold in config.yml


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class SafetyOverride(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyOverride:
        from bot.text.signals import detect  # warm up rules and pipeline at load, not per message

        detect("hallo")
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        from bot.text.signals import PARSE_DATA_KEY, detect

        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text.strip():
                continue
            try:
                # Reuse SpacyNLP's parse (used when it is of this very text: lower-case
                # messages, as most student messages are) instead of parsing twice.
                doc = message.get(SPACY_DOCS[TEXT])
                found = detect(text, doc=doc)
            except Exception:  # never let the safety layer take the bot down
                log.exception("safety_override.detect_failed")
                continue
            message.set(PARSE_DATA_KEY, [s.as_parse_data() for s in found], add_to_output=True)
            # An unsure crisis also stops the script: the coach asks its check question.
            urgent = [s for s in found if s.severity == "urgent" or s.unsure]
            if urgent:
                message.set(INTENT, {"name": CRISIS_INTENT, "confidence": 1.0},
                            add_to_output=True)
                message.set(UNSURE_ONLY, all(s.severity != "urgent" for s in urgent),
                            add_to_output=True)
                log.info("safety_override.urgent", extra={"categories": ["crisis"]})
            elif (message.get(INTENT) or {}).get("name") == CRISIS_INTENT:
                message.set(INTENT, _next_best(message), add_to_output=True)
        return messages


def _next_best(message: Message) -> dict[str, Any]:
    """The best other intent of the classifier's ranking when it is sure enough; else the
    student is telling something (`vertellen`), which is what such a message always is."""
    for candidate in message.get(INTENT_RANKING_KEY) or []:
        if candidate.get("name") not in (CRISIS_INTENT, "nlu_fallback"):
            if float(candidate.get("confidence", 0.0)) >= NEXT_BEST_MIN_CONFIDENCE:
                return {"name": candidate["name"], "confidence": candidate["confidence"]}
            break
    return {"name": "vertellen", "confidence": 1.0}
