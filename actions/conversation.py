"""Actions outside the four steps: offering, starting, resuming, pausing, side tracks,
closing, deleting data and not understanding."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    answers_of,
    level_of,
    reset_conversation,
    said_in_conversation,
    say,
    session_id_of,
    take_in,
    turn_of,
)
from bot import service
from bot.conversation import form_events
from bot.conversation.closing import closing_lines
from bot.conversation.coaching import (
    EARLIER_SLOT,
    SKIPPED,
    experience_in_opening,
    overview_messages,
)
from bot.conversation.dates import parse_when
from bot.conversation.script import Role, Script, get_script
from bot.scheduled import checkins
from bot.storage.repository import StorageUnavailable

DomainDict = dict[str, Any]


class CoachAction(Action, ABC):
    """Base: every message first goes through the intake of signals."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        script = get_script()
        taken = take_in(tracker, dispatcher, script)
        if taken.declined or taken.consumed and not taken.urgent:
            return taken.events
        # An unsure crisis is handled like an urgent one here: the check question was the
        # whole reply, and the reflection script stops.
        return taken.events + self.act(dispatcher, tracker, script,
                                       taken.urgent or taken.check_asked)

    @abstractmethod
    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, script: Script,
            urgent: bool) -> list[EventType]:
        """What the action does after the intake; `urgent`: a crisis was just answered."""


def _student_slots(tracker: Tracker) -> tuple[service.StudentView | None, list[EventType]]:
    turn = turn_of(tracker)
    try:
        view = service.student_view(turn.channel, turn.sender_id)
    except StorageUnavailable:
        return None, []
    return view, [SlotSet("niveau", view.level or tracker.get_slot("niveau"))]


def _told_experience(tracker: Tracker) -> str | None:
    """The experience this conversation is about, once told."""
    value = answers_of(tracker).get(get_script().key_of(Role.EXPERIENCE) or "")
    return value if isinstance(value, str) and value and value != SKIPPED else None


class ActionAanbod(CoachAction):
    """Greeting or a first message: offer a conversation, a returning student hears about
    their last experience, a student with an unfinished one is offered to resume."""

    def name(self) -> str:
        return "action_aanbod"

    def act(self, dispatcher, tracker, script, urgent):
        if urgent:
            return []
        view, events = _student_slots(tracker)
        level = view.level if view and view.level else level_of(tracker)
        latest = (tracker.latest_message or {}).get("text")
        experience = _told_experience(tracker)
        # bot.scheduled.reminders
        if tracker.get_slot(form_events.STEP_SLOT) and checkins.is_checkin(latest):
            say(dispatcher, script.text("herinnering_verder", level, ervaring=experience)
                if experience else script.text("herinnering_verder_kort", level))
            return events
        if tracker.get_slot(form_events.STEP_SLOT):
            say(dispatcher, script.text("aanbod_gepauzeerd_over", level, ervaring=experience)
                if experience else script.text("aanbod_gepauzeerd", level))
            return events
        if view and view.previous_experience:
            # One form further each conversation (`afwisselen`): not last time's welcome.
            say(dispatcher, script.pick_text("aanbod_terug", level, view.earlier,
                                             vorige_ervaring=view.previous_experience))
        elif view and view.first_time:
            # What is kept and who reads it comes before the student agrees to begin; the
            # offer's question stays the last bubble.
            offer = script.text("aanbod_nieuw", level)
            say(dispatcher, offer[:-1] + script.text("privacy_eerste_keer", level) + offer[-1:])
            events.append(SlotSet("privacy_gezien", True))
        else:
            say(dispatcher, script.text("aanbod_nieuw", level))
        # "hoi, ik wil iets vertellen over mijn stage": the experience is told already.
        return events + [SlotSet("opening_ervaring", experience_in_opening(script, latest))]


