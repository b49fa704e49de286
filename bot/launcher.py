"""`bot run` (make run): starts Rasa, the action server, the portal and the background worker,
restarts a process that crashes (with backoff, logged, visible on the portal's /health), and
stops them all cleanly on Ctrl-C."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import settings
from bot.paths import ROOT, VAR
from bot.processes import (
    MODEL,
    actions_argv,
    portal_argv,
    rasa_argv,
    server_env,
    worker_argv,
)

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_S = 240  # Rasa loads TensorFlow and the model: ~20-60 s on a small machine
BACKOFF_S = (1, 2, 5, 10, 30, 60)  # waits before the 1st, 2nd, ... restart in a row
STABLE_AFTER_S = 120  # up this long: the next crash starts the backoff from the beginning
ALIVE_AFTER_S = 2.0  # a process without an HTTP health check is up once it lived this long


def status_file() -> Path:
    return settings().var_dir / "run" / "processes.json"


@dataclass
class Service:
    name: str
    argv: list[str]
    health_url: str | None  # None: no HTTP server (the worker); up once it stays alive
    process: subprocess.Popen | None = None
    restarts: int = 0
    crashes_in_a_row: int = 0
    started_at: float = 0.0
    restart_at: float | None = None  # crashed: when to start it again
    last_exit: int | None = None
    state: str = "starting"
    history: list[str] = field(default_factory=list)


def services() -> list[Service]:
    cfg = settings()
    return [
        Service("actions", actions_argv(cfg, cfg.actions_port),
                f"http://127.0.0.1:{cfg.actions_port}/health"),
        Service("rasa", rasa_argv(cfg, cfg.rasa_port), f"http://127.0.0.1:{cfg.rasa_port}/"),
        Service("portal", portal_argv(cfg, cfg.portal_port),
                f"http://127.0.0.1:{cfg.portal_port}/health"),
        Service("worker", worker_argv(cfg), None),
    ]


def child_env() -> dict[str, str]:
    return server_env(settings())


def _healthy(url: str | None, alive_s: float = 0.0) -> bool:
    if url is None:
        return alive_s >= ALIVE_AFTER_S
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def write_status(running: list[Service]) -> None:
    """What /health shows about the processes (no student data)."""
    path = status_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {s.name: {"state": s.state, "restarts": s.restarts, "last_exit": s.last_exit,
                     "pid": s.process.pid if s.process and s.process.poll() is None else None}
            for s in running}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def _log_path(name: str) -> Path:
    return VAR / "log" / f"{name}.log"


def _spawn(service: Service, env: dict[str, str]) -> None:
    logfile = open(_log_path(service.name), "ab")  # noqa: SIM115
    # Own process group: Ctrl-C reaches us once, and we stop each child in turn.
    service.process = subprocess.Popen(service.argv, cwd=ROOT, env=env, stdout=logfile,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    service.started_at = time.monotonic()
    service.state = "starting"


def _last_log_line(name: str, limit: int = 200) -> str:
    """The last line a crashed process wrote (usually its error), so the console says why."""
    try:
        with open(_log_path(name), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    last = next((line for line in reversed(lines) if line), "")
    return last[:limit]


def supervise_once(running: list[Service], env: dict[str, str], now: float) -> list[str]:
    """One round of supervision: notice crashes, schedule and carry out restarts. Returns
    the lines to print."""
    said: list[str] = []
    for service in running:
        process = service.process
        if service.restart_at is not None:
            if now >= service.restart_at:
                service.restart_at = None
                service.restarts += 1
                _spawn(service, env)
                said.append(f"==> restarting {service.name} (restart {service.restarts})")
            continue
        if process is None:
            continue
        if process.poll() is not None:
            service.last_exit = process.returncode
            if now - service.started_at >= STABLE_AFTER_S:
                service.crashes_in_a_row = 0
            wait = BACKOFF_S[min(service.crashes_in_a_row, len(BACKOFF_S) - 1)]
            service.crashes_in_a_row += 1
            service.restart_at = now + wait
            service.state = "restarting"
            log.error("launcher.crashed", extra={"service": service.name,
                                                 "exit": process.returncode})
            said.append(f"!! {service.name} stopped (exit {process.returncode}); restarting in "
                        f"{wait}s. See var/log/{service.name}.log")
            if last := _last_log_line(service.name):
                said.append(f"   {last}")
        elif service.state != "up" and _healthy(service.health_url,
                                                now - service.started_at):
            service.state = "up"
            said.append(f"    {service.name} is up ({now - service.started_at:.0f}s)")
    return said


def stop(running: list[Service], grace_s: float = 15.0) -> None:
    for service in running:
        if service.process and service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for service in running:
        if service.process is None:
            continue
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not MODEL.exists():
        print(f"No trained model at {MODEL}. Run `make run` (it trains one) or `make train`.")
        return 1
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    running = services()
    env = child_env()
    interrupted = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for service in running:
            _spawn(service, env)
            print(f"==> starting {service.name} (log: var/log/{service.name}.log)")
        started = time.monotonic()
        announced = False
        while not interrupted:
            for line in supervise_once(running, env, time.monotonic()):
                print(line, flush=True)
            write_status(running)
            if not announced and all(s.state == "up" for s in running):
                announced = True
                cfg = settings()
                print(f"\nLoopbaancoach runs.\n"
                      f"  Rasa:    http://localhost:{cfg.rasa_port}/webhooks/rest/webhook\n"
                      f"  Portal:  http://localhost:{cfg.portal_port}/  (web chat: /chat)\n"
                      f"  Actions: 127.0.0.1:{cfg.actions_port} (loopback only)\n"
                      f"  Worker:  background jobs (log: var/log/worker.log)\n"
                      f"Ctrl-C stops all four.", flush=True)
            if not announced and time.monotonic() - started > STARTUP_TIMEOUT_S:
                pending = ", ".join(s.name for s in running if s.state != "up")
                print(f"!! start-up timed out: {pending}")
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("==> stopping ...")
        stop(running)
        for service in running:
            service.state = "stopped"
        write_status(running)
        print("    stopped.")


if __name__ == "__main__":
    sys.exit(main())
