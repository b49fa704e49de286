"""Scheduled jobs: sessions that were left become `abandoned` (flag `afgehaakt`), and due
mentor notifications are sent. The portal runs `run_due` every minute; `bot jobs` runs it
once (for cron)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from bot import notify, service
from bot.config import settings
from bot.storage.db import session_scope

log = logging.getLogger(__name__)
INTERVAL_S = 60


def deliver_notifications() -> dict[str, int]:
    with session_scope() as db:
        return notify.deliver_due(db)


def run_due() -> dict[str, int]:
    cfg = settings()
    replayed = service.replay_spool()  # writes kept while the database was down
    abandoned = service.abandon_stale_sessions(
        timedelta(hours=cfg.abandon_after_hours),
        paused_older_than=timedelta(days=cfg.abandon_paused_after_days))
    counts = deliver_notifications()
    result = {"replayed": replayed, "abandoned": abandoned, **counts}
    if abandoned or any(counts.values()):
        log.info("jobs.ran", extra=result)
    return result


def deliver_in_background() -> None:
    """Urgent notifications must not wait for the next scheduled run, nor delay the reply."""

    def run() -> None:
        try:
            deliver_notifications()
        except Exception:
            log.exception("jobs.delivery_failed")

    threading.Thread(target=run, name="notify", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO)
    print(run_due())
    return 0
