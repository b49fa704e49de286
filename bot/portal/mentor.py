"""Mentor pages ("Mijn studenten", a student's page) and the JSON API /api/v1/.

Access to a student always goes through bot.storage.access (one place decides; a student
that is not yours is a 404, and every view is audited without content)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.portal import auth, html, openapi
from bot.storage import access
from bot.storage.access import NoAccess, StudentRow
from bot.storage.accounts import Principal
from bot.storage.models import Flag
from bot.taxonomy import FLAG_BY_KEY, FLAG_STATUSES

STATIC = Path(__file__).parent / "static"
ID = r"{id:\d{1,9}}"


def _student_id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def _visible(fn: Any) -> Any:
    """Run `fn(db)` (which uses bot.storage.access); a student not visible is a 404."""
    try:
        return await auth.in_db(fn)
    except NoAccess as exc:
        denied = exc
    await auth.in_db(lambda db: access.record_denied(db, denied))
    raise web.HTTPNotFound()


# --- pages -----------------------------------------------------------------------------------


async def my_students(request: web.Request) -> web.Response:
    user = auth.require_user(request)
    rows = await auth.in_db(lambda db: access.students_for(db, user))
    title = "Mijn studenten" if user.role == "mentor" else "Studenten"
    return html.page(title, html.students_table(user, rows), user=user,
                     csrf=auth.csrf_token(request))


async def student_page(request: web.Request) -> web.Response:
    user = auth.require_user(request)
    student_id = _student_id(request)

    def load(db: Any) -> tuple[StudentRow, list[Flag]]:
        return (access.student_row(db, user, student_id),
                access.flags_for(db, user, student_id, status="open"))

    row, flags = await _visible(load)
    return html.page(row.display_name, html.student_page(row, flags), user=user,
                     csrf=auth.csrf_token(request))


async def stylesheet(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "portal.css", headers={"Content-Type": "text/css"})


# --- JSON API --------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def student_json(row: StudentRow) -> dict[str, Any]:
    return {"id": row.id, "display_name": row.display_name, "class_name": row.class_name,
            "level": row.level, "open_flags": row.open_flags, "urgent_flags": row.urgent_flags,
            "last_conversation_at": _iso(row.last_conversation_at)}


def flag_json(flag: Flag) -> dict[str, Any]:
    category = FLAG_BY_KEY.get(flag.category)
    return {"id": flag.id, "category": flag.category,
            "title": category.title if category else flag.category,
            "severity": flag.severity, "status": flag.status, "evidence": flag.evidence,
            "student_declined": bool(flag.student_declined),
            "created_at": _iso(flag.created_at), "acknowledged_at": _iso(flag.acknowledged_at),
            "resolved_at": _iso(flag.resolved_at)}


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


async def api_document(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


def setup(app: web.Application) -> None:
    app.router.add_get("/mentor", my_students)
    app.router.add_get(f"/mentor/studenten/{ID}", student_page)
    app.router.add_get("/static/portal.css", stylesheet)
    app.router.add_get("/api/v1/me", api_me)
    app.router.add_get("/api/v1/students", api_students)
    app.router.add_get(f"/api/v1/students/{ID}", api_student)
    app.router.add_get(f"/api/v1/students/{ID}/flags", api_flags)
    app.router.add_get("/api/openapi.json", api_document)
