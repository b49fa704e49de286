"""Conversation summaries for the mentor and the student's overview (LOB-cv).

Everything here is built from what the student said, quoted in their own words; nothing is
invented or paraphrased. Output is deterministic (same data, same text), Dutch for mentors.

- `session_summary(db, session)`: a short summary of one conversation (at most 120 words).
- `student_overview(db, student)`: the LOB-cv (timeline, insights per competency, chart data).
- `render_text(...)`: printable Dutch text; `as_dict(...)`: JSON-ready forms for the portal API.
- `main(argv)`: `bot summary <channel> <sender_id>`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from bot.conversation.coaching import SKIPPED
from bot.conversation.script import Role, get_script
from bot.storage.models import (
    ActionPlan,
    Answer,
    ChannelIdentity,
    Conversation,
    Flag,
    Insight,
    Student,
)
from bot.taxonomy import COMPETENCIES, FLAG_BY_KEY, FLAG_CATEGORIES, STEPS

MAX_WORDS = 120  # the session summary never exceeds this many words
LOCAL_TZ = ZoneInfo("Europe/Amsterdam")  # dates are shown as the school sees them
ELLIPSIS = "…"

FOLLOWUP_TEXT = {"gelukt": "gelukt", "deels": "deels gelukt", "niet_gelukt": "niet gelukt"}


def reason_label(status: str | None) -> str:
    """What the follow-up's second answer is about: what helped, or what got in the way."""
    return "wat hielp" if status == "gelukt" else "wat zat in de weg"


UNRESOLVED = ("open", "acknowledged")
MONTHS_NL = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")



# --- structured results ----------------------------------------------------------------------


@dataclass(frozen=True)
class NextStep:
    """The agreed next step (from the action plan, or the answers while not completed)."""

    what: str | None
    who: str | None
    when_text: str | None
    when_date: date | None
    followup_status: str | None = None  # how it went, asked in a later session
    followup_text: str | None = None
    followup_reason: str | None = None  # what helped, or what got in the way


@dataclass(frozen=True)
class FollowUp:
    """How the previous session's plan went, as told at the start of this session."""

    what: str | None  # the previous plan's next step
    status: str | None  # gelukt / deels / niet_gelukt
    text: str | None  # the student's own words
    reason: str | None = None  # what helped, or what got in the way


@dataclass(frozen=True)
class FlagInfo:
    """Unresolved flags of one category."""

    category: str
    title: str
    severity: str
    count: int
    declined: bool  # the student said they would rather not be contacted
    acknowledged: bool  # every flag of this category was already seen by the mentor


@dataclass
class SessionSummary:
    session_id: int
    date: date
    status: str
    step_reached: str | None
    status_text: str
    experience: str | None = None
    role: str | None = None
    went_well: str | None = None
    headline: str | None = None
    explore: str | None = None
    needs: str | None = None
    next_step: NextStep | None = None
    previous_step: FollowUp | None = None
    additions: list[str] = field(default_factory=list)  # corrections at a step's check
    flags: list[FlagInfo] = field(default_factory=list)
    open_flag_count: int = 0
    skipped: list[str] = field(default_factory=list)  # question keys the student skipped
    text: str = ""


@dataclass(frozen=True)
class TimelineEntry:
    session_id: int
    date: date
    status: str
    status_text: str
    experience: str | None
    headline: str | None
    next_step: NextStep | None


@dataclass(frozen=True)
class InsightEntry:
    date: date
    text: str
    main: bool  # rank 0: the main competency of this insight; False: also labelled
    is_headline: bool  # the student's own name for the insight
    session_id: int
    step: str | None
    question_key: str | None


@dataclass(frozen=True)
class CompetencySection:
    key: str
    label: str  # student-facing
    name: str  # for mentors
    insights: list[InsightEntry]
    counts: list[int]  # insight labels per month, aligned with LobCv.months


@dataclass
class LobCv:
    student_id: int
    display_name: str | None
    timeline: list[TimelineEntry]  # newest first
    competencies: list[CompetencySection]  # all six, in taxonomy order
    months: list[str]  # "YYYY-MM", oldest first, without gaps (chart x-axis)
    open_flags: list[FlagInfo]
    open_flag_count: int


# --- helpers ---------------------------------------------------------------------------------


def _local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


local_date = _local_date


def today_local() -> date:
    """Today as the school sees it (plan dates and "weeks without a conversation")."""
    return datetime.now(LOCAL_TZ).date()


