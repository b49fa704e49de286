"""Rasa plug-in: Rasa's work per message without redoing what is fixed once it runs.

Found by profiling one student's conversation (py-spy, `docs/performance.md`); each
replacement computes the same result as Rasa's own code:
- `RemoteAction._validate_action_result` calls `jsonschema.validate` on every action server
  response, which checks the constant response schema against the JSON Schema meta-schema
  and builds a new validator every call: about half of Rasa's CPU time per message. Here the
  schema is checked and the validators built once. Each event is checked against the one
  alternative of the schema's `oneOf` whose `event` constant it names, instead of against
  all 23 (the others fail on that constant, so `oneOf` passes exactly when that one does);
  anything else, or any error, goes through the full schema, so an invalid response fails
  as in Rasa (the same `ValidationError`, with Rasa's hint).
- `GraphSchema.minimal_graph_schema` walks the NLU graph's dependencies recursively,
  without memory, for every message; the graph does not change while the model is loaded,
  so the result is kept per graph and target list.
- One action call per student message inside the conversation: the form's validation
  action asks the next question itself (actions/steps.py) and says so
  (`bot.conversation.form_events.ASKED_SLOT`); the form then does not call `action_ask_antwoord` (a
  second
  HTTP call with the whole tracker). Without that mark, for instance when the form returns
  after a side track, the ask action runs as before.
- `DialogueStateTracker.applied_events` replays the whole conversation, undoing every
  earlier run of the form (one per answer, so quadratic in the conversation's length), and
  Rasa asks for it several times per message (session expiry, the rule policy's states,
  the last user message): the result is kept per tracker, and new events continue it (the
  same loop over only the new events) unless one names a loop not seen before.
- Python's cyclic garbage collector walks every live object at each full collection: with
  TensorFlow, spaCy and the models loaded that is 0.4-2 million objects (a quarter of a
  second in the action server), again and again under load. The objects alive once a
  process has started (models, modules, the script) stay for its lifetime, so they are
  moved out of the collector's reach once (`freeze_startup_objects`); objects created later
  are collected as before.
- `DaskGraphRunner.run` hands the graph of every NLU parse and every action prediction to
  dask's scheduler (a dict of tasks, a dependency analysis and a thread-safe queue each
  time) for a chain of a dozen nodes that run one after the other anyway: the nodes run in
  one dependency order, kept per graph and target list, with the same inputs, outputs and
  errors as under dask.
- `EndpointConfig.request` opens a new aiohttp session, and with it a new TCP connection, for
  every call to the action server (about 0.5 ms of the two processes per call): one session
  per endpoint and event loop, whose connections stay open for KEEP_ALIVE_SECONDS, less than
  the action server's own keep-alive (Sanic: 5 s), so the server never closes a connection
  that is about to be reused. Same headers, authentication and time-out as Rasa's.
- `Event.resolve_by_type` lists every subclass of `Event` (recursively, with an
  `inspect.isabstract` test each) for every event read from the tracker store; the classes
  are looked up by name in a table, rebuilt when a name is missing."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
_installed = False
rasa_applied_events: Any = None  # Rasa's own, kept for the tests
rasa_graph_run: Any = None  # Rasa's own (dask), kept for the tests


class ResponseValidator:
    """Rasa's action server response schema, checked per event against the alternative its
    `event` names (see the module's docstring); `iter_errors` is the full schema's."""

    def __init__(self, schema: dict[str, Any]) -> None:
        import copy

        from jsonschema.validators import validator_for

        cls = validator_for(schema)
        cls.check_schema(schema)
        self.full = cls(schema)
        items = schema["properties"]["events"]["items"]
        alternatives = items["oneOf"]
        consts = [alt.get("properties", {}).get("event", {}).get("const")
                  for alt in alternatives]
        # Only a schema whose alternatives each name their own constant can be split.
        self.by_event = ({const: cls(alt) for const, alt in zip(consts, alternatives, strict=True)}
                         if None not in consts and len(set(consts)) == len(consts) else {})
        outer = copy.deepcopy(schema)
        del outer["properties"]["events"]["items"]["oneOf"]
        self.outer = cls(outer)

    def valid_fast(self, result: Any) -> bool:
        if not self.by_event or not self.outer.is_valid(result):
            return False
        for event in result.get("events") or ():
            name = event.get("event")
            alternative = self.by_event.get(name) if isinstance(name, str) else None
            if alternative is None or not alternative.is_valid(event):
                return False
        return True

    def iter_errors(self, result: Any) -> Any:
        if self.valid_fast(result):
            return iter(())
        return self.full.iter_errors(result)


def install() -> None:
    """Put the replacements listed above in place (idempotent)."""
    global _installed
    if _installed:
        return
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    validator = ResponseValidator(RemoteAction.action_response_format_spec())

    def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (
                ". Failed to validate Action server response from API, make sure your "
                "response from the Action endpoint is valid. For more information about "
                f"the format visit {DOCS_BASE_URL}/custom-actions")
            raise error
        return True

    RemoteAction._validate_action_result = validate_action_result
    _remember_minimal_graphs()
    _applied_events_once()
    _event_classes_by_name()
    _skip_asks_already_made()
    _graphs_in_order()
    _spacy_without_unread_tags()
    _endpoint_sessions_kept()
    _installed = True


def freeze_startup_objects() -> None:
    """Collect once, then exclude every surviving object from later collections (gc.freeze):
    called when a server has loaded its models, before the first student."""
    import gc

    gc.collect()
    gc.freeze()
    log.info("gc.frozen", extra={"objects": gc.get_freeze_count()})


def asked_in_this_turn(events: Any) -> str | None:
    """The slot the validation action asked for in the form's current run: the mark among
    the events after the last action or user message (the form's own events so far)."""
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered

    from bot.conversation.form_events import ASKED_SLOT

    for event in reversed(events):
        if isinstance(event, (ActionExecuted, UserUttered)):
            return None
        if isinstance(event, SlotSet) and event.key == ASKED_SLOT:
            return event.value
    return None


def _skip_asks_already_made() -> None:
    from rasa.core.actions.forms import FormAction
    from rasa.shared.core.events import SlotSet

    from bot.conversation.form_events import ASKED_SLOT

    original = FormAction._ask_for_slot

    async def ask_for_slot(self: Any, domain: Any, nlg: Any, output_channel: Any,
                           slot_name: str, tracker: Any) -> list[Any]:
        if asked_in_this_turn(tracker.events) == slot_name:
            return [SlotSet(ASKED_SLOT, None)]
        return await original(self, domain, nlg, output_channel, slot_name, tracker)

    FormAction._ask_for_slot = ask_for_slot


def _remember_minimal_graphs() -> None:
    from rasa.engine.graph import GraphSchema

    original = GraphSchema.minimal_graph_schema

    def minimal_graph_schema(self: Any, targets: list[str] | None = None) -> Any:
        memory = self.__dict__.setdefault("_minimal_schemas", {})
        key = tuple(targets) if targets else None
        if key not in memory:
            memory[key] = original(self, targets)
        return memory[key]

    GraphSchema.minimal_graph_schema = minimal_graph_schema


def _applied_events_once() -> None:
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        ActiveLoop,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
        UserUttered,
    )
    from rasa.shared.core.trackers import DialogueStateTracker

    global rasa_applied_events
    original = rasa_applied_events = DialogueStateTracker.applied_events

    def step(tracker: Any, event: Any, loop_names: frozenset[str], applied: list[Any]) -> list:
        """One event of Rasa 3.6's `applied_events` loop (kept word for word)."""
        if isinstance(event, (Restarted, SessionStarted)):
            return []
        if isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (isinstance(event, ActionExecuted) and event.action_name in loop_names
              and not tracker._first_loop_execution_or_unhappy_path(event.action_name,
                                                                     applied)):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)
        return applied

    def names(events: Any) -> frozenset[str]:
        return frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)

    def applied_events(self: Any) -> list[Any]:
        events = self.events
        count = len(events)
        memo = self.__dict__.get("_applied_events")
        # The memo holds the events list and its last event seen (compared by identity, so
        # an id cannot be reused); Rasa only appends to a tracker's events or replaces them.
        if (memo is not None and memo[0] is events and memo[1] <= count
                and (memo[1] == 0 or events[memo[1] - 1] is memo[2])):
            _, seen, _, loop_names, applied = memo
            if seen == count:
                return list(applied)
            new = [events[i] for i in range(seen, count)]
            # An earlier event's fate depends on every loop name of the conversation: a new
            # one means replaying from the start, as Rasa does.
            if names(new) <= loop_names:
                applied = list(applied)
                for event in new:
                    applied = step(self, event, loop_names, applied)
                self.__dict__["_applied_events"] = (events, count, events[-1], loop_names,
                                                    applied)
                return list(applied)
        applied = original(self)
        self.__dict__["_applied_events"] = (events, count, events[-1] if count else None,
                                            names(events), applied)
        return list(applied)

    DialogueStateTracker.applied_events = applied_events


