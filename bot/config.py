"""Runtime configuration from the environment, in one place (README: configuration reference)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.paths import VAR


def _number(name: str, default: float, cast: type = int) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return cast(raw)
    except ValueError as exc:
        kind = "a whole number" if cast is int else "a number"
        raise SystemExit(f"{name} must be {kind}, got {raw!r}") from exc


def _int(name: str, default: int) -> int:
    return int(_number(name, default, int))


def _float(name: str, default: float) -> float:
    return float(_number(name, default, float))


def secret(env_name: str, filename: str) -> str:
    """A shared secret: from the environment, else from var/<filename>, generated once
    (mode 0600) so that every process of this installation reads the same value."""
    value = os.environ.get(env_name, "").strip()
    if value:
        return value
    path = Path(os.environ.get("LOOPBAANCOACH_VAR") or VAR) / filename
    if path.exists():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    # hex: no "-" or "_", so the value is safe as a command-line argument and in a URL
    token = secrets.token_hex(32)
    # O_EXCL: when two processes start at once, one writes and the other reads its value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    actions_port: int
    portal_port: int
    host: str  # Rasa (channels) and the portal: reachable from the school network
    actions_host: str  # the action server: only Rasa calls it, so loopback by default
    database_url: str
    tracker_store_url: str
    redis_url: str | None
    # Sessions idle this long become `abandoned` (an `afgehaakt` flag for the mentor).
    abandon_after_hours: int
    abandon_paused_after_days: int
    max_message_chars: int  # longer student messages get a polite reply, not the NLU
    action_timeout_s: float  # Rasa waits this long for the action server, then apologises
    portal_origin: str  # the only origin allowed to call Rasa from a browser (CORS)
    var_dir: Path  # secrets, logs, process status (LOOPBAANCOACH_VAR; tests use their own)
    # Content-addressed caches (the fitted signal model): next to the code by default, so that
    # every copy of the data (a benchmark's snapshot, a test's own root) shares them.
    cache_dir: Path
    spool_file: Path  # writes kept while the database is down (bot.scheduled.spool)
    worker_interval_s: float  # how often the worker looks for due jobs
    worker_maintenance_s: float  # how often it abandons idle conversations and purges
    worker_lease_s: float  # how long a claimed job is the worker's (longer than any job's I/O)
    spacy_pipeline: str | None  # overrides config.yml's SpacyNLP model (bot.text.nlp)
    signals_use_nlp: bool  # lemma view of the signal rules (LOOPBAANCOACH_SIGNALS_NLP=0: off)
    signals_use_model: bool  # the learned signal model (LOOPBAANCOACH_SIGNALS_MODEL=0: off)
    competencies_spacy: bool  # lemma features for the competency classifier
    portal_session_minutes: float  # a portal login lasts this long without activity
    portal_cookie_secure: bool  # cookies only over https (PORTAL_COOKIE_SECURE=0 for http)
    portal_chat_idle_minutes: float  # the web chat forgets its chat id after this idle time

    @property
    def action_endpoint_url(self) -> str:
        return os.environ.get("ACTION_ENDPOINT_URL") or (
            f"http://127.0.0.1:{self.actions_port}/webhook"
        )

    @property
    def rasa_url(self) -> str:
        return os.environ.get("RASA_URL") or f"http://127.0.0.1:{self.rasa_port}"

    @property
    def rasa_api_token(self) -> str:
        """Token of Rasa's HTTP API (`?token=`); RASA_API_TOKEN or var/rasa_api_token."""
        return secret("RASA_API_TOKEN", "rasa_api_token")

    @property
    def action_server_secret(self) -> str:
        """Shared secret between Rasa and the action server; ACTION_SERVER_SECRET or
        var/action_server_secret."""
        return secret("ACTION_SERVER_SECRET", "action_server_secret")


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no", "nee", "off")


def _positive(name: str, default: float, minimum: float = 0.0) -> float:
    value = _float(name, default)
    return value if value > minimum else default


def settings() -> Settings:
    portal_port = _int("PORTAL_PORT", 8080)
    var_dir = Path(os.environ.get("LOOPBAANCOACH_VAR") or VAR)
    return Settings(
        rasa_port=_int("RASA_PORT", 5005),
        actions_port=_int("ACTIONS_PORT", 5055),
        portal_port=portal_port,
        host=os.environ.get("HOST", "0.0.0.0"),
        actions_host=os.environ.get("ACTIONS_HOST", "127.0.0.1"),
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{VAR / 'loopbaancoach.db'}",
        tracker_store_url=os.environ.get("TRACKER_STORE_URL")
        or f"sqlite:///{VAR / 'rasa_tracker.db'}",
        redis_url=os.environ.get("REDIS_URL") or None,
        abandon_after_hours=_int("ABANDON_AFTER_HOURS", 24),
        abandon_paused_after_days=_int("ABANDON_PAUSED_AFTER_DAYS", 30),
        max_message_chars=max(1, _int("MAX_MESSAGE_CHARS", 2000)),
        action_timeout_s=max(0.5, _float("ACTION_TIMEOUT_S", 10.0)),
        portal_origin=os.environ.get("PORTAL_ORIGIN") or f"http://localhost:{portal_port}",
        var_dir=var_dir,
        cache_dir=Path(os.environ.get("LOOPBAANCOACH_CACHE")
                       or Path(__file__).resolve().parent.parent / "var" / "cache"),
        spool_file=Path(os.environ.get("SPOOL_FILE") or VAR / "spool.jsonl"),
        worker_interval_s=_positive("WORKER_INTERVAL_S", 2.0),
        worker_maintenance_s=_positive("WORKER_MAINTENANCE_S", 60.0),
        worker_lease_s=_positive("WORKER_LEASE_S", 300.0),
        spacy_pipeline=os.environ.get("SPACY_PIPELINE") or None,
        signals_use_nlp=_flag("LOOPBAANCOACH_SIGNALS_NLP", True),
        signals_use_model=_flag("LOOPBAANCOACH_SIGNALS_MODEL", True),
        competencies_spacy=_flag("LOOPBAANCOACH_COMPETENCIES_SPACY", False),
        portal_session_minutes=max(1.0, _float("PORTAL_SESSION_MINUTES", 60.0)),
        portal_cookie_secure=_flag("PORTAL_COOKIE_SECURE", True),
        portal_chat_idle_minutes=_positive("PORTAL_CHAT_IDLE_MINUTES", 30.0),
    )


def secrets_main(argv: list[str] | None = None) -> int:
    """`bot secrets` (part of `make setup`): make sure both secrets exist; prints where."""
    cfg = settings()
    cfg.rasa_api_token, cfg.action_server_secret  # noqa: B018 - created on first read
    where = cfg.var_dir
    for what, env_name, filename in (("Rasa API token", "RASA_API_TOKEN", "rasa_api_token"),
                                     ("Action-server secret", "ACTION_SERVER_SECRET",
                                      "action_server_secret")):
        print(f"{what}: {env_name if os.environ.get(env_name) else where / filename}")
    return 0
