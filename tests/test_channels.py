"""Teams, Rocket.Chat and Mattermost: Rasa started with these channels (dummy credentials),
messages posted in each channel's own webhook format, and the coach's reply caught by a
small aiohttp server on loopback that plays the chat server's API (Bot Framework connector
with its token and key endpoints, Rocket.Chat REST API, Mattermost API v4)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import create_engine
from sqlalchemy.orm import Session as DbSession

from bot.channels.external_channels import BOT_FRAMEWORK_ISSUER
from bot.devservers import MODEL, Servers, free_port, isolated_env, upgrade_database
from bot.paths import ROOT
from bot.storage.models import PendingMessage

pytestmark = pytest.mark.rasa
TEAMS_APP_ID = "00000000-1111-2222-3333-444444444444"
RC_WEBHOOK_TOKEN = "rc-" + uuid.uuid4().hex
MM_WEBHOOK_TOKEN = "mm-" + uuid.uuid4().hex
GREETING = "Loopbaancoach"  # in the coach's answer to "hoi" (tests/test_conversation.py)


@dataclass
class ChatApi:
    """The chat servers' side, on loopback: records what the coach sends."""

    port: int = field(default_factory=free_port)
    key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    received: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        async def openid(_: web.Request) -> web.Response:
            return web.json_response({"jwks_uri": f"{self.url}/keys"})

        async def keys(_: web.Request) -> web.Response:
            jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
            return web.json_response({"keys": [dict(jwk, kid="test-key", use="sig")]})

        async def token(request: web.Request) -> web.Response:
            form = await request.post()
            assert form["client_id"] == TEAMS_APP_ID and form["client_secret"] == "teams-geheim"
            assert form["grant_type"] == "client_credentials"
            return web.json_response({"access_token": "bf-token", "expires_in": 3600,
                                      "token_type": "Bearer"})

        async def rocketchat_login(request: web.Request) -> web.Response:
            form = await request.post()
            assert form["username"] == "loopbaancoach" and form["password"] == "rc-wachtwoord"
            return web.json_response({"status": "success",
                                      "data": {"authToken": "rc-token", "userId": "rc-bot"}})

        async def record(request: web.Request) -> web.Response:
            body = await request.json()
            self.received.append((request.path, dict(request.headers), body))
            return web.json_response({"id": uuid.uuid4().hex, "success": True})

        app = web.Application()
        app.router.add_get("/openid", openid)
        app.router.add_get("/keys", keys)
        app.router.add_post("/token", token)
        app.router.add_post("/v3/conversations/{conversation}/activities", record)
        app.router.add_post("/api/v1/login", rocketchat_login)
        app.router.add_post("/api/v1/chat.postMessage", record)
        app.router.add_post("/api/v4/posts", record)
        return app

    def sent_to(self, path: str) -> list[tuple[dict[str, str], Any]]:
        return [(headers, body) for p, headers, body in self.received if p == path]

    def teams_token(self, service_url: str, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": BOT_FRAMEWORK_ISSUER, "aud": TEAMS_APP_ID, "exp": now + 600,
                   "nbf": now - 10, "serviceUrl": service_url, **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256",
                          headers={"kid": "test-key"})


@pytest.fixture(scope="module")
def chat_api() -> Iterator[ChatApi]:
    api = ChatApi()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(api.app())
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", api.port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield api
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def external_blocks(chat_url: str) -> str:
    """credentials.yml's commented blocks of the three channels, uncommented as a school would
    (without the REST channel: a school that uses only these), with the chat servers'
    addresses on loopback."""
    lines, taking = [], False
    for line in (ROOT / "credentials.yml").read_text(encoding="utf-8").splitlines():
        if line.startswith("# bot.channels.external_channels."):
            taking = True
        elif not line.startswith("#   "):
            taking = False
        if taking:
            lines.append(line[2:])
        if line.startswith("# bot.channels.external_channels.TeamsInput:"):
            lines += [f"  openid_url: {chat_url}/openid", f"  token_url: {chat_url}/token"]
    text = "\n".join(lines) + "\n"
    text = re.sub(r"server_url: .*", f"server_url: {chat_url}", text)
    text = re.sub(r"  url: .*", f"  url: {chat_url}/api/v4", text)
    assert text.count("bot.channels.external_channels.") == 3 and "${TEAMS_APP_PASSWORD}" in text
    return text


