"""CSV import of mentors, classes and students: per-row Dutch errors, all or nothing, only for
coordinators of the school. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.portal import school_import
from bot.storage import accounts, links
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import School, SchoolClass, Student
from tests.storage.test_mentor_portal import Seed, _csrf, login, portal, seed  # noqa: F401

MENTORS = "naam;email\nJ. de Vries;devries@school.test\nA. Bakker;bakker@school.test\n"
STUDENTS = ("schuilnaam;klas;niveau;mentor;kanaal;kanaal_id\n"
            "Vos;3B;vmbo;devries@school.test;rest;s-vos\n"
            "Uil;3B;vmbo;devries@school.test;;\n"
            "Das;4A;mbo-bol;bakker@school.test;rest;s-das\n")


def _school_id() -> int:
    with dbmod.session_scope() as db:
        return db.execute(select(School.id).where(School.name == "Het College")).scalar_one()


def _counts() -> tuple[int, int]:
    with dbmod.session_scope() as db:
        return (db.execute(select(func.count(Student.id))).scalar_one(),
                db.execute(select(func.count(SchoolClass.id))).scalar_one())


def test_every_problem_is_named_per_row_in_dutch(seed: Seed) -> None:  # noqa: F811
    bad = ("schuilnaam,klas,niveau,mentor,kanaal,kanaal_id\n"
           "Vos,3B,havo,devries@school.test,rest,s-vos\n"
           "Uil,,vmbo,onbekend@school.test,,\n"
           "Das,4A,,,sms,123\n"
           "Mol,4A,,,rest,\n"
           "Eend,4A,,,rest,s-dubbel\n"
           "Gans,4A,,,rest,s-dubbel\n")
    school_id = _school_id()
    with dbmod.session_scope() as db:
        plan = school_import.check(db, school_id, "naam;email\n;geen-adres\n"
                                   "X;m2@school.test\nY;c2@elders.test\n", bad)
    errors = "\n".join(plan.errors)
    assert "Mentoren, rij 2: de naam ontbreekt." in errors
    assert "Mentoren, rij 2: 'geen-adres' is geen e-mailadres." in errors
    assert "Mentoren, rij 4: er is al een ander account met c2@elders.test." in errors
    assert "Mentoren, rij 3" not in errors  # a mentor of this school: kept, not re-added
    assert "Studenten, rij 2: niveau 'havo' bestaat niet" in errors
    assert re.search(r"Studenten, rij 3: de klas ontbreekt; mentor onbekend@school.test is "
                     r"onbekend", errors)
    assert "Studenten, rij 4: kanaal 'sms' bestaat niet" in errors
    assert "Studenten, rij 5: vul kanaal én kanaal_id in" in errors
    assert "Studenten, rij 7: dit kanaal_id staat twee keer in het bestand." in errors
    assert not plan.ok and len(plan.mentors) == 0


def test_missing_columns_and_empty_files(seed: Seed) -> None:  # noqa: F811
    school_id = _school_id()
    with dbmod.session_scope() as db:
        plan = school_import.check(db, school_id, "naam\nX\n", "klas\n3B\n")
        assert any("de kolom(men) email ontbreken" in e for e in plan.errors)
        assert any(e.startswith("Studenten: de kolom(men) schuilnaam, niveau") for e in plan.errors)
        empty = school_import.check(db, school_id, "", "\ufeff")
        assert empty.errors == ["Er staat niets in de bestanden om te importeren."]


def test_a_student_from_another_school_is_not_taken_over(seed: Seed) -> None:  # noqa: F811
    with dbmod.session_scope() as db:
        elsewhere = db.execute(select(School).where(School.name == "Andere School")).scalar_one()
        repo.get_or_create_student(db, "rest", "s-ander").school_id = elsewhere.id
    school_id = _school_id()
    with dbmod.session_scope() as db:
        plan = school_import.check(db, school_id, "", "schuilnaam;klas;niveau;mentor;kanaal;"
                                   "kanaal_id\nX;3B;;;rest;s-ander\n")
    assert plan.errors == ["Studenten, rij 2: dit kanaal_id hoort bij een student van een "
                           "andere school."]


async def _post(client: TestClient, action: str, mentors: str | bytes, students: str | bytes,
                csrf: str | None = None) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf if csrf is not None else await _csrf(client, "/beheer/importeren"))
    form.add_field("actie", action)
    form.add_field("mentoren", mentors, filename="mentoren.csv", content_type="text/csv")
    form.add_field("studenten", students, filename="studenten.csv", content_type="text/csv")
    r = await client.post("/beheer/importeren", data=form)
    return r.status, await r.text()


async def test_check_then_import_all_or_nothing(portal: TestClient,  # noqa: F811
                                                seed: Seed) -> None:  # noqa: F811
    with dbmod.session_scope() as db:
        repo.get_or_create_student(db, "rest", "s-vos")  # chatted before being imported
    await login(portal, "c1@school.test")
    before = _counts()
    one_bad = STUDENTS + "Mol;4A;havo;;;\n"
    status, text = await _post(portal, "importeren", MENTORS, one_bad)
    assert status == 400 and "Er is niets geïmporteerd" in text
    assert "Studenten, rij 5: niveau &#x27;havo&#x27; bestaat niet" in text
    assert _counts() == before
    with dbmod.session_scope() as db:
        assert accounts.find_user(db, "devries@school.test") is None

    status, text = await _post(portal, "controleren", MENTORS, STUDENTS)
    assert status == 200 and "Alles klopt" in text and _counts() == before

    # Dutch Excel: Windows-1252 with a BOM-less header and ';'.
    status, text = await _post(portal, "importeren", MENTORS.encode("cp1252"),
                               STUDENTS.replace("Uil", "Uïl").encode("cp1252"))
    assert status == 200 and "Geïmporteerd" in text, text
    assert "2 mentoren, 2 klassen, 2 nieuwe en 1 bijgewerkte studenten" in text
    password = re.search(r"devries@school.test</td><td><code>([^<]+)<", text).group(1)
    # Uïl has no chat id yet: a koppelcode to hand out (Vos and Das are linked already).
    codes = re.findall(r"<td>([^<]+)</td><td>3B</td><td><code>([A-Z0-9-]+)</code>", text)
    assert [name for name, _ in codes] == ["Uïl"]
    with dbmod.session_scope() as db:
        assert links.redeem(db, "rest", "s-uil", codes[0][1]) is links.Outcome.LINKED
    with dbmod.session_scope() as db:
        vos = repo.get_or_create_student(db, "rest", "s-vos")
        assert (vos.display_name, vos.school_class.name, vos.mentor.email, vos.level) == (
            "Vos", "3B", "devries@school.test", "vmbo")
        uil = db.execute(select(Student).where(Student.display_name == "Uïl")).scalar_one()
        assert [i.sender_id for i in uil.identities] == ["s-uil"]
        assert uil.school_class.name == "3B"
    await login(portal, "devries@school.test", password)
    mine = await (await portal.get("/mentor")).text()
    assert "Vos" in mine and "Uïl" in mine and "Das" not in mine


async def test_import_is_for_coordinators_with_a_valid_form(portal: TestClient,  # noqa: F811
                                                            seed: Seed) -> None:  # noqa: F811
    await login(portal, "m1@school.test")
    assert (await portal.get("/beheer/importeren")).status == 404
    csrf = await _csrf(portal, "/mentor")
    assert (await _post(portal, "importeren", MENTORS, STUDENTS, csrf=csrf))[0] == 404
    await login(portal, "c1@school.test")
    assert (await _post(portal, "importeren", MENTORS, STUDENTS, csrf="vals"))[0] == 403
    huge = "schuilnaam;klas;niveau;mentor;kanaal;kanaal_id\n" + "x;1;;;;\n" * 400_000
    assert (await _post(portal, "importeren", "", huge))[0] == 413
    r = await portal.post("/beheer/importeren", data={"csrf": "x"})
    assert r.status == 400
    with dbmod.session_scope() as db:
        assert accounts.find_user(db, "devries@school.test") is None
