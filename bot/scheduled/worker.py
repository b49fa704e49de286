"""`bot worker`: the one process that runs background jobs, from persisted tables.

Each tick (WORKER_INTERVAL_S, default 2 s) it
  1. does the recurring, idempotent maintenance: replay the spool, and every
     WORKER_MAINTENANCE_S (default 60 s) mark stale sessions abandoned;
  2. turns due notifications into `notify` jobs (one per channel + recipient);
  3. claims due jobs in a short transaction (bot.scheduled.jobqueue), runs each handler outside any
     transaction, and records the outcome in another short one: done, or retried with
     back-off, or `failed` after the last attempt.

Several workers may run (scale-out): a job runs once, because it is claimed with a lease.
A handler is registered per kind (`@register("notify")`); later kinds (check-ins,
reminders, retention) plug in the same way. Logs are JSON lines with ids, kinds and counts
only, never student text."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session as DbSession

from bot.config import settings
from bot.scheduled import jobqueue, notify
from bot.scheduled.jobqueue import ClaimedJob
from bot.storage.db import session_scope
from bot.storage.types import utcnow

log = logging.getLogger(__name__)


def interval_s() -> float:
    return settings().worker_interval_s


def maintenance_s() -> float:
    return settings().worker_maintenance_s


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Context:
    """What a handler gets besides its job."""

    now: datetime
    worker_id: str
    notify_config: notify.NotifyConfig | None = None


class PermanentError(Exception):
    """A handler's failure that no retry can fix. Its message is stored: keep it short and
    free of student text."""


Handler = Callable[[ClaimedJob, Context], dict[str, int] | None]
HANDLERS: dict[str, Handler] = {}


def register(kind: str) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return add


# --- handlers ---------------------------------------------------------------------------------


@register("notify")
def _notify(job: ClaimedJob, ctx: Context) -> dict[str, int]:
    """One e-mail or webhook call. A failed send is not an exception here: it is recorded
    on the notifications (visible in the portal) and scheduled again as a new job."""
    return notify.deliver(job.payload["ids"], ctx.now, ctx.notify_config)


@register("reminder")
def _reminder(job: ClaimedJob, ctx: Context) -> dict[str, int]:
    """One reminder for a conversation left midway (bot.scheduled.reminders)."""
    from bot.scheduled import reminders

    return reminders.run(int(job.payload["session"]), ctx.now)


@register("checkin")
def _checkin(job: ClaimedJob, ctx: Context) -> dict[str, int]:
    """Ask the student how their plan went (bot.scheduled.checkins)."""
    from bot.scheduled import checkins

    return checkins.run(int(job.payload["plan"]), ctx.now, job.payload.get("day"))


# --- scheduling -------------------------------------------------------------------------------


def schedule_notifications(now: datetime) -> int:
    """A `notify` job per group of due notifications. The key names the group's first
    notification and its attempt (notify.due_groups), so scheduling again (this worker's
    next tick, another worker) adds nothing until that attempt has been made."""
    added = 0
    with session_scope() as db:
        for ids, key in notify.due_groups(db, now):
            added += jobqueue.schedule(db, "notify", now, f"notify:{key}",
                                       {"ids": list(ids)})
    return added


def schedule_reminders(now: datetime) -> int:
    """A `reminder` job per conversation left midway long enough (bot.scheduled.reminders)."""
    from bot.scheduled import reminders

    try:
        with session_scope() as db:
            return reminders.schedule_due(db, now)
    except Exception as exc:  # noqa: BLE001 - the rest of the tick goes on
        log.warning("worker.reminders_failed", extra={"error": type(exc).__name__})
        return 0


def maintenance(abandon: bool = True) -> dict[str, int]:
    """Recurring, idempotent upkeep; each part fails on its own (logged, no content)."""
    from bot import service
    from bot.config import settings

    counts: dict[str, int] = {}
    try:
        counts["replayed"] = service.replay_spool()
    except Exception as exc:  # noqa: BLE001 - the database may be down; next tick again
        log.warning("worker.replay_failed", extra={"error": type(exc).__name__})
    if abandon:  # the slower, periodic part (every WORKER_MAINTENANCE_S)
        try:
            from bot.storage.schools import purge_expired

            with session_scope() as db:
                counts["purged"] = purge_expired(db, utcnow())["sessions"]
        except Exception as exc:  # noqa: BLE001
            log.warning("worker.retention_failed", extra={"error": type(exc).__name__})
        cfg = settings()
        try:
            counts["abandoned"] = service.abandon_stale_sessions(
                timedelta(hours=cfg.abandon_after_hours),
                paused_older_than=timedelta(days=cfg.abandon_paused_after_days))
        except Exception as exc:  # noqa: BLE001
            log.warning("worker.abandon_failed", extra={"error": type(exc).__name__})
    return counts


# --- running ----------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    # Only our own PermanentError's message is kept: other messages (database errors quote
    # their parameters) could hold student text.
    if isinstance(exc, PermanentError):
        return f"PermanentError: {exc}"[:200]
    return type(exc).__name__


def run_job(job: ClaimedJob, ctx: Context) -> tuple[str, dict[str, int]]:
    """Run one claimed job (no transaction open) and record the outcome. Returns the job's
    new status ('done', 'pending' for a retry, 'failed', or 'lost' when our lease expired
    and another worker took the job) and the handler's counts."""
    fields = {"job": job.id, "kind": job.kind, "attempt": job.attempts}
    handler = HANDLERS.get(job.kind)
    try:
        if handler is None:
            raise PermanentError(f"onbekende taak {job.kind}")
        counts = handler(job, ctx) or {}
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        with session_scope() as db:
            status = jobqueue.fail(db, job, ctx.worker_id, ctx.now, _error_text(exc),
                                   retry=not isinstance(exc, PermanentError))
        log.warning("worker.job_failed", extra={**fields, "error": type(exc).__name__,
                                                "status": status or "lost"})
        return status or "lost", {}
    with session_scope() as db:
        done = jobqueue.complete(db, job, ctx.worker_id, ctx.now)
    log.info("worker.job_done", extra={**fields, **counts, "lease_lost": not done})
    return ("done" if done else "lost"), counts


