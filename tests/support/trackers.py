"""Waiting for Rasa's tracker store: a deletion is carried out by Rasa's deletion loop after
the turn that asked for it, so a test polls until the conversation's words are gone."""

from __future__ import annotations

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
