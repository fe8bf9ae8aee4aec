"""CSV (UTF-8 with BOM, so Excel reads Chinese) and XLSX exports of punches and daily summaries."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook

# Cells starting with these are formulas to a spreadsheet: prefix them so they stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def iter_csv(header: list[str], rows, *, chunk_rows: int = 2000):
    """CSV as encoded chunks (a BOM first, so Excel reads Chinese), for a streamed download of any size."""
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")
    w.writerow(header)
    for n, r in enumerate(rows, 1):
        w.writerow([_cell(v) for v in r])
        if n % chunk_rows == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def to_xlsx(header: list[str], rows, title: str) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.append(header)
    for r in rows:
        ws.append([_cell(v) if isinstance(v, str) else v for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
