"""`make demo` (`bot demo`): a demo school in the database that `make run` uses, so that the
portal can be tried with realistic data: two mentors, a LOB-coordinator and a school admin with
known passwords, two classes and twenty students (data/demo/students.yml).

Every student's conversations are held with the real coach: the demo starts its own Rasa server
and action server (on free ports, on the same databases) and sends each student's messages over
the REST channel, so answers, summaries, insights, plans and flags are made by the same code as
for a real student. Some students get the coach's check-in on their plan's day (the worker's
job, run at that moment) and answer it. Conversations marked `weken_geleden` are then dated
back, so that the portal shows some weeks of history; nothing else is made up.

A second run changes nothing and says so; `--opnieuw` removes the demo school and builds it
again. The demo refuses a database that holds another school: its passwords are public."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DbSession

from bot.config import settings
from bot.demo_talk import Coach, DemoConversation, DemoError, hold
from bot.paths import DATA
from bot.storage.models import (
    ActionPlan,
    Answer,
    ChannelIdentity,
    Conversation,
    Coordinator,
    Flag,
    Insight,
    Job,
    Mentor,
    PendingMessage,
    School,
    SchoolClass,
    Student,
    TrackerDeletion,
)
from bot.taxonomy import FLAG_BY_KEY, LEVELS

DATA_FILE = DATA / "demo" / "students.yml"
ACTOR = "demo"
CHANNEL = "rest"
ENDS = ("afgerond", "crisis", "gepauzeerd", "afgehaakt")
STATUS_OF_END = {"afgerond": "completed", "crisis": "paused", "gepauzeerd": "paused",
                 "afgehaakt": "active"}
PARALLEL = 4  # students talking at once (the coach answers each in well under a second)
ROLE_LABELS = {"mentor": "Mentor", "coordinator": "LOB-coördinator", "admin": "Schoolbeheerder"}
CONVERSATION_FIELDS = {"weken_geleden", "via", "einde", "pauze", "klopt", "signalen", "begin",
                       "aanbod"}


# --- the data file -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    role: str  # mentor, coordinator, admin (bot.storage.accounts.ROLES)
    name: str
    email: str
    password: str
    classes: tuple[str, ...] = ()  # a mentor's classes


@dataclass(frozen=True)
class DemoStudent:
    name: str
    class_name: str
    conversations: tuple[DemoConversation, ...]


@dataclass(frozen=True)
class DemoSchool:
    name: str
    classes: dict[str, str]  # class name -> level
    accounts: tuple[Account, ...]
    students: tuple[DemoStudent, ...]

    def mentor_of(self, class_name: str) -> Account | None:
        return next((a for a in self.accounts if class_name in a.classes), None)


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _conversation(raw: dict[str, Any], where: str, number: int,
                  script_keys: set[str]) -> DemoConversation:
    end = raw.get("einde", "afgerond")
    weeks = int(raw.get("weken_geleden", 0))
    problems = []
    if end not in ENDS:
        problems.append(f"einde moet een van {', '.join(ENDS)} zijn")
    if weeks and end not in ("afgerond", "afgehaakt"):
        problems.append("alleen een afgerond of afgehaakt gesprek kan weken_geleden hebben")
    if raw.get("via") not in (None, "checkin") or (raw.get("via") and number != 2):
        problems.append("via: checkin kan alleen bij het tweede gesprek")
    if end == "gepauzeerd" and not raw.get("pauze"):
        problems.append("een gepauzeerd gesprek heeft `pauze` nodig")
    unknown = set(raw) - CONVERSATION_FIELDS - script_keys - {"crisis_check"}
    if unknown:
        problems.append(f"onbekende velden {', '.join(sorted(unknown))}")
    flags = tuple(raw.get("signalen") or ())
    if set(flags) - set(FLAG_BY_KEY):
        problems.append(f"onbekende signalen {', '.join(sorted(set(flags) - set(FLAG_BY_KEY)))}")
    if problems:
        raise DemoError(f"{DATA_FILE.name}, {where}: {'; '.join(problems)}.")
    answers = {key: _texts(value) for key, value in raw.items()
               if key not in CONVERSATION_FIELDS}
    return DemoConversation(answers, weeks, raw.get("via") == "checkin", end, raw.get("pauze"),
                        dict(raw.get("klopt") or {}), flags, str(raw.get("begin", "hoi")),
                        str(raw.get("aanbod", "ja")))


def load(path: Path = DATA_FILE) -> DemoSchool:
    """The demo school from its data file; DemoError (Dutch) when the file is not right."""
    from bot.conversation.script import get_script

    script_keys = {q.key for step in get_script().steps.values() for q in step.questions}
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    classes = {str(c["naam"]): str(c["niveau"]) for c in raw["klassen"]}
    if set(classes.values()) - set(LEVELS):
        raise DemoError(f"{path.name}: een klas heeft een onbekend niveau.")
    accounts = tuple(Account(a["rol"], a["naam"], a["email"], a["wachtwoord"],
                             tuple(a.get("klassen") or ())) for a in raw["accounts"])
    students = []
    for s in raw["studenten"]:
        if s["klas"] not in classes:
            raise DemoError(f"{path.name}, {s['naam']}: klas {s['klas']} bestaat niet.")
        conversations = tuple(_conversation(c, f"{s['naam']}, gesprek {n}", n, script_keys)
                              for n, c in enumerate(s["gesprekken"], start=1))
        if len(conversations) > 1 and conversations[1].via_checkin \
                and conversations[0].end != "afgerond":
            raise DemoError(f"{path.name}, {s['naam']}: een check-in volgt alleen op een "
                            "afgerond gesprek met een plan.")
        weeks = [c.weeks_ago for c in conversations]
        if weeks != sorted(weeks, reverse=True):
            raise DemoError(f"{path.name}, {s['naam']}: weken_geleden moet per gesprek gelijk "
                            "blijven of kleiner worden (oudste gesprek eerst).")
        students.append(DemoStudent(str(s["naam"]), str(s["klas"]), conversations))
    return DemoSchool(str(raw["school"]), classes, accounts, tuple(students))


# --- the school and its accounts ---------------------------------------------------------------


def other_schools(db: DbSession, school: DemoSchool) -> list[str]:
    return list(db.execute(select(School.name).where(School.name != school.name)).scalars())


def find(db: DbSession, school: DemoSchool) -> School | None:
    return db.execute(select(School).where(School.name == school.name)).scalar_one_or_none()


def remove(db: DbSession, row: School) -> int:
    """Remove the demo school with its accounts, classes and students (their conversations,
    flags, plans and jobs go with them); their chats are purged from Rasa's tracker store by
    the Rasa process (TrackerDeletion). Returns the number of students removed."""
    from bot.storage.audit import audit

    student_ids = list(db.execute(select(Student.id).where(Student.school_id == row.id))
                       .scalars())
    senders = list(db.execute(select(ChannelIdentity.sender_id).where(
        ChannelIdentity.student_id.in_(student_ids))).scalars()) if student_ids else []
    db.add_all(TrackerDeletion(sender_id=sender) for sender in senders)
    if senders:
        db.execute(delete(PendingMessage).where(PendingMessage.sender_id.in_(senders)))
    db.execute(delete(Student).where(Student.school_id == row.id))
    db.execute(delete(Mentor).where(Mentor.school_id == row.id))
    db.execute(delete(Coordinator).where(Coordinator.school_id == row.id))
    db.execute(delete(SchoolClass).where(SchoolClass.school_id == row.id))
    school_id = row.id
    db.delete(row)
    audit(db, ACTOR, "demo.removed", "school", school_id, {"students": len(student_ids)})
    db.flush()
    return len(student_ids)


def create(db: DbSession, school: DemoSchool, run: str) -> dict[str, str]:
    """The school, its portal accounts and its students (through the school import, with a
    REST chat identity each). Returns the sender id of each student, by name."""
    from bot.portal import school_import
    from bot.storage import accounts

    for account in school.accounts:
        accounts.add_user(db, account.role, account.email, account.name, account.password,
                          school=school.name, actor=ACTOR)
    db.flush()
    senders = {s.name: f"demo-{run}-{n:02d}" for n, s in enumerate(school.students, start=1)}
    lines = ["schuilnaam;klas;niveau;mentor;kanaal;kanaal_id"]
    for s in school.students:
        mentor = school.mentor_of(s.class_name)
        lines.append(";".join([s.name, s.class_name, school.classes[s.class_name],
                               mentor.email if mentor else "", CHANNEL, senders[s.name]]))
    school_id = find(db, school).id  # type: ignore[union-attr]
    plan = school_import.check(db, school_id, "", "\n".join(lines) + "\n")
    if not plan.ok:
        raise DemoError("De import van de demostudenten lukt niet: " + " ".join(plan.errors))
    school_import.apply(db, school_id, plan, ACTOR)
    return senders


# --- talking -----------------------------------------------------------------------------------


@dataclass
class Talked:
    """What happened with one student: the session id of each conversation held."""

    student: DemoStudent
    sender: str
    sessions: list[int] = field(default_factory=list)


def _newest_session(sender: str) -> tuple[int, str] | None:
    from bot.storage.db import session_scope

    with session_scope() as db:
        row = db.execute(select(Conversation.id, Conversation.status).join(
            ChannelIdentity, ChannelIdentity.student_id == Conversation.student_id).where(
            ChannelIdentity.sender_id == sender).order_by(Conversation.id.desc())).first()
        return (row[0], row[1]) if row else None


def _talk(say: Callable[[str, str], list[str]], coaches: dict[str, Coach], level: str,
          talked: Talked, conversations: tuple[DemoConversation, ...],
          first_asked: str | None = None) -> None:
    who = talked.student.name
    for conversation in conversations:
        ending = hold(lambda text: say(talked.sender, text), coaches[level], conversation, who,
                      first_asked if conversation.via_checkin else None)
        if ending != conversation.end:
            raise DemoError(f"{who}: het gesprek eindigde als '{ending}', verwacht was "
                            f"'{conversation.end}'.")
        newest = _newest_session(talked.sender)
        if newest is None or newest[1] != STATUS_OF_END[ending] or newest[0] in talked.sessions:
            raise DemoError(f"{who}: het gesprek staat niet goed in de database ({newest}).")
        talked.sessions.append(newest[0])


def _in_parallel(work: list[Callable[[], None]]) -> None:
    with ThreadPoolExecutor(PARALLEL) as pool:
        for future in [pool.submit(job) for job in work]:
            future.result()  # the first failure stops the demo


def _checkins(talked: list[Talked]) -> int:
    """The worker's check-in jobs of the students whose next conversation starts with it, run
    at the moment they are due (the plan's day, 10:00); other check-ins stay scheduled."""
    from bot.scheduled import jobqueue, worker
    from bot.storage.db import session_scope

    wanted: dict[int, Talked] = {}
    with session_scope() as db:
        for t in talked:
            if len(t.student.conversations) > 1 and t.student.conversations[1].via_checkin:
                plan = db.execute(select(ActionPlan.id).where(
                    ActionPlan.session_id == t.sessions[0])).scalar_one()
                jobs = db.execute(select(Job).where(Job.kind == "checkin",
                                                    Job.status == "pending")).scalars()
                job = next((j for j in jobs if j.payload.get("plan") == plan), None)
                if job is None:
                    raise DemoError(f"{t.student.name}: er staat geen check-in klaar voor "
                                    "het plan.")
                wanted[job.id] = t
        if not wanted:
            return 0
        moment = max(db.get(Job, job_id).due_at for job_id in wanted)
    worker_id = f"demo:{os.getpid()}"
    with session_scope() as db:
        claimed = jobqueue.claim(db, worker_id, moment, limit=len(wanted) + 1000,
                                 kinds=("checkin",))
        for job in claimed:
            if job.id not in wanted:
                jobqueue.release(db, job, worker_id)
    context = worker.Context(moment, worker_id)
    for job in claimed:
        if job.id in wanted:
            status, counts = worker.run_job(job, context)
            if status != "done" or not counts.get("checkins_sent"):
                raise DemoError(f"{wanted[job.id].student.name}: de check-in is niet "
                                f"verstuurd ({status}, {counts}).")
    return len(wanted)


def converse(say: Callable[[str, str], list[str]], school: DemoSchool,
             senders: dict[str, str], progress: Callable[[str], None]) -> list[Talked]:
    """Every student's conversations: first ones (in parallel), the check-ins, the rest."""
    from bot.conversation.script import get_script

    script = get_script()
    coaches = {level: Coach(script, level) for level in set(school.classes.values())}
    talked = [Talked(s, senders[s.name]) for s in school.students]

    def part(t: Talked, later: bool) -> Callable[[], None]:
        level = school.classes[t.student.class_name]
        conversations = t.student.conversations[1:] if later else t.student.conversations[:1]

        def run() -> None:
            _talk(say, coaches, level, t, conversations, first_asked="vorige_stap")
            if conversations:
                progress(f"    {t.student.name} ({t.student.class_name}): "
                         f"{len(t.sessions)} van {len(t.student.conversations)} gesprekken")
        return run

    _in_parallel([part(t, later=False) for t in talked])
    sent = _checkins(talked)
    progress(f"    check-ins op de dag van het plan: {sent} verstuurd")
    _in_parallel([part(t, later=True) for t in talked if len(t.student.conversations) > 1])
    return talked


# --- dating back -------------------------------------------------------------------------------


def _shift(moment: datetime | None, delta: timedelta) -> datetime | None:
    return moment - delta if moment is not None else None


def date_back(db: DbSession, session_id: int, weeks: int) -> None:
    """Move one conversation `weeks` back in time: the session, its answers, insights, flags
    and plan (its date too), and the follow-up of the previous plan it holds."""
    delta = timedelta(weeks=weeks)
    session = db.get(Conversation, session_id)
    session.started_at, session.updated_at = session.started_at - delta, session.updated_at - delta
    session.ended_at = _shift(session.ended_at, delta)
    for model in (Answer, Insight, Flag):
        for row in db.execute(select(model).where(model.session_id == session_id)).scalars():
            row.created_at = row.created_at - delta
    for plan in db.execute(select(ActionPlan).where(ActionPlan.session_id == session_id)
                           ).scalars():
        plan.created_at = plan.created_at - delta
        plan.when_date = plan.when_date - delta if plan.when_date else None
    followed_up = db.execute(select(Answer.id).where(Answer.session_id == session_id,
                                                     Answer.kind == "followup")).first()
    if followed_up is not None:
        previous = db.execute(select(ActionPlan).join(Conversation).where(
            ActionPlan.student_id == session.student_id, Conversation.id < session_id)
            .order_by(Conversation.id.desc())).scalars().first()
        if previous is not None:
            previous.followup_at = _shift(previous.followup_at, delta)


def age(talked: list[Talked]) -> None:
    """Date back what the data file says, then let the worker's upkeep see the conversations
    left midway (it marks them abandoned, with a flag for the mentor)."""
    from bot import service
    from bot.config import settings
    from bot.storage.db import session_scope

    with session_scope() as db:
        for t in talked:
            for conversation, session_id in zip(t.student.conversations, t.sessions,
                                                strict=True):
                if conversation.weeks_ago:
                    date_back(db, session_id, conversation.weeks_ago)
    cfg = settings()
    service.abandon_stale_sessions(timedelta(hours=cfg.abandon_after_hours),
                                   paused_older_than=timedelta(days=cfg.abandon_paused_after_days))


# --- checking and telling ----------------------------------------------------------------------


def check(db: DbSession, talked: list[Talked]) -> list[str]:
    """Where the flags differ from what the data file expects (Dutch, one line each)."""
    differences = []
    for t in talked:
        expected = {f for c in t.student.conversations for f in c.flags}
        found = set(db.execute(select(Flag.category).join(
            ChannelIdentity, ChannelIdentity.student_id == Flag.student_id).where(
            ChannelIdentity.sender_id == t.sender)).scalars())
        if found != expected:
            differences.append(f"{t.student.name}: signalen {sorted(found) or 'geen'}, "
                               f"verwacht {sorted(expected) or 'geen'}")
    return differences


def totals(db: DbSession, school_id: int) -> dict[str, int]:
    def count(model: Any, *where: Any) -> int:
        query = select(func.count(model.id)).join(Student, Student.id == model.student_id)
        return int(db.execute(query.where(Student.school_id == school_id, *where)).scalar_one())

    return {"students": int(db.execute(select(func.count(Student.id)).where(
                Student.school_id == school_id)).scalar_one()),
            "sessions": count(Conversation),
            "completed": count(Conversation, Conversation.status == "completed"),
            "flags": count(Flag), "urgent": count(Flag, Flag.severity == "urgent"),
            "plans": count(ActionPlan),
            "followed_up": count(ActionPlan, ActionPlan.followup_status.is_not(None))}


def logins(school: DemoSchool, portal_port: int) -> str:
    lines = [f"Log in op http://localhost:{portal_port}/login (start eerst `make run`):"]
    for a in school.accounts:
        role = ROLE_LABELS[a.role] + (f" {', '.join(a.classes)}" if a.classes else "")
        lines.append(f"  {role + ':':<18} {a.email:<24} wachtwoord: {a.password}")
    lines += ["Een student met een signaal vinden: log in als mentor; bovenaan 'Mijn studenten'",
              "staan de studenten met een open signaal (urgent eerst). Klik op de naam.",
              "Let op: deze wachtwoorden zijn openbaar. Zet de demo niet naast echte gegevens."]
    return "\n".join(lines)


# --- running -----------------------------------------------------------------------------------


@contextmanager
def coach_servers() -> Iterator[Callable[[str, str], list[str]]]:
    """The real Rasa server and action server on free ports, on this installation's databases;
    yields `say(sender, text)`."""
    from bot.devservers import MODEL, Servers

    if not MODEL.exists():
        raise DemoError(f"Er is nog geen getraind model ({MODEL}). `make demo` traint het eerst.")
    logs = settings().var_dir / "log" / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    servers = Servers(logs, dict(os.environ))
    try:
        servers.start()
        os.environ["RASA_URL"] = servers.rasa_url  # the worker's check-ins go to this Rasa
        yield servers.say
    finally:
        servers.stop()


def build(school: DemoSchool, progress: Callable[[str], None]) -> tuple[dict[str, int], list[str]]:
    """Create the demo school and hold every conversation; removes what it made on failure."""
    from bot.storage.db import session_scope

    run = secrets.token_hex(3)
    with session_scope() as db:
        senders = create(db, school, run)
    try:
        progress("==> de coach starten (Rasa en de action server, ongeveer een minuut) ...")
        with coach_servers() as say:
            progress(f"==> gesprekken voeren met {len(school.students)} studenten ...")
            talked = converse(say, school, senders, progress)
        age(talked)
        with session_scope() as db:
            return totals(db, find(db, school).id), check(db, talked)  # type: ignore[union-attr]
    except BaseException:
        with session_scope() as db:
            row = find(db, school)
            if row is not None:
                remove(db, row)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot demo", description="Vul de database met een "
                                     "demoschool (gesprekken met de echte coach).")
    parser.add_argument("--opnieuw", action="store_true",
                        help="haal de demoschool weg en bouw haar opnieuw op")
    args = parser.parse_args(argv)
    from bot.config import settings
    from bot.storage import migrate
    from bot.storage.db import current_url, session_scope

    def progress(line: str) -> None:
        print(line, flush=True)

    try:
        school = load()
        migrate.upgrade()
        with session_scope() as db:
            others = other_schools(db, school)
            existing = find(db, school)
            if others:
                print(f"Niet gedaan: deze database ({current_url()}) heeft al andere scholen "
                      f"({', '.join(others[:3])}). De wachtwoorden van de demo zijn openbaar; "
                      "gebruik voor de demo een eigen, lege database (DATABASE_URL en "
                      "TRACKER_STORE_URL).", file=sys.stderr)
                return 1
            if existing is not None and not args.opnieuw:
                print(f"De demoschool '{school.name}' staat al in de database; er is niets "
                      "veranderd. Opnieuw opbouwen: .venv/bin/bot demo --opnieuw\n")
                print(logins(school, settings().portal_port))
                return 0
            if existing is not None:
                gone = remove(db, existing)
                progress(f"==> oude demoschool weggehaald ({gone} studenten)")
        started = time.monotonic()
        counts, differences = build(school, progress)
    except DemoError as exc:
        print(f"De demo is niet gelukt: {exc}", file=sys.stderr)
        return 1
    print(f"\nDemoschool '{school.name}' staat klaar ({time.monotonic() - started:.0f} s): "
          f"{counts['students']} studenten in {len(school.classes)} klassen, "
          f"{counts['sessions']} gesprekken ({counts['completed']} afgerond), "
          f"{counts['flags']} signalen ({counts['urgent']} urgent), {counts['plans']} plannen "
          f"({counts['followed_up']} nagevraagd).")
    for line in differences:
        print(f"  let op, signalen anders dan in {DATA_FILE.name}: {line}")
    print()
    print(logins(school, settings().portal_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
