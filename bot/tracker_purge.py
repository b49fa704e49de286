"""Removing a student's conversation from Rasa's tracker store (deletion on request).

The deletion runs inside an action, while Rasa still holds the tracker of that very turn and
writes it back afterwards; so the purge runs a few seconds later, once the turn is saved."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import create_engine, text

from bot.config import settings

log = logging.getLogger(__name__)
PURGE_DELAY_S = 4.0


def purge(sender_id: str, url: str | None = None) -> int:
    """Delete the sender's events from the tracker store; the number of events removed."""
    engine = create_engine(url or settings().tracker_store_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text("DELETE FROM events WHERE sender_id = :s"),
                                  {"s": sender_id})
            return int(result.rowcount or 0)
    finally:
        engine.dispose()


def purge_later(sender_id: str, delay_s: float = PURGE_DELAY_S) -> None:
    def run() -> None:
        try:
            removed = purge(sender_id)
            log.info("tracker.purged", extra={"events": removed})
        except Exception:
            log.exception("tracker.purge_failed")

    timer = threading.Timer(delay_s, run)
    timer.daemon = True
    timer.start()
