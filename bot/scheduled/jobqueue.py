"""The job table's operations (table `jobs`, bot.storage.models.Job), each meant for one
short transaction: schedule, claim, record the outcome, count.

A job is claimed with a lease: `locked_by` (the worker) and `locked_until`. Claiming is safe
with several workers: on PostgreSQL the candidates are locked with `FOR UPDATE SKIP LOCKED`;
on SQLite (no SKIP LOCKED; BEGIN IMMEDIATE serialises writers anyway) and as a second guard
everywhere, each claim is a conditional UPDATE whose row count says whether we got the job.
A worker that dies leaves its job `running`; once the lease has expired another worker claims
it again (that counts as an attempt). Payloads hold ids and settings, never student text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as DbSession

from bot.scheduled.notify import BACKOFF
from bot.storage.models import Job, TrackerDeletion
from bot.storage.types import utcnow

MAX_ATTEMPTS = len(BACKOFF) + 1
# A value in a payload: ids, flags, dates, short keys. Spaces are refused, so that no
# sentence a student wrote can end up in the table by mistake.
_SAFE_TEXT = re.compile(r"[\w:+.\-/@]{0,64}")


def lease() -> timedelta:
    """How long a claimed job is ours (WORKER_LEASE_S, default 300 s): longer than any
    job's I/O takes (SMTP and webhook time out after 15 s)."""
    from bot.config import settings

    return timedelta(seconds=settings().worker_lease_s)


@dataclass(frozen=True)
class ClaimedJob:
    """A job as its handler sees it, detached from any session."""

    id: int
    kind: str
    due_at: datetime
    payload: dict[str, Any]
    student_id: int | None
    attempts: int  # including this one


def check_payload(value: Any) -> None:
    """Raise ValueError for anything that looks like free text."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_payload(key)
            check_payload(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_payload(item)
    elif isinstance(value, str):
        if not _SAFE_TEXT.fullmatch(value):
            raise ValueError("job payload: only ids and short keys, no text")
    elif not (value is None or isinstance(value, bool | int | float)):
        raise ValueError(f"job payload: unsupported {type(value).__name__}")


def schedule(db: DbSession, kind: str, due_at: datetime, dedupe_key: str,
             payload: dict[str, Any] | None = None, student_id: int | None = None) -> bool:
    """Add a job unless one with `dedupe_key` exists (in any state). True: added."""
    payload = payload or {}
    check_payload(payload)
    values = dict(kind=kind, due_at=due_at, payload=payload, student_id=student_id,
                  status="pending", attempts=0, dedupe_key=dedupe_key, created_at=utcnow())
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = db.execute(insert(Job).values(**values)
                        .on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return bool(result.rowcount)


def _claimable(now: datetime) -> Any:
    return or_(and_(Job.status == "pending", Job.due_at <= now),
               and_(Job.status == "running", Job.locked_until < now))


def claim(db: DbSession, worker_id: str, now: datetime, limit: int = 10,
          kinds: tuple[str, ...] | None = None,
          lease_for: timedelta | None = None) -> list[ClaimedJob]:
    """Take up to `limit` due jobs (and jobs whose lease expired) for `worker_id`."""
    _fail_exhausted_leases(db, now)
    query = select(Job.id).where(_claimable(now))
    if kinds is not None:
        query = query.where(Job.kind.in_(kinds))
    candidates = db.execute(query.order_by(Job.due_at, Job.id).limit(limit)
                            .with_for_update(skip_locked=True)).scalars().all()
    until = now + (lease_for or lease())
    won: list[int] = []
    for job_id in candidates:
        result = db.execute(update(Job).where(Job.id == job_id, _claimable(now))
                            .values(status="running", locked_by=worker_id,
                                    locked_until=until, attempts=Job.attempts + 1)
                            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            won.append(job_id)
    if not won:
        return []
    rows = db.execute(select(Job).where(Job.id.in_(won)).order_by(Job.due_at, Job.id)
                      .execution_options(populate_existing=True)).scalars().all()
    return [ClaimedJob(r.id, r.kind, r.due_at, dict(r.payload or {}), r.student_id,
                       r.attempts) for r in rows]


def _fail_exhausted_leases(db: DbSession, now: datetime) -> None:
    """A job whose worker died on its last attempt is not run again."""
    db.execute(update(Job).where(Job.status == "running", Job.locked_until < now,
                                 Job.attempts >= MAX_ATTEMPTS)
               .values(status="failed", locked_by=None, locked_until=None,
                       last_error="lease verlopen na de laatste poging")
               .execution_options(synchronize_session=False))


def _ours(job_id: int, worker_id: str) -> Any:
    return and_(Job.id == job_id, Job.status == "running", Job.locked_by == worker_id)


def complete(db: DbSession, job: ClaimedJob, worker_id: str, now: datetime) -> bool:
    """Done. False: our lease was lost (expired and claimed by another worker)."""
    result = db.execute(update(Job).where(_ours(job.id, worker_id))
                        .values(status="done", done_at=now, locked_by=None,
                                locked_until=None, last_error=None)
                        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def release(db: DbSession, job: ClaimedJob, worker_id: str) -> bool:
    """Give a claimed job back unrun (the worker is stopping): pending, attempt not counted."""
    result = db.execute(update(Job).where(_ours(job.id, worker_id))
                        .values(status="pending", locked_by=None, locked_until=None,
                                attempts=Job.attempts - 1)
                        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def fail(db: DbSession, job: ClaimedJob, worker_id: str, now: datetime, error: str,
         retry: bool = True) -> str | None:
    """Record a failed attempt: pending again after the back-off, or `failed` after the last
    attempt (or when `retry` is False). `error` must be short and hold no student text.
    Returns the new status, None when our lease was lost."""
    final = not retry or job.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {"last_error": error[:200], "locked_by": None,
                              "locked_until": None}
    if final:
        values.update(status="failed", done_at=now)
    else:
        values.update(status="pending", due_at=now + BACKOFF[job.attempts - 1])
    result = db.execute(update(Job).where(_ours(job.id, worker_id)).values(**values)
                        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    return "failed" if final else "pending"


def stats(db: DbSession, now: datetime) -> dict[str, int]:
    """Counts for /health (no content): due now, running, failed, being retried; and the
    tracker deletions Rasa still has to carry out (bot.rasa_plugins.deletions)."""

    def count(*conditions: Any) -> int:
        return int(db.execute(select(func.count()).select_from(Job)
                              .where(*conditions)).scalar_one())

    deletions = db.execute(select(func.count()).select_from(TrackerDeletion)
                           .where(TrackerDeletion.done_at.is_(None))).scalar_one()
    return {
        "due": count(Job.status == "pending", Job.due_at <= now),
        "running": count(Job.status == "running"),
        "failed": count(Job.status == "failed"),
        "retrying": count(Job.status == "pending", Job.attempts > 0),
        "tracker_deletions_pending": int(deletions),
    }
