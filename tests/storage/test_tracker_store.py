"""The tracker store's save (bot.rasa_plugins.stores.EnvSQLTrackerStore) writes the rows that
Rasa's own SQLTrackerStore writes, on SQLite and PostgreSQL, and knows the newest row's id."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.rasa_plugins.stores import _STORED_EVENTS, EnvSQLTrackerStore
from tests.support.trackers import one_slot_domain

DOMAIN = one_slot_domain()


def _tracker(sender: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, [
        SessionStarted(timestamp=1.0), ActionExecuted("action_listen", timestamp=2.0),
        UserUttered("hoi", {"name": "begroeten", "confidence": 0.9}, timestamp=3.0),
        SlotSet("stap", "terugkijken", timestamp=4.0),
        ActionExecuted("utter_hallo", timestamp=5.0)], DOMAIN.slots)


def _rasas(url: str) -> SQLTrackerStore:
    parts = make_url(url)
    return SQLTrackerStore(domain=DOMAIN, dialect=parts.drivername, host=parts.host,
                           port=parts.port, db=parts.database, username=parts.username,
                           password=parts.password)


def _rows(url: str, sender: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(
                "SELECT type_name, timestamp, intent_name, action_name, data FROM events "
                "WHERE sender_id = :s ORDER BY id"), {"s": sender})]
    finally:
        engine.dispose()


def test_a_save_writes_rasas_rows_and_knows_the_newest_id(
        empty_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_STORE_URL", empty_url)
    ours, rasa = EnvSQLTrackerStore(domain=DOMAIN), _rasas(empty_url)
    tracker = _tracker("ours")
    asyncio.run(ours.save(tracker))
    asyncio.run(rasa.save(_tracker("rasa")))
    assert len(_rows(empty_url, "ours")) == 5
    assert _rows(empty_url, "ours") == _rows(empty_url, "rasa")
    # One more event: only it is added, and the warm tracker carries the newest id.
    tracker = asyncio.run(ours.retrieve("ours"))
    tracker.update(ActionExecuted("action_listen", timestamp=6.0))
    asyncio.run(ours.save(tracker))
    assert [r[3] for r in _rows(empty_url, "ours")][-2:] == ["utter_hallo", "action_listen"]
    assert ours._warm["ours"][0] == ours._newest_id("ours")
    assert tracker.__dict__[_STORED_EVENTS] == len(tracker.events)
    # A save with nothing new writes nothing and still hands the tracker out again.
    assert asyncio.run(ours.retrieve("ours")) is tracker
    asyncio.run(ours.save(tracker))
    assert len(_rows(empty_url, "ours")) == 6
    assert asyncio.run(ours.retrieve("ours")) is tracker
