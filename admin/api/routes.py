from __future__ import annotations

import functools

from flask import Blueprint, current_app, g, jsonify, render_template, request, send_file
from sqlalchemy import select

from app.attendance import queries
from app.attendance.localtime import BadRange, local_time_of, parse_local
from app.store import FaceTemplate, Staff

from ..context import services
from ..extensions import csrf
from ..staff import service as staff_service
from ..auth import tokens
from ..system import clock
from .openapi import spec

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)  # bearer tokens are never sent by a browser on its own: no CSRF to guard against
docs_bp = Blueprint("docs", __name__)
DEVICE_ID_MAX = 64   # punches.device_id's length


def fail(status: int, error: str, message: str):
    return jsonify({"success": False, "error": error, "message": message}), status


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    row = tokens.verify(services().store, token.strip()) if scheme.lower() == "bearer" else None
    if row is None:
        response, status = fail(401, "unauthorized", "a valid Authorization: Bearer <token> header is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="daka"'
        return response, status
    g.actor, g.token_role = f"token:{row.name}", row.role
    return None


def admin_token(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.token_role != "admin":
            return fail(403, "forbidden", "this token may only read")
        return view(*args, **kwargs)
    return wrapped


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


class BadRequest(ValueError):
    pass


@bp.errorhandler(BadRequest)
@bp.errorhandler(BadRange)
@bp.errorhandler(clock.ClockError)
def _bad_request(exc):
    return fail(400, "bad_request", str(exc))


@bp.put("/add_face_libs")
@admin_token
def add_face_libs():
    files = [f for key in ("files", "files[]") for f in request.files.getlist(key) if f and f.filename]
    if not files:
        raise BadRequest("send the photos as multipart files[] named 工号_姓名.jpg")
    results = staff_service.enroll_uploads(services(), files, g.actor)
    ok = sum(r["ok"] for r in results)
    # The seed's "success" stays true only when every file was enrolled; "outcome" says at once
    # whether some were (a partial success is not a failure: those files are in the library).
    outcome = "all_enrolled" if ok == len(results) else ("partial" if ok else "none_enrolled")
    return jsonify({"success": ok == len(results), "outcome": outcome, "enrolled": ok,
                    "refused": len(results) - ok, "files": results})


@bp.get("/get_face_libraries")
def get_face_libraries():
    tz = services().timezone()
    with services().store.session() as s:
        rows = s.execute(select(Staff.name, Staff.staff_no, Staff.updated_at).order_by(Staff.staff_no)).all()
    return jsonify([{"name": n, "staff_id": no, "update_time": local_time_of(t, tz)}
                    for n, no, t in rows])


@bp.delete("/delete_face")
@admin_token
def delete_face():
    face_id = _json_body().get("face_id")
    if not isinstance(face_id, str) or not face_id.strip() or "\x00" in face_id:
        raise BadRequest('the body must be {"face_id": "<staff no>"}')
    with services().store.session() as s:
        staff_id = s.scalar(select(Staff.id).where(Staff.staff_no == face_id.strip()))
    if staff_id is None:
        return fail(404, "not_found", f"no staff member {face_id}")
    who = staff_service.delete_staff(services(), staff_id, g.actor)
    return jsonify({"success": True, "message": "deleted", **who})


@bp.post("/get_attend_infos")
@bp.post("/get_attended_infos", endpoint="get_attended_infos")  # the seed backend's own spelling (deprecated)
def get_attend_infos():
    body = _json_body()
    tz = services().timezone()
    start = parse_local(str(body.get("start_time", "")), tz)
    end = parse_local(str(body.get("end_time", "")), tz, end=True)
    if end <= start:
        raise BadRequest("end_time must be after start_time")
    device = _device(body.get("device"))
    store = services().store
    with store.engine.connect() as conn:  # a read: no ORM session, no transaction to commit
        body = queries.punches_json(conn, start, end, tz, device)
    if body is not None:  # the database built the JSON (the usual case): the same bytes as jsonify's
        return current_app.response_class(body + b"\n", mimetype=current_app.json.mimetype)
    # A long range (or one across a zone change): streamed in batches, in flat memory.
    stream = queries.punches_json_stream(store, queries.PunchFilter.times(start, end, device_id=device), tz)
    return current_app.response_class(stream, mimetype=current_app.json.mimetype)


def _device(value) -> str:
    """The optional ``device`` of a query: a device id (empty or absent: every device)."""
    if value is None:
        return ""
    if not isinstance(value, str) or "\x00" in value or len(value) > DEVICE_ID_MAX:
        raise BadRequest(f"device must be a device id (text of at most {DEVICE_ID_MAX} characters)")
    return value.strip()


@bp.get("/download_facelib")
@bp.get("/down_facelib", endpoint="down_facelib")  # the seed backend's own spelling (deprecated)
def download_facelib():
    staff_no = request.args.get("staff_id", "")
    if "\x00" in staff_no:  # no staff number holds one, and PostgreSQL text refuses it
        return fail(404, "not_found", f"no photo for staff_id {staff_no!r}")
    with services().store.session() as s:
        st = s.scalar(select(Staff).where(Staff.staff_no == staff_no))
        template = st and s.scalar(select(FaceTemplate).where(FaceTemplate.staff_id == st.id)
                                   .order_by(FaceTemplate.id.desc()).limit(1))
        path = staff_service.photo_path(services(), template) if template else None
        name = f"{st.staff_no}_{st.name}" if st else ""
    if path is None:
        return fail(404, "not_found", f"no photo for staff_id {staff_no!r}")
    return send_file(path, as_attachment=True, download_name=name + path.suffix)


@bp.get("/clear_data")
@admin_token
def clear_data():
    tz = services().timezone()
    start = parse_local(request.args.get("start_time", ""), tz)
    end = parse_local(request.args.get("end_time", ""), tz, end=True)
    if end <= start:
        raise BadRequest("end_time must be after start_time")
    deleted = services().retention().clear_range(start, end, actor=g.actor)
    return jsonify({"success": True, "deleted": deleted})


@bp.put("/update_sys_time")
@admin_token
def update_sys_time():
    body = _json_body()
    out = clock.set_system_time(current_app.config["DAKA_SET_TIME_COMMAND"], body.get("date"), body.get("time"))
    with services().store.session() as s:
        services().store.audit(s, g.actor, "set_time", date=body["date"], time=body["time"], output=out)
    return jsonify({"success": True, "message": "time set"})


@docs_bp.get("/docs")
def docs():
    return render_template("api/docs.html")


@docs_bp.get("/docs/openapi.json")
def openapi():
    return jsonify(spec())