def _fmt_date(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def _clean(text: str | None) -> str | None:
    """Whitespace collapsed; None for empty or skipped values."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text if text and text != SKIPPED else None


def word_count(text: str) -> int:
    return len(text.split())


def truncate_words(text: str, limit: int) -> str:
    """At most `limit` words; a cut text ends in "…", at a sentence end when one is near."""
    words = text.split()
    if len(words) <= limit:
        return " ".join(words)
    cut = limit
    for i in range(limit, max(limit // 2, 1) - 1, -1):
        if re.search(r"[.!?]$", words[i - 1]):
            cut = i
            break
    kept = words[:cut]
    kept[-1] = kept[-1].rstrip(",;:.!?-–—") or kept[-1]
    return " ".join(kept) + ELLIPSIS


def _step_label(step: str | None) -> str:
    if step not in STEPS:
        return "het begin"
    return f"stap {STEPS.index(step) + 1} ({step})"


def status_text(status: str, step_reached: str | None) -> str:
    """Dutch: afgerond / gepauzeerd bij stap … / afgehaakt bij stap … / nog bezig bij stap …"""
    if status == "completed":
        return "afgerond"
    if status == "paused":
        return f"gepauzeerd bij {_step_label(step_reached)}"
    if status == "abandoned":
        return f"afgehaakt bij {_step_label(step_reached)}"
    return f"nog bezig, bij {_step_label(step_reached)}"


def _latest_answers(answers: Iterable[Answer]) -> tuple[dict[str, str], list[str]]:
    """Per role (`doel`) the latest real answer to its question; the keys of questions whose
    latest word was a skip are left out and listed separately (the follow-up excepted)."""
    script = get_script()
    latest: dict[str, Answer] = {}
    for answer in sorted(answers, key=lambda a: (a.created_at, a.id)):
        if answer.kind in ("answer", "skip", "followup"):
            latest[answer.question_key] = answer
    values: dict[str, str] = {}
    skipped: list[str] = []
    for key, answer in latest.items():
        text = _clean(answer.text)
        role = question.role if (question := script.find_question(key)) else None
        if answer.kind == "skip" or text is None:
            if role != Role.FOLLOWUP:
                skipped.append(key)
        elif role is not None:
            values[role] = text
    return values, skipped


def _corrections(answers: Iterable[Answer]) -> list[str]:
    rows = sorted((a for a in answers if a.kind == "correction"),
                  key=lambda a: (a.created_at, a.id))
    return [t for t in (_clean(a.text) for a in rows) if t]


def _headline(values: dict[str, str], insights: Iterable[Insight]) -> str | None:
    if Role.INSIGHT in values:
        return values[Role.INSIGHT]
    for insight in sorted(insights, key=lambda i: (i.created_at, i.id), reverse=True):
        if _clean(insight.headline):
            return _clean(insight.headline)
    return None


def _next_step(plan: ActionPlan | None, values: dict[str, str]) -> NextStep | None:
    if plan is not None:
        step = NextStep(_clean(plan.what), _clean(plan.who), _clean(plan.when_text),
                        plan.when_date, plan.followup_status, _clean(plan.followup_text),
                        _clean(plan.followup_reason))
    else:  # not completed: what was already said in `activeren`
        if not any(k in values for k in (Role.PLAN_WHAT, Role.PLAN_WHO, Role.PLAN_WHEN)):
            return None
        step = NextStep(values.get(Role.PLAN_WHAT), values.get(Role.PLAN_WHO),
                        values.get(Role.PLAN_WHEN), None)
    if not (step.what or step.who or step.when_text or step.when_date):
        return None
    return step


def _flag_infos(flags: Iterable[Flag]) -> tuple[list[FlagInfo], int]:
    """Unresolved flags grouped per category (taxonomy order), and how many there are."""
    unresolved = [f for f in flags if f.status in UNRESOLVED]
    infos = []
    for category in FLAG_CATEGORIES:
        mine = [f for f in unresolved if f.category == category.key]
        if mine:
            infos.append(FlagInfo(category.key, FLAG_BY_KEY[category.key].title,
                                  category.severity, len(mine),
                                  any(f.student_declined for f in mine),
                                  all(f.status == "acknowledged" for f in mine)))
    return infos, len(unresolved)


def _previous_followup(db: DbSession, session: Conversation,
                       values: dict[str, str]) -> FollowUp | None:
    """The earlier plan whose follow-up was recorded during this session."""
    query = (select(ActionPlan).join(Conversation, ActionPlan.session_id == Conversation.id)
             .where(ActionPlan.student_id == session.student_id,
                    ActionPlan.session_id != session.id,
                    ActionPlan.followup_status.is_not(None),
                    ActionPlan.followup_at >= session.started_at,
                    Conversation.started_at < session.started_at))
    if session.ended_at is not None:
        query = query.where(ActionPlan.followup_at <= session.ended_at)
    plan = db.execute(query.order_by(ActionPlan.followup_at.desc(), ActionPlan.id.desc())
                      .limit(1)).scalar_one_or_none()
    told = values.get(Role.FOLLOWUP)
    if plan is not None:
        return FollowUp(_clean(plan.what), plan.followup_status,
                        told or _clean(plan.followup_text), _clean(plan.followup_reason))
    if told:
        return FollowUp(None, None, told)
    return None


# --- the session summary ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Quote:
    text: str
    core: bool  # experience, headline and next step: shortened last


# Lines the mentor can miss most easily first: dropped (in this order) only when shortening
# every quote was not enough.
_DROP_ORDER = ("additions", "role", "needs", "explore", "went_well", "previous")
# (cap for core quotes, cap for other quotes) tried in turn until the text fits.
_CAPS = ((25, 20), (25, 12), (20, 8), (15, 5), (12, 3))
_CORE_CAPS = (10, 7, 5, 3, 2)


def _q(text: str, core: bool = False) -> _Quote:
    return _Quote(text, core)


def _summary_lines(s: SessionSummary) -> list[tuple[str, list[str | _Quote]]]:
    """The summary as (name, segments); a segment is fixed text or a quote of the student."""
    lines: list[tuple[str, list[str | _Quote]]] = [
        ("status", [f"Gesprek van {_fmt_date(s.date)}: {s.status_text}."]),
    ]
    if s.previous_step is not None:
        prev = s.previous_step
        seg: list[str | _Quote] = ["Vorige stap"]
        if prev.what:
            seg += [" ", _q(prev.what)]
        seg.append(": " + FOLLOWUP_TEXT[prev.status] if prev.status else ":")
        if prev.text:
            seg += [", ", _q(prev.text)]
        if prev.reason:
            seg += [f"; {reason_label(prev.status)}: ", _q(prev.reason)]
        lines.append(("previous", [*seg, "."]))
    if s.experience:
        lines.append(("experience", ["Ervaring: ", _q(s.experience, core=True), "."]))
    if s.role:
        lines.append(("role", ["Rol: ", _q(s.role), "."]))
    if s.went_well:
        lines.append(("went_well", ["Ging goed: ", _q(s.went_well), "."]))
    if s.headline:
        lines.append(("headline", ["Inzicht: ", _q(s.headline, core=True), "."]))
    plan_what = s.next_step.what if s.next_step else None
    if s.explore and s.explore != plan_what:
        lines.append(("explore", ["Wil uitproberen: ", _q(s.explore), "."]))
    if s.needs:
        lines.append(("needs", ["Nodig voor een keuze: ", _q(s.needs), "."]))
    if s.next_step is not None:
        nxt = s.next_step
        parts: list[list[str | _Quote]] = []
        if nxt.what:
            parts.append([_q(nxt.what, core=True)])
        if nxt.who:
            parts.append(["hulp: ", _q(nxt.who, core=True)])
        if nxt.when_text or nxt.when_date:
            when: list[str | _Quote] = ["wanneer: "]
            if nxt.when_text:
                when.append(_q(nxt.when_text, core=True))
            if nxt.when_date:
                when.append(f" ({_fmt_date(nxt.when_date)})" if nxt.when_text
                            else _fmt_date(nxt.when_date))
            parts.append(when)
        seg = ["Volgende stap: "]
        for i, part in enumerate(parts):
            seg += (["; "] if i else []) + part
        lines.append(("next_step", [*seg, "."]))
    if s.additions:
        seg = ["Aanvulling van de student: "]
        for i, text in enumerate(s.additions):
            seg += (["; "] if i else []) + [_q(text)]
        lines.append(("additions", [*seg, "."]))
    lines.append(("flags", [_flags_line(s.flags, s.open_flag_count)]))
    return lines


def _flag_item(info: FlagInfo, short: bool = False) -> str:
    title = info.title
    if short:  # last resort under the word limit: the title's first words
        title = truncate_words(title.split(":")[0], 3)
    notes = [f"{info.count}×"] if info.count > 1 else []
    if info.severity == "urgent":
        notes.insert(0, "urgent")
    if info.declined:
        notes.append("wil liever geen contact")
    if info.acknowledged:
        notes.append("gezien")
    return title + (f" ({', '.join(notes)})" if notes else "")


def _flags_line(flags: Sequence[FlagInfo], count: int, short: bool = False) -> str:
    if not flags:
        return "Geen open signalen."
    items = "; ".join(_flag_item(info, short) for info in flags)
    return f"Open signalen ({count}): {items}."


def _render(lines: list[tuple[str, list[str | _Quote]]], core_cap: int, other_cap: int,
            dropped: set[str]) -> str:
    out = []
    for name, segments in lines:
        if name in dropped:
            continue
        text = "".join(
            seg if isinstance(seg, str)
            else f"“{truncate_words(seg.text, core_cap if seg.core else other_cap)}”"
            for seg in segments)
        out.append(text)
    return "\n".join(out)


def _fit(s: SessionSummary) -> str:
    """The summary text within MAX_WORDS: shorten the other quotes first, then leave out the
    least important lines, then shorten the core quotes, then the flag titles."""
    lines = _summary_lines(s)
    for core_cap, other_cap in _CAPS:
        text = _render(lines, core_cap, other_cap, set())
        if word_count(text) <= MAX_WORDS:
            return text
    core_cap, other_cap = _CAPS[-1]
    dropped: set[str] = set()
    for name in _DROP_ORDER:
        dropped.add(name)
        text = _render(lines, core_cap, other_cap, dropped)
        if word_count(text) <= MAX_WORDS:
            return text
    for cap in _CORE_CAPS:
        text = _render(lines, cap, other_cap, dropped)
        if word_count(text) <= MAX_WORDS:
            return text
    lines = [(n, [_flags_line(s.flags, s.open_flag_count, short=True)] if n == "flags" else seg)
             for n, seg in lines]
    text = _render(lines, _CORE_CAPS[-1], other_cap, dropped)
    if word_count(text) <= MAX_WORDS:
        return text
    # Cannot happen with the taxonomy's titles; a hard guarantee all the same.
    return truncate_words(text, MAX_WORDS)


def _summarise(db: DbSession, session: Conversation, answers: Sequence[Answer],
               insights: Sequence[Insight], plan: ActionPlan | None,
               flags: Sequence[Flag]) -> SessionSummary:
    values, skipped = _latest_answers(answers)
    infos, count = _flag_infos(flags)
    summary = SessionSummary(
        session_id=session.id, date=_local_date(session.started_at), status=session.status,
        step_reached=session.step_reached,
        status_text=status_text(session.status, session.step_reached),
        experience=values.get(Role.EXPERIENCE) or _clean(session.experience),
        role=values.get(Role.TASK), went_well=values.get(Role.WENT_WELL),
        headline=_headline(values, insights), explore=values.get(Role.WISH),
        needs=values.get(Role.NEEDS), next_step=_next_step(plan, values),
        previous_step=_previous_followup(db, session, values),
        additions=_corrections(answers), flags=infos, open_flag_count=count,
        skipped=skipped,
    )
    summary.text = _fit(summary)
    return summary


def session_summary(db: DbSession, session: Conversation) -> SessionSummary:
    """A short Dutch summary of one session for the mentor, in the student's own words."""
    answers = list(db.execute(select(Answer).where(Answer.session_id == session.id)).scalars())
    insights = list(db.execute(select(Insight).where(Insight.session_id == session.id))
                    .scalars())
    plan = db.execute(select(ActionPlan).where(ActionPlan.session_id == session.id)
                      ).scalar_one_or_none()
    flags = list(db.execute(select(Flag).where(Flag.session_id == session.id)
                            .order_by(Flag.id)).scalars())
    return _summarise(db, session, answers, insights, plan, flags)


# --- the LOB-cv ------------------------------------------------------------------------------


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    months = []
    while True:
        current = f"{year:04d}-{month:02d}"
        months.append(current)
        if current >= last:
            return months
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def student_overview(db: DbSession, student: Student) -> LobCv:
    """The student's LOB-cv: sessions newest first, insights per competency, chart counts."""
    sessions = list(db.execute(
        select(Conversation).where(Conversation.student_id == student.id)
        .order_by(Conversation.started_at.desc(), Conversation.id.desc())).scalars())
    ids = [s.id for s in sessions]
    answers: dict[int, list[Answer]] = {i: [] for i in ids}
    plans: dict[int, ActionPlan] = {}
    if ids:
        for answer in db.execute(select(Answer).where(Answer.session_id.in_(ids))).scalars():
            answers[answer.session_id].append(answer)
        for plan in db.execute(select(ActionPlan).where(ActionPlan.session_id.in_(ids))
                               ).scalars():
            plans[plan.session_id] = plan
    insights = list(db.execute(
        select(Insight).where(Insight.student_id == student.id)
        .order_by(Insight.created_at.desc(), Insight.id.desc())).scalars())
    by_session: dict[int, list[Insight]] = {}
    for insight in insights:
        by_session.setdefault(insight.session_id, []).append(insight)

    timeline = []
    for session in sessions:
        values, _ = _latest_answers(answers[session.id])
        timeline.append(TimelineEntry(
            session.id, _local_date(session.started_at), session.status,
            status_text(session.status, session.step_reached),
            values.get(Role.EXPERIENCE) or _clean(session.experience),
            _headline(values, by_session.get(session.id, [])),
            _next_step(plans.get(session.id), values)))

    dated = [(i, _local_date(i.created_at)) for i in insights]
    months = (_month_range(min(_month(d) for _, d in dated), max(_month(d) for _, d in dated))
              if dated else [])
    sections = []
    for competency in COMPETENCIES:
        mine = [(i, d) for i, d in dated if i.competency == competency.key]
        entries = [InsightEntry(d, " ".join(i.text.split()), i.rank == 0,
                                bool(_clean(i.headline)) and i.text == i.headline,
                                i.session_id, i.step, i.question_key)
                   for i, d in mine if _clean(i.text)]
        counts = [sum(1 for _, d in mine if _month(d) == m) for m in months]
        sections.append(CompetencySection(competency.key, competency.label, competency.name,
                                          entries, counts))

    flags = list(db.execute(select(Flag).where(Flag.student_id == student.id)
                            .order_by(Flag.id)).scalars())
    infos, count = _flag_infos(flags)
    return LobCv(student.id, student.display_name, timeline, sections, months, infos, count)


# --- rendering -------------------------------------------------------------------------------

_INSIGHT_WORDS = 60  # a very long answer is shortened in the printable overview


def month_label(month: str) -> str:
    """'2026-12' as 'dec 2026'."""
    return f"{MONTHS_NL[int(month[5:]) - 1]} {month[:4]}"


def _next_step_text(step: NextStep) -> str:
    parts = []
    if step.what:
        parts.append(f"“{truncate_words(step.what, 25)}”")
    if step.who:
        parts.append(f"hulp: “{truncate_words(step.who, 20)}”")
    if step.when_text or step.when_date:
        when = f"“{step.when_text}”" if step.when_text else ""
        if step.when_date:
            when = f"{when} ({_fmt_date(step.when_date)})" if when else _fmt_date(step.when_date)
        parts.append(f"wanneer: {when}")
    return "; ".join(parts)


def render_text(item: LobCv | SessionSummary) -> str:
    """Printable Dutch plain text of a LOB-cv (or a session summary: its text)."""
    if isinstance(item, SessionSummary):
        return item.text
    cv = item
    who = f"{cv.display_name} (leerling {cv.student_id})" if cv.display_name \
        else f"leerling {cv.student_id}"
    out = [f"LOB-cv van {who}",
           "Overzicht voor het persoonlijke gesprek, in de eigen woorden van de student.", ""]

    out.append(f"Open signalen ({cv.open_flag_count})" if cv.open_flags else "Open signalen")
    out += [f"• {_flag_item(info)}" for info in cv.open_flags] or ["• Geen open signalen."]
    out.append("")

    out.append("Gesprekken (nieuwste eerst)")
    if not cv.timeline:
        out.append("• Nog geen gesprekken.")
    for entry in cv.timeline:
        out.append(f"• {_fmt_date(entry.date)}: {entry.status_text}")
        if entry.experience:
            out.append(f"  Ervaring: “{truncate_words(entry.experience, 30)}”")
        if entry.headline:
            out.append(f"  Inzicht: “{truncate_words(entry.headline, 20)}”")
        if entry.next_step:
            out.append(f"  Volgende stap: {_next_step_text(entry.next_step)}")
            status = entry.next_step.followup_status
            if status:
                told = entry.next_step.followup_text
                out.append(f"  Hoe ging het: {FOLLOWUP_TEXT[status]}"
                           + (f", “{truncate_words(told, 25)}”" if told else ""))
                reason = entry.next_step.followup_reason
                if reason:
                    out.append(f"  {reason_label(status).capitalize()}: "
                               f"“{truncate_words(reason, 25)}”")
            else:
                out.append("  Hoe ging het: nog niet besproken")
    out.append("")

    out.append("Inzichten per loopbaancompetentie (nieuwste eerst)")
    for section in cv.competencies:
        out.append(f"{section.label} ({section.name})")
        if not section.insights:
            out.append("  • nog niets")
        for insight in section.insights:
            notes = []
            if insight.is_headline:
                notes.append("eigen naam voor het inzicht")
            if not insight.main:
                notes.append("bijkomend")
            note = f" ({', '.join(notes)})" if notes else ""
            out.append(f"  • {_fmt_date(insight.date)} "
                       f"“{truncate_words(insight.text, _INSIGHT_WORDS)}”{note}")
    out.append("")

    out.append("Aantal inzichten per maand")
    if not cv.months:
        out.append("  nog geen inzichten")
    else:
        width = max(len(s.label) for s in cv.competencies)
        labels = [month_label(m) for m in cv.months]
        cols = [max(len(label), 3) for label in labels]
        header = "  ".join(lb.rjust(c) for lb, c in zip(labels, cols, strict=True))
        out.append(" " * (width + 2) + header)
        for section in cv.competencies:
            row = "  ".join(str(n).rjust(c) for n, c in zip(section.counts, cols, strict=True))
            out.append(f"{section.label.ljust(width)}  {row}")
    return "\n".join(out).rstrip() + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def as_dict(item: SessionSummary | LobCv) -> dict[str, Any]:
    """A JSON-ready dict (dates as ISO strings) of a session summary or a LOB-cv."""
    if not is_dataclass(item):
        raise TypeError(f"expected SessionSummary or LobCv, got {type(item).__name__}")
    data = _jsonable(asdict(item))
    if isinstance(item, LobCv):
        data["text"] = render_text(item)
    return data


# --- command line ----------------------------------------------------------------------------


def find_student(db: DbSession, channel: str, sender_id: str) -> Student | None:
    """The student behind a chat identity, without creating one."""
    identity = db.execute(select(ChannelIdentity).where(
        ChannelIdentity.channel == channel, ChannelIdentity.sender_id == sender_id)
    ).scalar_one_or_none()
    return identity.student if identity is not None else None


def main(argv: list[str] | None = None) -> int:
    """`bot summary <channel> <sender_id> [--json]`: the LOB-cv and the latest summary."""
    from bot.storage.audit import audit
    from bot.storage.db import session_scope

    parser = argparse.ArgumentParser(
        prog="bot summary",
        description="Toon het LOB-cv en de samenvatting van het laatste gesprek van een student.")
    parser.add_argument("channel", help="kanaal, bijvoorbeeld rest of matrix")
    parser.add_argument("sender_id", help="afzender-id van de student in dat kanaal")
    parser.add_argument("--json", action="store_true", help="als JSON (zoals de portal-API)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    with session_scope() as db:
        student = find_student(db, args.channel, args.sender_id)
        if student is None:
            print(f"Geen student gevonden met kanaal '{args.channel}' en afzender "
                  f"'{args.sender_id}'. Controleer het kanaal en de afzender-id.",
                  file=sys.stderr)
            return 1
        cv = student_overview(db, student)
        latest = db.execute(select(Conversation).where(Conversation.student_id == student.id)
                            .order_by(Conversation.started_at.desc(), Conversation.id.desc())
                            .limit(1)).scalar_one_or_none()
        summary = session_summary(db, latest) if latest is not None else None
        audit(db, "cli", "student.summary_viewed", "student", student.id)
    if args.json:
        print(json.dumps({"overview": as_dict(cv),
                          "latest_session": as_dict(summary) if summary else None},
                         ensure_ascii=False, indent=2))
        return 0
    print(render_text(cv))
    print("Laatste gesprek")
    print(summary.text if summary is not None else "Nog geen gesprekken.")
    return 0
