"""The student web chat in a real browser (headless Chromium): a student types, the coach
answers through the portal and the real Rasa server; a failed send keeps the typed text."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.devbrowser import Browser, find_chromium
from bot.devservers import ROOT, free_port, wait_until_up
from tests.conftest import service_missing

pytestmark = pytest.mark.rasa

BUBBLES = "[...document.querySelectorAll('.msg.bot')].map(e => e.textContent).join('\\n')"


@contextmanager
def running_portal(env: dict[str, str], rasa_url: str) -> Iterator[str]:
    """The portal as `make run` starts it, talking to Rasa at `rasa_url`; yields its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot.portal", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=ROOT, env=dict(env, RASA_URL=rasa_url),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", [process], timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def portal(servers):
    with running_portal(servers.env, servers.rasa_url) as url:
        yield url


@pytest.fixture
def chromium() -> None:
    if find_chromium() is None:
        service_missing("Chromium", FileNotFoundError("chromium"))


async def test_student_chats_in_the_browser(portal, chromium, tmp_path) -> None:
    async with Browser() as browser:
        await browser.goto(f"{portal}/chat")
        await browser.wait_for(f"{BUBBLES}.includes('Zullen we beginnen?')")
        await browser.type_and_send("ja")
        await browser.wait_for(f"{BUBBLES}.includes('Welke ervaring')")
        await browser.type_and_send("ik heb stage gelopen bij een dierenarts")
        await browser.wait_for(f"{BUBBLES}.includes('Wat was jouw rol')")
        mine = await browser.evaluate(
            "[...document.querySelectorAll('.msg.me')].map(e => e.textContent)")
        assert mine == ["ja", "ik heb stage gelopen bij een dierenarts"]
        await browser.screenshot(ROOT / "var" / "test" / "webchat.png")


async def test_typed_text_survives_a_failed_send(servers, chromium, tmp_path) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # Rasa is "down"
    with running_portal(servers.env, down) as url:
        async with Browser() as browser:
            await browser.goto(f"{url}/chat")
            await browser.wait_for("document.querySelector('.msg.fout') !== null")
            await browser.type_and_send("mijn stage was bij de bakker")
            await browser.wait_for(
                "document.getElementById('bericht').value === 'mijn stage was bij de bakker'")
            errors = await browser.evaluate(
                "[...document.querySelectorAll('.msg.fout')].map(e => e.textContent)")
            assert any("probeer het zo opnieuw" in e for e in errors)
