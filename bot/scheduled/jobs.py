"""Background jobs, for operators and the action server. The jobs themselves are run by
`bot worker` (bot.scheduled.worker, from the `jobs` table); here:

- `bot jobs run [--now 2026-05-04T10:00]`: everything due at that moment, once (operations,
  tests, cron without a worker). A time without zone is Europe/Amsterdam. `bot jobs` alone
  is the same for the current time.
- `dispatch_urgent()`: an urgent flag's e-mail goes out at once, from the action server,
  through the same claim as the worker's (so it is sent exactly once); if this process dies
  mid-send, the worker takes the job over when its lease expires."""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.scheduled import worker

log = logging.getLogger(__name__)
LOCAL = ZoneInfo("Europe/Amsterdam")


def parse_now(text: str) -> datetime:
    """ISO 8601; a naive time is Europe/Amsterdam."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=LOCAL) if moment.tzinfo is None else moment


def run_due(now: datetime | None = None) -> dict[str, int]:
    return worker.run_due(now, worker_id=f"jobs-run:{worker.default_worker_id()}")


def dispatch_urgent() -> None:
    """Send due notifications now, without delaying the reply (a daemon thread)."""

    def run() -> None:
        try:
            worker.run_due(worker_id=f"urgent:{os.getpid()}", kinds=("notify",),
                           maintain=False)
        except Exception as exc:  # noqa: BLE001 - the worker sends it on its next tick
            log.warning("jobs.urgent_dispatch_failed", extra={"error": type(exc).__name__})

    threading.Thread(target=run, name="urgent-notify", daemon=True).start()


def run_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot jobs run",
                                     description="run everything due at a moment, once")
    parser.add_argument("--now", type=parse_now, default=None,
                        help="e.g. 2026-05-04T10:00 (Europe/Amsterdam unless a zone is given)")
    args = parser.parse_args(argv or [])
    worker.setup_logging()
    print(json.dumps(run_due(args.now), sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(argv)
