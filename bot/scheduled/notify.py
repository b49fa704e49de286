"""Telling mentors about flags: an outbox (table `notifications`) filled when a flag is stored
and emptied by the worker (bot.scheduled.worker: one `notify` job per channel + recipient, see
`deliver`). Urgent flags go out at once; the others wait for the daily digest. E-mail over
SMTP and, optionally, a JSON webhook. A failed delivery is retried with back-off, stays
visible (status, attempts, last error) and is logged; it is never dropped.

Configuration (environment):
  SMTP_HOST, SMTP_PORT (25), SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS (0/1), SMTP_FROM
  NOTIFY_FALLBACK_EMAIL  who is told when a student has no mentor yet and their school set no
                         address in the portal (e.g. the zorgcoördinator)
  NOTIFY_WEBHOOK_URL     optional: every notification is also POSTed there as JSON
  DIGEST_HOUR            hour (local time) of the daily digest, default 7
  PORTAL_PUBLIC_URL      link in the e-mails, default http://localhost:8080
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from bot.storage.db import session_scope
from bot.storage.models import Flag, Notification
from bot.storage.types import utcnow
from bot.taxonomy import FLAG_BY_KEY

log = logging.getLogger(__name__)
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
           timedelta(hours=1), timedelta(hours=4))
MAX_ATTEMPTS = len(BACKOFF) + 1


@dataclass(frozen=True)
class NotifyConfig:
    smtp_host: str | None
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None
    smtp_starttls: bool
    sender: str
    fallback_email: str | None
    webhook_url: str | None
    digest_hour: int
    portal_url: str

    @classmethod
    def from_env(cls) -> NotifyConfig:
        env = os.environ.get
        return cls(
            smtp_host=env("SMTP_HOST") or None,
            smtp_port=int(env("SMTP_PORT") or 25),
            smtp_user=env("SMTP_USER") or None,
            smtp_password=env("SMTP_PASSWORD") or None,
            smtp_starttls=(env("SMTP_STARTTLS") or "0") == "1",
            sender=env("SMTP_FROM") or "loopbaancoach@localhost",
            fallback_email=env("NOTIFY_FALLBACK_EMAIL") or None,
            webhook_url=env("NOTIFY_WEBHOOK_URL") or None,
            digest_hour=int(env("DIGEST_HOUR") or 7),
            portal_url=(env("PORTAL_PUBLIC_URL") or "http://localhost:8080").rstrip("/"),
        )


def next_digest(now: datetime, hour: int) -> datetime:
    """The next daily digest moment (local time of the server), as UTC."""
    local = now.astimezone()
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at += timedelta(days=1)
    return at.astimezone(now.tzinfo)


def enqueue(db: DbSession, flag: Flag, config: NotifyConfig | None = None) -> list[Notification]:
    """Outbox rows for a new flag: e-mail to the mentor (or the fallback address) and the
    webhook. Urgent: due now; the rest: due at the next digest. `info` flags are only shown in
    the portal and the digest, never sent on their own."""
    config = config or NotifyConfig.from_env()
    now = utcnow()
    due = now if flag.severity == "urgent" else next_digest(now, config.digest_hour)
    mentor = flag.student.mentor if flag.student else None
    school = flag.student.school if flag.student else None
    recipient = ((mentor.email if mentor and mentor.active else None)
                 or (school.notify_email if school else None) or config.fallback_email)
    rows = [Notification(flag=flag, channel="email", recipient=recipient or "(geen ontvanger)",
                         next_attempt_at=due)]
    if config.webhook_url:
        rows.append(Notification(flag=flag, channel="webhook", recipient=config.webhook_url,
                                 next_attempt_at=due))
    db.add_all(rows)
    return rows


def _subject(flags: list[Flag]) -> str:
    if len(flags) == 1 and flags[0].severity == "urgent":
        return "DRINGEND – Loopbaancoach: een student heeft nu hulp nodig"
    students = len({f.student_id for f in flags})
    return (f"Loopbaancoach: {students} "
            f"{'student' if students == 1 else 'studenten'} om op te volgen")


def _who(flag: Flag) -> str:
    return (flag.student.display_name if flag.student and flag.student.display_name
            else f"student #{flag.student_id}")


def flag_link(flag: Flag, config: NotifyConfig) -> str:
    """The flag's page in the portal (after logging in, the mentor lands on it)."""
    return f"{config.portal_url}/mentor/signalen/{flag.id}"


