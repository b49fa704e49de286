"""The student web chat in a real browser (Playwright driving Debian's headless Chromium):
a student types, the coach answers through the portal and the real Rasa server; a failed
send keeps the typed text; on a shared school computer "Nieuw gesprek" and an idle expiry
forget the chat id, so the next student sees and continues nothing of the previous one; the
page works under its Content-Security-Policy (no inline script) and shows every text as
text, never as HTML."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import ConsoleMessage, Page, Request

from bot.conversation.script import get_script
from bot.devservers import ROOT, free_port, isolated_env
from tests.conftest import service_missing
from tests.portal_helpers import running_portal
from tests.support.browser import chromium_page, find_chromium, type_and_send
from tests.test_conversation import ROLE_QUESTION

LEVEL_QUESTION = get_script().key_of("niveau")  # the level question (its doel)

BUBBLES = "[...document.querySelectorAll('.msg.bot')].map(e => e.textContent).join('\\n')"
MINE = "[...document.querySelectorAll('.msg.me')].map(e => e.textContent)"
CHAT_ID = "JSON.parse(sessionStorage.getItem('loopbaancoach-chat') || 'null')"
WAIT_MS = 60_000
LEVEL_ASK = get_script().render(get_script().question(LEVEL_QUESTION).text)[0]


@pytest.fixture(scope="module")
def portal(servers) -> Iterator[str]:
    with running_portal(servers.env, servers.rasa_url) as url:
        yield url


@pytest.fixture(scope="module")
def quick_idle_portal(servers) -> Iterator[str]:
    """A portal whose chat forgets its id after 3 seconds without activity."""
    with running_portal(servers.env, servers.rasa_url, PORTAL_CHAT_IDLE_MINUTES="0.05") as url:
        yield url


@pytest.fixture
def rasa_down(tmp_path) -> Iterator[str]:
    """A portal whose Rasa is down (nothing listens on its port); needs no model."""
    with running_portal(isolated_env(tmp_path), f"http://127.0.0.1:{free_port()}") as url:
        yield url


@pytest.fixture
def chromium() -> None:
    if find_chromium() is None:
        service_missing("Chromium (make test installs it: scripts/ensure_chromium.sh)",
                        FileNotFoundError("chromium"))


class Console:
    """What the page reports: console messages and uncaught errors."""

    def __init__(self, page: Page) -> None:
        self.lines: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.lines.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        self.lines.append(f"{message.type}: {message.text}")

    def csp_violations(self) -> list[str]:
        return [line for line in self.lines if "Content Security Policy" in line]


@pytest.fixture
async def page(chromium) -> AsyncIterator[Page]:
    async with chromium_page() as page:
        yield page


async def wait_for(page: Page, expression: str, timeout: float = WAIT_MS) -> None:
    # As a function, not a bare expression: Playwright would `eval` that in the page, which
    # the page's CSP (rightly) refuses.
    await page.wait_for_function(f"() => ({expression})", timeout=timeout)


async def bot_says(page: Page, words: str) -> None:
    await wait_for(page, f"{BUBBLES}.includes({json.dumps(words)})")


@pytest.mark.rasa
async def test_student_chats_in_the_browser_under_the_csp(portal, page) -> None:
    console = Console(page)
    response = await page.goto(f"{portal}/chat")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    await bot_says(page, "Zullen we beginnen?")  # chat.js runs: the CSP lets the file through
    await type_and_send(page, "ja")
    await bot_says(page, LEVEL_ASK)  # nobody set this student's level
    await type_and_send(page, "mbo")
    await bot_says(page, "Welke ervaring")
    await type_and_send(page, "ik heb stage gelopen bij een dierenarts")
    await bot_says(page, ROLE_QUESTION)
    assert await page.evaluate(MINE) == ["ja", "mbo", "ik heb stage gelopen bij een dierenarts"]
    assert console.csp_violations() == [] and not any("pageerror" in x for x in console.lines)
    await page.screenshot(path=str(ROOT / "var" / "test" / "webchat.png"))


async def test_typed_text_survives_a_failed_send(rasa_down, page) -> None:
    sent: list[dict] = []

    def remember(request: Request) -> None:
        if request.url.endswith("/chat/bericht"):
            sent.append(json.loads(request.post_data or "{}"))

    page.on("request", remember)
    await page.goto(f"{rasa_down}/chat")
    await wait_for(page, "document.querySelector('.msg.fout') !== null")
    await type_and_send(page, "mijn stage was bij de bakker")
    await wait_for(page, "document.getElementById('bericht').value === "
                         "'mijn stage was bij de bakker'")
    errors = await page.evaluate(
        "[...document.querySelectorAll('.msg.fout')].map(e => e.textContent)")
    assert any("probeer het zo opnieuw" in e for e in errors)
    await type_and_send(page, "mijn stage was bij de bakker")  # the retry
    await wait_for(page, "document.querySelectorAll('.msg.fout').length === 3")
    first, retry = [m for m in sent if m["bericht"] == "mijn stage was bij de bakker"]
    assert first["bericht_id"] == retry["bericht_id"]  # Rasa stores a retried message once
    assert first["afzender"] == retry["afzender"]


async def test_the_page_runs_only_its_own_script(rasa_down, page) -> None:
    """The CSP is enforced: an injected inline script does not run and is reported, while
    the page's own script (a file) works."""
    console = Console(page)
    await page.goto(f"{rasa_down}/chat")
    await wait_for(page, "document.querySelector('.msg.fout') !== null")  # chat.js ran
    assert console.csp_violations() == []
    violations = await page.evaluate("""() => new Promise(resolve => {
        const seen = [];
        document.addEventListener('securitypolicyviolation',
                                  e => seen.push(e.violatedDirective));
        const s = document.createElement('script');
        s.textContent = 'window.__inline = 1';
        document.body.appendChild(s);
        const b = document.createElement('button');
        b.setAttribute('onclick', 'window.__handler = 1');
        document.body.appendChild(b);
        b.click();
        setTimeout(() => resolve(seen), 300);
    })""")
    assert await page.evaluate("window.__inline === undefined && window.__handler === undefined")
    assert violations and all(v.startswith("script-src") for v in violations)
    assert console.csp_violations()  # and the browser says so


