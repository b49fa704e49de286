"""The action server as `make run` starts it: Rasa SDK's Sanic app, listening on loopback by
default (ACTIONS_HOST) and refusing every call without the shared secret that Rasa sends
(`Authorization: Bearer <ACTION_SERVER_SECRET>`, see endpoints.yml). Only `/health` is open:
it says nothing about students.

Without the secret, one forged `POST /webhook` could run any action as any student: read
their insights or delete their data."""

from __future__ import annotations

import argparse
import hmac
import logging
import sys

from sanic import Sanic, response
from sanic.request import Request

from bot.config import settings
from bot.rasa_plugins.speed import freeze_startup_objects

log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health"})
MAX_REQUEST_BYTES = 2 * 1024 * 1024  # a tracker with a long conversation stays well below


def authorised(header: str | None, secret: str) -> bool:
    """Constant-time check of `Authorization: Bearer <secret>`."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].encode(), secret.encode())


def create_app(secret: str, actions_package: str = "actions") -> Sanic:
    from rasa_sdk.endpoint import create_app as sdk_app

    app = sdk_app(actions_package, cors_origins=None)
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES

    @app.on_request
    async def require_secret(request: Request):  # noqa: ANN202 - Sanic middleware
        if request.path in OPEN_PATHS:
            return None
        if not authorised(request.headers.get("authorization"), secret):
            log.warning("action_server.refused", extra={"path": request.path})
            return response.json({"error": "unauthorised"}, status=401)
        return None

    @app.on_request
    async def bounded_body(request: Request):  # noqa: ANN202 - Sanic middleware
        if request.method == "POST" and not isinstance(_json_or_none(request), dict):
            return response.json({"error": "a JSON object is required"}, status=400)
        return None

    @app.on_request
    async def conversation_config(request: Request):  # noqa: ANN202 - Sanic middleware
        # The script and flag rules of this student's school and conversation: versions
        # saved in the portal are used within seconds (bot.conversation.live_config).
        if request.method == "POST" and request.path == "/webhook":
            from bot.conversation import live_config

            live_config.enter(_json_or_none(request))
        return None

    from bot import service
    from bot.scheduled import jobs

    # An urgent flag's e-mail goes out at once from here, not at the worker's next tick.
    service.on_urgent_flag(jobs.dispatch_urgent)

    @app.listener("after_server_start")
    async def models_loaded(_app: Sanic, _loop: object) -> None:
        freeze_startup_objects()  # main() warmed the models up before starting the server

    @app.listener("after_server_start")
    async def replay_spool(_app: Sanic, _loop: object) -> None:
        # Writes kept while the database was down (or spooled by Rasa while this server was
        # down) are stored as soon as we are back.
        from bot import service

        try:
            service.replay_spool()
        except Exception:
            log.warning("action_server.spool_replay_failed")

    return app


def warm_up() -> None:
    """Load the Dutch pipeline, the signal rules and the script before the first student:
    the first message must not wait seconds (and run into Rasa's action timeout)."""
    from bot.conversation.script import get_script
    from bot.text.competencies import classify
    from bot.text.signals import detect

    get_script()
    detect("hallo, ik heb stage gelopen")
    classify("ik heb stage gelopen bij een bakker")


def _json_or_none(request: Request) -> object:
    try:
        return request.json
    except Exception:  # Sanic raises InvalidUsage for malformed JSON
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot.rasa_plugins.action_server")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = settings()
    warm_up()
    app = create_app(cfg.action_server_secret)
    host, port = args.host or cfg.actions_host, args.port or cfg.actions_port
    log.info("action_server.start", extra={"host": host, "port": port})
    app.run(host=host, port=port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
