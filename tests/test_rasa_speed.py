"""Rasa's hot path without repeated work (bot.rasa_plugins.speed, bot.rasa_plugins.stores): the same
results as Rasa's own code, computed once; and a tracker kept in memory only while the database
agrees with it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from bot.paths import ROOT
from bot.rasa_plugins import speed as rasa_speed
from bot.rasa_plugins.stores import EnvSQLTrackerStore
from tests.support.trackers import one_slot_domain

rasa_speed.install()


def _action() -> RemoteAction:
    return RemoteAction("action_x", None)


def test_a_valid_action_response_passes() -> None:
    response = {"events": [{"event": "slot", "name": "stap", "value": "terugkijken"}],
                "responses": [{"text": "Hoi"}]}
    assert _action()._validate_action_result(response) is True


@pytest.mark.parametrize("response", [
    {"events": "geen lijst"},
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"responses": ["geen object"]},
    [],
])
def test_an_invalid_action_response_fails_as_in_rasa(response: object) -> None:
    with pytest.raises(ValidationError) as failure:
        _action()._validate_action_result(response)  # type: ignore[arg-type]
    assert "Failed to validate Action server response" in failure.value.message


def test_the_schema_is_checked_once_not_per_response(monkeypatch: pytest.MonkeyPatch) -> None:
    from jsonschema.validators import validator_for

    cls = validator_for(RemoteAction.action_response_format_spec())
    calls: list[object] = []
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s: calls.append(s)))
    for _ in range(3):
        _action()._validate_action_result({"events": [], "responses": []})
    assert calls == []


RESPONSES = [
    {"events": [{"event": "slot", "name": "stap", "value": "terugkijken"},
                {"event": "action", "name": "action_listen", "policy": None},
                {"event": "active_loop", "name": None},
                {"event": "user", "text": "hoi", "parse_data": {"intent": {"name": "x"}}}],
     "responses": [{"text": "Hoi"}]},
    {"events": [{"event": "slot", "value": 1}]},  # no name
    {"events": [{"event": "slot", "name": 3, "value": 1}]},  # a name that is no string
    {"events": [{"event": "bestaat_niet"}]},
    {"events": [{"event": ["slot"], "name": "stap", "value": 1}]},
    {"events": [{"name": "stap", "value": 1}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "x"}]}}]},
    {"events": [{"event": "action", "hide_rule_turn": "ja"}]},
    {"events": [], "responses": "geen lijst"},
]


@pytest.mark.parametrize("response", RESPONSES)
def test_events_checked_per_kind_pass_and_fail_as_the_full_schema(response: dict) -> None:
    """The split check decides as the whole schema with its `oneOf` over every event kind, and
    an invalid response gets the whole schema's error."""
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    full = validator_for(schema)(schema)
    split = rasa_speed.ResponseValidator(schema)
    assert split.valid_fast(response) == full.is_valid(response)
    mine, rasas = best_match(split.iter_errors(response)), best_match(full.iter_errors(response))
    assert (mine and mine.message) == (rasas and rasas.message)


def test_applied_events_are_rasas_and_follow_every_new_event() -> None:
    from rasa.shared.core.events import (
        ActionReverted,
        ActiveLoop,
        Restarted,
        UserUtteranceReverted,
    )

    original = rasa_speed.rasa_applied_events
    tracker = DialogueStateTracker.from_events("s1", [], FORM_DOMAIN.slots)
    turns = [ActionExecuted("action_listen"), UserUttered("ja"),
             ActionExecuted("action_start_gesprek"), ActionExecuted("gesprek_form"),
             ActiveLoop("gesprek_form"), ActionExecuted("action_listen")]
    for _ in range(3):
        turns += [UserUttered("een antwoord"), ActionExecuted("gesprek_form"),
                  SlotSet("vraag", "x"), ActionExecuted("action_listen")]
    turns += [UserUttered("nee"), UserUtteranceReverted(), ActionExecuted("gesprek_form"),
              ActionReverted(), ActionExecuted("ander_form"), ActiveLoop("ander_form"),
              ActionExecuted("ander_form"), ActionExecuted("gesprek_form"), ActiveLoop(None),
              Restarted(), ActionExecuted("gesprek_form"), SessionStarted(),
              ActionExecuted("action_listen")]
    for event in turns:
        tracker.update(event)
        first = tracker.applied_events()
        assert first == original(tracker)
        first.append("niet bewaard")  # a caller changing its list changes no other's
        assert tracker.applied_events() == original(tracker)
    tracker.events = type(tracker.events)(list(tracker.events)[:3])  # a list put in place
    assert tracker.applied_events() == original(tracker)


def test_every_event_name_resolves_to_rasas_class() -> None:
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) > 20
    for name in names:
        first = next(cls for cls in all_subclasses(Event) if cls.type_name == name)
        assert Event.resolve_by_type(name) is first
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("bestaat_niet", default=SlotSet) is SlotSet
    with pytest.raises(ValueError):
        Event.resolve_by_type("bestaat_niet")


