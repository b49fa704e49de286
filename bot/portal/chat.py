"""Student web chat: a page at /chat and a small proxy to Rasa's REST channel, so the browser
only talks to the portal. Errors come back as short Dutch messages; the page keeps the
student's text when sending fails, so nothing typed is lost.

The page is made for shared school computers: its chat id is random (crypto.getRandomValues),
lives only in the tab (sessionStorage), is forgotten after PORTAL_CHAT_IDLE_MINUTES without
activity, and "Nieuw gesprek" forgets it at once and clears the screen."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import settings
from bot.portal.security import error

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "chat.html"
ASSETS = {"chat.js": "text/javascript", "chat.css": "text/css"}
SENDER_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SESSION_KEY = web.AppKey("rasa_session", aiohttp.ClientSession)

UNREADABLE = "Dit bericht kon ik niet lezen."
UNREACHABLE = ("De coach is even niet bereikbaar. Je bericht staat nog klaar: "
               "probeer het zo opnieuw.")
REFUSED = "De coach kon dit bericht niet lezen. Pas het aan en probeer het opnieuw."


def idle_minutes() -> float:
    """PORTAL_CHAT_IDLE_MINUTES: after this long without activity the page forgets its chat id
    (default 30; fractions allowed, e.g. 0.05 = 3 seconds for tests)."""
    return settings().portal_chat_idle_minutes


def render_page() -> str:
    """chat.html with this installation's settings in data attributes (numbers only)."""
    return (PAGE.read_text(encoding="utf-8")
            .replace("{{idle_minutes}}", f"{idle_minutes():g}")
            .replace("{{max_chars}}", str(settings().max_message_chars)))


async def page(request: web.Request) -> web.Response:
    return web.Response(text=render_page(), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


async def asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache",
                                                    "Content-Type": ASSETS[name]})


def _parse(body: Any) -> tuple[str, str, str | None] | web.Response:
    """(sender, message, message id) from the page's JSON, or the Dutch 4xx to answer."""
    if not isinstance(body, dict):
        return error(400, UNREADABLE)
    sender, message = body.get("afzender"), body.get("bericht")
    message_id = body.get("bericht_id")
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        return error(400, "Je chat-id klopt niet. Laad de pagina opnieuw.")
    if not isinstance(message, str) or not message.strip():
        return error(400, "Typ eerst een bericht.")
    limit = settings().max_message_chars
    if len(message.strip()) > limit:
        return error(413, f"Je bericht is te lang. Houd het korter dan {limit} tekens.")
    if message_id is not None and (not isinstance(message_id, str)
                                   or not MESSAGE_ID_RE.match(message_id)):
        return error(400, UNREADABLE)
    return sender, message.strip(), message_id


async def send(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
        return error(400, UNREADABLE)
    parsed = _parse(body)
    if isinstance(parsed, web.Response):
        return parsed
    sender, message, message_id = parsed
    payload: dict[str, str] = {"sender": f"web-{sender}", "message": message}
    if message_id:
        payload["message_id"] = message_id  # a retry of the same message is stored once
    url = f"{settings().rasa_url}/webhooks/rest/webhook"
    try:
        async with request.app[SESSION_KEY].post(url, json=payload) as response:
            if 400 <= response.status < 500:
                # Rasa refused the request (its own checks); its reason is for developers.
                log.warning("chat.rasa_refused", extra={"status": response.status})
                return error(400, REFUSED)
            if response.status != 200:
                raise aiohttp.ClientResponseError(response.request_info, (),
                                                  status=response.status)
            replies = await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ValueError) as exc:
        # asyncio.TimeoutError is not the builtin TimeoutError before Python 3.11.
        log.warning("chat.rasa_unreachable", extra={"error": type(exc).__name__})
        return error(503, UNREACHABLE)
    if not isinstance(replies, list):
        log.warning("chat.rasa_unexpected_reply", extra={"type": type(replies).__name__})
        return error(503, UNREACHABLE)
    texts = [r["text"] for r in replies
             if isinstance(r, dict) and isinstance(r.get("text"), str) and r["text"]]
    # The coach could not take the message in (a part of it was down): the page keeps the
    # student's text so that it can be sent again (bot.rasa_plugins.resilience.RESEND).
    resend = any(isinstance(r, dict) and isinstance(r.get("custom"), dict)
                 and r["custom"].get("opnieuw_sturen") is True for r in replies)
    return web.json_response({"antwoorden": texts, "opnieuw_sturen": resend})


async def waiting(request: web.Request) -> web.Response:
    """What the coach wrote first while the page was closed (a check-in or a reminder, see
    bot.scheduled.checkins), shown when the student opens the chat again; delivered once."""
    from bot.portal import auth
    from bot.scheduled.checkins import take_pending
    from bot.storage.types import utcnow

    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):
        return error(400, UNREADABLE)
    sender = body.get("afzender") if isinstance(body, dict) else None
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        return error(400, "Je chat-id klopt niet. Laad de pagina opnieuw.")
    try:
        texts = await auth.in_db(lambda db: take_pending(db, "rest", f"web-{sender}", utcnow()))
    except Exception as exc:  # noqa: BLE001 - they stay waiting for the next message
        log.warning("chat.waiting_failed", extra={"error": type(exc).__name__})
        texts = []
    return web.json_response({"berichten": texts})


async def _client(app: web.Application):  # noqa: ANN202 - aiohttp cleanup context
    # Rasa gives up on a slow action server after action_timeout_s and answers politely;
    # a few seconds more than that is the longest a student waits.
    timeout = aiohttp.ClientTimeout(total=settings().action_timeout_s + 5)
    app[SESSION_KEY] = aiohttp.ClientSession(timeout=timeout)
    yield
    await app[SESSION_KEY].close()


def setup(app: web.Application) -> None:
    app.router.add_get("/chat", page)
    app.router.add_get(r"/static/{name:chat\.(?:js|css)}", asset)
    app.router.add_post("/chat/bericht", send)
    app.router.add_post("/chat/wachtend", waiting)
    app.cleanup_ctx.append(_client)
