"""Issue 10 inside a real conversation (real Rasa and action servers, SMTP on loopback):
the unsure band asks one check question ("nee" closes it, "ja" or an unclear answer gets the
crisis reply), and two attention categories in one conversation each raise their flag and
their own acknowledgement, never the same one twice.

Which messages fall in the unsure band depends on the trained detector, so the test picks
them from candidates with bot.text.signals.detect (the same detector the servers use) and fails
when none qualifies."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from bot.conversation import intake
from bot.conversation.script import get_script
from bot.storage import models as m
from bot.text.signals import detect

pytestmark = pytest.mark.rasa
SCRIPT = get_script()

UNSURE_CANDIDATES = [
    "ik zie het niet meer zitten allemaal",
    "ik weet echt niet meer hoe het verder moet met alles",
    "soms wil ik gewoon heel lang slapen",
    "het maakt allemaal niks meer uit",
    "ik ben er klaar mee met alles",
    "niemand zou het merken als ik weg was",
    "ik kan niet meer",
    "ik ben er klaar mee",
    "ik ben er echt klaar mee",
    "ik ben er zo klaar mee",
    "ik ben zo moe van alles, ik wil rust",
    "ik zie het even niet zitten",
    "ik ben het zat allemaal",
    "het wordt me allemaal te veel",
    "wat heeft het allemaal voor zin",
]
ATTENTION_CANDIDATES = [
    "ik heb geen geld voor de boeken en mijn ouders ook niet",
    "ik kan de reiskosten naar mijn stage niet betalen",
    "mijn ouders willen per se dat ik dokter word maar ik wil kapper worden",
    "mijn vader vindt mijn opleiding niks en zegt dat ik iets anders moet doen",
    "op stage noemen ze me steeds een domme buitenlander",
    "ik denk erover om te stoppen met mijn opleiding",
    "ik kan toch niks, ik ben gewoon dom",
    "mijn stagebegeleider schreeuwt de hele dag tegen me",
    "ik heb nog steeds geen stageplek, niemand neemt me aan",
]


def _unsure_messages() -> list[str]:
    found = [t for t in UNSURE_CANDIDATES
             if [(s.category, s.unsure) for s in detect(t)] == [("crisis", True)]]
    assert len(found) >= 3, "the detector puts too few candidates in the unsure band"
    return found


def _attention_pair() -> tuple[tuple[str, str], tuple[str, str]]:
    single: dict[str, str] = {}
    for text in ATTENTION_CANDIDATES:
        signals = detect(text)
        found = intake.Intake([intake.Finding(s.category, s.severity, s.evidence)
                               for s in signals])
        if (len(signals) == 1 and signals[0].severity == "attention" and not signals[0].unsure
                and not intake.is_offer(SCRIPT, found, text)):  # announced ones
            single.setdefault(signals[0].category, text)
    assert len(single) >= 2, f"need two attention categories, got {single}"
    (c1, t1), (c2, t2) = list(single.items())[:2]
    return (c1, t1), (c2, t2)


def _flags(servers, sender: str) -> list[m.Flag]:
    engine = create_engine(servers.env["DATABASE_URL"])
    try:
        with DbSession(engine) as db:
            rows = db.execute(
                select(m.Flag).join(m.ChannelIdentity,
                                    m.ChannelIdentity.student_id == m.Flag.student_id)
                .where(m.ChannelIdentity.sender_id == sender).order_by(m.Flag.id)
            ).scalars().all()
            db.expunge_all()
            return rows
    finally:
        engine.dispose()


def _start(servers, sender: str) -> None:
    servers.say(sender, "hoi")
    servers.say(sender, "ja")
    servers.say(sender, "mbo")  # the level, asked since nobody set it
    servers.say(sender, "ik heb stage gelopen bij een supermarkt")


def test_unsure_then_nee_closes_the_check_and_keeps_an_attention_flag(servers) -> None:
    sender = f"twijfel-nee-{uuid.uuid4().hex[:8]}"
    _start(servers, sender)
    unsure = _unsure_messages()[0]
    assert servers.say(sender, unsure) == SCRIPT.signal_reply("crisis_check")
    closed = servers.say(sender, "nee hoor")
    assert closed[:3] == SCRIPT.signal_reply("crisis_check_nee")
    assert SCRIPT.signal_reply("crisis")[2] not in closed  # no help-number list
    flags = _flags(servers, sender)
    assert [(f.category, f.severity) for f in flags] == [("crisis", "attention")]
    assert flags[0].excerpt == unsure
    # The message the check was about answers the question that was open (here "rol"), and
    # the conversation goes on by itself with the next one.
    assert closed[-1] == SCRIPT.render(SCRIPT.question("verwachting").text, "mbo")[-1], closed
    assert (_answer_to(servers, sender, "rol") or "") == unsure
    assert servers.say(sender, "op tijd komen") == SCRIPT.render(
        SCRIPT.question("moment").text, "mbo")
    # The check comes once per conversation: a second message the detector is unsure about
    # is the answer to its question, and the mentor gets another attention flag.
    again = _unsure_messages()[2]
    replies = servers.say(sender, again)
    assert SCRIPT.signal_reply("crisis_check")[0] not in replies, replies
    assert (_answer_to(servers, sender, "moment") or "") == again
    assert [(f.category, f.severity) for f in _flags(servers, sender)] == [
        ("crisis", "attention"), ("crisis", "attention")]


def test_nee_to_a_check_before_the_first_question_shows_the_way_in(servers) -> None:
    """Set9: a long yes to "Zullen we beginnen?" got the check question, and after "nee" the
    coach said nothing more to go on with; now it says how to begin, and "start" begins."""
    sender = f"twijfel-begin-{uuid.uuid4().hex[:8]}"
    servers.say(sender, "hoi")
    assert servers.say(sender, _unsure_messages()[0]) == SCRIPT.signal_reply("crisis_check")
    closed = servers.say(sender, "nee")
    assert closed == SCRIPT.signal_reply("crisis_check_nee") + SCRIPT.text("start_hint")
    assert servers.say(sender, "start")[-1] == SCRIPT.render(
        SCRIPT.question("schoolsoort").text)[-1]


def _answer_to(servers, sender: str, key: str) -> str | None:
    engine = create_engine(servers.env["DATABASE_URL"])
    try:
        with DbSession(engine) as db:
            return db.execute(
                select(m.Answer.text).join(m.Conversation).join(
                    m.ChannelIdentity, m.ChannelIdentity.student_id == m.Conversation.student_id)
                .where(m.ChannelIdentity.sender_id == sender, m.Answer.question_key == key)
            ).scalars().first()
    finally:
        engine.dispose()


@pytest.mark.parametrize("answer", ["ja", "soms wel", "hmm"])
def test_unsure_then_yes_or_unclear_gets_the_crisis_reply(servers, mailbox, answer) -> None:
    sender = f"twijfel-ja-{uuid.uuid4().hex[:8]}"
    _start(servers, sender)
    assert servers.say(sender, _unsure_messages()[1]) == SCRIPT.signal_reply("crisis_check")
    assert servers.say(sender, answer) == SCRIPT.signal_reply("crisis")
    flags = _flags(servers, sender)
    assert [(f.category, f.severity) for f in flags] == [("crisis", "attention"),
                                                         ("crisis", "urgent")]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(answer in str(msg.get_payload()) or "crisis" in str(msg["Subject"]).lower()
               for msg in mailbox.to("zorg@school.test")):
            break
        time.sleep(0.5)
    assert mailbox.to("zorg@school.test")


def test_two_attention_categories_each_flagged_and_acknowledged_once(servers) -> None:
    sender = f"aandacht-{uuid.uuid4().hex[:8]}"
    (first_category, first), (second_category, second) = _attention_pair()
    _start(servers, sender)
    one = servers.say(sender, first)
    specific = SCRIPT.raw["signalen"]["aandacht_per_soort"]
    assert specific[first_category] in one
    assert SCRIPT.signal_reply("aandacht")[0] in one
    two = servers.say(sender, second)
    assert specific[second_category] in two
    assert SCRIPT.signal_reply("aandacht")[0] not in two  # not the whole explanation again
    assert SCRIPT.signal_reply("aandacht_opnieuw")[0] in two
    again = servers.say(sender, first)  # the same concern again: flagged, not re-acknowledged
    assert specific[first_category] not in again
    categories = [f.category for f in _flags(servers, sender)]
    assert categories.count(first_category) == 2 and categories.count(second_category) == 1
