"""What a step's validation events mean for the form that runs them, as Rasa's FormAction
reads them (rasa.core.actions.forms: `validate`, `is_done`, `request_next_slot`). Shared by
the validation action, which asks the next question in the same call (actions/steps.py),
and the Rasa plug-in that then skips the separate ask call (bot.rasa_speed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REQUESTED_SLOT = "requested_slot"
# Set by the validation action to the slot it has just asked for; Rasa's form does not call
# action_ask_<slot> for it again in the same turn, and the slot is cleared right away.
ASKED_SLOT = "al_gevraagd"


def _slot_events(events: Sequence[dict[str, Any]], name: str | None = None) -> list[Any]:
    return [e for e in events if isinstance(e, dict) and e.get("event") == "slot"
            and (name is None or e.get("name") == name)]


def asks_next(events: Sequence[dict[str, Any]]) -> str | None:
    """The slot the form will ask for after these validation events, or None when it will
    not ask (it ends, the student's message could still be rejected, or no slot is named:
    the step's validation action always names one, see actions/steps.py)."""
    if not any(e.get("name") != REQUESTED_SLOT for e in _slot_events(events)):
        return None  # Rasa may reject the form's turn: nothing may be said yet
    requested = _slot_events(events, REQUESTED_SLOT)
    if not requested or requested[-1].get("value") is None:
        return None  # the form ends
    loops = [e for e in events if isinstance(e, dict) and e.get("event") == "active_loop"]
    if loops and loops[-1].get("name") is None:
        return None  # the validation stopped the form
    value = requested[0].get("value")  # Rasa asks for the first one named
    return value if isinstance(value, str) and value else None
