"""`make demo` end to end: `python -m bot.demo` in a work directory of its own (as `make run`
would use it) holds every demo student's conversations with the real Rasa and action servers,
then the database holds the demo school with what the coach made of them; a second run changes
nothing; a mentor logs in to the real portal and finds the student with the urgent flag."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session as DbSession

from bot import demo
from bot.devservers import MODEL, ROOT, free_port, isolated_env, upgrade_database
from bot.storage import models as m
from tests.portal_helpers import running_portal

pytestmark = pytest.mark.rasa
SCHOOL = demo.load()
ATTENTION = {"discriminatie", "druk_omgeving", "financien", "uitval", "stage_probleem",
             "zelfvertrouwen", "mentor_gevraagd"}


@dataclass
class Demo:
    env: dict[str, str]
    output: str

    def db(self) -> DbSession:
        return DbSession(create_engine(self.env["DATABASE_URL"]))


def run_demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not MODEL.exists():
        pytest.fail(f"No trained model at {MODEL}: run `make test` (it trains one).")
    env = isolated_env(tmp_path_factory.mktemp("demo"))
    upgrade_database(env)
    done = run_demo(env)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    yield Demo(env, done.stdout)


def test_the_demo_reads_every_question_the_coach_can_ask() -> None:
    """Without servers: each question, follow-up and step summary of the script, as a student
    of each level reads it, is recognised; every prepared answer belongs to a question."""
    from bot.conversation.script import get_script
    from bot.demo_talk import CHECK, Coach
    from bot.taxonomy import LEVELS

    script = get_script()
    names = {"vorig_plan": "een plan", "vorige_ervaring": "een stage"}
    for level in LEVELS:
        coach = Coach(script, level)
        for step in script.steps.values():
            for question in step.questions:
                for text in (question.text, *question.probes):
                    assert coach.asked(script.render(text, level, **names)) == question.key
            summary = script.render(step.summary_head, level) + ["• ..."] + script.render(
                step.summary_question, level)
            assert coach.asked(summary) == CHECK + step.key
    keys = {q.key for step in script.steps.values() for q in step.questions} | {"crisis_check"}
    for student in SCHOOL.students:
        for conversation in student.conversations:
            assert set(conversation.answers) <= keys, student.name


def test_the_demo_school_is_made_through_the_coach(built: Demo) -> None:
    with built.db() as db:
        school = db.execute(select(m.School).where(m.School.name == SCHOOL.name)).scalar_one()
        assert db.execute(select(func.count(m.School.id))).scalar_one() == 1
        mentors = db.execute(select(m.Mentor).where(m.Mentor.school_id == school.id)
                             ).scalars().all()
        coordinators = db.execute(select(m.Coordinator).where(
            m.Coordinator.school_id == school.id)).scalars().all()
        assert len(mentors) == 2
        assert sorted(c.is_admin for c in coordinators) == [False, True]
        students = db.execute(select(m.Student).where(m.Student.school_id == school.id)
                              ).scalars().all()
        assert len(students) == len(SCHOOL.students) >= 18
        assert {s.school_class.name for s in students} == set(SCHOOL.classes)
        assert all(s.mentor is not None and s.level for s in students)
        assert all(len(s.identities) == 1 and s.identities[0].channel == "rest"
                   for s in students)

        sessions = db.execute(select(m.Conversation)).scalars().all()
        assert len(sessions) == sum(len(s.conversations) for s in SCHOOL.students)
        completed = [s for s in sessions if s.status == "completed"]
        assert len(completed) >= len(students) and all(s.step_reached == "activeren"
                                                       for s in completed)
        for session in completed:  # held through the coach: every step answered
            keys = set(db.execute(select(m.Answer.question_key).where(
                m.Answer.session_id == session.id)).scalars())
            assert {"ervaring", "uitproberen", "hulp_contact", "wanneer"} <= keys, keys
        assert {s.status for s in sessions} == {"completed", "paused", "abandoned"}
        assert db.execute(select(func.count(m.Insight.id))).scalar_one() >= len(completed)
        # some weeks of history: conversations dated back over more than one month
        assert len({s.started_at.strftime("%Y-%m") for s in sessions}) >= 2

        flags = db.execute(select(m.Flag)).scalars().all()
        categories = {f.category for f in flags}
        assert ATTENTION | {"crisis", "afgehaakt"} <= categories
        urgent = [f for f in flags if f.severity == "urgent"]
        assert [(f.category, f.status) for f in urgent] == [("crisis", "open")]
        assert any(f.category == "discriminatie" and f.student_declined for f in flags)

        plans = db.execute(select(m.ActionPlan)).scalars().all()
        assert len(plans) >= len(completed) and all(p.when_date for p in plans)
        followed_up = {p.followup_status for p in plans if p.followup_status}
        assert {"gelukt", "deels", "niet_gelukt"} <= followed_up
        checkins = db.execute(select(m.Job).where(m.Job.kind == "checkin",
                                                  m.Job.status == "done")).scalars().all()
        wanted = [s for s in SCHOOL.students
                  if len(s.conversations) > 1 and s.conversations[1].via_checkin]
        assert len(checkins) == len(wanted) >= 2
        # the check-in reached the student through Rasa and was delivered with their answer
        assert db.execute(select(func.count(m.PendingMessage.id)).where(
            m.PendingMessage.delivered_at.is_not(None))).scalar_one() >= len(wanted)

    assert "let op" not in built.output  # every flag as the data file expects
    for account in SCHOOL.accounts:
        assert re.search(rf"{re.escape(account.email)}\s+wachtwoord: "
                         rf"{re.escape(account.password)}", built.output)


def test_a_second_run_changes_nothing(built: Demo) -> None:
    with built.db() as db:
        before = db.execute(select(func.count(m.Conversation.id))).scalar_one()
    again = run_demo(built.env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "staat al in de database" in again.stdout and "--opnieuw" in again.stdout
    with built.db() as db:
        assert db.execute(select(func.count(m.Conversation.id))).scalar_one() == before
        assert db.execute(select(func.count(m.Student.id))).scalar_one() == len(SCHOOL.students)


class Browser:
    """A cookie-keeping HTTP client, like a browser without JavaScript."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def log_in(self, email: str, password: str) -> str:
        form = self.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        body = urllib.parse.urlencode({"csrf": csrf, "email": email, "wachtwoord": password})
        with self.opener.open(self.base + "/login", body.encode(), timeout=30) as response:
            assert response.url.endswith("/mentor"), response.url
            return response.read().decode()


def test_a_mentor_finds_the_student_with_the_urgent_flag(built: Demo) -> None:
    crisis = next(s for s in SCHOOL.students if any("crisis" in c.flags
                                                    for c in s.conversations))
    mentor = SCHOOL.mentor_of(crisis.class_name)
    assert mentor is not None
    others = [s.name for s in SCHOOL.students if s.class_name != crisis.class_name]
    with running_portal(built.env, f"http://127.0.0.1:{free_port()}",
                        PORTAL_COOKIE_SECURE="0") as url:
        browser = Browser(url)
        overview = browser.log_in(mentor.email, mentor.password)
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", overview.split("<tbody>")[1])
        assert crisis.name in rows[0] and "Urgent signaal" in rows[0]  # on top
        assert not any(name in overview for name in others)  # only their own class
        link = re.search(r'href="(/mentor/studenten/\d+)">' + re.escape(crisis.name), rows[0])
        page = browser.get(link.group(1))  # type: ignore[union-attr]
        assert "Urgent" in page and "Crisis" in page and "Open" in page
        assert "Gesprek van" in page and "Ontwikkeling" in page
