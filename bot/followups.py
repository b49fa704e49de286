"""When the coach may write first (pure): the check-in on a plan's day, quiet hours (no
messages between 21:00 and 08:00 nor on Sundays, Europe/Amsterdam) and at most one proactive
message per student per day."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/Amsterdam")
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
QUIET_WEEKDAYS = frozenset({6})  # Sunday
CHECKIN_AT = time(10, 0)  # the check-in comes in the morning of the plan's day
DEFAULT_AFTER = timedelta(days=7)  # no date, or a vague one ("binnenkort"): after a week


def is_quiet(moment: datetime) -> bool:
    local = moment.astimezone(LOCAL)
    return (local.weekday() in QUIET_WEEKDAYS or local.time() >= QUIET_FROM
            or local.time() < QUIET_UNTIL)


def next_allowed(moment: datetime) -> datetime:
    """`moment`, or the first moment after it outside quiet hours (as UTC-aware)."""
    local = moment.astimezone(LOCAL)
    while is_quiet(local):
        if local.time() >= QUIET_FROM or local.weekday() in QUIET_WEEKDAYS:
            local = datetime.combine(local.date() + timedelta(days=1), QUIET_UNTIL, LOCAL)
        else:
            local = datetime.combine(local.date(), QUIET_UNTIL, LOCAL)
    return local.astimezone(moment.tzinfo or LOCAL)


def checkin_due(plan_day: date | None, made_at: datetime) -> datetime:
    """When to ask how the plan went: the plan's day at CHECKIN_AT (a day in the past or
    today: tomorrow), else a week after the plan was made; never in quiet hours."""
    made_day = made_at.astimezone(LOCAL).date()
    day = plan_day if plan_day is not None else made_day + DEFAULT_AFTER
    if day <= made_day:
        day = made_day + timedelta(days=1)
    return next_allowed(datetime.combine(day, CHECKIN_AT, LOCAL)).astimezone(made_at.tzinfo)


def may_write_today(last_proactive: datetime | None, now: datetime) -> bool:
    """At most one proactive message per student per (local) day."""
    if last_proactive is None:
        return True
    return last_proactive.astimezone(LOCAL).date() != now.astimezone(LOCAL).date()


def tomorrow_morning(now: datetime) -> datetime:
    local = now.astimezone(LOCAL)
    return next_allowed(datetime.combine(local.date() + timedelta(days=1), CHECKIN_AT, LOCAL)
                        ).astimezone(now.tzinfo)


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
