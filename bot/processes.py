"""How the servers and the worker are started: one place for their command lines and environment,
used by `make run` (bot.launcher), the tests and the benchmarks (bot.devservers).

Security defaults live here: Rasa's HTTP API needs its token (`--auth-token`), answers
browsers only from the portal's origin (`--cors`), and the action server listens on
loopback and wants the shared secret (bot.rasa_plugins.action_server)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.config import Settings
from bot.paths import MODELS, ROOT

MODEL = MODELS / "loopbaancoach.tar.gz"
# Sanic's own limit on a request body (Rasa's default is 100 MB). Text longer than
# MAX_MESSAGE_CHARS is answered politely by the channel; this bounds what is read at all.
REQUEST_MAX_BYTES = 256 * 1024


def _bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def rasa_argv(cfg: Settings, port: int, interface: str | None = None,
              model: Path = MODEL) -> list[str]:
    # `--opt=value`: a generated token may begin with "-", which argparse would take for an
    # option (Rasa then exits with a usage error, code 2).
    return [_bin("rasa"), "run", "--enable-api", f"--auth-token={cfg.rasa_api_token}",
            f"--cors={cfg.portal_origin}", "--interface", interface or cfg.host,
            "--port", str(port), "--model", str(model),
            "--endpoints", str(ROOT / "endpoints.yml"),
            "--credentials", str(ROOT / "credentials.yml")]


def actions_argv(cfg: Settings, port: int, host: str | None = None) -> list[str]:
    return [sys.executable, "-m", "bot.rasa_plugins.action_server",
            "--host", host or cfg.actions_host, "--port", str(port)]


def portal_argv(cfg: Settings, port: int, host: str | None = None) -> list[str]:
    return [sys.executable, "-m", "bot.portal", "--host", host or cfg.host, "--port", str(port)]


def worker_argv(cfg: Settings) -> list[str]:
    """`bot worker`: background jobs (notifications, abandoned sessions; bot.scheduled.worker)."""
    del cfg  # same signature as the others; the worker reads its settings from the env
    return [sys.executable, "-m", "bot.cli", "worker"]


def server_env(cfg: Settings, base: dict[str, str] | None = None,
               actions_port: int | None = None) -> dict[str, str]:
    """The environment of every server process of one installation."""
    env = dict(os.environ if base is None else base)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["ACTION_ENDPOINT_URL"] = (f"http://127.0.0.1:{actions_port}/webhook" if actions_port
                                  else cfg.action_endpoint_url)
    env["ACTION_SERVER_SECRET"] = cfg.action_server_secret
    env["RASA_API_TOKEN"] = cfg.rasa_api_token
    env["RASA_URL"] = env.get("RASA_URL") or cfg.rasa_url
    env["SANIC_REQUEST_MAX_SIZE"] = str(REQUEST_MAX_BYTES)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
