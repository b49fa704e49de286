"""Rasa input channels of Loopbaancoach (registered in credentials.yml).

`RestChannel` replaces Rasa's REST channel at the same URL (/webhooks/rest/webhook). Rasa's
own channel answers malformed bodies with a 500, turns a missing sender into the shared
sender "default", accepts any length (memory grows with the square of the message length)
and logs the student's text at ERROR level when a turn fails. This one:
- answers every malformed request with a 400 JSON error, never a shared sender;
- answers text longer than MAX_MESSAGE_CHARS with the script's polite `te_lang`, without
  parsing it, so one huge message costs the other students nothing;
- keeps a crisis answered and no word misplaced when the action server fails
  (bot.rasa_plugins.resilience), and carries out persisted tracker deletions
  (bot.rasa_plugins.deletions);
- never logs what the student wrote."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.channel_input import BadRequest, parse_rest_body
from bot.config import settings
from bot.rasa_plugins import answer_first as rasa_answer_first
from bot.rasa_plugins import deletions as rasa_deletions
from bot.rasa_plugins import linking as rasa_linking
from bot.rasa_plugins import log_privacy
from bot.rasa_plugins import resilience as rasa_resilience
from bot.rasa_plugins import speed as rasa_speed
from bot.rasa_plugins import stores as rasa_stores

log = logging.getLogger(__name__)

rasa_resilience.install()
rasa_answer_first.install()
rasa_linking.install()
rasa_speed.install()
log_privacy.install()


async def handle(on_new_message: Callable[[UserMessage], Awaitable[Any]],
                 message: UserMessage) -> None:
    """Run one turn; a failed turn still gets a reply, and nothing about its text is logged."""
    collector = message.output_channel
    token = rasa_stores.IN_TURN.set(True)
    try:
        await on_new_message(message)
    except rasa_resilience.TurnAborted:
        pass  # the reply was given by bot.rasa_plugins.resilience; the turn is not saved
    except (rasa_stores.TrackerStoreUnavailable, Exception) as exc:  # noqa: BLE001
        # Tracker store, lock store (Redis) or anything else down: the turn did not happen.
        # Nothing about the text is logged; the student is answered (crisis: help numbers).
        log.error("channel.turn_failed", extra={"error": type(exc).__name__})
        if isinstance(collector, CollectingOutputChannel):
            collector.messages.clear()
        await rasa_resilience.answer_without_turn(collector, message)
    finally:
        rasa_stores.IN_TURN.reset(token)


def _take_waiting(channel: str, sender_id: str) -> list[str]:
    from bot.scheduled.checkins import take_pending, waiting_for
    from bot.storage.db import read_scope, session_scope
    from bot.storage.types import utcnow

    with read_scope() as db:  # every message; only one with something waiting writes
        if not waiting_for(db, channel, sender_id):
            return []
    with session_scope() as db:
        return take_pending(db, channel, sender_id, utcnow())


async def _waiting(channel: str, sender_id: str) -> list[str]:
    """What the coach wrote first while this student was away (a check-in): shown before
    the reply. A database problem only delays them to a later message."""
    try:
        return await asyncio.get_running_loop().run_in_executor(
            None, _take_waiting, channel, sender_id)
    except Exception as exc:  # noqa: BLE001
        log.warning("channel.waiting_failed", extra={"error": type(exc).__name__})
        return []


async def _say(output: Any, recipient: str, key: str, **context: Any) -> None:
    """Say a text of the conversation script."""
    from bot.conversation.script import get_script

    for line in get_script().text(key, None, **context):
        await output.send_text_message(recipient, line)


def attach_server_work(bp: Blueprint) -> None:
    """What the Rasa process does once it serves, whichever of our channels credentials.yml
    names: the loop that carries out tracker deletions, and moving the loaded models out of the
    garbage collector's reach (Rasa loads the model before the server starts). Each of our
    channels attaches it to its blueprint; it runs once per server."""

    @bp.listener("after_server_start")
    async def started(app: Any, _loop: Any) -> None:
        if getattr(app.ctx, "loopbaancoach_started", False):
            return
        app.ctx.loopbaancoach_started = True
        rasa_deletions.start(app)
        rasa_speed.freeze_startup_objects()


class RestChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("loopbaancoach_rest", __name__)
        attach_server_work(bp)

        limit = settings().max_message_chars

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                incoming = parse_rest_body(request.body, limit)
            except BadRequest as exc:
                return response.json({"error": str(exc)}, status=400)
            collector = CollectingOutputChannel()
            if incoming.too_long:
                log.info("channel.too_long", extra={"channel": "rest"})
                await _say(collector, incoming.sender, "te_lang", max_tekens=limit)
                return response.json(collector.messages)
            waiting = await _waiting(self.name(), incoming.sender)
            await handle(on_new_message, UserMessage(
                incoming.text, collector, incoming.sender, input_channel=self.name(),
                message_id=incoming.message_id or uuid.uuid4().hex))
            first = [{"recipient_id": incoming.sender, "text": text} for text in waiting]
            return response.json(first + collector.messages)

        return bp
