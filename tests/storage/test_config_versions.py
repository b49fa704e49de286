"""The version store of the coordinator's editors (conversation script, flag rules), on SQLite
and PostgreSQL: numbering per kind and school, rollback as a new version, audit rows without
content; what the running assistant uses (bot.conversation.live_config: the newest version of the
student's school, a conversation pinned to the version it started with, the file as fallback); and
the conversation editor over HTTP (coordinators only, CSRF, Dutch validation, versions, diff,
rollback, a school sees only its own versions)."""

from __future__ import annotations

import html
import re

import pytest
import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import service
from bot.conversation import live_config
from bot.conversation import script as script_mod
from bot.paths import SCRIPT_FILE, SIGNAL_RULES_FILE
from bot.portal import rules_form, script_form, yaml_roundtrip
from bot.storage import accounts
from bot.storage import config_versions as versions
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import AuditLog, Conversation, School, Student
from bot.text import signals
from tests.storage.test_mentor_portal import (  # noqa: F401
    Seed,
    _csrf,
    login,
    portal,
    seed,
)

FILE_TEXT = SCRIPT_FILE.read_text(encoding="utf-8")
NEW_WORDING = "Over welke ervaring wil je vandaag praten?"


def _principal(email: str) -> accounts.Principal:
    with dbmod.session_scope() as db:
        return accounts.principal_of(accounts.find_user(db, email))


def _question_text(content: str, key: str) -> str:
    script = script_mod.parse(yaml.safe_load(content))
    return script.render(script.question(key).text)[0]


def _with_wording(content: str, key: str, text: str) -> str:
    doc = yaml_roundtrip.load(content)
    for step in doc["stappen"].values():
        for q in step["vragen"]:
            if q["key"] == key:
                q["tekst"] = text
    return yaml_roundtrip.dump(doc)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    live_config.clear()


def test_versions_are_numbered_per_kind_and_school_and_audited(storage: str,
                                                               seed: Seed) -> None:  # noqa: F811
    c1, c2 = _principal("c1@school.test"), _principal("c2@elders.test")
    with dbmod.session_scope() as db:
        first = versions.save(db, "script", c1.school_id, FILE_TEXT, "Eerste.", c1)
        second = versions.save(db, "script", c1.school_id, FILE_TEXT + "# x\n", "Tweede.", c1)
        rules = versions.save(db, "signal_rules", c1.school_id, "versie: 1\n", "Regels.", c1)
        other = versions.save(db, "script", c2.school_id, FILE_TEXT, "Elders.", c2)
        assert (first.number, second.number, rules.number, other.number) == (1, 2, 1, 1)
    with dbmod.session_scope() as db:
        assert versions.newest(db, "script", c1.school_id).number == 2
        assert [v.number for v in versions.history(db, "script", c1.school_id)] == [2, 1]
        assert versions.history(db, "script", c1.school_id)[0].author_name == "Coördinator"
        with pytest.raises(versions.NotFound):  # another school's version is not there
            versions.get(db, "script", c1.school_id, 5)
        back = versions.rollback(db, "script", c1.school_id, 1, c1)
        assert back.number == 3 and back.content == FILE_TEXT
        assert back.summary == "Teruggezet naar versie 1."
        assert versions.in_use(db, "script", None) is None  # nothing installation-wide
        audits = db.execute(select(AuditLog).where(
            AuditLog.action == "config.script.save")).scalars().all()
        assert len(audits) == 4 and all(a.actor.startswith("coordinator:") for a in audits)
        assert all("stappen" not in str(a.detail) for a in audits)  # never the content
        diff = versions.diff(first.content, second.content, "versie 1", "versie 2")
        assert "+# x" in diff