class ActionStartGesprek(CoachAction):
    """A new loopbaangesprek: a session in the database and fresh slots."""

    def name(self) -> str:
        return "action_start_gesprek"

    def act(self, dispatcher, tracker, script, urgent):
        turn = turn_of(tracker)
        view, events = _student_slots(tracker)
        level = view.level if view and view.level else level_of(tracker)
        session_id = None
        try:
            session_id = service.start_session(turn.channel, turn.sender_id, level)
        except StorageUnavailable:
            say(dispatcher, script.text("opslaan_mislukt", level))
        latest = (tracker.latest_message or {}).get("text")
        told = None
        if checkins.is_checkin(latest):  # the coach writes first, on the plan's day
            say(dispatcher, script.text("checkin_begin", level))
        else:
            if view and view.first_time and not tracker.get_slot("privacy_gezien"):
                say(dispatcher, script.text("privacy_eerste_keer", level))
            # Named in the first message, or in the request itself ("ik wil een gesprek over
            # mijn stage"): the conversation starts from it instead of asking again.
            told = (tracker.get_slot("opening_ervaring")
                    or experience_in_opening(script, latest))
            key = script.key_of(Role.EXPERIENCE)
            step = script.step_of_slot(key) if key else None
            if told and key and session_id and step is not None:
                service.save_reply(channel=turn.channel, sender_id=turn.sender_id,
                                   session_id=session_id, step=step.key,
                                   question_key=key, text=told, kind="answer",
                                   message_id=None, experience=True)
        return events + reset_conversation(
            sessie_id=str(session_id) if session_id else None,
            vorig_plan=view.open_plan if view else None,
            vorige_ervaring=view.previous_experience if view else None,
            vorig_inzicht=view.previous_insight if view else None,
            eerdere_gesprekken=float(view.earlier) if view else 0.0,
            opening_ervaring=None, privacy_gezien=None,
        ) + ([SlotSet(form_events.ANSWERS_SLOT, {script.key_of(Role.EXPERIENCE): told})]
             if told and script.key_of(Role.EXPERIENCE) else [])


class ActionHervatten(CoachAction):
    def name(self) -> str:
        return "action_hervatten"

    def act(self, dispatcher, tracker, script, urgent):
        level = level_of(tracker)
        step = tracker.get_slot(form_events.STEP_SLOT)
        if not step:
            say(dispatcher, script.text("hervatten_niets", level))
            return []
        experience = _told_experience(tracker)
        say(dispatcher, script.text("hervatten_over", level, ervaring=experience)
            if experience else script.text("hervatten", level))
        session_id = session_id_of(tracker)
        if session_id:
            turn = turn_of(tracker)
            service.set_status(channel=turn.channel, sender_id=turn.sender_id,
                               session_id=session_id, status="active", step=step)
        return [SlotSet("vraag_modus", None)]


class ActionOnderbreken(CoachAction):
    """Pause, goodbye or an urgent signal: the steps stop, the session stays resumable."""

    def name(self) -> str:
        return "action_onderbreken"

    def act(self, dispatcher, tracker, script, urgent):
        turn = turn_of(tracker)
        level = level_of(tracker)
        in_conversation = bool(tracker.get_slot(form_events.STEP_SLOT))
        if turn.intent == "signaal_crisis" or urgent:
            if not urgent:  # the intake already said the crisis text when it found it
                say(dispatcher, script.signal_reply("crisis", level))
        elif turn.intent == "pauzeren":
            say(dispatcher, script.text("pauze", level) if in_conversation
                else script.text("afscheid_buiten_gesprek", level))
        elif in_conversation:
            say(dispatcher, script.text("afscheid_tijdens_gesprek", level))
        else:
            say(dispatcher, script.text("afscheid_buiten_gesprek", level))
        session_id = session_id_of(tracker)
        if in_conversation and session_id:
            service.set_status(channel=turn.channel, sender_id=turn.sender_id,
                               session_id=session_id, status="paused",
                               step=tracker.get_slot(form_events.STEP_SLOT))
        return [SlotSet("vraag_modus", None)]


def side_track_messages(script: Script, tracker: Tracker, intent: str | None) -> list[str]:
    """The answer to a side track (a form not said yet in this conversation); also used
    inside the steps."""
    level = level_of(tracker)
    if intent == "overzicht_gevraagd":
        turn = turn_of(tracker)
        try:
            items = service.overview(turn.channel, turn.sender_id)
        except StorageUnavailable:
            return script.text("opslaan_mislukt", level)
        return overview_messages(script, items, level)
    return script.side_track(intent or "", level, said=said_in_conversation(tracker))


# Side requests about the coach itself: outside a conversation they end with the start hint.
_ABOUT_THE_COACH = frozenset(("bot_vraag", "privacy_vraag", "buiten_bereik", "overzicht_gevraagd"))


