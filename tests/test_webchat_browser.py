"""The student web chat in a real browser (headless Chromium): a student types, the coach
answers through the portal and the real Rasa server; a failed send keeps the typed text."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.devbrowser import Browser, find_chromium
from bot.devservers import ROOT, free_port, wait_until_up
from tests.conftest import service_missing

pytestmark = pytest.mark.rasa

BUBBLES = "[...document.querySelectorAll('.msg.bot')].map(e => e.textContent).join('\\n')"


@pytest.fixture(scope="module")
def portal(servers):
    port = free_port()
    env = dict(servers.env, RASA_URL=servers.rasa_url)
    process = subprocess.Popen([sys.executable, "-m", "bot.portal", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}/health", [process], timeout=60)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


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
    port = free_port()
    env = dict(servers.env, RASA_URL=f"http://127.0.0.1:{free_port()}")  # Rasa is "down"
    process = subprocess.Popen([sys.executable, "-m", "bot.portal", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", [process], timeout=60)
        async with Browser() as browser:
            await browser.goto(f"http://127.0.0.1:{port}/chat")
            await browser.wait_for("document.querySelector('.msg.fout') !== null")
            await browser.type_and_send("mijn stage was bij de bakker")
            await browser.wait_for(
                "document.getElementById('bericht').value === 'mijn stage was bij de bakker'")
            errors = await browser.evaluate(
                "[...document.querySelectorAll('.msg.fout')].map(e => e.textContent)")
            assert any("probeer het zo opnieuw" in e for e in errors)
    finally:
        process.terminate()
        process.wait(timeout=10)
