"""The coordinator's editors in a real browser (Playwright driving Debian's headless Chromium)
against the real Rasa and action servers: a coordinator rewords a question and switches an
optional question on, and the next conversation over REST shows both without retraining,
while a conversation already under way finishes on its own version; putting an older version
back restores the old wording; a flag-rule change that would lower crisis recall is refused.
The texts come from the script (bot.conversation.script), never repeated here."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import yaml
from playwright.async_api import Page, expect
from sqlalchemy import select

from bench.conversation import closing_line
from bot.conversation import live_config
from bot.conversation.script import Script, get_script, parse
from bot.paths import SCRIPT_FILE
from bot.portal import yaml_roundtrip
from bot.storage import accounts
from bot.storage import config_versions as versions
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import ConfigVersion, Flag, School
from tests.portal_helpers import portal_page, running_portal

pytestmark = pytest.mark.rasa

PASSWORD = "correct-paard-batterij-7"
EMAIL = "lob@editor.test"
NEW_WORDING = "Vertel eens: welke ervaring wil je vandaag met me bespreken?"
NEW_PHRASE = "schoenendoosbudget"  # no rule or model flags it before the coordinator adds it
OPTIONAL = "verwachting"  # off in the school's first version; the coordinator switches it on
WAIT_MS = 20_000
EVAL_WAIT_MS = 180_000  # the first check loads the Dutch pipeline and model in the portal


@dataclass
class Site:
    url: str
    school_id: int
    servers: object


def _first_version() -> str:
    """The school's version 1: the file, with the optional question switched off."""
    doc = yaml_roundtrip.load(SCRIPT_FILE.read_text(encoding="utf-8"))
    for step in doc["stappen"].values():
        for question in step["vragen"]:
            if question["key"] == OPTIONAL:
                question["aan"] = False
    return yaml_roundtrip.dump(doc)


def _seed() -> int:
    with dbmod.session_scope() as db:
        school = School(name=f"Editor College {uuid.uuid4().hex[:6]}")
        db.add(school)
        db.flush()
        accounts.add_user(db, "coordinator", EMAIL, "Coördinator Editor", PASSWORD,
                          school=school.name)
        author = accounts.principal_of(accounts.find_user(db, EMAIL))
        versions.save(db, "script", school.id, _first_version(), "Eerste versie.", author)
        return school.id


def _student(site: Site) -> str:
    """A new student of the school (only this school's students get its versions)."""
    sender = f"editor-{uuid.uuid4().hex[:10]}"
    dbmod.configure(site.servers.env["DATABASE_URL"])  # type: ignore[attr-defined]
    try:
        with dbmod.session_scope() as db:
            repo.get_or_create_student(db, "rest", sender).school_id = site.school_id
    finally:
        dbmod.configure(None)
    return sender


@pytest.fixture(scope="module")
def site(servers) -> Iterator[Site]:  # noqa: ANN001 - tests.conftest.Servers
    dbmod.configure(servers.env["DATABASE_URL"])
    try:
        school_id = _seed()
    finally:
        dbmod.configure(None)
    with running_portal(servers.env, servers.rasa_url, PORTAL_COOKIE_SECURE="0") as url:
        yield Site(url, school_id, servers)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with portal_page(WAIT_MS) as page:
        yield page


async def log_in(page: Page, site: Site) -> None:
    await page.goto(f"{site.url}/login")
    await page.get_by_label("E-mailadres").fill(EMAIL)
    await page.get_by_label("Wachtwoord").fill(PASSWORD)
    await page.get_by_role("button", name="Inloggen").click()
    await page.wait_for_url(f"{site.url}/mentor")


def _texts(script: Script, key: str) -> list[str]:
    return script.render(script.question(key).text)


def _in_use(site: Site, kind: str) -> ConfigVersion | None:
    dbmod.configure(site.servers.env["DATABASE_URL"])  # type: ignore[attr-defined]
    try:
        with dbmod.session_scope() as db:
            found = versions.newest(db, kind, site.school_id)
            if found is not None:
                db.expunge(found)
            return found
    finally:
        dbmod.configure(None)


def _after_cache() -> None:
    """A saved version is in use once the action server's short cache expires."""
    time.sleep(live_config.CACHE_SECONDS + 0.5)


def _to_first_question(site: Site, sender: str) -> str:
    say = site.servers.say  # type: ignore[attr-defined]
    say(sender, "hoi")
    say(sender, "ja")  # the level first: nobody set it
    return "\n".join(say(sender, "mbo"))