def test_the_minimal_graph_is_the_same_and_computed_once() -> None:
    from rasa.engine.graph import GraphSchema, SchemaNode

    def node(needs: dict[str, str]) -> SchemaNode:
        return SchemaNode(needs=needs, uses=object, constructor_name="create", fn="run",
                          config={})

    schema = GraphSchema({"a": node({}), "b": node({"x": "a"}), "c": node({"x": "b"}),
                          "d": node({})})
    first = schema.minimal_graph_schema(["c"])
    assert sorted(first.nodes) == ["a", "b", "c"]
    assert schema.minimal_graph_schema(["c"]) is first
    assert sorted(schema.minimal_graph_schema(["d"]).nodes) == ["d"]


# --- warm trackers ---------------------------------------------------------------------------

DOMAIN = one_slot_domain()
# The real domain, with the slots of the conversation's form (bot.conversation.form_events).
FORM_DOMAIN = Domain.from_path(str(ROOT / "domain.yml"))


def _store(url: str, monkeypatch: pytest.MonkeyPatch,
           domain: Domain = DOMAIN) -> EnvSQLTrackerStore:
    monkeypatch.setenv("TRACKER_STORE_URL", url)
    return EnvSQLTrackerStore(domain=domain)


def _started(sender: str) -> DialogueStateTracker:
    """A tracker as Rasa reads it from the database: from its SessionStarted on."""
    return DialogueStateTracker.from_events(sender, [
        SessionStarted(), ActionExecuted("action_listen"), UserUttered("hoi")], DOMAIN.slots)


def _run(coro):  # noqa: ANN001, ANN202
    return asyncio.run(coro)


def test_a_saved_tracker_comes_back_from_memory_and_its_turn_is_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(f"sqlite:///{tmp_path / 'tracker.db'}", monkeypatch)
    tracker = _started("s1")
    _run(store.save(tracker))
    again = _run(store.retrieve("s1"))
    assert again is tracker
    again.update(SlotSet("stap", "reflecteren"))
    # The warm tracker knows what is stored: no count of the stored events before the save.
    with monkeypatch.context() as patched:
        patched.setattr(store, "_event_query", lambda *a, **k: pytest.fail("counted"))
        _run(store.save(again))
    # What is in memory is what is stored: a store without memory reads the same.
    fresh = _store(f"sqlite:///{tmp_path / 'tracker.db'}", monkeypatch)
    read = _run(fresh.retrieve("s1"))
    assert read is not tracker
    assert read.get_slot("stap") == "reflecteren"
    assert len(read.events) == len(again.events)


def test_an_event_written_by_another_process_is_read_from_the_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    one, other = _store(url, monkeypatch), _store(url, monkeypatch)
    _run(one.save(_started("s1")))
    theirs = _run(other.retrieve("s1"))
    theirs.update(SlotSet("stap", "activeren"))
    _run(other.save(theirs))
    mine = _run(one.retrieve("s1"))
    assert mine.get_slot("stap") == "activeren"


def test_a_deleted_conversation_is_not_handed_out_from_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    store = _store(url, monkeypatch)
    _run(store.save(_started("s1")))
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE sender_id = 's1'"))
    assert _run(store.retrieve("s1")) is None


def test_a_turn_that_fails_before_its_save_leaves_nothing_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(f"sqlite:///{tmp_path / 'tracker.db'}", monkeypatch)
    _run(store.save(_started("s1")))
    half_done = _run(store.retrieve("s1"))
    half_done.update(SlotSet("stap", "half"))  # the turn fails here: no save
    read = _run(store.retrieve("s1"))
    assert read is not half_done
    assert read.get_slot("stap") is None


