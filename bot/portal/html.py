"""The portal's HTML, built in code with every value escaped. No inline script or style (the
CSP forbids them): the look is in static/portal.css."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from html import escape

from aiohttp import web

from bot.storage.access import NOTE_MAX_CHARS, StudentRow, StudentStory
from bot.storage.accounts import Principal
from bot.storage.models import Flag
from bot.summaries import FOLLOWUP_TEXT, CompetencySection, SessionSummary
from bot.taxonomy import FLAG_BY_KEY

SEVERITY_LABELS = {"urgent": "Urgent", "attention": "Aandacht", "info": "Ter info"}
STATUS_LABELS = {"open": "Open", "acknowledged": "Gezien", "resolved": "Afgehandeld"}


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def when(moment: datetime | None) -> str:
    return moment.strftime("%d-%m-%Y") if moment is not None else "nog geen"


def page(title: str, body: str, status: int = 200, user: Principal | None = None,
         csrf: str | None = None) -> web.Response:
    header = ""
    if user is not None and csrf is not None:
        header = (
            '<header class="top"><span class="brand">Loopbaancoach</span>'
            f'<span class="who">{e(user.name)}</span>'
            '<form method="post" action="/logout" class="logout">'
            f'<input type="hidden" name="csrf" value="{e(csrf)}">'
            '<button type="submit">Uitloggen</button></form></header>'
        )
    document = (
        '<!doctype html><html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)} · Loopbaancoach</title>'
        '<link rel="stylesheet" href="/static/portal.css"></head>'
        f'<body>{header}<main>{body}</main></body></html>'
    )
    return web.Response(text=document, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store"})


def login_form(csrf: str, message: str | None, email: str) -> str:
    notice = f'<p class="melding" role="alert">{e(message)}</p>' if message else ""
    return (
        '<section class="login"><h1>Inloggen</h1>'
        '<p>Voor mentoren en LOB-coördinatoren.</p>'
        f'{notice}'
        '<form method="post" action="/login">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<label for="email">E-mailadres</label>'
        f'<input id="email" name="email" type="email" autocomplete="username" required '
        f'maxlength="320" value="{e(email)}">'
        '<label for="wachtwoord">Wachtwoord</label>'
        '<input id="wachtwoord" name="wachtwoord" type="password" '
        'autocomplete="current-password" required maxlength="1024">'
        '<button type="submit">Inloggen</button></form>'
        '<p class="hulp">Wachtwoord vergeten? Vraag je LOB-coördinator om een nieuw '
        'wachtwoord.</p></section>'
    )


def students_table(user: Principal, rows: Iterable[StudentRow]) -> str:
    rows = list(rows)
    title = "Mijn studenten" if user.role == "mentor" else "Studenten van je school"
    open_total = sum(r.open_flags for r in rows)
    summary = (f'<p class="telling">{open_total} open '
               f'{"signaal" if open_total == 1 else "signalen"}</p>')
    if not rows:
        return f"<h1>{title}</h1><p>Je hebt nog geen studenten.</p>"
    lines = []
    for r in rows:
        marker = ' class="urgent"' if r.urgent_flags else ""
        lines.append(
            f"<tr{marker}>"
            f'<td><a href="/mentor/studenten/{r.id}">{e(r.display_name)}</a></td>'
            f"<td>{e(r.class_name or '-')}</td>"
            f"<td>{r.open_flags}</td><td>{r.urgent_flags}</td>"
            f"<td>{e(when(r.last_conversation_at))}</td></tr>"
        )
    return (
        f"<h1>{title}</h1>{summary}"
        '<table class="studenten"><thead><tr><th>Student</th><th>Klas</th>'
        "<th>Open signalen</th><th>Urgent</th><th>Laatste gesprek</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table>"
    )


def _by(names: Mapping[str, str], actor: str | None) -> str:
    return f" door {e(names.get(actor, actor))}" if actor else ""


def _flag_item(flag: Flag, csrf: str, names: Mapping[str, str], error: str | None) -> str:
    category = FLAG_BY_KEY.get(flag.category)
    declined = ('<p class="liever-niet">Liever niet: de student wil hierover liever geen '
                "contact.</p>") if flag.student_declined else ""
    evidence = (f'<p class="bewijs">Woorden: “{e(flag.evidence)}”</p>'
                if flag.evidence else "")
    history = ""
    if flag.acknowledged_at is not None:
        history += (f'<p class="historie">Gezien{_by(names, flag.acknowledged_by)} op '
                    f"{e(when(flag.acknowledged_at))}.</p>")
    if flag.resolved_at is not None:
        history += (f'<p class="historie">Afgehandeld{_by(names, flag.resolved_by)} op '
                    f"{e(when(flag.resolved_at))}.</p>")
    if flag.note:
        history += f'<p class="notitie">Notitie: {e(flag.note)}</p>'
    forms = ""
    hidden = f'<input type="hidden" name="csrf" value="{e(csrf)}">'
    if flag.status == "open":
        forms += (f'<form method="post" action="/mentor/signalen/{flag.id}/gezien" '
                  f'class="gezien">{hidden}<button type="submit">Gezien</button></form>')
    if flag.status in ("open", "acknowledged"):
        notice = f'<p class="melding" role="alert">{e(error)}</p>' if error else ""
        forms += (
            f'<form method="post" action="/mentor/signalen/{flag.id}/afhandelen" '
            f'class="afhandelen">{hidden}{notice}'
            f'<label for="notitie-{flag.id}">Notitie bij het afhandelen (verplicht, '
            f"hoogstens {NOTE_MAX_CHARS} tekens)</label>"
            f'<textarea id="notitie-{flag.id}" name="notitie" rows="3" required '
            f'maxlength="{NOTE_MAX_CHARS}"></textarea>'
            '<button type="submit">Afhandelen</button></form>')
    return (
        f'<li class="signaal {e(flag.severity)}" id="signaal-{flag.id}">'
        f"<strong>{e(SEVERITY_LABELS.get(flag.severity, flag.severity))}</strong> · "
        f"{e(category.title if category else flag.category)} · "
        f"{e(STATUS_LABELS.get(flag.status, flag.status))} · {e(when(flag.created_at))}"
        f"{evidence}{declined}{history}{forms}</li>"
    )


def _quote(text: str | None) -> str:
    return f"“{e(text)}”"


def _conversation(summary: SessionSummary) -> str:
    rows: list[tuple[str, str]] = []
    previous = summary.previous_step
    if previous is not None:
        told = [e(FOLLOWUP_TEXT[previous.status])] if previous.status in FOLLOWUP_TEXT else []
        if previous.text:
            told.append(_quote(previous.text))
        head = f"{_quote(previous.what)}: " if previous.what else ""
        rows.append(("Vorige stap", head + ", ".join(told)))
    if summary.experience:
        rows.append(("Ervaring", _quote(summary.experience)))
    if summary.went_well:
        rows.append(("Ging goed", _quote(summary.went_well)))
    if summary.headline:
        rows.append(("Naam van het inzicht", _quote(summary.headline)))
    step = summary.next_step
    if step is not None:
        parts = [_quote(step.what)] if step.what else []
        if step.who:
            parts.append(f"hulp: {_quote(step.who)}")
        if step.when_text or step.when_date:
            moment = _quote(step.when_text) if step.when_text else ""
            if step.when_date:
                moment = (f"{moment} ({e(step.when_date.strftime('%d-%m-%Y'))})" if moment
                          else e(step.when_date.strftime("%d-%m-%Y")))
            parts.append(f"wanneer: {moment}")
        rows.append(("Plan", "; ".join(parts)))
        if step.followup_status:
            outcome = e(FOLLOWUP_TEXT.get(step.followup_status, step.followup_status))
            if step.followup_text:
                outcome += f", {_quote(step.followup_text)}"
            rows.append(("Hoe ging het", outcome))
        else:
            rows.append(("Hoe ging het", "nog niet besproken"))
    details = "".join(f"<dt>{e(name)}</dt><dd>{value}</dd>" for name, value in rows) or (
        "<dt>Inhoud</dt><dd>Nog geen antwoorden.</dd>")
    return (f'<li class="gesprek"><h3>Gesprek van {e(summary.date.strftime("%d-%m-%Y"))} '
            f'<span class="status">({e(summary.status_text)})</span></h3>'
            f"<dl>{details}</dl></li>")


def _competency(section: CompetencySection) -> str:
    if not section.insights:
        items = '<li class="leeg">Nog niets.</li>'
    else:
        items = "".join(
            f'<li>{e(i.date.strftime("%d-%m-%Y"))}: {_quote(i.text)}'
            f'{" <em>(eigen naam voor het inzicht)</em>" if i.is_headline else ""}'
            f'{" <em>(ook)</em>" if not i.main else ""}</li>'
            for i in section.insights)
    return (f'<section class="competentie"><h3>{e(section.label)} '
            f'<span class="naam">({e(section.name)})</span></h3>'
            f'<ul class="inzichten">{items}</ul></section>')


def student_page(row: StudentRow, flags: Iterable[Flag], story: StudentStory, csrf: str,
                 names: Mapping[str, str], errors: Mapping[int, str] | None = None) -> str:
    """The student page: the flags to act on (with their forms), then the conversations in
    the student's own words and the insights per competency; every student text escaped."""
    errors = errors or {}
    flags = list(flags)
    current = [f for f in flags if f.status != "resolved"]
    done = [f for f in flags if f.status == "resolved"]
    flag_list = (f'<ul class="signalen">'
                 f'{"".join(_flag_item(f, csrf, names, errors.get(f.id)) for f in current)}'
                 "</ul>") if current else "<p>Geen open signalen.</p>"
    if done:
        flag_list += ('<details class="afgehandeld"><summary>Afgehandelde signalen '
                      f"({len(done)})</summary>"
                      f'<ul class="signalen">'
                      f'{"".join(_flag_item(f, csrf, names, None) for f in done)}</ul>'
                      "</details>")
    conversations = "".join(_conversation(s) for s in story.conversations)
    if not conversations:
        conversations_html = "<p>Nog geen gesprekken.</p>"
    else:
        older = (f'<p class="hulp">En {story.older} eerdere '
                 f'{"gesprek" if story.older == 1 else "gesprekken"}.</p>'
                 if story.older else "")
        conversations_html = f'<ul class="gesprekken">{conversations}</ul>{older}'
    competencies = "".join(_competency(c) for c in story.competencies)
    return (
        '<p><a href="/mentor">← Mijn studenten</a></p>'
        f"<h1>{e(row.display_name)}</h1>"
        f"<p>Klas: {e(row.class_name or '-')} · Laatste gesprek: "
        f"{e(when(row.last_conversation_at))}</p>"
        f"<h2>Signalen</h2>{flag_list}"
        "<h2>Gesprekken</h2>"
        '<p class="hulp">In de eigen woorden van de student, nieuwste eerst.</p>'
        f"{conversations_html}"
        f"<h2>Inzichten per onderwerp</h2>{competencies}"
    )
