"""Retrying transient database errors (a restart, a dropped connection, a locked SQLite)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")


class StorageUnavailable(RuntimeError):
    """The database could not be reached, even after retrying."""


def is_transient(exc: BaseException) -> bool:
    """True for connection-level errors that may succeed when tried again."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or "database is locked" in str(exc)
    return False


def run_with_retry(fn: Callable[[], T], attempts: int = 3, delay: float = 0.2) -> T:
    """Call fn(); on a transient error wait (delay, 2*delay, ...) and try again.

    Raises StorageUnavailable after the last attempt; other errors propagate at once. fn must
    open its own transaction (session_scope) so that every attempt starts clean."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                log.error("storage.unavailable", extra={"attempts": attempts})
                raise StorageUnavailable(f"database unavailable after {attempts} attempts: "
                                         f"{type(exc).__name__}") from exc
            log.warning("storage.retry", extra={"attempt": attempt, "error": type(exc).__name__})
            time.sleep(delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # attempts < 1
