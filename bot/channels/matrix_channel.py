"""Rasa channel for Matrix (credentials.yml: `bot.channels.matrix_channel.MatrixInput:`).

The bot's own Matrix account syncs with the school's homeserver (outgoing connections only:
nothing needs to be reachable from outside). It
- joins direct-message invitations by itself, and declines group rooms and encrypted rooms
  (the coaching is private, and the bot has no end-to-end encryption);
- answers each student in their own room, one message after the other, with a typing notice
  while it thinks; students in different rooms are answered in parallel;
- persists the sync token, the events handled in the current batch and the room of each
  student (MATRIX_STATE_FILE): after a restart it goes on where it stopped, answers what
  came in meanwhile, never answers an event twice, and ignores messages from before the
  channel's very first start;
- keeps trying when the homeserver is down or restarting;
- offers an output channel so that the coach can write first (check-ins and reminders through
  Rasa's trigger_intent with output_channel=latest or =matrix).

The sender id Rasa sees is the student's Matrix user id ("@leerling1:school.nl").
Configuration from the environment (README, "Configuration reference"): MATRIX_HOMESERVER_URL,
MATRIX_USER_ID, MATRIX_PASSWORD or MATRIX_ACCESS_TOKEN. Never logs message text or secrets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.matrix_client import Login, MatrixClient, MatrixError, backoff, is_transient
from bot.config import settings
from bot.paths import VAR
from bot.rasa_plugins.channels import _say, _waiting, attach_server_work, handle

log = logging.getLogger(__name__)
CHANNEL = "matrix"  # bot.scheduled.checkins.PUSH_CHANNELS
POLL_MS = 30000
STOP_WAIT_S = 20.0  # on shutdown, the turn in progress may finish (and is then not repeated)
# A reply's quoted fallback ("> <@coach:school.nl> ...", then an empty line) is not the answer.
_REPLY_FALLBACK = re.compile(r"\A(?:>[^\n]*\n)+\n")


@dataclass
class MatrixState:
    """What must survive a restart, in one small JSON file (mode 0600)."""

    path: Path
    user_id: str
    since: str | None = None  # the sync token of the batch being handled (None: first start)
    done: list[str] = field(default_factory=list)  # events of that batch already handled
    rooms: dict[str, str] = field(default_factory=dict)  # student's user id -> room id
    started_at: int = 0  # ms; messages from before the first start are not answered

    @classmethod
    def load(cls, path: Path, user_id: str) -> MatrixState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            log.error("matrix.state_unreadable", extra={"error": type(exc).__name__})
            data = {}
        if data.get("user_id") != user_id:  # another account (or none yet): start afresh
            data = {}
        state = cls(path, user_id, since=data.get("since"), done=list(data.get("done") or []),
                    rooms=dict(data.get("rooms") or {}),
                    started_at=int(data.get("started_at") or time.time() * 1000))
        if not data:
            state.save()
        return state

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"user_id": self.user_id, "since": self.since, "done": self.done,
                           "rooms": self.rooms, "started_at": self.started_at})
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".matrix-state-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)  # whole or not at all
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@dataclass(frozen=True)
class MatrixConfig:
    login: Login
    state_file: Path

    @classmethod
    def from_env(cls) -> MatrixConfig:
        env = os.environ
        homeserver = env.get("MATRIX_HOMESERVER_URL", "").strip()
        user_id = env.get("MATRIX_USER_ID", "").strip()
        password = env.get("MATRIX_PASSWORD", "") or None
        token = env.get("MATRIX_ACCESS_TOKEN", "").strip() or None
        if not homeserver or not user_id.startswith("@") or not (password or token):
            raise RasaException(
                "The Matrix channel needs MATRIX_HOMESERVER_URL, MATRIX_USER_ID "
                "(@name:server) and MATRIX_PASSWORD or MATRIX_ACCESS_TOKEN (README, "
                "'Connecting a channel').")
        var = Path(env.get("LOOPBAANCOACH_VAR", VAR))
        state_file = Path(env.get("MATRIX_STATE_FILE") or var / "matrix_state.json")
        return cls(Login(homeserver, user_id, password, token), state_file)


def message_text(event: dict[str, Any]) -> str | None:
    """The text of a student's message event, or None for anything else (edits, files,
    notices, encrypted events)."""
    if event.get("type") != "m.room.message":
        return None
    content = event.get("content") or {}
    if content.get("msgtype") != "m.text" or not isinstance(content.get("body"), str):
        return None
    if (content.get("m.relates_to") or {}).get("rel_type") == "m.replace":
        return None  # an edit of an earlier message, which was answered already
    return _REPLY_FALLBACK.sub("", content["body"]).strip() or None


class MatrixOutput(OutputChannel):
    """Sends the bot's messages into the student's room, in order."""

    def __init__(self, channel: MatrixInput, room_id: str | None = None) -> None:
        self.channel = channel
        self.room_id = room_id

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        proactive = self.room_id is None
        room_id = self.room_id or await self.channel.room_of(recipient_id)
        if room_id is None:
            log.warning("matrix.no_room")
            return
        self.room_id = room_id
        client = self.channel.client
        assert client is not None
        if proactive:  # the coach writes first: a short notice before its first message
            await client.typing(room_id, True, timeout_ms=3000)
        await client.send_text(room_id, text)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any],
                               **kwargs: Any) -> None:
        """Custom payloads are for the web chat (e.g. 'send again'); a Matrix student simply
        types again."""


class MatrixInput(InputChannel):
    def __init__(self, config: MatrixConfig) -> None:
        self.config = config
        self.client: MatrixClient | None = None
        self.state: MatrixState | None = None
        self.synced = False
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None
        self._poll: asyncio.Future | None = None
        self._stopping = False
        self._wake: asyncio.Event | None = None

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if credentials:  # everything comes from the environment (secrets never in a file)
            log.warning("matrix.credentials_ignored", extra={"keys": sorted(credentials)})
        return cls(MatrixConfig.from_env())

    def get_output_channel(self) -> OutputChannel | None:
        ready = self.client is not None and self.state is not None
        return MatrixOutput(self) if ready else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("loopbaancoach_matrix", __name__)
        attach_server_work(bp)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "synced": self.synced})

        @bp.listener("after_server_start")
        async def start(app: Any, _loop: Any) -> None:
            self._stopping = False
            self._wake = asyncio.Event()
            self._http = aiohttp.ClientSession()
            self.client = MatrixClient(self.config.login, self._http)
            self._task = asyncio.ensure_future(self._run(on_new_message))

        @bp.listener("before_server_stop")
        async def stop(app: Any, _loop: Any) -> None:
            await self._stop()

        return bp

    async def room_of(self, user_id: str) -> str | None:
        """The student's room: the one they last wrote in, else a direct room found by its
        members (remembered)."""
        assert self.state is not None and self.client is not None
        room_id = self.state.rooms.get(user_id)
        if room_id is None:
            room_id = await self.client.direct_room_with(user_id)
            if room_id is not None:
                self.state.rooms[user_id] = room_id
                self.state.save()
        return room_id

    async def _stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()  # ends a pause between retries
        if self._poll is not None and not self._poll.done():
            self._poll.cancel()  # a waiting sync; a turn in progress may finish
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=STOP_WAIT_S)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        if self._http is not None:
            await self._http.close()
        log.info("matrix.stopped")

    async def _run(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        assert self.client is not None
        attempt = 0
        while not self._stopping:
            try:
                if self.state is None:
                    await self.client.call("GET", "/account/whoami")  # logs in when needed
                    self.state = MatrixState.load(self.config.state_file, self.client.user_id)
                await self._sync_once(on_new_message)
                attempt = 0
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise
            except Exception as exc:  # noqa: BLE001 - keep syncing whatever happened
                status = exc.status if isinstance(exc, MatrixError) else None
                (log.warning if is_transient(exc) else log.error)(
                    "matrix.sync_failed", extra={"error": type(exc).__name__, "status": status,
                                                 "attempt": attempt})
                assert self._wake is not None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=backoff(attempt))
                attempt += 1

    async def _sync_once(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        assert self.client is not None and self.state is not None
        self._poll = asyncio.ensure_future(
            self.client.sync(self.state.since, 0 if self.state.since is None else POLL_MS))
        try:
            batch = await self._poll
        finally:
            self._poll = None
        rooms = batch.get("rooms") or {}
        for room_id, invited in (rooms.get("invite") or {}).items():
            await self._invited(room_id, invited)
        await asyncio.gather(*(
            self._room(room_id, joined, on_new_message)
            for room_id, joined in (rooms.get("join") or {}).items()))
        self.state.since = batch["next_batch"]
        self.state.done = []
        self.state.save()
        self.synced = True

    async def _invited(self, room_id: str, invited: dict[str, Any]) -> None:
        assert self.client is not None
        events = (invited.get("invite_state") or {}).get("events") or []
        mine = [e for e in events if e.get("type") == "m.room.member"
                and e.get("state_key") == self.client.user_id]
        direct = any((e.get("content") or {}).get("is_direct") for e in mine)
        encrypted = any(e.get("type") == "m.room.encryption" for e in events)
        try:
            if direct and not encrypted:
                await self.client.join(room_id)
                log.info("matrix.joined")
            else:
                await self.client.leave(room_id)  # decline: not a private, readable chat
                log.info("matrix.invite_declined",
                         extra={"reason": "encrypted" if encrypted else "not_direct"})
        except MatrixError as exc:
            if exc.transient:
                raise
            log.warning("matrix.invite_failed", extra={"status": exc.status})

    async def _room(self, room_id: str, joined: dict[str, Any],
                    on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Handle a room's new messages one after the other."""
        assert self.client is not None and self.state is not None
        state = self.state
        timeline = joined.get("timeline") or {}
        if timeline.get("limited") and state.since is not None:
            # More than the filter's 100 events since the last sync: the older ones are
            # skipped (a student does not write that much while the coach is away).
            log.warning("matrix.timeline_gap")
        todo = [e for e in timeline.get("events") or []
                if e.get("sender") != self.client.user_id
                and e.get("event_id") not in state.done
                and int(e.get("origin_server_ts") or 0) >= state.started_at]
        if any(e.get("type") == "m.room.encrypted" for e in todo):
            log.warning("matrix.encrypted_message")  # cannot be read: see the README
        todo = [e for e in todo if message_text(e) is not None]
        if not todo:
            return
        members = await self.client.joined_members(room_id)
        for event in todo:
            if len(members - {self.client.user_id}) == 1:
                await self._answer(room_id, event, on_new_message)
            else:
                log.warning("matrix.not_direct", extra={"members": len(members)})
            state.done.append(event["event_id"])
            state.save()

    async def _answer(self, room_id: str, event: dict[str, Any],
                      on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        assert self.client is not None and self.state is not None
        sender, text = event["sender"], message_text(event) or ""
        if self.state.rooms.get(sender) != room_id:
            self.state.rooms[sender] = room_id
        output = MatrixOutput(self, room_id)
        limit = settings().max_message_chars
        await self.client.typing(room_id, True)
        try:
            if len(text) > limit:
                log.info("channel.too_long", extra={"channel": CHANNEL})
                await _say(output, sender, "te_lang", max_tekens=limit)
                return
            for line in await _waiting(CHANNEL, sender):
                await output.send_text_message(sender, line)
            await handle(on_new_message, UserMessage(
                text, output, sender, input_channel=CHANNEL, message_id=event["event_id"]))
        except Exception as exc:  # noqa: BLE001 - one failed answer must not stop the others
            log.error("matrix.answer_failed", extra={"error": type(exc).__name__})
        finally:
            await self.client.typing(room_id, False)
