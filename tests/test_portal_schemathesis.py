"""Schemathesis against the portal's JSON API: the portal runs as its own process (as `make run`
starts it) on a migrated SQLite database with a school, mentors, students, flags and
conversations; the Schemathesis CLI (its own venv, var/tools/schemathesis, made by
scripts/ensure_schemathesis.sh) reads /api/openapi.json and sends generated requests, valid
and invalid, with all its checks: no server error, every status code, content type, header
and body as documented, invalid input refused, no access without credentials. Once with a
mentor's token, once with a coordinator's."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session as DbSession

from bot.devservers import ROOT, free_port, isolated_env, upgrade_database
from bot.portal import openapi
from bot.storage import accounts
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import Flag, School, SchoolClass, Student
from bot.storage.types import utcnow
from tests.portal_helpers import running_portal

SCHEMATHESIS = ROOT / "var" / "tools" / "schemathesis" / "bin" / "schemathesis"
PASSWORD = "correct-paard-batterij"
# Test cases per operation and phase: a run takes about 30 s. SCHEMATHESIS_EXAMPLES=200 for a
# deeper search by hand (a few minutes).
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
RUN_TIMEOUT_S = 120 + 3 * EXAMPLES


@pytest.fixture(scope="module")
def schemathesis() -> Path:
    if not SCHEMATHESIS.exists():
        reason = (f"Schemathesis is not installed at {SCHEMATHESIS.relative_to(ROOT)}: "
                  "run scripts/ensure_schemathesis.sh (`make test` does)")
        if os.environ.get("LOOPBAANCOACH_REQUIRE_TOOLS", "") not in ("", "0"):
            pytest.fail(reason)
        pytest.skip(reason)
    return SCHEMATHESIS


@dataclass
class Portal:
    url: str
    mentor_token: str
    coordinator_token: str


def _seed() -> tuple[str, str]:
    """A school with two mentors and a coordinator, students with flags in every status and
    conversations; another school. Returns API tokens (mentor 1, coordinator)."""
    with dbmod.session_scope() as db:
        school = School(name="Het College")
        db.add_all([school, School(name="Andere School")])
        db.flush()
        for role, email, name, where in (
                ("mentor", "m1@school.test", "Mentor Een", "Het College"),
                ("mentor", "m2@school.test", "Mentor Twee", "Het College"),
                ("coordinator", "c1@school.test", "Coördinator", "Het College"),
                ("coordinator", "c2@elders.test", "Elders", "Andere School")):
            accounts.add_user(db, role, email, name, PASSWORD, school=where)
        m1 = accounts.find_user(db, "m1@school.test")
        m2 = accounts.find_user(db, "m2@school.test")
        klas = SchoolClass(school=school, name="4B", level="vmbo")
        own = Student(school_id=school.id, school_class=klas, mentor=m1,
                      display_name="Zoë de Vries", level="vmbo")
        quiet = Student(school_id=school.id, mentor=m1)  # no name, class, level or flags
        other = Student(school_id=school.id, mentor=m2, display_name="Bram", level="mbo-bol")
        db.add_all([klas, own, quiet, other])
        db.flush()
        _conversation(db, own)
        _conversation(db, other)
        now = utcnow()
        db.add_all([
            Flag(student_id=own.id, category="crisis", severity="urgent",
                 evidence="ik zie het niet meer zitten", status="open"),
            Flag(student_id=own.id, category="financien", severity="attention",
                 evidence=None, status="acknowledged", student_declined=True,
                 acknowledged_at=now, acknowledged_by=f"mentor:{m1.id}"),
            Flag(student_id=own.id, category="uitval", severity="attention", evidence="stoppen",
                 status="resolved", acknowledged_at=now, acknowledged_by=f"mentor:{m1.id}",
                 resolved_at=now, resolved_by=f"mentor:{m1.id}", note="Gebeld, gaat goed."),
            Flag(student_id=other.id, category="uitval", severity="attention",
                 evidence="stoppen", status="open"),
        ])
        db.flush()
        return (accounts.create_api_token(db, "m1@school.test"),
                accounts.create_api_token(db, "c1@school.test"))


def _conversation(db: DbSession, student: Student) -> None:
    session = repo.start_session(db, student, "rest", student.level)
    session.started_at = utcnow() - timedelta(days=3)
    answer = repo.save_answer(db, session, "terugkijken", "ervaring",
                              "Ik liep stage bij de bakker", "answer", None)
    repo.save_insight(db, student, session, "reflecteren", "inzicht", "Ik kan goed uitleggen",
                      ["kwaliteiten"], "test", headline="Uitlegger", answer=answer)
    repo.save_action_plan(db, student, session, what="Mailen naar de kapper")
    repo.set_session_status(db, session, "completed", "activeren")


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    """A portal of its own for each run: each starts from the same data (open flags)."""
    env = isolated_env(tmp_path)
    upgrade_database(env)
    dbmod.configure(env["DATABASE_URL"])
    try:
        mentor, coordinator = _seed()
    finally:
        dbmod.configure(None)
    # Rasa is not needed for the API: nothing listens on its port.
    with running_portal(env, f"http://127.0.0.1:{free_port()}") as url:
        yield Portal(url, mentor, coordinator)


def _operations() -> int:
    return sum(len(methods) for methods in openapi.document()["paths"].values())


@pytest.mark.parametrize("who", ["mentor", "coordinator"])
def test_schemathesis_finds_nothing(schemathesis: Path, portal: Portal, who: str,
                                    tmp_path: Path) -> None:
    token = portal.mentor_token if who == "mentor" else portal.coordinator_token
    seed = random.randrange(2**31)
    argv = [str(schemathesis), "run", f"{portal.url}/api/openapi.json", "--url", portal.url,
            "-H", f"Authorization: Bearer {token}", "--checks", "all",
            "--max-examples", str(EXAMPLES), "--seed", str(seed), "--workers", "2",
            "--request-timeout", "10", "--generation-database", "none", "--no-color"]
    try:
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True,
                                timeout=RUN_TIMEOUT_S, env=dict(os.environ, COLUMNS="100"))
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"Schemathesis (seed {seed}) took over {RUN_TIMEOUT_S} s:\n"
                    f"{_text(exc.stdout)}{_text(exc.stderr)}".replace(token, "<token>"))
    output = (result.stdout + result.stderr).replace(token, "<token>")
    assert result.returncode == 0, f"Schemathesis (seed {seed}) found problems:\n{output}"
    # Every documented operation was tested (not, say, skipped for an unreadable document).
    operations = _operations()
    assert f"Selected: {operations}/{operations}" in output, output
    assert f"Tested: {operations}" in output, output


def _text(captured: bytes | str | None) -> str:
    if isinstance(captured, bytes):
        return captured.decode("utf-8", "replace")
    return captured or ""
