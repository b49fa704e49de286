"""Notifications through the worker, with real SMTP on loopback, on SQLite and PostgreSQL:
no transaction is open while a slow mail server takes its time (a student's write goes
through meanwhile), two worker processes send each e-mail once, `bot jobs run --now` sends
what is due at that moment and nothing later, `bot worker` picks up an urgent flag within
its tick and stops cleanly on SIGTERM, logging JSON without student text, and a worker
killed in the middle of sending is taken over by another once its lease has expired."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event, select
from sqlalchemy.orm import sessionmaker

from bot.devservers import free_port
from bot.paths import ROOT
from bot.scheduled import jobs, notify, worker
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import Job, Mentor, Notification

AMS = ZoneInfo("Europe/Amsterdam")
STUDENT_WORDS = "ik wil niet meer leven"


def config(port: int) -> notify.NotifyConfig:
    return notify.NotifyConfig(smtp_host="127.0.0.1", smtp_port=port, smtp_user=None,
                               smtp_password=None, smtp_starttls=False,
                               sender="coach@school.test", fallback_email="zorg@school.test",
                               webhook_url=None, digest_hour=7, portal_url="http://portal.test")


def urgent_flag(name: str, mentor_email: str, due: datetime | None = None) -> int:
    """A committed urgent flag with its notification; the notification's id."""
    with dbmod.session_scope() as db:
        student = repo.get_or_create_student(db, "rest", f"s-{name}")
        mentor = db.execute(select(Mentor).where(Mentor.email == mentor_email)).scalar()
        if mentor is None:
            mentor = Mentor(name="Mentor", email=mentor_email, password_hash="x")
            db.add(mentor)
        student.mentor = mentor
        session = repo.start_session(db, student, "rest", "vmbo")
        flag = repo.save_flag(db, student, session, "crisis", STUDENT_WORDS, STUDENT_WORDS,
                              f"msg-{name}")
        (note,) = notify.enqueue(db, flag, config(1))
        if due is not None:
            note.next_attempt_at = due
        db.flush()
        return note.id


def notification(note_id: int) -> Notification:
    with dbmod.session_scope() as db:
        return db.get(Notification, note_id)


@pytest.fixture
def clean_mailbox(mailbox):
    mailbox.messages.clear()
    return mailbox


class SlowMailbox:
    """An SMTP server that accepts the message only when the test says so."""

    def __init__(self) -> None:
        self.entered = threading.Event()  # the client has sent its DATA: I/O in progress
        self.release = threading.Event()
        self.received: list[bytes] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802, ANN001
        self.entered.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        self.received.append(envelope.content)
        return "250 OK"


@pytest.fixture
def slow_mailbox() -> Iterator[SlowMailbox]:
    box = SlowMailbox()
    box.controller.start()
    yield box
    box.release.set()
    box.controller.stop()


def _impatient_sessions(url: str) -> sessionmaker:
    """Sessions that wait at most 0.2 s for a lock (SQLite busy timeout / PostgreSQL
    lock_timeout), so a write that is blocked fails instead of waiting."""
    engine = dbmod.make_engine(url)

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA busy_timeout = 200")
        else:
            cursor.execute("SET lock_timeout = '200ms'")
        cursor.close()

    return sessionmaker(bind=engine, future=True)


def test_a_slow_mail_server_does_not_block_a_students_write(storage: str,
                                                            slow_mailbox: SlowMailbox) -> None:
    note_id = urgent_flag("slow", "traag@school.test")
    delivery = threading.Thread(
        target=lambda: worker.run_due(worker_id="w", maintain=False,
                                      notify_config=config(slow_mailbox.controller.port)))
    delivery.start()
    try:
        assert slow_mailbox.entered.wait(15), "the worker never reached the mail server"
        sessions = _impatient_sessions(storage)
        started = time.monotonic()
        with sessions() as db, db.begin():  # a student's turn: new student, new session
            student = repo.get_or_create_student(db, "rest", "s-writer")
            gesprek = repo.start_session(db, student, "rest", "mbo-bol")
            repo.save_answer(db, gesprek, "terugkijken", "ervaring", "bij de bakker", "answer",
                             "msg-w")
        elapsed = time.monotonic() - started
        assert delivery.is_alive() and not slow_mailbox.release.is_set()  # still sending
        assert elapsed < 1.0
        sessions.kw["bind"].dispose()
    finally:
        slow_mailbox.release.set()
        delivery.join(timeout=30)
    assert len(slow_mailbox.received) == 1
    assert notification(note_id).status == "sent"


def _env(storage: str, tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=storage, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
               SMTP_FROM="coach@school.test", NOTIFY_FALLBACK_EMAIL="zorg@school.test",
               SPOOL_FILE=str(tmp_path / "spool.jsonl"), LOOPBAANCOACH_VAR=str(tmp_path),
               PYTHONPATH=str(ROOT), **extra)
    env.pop("NOTIFY_WEBHOOK_URL", None)
    return env


