"""Rasa plug-in for commands outside the conversation, answered here in any channel without
entering the conversation (its state stays as it was): a koppelcode ("mijn code is K7P-2QF")
links the sender's channel identity to the school's student (bot.storage.links), and "stop
met herinneringen" / "herinneringen aan" switch the coach's check-ins off and on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)
_installed = False
REPLY_KEYS = {"gekoppeld": "koppelen_gelukt", "al_gekoppeld": "koppelen_al",
              "onbekend": "koppelen_onbekend", "ander": "koppelen_ander",
              "te_vaak": "koppelen_te_vaak"}


def link(channel: str, sender_id: str, code: str) -> list[str]:
    """Redeem the code in one transaction; the Dutch reply from the script."""
    from bot.conversation.script import get_script
    from bot.storage import links
    from bot.storage.db import session_scope

    with session_scope() as db:
        outcome = links.redeem(db, channel, sender_id, code)
    log.info("linking.redeemed", extra={"outcome": outcome.value, "channel": channel})
    return get_script().text(REPLY_KEYS[outcome.value])


def switch_reminders(channel: str, sender_id: str, on: bool) -> list[str]:
    from bot.conversation.script import get_script
    from bot.storage import repository as repo
    from bot.storage.audit import audit
    from bot.storage.db import session_scope

    with session_scope() as db:
        student = repo.get_or_create_student(db, channel, sender_id)
        student.reminders_off = not on
        audit(db, f"{channel}:student", "student.reminders", "student", student.id, {"on": on})
    return get_script().text("herinneringen_aan" if on else "herinneringen_uit")


def install() -> None:
    """Wrap MessageProcessor.handle_message once."""
    global _installed
    if _installed:
        return
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.processor import MessageProcessor

    from bot.channels.linking import find_code
    from bot.conversation.followups import reminders_command

    original = MessageProcessor.handle_message

    async def handle_message(self: Any, message: Any) -> Any:
        text = message.text or ""
        code = find_code(text)
        switch = reminders_command(text) if code is None else None
        if code is None and switch is None:
            return await original(self, message)
        channel = message.input_channel or "rest"
        try:
            if code is not None:
                lines = await asyncio.get_running_loop().run_in_executor(
                    None, link, channel, message.sender_id, code)
            else:
                lines = await asyncio.get_running_loop().run_in_executor(
                    None, switch_reminders, channel, message.sender_id, bool(switch))
        except Exception as exc:  # the database is down: the student may simply try again
            from bot.conversation.script import get_script

            log.error("linking.failed", extra={"error": type(exc).__name__})
            lines = get_script().text("even_geduld")
        for line in lines:
            await message.output_channel.send_text_message(message.sender_id, line)
        if isinstance(message.output_channel, CollectingOutputChannel):
            return message.output_channel.messages
        return None

    MessageProcessor.handle_message = handle_message
    _installed = True
