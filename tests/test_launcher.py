"""`bot run` (what `make run` starts): Rasa, the action server, the portal and the worker come
up (the servers on the configured ports), answer, and all stop cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bot.devservers import MODEL, free_port, http_json, isolated_env, upgrade_database
from bot.paths import ROOT

pytestmark = pytest.mark.rasa


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout
    return [int(p) for p, pp in (line.split() for line in out.splitlines()[1:]) if int(pp) == pid]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_run_starts_all_three_and_ctrl_c_stops_them(tmp_path) -> None:
    if not MODEL.exists():
        pytest.fail("No trained model: run `make test`.")
    env = isolated_env(tmp_path)
    upgrade_database(env)
    ports = {"RASA_PORT": free_port(), "ACTIONS_PORT": free_port(), "PORTAL_PORT": free_port()}
    env.update({k: str(v) for k, v in ports.items()}, HOST="127.0.0.1")
    env.pop("ACTION_ENDPOINT_URL", None)
    launcher = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("Ctrl-C stops all"):
            break
    assert any("Loopbaancoach runs" in line for line in output), "".join(output)
    children = _children(launcher.pid)
    assert len(children) == 4  # rasa, actions, portal, worker
    replies = http_json("POST", f"http://127.0.0.1:{ports['RASA_PORT']}/webhooks/rest/webhook",
                        {"sender": "launcher-test", "message": "hoi"})
    assert any("Loopbaancoach" in r.get("text", "") for r in replies)
    health = http_json("GET", f"http://127.0.0.1:{ports['PORTAL_PORT']}/health")
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["processes"]["worker"]["state"] == "up" and "due" in health["jobs"]
    # Rasa's API wants the token the launcher generated under var/
    token = (tmp_path / "rasa_api_token").read_text().strip()
    with pytest.raises(Exception, match="401"):
        http_json("GET", f"http://127.0.0.1:{ports['RASA_PORT']}/conversations/x/tracker")
    http_json("GET", f"http://127.0.0.1:{ports['RASA_PORT']}/status?token={token}")
    # a crashed action server is restarted, and /health shows it
    actions = next(pid for pid in children if "bot.rasa_plugins.action_server" in _cmdline(pid))
    os.kill(actions, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processes = http_json("GET", f"http://127.0.0.1:{ports['PORTAL_PORT']}/health")[
            "processes"]
        if processes["actions"]["restarts"] >= 1 and processes["actions"]["state"] == "up":
            break
        time.sleep(0.5)
    assert processes["actions"]["restarts"] == 1 and processes["actions"]["state"] == "up"
    assert processes["rasa"]["state"] == "up" and processes["rasa"]["restarts"] == 0
    replies = http_json("POST", f"http://127.0.0.1:{ports['RASA_PORT']}/webhooks/rest/webhook",
                        {"sender": "launcher-test-2", "message": "hoi"})
    assert any("Loopbaancoach" in r.get("text", "") for r in replies)
    children = _children(launcher.pid)
    launcher.send_signal(signal.SIGINT)
    rest = launcher.communicate(timeout=60)[0]
    assert launcher.returncode == 0, rest
    assert "stopped." in rest
    time.sleep(0.5)
    assert not [pid for pid in children if _alive(pid)]
