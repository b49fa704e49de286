"""Headless Chromium through Playwright (async API), for the browser tests of the portal pages
and the README screenshot. Playwright drives the system's Chromium (Debian: `apt-get install
chromium`, which `make test` does via scripts/ensure_chromium.sh); its own browser download
(`playwright install`) is never used."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, async_playwright

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--no-default-browser-check", "--disable-default-apps",
        "--disable-extensions", "--metrics-recording-only", "--mute-audio")


def find_chromium() -> str | None:
    """CHROMIUM, else the first Chromium or Chrome on PATH."""
    if path := os.environ.get("CHROMIUM"):
        return shutil.which(path) or (path if os.path.exists(path) else None)
    return next((p for name in CANDIDATES if (p := shutil.which(name))), None)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium; closed (and its profile removed) afterwards."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("Chromium not found: install it (apt-get install chromium) "
                           "or set CHROMIUM=/path/to/chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=binary, headless=True,
                                                   args=list(ARGS))
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def chromium_page(width: int = 420, height: int = 820) -> AsyncIterator[Page]:
    """A page of its own (a fresh browser context: no cookies or storage of other pages)."""
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": width, "height": height},
                                            locale="nl-NL")
        try:
            yield await context.new_page()
        finally:
            await context.close()


async def type_and_send(page: Page, text: str) -> None:
    """Type into the chat box like a student and press Enter."""
    await page.locator("#bericht").fill(text)
    await page.locator("#bericht").press("Enter")
