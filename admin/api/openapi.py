"""The OpenAPI 3 document of the seed API, written by hand next to the routes it describes.

It says what the routes really answer (tests/admin/test_admin_fuzz.py holds it to that with
schemathesis): every error is ``{"success": false, ...}``, a 405 names the allowed methods.
"""

from __future__ import annotations

# Terminal-local time as the API reads it: a date, or a date and a time to the minute or second
# (years 1900 to 9998; an impossible day such as 02-30 passes the pattern and is a 400).
_TIME_IN_PATTERN = (r"^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                    r"([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?$")
_TIME_OUT_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
_TIME_IN = {"type": "string", "example": "2022-04-18 15:56:00", "pattern": _TIME_IN_PATTERN,
            "description": "terminal-local time, YYYY-MM-DD HH:MM:SS, YYYY-MM-DD HH:MM or a bare date "
                           "(the start of that day; as an end time, its end)"}
_TIME_OUT = {"type": "string", "example": "2022-04-18 15:56:00", "pattern": _TIME_OUT_PATTERN,
             "description": "terminal-local time, YYYY-MM-DD HH:MM:SS"}
_DEVICE_IN = {"type": "string", "nullable": True, "maxLength": 64, "example": "gate-1",
              "description": "only the punches of this device id (as `device_id` answers it; the admin's "
                             "devices page lists them); empty, null or absent: every device"}
_OK = {"type": "object", "required": ["success"], "properties": {
    "success": {"type": "boolean"}, "message": {"type": "string"}}}
_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_NOT_ALLOWED = {"description": "method not allowed for this path",
                "headers": {"Allow": {"required": True, "description": "the methods the path answers",
                                      "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_TOO_LARGE = {"description": "the body is larger than [admin] max_upload_mb",
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TooLarge"}}}}


def _json(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(schema: dict, description: str = "success") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*, body: bool = False, not_found: bool = False) -> dict:
    out = {"400": _ERR, "401": _ERR, "403": _ERR, "405": _NOT_ALLOWED}
    if body:
        out["413"] = _TOO_LARGE
    if not_found:
        out["404"] = _ERR
    return out


def spec() -> dict:
    paths = _paths()
    # The seed backend's own spellings, served for the clients written against it.
    paths["/api/get_attended_infos"] = {"post": _alias(paths["/api/get_attend_infos"]["post"], "/api/get_attend_infos")}
    paths["/api/down_facelib"] = {"get": _alias(paths["/api/download_facelib"]["get"], "/api/download_facelib")}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Daka (打卡) terminal API", "version": "1.0",
                 "description": "The seed terminal's API, same paths and payloads, behind a bearer token "
                                "(System → API tokens, or `daka admin create-token NAME`). Every error "
                                "answer is JSON with `\"success\": false`."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["success", "error", "message"], "properties": {
                    "success": {"type": "boolean", "enum": [False]}, "error": {"type": "string"},
                    "message": {"type": "string"}}},
                "TooLarge": {"allOf": [{"$ref": "#/components/schemas/Error"}, {
                    "type": "object", "required": ["limit_bytes"],
                    "properties": {"limit_bytes": {"type": "integer"}}}]},
                "FileResult": {"type": "object", "required": ["file", "ok", "reason", "staff_no", "name",
                                                              "template_id", "message", "message_en"],
                               "properties": {
                    "file": {"type": "string"}, "ok": {"type": "boolean"},
                    "reason": {"type": "string", "nullable": True, "description": "why it was refused"},
                    "detail": {"type": "string"}, "message": {"type": "string"}, "message_en": {"type": "string"},
                    "staff_no": {"type": "string", "nullable": True, "description": "null when the name is unreadable"},
                    "name": {"type": "string", "nullable": True, "description": "null when the name is unreadable"},
                    "template_id": {"type": "integer", "nullable": True},
                    "doubt": {"type": "string", "nullable": True,
                              "description": "enrolled although the quality check doubted it (an administrator "
                                             "accepted it in the admin's upload): the check's reason"}}},
            },
        },
        "paths": paths,
    }


def _alias(operation: dict, documented: str) -> dict:
    return {**operation, "deprecated": True,
            "summary": f"Deprecated alias of {documented} (the seed backend's spelling)",
            "description": f"Answers exactly as {documented}; new clients should call {documented}."}


def _paths() -> dict:
    return {
            "/api/add_face_libs": {"put": {
                "summary": "Enrol photos named 工号_姓名.jpg (images or zip archives)",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["files[]"], "properties": {"files[]": {
                        "type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"}}}}}}},
                "description": "`success` is the seed's: true only when every file was enrolled. `outcome` "
                               "makes a partial success unambiguous: `all_enrolled`, `partial` (some files "
                               "enrolled, see `files`), `none_enrolled`.",
                "responses": {"200": _ok({"type": "object",
                                          "required": ["success", "outcome", "enrolled", "refused", "files"],
                                          "properties": {
                    "success": {"type": "boolean", "description": "true only when every file was enrolled"},
                    "outcome": {"type": "string", "enum": ["all_enrolled", "partial", "none_enrolled"]},
                    "enrolled": {"type": "integer"},
                    "refused": {"type": "integer"},
                    "files": {"type": "array", "items": {"$ref": "#/components/schemas/FileResult"}}}},
                    "one result per file"), **_errors(body=True)}}},
            "/api/get_face_libraries": {"get": {
                "summary": "Enrolled staff",
                "responses": {"200": _ok({"type": "array", "items": {
                    "type": "object", "required": ["name", "staff_id", "update_time"], "properties": {
                        "name": {"type": "string"}, "staff_id": {"type": "string"},
                        "update_time": {**_TIME_OUT, "nullable": True}}}}),
                    **_errors()}}},
            "/api/delete_face": {"delete": {
                "summary": "Delete a staff member with their photos and face templates",
                "requestBody": _json({"type": "object", "required": ["face_id"], "properties": {
                    "face_id": {"type": "string", "example": "HR0878", "description": "staff no",
                                "minLength": 1, "pattern": r"\S"}}}),
                "responses": {"200": _ok(_OK), **_errors(body=True, not_found=True)}}},
            "/api/get_attend_infos": {"post": {
                "summary": "Punches in a time range (not de-duplicated)",
                "description": "Any range: ranges over 30 days are streamed, in constant memory. "
                               "`device` narrows the answer to one terminal's punches (a central "
                               "database holds every terminal's); each punch names its `device_id`.",
                "requestBody": _json({"type": "object", "required": ["start_time", "end_time"],
                                      "properties": {"start_time": _TIME_IN, "end_time": _TIME_IN,
                                                     "device": _DEVICE_IN}}),
                "responses": {"200": _ok({"type": "array", "items": {
                    "type": "object", "required": ["name", "staff_id", "attend_time", "device_id"], "properties": {
                        "name": {"type": "string"}, "staff_id": {"type": "string"}, "attend_time": _TIME_OUT,
                        "device_id": {"type": "string", "description": "the terminal that recorded the punch"}}}}),
                    **_errors(body=True)}}},
            "/api/download_facelib": {"get": {
                "summary": "A staff member's face photo",
                "parameters": [{"name": "staff_id", "in": "query", "required": True,
                                "schema": {"type": "string", "example": "HR0878"}}],
                "responses": {"200": {"description": "the photo",
                                      "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}},
                              **_errors(not_found=True)}}},
            "/api/clear_data": {"get": {
                "summary": "Delete the punches in a time range",
                "parameters": [{"name": n, "in": "query", "required": True, "schema": _TIME_IN}
                               for n in ("start_time", "end_time")],
                "responses": {"200": _ok({"type": "object", "required": ["success", "deleted"], "properties": {
                    "success": {"type": "boolean"}, "deleted": {"type": "integer"}}}), **_errors()}}},
            "/api/update_sys_time": {"put": {
                "summary": "Set the terminal's date and time",
                "requestBody": _json({"type": "object", "required": ["date", "time"], "properties": {
                    "date": {"type": "string", "example": "2022-04-18", "description": "a year 2000 to 2099",
                             "pattern": r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"},
                    "time": {"type": "string", "example": "15:56:00",
                             "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"}}}),
                "responses": {"200": _ok(_OK), **_errors(body=True)}}},
    }
