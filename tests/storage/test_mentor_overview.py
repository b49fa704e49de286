""""Mijn studenten" at a glance (status chips, class filter, the open-flag count in the header)
and the student's development (chart, LOB-cv timeline, what went well), on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp.test_utils import TestClient

from bot.conversation.summaries import today_local
from bot.storage import db as dbmod
from bot.storage.models import ActionPlan, Conversation, Insight, SchoolClass, Student
from bot.storage.types import utcnow
from tests.storage.test_mentor_portal import Seed, login, portal, seed  # noqa: F401

PLAN_WORDS = "mijn stagebegeleider mailen over de planning"


def _history(seed: Seed) -> None:  # noqa: F811
    """The quiet student gets a class of their own, two conversations with insights and an
    overdue plan that has not been followed up yet."""
    with dbmod.session_scope() as db:
        quiet = db.get(Student, seed.quiet)
        klas = SchoolClass(school_id=quiet.school_id, name="Klas 3A")
        db.add(klas)
        quiet.school_class = klas
        now = utcnow()
        for age, competency in ((70, "kwaliteiten"), (5, "motieven")):
            session = Conversation(student_id=quiet.id, channel="rest", status="completed",
                              step_reached="activeren", experience=f"ervaring {age}",
                              started_at=now - timedelta(days=age),
                              updated_at=now - timedelta(days=age))
            db.add(session)
            db.flush()
            db.add(Insight(student_id=quiet.id, session_id=session.id, competency=competency,
                           method="test", text=f"inzicht {competency}",
                           created_at=now - timedelta(days=age)))
        db.add(ActionPlan(student_id=quiet.id, session_id=session.id, what=PLAN_WORDS,
                          when_date=today_local() - timedelta(days=2)))


async def test_status_chips_class_filter_and_header_count(portal: TestClient,  # noqa: F811
                                                          seed: Seed) -> None:  # noqa: F811
    _history(seed)
    await login(portal, "m1@school.test")
    text = await (await portal.get("/mentor")).text()
    # The header counts mentor 1's open flags (two), not mentor 2's.
    assert re.search(r'class="teller heeft-open" href="/mentor">2 open signalen<', text)
    rows = re.findall(r"<tr class=\"rij-([a-z-]+)\">.*?studenten/(\d+)", text)
    assert rows[0] == ("urgent", str(seed.own))  # urgent on top
    assert ("verlopen", str(seed.quiet)) in rows
    assert "Plan verlopen, nog niet besproken" in text
    # Filter: only Klas 3A.
    options = dict((name, i) for i, name in re.findall(r'<option value="(\d+)"[^>]*>([^<]+)<',
                                                        text))
    assert set(options) == {"Klas 3A", "Klas-Geheim-4B"}
    filtered = await (await portal.get(f"/mentor?klas={options['Klas 3A']}")).text()
    assert f"studenten/{seed.quiet}\"" in filtered and f"studenten/{seed.own}\"" not in filtered
    assert "selected" in filtered
    # Nonsense in the filter shows every class instead of an error.
    for junk in ("abc", "-1", "9" * 40, ""):
        r = await portal.get("/mentor", params={"klas": junk})
        assert r.status == 200 and f"studenten/{seed.own}\"" in await r.text()


async def test_another_mentors_class_filter_shows_nothing_of_theirs(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    _history(seed)
    await login(portal, "m2@school.test")
    with dbmod.session_scope() as db:
        klas_id = db.get(Student, seed.quiet).class_id
    text = await (await portal.get(f"/mentor?klas={klas_id}")).text()
    assert "Klas 3A" not in text and "studenten/" not in text
    assert re.search(r'class="teller heeft-open" href="/mentor">1 open signaal<', text)


async def test_student_page_shows_development_timeline_and_what_went_well(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    _history(seed)
    with dbmod.session_scope() as db:
        plan = db.query(ActionPlan).filter_by(student_id=seed.quiet).one()
        plan.followup_status, plan.followup_text = "gelukt", "ging prima"
    await login(portal, "m1@school.test")
    text = await (await portal.get(f"/mentor/studenten/{seed.quiet}")).text()
    assert "<h2>Ontwikkeling</h2>" in text and "<svg" in text
    assert text.count("<polyline") == 6  # one line per competency
    timeline = text.split('<ol class="tijdlijn">')[1].split("</ol>")[0]
    assert timeline.index("ervaring 70") < timeline.index("ervaring 5")  # oldest first
    assert "→ gelukt" in timeline
    well = text.split('<section class="gaat-goed">')[1].split("</section>")[0]
    assert "Plan gelukt" in well and PLAN_WORDS in well
    # The overview now shows the follow-up result instead of "overdue".
    overview = await (await portal.get("/mentor")).text()
    assert "Plan gelukt" in overview and "Plan verlopen" not in overview


async def test_a_student_without_conversations_gets_kind_empty_states(
        portal: TestClient, seed: Seed) -> None:  # noqa: F811
    await login(portal, "m1@school.test")
    text = await (await portal.get(f"/mentor/studenten/{seed.quiet}")).text()
    assert "Nog geen inzichten om te tekenen." in text and "Nog geen activiteiten." in text
    assert "gaat-goed" not in text
    overview = await (await portal.get("/mentor")).text()
    assert "Nog geen gesprek" in overview
