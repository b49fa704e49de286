"""Student web chat: a page at /chat and a small proxy to Rasa's REST channel, so the browser
only talks to the portal. Errors come back as short Dutch messages; the page keeps the
student's text when sending fails, so nothing typed is lost."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.config import settings

log = logging.getLogger(__name__)
PAGE = Path(__file__).parent / "static" / "chat.html"
MAX_MESSAGE_CHARS = 2000
SENDER_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SESSION_KEY = web.AppKey("rasa_session", aiohttp.ClientSession)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"fout": message}, status=status)


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE, headers={"Cache-Control": "no-cache"})


async def send(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "Dit bericht kon ik niet lezen.")
    if not isinstance(body, dict):
        return _error(400, "Dit bericht kon ik niet lezen.")
    sender, message = body.get("afzender"), body.get("bericht")
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        return _error(400, "Je chat-id klopt niet. Laad de pagina opnieuw.")
    if not isinstance(message, str) or not message.strip():
        return _error(400, "Typ eerst een bericht.")
    if len(message) > MAX_MESSAGE_CHARS:
        return _error(413, "Je bericht is te lang. "
                           f"Houd het korter dan {MAX_MESSAGE_CHARS} tekens.")
    url = f"{settings().rasa_url}/webhooks/rest/webhook"
    try:
        async with request.app[SESSION_KEY].post(
            url, json={"sender": f"web-{sender}", "message": message.strip()}
        ) as response:
            if response.status != 200:
                raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
            replies = await response.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("chat.rasa_unreachable", extra={"error": type(exc).__name__})
        return _error(503, "De coach is even niet bereikbaar. Je bericht staat nog klaar: "
                           "probeer het zo opnieuw.")
    texts = [r["text"] for r in replies if isinstance(r, dict) and r.get("text")]
    return web.json_response({"antwoorden": texts})


async def _client(app: web.Application):  # noqa: ANN202 - aiohttp cleanup context
    app[SESSION_KEY] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    yield
    await app[SESSION_KEY].close()


def setup(app: web.Application) -> None:
    app.router.add_get("/chat", page)
    app.router.add_post("/chat/bericht", send)
    app.cleanup_ctx.append(_client)
