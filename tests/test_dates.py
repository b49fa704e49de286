from datetime import date

import pytest

from bot.conversation.dates import parse_when

MONDAY = date(2026, 11, 23)


@pytest.mark.parametrize(("text", "expected"), [
    ("morgen na school", date(2026, 11, 24)),
    ("vandaag", MONDAY),
    ("vrijdag", date(2026, 11, 27)),
    ("volgende week dinsdag", date(2026, 12, 1)),
    ("over 2 weken", date(2026, 12, 7)),
    ("over drie dagen", date(2026, 11, 26)),
    ("12 december", date(2026, 12, 12)),
    ("3-1", date(2027, 1, 3)),
    ("dit weekend", date(2026, 11, 28)),
    # A day and the part of it in one word.
    ("zaterdagochtend", date(2026, 11, 28)),
    ("woensdagmiddag, dan ben ik vroeg uit", date(2026, 11, 25)),
    ("dinsdagavond", date(2026, 11, 24)),
    ("morgenavond", date(2026, 11, 24)),
    # A day name with a letter off; a month is no day.
    ("Maandg in de les van Nederlands", date(2026, 11, 30)),
    ("dondrdag", date(2026, 11, 26)),
    ("donderdg als die langs komt", date(2026, 11, 26)),
    ("zaterdg", date(2026, 11, 28)),
    ("zondagmorgen", date(2026, 11, 29)),
])
def test_understands_when(text: str, expected: date) -> None:
    assert parse_when(text, MONDAY) == expected


@pytest.mark.parametrize("text", ["ooit", "na de vakantie", "ik doe het zo snel mogelijk",
                                  "ik app hem zo", "", "31-2", "over een maand"])
def test_no_day_is_none(text: str) -> None:
    assert parse_when(text, MONDAY) is None
