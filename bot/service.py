"""Application services the Rasa actions call: one function per thing that happens in a
conversation. Each opens its own database transaction, retries transient errors, and never
loses a student's words: when the database stays unavailable, a write is kept in a local
spool file (bot.scheduled.spool) and replayed later, and the caller learns that saving failed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot.conversation import live_config
from bot.conversation.coaching import FOLLOWUP_NEXT_STEP, FOLLOWUP_REASON
from bot.scheduled import notify, spool
from bot.storage import repository as repo
from bot.storage.db import checkpoint, session_scope
from bot.storage.models import PLAN_FROM_FOLLOWUP
from bot.storage.repository import StorageUnavailable, run_with_retry

log = logging.getLogger(__name__)
SKIPS_BEFORE_FLAG = 3  # questions skipped with "weet niet" in one session


@dataclass(frozen=True)
class StudentView:
    """What the conversation needs to know about the student behind a chat identity."""

    student_id: int
    level: str | None
    first_time: bool  # never had a conversation: tell what is kept and who reads it
    open_session_id: int | None  # an active or paused conversation to resume
    previous_experience: str | None  # the last experience told (rode draad)
    open_plan: str | None  # last agreed next step still waiting for its follow-up
    open_plan_id: int | None
    previous_insight: str | None = None  # the name the student gave their last insight
    earlier: int = 0  # conversations finished or left before (counted up to 5)


def _write(name: str, **kwargs: Any) -> bool:
    """Run a write operation; spool it when the database is unavailable. True when saved.
    A write into another student's session is refused (logged, not stored, False)."""
    return write_turn([(name, kwargs)])[0]


def write_turn(operations: Sequence[tuple[str, dict[str, Any]]]) -> list[bool]:
    """A turn's writes (name, arguments), in order and in one transaction: one commit and one
    lookup of the student instead of one of each per write. Per write: True when saved. When
    the database is unavailable all are spooled, in order; a write into another student's
    session is refused alone (the others are then written one by one)."""
    if not operations:
        return []
    try:
        spool.replay(_apply)
    except Exception:  # the database is still down: the new writes are spooled after these
        log.warning("service.spool_replay_failed")
    try:
        run_with_retry(lambda: _apply_all(operations))
        return [True] * len(operations)
    except repo.ForeignSession:
        if len(operations) > 1:
            return [write_turn([operation])[0] for operation in operations]
        log.error("service.foreign_session_refused", extra={"operation": operations[0][0]})
        return [False]
    except StorageUnavailable:
        for name, kwargs in operations:
            spool.append(name, kwargs)
            log.error("service.write_spooled", extra={"operation": name})
        return [False] * len(operations)


def replay_spool() -> int:
    """Store what was spooled while the database (or the action server) was unavailable.
    Run at action-server start and by the scheduled jobs, so it never waits for a write."""
    return spool.replay(_apply)


def _apply(name: str, kwargs: dict[str, Any]) -> Any:
    with session_scope() as db:
        return _OPERATIONS[name](db, **kwargs)


def _apply_all(operations: Sequence[tuple[str, dict[str, Any]]]) -> None:
    with session_scope() as db:
        for name, kwargs in operations:
            _OPERATIONS[name](db, **kwargs)


def _student(db, channel: str, sender_id: str):
    """The student behind the identity, looked up once per transaction."""
    known = db.info.setdefault("students", {})
    key = (channel, sender_id)
    if key not in known:
        known[key] = repo.get_or_create_student(db, channel, sender_id)
    return known[key]


# --- reads ----------------------------------------------------------------------------------


def student_view(channel: str, sender_id: str) -> StudentView:
    def read() -> StudentView:
        with session_scope() as db:
            student = _student(db, channel, sender_id)
            previous = repo.previous_sessions(db, student, limit=5)
            open_session = repo.open_session(db, student)
            plan = repo.latest_plan_needing_followup(db, student)
            experience = next((s.experience for s in previous if s.experience), None)
            insight = repo.latest_insight_name(db, student) if previous else None
            return StudentView(
                student_id=student.id,
                level=student.level
                or (student.school_class.level if student.school_class else None)
                or (student.school.default_level if student.school else None),
                first_time=not previous and open_session is None,
                open_session_id=open_session.id if open_session else None,
                previous_experience=experience,
                previous_insight=insight,
                earlier=repo.count_closed_sessions(db, student) if previous else 0,
                open_plan=plan.what if plan else None,
                open_plan_id=plan.id if plan else None,
            )

    return run_with_retry(read)


def flagged_categories(channel: str, sender_id: str, session_id: int | None) -> frozenset[str]:
    """Flag categories already raised in this conversation (acknowledged to the student)."""
    if not session_id:
        return frozenset()

    def read() -> frozenset[str]:
        with session_scope() as db:
            student = _student(db, channel, sender_id)
            return frozenset(repo.flag_categories_of_session(db, student, session_id))

    try:
        return run_with_retry(read)
    except (StorageUnavailable, repo.ForeignSession, repo.NotFound):
        return frozenset()


