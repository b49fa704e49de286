"""Checking what a channel receives before Rasa sees it: the shape of the request, who sends
it, and how long it is. Pure functions, shared by every channel (REST, Matrix, ...)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SENDER_RE = re.compile(r"^[A-Za-z0-9_.:@=+-]{1,128}$")
MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadRequest(ValueError):
    """The request cannot be handled; `str(exc)` is a clear message for the caller."""


@dataclass(frozen=True)
class Incoming:
    sender: str
    text: str
    message_id: str | None
    too_long: bool  # longer than the limit: answered politely, never parsed


def student_text(text: str) -> str:
    """The text as the NLU may see it. A leading '/' would let anyone trigger an intent
    (or inject entities) by name, e.g. '/signaal_crisis': from a student it is just text."""
    return text.strip().lstrip("/").strip()


def parse_rest_body(raw: bytes, max_chars: int) -> Incoming:
    """The body of POST /webhooks/rest/webhook: {"sender": str, "message": str,
    "message_id"?: str}. Raises BadRequest for anything else."""
    if not raw or not raw.strip():
        raise BadRequest("Lege aanvraag: stuur een JSON-object met 'sender' en 'message'.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Geen geldige JSON.") from exc
    if not isinstance(body, dict):
        raise BadRequest("Verwacht een JSON-object met 'sender' en 'message'.")
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender:
        raise BadRequest("'sender' ontbreekt of is geen tekst.")
    if not SENDER_RE.match(sender):
        raise BadRequest("'sender' mag 1-128 tekens hebben: letters, cijfers en _.:@=+-")
    message = body.get("message")
    if not isinstance(message, str):
        raise BadRequest("'message' ontbreekt of is geen tekst.")
    message_id = body.get("message_id")
    if message_id is not None and (not isinstance(message_id, str)
                                   or not MESSAGE_ID_RE.match(message_id)):
        raise BadRequest("'message_id' mag 1-64 tekens hebben: letters, cijfers, _ en -.")
    if len(message) > max_chars:
        return Incoming(sender, "", message_id, too_long=True)
    text = student_text(message)
    if not text:
        raise BadRequest("'message' is leeg.")
    return Incoming(sender, text, message_id, too_long=False)
