"""Concurrent writers (the action server handles several students at once; spool replays may
race with new writes): no duplicates, no lost writes, no 'database is locked' surfacing."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot.storage import repository as repo
from bot.storage.db import session_scope
from bot.storage.models import Answer, ChannelIdentity, Flag

THREADS = 8


def _together(fn) -> list[BaseException]:
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        barrier.wait()
        try:
            repo.run_with_retry(lambda: fn(n))
        except BaseException as exc:  # collected and asserted by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_first_contact_and_replays(storage: str) -> None:
    with session_scope() as db:
        student = repo.get_or_create_student(db, "rest", "seed")
        session_id = repo.start_session(db, student, "rest", "vmbo").id

    def write(n: int) -> None:
        with session_scope() as db:
            student = repo.get_or_create_student(db, "rest", "racer")
            gesprek = repo.get_session(db, session_id)
            repo.save_answer(db, gesprek, "terugkijken", "ervaring", "zelfde", "answer", "m1")
            repo.save_answer(db, gesprek, "terugkijken", "ervaring", f"eigen {n}", "answer",
                             f"own-{n}")
            repo.save_flag(db, student, gesprek, "uitval", "stoppen", "ik stop", "m1")

    assert _together(write) == []
    with session_scope() as db:
        def n(model, *where) -> int:
            return db.execute(select(func.count()).select_from(model).where(*where)
                              ).scalar_one()

        assert n(ChannelIdentity, ChannelIdentity.sender_id == "racer") == 1
        assert n(Answer, Answer.message_id == "m1") == 1
        assert n(Answer) == THREADS + 1
        assert n(Flag) == 1
