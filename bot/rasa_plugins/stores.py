"""Tracker and lock stores configured by environment variables, so that one endpoints.yml
serves both the embedded default and a scaled-out deployment.

- TRACKER_STORE_URL: SQLAlchemy URL of Rasa's tracker store
  (default: SQLite file var/rasa_tracker.db).
- REDIS_URL: when set, Rasa uses a Redis lock store (needed with several Rasa processes);
  otherwise the in-memory lock store of a single process."""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
from collections import OrderedDict
from typing import Any

from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine.url import make_url

from bot.config import settings
from bot.paths import VAR
from bot.rasa_plugins import deletions as rasa_deletions

log = logging.getLogger(__name__)


def tracker_store_url() -> str:
    return settings().tracker_store_url


# Set by the channel (bot.rasa_plugins.channels) while it runs a student's turn.
IN_TURN: contextvars.ContextVar[bool] = contextvars.ContextVar("in_turn", default=False)


class TrackerStoreUnavailable(BaseException):
    """The tracker store failed during a student's turn.

    Rasa wraps every tracker store in FailSafeTrackerStore, which on a database error
    carries on as if the student were new (retrieve) or keeps the turn in memory only (save):
    the message is silently lost and the conversation shifts. A BaseException passes its
    `except Exception`, so the channel can say "even geduld" and the student resends. Only
    raised inside a channel turn (IN_TURN); Rasa's HTTP API gets its ordinary error."""


_STORED_EVENTS = "_stored_events"  # on a warm tracker: how many of its events are stored
WARM_TRACKERS = 300  # trackers kept in memory per Rasa process (a few hundred kB each)


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore, with its database taken from TRACKER_STORE_URL; replaces
    connections dropped by a database restart (pool_pre_ping) and never lets a failure
    pass silently (TrackerStoreUnavailable).

    Warm trackers: Rasa reads every event of the conversation and replays them into a new
    tracker for each message (a fifth of Rasa's time per message in a long conversation).
    After a save, the tracker is kept in memory with the id of its newest stored event; the
    next retrieve hands it out again when that id is still the newest one for the sender
    (one indexed query), so an event written by another Rasa process, or a deletion,
    always sends the read to the database. A tracker is handed out once (taken from
    memory) and comes back only with the next save: a turn that fails halfway leaves
    nothing half-done in memory. Such a tracker also knows how many of its events are
    stored, so its save writes the rest without Rasa's count query (the conversation's lock
    keeps every other writer out between the read and the save)."""

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
        extra = create_engine_kwargs(old.url)
        if url.get_backend_name() == "sqlite":
            # Reuse connections instead of opening the file for every read and write
            # (SQLAlchemy 1.4 gives SQLite files no pool). A file is not restarted: no
            # pre-ping (a query more at every read and save).
            extra.update(poolclass=sa.pool.QueuePool,
                         connect_args={"check_same_thread": False})
        else:
            extra.update(pool_pre_ping=True)
        self.engine = sa.create_engine(old.url, **extra)
        if url.get_backend_name() == "sqlite":
            _sqlite_pragmas(self.engine)
        old.dispose()
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._warm: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    def _newest_id(self, sender_id: str) -> int | None:
        import sqlalchemy as sa

        with self.session_scope() as session:
            return session.query(sa.func.max(self.SQLEvent.id)).filter(
                self.SQLEvent.sender_id == sender_id).scalar()

    async def retrieve(self, sender_id: str):  # type: ignore[no-untyped-def]
        try:
            warm = self._warm.pop(sender_id, None)
            if warm is not None and warm[0] == self._newest_id(sender_id):
                return warm[1]
            return _upgraded(await super().retrieve(sender_id))
        except Exception as exc:
            if IN_TURN.get():
                raise TrackerStoreUnavailable("retrieve") from exc
            raise

    def _additional_events(self, session: Any, tracker: Any) -> Any:
        stored = tracker.__dict__.get(_STORED_EVENTS)
        if stored is not None and _as_stored(tracker) and stored <= len(tracker.events):
            return itertools.islice(tracker.events, stored, len(tracker.events))
        return super()._additional_events(session, tracker)

    async def save(self, tracker):  # type: ignore[no-untyped-def]
        self._warm.pop(tracker.sender_id, None)
        try:
            inserted = await self._insert_new_events(tracker)
            rasa_deletions.wake_if_asked(tracker.events)
            tracker.__dict__.pop(_STORED_EVENTS, None)
            if _as_stored(tracker):
                newest = inserted
                if newest is None:  # nothing new was stored
                    newest = self._newest_id(tracker.sender_id)
                if newest is not None:
                    tracker.__dict__[_STORED_EVENTS] = len(tracker.events)
                    self._warm[tracker.sender_id] = (newest, tracker)
                    while len(self._warm) > WARM_TRACKERS:
                        self._warm.popitem(last=False)
        except Exception as exc:
            if IN_TURN.get():
                raise TrackerStoreUnavailable("save") from exc
            raise

    async def _insert_new_events(self, tracker: Any) -> int | None:
        """Rasa's `save`: the same rows, inserted as one statement (an ORM object and flush
        per event took a twentieth of Rasa's time per message) and the newest row's id. The
        id is the newest for this sender: the conversation's lock keeps other writers out
        until the save is done."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            rows = [_event_row(tracker.sender_id, event)
                    for event in self._additional_events(session, tracker)]
            newest = None
            if rows:
                insert = self.SQLEvent.__table__.insert()
                if len(rows) > 1:
                    session.execute(insert, rows[:-1])
                newest = session.execute(insert, rows[-1]).inserted_primary_key[0]
            session.commit()
        return newest


