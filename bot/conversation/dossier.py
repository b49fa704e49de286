"""The student's loopbaandossier: one row per activity (conversation), in the structure vmbo
schools use: what the activity was, what the student learned, how the previous step went
(evaluation) and the agreed follow-up. Built from bot.conversation.summaries, the student's words
verbatim.

Pure (no web, no database): `build_rows()` makes the rows; `as_json()`, `as_csv()` and
`as_pdf()` render a `Dossier`. Dutch for everything a mentor or student reads."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.conversation.summaries import (
    FOLLOWUP_TEXT,
    CompetencySection,
    FollowUp,
    NextStep,
    SessionSummary,
    reason_label,
)

if TYPE_CHECKING:
    from fpdf import FPDF

NOT_DISCUSSED = "nog niet besproken"


@dataclass(frozen=True)
class LearnedInsight:
    text: str
    competency: str  # key
    competency_label: str  # student-facing


@dataclass(frozen=True)
class DossierRow:
    session_id: int
    date: date
    status: str  # e.g. "afgerond"
    activity: str | None  # the experience, in the student's words
    role: str | None
    went_well: str | None
    insight_name: str | None  # the student's own name for the insight
    insights: tuple[LearnedInsight, ...]  # the main insights of this conversation
    evaluation: FollowUp | None  # how the previous conversation's plan went
    follow_up: NextStep | None  # the agreed next step (with its result once asked)


@dataclass(frozen=True)
class Dossier:
    student_id: int
    display_name: str
    class_name: str | None
    exported: date
    rows: list[DossierRow]  # oldest first, as a dossier is read


# --- building --------------------------------------------------------------------------------


def _insights_by_session(sections: Iterable[CompetencySection]
                         ) -> dict[int, list[tuple[date, int, LearnedInsight]]]:
    found: dict[int, list[tuple[date, int, LearnedInsight]]] = {}
    for order, section in enumerate(sections):
        for entry in section.insights:
            if entry.main:  # an insight's main competency only: no doubles
                found.setdefault(entry.session_id, []).append(
                    (entry.date, order, LearnedInsight(entry.text, section.key, section.label)))
    return found


def build_rows(summaries: Iterable[SessionSummary],
               competencies: Iterable[CompetencySection] = ()) -> list[DossierRow]:
    """One row per conversation, oldest first; the main insights come from `competencies`
    (bot.conversation.summaries' sections, matched by session). The student's name for the insight
    is not
    repeated among the insights."""
    insights = _insights_by_session(competencies)
    rows = []
    for s in sorted(summaries, key=lambda s: (s.date, s.session_id)):
        mine = sorted(insights.get(s.session_id, []), key=lambda t: (t[0], t[1]))
        learned = tuple(i for _, _, i in mine if i.text != s.headline)
        rows.append(DossierRow(s.session_id, s.date, s.status_text, s.experience, s.role,
                               s.went_well, s.headline, learned, s.previous_step, s.next_step))
    return rows


# --- text per column -------------------------------------------------------------------------


def _fmt(day: date | None) -> str:
    return day.strftime("%d-%m-%Y") if day is not None else ""


def _result(status: str | None, words: str | None) -> str:
    parts = [FOLLOWUP_TEXT.get(status, status)] if status else []
    if words:
        parts.append(words)
    return ", ".join(parts)


def evaluation_text(row: DossierRow) -> str:
    """How the plan of the previous conversation went, as the student told it."""
    ev = row.evaluation
    if ev is None:
        return ""
    result = _result(ev.status, ev.text)
    if ev.what:
        return f"{ev.what}: {result}" if result else ev.what
    return result


def when_text(step: NextStep) -> str:
    if step.when_text and step.when_date:
        return f"{step.when_text} ({_fmt(step.when_date)})"
    return step.when_text or _fmt(step.when_date)


def follow_up_result(step: NextStep) -> str:
    result = _result(step.followup_status, step.followup_text) or NOT_DISCUSSED
    if step.followup_reason:
        result += f"; {reason_label(step.followup_status)}: {step.followup_reason}"
    return result


def insights_text(row: DossierRow) -> str:
    return "\n".join(f"{i.text} ({i.competency_label})" for i in row.insights)


# --- JSON ------------------------------------------------------------------------------------


def row_json(row: DossierRow) -> dict[str, Any]:
    ev, step = row.evaluation, row.follow_up
    return {
        "session_id": row.session_id,
        "date": row.date.isoformat(),
        "status": row.status,
        "activity": {"experience": row.activity, "role": row.role},
        "learned": {
            "went_well": row.went_well, "insight_name": row.insight_name,
            "insights": [{"text": i.text, "competency": i.competency,
                          "competency_label": i.competency_label} for i in row.insights]},
        "evaluation": None if ev is None else {
            "previous_step": ev.what, "result": ev.status,
            "result_text": FOLLOWUP_TEXT.get(ev.status) if ev.status else None,
            "student_words": ev.text, "reason": ev.reason},
        "follow_up": None if step is None else {
            "what": step.what, "who": step.who, "when": step.when_text,
            "when_date": step.when_date.isoformat() if step.when_date else None,
            "result": step.followup_status,
            "result_text": (FOLLOWUP_TEXT.get(step.followup_status)
                            if step.followup_status else None),
            "student_words": step.followup_text, "reason": step.followup_reason},
    }


def as_json(dossier: Dossier) -> dict[str, Any]:
    """The dossier as a JSON-ready dict (dates as ISO strings)."""
    return {
        "student": {"id": dossier.student_id, "display_name": dossier.display_name,
                    "class_name": dossier.class_name},
        "exported_on": dossier.exported.isoformat(),
        "activities": [row_json(r) for r in dossier.rows],
    }


# --- CSV -------------------------------------------------------------------------------------

CSV_HEADER = ("Datum", "Gesprek", "Activiteit", "Mijn rol", "Wat ging goed",
              "Eigen naam voor het inzicht", "Inzichten", "Evaluatie vorige stap",
              "Volgende stap", "Wie helpt", "Wanneer", "Hoe ging de volgende stap")
CSV_DELIMITER = ";"  # what Excel expects in a Dutch locale (a comma ends up in one column)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A spreadsheet cell that is never run as a formula: text starting with = + - @ (or a
    tab or carriage return, also after leading spaces) gets a leading apostrophe."""
    text = "" if value is None else str(value)
    if text.lstrip(" ").startswith(FORMULA_START):
        return "'" + text
    return text


def csv_cells(row: DossierRow) -> list[str]:
    step = row.follow_up
    cells = [_fmt(row.date), row.status, row.activity, row.role, row.went_well,
             row.insight_name, insights_text(row), evaluation_text(row),
             step.what if step else None, step.who if step else None,
             when_text(step) if step else None, follow_up_result(step) if step else None]
    return [safe_cell(c) for c in cells]


def as_csv(dossier: Dossier) -> bytes:
    """UTF-8 with a byte-order mark (so that Excel reads it as UTF-8), `;`-separated, a Dutch
    header row, one row per activity."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=CSV_DELIMITER, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_HEADER)
    for row in dossier.rows:
        writer.writerow(csv_cells(row))
    return out.getvalue().encode("utf-8-sig")


# --- PDF -------------------------------------------------------------------------------------

# Characters outside latin-1 that have a plain equivalent (the PDF core fonts are latin-1).
_PLAIN = str.maketrans({
    "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "‘": "'", "’": "'", "‚": "'",
    "‛": "'", "′": "'", "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-", "…": "...",
    "•": "-", "€": "EUR", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\t": " ",
    "\u200b": "", "\u200d": "", "\ufe0f": "",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Œ": "OE", "œ": "oe",  # no decomposition
})


def _latin1_char(ch: str) -> str:
    if ch == "\n" or (ord(ch) < 256 and ch.isprintable()):
        return ch
    if not ch.isprintable() and ord(ch) < 256:  # control characters
        return " "
    base = "".join(c for c in unicodedata.normalize("NFKD", ch)
                   if not unicodedata.combining(c))
    if base and all(ord(c) < 256 and c.isprintable() for c in base):
        return base  # e.g. "ő" -> "o", "ﬁ" -> "fi"
    return "?"


def latin1(text: str | None) -> str:
    """`text` with only latin-1 characters: curly quotes straight, accents kept where latin-1
    has them, other letters without their accent, anything else "?"."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(_latin1_char(ch) for ch in text.translate(_PLAIN))


def _new_pdf() -> FPDF:
    """An A4 document with page numbers; fpdf2 is imported here, as it takes a while."""
    from fpdf import FPDF

    class DossierPdf(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 6, f"Loopbaandossier - pagina {self.page_no()} van {{nb}}", align="C")

    return DossierPdf(format="A4")


def _line(pdf: FPDF, text: str, size: float = 10, style: str = "", height: float = 5) -> None:
    pdf.set_font("Helvetica", style, size)
    pdf.multi_cell(0, height, latin1(text), new_x="LMARGIN", new_y="NEXT")


def _field(pdf: FPDF, label: str, value: str | None) -> None:
    if not value:
        return
    _line(pdf, label, style="B")
    pdf.set_x(pdf.l_margin + 4)
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 5, latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _pdf_row(pdf: FPDF, number: int, row: DossierRow) -> None:
    if pdf.will_page_break(40):  # never a heading alone at the foot of a page
        pdf.add_page()
    else:
        pdf.ln(3)
    _line(pdf, f"Activiteit {number} - {_fmt(row.date)} ({row.status})", size=12,
          style="B", height=7)
    _field(pdf, "Wat heb ik gedaan?", row.activity)
    _field(pdf, "Mijn rol", row.role)
    learned = [f"Ging goed: {row.went_well}" if row.went_well else "",
               f"Eigen naam voor het inzicht: {row.insight_name}" if row.insight_name else "",
               *(f"Inzicht ({i.competency_label}): {i.text}" for i in row.insights)]
    _field(pdf, "Wat heb ik geleerd?", "\n".join(t for t in learned if t))
    _field(pdf, "Evaluatie: hoe ging mijn vorige stap?", evaluation_text(row))
    step = row.follow_up
    if step is not None:
        plan = [step.what or "",
                f"Wie helpt: {step.who}" if step.who else "",
                f"Wanneer: {when_text(step)}" if (step.when_text or step.when_date) else "",
                f"Hoe ging het: {follow_up_result(step)}"]
        _field(pdf, "Vervolg: wat ga ik nu doen?", "\n".join(t for t in plan if t))


def as_pdf(dossier: Dossier, compress: bool = True) -> bytes:
    """The dossier as an A4 PDF (core fonts, so text is made latin-1-safe). `compress=False`
    leaves the page text readable in the file (for tests)."""
    pdf = _new_pdf()
    pdf.set_compression(compress)
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_creator("Loopbaancoach")
    pdf.add_page()
    _line(pdf, "Loopbaandossier", size=18, style="B", height=10)
    _line(pdf, f"Naam: {dossier.display_name}", size=11, height=6)
    _line(pdf, f"Klas: {dossier.class_name or '-'}", size=11, height=6)
    _line(pdf, f"Datum export: {_fmt(dossier.exported)}", size=11, height=6)
    pdf.ln(2)
    _line(pdf, "Per activiteit: wat ik deed, wat ik leerde, hoe mijn vorige stap ging en wat "
               "ik nu ga doen. In mijn eigen woorden, uit mijn gesprekken met de "
               "Loopbaancoach.", size=9)
    if not dossier.rows:
        pdf.ln(4)
        _line(pdf, "Nog geen activiteiten.", size=11)
    for number, row in enumerate(dossier.rows, start=1):
        _pdf_row(pdf, number, row)
    return bytes(pdf.output())


def filename(student_id: int, extension: str) -> str:
    """A download name without the student's name (it ends up in download folders)."""
    return f"loopbaandossier-{int(student_id)}.{extension}"


def make_dossier(student_id: int, display_name: str, class_name: str | None, exported: date,
                 summaries: Sequence[SessionSummary],
                 competencies: Sequence[CompetencySection]) -> Dossier:
    """A Dossier from what bot.storage.access.dossier_for returns."""
    return Dossier(student_id, display_name, class_name, exported,
                   build_rows(summaries, competencies))
