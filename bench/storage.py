"""Write throughput of the application database: the embedded default (SQLite) against
PostgreSQL, through the same service functions the actions use."""

from __future__ import annotations

import os
import tempfile
import time
import uuid

from bench.table import print_table

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPLIES = 300


def _measure(url: str) -> tuple[float, float]:
    from bot import service
    from bot.storage import db, migrate

    migrate.upgrade(url)
    db.configure(url)
    sender = f"bench-{uuid.uuid4().hex[:8]}"
    session_id = service.start_session("rest", sender, "vmbo")
    start = time.perf_counter()
    for n in range(REPLIES):
        service.save_reply(channel="rest", sender_id=sender, session_id=session_id,
                           step="reflecteren", question_key="goed_gedaan",
                           text=f"ik bleef rustig toen het druk was {n}", kind="answer",
                           message_id=f"{sender}-{n}", competencies=["kwaliteiten"],
                           method="bench")
    writes = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(REPLIES // 3):
        service.student_view("rest", sender)
    reads = time.perf_counter() - start
    return REPLIES / writes, (REPLIES // 3) / reads


def run() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(["SQLite (embedded default)", *_measure(f"sqlite:///{tmp}/bench.db")])
    try:
        rows.append(["PostgreSQL", *_measure(POSTGRES_URL)])
    except Exception as exc:  # no server here: report it, the SQLite row still counts
        print(f"PostgreSQL skipped: {type(exc).__name__}: {exc}")
    print_table(["database", "answers stored/s", "student views/s"], rows)
    if len(rows) == 2:
        print(f"PostgreSQL / SQLite write ratio: {rows[1][1] / rows[0][1]:.2f}")
