"""For the personal conversation: the printable gesprekskaart of a student and the export of
their loopbaandossier (PDF, CSV, JSON; also in the JSON API).

Access as on the student page: bot.storage.access.dossier_for decides and audits (a student who
is not yours is a 404, audited as denied); downloads are never cached and their file name
holds the student's id, never their name."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.conversation import dossier as dossier_mod
from bot.conversation.summaries import FOLLOWUP_TEXT, LOCAL_TZ, SessionSummary, truncate_words
from bot.portal import auth, html
from bot.portal.html import e
from bot.portal.mentor import ID, _api_user, _student_id, _visible
from bot.storage import access
from bot.storage.access import StudentDossier
from bot.storage.accounts import Principal
from bot.storage.models import Flag
from bot.taxonomy import FLAG_BY_KEY

CARD_CONVERSATIONS = 3  # the last conversations on the card
CARD_WORDS = 25  # a long answer is shortened on the card (the dossier has it in full)
WRITING_LINES = 6  # blank lines under "Afspraken"
VIEW_CARD = "student.gesprekskaart.view"
EXPORT = "student.dossier.export"
DOWNLOADS = {"pdf": "application/pdf", "csv": "text/csv", "json": "application/json"}


def _today() -> datetime:
    return datetime.now(LOCAL_TZ)


async def _load(user: Principal, student_id: int, action: str) -> StudentDossier:
    data: StudentDossier = await _visible(
        lambda db: access.dossier_for(db, user, student_id, action))
    return data


def _dossier(data: StudentDossier) -> dossier_mod.Dossier:
    return dossier_mod.make_dossier(data.student_id, data.display_name, data.class_name,
                                    _today().date(), data.conversations, data.competencies)


# --- the gesprekskaart -----------------------------------------------------------------------


def _words(text: str | None) -> str:
    return f"“{e(truncate_words(text, CARD_WORDS))}”" if text else ""


def _card_conversation(summary: SessionSummary) -> str:
    rows = []
    if summary.experience:
        rows.append(("Ervaring", _words(summary.experience)))
    if summary.headline:
        rows.append(("Inzicht", _words(summary.headline)))
    if summary.next_step is not None and summary.next_step.what:
        rows.append(("Volgende stap", _words(summary.next_step.what)))
    details = "".join(f"<dt>{e(name)}</dt><dd>{value}</dd>" for name, value in rows) or (
        "<dt>Inhoud</dt><dd>Nog geen antwoorden.</dd>")
    return (f'<li class="gesprek"><h3>{e(summary.date.strftime("%d-%m-%Y"))} '
            f'<span class="status">({e(summary.status_text)})</span></h3>'
            f"<dl>{details}</dl></li>")


def _plan(conversations: list[SessionSummary]) -> str:
    """The newest agreed next step and whether it worked."""
    current = next((s for s in conversations if s.next_step is not None), None)
    if current is None or current.next_step is None:
        return "<p>Nog geen plan.</p>"
    step = current.next_step
    rows = [("Afgesproken op", e(current.date.strftime("%d-%m-%Y")))]
    if step.what:
        rows.append(("Wat", _words(step.what)))
    if step.who:
        rows.append(("Wie helpt", _words(step.who)))
    if step.when_text or step.when_date:
        rows.append(("Wanneer", e(dossier_mod.when_text(step))))
    if step.followup_status:
        worked = e(FOLLOWUP_TEXT.get(step.followup_status, step.followup_status))
        if step.followup_text:
            worked += f", {_words(step.followup_text)}"
    else:
        worked = "nog niet besproken"
    rows.append(("Gelukt?", worked))
    details = "".join(f"<dt>{e(name)}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<div class="gesprek plan"><dl>{details}</dl></div>'


def _open_point(flag: Flag) -> str:
    """Category and severity only: the student's words stay on the student page."""
    category = FLAG_BY_KEY.get(flag.category)
    declined = (" · <em>Liever niet: de student wil hierover liever geen contact.</em>"
                if flag.student_declined else "")
    return (f'<li class="signaal {e(flag.severity)}">'
            f"<strong>{e(html.SEVERITY_LABELS.get(flag.severity, flag.severity))}</strong> · "
            f"{e(category.title if category else flag.category)} · "
            f"{e(html.STATUS_LABELS.get(flag.status, flag.status))}{declined}</li>")


