"""The board pack written out: an .xlsx workbook (openpyxl), or a directory of .csv files, one per sheet.

Money and percentages are numbers shown with two decimals (so a spreadsheet sums and sorts them); the values are
the pack's own, already rounded once by the engine.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bot.render.csv_table import inert
from engine.reports.pack import BoardPack, Sheet

NUMBER_FORMAT = "#,##0.00"
TITLES = {
    "notes": "Notes",
    "summary": "Summary",
    "customers": "Customers",
    "products": "Products",
    "bridges": "Bridges",
    "spread": "Spread",
    "unpriced": "Unpriced usage",
    "price_sources": "Price sources",
}


def xlsx_bytes(pack: BoardPack) -> bytes:
    """The pack as an .xlsx workbook, one sheet per table, in memory (what Slack gets)."""
    from openpyxl import Workbook  # only the board pack needs it
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for sheet in pack.sheets:
        ws = book.create_sheet(TITLES.get(sheet.name, sheet.name)[:31])
        ws.append(sheet.columns)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            ws.append(row)
        for i, column in enumerate(sheet.columns, start=1):
            widest = max([len(str(column)), *(len(str(r[i - 1])) for r in sheet.rows if r[i - 1] is not None)])
            ws.column_dimensions[ws.cell(1, i).column_letter].width = min(60, widest + 2)
        for cells in ws.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, float):  # money and percentages, already rounded to 0.01
                    cell.number_format = NUMBER_FORMAT
                elif cell.data_type == "f":  # openpyxl takes text starting with "=" for a formula: names are text
                    cell.data_type = "s"
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_text(sheet: Sheet) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(sheet.columns)
    for row in sheet.rows:
        # Money and percentages are the only fractions: they keep their two decimals ("10500.00").
        writer.writerow(["" if v is None else f"{v:.2f}" if isinstance(v, float) else inert(v) for v in row])
    return out.getvalue()


def write_pack(pack: BoardPack, out: Path) -> list[Path]:
    """Write `pack` to `out`: an .xlsx file, or a directory of .csv files (created if missing). Returns the files."""
    if out.suffix.lower() == ".xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(xlsx_bytes(pack))
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for sheet in pack.sheets:
        path = out / f"{sheet.name}.csv"
        path.write_text(csv_text(sheet), encoding="utf-8")
        written.append(path)
    return written