def student_link(student_id: int, config: NotifyConfig) -> str:
    return f"{config.portal_url}/mentor/studenten/{student_id}"


def _body(flags: list[Flag], config: NotifyConfig) -> str:
    # Deliberately no message content in e-mail: the evidence is read in the portal. An urgent
    # e-mail names the kind of signal and links to it; the digest lists students only.
    lines = ["Beste mentor,", ""]
    urgent = [f for f in flags if f.severity == "urgent"]
    if urgent:
        lines += ["Een student heeft iets verteld waarbij direct hulp nodig is.",
                  "De student heeft de nummers van 113 (0800-0113), De Kindertelefoon "
                  "(0800-0432) en 112 gekregen. Neem vandaag nog contact op.", ""]
        for flag in urgent:
            declined = " (student wil liever geen contact)" if flag.student_declined else ""
            lines += [f"- {FLAG_BY_KEY[flag.category].title} – {_who(flag)}, "
                      f"{flag.created_at:%d-%m-%Y %H:%M}{declined}",
                      f"  Open het signaal: {flag_link(flag, config)}"]
        lines.append("")
    rest = [f for f in flags if f.severity != "urgent"]
    if rest:
        lines += ["Bij deze studenten staat iets nieuws om op te volgen:", ""]
        per_student: dict[int, list[Flag]] = defaultdict(list)
        for flag in rest:
            per_student[flag.student_id].append(flag)
        for student_id, theirs in per_student.items():
            count = len(theirs)
            lines += [f"- {_who(theirs[0])}: {count} "
                      f"{'nieuw signaal' if count == 1 else 'nieuwe signalen'}",
                      f"  {student_link(student_id, config)}"]
        lines.append("")
    lines += [f"Alle signalen staan in het portaal: {config.portal_url}/mentor", "",
              "Dit bericht is automatisch verstuurd door Loopbaancoach."]
    return "\n".join(lines)


@dataclass(frozen=True)
class Delivery:
    """One message ready to send, built in a short transaction: the notifications it
    covers, where it goes, and its content (no student text: see `_body`)."""

    channel: str
    recipient: str
    notification_ids: tuple[int, ...]
    subject: str
    body: str  # e-mail text, or the webhook's JSON


def due_groups(db: DbSession, now: datetime) -> list[tuple[tuple[int, ...], str]]:
    """Due notification ids, grouped per channel + recipient (one e-mail each: the digest),
    each with a key naming the group's first notification and its attempt. The key holds
    the creation time as well: SQLite may reuse the id of a deleted notification."""
    rows = db.execute(select(Notification.id, Notification.channel, Notification.recipient,
                             Notification.attempts, Notification.created_at)
                      .where(Notification.status == "pending",
                             Notification.next_attempt_at <= now)
                      .order_by(Notification.id)).all()
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    keys: dict[tuple[str, str], str] = {}
    for note_id, channel, recipient, attempts, created_at in rows:
        groups[(channel, recipient)].append(note_id)
        stamp = int(created_at.timestamp() * 1_000_000) if created_at else 0
        keys.setdefault((channel, recipient), f"{note_id}:{stamp}:{attempts}")
    return [(tuple(ids), keys[key]) for key, ids in groups.items()]


