"""Which conversation script and flag rules the running assistant uses for one request.

Coordinators save versions in the portal (bot.storage.config_versions). For every action call
the action server sets, from the tracker it receives:

- the script: the version a conversation started with (`sessions.script_version`), so that a
  conversation in progress finishes on its own version; outside a conversation the newest
  version of the student's school (or of the installation); the file when there is none;
- the flag rules: the newest version of the student's school (or installation), else the file.

Newest versions are looked up at most every CACHE_SECONDS, so a saved version is in use within
seconds, without retraining or restarting. Parsed versions are kept by id (they never change).
When the database cannot be read the file is used: a student always gets an answer."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import select

from bot.conversation import script as script_mod
from bot.storage import config_versions as versions
from bot.storage.models import ChannelIdentity, ConfigVersion, Conversation, Student
from bot.text import signals

log = logging.getLogger(__name__)
CACHE_SECONDS = 2.0
MAX_PARSED = 32
DEFAULT_CHANNEL = "rest"

_lock = threading.Lock()
_newest: dict[tuple[str, int | None], tuple[float, int | None]] = {}
_parsed: OrderedDict[int, Any] = OrderedDict()


def clear() -> None:
    """Forget every cached lookup (tests; a database switch)."""
    with _lock:
        _newest.clear()
        _parsed.clear()


def _any_version() -> bool:
    """Whether any coordinator version exists (looked up at most every CACHE_SECONDS). Versions
    are never deleted, so without one every student gets the files and the per-call lookups
    of the student's school and conversation can be skipped."""
    now = time.monotonic()
    with _lock:
        hit = _newest.get(("any", None))
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1] is not None
    from bot.storage.db import session_scope

    with session_scope() as db:
        found = db.execute(select(ConfigVersion.id).limit(1)).first() is not None
    with _lock:
        _newest[("any", None)] = (now, 1 if found else None)
    return found


def _newest_id(db: Any, kind: str, school_id: int | None) -> int | None:
    key = (kind, school_id)
    now = time.monotonic()
    with _lock:
        hit = _newest.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    found = versions.in_use(db, kind, school_id)
    version_id = found.id if found is not None else None
    with _lock:
        _newest[key] = (now, version_id)
    return version_id


def _parse(db: Any, version_id: int) -> Any:
    """The parsed Script or Rules of a version (None when it no longer parses)."""
    with _lock:
        if version_id in _parsed:
            _parsed.move_to_end(version_id)
            return _parsed[version_id]
    row = versions.by_id(db, version_id)
    parsed = None
    if row is not None:
        try:
            if row.kind == versions.SCRIPT:
                import yaml

                parsed = script_mod.parse(yaml.safe_load(row.content))
            else:
                parsed = signals.rules_from_text(row.content, f"versie {row.number}")
        except (script_mod.ScriptError, signals.RulesError, ValueError):
            log.error("live_config.version_invalid", extra={"version_id": version_id})
    with _lock:
        _parsed[version_id] = parsed
        while len(_parsed) > MAX_PARSED:
            _parsed.popitem(last=False)
    return parsed


def script_version_id(db: Any, school_id: int | None) -> int | None:
    """The version a conversation starting now uses (None: the file)."""
    return _newest_id(db, versions.SCRIPT, school_id)


def _school_of(db: Any, channel: str, sender_id: str) -> tuple[int | None, int | None]:
    """(student id, school id) of a chat identity; (None, None) for an unknown one."""
    row = db.execute(select(Student.id, Student.school_id).join(
        ChannelIdentity, ChannelIdentity.student_id == Student.id).where(
        ChannelIdentity.channel == channel, ChannelIdentity.sender_id == sender_id)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def resolve(channel: str, sender_id: str, session_id: int | None) -> tuple[Any, Any]:
    """(Script or None, Rules or None) for this student and conversation; None: the file."""
    from bot.storage.db import session_scope

    with session_scope() as db:
        student_id, school_id = _school_of(db, channel, sender_id)
        script = None
        gesprek = db.get(Conversation, session_id) if session_id else None
        if gesprek is not None and gesprek.student_id == student_id:
            if gesprek.script_version is not None:  # None: started on the file
                script = _parse(db, gesprek.script_version)
        else:
            version_id = _newest_id(db, versions.SCRIPT, school_id)
            script = _parse(db, version_id) if version_id is not None else None
        rules_id = _newest_id(db, versions.SIGNAL_RULES, school_id)
        rules = _parse(db, rules_id) if rules_id is not None else None
        return script, rules


def _session_id(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def enter(body: Any) -> None:
    """Set the script and rules for the action call with this JSON body (always set, also to
    None, so that nothing carries over from an earlier request in the same task)."""
    script = rules = None
    tracker = body.get("tracker") if isinstance(body, dict) else None
    if isinstance(tracker, dict) and isinstance(tracker.get("sender_id"), str):
        channel = tracker.get("latest_input_channel") or DEFAULT_CHANNEL
        slots = tracker.get("slots") if isinstance(tracker.get("slots"), dict) else {}
        try:
            if _any_version():
                script, rules = resolve(str(channel), tracker["sender_id"],
                                        _session_id(slots.get("sessie_id")))
        except Exception as exc:  # noqa: BLE001 - the database is down: the files
            log.warning("live_config.unavailable", extra={"error": type(exc).__name__})
    script_mod.ACTIVE.set(script)
    signals.ACTIVE_RULES.set(rules)
