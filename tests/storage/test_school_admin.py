"""Coordinators and the school admin manage their school's accounts in the portal: a new
one-time password for a mentor (coordinator) or also for a coordinator (school admin), only in
their own school, audited; mentors do not see these pages. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.storage import accounts
from bot.storage import db as dbmod
from bot.storage.models import AuditLog, PortalSession, SchoolClass, Student
from bot.users import add_main
from tests.storage.test_mentor_portal import PASSWORD, Seed, _csrf, login, portal, seed  # noqa: F401


def _key(email: str) -> str:
    with dbmod.session_scope() as db:
        who = accounts.principal_of(accounts.find_user(db, email))
        return f"{who.table_role}-{who.id}"


async def _reset(client: TestClient, key: str, csrf: str | None = None) -> tuple[int, str]:
    token = csrf if csrf is not None else await _csrf(client, "/beheer/accounts")
    r = await client.post(f"/beheer/accounts/{key}/wachtwoord", data={"csrf": token},
                          allow_redirects=False)
    return r.status, await r.text()


def _sessions(email: str) -> int:
    with dbmod.session_scope() as db:
        user = accounts.find_user(db, email)
        return len(db.execute(select(PortalSession).where(
            PortalSession.mentor_id == user.id)).scalars().all())


async def test_a_coordinator_gives_a_mentor_a_new_password(portal: TestClient,  # noqa: F811
                                                           seed: Seed) -> None:  # noqa: F811
    mentor_client = TestClient(portal.server)
    await mentor_client.start_server()
    await login(mentor_client, "m1@school.test")
    assert _sessions("m1@school.test") == 1

    await login(portal, "c1@school.test")
    page = await (await portal.get("/beheer/accounts")).text()
    assert "m1@school.test" in page and "m2@school.test" in page
    assert "c2@elders.test" not in page  # another school
    assert f'/beheer/accounts/{_key("m1@school.test")}/wachtwoord' in page
    assert f'/beheer/accounts/{_key("c1@school.test")}/wachtwoord' not in page  # not itself

    status, text = await _reset(portal, _key("m1@school.test"))
    assert status == 200
    password = re.search(r'class="eenmalig"><code>([^<]+)</code>', text).group(1)
    assert _sessions("m1@school.test") == 0  # the old session ended
    assert (await mentor_client.get("/mentor", allow_redirects=False)).status == 303
    await login(mentor_client, "m1@school.test", PASSWORD, expect=401)
    await login(mentor_client, "m1@school.test", password)
    await mentor_client.close()
    with dbmod.session_scope() as db:
        row = db.execute(select(AuditLog).where(
            AuditLog.action == "account.password_reset")).scalars().one()
        assert row.actor.startswith("coordinator:") and password not in str(row.detail)


async def test_only_within_the_school_and_only_the_admin_resets_coordinators(
        portal: TestClient, seed: Seed, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    await login(portal, "c2@elders.test")
    assert (await _reset(portal, _key("m1@school.test")))[0] == 404
    await login(portal, "c1@school.test")
    assert (await _reset(portal, _key("c1@school.test")))[0] == 404  # not your own this way
    with dbmod.session_scope() as db:
        accounts.add_user(db, "coordinator", "c3@school.test", "Tweede Coördinator", PASSWORD,
                          school="Het College")
    assert (await _reset(portal, _key("c3@school.test")))[0] == 404
    assert (await _reset(portal, "mentor-999999"))[0] == 404
    assert (await _reset(portal, _key("m1@school.test"), csrf="vals"))[0] == 403
    with dbmod.session_scope() as db:
        denied = db.execute(select(AuditLog).where(AuditLog.action == "account.denied")
                            ).scalars().all()
        assert len(denied) == 4

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert add_main(["--role", "admin", "--email", "admin@school.test", "--name", "Beheer",
                     "--school", "Het College", "--password-stdin"]) == 0
    with dbmod.session_scope() as db:
        admin = accounts.principal_of(accounts.find_user(db, "admin@school.test"))
        assert admin.role == "admin" and admin.school_wide and admin.actor.startswith(
            "coordinator:")
    await login(portal, "admin@school.test")
    page = await (await portal.get("/beheer/accounts")).text()
    assert "Schoolbeheerder" in page
    assert (await _reset(portal, _key("c3@school.test")))[0] == 200
    # The admin sees the school's students, like a coordinator.
    students = await (await portal.get("/mentor")).text()
    assert f"/mentor/studenten/{seed.own}" in students
    assert f"/mentor/studenten/{seed.other}" in students


async def test_mentors_do_not_see_account_management(portal: TestClient,  # noqa: F811
                                                     seed: Seed) -> None:  # noqa: F811
    await login(portal, "m1@school.test")
    page = await (await portal.get("/mentor")).text()
    assert "/beheer/accounts" not in page
    assert (await portal.get("/beheer/accounts")).status == 404
    csrf = await _csrf(portal, "/mentor")
    assert (await _reset(portal, _key("m2@school.test"), csrf=csrf))[0] == 404
    portal.session.cookie_jar.clear()
    r = await portal.get("/beheer/accounts", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/login")


async def test_deactivating_a_mentor_ends_their_access_until_activated(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    mentor_client = TestClient(portal.server)
    await mentor_client.start_server()
    await login(mentor_client, "m1@school.test")
    await login(portal, "c1@school.test")
    csrf = await _csrf(portal, "/beheer/accounts")
    key = _key("m1@school.test")
    r = await portal.post(f"/beheer/accounts/{key}/deactiveren", data={"csrf": csrf},
                          allow_redirects=False)
    assert r.status == 303
    assert (await mentor_client.get("/mentor", allow_redirects=False)).status == 303
    await login(mentor_client, "m1@school.test", expect=401)
    page = await (await portal.get("/beheer/accounts")).text()
    assert f"/beheer/accounts/{key}/activeren" in page
    # Not for another school's coordinator, nor for coordinators' accounts.
    assert (await portal.post(f"/beheer/accounts/{_key('c1@school.test')}/deactiveren",
                              data={"csrf": csrf})).status == 404
    await portal.post(f"/beheer/accounts/{key}/activeren", data={"csrf": csrf})
    await login(mentor_client, "m1@school.test")
    await login(portal, "c2@elders.test")
    csrf = await _csrf(portal, "/beheer/accounts")
    assert (await portal.post(f"/beheer/accounts/{key}/deactiveren",
                              data={"csrf": csrf})).status == 404
    with dbmod.session_scope() as db:
        assert accounts.find_user(db, "m1@school.test").active
        actions = [a.action for a in db.execute(select(AuditLog)).scalars()]
    assert actions.count("account.deactivated") == 1 and actions.count("account.activated") == 1
    await mentor_client.close()  # last: it shares (and closes) the portal's test server


async def test_a_coordinator_moves_a_student_to_another_class_and_mentor(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    with dbmod.session_scope() as db:
        klas = db.execute(select(SchoolClass)).scalars().first()
        m2 = accounts.find_user(db, "m2@school.test")
        klas_id, m2_id = klas.id, m2.id
    await login(portal, "m1@school.test")
    csrf = await _csrf(portal, "/mentor")
    page = await (await portal.get(f"/mentor/studenten/{seed.quiet}")).text()
    assert "/indeling" not in page  # mentors do not place students
    r = await portal.post(f"/mentor/studenten/{seed.quiet}/indeling",
                          data={"csrf": csrf, "klas": str(klas_id), "mentor": str(m2_id)})
    assert r.status == 404

    await login(portal, "c1@school.test")
    page = await (await portal.get(f"/mentor/studenten/{seed.quiet}")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert f'action="/mentor/studenten/{seed.quiet}/indeling"' in page
    for bad in ({"klas": "abc"}, {"mentor": "999999"}, {"klas": "-1"}):
        r = await portal.post(f"/mentor/studenten/{seed.quiet}/indeling",
                              data={"csrf": csrf, **bad})
        assert r.status == 400 and "Kies een klas en een mentor van je school" in await r.text()
    r = await portal.post(f"/mentor/studenten/{seed.quiet}/indeling", allow_redirects=False,
                          data={"csrf": csrf, "klas": str(klas_id), "mentor": str(m2_id)})
    assert r.status == 303
    with dbmod.session_scope() as db:
        moved = db.get(Student, seed.quiet)
        assert (moved.class_id, moved.mentor_id) == (klas_id, m2_id)
        row = db.execute(select(AuditLog).where(AuditLog.action == "student.moved")
                         ).scalars().one()
        assert row.detail["to"] == {"class": klas_id, "mentor": m2_id}
    await login(portal, "m2@school.test")
    assert "Aap Rustig" in await (await portal.get("/mentor")).text()
    await login(portal, "m1@school.test")
    assert "Aap Rustig" not in await (await portal.get("/mentor")).text()
