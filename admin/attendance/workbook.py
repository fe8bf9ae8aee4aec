"""Printable XLSX reports: a title row (company, report, month and range), a bold frozen header,
column widths, staff numbers as text (00123 stays 00123), times as real Excel times."""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from .export import _cell

TITLE_ROW, HEADER_ROW = 1, 3
TEXT, TIME, DATE, NUMBER = "text", "time", "date", "number"
FORMATS = {TEXT: "@", TIME: "hh:mm", DATE: "yyyy-mm-dd", NUMBER: "General"}


def report_xlsx(title: str, subtitle: str, columns: list[tuple[str, str, float]], rows,
                sheet: str, *, freeze_columns: int = 3) -> bytes:
    """``columns``: (header, kind, width); ``rows``: values in that order (times as datetime.time)."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.cell(TITLE_ROW, 1, title).font = Font(bold=True, size=14)
    ws.cell(TITLE_ROW + 1, 1, subtitle)
    bold = Font(bold=True)
    for i, (header, kind, width) in enumerate(columns, 1):
        c = ws.cell(HEADER_ROW, i, header)
        c.font = bold
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(i)].width = width
    kinds = [kind for _h, kind, _w in columns]
    for r, values in enumerate(rows, HEADER_ROW + 1):
        for i, (value, kind) in enumerate(zip(values, kinds), 1):
            if kind == TEXT and value is not None and not isinstance(value, str):
                value = str(value)
            c = ws.cell(r, i, _cell(value) if isinstance(value, str) else value)
            if value is not None and kind != NUMBER:
                c.number_format = FORMATS[kind]
    # the header and the identifying columns stay in view; the header repeats on every printed page
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, freeze_columns + 1)
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def clock(value: dt.datetime | None) -> dt.time | None:
    """A punch's local time as an Excel time of day (the date is its own column)."""
    return None if value is None else value.time()
