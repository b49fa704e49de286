"""CSV import of a school's mentors, classes and students (the coordinator's "Importeren").

Two files, both optional: mentors (`naam;email`) and students
(`schuilnaam;klas;niveau;mentor;kanaal;kanaal_id`; classes are made from the `klas` column).
`check()` reads and validates without touching the database beyond lookups and returns every
problem per row in Dutch; `apply()` writes everything in the caller's transaction, so that an
import with one bad row imports nothing. Separator `;` or `,` (what Dutch Excel writes)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from bot.storage import accounts
from bot.storage.audit import audit
from bot.storage.links import make_code
from bot.storage.models import ChannelIdentity, Mentor, SchoolClass, Student
from bot.taxonomy import LEVELS

MAX_ROWS = 5000
MAX_FIELD = 200
MENTOR_COLUMNS = ("naam", "email")
STUDENT_COLUMNS = ("schuilnaam", "klas", "niveau", "mentor", "kanaal", "kanaal_id")
CHANNELS = ("rest", "matrix", "webchat")


@dataclass(frozen=True)
class MentorRow:
    line: int
    name: str
    email: str


@dataclass(frozen=True)
class StudentRow:
    line: int
    pseudonym: str
    class_name: str
    level: str | None
    mentor_email: str | None
    channel: str | None
    sender_id: str | None


@dataclass
class Plan:
    mentors: list[MentorRow] = field(default_factory=list)
    students: list[StudentRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "Mentoren, rij 3: ..." (Dutch)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Result:
    mentors_added: int
    passwords: list[tuple[str, str]]  # (e-mail, one-time password) of new mentors
    classes_added: int
    students_added: int
    students_updated: int
    codes: list[tuple[str, str, str]] = field(default_factory=list)  # (schuilnaam, klas, code)


def _rows(text: str, columns: tuple[str, ...], label: str,
          errors: list[str]) -> list[tuple[int, dict[str, str]]]:
    text = text.lstrip("\ufeff")
    if not text.strip():
        return []
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower().replace("-", "_").replace(" ", "_") for h in next(reader, [])]
    missing = [c for c in columns if c not in header]
    if missing:
        errors.append(f"{label}: de kolom(men) {', '.join(missing)} ontbreken in de eerste "
                      f"regel. Verwacht: {';'.join(columns)}.")
        return []
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            errors.append(f"{label}: meer dan {MAX_ROWS} regels; splits het bestand.")
            break
        row = {c: (values[header.index(c)].strip() if header.index(c) < len(values) else "")
               for c in columns}
        if any(len(v) > MAX_FIELD for v in row.values()):
            errors.append(f"{label}, rij {number}: een veld is langer dan {MAX_FIELD} tekens.")
            continue
        rows.append((number, row))
    return rows


def check(db: DbSession, school_id: int, mentors_csv: str, students_csv: str) -> Plan:
    """Read and validate both files (no changes); every problem per row, in Dutch."""
    plan = Plan()
    seen_emails: set[str] = set()
    for line, row in _rows(mentors_csv, MENTOR_COLUMNS, "Mentoren", plan.errors):
        where = f"Mentoren, rij {line}"
        email = accounts.normalise_email(row["email"])
        if not row["naam"]:
            plan.errors.append(f"{where}: de naam ontbreekt.")
        if "@" not in email or " " in email:
            plan.errors.append(f"{where}: '{row['email']}' is geen e-mailadres.")
        elif email in seen_emails:
            plan.errors.append(f"{where}: {email} staat twee keer in het bestand.")
        else:
            seen_emails.add(email)
            existing = accounts.find_user(db, email)
            if existing is not None and not (isinstance(existing, Mentor)
                                             and existing.school_id == school_id):
                plan.errors.append(f"{where}: er is al een ander account met {email}.")
            elif existing is None:
                plan.mentors.append(MentorRow(line, row["naam"], email))

    school_mentors = {m.lower() for m in db.execute(
        select(func.lower(Mentor.email)).where(Mentor.school_id == school_id)).scalars()}
    known_mentors = school_mentors | {m.email for m in plan.mentors}
    seen_ids: set[tuple[str, str]] = set()
    for line, row in _rows(students_csv, STUDENT_COLUMNS, "Studenten", plan.errors):
        where = f"Studenten, rij {line}"
        row_errors = []
        if not row["klas"]:
            row_errors.append("de klas ontbreekt")
        level = row["niveau"].lower() or None
        if level is not None and level not in LEVELS:
            row_errors.append(f"niveau '{row['niveau']}' bestaat niet (kies {', '.join(LEVELS)} "
                              "of laat het leeg)")
        mentor = accounts.normalise_email(row["mentor"]) or None
        if mentor is not None and mentor not in known_mentors:
            row_errors.append(f"mentor {mentor} is onbekend (zet die in het mentorbestand)")
        channel = row["kanaal"].lower() or None
        sender = row["kanaal_id"] or None
        if (channel is None) != (sender is None):
            row_errors.append("vul kanaal én kanaal_id in, of allebei niet (dan krijgt de "
                              "student later een koppelcode)")
        elif channel is not None and sender is not None:
            if channel not in CHANNELS:
                row_errors.append(f"kanaal '{row['kanaal']}' bestaat niet (kies "
                                  f"{', '.join(CHANNELS)})")
            elif (channel, sender) in seen_ids:
                row_errors.append("dit kanaal_id staat twee keer in het bestand")
            else:
                seen_ids.add((channel, sender))
                owner = db.execute(select(Student.school_id).join(
                    ChannelIdentity, ChannelIdentity.student_id == Student.id).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.sender_id == sender)
                ).first()
                if owner is not None and owner[0] not in (None, school_id):
                    row_errors.append("dit kanaal_id hoort bij een student van een andere "
                                      "school")
        if not row["schuilnaam"] and sender is None:
            row_errors.append("geef een schuilnaam of een kanaal_id")
        if row_errors:
            plan.errors.append(f"{where}: {'; '.join(row_errors)}.")
        else:
            plan.students.append(StudentRow(line, row["schuilnaam"], row["klas"], level,
                                            mentor, channel, sender))
    if not plan.mentors and not plan.students and not plan.errors:
        plan.errors.append("Er staat niets in de bestanden om te importeren.")
    return plan


def apply(db: DbSession, school_id: int, plan: Plan, actor: str) -> Result:
    """Write a valid plan (in the caller's transaction: all or nothing). Audited with counts."""
    if not plan.ok:
        raise ValueError("an import with errors is never applied")
    school_name = _school_name(db, school_id)
    passwords = []
    for m in plan.mentors:
        password = accounts.new_password()
        accounts.add_user(db, "mentor", m.email, m.name, password, school=school_name,
                          actor=actor)
        passwords.append((m.email, password))
    mentors = {m.email.lower(): m for m in db.execute(
        select(Mentor).where(Mentor.school_id == school_id)).scalars()}
    classes = {c.name: c for c in db.execute(
        select(SchoolClass).where(SchoolClass.school_id == school_id)).scalars()}
    classes_added = students_added = students_updated = 0
    codes = []
    for s in plan.students:
        klas = classes.get(s.class_name)
        if klas is None:
            klas = classes[s.class_name] = SchoolClass(school_id=school_id, name=s.class_name,
                                                       level=s.level)
            db.add(klas)
            classes_added += 1
        student = None
        if s.channel and s.sender_id:
            identity = db.execute(select(ChannelIdentity).where(
                ChannelIdentity.channel == s.channel,
                ChannelIdentity.sender_id == s.sender_id)).scalar_one_or_none()
            student = identity.student if identity is not None else None
        if student is None:
            student = Student()
            db.add(student)
            if s.channel and s.sender_id:
                db.add(ChannelIdentity(channel=s.channel, sender_id=s.sender_id, student=student))
            students_added += 1
        else:
            students_updated += 1
        student.school_id = school_id
        student.school_class = klas
        student.level = s.level or student.level
        student.display_name = s.pseudonym or student.display_name
        student.mentor = mentors.get(s.mentor_email) if s.mentor_email else student.mentor
        if not (s.channel and s.sender_id):  # the student links their chat with a code
            db.flush()
            code, _ = make_code(db, student, actor)
            codes.append((s.pseudonym, s.class_name, code))
    db.flush()
    audit(db, actor, "school.import", "school", school_id,
          {"mentors": len(plan.mentors), "classes": classes_added,
           "students_added": students_added, "students_updated": students_updated})
    return Result(len(plan.mentors), passwords, classes_added, students_added,
                  students_updated, codes)


def _school_name(db: DbSession, school_id: int) -> str:
    from bot.storage.models import School

    school = db.get(School, school_id)
    if school is None:
        raise ValueError(f"no school {school_id}")
    return str(school.name)
