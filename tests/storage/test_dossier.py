"""The gesprekskaart and the loopbaandossier export: the pure dossier (rows, CSV with formula
neutralising, latin-1-safe PDF, JSON) and, on SQLite and PostgreSQL, the portal routes (a
mentor gets the card and the downloads with the student's words; a second mentor gets 404,
audited as denied; the audit log never holds content)."""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.conversation import dossier
from bot.conversation.summaries import (
    CompetencySection,
    FollowUp,
    InsightEntry,
    NextStep,
    SessionSummary,
)
from bot.portal import dossier as portal_dossier
from bot.portal.app import create_app
from bot.storage import db as dbmod
from bot.storage import repository as repo
from bot.storage.models import AuditLog, Student
from bot.storage.types import utcnow
from bot.taxonomy import FLAG_BY_KEY
from bot.users import token_main
from tests.storage import test_mentor_portal as base
from tests.storage.test_mentor_portal import (
    SECRET_CLASS,
    SECRET_EVIDENCE,
    SECRET_NAME,
    Seed,
    login,
)

seed = base.seed  # two mentors, a coordinator per school, three students with flags
CARD_ROUTE = "/mentor/studenten/{id}/gesprekskaart"
PAGE_ROUTES = ("/mentor/studenten/{id}/gesprekskaart", "/mentor/studenten/{id}/dossier.pdf",
               "/mentor/studenten/{id}/dossier.csv", "/mentor/studenten/{id}/dossier.json")
API_ROUTE = "/api/v1/students/{id}/dossier"

# The student's words in the portal tests (escaping, formulas, characters outside latin-1).
BRANDWEER = "Meeloopdag bij de brandweer"
SUPERMARKT = "Bijbaan bij de supermarkt"
STAGE = "Stage bij de bakker <b>echt</b> & zo"
WENT_WELL = "=HYPERLINK(\"http://x.test\";\"klik\")"
HEADLINE = "Ik ben een mensen-mens"
INSIGHT = "Ik kan goed uitleggen"
PLAN = "Mailen naar de kapper"
HELPER = "mijn zus"
FOLLOWUP = "Ze zei ja, ik mag komen kijken"
OPEN_DAY = "Open dag ROC — “leuk” 👍 met Łukasz"
OPEN_DAY_PDF = b'Open dag ROC - "leuk" ? met Lukasz'


# --- the pure dossier ------------------------------------------------------------------------


def _summary(session_id: int, day: date, **fields: object) -> SessionSummary:
    return SessionSummary(session_id=session_id, date=day, status="completed",
                          step_reached="activeren", status_text="afgerond", **fields)


def _sections() -> list[CompetencySection]:
    talent = CompetencySection("kwaliteiten", "Ontdek je talent", "Kwaliteitenreflectie", [
        InsightEntry(date(2026, 10, 1), INSIGHT, True, False, 1, "reflecteren", "inzicht"),
        InsightEntry(date(2026, 10, 1), HEADLINE, True, True, 1, "reflecteren", "inzicht_naam"),
    ], [])
    network = CompetencySection("netwerken", "In gesprek met", "Netwerken", [
        InsightEntry(date(2026, 10, 1), INSIGHT, False, False, 1, "reflecteren", "inzicht"),
        InsightEntry(date(2026, 11, 2), "Ik durf te bellen", True, False, 2, "reflecteren",
                     "inzicht"),
    ], [])
    return [talent, network]


def _summaries() -> list[SessionSummary]:
    """Newest first, as bot.storage.access returns them."""
    return [
        _summary(2, date(2026, 11, 2), experience=OPEN_DAY,
                 previous_step=FollowUp(PLAN, "gelukt", FOLLOWUP)),
        _summary(1, date(2026, 10, 1), experience=STAGE, role="hulpje", went_well=WENT_WELL,
                 headline=HEADLINE,
                 next_step=NextStep(PLAN, HELPER, "volgende week", date(2026, 10, 8),
                                    "gelukt", FOLLOWUP)),
    ]


