"""A local append-only file of writes that could not reach the database, replayed in order
once it is back. It keeps student data on this machine's disk only (var/), and is emptied as
soon as it has been replayed."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import settings

log = logging.getLogger(__name__)
_lock = threading.Lock()


def spool_file() -> Path:
    return settings().spool_file


def append(operation: str, kwargs: dict[str, Any]) -> None:
    path = spool_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"op": operation, "kwargs": kwargs}, default=str, ensure_ascii=False)
    with _lock, path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def pending() -> list[dict[str, Any]]:
    path = spool_file()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def rejected_file() -> Path:
    return spool_file().with_suffix(".rejected.jsonl")


def replay(apply: Callable[[str, dict[str, Any]], Any]) -> int:
    """Apply spooled writes in order. The database still down: stop and keep the rest.
    A write the database refuses for another reason moves to the rejected file (kept for an
    operator, logged) so that it does not block the writes behind it."""
    from bot.storage.retry import StorageUnavailable, is_transient

    path = spool_file()
    if not path.exists():
        return 0
    with _lock:
        entries = pending()
        done = 0
        try:
            for entry in entries:
                try:
                    apply(entry["op"], entry["kwargs"])
                except Exception as exc:
                    if isinstance(exc, StorageUnavailable) or is_transient(exc):
                        raise
                    with rejected_file().open("a", encoding="utf-8") as rejected:
                        rejected.write(json.dumps({**entry, "error": type(exc).__name__},
                                                  ensure_ascii=False) + "\n")
                    log.error("spool.rejected", extra={"operation": entry["op"],
                                                       "error": type(exc).__name__})
                done += 1
        finally:
            rest = entries[done:]
            if rest:
                path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in rest),
                                encoding="utf-8")
            else:
                path.unlink(missing_ok=True)
        if done:
            log.info("spool.replayed", extra={"count": done})
        return done


def discard_sender(sender_id: str) -> None:
    """A student asked to delete their data: drop their spooled writes too."""
    path = spool_file()
    if not path.exists():
        return
    with _lock:
        keep = [e for e in pending() if e["kwargs"].get("sender_id") != sender_id]
        path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in keep),
                        encoding="utf-8")
