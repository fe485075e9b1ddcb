"""Exports: XLSX (openpyxl in write-only mode, so a long list never sits in memory as
cells), CSV (UTF-8 with a BOM, so Excel reads the Chinese right) and GeoJSON.

Every export has a header row, money as numbers with two decimals, a totals row at the
end, and national ID numbers masked (queries.mask_id). The files are built into a spooled
temporary file; the caller records the export in the audit log with the row count and
sends the file."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

MONEY_FORMAT = "#,##0.00"
SPOOL_BYTES = 8 * 1024 * 1024  # kept in memory up to this, then on disk


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    kind: str = "text"  # text, int, money, date
    width: int = 12


@dataclass
class Built:
    file: Any  # a binary file object at position 0
    rows: int
    mimetype: str


def _money(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(value).quantize(Decimal("0.01"))


def xlsx(columns: list[Column], batches: Iterable[list], totals, sheet: str, about_sheet: str,
         about: list[tuple[str, str]]) -> Built:
    """One sheet: the header row, a row per item, and the totals row at the end (values
    by column, None to leave a cell empty; a callable is asked once the rows are
    written); a second sheet says what the export is."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.freeze_panes = "A2"
    for i, col in enumerate(columns):
        ws.column_dimensions[_letter(i)].width = col.width
    bold = Font(bold=True)

    def header_cell(text):
        c = WriteOnlyCell(ws, value=text)
        c.font = bold
        return c

    ws.append([header_cell(c.header) for c in columns])
    money_cols = [i for i, c in enumerate(columns) if c.kind == "money"]
    date_cols = [i for i, c in enumerate(columns) if c.kind == "date"]
    # Styled cells only where a style is needed: a WriteOnlyCell per value is most of the time.
    money_cell = _styled_cell_maker(ws, MONEY_FORMAT)
    date_cell = _styled_cell_maker(ws, "yyyy-mm-dd")
    n = 0
    for batch in batches:
        for item in batch:
            values = [c.value(item) for c in columns]
            for i in money_cols:
                values[i] = money_cell(_money(values[i]))
            for i in date_cols:
                values[i] = date_cell(values[i])
            ws.append(values)
            n += 1
    if callable(totals):
        totals = totals()
    if totals is not None:
        row = []
        for col, value in zip(columns, totals):
            if col.kind == "money" and value is not None:
                cell = money_cell(_money(value))
                cell.font = bold
            else:
                cell = WriteOnlyCell(ws, value=value)
                cell.font = bold
            row.append(cell)
        ws.append(row)
    info = wb.create_sheet(about_sheet[:31])
    for key, value in about:
        info.append([key, value])
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    wb.save(out)
    out.seek(0)
    return Built(out, n, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _styled_cell_maker(ws, number_format: str):
    def make(value):
        cell = WriteOnlyCell(ws, value=value)
        if value is not None:
            cell.number_format = number_format
        return cell

    return make


def _letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def _text(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "money":
        return f"{_money(value):.2f}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def csv_file(columns: list[Column], batches: Iterable[list], totals) -> Built:
    """UTF-8 with a byte-order mark (Excel takes a BOM-less file for the local code page
    and garbles Chinese), a header row, the rows and the totals row."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow([c.header for c in columns])
    n = 0
    for batch in batches:
        for item in batch:
            writer.writerow([_text(c.value(item), c.kind) for c in columns])
            n += 1
    if callable(totals):
        totals = totals()
    if totals is not None:
        writer.writerow([_text(v, c.kind) for c, v in zip(columns, totals)])
    text.flush()
    text.detach()  # leave `out` open for the response
    out.seek(0)
    return Built(out, n, "text/csv")


def geojson(points: Iterator[tuple], tz) -> Built:
    """A FeatureCollection of visit points ([lon, lat], RFC 7946) with what a map needs
    and nothing personal: case number, kind, local date, states and open flags."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    out.write(b'{"type":"FeatureCollection","features":[')
    n = 0
    for visit_id, lon, lat, number, kind, started_at, state, case_state, flags in points:
        feature = {
            "type": "Feature",
            "id": str(visit_id),
            "geometry": {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]},
            "properties": {"case_number": number, "kind": kind, "date": started_at.astimezone(tz).date().isoformat(),
                           "state": state, "case_state": case_state, "flags": int(flags)},
        }
        out.write((b"," if n else b"") + json.dumps(feature, ensure_ascii=False, separators=(",", ":")).encode())
        n += 1
    out.write(b"]}")
    out.seek(0)
    return Built(out, n, "application/geo+json")
