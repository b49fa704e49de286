"""A school's settings (default level, notification address, retention period, when the
coach may write first) and the retention purge that the worker runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DbSession

from bot.conversation.followups import MAX_REMINDER_DAYS, parse_clock
from bot.storage.accounts import Principal, normalise_email
from bot.storage.audit import audit
from bot.storage.models import ChannelIdentity, Conversation, School, Student, TrackerDeletion
from bot.taxonomy import LEVELS

log = logging.getLogger(__name__)
MAX_RETENTION_MONTHS = 120
DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class Settings:
    default_level: str | None
    notify_email: str | None
    retention_months: int | None
    quiet_from: str | None = None  # "21:00"; None: bot.conversation.followups' default
    quiet_until: str | None = None
    quiet_sunday: bool | None = None
    reminder_days: int | None = None  # 0: no reminders


def settings_of(db: DbSession, principal: Principal) -> Settings:
    school = db.get(School, principal.school_id) if principal.school_id else None
    if school is None:
        return Settings(None, None, None)
    return Settings(school.default_level, school.notify_email, school.retention_months,
                    school.quiet_from, school.quiet_until, school.quiet_sunday,
                    school.reminder_days)


def _clock(text: str, what: str, errors: list[str]) -> str | None:
    try:
        parsed = parse_clock(text)
    except ValueError:
        errors.append(f"{what}: een tijd zoals 21:00, of leeg voor de standaard.")
        return None
    return parsed.strftime("%H:%M") if parsed else None


def parse(form: dict[str, object]) -> tuple[Settings | None, list[str]]:
    """The settings from a form, or the problems in Dutch."""
    errors: list[str] = []
    level = str(form.get("niveau") or "").strip() or None
    if level is not None and level not in LEVELS:
        errors.append(f"Kies als niveau {', '.join(LEVELS)} of 'geen'.")
    email = normalise_email(str(form.get("email") or "")) or None
    if email is not None and ("@" not in email or " " in email or len(email) > 320):
        errors.append("Het e-mailadres voor signalen is geen geldig adres.")
    months_text = str(form.get("bewaren") or "").strip()
    months = None
    if months_text:
        if not months_text.isdigit() or not 1 <= int(months_text) <= MAX_RETENTION_MONTHS:
            errors.append(f"Bewaartermijn: een aantal maanden van 1 tot {MAX_RETENTION_MONTHS}, "
                          "of leeg om alles te bewaren.")
        else:
            months = int(months_text)
    quiet_from = _clock(str(form.get("stil_van") or ""), "Stille uren vanaf", errors)
    quiet_until = _clock(str(form.get("stil_tot") or ""), "Stille uren tot", errors)
    sunday = str(form.get("zondag") or "").strip() == "stil"
    days_text = str(form.get("herinnering") or "").strip()
    days = None
    if days_text:
        if not days_text.isdigit() or int(days_text) > MAX_REMINDER_DAYS:
            errors.append(f"Herinnering: een aantal dagen van 0 (nooit) tot {MAX_REMINDER_DAYS}, "
                          "of leeg voor de standaard.")
        else:
            days = int(days_text)
    if errors:
        return None, errors
    return Settings(level, email, months, quiet_from, quiet_until, sunday, days), errors


def save(db: DbSession, principal: Principal, settings: Settings) -> None:
    """Store the school's settings (coordinators and the school admin); audited without the
    address itself."""
    if not principal.school_wide or principal.school_id is None:
        raise PermissionError("only a school's coordinators change its settings")
    school = db.get(School, principal.school_id)
    school.default_level = settings.default_level
    school.notify_email = settings.notify_email
    school.retention_months = settings.retention_months
    school.quiet_from, school.quiet_until = settings.quiet_from, settings.quiet_until
    school.quiet_sunday, school.reminder_days = settings.quiet_sunday, settings.reminder_days
    audit(db, principal.actor, "school.settings", "school", school.id,
          {"default_level": settings.default_level, "retention_months": settings.retention_months,
           "notify_email": settings.notify_email is not None,
           "quiet": [settings.quiet_from, settings.quiet_until, settings.quiet_sunday],
           "reminder_days": settings.reminder_days})
    db.flush()


def purge_expired(db: DbSession, now: datetime) -> dict[str, int]:
    """Remove conversations (with their answers, insights and plans) older than their
    school's retention period; a student left without conversations also loses the chat
    history in Rasa's tracker store (a tracker deletion job per chat identity). Flags and
    the audit log stay: they hold no conversation. Returns counts; audited per school."""
    totals = {"sessions": 0, "trackers": 0}
    schools = db.execute(select(School).where(School.retention_months.is_not(None))).scalars()
    for school in list(schools):
        cutoff = now - timedelta(days=school.retention_months * DAYS_PER_MONTH)
        last_activity = func.coalesce(Conversation.ended_at, Conversation.updated_at)
        expired = select(Conversation.id).join(
            Student, Conversation.student_id == Student.id).where(
            Student.school_id == school.id, Conversation.status != "active",
            last_activity < cutoff)
        ids = list(db.execute(expired).scalars())
        if not ids:
            continue
        students = set(db.execute(select(Conversation.student_id).where(Conversation.id.in_(ids))
                                  ).scalars())
        db.execute(delete(Conversation).where(Conversation.id.in_(ids)))
        emptied = [s for s in students if db.execute(
            select(func.count(Conversation.id)).where(
                Conversation.student_id == s)).scalar_one() == 0]
        senders = list(db.execute(select(ChannelIdentity.sender_id).where(
            ChannelIdentity.student_id.in_(emptied))).scalars()) if emptied else []
        db.add_all(TrackerDeletion(sender_id=sender) for sender in senders)
        audit(db, "worker", "retention.purged", "school", school.id,
              {"sessions": len(ids), "trackers": len(senders)})
        totals["sessions"] += len(ids)
        totals["trackers"] += len(senders)
    db.flush()
    if totals["sessions"]:
        log.info("retention.purged", extra=totals)
    return totals
