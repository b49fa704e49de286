"""`bot run` (make run): starts Rasa, the action server and the portal, and stops all three
cleanly on Ctrl-C or when one of them dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from bot.config import settings
from bot.paths import MODELS, ROOT, VAR

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_S = 240  # Rasa loads TensorFlow and the model: ~20-60 s on a small machine


@dataclass
class Service:
    name: str
    argv: list[str]
    health_url: str
    process: subprocess.Popen | None = None


def _bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def services() -> list[Service]:
    cfg = settings()
    host = cfg.host
    return [
        Service("actions", [_bin("rasa"), "run", "actions", "--actions", "actions",
                            "--port", str(cfg.actions_port)],
                f"http://127.0.0.1:{cfg.actions_port}/health"),
        Service("rasa", [_bin("rasa"), "run", "--enable-api", "--cors", "*",
                         "--interface", host, "--port", str(cfg.rasa_port),
                         "--model", str(MODELS / "loopbaancoach.tar.gz"),
                         "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"],
                f"http://127.0.0.1:{cfg.rasa_port}/"),
        Service("portal", [sys.executable, "-m", "bot.portal", "--host", host,
                           "--port", str(cfg.portal_port)],
                f"http://127.0.0.1:{cfg.portal_port}/health"),
    ]


def child_env() -> dict[str, str]:
    cfg = settings()
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["ACTION_ENDPOINT_URL"] = cfg.action_endpoint_url
    env["RASA_URL"] = cfg.rasa_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


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
    model = MODELS / "loopbaancoach.tar.gz"
    if not model.exists():
        print(f"No trained model at {model}. Run `make run` (it trains one) or `make train`.")
        return 1
    VAR.mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(exist_ok=True)
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
            logfile = open(VAR / "log" / f"{service.name}.log", "ab")  # noqa: SIM115
            # Own process group: Ctrl-C reaches us once, and we stop each child in turn.
            service.process = subprocess.Popen(service.argv, cwd=ROOT, env=env,
                                               stdout=logfile, stderr=subprocess.STDOUT,
                                               start_new_session=True)
            print(f"==> starting {service.name} (log: var/log/{service.name}.log)")
        started = time.monotonic()
        pending = list(running)
        while pending and not interrupted:
            for service in list(pending):
                if service.process.poll() is not None:
                    print(f"!! {service.name} stopped during start-up "
                          f"(exit {service.process.returncode}); see var/log/{service.name}.log")
                    return 1
                if _healthy(service.health_url):
                    pending.remove(service)
                    print(f"    {service.name} is up ({time.monotonic() - started:.0f}s)")
            if time.monotonic() - started > STARTUP_TIMEOUT_S:
                print("!! start-up timed out: " + ", ".join(s.name for s in pending))
                return 1
            time.sleep(0.5)
        if not interrupted:
            cfg = settings()
            print(f"\nLoopbaancoach runs.\n"
                  f"  Rasa:    http://localhost:{cfg.rasa_port}/webhooks/rest/webhook\n"
                  f"  Actions: http://localhost:{cfg.actions_port}/health\n"
                  f"  Portal:  http://localhost:{cfg.portal_port}/  (web chat: /chat)\n"
                  f"Ctrl-C stops all three.")
        while not interrupted:
            for service in running:
                if service.process.poll() is not None:
                    print(f"!! {service.name} stopped (exit {service.process.returncode}); "
                          f"stopping the others. See var/log/{service.name}.log")
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        print("==> stopping ...")
        stop(running)
        print("    stopped.")


if __name__ == "__main__":
    sys.exit(main())
