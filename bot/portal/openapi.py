"""The OpenAPI 3 document of the JSON API, served at /api/openapi.json.

A test compares its paths with the routes the application serves under /api/v1/."""

from __future__ import annotations

from typing import Any

from bot.storage.access import NOTE_MAX_CHARS
from bot.taxonomy import FLAG_BY_KEY, FLAG_STATUSES, LEVELS, SEVERITIES


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(schema: str) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


STUDENT_ID = {"name": "id", "in": "path", "required": True,
              "description": "The student's id (only your own students: others are 404).",
              "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999}}
FLAG_ID = {"name": "id", "in": "path", "required": True,
           "description": "The flag's id (only flags of your own students: others are 404).",
           "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999}}
CSRF_HEADER = {"name": "X-CSRF-Token", "in": "header", "required": False,
               "description": "Required when authenticated by the session cookie: the `csrf` "
                              "value of the portal's forms. Not needed with a bearer token.",
               "schema": {"type": "string", "maxLength": 200}}
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
NULLABLE_TEXT = {"type": "string", "nullable": True}


def _flag_change(summary: str, operation_id: str, body: dict[str, Any] | None,
                 forbidden: dict[str, Any], unauthorized: dict[str, Any],
                 not_found: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "operationId": operation_id,
        "parameters": [FLAG_ID, CSRF_HEADER],
        "responses": {"200": _ok("Flag"),
                      "400": _error("The body is not a JSON object, or the note is missing "
                                    f"or longer than {NOTE_MAX_CHARS} characters."),
                      "401": unauthorized, "403": forbidden, "404": not_found,
                      "409": _error("The flag's status does not allow this (e.g. already "
                                    "resolved).")}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return {"post": operation}


def document() -> dict[str, Any]:
    unauthorized = _error("Not authenticated (no or an invalid session or token).")
    not_found = _error("No such student, or not one of yours.")
    flag_not_found = _error("No such flag, or not of one of your students.")
    forbidden = _error("Authenticated by the session cookie without the right X-CSRF-Token.")
    return {
        "openapi": "3.0.3",
        "info": {"title": "Loopbaancoach portal API", "version": "1",
                 "description": "Mentors see their own students; coordinators the students of "
                                "their school. Errors are Dutch JSON: {\"fout\": \"...\"}."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/v1/me": {"get": {
                "summary": "The logged-in user", "operationId": "me",
                "responses": {"200": _ok("Me"), "401": unauthorized}}},
            "/api/v1/students": {"get": {
                "summary": "Your students, urgent flags first", "operationId": "listStudents",
                "responses": {"200": _ok("StudentList"), "401": unauthorized}}},
            "/api/v1/students/{id}": {"get": {
                "summary": "One of your students", "operationId": "getStudent",
                "parameters": [STUDENT_ID],
                "responses": {"200": _ok("Student"), "401": unauthorized,
                              "404": not_found}}},
            "/api/v1/students/{id}/flags": {"get": {
                "summary": "A student's flags: open first, most severe first",
                "operationId": "listFlags",
                "parameters": [STUDENT_ID, {
                    "name": "status", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": list(FLAG_STATUSES)}}],
                "responses": {"200": _ok("FlagList"), "400": _error("Unknown status."),
                              "401": unauthorized, "404": not_found}}},
            "/api/v1/flags/{id}/acknowledge": _flag_change(
                "Mark an open flag as seen (who and when are recorded)", "acknowledgeFlag",
                None, forbidden, unauthorized, flag_not_found),
            "/api/v1/flags/{id}/resolve": _flag_change(
                "Resolve an open or seen flag with a note (who and when are recorded)",
                "resolveFlag",
                {"type": "object", "required": ["notitie"], "properties": {
                    "notitie": {"type": "string", "minLength": 1,
                                "maxLength": NOTE_MAX_CHARS,
                                "description": "What the mentor did or agreed."}}},
                forbidden, unauthorized, flag_not_found),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from `bot users token --email ...`."},
                "session": {"type": "apiKey", "in": "cookie", "name": "lbc_sessie"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["fout"],
                          "properties": {"fout": {"type": "string"}}},
                "Me": {"type": "object", "required": ["id", "role", "name", "email"],
                       "properties": {
                           "id": {"type": "integer"},
                           "role": {"type": "string", "enum": ["mentor", "coordinator"]},
                           "name": {"type": "string"}, "email": {"type": "string"},
                           "school_id": {"type": "integer", "nullable": True}}},
                "Student": {"type": "object",
                            "required": ["id", "display_name", "open_flags", "urgent_flags"],
                            "properties": {
                                "id": {"type": "integer"},
                                "display_name": {"type": "string"},
                                "class_name": {"type": "string", "nullable": True},
                                "level": {"type": "string", "nullable": True,
                                          "enum": [*LEVELS, None]},
                                "open_flags": {"type": "integer", "minimum": 0},
                                "urgent_flags": {"type": "integer", "minimum": 0},
                                "last_conversation_at": NULLABLE_TIME}},
                "StudentList": {"type": "object", "required": ["students"], "properties": {
                    "students": {"type": "array",
                                 "items": {"$ref": "#/components/schemas/Student"}}}},
                "Flag": {"type": "object",
                         "required": ["id", "category", "severity", "status", "created_at"],
                         "properties": {
                             "id": {"type": "integer"},
                             "student_id": {"type": "integer"},
                             "category": {"type": "string", "enum": list(FLAG_BY_KEY)},
                             "title": {"type": "string"},
                             "severity": {"type": "string", "enum": list(SEVERITIES)},
                             "status": {"type": "string", "enum": list(FLAG_STATUSES)},
                             "evidence": {"type": "string", "nullable": True},
                             "student_declined": {"type": "boolean"},
                             "created_at": {"type": "string", "format": "date-time"},
                             "acknowledged_at": NULLABLE_TIME,
                             "acknowledged_by": {**NULLABLE_TEXT, "description":
                                                 "Who, e.g. mentor:3"},
                             "resolved_at": NULLABLE_TIME,
                             "resolved_by": NULLABLE_TEXT,
                             "note": {**NULLABLE_TEXT,
                                      "description": "The mentor's note when resolving."}}},
                "FlagList": {"type": "object", "required": ["flags"], "properties": {
                    "flags": {"type": "array", "items": {"$ref": "#/components/schemas/Flag"}}}},
            },
        },
    }