@pytest.fixture(scope="module")
def channel_servers(tmp_path_factory: pytest.TempPathFactory,
                    chat_api: ChatApi) -> Iterator[Servers]:
    """Rasa with the three channels as credentials.yml's commented blocks describe them
    (secrets as unquoted ${...}: Rasa expands them only there), pointed at the loopback
    chat server."""
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make test` (it trains one).")
    workdir = tmp_path_factory.mktemp("channel-servers")
    credentials = workdir / "credentials.yml"
    credentials.write_text(external_blocks(chat_api.url))
    env = isolated_env(workdir)
    env.update(TEAMS_APP_ID=TEAMS_APP_ID, TEAMS_APP_PASSWORD="teams-geheim",
               ROCKETCHAT_PASSWORD="rc-wachtwoord", ROCKETCHAT_WEBHOOK_TOKEN=RC_WEBHOOK_TOKEN,
               MATTERMOST_TOKEN="mm-bot-token",
               MATTERMOST_WEBHOOK_TOKEN=MM_WEBHOOK_TOKEN)
    upgrade_database(env)
    s = Servers(workdir, env, credentials=credentials)
    s.start()
    yield s
    s.stop()


def post(servers: Servers, path: str, body: Any, headers: dict[str, str] | None = None
         ) -> tuple[int, bytes]:
    return servers.post(path, json.dumps(body).encode(), headers=headers)


def test_teams_message_is_answered_through_the_bot_framework_connector(
        channel_servers, chat_api) -> None:
    student = f"29:{uuid.uuid4().hex}"
    conversation = f"a:{uuid.uuid4().hex}"
    path = f"/v3/conversations/{conversation}/activities"
    activity = {"type": "message", "id": uuid.uuid4().hex, "text": "hoi",
                "serviceUrl": chat_api.url, "channelId": "msteams",
                "from": {"id": student, "name": "Leerling"},
                "conversation": {"id": conversation, "conversationType": "personal"},
                "recipient": {"id": f"28:{TEAMS_APP_ID}", "name": "Loopbaancoach"}}
    # A check-in the coach could not deliver (Teams cannot be written to first) comes first.
    with DbSession(create_engine(channel_servers.env["DATABASE_URL"])) as db:
        db.add(PendingMessage(channel="botframework", sender_id=student, text="Is het gelukt?"))
        db.commit()
    token = chat_api.teams_token(chat_api.url)
    status, body = post(channel_servers, "/webhooks/botframework/webhook", activity,
                        {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    replies = chat_api.sent_to(path)
    assert replies[0][1]["text"] == "Is het gelukt?"
    assert GREETING in " ".join(b["text"] for _, b in replies[1:])
    headers, first = replies[0]
    assert headers["Authorization"] == "Bearer bf-token"
    assert first["recipient"]["id"] == student and first["type"] == "message"
    assert channel_servers.tracker(student)["latest_input_channel"] == "botframework"


def test_teams_refuses_requests_without_a_valid_connector_token(channel_servers,
                                                                chat_api) -> None:
    """No token, a token signed by another key, and a valid token for another serviceUrl
    (where the reply would go) are refused; nothing is answered."""
    student = f"29:{uuid.uuid4().hex}"
    conversation = f"a:{uuid.uuid4().hex}"
    activity = {"type": "message", "text": "hoi", "serviceUrl": chat_api.url,
                "from": {"id": student}, "conversation": {"id": conversation},
                "recipient": {"id": "bot"}}
    other_key = rsa.generate_private_key(65537, 2048)
    cases = [({}, 401),
             ({"Authorization": f"Bearer {chat_api.teams_token(chat_api.url, other_key)}"}, 401),
             ({"Authorization": "Bearer " + chat_api.teams_token(
                 chat_api.url, iss="https://elders.example")}, 401),
             ({"Authorization": "Bearer " + chat_api.teams_token("http://127.0.0.1:9")}, 403)]
    for headers, expected in cases:
        status, _ = post(channel_servers, "/webhooks/botframework/webhook", activity, headers)
        assert status == expected, headers
    assert chat_api.sent_to(f"/v3/conversations/{conversation}/activities") == []


def test_rocketchat_message_is_answered_through_the_rest_api(channel_servers,
                                                             chat_api) -> None:
    room = f"rc-room-{uuid.uuid4().hex[:8]}"
    webhook = {"token": RC_WEBHOOK_TOKEN, "bot": False, "channel_id": room,
               "message_id": uuid.uuid4().hex, "user_id": "rc-leerling",
               "user_name": "leerling1", "text": "hoi"}
    status, body = post(channel_servers, "/webhooks/rocketchat/webhook", webhook)
    assert status == 200, body
    replies = [(h, b) for h, b in chat_api.sent_to("/api/v1/chat.postMessage")
               if b.get("roomId") == room]
    assert replies and GREETING in " ".join(b["text"] for _, b in replies)
    assert replies[0][0]["X-Auth-Token"] == "rc-token"
    assert channel_servers.tracker(room)["latest_input_channel"] == "rocketchat"
    # The bot's own messages come back through the webhook too: not answered.
    before = len(chat_api.received)
    post(channel_servers, "/webhooks/rocketchat/webhook",
         dict(webhook, user_name="loopbaancoach", text="Hoi! Ik ben de Loopbaancoach"))
    assert len(chat_api.received) == before


def test_a_deletion_is_carried_out_without_the_rest_channel(channel_servers,
                                                            chat_api) -> None:
    """The loop that empties the tracker store after a deletion starts with any of our
    channels, not only with the REST channel (bot.rasa_plugins.channels.attach_server_work)."""
    from tests.support.trackers import wait_until_forgotten

    room = f"rc-room-{uuid.uuid4().hex[:8]}"

    def say(text: str) -> None:
        webhook = {"token": RC_WEBHOOK_TOKEN, "bot": False, "channel_id": room,
                   "message_id": uuid.uuid4().hex, "user_id": "rc-leerling",
                   "user_name": "leerling1", "text": text}
        status, body = post(channel_servers, "/webhooks/rocketchat/webhook", webhook)
        assert status == 200, body

    for text in ("hoi", "ik heb stage gelopen bij een bakker", "verwijder al mijn gegevens",
                 "ja"):
        say(text)
    texts = wait_until_forgotten(lambda: channel_servers.tracker(room),
                                 "ik heb stage gelopen bij een bakker")
    assert "ik heb stage gelopen bij een bakker" not in texts


def test_mattermost_message_is_answered_through_the_api(channel_servers, chat_api) -> None:
    user, chan = f"mm-user-{uuid.uuid4().hex[:8]}", f"mm-chan-{uuid.uuid4().hex[:8]}"
    webhook = {"token": MM_WEBHOOK_TOKEN, "team_id": "t1", "team_domain": "school",
               "channel_id": chan, "channel_name": "loopbaan", "timestamp": 1,
               "user_id": user, "user_name": "leerling1", "post_id": uuid.uuid4().hex,
               "text": "@loopbaancoach hoi", "trigger_word": "@loopbaancoach", "file_ids": ""}
    status, _ = post(channel_servers, "/webhooks/mattermost/webhook", webhook)
    assert status == 200
    replies = [(h, b) for h, b in chat_api.sent_to("/api/v4/posts")
               if b.get("channel_id") == chan]
    assert replies and GREETING in " ".join(b["message"] for _, b in replies)
    assert replies[0][0]["Authorization"] == "Bearer mm-bot-token"
    assert channel_servers.tracker(user)["latest_input_channel"] == "mattermost"


@pytest.mark.parametrize("path", ["/webhooks/rocketchat/webhook",
                                  "/webhooks/mattermost/webhook"])
def test_webhooks_without_the_chat_servers_token_are_refused(channel_servers, chat_api,
                                                             path: str) -> None:
    """Anyone on the network could otherwise write in a student's name (and read the
    answers in a channel of their own)."""
    victim = f"victim-{uuid.uuid4().hex[:8]}"
    body = {"channel_id": victim, "user_id": victim, "user_name": "leerling1",
            "text": "@loopbaancoach hoi", "trigger_word": "@loopbaancoach"}
    before = len(chat_api.received)
    for token in (None, "raden", RC_WEBHOOK_TOKEN if "mattermost" in path else MM_WEBHOOK_TOKEN):
        status, _ = post(channel_servers, path, body if token is None else dict(body, token=token))
        assert status == 403
    assert len(chat_api.received) == before
    events = channel_servers.tracker(victim).get("events") or []
    assert not [e for e in events if e["event"] == "user"]
