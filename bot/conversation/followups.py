"""When the coach may write first (pure): the check-in on a plan's day, a reminder for a
paused conversation, quiet hours (by default no messages between 21:00 and 08:00 nor on
Sundays, Europe/Amsterdam; a school can change them) and at most one proactive message per
student per day."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/Amsterdam")
CHECKIN_AT = time(10, 0)  # the check-in comes in the morning of the plan's day
DEFAULT_AFTER = timedelta(days=7)  # no date, or a vague one ("binnenkort"): after a week
REMINDER_DAYS = 3  # a paused or abandoned conversation: one reminder after this many days
MAX_REMINDER_DAYS = 60


@dataclass(frozen=True)
class QuietHours:
    """When the coach never writes first (a school's setting; Europe/Amsterdam time).
    `start` == `end` means no quiet hours in the day."""

    start: time = time(21, 0)
    end: time = time(8, 0)
    sunday: bool = True

    def covers(self, local: datetime) -> bool:
        if self.sunday and local.weekday() == 6:
            return True
        now, start, end = local.time(), self.start, self.end
        if start == end:
            return False
        if start > end:  # over midnight (21:00-08:00)
            return now >= start or now < end
        return start <= now < end


DEFAULT_QUIET = QuietHours()


def parse_clock(text: str | None) -> time | None:
    """"21:00" / "8:30" -> time; None for empty; ValueError for anything else."""
    if text is None or not str(text).strip():
        return None
    match = re.fullmatch(r"\s*([01]?\d|2[0-3])[:.]([0-5]\d)\s*", str(text))
    if not match:
        raise ValueError(f"not a clock time: {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def quiet_hours_of(school: object | None) -> QuietHours:
    """The school's quiet hours (columns quiet_from / quiet_until / quiet_sunday), with the
    default for what it left empty or what cannot be read."""
    if school is None:
        return DEFAULT_QUIET
    try:
        start = parse_clock(getattr(school, "quiet_from", None)) or DEFAULT_QUIET.start
        end = parse_clock(getattr(school, "quiet_until", None)) or DEFAULT_QUIET.end
    except ValueError:
        return DEFAULT_QUIET
    sunday = getattr(school, "quiet_sunday", None)
    return QuietHours(start, end, DEFAULT_QUIET.sunday if sunday is None else bool(sunday))


def reminder_days_of(school: object | None) -> int:
    """Days before a paused conversation is reminded; 0: never (a school's setting)."""
    days = getattr(school, "reminder_days", None) if school is not None else None
    return REMINDER_DAYS if days is None else max(0, min(int(days), MAX_REMINDER_DAYS))


def is_quiet(moment: datetime, quiet: QuietHours = DEFAULT_QUIET) -> bool:
    return quiet.covers(moment.astimezone(LOCAL))


def next_allowed(moment: datetime, quiet: QuietHours = DEFAULT_QUIET) -> datetime:
    """`moment`, or the first moment after it outside quiet hours (in moment's zone)."""
    local = moment.astimezone(LOCAL)
    for _ in range(8 * 24 * 4):  # a week and a day in quarter hours: always enough
        if not quiet.covers(local):
            break
        if quiet.sunday and local.weekday() == 6:
            local = datetime.combine(local.date() + timedelta(days=1), time(0, 0), LOCAL)
        elif quiet.start != quiet.end and quiet.covers(local):
            day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
            local = datetime.combine(day, quiet.end, LOCAL)
    return local.astimezone(moment.tzinfo or LOCAL)


def checkin_due(plan_day: date | None, made_at: datetime,
                quiet: QuietHours = DEFAULT_QUIET) -> datetime:
    """When to ask how the plan went: the plan's day at CHECKIN_AT (a day in the past or
    today: tomorrow), else a week after the plan was made; never in quiet hours."""
    made_day = made_at.astimezone(LOCAL).date()
    day = plan_day if plan_day is not None else made_day + DEFAULT_AFTER
    if day <= made_day:
        day = made_day + timedelta(days=1)
    return next_allowed(datetime.combine(day, CHECKIN_AT, LOCAL), quiet
                        ).astimezone(made_at.tzinfo)


def may_write_today(last_proactive: datetime | None, now: datetime) -> bool:
    """At most one proactive message per student per (local) day."""
    if last_proactive is None:
        return True
    return last_proactive.astimezone(LOCAL).date() != now.astimezone(LOCAL).date()


def tomorrow_morning(now: datetime, quiet: QuietHours = DEFAULT_QUIET) -> datetime:
    local = now.astimezone(LOCAL)
    return next_allowed(datetime.combine(local.date() + timedelta(days=1), CHECKIN_AT, LOCAL),
                        quiet).astimezone(now.tzinfo)


_OFF = re.compile(r"^\s*(stop(pen)?\s+met\s+(de\s+)?herinneringen|geen\s+herinneringen(\s+meer)?|"
                  r"herinneringen\s+(uit|stoppen|stop)(\s*zetten)?)\s*[.!]*\s*$", re.IGNORECASE)
_ON = re.compile(r"^\s*(herinneringen\s+(aan|weer\s+aan)(\s*zetten)?|wel\s+herinneringen|"
                 r"start\s+(met\s+)?herinneringen)\s*[.!]*\s*$", re.IGNORECASE)


def reminders_command(text: str) -> bool | None:
    """"stop met herinneringen" -> False (off), "herinneringen aan" -> True; else None."""
    if not isinstance(text, str):
        return None
    if _OFF.match(text):
        return False
    if _ON.match(text):
        return True
    return None
