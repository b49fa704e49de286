"""The coordinator's CSV import of mentors, classes and students: check first (every problem
per row, in Dutch), then import all or nothing (bot.portal.school_import)."""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web

from bot.portal import auth, beheer, html, mentor, school_import
from bot.portal.school_import import MENTOR_COLUMNS, STUDENT_COLUMNS, Plan, Result

MAX_FILE = 2 * 1024 * 1024  # a school's CSV is far smaller; the app's 64 KB limit is for forms
FILES = {"mentoren": "Mentoren", "studenten": "Studenten"}


class TooLarge(ValueError):
    pass


async def _form(request: web.Request) -> dict[str, str]:
    """The multipart form, streamed with a size cap per part; files decoded as UTF-8 (or
    Windows-1252, what older Excel writes)."""
    reader = await request.multipart()
    fields: dict[str, str] = {}
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name not in (
                "csrf", "actie", *FILES):
            continue
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > MAX_FILE:
                raise TooLarge(part.name)
        raw = bytes(data)
        try:
            fields[part.name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            fields[part.name] = raw.decode("cp1252", errors="replace")
    return fields


def _form_html(csrf: str) -> str:
    return (
        '<form method="post" action="/beheer/importeren" enctype="multipart/form-data" '
        f'class="import"><input type="hidden" name="csrf" value="{html.e(csrf)}">'
        '<label for="mentoren">Mentoren (CSV)</label>'
        '<input id="mentoren" name="mentoren" type="file" accept=".csv,text/csv">'
        f'<p class="hulp">Kolommen: {html.e(";".join(MENTOR_COLUMNS))}</p>'
        '<label for="studenten">Studenten (CSV)</label>'
        '<input id="studenten" name="studenten" type="file" accept=".csv,text/csv">'
        f'<p class="hulp">Kolommen: {html.e(";".join(STUDENT_COLUMNS))}. Kanaal en kanaal_id '
        "mogen leeg zijn: dan koppelt de student zich later met een koppelcode. Gebruik een "
        "schuilnaam, geen echte naam.</p>"
        '<div class="knoppen"><button type="submit" name="actie" value="controleren">'
        'Controleren</button> <button type="submit" name="actie" value="importeren">'
        "Importeren</button></div></form>")


def _plan_html(plan: Plan) -> str:
    if plan.errors:
        items = "".join(f"<li>{html.e(e)}</li>" for e in plan.errors)
        return ('<section class="melding" role="alert"><h2>Er is niets geïmporteerd</h2>'
                f"<p>Los eerst deze punten op:</p><ul>{items}</ul></section>")
    return (f'<section class="gelukt"><h2>Alles klopt</h2><p>{len(plan.mentors)} nieuwe '
            f"mentoren en {len(plan.students)} studenten. Kies Importeren om ze toe te "
            "voegen.</p></section>")


def _result_html(result: Result) -> str:
    passwords = "".join(f"<tr><td>{html.e(email)}</td><td><code>{html.e(pw)}</code></td></tr>"
                        for email, pw in result.passwords)
    table = ('<p class="hulp">Eenmalige wachtwoorden (worden niet nog eens getoond; geef ze '
             "persoonlijk door):</p>"
             f'<table class="studenten"><tbody>{passwords}</tbody></table>'
             if passwords else "")
    codes = "".join(f"<tr><td>{html.e(name)}</td><td>{html.e(klas)}</td>"
                    f"<td><code>{html.e(code)}</code></td></tr>"
                    for name, klas, code in result.codes)
    code_table = ('<p class="hulp">Koppelcodes (30 dagen geldig; worden niet nog eens getoond). '
                  "De student typt in de chat: mijn code is ...</p>"
                  '<table class="studenten"><thead><tr><th>Schuilnaam</th><th>Klas</th>'
                  f"<th>Koppelcode</th></tr></thead><tbody>{codes}</tbody></table>"
                  if codes else "")
    return (f'<section class="gelukt"><h2>Geïmporteerd</h2><p>{result.mentors_added} mentoren, '
            f"{result.classes_added} klassen, {result.students_added} nieuwe en "
            f"{result.students_updated} bijgewerkte studenten.</p>{table}{code_table}</section>")


async def import_page(request: web.Request) -> web.Response:
    user = beheer._school_user(request)
    body = ('<p><a href="/mentor">← Studenten</a></p><h1>Importeren</h1>'
            f"{_form_html(auth.csrf_token(request))}")
    return await mentor.render(request, user, "Importeren", body)


async def import_post(request: web.Request) -> web.Response:
    user = beheer._school_user(request)
    try:
        form = await _form(request)
    except TooLarge:
        return await _answer(request, user, '<p class="melding" role="alert">Een bestand is '
                             "te groot (hoogstens 2 MB).</p>", 413)
    except (ValueError, AssertionError):  # not multipart at all
        raise web.HTTPBadRequest() from None
    auth.require_csrf(request, form.get("csrf"))
    school_id = user.school_id
    if school_id is None:
        raise web.HTTPNotFound()
    doing = form.get("actie") == "importeren"
    mentors, students = form.get("mentoren", ""), form.get("studenten", "")

    def run(db: Any) -> tuple[Plan, Result | None]:
        plan = school_import.check(db, school_id, mentors, students)
        if not doing or not plan.ok:
            return plan, None
        return plan, school_import.apply(db, school_id, plan, user.actor)

    plan, result = await auth.in_db(run)
    shown = _result_html(result) if result is not None else _plan_html(plan)
    return await _answer(request, user, shown, 200 if plan.ok else 400)


async def _answer(request: web.Request, user: Any, shown: str, status: int) -> web.Response:
    body = ('<p><a href="/mentor">← Studenten</a></p><h1>Importeren</h1>'
            f"{shown}{_form_html(auth.csrf_token(request))}")
    return await mentor.render(request, user, "Importeren", body, status)


def setup(app: web.Application) -> None:
    app.router.add_get("/beheer/importeren", import_page)
    app.router.add_post("/beheer/importeren", import_post)
