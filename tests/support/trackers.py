"""Rasa's tracker store in tests: waiting for a deletion (carried out by Rasa's deletion loop
after the turn that asked for it, so a test polls until the conversation's words are gone),
and the smallest domain a stored tracker needs."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any


def wait_until_forgotten(tracker: Callable[[], dict[str, Any]], text: str,
                         seconds: float = 30) -> list[Any]:
    """Poll `tracker()` until no event holds `text` (or `seconds` pass); the texts last seen."""
    deadline = time.monotonic() + seconds
    while True:
        texts = [event.get("text") for event in tracker()["events"]]
        if text not in texts or time.monotonic() >= deadline:
            return texts
        time.sleep(1)


@functools.cache
def one_slot_domain() -> Any:
    """A domain with one intent and one text slot, `stap`."""
    from rasa.shared.core.domain import Domain

    return Domain.from_yaml("""
version: "3.1"
intents: [begroeten]
slots:
  stap:
    type: text
    mappings: [{type: custom}]
""")