def _dossier(rows: list[dossier.DossierRow] | None = None) -> dossier.Dossier:
    if rows is None:
        rows = dossier.build_rows(_summaries(), _sections())
    return dossier.Dossier(7, SECRET_NAME, SECRET_CLASS, date(2026, 12, 1), rows)


def test_rows_follow_the_dossier_structure() -> None:
    first, second = dossier.build_rows(_summaries(), _sections())
    assert (first.session_id, second.session_id) == (1, 2)  # oldest first
    assert first.activity == STAGE and first.role == "hulpje" and first.went_well == WENT_WELL
    assert first.insight_name == HEADLINE
    # Main insights only, the student's name for the insight not twice.
    assert [(i.text, i.competency_label) for i in first.insights] == [
        (INSIGHT, "Ontdek je talent")]
    assert [i.text for i in second.insights] == ["Ik durf te bellen"]
    assert first.evaluation is None and dossier.evaluation_text(first) == ""
    assert dossier.evaluation_text(second) == f"{PLAN}: gelukt, {FOLLOWUP}"
    assert first.follow_up is not None and second.follow_up is None
    assert dossier.when_text(first.follow_up) == "volgende week (08-10-2026)"
    assert dossier.follow_up_result(first.follow_up) == f"gelukt, {FOLLOWUP}"
    assert dossier.follow_up_result(NextStep("x", None, None, None)) == "nog niet besproken"

    data = dossier.as_json(_dossier())
    assert data["student"] == {"id": 7, "display_name": SECRET_NAME,
                               "class_name": SECRET_CLASS}
    assert data["exported_on"] == "2026-12-01"
    one, two = data["activities"]
    assert one["date"] == "2026-10-01" and one["activity"]["experience"] == STAGE
    assert one["learned"]["insights"] == [{"text": INSIGHT, "competency": "kwaliteiten",
                                           "competency_label": "Ontdek je talent"}]
    assert one["follow_up"] == {"what": PLAN, "who": HELPER, "when": "volgende week",
                                "when_date": "2026-10-08", "result": "gelukt",
                                "result_text": "gelukt", "student_words": FOLLOWUP,
                                "reason": None}
    assert two["evaluation"] == {"previous_step": PLAN, "result": "gelukt",
                                 "result_text": "gelukt", "student_words": FOLLOWUP,
                                 "reason": None}
    assert two["activity"]["experience"] == OPEN_DAY  # verbatim, unicode and all
    json.dumps(data)  # JSON-ready


