"""Keeping students' words out of Rasa's logs, at every level.

Rasa 3.6 logs message text in structured events (`text=`, `parse_data_text=`, ...) and in
DEBUG lines of its standard loggers. Its own anonymisation hook needs Rasa Pro. `install()`,
run in the Rasa process when our channel module loads, puts a processor in front of
structlog that blanks every key Rasa itself lists as personal, and drops DEBUG records of
Rasa's standard loggers, so that not even `rasa run --debug` writes a student's words."""

from __future__ import annotations

import logging
from typing import Any

REDACTED = "[verborgen]"
# The keys Rasa's own _anonymizer (rasa/utils/log_utils.py) treats as personal data.
PERSONAL_KEYS = frozenset({
    "text", "response_text", "user_text", "slot_values", "parse_data_text",
    "parse_data_entities", "prediction_events", "tracker_latest_message", "prefilled_slots",
    "message", "response", "slot_candidates", "rasa_event", "rasa_events", "tracker_states",
    "current_states", "old_states", "successes", "current_entity", "next_entity", "states",
    "entity", "token_text", "user_message", "json_message", "events", "tracker",
})
_installed = False


def redact(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: blank the personal keys."""
    for key in PERSONAL_KEYS & event_dict.keys():
        event_dict[key] = REDACTED
    return event_dict


class DropRasaDebug(logging.Filter):
    """Rasa's DEBUG lines quote messages and slot values; they never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno < logging.INFO
                    and record.name.split(".", 1)[0] in ("rasa", "rasa_sdk"))


def install() -> None:
    global _installed
    if _installed:
        return
    import structlog

    processors = list(structlog.get_config().get("processors") or [])
    if redact not in processors:
        structlog.configure(processors=[redact, *processors])
    drop = DropRasaDebug()
    root = logging.getLogger()
    root.addFilter(drop)
    for handler in root.handlers:
        handler.addFilter(drop)
    for name in ("rasa", "rasa_sdk"):
        logging.getLogger(name).addFilter(drop)
    _installed = True
