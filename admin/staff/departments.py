"""Departments as rows (issue 24): create, rename, delete when empty, and the one way a person's
department is set, which keeps the ``Staff.department`` text equal to the department's name."""

from __future__ import annotations

from sqlalchemy import func, select, update

from app.library.names import check_department
from app.store import Department, ScheduleAssignment, Staff

from ..context import AdminServices


class DepartmentError(ValueError):
    pass


def all_departments(s) -> list[Department]:
    return list(s.scalars(select(Department).order_by(Department.name)))


def _name(name: str) -> str:
    name = check_department(name)
    if not name:
        raise DepartmentError("部门名称不能为空")
    return name


def get_or_create(s, name: str) -> Department | None:
    """The department called ``name`` (made if new), or None for an empty name."""
    name = check_department(name)
    if not name:
        return None
    dept = s.scalar(select(Department).where(Department.name == name))
    if dept is None:
        dept = Department(name=name)
        s.add(dept)
        s.flush()
    return dept


def assign(staff: Staff, dept: Department | None) -> None:
    staff.department_ref = dept
    staff.department_id = dept.id if dept is not None else None
    staff.department = dept.name if dept is not None else ""


def create(svc: AdminServices, name: str, actor: str) -> int:
    name = _name(name)
    with svc.store.session() as s:
        if s.scalar(select(Department.id).where(Department.name == name)):
            raise DepartmentError("部门已存在")
        dept = Department(name=name)
        s.add(dept)
        s.flush()
        svc.store.audit(s, actor, "create_department", name=name)
        return dept.id


def rename(svc: AdminServices, dept_id: int, name: str, actor: str) -> None:
    name = _name(name)
    with svc.store.session() as s:
        dept = s.get(Department, dept_id)
        if dept is None:
            raise LookupError(dept_id)
        if s.scalar(select(Department.id).where(Department.name == name, Department.id != dept_id)):
            raise DepartmentError("部门已存在")
        old, dept.name = dept.name, name
        s.execute(update(Staff).where(Staff.department_id == dept_id).values(department=name))
        # the attendance rules assign schedules to a department by its name: they follow the rename
        s.execute(update(ScheduleAssignment).where(ScheduleAssignment.department == old)
                  .values(department=name, department_id=dept_id))
        svc.store.audit(s, actor, "rename_department", old=old, new=name)


def delete(svc: AdminServices, dept_id: int, actor: str) -> None:
    """Delete an empty department; one with staff is refused (move them first)."""
    with svc.store.session() as s:
        dept = s.get(Department, dept_id)
        if dept is None:
            raise LookupError(dept_id)
        if s.scalar(select(func.count()).select_from(Staff).where(Staff.department_id == dept_id)):
            raise DepartmentError("部门下还有人员，不能删除")
        s.delete(dept)
        svc.store.audit(s, actor, "delete_department", name=dept.name)


def member_counts(s) -> dict[int, int]:
    return dict(s.execute(select(Staff.department_id, func.count()).where(Staff.department_id.is_not(None))
                          .group_by(Staff.department_id)).all())
