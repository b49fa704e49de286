"""A small Matrix client (client-server API v3 over aiohttp) for the bot's own account: log
in, sync, join or decline invitations, send messages and typing notices. matrix-nio does not
fit Rasa 3.6's pin of aiohttp (< 3.10), and the bot needs only these few calls.

Rooms are unencrypted (README, "Connecting a channel"). Nothing here logs a message's text,
and the access token is never logged."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)
DEVICE_ID = "LOOPBAANCOACH"  # one device for the bot, reused at every login
# Only what the bot needs from a sync: room timelines, invitations and member state.
SYNC_FILTER = json.dumps({
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {"timeline": {"limit": 100}, "ephemeral": {"not_types": ["*"]},
             "account_data": {"not_types": ["*"]}},
}, separators=(",", ":"))
RETRY_MAX_S = 15.0


class MatrixError(Exception):
    """The homeserver answered with an error (status and Matrix errcode)."""

    def __init__(self, status: int, errcode: str, retry_after_ms: int | None = None) -> None:
        super().__init__(f"{status} {errcode}")
        self.status = status
        self.errcode = errcode
        self.retry_after_ms = retry_after_ms

    @property
    def transient(self) -> bool:
        return self.status >= 500 or self.status == 429 or self.errcode == "M_LIMIT_EXCEEDED"


TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


def is_transient(exc: BaseException) -> bool:
    """A homeserver that is restarting, unreachable or busy: worth trying again."""
    return isinstance(exc, TRANSIENT) or (isinstance(exc, MatrixError) and exc.transient)


def backoff(attempt: int) -> float:
    return min(RETRY_MAX_S, 0.5 * 2 ** attempt)


@dataclass
class Login:
    homeserver: str  # https://matrix.school.nl
    user_id: str  # @loopbaancoach:school.nl
    password: str | None = None
    access_token: str | None = None


class MatrixClient:
    def __init__(self, login: Login, session: aiohttp.ClientSession) -> None:
        self.login = login
        self.base = login.homeserver.rstrip("/") + "/_matrix/client/v3"
        self.session = session
        self.token = login.access_token

    @property
    def user_id(self) -> str:
        return self.login.user_id

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                       params: dict[str, str] | None = None, timeout: float = 30,
                       auth: bool = True) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        async with self.session.request(
                method, self.base + path, json=body, params=params, headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            try:
                data = await response.json(content_type=None)
            except (json.JSONDecodeError, aiohttp.ContentTypeError):
                data = {}
            if response.status >= 400:
                data = data if isinstance(data, dict) else {}
                raise MatrixError(response.status, str(data.get("errcode") or "unknown"),
                                  data.get("retry_after_ms"))
            return data if isinstance(data, dict) else {}

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None, timeout: float = 30) -> dict[str, Any]:
        """One authenticated request; logs in (again) when there is no valid token."""
        if self.token is None:
            await self.log_in()
        try:
            return await self._request(method, path, body, params, timeout)
        except MatrixError as exc:
            if exc.errcode != "M_UNKNOWN_TOKEN" or not self.login.password:
                raise
            log.warning("matrix.token_rejected")  # e.g. logged out by an admin: log in again
            await self.log_in()
            return await self._request(method, path, body, params, timeout)

    async def log_in(self) -> None:
        if not self.login.password:
            if self.token is None:
                raise MatrixError(401, "M_MISSING_TOKEN")
            return
        localpart = self.login.user_id.split(":", 1)[0].lstrip("@")
        data = await self._request("POST", "/login", {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": self.login.password, "device_id": DEVICE_ID,
            "initial_device_display_name": "Loopbaancoach"}, auth=False)
        self.token = data["access_token"]
        if data.get("user_id") and data["user_id"] != self.login.user_id:
            log.warning("matrix.user_id_differs", extra={"configured": self.login.user_id,
                                                         "actual": data["user_id"]})
            self.login.user_id = data["user_id"]
        log.info("matrix.logged_in", extra={"user": self.login.user_id})

    async def whoami(self) -> str:
        return str((await self.call("GET", "/account/whoami"))["user_id"])

    async def sync(self, since: str | None, timeout_ms: int) -> dict[str, Any]:
        params = {"filter": SYNC_FILTER, "timeout": str(timeout_ms)}
        if since:
            params["since"] = since
        return await self.call("GET", "/sync", params=params, timeout=timeout_ms / 1000 + 30)

    async def join(self, room_id: str) -> None:
        await self.call("POST", f"/join/{quote(room_id, safe='')}", {})

    async def leave(self, room_id: str) -> None:
        await self.call("POST", f"/rooms/{quote(room_id, safe='')}/leave", {})

    async def joined_members(self, room_id: str) -> set[str]:
        data = await self.call("GET", f"/rooms/{quote(room_id, safe='')}/joined_members")
        return set((data.get("joined") or {}).keys())

    async def joined_rooms(self) -> list[str]:
        return list((await self.call("GET", "/joined_rooms")).get("joined_rooms") or [])

    async def typing(self, room_id: str, on: bool, timeout_ms: int = 30000) -> None:
        """A typing notice; failing to send one never stops a reply."""
        body: dict[str, Any] = {"typing": on}
        if on:
            body["timeout"] = timeout_ms
        try:
            await self.call("PUT", f"/rooms/{quote(room_id, safe='')}/typing/"
                                   f"{quote(self.user_id, safe='')}", body, timeout=10)
        except (MatrixError, *TRANSIENT) as exc:
            log.info("matrix.typing_failed", extra={"error": type(exc).__name__})

    async def send_text(self, room_id: str, text: str, give_up_after_s: float = 300) -> str:
        """Send one text message; retried with the same transaction id (so at most once in
        the room) while the homeserver is unreachable. Returns the event id."""
        txn = uuid.uuid4().hex
        path = f"/rooms/{quote(room_id, safe='')}/send/m.room.message/{txn}"
        deadline = time.monotonic() + give_up_after_s
        attempt = 0
        while True:
            try:
                data = await self.call("PUT", path, {"msgtype": "m.text", "body": text})
                return str(data.get("event_id", ""))
            except (MatrixError, *TRANSIENT) as exc:
                if not is_transient(exc) or time.monotonic() > deadline:
                    raise
                wait = backoff(attempt)
                if isinstance(exc, MatrixError) and exc.retry_after_ms:
                    wait = max(wait, exc.retry_after_ms / 1000)
                log.warning("matrix.send_retry", extra={"error": type(exc).__name__,
                                                        "attempt": attempt})
                attempt += 1
                await asyncio.sleep(wait)

    async def direct_room_with(self, user_id: str) -> str | None:
        """A joined room whose only members are the bot and `user_id`, if there is one."""
        for room_id in await self.joined_rooms():
            if await self.joined_members(room_id) == {self.user_id, user_id}:
                return room_id
        return None