def test_the_assistant_uses_the_newest_version_of_the_school_and_pins_conversations(
        storage: str, seed: Seed) -> None:  # noqa: F811
    c1 = _principal("c1@school.test")
    with dbmod.session_scope() as db:
        school = db.execute(select(School).where(School.name == "Het College")).scalar_one()
        student = repo.get_or_create_student(db, "rest", "student-a")
        student.school_id = school.id
        repo.get_or_create_student(db, "rest", "student-b")  # no school
    original = _question_text(FILE_TEXT, "ervaring")
    # Nothing saved: the file, and a conversation started now is on the file (None).
    session_file = service.start_session("rest", "student-a", "vmbo")
    script, rules = live_config.resolve("rest", "student-a", None)
    assert script is None and rules is None
    with dbmod.session_scope() as db:
        versions.save(db, "script", c1.school_id, _with_wording(FILE_TEXT, "ervaring",
                                                                NEW_WORDING), "Nieuw.", c1)
    live_config.clear()
    script, _ = live_config.resolve("rest", "student-a", None)
    assert script.render(script.question("ervaring").text)[0] == NEW_WORDING
    # The conversation that started on the file finishes on the file.
    script, _ = live_config.resolve("rest", "student-a", session_file)
    assert script is None
    # A new conversation is pinned to the version of its start ...
    session_new = service.start_session("rest", "student-a", "vmbo")
    with dbmod.session_scope() as db:
        pinned = db.get(Conversation, session_new).script_version
        assert pinned == versions.newest(db, "script", c1.school_id).id
        versions.rollback(db, "script", c1.school_id, 1, c1)  # same content, new id
        versions.save(db, "script", c1.school_id, FILE_TEXT, "Terug.", c1)
    live_config.clear()
    # ... and keeps it after a newer version is saved; outside it, the newest counts.
    script, _ = live_config.resolve("rest", "student-a", session_new)
    assert script.render(script.question("ervaring").text)[0] == NEW_WORDING
    script, _ = live_config.resolve("rest", "student-a", None)
    assert script.render(script.question("ervaring").text)[0] == original
    # A student of no school, and another student's session id: not this school's version.
    script, _ = live_config.resolve("rest", "student-b", session_new)
    assert script is None


def test_a_version_saved_for_the_installation_is_used_by_schools_without_one(
        storage: str, seed: Seed) -> None:  # noqa: F811
    with dbmod.session_scope() as db:
        repo.get_or_create_student(db, "rest", "student-c")
        versions.save(db, "script", None, _with_wording(FILE_TEXT, "rol", "Wat deed je?"),
                      "Voor iedereen.", None)
    script, _ = live_config.resolve("rest", "student-c", None)
    assert script.render(script.question("rol").text) == ["Wat deed je?"]
    live_config.enter({"tracker": {"sender_id": "student-c", "slots": {"sessie_id": None},
                                   "latest_input_channel": "rest"}})
    try:
        assert script_mod.get_script().render(
            script_mod.get_script().question("rol").text) == ["Wat deed je?"]
    finally:
        script_mod.ACTIVE.set(None)
    assert script_mod.get_script().question("rol").text != "Wat deed je?"


def _form_of(content: str) -> dict[str, str]:
    """The form as the editor shows it for `content` (what a browser would send back)."""
    steps, others = script_form.fields(yaml_roundtrip.load(content))
    form: dict[str, str] = {}
    texts = [t for s in steps for t in (s.intro, *s.summary)] + others
    texts += [t for s in steps for q in s.questions for t in q.texts]
    for t in texts:
        form.update({f"{t.name}|{v}": x for v, x in t.variants.items()})
    for s in steps:
        if s.enabled:
            form[f"stappen.{s.key}.aan"] = "aan"
        if s.check:
            form[f"stappen.{s.key}.controle"] = "aan"
        for i, q in enumerate(s.questions):
            form[f"stappen.{s.key}.vragen.{i}.key"] = q.key
            form[f"stappen.{s.key}.vragen.{i}.plaats"] = str(i + 1)
            if q.enabled:
                form[f"stappen.{s.key}.vragen.{i}.aan"] = "aan"
    return form


