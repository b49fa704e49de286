"""The mentor portal in a real browser (Playwright driving Debian's headless Chromium), with
the portal as its own process on a migrated SQLite database: a mentor logs in, opens the
student with the urgent flag (on top of "Mijn studenten"), marks it as seen and resolves it
with a note, opens the gesprekskaart and logs out; a second mentor who goes straight to
those addresses gets a 404 and sees nothing of that student. Every page works under the
portal's Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from bot.devservers import free_port, isolated_env, upgrade_database
from bot.storage import accounts
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import Flag, School, SchoolClass, Student
from bot.storage.types import utcnow
from tests.portal_helpers import portal_page, running_portal

PASSWORD_1 = "correct-paard-batterij"
PASSWORD_2 = "ander-paard-nietje-42"
NAME = "Zoë de Vries"
QUIET = "Aap Rustig"
OTHER = "Bram Ander"
EVIDENCE = "ik zie het niet meer zitten geheimwoord"
EXPERIENCE = "Ik liep stage bij de dierenarts"
NOTE = "Gebeld met haar moeder & <samen> een afspraak gemaakt."
WAIT_MS = 15_000


@dataclass
class Site:
    url: str
    student: int  # mentor 1's student with the urgent flag
    flag: int
    database_url: str


def _seed() -> tuple[int, int]:
    """Two mentors of one school; mentor 1 has a quiet student (added first) and one with an
    urgent flag and a conversation; mentor 2 has a student of their own."""
    with dbmod.session_scope() as db:
        school = School(name="Het College")
        db.add(school)
        db.flush()
        accounts.add_user(db, "mentor", "m1@school.test", "Mentor Een", PASSWORD_1,
                          school=school.name)
        accounts.add_user(db, "mentor", "m2@school.test", "Mentor Twee", PASSWORD_2,
                          school=school.name)
        m1 = accounts.find_user(db, "m1@school.test")
        m2 = accounts.find_user(db, "m2@school.test")
        klas = SchoolClass(school=school, name="4B", level="vmbo")
        quiet = Student(school_id=school.id, school_class=klas, mentor=m1, display_name=QUIET)
        db.add_all([klas, quiet])
        db.flush()
        student = Student(school_id=school.id, school_class=klas, mentor=m1,
                          display_name=NAME, level="vmbo")
        other = Student(school_id=school.id, mentor=m2, display_name=OTHER)
        db.add_all([student, other])
        db.flush()
        session = repo.start_session(db, student, "rest", "vmbo")
        session.started_at = utcnow() - timedelta(days=2)
        repo.save_answer(db, session, "terugkijken", "ervaring", EXPERIENCE, "answer", None)
        flag = Flag(student_id=student.id, session_id=session.id, category="crisis",
                    severity="urgent", evidence=EVIDENCE, excerpt=EVIDENCE, status="open")
        db.add_all([flag, Flag(student_id=other.id, category="uitval", severity="attention",
                               evidence="stoppen", status="open")])
        db.flush()
        return student.id, flag.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    env = isolated_env(tmp_path_factory.mktemp("portal-browser"))
    upgrade_database(env)
    dbmod.configure(env["DATABASE_URL"])
    try:
        student, flag = _seed()
    finally:
        dbmod.configure(None)
    # Plain http on loopback: the session cookie cannot be Secure here. Rasa is not needed.
    with running_portal(env, f"http://127.0.0.1:{free_port()}",
                        PORTAL_COOKIE_SECURE="0") as url:
        yield Site(url, student, flag, env["DATABASE_URL"])


def _open_flag(site: Site) -> int:
    """A new open flag for the student: the module's tests share one database, and the first
    test resolves the seeded flag."""
    dbmod.configure(site.database_url)
    try:
        with dbmod.session_scope() as db:
            flag = Flag(student_id=site.student, category="druk_omgeving", severity="attention",
                        evidence="te veel druk", status="open")
            db.add(flag)
            db.flush()
            return flag.id
    finally:
        dbmod.configure(None)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with portal_page(WAIT_MS) as page:
        yield page


async def log_in(page: Page, site: Site, email: str, password: str) -> None:
    await page.goto(f"{site.url}/login")
    await page.get_by_label("E-mailadres").fill(email)
    await page.get_by_label("Wachtwoord").fill(password)
    await page.get_by_role("button", name="Inloggen").click()
    await page.wait_for_url(f"{site.url}/mentor")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mijn studenten")


async def test_mentor_acknowledges_and_resolves_an_urgent_flag(page: Page, site: Site) -> None:
    await log_in(page, site, "m1@school.test", PASSWORD_1)
    rows = page.locator("table.studenten tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text(NAME)  # urgent on top, though added later
    await expect(page.get_by_role("link", name=OTHER)).to_have_count(0)

    await page.get_by_role("link", name=NAME).click()
    await page.wait_for_url(f"{site.url}/mentor/studenten/{site.student}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    flag = page.locator(f"#signaal-{site.flag}")
    await expect(flag).to_contain_text("Urgent")
    await expect(flag).to_contain_text(EVIDENCE)
    await expect(flag).to_contain_text("Open")

    await flag.get_by_role("button", name="Gezien").click()
    await expect(flag).to_contain_text("Gezien door Mentor Een")
    await expect(flag.get_by_role("button", name="Gezien")).to_have_count(0)

    # Without a note the browser does not send the form (the server would refuse it too).
    note = flag.get_by_label("Notitie bij het afhandelen")
    await flag.get_by_role("button", name="Afhandelen").click()
    assert await note.evaluate("field => field.validity.valueMissing")
    await expect(flag).to_contain_text("Gezien door Mentor Een")
    await note.fill(NOTE)
    await flag.get_by_role("button", name="Afhandelen").click()
    await expect(page.get_by_text("Geen open signalen.")).to_be_visible()
    # Back on the page at the flag (#signaal-N): the browser unfolds "Afgehandelde signalen".
    resolved = page.locator(f"details.afgehandeld #signaal-{site.flag}")
    await expect(resolved).to_be_visible()
    await expect(resolved).to_contain_text(f"Notitie: {NOTE}")
    # Opened afresh (what the database holds), the resolved flags are folded away.
    await page.goto(f"{site.url}/mentor/studenten/{site.student}")
    await expect(resolved).to_be_hidden()
    await page.get_by_text("Afgehandelde signalen (1)").click()
    await expect(resolved).to_be_visible()
    await expect(resolved).to_contain_text("Afgehandeld door Mentor Een")
    await expect(resolved).to_contain_text(f"Notitie: {NOTE}")  # shown as text, not HTML
    await expect(resolved.locator("samen")).to_have_count(0)
    await expect(resolved.get_by_role("button")).to_have_count(0)

    await page.get_by_role("button", name="Uitloggen").click()
    await page.wait_for_url(f"{site.url}/login")
    await page.goto(f"{site.url}/mentor/studenten/{site.student}")
    # The session is gone: back to the login page, nothing of the student.
    await expect(page).to_have_url(re.compile(r"/login(\?|$)"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")
    assert NAME not in await page.content()


async def test_mentor_opens_the_gesprekskaart(page: Page, site: Site) -> None:
    await log_in(page, site, "m1@school.test", PASSWORD_1)
    await page.get_by_role("link", name=NAME).click()
    await page.wait_for_url(f"{site.url}/mentor/studenten/{site.student}")
    await page.get_by_role("link", name="Gesprekskaart").click()
    await page.wait_for_url(f"{site.url}/mentor/studenten/{site.student}/gesprekskaart")
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_contain_text("Gesprekskaart")
    await expect(heading).to_contain_text(NAME)


async def test_a_second_mentor_cannot_reach_the_student(page: Page, site: Site) -> None:
    await log_in(page, site, "m2@school.test", PASSWORD_2)
    mine = await page.content()
    assert OTHER in mine and NAME not in mine and EVIDENCE not in mine

    missing = site.student + 1000
    for path in ("", "/gesprekskaart"):
        response = await page.goto(f"{site.url}/mentor/studenten/{site.student}{path}")
        assert response is not None and response.status == 404, path
        shown = await page.content()
        for secret in (NAME, EVIDENCE, EXPERIENCE, "Zoë", "dierenarts", "4B"):
            assert secret not in shown, (path, secret)
        # Exactly as a student that does not exist: nothing tells that this one does.
        unknown = await page.goto(f"{site.url}/mentor/studenten/{missing}{path}")
        assert unknown is not None and unknown.status == 404
        assert await page.content() == shown, path


@pytest.mark.parametrize("size", [(768, 1024), (1024, 768)], ids=["tablet", "tablet-liggend"])
async def test_the_mentor_pages_fit_a_tablet(page: Page, site: Site, size) -> None:
    """Issue 12: the portal works on a tablet: no page scrolls sideways, the flag's buttons
    stay on the screen."""
    width, height = size
    flag = _open_flag(site)
    await page.set_viewport_size({"width": width, "height": height})
    await log_in(page, site, "m1@school.test", PASSWORD_1)
    wide = "document.documentElement.scrollWidth <= window.innerWidth"
    assert await page.evaluate(wide), "Mijn studenten scrolls sideways"
    await page.get_by_role("link", name=NAME).click()
    await page.wait_for_url(f"{site.url}/mentor/studenten/{site.student}")
    assert await page.evaluate(wide), "the student page scrolls sideways"
    button = page.locator(f"#signaal-{flag}").get_by_role("button", name="Gezien")
    box = await button.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    await page.goto(f"{site.url}/mentor/studenten/{site.student}/gesprekskaart")
    assert await page.evaluate(wide), "the gesprekskaart scrolls sideways"
