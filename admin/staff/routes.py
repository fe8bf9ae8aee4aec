from __future__ import annotations

import datetime as dt
import io
import secrets
import time
from pathlib import Path

from flask import (Blueprint, abort, flash, g, redirect, render_template, request, send_file, session,
                   url_for)
from PIL import Image
from sqlalchemy import func, or_, select

from app.i18n import has
from app.store import FaceTemplate, MakeupRequest, Staff

from ..context import services
from ..i18n import gettext as _
from ..labels import name_problem
from ..paging import page_number
from . import departments, importer, service

bp = Blueprint("staff", __name__, url_prefix="/staff")
PAGE_SIZE = 30
THUMB_PX = 96


@bp.get("/")
def index():
    q = request.args.get("q", "").strip()
    pg = page_number()
    where = []
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(Staff.staff_no.like(like, escape="\\"), Staff.name.like(like, escape="\\"),
                         Staff.department.like(like, escape="\\")))
    with services().store.session() as s:
        total = s.scalar(select(func.count()).select_from(Staff).where(*where))
        people = list(s.scalars(select(Staff).where(*where).order_by(Staff.staff_no)
                                .offset((pg - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        ids = [p.id for p in people]
        templates: dict[int, list[int]] = {i: [] for i in ids}
        for t in s.scalars(service.photo_templates(ids)):
            templates[t.staff_id].append(t.id)
    return render_template("staff/index.html", people=people, templates=templates, q=q, page=pg,
                           total=total, pages=max(1, -(-total // PAGE_SIZE)))


@bp.post("/new")
def create():
    try:
        staff_id = service.create(services(), request.form.get("staff_no", ""), request.form.get("name", ""),
                                  request.form.get("department", ""), g.actor)
    except ValueError as exc:
        flash(name_problem(exc), "error")
        return redirect(url_for("staff.index")), 303
    return redirect(url_for("staff.edit", staff_id=staff_id))


@bp.post("/upload")
def upload():
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        abort(400, description=_("请选择要上传的照片。"))
    results = service.enroll_uploads(services(), files, g.actor,
                                     accept_doubtful=request.form.get("accept_doubtful") == "1")
    return render_template("staff/upload_result.html", results=results,
                           ok=sum(r["ok"] for r in results))


def _staff_or_404(s, staff_id: int) -> Staff:
    st = s.get(Staff, staff_id)
    if st is None:
        abort(404)
    return st


def _template_or_404(s, template_id: int) -> FaceTemplate:
    t = s.get(FaceTemplate, template_id)
    if t is None:
        abort(404)
    return t


def say(message: str, **values) -> str:
    """A message in the page's language when the catalogue has it (the library's own checks say
    what is wrong in English, with the offending character)."""
    return _(message, **values) if has(message) else message


def _optional(name: str) -> str | None:
    return request.form.get(name) if name in request.form else None


@bp.route("/<int:staff_id>", methods=["GET", "POST"])
def edit(staff_id: int):
    error = None
    if request.method == "POST":
        form = request.form
        try:
            dept = _optional("department_id")
            service.update(services(), staff_id, form.get("name", ""), form.get("department"), g.actor,
                           department_id=None if dept is None else int(dept or 0),
                           phone=_optional("phone"), card_no=_optional("card_no"),
                           hire_date=_optional("hire_date"), leave_date=_optional("leave_date"))
            flash(_("已更新"))
            return redirect(url_for("staff.edit", staff_id=staff_id))
        except service.NotFound:
            abort(404)
        except ValueError as exc:
            error = say(str(exc)) if has(str(exc)) else name_problem(exc)
    return _edit_page(staff_id, error=error)


def _edit_page(staff_id: int, error: str | None = None, added: dict | None = None):
    svc = services()
    tz = svc.timezone()
    with svc.store.session() as s:
        st = _staff_or_404(s, staff_id)
        templates = list(s.scalars(service.photo_templates([staff_id])))
        depts = departments.all_departments(s)
        requests_ = list(s.scalars(select(MakeupRequest).where(MakeupRequest.staff_id == staff_id)
                                   .order_by(MakeupRequest.id.desc()).limit(20)))
    shown = [(r, r.punched_at.replace(tzinfo=dt.UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M")) for r in requests_]
    status = 400 if error or (added and not added["ok"]) else 200
    return render_template("staff/edit.html", st=st, templates=templates, error=error, departments=depts,
                           date_fields=service.DATE_FIELDS, requests=shown, added=added), status


@bp.post("/<int:staff_id>/photo")
def add_photo(staff_id: int):
    upload = request.files.get("photo")
    if upload is None or not upload.filename:
        abort(400, description="no photo")
    try:
        result = service.add_photo(services(), staff_id, upload.read(), upload.filename, g.actor)
    except service.NotFound:
        abort(404)
    if result["ok"]:
        flash(_("照片已添加"))
        return redirect(url_for("staff.edit", staff_id=staff_id))
    return _edit_page(staff_id, added=result)


# -- departments --------------------------------------------------------------------------------

@bp.get("/departments")
def department_list():
    with services().store.session() as s:
        rows = departments.all_departments(s)
        counts = departments.member_counts(s)
    return render_template("staff/departments.html", rows=rows, counts=counts)


def _department_change(change):
    try:
        change()
    except LookupError:
        abort(404)
    except ValueError as exc:
        flash(say(str(exc)))
        return redirect(url_for("staff.department_list")), 303
    flash(_("已保存"))
    return redirect(url_for("staff.department_list"))


@bp.post("/departments")
def department_create():
    return _department_change(lambda: departments.create(services(), request.form.get("name", ""), g.actor))


@bp.post("/departments/<int:dept_id>/rename")
def department_rename(dept_id: int):
    return _department_change(lambda: departments.rename(services(), dept_id, request.form.get("name", ""),
                                                         g.actor))


@bp.post("/departments/<int:dept_id>/delete")
def department_delete(dept_id: int):
    return _department_change(lambda: departments.delete(services(), dept_id, g.actor))


# -- import from Excel --------------------------------------------------------------------------

IMPORT_KEEP_S = 3600


def _imports_dir() -> Path:
    folder = Path(services().instance.root) / "imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    now = time.time()
    for old in folder.glob("*.xlsx"):  # previews nobody confirmed
        if now - old.stat().st_mtime > IMPORT_KEEP_S:
            old.unlink(missing_ok=True)
    return folder


def _stashed(token: str) -> Path | None:
    if not token or token != session.get("staff_import"):
        return None
    path = _imports_dir() / f"{token}.xlsx"
    return path if path.is_file() else None


@bp.get("/import")
def import_form():
    return render_template("staff/import.html", preview=None, error=None, token=None)


@bp.post("/import")
def import_preview():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("staff/import.html", preview=None, token=None,
                               error=_("请选择一个 Excel (.xlsx) 文件")), 400
    data = upload.read(importer.MAX_BYTES + 1)
    try:
        preview = importer.check(services(), data)
    except importer.ImportError_ as exc:
        return render_template("staff/import.html", preview=None, token=None,
                               error=say(exc.key, **exc.values)), 400
    token = None
    if not preview.errors:
        token = secrets.token_urlsafe(16)
        (_imports_dir() / f"{token}.xlsx").write_bytes(data)
        session["staff_import"] = token
    return render_template("staff/import.html", preview=preview, error=None, token=token, say=say)


@bp.post("/import/confirm")
def import_confirm():
    path = _stashed(request.form.get("token", ""))
    if path is None:
        flash(_("导入预览已过期，请重新上传"))
        return redirect(url_for("staff.import_form")), 303
    try:
        result = importer.apply(services(), path.read_bytes(), g.actor)
    except importer.ImportError_ as exc:
        flash(say(exc.key, **exc.values))
        return redirect(url_for("staff.import_form")), 303
    finally:
        path.unlink(missing_ok=True)
        session.pop("staff_import", None)
    flash(_("导入完成：新建 {created} 人，更新 {updated} 人", **result))
    return redirect(url_for("staff.index"))


@bp.post("/<int:staff_id>/active")
def active(staff_id: int):
    try:
        service.set_active(services(), staff_id, request.form.get("active") == "1", g.actor)
    except service.NotFound:
        abort(404)
    return redirect(url_for("staff.edit", staff_id=staff_id))


@bp.post("/<int:staff_id>/delete")
def delete(staff_id: int):
    try:
        service.delete_staff(services(), staff_id, g.actor)
    except service.NotFound:
        abort(404)
    flash(_("人员已删除"))
    return redirect(url_for("staff.index"))


@bp.post("/template/<int:template_id>/delete")
def delete_template(template_id: int):
    with services().store.session() as s:
        staff_id = _template_or_404(s, template_id).staff_id
    services().library.remove_template(template_id, actor=g.actor)
    return redirect(url_for("staff.edit", staff_id=staff_id))


@bp.get("/photo/<int:template_id>")
def photo(template_id: int):
    with services().store.session() as s:
        t = _template_or_404(s, template_id)
        path = service.photo_path(services(), t)
        st = s.get(Staff, t.staff_id)
        download = f"{st.staff_no}_{st.name}{path.suffix if path else '.jpg'}"
    if path is None:
        abort(404)
    if request.args.get("thumb"):
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((THUMB_PX, THUMB_PX))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80)
        buf.seek(0)
        return send_file(buf, mimetype="image/jpeg", max_age=300)
    return send_file(path, as_attachment=bool(request.args.get("download")), download_name=download)