class ActionDigressie(CoachAction):
    """Side tracks outside a conversation (bot_vraag, privacy_vraag, ...)."""

    def name(self) -> str:
        return "action_digressie"

    def act(self, dispatcher, tracker, script, urgent):
        intent = turn_of(tracker).intent
        if urgent or (intent == "mentor_gevraagd"):
            return []  # the intake already answered (crisis text / mentor informed)
        say(dispatcher, side_track_messages(script, tracker, intent))
        if tracker.get_slot(form_events.STEP_SLOT) and intent not in ("bevestigen", "ontkennen"):
            say(dispatcher, script.text("verder_gaan_hint", level_of(tracker)))
        elif not tracker.get_slot(form_events.STEP_SLOT) and intent in _ABOUT_THE_COACH:
            # A student who first asks who the coach is or what it keeps is shown the way in.
            say(dispatcher, script.text("start_hint", level_of(tracker)))
        return []


class ActionAfronden(CoachAction):
    """The end of step four: store the plan, close the session, one concrete next step."""

    def name(self) -> str:
        return "action_afronden"

    def act(self, dispatcher, tracker, script, urgent):
        turn = turn_of(tracker)
        level = level_of(tracker)

        answers = answers_of(tracker)

        def role(name: str) -> str | None:
            """The answer to the question with `doel: name` (None: none, or skipped)."""
            value = answers.get(script.key_of(name) or "")
            return value if isinstance(value, str) and value != SKIPPED else None

        when_text = role(Role.PLAN_WHEN)
        when = parse_when(when_text) if when_text else None
        plan = {"what": role(Role.PLAN_WHAT), "who": role(Role.PLAN_WHO),
                "how": role(Role.PLAN_WHO),
                "when_text": when_text, "when_date": when.isoformat() if when else None,
                "obstacle": role(Role.PLAN_OBSTACLE), "solution": role(Role.PLAN_SOLUTION)}
        saved = True
        session_id = session_id_of(tracker)
        if session_id:
            saved = service.complete_session(channel=turn.channel, sender_id=turn.sender_id,
                                             session_id=session_id, plan=plan)
        earlier = int(tracker.get_slot(EARLIER_SLOT) or 0)
        closing = closing_lines(script, level, earlier, what=plan["what"], when_text=when_text,
                                today=date.today(), when=when,
                                said=said_in_conversation(tracker))
        plan_step = script.step_of_slot(script.key_of(Role.PLAN_WHAT) or "")
        if plan_step is not None and not plan_step.check:  # not summed up: say it here
            told = {key: value for key, value in answers.items()
                    if isinstance(value, str) and value != SKIPPED}
            closing = closing[:-1] + script.text("afronden_plan", level, **told) + closing[-1:]
        say(dispatcher, closing)
        if not saved:
            say(dispatcher, script.text("opslaan_mislukt", level))
        return reset_conversation(sessie_id=None, vorig_plan=None,
                                  vorige_ervaring=role(Role.EXPERIENCE))


class ActionVerwijderenVragen(CoachAction):
    def name(self) -> str:
        return "action_verwijderen_vragen"

    def act(self, dispatcher, tracker, script, urgent):
        say(dispatcher, script.text("verwijderen_vraag", level_of(tracker)))
        return []


class ActionGegevensVerwijderen(CoachAction):
    def name(self) -> str:
        return "action_gegevens_verwijderen"

    def act(self, dispatcher, tracker, script, urgent):
        turn = turn_of(tracker)
        level = level_of(tracker)
        if turn.intent != "bevestigen":
            say(dispatcher, script.text("verwijderen_niet", level))
            if tracker.get_slot(form_events.STEP_SLOT):  # asked in the middle of a step
                say(dispatcher, script.text("verder_gaan_hint", level))
            return []
        try:
            service.delete_student(turn.channel, turn.sender_id)
        except StorageUnavailable:
            say(dispatcher, script.text("opslaan_mislukt", level))
            return []
        say(dispatcher, script.text("verwijderen_gedaan", level))
        return reset_conversation(sessie_id=None, vorig_plan=None,
                                  vorige_ervaring=None)


class ActionFallback(CoachAction):
    def name(self) -> str:
        return "action_fallback"

    def act(self, dispatcher, tracker, script, urgent):
        if not urgent:
            say(dispatcher, script.text("fallback", level_of(tracker)))
            turn = turn_of(tracker)
            service.note_not_understood(channel=turn.channel, sender_id=turn.sender_id)
        return []
