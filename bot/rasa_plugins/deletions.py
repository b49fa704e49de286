"""Inside the Rasa process: carrying out "verwijder mijn gegevens" in Rasa's tracker store.

The action that hears "ja" deletes the student's data from the application database and
persists a TrackerDeletion job. The conversation itself lives in the tracker store, which
Rasa writes back at the end of that very turn; deleting it from the action (or on a timer)
races with that write and with the student's next message, and brought whole conversations
back. Here the job runs under the conversation's own lock (Rasa's lock store: in-memory, or
Redis when scaled out), after the turn that asked for it was saved, and is retried until it
is done; a restart loses nothing because the job is in the database."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from bot.config import settings

log = logging.getLogger(__name__)
POLL_S = 2.0
_wake: asyncio.Event | None = None


@functools.lru_cache(maxsize=4)
def _tracker_engine(url: str) -> Engine:
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if make_url(url).get_backend_name() == "sqlite":
        @event.listens_for(engine, "connect")
        def _secure(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA secure_delete = ON")  # overwrite the freed pages
            cursor.close()
    return engine


def purge_tracker(sender_id: str, url: str | None = None) -> int:
    """Delete every event of `sender_id` from Rasa's SQL tracker store; rows removed."""
    engine = _tracker_engine(url or settings().tracker_store_url)
    with engine.begin() as conn:
        result = conn.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": sender_id})
        return int(result.rowcount or 0)


def _pending() -> list[tuple[int, str]]:
    from bot.storage import repository as repo
    from bot.storage.db import read_scope

    with read_scope() as db:  # after every turn: must not queue behind the action server
        return [(row.id, row.sender_id) for row in repo.pending_tracker_deletions(db)]


def _finish(deletion_id: int, error: str | None) -> None:
    from bot.storage import repository as repo
    from bot.storage.db import session_scope

    with session_scope() as db:
        repo.finish_tracker_deletion(db, deletion_id, error)


async def run_pending(lock_store: Any) -> int:
    """Carry out the pending deletions, each under its conversation's lock. Done count."""
    loop = asyncio.get_running_loop()
    done = 0
    for deletion_id, sender_id in await loop.run_in_executor(None, _pending):
        try:
            async with lock_store.lock(sender_id, wait_time_in_seconds=0.05):
                removed = await loop.run_in_executor(None, purge_tracker, sender_id)
        except Exception as exc:  # noqa: BLE001 - retried at the next round
            log.warning("tracker.purge_failed", extra={"error": type(exc).__name__})
            await loop.run_in_executor(None, _finish, deletion_id, type(exc).__name__)
            continue
        await loop.run_in_executor(None, _finish, deletion_id, None)
        log.info("tracker.purged", extra={"events": removed})
        done += 1
    return done


# The action that carries out a student's "ja" to deleting their data (actions/conversation.py).
DELETION_ACTION = "action_gegevens_verwijderen"


def wake() -> None:
    """A deletion was just asked for: carry it out now instead of at the next poll."""
    if _wake is not None:
        _wake.set()


def wake_if_asked(events: Sequence[Any]) -> None:
    """A turn was saved: when it carried out a student's deletion request, the job is in the
    database and runs now (once the turn's lock is free). Any other turn costs no query;
    requests from elsewhere (the portal, the retention purge) wait for the next poll."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    for turn_event in reversed(events):
        if isinstance(turn_event, UserUttered):
            return
        if (isinstance(turn_event, ActionExecuted)
                and turn_event.action_name == DELETION_ACTION):
            wake()
            return


async def _loop(app: Any) -> None:
    assert _wake is not None
    while True:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_wake.wait(), timeout=POLL_S)
        _wake.clear()
        agent = getattr(app.ctx, "agent", None)
        if agent is None or not agent.is_ready():
            continue
        try:
            await run_pending(agent.lock_store)
        except Exception as exc:  # noqa: BLE001 - database down: try again next round
            log.warning("tracker.deletions_unavailable", extra={"error": type(exc).__name__})


def start(app: Any) -> None:
    """Start the loop that carries out requested deletions (once per server: see
    bot.rasa_plugins.channels.attach_server_work)."""
    global _wake
    _wake = asyncio.Event()
    app.add_task(_loop(app))