def test_the_form_reorders_questions_and_switches_steps_and_checks() -> None:
    form = _form_of(FILE_TEXT)
    keys = [q["key"] for q in yaml.safe_load(FILE_TEXT)["stappen"]["activeren"]["vragen"]]
    assert keys.index("obstakel") < keys.index("hulp_contact") + 2  # the shipped order
    # hulp_contact moves down to the last place; obstakel up to the first.
    form[f"{_index('hulp_contact')}.plaats"] = str(len(keys))
    form[f"{_index('obstakel')}.plaats"] = "1"
    form.pop("stappen.reflecteren.aan")
    form.pop("stappen.activeren.controle")
    form.pop("stappen.activeren.aan")  # holds the plan: cannot be switched off
    content, changes = script_form.apply(FILE_TEXT, form)
    script = script_mod.parse(yaml.safe_load(content))
    order = [q.key for q in script.steps["activeren"].questions]
    assert order[0] == "obstakel" and order[-1] == "hulp_contact"
    assert sorted(order) == sorted(keys)
    assert not script.steps["reflecteren"].enabled and script.steps["activeren"].enabled
    assert not script.steps["activeren"].check and script.steps["reflecteren"].check
    assert set(changes) == {"stap 'reflecteren' uitgezet",
                            "samenvatting na stap 'activeren' uitgezet",
                            "volgorde van de vragen in stap 'activeren' aangepast"}
    # The fields of the new version, sent back unchanged, change nothing; switching back on
    # writes the default (no `aan:`/`controle:` left behind).
    assert script_form.apply(content, _form_of(content))[1] == []
    back = {**_form_of(content), "stappen.reflecteren.aan": "aan",
            "stappen.activeren.controle": "aan"}
    restored, changes = script_form.apply(content, back)
    restored_steps = yaml.safe_load(restored)["stappen"]
    assert "aan" not in restored_steps["reflecteren"]
    assert "controle" not in restored_steps["activeren"]
    assert set(changes) == {"stap 'reflecteren' aangezet",
                            "samenvatting na stap 'activeren' aangezet"}
    # After a preview the page lists the new order: saved on the old version, that form
    # changes the order only (each block of fields says which question it belongs to).
    shown, _ = script_form.apply(FILE_TEXT, form)
    resaved, changes = script_form.apply(FILE_TEXT, _form_of(shown))
    assert resaved == shown and len(changes) == 3
    # A place that is not a number keeps the question where it was.
    junk = {**_form_of(FILE_TEXT), f"{_index('rol')}.plaats": "eerste"}
    assert script_form.apply(FILE_TEXT, junk)[1] == []


def test_the_form_adds_and_removes_questions_and_keeps_them_through_a_preview() -> None:
    form = _form_of(FILE_TEXT)
    form.update({"stappen.terugkijken.nieuw.tekst|standaard": "Wat was je eerste indruk?",
                 "stappen.terugkijken.nieuw.uitleg|standaard": "Wat zag je op dag één?",
                 "stappen.terugkijken.nieuw.voorbeeld|standaard": "Bijvoorbeeld: het was druk.",
                 f"{_index('rol')}.weg": "weg",
                 f"{_index('ervaring')}.weg": "weg"})  # needed: never removed
    content, changes = script_form.apply(FILE_TEXT, form)
    script = script_mod.parse(yaml.safe_load(content))  # valid: no retraining, no domain slot
    keys = [q.key for q in script.steps["terugkijken"].questions]
    assert keys[-1] == "eerste_indruk" and "rol" not in keys and "ervaring" in keys
    assert "rol" not in script.steps["terugkijken"].summary_lines
    assert script.render(script.question("eerste_indruk").text) == ["Wat was je eerste indruk?"]
    assert set(changes) == {"vraag 'eerste_indruk' toegevoegd", "vraag 'rol' weggehaald"}
    # The page after a preview shows the new version's fields; saved on the old version they
    # make the same script (the added question from its block, the removed one missing).
    again, changes = script_form.apply(FILE_TEXT, _form_of(content))
    assert again == content
    assert set(changes) == {"vraag 'eerste_indruk' toegevoegd", "vraag 'rol' weggehaald"}
    assert script_form.apply(content, _form_of(content))[1] == []
    # A second question with the same words gets its own key; one without uitleg is refused.
    second = {**_form_of(content), "stappen.terugkijken.nieuw.tekst|standaard":
              "Wat was jouw eerste indruk?"}
    content2, _ = script_form.apply(content, second)
    assert "eerste_indruk_2" in [q["key"] for q in yaml.safe_load(content2)["stappen"][
        "terugkijken"]["vragen"]]
    assert any("eerste_indruk_2.uitleg" in e for e in script_mod.validate(
        yaml.safe_load(content2)))