@pytest.mark.parametrize(("text", "expected"), [
    ("=1+1", "'=1+1"), ("+31 6 1234", "'+31 6 1234"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("  =1+1", "'  =1+1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("Ik ben = blij", "Ik ben = blij"), ("e-mail", "e-mail"), ("", ""), (None, ""),
])
def test_spreadsheet_formulas_are_neutralised(text: str | None, expected: str) -> None:
    assert dossier.safe_cell(text) == expected


def test_csv_opens_in_excel_and_keeps_the_students_words() -> None:
    rows = dossier.build_rows(_summaries(), _sections())
    tricky = dossier.DossierRow(3, date(2026, 11, 20), "afgerond",
                                'Regel 1; "met" quotes\nregel 2', "-rol", None, "@naam", (),
                                None, NextStep("+bellen", "=A1", None, None))
    body = dossier.as_csv(_dossier([*rows, tricky]))
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    text = body.decode("utf-8-sig")
    assert "\r\n" in text
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert parsed[0] == list(dossier.CSV_HEADER) and parsed[0][0] == "Datum"
    assert len(parsed) == 4 and all(len(r) == len(dossier.CSV_HEADER) for r in parsed)
    first, second, third = parsed[1:]
    assert first[:6] == ["01-10-2026", "afgerond", STAGE, "hulpje", "'" + WENT_WELL, HEADLINE]
    assert first[6] == f"{INSIGHT} (Ontdek je talent)"
    assert first[8:] == [PLAN, HELPER, "volgende week (08-10-2026)", f"gelukt, {FOLLOWUP}"]
    assert second[2] == OPEN_DAY and second[7] == f"{PLAN}: gelukt, {FOLLOWUP}"
    assert second[8:] == ["", "", "", ""]
    assert third[2] == 'Regel 1; "met" quotes\nregel 2'  # round-trips
    assert (third[3], third[5], third[8], third[9]) == ("'-rol", "'@naam", "'+bellen", "'=A1")
    assert third[11] == "nog niet besproken"


def _pdf_text(pdf: bytes) -> bytes:
    """The PDF's streams, decompressed where they are compressed."""
    parts = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            parts.append(match.group(1))
    return b"\n".join(parts)


def test_latin1_replaces_what_the_core_fonts_cannot_show() -> None:
    assert dossier.latin1("“Zoë” — ‘café’ …") == "\"Zoë\" - 'café' ..."
    assert dossier.latin1("Łódź ő ﬁets œuvre") == "Lódz o fiets oeuvre"
    assert dossier.latin1("top 👍 你好") == "top ? ??"
    assert dossier.latin1("a\x00b\r\nc\td") == "a b\nc d"
    assert dossier.latin1("e\u0301") == "é"  # combining accent composed
    assert dossier.latin1(None) == ""


def test_pdf_holds_the_students_words_also_outside_latin1() -> None:
    long_word = "x" * 400  # wider than the page: wrapped, not an error
    rows = dossier.build_rows(_summaries(), _sections())
    rows.append(dossier.DossierRow(3, date(2026, 11, 20), "afgerond", long_word, None, None,
                                   None, (), None, None))
    plain = dossier.as_pdf(_dossier(rows), compress=False)
    assert plain.startswith(b"%PDF-")
    for words in (b"Loopbaandossier", b"Zo\xeb Geheimnaam", SECRET_CLASS.encode(),
                  b"Datum export: 01-12-2026", rb"Activiteit 1 - 01-10-2026 \(afgerond\)",
                  b"Stage bij de bakker <b>echt</b> & zo", HEADLINE.encode(),
                  f"Inzicht \\(Ontdek je talent\\): {INSIGHT}".encode(), PLAN.encode(),
                  b"Wie helpt: mijn zus", OPEN_DAY_PDF, b"Evaluatie: hoe ging mijn vorige stap?",
                  b"Hoe ging het: gelukt, Ze zei ja, ik mag komen kijken"):
        assert words in plain, words
    assert b"xxxxxxxxxx" in plain and long_word.encode() not in plain  # wrapped
    many = dossier.as_pdf(_dossier(rows * 8), compress=False)
    assert b"pagina 1 van " in many and b"pagina 2 van " in many  # pages break
    packed = dossier.as_pdf(_dossier(rows))
    assert packed.startswith(b"%PDF-") and OPEN_DAY_PDF not in packed  # compressed...
    assert OPEN_DAY_PDF in _pdf_text(packed)  # ... and the helper finds it


def test_empty_dossier() -> None:
    empty = _dossier([])
    assert dossier.as_json(empty)["activities"] == []
    parsed = list(csv.reader(io.StringIO(dossier.as_csv(empty).decode("utf-8-sig")),
                             delimiter=";"))
    assert parsed == [list(dossier.CSV_HEADER)]
    pdf = dossier.as_pdf(empty, compress=False)
    assert pdf.startswith(b"%PDF-") and b"Nog geen activiteiten." in pdf
    assert b"Activiteit 1" not in pdf
    assert dossier.filename(12, "pdf") == "loopbaandossier-12.pdf"


# --- the portal ------------------------------------------------------------------------------


@pytest.fixture
async def portal(storage: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    """The portal with the dossier routes (set up here until bot/portal/app.py does it)."""
    monkeypatch.setenv("PORTAL_COOKIE_SECURE", "0")
    monkeypatch.delenv("PORTAL_SESSION_MINUTES", raising=False)
    app = create_app(run_jobs=False)
    if CARD_ROUTE not in {r.canonical for r in app.router.resources()}:
        portal_dossier.setup(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


def _story(student_id: int) -> None:
    """Four conversations: two short old ones, one with a plan (later followed up), and the
    newest, in which the student told how the plan went."""
    with dbmod.session_scope() as db:
        student = db.get(Student, student_id)
        assert student is not None
        for days, text in ((60, BRANDWEER), (45, SUPERMARKT)):
            session = repo.start_session(db, student, "rest", "vmbo")
            session.started_at = utcnow() - timedelta(days=days)
            repo.save_answer(db, session, "terugkijken", "ervaring", text, "answer", None)
        old = repo.start_session(db, student, "rest", "vmbo")
        old.started_at = utcnow() - timedelta(days=30)
        for step, key, text in (("terugkijken", "ervaring", STAGE),
                                ("reflecteren", "goed_gedaan", WENT_WELL),
                                ("reflecteren", "inzicht_naam", HEADLINE)):
            repo.save_answer(db, old, step, key, text, "answer", None)
        answer = repo.save_answer(db, old, "reflecteren", "inzicht", INSIGHT, "answer", None)
        repo.save_insight(db, student, old, "reflecteren", "inzicht", INSIGHT,
                          ["kwaliteiten", "netwerken"], "test", headline=HEADLINE,
                          answer=answer)
        plan = repo.save_action_plan(db, student, old, what=PLAN, who=HELPER,
                                     when_text="volgende week")
        repo.set_session_status(db, old, "completed", "activeren")
        new = repo.start_session(db, student, "rest", "vmbo")
        new.started_at = utcnow() - timedelta(minutes=5)
        db.flush()
        repo.save_answer(db, new, None, "vorige_stap", FOLLOWUP, "answer", None)
        repo.record_followup(db, plan, FOLLOWUP, "gelukt")
        repo.save_answer(db, new, "terugkijken", "ervaring", OPEN_DAY, "answer", None)


def _audits(action: str) -> list[AuditLog]:
    with dbmod.session_scope() as db:
        return list(db.execute(select(AuditLog).where(AuditLog.action == action)
                               .order_by(AuditLog.id)).scalars())


def _no_content_in_audit() -> None:
    with dbmod.session_scope() as db:
        for row in db.execute(select(AuditLog)).scalars():
            for secret in (SECRET_NAME, SECRET_CLASS, SECRET_EVIDENCE, STAGE, PLAN, FOLLOWUP,
                           HEADLINE, "bakker", "kapper", "ROC"):
                assert secret not in str(row.detail), row.action


async def test_the_gesprekskaart(portal: TestClient, seed: Seed) -> None:
    _story(seed.own)
    await login(portal, "m1@school.test")
    r = await portal.get(f"/mentor/studenten/{seed.own}/gesprekskaart")
    text = await r.text()
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    assert f"<h1>Gesprekskaart · {SECRET_NAME}</h1>" in text and SECRET_CLASS in text
    assert 'href="/static/print.css" media="print"' in text and "Afdrukken" in text
    assert "<script" not in text and "<style" not in text and " style=" not in text
    conversations = text.split("<h2>Laatste gesprekken</h2>")[1].split("<h2>")[0]
    # The last three, newest first; the student's words escaped.
    assert conversations.count('class="gesprek"') == 3
    assert BRANDWEER not in text
    assert (conversations.index("Open dag ROC") < conversations.index("Stage bij de bakker")
            < conversations.index(SUPERMARKT))
    assert "&lt;b&gt;echt&lt;/b&gt; &amp; zo" in conversations and "<b>echt" not in text
    assert HEADLINE in conversations and PLAN in conversations
    plan = text.split("<h2>Het plan</h2>")[1].split("<h2>")[0]
    for words in (PLAN, HELPER, "volgende week", "gelukt", FOLLOWUP):
        assert words in plan, words
    points = text.split("<h2>Open punten</h2>")[1].split("<h2>")[0]
    assert FLAG_BY_KEY["crisis"].title in points and FLAG_BY_KEY["financien"].title in points
    assert "Urgent" in points and "Aandacht" in points
    assert points.index("Urgent") < points.index("Aandacht")
    assert points.count("Liever niet") == 1  # only the declined flag
    assert points.index("Liever niet") > points.index(FLAG_BY_KEY["financien"].title)
    assert SECRET_EVIDENCE not in text and "geen geld" not in text  # category and severity only
    agreements = text.split("<h2>Afspraken</h2>")[1]
    assert agreements.count('<hr class="schrijfregel">') == portal_dossier.WRITING_LINES
    assert f'href="/mentor/studenten/{seed.own}/dossier.pdf"' in text

    empty = await portal.get(f"/mentor/studenten/{seed.quiet}/gesprekskaart")
    empty_text = await empty.text()
    assert empty.status == 200 and "Nog geen gesprekken." in empty_text
    assert "Nog geen plan." in empty_text and "Geen open punten." in empty_text

    css = await portal.get("/static/print.css")
    assert css.status == 200 and "@page" in await css.text()
    views = _audits(portal_dossier.VIEW_CARD)
    assert [v.object_id for v in views] == [str(seed.own), str(seed.quiet)]
    _no_content_in_audit()


async def test_the_dossier_downloads(portal: TestClient, seed: Seed,
                                     capsys: pytest.CaptureFixture) -> None:
    _story(seed.own)
    await login(portal, "m1@school.test")
    base_path = f"/mentor/studenten/{seed.own}/dossier"
    downloads = {}
    for extension, content_type in portal_dossier.DOWNLOADS.items():
        r = await portal.get(f"{base_path}.{extension}")
        assert r.status == 200, extension
        assert r.content_type == content_type
        assert r.headers["Content-Disposition"] == (
            f'attachment; filename="loopbaandossier-{seed.own}.{extension}"')
        assert r.headers["Cache-Control"] == "no-store"
        downloads[extension] = await r.read()

    pdf = downloads["pdf"]
    assert pdf.startswith(b"%PDF-")
    pdf_text = _pdf_text(pdf)
    for words in (b"Zo\xeb Geheimnaam", SECRET_CLASS.encode(), BRANDWEER.encode(),
                  b"Stage bij de bakker <b>echt</b> & zo", HEADLINE.encode(), PLAN.encode(),
                  OPEN_DAY_PDF, f"Inzicht \\(Ontdek je talent\\): {INSIGHT}".encode(),
                  b"Activiteit 4"):
        assert words in pdf_text, words
    assert pdf_text.index(BRANDWEER.encode()) < pdf_text.index(OPEN_DAY_PDF)  # oldest first

    rows = list(csv.reader(io.StringIO(downloads["csv"].decode("utf-8-sig"), newline=""),
                           delimiter=";"))
    assert downloads["csv"].startswith(b"\xef\xbb\xbf") and rows[0][0] == "Datum"
    assert [r[2] for r in rows[1:]] == [BRANDWEER, SUPERMARKT, STAGE, OPEN_DAY]
    assert rows[3][4] == "'" + WENT_WELL  # the formula neutralised
    assert rows[3][8:10] == [PLAN, HELPER] and rows[3][11] == f"gelukt, {FOLLOWUP}"
    assert rows[4][7] == f"{PLAN}: gelukt, {FOLLOWUP}"

    data = json.loads(downloads["json"])
    assert data["student"] == {"id": seed.own, "display_name": SECRET_NAME,
                               "class_name": SECRET_CLASS}
    activities = data["activities"]
    assert [a["activity"]["experience"] for a in activities] == [
        BRANDWEER, SUPERMARKT, STAGE, OPEN_DAY]
    assert activities[2]["learned"]["went_well"] == WENT_WELL  # JSON keeps it as it is
    assert activities[2]["learned"]["insight_name"] == HEADLINE
    assert activities[3]["evaluation"] == {"previous_step": PLAN, "result": "gelukt",
                                           "result_text": "gelukt", "student_words": FOLLOWUP,
                                "reason": None}

    # The API gives the same JSON, with a bearer token too.
    api = await portal.get(f"/api/v1/students/{seed.own}/dossier")
    assert api.status == 200 and api.headers["Cache-Control"] == "no-store"
    assert await api.json() == data
    assert token_main(["--email", "m1@school.test"]) == 0
    bearer = {"Authorization": f"Bearer {capsys.readouterr().out.strip().splitlines()[-1]}"}
    portal.session.cookie_jar.clear()
    assert await (await portal.get(f"/api/v1/students/{seed.own}/dossier",
                                   headers=bearer)).json() == data

    exports = _audits(portal_dossier.EXPORT)
    assert len(exports) == 5 and {e.object_id for e in exports} == {str(seed.own)}
    assert len({e.actor for e in exports}) == 1 and exports[0].actor.startswith("mentor:")
    _no_content_in_audit()


async def test_a_second_mentor_gets_404_audited_as_denied(portal: TestClient, seed: Seed,
                                                          capsys: pytest.CaptureFixture) -> None:
    _story(seed.own)
    routes = {r.canonical for r in portal.app.router.resources()}
    assert set(PAGE_ROUTES) | {API_ROUTE} <= routes
    # Not logged in: the login page, or 401 for the API.
    for route in PAGE_ROUTES:
        r = await portal.get(route.replace("{id}", str(seed.own)), allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/login")
    assert (await portal.get(API_ROUTE.replace("{id}", str(seed.own)))).status == 401

    await login(portal, "m2@school.test")
    assert token_main(["--email", "m2@school.test"]) == 0
    bearer = {"Authorization": f"Bearer {capsys.readouterr().out.strip().splitlines()[-1]}"}
    tried = 0
    for route in (*PAGE_ROUTES, API_ROUTE):
        missing = await portal.get(route.replace("{id}", "999999"), headers=bearer)
        assert missing.status == 404
        expected = await missing.text()
        for student in (seed.own, seed.quiet):
            for headers in ({}, bearer):
                r = await portal.get(route.replace("{id}", str(student)), headers=headers)
                body = await r.text()
                assert r.status == 404 and body == expected, route
                assert "Content-Disposition" not in r.headers
                for secret in (SECRET_NAME, SECRET_CLASS, STAGE, "Aap Rustig"):
                    assert secret not in body
                tried += 1
    denied = [d for d in _audits("student.denied") if d.object_id in (str(seed.own),
                                                                      str(seed.quiet))]
    assert len(denied) == tried
    assert {d.detail["tried"] for d in denied} == {portal_dossier.VIEW_CARD,
                                                   portal_dossier.EXPORT}
    assert {d.actor for d in denied} == {denied[0].actor} and denied[0].actor.startswith("mentor")
    assert not _audits(portal_dossier.EXPORT) and not _audits(portal_dossier.VIEW_CARD)
    # Their own student is fine.
    assert (await portal.get(f"/mentor/studenten/{seed.other}/dossier.json")).status == 200
    _no_content_in_audit()


async def test_coordinators_export_their_school_only(portal: TestClient, seed: Seed) -> None:
    await login(portal, "c2@elders.test")
    assert (await portal.get(f"/mentor/studenten/{seed.own}/dossier.csv")).status == 404
    await login(portal, "c1@school.test")
    r = await portal.get(f"/mentor/studenten/{seed.other}/dossier.csv")
    assert r.status == 200 and (await r.read()).startswith(b"\xef\xbb\xbf")


async def test_the_generic_access_test_covers_the_dossier_routes(portal: TestClient,
                                                                 seed: Seed) -> None:
    """The portal's own "second mentor tries every {id} route" test, on this app."""
    await base.test_a_second_mentor_learns_nothing_of_the_first_ones_students(portal, seed)
