"""Engine configuration, transactions and retrying."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.storage import db as dbmod
from bot.storage.models import School
from bot.storage.repository import StorageUnavailable, run_with_retry

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"


@pytest.fixture
def restore_config():
    yield
    dbmod.configure(None)


def test_default_url_is_sqlite_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert dbmod.default_url().endswith("var/loopbaancoach.db")
    assert dbmod.default_url().startswith("sqlite:///")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert dbmod.default_url() == "postgresql://u@h/db"


def test_engine_is_lazy_and_creates_directory(tmp_path: Path, restore_config: None) -> None:
    path = tmp_path / "nested" / "dir" / "app.db"
    dbmod.configure(f"sqlite:///{path}")
    assert not path.parent.exists()  # nothing happens before first use
    engine = dbmod.get_engine()
    assert engine is dbmod.get_engine()
    assert path.parent.is_dir()


def test_sqlite_pragmas(tmp_path: Path, restore_config: None) -> None:
    dbmod.configure(f"sqlite:///{tmp_path / 'p.db'}")
    with dbmod.session_scope() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == dbmod.SQLITE_BUSY_TIMEOUT_MS
        assert s.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL (with WAL)
        assert s.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_session_scope_commits_and_rolls_back(db, storage: str) -> None:
    db.rollback()
    with dbmod.session_scope() as s:
        s.add(School(name="Het Vakcollege"))
    with pytest.raises(RuntimeError), dbmod.session_scope() as s:
        s.add(School(name="Nooit opgeslagen"))
        s.flush()
        raise RuntimeError("boom")
    with dbmod.session_scope() as s:
        assert [x.name for x in s.query(School).all()] == ["Het Vakcollege"]


def test_retry_recovers_from_transient_errors() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("SELECT 1", {}, Exception("database is locked"))
        return "ok"

    assert run_with_retry(flaky, attempts=3, delay=0) == "ok"
    assert len(calls) == 3


def test_retry_does_not_retry_other_errors() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("unique"))

    with pytest.raises(IntegrityError):
        run_with_retry(broken, delay=0)
    with pytest.raises(ValueError):
        run_with_retry(lambda: int("x"), delay=0)
    assert len(calls) == 1


def test_unreachable_database_raises_storage_unavailable(restore_config: None) -> None:
    dbmod.configure(UNREACHABLE)
    calls = []

    def read() -> int:
        calls.append(1)
        with dbmod.session_scope() as s:
            return s.execute(text("SELECT 1")).scalar_one()

    with pytest.raises(StorageUnavailable):
        run_with_retry(read, attempts=2, delay=0.01)
    assert len(calls) == 2


def test_a_read_scope_does_not_wait_for_a_writer_and_writes_nothing(
        tmp_path: Path, restore_config: None) -> None:
    import threading
    import time

    from bot.storage import migrate

    url = f"sqlite:///{tmp_path / 'r.db'}"
    migrate.upgrade(url)
    dbmod.configure(url)
    with dbmod.session_scope() as s:
        s.add(School(name="Het Vakcollege"))
    writing, done = threading.Event(), threading.Event()

    def writer() -> None:
        with dbmod.session_scope() as s:  # holds the write lock until `done`
            s.add(School(name="Nog niet klaar"))
            s.flush()
            writing.set()
            done.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        start = time.monotonic()
        with dbmod.read_scope() as s:
            names = [x.name for x in s.query(School).all()]
            s.add(School(name="Nooit opgeslagen"))
        waited = time.monotonic() - start
    finally:
        done.set()
        thread.join()
    assert names == ["Het Vakcollege"]  # the writer's row is not visible yet
    # A session_scope here would have waited for the lock (busy timeout 5 s).
    assert waited < dbmod.SQLITE_BUSY_TIMEOUT_MS / 1000 / 2
    with dbmod.session_scope() as s:
        assert sorted(x.name for x in s.query(School).all()) == ["Het Vakcollege",
                                                                "Nog niet klaar"]


def test_sqlite_file_connections_are_reused(tmp_path: Path, restore_config: None) -> None:
    dbmod.configure(f"sqlite:///{tmp_path / 'pool.db'}")
    seen = set()
    for _ in range(3):
        with dbmod.session_scope() as s:
            seen.add(id(s.connection().connection.dbapi_connection))
    assert len(seen) == 1
