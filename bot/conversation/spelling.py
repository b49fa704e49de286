"""Typos students make: one word against the words it may stand for."""

from __future__ import annotations

from collections.abc import Collection
from difflib import SequenceMatcher

TYPO_MIN_LENGTH = 5  # shorter words are too close to each other ("maand", "maan")
TYPO_MIN_RATIO = 0.85  # about one letter off, added or dropped in a word of six or more


def typo_of(word: str, known: Collection[str]) -> str | None:
    """`word` itself when it is one of `known`, else the first of `known` it is a typo of;
    None when it is none of them."""
    if word in known:
        return word
    if len(word) < TYPO_MIN_LENGTH:
        return None
    return next((candidate for candidate in known if len(candidate) >= TYPO_MIN_LENGTH
                 and SequenceMatcher(None, word, candidate).ratio() >= TYPO_MIN_RATIO), None)
