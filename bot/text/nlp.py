"""The project's Dutch spaCy pipeline, loaded once per process.

The pipeline's name is read from the SpacyNLP entry in `config.yml`, so that switching to
another pipeline (e.g. `nl_core_news_sm` where it can be installed) is one change there and
the assistant's own text analysis follows it."""

from __future__ import annotations

from functools import lru_cache

import yaml

from bot.config import settings
from bot.paths import RASA_CONFIG

DEFAULT_PIPELINE = "nl_loopbaan_sm"


def pipeline_name() -> str:
    """The spaCy pipeline name: $SPACY_PIPELINE, else config.yml's SpacyNLP model."""
    if name := settings().spacy_pipeline:
        return name
    try:
        config = yaml.safe_load(RASA_CONFIG.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return DEFAULT_PIPELINE
    for component in config.get("pipeline") or []:
        if component.get("name") == "SpacyNLP" and component.get("model"):
            return str(component["model"])
    return DEFAULT_PIPELINE


@lru_cache(maxsize=1)
def get_nlp():  # -> spacy.language.Language (spaCy import kept lazy: it is slow)
    import spacy

    name = pipeline_name()
    try:
        # Without the dependency parser, as Rasa's SpacyNLP loads it: nothing here reads the
        # parse, and lemmas and vectors do not depend on it (it is a third of a parse's time).
        return spacy.load(name, disable=["parser"])
    except OSError as exc:
        raise RuntimeError(
            f"De Nederlandse spaCy-pipeline '{name}' is niet geïnstalleerd. "
            "Run `make setup` (or `make nlp-model` to train it)."
        ) from exc
