"""Conversation summaries and the LOB-cv (bot.conversation.summaries), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timezone

import yaml

from bot.conversation import summaries
from bot.conversation.script import ACTIVE, Script, get_script, parse
from bot.conversation.summaries import as_dict, render_text, session_summary, student_overview
from bot.paths import SCRIPT_FILE
from bot.portal import yaml_roundtrip
from bot.storage import repository as repo
from bot.storage.models import Conversation, Insight, Student
from bot.taxonomy import COMPETENCY_KEYS, FLAG_BY_KEY, FLAG_CATEGORIES

MARCH = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)
APRIL = datetime(2025, 4, 10, 13, 0, tzinfo=timezone.utc)

EXPERIENCE = "ik heb stage gelopen bij een kapsalon in de stad"
ROLE = "ik hielp met haren wassen en de kassa"
WENT_WELL = "ik bleef rustig toen het heel druk was"
HEADLINE = "ik werk graag met mensen"
EXPLORE = "een dag meelopen bij een barbier"
HELP = "ik app mijn oom, hij heeft een barbershop"

FULL_SUMMARY = (
    "Gesprek van 14-03-2025: afgerond.\n"
    "Ervaring: “ik heb stage gelopen bij een kapsalon in de stad”.\n"
    "Rol: “ik hielp met haren wassen en de kassa”.\n"
    "Ging goed: “ik bleef rustig toen het heel druk was”.\n"
    "Inzicht: “ik werk graag met mensen”.\n"
    "Volgende stap: “een dag meelopen bij een barbier”; "
    "hulp: “ik app mijn oom, hij heeft een barbershop”; wanneer: “vrijdag” (21-03-2025).\n"
    "Aanvulling van de student: “het was een kapsalon voor mannen”.\n"
    "Open signalen (1): Druk of onenigheid met ouders of anderen over keuzes "
    "(wil liever geen contact)."
)


def new_session(db, student: Student, started: datetime) -> Conversation:
    session = repo.start_session(db, student, "rest", "mbo-bol")
    session.started_at = session.updated_at = started
    db.flush()
    return session


def say(db, session: Conversation, step: str | None, key: str, text: str,
        kind: str = "answer") -> None:
    repo.save_answer(db, session, step, key, text, kind, None)


def full_session(db, student: Student, started: datetime = MARCH, *,
                 experience: str = EXPERIENCE, role: str = ROLE, went_well: str = WENT_WELL,
                 headline: str = HEADLINE, explore: str = EXPLORE,
                 help_contact: str = HELP, key: Callable[[str], str] = str) -> Conversation:
    """A completed conversation, stored the way bot.service stores one (`key`: the key the
    script gives each question)."""
    s = new_session(db, student, started)
    say(db, s, "terugkijken", key("ervaring"), experience)
    s.experience = experience[:500]
    say(db, s, "terugkijken", key("rol"), role)
    say(db, s, "terugkijken", key("verwachting"), "op tijd komen")
    say(db, s, "terugkijken", key("terugkijken_check"), "het was een kapsalon voor mannen",
        "correction")
    say(db, s, "reflecteren", key("goed_gedaan"), "gewoon", "probe")
    say(db, s, "reflecteren", key("goed_gedaan"), went_well)
    repo.save_insight(db, student, s, "reflecteren", key("goed_gedaan"), went_well,
                      ["kwaliteiten"], "vraag:goed_gedaan")
    say(db, s, "reflecteren", key("leuk_niet_leuk"), "klanten helpen want ze waren blij")
    say(db, s, "reflecteren", key("inzicht_naam"), headline)
    repo.save_insight(db, student, s, "reflecteren", key("inzicht_naam"), headline,
                      ["kwaliteiten", "motieven"], "classifier", headline=headline)
    say(db, s, "vooruitkijken", key("uitproberen"), explore)
    say(db, s, "vooruitkijken", key("nodig_voor_keuze"), "weet ik niet", "probe")
    say(db, s, "vooruitkijken", key("nodig_voor_keuze"), "weet ik echt niet", "skip")
    say(db, s, "activeren", key("hulp_contact"), help_contact)
    say(db, s, "activeren", key("obstakel"), "spannend")
    say(db, s, "activeren", key("oplossing"), "eerst opschrijven wat ik zeg")
    say(db, s, "activeren", key("wanneer"), "vrijdag")
    repo.save_action_plan(db, student, s, what=explore, who=help_contact, how=help_contact,
                          when_text="vrijdag", when_date=date(2025, 3, 21),
                          obstacle="spannend", solution="eerst opschrijven wat ik zeg")
    repo.set_session_status(db, s, "completed", step="activeren")
    return s


def student(db, sender: str = "s1") -> Student:
    return repo.get_or_create_student(db, "rest", sender)


# --- the session summary ---------------------------------------------------------------------


def test_full_session_summary_is_exact_and_in_the_students_words(db) -> None:
    st = student(db)
    s = full_session(db, st)
    repo.save_flag(db, st, s, "druk_omgeving", "mijn vader wil", "mijn vader wil dat ik stop",
                   "m1")
    repo.mark_declined_contact(db, st, "m2")
    resolved = repo.save_flag(db, st, s, "financien", "geen geld", "ik heb geen geld", "m3")
    repo.set_flag_status(db, resolved, "resolved", "mentor@school.nl", "besproken")

    summary = session_summary(db, s)

    assert summary.text == FULL_SUMMARY
    assert len(summary.text.split()) <= summaries.MAX_WORDS
    assert summary.status == "completed" and summary.status_text == "afgerond"
    assert summary.experience == EXPERIENCE and summary.headline == HEADLINE
    assert summary.went_well == WENT_WELL  # the answer, not the earlier vague probe
    assert summary.next_step is not None and summary.next_step.when_date == date(2025, 3, 21)
    assert summary.additions == ["het was een kapsalon voor mannen"]
    assert summary.open_flag_count == 1
    assert [(f.category, f.declined) for f in summary.flags] == [("druk_omgeving", True)]
    assert summary.previous_step is None
    assert session_summary(db, s).text == summary.text  # deterministic


def _with_role_keys_renamed() -> Script:
    """The shipped script with every question that has a `doel` under another key (and its
    summary lines and placeholders with it): what a school may do in its version."""
    roled = {q.key for step in get_script().steps.values() for q in step.questions if q.role}
    doc = yaml_roundtrip.load(SCRIPT_FILE.read_text(encoding="utf-8"))
    for step in doc["stappen"].values():
        for question in step.get("vragen") or []:
            if question["key"] in roled:
                question["key"] = f"x_{question['key']}"
        lines = (step.get("samenvatting") or {}).get("regels") or {}
        for k in [k for k in lines if k in roled]:
            lines[f"x_{k}"] = lines.pop(k)
    text = yaml_roundtrip.dump(doc)
    for k in roled:
        text = re.sub(rf"\{{{k}([:}}])", rf"{{x_{k}\1", text)
    return parse(yaml.safe_load(text))


def test_the_summary_and_the_lobcv_find_questions_by_their_doel_not_their_key(db) -> None:
    script = _with_role_keys_renamed()
    renamed = {q.key for step in script.steps.values() for q in step.questions}
    token = ACTIVE.set(script)
    try:
        st = student(db)
        s = full_session(db, st, key=lambda k: f"x_{k}" if f"x_{k}" in renamed else k)
        repo.save_flag(db, st, s, "druk_omgeving", "mijn vader wil",
                       "mijn vader wil dat ik stop", "m1")
        repo.mark_declined_contact(db, st, "m2")
        summary = session_summary(db, s)
        cv = student_overview(db, st)
    finally:
        ACTIVE.reset(token)
    assert summary.text == FULL_SUMMARY
    assert [(e.experience, e.headline) for e in cv.timeline] == [(EXPERIENCE, HEADLINE)]


def test_skipped_questions_are_left_out(db) -> None:
    st = student(db)
    s = full_session(db, st)
    say(db, s, "reflecteren", "goed_gedaan", "weet niet", "skip")  # the latest word: a skip

    summary = session_summary(db, s)

    assert "nodig_voor_keuze" in summary.skipped and "goed_gedaan" in summary.skipped
    assert summary.needs is None and summary.went_well is None
    assert "Ging goed" not in summary.text and "Nodig voor" not in summary.text
    assert "weet" not in summary.text and "(overgeslagen)" not in summary.text


def test_word_limit_keeps_experience_headline_next_step_and_flags(db) -> None:
    st = student(db)
    long = " ".join(f"woord{i}" for i in range(90))
    s = full_session(db, st, experience="Ik liep stage bij de bakker. " + long,
                     role=long, went_well=long, headline="ik ben een doorzetter " + long,
                     explore="bakken leren " + long, help_contact="mijn oom " + long)
    say(db, s, "terugkijken", "terugkijken_check", long, "correction")
    for i, category in enumerate(("crisis", "stage_probleem", "zelfvertrouwen")):
        repo.save_flag(db, st, s, category, "x", "x", f"f{i}")

    summary = session_summary(db, s)
    text = summary.text

    assert len(text.split()) <= summaries.MAX_WORDS
    assert "Ervaring: “Ik liep stage bij de bakker…”" in text  # cut at the sentence end
    assert "Inzicht: “ik ben een doorzetter" in text
    assert "Volgende stap: “bakken leren" in text and "hulp: “mijn oom" in text
    assert "wanneer: “vrijdag” (21-03-2025)" in text
    assert "Open signalen (3): " in text
    for category in ("crisis", "stage_probleem", "zelfvertrouwen"):
        assert FLAG_BY_KEY[category].title in text
    assert "…" in text
    assert summary.experience.endswith("woord89")  # the structured field keeps everything


def test_word_limit_holds_in_the_worst_case(db) -> None:
    st = student(db)
    long = " ".join(f"lang{i}" for i in range(200))
    s = full_session(db, st, experience=long, role=long, went_well=long, headline=long,
                     explore=long, help_contact=long)
    for i, category in enumerate(FLAG_CATEGORIES):
        repo.save_flag(db, st, s, category.key, "x", "x", f"w{i}")
        repo.mark_declined_contact(db, st, f"other{i}")

    text = session_summary(db, s).text

    assert len(text.split()) <= summaries.MAX_WORDS
    for part in ("Ervaring: “lang0", "Inzicht: “lang0", "Volgende stap: “lang0",
                 "wanneer: “vrijdag” (21-03-2025)", f"Open signalen ({len(FLAG_CATEGORIES)})"):
        assert part in text


def test_paused_and_abandoned_status_lines(db) -> None:
    st = student(db)
    paused = new_session(db, st, MARCH)
    say(db, paused, "terugkijken", "ervaring", "meeloopdag bij de politie")
    repo.set_session_status(db, paused, "paused", step="reflecteren")
    abandoned = new_session(db, st, APRIL)
    say(db, abandoned, "terugkijken", "ervaring", "bijbaan bij de supermarkt")
    say(db, abandoned, "activeren", "hulp_contact", "mijn mentor mailen")
    repo.set_session_status(db, abandoned, "abandoned", step="activeren")
    repo.save_flag(db, st, abandoned, "afgehaakt", None, None, None)

    first = session_summary(db, paused)
    second = session_summary(db, abandoned)

    assert first.text == ("Gesprek van 14-03-2025: gepauzeerd bij stap 2 (reflecteren).\n"
                          "Ervaring: “meeloopdag bij de politie”.\n"
                          "Geen open signalen.")
    assert first.next_step is None
    assert second.text.splitlines()[0] == ("Gesprek van 10-04-2025: afgehaakt bij stap 4 "
                                           "(activeren).")
    assert "Volgende stap: hulp: “mijn mentor mailen”." in second.text
    assert second.text.splitlines()[-1] == (
        f"Open signalen (1): {FLAG_BY_KEY['afgehaakt'].title}.")


def test_follow_up_of_the_previous_plan(db) -> None:
    st = student(db)
    first = full_session(db, st, MARCH)
    second = new_session(db, st, APRIL)
    plan = repo.latest_plan_needing_followup(db, st)
    assert plan is not None and plan.session_id == first.id
    told = "ja ik heb hem geappt en ik mag zaterdag komen"
    say(db, second, "terugkijken", "vorige_stap", told, "followup")
    repo.record_followup(db, plan, told, "gelukt")
    say(db, second, "terugkijken", "ervaring", "meelopen bij de barbershop van mijn oom")
    repo.set_session_status(db, second, "paused", step="terugkijken")

    summary = session_summary(db, second)

    assert summary.previous_step is not None and summary.previous_step.status == "gelukt"
    assert summary.text.splitlines()[:3] == [
        "Gesprek van 10-04-2025: gepauzeerd bij stap 1 (terugkijken).",
        f"Vorige stap “{EXPLORE}”: gelukt, “{told}”.",
        "Ervaring: “meelopen bij de barbershop van mijn oom”.",
    ]
    assert session_summary(db, first).previous_step is None


# --- the LOB-cv ------------------------------------------------------------------------------


def two_sessions(db) -> tuple[Student, Conversation, Conversation]:
    st = student(db)
    first = full_session(db, st, MARCH)
    plan = repo.latest_plan_needing_followup(db, st)
    second = full_session(db, st, APRIL, experience="bijbaan in de supermarkt",
                          headline="ik hou van aanpakken", explore="een proefdag in een winkel",
                          help_contact="de decaan mailen")
    repo.record_followup(db, plan, "ja gelukt", "gelukt")
    insights = repo.save_insight(db, st, second, "vooruitkijken", "uitproberen",
                                 "een proefdag in een winkel", ["werkexploratie"], "classifier")
    for row in db.query(Insight).filter_by(student_id=st.id):
        row.created_at = MARCH if row.session_id == first.id else APRIL
    db.flush()
    assert insights
    return st, first, second


def test_lobcv_timeline_and_competencies(db) -> None:
    st, first, second = two_sessions(db)

    cv = student_overview(db, st)

    assert [e.session_id for e in cv.timeline] == [second.id, first.id]  # newest first
    assert [e.headline for e in cv.timeline] == ["ik hou van aanpakken", HEADLINE]
    assert cv.timeline[1].next_step.followup_status == "gelukt"
    assert cv.timeline[0].next_step.followup_status is None
    assert [c.key for c in cv.competencies] == list(COMPETENCY_KEYS)
    sections = {c.key: c for c in cv.competencies}
    assert sections["kwaliteiten"].label == "Ontdek je talent"
    assert sections["kwaliteiten"].name == "Kwaliteitenreflectie"
    talent = [(i.date, i.text, i.main) for i in sections["kwaliteiten"].insights]
    assert talent[0][0] == date(2025, 4, 10) and talent[-1][0] == date(2025, 3, 14)
    assert {t for _, t, _ in talent} == {WENT_WELL, HEADLINE, "ik hou van aanpakken"}
    passion = sections["motieven"].insights  # the headline's second label
    assert [(i.text, i.main, i.is_headline) for i in passion] == [
        ("ik hou van aanpakken", False, True), (HEADLINE, False, True)]
    assert [i.text for i in sections["werkexploratie"].insights] == [
        "een proefdag in een winkel"]
    assert sections["netwerken"].insights == [] and sections["verwachtingen"].insights == []
    assert cv.months == ["2025-03", "2025-04"]
    assert sections["kwaliteiten"].counts == [2, 2]
    assert sections["motieven"].counts == [1, 1]
    assert sections["werkexploratie"].counts == [0, 1]

    text = render_text(cv)
    assert text.index("10-04-2025: afgerond") < text.index("14-03-2025: afgerond")
    assert "Hoe ging het: gelukt, “ja gelukt”" in text
    assert "Ontdek je talent (Kwaliteitenreflectie)" in text
    assert f"“{HEADLINE}” (eigen naam voor het inzicht, bijkomend)" in text
    assert "Jouw keuze (Omgaan met verwachtingen)\n  • nog niets" in text
    assert "mrt 2025" in text and "apr 2025" in text

    data = json.loads(json.dumps(as_dict(cv)))
    assert data["timeline"][0]["date"] == "2025-04-10"
    assert data["competencies"][0]["insights"][0]["text"] == "ik hou van aanpakken"
    summary_data = json.loads(json.dumps(as_dict(session_summary(db, first))))
    assert summary_data["next_step"]["when_date"] == "2025-03-21"
    assert summary_data["text"] == FULL_SUMMARY.replace(
        "Open signalen (1): Druk of onenigheid met ouders of anderen over keuzes "
        "(wil liever geen contact).", "Geen open signalen.")


def test_lobcv_of_a_new_student_is_empty(db) -> None:
    cv = student_overview(db, student(db))
    assert cv.timeline == [] and cv.months == [] and len(cv.competencies) == 6
    assert "Nog geen gesprekken." in render_text(cv)


# --- the command -----------------------------------------------------------------------------


def test_main_unknown_student(storage, capsys) -> None:
    assert summaries.main(["rest", "niemand"]) == 1
    err = capsys.readouterr().err
    assert "Geen student gevonden" in err and "niemand" in err


def test_main_prints_overview_and_latest_summary(db, capsys) -> None:
    two_sessions(db)
    db.commit()

    assert summaries.main(["rest", "s1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("LOB-cv van leerling")
    assert "Laatste gesprek\nGesprek van 10-04-2025: afgerond." in out
    assert summaries.main(["rest", "s1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["latest_session"]["experience"] == "bijbaan in de supermarkt"
