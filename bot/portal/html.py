"""The portal's HTML, built in code with every value escaped. No inline script or style (the
CSP forbids them): the look is in static/portal.css."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape

from aiohttp import web

from bot.storage.access import StudentRow
from bot.storage.accounts import Principal
from bot.storage.models import Flag
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


def student_page(row: StudentRow, flags: Iterable[Flag]) -> str:
    items = []
    for flag in flags:
        category = FLAG_BY_KEY.get(flag.category)
        declined = ('<p class="liever-niet">De student gaf aan dit liever niet te '
                    "bespreken.</p>") if flag.student_declined else ""
        evidence = (f'<p class="bewijs">Woorden: “{e(flag.evidence)}”</p>'
                    if flag.evidence else "")
        items.append(
            f'<li class="signaal {e(flag.severity)}">'
            f"<strong>{e(SEVERITY_LABELS.get(flag.severity, flag.severity))}</strong> · "
            f"{e(category.title if category else flag.category)} · "
            f"{e(STATUS_LABELS.get(flag.status, flag.status))} · {e(when(flag.created_at))}"
            f"{evidence}{declined}</li>"
        )
    flag_list = f'<ul class="signalen">{"".join(items)}</ul>' if items else (
        "<p>Geen signalen.</p>")
    return (
        '<p><a href="/mentor">← Mijn studenten</a></p>'
        f"<h1>{e(row.display_name)}</h1>"
        f"<p>Klas: {e(row.class_name or '-')} · Laatste gesprek: "
        f"{e(when(row.last_conversation_at))}</p>"
        f"<h2>Signalen</h2>{flag_list}"
    )
