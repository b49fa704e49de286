"""Koppelcodes: short codes a student types once in any channel ("mijn code is K7P-2QF") so
that the channel's identity belongs to the student the school made. Pure: making, reading and
hashing codes; the database side is bot.storage.links."""

from __future__ import annotations

import hashlib
import re
import secrets

# No 0/O, 1/I/L: a code is read off paper or a screen and typed on a phone.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
DIGITS = frozenset("23456789")
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z2-9]{3})[-\s]?([A-Za-z2-9]{3})(?![A-Za-z0-9])")
_KEYWORD = re.compile(r"\b(code|koppel\w*|link\w*)\b", re.IGNORECASE)
MAX_WORDS = 8  # "hallo, mijn koppelcode is K7P-2QF" and no longer: not a story with a code


def new_code() -> str:
    """A random code "K7P-2QF" (about 29 bits), always with a digit and a letter so that a
    six-letter phrase ("dat was") is never read as one."""
    while True:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(6))
        if DIGITS & set(raw) and set(raw) - DIGITS:
            return f"{raw[:3]}-{raw[3:]}"


def find_code(text: str) -> str | None:
    """The code in a short message that is about a code (the message is only the code, or it
    names "code"/"koppel"); normalised to "K7P-2QF". None when there is none."""
    if not isinstance(text, str) or len(text.split()) > MAX_WORDS:
        return None
    stripped = text.strip().strip(".!?")
    for match in _CODE.finditer(text):
        raw = (match.group(1) + match.group(2)).upper()
        if not (DIGITS & set(raw) and set(raw) - DIGITS) or set(raw) - set(ALPHABET):
            continue
        if match.group(0).strip() == stripped or _KEYWORD.search(text):
            return f"{raw[:3]}-{raw[3:]}"
    return None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.upper().encode("ascii", "replace")).hexdigest()
