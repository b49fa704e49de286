"""Shared fixtures: real Rasa and action servers on free ports, each run with its own
SQLite databases, started once per test session (the model is trained by `make test`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from bot.devservers import MODEL, Servers, free_port, isolated_env, upgrade_database


def service_missing(what: str, exc: BaseException) -> None:
    """PostgreSQL/Redis unreachable: a failure (CI, `make test`) unless REQUIRE_SERVICES=0."""
    message = f"{what} not reachable: {type(exc).__name__}: {exc}"
    if os.environ.get("REQUIRE_SERVICES", "1") == "0":
        pytest.skip(message)
    pytest.fail(message + " (set REQUIRE_SERVICES=0 to skip these tests)")


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802, ANN001
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    @property
    def port(self) -> int:
        return self.controller.port

    def to(self, recipient: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == recipient]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Servers]:
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make test` (it trains one).")
    workdir = tmp_path_factory.mktemp("servers")
    env = isolated_env(workdir)
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port),
               NOTIFY_FALLBACK_EMAIL="zorg@school.test", SMTP_FROM="coach@school.test")
    upgrade_database(env)
    s = Servers(workdir, env)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def sender() -> str:
    return f"student-{uuid.uuid4().hex[:10]}"
