"""Staff changes the admin makes beside enrolment: edit, (de)activate, delete, uploads."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import zipfile
from pathlib import Path

from sqlalchemy import Select, func, select

from app.library import EnrollResult, zip_items
from app.library.names import Identity, check_department, check_person_name, check_staff_no
from app.library.names import photo_path as stored_photo
from app.store import Department, FaceTemplate, Staff

from ..context import AdminServices
from . import departments

PHONE_RE = re.compile(r"[0-9+\- ]*")
CARD_RE = re.compile(r"[0-9A-Za-z]*")
# Hire and leave dates: the attendance rules count no day before the one or after the other.
DATE_FIELDS = ("hire_date", "leave_date")


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
        svc.library.sync_gallery()  # inactive people leave the live gallery; active ones return


def _checked(name: str, department: str) -> tuple[str, str]:
    """The library's one rule for names and departments (BadName is a ValueError)."""
    return check_person_name(name), check_department(department)


def check_phone(phone: str) -> str:
    phone = (phone or "").strip()
    if len(phone) > 32 or not PHONE_RE.fullmatch(phone):
        raise ValueError("手机号只能包含数字、空格、+ 和 -，最多 32 位")
    return phone


def check_card(card: str) -> str | None:
    card = (card or "").strip()
    if not card:
        return None
    if len(card) > 32 or not CARD_RE.fullmatch(card):
        raise ValueError("卡号只能包含字母和数字，最多 32 位")
    return card


def card_taken(s, card: str | None, staff_id: int | None) -> bool:
    if card is None:
        return False
    other = s.scalar(select(Staff.id).where(Staff.card_no == card))
    return other is not None and other != staff_id


def parse_day(value: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise ValueError("日期格式应为 2026-01-31") from None


def check_dates(hire: dt.date | None, leave: dt.date | None) -> None:
    if hire and leave and leave < hire:
        raise ValueError("离职日期早于入职日期")


def update(svc: AdminServices, staff_id: int, name: str, department: str | None, actor: str, *,
           department_id: int | None = None, phone: str | None = None, card_no: str | None = None,
           hire_date: str | None = None, leave_date: str | None = None) -> None:
    """Change a person; fields left None keep their value. ``department_id`` (the edit page's
    select, 0 for none) wins over ``department`` (a name, made a department if new)."""
    name, department_name = _checked(name, department or "")
    phone = None if phone is None else check_phone(phone)
    card = None if card_no is None else check_card(card_no)
    hire = None if hire_date is None else parse_day(hire_date)
    leave = None if leave_date is None else parse_day(leave_date)
    with svc.store.session() as s:
        st = s.get(Staff, staff_id)
        if st is None:
            raise NotFound(staff_id)
        old = {"name": st.name, "department": st.department}
        st.name = name
        if department_id is not None:
            dept = s.get(Department, department_id) if department_id else None
            if department_id and dept is None:
                raise ValueError("部门不存在")
            departments.assign(st, dept)
        elif department is not None:
            departments.assign(st, departments.get_or_create(s, department_name))
        # else (a department text the select does not list, sent as nothing): kept as it is
        new = {"name": name, "department": st.department}
        if phone is not None:
            old["phone"], new["phone"] = st.phone, phone
            st.phone = phone
        if card_no is not None:
            if card_taken(s, card, staff_id):
                raise ValueError("卡号已被其他人使用")
            old["card_no"], new["card_no"] = st.card_no, card
            st.card_no = card
        for field, value, given in (("hire_date", hire, hire_date), ("leave_date", leave, leave_date)):
            if given is not None:
                old[field], new[field] = str(getattr(st, field) or ""), str(value or "")
                setattr(st, field, value)
        check_dates(st.hire_date, st.leave_date)
        svc.store.audit(s, actor, "edit_staff", staff_no=st.staff_no, old=old, new=new)


def add_photo(svc: AdminServices, staff_id: int, data: bytes, filename: str, actor: str) -> dict:
    """A photo HR adds on the person's page: the library's one enrolment call, bound to that person."""
    with svc.store.session() as s:
        st = s.get(Staff, staff_id)
        if st is None:
            raise NotFound(staff_id)
        who = Identity(st.staff_no, st.name, st.department, existing=True)
    if len(data) > svc.config.storage.photo_max_mb * 1024 * 1024:
        return _refused(filename, "too_large")
    result = svc.library.enroll(data, who, label=filename or f"{who.staff_no}_{who.name}.jpg").as_dict()
    with svc.store.session() as s:
        svc.store.audit(s, actor, "add_photo", staff_no=who.staff_no, ok=result["ok"], reason=result["reason"])
    return result


def create(svc: AdminServices, staff_no: str, name: str, department: str, actor: str) -> int:
    """A person without photos yet (faces are added by uploads named staffno_name)."""
    # The same rules as a photo's file name, so that later uploads match this person.
    staff_no = check_staff_no(staff_no.strip())
    name, department = _checked(name, department)
    with svc.store.session() as s:
        if s.scalar(select(Staff.id).where(Staff.staff_no == staff_no)):
            raise ValueError(f"staff no {staff_no} exists")
        st = Staff(staff_no=staff_no, name=name)
        departments.assign(st, departments.get_or_create(s, department))
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
