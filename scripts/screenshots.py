"""Make docs/screenshots/*.png: the portal on the demo school (`make demo`), in the system's
headless Chromium driven by Playwright, with real Rasa + action servers for the web chat.

    .venv/bin/python scripts/screenshots.py            # builds the demo in a temporary directory
    .venv/bin/python scripts/screenshots.py --map DIR  # reuses (or builds once) the demo in DIR

The demo school's data, accounts and passwords come from data/demo/students.yml (bot.demo).
Images are 1280 px wide (the web chat: a phone) and stored as optimised palette PNGs."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from PIL import Image
from playwright.async_api import Browser, Page

from bot import demo
from bot.devservers import ROOT, Servers, free_port, isolated_env, upgrade_database, wait_until_up
from tests.support.browser import chromium, type_and_send

OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 860
PHONE = (430, 860)
CHAT_TURNS = [("ja", "Welke ervaring"),
              ("ik heb een dag meegelopen bij de brandweer", "Wat was jouw rol"),
              ("gewoon", "Welke taak"),
              ("ik heb de slangen opgerold en de wagen gepoetst", "Wat werd er van je verwacht")]
BOT = "[...document.querySelectorAll('.msg.bot')].map(e => e.textContent).join('\\n')"
SCHOOL = demo.load()


def save(png: bytes, name: str) -> None:
    """Store a screenshot as an optimised palette PNG (UI colours survive 256 colours)."""
    path = OUT / f"{name}.png"
    raw = path.with_suffix(".raw.png")
    raw.write_bytes(png)
    with Image.open(raw) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                      dither=Image.Dither.NONE).save(path, optimize=True)
    raw.unlink()
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")


async def logged_in(browser: Browser, url: str, email: str, password: str) -> Page:
    context = await browser.new_context(viewport={"width": WIDTH, "height": HEIGHT},
                                        locale="nl-NL")
    page = await context.new_page()
    await page.goto(f"{url}/login")
    await page.get_by_label("E-mailadres").fill(email)
    await page.get_by_label("Wachtwoord").fill(password)
    await page.get_by_role("button", name="Inloggen").click()
    await page.wait_for_url(f"{url}/mentor")
    return page


def account(role: str, class_name: str | None = None) -> demo.Account:
    return next(a for a in SCHOOL.accounts
                if a.role == role and (class_name is None or class_name in a.classes))


def flagged_with_history() -> demo.DemoStudent:
    """The student with an attention flag and the most conversations (a chart with a line)."""
    return max((s for s in SCHOOL.students
                if any(f != "crisis" for c in s.conversations for f in c.flags)),
               key=lambda s: len(s.conversations))


async def section(page: Page, heading: str, name: str, height: int = HEIGHT) -> None:
    """A screenshot from the heading `heading` down, `height` px high."""
    box = await page.get_by_role("heading", name=heading, exact=True).bounding_box()
    assert box is not None, heading
    await page.set_viewport_size({"width": WIDTH, "height": height})
    top = max(0, box["y"] - 12)
    save(await page.screenshot(full_page=True, clip={"x": 0, "y": top, "width": WIDTH,
                                                      "height": height}), name)


async def shoot(url: str) -> None:
    async with chromium() as browser:
        crisis_class = next(s.class_name for s in SCHOOL.students
                            if any("crisis" in c.flags for c in s.conversations))
        mentor = account("mentor", crisis_class)
        page = await logged_in(browser, url, mentor.email, mentor.password)
        save(await page.screenshot(full_page=True), "1-mijn-studenten")

        student = flagged_with_history()
        mentor = account("mentor", student.class_name)
        page = await logged_in(browser, url, mentor.email, mentor.password)
        await page.get_by_role("link", name=student.name, exact=True).click()
        await page.wait_for_load_state()
        save(await page.screenshot(), "2-student-signaal")
        await section(page, "Ontwikkeling", "3-student-ontwikkeling", 700)
        await page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
        await page.get_by_role("link", name="Gesprekskaart").click()
        await page.wait_for_load_state()
        save(await page.screenshot(full_page=True), "4-gesprekskaart")

        coordinator = account("coordinator")
        page = await logged_in(browser, url, coordinator.email, coordinator.password)
        await page.goto(f"{url}/beheer/cijfers")
        await section(page, "Cijfers voor de kwaliteitscyclus", "6-cijfers", 1560)
        await page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
        await page.goto(f"{url}/beheer/gesprek")
        await page.locator("details.vraag summary").first.click()
        await page.mouse.wheel(0, -5000)  # back to the top after the click
        save(await page.screenshot(), "7-gesprek-aanpassen")
        await page.goto(f"{url}/beheer/signalen")
        save(await page.screenshot(), "8-signalen-aanpassen")

        context = await browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]},
                                            locale="nl-NL")
        chat = await context.new_page()
        await chat.goto(f"{url}/chat")
        # Functions, not bare expressions: the page's CSP forbids `eval`.
        await chat.wait_for_function(f"() => {BOT}.includes('Zullen we beginnen?')",
                                     timeout=60_000)
        for text, expected in CHAT_TURNS:
            await type_and_send(chat, text)
            await chat.wait_for_function(f"() => {BOT}.includes({json.dumps(expected)})",
                                         timeout=60_000)
        save(await chat.screenshot(), "5-webchat")


def with_demo(workdir: Path, run: Callable[[str], Awaitable[None]]) -> None:
    env = isolated_env(workdir)
    upgrade_database(env)
    built = subprocess.run([sys.executable, "-m", "bot.demo"], cwd=ROOT, env=env, text=True,
                           capture_output=True)
    if built.returncode != 0:
        raise SystemExit(f"make demo failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    servers = Servers(workdir, env)
    servers.start()
    port = free_port()
    portal = subprocess.Popen([sys.executable, "-m", "bot.portal", "--host", "127.0.0.1",
                               "--port", str(port)], cwd=ROOT,
                              env=dict(env, RASA_URL=servers.rasa_url, PORTAL_COOKIE_SECURE="0"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", [portal])
        asyncio.run(run(f"http://127.0.0.1:{port}"))
    finally:
        portal.terminate()
        portal.wait(timeout=10)
        servers.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", type=Path, help="work directory to keep the demo in")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.map:
        args.map.mkdir(parents=True, exist_ok=True)
        with_demo(args.map.resolve(), shoot)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            with_demo(Path(tmp), shoot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