async def test_text_is_shown_as_text_never_as_html(rasa_down, page) -> None:
    """What a student types and what the coach answers (which may quote the student) are
    shown literally: no element, no script, no markup is made from them."""
    tricky = '<img src=x onerror="window.__xss=1"> <b>vet</b> **ook vet** &amp;'

    async def answer(route) -> None:  # noqa: ANN001 - a reply as Rasa could give it
        await route.fulfill(status=200, content_type="application/json",
                            body=json.dumps({"antwoorden": [f"Je vertelde: “{tricky}”"]}))

    await page.goto(f"{rasa_down}/chat")
    await wait_for(page, "document.querySelector('.msg.fout') !== null")
    await page.route("**/chat/bericht", answer)
    await type_and_send(page, tricky)
    await bot_says(page, "Je vertelde")
    assert await page.evaluate(MINE) == [tricky]
    assert tricky in await page.evaluate(BUBBLES)
    assert await page.evaluate("document.querySelectorAll('#gesprek *:not(.msg)').length") == 0
    assert await page.evaluate("window.__xss === undefined")


@pytest.mark.rasa
async def test_new_conversation_forgets_the_previous_student(portal, page) -> None:
    """Student A chats and leaves with "Nieuw gesprek"; student B in the same browser sees
    nothing of A, gets a new random id, and "wat heb ik ontdekt" tells B nothing of A (with
    A's id it would go back to A's open question)."""
    await page.goto(f"{portal}/chat")
    await bot_says(page, "Zullen we beginnen?")
    first = await page.evaluate(CHAT_ID)
    await type_and_send(page, "ja")
    await bot_says(page, LEVEL_ASK)  # nobody set this student's level
    await type_and_send(page, "mbo")
    await bot_says(page, "Welke ervaring")
    await type_and_send(page, "ik heb stage gelopen bij een dierenarts")
    await bot_says(page, ROLE_QUESTION)

    await page.get_by_role("button", name="Nieuw gesprek").click()
    await wait_for(page, "document.querySelectorAll('.msg.me').length === 0")
    await bot_says(page, "Zullen we beginnen?")
    screen = await page.evaluate("document.getElementById('gesprek').textContent")
    assert "dierenarts" not in screen and ROLE_QUESTION not in screen
    second = await page.evaluate(CHAT_ID)
    assert second["id"] != first["id"] and len(second["id"]) == 32
    assert await page.evaluate("localStorage.length") == 0

    await type_and_send(page, "wat heb ik ontdekt")
    await bot_says(page, "ontdekt")
    replies = await page.evaluate(BUBBLES)
    assert "nog niks ontdekt" in replies
    assert "dierenarts" not in replies and ROLE_QUESTION not in replies