async def test_a_coordinator_rewords_a_question_and_switches_one_on(page: Page,
                                                                    site: Site) -> None:
    say = site.servers.say  # type: ignore[attr-defined]
    script = get_script()
    # Step 1 of the shipped script ends without a summary check: the next step begins.
    next_step = _texts(script, "moment")[0]  # after the role, with 'verwachting' off
    old_wording = _texts(script, "ervaring")[0]
    optional_text = _texts(script, OPTIONAL)[0]
    # A conversation that starts on version 1 (the optional question off) ...
    early = _student(site)
    assert old_wording in _to_first_question(site, early)

    await log_in(page, site)
    await page.get_by_role("link", name="Gesprek", exact=True).click()
    await page.wait_for_url(f"{site.url}/beheer/gesprek")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Gesprek aanpassen")
    question = page.locator("#vraag-ervaring")
    await question.locator(":scope > summary").click()
    await question.get_by_label("Vraag (standaard)", exact=True).fill(NEW_WORDING)
    optional = page.locator(f"#vraag-{OPTIONAL}")
    await optional.locator(":scope > summary").click()
    switch = optional.get_by_label("Deze vraag stellen")
    await expect(switch).not_to_be_checked()
    await switch.check()
    # The preview shows step 1 as a vmbo student reads it, before anything is saved.
    await page.get_by_label("Voorbeeld van stap").select_option("terugkijken")
    await page.get_by_label("voor een student met niveau").select_option("vmbo")
    await page.get_by_role("button", name="Voorbeeld bekijken").click()
    preview = page.locator("#voorbeeld")
    await expect(preview).to_contain_text(NEW_WORDING)
    # ... in the vmbo wording of the optional question
    await expect(preview).to_contain_text(script.render(script.question(OPTIONAL).text,
                                                        "vmbo")[0])
    await expect(page.get_by_text("nog niet opgeslagen")).to_be_visible()
    assert _in_use(site, "script").number == 1  # type: ignore[union-attr]

    await page.get_by_role("button", name="Opslaan").click()
    await expect(page.get_by_role("status")).to_contain_text("Opgeslagen als versie 2")
    row = page.locator("#versie-2")
    await expect(row).to_contain_text("Coördinator Editor")
    await expect(row).to_contain_text(f"vraag '{OPTIONAL}' aangezet")
    saved = _in_use(site, "script")
    assert saved is not None and saved.number == 2
    assert _texts(parse(yaml.safe_load(saved.content)), "ervaring") == [NEW_WORDING]

    _after_cache()
    # ... finishes on version 1: the old wording's follow-up, the optional question skipped.
    rol = _texts(script, "rol")[0]
    assert rol in "\n".join(say(early, "ik liep stage bij een bakker"))
    assert next_step in "\n".join(say(early, "ik bakte broodjes"))
    # The next conversation is on version 2: the new wording and the question switched on.
    sender = _student(site)
    first = _to_first_question(site, sender)
    assert NEW_WORDING in first and old_wording not in first
    assert rol in "\n".join(say(sender, "ik liep stage bij een garage"))
    assert optional_text in "\n".join(say(sender, "ik hielp met banden wisselen"))

    # The diff of version 2 shows the old and the new wording.
    await page.get_by_role("link", name="Versie 2", exact=True).click()
    await expect(page.locator("pre.verschil .erbij").filter(has_text=NEW_WORDING)).to_have_count(1)
    await expect(page.locator("pre.verschil .eraf").filter(
        has_text=old_wording)).to_have_count(1)

    # Putting version 1 back restores the old wording (as version 3).
    await page.goto(f"{site.url}/beheer/gesprek")
    await page.get_by_role("button", name="Versie 1 terugzetten").click()
    await expect(page.get_by_role("status")).to_contain_text("Versie 1 is teruggezet")
    await expect(page.locator("#versie-3")).to_contain_text("Teruggezet naar versie 1.")
    _after_cache()
    again = _student(site)
    first = _to_first_question(site, again)
    assert old_wording in first and NEW_WORDING not in first


async def _open(page: Page, question: str) -> None:
    await page.locator(f"#vraag-{question} > summary").click()


