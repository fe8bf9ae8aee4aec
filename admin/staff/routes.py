from __future__ import annotations

import io

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from PIL import Image
from sqlalchemy import func, or_, select

from app.store import FaceTemplate, Staff

from ..context import services
from ..i18n import gettext as _
from ..labels import name_problem
from ..paging import page_number
from . import service

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


@bp.route("/<int:staff_id>", methods=["GET", "POST"])
def edit(staff_id: int):
    error = None
    if request.method == "POST":
        try:
            service.update(services(), staff_id, request.form.get("name", ""),
                           request.form.get("department", ""), g.actor)
            flash(_("已更新"))
            return redirect(url_for("staff.edit", staff_id=staff_id))
        except service.NotFound:
            abort(404)
        except ValueError as exc:
            error = name_problem(exc)
    with services().store.session() as s:
        st = _staff_or_404(s, staff_id)
        templates = list(s.scalars(service.photo_templates([staff_id])))
    return render_template("staff/edit.html", st=st, templates=templates, error=error), (400 if error else 200)


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
