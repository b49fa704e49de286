"""The portal as its own process (as `make run` starts it), for browser and HTTP-level tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from bot.devservers import ROOT, free_port, wait_until_up


@contextmanager
def running_portal(env: dict[str, str], rasa_url: str, **extra: str) -> Iterator[str]:
    """`python -m bot.portal` talking to Rasa at `rasa_url` (extra: more environment);
    yields its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot.portal", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=ROOT,
                               env=dict(env, RASA_URL=rasa_url, **extra),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", [process], timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@asynccontextmanager
async def portal_page(wait_ms: int, width: int = 1024, height: int = 900) -> AsyncIterator:
    """A Chromium page for the portal's browser tests: patient timeouts (a busy CI machine:
    argon2, page loads), and a failure when the page broke its CSP or threw."""
    from playwright.async_api import expect

    from tests.conftest import service_missing
    from tests.support.browser import chromium_page, find_chromium

    if find_chromium() is None:
        service_missing("Chromium (make test installs it: scripts/ensure_chromium.sh)",
                        FileNotFoundError("chromium"))
    async with chromium_page(width=width, height=height) as page:
        page.set_default_timeout(wait_ms)
        expect.set_options(timeout=wait_ms)
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
        yield page
        assert not [m for m in messages if "Content Security Policy" in m or "pageerror" in m]
