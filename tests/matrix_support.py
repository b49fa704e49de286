"""A real Matrix homeserver for the tests (Synapse from its own venv, made by
scripts/ensure_synapse.sh) and a student's Matrix client over the client-server API."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bot.devservers import free_port
from bot.paths import ROOT

SYNAPSE_PYTHON = ROOT / "var" / "tools" / "synapse-venv" / "bin" / "python"
SERVER_NAME = "school.test"
_LIMIT = {"per_second": 1000, "burst_count": 1000}


def call(method: str, url: str, body: Any = None, token: str | None = None,
         timeout: float = 60) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


class Homeserver:
    """Synapse on loopback with a throw-away config (sqlite, no federation, no key servers,
    rate limits relaxed), restartable with the same data."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        config = workdir / "homeserver.yaml"
        subprocess.run([str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "--server-name",
                        SERVER_NAME, "--config-path", str(config), "--generate-config",
                        "--report-stats=no", "--data-directory", str(workdir)],
                       cwd=workdir, check=True, capture_output=True, timeout=120)
        overrides = {
            "listeners": [{"port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http",
                           "tls": False, "x_forwarded": False,
                           "resources": [{"names": ["client"], "compress": False}]}],
            "database": {"name": "sqlite3", "args": {"database": str(workdir / "hs.db")}},
            "registration_shared_secret": self.secret,
            "enable_registration": False,
            "trusted_key_servers": [], "suppress_key_server_warning": True,
            "presence": {"enabled": False}, "url_preview_enabled": False,
            "rc_message": _LIMIT, "rc_registration": _LIMIT, "rc_room_creation": _LIMIT,
            "rc_joins": {"local": _LIMIT, "remote": _LIMIT}, "rc_joins_per_room": _LIMIT,
            "rc_invites": {"per_room": _LIMIT, "per_user": _LIMIT, "per_issuer": _LIMIT},
            "rc_login": {"address": _LIMIT, "account": _LIMIT, "failed_attempts": _LIMIT},
        }
        (workdir / "overrides.yaml").write_text(json.dumps(overrides))  # JSON is YAML
        self.argv = [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", str(config),
                     "-c", str(workdir / "overrides.yaml")]

    def start(self, timeout: float = 90) -> None:
        log = open(self.workdir / "synapse.out", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(self.argv, cwd=self.workdir, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited with {self.process.returncode}; see "
                                   f"{self.workdir / 'synapse.out'}")
            try:
                call("GET", f"{self.url}/_matrix/client/versions", timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise TimeoutError("Synapse did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def register(self, localpart: str, password: str) -> str:
        """A user through the shared-secret admin API; their user id."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        nonce = call("GET", endpoint)["nonce"]
        mac = hmac.new(self.secret.encode(), b"\x00".join(
            [nonce.encode(), localpart.encode(), password.encode(), b"notadmin"]),
            hashlib.sha1).hexdigest()
        done = call("POST", endpoint, {"nonce": nonce, "username": localpart,
                                       "password": password, "admin": False, "mac": mac})
        return done["user_id"]


class Student:
    """A student's Matrix client: logs in, opens a direct chat with the coach, writes, and
    reads the coach's answer (complete when the coach's typing notice has ended)."""

    def __init__(self, homeserver: Homeserver, localpart: str | None = None) -> None:
        self.hs = homeserver
        localpart = localpart or f"leerling-{uuid.uuid4().hex[:8]}"
        password = secrets.token_hex(8)
        self.user_id = homeserver.register(localpart, password)
        self.token = call("POST", f"{self.base}/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
            "password": password})["access_token"]
        self.room_id: str | None = None
        self.since: str | None = None
        self.coach_typing = False
        self.sync()  # from now on

    @property
    def base(self) -> str:
        return f"{self.hs.url}/_matrix/client/v3"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> dict:
        return call(method, self.base + path, body, self.token, timeout)

    def open_chat(self, coach: str, encrypted: bool = False) -> str:
        """A direct chat with the coach, as a chat app makes one: a private room with the
        coach invited and marked as direct."""
        body: dict[str, Any] = {"preset": "trusted_private_chat", "is_direct": True,
                                "invite": [coach]}
        if encrypted:
            body["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        self.room_id = self.api("POST", "/createRoom", body)["room_id"]
        return self.room_id

    def send(self, text: str) -> str:
        assert self.room_id is not None
        path = (f"/rooms/{urllib.parse.quote(self.room_id)}/send/m.room.message/"
                f"{uuid.uuid4().hex}")
        return self.api("PUT", path, {"msgtype": "m.text", "body": text})["event_id"]

    def sync(self, timeout_ms: int = 0) -> dict[str, Any]:
        """One sync (retried while the homeserver restarts); the new room events of the
        student's room and the coach's typing state are taken in."""
        query = {"timeout": str(timeout_ms)}
        if self.since:
            query["since"] = self.since
        deadline = time.monotonic() + 120
        while True:
            try:
                data = self.api("GET", "/sync?" + urllib.parse.urlencode(query),
                                timeout=timeout_ms / 1000 + 30)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.since = data["next_batch"]
        return (data.get("rooms", {}).get("join", {}).get(self.room_id or "", {})
                if self.room_id else {})

    def replies(self, coach: str, timeout: float = 90, at_least: int = 1) -> list[str]:
        """The coach's messages from now until its typing notice ends."""
        texts: list[str] = []
        typing_after_last: bool | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            room = self.sync(timeout_ms=5000)
            new = [e["content"].get("body", "") for e in room.get("timeline", {}).get("events", [])
                   if e.get("sender") == coach and e.get("type") == "m.room.message"]
            typing = [e["content"].get("user_ids", []) for e in
                      room.get("ephemeral", {}).get("events", []) if e.get("type") == "m.typing"]
            if new:
                texts += new
                typing_after_last = None
            if typing:
                self.coach_typing = coach in typing[-1]
                typing_after_last = self.coach_typing
            if len(texts) >= at_least and typing_after_last is False:
                return texts
        raise TimeoutError(f"no complete answer from the coach; so far {texts!r}")

    def say(self, coach: str, text: str) -> list[str]:
        self.send(text)
        return self.replies(coach)

    def wait_for(self, coach: str, fragment: str, timeout: float = 60) -> list[str]:
        """The coach's messages until one contains `fragment` (a message it wrote first)."""
        texts: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            room = self.sync(timeout_ms=3000)
            texts += [e["content"].get("body", "") for e in
                      room.get("timeline", {}).get("events", [])
                      if e.get("sender") == coach and e.get("type") == "m.room.message"]
            if any(fragment in t for t in texts):
                return texts
        raise TimeoutError(f"{fragment!r} not received; so far {texts!r}")

    def history(self, coach: str) -> list[tuple[str, str]]:
        """The whole room as (who, text), oldest first: 'coach' or 'student'."""
        assert self.room_id is not None
        path = (f"/rooms/{urllib.parse.quote(self.room_id)}/messages?dir=b&limit=1000")
        events = self.api("GET", path)["chunk"]
        return [("coach" if e["sender"] == coach else "student", e["content"].get("body", ""))
                for e in reversed(events) if e.get("type") == "m.room.message"]
