"""Koppelcodes (bot.channels.linking): making and recognising codes in students' messages."""

from __future__ import annotations

import re

import pytest

from bot.channels.linking import ALPHABET, code_hash, find_code, new_code


def test_new_codes_are_readable_and_never_all_letters_or_all_digits() -> None:
    # Random codes may collide (31^6 values; ~0.2 % chance in 2000 draws): storage retries on
    # a collision, so the test asks for spread, not for uniqueness.
    codes = {new_code() for _ in range(2000)}
    assert len(codes) >= 1990
    for code in codes:
        assert re.fullmatch(rf"[{ALPHABET}]{{3}}-[{ALPHABET}]{{3}}", code)
        raw = code.replace("-", "")
        assert any(c.isdigit() for c in raw) and any(c.isalpha() for c in raw)
    assert not set("01OIL") & set("".join(codes))


@pytest.mark.parametrize(("message", "code"), [
    ("K7P-2QF", "K7P-2QF"),
    ("k7p2qf", "K7P-2QF"),
    ("mijn code is k7p-2qf", "K7P-2QF"),
    ("Hoi! Mijn koppelcode: K7P 2QF.", "K7P-2QF"),
    ("code K7P-2QF", "K7P-2QF"),
])
def test_a_code_is_found_in_a_message_about_a_code(message: str, code: str) -> None:
    assert find_code(message) == code


@pytest.mark.parametrize("message", [
    "dat was leuk",  # six letters, no digit
    "ik zag 3 auto en 4 fietsen",
    "K7P-2QF en toen gingen we met de hele klas naar huis",  # a story, not a code
    "mijn code is abc-def",  # no digit: never a code
    "mijn code is K0P-2QF",  # 0 is not in the alphabet
    "ik werk bij de AH2 in de stad",
    "",
])
def test_ordinary_messages_are_no_code(message: str) -> None:
    assert find_code(message) is None


def test_codes_are_hashed_case_insensitively() -> None:
    assert code_hash("k7p-2qf") == code_hash("K7P-2QF") and len(code_hash("K7P-2QF")) == 64