def overview(channel: str, sender_id: str) -> list[tuple[str, str]]:
    """(competency key, the student's words) for everything discovered, newest first."""

    def read() -> list[tuple[str, str]]:
        with session_scope() as db:
            student = _student(db, channel, sender_id)
            return repo.insight_overview(db, student)

    return run_with_retry(read)


# --- writes ---------------------------------------------------------------------------------


def start_session(channel: str, sender_id: str, level: str | None) -> int:
    def write() -> int:
        with session_scope() as db:
            student = _student(db, channel, sender_id)
            previous = repo.open_session(db, student)
            if previous is not None:  # a new conversation replaces an unfinished one
                repo.set_session_status(db, previous, "abandoned")
            gesprek = repo.start_session(db, student, channel, level)
            # The conversation finishes on the script version it starts with
            # (bot.conversation.live_config).
            gesprek.script_version = live_config.script_version_id(db, student.school_id)
            return gesprek.id

    return run_with_retry(write)


def save_reply(**kwargs: Any) -> bool:
    return _write("save_reply", **kwargs)


# Told after an urgent flag is stored. The process that serves the actions installs the
# notification worker's dispatcher here (bot.rasa_plugins.action_server), so that the services do
# not depend on the scheduled work that depends on them (bot.scheduled.jobs -> bot.scheduled.worker
# -> bot.service).
_urgent_listeners: list[Callable[[], None]] = []


def on_urgent_flag(listener: Callable[[], None]) -> None:
    """Call `listener` after every stored urgent flag (once per listener)."""
    if listener not in _urgent_listeners:
        _urgent_listeners.append(listener)


def save_flags(**kwargs: Any) -> bool:
    saved = _write("save_flags", **kwargs)
    if saved and any(s["severity"] == "urgent" for s in kwargs.get("signals", [])):
        for listener in list(_urgent_listeners):
            try:
                listener()
            except Exception as exc:  # noqa: BLE001 - the worker sends it on its next tick
                log.warning("service.urgent_listener_failed",
                            extra={"error": type(exc).__name__})
    return saved


def set_status(**kwargs: Any) -> bool:
    return _write("set_status", **kwargs)


def complete_session(**kwargs: Any) -> bool:
    return _write("complete_session", **kwargs)


def contact_wish(**kwargs: Any) -> bool:
    """Whether the student wants the offered talk with the mentor (see repo.set_contact_wish)."""
    return _write("contact_wish", **kwargs)


def decline_contact(**kwargs: Any) -> bool:
    return _write("decline_contact", **kwargs)


def set_level(**kwargs: Any) -> bool:
    """The level the student told (vmbo, mbo-bol, mbo-bbl), on the student and the session."""
    return _write("set_level", **kwargs)


def note_not_understood(**kwargs: Any) -> bool:
    """Count a message the coach answered with its fallback (for the figures; no content)."""
    return _write("not_understood", **kwargs)


def delete_student(channel: str, sender_id: str) -> dict[str, int]:
    def write() -> dict[str, int]:
        with session_scope() as db:
            student = _student(db, channel, sender_id)
            return repo.delete_student_data(db, student, actor="student")

    spool.discard_sender(sender_id)
    counts = run_with_retry(write)
    # The conversation itself is in Rasa's tracker store, which Rasa is writing to during
    # this very turn: a persisted job, carried out by the Rasa process under the
    # conversation's lock once this turn is saved (bot.rasa_plugins.deletions).
    run_with_retry(lambda: _request_tracker_deletion(sender_id))
    try:
        checkpoint()
    except Exception:  # noqa: BLE001 - the rows are deleted; the WAL is checkpointed later
        log.warning("service.checkpoint_failed")
    return counts


def _request_tracker_deletion(sender_id: str) -> None:
    with session_scope() as db:
        repo.request_tracker_deletion(db, sender_id)


# --- operations (run inside one transaction; also replayed from the spool) -----------------


def _op_save_reply(db, channel: str, sender_id: str, session_id: int, step: str,
                   question_key: str, text: str, kind: str, message_id: str | None,
                   competencies: list[str] | None = None, method: str | None = None,
                   headline: bool = False, followup_status: str | None = None,
                   followup_part: str | None = None, when_date: str | None = None,
                   experience: bool = False) -> None:
    """`experience`: the reply names the experience the conversation is about."""
    student = _student(db, channel, sender_id)
    gesprek = repo.session_of(db, student, session_id)
    answer = repo.save_answer(db, gesprek, step, question_key, text, kind, message_id)
    repo.set_session_status(db, gesprek, "active", step=step)
    if experience and kind in ("answer", "correction"):
        gesprek.experience = text[:500]
    if followup_status:
        plan = repo.latest_plan_needing_followup(db, student)
        if plan is not None:
            repo.record_followup(db, plan, text, followup_status)
    if followup_part == FOLLOWUP_REASON:
        repo.record_followup_reason(db, gesprek, text)
    elif followup_part == FOLLOWUP_NEXT_STEP:
        _save_next_step(db, student, gesprek, text, when_date)
    if kind == "skip" and repo.count_answers(db, gesprek, kind="skip") == SKIPS_BEFORE_FLAG:
        # Repeated "weet niet" without progress: visible to the mentor, silent to the student.
        flag = repo.save_flag(db, student, gesprek, "afgehaakt", "herhaald 'weet niet'", None,
                              f"weet-niet-{gesprek.id}")
        if flag is not None:
            notify.enqueue(db, flag)
    if competencies:
        repo.save_insight(db, student, gesprek, step, question_key, text, competencies,
                          method or "unknown", headline=text if headline else None,
                          answer=answer)


