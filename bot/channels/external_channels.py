"""Microsoft Teams, Rocket.Chat and Mattermost: Rasa 3.6's own channels, made safe to expose
(credentials.yml; README, "Connecting a channel").

- **Teams** (`TeamsInput`, Rasa's Bot Framework channel at /webhooks/botframework/webhook):
  Rasa checks the token's signature and audience only, takes the signing algorithm from the
  token itself and stops Rasa from starting when Microsoft cannot be reached. Here the token
  must also be RS256, issued by the Bot Framework, and name the activity's serviceUrl (the
  address the reply goes to), as Microsoft's connector authentication requires; the signing
  keys are fetched again when a token names an unknown key, and the endpoints are settings
  (`openid_url`, `token_url`: Microsoft's by default; other clouds and the tests).
- **Rocket.Chat** and **Mattermost** (outgoing webhooks): Rasa accepts any request, so anyone
  who can reach the webhook could write in a student's name. Here a request must carry the
  webhook's token (`webhook_token`, shown by the chat server when the webhook is made).

Turns run through bot.rasa_plugins.channels.handle (a failed turn is still answered; nothing about
the student's text is logged), after what the coach wrote first while the student was away
(a check-in: these channels cannot deliver one at once)."""

from __future__ import annotations

import datetime
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import jwt
import requests
from jwt.algorithms import RSAAlgorithm
from rasa.core.channels import botframework
from rasa.core.channels.botframework import BotFramework, BotFrameworkInput
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.mattermost import MattermostInput as RasaMattermostInput
from rasa.core.channels.rocketchat import RocketChatInput as RasaRocketChatInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.rasa_plugins.channels import _waiting, attach_server_work, handle

log = logging.getLogger(__name__)
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
TOKEN_URL = f"{botframework.MICROSOFT_OAUTH2_URL}/{botframework.MICROSOFT_OAUTH2_PATH}"
KEYS_MAX_AGE = datetime.timedelta(days=1)
KEYS_RETRY_S = 60.0  # an unknown key id fetches the keys again, at most this often


async def _turn(on_new_message: Callable[[UserMessage], Awaitable[Any]],
                message: UserMessage) -> None:
    for line in await _waiting(str(message.input_channel), message.sender_id):
        await message.output_channel.send_text_message(message.sender_id, line)
    await handle(on_new_message, message)


class TeamsOutput(BotFramework):
    """Rasa's Bot Framework output with the token endpoint as a setting."""

    def __init__(self, *args: Any, token_url: str = TOKEN_URL) -> None:
        super().__init__(*args)
        self.token_url = token_url

    async def _get_headers(self) -> dict[str, Any] | None:
        cls = BotFramework  # Rasa keeps the bot's token on the class: one token per process
        if cls.headers and cls.token_expiration_date > datetime.datetime.now():
            return cls.headers
        reply = requests.post(self.token_url, data={
            "client_id": self.app_id, "client_secret": self.app_password,
            "grant_type": "client_credentials", "scope": "https://api.botframework.com/.default",
        }, timeout=30)
        if not reply.ok:
            log.error("teams.token_failed", extra={"status": reply.status_code})
            return None
        data = reply.json()
        # Renewed a minute early, so that no message goes out with an expired token.
        cls.token_expiration_date = datetime.datetime.now() + datetime.timedelta(
            seconds=max(0, int(data["expires_in"]) - 60))
        cls.headers = {"content-type": "application/json",
                       "Authorization": f"Bearer {data['access_token']}"}
        return cls.headers


