"""The job queue and the worker (bot.scheduled.jobqueue, bot.scheduled.worker) on real SQLite and
PostgreSQL: scheduling is idempotent, every job runs once with two workers claiming at the same
time, a dead worker's lease expires and another finishes its job, failures are retried with
back-off and then `failed`, and /health shows the counts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.portal.app import create_app
from bot.scheduled import jobqueue, notify, worker
from bot.storage import db as dbmod
from bot.storage.models import Job
from bot.storage.types import utcnow

KIND = "test_count"


@pytest.fixture
def ran() -> Counter[int]:
    """Register a test kind whose handler counts how often each job ran (and by whom)."""
    runs: Counter[int] = Counter()
    lock = threading.Lock()

    def handler(job: jobqueue.ClaimedJob, ctx: worker.Context) -> dict[str, int]:
        time.sleep(0.01)  # widen the window in which two workers could take the same job
        with lock:
            runs[job.id] += 1
            runs[f"by:{ctx.worker_id}"] += 1
        return {"counted": 1}

    worker.register(KIND)(handler)
    yield runs
    worker.HANDLERS.pop(KIND, None)


@pytest.fixture
def failing() -> list[str]:
    """A kind whose handler always fails with a message quoting a student."""
    seen: list[str] = []

    def handler(job: jobqueue.ClaimedJob, ctx: worker.Context) -> None:
        seen.append(ctx.worker_id)
        raise ValueError("student schreef: ik wil stoppen")

    worker.register("test_fail")(handler)
    yield seen
    worker.HANDLERS.pop("test_fail", None)


def add(kind: str, key: str, due, payload: dict | None = None) -> bool:
    with dbmod.session_scope() as db:
        return jobqueue.schedule(db, kind, due, key, payload)


def job(key: str) -> Job:
    with dbmod.session_scope() as db:
        return db.execute(select(Job).where(Job.dedupe_key == key)).scalar_one()


def test_scheduling_twice_makes_one_job(storage: str) -> None:
    now = utcnow()
    assert add(KIND, "checkin:7", now, {"plan_id": 7}) is True
    assert add(KIND, "checkin:7", now + timedelta(days=1), {"plan_id": 7}) is False
    with dbmod.session_scope() as db:
        assert db.execute(select(Job)).scalars().all()[0].due_at == now
        assert len(db.execute(select(Job)).scalars().all()) == 1


def test_payload_refuses_text(storage: str) -> None:
    with pytest.raises(ValueError, match="no text"):
        add(KIND, "x:1", utcnow(), {"note": "ik wil stoppen met school"})
    with dbmod.session_scope() as db:
        assert db.execute(select(Job)).first() is None


def test_two_workers_run_each_job_exactly_once(storage: str, ran: Counter) -> None:
    now = utcnow()
    keys = [f"count:{n}" for n in range(40)]
    for key in keys:
        add(KIND, key, now - timedelta(seconds=1))
    start = threading.Barrier(2)
    results: dict[str, dict] = {}

    def run(name: str) -> None:
        start.wait()
        results[name] = worker.run_due(now, worker_id=name, kinds=(KIND,), maintain=False,
                                       limit=2)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [job(key).id for key in keys]
    assert [ran[i] for i in ids] == [1] * len(keys)
    assert ran["by:w1"] + ran["by:w2"] == len(keys)
    assert ran["by:w1"] > 0 and ran["by:w2"] > 0, "both workers should have claimed jobs"
    assert results["w1"]["counted"] + results["w2"]["counted"] == len(keys)
    assert {job(key).status for key in keys} == {"done"}
    assert {job(key).attempts for key in keys} == {1}


def test_a_dead_workers_job_is_taken_over_after_its_lease(storage: str, ran: Counter) -> None:
    now = utcnow()
    add(KIND, "count:lease", now)
    with dbmod.session_scope() as db:
        (claimed,) = jobqueue.claim(db, "dead-worker", now, lease_for=timedelta(minutes=5))
    # The worker dies here: nothing recorded. While its lease runs, nobody else runs the job.
    assert worker.run_due(now + timedelta(minutes=4), worker_id="w2", kinds=(KIND,),
                          maintain=False) == {}
    assert job("count:lease").status == "running" and ran[claimed.id] == 0
    later = now + timedelta(minutes=6)
    assert worker.run_due(later, worker_id="w2", kinds=(KIND,), maintain=False)["counted"] == 1
    row = job("count:lease")
    assert (row.status, row.attempts, row.locked_by, ran[claimed.id]) == ("done", 2, None, 1)
    # The dead worker coming back cannot record over the other's result.
    with dbmod.session_scope() as db:
        assert jobqueue.complete(db, claimed, "dead-worker", later) is False
        assert jobqueue.fail(db, claimed, "dead-worker", later, "late") is None
    assert job("count:lease").status == "done"


def test_a_failing_job_is_retried_with_backoff_then_failed(storage: str,
                                                          failing: list[str]) -> None:
    now = utcnow()
    add("test_fail", "fail:1", now)
    assert worker.run_due(now, worker_id="w", maintain=False)["jobs_pending"] == 1
    row = job("fail:1")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.due_at == now + notify.BACKOFF[0]
    assert row.last_error == "ValueError"  # the type only: the message quoted a student
    assert worker.run_due(now + timedelta(seconds=59), worker_id="w", maintain=False) == {}
    assert len(failing) == 1  # not before its back-off
    with dbmod.session_scope() as db:
        assert jobqueue.stats(db, now)["retrying"] == 1
    moment = now
    for attempt in range(2, jobqueue.MAX_ATTEMPTS + 1):
        moment = job("fail:1").due_at
        assert moment - now >= notify.BACKOFF[attempt - 2]  # the back-off grows
        worker.run_due(moment, worker_id="w", maintain=False)
        assert job("fail:1").attempts == attempt
    row = job("fail:1")
    assert (row.status, row.attempts, len(failing)) == ("failed", jobqueue.MAX_ATTEMPTS,
                                                        jobqueue.MAX_ATTEMPTS)
    worker.run_due(moment + timedelta(days=2), worker_id="w", maintain=False)
    assert len(failing) == jobqueue.MAX_ATTEMPTS  # failed stays failed
    with dbmod.session_scope() as db:
        assert jobqueue.stats(db, moment)["failed"] == 1


def test_an_unknown_kind_fails_at_once(storage: str) -> None:
    now = utcnow()
    add("no_such_kind", "unknown:1", now)
    assert worker.run_due(now, worker_id="w", maintain=False)["jobs_failed"] == 1
    row = job("unknown:1")
    assert row.status == "failed" and "onbekende taak" in row.last_error


def test_a_lease_that_expires_on_the_last_attempt_fails_the_job(storage: str,
                                                                ran: Counter) -> None:
    now = utcnow()
    add(KIND, "count:crashy", now)
    for n in range(jobqueue.MAX_ATTEMPTS):  # a job that kills its worker every time
        with dbmod.session_scope() as db:
            assert len(jobqueue.claim(db, f"dead-{n}", now + timedelta(hours=n),
                                      lease_for=timedelta(minutes=5))) == 1
    worker.run_due(now + timedelta(days=1), worker_id="w", kinds=(KIND,), maintain=False)
    row = job("count:crashy")
    assert row.status == "failed" and row.attempts == jobqueue.MAX_ATTEMPTS
    assert sum(v for k, v in ran.items() if isinstance(k, int)) == 0


async def test_health_shows_the_job_counts(storage: str, failing: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPBAANCOACH_VAR", "/nonexistent")  # no launcher status file
    now = utcnow()
    add("test_fail", "fail:h1", now)
    add("test_fail", "fail:h2", now - timedelta(minutes=1))
    add("unknown_kind", "unknown:h", now)
    add(KIND, "count:later", now + timedelta(days=1))
    worker.run_due(now, worker_id="w", maintain=False)  # 2 retrying, 1 failed
    add(KIND, "count:due", now - timedelta(seconds=5))  # due, not run yet
    add(KIND, "count:running", now - timedelta(seconds=5))
    with dbmod.session_scope() as db:
        jobqueue.claim(db, "busy", now, kinds=(KIND,), limit=1)
    client = TestClient(TestServer(create_app()))
    await client.start_server()
    try:
        response = await client.get("/health")
        body = await response.json()
    finally:
        await client.close()
    assert response.status == 200
    assert body["jobs"] == {"due": 1, "running": 1, "failed": 1, "retrying": 2,
                            "tracker_deletions_pending": 0}


def test_a_stopping_worker_gives_back_the_jobs_it_has_not_started(storage: str) -> None:
    stop = threading.Event()
    started: list[int] = []

    def handler(job: jobqueue.ClaimedJob, ctx: worker.Context) -> None:
        started.append(job.id)
        stop.set()  # SIGTERM arrives while the first job runs

    worker.register("test_stop")(handler)
    try:
        now = utcnow()
        for n in range(3):
            add("test_stop", f"stop:{n}", now - timedelta(seconds=3 - n))
        worker.run_due(now, worker_id="w", kinds=("test_stop",), maintain=False, stop=stop)
    finally:
        worker.HANDLERS.pop("test_stop", None)
    rows = [job(f"stop:{n}") for n in range(3)]
    assert started == [rows[0].id]
    assert rows[0].status == "done"
    assert [(r.status, r.attempts, r.locked_by) for r in rows[1:]] == [("pending", 0, None)] * 2
