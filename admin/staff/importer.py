"""Bulk import of staff from an Excel (.xlsx) file: read and check every row (the preview), then
write all rows in one transaction, or none when any row is wrong.

The first row names the columns (工号, 姓名, 部门, 入职日期, 离职日期, 手机, 卡号; English names
too); 工号 and 姓名 are required. A staff no already in the library updates that person; a new
department name makes the department.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field

from openpyxl import load_workbook
from sqlalchemy import select

from app.library.names import BadName, check_department, check_person_name, check_staff_no
from app.store import Department, Staff

from ..context import AdminServices
from . import departments, service

MAX_BYTES = 10 * 1024 * 1024            # the upload itself
MAX_UNPACKED = 64 * 1024 * 1024         # what the zip inside an .xlsx may unpack to (zip bombs)
MAX_ROWS = 5000
MAX_COLUMNS = 50

# column -> the names a header may give it (Chinese first, as HR's templates have them)
COLUMNS = {
    "staff_no": ("工号", "员工编号", "staff_no", "staff no"),
    "name": ("姓名", "name"),
    "department": ("部门", "department"),
    "hire_date": ("入职日期", "hire_date", "hire date"),
    "leave_date": ("离职日期", "leave_date", "leave date"),
    "phone": ("手机", "手机号", "电话", "phone"),
    "card_no": ("卡号", "card_no", "card no", "card"),
}
REQUIRED = ("staff_no", "name")


class ImportError_(ValueError):
    """The whole file is refused; ``key`` is a catalogue key, ``values`` fill it."""

    def __init__(self, key: str, **values):
        super().__init__(key.format(**values))
        self.key, self.values = key, values


@dataclass
class Row:
    line: int                       # the spreadsheet's row number
    values: dict = field(default_factory=dict)
    errors: list[tuple[str, dict]] = field(default_factory=list)  # (catalogue key, values)
    action: str = "create"          # create | update
    new_department: bool = False


@dataclass
class Preview:
    rows: list[Row]
    ignored_columns: list[str]
    columns: frozenset[str] = frozenset()

    @property
    def errors(self) -> int:
        return sum(1 for r in self.rows if r.errors)


def _header_map(header: tuple) -> tuple[dict[str, int], list[str]]:
    names = {alias.lower(): column for column, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    ignored = []
    for i, cell in enumerate(header):
        label = str(cell).strip() if cell is not None else ""
        column = names.get(label.lower())
        if column is None:
            if label:
                ignored.append(label)
            continue
        if column in found:
            raise ImportError_("第 1 行的列名重复：{name}", name=label)
        found[column] = i
    missing = [COLUMNS[c][0] for c in REQUIRED if c not in found]
    if missing:
        raise ImportError_("缺少必需的列：{names}", names="、".join(missing))
    return found, ignored


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a staff no typed as a number: 123, not 123.0
    return str(value).strip()


def _date(value, errors: list, key: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return service.parse_day(_text(value))
    except ValueError:
        errors.append((key, {}))
        return None


def read(data: bytes) -> list[tuple[int, tuple]]:
    """(row number, cells) of the first sheet, or ImportError_ for a file that is not a usable .xlsx."""
    if len(data) > MAX_BYTES:
        raise ImportError_("文件过大（最大 {mb} MB）", mb=MAX_BYTES // (1024 * 1024))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(i.file_size for i in z.infolist()) > MAX_UNPACKED:
                raise ImportError_("文件解压后过大，不能导入")
    except zipfile.BadZipFile:
        raise ImportError_("不是有效的 Excel (.xlsx) 文件") from None
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged file; all mean the same here
        raise ImportError_("不是有效的 Excel (.xlsx) 文件") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise ImportError_("表格是空的")
        rows = []
        for number, cells in enumerate(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            rows.append((number, cells))
            if len(rows) > MAX_ROWS + 1:
                raise ImportError_("行数过多（最多 {rows} 行）", rows=MAX_ROWS)
    except ImportError_:
        raise
    except Exception:
        raise ImportError_("不是有效的 Excel (.xlsx) 文件") from None
    finally:
        book.close()
    if not rows:
        raise ImportError_("表格是空的")
    return rows


def check(svc: AdminServices, data: bytes) -> Preview:
    """Every row with its action and its errors; nothing is written."""
    rows = read(data)
    columns, ignored = _header_map(rows[0][1])
    if len(rows) == 1:
        raise ImportError_("表格中没有人员")
    out: list[Row] = []
    seen_no: dict[str, int] = {}
    seen_card: dict[str, int] = {}
    with svc.store.session() as s:
        existing = {no: (sid, card) for sid, no, card in s.execute(select(Staff.id, Staff.staff_no, Staff.card_no))}
        cards = {card: no for no, (_sid, card) in existing.items() if card}
        known_departments = set(s.scalars(select(Department.name)))
    for number, cells in rows[1:]:
        def cell(column):
            i = columns.get(column)
            return cells[i] if i is not None and i < len(cells) else None

        row = Row(number)
        errors = row.errors
        for column, checker, bad, empty in (("staff_no", check_staff_no, "工号：{detail}", "工号不能为空"),
                                            ("name", check_person_name, "姓名：{detail}", "姓名不能为空"),
                                            ("department", check_department, "部门：{detail}", None)):
            raw = _text(cell(column))
            row.values[column] = raw
            if not raw and empty:
                errors.append((empty, {}))
                continue
            try:
                row.values[column] = checker(raw)
            except BadName as exc:  # the library's rule says what is wrong (in English, with the character)
                errors.append((bad, {"detail": str(exc)}))
        for column, checker in (("phone", service.check_phone), ("card_no", service.check_card)):
            raw = _text(cell(column))
            try:
                row.values[column] = checker(raw)
            except ValueError as exc:
                row.values[column] = raw
                errors.append((str(exc), {}))
        row.values["hire_date"] = _date(cell("hire_date"), errors, "入职日期格式应为 2026-01-31")
        row.values["leave_date"] = _date(cell("leave_date"), errors, "离职日期格式应为 2026-01-31")
        try:
            service.check_dates(row.values["hire_date"], row.values["leave_date"])
        except ValueError as exc:
            errors.append((str(exc), {}))
        no, card = row.values.get("staff_no"), row.values.get("card_no")
        if no in seen_no:
            errors.append(("工号与第 {row} 行重复", {"row": seen_no[no]}))
        seen_no.setdefault(no, number)
        if card:
            if card in seen_card:
                errors.append(("卡号与第 {row} 行重复", {"row": seen_card[card]}))
            elif cards.get(card, no) != no:
                errors.append(("卡号已被 {staff_no} 使用", {"staff_no": cards[card]}))
            seen_card.setdefault(card, number)
        row.action = "update" if no in existing else "create"
        dept = row.values.get("department")
        row.new_department = bool(dept) and dept not in known_departments
        out.append(row)
    return Preview(out, ignored, frozenset(columns))


def apply(svc: AdminServices, data: bytes, actor: str) -> dict:
    """Write every row in one transaction; a file with any wrong row is refused whole."""
    preview = check(svc, data)
    if preview.errors:
        raise ImportError_("有 {count} 行有错误，未导入任何数据", count=preview.errors)
    created = updated = 0
    with svc.store.session() as s:
        for row in preview.rows:
            v = row.values
            st = s.scalar(select(Staff).where(Staff.staff_no == v["staff_no"]))
            if st is None:
                st = Staff(staff_no=v["staff_no"], name=v["name"])
                s.add(st)
                created += 1
            else:
                st.name = v["name"]
                updated += 1
            # an empty cell keeps what a person has: a file with fewer columns loses nothing
            if v["department"] or st.department_id is None and not st.department:
                departments.assign(st, departments.get_or_create(s, v["department"]))
            if v["phone"]:
                st.phone = v["phone"]
            if v["card_no"]:
                st.card_no = v["card_no"]
            for date_field in service.DATE_FIELDS:
                if v[date_field] is not None:
                    setattr(st, date_field, v[date_field])
            s.flush()
        s.flush()
        svc.store.audit(s, actor, "import_staff", created=created, updated=updated)
    # No gallery work: an import neither adds photos nor makes anyone active or inactive, and the
    # kiosk's cards read names from the store (StaffCards), not from the gallery.
    return {"created": created, "updated": updated}