@pytest.mark.rasa
async def test_an_idle_chat_is_forgotten(quick_idle_portal, page) -> None:
    """After PORTAL_CHAT_IDLE_MINUTES without activity (here 3 s) the chat leaves the screen
    and the id is forgotten; the next student starts fresh."""
    await page.goto(f"{quick_idle_portal}/chat")
    await bot_says(page, "Zullen we beginnen?")
    first = await page.evaluate(CHAT_ID)
    await type_and_send(page, "ja")
    await bot_says(page, LEVEL_ASK)  # nobody set this student's level
    await type_and_send(page, "mbo")
    await bot_says(page, "Welke ervaring")
    await wait_for(page, "document.querySelectorAll('.msg.me').length === 0", timeout=20_000)
    await wait_for(page, "document.getElementById('gesprek').textContent.includes('stil')")
    await bot_says(page, "Zullen we beginnen?")
    assert "Welke ervaring" not in await page.evaluate(BUBBLES)
    second = await page.evaluate(CHAT_ID)
    assert second["id"] != first["id"] and not second["gebruikt"]
    # A reload after the expiry does not bring the old id back either.
    await page.reload()
    await bot_says(page, "Zullen we beginnen?")
    assert (await page.evaluate(CHAT_ID))["id"] != first["id"]


@pytest.mark.rasa
async def test_the_chat_shows_what_the_coach_wrote_while_it_was_closed(servers, portal,
                                                                      page) -> None:
    """A student pauses; days later the worker sends the one reminder through Rasa (the web
    chat cannot receive it then); when the student opens the chat again, it is there, once."""
    from datetime import timedelta

    from bot.conversation.followups import LOCAL, REMINDER_DAYS
    from bot.conversation.script import get_script
    from tests.test_conversation import jobs_runner, student_rows

    script = get_script()
    await page.goto(f"{portal}/chat")
    await bot_says(page, "Zullen we beginnen?")
    await type_and_send(page, "ja")
    await bot_says(page, LEVEL_ASK)  # nobody set this student's level
    await type_and_send(page, "mbo")
    await bot_says(page, "Welke ervaring")
    await type_and_send(page, "ik heb stage gelopen bij een dierenarts")
    await bot_says(page, ROLE_QUESTION)
    await type_and_send(page, "ik moet nu weg, later verder")
    await bot_says(page, script.text("pauze")[0])
    sender = "web-" + (await page.evaluate(CHAT_ID))["id"]
    sessions, *_ = student_rows(servers, sender)
    day = sessions[-1].updated_at.astimezone(LOCAL) + timedelta(days=REMINDER_DAYS + 1)
    day = day.replace(hour=11, minute=0) + timedelta(days=1 if day.weekday() == 6 else 0)
    assert "reminders_sent" in jobs_runner(servers)(day.isoformat())
    reminder = script.text("herinnering_verder",
                           ervaring="ik heb stage gelopen bij een dierenarts")
    await page.reload()
    await bot_says(page, reminder[0])
    await bot_says(page, reminder[1])
    await page.reload()  # delivered once
    await wait_for(page, "document.querySelectorAll('.msg.info').length > 0")
    assert reminder[0] not in await page.evaluate(BUBBLES)
    await type_and_send(page, "ja")
    await bot_says(page, script.text("hervatten")[0])
