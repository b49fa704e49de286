"""Make docs/screenshot.png: a real conversation in the student web chat (Playwright driving
the system's headless Chromium, real Rasa + action server + portal)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bot.devservers import ROOT, Servers, free_port, isolated_env, upgrade_database, wait_until_up
from tests.support.browser import chromium_page, type_and_send

TURNS = [("ja", "Welke ervaring"),
         ("ik heb stage gelopen bij een kapper", "Wat was jouw rol"),
         ("gewoon", "Welke taak"),
         ("haren wassen en klanten koffie geven", "Wat werd er van je verwacht")]
BOT = "[...document.querySelectorAll('.msg.bot')].map(e => e.textContent).join('\\n')"


async def drive(url: str, out: Path) -> None:
    async with chromium_page(width=430, height=900) as page:
        await page.goto(f"{url}/chat")
        # Functions, not bare expressions: the page's CSP forbids `eval`.
        await page.wait_for_function(f"() => {BOT}.includes('Zullen we beginnen?')",
                                     timeout=60_000)
        for text, expected in TURNS:
            await type_and_send(page, text)
            await page.wait_for_function(f"() => {BOT}.includes({json.dumps(expected)})",
                                         timeout=60_000)
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))
        upgrade_database(env)
        servers = Servers(Path(tmp), env)
        servers.start()
        port = free_port()
        portal = subprocess.Popen([sys.executable, "-m", "bot.portal", "--host", "127.0.0.1",
                                   "--port", str(port)], cwd=ROOT,
                                  env=dict(env, RASA_URL=servers.rasa_url))
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", [portal])
            asyncio.run(drive(f"http://127.0.0.1:{port}", ROOT / "docs" / "screenshot.png"))
        finally:
            portal.terminate()
            servers.stop()
    print("wrote docs/screenshot.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