def _save_next_step(db, student, gesprek, text: str, when_date: str | None) -> None:
    """A new small step named at a follow-up is this conversation's plan (until `activeren`
    agrees another), with its own check-in."""
    existing = repo.plan_of_session(db, gesprek)
    if existing is not None and existing.origin != PLAN_FROM_FOLLOWUP:
        return  # this conversation already has its plan from `activeren`
    plan = repo.save_action_plan(db, student, gesprek, what=text, when_text=text,
                                 when_date=when_date, origin=PLAN_FROM_FOLLOWUP)
    from bot.scheduled import checkins

    checkins.schedule(db, plan)


def _op_save_flags(db, channel: str, sender_id: str, session_id: int | None,
                   signals: list[dict[str, str]], text: str, message_id: str | None,
                   contact_wanted: bool = True) -> None:
    student = _student(db, channel, sender_id)
    gesprek = None
    if session_id:
        try:
            gesprek = repo.session_of(db, student, session_id)
        except (repo.ForeignSession, repo.NotFound):
            gesprek = None  # never lose a flag: keep it on the student, without the session
    for signal in signals:
        flag = repo.save_flag(db, student, gesprek, signal["category"], signal["evidence"],
                              text, message_id, severity=signal.get("severity"))
        if flag is not None:  # None: this message was flagged before (a replay)
            notify.enqueue(db, flag)
    if not contact_wanted and message_id:  # a talk offered, not yet asked for
        repo.set_contact_wish(db, student, message_id, False)


def _op_set_status(db, channel: str, sender_id: str, session_id: int, status: str,
                   step: str | None = None) -> None:
    student = _student(db, channel, sender_id)
    repo.set_session_status(db, repo.session_of(db, student, session_id), status, step=step)


def _op_complete_session(db, channel: str, sender_id: str, session_id: int,
                         plan: dict[str, Any]) -> None:
    student = _student(db, channel, sender_id)
    gesprek = repo.session_of(db, student, session_id)
    when = plan.get("when_date")
    saved = repo.save_action_plan(
        db, student, gesprek, what=plan.get("what"), who=plan.get("who"), how=plan.get("how"),
        when_text=plan.get("when_text"),
        when_date=date.fromisoformat(when) if isinstance(when, str) else when,
        obstacle=plan.get("obstacle"), solution=plan.get("solution"),
    )
    repo.set_session_status(db, gesprek, "completed", step="activeren")
    from bot.scheduled import checkins  # the coach asks how it went, on the plan's day

    checkins.schedule(db, saved)


def _op_set_level(db, channel: str, sender_id: str, session_id: int | None, level: str) -> None:
    repo.set_student_level(db, _student(db, channel, sender_id), session_id, level)


def _op_not_understood(db, channel: str, sender_id: str) -> None:
    from bot.storage.models import NotUnderstood

    db.add(NotUnderstood(student_id=_student(db, channel, sender_id).id))


def _op_contact_wish(db, channel: str, sender_id: str, message_id: str, wanted: bool) -> None:
    repo.set_contact_wish(db, _student(db, channel, sender_id), message_id, wanted)


def _op_decline_contact(db, channel: str, sender_id: str, message_id: str) -> None:
    student = _student(db, channel, sender_id)
    repo.mark_declined_contact(db, student, message_id)


_OPERATIONS = {
    "save_reply": _op_save_reply,
    "save_flags": _op_save_flags,
    "set_status": _op_set_status,
    "complete_session": _op_complete_session,
    "decline_contact": _op_decline_contact,
    "contact_wish": _op_contact_wish,
    "not_understood": _op_not_understood,
    "set_level": _op_set_level,
}


def abandon_stale_sessions(older_than: timedelta,
                           paused_older_than: timedelta | None = None) -> int:
    """Scheduled job: sessions idle for too long become abandoned, with an 'afgehaakt' flag."""

    def write() -> int:
        with session_scope() as db:
            stale = repo.mark_abandoned(db, older_than, paused_older_than)
            for gesprek in stale:
                flag = repo.save_flag(db, gesprek.student, gesprek, "afgehaakt",
                                      f"gestopt bij stap {gesprek.step_reached or 'begin'}",
                                      None, f"afgehaakt-{gesprek.id}")
                if flag is not None:
                    notify.enqueue(db, flag)
            return len(stale)

    return run_with_retry(write)
