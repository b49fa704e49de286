"""One letter off is a typo; a short or different word is not (bot.conversation.spelling)."""

import pytest

from bot.conversation.spelling import typo_of


@pytest.mark.parametrize(("word", "expected"), [
    ("bedankt", "bedankt"), ("bedank", "bedankt"), ("overzicht", "overzicht"),
    ("overzihct", "overzicht"), ("bot", "bot"), ("bod", None), ("rechtvaardig", None),
])
def test_typo_of(word: str, expected: str | None) -> None:
    assert typo_of(word, frozenset(("bedankt", "overzicht", "bot"))) == expected