def _event_classes_by_name() -> None:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    original = Event.resolve_by_type
    table: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = table.get(type_name)
        if cls is None:
            # A name not seen yet, or an Event subclass imported since: list them again,
            # first match wins as in Rasa.
            for candidate in reversed(all_subclasses(Event)):
                table[candidate.type_name] = candidate
            cls = table.get(type_name)
        if cls is not None:
            return cls
        return original(type_name, default)  # Rasa's answer for "topic" and unknown names

    Event.resolve_by_type = staticmethod(resolve_by_type)


# Pipes of the project's spaCy pipeline whose output nothing in Rasa reads when Rasa hands it
# lowercased text (case_sensitive: false): the featurizers read the tok2vec tensor and the
# lemmas, which the tagger does not feed, and the lemma casing (nlp/lemma_case.py) reads the
# tag only for a capitalised word.
UNREAD_WITH_LOWERCASE = ("morphologizer",)


def _spacy_without_unread_tags() -> None:
    """Rasa's SpacyNLP runs every pipe but the parser; with lowercased input the
    morphologizer's tags are then read by nothing (~0.8 ms of a parse). Left out, the
    features are the same (tests/test_rasa_components.py compares tensors and lemmas)."""
    from rasa.nlu.utils.spacy_utils import SpacyNLP

    create = SpacyNLP.create.__func__  # type: ignore[attr-defined]

    def create_without_unread(cls: Any, config: dict[str, Any], *args: Any) -> Any:
        component = create(cls, config, *args)
        if not component._config.get("case_sensitive"):
            language = component._model.model
            for name in UNREAD_WITH_LOWERCASE:
                if name in language.pipe_names:
                    language.disable_pipe(name)
        return component

    SpacyNLP.create = classmethod(create_without_unread)


