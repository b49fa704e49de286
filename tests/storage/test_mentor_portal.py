"""The mentor portal's foundation, on SQLite and PostgreSQL: accounts (argon2, CLI), sessions
(cookie flags, idle expiry, logout), CSRF, login rate limiting, "Mijn studenten", access
control (a second mentor learns nothing of the first one's students), audit rows without
content, the JSON API (401 without auth, bearer tokens) and its OpenAPI document."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.portal.app import create_app
from bot.storage import accounts
from bot.storage import db as dbmod
from bot.storage.models import (
    ApiToken,
    AuditLog,
    Coordinator,
    Flag,
    Mentor,
    PortalSession,
    School,
    SchoolClass,
    Student,
)
from bot.storage.types import utcnow
from bot.users import add_main, reset_main, token_main

PASSWORD = "correct-paard-batterij"
SECRET_NAME = "Zoë Geheimnaam"
SECRET_CLASS = "Klas-Geheim-4B"
SECRET_EVIDENCE = "ik zie het niet meer zitten geheimwoord"


@dataclass
class Seed:
    own: int  # mentor 1's student with an urgent flag
    quiet: int  # mentor 1's student without flags
    other: int  # mentor 2's student
    own_flags: tuple[int, ...] = ()  # the own student's flags: urgent (crisis), attention
    other_flag: int = 0  # the other student's flag


def _seed() -> Seed:
    with dbmod.session_scope() as db:
        school = School(name="Het College")
        elsewhere = School(name="Andere School")
        db.add_all([school, elsewhere])
        db.flush()
        for role, email, name, where in (
                ("mentor", "m1@school.test", "Mentor Een", "Het College"),
                ("mentor", "m2@school.test", "Mentor Twee", "Het College"),
                ("coordinator", "c1@school.test", "Coördinator", "Het College"),
                ("coordinator", "c2@elders.test", "Elders", "Andere School")):
            accounts.add_user(db, role, email, name, PASSWORD, school=where)
        m1 = accounts.find_user(db, "m1@school.test")
        m2 = accounts.find_user(db, "m2@school.test")
        klas = SchoolClass(school=school, name=SECRET_CLASS, level="vmbo")
        own = Student(school_id=school.id, school_class=klas, mentor=m1,
                      display_name=SECRET_NAME, level="vmbo")
        quiet = Student(school_id=school.id, mentor=m1, display_name="Aap Rustig")
        other = Student(school_id=school.id, mentor=m2, display_name="Bram Ander")
        db.add_all([klas, own, quiet, other])
        db.flush()
        flags = [
            Flag(student_id=own.id, category="crisis", severity="urgent",
                 evidence=SECRET_EVIDENCE, excerpt=SECRET_EVIDENCE, status="open"),
            Flag(student_id=own.id, category="financien", severity="attention",
                 evidence="geen geld", status="open", student_declined=True),
            Flag(student_id=other.id, category="uitval", severity="attention",
                 evidence="stoppen", status="open"),
        ]
        db.add_all(flags)
        db.flush()
        return Seed(own.id, quiet.id, other.id, (flags[0].id, flags[1].id), flags[2].id)


@pytest.fixture
async def portal(storage: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.setenv("PORTAL_COOKIE_SECURE", "0")  # the test client speaks plain http
    monkeypatch.delenv("PORTAL_SESSION_MINUTES", raising=False)
    client = TestClient(TestServer(create_app(run_jobs=False)))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
def seed(storage: str) -> Seed:
    return _seed()


async def _csrf(client: TestClient, path: str = "/login") -> str:
    page = await (await client.get(path)).text()
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def login(client: TestClient, email: str, password: str = PASSWORD,
                expect: int = 303) -> str:
    """Log in afresh (any earlier session cookie is forgotten first)."""
    client.session.cookie_jar.clear()
    csrf = await _csrf(client)
    r = await client.post("/login", data={"csrf": csrf, "email": email, "wachtwoord": password},
                          allow_redirects=False)
    text = await r.text()
    assert r.status == expect, text
    return text


def _audit(action: str) -> list[AuditLog]:
    with dbmod.session_scope() as db:
        return list(db.execute(select(AuditLog).where(AuditLog.action == action)).scalars())


def _routes(app: web.Application, prefix: str) -> list[str]:
    return sorted({r.canonical for r in app.router.resources() if r.canonical.startswith(prefix)})


# --- accounts, login, logout -----------------------------------------------------------------


async def test_passwords_are_argon2(seed: Seed) -> None:
    with dbmod.session_scope() as db:
        user = accounts.find_user(db, "M1@School.test ")
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert accounts.verify_password(user.password_hash, PASSWORD)
        assert not accounts.verify_password(user.password_hash, PASSWORD + "x")


async def test_login_mijn_studenten_and_logout(portal: TestClient, seed: Seed) -> None:
    home = await portal.get("/", allow_redirects=False)
    assert home.status == 303 and home.headers["Location"] == "/login"
    assert (await portal.get("/mentor", allow_redirects=False)).headers["Location"] == "/login"
    page = await portal.get("/login")
    html = await page.text()
    assert page.status == 200 and "Inloggen" in html and 'lang="nl"' in html
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert 'href="/static/portal.css"' in html
    css = await portal.get("/static/portal.css")
    assert css.status == 200 and css.content_type == "text/css"

    assert "klopt niet" in await login(portal, "m1@school.test", "fout-wachtwoord", 401)
    assert "klopt niet" in await login(portal, "niemand@school.test", PASSWORD, 401)

    csrf = await _csrf(portal)
    r = await portal.post("/login", data={"csrf": csrf, "email": "m1@school.test",
                                          "wachtwoord": PASSWORD}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/mentor"
    cookie = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("lbc_sessie="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie

    assert (await portal.get("/", allow_redirects=False)).headers["Location"] == "/mentor"
    mine = await portal.get("/mentor")
    text = await mine.text()
    assert mine.status == 200 and "Mijn studenten" in text and "Mentor Een" in text
    assert SECRET_NAME in text and "Aap Rustig" in text and "Bram Ander" not in text
    assert text.index(SECRET_NAME) < text.index("Aap Rustig")  # urgent first
    assert "2 open signalen" in text
    assert _audit("portal.login") and _audit("students.list")

    # Logout needs the CSRF token of this session.
    assert (await portal.post("/logout", allow_redirects=False)).status == 403
    assert (await portal.post("/logout", data={"csrf": "x" * 64},
                              allow_redirects=False)).status == 403
    token = await _csrf(portal, "/mentor")
    out = await portal.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    assert (await portal.get("/mentor", allow_redirects=False)).status == 303
    assert _audit("portal.logout")
    with dbmod.session_scope() as db:
        assert db.execute(select(PortalSession)).first() is None


async def test_cookies_are_secure_by_default(storage: str, seed: Seed,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_COOKIE_SECURE", raising=False)
    client = TestClient(TestServer(create_app(run_jobs=False)))
    await client.start_server()
    try:
        r = await client.get("/login")
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith("lbc_csrf=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        await client.close()


async def test_login_without_the_right_csrf_token_is_403(portal: TestClient, seed: Seed) -> None:
    await _csrf(portal)
    form = {"email": "m1@school.test", "wachtwoord": PASSWORD}
    assert (await portal.post("/login", data=form, allow_redirects=False)).status == 403
    wrong = await portal.post("/login", data={**form, "csrf": "a" * 43}, allow_redirects=False)
    assert wrong.status == 403 and "verlopen" in await wrong.text()
    with dbmod.session_scope() as db:
        assert db.execute(select(PortalSession)).first() is None


async def test_login_rate_limit_per_account_and_ip(portal: TestClient, seed: Seed) -> None:
    for _ in range(accounts.MAX_FAILURES):
        await login(portal, "m1@school.test", "fout-wachtwoord", 401)
    text = await login(portal, "m1@school.test", PASSWORD, 429)  # even the right password
    assert "Te veel mislukte pogingen" in text
    await login(portal, "m2@school.test")  # another account from the same address still can
    with dbmod.session_scope() as db:  # the window passes
        db.execute(update(accounts.LoginFailure).values(
            at=utcnow() - accounts.FAILURE_WINDOW - timedelta(seconds=1)))
    await login(portal, "m1@school.test")


async def test_sessions_expire_when_idle(portal: TestClient, seed: Seed,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_SESSION_MINUTES", "30")
    await login(portal, "m1@school.test")
    assert (await portal.get("/mentor", allow_redirects=False)).status == 200
    with dbmod.session_scope() as db:
        db.execute(update(PortalSession).values(last_seen_at=utcnow() - timedelta(minutes=29)))
    assert (await portal.get("/mentor", allow_redirects=False)).status == 200
    with dbmod.session_scope() as db:
        db.execute(update(PortalSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
    r = await portal.get("/mentor", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"
    assert (await portal.get("/api/v1/me")).status == 401
    with dbmod.session_scope() as db:
        assert db.execute(select(PortalSession)).first() is None
    # Sessions nobody comes back to are purged at the next login.
    await login(portal, "m1@school.test")
    with dbmod.session_scope() as db:
        db.execute(update(PortalSession).values(last_seen_at=utcnow() - timedelta(hours=2)))
    await login(portal, "m2@school.test")
    with dbmod.session_scope() as db:
        remaining = list(db.execute(select(PortalSession)).scalars())
        assert len(remaining) == 1 and remaining[0].mentor_id is not None


# --- access control --------------------------------------------------------------------------


async def test_own_student_page_and_api(portal: TestClient, seed: Seed) -> None:
    await login(portal, "m1@school.test")
    page = await portal.get(f"/mentor/studenten/{seed.own}")
    text = await page.text()
    assert page.status == 200 and SECRET_NAME in text and SECRET_EVIDENCE in text
    assert text.index("Crisis") < text.index("Geld")  # urgent first
    me = await (await portal.get("/api/v1/me")).json()
    assert me["role"] == "mentor" and me["email"] == "m1@school.test"
    listed = (await (await portal.get("/api/v1/students")).json())["students"]
    assert [s["id"] for s in listed] == [seed.own, seed.quiet]
    assert listed[0]["urgent_flags"] == 1 and listed[0]["open_flags"] == 2
    one = await (await portal.get(f"/api/v1/students/{seed.own}")).json()
    assert one["display_name"] == SECRET_NAME and one["class_name"] == SECRET_CLASS
    flags = (await (await portal.get(f"/api/v1/students/{seed.own}/flags")).json())["flags"]
    assert [f["severity"] for f in flags] == ["urgent", "attention"]
    assert (await portal.get(f"/api/v1/students/{seed.own}/flags?status=kapot")).status == 400
    views = _audit("student.view") + _audit("student.flags.view")
    assert {v.actor for v in views} == {"mentor:" + str(me["id"])}
    assert {v.object_id for v in views} == {str(seed.own)}
    for row in views:  # who, what, when: never content
        assert SECRET_EVIDENCE not in str(row.detail) and SECRET_NAME not in str(row.detail)


def _methods(app: web.Application, route: str) -> set[str]:
    return {r.method for r in app.router.routes()
            if r.resource is not None and r.resource.canonical == route} - {"HEAD"}


async def test_a_second_mentor_learns_nothing_of_the_first_ones_students(
        portal: TestClient, seed: Seed) -> None:
    await login(portal, "m2@school.test")
    csrf = await _csrf(portal, "/mentor")
    id_routes = [r for r in _routes(portal.app, "/") if "{id}" in r]
    flag_routes = [r for r in id_routes if "/signalen/" in r or "/flags/{id}" in r]
    student_routes = [r for r in id_routes if r not in flag_routes]
    assert {"/mentor/studenten/{id}", "/api/v1/students/{id}",
            "/api/v1/students/{id}/flags"} <= set(student_routes)
    assert {"/mentor/signalen/{id}/gezien", "/mentor/signalen/{id}/afhandelen",
            "/api/v1/flags/{id}/acknowledge", "/api/v1/flags/{id}/resolve"} <= set(flag_routes)
    assert all("studenten" in r or "students" in r for r in student_routes)

    async def call(route: str, method: str, object_id: int) -> ClientResponse:
        path = route.replace("{id}", str(object_id))
        if method == "GET":
            return await portal.get(path, allow_redirects=False)
        if route.startswith("/api/"):  # everything right except whose flag it is
            return await portal.post(path, json={"notitie": "afgehandeld"},
                                     headers={"X-CSRF-Token": csrf}, allow_redirects=False)
        return await portal.post(path, data={"csrf": csrf, "notitie": "afgehandeld"},
                                 allow_redirects=False)

    bodies = []
    tried = 0
    for route in id_routes:
        targets = seed.own_flags if route in flag_routes else (seed.own, seed.quiet)
        methods = _methods(portal.app, route)
        assert methods, route
        for method in methods:
            for target in targets:
                r = await call(route, method, target)
                assert r.status in (403, 404), (route, method)
                bodies.append(await r.text())
                tried += 1
            missing = await call(route, method, 999999)
            assert missing.status == 404 and await missing.text() == bodies[-1]  # the same
    for route in ("/mentor", "/api/v1/students", "/api/v1/me", "/", "/login"):
        bodies.append(await (await portal.get(route)).text())
    assert any("Bram Ander" in body for body in bodies)  # their own student is there
    for body in bodies:
        for secret in (SECRET_NAME, SECRET_CLASS, SECRET_EVIDENCE, "Aap Rustig", "geen geld"):
            assert secret not in body
    assert len(_audit("student.denied")) + len(_audit("flag.denied")) >= tried
    with dbmod.session_scope() as db:  # nothing of the first mentor's student changed
        flags = db.execute(select(Flag).where(Flag.id.in_(seed.own_flags))).scalars().all()
        assert {(f.status, f.note, f.acknowledged_by) for f in flags} == {("open", None, None)}
    assert not _audit("flag.status")


async def test_coordinators_see_their_school_only(portal: TestClient, seed: Seed) -> None:
    await login(portal, "c1@school.test")
    listed = (await (await portal.get("/api/v1/students")).json())["students"]
    assert {s["id"] for s in listed} == {seed.own, seed.quiet, seed.other}
    assert (await portal.get(f"/api/v1/students/{seed.other}")).status == 200
    page = await (await portal.get("/mentor")).text()
    assert "Studenten van je school" in page
    token = await _csrf(portal, "/mentor")
    await portal.post("/logout", data={"csrf": token}, allow_redirects=False)
    await login(portal, "c2@elders.test")
    assert (await (await portal.get("/api/v1/students")).json())["students"] == []
    r = await portal.get(f"/api/v1/students/{seed.own}")
    assert r.status == 404 and SECRET_NAME not in await r.text()


# --- the JSON API ----------------------------------------------------------------------------


async def test_every_api_route_needs_authentication(portal: TestClient, seed: Seed) -> None:
    routes = _routes(portal.app, "/api/v1/")
    assert len(routes) >= 4
    for route in routes:
        path = route.replace("{id}", str(seed.own))
        for headers in ({}, {"Authorization": "Bearer lbc_verkeerd"},
                        {"Authorization": "Basic bTE6eA=="}, {"Authorization": "Bearer"}):
            r = await portal.get(path, headers=headers)
            assert r.status == 401, (route, headers)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            body = await r.json()
            assert body == {"fout": "Je bent niet ingelogd."}


async def test_bearer_tokens_from_the_cli(portal: TestClient, seed: Seed,
                                          capsys: pytest.CaptureFixture) -> None:
    assert token_main(["--email", "m1@school.test"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith(accounts.API_TOKEN_PREFIX)
    with dbmod.session_scope() as db:
        row = db.execute(select(ApiToken)).scalar_one()
        assert row.token_hash == accounts.token_hash(token) and token not in row.token_hash
    auth = {"Authorization": f"Bearer {token}"}
    me = await (await portal.get("/api/v1/me", headers=auth)).json()
    assert me["email"] == "m1@school.test"
    assert (await portal.get(f"/api/v1/students/{seed.own}", headers=auth)).status == 200
    r = await portal.get(f"/api/v1/students/{seed.other}", headers=auth)
    assert r.status == 404 and "Bram" not in await r.text()
    assert token_main(["--email", "niemand@school.test"]) == 1


async def test_openapi_document_lists_every_api_route(portal: TestClient) -> None:
    r = await portal.get("/api/openapi.json")
    assert r.status == 200
    document = await r.json()
    assert document["openapi"].startswith("3.")
    served: dict[str, set[str]] = {}
    for route in portal.app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if canonical.startswith("/api/v1/") and route.method != "HEAD":
            served.setdefault(canonical, set()).add(route.method.lower())
    assert served and set(document["paths"]) == set(served)
    for path, methods in served.items():
        assert set(document["paths"][path]) == methods, path
        for operation in document["paths"][path].values():
            assert "401" in operation["responses"]
            if "{id}" in path:
                assert "404" in operation["responses"]
                assert any(p["name"] == "id" and p["in"] == "path"
                           for p in operation["parameters"])
    schemas = document["components"]["schemas"]
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', await r.text())
    assert refs and set(refs) <= set(schemas)


# --- the CLI ---------------------------------------------------------------------------------


async def test_cli_add_and_reset_password(portal: TestClient, storage: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    assert add_main(["--role", "mentor", "--email", "Nieuw@School.test", "--name", "Nieuwe",
                     "--school", "Het College"]) == 0
    out = capsys.readouterr().out
    first = re.search(r"Eenmalig wachtwoord.*: (\S+)", out)
    assert first, out
    await login(portal, "nieuw@school.test", first.group(1))
    assert add_main(["--role", "mentor", "--email", "nieuw@school.test", "--name", "X"]) == 1
    assert "al een account" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("kort\n"))
    assert add_main(["--role", "coordinator", "--email", "k@school.test", "--name", "K",
                     "--password-stdin"]) == 1
    assert "minstens 10 tekens" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("een-heel-lang-wachtwoord\n"))
    assert add_main(["--role", "coordinator", "--email", "k@school.test", "--name", "K",
                     "--password-stdin"]) == 0
    assert "Eenmalig" not in capsys.readouterr().out
    with dbmod.session_scope() as db:
        assert db.execute(select(Coordinator).where(Coordinator.email == "k@school.test")
                          ).scalar_one().school_id is None
        assert db.execute(select(Mentor).where(Mentor.email == "nieuw@school.test")
                          ).scalar_one().school.name == "Het College"

    # A reset ends the open sessions and the old password stops working.
    assert reset_main(["--email", "nieuw@school.test"]) == 0
    second = re.search(r"Eenmalig wachtwoord.*: (\S+)", capsys.readouterr().out)
    assert second and second.group(1) != first.group(1)
    assert (await portal.get("/mentor", allow_redirects=False)).status == 303
    await login(portal, "nieuw@school.test", first.group(1), 401)
    await login(portal, "nieuw@school.test", second.group(1))
    assert reset_main(["--email", "niemand@school.test"]) == 1