def _event_row(sender_id: str, event: Any) -> dict[str, Any]:
    """An event's row as Rasa's SQLTrackerStore.save writes it."""
    data = event.as_dict()
    return {"sender_id": sender_id, "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"), "data": json.dumps(data)}


# The step forms of the conversation before it became one form (bot.conversation.form_events).
LEGACY_FORMS = frozenset(("terugkijken_form", "reflecteren_form", "vooruitkijken_form",
                          "activeren_form"))


def _upgraded(tracker: Any) -> Any:
    """A conversation stored while each step was a form of its own (and each question a slot):
    its form is closed and its answers are gathered in `antwoorden`, so that the student's
    next message gets the offer to go on, and "ja" resumes at the next open question."""
    if tracker is None or tracker.active_loop_name not in LEGACY_FORMS:
        return tracker
    from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet

    from bot.conversation.form_events import ANSWERS_SLOT, QUESTION_SLOT, REQUESTED_SLOT
    from bot.conversation.script import get_script

    script = get_script()
    keys = {q.key for step in script.steps.values() for q in step.questions}
    keys |= {step.check_slot() for step in script.steps.values()}
    answers: dict[str, Any] = {}
    for event in tracker.events:
        if isinstance(event, ActionExecuted) and event.action_name == "action_start_gesprek":
            answers = {}
        elif isinstance(event, SlotSet) and event.key in keys:
            if event.value is None:
                answers.pop(event.key, None)
            else:
                answers[event.key] = event.value
    for event in (ActiveLoop(None), SlotSet(REQUESTED_SLOT, None),
                  SlotSet(QUESTION_SLOT, None), SlotSet(ANSWERS_SLOT, answers)):
        tracker.update(event)
    log.info("tracker.upgraded", extra={"answers": len(answers)})
    return tracker


def _as_stored(tracker: Any) -> bool:
    """Whether the tracker holds exactly the events a read from the database gives: those
    of its latest conversation session, from its SessionStarted on (Rasa's read), or all of
    them when there is no session. A tracker that has just started a new session still
    holds the old one; it is read from the database next time."""
    from rasa.shared.core.events import SessionStarted

    starts = [n for n, event in enumerate(tracker.events) if isinstance(event, SessionStarted)]
    return starts in ([], [0])


def _sqlite_pragmas(engine: Any) -> None:
    """WAL (readers do not wait for a writer), NORMAL syncing (safe with WAL: a power cut
    can lose the last turn, never corrupt the file) and a busy timeout."""
    from sqlalchemy import event

    from bot.storage.db import SQLITE_BUSY_TIMEOUT_MS

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()


class EnvLockStore(InMemoryLockStore):
    """Chosen at start: a Redis lock store when REDIS_URL is set, else in-memory.

    Rasa instantiates custom lock stores from endpoints.yml; `__new__` returns the right one."""

    def __new__(cls, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        redis_url = settings().redis_url
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
