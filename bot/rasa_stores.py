"""Tracker and lock stores configured by environment variables, so that one endpoints.yml
serves both the embedded default and a scaled-out deployment.

- TRACKER_STORE_URL: SQLAlchemy URL of Rasa's tracker store
  (default: SQLite file var/rasa_tracker.db).
- REDIS_URL: when set, Rasa uses a Redis lock store (needed with several Rasa processes);
  otherwise the in-memory lock store of a single process."""

from __future__ import annotations

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


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore, with its database taken from TRACKER_STORE_URL."""

    def __init__(self, domain: Domain | None = None, host: str | None = None,
                 **kwargs: Any) -> None:
        # Rasa passes endpoints.yml's `url` as `host`; the URL comes from the environment.
        url = make_url(tracker_store_url())
        if url.get_backend_name() == "sqlite":
            VAR.mkdir(parents=True, exist_ok=True)
        dialect = url.drivername
        super().__init__(
            domain=domain,
            dialect=dialect,
            host=url.host,
            port=url.port,
            db=url.database or "rasa",
            username=url.username,
            password=url.password,
            login_db=kwargs.pop("login_db", None),
            query=dict(url.query) or None,
            **kwargs,
        )


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
