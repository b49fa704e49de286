"""Storage fixtures: every test runs on SQLite (a temporary file) and on PostgreSQL (a freshly
created, uniquely named database, dropped afterwards). PostgreSQL tests carry the `postgres`
mark and are skipped when the server is unreachable.

Server: DATABASE_URL_TEST, else postgresql://postgres@127.0.0.1:5432/test (used only to
create and drop the per-run databases)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as DbSession

from bot.storage import db as dbmod
from bot.storage import migrate
from bot.storage.models import Base
from tests.conftest import service_missing

PG_ADMIN_URL = os.environ.get("DATABASE_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_create() -> str:
    """Create an empty database with a unique name; return its URL."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    name = f"lbc_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure means: no server to test against
        service_missing(f"PostgreSQL at {PG_ADMIN_URL}", exc)
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _pg_drop(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _new_database(backend: str, directory: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}"
    return _pg_create()


def _drop_database(backend: str, url: str) -> None:
    if backend == "postgresql":
        _pg_drop(url)


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database (for migration tests)."""
    url = _new_database(request.param, tmp_path)
    yield url
    _drop_database(request.param, url)


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head, shared by the tests of one backend in this run."""
    url = _new_database(request.param, tmp_path_factory.mktemp("db"))
    migrate.upgrade(url)
    yield url
    dbmod.configure(None)
    _drop_database(request.param, url)


def _wipe(url: str) -> None:
    engine = dbmod.make_engine(url)
    try:
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture
def storage(migrated_url: str) -> Iterator[str]:
    """The application configured for a clean, migrated database; yields its URL."""
    _wipe(migrated_url)
    dbmod.configure(migrated_url)
    yield migrated_url
    dbmod.configure(None)


@pytest.fixture
def db(storage: str) -> Iterator[DbSession]:
    """A session on the clean database. Tests commit themselves when they need to."""
    with dbmod.session_scope() as session:
        yield session