def test_a_step_reordered_with_a_question_added_and_one_removed_keeps_its_order() -> None:
    keys = [q["key"] for q in yaml.safe_load(FILE_TEXT)["stappen"]["activeren"]["vragen"]]
    form = {**_form_of(FILE_TEXT),
            f"{_index('wanneer')}.plaats": str(keys.index("hulp_contact") + 1),
            f"{_index('obstakel')}.weg": "weg",
            "stappen.activeren.nieuw.tekst|standaard": "Wat heb je daarvoor nodig?",
            "stappen.activeren.nieuw.uitleg|standaard": "Spullen, informatie of iemand.",
            "stappen.activeren.nieuw.voorbeeld|standaard": "Bijvoorbeeld: een adres."}
    content, changes = script_form.apply(FILE_TEXT, form)
    order = [q["key"] for q in yaml.safe_load(content)["stappen"]["activeren"]["vragen"]]
    expected = [k for k in keys if k not in ("obstakel", "wanneer")]
    expected.insert(keys.index("hulp_contact"), "wanneer")
    assert order == [*expected, "daarvoor_nodig"]
    assert set(changes) == {"vraag 'obstakel' weggehaald", "vraag 'daarvoor_nodig' toegevoegd",
                            "volgorde van de vragen in stap 'activeren' aangepast"}
    # Saved from the page a preview shows (blocks in the new order): the same script.
    assert script_form.apply(FILE_TEXT, _form_of(content)) == (content, changes)


def test_a_question_moved_before_the_answer_it_uses_is_refused() -> None:
    form = _form_of(FILE_TEXT)
    form[f"{_index('rol')}.plaats"] = str(int(_index("ervaring").rsplit(".", 1)[1]) + 1)
    content, _ = script_form.apply(FILE_TEXT, form)
    errors = script_mod.validate(yaml.safe_load(content))
    assert any("'ervaring' moet de eerste vraag" in e for e in errors)


def _index(key: str) -> str:
    doc = yaml.safe_load(FILE_TEXT)
    for step_key, step in doc["stappen"].items():
        for i, q in enumerate(step["vragen"]):
            if q["key"] == key:
                return f"stappen.{step_key}.vragen.{i}"
    raise KeyError(key)