def _bot(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_worker_processes_send_each_mail_once(storage: str, clean_mailbox,
                                                  tmp_path: Path) -> None:
    recipients = [f"mentor{n}@school.test" for n in range(12)]
    notes = [urgent_flag(f"two-{n}", email) for n, email in enumerate(recipients)]
    env = _env(storage, tmp_path, clean_mailbox.port)
    runs = [_bot("jobs", "run", env=env) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(m["To"] for m in clean_mailbox.messages) == sorted(recipients)
    assert {notification(n).status for n in notes} == {"sent"}
    assert {notification(n).attempts for n in notes} == {1}
    sent = [json.loads(out).get("sent", 0) for out, _ in outputs]
    assert sum(sent) == len(recipients), outputs


def test_jobs_run_now_runs_what_is_due_then_and_nothing_later(storage: str, clean_mailbox,
                                                              tmp_path: Path) -> None:
    nine = datetime(2026, 5, 4, 9, 0, tzinfo=AMS)
    eleven = datetime(2026, 5, 4, 11, 0, tzinfo=AMS)
    early = urgent_flag("early", "vroeg@school.test", due=nine)
    late = urgent_flag("late", "laat@school.test", due=eleven)
    env = _env(storage, tmp_path, clean_mailbox.port)
    run = _bot("jobs", "run", "--now", "2026-05-04T10:00", env=env)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert json.loads(out)["sent"] == 1
    assert [m["To"] for m in clean_mailbox.messages] == ["vroeg@school.test"]
    assert (notification(early).status, notification(late).status) == ("sent", "pending")
    with dbmod.session_scope() as db:
        (done,) = db.execute(select(Job)).scalars().all()
        assert done.status == "done"
        assert done.due_at == datetime(2026, 5, 4, 10, 0, tzinfo=AMS)  # naive = Amsterdam
    run = _bot("jobs", "run", "--now", "2026-05-04T11:30+02:00", env=env)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert [m["To"] for m in clean_mailbox.messages] == ["vroeg@school.test", "laat@school.test"]


def test_parse_now_is_amsterdam_time() -> None:
    assert jobs.parse_now("2026-05-04T10:00").utcoffset().total_seconds() == 2 * 3600
    assert jobs.parse_now("2026-01-04T10:00").utcoffset().total_seconds() == 3600
    assert jobs.parse_now("2026-05-04T10:00+00:00").utcoffset().total_seconds() == 0


def test_urgent_dispatch_and_worker_together_send_once(storage: str, clean_mailbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(clean_mailbox.port))
    monkeypatch.delenv("NOTIFY_WEBHOOK_URL", raising=False)
    for n in range(5):
        note_id = urgent_flag(f"race-{n}", "race@school.test")
        jobs.dispatch_urgent()  # the action server's path, in a thread
        worker.run_due(worker_id="worker", maintain=False)  # the worker's tick, meanwhile
        deadline = time.monotonic() + 15
        while notification(note_id).status != "sent" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # a second e-mail, if any, would arrive now
        assert len(clean_mailbox.to("race@school.test")) == n + 1


def test_the_worker_sends_within_its_tick_and_stops_on_sigterm(storage: str, clean_mailbox,
                                                               tmp_path: Path) -> None:
    env = _env(storage, tmp_path, clean_mailbox.port, WORKER_INTERVAL_S="0.3")
    process = _bot("worker", env=env)
    try:
        time.sleep(1.0)
        note_id = urgent_flag("tick", "tick@school.test")
        deadline = time.monotonic() + 20
        while not clean_mailbox.to("tick@school.test") and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.1)
        assert clean_mailbox.to("tick@school.test"), "the worker did not send the urgent flag"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert notification(note_id).status == "sent"
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert names[0] == "worker.started" and names[-1] == "worker.stopped"
    assert "worker.job_done" in names
    assert STUDENT_WORDS not in err


def test_a_killed_worker_process_is_taken_over_after_its_lease(
        storage: str, slow_mailbox: SlowMailbox, clean_mailbox, tmp_path: Path) -> None:
    note_id = urgent_flag("killed", "overname@school.test")
    env = _env(storage, tmp_path, slow_mailbox.controller.port, WORKER_INTERVAL_S="0.2",
               WORKER_LEASE_S="3")
    process = _bot("worker", env=env)
    try:
        assert slow_mailbox.entered.wait(30), "the worker never reached the mail server"
        process.kill()  # a crash in the middle of the SMTP conversation
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    with dbmod.session_scope() as db:
        (crashed,) = db.execute(select(Job)).scalars().all()
    assert crashed.status == "running" and crashed.attempts == 1
    assert notification(note_id).status == "pending"
    other = config(clean_mailbox.port)
    assert worker.run_due(crashed.locked_until, worker_id="early", maintain=False,
                          notify_config=other).get("sent", 0) == 0  # the lease still runs
    counts = worker.run_due(crashed.locked_until + timedelta(seconds=1), worker_id="other",
                            maintain=False, notify_config=other)
    assert counts["sent"] == 1
    assert [m["To"] for m in clean_mailbox.messages] == ["overname@school.test"]
    with dbmod.session_scope() as db:
        (taken_over,) = db.execute(select(Job)).scalars().all()
    assert (taken_over.status, taken_over.attempts) == ("done", 2)
    assert notification(note_id).status == "sent"
