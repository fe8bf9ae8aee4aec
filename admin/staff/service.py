"""Staff changes the admin makes beside enrolment: edit, (de)activate, delete, uploads."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from sqlalchemy import Select, func, select

from app.library import EnrollResult, zip_items
from app.library.names import check_department, check_person_name, check_staff_no
from app.library.names import photo_path as stored_photo
from app.store import FaceTemplate, Staff

from ..context import AdminServices


class NotFound(LookupError):
    pass


def photo_templates(staff_ids) -> Select:
    """One template per photo, the photo's first (each photo has a row per embedding model)."""
    first = select(func.min(FaceTemplate.id)).group_by(FaceTemplate.photo_file)
    return (select(FaceTemplate).where(FaceTemplate.staff_id.in_(staff_ids), FaceTemplate.id.in_(first))
            .order_by(FaceTemplate.id))


def delete_staff(svc: AdminServices, staff_id: int, actor: str) -> dict:
    """Delete a person with their templates and photos (their punches stay, unlinked)."""
    with svc.store.session() as s:
        st = s.get(Staff, staff_id)
        if st is None:
            raise NotFound(staff_id)
        photos = [t.photo_file for t in s.scalars(photo_templates([staff_id]))]
        who = {"staff_no": st.staff_no, "name": st.name, "templates": len(photos)}
        s.delete(st)
        svc.store.audit(s, actor, "delete_staff", **who)
    if svc.library_loaded:
        svc.library.gallery.remove_staff(staff_id)
    for name in photos:
        path = stored_photo(svc.instance.photos_dir, name)
        if path is not None:
            path.unlink(missing_ok=True)
    return who


def set_active(svc: AdminServices, staff_id: int, active: bool, actor: str) -> None:
    with svc.store.session() as s:
        st = s.get(Staff, staff_id)
        if st is None:
            raise NotFound(staff_id)
        st.active = active
        svc.store.audit(s, actor, "activate_staff" if active else "deactivate_staff", staff_no=st.staff_no)
    if svc.library_loaded:
        svc.library.load_gallery()  # inactive people leave the live gallery; active ones return


def _checked(name: str, department: str) -> tuple[str, str]:
    """The library's one rule for names and departments (BadName is a ValueError)."""
    return check_person_name(name), check_department(department)


def update(svc: AdminServices, staff_id: int, name: str, department: str, actor: str) -> None:
    name, department = _checked(name, department)
    with svc.store.session() as s:
        st = s.get(Staff, staff_id)
        if st is None:
            raise NotFound(staff_id)
        old = {"name": st.name, "department": st.department}
        st.name, st.department = name, department
        svc.store.audit(s, actor, "edit_staff", staff_no=st.staff_no, old=old,
                        new={"name": name, "department": department})


def create(svc: AdminServices, staff_no: str, name: str, department: str, actor: str) -> int:
    """A person without photos yet (faces are added by uploads named staffno_name)."""
    # The same rules as a photo's file name, so that later uploads match this person.
    staff_no = check_staff_no(staff_no.strip())
    name, department = _checked(name, department)
    with svc.store.session() as s:
        if s.scalar(select(Staff.id).where(Staff.staff_no == staff_no)):
            raise ValueError(f"staff no {staff_no} exists")
        st = Staff(staff_no=staff_no, name=name, department=department)
        s.add(st)
        s.flush()
        svc.store.audit(s, actor, "create_staff", staff_no=staff_no, name=name, department=department)
        return st.id


def enroll_uploads(svc: AdminServices, files, actor: str, *, accept_doubtful: bool = False) -> list[dict]:
    """Enrol uploaded images and zip archives; one result per photo (zip members included).
    `accept_doubtful`: the administrator enrols photos the quality gate doubts (audited by name)."""
    cfg = svc.config
    max_bytes = cfg.storage.photo_max_mb * 1024 * 1024
    results = []
    library = svc.library
    for f in files:
        name = f.filename or "upload"
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as tmp:
            f.save(tmp)
            tmp.seek(0)
            is_zip = name.lower().endswith(".zip") or zipfile.is_zipfile(tmp)
            tmp.seek(0)
            if is_zip:
                results.extend(_enroll_zip(library, tmp, cfg, max_bytes, accept_doubtful))
                continue
            data = tmp.read(max_bytes + 1)
        if len(data) > max_bytes:
            results.append(_refused(name, "too_large"))
            continue
        results.append(library.enroll_file(data, name, accept_doubtful=accept_doubtful).as_dict())
    with svc.store.session() as s:
        doubtful = [r["file"] for r in results if r.get("doubt")]
        svc.store.audit(s, actor, "upload_photos", files=len(results),
                        enrolled=sum(r["ok"] for r in results), **({"doubtful": doubtful} if doubtful else {}))
    return results


def _enroll_zip(library, fh, cfg, max_bytes, accept_doubtful: bool = False) -> list[dict]:
    with tempfile.NamedTemporaryFile(suffix=".zip") as disk:
        disk.write(fh.read())
        disk.flush()
        try:
            items = list(zip_items(Path(disk.name), max_bytes=max_bytes, max_files=cfg.library.max_zip_files))
        except (zipfile.BadZipFile, ValueError) as exc:
            return [_refused("archive.zip", "not_image", str(exc))]
        return [r.as_dict() for r in library.enroll_many(items, accept_doubtful=accept_doubtful)]


def _refused(name: str, reason: str, detail: str = "") -> dict:
    return EnrollResult(name, False, reason, detail).as_dict()


def photo_path(svc: AdminServices, template: FaceTemplate) -> Path | None:
    """The stored photo of a template, only if it lies inside the photos folder."""
    path = stored_photo(svc.instance.photos_dir, template.photo_file)
    return path if path is not None and path.is_file() else None