async def test_a_coordinator_reorders_questions_and_switches_a_step_and_a_check_off(
        page: Page, site: Site) -> None:
    say = site.servers.say  # type: ignore[attr-defined]
    await log_in(page, site)
    await page.goto(f"{site.url}/beheer/gesprek")
    before = _in_use(site, "script").number  # type: ignore[union-attr]
    activeren = [q.key for q in get_script().steps["activeren"].questions]
    # Putting a question before the experience it is about is refused in Dutch.
    await _open(page, "rol")
    await page.locator("#vraag-rol").get_by_label("Plaats in deze stap").select_option("1")
    await page.get_by_role("button", name="Opslaan").click()
    await expect(page.get_by_role("alert")).to_contain_text("'ervaring' moet de eerste vraag")
    assert _in_use(site, "script").number == before  # type: ignore[union-attr]

    await page.goto(f"{site.url}/beheer/gesprek")
    await _open(page, "wanneer")
    await page.locator("#vraag-wanneer").get_by_label("Plaats in deze stap").select_option(
        str(activeren.index("hulp_contact") + 1))
    reflecteren = page.locator("#stap-reflecteren")
    await reflecteren.get_by_label("Deze stap gebruiken").uncheck()
    await expect(page.locator("#stap-terugkijken").get_by_label(
        "Na deze stap een samenvatting geven")).not_to_be_checked()  # shipped without
    await page.locator("#stap-activeren").get_by_label(
        "Na deze stap een samenvatting geven").uncheck()
    # A question added and one removed: no developer, no retraining.
    await _open(page, "obstakel")
    await page.locator("#vraag-obstakel").get_by_label("Deze vraag weghalen").check()
    added = page.locator("#nieuw-activeren")
    await added.locator(":scope > summary").click()
    await added.get_by_label("Vraag", exact=True).fill("Wat heb je daarvoor nodig?")
    await added.get_by_label("Uitleg").fill("Denk aan spullen, informatie of iemand.")
    await added.get_by_label("Voorbeeld").fill("Bijvoorbeeld: 'Het adres van de studio.'")
    await expect(page.locator("#stap-activeren")).to_contain_text("staat altijd aan")
    await page.get_by_label("Voorbeeld van stap").select_option("reflecteren")
    await page.get_by_role("button", name="Voorbeeld bekijken").click()
    await expect(page.locator("#voorbeeld")).to_contain_text("Deze stap staat uit")
    await page.get_by_role("button", name="Opslaan").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Opgeslagen als versie {before + 1}")
    row = page.locator(f"#versie-{before + 1}")
    for change in ("stap 'reflecteren' uitgezet", "samenvatting na stap 'activeren' uitgezet",
                   "volgorde van de vragen in stap 'activeren' aangepast",
                   "vraag 'obstakel' weggehaald", "vraag 'daarvoor_nodig' toegevoegd"):
        await expect(row).to_contain_text(change, ignore_case=True)
    await expect(page.locator("#stap-reflecteren h2")).to_contain_text("staat uit")
    saved = parse(yaml.safe_load(_in_use(site, "script").content))  # type: ignore[union-attr]
    order = [q.key for q in saved.steps["activeren"].questions]
    assert order.index("wanneer") < order.index("hulp_contact")
    assert order[-1] == "daarvoor_nodig" and "obstakel" not in order

    _after_cache()
    # The next conversation: step 2 skipped, 'wanneer' before 'hulp_contact' in step 4, the
    # new question last and 'obstakel' never, no check at the end of step 4 (and none after
    # steps 1 and 3, as shipped).
    sender = _student(site)
    _to_first_question(site, sender)
    say(sender, "ik liep stage bij een drukkerij")
    say(sender, "ik vouwde folders en hielp bij de machine")  # the role; then the moment
    after_one = "\n".join(say(sender, "toen de grote drukpers voor het eerst draaide"))
    assert saved.render(saved.steps["terugkijken"].summary_question)[0] not in after_one
    assert _texts(saved, "uitproberen")[0] in after_one
    assert not any(_texts(saved, q.key)[0] in after_one
                   for q in saved.steps["reflecteren"].questions)
    say(sender, "meer weten over grafisch ontwerp")
    assert _texts(saved, order[0])[0] in "\n".join(say(sender, "een open dag bezoeken"))
    answers = {"eerste_stap": "de open dag van een ontwerpstudio bezoeken",
               "wanneer": "zaterdag", "hulp_contact": "ik app mijn nicht, zij is ontwerper",
               "oplossing": "ik schrijf mijn vraag op",
               "daarvoor_nodig": "het adres en een mapje met tekeningen"}
    for n, key in enumerate(order):
        replies = "\n".join(say(sender, answers[key]))
        if n + 1 < len(order):
            assert _texts(saved, order[n + 1])[0] in replies, (key, replies)
    assert saved.render(saved.steps["activeren"].summary_question)[0] not in replies
    assert closing_line(saved, answers["eerste_stap"], answers["wanneer"], None) in replies

    # Putting the version before back restores the shape for the next test.
    await page.get_by_role("button", name=f"Versie {before} terugzetten").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Versie {before} is teruggezet")


