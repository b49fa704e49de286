"""Portal application factory and its routes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.portal import (
    auth,
    beheer,
    chat,
    cijfers,
    dossier,
    gesprek,
    importeren,
    mentor,
    security,
    signalen,
)

log = logging.getLogger(__name__)
STARTED_KEY = web.AppKey("started", float)


async def _blocking(fn: Callable[[], Any]) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def _database_status() -> dict[str, Any]:
    from bot.scheduled import jobqueue, notify
    from bot.storage.db import session_scope
    from bot.storage.types import utcnow

    with session_scope() as db:
        return {"database": "ok", "notifications": notify.problems(db),
                "jobs": jobqueue.stats(db, utcnow())}


def _process_status() -> dict[str, Any]:
    """What `make run`'s launcher reports about its processes (state, restarts)."""
    import json

    from bot.launcher import status_file

    try:
        return json.loads(status_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


async def health(request: web.Request) -> web.Response:
    """200 while the portal is up; also reports the database, failed notifications, the
    worker's jobs (counts: due, running, failed, retrying) and the processes `make run`
    supervises (restarts included)."""
    try:
        status = await _blocking(_database_status)
    except Exception as exc:  # reported, not raised: the portal itself is up
        status = {"database": f"error: {type(exc).__name__}"}
    processes = _process_status()
    if processes:
        status["processes"] = processes
    return web.json_response({
        "status": "ok",
        **status,
        "uptime_s": round(time.monotonic() - request.app[STARTED_KEY], 1),
    })


def create_app(run_jobs: bool = False) -> web.Application:
    """`run_jobs` is kept for old callers and ignored: jobs run in `bot worker`."""
    del run_jobs
    app = web.Application(client_max_size=64 * 1024)
    security.setup(app)
    app[STARTED_KEY] = time.monotonic()
    app.router.add_get("/health", health)
    chat.setup(app)
    auth.setup(app)
    mentor.setup(app)
    dossier.setup(app)
    beheer.setup(app)
    cijfers.setup(app)
    importeren.setup(app)
    gesprek.setup(app)
    signalen.setup(app)
    return app
