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

from bot.paths import MODELS, ROOT

MODEL = MODELS / "loopbaancoach.tar.gz"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(method: str, url: str, body: object | None = None, timeout: float = 60) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            if p.poll() is not None:
                raise RuntimeError(f"server exited with {p.returncode}: {p.args}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TimeoutError(url)


@dataclass
class Servers:
    """Rasa (REST channel + API) and the action server, restartable with the same data."""

    workdir: Path
    env: dict[str, str]
    rasa_instances: int = 1  # >1: scale-out (needs a shared tracker store and REDIS_URL)
    actions_port: int = field(default_factory=free_port)
    rasa_ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rasa_ports = self.rasa_ports or [free_port() for _ in range(self.rasa_instances)]

    @property
    def rasa_url(self) -> str:
        return self.url(0)

    def url(self, instance: int) -> str:
        return f"http://127.0.0.1:{self.rasa_ports[instance]}"

    def start(self) -> None:
        env = dict(self.env, ACTION_ENDPOINT_URL=f"http://127.0.0.1:{self.actions_port}/webhook")
        log = open(self.workdir / "servers.log", "ab")  # noqa: SIM115
        common = dict(cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                      start_new_session=True)
        actions = subprocess.Popen([str(BIN / "rasa"), "run", "actions", "--actions", "actions",
                                    "--port", str(self.actions_port)], **common)
        self.processes = [actions] + [
            subprocess.Popen([str(BIN / "rasa"), "run", "--enable-api", "--port", str(port),
                              "--model", str(MODEL), "--endpoints", "endpoints.yml",
                              "--credentials", "credentials.yml"], **common)
            for port in self.rasa_ports
        ]
        wait_until_up(f"http://127.0.0.1:{self.actions_port}/health", self.processes)
        for n in range(len(self.rasa_ports)):
            wait_until_up(f"{self.url(n)}/status", self.processes)

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.processes = []

    def restart(self) -> None:
        self.stop()
        self.start()

    def say(self, sender: str, text: str, instance: int = 0) -> list[str]:
        """Send a message over the REST channel; the bot's reply texts."""
        replies = http_json("POST", f"{self.url(instance)}/webhooks/rest/webhook",
                            {"sender": sender, "message": text})
        return [r.get("text", "") for r in replies]  # type: ignore[union-attr]

    def tracker(self, sender: str) -> dict:
        return http_json("GET", f"{self.rasa_url}/conversations/{sender}/tracker")  # type: ignore[return-value]


def isolated_env(workdir: Path) -> dict[str, str]:
    """Environment for servers that keep all their data under `workdir` (SQLite)."""
    env = dict(os.environ,
               DATABASE_URL=f"sqlite:///{workdir / 'app.db'}",
               TRACKER_STORE_URL=f"sqlite:///{workdir / 'tracker.db'}",
               SPOOL_FILE=str(workdir / "spool.jsonl"),
               RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("REDIS_URL", None)
    return env


def upgrade_database(env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "python"), "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
