"""Mentor pages ("Mijn studenten", a student's page with the flag workflow, conversations and
insights) and the JSON API /api/v1/.

Access to a student or a flag always goes through bot.storage.access (one place decides; a
student or flag that is not yours is a 404, and every view or change is audited without
content). Changes: a form POST with the page's CSRF token, or an API POST with a bearer token
or with the session cookie plus the CSRF token in X-CSRF-Token."""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.conversation.summaries import as_dict, today_local
from bot.portal import auth, html, openapi, security
from bot.storage import access, accounts
from bot.storage.access import NoAccess, StudentRow, StudentStory
from bot.storage.accounts import Principal
from bot.storage.models import Flag
from bot.taxonomy import FLAG_BY_KEY, FLAG_STATUSES

STATIC = Path(__file__).parent / "static"
ID = r"{id:\d{1,9}}"
CSRF_HEADER = "X-CSRF-Token"


def _student_id(request: web.Request) -> int:
    return int(request.match_info["id"])


_flag_id = _student_id  # the same path parameter `id`, naming a flag


async def _visible(fn: Any) -> Any:
    """Run `fn(db)` (which uses bot.storage.access); a student not visible is a 404."""
    try:
        return await auth.in_db(fn)
    except NoAccess as exc:
        denied = exc
    await auth.in_db(lambda db: access.record_denied(db, denied))
    raise web.HTTPNotFound()


# --- pages -----------------------------------------------------------------------------------


async def render(request: web.Request, user: Principal, title: str, body: str,
                 status: int = 200) -> web.Response:
    """A page with the header: the user's name and their count of open flags."""
    count = await auth.in_db(lambda db: access.open_flag_count(db, user))
    return html.page(title, body, status=status, user=user, csrf=auth.csrf_token(request),
                     open_flags=count)


def _class_param(request: web.Request) -> int | None:
    """?klas=<id> (the class filter); anything else shows every class."""
    value = request.query.get("klas", "")
    return int(value) if value.isdigit() and len(value) <= 9 else None


async def my_students(request: web.Request) -> web.Response:
    user = auth.require_user(request)
    chosen = _class_param(request)

    def load(db: Any) -> tuple[list[StudentRow], list[tuple[int, str]]]:
        return access.students_for(db, user, chosen), access.classes_for(db, user)

    rows, classes = await auth.in_db(load)
    title = "Mijn studenten" if user.role == "mentor" else "Studenten"
    body = html.students_table(user, rows, today_local(), classes, chosen)
    return await render(request, user, title, body)


def _page_data(user: Principal, student_id: int) -> Any:
    def load(db: Any) -> tuple[StudentRow, list[Flag], StudentStory, dict[str, str]]:
        row = access.student_row(db, user, student_id)
        flags = access.flags_for(db, user, student_id)
        story = access.story_for(db, user, student_id)
        names = access.actor_names(db, [a for f in flags
                                        for a in (f.acknowledged_by, f.resolved_by)])
        return row, flags, story, names
    return load


async def _student_response(request: web.Request, user: Principal, student_id: int,
                            errors: dict[int, str] | None = None,
                            status: int = 200, placement_error: str | None = None
                            ) -> web.Response:
    row, flags, story, names = await _visible(_page_data(user, student_id))
    csrf = auth.csrf_token(request)
    body = html.student_page(row, flags, story, csrf, names, errors)
    if user.school_wide:
        classes, mentors = await auth.in_db(lambda db: access.placement_options(db, user))
        body += html.placement_form(row, classes, mentors, csrf, placement_error)
    return await render(request, user, row.display_name, body, status)


