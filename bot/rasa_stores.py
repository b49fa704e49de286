"""Tracker and lock stores configured by environment variables, so that one endpoints.yml
serves both the embedded default and a scaled-out deployment.

- TRACKER_STORE_URL: SQLAlchemy URL of Rasa's tracker store
  (default: SQLite file var/rasa_tracker.db).
- REDIS_URL: when set, Rasa uses a Redis lock store (needed with several Rasa processes);
  otherwise the in-memory lock store of a single process."""

from __future__ import annotations

import contextvars
import os
from typing import Any

from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy.engine.url import make_url

from bot.config import settings
from bot.paths import VAR


def tracker_store_url() -> str:
    return settings().tracker_store_url


# Set by the channel (bot.rasa_channels) while it runs a student's turn.
IN_TURN: contextvars.ContextVar[bool] = contextvars.ContextVar("in_turn", default=False)


class TrackerStoreUnavailable(BaseException):
    """The tracker store failed during a student's turn.

    Rasa wraps every tracker store in FailSafeTrackerStore, which on a database error
    carries on as if the student were new (retrieve) or keeps the turn in memory only (save):
    the message is silently lost and the conversation shifts. A BaseException passes its
    `except Exception`, so the channel can say "even geduld" and the student resends. Only
    raised inside a channel turn (IN_TURN); Rasa's HTTP API gets its ordinary error."""


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore, with its database taken from TRACKER_STORE_URL; replaces
    connections dropped by a database restart (pool_pre_ping) and never lets a failure
    pass silently (TrackerStoreUnavailable)."""

    def __init__(self, domain: Domain | None = None, host: str | None = None,
                 **kwargs: Any) -> None:
        # Rasa passes endpoints.yml's `url` as `host`; the URL comes from the environment.
        url = make_url(tracker_store_url())
        if not url.database:
            raise ValueError("TRACKER_STORE_URL must name a database (or a SQLite file)")
        if url.get_backend_name() == "sqlite":
            VAR.mkdir(parents=True, exist_ok=True)
        dialect = url.drivername
        super().__init__(
            domain=domain,
            dialect=dialect,
            host=url.host,
            port=url.port,
            db=url.database,
            username=url.username,
            password=url.password,
            login_db=kwargs.pop("login_db", None),
            query=dict(url.query) or None,
            **kwargs,
        )
        # Rasa creates its engine without pool_pre_ping: after a PostgreSQL restart every
        # pooled connection fails once. Same URL and arguments, with pre-ping.
        import sqlalchemy as sa
        from rasa.core.tracker_store import create_engine_kwargs

        old = self.engine
        self.engine = sa.create_engine(old.url, pool_pre_ping=True,
                                       **create_engine_kwargs(old.url))
        old.dispose()
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def retrieve(self, sender_id: str):  # type: ignore[no-untyped-def]
        try:
            return await super().retrieve(sender_id)
        except Exception as exc:
            if IN_TURN.get():
                raise TrackerStoreUnavailable("retrieve") from exc
            raise

    async def save(self, tracker):  # type: ignore[no-untyped-def]
        try:
            return await super().save(tracker)
        except Exception as exc:
            if IN_TURN.get():
                raise TrackerStoreUnavailable("save") from exc
            raise


class EnvLockStore(InMemoryLockStore):
    """Chosen at start: a Redis lock store when REDIS_URL is set, else in-memory.

    Rasa instantiates custom lock stores from endpoints.yml; `__new__` returns the right one."""

    def __new__(cls, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            return InMemoryLockStore()
        url = make_url(redis_url)
        return RedisLockStore(
            host=url.host or "localhost",
            port=url.port or 6379,
            db=int(url.database or 1),
            password=url.password,
            use_ssl=url.drivername == "rediss",
            username=url.username,
            key_prefix=kwargs.get("key_prefix"),
        )
