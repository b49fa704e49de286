"""Turn a student's 'when' ("morgen", "vrijdag na school", "12 dec") into a date."""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot.conversation.spelling import typo_of

WEEKDAYS = {
    "maandag": 0, "ma": 0, "dinsdag": 1, "di": 1, "woensdag": 2, "wo": 2, "woensdg": 2,
    "donderdag": 3, "do": 3, "vrijdag": 4, "vr": 4, "vrijdg": 4, "zaterdag": 5, "za": 5,
    "zondag": 6, "zo": 6,
}
MONTH_NAMES = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
               "september", "oktober", "november", "december")
MONTHS = {name: n for n, name in enumerate(MONTH_NAMES, start=1)} | {
    "jan": 1, "feb": 2, "mrt": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "okt": 10, "nov": 11, "dec": 12,
}
RELATIVE = {"vandaag": 0, "vanavond": 0, "vanmiddag": 0, "nu": 0, "straks": 0, "zometeen": 0,
            "morgen": 1, "morgn": 1, "mrgn": 1, "overmorgen": 2}
_NUMBER_WORDS = {"een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6}


_DAY_AND_PART = re.compile(
    r"^(maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag|morgen|overmorgen)"
    r"(ochtend|morgen|middag|avond|nacht)$")


_FULL_DAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")


def _weekday_typo(word: str) -> str | None:
    """'maandg', 'dondrdag', 'donderdg': a day name with a letter off ("maand" is not one);
    the first two letters must be right."""
    return typo_of(word, [day for day in _FULL_DAYS if day[:2] == word[:2]])


def _future(day: int, month: int, today: date) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def parse_when(text: str, today: date | None = None) -> date | None:
    """The first day named in `text`, on or after today; None when no day is named."""
    today = today or date.today()
    words = re.findall(r"[a-zà-ÿ]+|\d+", text.lower())
    # "zaterdagochtend", "woensdagmiddag", "morgenavond": the day, then the part of it.
    words = [part for word in words for part in _DAY_AND_PART.sub(r"\1 \2", word).split()]
    words = [w if w in WEEKDAYS or w in RELATIVE or w in MONTHS else _weekday_typo(w) or w
             for w in words]
    joined = " ".join(words)

    if m := re.search(r"\b(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:\s*[-/.]\s*(\d{2,4}))?\b", text):
        day, month = int(m.group(1)), int(m.group(2))
        if m.group(3):
            year = int(m.group(3)) + (2000 if len(m.group(3)) == 2 else 0)
            try:
                return date(year, month, day)
            except ValueError:
                return None
        return _future(day, month, today)
    for i, word in enumerate(words[:-1]):
        if word.isdigit() and words[i + 1] in MONTHS:
            return _future(int(word), MONTHS[words[i + 1]], today)
    if m := re.search(r"\bover (\d+|een|één|twee|drie|vier|vijf|zes) (dag|dagen|week|weken)\b",
                      joined):
        n = int(m.group(1)) if m.group(1).isdigit() else _NUMBER_WORDS[m.group(1)]
        return today + timedelta(days=n * (7 if m.group(2).startswith("we") else 1))
    next_week = "volgende week" in joined or "volgende wk" in joined
    for word in words:
        if word in RELATIVE:
            return today + timedelta(days=RELATIVE[word])
        if word in WEEKDAYS and (len(word) > 2 or len(words) <= 3):
            ahead = (WEEKDAYS[word] - today.weekday()) % 7 or 7
            if next_week and ahead < 7:
                ahead = ahead + 7 if today.weekday() < WEEKDAYS[word] else ahead
            return today + timedelta(days=ahead)
    if "weekend" in words:
        return today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    if next_week:
        return today + timedelta(days=7 - today.weekday())
    return None


def spoken_day(day: date, today: date) -> str:
    """`day` as the coach says it in a sentence: "vandaag", "morgen", "overmorgen", "op vrijdag"
    within the coming week, else "op vrijdag 18 december"."""
    ahead = (day - today).days
    if 0 <= ahead <= 2:
        return ("vandaag", "morgen", "overmorgen")[ahead]
    weekday = _FULL_DAYS[day.weekday()]
    if 0 < ahead < 7:
        return f"op {weekday}"
    return f"op {weekday} {day.day} {MONTH_NAMES[day.month - 1]}"
