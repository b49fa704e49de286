"""Runtime configuration from the environment, in one place (README: configuration reference)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from bot.paths import VAR


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    actions_port: int
    portal_port: int
    host: str
    database_url: str
    tracker_store_url: str
    redis_url: str | None
    # Sessions idle this long become `abandoned` (an `afgehaakt` flag for the mentor).
    abandon_after_hours: int
    abandon_paused_after_days: int

    @property
    def action_endpoint_url(self) -> str:
        return os.environ.get("ACTION_ENDPOINT_URL") or (
            f"http://127.0.0.1:{self.actions_port}/webhook"
        )

    @property
    def rasa_url(self) -> str:
        return os.environ.get("RASA_URL") or f"http://127.0.0.1:{self.rasa_port}"


def settings() -> Settings:
    return Settings(
        rasa_port=_int("RASA_PORT", 5005),
        actions_port=_int("ACTIONS_PORT", 5055),
        portal_port=_int("PORTAL_PORT", 8080),
        host=os.environ.get("HOST", "0.0.0.0"),
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{VAR / 'loopbaancoach.db'}",
        tracker_store_url=os.environ.get("TRACKER_STORE_URL")
        or f"sqlite:///{VAR / 'rasa_tracker.db'}",
        redis_url=os.environ.get("REDIS_URL") or None,
        abandon_after_hours=_int("ABANDON_AFTER_HOURS", 24),
        abandon_paused_after_days=_int("ABANDON_PAUSED_AFTER_DAYS", 30),
    )
