"""The Rasa SDK actions, called directly (no Rasa server) against a real database on SQLite
and PostgreSQL: what they say, which slots they set and what they store."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.conversation import ActionAanbod, ActionAfronden, ActionStartGesprek
from actions.steps import ValidateGesprek
from bot.conversation import echo
from bot.conversation.closing import closing_lines
from bot.conversation.coaching import SKIPPED
from bot.conversation.form_events import ANSWER_SLOT, ANSWERS_SLOT, FORM, QUESTION_SLOT
from bot.conversation.script import get_script
from bot.storage import db as dbmod
from bot.storage.models import ActionPlan, Answer, Conversation, Flag, Insight


def tracker(sender: str, text: str, intent: str = "vertellen", slots: dict | None = None,
            requested: str | None = None) -> Tracker:
    """The tracker as Rasa sends it; `requested`: the question the student answers (the
    conversation's form is active and its slot holds the message)."""
    all_slots: dict[str, Any] = {"doorvraag_teller": 0.0, "weet_niet_teller": 0.0,
                                 **(slots or {})}
    events = []
    if requested:
        all_slots.update({"requested_slot": ANSWER_SLOT, QUESTION_SLOT: requested,
                          ANSWER_SLOT: text})  # what Rasa's from_text mapping extracted
        all_slots.setdefault("stap", get_script().step_of_slot(requested).key)
        events = [{"event": "slot", "name": ANSWER_SLOT, "value": text}]
    message = {"text": text, "intent": {"name": intent, "confidence": 0.97},
               "message_id": uuid.uuid4().hex}
    return Tracker(sender, all_slots, message, [{"event": "user", "text": text,
                                                 "parse_data": message,
                                                 "input_channel": "rest"}] + events,
                   False, None, {"name": FORM} if requested else {}, "action_listen")


def run(action, t: Tracker) -> tuple[list[str], dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {"forms": {}}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m.get("text") for m in dispatcher.messages], slots


def answer_in(slots: dict[str, Any], key: str) -> Any:
    """The answer to `key` after the action (None: not answered)."""
    return (slots.get(ANSWERS_SLOT) or {}).get(key)


def rows(model, **where):
    with dbmod.session_scope() as s:
        query = select(model).filter_by(**where).order_by(model.id)
        result = s.execute(query).scalars().all()
        s.expunge_all()
        return result


def start(storage: str, sender: str) -> str:
    texts, slots = run(ActionStartGesprek(), tracker(sender, "ja", "bevestigen"))
    assert get_script().text("privacy_eerste_keer")[0] in texts  # first time: privacy note
    assert slots["stap"] is None and slots["vorig_plan"] is None
    return slots["sessie_id"]


def test_offer_for_a_new_student(storage) -> None:
    texts, _ = run(ActionAanbod(), tracker("nieuw", "hoi", "begroeten"))
    assert texts[0].startswith("Hoi! 👋 Ik ben Loopbaancoach")
    assert texts[-1] == "Zullen we beginnen?"


def test_vague_answer_is_probed_and_kept_as_probe(storage) -> None:
    session_id = start(storage, "s1")
    slots_in = {"sessie_id": session_id}
    _, slots = run(ValidateGesprek(), tracker("s1", "gewoon", slots=slots_in,
                                                  requested="ervaring"))
    assert answer_in(slots, "ervaring") is None and slots["vraag_modus"] == "doorvragen"
    assert slots["doorvraag_teller"] == 1.0
    (answer,) = rows(Answer)
    assert (answer.question_key, answer.kind, answer.text) == ("ervaring", "probe", "gewoon")


def test_answer_stored_with_experience(storage) -> None:
    session_id = start(storage, "s2")
    text = "ik heb stage gelopen bij een kapper"
    _, slots = run(ValidateGesprek(), tracker("s2", text, slots={"sessie_id": session_id},
                                                  requested="ervaring"))
    assert answer_in(slots, "ervaring") == text
    (session,) = rows(Conversation, id=int(session_id))
    assert session.experience == text and session.status == "active"


def test_reflection_answer_becomes_an_insight_with_competency(storage) -> None:
    session_id = start(storage, "s3")
    texts, slots = run(ValidateGesprek(), tracker(
        "s3", "ik bleef rustig toen het druk was", slots={"sessie_id": session_id},
        requested="goed_gedaan"))
    # Specific praise: the student's own words, turned to the second person (bot.conversation.echo).
    assert any(echo.kern("ik bleef rustig toen het druk was") in t for t in texts)
    insights = rows(Insight)
    assert insights and insights[0].competency == "kwaliteiten" and insights[0].method
    _, slots = run(ValidateGesprek(), tracker(
        "s3", "ik ben een doorzetter", slots={"sessie_id": session_id},
        requested="inzicht_naam"))
    assert [i.headline for i in rows(Insight) if i.headline] == ["ik ben een doorzetter"]


def test_dont_know_twice_skips(storage) -> None:
    session_id = start(storage, "s4")
    first = tracker("s4", "weet ik niet", "weet_niet", slots={"sessie_id": session_id},
                    requested="rol")
    _, slots = run(ValidateGesprek(), first)
    assert answer_in(slots, "rol") is None and slots["weet_niet_teller"] == 1.0
    second = tracker("s4", "geen idee", "weet_niet",
                     slots={"sessie_id": session_id, "weet_niet_teller": 1.0},
                     requested="rol")
    texts, slots = run(ValidateGesprek(), second)
    assert answer_in(slots, "rol") == SKIPPED and "slaan we over" in texts[0]


def test_crisis_inside_a_step_is_flagged_and_answered(storage) -> None:
    session_id = start(storage, "s5")
    texts, slots = run(ValidateGesprek(), tracker(
        "s5", "ik wil dood, ik snij mezelf", slots={"sessie_id": session_id},
        requested="ervaring"))
    assert any("0800-0113" in t for t in texts)
    flags = rows(Flag)
    assert [(f.category, f.severity) for f in flags] == [("crisis", "urgent")]


def test_closing_stores_the_plan_and_completes(storage) -> None:
    session_id = start(storage, "s6")
    slots = {"sessie_id": session_id, ANSWERS_SLOT: {
        "ervaring": "stage bij de kapper", "uitproberen": "in de zorg werken",
        "eerste_stap": "meelopen in een ziekenhuis",
        "hulp_contact": "mijn tante appen", "obstakel": "spannend",
        "oplossing": "eerst opschrijven", "wanneer": "morgen"}}
    texts, new_slots = run(ActionAfronden(), tracker("s6", "ja", "bevestigen", slots=slots))
    # The plan's own summary ("Klopt dat?") just showed its list: the closing is one sentence
    # with the first step and its day.
    assert texts == closing_lines(get_script(), None, 0, what="meelopen in een ziekenhuis",
                                  when_text="morgen", today=date.today())
    assert len(texts) == 1 and "morgen" in texts[0]
    (plan,) = rows(ActionPlan)
    assert plan.what == "meelopen in een ziekenhuis" and plan.when_date is not None
    assert rows(Conversation, id=int(session_id))[0].status == "completed"
    assert new_slots["vorige_ervaring"] == "stage bij de kapper"
    assert new_slots[ANSWERS_SLOT] is None and new_slots[QUESTION_SLOT] is None


def test_date_question_inside_activeren(storage) -> None:
    session_id = start(storage, "s7")
    _, slots = run(ValidateGesprek(), tracker("s7", "ooit", slots={"sessie_id": session_id},
                                                requested="wanneer"))
    assert answer_in(slots, "wanneer") is None and slots["vraag_modus"] == "doorvragen"


def test_a_turn_sets_only_the_slots_it_changes_and_always_the_forms_marks() -> None:
    """actions.common.slot_events with the tracker: a slot set to the value it has is left
    out (every event travels with the tracker and is stored as a row); the form's marks are
    always set, since Rasa reads them from this turn's events."""
    from actions.common import slot_events
    from bot.conversation import form_events
    from bot.conversation.turn import MODE_SLOT, PROBES_SLOT

    slots = {MODE_SLOT: "open", PROBES_SLOT: 0.0, "vraag": "taak",
             form_events.ASKED_SLOT: "taak", form_events.REQUESTED_SLOT: "antwoord",
             form_events.ANSWER_SLOT: None}
    tracker = Tracker("s1", dict(slots, vraag="ervaring"), {}, [], False, None, {}, "")
    got = [(e["name"], e["value"]) for e in slot_events(slots, tracker)]
    assert got == [("vraag", "taak"), (form_events.ASKED_SLOT, "taak"),
                   (form_events.REQUESTED_SLOT, "antwoord"), (form_events.ANSWER_SLOT, None)]
    assert len(slot_events(slots)) == len(slots)  # without a tracker: every slot