def test_a_tracker_that_started_a_new_session_is_read_again_without_doubled_events(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    store = _store(url, monkeypatch)
    tracker = _started("s1")
    _run(store.save(tracker))
    tracker = _run(store.retrieve("s1"))
    for event in (ActionExecuted("action_session_start"), SessionStarted(),
                  ActionExecuted("action_listen"), UserUttered("weer hoi")):
        tracker.update(event)
    _run(store.save(tracker))
    read = _run(store.retrieve("s1"))
    assert read is not tracker
    assert [type(e).__name__ for e in read.events][:1] == ["SessionStarted"]
    read.update(SlotSet("stap", "terugkijken"))
    _run(store.save(read))
    with sa.create_engine(url).connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT count(*) FROM events WHERE sender_id = 's1'")).scalar()
    assert stored == 3 + 4 + 1  # every event once


def test_a_conversation_stored_with_the_old_step_forms_resumes_with_its_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the conversation was one form, each step was a form and each question a slot:
    such a tracker comes back with its form closed and its answers in `antwoorden`."""
    from rasa.shared.core.events import ActiveLoop

    from bot.conversation.form_events import ANSWERS_SLOT
    from bot.rasa_plugins.stores import _upgraded

    tracker = DialogueStateTracker.from_events("old", [
        SessionStarted(), ActionExecuted("action_listen"), UserUttered("ja"),
        ActionExecuted("action_start_gesprek"), ActionExecuted("terugkijken_form"),
        ActiveLoop("terugkijken_form"), SlotSet("ervaring", "stage bij de bakker"),
        SlotSet("rol", "ik bakte brood"), SlotSet("moment", None), SlotSet("stap", "terugkijken"),
    ], FORM_DOMAIN.slots)
    assert tracker.active_loop_name == "terugkijken_form"
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    _run(_store(url, monkeypatch, FORM_DOMAIN).save(tracker))  # as the old version stored it
    upgraded = _run(_store(url, monkeypatch, FORM_DOMAIN).retrieve("old"))
    assert upgraded.active_loop_name is None
    assert upgraded.get_slot(ANSWERS_SLOT) == {"ervaring": "stage bij de bakker",
                                               "rol": "ik bakte brood"}
    assert upgraded.get_slot("stap") == "terugkijken"  # the offer to go on follows
    assert _upgraded(upgraded) is upgraded  # nothing left to upgrade


def test_only_a_turn_that_carried_out_a_deletion_wakes_the_deletion_loop(monkeypatch) -> None:
    """Rasa looks for pending tracker deletions after a turn only when the turn ran the
    deletion action; every other turn costs no query (the poll still finds the rest)."""
    from rasa.shared.core.events import BotUttered

    from actions.conversation import ActionGegevensVerwijderen
    from bot.rasa_plugins import deletions

    assert ActionGegevensVerwijderen().name() == deletions.DELETION_ACTION
    assert deletions.DELETION_ACTION in Domain.load(ROOT / "domain.yml").action_names_or_texts
    woken: list[bool] = []
    monkeypatch.setattr(deletions, "wake", lambda: woken.append(True))
    asked = [UserUttered("verwijder mijn gegevens"), ActionExecuted("action_verwijderen_vragen"),
             BotUttered("Weet je het zeker?"), ActionExecuted("action_listen")]
    carried_out = [UserUttered("ja"), ActionExecuted(deletions.DELETION_ACTION),
                   BotUttered("Gewist."), ActionExecuted("action_listen")]
    deletions.wake_if_asked(asked)
    assert woken == []
    deletions.wake_if_asked(asked + carried_out)
    assert woken == [True]
    deletions.wake_if_asked(asked + carried_out + [UserUttered("hoi"),
                                                   ActionExecuted("action_listen")])
    assert woken == [True]


@pytest.mark.rasa
def test_the_graphs_run_in_order_give_what_dask_gives(monkeypatch) -> None:
    """The trained model's NLU graph and its action prediction, run node after node
    (bot.rasa_plugins.speed), give exactly what Rasa's dask runner gives."""
    from rasa.core.agent import load_agent
    from rasa.engine.runner.dask import DaskGraphRunner

    agent = asyncio.run(load_agent(model_path=str(ROOT / "models" / "loopbaancoach.tar.gz")))
    texts = ["hoi", "ik heb stage gelopen bij een bakker en ik vond het leuk",
             "ik wil niet meer leven", "verwijder mijn gegevens", "morgen", ""]

    def hold() -> list[Any]:
        parses = [asyncio.run(agent.parse_message(text)) for text in texts]
        tracker = DialogueStateTracker.from_events("graph", [
            ActionExecuted("action_listen"), UserUttered("hoi", parses[0]["intent"],
                                                         parse_data=parses[0])],
            agent.domain.slots)
        prediction = agent.processor._predict_next_with_tracker(tracker)
        return [parses, prediction.max_confidence_index, prediction.probabilities,
                prediction.policy_name,
                [{k: v for k, v in e.as_dict().items() if k != "timestamp"}
                 for e in prediction.events]]

    ours = hold()
    monkeypatch.setattr(DaskGraphRunner, "run", rasa_speed.rasa_graph_run)
    assert hold() == ours


def test_action_calls_keep_one_connection_open_and_survive_a_restart() -> None:
    """EndpointConfig.request (speed: one session per endpoint and loop) sends Rasa's headers,
    reuses its connection, and opens a new one when the action server was restarted."""
    import socket

    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    seen: list[tuple[Any, str | None]] = []

    async def webhook(request: web.Request) -> web.Response:
        seen.append((request.transport.get_extra_info("peername"),
                     request.headers.get("Authorization")))
        return web.json_response({"events": [], "n": (await request.json())["n"]})

    async def serve(port: int) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook",
                                  headers={"Authorization": "Bearer geheim"})
        runner = await serve(port)
        try:
            assert (await endpoint.request(json={"n": 1}))["n"] == 1
            assert (await endpoint.request(json={"n": 2}))["n"] == 2
            assert seen[0] == seen[1]  # the same connection, with Rasa's header
            assert seen[0][1] == "Bearer geheim"
            await runner.cleanup()  # the action server restarts: its connections close
            runner = await serve(port)
            assert (await endpoint.request(json={"n": 3}))["n"] == 3
            assert seen[2][0] != seen[0][0]
        finally:
            await runner.cleanup()
            for session in endpoint.__dict__["_sessions"].values():
                await session.close()

    asyncio.run(main())