class TeamsInput(BotFrameworkInput):
    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TeamsInput:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(credentials.get("app_id"), credentials.get("app_password"),
                   openid_url=credentials.get("openid_url") or botframework.MICROSOFT_OPEN_ID_URI,
                   token_url=credentials.get("token_url") or TOKEN_URL)

    def __init__(self, app_id: str, app_password: str, openid_url: str, token_url: str) -> None:
        self.openid_url = openid_url
        self.token_url = token_url
        self.keys_tried = 0.0
        try:
            super().__init__(app_id, app_password)  # fetches the signing keys
        except requests.RequestException as exc:  # Microsoft unreachable: Rasa still starts
            log.warning("teams.keys_unavailable", extra={"error": type(exc).__name__})

    def _update_cached_jwk_keys(self) -> None:
        self.keys_tried = time.monotonic()
        conf = requests.get(self.openid_url, timeout=30)
        conf.raise_for_status()
        keys = requests.get(conf.json()["jwks_uri"], timeout=30)
        keys.raise_for_status()
        self.jwt_keys = {key["kid"]: key for key in keys.json()["keys"]}
        self.jwt_update_time = datetime.datetime.now()

    def _key(self, key_id: str) -> Any:
        stale = datetime.datetime.now() - self.jwt_update_time > KEYS_MAX_AGE
        unknown = key_id not in self.jwt_keys
        if (stale or unknown) and time.monotonic() - self.keys_tried > KEYS_RETRY_S:
            try:
                self._update_cached_jwk_keys()
            except requests.RequestException as exc:
                log.warning("teams.keys_unavailable", extra={"error": type(exc).__name__})
        if key_id not in self.jwt_keys:
            raise jwt.InvalidKeyError("unknown key id")
        return RSAAlgorithm.from_jwk(self.jwt_keys[key_id])

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of the request's token; raises jwt.PyJWTError."""
        match = botframework.BEARER_REGEX.match(authorization or "")
        if not match:
            raise jwt.InvalidTokenError("no bearer token")
        token = match.group(1)
        key = self._key(str(jwt.get_unverified_header(token).get("kid")))
        return jwt.decode(token, key=key, algorithms=["RS256"], audience=self.app_id,
                          issuer=BOT_FRAMEWORK_ISSUER, options={"require": ["exp", "iss"]})

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("loopbaancoach_botframework", __name__)
        attach_server_work(bp)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                claims = self.claims(request.headers.get("Authorization"))
            except jwt.PyJWTError as exc:
                log.warning("teams.token_refused", extra={"error": type(exc).__name__})
                return response.text("Unauthorized", status=HTTPStatus.UNAUTHORIZED)
            activity = request.json if isinstance(request.json, dict) else {}
            service_url = activity.get("serviceUrl")
            if not service_url or claims.get("serviceUrl") != service_url:
                log.warning("teams.service_url_mismatch")
                return response.text("Forbidden", status=HTTPStatus.FORBIDDEN)
            if (activity.get("type") != "message" or not (activity.get("from") or {}).get("id")
                    or not isinstance(activity.get("conversation"), dict)):
                return response.text("")
            output = TeamsOutput(self.app_id, self.app_password, activity["conversation"],
                                 activity["recipient"], service_url, token_url=self.token_url)
            await _turn(on_new_message, UserMessage(
                activity.get("text") or "", output, activity["from"]["id"],
                input_channel=self.name(), message_id=activity.get("id")))
            return response.text("success")

        return bp


def _with_webhook_token(bp: Blueprint, expected: str) -> Blueprint:
    """Refuse webhook calls that do not carry the outgoing webhook's token (403)."""

    @bp.middleware("request")
    async def check_token(request: Request) -> HTTPResponse | None:
        if request.method != "POST":
            return None
        body = request.json if isinstance(request.json, dict) else {}
        given = body.get("token")
        if isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode()):
            return None
        log.warning("channel.webhook_token_refused")
        return response.json({"error": "forbidden"}, status=HTTPStatus.FORBIDDEN)

    return bp


def _webhook_token(channel: str, credentials: dict[str, Any]) -> str:
    token = str(credentials.get("webhook_token") or "")
    if not token:
        from rasa.shared.exceptions import RasaException

        raise RasaException(f"The {channel} channel needs `webhook_token` in credentials.yml "
                            "(the outgoing webhook's token; README, 'Connecting a channel').")
    return token


class _TokenChecked:
    """An outgoing-webhook channel whose calls must carry the webhook's token; turns go
    through `_turn` as in the other channels. Put before Rasa's channel class."""

    webhook_token: str

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def guarded(message: UserMessage) -> None:
            await _turn(on_new_message, message)

        bp = _with_webhook_token(super().blueprint(guarded), self.webhook_token)
        attach_server_work(bp)
        return bp


class RocketChatInput(_TokenChecked, RasaRocketChatInput):
    """Rasa's Rocket.Chat channel (outgoing webhook), with its token checked."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RocketChatInput:
        if not credentials:
            cls.raise_missing_credentials_exception()
        channel = cls(credentials.get("user"), credentials.get("password"),
                      credentials.get("server_url"))
        channel.webhook_token = _webhook_token("Rocket.Chat", credentials)
        return channel


class MattermostInput(_TokenChecked, RasaMattermostInput):
    """Rasa's Mattermost channel (outgoing webhook), with its token checked."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MattermostInput:
        if not credentials:
            cls.raise_missing_credentials_exception()
        channel = cls(credentials.get("url"), credentials.get("token"),
                      credentials.get("webhook_url"))
        channel.webhook_token = _webhook_token("Mattermost", credentials)
        return channel