async def test_the_conversation_editor_checks_saves_and_rolls_back(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    await login(portal, "m1@school.test")
    assert (await portal.get("/beheer/gesprek")).status == 404  # not there for a mentor
    await login(portal, "c1@school.test")
    page = await (await portal.get("/beheer/gesprek")).text()
    assert "Gesprek aanpassen" in page and 'id="vraag-ervaring"' in page
    csrf = await _csrf(portal, "/beheer/gesprek")
    form = _form_of(FILE_TEXT)
    ervaring, verwachting = _index("ervaring"), _index("verwachting")
    form.update({"csrf": csrf, "basis": "0", "actie": "opslaan"})
    r = await portal.post("/beheer/gesprek", data={**form, "csrf": "fout"})
    assert r.status == 403
    # Checked with the script's own Dutch messages: nothing saved.
    bad = {**form, f"{ervaring}.tekst|standaard": "Vertel over {geheim}"}
    r = await portal.post("/beheer/gesprek", data=bad)
    text = await r.text()
    assert r.status == 400 and "de naam {geheim} bestaat hier niet" in text
    crisis = {**form, "signalen.crisis|standaard": "Bel je mentor."}
    r = await portal.post("/beheer/gesprek", data=crisis)
    assert r.status == 400 and "het nummer 0800-0113 moet in deze tekst staan" in await r.text()
    # A preview of an unsaved change, as a vmbo student reads step 1.
    preview = {**form, f"{ervaring}.tekst|standaard": NEW_WORDING, "actie": "voorbeeld",
               "stap": "terugkijken", "niveau": "vmbo"}
    r = await portal.post("/beheer/gesprek", data=preview)
    text = await r.text()
    assert r.status == 200 and 'id="voorbeeld"' in text and NEW_WORDING in text
    script = script_mod.get_script()
    vmbo_rol = script.render(script.question("rol").text, "vmbo")[0]
    assert vmbo_rol != script.render(script.question("rol").text, "mbo-bol")[0]
    assert html.escape(vmbo_rol, quote=True) in text or vmbo_rol in text  # the vmbo wording
    # Saved: a version with a summary; the question switched off.
    good = {**form, f"{ervaring}.tekst|standaard": NEW_WORDING}
    good.pop(f"{verwachting}.aan")
    r = await portal.post("/beheer/gesprek", data=good, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/beheer/gesprek?opgeslagen=1"
    with dbmod.session_scope() as db:
        c1 = _principal("c1@school.test")
        saved = versions.newest(db, "script", c1.school_id)
        assert _question_text(saved.content, "ervaring") == NEW_WORDING
        assert "vraag 'verwachting' uitgezet" in saved.summary
        assert "# Gespreksscript van Loopbaancoach" in saved.content  # comments kept
        script = script_mod.parse(yaml.safe_load(saved.content))
        assert not script.question("verwachting").enabled
    # Another change on a form made from version 0 is refused: someone saved since.
    r = await portal.post("/beheer/gesprek", data={**good, f"{ervaring}.uitleg|standaard": "x"})
    assert r.status == 409 and "Iemand anders heeft intussen" in await r.text()
    page = await (await portal.get("/beheer/gesprek")).text()
    assert "Versie 1" in page and "uitgezet" in page
    diff = await (await portal.get("/beheer/gesprek/versies/1")).text()
    assert re.search(r'class="erbij">\+.*Over welke ervaring', diff)
    assert re.search(r'class="eraf">-.*Welke ervaring wil je met me delen', diff)
    # Another school's coordinator sees none of it.
    await login(portal, "c2@elders.test")
    assert (await portal.get("/beheer/gesprek/versies/1")).status == 404
    assert NEW_WORDING not in await (await portal.get("/beheer/gesprek")).text()
    csrf2 = await _csrf(portal, "/beheer/gesprek")
    r = await portal.post("/beheer/gesprek/versies/1/terugzetten", data={"csrf": csrf2})
    assert r.status == 404
    # Rollback: the old wording again, as version 2.
    await login(portal, "c1@school.test")
    csrf = await _csrf(portal, "/beheer/gesprek")
    save2 = {**_form_of(saved.content), "csrf": csrf, "basis": "1", "actie": "opslaan",
             f"{ervaring}.tekst|standaard": "Nog een andere vraag?"}
    r = await portal.post("/beheer/gesprek", data=save2, allow_redirects=False)
    assert r.headers["Location"] == "/beheer/gesprek?opgeslagen=2"
    r = await portal.post("/beheer/gesprek/versies/1/terugzetten", data={"csrf": csrf},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/beheer/gesprek?teruggezet=1"
    with dbmod.session_scope() as db:
        now = versions.newest(db, "script", c1.school_id)
        assert now.number == 3 and now.content == saved.content
        assert now.summary == "Teruggezet naar versie 1."
        students = db.execute(select(Student)).scalars().all()
        audits = db.execute(select(AuditLog).where(
            AuditLog.action.like("config.%"))).scalars().all()
        assert len(audits) == 3
        for row in audits:  # who and which version, never what was written
            assert NEW_WORDING not in str(row.detail) and students


def test_the_detector_uses_the_newest_rules_of_the_school(storage: str,
                                                           seed: Seed) -> None:  # noqa: F811
    c1 = _principal("c1@school.test")
    text = "ik heb een probleem met mijn schoenendoosbudget"
    rules_text = SIGNAL_RULES_FILE.read_text(encoding="utf-8")
    changed, summary = rules_form.apply(rules_text, {"financien.woorden": "\n".join(
        rules_form.fields(rules_text)[3].values["woorden"] + ["schoenendoosbudget"])})
    assert summary == ["financien: woorden en zinnen 1 erbij"]
    with dbmod.session_scope() as db:
        school = db.execute(select(School).where(School.name == "Het College")).scalar_one()
        repo.get_or_create_student(db, "rest", "student-d").school_id = school.id
        repo.get_or_create_student(db, "rest", "student-e")  # no school
        versions.save(db, "signal_rules", c1.school_id, changed, "; ".join(summary), c1)
    detector = signals.Detector(use_nlp=False)
    assert detector.detect(text) == []  # the file
    _, rules = live_config.resolve("rest", "student-d", None)
    token = signals.ACTIVE_RULES.set(rules)
    try:
        assert [s.category for s in detector.detect(text)] == ["financien"]
    finally:
        signals.ACTIVE_RULES.reset(token)
    assert live_config.resolve("rest", "student-e", None)[1] is None


async def test_the_rule_editor_is_for_coordinators_and_checks_the_rules(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    await login(portal, "m1@school.test")
    assert (await portal.get("/beheer/signalen")).status == 404
    await login(portal, "c1@school.test")
    page = await (await portal.get("/beheer/signalen")).text()
    assert 'id="categorie-crisis"' in page and "Controleren" in page
    csrf = await _csrf(portal, "/beheer/signalen")
    broken = {"csrf": csrf, "basis": "0", "actie": "opslaan",
              "financien.uitzonderingen": "(geen haakje"}
    assert (await portal.post("/beheer/signalen", data={**broken, "csrf": "x"})).status == 403
    r = await portal.post("/beheer/signalen", data=broken)
    text = await r.text()
    assert r.status == 400 and "Nog niet opgeslagen" in text and "uitzondering #1" in text
    with dbmod.session_scope() as db:
        assert versions.history(db, "signal_rules", _principal("c1@school.test").school_id) == []


async def test_putting_rules_back_is_checked_like_a_change(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    c1 = _principal("c1@school.test")
    rules_text = SIGNAL_RULES_FILE.read_text(encoding="utf-8")
    fields = {c.key: c for c in rules_form.fields(rules_text)}
    money, _ = rules_form.apply(rules_text, {"financien.woorden": "\n".join(
        fields["financien"].values["woorden"] + ["schoenendoosbudget"])})
    blind, _ = rules_form.apply(rules_text, {"crisis.uitzonderingen": "\n".join(
        fields["crisis"].values["uitzonderingen"] + ["ik"])})
    with dbmod.session_scope() as db:  # written past the editor's check, to put them back
        for content in (blind, money, rules_text):
            versions.save(db, "signal_rules", c1.school_id, content, "Zo.", c1)
    await login(portal, "c1@school.test")
    csrf = await _csrf(portal, "/beheer/signalen")
    r = await portal.post("/beheer/signalen/versies/1/terugzetten", data={"csrf": csrf})
    assert r.status == 400 and "De crisisherkenning wordt slechter" in await r.text()
    r = await portal.post("/beheer/signalen/versies/2/terugzetten", data={"csrf": csrf},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/beheer/signalen?teruggezet=2"
    with dbmod.session_scope() as db:
        now = versions.newest(db, "signal_rules", c1.school_id)
        assert now.number == 4 and now.content == money
    diff = await (await portal.get("/beheer/signalen/versies/2")).text()
    assert re.search(r'class="erbij">\+.*schoenendoosbudget', diff)


def test_too_many_or_too_long_lines_are_refused_not_cut() -> None:
    rules_text = SIGNAL_RULES_FILE.read_text(encoding="utf-8")
    words = rules_form.fields(rules_text)[3].values["woorden"]
    with pytest.raises(signals.RulesError) as refused:  # line 3: blank lines are numbered too
        rules_form.apply(rules_text, {"financien.woorden": "lening\n\n" + "x" * 2001})
    assert re.search(r"^Bij “Geld .*” \(woorden en zinnen\), regel 3: deze regel is 2001 "
                     r"tekens lang, het maximum is 2000 tekens\.", str(refused.value))
    many = "\n".join(f"woord{i}" for i in range(501))
    with pytest.raises(signals.RulesError, match=r"regel 501: er mogen hoogstens 500 regels"):
        rules_form.apply(rules_text, {"financien.uitzonderingen": many})
    # Blank lines do not count; 500 lines and a 2000-character line are kept whole.
    longest = "y" * 2000
    content, changes = rules_form.apply(rules_text, {
        "financien.woorden": "\n".join([*words, longest]),
        "financien.uitzonderingen": "\n\n".join(many.splitlines()[:500])})
    spec = yaml.safe_load(content)["categorieen"]["financien"]
    assert spec["woorden"][-1] == longest and len(spec["uitzonderingen"]) == 500
    before = yaml.safe_load(rules_text)["categorieen"]["financien"]["uitzonderingen"]
    assert changes == ["financien: woorden en zinnen 1 erbij",
                       f"financien: uitzonderingen 500 erbij, {len(before)} weg"]


async def test_the_rule_editor_refuses_too_long_lines_and_saves_nothing(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    school = _principal("c1@school.test").school_id
    words = rules_form.fields(SIGNAL_RULES_FILE.read_text(encoding="utf-8"))[3].values["woorden"]
    await login(portal, "c1@school.test")
    csrf = await _csrf(portal, "/beheer/signalen")
    form = {"csrf": csrf, "basis": "0", "actie": "opslaan"}
    r = await portal.post("/beheer/signalen", data={
        **form, "financien.woorden": "\n".join([*words, "z" * 2001])})
    text = await r.text()
    assert r.status == 400 and "Nog niet opgeslagen" in text
    assert f"regel {len(words) + 1}: deze regel is 2001 tekens lang, het maximum is 2000" in text
    assert "z" * 2001 in text  # shown back as typed, to shorten it
    r = await portal.post("/beheer/signalen", data={
        **form, "crisis.uitzonderingen": "\n".join(f"woord{i}" for i in range(501))})
    text = await r.text()
    assert r.status == 400 and "regel 501: er mogen hoogstens 500 regels" in text
    with dbmod.session_scope() as db:
        assert versions.history(db, "signal_rules", school) == []
    r = await portal.post("/beheer/signalen", data={
        **form, "financien.woorden": "\n".join([*words, "z" * 2000])}, allow_redirects=False)
    assert r.status == 303, await r.text()
    with dbmod.session_scope() as db:
        saved = versions.newest(db, "signal_rules", school).content
    assert yaml.safe_load(saved)["categorieen"]["financien"]["woorden"][-1] == "z" * 2000


def test_every_shipped_rule_survives_the_form_unchanged() -> None:
    """The form shows each phrase and exception on a line; sent back as shown, nothing changes
    (a long pattern is not cut off)."""
    rules_text = SIGNAL_RULES_FILE.read_text(encoding="utf-8")
    form = {f"{c.key}.{part}": "\n".join(c.values[part])
            for c in rules_form.fields(rules_text) for part in rules_form.PARTS}
    assert rules_form.apply(rules_text, form)[1] == []


def test_a_coordinator_edits_the_word_lists_that_choose_the_questions() -> None:
    """`verdieping`: one word or phrase per line; empty lines and doubles dropped; the coach
    then asks a visit what struck the student for the new word too."""
    from bot.conversation.coaching import answer_context

    form = _form_of(FILE_TEXT)
    assert "musea" not in form["verdieping.bezoek|standaard"]
    form["verdieping.bezoek|standaard"] += "\n\nmuseumbezoek\nmuseumbezoek\n"
    content, changes = script_form.apply(FILE_TEXT, form)
    assert any(c.startswith("woorden voor een bezoek") for c in changes), changes
    raw = yaml.safe_load(content)
    assert script_mod.validate(raw) == []
    assert raw["verdieping"]["bezoek"][-1] == "museumbezoek"
    assert raw["verdieping"]["bezoek"].count("museumbezoek") == 1
    edited = script_mod.parse(raw)
    told = {"ervaring": "een museumbezoek met de klas"}
    assert answer_context(edited, told)["ervaring_bezoek"]
    assert not answer_context(script_mod.parse(yaml.safe_load(FILE_TEXT)), told)[
        "ervaring_bezoek"]
    # Unchanged lists are no change.
    same, none = script_form.apply(FILE_TEXT, _form_of(FILE_TEXT))
    assert none == [] and yaml.safe_load(same) == yaml.safe_load(FILE_TEXT)


def test_a_coordinator_edits_texts_with_forms_that_take_turns() -> None:
    """An `afwisselen` text is one field: forms apart by an empty line, a form's messages one
    per line. A form added is saved as a form; one form left is a plain text again."""
    form = _form_of(FILE_TEXT)
    intro = "stappen.reflecteren.intro|afwisselen"
    closing = "teksten.afronden|afwisselen"
    shipped = yaml.safe_load(FILE_TEXT)
    assert form[intro].split("\n\n") == shipped["stappen"]["reflecteren"]["intro"]["afwisselen"]
    assert [f.split("\n") for f in form[closing].split("\n\n")] == [
        [f] if isinstance(f, str) else f
        for f in shipped["teksten"]["afronden"]["afwisselen"]]  # one message per form
    form[intro] += "\n\n  Wat vond jij ervan, denk je?  \n"
    content, changes = script_form.apply(FILE_TEXT, form)
    raw = yaml.safe_load(content)
    assert script_mod.validate(raw) == [] and changes == ["intro van de stap (reflecteren) "
                                                           "aangepast"]
    assert raw["stappen"]["reflecteren"]["intro"]["afwisselen"][-1] == (
        "Wat vond jij ervan, denk je?")
    assert raw["teksten"]["afronden"] == shipped["teksten"]["afronden"]
    # A form of two messages, one per line.
    two = dict(form, **{closing: form[closing] + "\n\nGoed gedaan! 💪\nTot de volgende keer."})
    raw = yaml.safe_load(script_form.apply(FILE_TEXT, two)[0])
    assert script_mod.validate(raw) == []
    assert raw["teksten"]["afronden"]["afwisselen"][-1] == ["Goed gedaan! 💪",
                                                             "Tot de volgende keer."]
    form[intro] = "Alleen deze vorm."
    raw = yaml.safe_load(script_form.apply(FILE_TEXT, form)[0])
    assert raw["stappen"]["reflecteren"]["intro"] == "Alleen deze vorm."
