"""The database engine, created lazily from DATABASE_URL, and transaction scopes.

SQLite (the embedded default) gets WAL, foreign keys, a busy timeout and write transactions
that queue instead of failing (BEGIN IMMEDIATE, which also makes SAVEPOINTs work with
pysqlite). PostgreSQL gets `pool_pre_ping`, so that connections dropped by a restart are
replaced instead of failing the next request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

SQLITE_BUSY_TIMEOUT_MS = 5000
READ_ONLY = "loopbaancoach_read_only"  # execution option of read_scope's connections

_lock = threading.Lock()
_url: str | None = None  # set by configure(); None: DATABASE_URL or the default
_engine: Engine | None = None
_sessionmaker: sessionmaker | None = None


def default_url() -> str:
    """DATABASE_URL, or a SQLite file under var/."""
    from bot.config import settings

    return settings().database_url


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) so SAVEPOINT works with pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # NORMAL syncing, as the tracker store (bot.rasa_plugins.stores): with WAL a commit no
        # longer waits for the disk (a fifth of the action server's time per message); a
        # power cut can lose the last moment's turns, in both stores alike, and never
        # corrupts the file. PostgreSQL (the scaled-out set-up) keeps its own setting.
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Deleted rows (a student's words after "verwijder mijn gegevens") are overwritten
        # on disk instead of lingering in free pages.
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE: take the write lock up front and wait for it (busy_timeout). A deferred
        # transaction that reads first fails at once with "database is locked" when it later
        # needs to write while another writer was active. A read-only one (read_scope)
        # neither needs nor waits for that lock.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A new engine for `url` with this project's connection settings."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(url)
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if parsed.database not in (None, "", ":memory:"):
            # Reuse connections (SQLAlchemy 2's default for SQLite files; 1.4 opens a new
            # one, with the PRAGMAs below, for every transaction).
            kwargs.setdefault("poolclass", QueuePool)
        engine = create_engine(url, future=True, connect_args=connect_args, **kwargs)
        _setup_sqlite(engine)
        return engine
    return create_engine(url, future=True, pool_pre_ping=True, **kwargs)


def configure(url: str | None) -> None:
    """Use `url` from now on (None: back to DATABASE_URL / the default). For tests and tools."""
    global _url, _engine, _sessionmaker
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _url, _engine, _sessionmaker = url, None, None


def current_url() -> str:
    return _url or default_url()


def get_engine() -> Engine:
    global _engine, _sessionmaker
    with _lock:
        if _engine is None:
            _engine = make_engine(current_url())
            _sessionmaker = sessionmaker(bind=_engine, future=True, expire_on_commit=False)
        return _engine


def _factory() -> sessionmaker:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on an exception."""
    session: Session = _factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope() -> Iterator[Session]:
    """A transaction that only reads (checks made for every message): on SQLite it does not
    take the write lock, so it neither waits for a writer nor holds one up. Nothing in it
    is committed."""
    session: Session = _factory()(bind=get_engine().execution_options(**{READ_ONLY: True}))
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def checkpoint() -> None:
    """SQLite in WAL mode: move the WAL into the database file and truncate it, so that
    overwritten (secure_delete) pages leave no older copy behind in the WAL."""
    engine = get_engine()
    if engine.url.get_backend_name() != "sqlite":
        return
    # On the driver's connection, outside any transaction (SQLAlchemy would open one, with
    # BEGIN IMMEDIATE, and SQLite does not checkpoint inside a transaction).
    connection = engine.raw_connection()
    try:
        busy = connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        connection.close()
    if busy:
        raise OperationalError("PRAGMA wal_checkpoint(TRUNCATE)", None,
                               RuntimeError("a reader kept the WAL busy"))
