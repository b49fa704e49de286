"""Inside the Rasa process: what happens when the action server is down, hung or refuses.

Rasa 3.6 waits up to five minutes for a custom action, then logs the error, drops the
action's events and still saves the turn: the student gets nothing (also after a crisis
message), and the answer stays in the tracker as the answer to a question whose validation
never ran, so the conversation shifts by one slot.

`install()` wraps Rasa's RemoteAction.run once:
- a short timeout (ACTION_TIMEOUT_S; a crisis message: CRISIS_TIMEOUT_S, so that the help
  numbers are there within two seconds);
- on failure, a crisis message gets the crisis reply from the conversation script and its
  flag is stored from here (spooled when the database is down too, replayed later); any other
  message gets the script's `even_geduld`;
- then the turn is aborted (TurnAborted), so Rasa does not save it: the message is not kept
  as the answer to the wrong question, and the student's retry is handled as new. The
  channel catches TurnAborted and returns what was said."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)
CRISIS_TIMEOUT_S = 1.2
_installed = False


class TurnAborted(BaseException):
    """Raised past Rasa's `except Exception` on purpose: the turn must not be saved.

    (A BaseException, like asyncio.CancelledError: Rasa's processor catches every Exception
    of an action and saves the turn anyway; the lock store releases its lock in `finally`.)"""


def _crisis_findings(tracker: Any) -> list[dict[str, str]]:
    """The urgent findings of the latest message, when it is a crisis message."""
    from bot.conversation import intake

    message = tracker.latest_message
    text = (message.text or "") if message else ""
    intent = (message.intent or {}).get("name") if message else None
    if not text:
        return []
    found = intake.analyse(text, intent)
    return [f.as_dict() for f in found.findings] if found.urgent else []


def _save_flags_later(tracker: Any, findings: list[dict[str, str]]) -> None:
    message = tracker.latest_message
    session_id = tracker.get_slot("sessie_id")
    save_flags_later(channel=tracker.get_latest_input_channel() or "rest",
                     sender_id=tracker.sender_id,
                     session_id=int(session_id) if str(session_id or "").isdigit() else None,
                     signals=findings, text=message.text or "", message_id=message.message_id)


def save_flags_later(**kwargs: Any) -> None:
    """Store the crisis flag (and so the mentor's notification) from the Rasa process, in a
    thread: the reply never waits for the database. Spooled when the database is down."""
    from bot import service
    from bot.scheduled import jobs

    # The mentor's e-mail goes out at once from this process too (as from the action server).
    service.on_urgent_flag(jobs.dispatch_urgent)

    def save() -> None:
        try:
            service.save_flags(**kwargs)
        except Exception as exc:  # noqa: BLE001 - logged; the spool keeps the write
            log.error("resilience.flag_save_failed", extra={"error": type(exc).__name__})

    asyncio.get_running_loop().run_in_executor(None, save)


async def answer_without_turn(output_channel: Any, message: Any) -> None:
    """A turn could not run at all (tracker store or lock store down): a crisis message
    still gets the crisis reply and its flag; anything else gets `even_geduld`."""
    from bot.conversation import intake
    from bot.conversation.script import get_script

    loop = asyncio.get_running_loop()
    try:
        found = await loop.run_in_executor(None, intake.analyse, message.text or "", None)
    except Exception:  # noqa: BLE001 - detection itself failed: be safe, no crisis claimed
        found = None
    script = get_script()
    crisis = found is not None and (found.urgent or found.unsure_crisis)
    lines = script.signal_reply("crisis", None) if crisis else script.text("even_geduld")
    for line in lines:
        await output_channel.send_text_message(message.sender_id, line)
    if not crisis:
        await output_channel.send_custom_json(message.sender_id, RESEND)
    if crisis:
        signals = [f.as_dict() for f in found.findings]
        save_flags_later(channel=message.input_channel or "rest", sender_id=message.sender_id,
                         session_id=None, signals=signals, text=message.text or "",
                         message_id=message.message_id)


RESEND = {"opnieuw_sturen": True}  # custom payload: the message was not taken in; resend it


async def _apologise(output_channel: Any, tracker: Any, findings: list[dict[str, str]]) -> None:
    from bot.conversation.script import get_script

    script = get_script()
    level = tracker.get_slot("niveau")
    lines = (script.signal_reply("crisis", level) if findings
             else script.text("even_geduld", level))
    for line in lines:
        await output_channel.send_text_message(tracker.sender_id, line)
    if not findings:  # a client (the web chat) keeps the typed text for the student
        await output_channel.send_custom_json(tracker.sender_id, RESEND)


def install() -> None:
    """Wrap RemoteAction.run (idempotent)."""
    global _installed
    if _installed:
        return
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.shared.exceptions import RasaException

    from bot.config import settings
    from bot.rasa_plugins.components import CRISIS_INTENT

    original = RemoteAction.run
    timeout_s = settings().action_timeout_s

    async def guarded_run(self: Any, output_channel: Any, nlg: Any, tracker: Any,
                          domain: Any) -> Any:
        # SafetyOverride already decided whether this is a crisis (intent signaal_crisis);
        # the detector itself only runs again when the action server failed.
        message = tracker.latest_message
        crisis = ((message.intent or {}).get("name") == CRISIS_INTENT) if message else False
        limit = min(timeout_s, CRISIS_TIMEOUT_S) if crisis else timeout_s
        try:
            return await asyncio.wait_for(original(self, output_channel, nlg, tracker, domain),
                                          timeout=limit)
        except ActionExecutionRejection:
            raise
        except (asyncio.TimeoutError, RasaException, aiohttp.ClientError, OSError) as exc:
            findings = _crisis_findings(tracker)
            log.error("actions.unavailable", extra={"action": self.name(),
                                                    "error": type(exc).__name__,
                                                    "crisis": bool(findings)})
            await _apologise(output_channel, tracker, findings)
            if findings:
                _save_flags_later(tracker, findings)
            raise TurnAborted(self.name()) from exc

    RemoteAction.run = guarded_run
    _installed = True
