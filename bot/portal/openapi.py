"""The OpenAPI 3 document of the JSON API, served at /api/openapi.json.

A test compares its paths with the routes the application serves under /api/v1/."""

from __future__ import annotations

from typing import Any

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
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}


def document() -> dict[str, Any]:
    unauthorized = _error("Not authenticated (no or an invalid session or token).")
    not_found = _error("No such student, or not one of yours.")
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
                             "category": {"type": "string", "enum": list(FLAG_BY_KEY)},
                             "title": {"type": "string"},
                             "severity": {"type": "string", "enum": list(SEVERITIES)},
                             "status": {"type": "string", "enum": list(FLAG_STATUSES)},
                             "evidence": {"type": "string", "nullable": True},
                             "student_declined": {"type": "boolean"},
                             "created_at": {"type": "string", "format": "date-time"},
                             "acknowledged_at": NULLABLE_TIME,
                             "resolved_at": NULLABLE_TIME}},
                "FlagList": {"type": "object", "required": ["flags"], "properties": {
                    "flags": {"type": "array", "items": {"$ref": "#/components/schemas/Flag"}}}},
            },
        },
    }
