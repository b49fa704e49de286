"""Starting a real Rasa server and action server on free ports with their own databases:
used by the tests and the benchmarks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import settings
from bot.paths import ROOT
from bot.processes import MODEL, actions_argv, rasa_argv, server_env

__all__ = ["MODEL", "ServerExited", "Servers", "free_port", "http_json", "isolated_env",
           "log_tail", "upgrade_database", "wait_until_up"]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(method: str, url: str, body: object | None = None, timeout: float = 60,
              headers: dict[str, str] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


class ServerExited(RuntimeError):
    """A server process ended before it answered (a taken port, a broken model, ...)."""


def wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float = 240,
                  log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            if p.poll() is not None:
                tail = f"\n--- {log} (end) ---\n{log_tail(log)}" if log else ""
                raise ServerExited(f"server exited with {p.returncode}: {p.args}{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TimeoutError(url)


def log_tail(log: Path, lines: int = 40) -> str:
    """The last lines of a server log (startup output only: no conversation text is logged)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Servers:
    """Rasa (REST channel + API) and the action server, restartable with the same data."""

    workdir: Path
    env: dict[str, str]
    rasa_instances: int = 1  # >1: scale-out (needs a shared tracker store and REDIS_URL)
    credentials: Path | None = None  # Rasa's channels; None: the project's credentials.yml
    actions_port: int = field(default_factory=free_port)
    rasa_ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    actions: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.rasa_ports = self.rasa_ports or [free_port() for _ in range(self.rasa_instances)]

    @property
    def rasa_url(self) -> str:
        return self.url(0)

    def url(self, instance: int) -> str:
        return f"http://127.0.0.1:{self.rasa_ports[instance]}"

    def start(self, attempts: int = 3) -> None:
        """Start both servers. A server that exits during startup is retried on fresh ports:
        a free port picked here can be taken by another process before the server binds it."""
        for attempt in range(1, attempts + 1):
            try:
                self.start_actions()
                self.start_rasa()
                return
            except ServerExited:
                self.stop()
                if attempt == attempts:
                    raise
                self.actions_port = free_port()
                self.rasa_ports = [free_port() for _ in self.rasa_ports]

    def _settings(self):  # noqa: ANN202 - bot.config.Settings of this installation
        old = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            return settings()
        finally:
            os.environ.clear()
            os.environ.update(old)

    def _popen(self, argv: list[str]) -> subprocess.Popen:
        cfg = self._settings()
        env = server_env(cfg, self.env, actions_port=self.actions_port)
        log = open(self.log, "ab")  # noqa: SIM115
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    @property
    def log(self) -> Path:
        return self.workdir / "servers.log"

    def start_actions(self) -> None:
        cfg = self._settings()
        self.actions = self._popen(actions_argv(cfg, self.actions_port, host="127.0.0.1"))
        self.processes.append(self.actions)
        wait_until_up(f"http://127.0.0.1:{self.actions_port}/health", [self.actions],
                      log=self.log)

    def start_rasa(self) -> None:
        cfg = self._settings()
        started = [self._popen(self._rasa_argv(cfg, port)) for port in self.rasa_ports]
        self.processes += started
        for n in range(len(self.rasa_ports)):
            wait_until_up(f"{self.url(n)}/status?token={cfg.rasa_api_token}", started,
                          log=self.log)

    def _rasa_argv(self, cfg, port: int) -> list[str]:  # noqa: ANN001 - bot.config.Settings
        argv = rasa_argv(cfg, port, interface="127.0.0.1")
        if self.credentials is not None:
            argv[argv.index("--credentials") + 1] = str(self.credentials)
        return argv

    def stop_actions(self) -> None:
        """Kill the action server (a crash), keeping Rasa running."""
        if self.actions is not None and self.actions.poll() is None:
            os.killpg(self.actions.pid, signal.SIGKILL)
            self.actions.wait()
        if self.actions in self.processes:
            self.processes.remove(self.actions)
        self.actions = None

    @property
    def token(self) -> str:
        return self._settings().rasa_api_token

    def stop(self) -> None:
        """Rasa first, then the action server (as a deployment stops them): a turn in flight
        is then finished or dropped whole by Rasa, never half-answered with an apology
        because its action server went away first."""
        rasa = [p for p in self.processes if p is not self.actions]
        for group in (rasa, [self.actions] if self.actions is not None else []):
            for p in group:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            for p in group:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        self.processes = []
        self.actions = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def say(self, sender: str, text: str, instance: int = 0,
            message_id: str | None = None) -> list[str]:
        """Send a message over the REST channel; the bot's reply texts."""
        body = {"sender": sender, "message": text}
        if message_id:
            body["message_id"] = message_id
        replies = http_json("POST", f"{self.url(instance)}/webhooks/rest/webhook", body)
        return [r["text"] for r in replies if r.get("text")]  # type: ignore[union-attr,index]

    def post(self, path: str, raw: bytes, instance: int = 0,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """POST raw bytes to Rasa; (status, body), also for error statuses."""
        request = urllib.request.Request(f"{self.url(instance)}{path}", data=raw, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def tracker(self, sender: str) -> dict:
        return http_json(  # type: ignore[return-value]
            "GET", f"{self.rasa_url}/conversations/{sender}/tracker?token={self.token}")


def isolated_env(workdir: Path) -> dict[str, str]:
    """Environment for servers that keep all their data under `workdir` (SQLite)."""
    env = dict(os.environ,
               DATABASE_URL=f"sqlite:///{workdir / 'app.db'}",
               TRACKER_STORE_URL=f"sqlite:///{workdir / 'tracker.db'}",
               SPOOL_FILE=str(workdir / "spool.jsonl"),
               LOOPBAANCOACH_VAR=str(workdir),
               RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("REDIS_URL", None)
    return env


def upgrade_database(env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "python"), "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