def build(db: DbSession, ids: tuple[int, ...] | list[int], now: datetime,
          config: NotifyConfig) -> Delivery | None:
    """What to send for those of `ids` that are still pending and due; None: nothing."""
    notes = db.execute(select(Notification).where(Notification.id.in_(list(ids)),
                                                  Notification.status == "pending",
                                                  Notification.next_attempt_at <= now)
                       .order_by(Notification.id)).scalars().all()
    if not notes:
        return None
    channel, recipient = notes[0].channel, notes[0].recipient
    notes = [n for n in notes if (n.channel, n.recipient) == (channel, recipient)]
    flags = [n.flag for n in notes]
    if channel == "email":
        subject, body = _subject(flags), _body(flags, config)
    else:
        subject, body = "", json.dumps(_webhook_payload(flags))
    return Delivery(channel, recipient, tuple(n.id for n in notes), subject, body)


def _send_email(delivery: Delivery, config: NotifyConfig) -> None:
    if not config.smtp_host:
        raise RuntimeError("SMTP_HOST is niet ingesteld")
    if delivery.recipient == "(geen ontvanger)":
        raise RuntimeError("geen mentor gekoppeld en NOTIFY_FALLBACK_EMAIL is niet ingesteld")
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = delivery.recipient
    message["Subject"] = delivery.subject
    message.set_content(delivery.body)
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=15) as smtp:
        if config.smtp_starttls:
            smtp.starttls()
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password or "")
        smtp.send_message(message)


def _webhook_payload(flags: list[Flag]) -> dict[str, Any]:
    return {"flags": [{"id": f.id, "category": f.category, "severity": f.severity,
                       "student_id": f.student_id, "status": f.status,
                       "created_at": f.created_at.isoformat()} for f in flags]}


def _send_webhook(delivery: Delivery) -> None:
    request = urllib.request.Request(delivery.recipient, data=delivery.body.encode(),
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status >= 300:
            raise RuntimeError(f"webhook antwoordde {response.status}")


def send(delivery: Delivery, config: NotifyConfig) -> str | None:
    """The I/O, outside any transaction. None when sent, else the error (for `record`)."""
    try:
        if delivery.channel == "email":
            _send_email(delivery, config)
        else:
            _send_webhook(delivery)
    except (OSError, smtplib.SMTPException, urllib.error.URLError, RuntimeError) as exc:
        log.error("notify.delivery_failed", extra={"channel": delivery.channel,
                                                   "notifications": len(
                                                       delivery.notification_ids),
                                                   "error": type(exc).__name__})
        return f"{type(exc).__name__}: {exc}"[:500]
    log.info("notify.sent", extra={"channel": delivery.channel,
                                   "notifications": len(delivery.notification_ids)})
    return None


def record(db: DbSession, delivery: Delivery, now: datetime,
           error: str | None) -> dict[str, int]:
    """Store the outcome per notification: sent, or retried with back-off, or failed."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    notes = db.execute(select(Notification)
                       .where(Notification.id.in_(list(delivery.notification_ids)),
                              Notification.status == "pending")).scalars().all()
    for note in notes:
        note.attempts += 1
        if error is None:
            note.status, note.sent_at, note.last_error = "sent", now, None
            counts["sent"] += 1
            continue
        note.last_error = error
        if note.attempts >= MAX_ATTEMPTS:
            note.status = "failed"
            counts["failed"] += 1
        else:
            note.next_attempt_at = now + BACKOFF[note.attempts - 1]
            counts["retry"] += 1
    return counts


def deliver(ids: tuple[int, ...] | list[int], now: datetime,
            config: NotifyConfig | None = None) -> dict[str, int]:
    """Send one group: read it (short transaction), send (no transaction open: a slow mail
    server never blocks a student's write), record the outcome (short transaction)."""
    config = config or NotifyConfig.from_env()
    with session_scope() as db:
        delivery = build(db, ids, now, config)
    if delivery is None:
        return {"sent": 0, "retry": 0, "failed": 0}
    error = send(delivery, config)
    with session_scope() as db:
        return record(db, delivery, now, error)


def problems(db: DbSession) -> dict[str, int]:
    """Visible on /health and in the portal: deliveries that failed or are being retried."""
    rows = db.execute(select(Notification.status, Notification.attempts)).all()
    return {"failed": sum(1 for s, _ in rows if s == "failed"),
            "retrying": sum(1 for s, a in rows if s == "pending" and a > 0)}
