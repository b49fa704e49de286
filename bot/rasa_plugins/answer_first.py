"""Rasa plug-in: inside a conversation the question asked decides what a message means
(bot.conversation.answer_first). Wraps MessageProcessor.parse_message, which is the first place
that has
both the classifier's intent and the conversation's state; the rules then see the corrected
intent, so an answer such as "morgen" fills the asked slot instead of pausing."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
_installed = False


def _asking(tracker: Any) -> bool:
    """The conversation is waiting for the answer to a question (its form is active and
    asking)."""
    from bot.conversation.form_events import REQUESTED_SLOT

    if tracker is None:
        return False
    loop = getattr(tracker, "active_loop_name", None)
    return bool(loop) and bool(tracker.get_slot(REQUESTED_SLOT))


OFFER_ACTION = "action_aanbod"  # asks "Zullen we beginnen?"


def _last_action(tracker: Any) -> str | None:
    """The coach's last action before it listened for this message."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted

    event = tracker.get_last_event_for(ActionExecuted,
                                       action_names_to_exclude=[ACTION_LISTEN_NAME])
    return event.action_name if event else None


def _check_closed(tracker: Any, script: Any) -> bool:
    """bot.conversation.intake.check_closed over the coach's lines of this Rasa session."""
    from rasa.shared.core.events import BotUttered, SessionStarted

    from bot.conversation.intake import check_closed

    said: list[str] = []
    for event in reversed(tracker.events):
        if isinstance(event, SessionStarted):
            break
        if isinstance(event, BotUttered) and event.text:
            said.append(event.text)
    return check_closed(script, said, tracker.get_slot("niveau"))


def correct(parse_data: dict[str, Any], tracker: Any) -> dict[str, Any]:
    """The parse data with an interruption turned into an answer where bot.conversation.answer_first
    says so; the classifier's intent stays in `bot_intent` for analysis."""
    from bot.conversation.answer_first import (
        ANSWER_INTENT,
        meaning,
        meaning_at_offer,
        meaning_of_first_message,
    )
    from bot.conversation.form_events import QUESTION_SLOT, STEP_SLOT
    from bot.conversation.script import get_script
    from bot.rasa_plugins.components import CRISIS_INTENT, UNSURE_ONLY

    intent = (parse_data.get("intent") or {}).get("name")
    text = parse_data.get("text")
    if not isinstance(text, str) or tracker is None:
        return parse_data
    if _asking(tracker):
        if (intent == CRISIS_INTENT and parse_data.get(UNSURE_ONLY)
                and _check_closed(tracker, get_script())):
            decided = ANSWER_INTENT  # the coach asks its check once per conversation
        else:
            decided = meaning(intent, text, True, get_script(),
                              tracker.get_slot(QUESTION_SLOT))
    elif _last_action(tracker) == OFFER_ACTION:
        decided = meaning_at_offer(intent, text)
    elif not tracker.get_slot(STEP_SLOT):
        decided = meaning_of_first_message(intent, text, get_script())
    else:
        return parse_data
    if decided != intent:
        parse_data["bot_intent"] = parse_data.get("intent")
        parse_data["intent"] = {"name": decided, "confidence": 1.0}
        log.info("answer_first.corrected", extra={"classified": intent, "decided": decided,
                                                  "slot": tracker.get_slot(QUESTION_SLOT)})
    return parse_data


def install() -> None:
    """Wrap MessageProcessor.parse_message once."""
    global _installed
    if _installed:
        return
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor.parse_message

    async def parse_message(self: Any, message: Any, tracker: Any = None,
                            only_output_properties: bool = True) -> dict[str, Any]:
        parse_data = await original(self, message, tracker, only_output_properties)
        try:
            return correct(parse_data, tracker)
        except Exception:  # never let this take a turn down: the classifier's reading stands
            log.exception("answer_first.failed")
            return parse_data

    MessageProcessor.parse_message = parse_message
    _installed = True