def card_html(data: StudentDossier, today: datetime) -> str:
    base = f"/mentor/studenten/{data.student_id}"
    recent = data.conversations[:CARD_CONVERSATIONS]
    conversations = (f'<ul class="gesprekken">{"".join(_card_conversation(s) for s in recent)}'
                     "</ul>") if recent else "<p>Nog geen gesprekken.</p>"
    points = (f'<ul class="signalen open-punten">{"".join(_open_point(f) for f in data.open_flags)}'
              "</ul>") if data.open_flags else "<p>Geen open punten.</p>"
    lines = '<hr class="schrijfregel">' * WRITING_LINES
    return (
        f'<p class="terug"><a href="{base}">← {e(data.display_name)}</a></p>'
        f'<h1>Gesprekskaart · {e(data.display_name)}</h1>'
        f"<p>Klas: {e(data.class_name or '-')} · Datum: {e(today.strftime('%d-%m-%Y'))}</p>"
        '<p class="hulp afdruk-hint">Afdrukken: gebruik de afdrukknop van je browser '
        "(Ctrl+P, op een Mac Cmd+P). Het hele loopbaandossier: "
        f'<a href="{base}/dossier.pdf">PDF</a> · <a href="{base}/dossier.csv">CSV</a> · '
        f'<a href="{base}/dossier.json">JSON</a>.</p>'
        f"<h2>Laatste gesprekken</h2>{conversations}"
        f"<h2>Het plan</h2>{_plan(data.conversations)}"
        f"<h2>Open punten</h2>{points}"
        '<h2>Afspraken</h2><p class="hulp">Schrijf hier op wat jullie samen afspreken.</p>'
        f'<div class="schrijfregels">{lines}</div>'
    )


async def gesprekskaart(request: web.Request) -> web.Response:
    user = auth.require_user(request)
    data = await _load(user, _student_id(request), VIEW_CARD)
    return html.page(f"Gesprekskaart · {data.display_name}", card_html(data, _today()),
                     user=user, csrf=auth.csrf_token(request))


# --- the loopbaandossier ---------------------------------------------------------------------


def _download(body: bytes, student_id: int, extension: str) -> web.Response:
    name = dossier_mod.filename(student_id, extension)
    charset = "utf-8" if extension != "pdf" else None
    return web.Response(body=body, content_type=DOWNLOADS[extension], charset=charset,
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})


async def _export(request: web.Request, extension: str) -> web.Response:
    user = auth.require_user(request)
    student_id = _student_id(request)
    dossier = _dossier(await _load(user, student_id, EXPORT))
    if extension == "pdf":
        body = await auth.blocking(lambda: dossier_mod.as_pdf(dossier))
    elif extension == "csv":
        body = dossier_mod.as_csv(dossier)
    else:
        body = json.dumps(dossier_mod.as_json(dossier), ensure_ascii=False,
                          indent=2).encode("utf-8")
    return _download(body, student_id, extension)


async def dossier_pdf(request: web.Request) -> web.Response:
    return await _export(request, "pdf")


async def dossier_csv(request: web.Request) -> web.Response:
    return await _export(request, "csv")


async def dossier_json(request: web.Request) -> web.Response:
    return await _export(request, "json")


async def api_dossier(request: web.Request) -> web.Response:
    user = _api_user(request)
    dossier = _dossier(await _load(user, _student_id(request), EXPORT))
    body: dict[str, Any] = dossier_mod.as_json(dossier)
    return web.json_response(body, headers={"Cache-Control": "no-store"},
                             dumps=lambda d: json.dumps(d, ensure_ascii=False))


def setup(app: web.Application) -> None:
    base = f"/mentor/studenten/{ID}"
    app.router.add_get(f"{base}/gesprekskaart", gesprekskaart)
    app.router.add_get(f"{base}/dossier.pdf", dossier_pdf)
    app.router.add_get(f"{base}/dossier.csv", dossier_csv)
    app.router.add_get(f"{base}/dossier.json", dossier_json)
    app.router.add_get(f"/api/v1/students/{ID}/dossier", api_dossier)