def run_due(now: datetime | None = None, *, worker_id: str | None = None,
            kinds: tuple[str, ...] | None = None, maintain: bool = True,
            abandon: bool = True, notify_config: notify.NotifyConfig | None = None,
            limit: int = 10, stop: threading.Event | None = None) -> dict[str, int]:
    """Everything due at `now`, once: maintenance, scheduling, then every due job (also
    the ones that become due while running, e.g. scheduled by another job)."""
    now = now or utcnow()
    ctx = Context(now, worker_id or default_worker_id(), notify_config)
    totals: Counter[str] = Counter()
    if maintain:
        totals.update(maintenance(abandon=abandon))
    totals["scheduled"] += schedule_notifications(now)
    totals["scheduled"] += schedule_reminders(now)
    while stop is None or not stop.is_set():
        with session_scope() as db:
            claimed = jobqueue.claim(db, ctx.worker_id, now, limit=limit, kinds=kinds)
        if not claimed:
            break
        for n, job in enumerate(claimed):
            if stop is not None and stop.is_set():  # stopping: the rest goes back unrun
                with session_scope() as db:
                    for unrun in claimed[n:]:
                        jobqueue.release(db, unrun, ctx.worker_id)
                break
            status, counts = run_job(job, ctx)
            totals[f"jobs_{status}"] += 1
            totals.update(counts)
    return {key: value for key, value in totals.items() if value}


# --- the process ------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event and the `extra` fields."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
                                "level": record.levelname, "logger": record.name,
                                "event": record.getMessage()}
        data.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:  # the type only: a traceback's values can quote student text
            data["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(data, default=str, ensure_ascii=False)


def setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def serve(stop: threading.Event, worker_id: str | None = None) -> None:
    """Tick until `stop` is set; the job in progress is finished first."""
    worker_id = worker_id or default_worker_id()
    last_abandon = float("-inf")
    log.info("worker.started", extra={"worker": worker_id, "interval_s": interval_s()})
    while not stop.is_set():
        abandon = time.monotonic() - last_abandon >= maintenance_s()
        try:
            counts = run_due(worker_id=worker_id, abandon=abandon, stop=stop)
            if abandon:
                last_abandon = time.monotonic()
            if counts:
                log.info("worker.tick", extra=counts)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try again
            log.error("worker.tick_failed", extra={"error": type(exc).__name__})
        stop.wait(interval_s())
    log.info("worker.stopped", extra={"worker": worker_id})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot worker", description=__doc__.splitlines()[0])
    parser.parse_args(argv or [])
    setup_logging()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serve(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def deliver_due(db: DbSession | None = None, now: datetime | None = None,
                config: notify.NotifyConfig | None = None) -> dict[str, int]:
    """Send every due notification now, in this process, through the job queue (so that a
    running worker never sends the same one again). `db`: a caller's session; it is
    committed first (what it added is sent) and expired afterwards (it sees the outcome)."""
    if db is not None:
        db.commit()
    try:
        totals = run_due(now or utcnow(), kinds=("notify",), maintain=False,
                         notify_config=config)
        return {key: totals.get(key, 0) for key in ("sent", "retry", "failed")}
    finally:
        if db is not None:
            db.expire_all()
