"""The OpenAPI 3 document of the JSON API, served at /api/openapi.json.

Tests compare its paths with the routes the application serves under /api/v1/, and run
Schemathesis against a running portal with it (tests/test_portal_schemathesis.py): what it
says about parameters, bodies, status codes and responses must be exactly what the server
does. Links say where an id comes from (e.g. a flag id from a student's flag list), so that
clients (and Schemathesis) can follow them."""

from __future__ import annotations

from typing import Any

from bot.storage.access import NOTE_MAX_CHARS, NOTE_VISIBLE
from bot.storage.accounts import ROLES
from bot.taxonomy import FLAG_BY_KEY, FLAG_STATUSES, LEVELS, SEVERITIES


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(schema: str, links: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """A 200 with a JSON body; `links`: name -> (operationId, where its `id` comes from)."""
    response: dict[str, Any] = {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    if links:
        response["links"] = {name: {"operationId": operation, "parameters": {"id": source}}
                             for name, (operation, source) in links.items()}
    return response


STUDENT_ID = {"name": "id", "in": "path", "required": True,
              "description": "The student's id (only your own students: others are 404).",
              "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999}}
FLAG_ID = {"name": "id", "in": "path", "required": True,
           "description": "The flag's id (only flags of your own students: others are 404).",
           "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999}}
CSRF_HEADER = {"name": "X-CSRF-Token", "in": "header", "required": False,
               "description": "Required when authenticated by the session cookie: the `csrf` "
                              "value of the portal's forms. Not needed (and not read) with a "
                              "bearer token.",
               "schema": {"type": "string"}}
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
NULLABLE_TEXT = {"type": "string", "nullable": True}
# The server keeps a note without control characters and surrounding white space; what is
# left must not be empty: so at least one character that is neither.
NOTE = {"type": "string", "minLength": 1, "maxLength": NOTE_MAX_CHARS,
        "pattern": NOTE_VISIBLE,
        "description": "What the mentor did or agreed: at least one visible character. "
                       "Control characters and white space around it are removed."}
FLAG_LINKS = {"ResolveFlag": ("resolveFlag", "$response.body#/id"),
              "StudentFlags": ("listFlags", "$response.body#/student_id")}
NULLABLE_DATE = {"type": "string", "format": "date", "nullable": True}
RESULT = {"type": "string", "nullable": True, "enum": ["gelukt", "deels", "niet_gelukt", None]}
STEP = {"type": "object", "nullable": True, "description": "The agreed next step.",
        "properties": {"what": NULLABLE_TEXT, "who": NULLABLE_TEXT, "when_text": NULLABLE_TEXT,
                       "when_date": NULLABLE_DATE, "followup_status": RESULT,
                       "followup_text": NULLABLE_TEXT, "followup_reason": NULLABLE_TEXT}}


def _flag_change(summary: str, operation_id: str, body: dict[str, Any] | None,
                 forbidden: dict[str, Any], unauthorized: dict[str, Any],
                 not_found: dict[str, Any]) -> dict[str, Any]:
    links = {k: v for k, v in FLAG_LINKS.items() if v[0] != operation_id}
    operation: dict[str, Any] = {
        "summary": summary, "operationId": operation_id,
        "parameters": [FLAG_ID, CSRF_HEADER],
        "responses": {"200": _ok("Flag", links),
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
                "responses": {"200": _ok("StudentList", {
                    "GetStudent": ("getStudent", "$response.body#/students/0/id"),
                    "StudentFlags": ("listFlags", "$response.body#/students/0/id")}),
                              "401": unauthorized}}},
            "/api/v1/students/{id}": {"get": {
                "summary": "One of your students", "operationId": "getStudent",
                "parameters": [STUDENT_ID],
                "responses": {"200": _ok("Student", {
                    "StudentFlags": ("listFlags", "$response.body#/id")}),
                              "401": unauthorized, "404": not_found}}},
            "/api/v1/students/{id}/flags": {"get": {
                "summary": "A student's flags: open first, most severe first",
                "operationId": "listFlags",
                "parameters": [STUDENT_ID, {
                    "name": "status", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": list(FLAG_STATUSES)}}],
                "responses": {"200": _ok("FlagList", {
                    "AcknowledgeFlag": ("acknowledgeFlag", "$response.body#/flags/0/id"),
                    "ResolveFlag": ("resolveFlag", "$response.body#/flags/0/id")}),
                              "400": _error("Unknown status."),
                              "401": unauthorized, "404": not_found}}},
            "/api/v1/students/{id}/conversations": {"get": {
                "summary": "A student's conversations, newest first: summaries in the "
                           "student's own words", "operationId": "listConversations",
                "parameters": [STUDENT_ID],
                "responses": {"200": _ok("ConversationList"), "401": unauthorized,
                              "404": not_found}}},
            "/api/v1/students/{id}/insights": {"get": {
                "summary": "A student's insights per competency, with counts per month",
                "operationId": "listInsights", "parameters": [STUDENT_ID],
                "responses": {"200": _ok("Insights"), "401": unauthorized,
                              "404": not_found}}},
            "/api/v1/students/{id}/dossier": {"get": {
                "summary": "A student's loopbaandossier: one entry per activity "
                           "(conversation), oldest first, in the student's own words (as "
                           "/mentor/studenten/{id}/dossier.json)",
                "operationId": "getDossier", "parameters": [STUDENT_ID],
                "responses": {"200": _ok("Dossier"), "401": unauthorized,
                              "404": not_found}}},
            "/api/v1/flags/{id}/acknowledge": _flag_change(
                "Mark an open flag as seen (who and when are recorded)", "acknowledgeFlag",
                None, forbidden, unauthorized, flag_not_found),
            "/api/v1/flags/{id}/resolve": _flag_change(
                "Resolve an open or seen flag with a note (who and when are recorded)",
                "resolveFlag",
                {"type": "object", "required": ["notitie"], "properties": {"notitie": NOTE}},
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
                           "role": {"type": "string", "enum": list(ROLES)},
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
                "Conversation": {
                    "type": "object", "required": ["session_id", "date", "status"],
                    "properties": {
                        "session_id": {"type": "integer"},
                        "date": {"type": "string", "format": "date"},
                        "status": {"type": "string"}, "step_reached": NULLABLE_TEXT,
                        "status_text": {"type": "string"},
                        "experience": NULLABLE_TEXT, "role": NULLABLE_TEXT,
                        "went_well": NULLABLE_TEXT,
                        "headline": {**NULLABLE_TEXT,
                                     "description": "The student's own name for the insight."},
                        "explore": NULLABLE_TEXT, "needs": NULLABLE_TEXT,
                        "next_step": STEP,
                        "previous_step": {"type": "object", "nullable": True, "properties": {
                            "what": NULLABLE_TEXT, "status": RESULT, "text": NULLABLE_TEXT,
                            "reason": NULLABLE_TEXT}},
                        "additions": {"type": "array", "items": {"type": "string"}},
                        "flags": {"type": "array", "items": {"type": "object"}},
                        "open_flag_count": {"type": "integer", "minimum": 0},
                        "skipped": {"type": "array", "items": {"type": "string"}},
                        "text": {"type": "string"}}},
                "ConversationList": {
                    "type": "object", "required": ["conversations", "older"], "properties": {
                        "conversations": {"type": "array", "items": {
                            "$ref": "#/components/schemas/Conversation"}},
                        "older": {"type": "integer", "minimum": 0,
                                  "description": "Older conversations not listed."}}},
                "Insights": {
                    "type": "object", "required": ["months", "competencies"], "properties": {
                        "months": {"type": "array", "items": {"type": "string"},
                                   "description": "YYYY-MM, oldest first, without gaps."},
                        "competencies": {"type": "array", "items": {
                            "type": "object", "required": ["key", "label", "insights"],
                            "properties": {
                                "key": {"type": "string"}, "label": {"type": "string"},
                                "name": {"type": "string"},
                                "counts": {"type": "array", "items": {"type": "integer"}},
                                "insights": {"type": "array", "items": {
                                    "type": "object", "required": ["date", "text"],
                                    "properties": {
                                        "date": {"type": "string", "format": "date"},
                                        "text": {"type": "string"},
                                        "main": {"type": "boolean"},
                                        "is_headline": {"type": "boolean"},
                                        "session_id": {"type": "integer"}}}}}}}}},
                "Dossier": {"type": "object", "required": ["student", "exported_on", "activities"],
                            "properties": {
                                "student": {"type": "object", "required": ["id", "display_name"],
                                            "properties": {"id": {"type": "integer"},
                                                           "display_name": {"type": "string"},
                                                           "class_name": NULLABLE_TEXT}},
                                "exported_on": {"type": "string", "format": "date"},
                                "activities": {"type": "array", "items": {
                                    "$ref": "#/components/schemas/DossierActivity"}}}},
                "DossierActivity": {
                    "type": "object",
                    "required": ["session_id", "date", "status", "activity", "learned",
                                 "evaluation", "follow_up"],
                    "properties": {
                        "session_id": {"type": "integer"},
                        "date": {"type": "string", "format": "date"},
                        "status": {"type": "string", "description": "Dutch, e.g. \"afgerond\""},
                        "activity": {"type": "object", "description": "What it was.",
                                     "properties": {"experience": NULLABLE_TEXT,
                                                    "role": NULLABLE_TEXT}},
                        "learned": {"type": "object", "description": "What the student learned.",
                                    "properties": {
                                        "went_well": NULLABLE_TEXT,
                                        "insight_name": {**NULLABLE_TEXT, "description":
                                                         "The student's own name for the "
                                                         "insight."},
                                        "insights": {"type": "array", "items": {
                                            "type": "object", "required": ["text", "competency"],
                                            "properties": {
                                                "text": {"type": "string"},
                                                "competency": {"type": "string"},
                                                "competency_label": {"type": "string"}}}}}},
                        "evaluation": {"type": "object", "nullable": True,
                                       "description": "How the previous conversation's plan "
                                                      "went.",
                                       "properties": {"previous_step": NULLABLE_TEXT,
                                                      "result": RESULT,
                                                      "result_text": NULLABLE_TEXT,
                                                      "student_words": NULLABLE_TEXT,
                                                      "reason": NULLABLE_TEXT}},
                        "follow_up": {"type": "object", "nullable": True,
                                      "description": "The agreed next step and, once asked, "
                                                     "its result.",
                                      "properties": {"what": NULLABLE_TEXT, "who": NULLABLE_TEXT,
                                                     "when": NULLABLE_TEXT,
                                                     "when_date": NULLABLE_DATE,
                                                     "result": RESULT,
                                                     "result_text": NULLABLE_TEXT,
                                                     "student_words": NULLABLE_TEXT,
                                                     "reason": NULLABLE_TEXT}}}},
            },
        },
    }