def _optional_id(value: object) -> int | None:
    """A select's value: "" is none; anything not a small number is a BadPlacement."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 9:
        return int(value)
    return -1  # not an id of this school: refused by access.move_student


async def placement_form(request: web.Request) -> web.StreamResponse:
    """Coordinators move a student to another class or mentor (others: 404, audited)."""
    user = auth.require_user(request)
    form = await auth.check_csrf(request)
    student_id = _student_id(request)
    class_id, mentor_id = _optional_id(form.get("klas")), _optional_id(form.get("mentor"))
    try:
        await _visible(lambda db: access.move_student(db, user, student_id, class_id,
                                                      mentor_id))
    except access.BadPlacement:
        return await _student_response(request, user, student_id, status=400,
                                       placement_error="Kies een klas en een mentor van je "
                                                       "school.")
    return auth.redirect(f"/mentor/studenten/{student_id}")


async def student_page(request: web.Request) -> web.Response:
    user = auth.require_user(request)
    return await _student_response(request, user, _student_id(request))


NOTE_NEEDED = (f"Schrijf een korte notitie: wat heb je gedaan of afgesproken? "
               f"(hoogstens {access.NOTE_MAX_CHARS} tekens)")
ALREADY_DONE = "Dit signaal is al afgehandeld of al gezien."


async def _change_flag(user: Principal, flag_id: int, status: str, note: object) -> Flag:
    """The flag changed through bot.storage.access; 404 when it is not visible (audited)."""
    result: Flag = await _visible(lambda db: access.change_flag(db, user, flag_id, status, note))
    return result


async def _flag_form(request: web.Request, status: str) -> web.StreamResponse:
    user = auth.require_user(request)
    form = await auth.check_csrf(request)
    flag_id = _flag_id(request)
    try:
        flag = await _change_flag(user, flag_id, status, form.get("notitie"))
    except access.FlagConflict as exc:  # e.g. resolved meanwhile: the page shows its status
        return auth.redirect(f"/mentor/studenten/{exc.student_id}#signaal-{exc.flag_id}")
    except access.BadNote as exc:
        return await _student_response(request, user, exc.student_id,
                                        {exc.flag_id: NOTE_NEEDED}, status=400)
    return auth.redirect(f"/mentor/studenten/{flag.student_id}#signaal-{flag.id}")


async def link_code_form(request: web.Request) -> web.Response:
    """A new koppelcode for the student, shown once, with what to tell the student."""
    user = auth.require_user(request)
    await auth.check_csrf(request)
    student_id = _student_id(request)
    code, expires = await _visible(lambda db: access.new_link_code(db, user, student_id))
    body = (f'<p><a href="/mentor/studenten/{student_id}">← Terug naar de student</a></p>'
            "<h1>Koppelcode</h1>"
            f'<p class="eenmalig"><code>{html.e(code)}</code></p>'
            "<p>Geef deze code aan de student. De student typt in de chat: "
            f"<strong>mijn code is {html.e(code)}</strong>. Daarna horen de gesprekken bij deze "
            "student, ook wat de student al eerder vertelde.</p>"
            f'<p class="hulp">De code werkt één keer, tot {html.e(html.when(expires))}. Een '
            "nieuwe code maken zet de oude uit. Deze code wordt maar één keer getoond.</p>")
    return await render(request, user, "Koppelcode", body)


async def flag_page(request: web.Request) -> web.StreamResponse:
    """A flag's own address (the link in an e-mail): its place on the student's page."""
    user = auth.require_user(request)
    flag_id = _flag_id(request)
    flag = await _visible(lambda db: access.flag_view(db, user, flag_id))
    raise web.HTTPSeeOther(f"/mentor/studenten/{flag.student_id}#signaal-{flag.id}")


async def acknowledge_form(request: web.Request) -> web.StreamResponse:
    return await _flag_form(request, "acknowledged")


async def resolve_form(request: web.Request) -> web.StreamResponse:
    return await _flag_form(request, "resolved")


STYLESHEETS = ("portal.css", "print.css")


async def stylesheet(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STYLESHEETS:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Content-Type": "text/css"})


# --- JSON API --------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def student_json(row: StudentRow) -> dict[str, Any]:
    return {"id": row.id, "display_name": row.display_name, "class_name": row.class_name,
            "level": row.level, "open_flags": row.open_flags, "urgent_flags": row.urgent_flags,
            "last_conversation_at": _iso(row.last_conversation_at)}


def flag_json(flag: Flag) -> dict[str, Any]:
    category = FLAG_BY_KEY.get(flag.category)
    return {"id": flag.id, "student_id": flag.student_id, "category": flag.category,
            "title": category.title if category else flag.category,
            "severity": flag.severity, "status": flag.status, "evidence": flag.evidence,
            "student_declined": bool(flag.student_declined),
            "created_at": _iso(flag.created_at), "acknowledged_at": _iso(flag.acknowledged_at),
            "acknowledged_by": flag.acknowledged_by, "resolved_at": _iso(flag.resolved_at),
            "resolved_by": flag.resolved_by, "note": flag.note}


def _api_user(request: web.Request) -> Principal:
    user = auth.principal(request)
    if user is None:  # the middleware already refuses this; kept as a second line
        raise web.HTTPUnauthorized()
    return user


async def api_me(request: web.Request) -> web.Response:
    user = _api_user(request)
    return web.json_response({"id": user.id, "role": user.role, "name": user.name,
                              "email": user.email, "school_id": user.school_id})


async def api_students(request: web.Request) -> web.Response:
    user = _api_user(request)
    rows = await auth.in_db(lambda db: access.students_for(db, user))
    return web.json_response({"students": [student_json(r) for r in rows]})


async def api_student(request: web.Request) -> web.Response:
    user = _api_user(request)
    student_id = _student_id(request)
    row = await _visible(lambda db: access.student_row(db, user, student_id))
    return web.json_response(student_json(row))


async def api_flags(request: web.Request) -> web.Response:
    user = _api_user(request)
    student_id = _student_id(request)
    status = request.query.get("status")
    if status is not None and status not in FLAG_STATUSES:
        raise web.HTTPBadRequest()
    flags = await _visible(lambda db: access.flags_for(db, user, student_id, status))
    return web.json_response({"flags": [flag_json(f) for f in flags]})


async def api_conversations(request: web.Request) -> web.Response:
    """A student's conversations, newest first, as summaries in the student's own words."""
    user = _api_user(request)
    student_id = _student_id(request)
    story = await _visible(lambda db: access.story_for(db, user, student_id))
    return web.json_response({"conversations": [as_dict(s) for s in story.conversations],
                              "older": story.older})


async def api_insights(request: web.Request) -> web.Response:
    """A student's insights per competency, with counts per month (the development chart)."""
    user = _api_user(request)
    student_id = _student_id(request)
    story = await _visible(lambda db: access.story_for(db, user, student_id))
    competencies = [{"key": c.key, "label": c.label, "name": c.name, "counts": c.counts,
                     "insights": [{"date": i.date.isoformat(), "text": i.text, "main": i.main,
                                   "is_headline": i.is_headline, "session_id": i.session_id}
                                  for i in c.insights]}
                    for c in story.competencies]
    return web.json_response({"months": story.months, "competencies": competencies})


