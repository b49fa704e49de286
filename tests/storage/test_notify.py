"""Mentor notifications against a real SMTP server on loopback (aiosmtpd) and a real HTTP
webhook receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bot.devservers import free_port
from bot.scheduled import notify, worker
from bot.storage import repository as repo
from bot.storage.models import Mentor
from bot.storage.types import utcnow


@pytest.fixture(autouse=True)
def empty_mailbox(mailbox) -> None:
    mailbox.messages.clear()  # the SMTP server lives for the whole run, on both backends


def config(port: int, **overrides) -> notify.NotifyConfig:
    base = dict(smtp_host="127.0.0.1", smtp_port=port, smtp_user=None, smtp_password=None,
                smtp_starttls=False, sender="coach@school.test",
                fallback_email="zorg@school.test", webhook_url=None, digest_hour=7,
                portal_url="http://portal.test")
    base.update(overrides)
    return notify.NotifyConfig(**base)


def flagged_student(db, category: str, message_id: str, mentor_email: str | None = None):
    student = repo.get_or_create_student(db, "rest", f"s-{message_id}")
    if mentor_email:
        mentor = Mentor(name="Mevrouw Jansen", email=mentor_email, password_hash="x")
        db.add(mentor)
        student.mentor = mentor
    session = repo.start_session(db, student, "rest", "vmbo")
    flag = repo.save_flag(db, student, session, category, "woorden", "het bericht", message_id)
    notify.enqueue(db, flag, config(1))
    db.flush()
    return flag


def test_urgent_flag_is_mailed_at_once_to_the_mentor(db, mailbox) -> None:
    flag = flagged_student(db, "crisis", "m1", mentor_email="jansen@school.test")
    counts = worker.deliver_due(db, config=config(mailbox.port))
    assert counts == {"sent": 1, "retry": 0, "failed": 0}
    (mail,) = mailbox.to("jansen@school.test")
    assert mail["Subject"].startswith("DRINGEND")
    body = mail.get_payload(decode=True).decode()
    assert "0800-0113" in body
    assert f"http://portal.test/mentor/signalen/{flag.id}" in body  # the flag's own page
    assert "het bericht" not in body and "woorden" not in body  # no message content
    assert [n.status for n in flag.notifications] == ["sent"]


def test_attention_flags_wait_for_one_daily_digest(db, mailbox) -> None:
    flagged_student(db, "financien", "m2", mentor_email="de.vries@school.test")
    student_flag = flagged_student(db, "uitval", "m3")  # no mentor: the fallback address
    assert worker.deliver_due(db, config=config(mailbox.port))["sent"] == 0
    tomorrow = utcnow() + timedelta(days=1, hours=1)
    counts = worker.deliver_due(db, now=tomorrow, config=config(mailbox.port))
    assert counts["sent"] == 2
    assert len(mailbox.to("de.vries@school.test")) == 1
    digest = mailbox.to("zorg@school.test")[-1]
    text = digest.get_payload(decode=True).decode()
    # The digest lists students with a link, never what the flag is about or its words.
    assert f"student #{student_flag.student_id}: 1 nieuw signaal" in text
    assert f"http://portal.test/mentor/studenten/{student_flag.student_id}" in text
    assert "Denkt aan stoppen" not in text and "woorden" not in text
    assert digest["Subject"] == "Loopbaancoach: 1 student om op te volgen"
    assert student_flag.notifications[0].status == "sent"


def test_smtp_down_is_retried_visible_then_failed(db) -> None:
    flag = flagged_student(db, "crisis", "m4", mentor_email="bakker@school.test")
    closed = config(free_port())
    now = utcnow()
    assert worker.deliver_due(db, now=now, config=closed) == {"sent": 0, "retry": 1, "failed": 0}
    (note,) = flag.notifications
    assert note.status == "pending" and note.attempts == 1 and note.last_error
    assert note.next_attempt_at > now
    assert notify.problems(db) == {"failed": 0, "retrying": 1}
    for _ in range(notify.MAX_ATTEMPTS):
        now += timedelta(hours=5)
        worker.deliver_due(db, now=now, config=closed)
    assert note.status == "failed" and note.attempts == notify.MAX_ATTEMPTS
    assert notify.problems(db)["failed"] == 1


def test_no_recipient_is_an_error_not_silence(db, mailbox) -> None:
    student = repo.get_or_create_student(db, "rest", "s-none")
    flag = repo.save_flag(db, student, None, "crisis", "w", "t", "m5")
    notify.enqueue(db, flag, config(mailbox.port, fallback_email=None))
    worker.deliver_due(db, config=config(mailbox.port, fallback_email=None))
    assert "geen mentor" in flag.notifications[0].last_error


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_webhook_receives_the_flag(db, mailbox, webhook) -> None:
    url, received = webhook
    student = repo.get_or_create_student(db, "rest", "s-hook")
    flag = repo.save_flag(db, student, None, "crisis", "w", "t", "m6")
    cfg = config(mailbox.port, webhook_url=url)
    notify.enqueue(db, flag, cfg)
    db.flush()
    assert worker.deliver_due(db, config=cfg)["sent"] == 2
    assert received[0]["flags"][0]["category"] == "crisis"
    assert set(received[0]["flags"][0]) == {"id", "category", "severity", "student_id",
                                            "status", "created_at"}  # no message content


def test_once_linked_a_flag_goes_to_the_students_own_mentor(db, mailbox) -> None:
    """A chat student links with a koppelcode (issue: one student across channels); the
    flag they raise next is mailed to the school student's mentor, not the fallback."""
    from bot.storage import links
    from bot.storage.models import School, Student

    mentor = Mentor(name="Meneer Bakker", email="bakker@school.test", password_hash="x")
    school = School(name="Linkschool")
    target = Student(school=school, display_name="Vos", level="vmbo", mentor=mentor)
    db.add_all([mentor, school, target])
    db.flush()
    code, _ = links.make_code(db, target, "mentor:1")
    assert links.redeem(db, "matrix", "@vos:school.test", code) is links.Outcome.LINKED
    student = repo.get_or_create_student(db, "matrix", "@vos:school.test")
    session = repo.start_session(db, student, "matrix", "vmbo")
    flag = repo.save_flag(db, student, session, "crisis", "woorden", "het bericht", "m-link")
    notify.enqueue(db, flag, config(1))
    db.flush()
    assert worker.deliver_due(db, config=config(mailbox.port))["sent"] == 1
    assert len(mailbox.to("bakker@school.test")) == 1 and not mailbox.to("zorg@school.test")