async def test_a_rule_change_that_lowers_crisis_recall_is_refused(page: Page,
                                                                  site: Site) -> None:
    await log_in(page, site)
    await page.get_by_role("link", name="Signalen", exact=True).click()
    await page.wait_for_url(f"{site.url}/beheer/signalen")
    crisis = page.locator("#categorie-crisis")
    await crisis.locator(":scope > summary").click()
    exceptions = crisis.get_by_label("Uitzonderingen")
    original = await exceptions.input_value()
    # An exception as wide as "ik" hides most crisis messages from the rules.
    await exceptions.fill(original + "\nik")
    await page.get_by_role("button", name="Opslaan").click(timeout=EVAL_WAIT_MS)
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("De crisisherkenning wordt slechter",
                                        timeout=EVAL_WAIT_MS)
    await expect(alert).to_contain_text("niet opgeslagen")
    # What the change would do is shown: crisis messages that stop raising a flag.
    await expect(page.locator("#effect")).to_contain_text("meldt niet meer crisis (gemist!)")
    assert _in_use(site, "signal_rules") is None
    dbmod.configure(site.servers.env["DATABASE_URL"])  # type: ignore[attr-defined]
    try:
        with dbmod.session_scope() as db:
            refused = db.execute(select(ConfigVersion).where(
                ConfigVersion.kind == "signal_rules")).scalars().all()
            assert refused == []
    finally:
        dbmod.configure(None)

    # A new phrase for money worries is checked, saved and used by the running detector.
    await crisis.locator(":scope > summary").click()
    await exceptions.fill(original)
    money = page.locator("#categorie-financien")
    await money.locator(":scope > summary").click()
    phrases = money.get_by_label("Woorden en zinnen")
    await phrases.fill((await phrases.input_value()) + f"\n{NEW_PHRASE}")
    await page.get_by_role("button", name="Controleren").click(timeout=EVAL_WAIT_MS)
    await expect(page.locator("#effect")).to_be_visible(timeout=EVAL_WAIT_MS)
    await expect(page.get_by_role("status")).to_contain_text("Nog niet opgeslagen")
    await page.get_by_role("button", name="Opslaan").click(timeout=EVAL_WAIT_MS)
    await expect(page.get_by_role("status")).to_contain_text("Opgeslagen als versie 1",
                                                             timeout=EVAL_WAIT_MS)
    await expect(page.locator("#versie-1")).to_contain_text("Financien: woorden en zinnen 1 erbij")
    _after_cache()
    sender = _student(site)
    say = site.servers.say  # type: ignore[attr-defined]
    say(sender, "hoi")
    reply = "\n".join(say(sender, f"ik heb een probleem met mijn {NEW_PHRASE}"))
    assert get_script().attention_reply("financien")[0] in reply
    dbmod.configure(site.servers.env["DATABASE_URL"])  # type: ignore[attr-defined]
    try:
        with dbmod.session_scope() as db:
            student = repo.get_or_create_student(db, "rest", sender)
            flags = db.execute(select(Flag).where(Flag.student_id == student.id)).scalars()
            assert [f.category for f in flags] == ["financien"]
    finally:
        dbmod.configure(None)


def _school_counts(site: Site) -> tuple[int, int]:
    from sqlalchemy import func

    from bot.storage.models import Mentor, Student

    dbmod.configure(site.servers.env["DATABASE_URL"])  # type: ignore[attr-defined]
    try:
        with dbmod.session_scope() as db:
            return (db.execute(select(func.count(Student.id))
                               .where(Student.school_id == site.school_id)).scalar_one(),
                    db.execute(select(func.count(Mentor.id))).scalar_one())
    finally:
        dbmod.configure(None)


async def test_a_csv_with_one_bad_row_imports_nothing_and_names_the_row(page: Page,
                                                                       site: Site) -> None:
    """A coordinator uploads mentors and students; row 3 has a level that does not exist:
    nothing is imported and the page names that row. Without the bad row it imports."""
    from bot.portal.school_import import MENTOR_COLUMNS, STUDENT_COLUMNS

    mentors = ";".join(MENTOR_COLUMNS) + "\nMevrouw Import;import@editor.test\n"
    good = ";".join(STUDENT_COLUMNS) + "\nKievit;2C;vmbo;import@editor.test;;\n"
    bad = good + "Merel;2C;havo;import@editor.test;;\n"  # row 3: 'havo' is no level here
    before = _school_counts(site)
    await log_in(page, site)
    await page.goto(f"{site.url}/beheer/importeren")

    async def upload(students: str, button: str) -> None:
        await page.get_by_label("Mentoren (CSV)").set_input_files(
            {"name": "mentoren.csv", "mimeType": "text/csv", "buffer": mentors.encode()})
        await page.get_by_label("Studenten (CSV)").set_input_files(
            {"name": "studenten.csv", "mimeType": "text/csv", "buffer": students.encode()})
        await page.get_by_role("button", name=button).click()

    await upload(bad, "Importeren")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Er is niets geïmporteerd")
    await expect(alert).to_contain_text("rij 3")
    await expect(alert).to_contain_text("havo")
    assert _school_counts(site) == before  # all or nothing
    await upload(good, "Importeren")
    await expect(page.get_by_role("heading", name="Geïmporteerd")).to_be_visible()
    students, users = _school_counts(site)
    assert (students, users) == (before[0] + 1, before[1] + 1)
