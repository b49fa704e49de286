"""The last message of a conversation: one sentence with the student's first step and its day.

The script's `afronden_met_plan` names the plan ({wat}: the first step in the student's words,
{dag}: the day, as the coach says it); without a first step or a day, or when a school's script
has no such text, the coach closes with `afronden`, which names no plan. Pure: no Rasa, no
database."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from bot.conversation.dates import parse_when, spoken_day
from bot.conversation.echo import kern
from bot.conversation.script import Script

WITH_PLAN = "afronden_met_plan"
PLAIN = "afronden"


def day_words(when_text: str | None, today: date, when: date | None = None) -> str | None:
    """The day of the plan as the coach says it: the date the student named ("morgen",
    "op vrijdag 18 december"), else the student's own words ("na de kerstvakantie").
    `when`: that date when the caller has parsed it already."""
    if not when_text or not when_text.strip():
        return None
    when = when or parse_when(when_text, today)
    if when is not None and when >= today:
        return spoken_day(when, today)
    return kern(when_text) or None


def closing_lines(script: Script, level: str | None, choice: int, *, what: str | None,
                  when_text: str | None, today: date, when: date | None = None,
                  said: Collection[str] = ()) -> list[str]:
    """The closing, in one of its forms (`choice`, as the coach's recurring texts); `when`:
    the plan's date when the caller has parsed it already."""
    day = day_words(when_text, today, when)
    if what and what.strip() and day and WITH_PLAN in script.raw["teksten"]:
        return script.pick_text(WITH_PLAN, level, choice, said=said, wat=what.strip(), dag=day)
    return script.pick_text(PLAIN, level, choice, said=said)
