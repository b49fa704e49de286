"""The student page of the mentor portal, on SQLite and PostgreSQL: the flag workflow (open ->
acknowledged -> resolved with a note, who and when, an audit row without content), the same
through the JSON API (bearer token, or cookie plus CSRF header), and the conversations and
insights per competency in the student's own words, every student text escaped."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.storage import db as dbmod
from bot.storage import links
from bot.storage import repository as repo
from bot.storage.access import NOTE_MAX_CHARS
from bot.storage.models import AuditLog, Flag, Mentor, Student
from bot.storage.types import utcnow
from bot.taxonomy import COMPETENCIES, FLAG_BY_KEY
from bot.users import token_main
from tests.storage import test_mentor_portal as base
from tests.storage.test_mentor_portal import PASSWORD, SECRET_EVIDENCE, Seed, _csrf, login

portal = base.portal  # the fixtures of the portal's first tests: the app, two mentors...
seed = base.seed  # ... a coordinator per school and three students with flags

NOTE = "Gebeld met de ouders <b>vet</b>; afspraak op dinsdag."
OLD_EXPERIENCE = "Ik liep stage bij de bakker <script>alert(1)</script>"
NEW_EXPERIENCE = "Ik ging naar de open dag van het ROC & keek rond"


def _flag(flag_id: int) -> Flag:
    with dbmod.session_scope() as db:
        flag = db.get(Flag, flag_id)
        assert flag is not None
        return flag


def _mentor_actor(email: str) -> str:
    with dbmod.session_scope() as db:
        mentor = db.execute(select(Mentor).where(Mentor.email == email)).scalar_one()
        return f"mentor:{mentor.id}"


def _status_audits() -> list[AuditLog]:
    with dbmod.session_scope() as db:
        return list(db.execute(select(AuditLog).where(AuditLog.action == "flag.status")
                               .order_by(AuditLog.id)).scalars())


def _no_content_in_audit(*secrets: str) -> None:
    with dbmod.session_scope() as db:
        for row in db.execute(select(AuditLog)).scalars():
            for secret in secrets:
                assert secret not in str(row.detail), row.action


# --- the flag workflow on the student page ---------------------------------------------------


async def test_flags_on_the_student_page_acknowledge_and_resolve(portal: TestClient,
                                                                 seed: Seed) -> None:
    urgent, declined = seed.own_flags
    await login(portal, "m1@school.test")
    page = await portal.get(f"/mentor/studenten/{seed.own}")
    text = await page.text()
    assert page.status == 200
    assert FLAG_BY_KEY["crisis"].title in text and FLAG_BY_KEY["financien"].title in text
    assert "Urgent" in text and "Aandacht" in text and SECRET_EVIDENCE in text
    assert utcnow().strftime("%d-%m-%Y") in text  # the date
    assert text.count("Liever niet") == 1  # only the declined flag
    assert text.index("Liever niet") > text.index(FLAG_BY_KEY["financien"].title)
    assert f'action="/mentor/signalen/{urgent}/gezien"' in text
    assert f'action="/mentor/signalen/{urgent}/afhandelen"' in text
    assert f'maxlength="{NOTE_MAX_CHARS}"' in text
    assert "<script" not in text and "<style" not in text and " style=" not in text
    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
    assert csrf
    token = csrf.group(1)

    # Without the CSRF token: 403 and nothing changes.
    r = await portal.post(f"/mentor/signalen/{urgent}/gezien", allow_redirects=False)
    assert r.status == 403 and _flag(urgent).status == "open"

    r = await portal.post(f"/mentor/signalen/{urgent}/gezien", data={"csrf": token},
                          allow_redirects=False)
    assert r.status == 303
    assert r.headers["Location"] == f"/mentor/studenten/{seed.own}#signaal-{urgent}"
    flag = _flag(urgent)
    actor = _mentor_actor("m1@school.test")
    assert flag.status == "acknowledged" and flag.acknowledged_by == actor
    assert flag.acknowledged_at is not None and flag.resolved_at is None
    # Twice is harmless: back to the page, no second change.
    r = await portal.post(f"/mentor/signalen/{urgent}/gezien", data={"csrf": token},
                          allow_redirects=False)
    assert r.status == 303 and len(_status_audits()) == 1

    page_text = await (await portal.get(f"/mentor/studenten/{seed.own}")).text()
    assert "Gezien door Mentor Een" in page_text
    assert f'action="/mentor/signalen/{urgent}/gezien"' not in page_text  # already seen
    assert f'action="/mentor/signalen/{urgent}/afhandelen"' in page_text

    # Resolving needs a note, of bounded length.
    for note in ("", "   \n ", "x" * (NOTE_MAX_CHARS + 1)):
        r = await portal.post(f"/mentor/signalen/{urgent}/afhandelen",
                              data={"csrf": token, "notitie": note}, allow_redirects=False)
        assert r.status == 400 and "Schrijf een korte notitie" in await r.text()
        assert _flag(urgent).status == "acknowledged"
    r = await portal.post(f"/mentor/signalen/{urgent}/afhandelen",
                          data={"csrf": token}, allow_redirects=False)
    assert r.status == 400

    r = await portal.post(f"/mentor/signalen/{urgent}/afhandelen",
                          data={"csrf": token, "notitie": f"  {NOTE}\r\n"},
                          allow_redirects=False)
    assert r.status == 303
    flag = _flag(urgent)
    assert flag.status == "resolved" and flag.note == NOTE
    assert flag.resolved_by == actor and flag.resolved_at is not None
    assert flag.acknowledged_by == actor  # kept
    # Resolved is final.
    r = await portal.post(f"/mentor/signalen/{urgent}/afhandelen",
                          data={"csrf": token, "notitie": "nog eens"}, allow_redirects=False)
    assert r.status == 303 and _flag(urgent).note == NOTE

    # An open flag can be resolved at once (seen and resolved by the same person).
    r = await portal.post(f"/mentor/signalen/{declined}/afhandelen",
                          data={"csrf": token, "notitie": "Besproken."}, allow_redirects=False)
    assert r.status == 303
    flag = _flag(declined)
    assert flag.status == "resolved" and flag.acknowledged_by == actor

    page_text = await (await portal.get(f"/mentor/studenten/{seed.own}")).text()
    assert "Geen open signalen." in page_text and "Afgehandelde signalen (2)" in page_text
    assert "Afgehandeld door Mentor Een" in page_text
    assert "&lt;b&gt;vet&lt;/b&gt;" in page_text and "<b>vet" not in page_text
    assert "0 open signalen" in await (await portal.get("/mentor")).text()

    audits = _status_audits()
    assert [(a.object_type, a.detail["from"], a.detail["to"]) for a in audits] == [
        ("flag", "open", "acknowledged"), ("flag", "acknowledged", "resolved"),
        ("flag", "open", "resolved")]
    assert {a.actor for a in audits} == {actor}
    assert [a.object_id for a in audits] == [str(urgent), str(urgent), str(declined)]
    _no_content_in_audit(NOTE, "vet", "Besproken", SECRET_EVIDENCE)


# --- the same through the JSON API -----------------------------------------------------------


async def test_flag_workflow_through_the_api(portal: TestClient, seed: Seed,
                                             capsys: pytest.CaptureFixture) -> None:
    urgent, declined = seed.own_flags
    assert token_main(["--email", "m1@school.test"]) == 0
    bearer = {"Authorization": f"Bearer {capsys.readouterr().out.strip().splitlines()[-1]}"}
    assert token_main(["--email", "m2@school.test"]) == 0
    other = {"Authorization": f"Bearer {capsys.readouterr().out.strip().splitlines()[-1]}"}

    # A flag of another mentor's student is not found (as one that does not exist).
    for path in (f"/api/v1/flags/{urgent}/acknowledge", f"/api/v1/flags/{urgent}/resolve"):
        r = await portal.post(path, json={"notitie": "x"}, headers=other)
        missing = await portal.post(path.replace(str(urgent), "999999"),
                                    json={"notitie": "x"}, headers=other)
        assert r.status == 404 and missing.status == 404
        assert await r.json() == await missing.json()
    assert _flag(urgent).status == "open"
    # Without credentials: 401.
    assert (await portal.post(f"/api/v1/flags/{urgent}/acknowledge")).status == 401

    # A bearer token needs no CSRF token.
    r = await portal.post(f"/api/v1/flags/{urgent}/acknowledge", headers=bearer)
    body = await r.json()
    assert r.status == 200 and body["status"] == "acknowledged" and body["id"] == urgent
    assert body["acknowledged_by"] == _mentor_actor("m1@school.test")
    assert body["acknowledged_at"] and body["student_id"] == seed.own
    r = await portal.post(f"/api/v1/flags/{urgent}/acknowledge", headers=bearer)
    assert r.status == 409 and "fout" in await r.json()

    bad: list[dict[str, Any]] = [
        {"data": b""}, {"data": b"{kapot"}, {"json": ["notitie"]}, {"json": {}},
        {"json": {"notitie": ""}}, {"json": {"notitie": 12}}, {"json": {"notitie": " \n"}},
        {"json": {"notitie": "x" * (NOTE_MAX_CHARS + 1)}}, {"data": b"\xff\xfe"}]
    for request in bad:
        r = await portal.post(f"/api/v1/flags/{urgent}/resolve", headers=bearer, **request)
        assert r.status == 400, request
        assert "fout" in await r.json()
    assert _flag(urgent).status == "acknowledged"

    r = await portal.post(f"/api/v1/flags/{urgent}/resolve", headers=bearer,
                          json={"notitie": NOTE})
    body = await r.json()
    assert r.status == 200 and body["status"] == "resolved" and body["note"] == NOTE
    assert body["resolved_by"] == _mentor_actor("m1@school.test") and body["resolved_at"]
    r = await portal.post(f"/api/v1/flags/{urgent}/resolve", headers=bearer,
                          json={"notitie": "opnieuw"})
    assert r.status == 409 and _flag(urgent).note == NOTE
    listed = await (await portal.get(f"/api/v1/students/{seed.own}/flags?status=resolved",
                                     headers=bearer)).json()
    assert [f["note"] for f in listed["flags"]] == [NOTE]

    # With the session cookie, a change needs the page's CSRF token in X-CSRF-Token.
    await login(portal, "m1@school.test")
    path = f"/api/v1/flags/{declined}/acknowledge"
    assert (await portal.post(path)).status == 403
    assert (await portal.post(path, headers={"X-CSRF-Token": "x" * 43})).status == 403
    assert (await portal.post(path, headers={"X-CSRF-Token": "é" * 43})).status == 403
    assert _flag(declined).status == "open"
    token = await _csrf(portal, "/mentor")
    r = await portal.post(path, headers={"X-CSRF-Token": token})
    assert r.status == 200 and (await r.json())["student_declined"] is True
    assert _flag(declined).status == "acknowledged"
    _no_content_in_audit(NOTE)


async def test_a_coordinator_may_handle_flags_of_their_school_only(portal: TestClient,
                                                                   seed: Seed) -> None:
    await login(portal, "c2@elders.test")
    token = await _csrf(portal, "/mentor")
    r = await portal.post(f"/mentor/signalen/{seed.other_flag}/gezien", data={"csrf": token},
                          allow_redirects=False)
    assert r.status == 404 and _flag(seed.other_flag).status == "open"
    await login(portal, "c1@school.test")
    token = await _csrf(portal, "/mentor")
    r = await portal.post(f"/mentor/signalen/{seed.other_flag}/gezien", data={"csrf": token},
                          allow_redirects=False)
    assert r.status == 303 and _flag(seed.other_flag).acknowledged_by.startswith("coordinator:")


# --- conversations and insights --------------------------------------------------------------


def _conversations(student_id: int) -> None:
    """Two conversations: an older one with a plan and its follow-up, and a newer one."""
    with dbmod.session_scope() as db:
        student = db.get(Student, student_id)
        assert student is not None
        old = repo.start_session(db, student, "rest", "vmbo")
        old.started_at = utcnow() - timedelta(days=30)
        for step, key, text in (
                ("terugkijken", "ervaring", OLD_EXPERIENCE),
                ("reflecteren", "goed_gedaan", "Ik hielp klanten vriendelijk"),
                ("reflecteren", "inzicht_naam", "Ik ben een mensen-mens")):
            repo.save_answer(db, old, step, key, text, "answer", None)
        answer = repo.save_answer(db, old, "reflecteren", "inzicht", "Ik kan goed uitleggen",
                                  "answer", None)
        repo.save_insight(db, student, old, "reflecteren", "inzicht", "Ik kan goed uitleggen",
                          ["kwaliteiten", "netwerken"], "test",
                          headline="Ik ben een mensen-mens", answer=answer)
        plan = repo.save_action_plan(db, student, old, what="Mailen naar de kapper",
                                     who="mijn zus", when_text="volgende week")
        repo.set_session_status(db, old, "completed", "activeren")
        repo.record_followup(db, plan, "Ze zei ja, ik mag komen kijken", "gelukt")
        new = repo.start_session(db, student, "rest", "vmbo")
        repo.save_answer(db, new, "terugkijken", "ervaring", NEW_EXPERIENCE, "answer", None)


async def test_conversations_and_insights_in_the_students_own_words(portal: TestClient,
                                                                   seed: Seed) -> None:
    _conversations(seed.own)
    await login(portal, "m1@school.test")
    empty = await (await portal.get(f"/mentor/studenten/{seed.quiet}")).text()
    assert "Nog geen gesprekken." in empty and "Nog niets." in empty

    r = await portal.get(f"/mentor/studenten/{seed.own}")
    text = await r.text()
    assert r.status == 200
    conversations = text.split("<h2>Gesprekken</h2>")[1].split("<h2>")[0]
    # Newest first, each in the student's own words, escaped.
    assert conversations.index("open dag van het ROC &amp; keek") < conversations.index(
        "stage bij de bakker")
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    for words in ("Ik hielp klanten vriendelijk", "Ik ben een mensen-mens",
                  "Mailen naar de kapper", "mijn zus", "volgende week",
                  "Ze zei ja, ik mag komen kijken", "gelukt", "afgerond"):
        assert words in conversations, words
    assert text.index("<h2>Signalen</h2>") < text.index("<h2>Gesprekken</h2>")

    insights = text.split("<h2>Inzichten per onderwerp</h2>")[1]
    for competency in COMPETENCIES:  # the student-facing labels, in taxonomy order
        assert competency.label in insights
    talent = insights.split(COMPETENCIES[0].label)[1].split("</section>")[0]
    assert "Ik kan goed uitleggen" in talent
    network = insights.split("In gesprek met")[1].split("</section>")[0]
    assert "Ik kan goed uitleggen" in network and "(ook)" in network

    with dbmod.session_scope() as db:
        views = list(db.execute(select(AuditLog).where(
            AuditLog.action == "student.conversations.view")).scalars())
    assert {v.object_id for v in views} == {str(seed.quiet), str(seed.own)}
    _no_content_in_audit("bakker", "mensen-mens", "kapper")


async def test_conversations_and_insights_through_the_api(portal: TestClient,
                                                         seed: Seed) -> None:
    _conversations(seed.own)
    await login(portal, "m1@school.test")
    body = await (await portal.get(f"/api/v1/students/{seed.own}/conversations")).json()
    stories = [c["experience"] for c in body["conversations"]]
    assert len(stories) == 2 and "stage bij de bakker" in stories[1]  # newest first
    assert body["older"] == 0
    assert any(c["next_step"] and c["next_step"]["what"] == "Mailen naar de kapper"
               for c in body["conversations"])
    insights = await (await portal.get(f"/api/v1/students/{seed.own}/insights")).json()
    assert [c["key"] for c in insights["competencies"]] == [c.key for c in COMPETENCIES]
    first = insights["competencies"][0]
    assert any("Ik kan goed uitleggen" in i["text"] for i in first["insights"])
    assert all(len(c["counts"]) == len(insights["months"]) for c in insights["competencies"])
    for path in ("conversations", "insights"):
        other = await portal.get(f"/api/v1/students/{seed.other}/{path}")
        assert other.status == 404 and "Bram" not in await other.text()


def test_csrf_check_compares_any_text_in_constant_time() -> None:
    from bot.portal.auth import _same

    assert _same("abc", "abc") and not _same("abc", "abd")
    assert not _same("é" * 43, "a" * 43) and _same("é", "é")  # no TypeError on non-ASCII
    assert not _same(None, "a") and not _same("", "")


async def test_the_link_in_an_e_mail_leads_to_the_flag_after_logging_in(
        portal: TestClient, seed: Seed) -> None:
    urgent = seed.own_flags[0]
    portal.session.cookie_jar.clear()
    r = await portal.get(f"/mentor/signalen/{urgent}", allow_redirects=False)
    assert r.status == 303
    location = urlsplit(r.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"volgende": [f"/mentor/signalen/{urgent}"]}
    login_page = await (await portal.get(r.headers["Location"])).text()
    assert f'name="volgende" value="/mentor/signalen/{urgent}"' in login_page
    csrf = re.search(r'name="csrf" value="([^"]+)"', login_page).group(1)
    r = await portal.post("/login", allow_redirects=False, data={
        "csrf": csrf, "email": "m1@school.test", "wachtwoord": PASSWORD,
        "volgende": f"/mentor/signalen/{urgent}"})
    assert r.headers["Location"] == f"/mentor/signalen/{urgent}"
    r = await portal.get(f"/mentor/signalen/{urgent}", allow_redirects=False)
    assert r.headers["Location"] == f"/mentor/studenten/{seed.own}#signaal-{urgent}"


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test", "/\\evil.test",
                                    "/mentor/../login", "/mentor?x=1", "javascript:alert(1)",
                                    "/api/v1/me", "/mentor/" + "a" * 300])
async def test_logging_in_never_redirects_elsewhere(portal: TestClient, seed: Seed,
                                                    target: str) -> None:
    portal.session.cookie_jar.clear()
    page = await (await portal.get("/login", params={"volgende": target})).text()
    assert 'name="volgende"' not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await portal.post("/login", allow_redirects=False, data={
        "csrf": csrf, "email": "m1@school.test", "wachtwoord": PASSWORD, "volgende": target})
    assert r.status == 303 and r.headers["Location"] == "/mentor"


async def test_a_mentor_makes_a_koppelcode_the_student_types_in_the_chat(
        portal: TestClient, seed: Seed) -> None:
    await login(portal, "m1@school.test")
    page = await (await portal.get(f"/mentor/studenten/{seed.quiet}")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert f'action="/mentor/studenten/{seed.quiet}/koppelcode"' in page
    r = await portal.post(f"/mentor/studenten/{seed.quiet}/koppelcode", data={"csrf": csrf})
    text = await r.text()
    assert r.status == 200
    code = re.search(r'class="eenmalig"><code>([A-Z0-9-]+)</code>', text).group(1)
    assert f"mijn code is {code}" in text
    with dbmod.session_scope() as db:
        assert links.redeem(db, "rest", "s-aap", code) is links.Outcome.LINKED
        assert repo.get_or_create_student(db, "rest", "s-aap").id == seed.quiet
    r = await portal.post(f"/mentor/studenten/{seed.quiet}/koppelcode", data={"csrf": "vals"})
    assert r.status == 403
