"""Alembic: one head, upgrade/downgrade round trip, schema equal to the models."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.orm import Session as DbSession

from bot.storage import db as dbmod
from bot.storage import migrate
from bot.storage import models as m
from bot.storage.models import Base

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"


def test_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert migrate.head() == script.get_current_head()


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    assert migrate.current(empty_url) is None
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head()
    migrate.downgrade(empty_url, "base")
    assert migrate.current(empty_url) is None
    engine = dbmod.make_engine(empty_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head()


def test_migrated_schema_matches_models(migrated_url: str) -> None:
    engine = dbmod.make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def _values(sql: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", sql))


def test_check_constraints_match_taxonomy(migrated_url: str) -> None:
    """The migration froze the taxonomy's lists; a taxonomy change needs a new revision."""
    engine = dbmod.make_engine(migrated_url)
    try:
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            reflected = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(
                table.name)}
            for constraint in table.constraints:
                if constraint.__class__.__name__ != "CheckConstraint":
                    continue
                name = constraint.name
                assert name in reflected, f"{table.name}: {name} missing in the database"
                expected = _values(str(constraint.sqltext))
                assert _values(reflected[name]) == expected, f"{table.name}.{name}"
    finally:
        engine.dispose()


def test_upgrade_main_reports_success(empty_url: str, capsys: pytest.CaptureFixture) -> None:
    assert migrate.upgrade_main(["--url", empty_url]) == 0
    assert "bijgewerkt" in capsys.readouterr().out
    assert migrate.upgrade_main(["--url", empty_url]) == 0
    assert "al bijgewerkt" in capsys.readouterr().out
    assert migrate.current(empty_url) == migrate.head()


def test_upgrade_main_unreachable_database(capsys: pytest.CaptureFixture) -> None:
    assert migrate.upgrade_main(["--url", UNREACHABLE]) == 1
    err = capsys.readouterr().err
    assert "niet bereikbaar" in err and "unreachable" in err


def test_upgrade_uses_database_url(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'app.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # nothing depends on the working directory
    dbmod.configure(None)
    migrate.upgrade()
    assert migrate.current(url) == migrate.head()


def test_database_enforces_constraints(storage: str) -> None:
    """CHECK, UNIQUE and FOREIGN KEY constraints hold in the database itself."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    engine = dbmod.make_engine(storage)
    statements = [
        "INSERT INTO students (created_at, level) VALUES (CURRENT_TIMESTAMP, 'havo')",
        "INSERT INTO sessions (student_id, channel, status, started_at, updated_at) "
        "VALUES (424242, 'rest', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    ]
    try:
        for statement in statements:
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO students (created_at) VALUES (CURRENT_TIMESTAMP)"))
            student_id = conn.execute(text("SELECT max(id) FROM students")).scalar_one()
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("INSERT INTO sessions (student_id, channel, status, started_at, "
                              "updated_at) VALUES (:s, 'rest', 'klaar', CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP)"), {"s": student_id})
    finally:
        engine.dispose()


def _row_counts(url: str) -> dict[str, int]:
    engine = dbmod.make_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            return {t: conn.exec_driver_sql(f'SELECT count(*) FROM "{t}"').scalar_one()
                    for t in tables if t != "alembic_version"}
    finally:
        engine.dispose()


def test_migrations_keep_the_data_of_a_school(empty_url: str) -> None:
    """SQLite batch migrations rebuild tables; a rebuilt `students` or `schools` must not
    cascade into sessions, answers and flags (foreign keys are on in normal use)."""
    from bot.storage import repository as repo

    migrate.upgrade(empty_url)
    engine = dbmod.make_engine(empty_url)
    try:
        with DbSession(engine) as db:
            school = m.School(name="Migratiecollege")
            db.add(school)
            db.flush()
            klas = m.SchoolClass(school_id=school.id, name="3B")
            mentor = m.Mentor(school_id=school.id, name="M", email="m@example.org",
                              password_hash="x")
            db.add_all([klas, mentor, m.Coordinator(school_id=school.id, name="C",
                                                    email="c@example.org", password_hash="x")])
            db.flush()
            student = repo.get_or_create_student(db, "rest", "migratie-1")
            student.school_id, student.class_id, student.mentor_id = school.id, klas.id, mentor.id
            session = repo.start_session(db, student, "rest", "vmbo")
            repo.save_answer(db, session, "terugkijken", "ervaring", "een ervaring", "answer",
                             "m-1")
            repo.save_flag(db, student, session, "crisis", None, None, "m-1")
            db.commit()
            student_id, expected = student.id, (school.id, klas.id, mentor.id)
    finally:
        engine.dispose()
    before = _row_counts(empty_url)
    assert before["sessions"] == before["answers"] == before["flags"] == 1
    assert before["school_classes"] == before["mentors"] == 1
    migrate.downgrade(empty_url, "0003")
    after_down = _row_counts(empty_url)
    assert {t: n for t, n in before.items() if t in after_down} == after_down
    migrate.upgrade(empty_url)
    assert {t: n for t, n in _row_counts(empty_url).items() if t in after_down} == after_down
    engine = dbmod.make_engine(empty_url)
    try:
        with DbSession(engine) as db:
            kept = db.get(m.Student, student_id)
            assert (kept.school_id, kept.class_id, kept.mentor_id) == expected
    finally:
        engine.dispose()
