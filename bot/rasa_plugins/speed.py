"""Rasa plug-in: Rasa's work per message without redoing what is fixed once it runs.

Found by profiling one student's conversation (py-spy, `docs/performance.md`); each
replacement computes the same result as Rasa's own code:
- `RemoteAction._validate_action_result` calls `jsonschema.validate` on every action server
  response, which checks the constant response schema against the JSON Schema meta-schema
  and builds a new validator every call: about half of Rasa's CPU time per message. Here the
  schema is checked and the validator built once; every response is still validated in
  full, and an invalid one fails as in Rasa (a `ValidationError` with Rasa's hint).
- `GraphSchema.minimal_graph_schema` walks the NLU graph's dependencies recursively,
  without memory, for every message; the graph does not change while the model is loaded,
  so the result is kept per graph and target list.
- One action call per student message inside the conversation: the form's validation
  action asks the next question itself (actions/steps.py) and says so
  (`bot.conversation.form_events.ASKED_SLOT`); the form then does not call `action_ask_antwoord` (a
  second
  HTTP call with the whole tracker). Without that mark, for instance when the form returns
  after a side track, the ask action runs as before.
- `Event.resolve_by_type` lists every subclass of `Event` (recursively, with an
  `inspect.isabstract` test each) for every event read from the tracker store; the classes
  are looked up by name in a table, rebuilt when a name is missing."""

from __future__ import annotations

from typing import Any

_installed = False


def response_validator() -> Any:
    """A validator for Rasa's action server response schema (schema checked once)."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def install() -> None:
    """Put the replacements listed above in place (idempotent)."""
    global _installed
    if _installed:
        return
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    validator = response_validator()

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
    _event_classes_by_name()
    _skip_asks_already_made()
    _installed = True


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
