"""What a mentor should notice about a student at a glance: the status chips on "Mijn studenten".

Pure (no database): the portal passes in the facts and gets back chips, each with a key (its
colour in the stylesheet) and a Dutch label, so that colour is never the only carrier of meaning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

INACTIVE_AFTER = timedelta(weeks=4)  # no conversation for this long: "stil"
DUE_WITHIN = timedelta(days=7)  # a plan date this close: "plan deze week"
FOLLOWUP_LABELS = {"gelukt": "Plan gelukt", "deels": "Plan deels gelukt",
                   "niet_gelukt": "Plan niet gelukt"}


@dataclass(frozen=True)
class StudentFacts:
    open_flags: int
    urgent_flags: int
    last_conversation: date | None
    plan_date: date | None  # the latest plan's date, if the student named one
    plan_followup: str | None  # how the latest plan went (gelukt / deels / niet_gelukt)


@dataclass(frozen=True)
class Chip:
    key: str  # CSS class: urgent, aandacht, verlopen, binnenkort, gelukt, niet-gelukt, stil
    label: str


def chips(facts: StudentFacts, today: date) -> list[Chip]:
    """The chips in order of importance (the first decides the row's colour)."""
    result: list[Chip] = []
    if facts.urgent_flags:
        result.append(Chip("urgent", "Urgent signaal"))
    elif facts.open_flags:
        result.append(Chip("aandacht", "Open signaal"))
    if facts.plan_date is not None and facts.plan_followup is None:
        if facts.plan_date < today:
            result.append(Chip("verlopen", "Plan verlopen, nog niet besproken"))
        elif facts.plan_date - today <= DUE_WITHIN:
            result.append(Chip("binnenkort", "Plan deze week"))
    if facts.plan_followup is not None:
        key = "gelukt" if facts.plan_followup in ("gelukt", "deels") else "niet-gelukt"
        result.append(Chip(key, FOLLOWUP_LABELS.get(facts.plan_followup, facts.plan_followup)))
    if facts.last_conversation is None:
        result.append(Chip("stil", "Nog geen gesprek"))
    elif today - facts.last_conversation >= INACTIVE_AFTER:
        weeks = (today - facts.last_conversation).days // 7
        result.append(Chip("stil", f"{weeks} weken geen gesprek"))
    return result