KEEP_ALIVE_SECONDS = 2.0


class _Borrowed:
    """`async with` a shared session without closing it at the end."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        return None


def _endpoint_sessions_kept() -> None:
    import asyncio
    import weakref

    import aiohttp
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
    from rasa.utils.endpoints import EndpointConfig

    def session(self: Any) -> Any:
        loop = asyncio.get_running_loop()
        kept = self.__dict__.setdefault("_sessions", weakref.WeakKeyDictionary())
        shared = kept.get(loop)
        if shared is None or shared.closed:
            auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                    if self.basic_auth else None)
            shared = aiohttp.ClientSession(  # as Rasa's EndpointConfig.session, plus keep-alive
                headers=self.headers, auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_SECONDS))
            kept[loop] = shared
        return _Borrowed(shared)

    EndpointConfig.session = session


def _graphs_in_order() -> None:
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    global rasa_graph_run
    rasa_graph_run = DaskGraphRunner.run

    def order(schema: Any) -> list[tuple[str, tuple[str, ...]]]:
        """The nodes of `schema` with the names they need, each after what it needs (a
        depth-first walk in the schema's order: deterministic)."""
        memo = schema.__dict__.get("_run_order")
        if memo is None:
            memo, done = [], set()

            def visit(name: str) -> None:
                if name in done or name not in schema.nodes:
                    return
                done.add(name)
                needs = tuple(schema.nodes[name].needs.values())
                for need in needs:
                    visit(need)
                memo.append((name, needs))

            for name in schema.nodes:
                visit(name)
            schema.__dict__["_run_order"] = memo
        return memo

    def run(self: Any, inputs: dict[str, Any] | None = None,
            targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        schema = self._graph_schema.minimal_graph_schema(run_targets)
        results: dict[str, Any] = {}
        for input_name, input_value in (inputs or {}).items():
            if isinstance(input_value, str) and input_value in schema.nodes:
                raise GraphRunError(
                    f"Input value '{input_value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema.")
            results[input_name] = (input_name, input_value)
        try:
            for name, needs in order(schema):
                if name in results:  # given as an input: it replaces the node, as under dask
                    continue
                # A name nothing provides is passed as the name itself, as dask does
                # (GraphNode reports it as unresolved).
                results[name] = self._instantiated_nodes[name](
                    *(results.get(need, need) for need in needs))
        except RuntimeError as exc:
            raise GraphRunError("Error running runner.") from exc
        return dict(results[target] for target in run_targets)

    DaskGraphRunner.run = run
