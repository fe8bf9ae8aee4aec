"""The OpenAPI 3 document of the seed API, written by hand next to the routes it describes."""

from __future__ import annotations

_TIME = {"type": "string", "example": "2022-04-18 15:56:00",
         "description": "terminal-local time, YYYY-MM-DD HH:MM:SS (or a bare date)"}
_OK = {"type": "object", "properties": {"success": {"type": "boolean"}, "message": {"type": "string"}}}
_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(schema: dict, description: str = "success") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def spec() -> dict:
    errors = {"400": _ERR, "401": _ERR, "403": _ERR}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Daka (打卡) terminal API", "version": "1.0",
                 "description": "The seed terminal's API, same paths and payloads, behind a bearer token "
                                "(System → API tokens, or `daka admin create-token NAME`)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {
                    "success": {"type": "boolean", "example": False}, "error": {"type": "string"},
                    "message": {"type": "string"}}},
                "FileResult": {"type": "object", "properties": {
                    "file": {"type": "string"}, "ok": {"type": "boolean"}, "reason": {"type": "string", "nullable": True},
                    "message": {"type": "string"}, "message_en": {"type": "string"},
                    "staff_no": {"type": "string"}, "name": {"type": "string"},
                    "template_id": {"type": "integer", "nullable": True}}},
            },
        },
        "paths": {
            "/api/add_face_libs": {"put": {
                "summary": "Enrol photos named 工号_姓名.jpg (images or zip archives)",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "properties": {"files[]": {
                        "type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
                "responses": {"200": _ok({"type": "object", "properties": {
                    "success": {"type": "boolean"}, "enrolled": {"type": "integer"},
                    "refused": {"type": "integer"},
                    "files": {"type": "array", "items": {"$ref": "#/components/schemas/FileResult"}}}},
                    "one result per file"), "413": _ERR, **errors}}},
            "/api/get_face_libraries": {"get": {
                "summary": "Enrolled staff",
                "responses": {"200": _ok({"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "staff_id": {"type": "string"}, "update_time": _TIME}}}),
                    **errors}}},
            "/api/delete_face": {"delete": {
                "summary": "Delete a staff member with their photos and face templates",
                "requestBody": _json({"type": "object", "required": ["face_id"], "properties": {
                    "face_id": {"type": "string", "example": "HR0878", "description": "staff no"}}}),
                "responses": {"200": _ok(_OK), "404": _ERR, **errors}}},
            "/api/get_attend_infos": {"post": {
                "summary": "Punches in a time range (not de-duplicated)",
                "requestBody": _json({"type": "object", "required": ["start_time", "end_time"],
                                      "properties": {"start_time": _TIME, "end_time": _TIME}}),
                "responses": {"200": _ok({"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "staff_id": {"type": "string"}, "attend_time": _TIME}}}),
                    **errors}}},
            "/api/download_facelib": {"get": {
                "summary": "A staff member's face photo",
                "parameters": [{"name": "staff_id", "in": "query", "required": True,
                                "schema": {"type": "string", "example": "HR0878"}}],
                "responses": {"200": {"description": "the photo",
                                      "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}},
                              "404": _ERR, **errors}}},
            "/api/clear_data": {"get": {
                "summary": "Delete the punches in a time range",
                "parameters": [{"name": n, "in": "query", "required": True, "schema": _TIME}
                               for n in ("start_time", "end_time")],
                "responses": {"200": _ok({"type": "object", "properties": {
                    "success": {"type": "boolean"}, "deleted": {"type": "integer"}}}), **errors}}},
            "/api/update_sys_time": {"put": {
                "summary": "Set the terminal's date and time",
                "requestBody": _json({"type": "object", "required": ["date", "time"], "properties": {
                    "date": {"type": "string", "example": "2022-04-18"},
                    "time": {"type": "string", "example": "15:56:00"}}}),
                "responses": {"200": _ok(_OK), **errors}}},
        },
    }
