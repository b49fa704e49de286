"""When the coach may write first (bot.conversation.followups): quiet hours, the check-in moment,
one proactive message a day, and the reminders switch."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from bot.conversation.followups import (
    LOCAL,
    checkin_due,
    is_quiet,
    may_write_today,
    next_allowed,
    reminders_command,
    tomorrow_morning,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL)


@pytest.mark.parametrize(("moment", "quiet"), [
    ("2026-12-01T07:59", True), ("2026-12-01T08:00", False), ("2026-12-01T20:59", False),
    ("2026-12-01T21:00", True), ("2026-12-06T12:00", True),  # a Sunday
    ("2026-12-05T12:00", False),  # a Saturday
])
def test_quiet_hours(moment: str, quiet: bool) -> None:
    assert is_quiet(at(moment)) is quiet


def test_next_allowed_moves_out_of_quiet_hours_and_sundays() -> None:
    assert next_allowed(at("2026-12-01T22:30")) == at("2026-12-02T08:00")
    assert next_allowed(at("2026-12-02T06:00")) == at("2026-12-02T08:00")
    assert next_allowed(at("2026-12-05T23:00")) == at("2026-12-07T08:00")  # Sat night -> Mon
    assert next_allowed(at("2026-12-02T10:00")) == at("2026-12-02T10:00")


def test_checkin_on_the_plans_day_or_after_a_week() -> None:
    made = at("2026-12-01T14:00").astimezone(timezone.utc)
    assert checkin_due(date(2026, 12, 4), made) == at("2026-12-04T10:00")
    assert checkin_due(None, made) == at("2026-12-08T10:00")  # "binnenkort": a week
    assert checkin_due(date(2026, 11, 20), made) == at("2026-12-02T10:00")  # in the past
    assert checkin_due(date(2026, 12, 6), made) == at("2026-12-07T08:00")  # a Sunday
    assert checkin_due(date(2026, 12, 4), made).tzinfo == timezone.utc


def test_one_proactive_message_a_day() -> None:
    now = at("2026-12-02T10:00")
    assert may_write_today(None, now)
    assert not may_write_today(at("2026-12-02T08:30"), now)
    assert may_write_today(at("2026-12-01T20:30"), now)
    assert tomorrow_morning(now) == at("2026-12-03T10:00")


@pytest.mark.parametrize(("text", "switch"), [
    ("stop met herinneringen", False), ("Stop met de herinneringen!", False),
    ("geen herinneringen meer", False), ("herinneringen uit", False),
    ("herinneringen aan", True), ("Herinneringen weer aan.", True),
    ("ik wil stoppen met mijn stage", None), ("herinneringen", None),
    ("ik kreeg herinneringen van mijn baas", None), ("", None),
])
def test_the_reminders_switch(text: str, switch: bool | None) -> None:
    assert reminders_command(text) is switch


def test_a_school_sets_its_own_quiet_hours() -> None:
    from datetime import time

    from bot.conversation.followups import QuietHours, parse_clock, quiet_hours_of

    late = QuietHours(time(22, 30), time(7, 0), sunday=False)
    assert not is_quiet(at("2026-12-01T22:00"), late)
    assert is_quiet(at("2026-12-01T22:30"), late)
    assert not is_quiet(at("2026-12-06T12:00"), late)  # Sundays allowed by this school
    assert next_allowed(at("2026-12-05T23:00"), late) == at("2026-12-06T07:00")
    lunch = QuietHours(time(12, 0), time(13, 0), sunday=True)
    assert next_allowed(at("2026-12-01T12:15"), lunch) == at("2026-12-01T13:00")
    assert next_allowed(at("2026-12-06T12:15"), lunch) == at("2026-12-07T00:00")
    never = QuietHours(time(0, 0), time(0, 0), sunday=False)
    assert next_allowed(at("2026-12-06T03:00"), never) == at("2026-12-06T03:00")
    assert checkin_due(date(2026, 12, 6), at("2026-12-01T14:00"), late) == at(
        "2026-12-06T10:00")

    class School:
        quiet_from, quiet_until, quiet_sunday = "22:30", "7:00", False

    assert quiet_hours_of(School()) == late
    assert quiet_hours_of(None) == QuietHours()
    School.quiet_from = "kwart over tien"  # unreadable: the default, never no quiet hours
    assert quiet_hours_of(School()) == QuietHours()
    assert parse_clock("8.30") == time(8, 30) and parse_clock("") is None
    with pytest.raises(ValueError):
        parse_clock("25:00")


def test_reminder_days_default_bounds_and_off() -> None:
    from bot.conversation.followups import REMINDER_DAYS, reminder_days_of

    class School:
        reminder_days = None

    assert reminder_days_of(None) == reminder_days_of(School()) == REMINDER_DAYS
    School.reminder_days = 0
    assert reminder_days_of(School()) == 0
    School.reminder_days = 500
    assert reminder_days_of(School()) == 60