def _api_csrf(request: web.Request) -> None:
    """A change made with the session cookie needs the page's CSRF token in the X-CSRF-Token
    header (403 otherwise); a bearer token needs none (a browser never sends it by itself)."""
    token = request.get(auth.TOKEN_KEY)
    if token is None:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    expected = accounts.csrf_token_for(token).encode("utf-8")
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, i.e. a 500).
    if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), expected):
        raise web.HTTPForbidden()


async def _api_body(request: web.Request) -> dict[str, Any] | None:
    """The JSON object of the request body ({} when it is empty); None when it is not one."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


async def _api_change(request: web.Request, status: str) -> web.Response:
    user = _api_user(request)
    _api_csrf(request)
    flag_id = _flag_id(request)
    body = await _api_body(request)
    if body is None:
        return security.error(400, "Stuur een JSON-object, bijvoorbeeld {\"notitie\": \"...\"}.")
    try:
        flag = await _change_flag(user, flag_id, status, body.get("notitie"))
    except access.FlagConflict:
        return security.error(409, ALREADY_DONE)
    except access.BadNote:
        return security.error(400, NOTE_NEEDED)
    return web.json_response(flag_json(flag))


async def api_acknowledge(request: web.Request) -> web.Response:
    return await _api_change(request, "acknowledged")


async def api_resolve(request: web.Request) -> web.Response:
    return await _api_change(request, "resolved")


async def api_document(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


def setup(app: web.Application) -> None:
    app.router.add_get("/mentor", my_students)
    app.router.add_get(f"/mentor/studenten/{ID}", student_page)
    app.router.add_post(f"/mentor/studenten/{ID}/indeling", placement_form)
    app.router.add_post(f"/mentor/studenten/{ID}/koppelcode", link_code_form)
    app.router.add_get(f"/mentor/signalen/{ID}", flag_page)
    app.router.add_post(f"/mentor/signalen/{ID}/gezien", acknowledge_form)
    app.router.add_post(f"/mentor/signalen/{ID}/afhandelen", resolve_form)
    app.router.add_get(r"/static/{name:[a-z]+\.css}", stylesheet)
    app.router.add_get("/api/v1/me", api_me)
    app.router.add_get("/api/v1/students", api_students)
    app.router.add_get(f"/api/v1/students/{ID}", api_student)
    app.router.add_get(f"/api/v1/students/{ID}/flags", api_flags)
    app.router.add_get(f"/api/v1/students/{ID}/conversations", api_conversations)
    app.router.add_get(f"/api/v1/students/{ID}/insights", api_insights)
    app.router.add_post(f"/api/v1/flags/{ID}/acknowledge", api_acknowledge)
    app.router.add_post(f"/api/v1/flags/{ID}/resolve", api_resolve)
    app.router.add_get("/api/openapi.json", api_document)
