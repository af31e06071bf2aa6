"""Names from the data are text in every file meant for a spreadsheet: a customer called `=HYPERLINK(...)` (usage
metadata from a gateway) must open as that text, not run as a formula, in `--csv`, the board pack's CSV sheets and
its workbook."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.render.csv_table import inert
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.cli.support import cli

EVIL = ['=HYPERLINK("http://x.invalid";"click")', "=cmd|calc!A1", "@SUM(1)", "+1+2", "-2+3"]


def _book(runtime: Runtime, tmp_path: Path) -> None:
    rows = "".join(f'e{i},2026-10-{10 + i}T12:00:00Z,"{c.replace(chr(34), chr(34) * 2)}",chat,2\n' for i, c in
                   enumerate(EVIL))  # fmt: skip
    (tmp_path / "u.csv").write_text("event_id,ts,customer,product,cost_usd\n" + rows)
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")


def test_inert_quotes_text_that_starts_like_a_formula_and_leaves_numbers() -> None:
    assert [inert(v) for v in ("=1+1", "@x", "+x", "-x", "\tx", "-12.50", "-3", "acme", 4.5, None)] == [
        "'=1+1", "'@x", "'+x", "'-x", "'\tx", "-12.50", "-3", "acme", 4.5, None,
    ]  # fmt: skip


def test_portfolio_csv_writes_formula_looking_names_as_text(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _book(runtime, tmp_path)
    code, out, _ = cli(runtime, capsys, "portfolio", "--period", "2026-10", "--csv")
    assert code == 0
    cells = [cell for row in csv.reader(io.StringIO(out)) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "@", "+")) or (c.startswith("-") and not c[1:2].isdigit())]
    assert "'=cmd|calc!A1" in cells and "'@SUM(1)" in cells


def test_the_board_pack_keeps_formula_looking_names_as_text(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _book(runtime, tmp_path)
    assert cli(runtime, capsys, "report", "--period", "2026-10", "--out", str(tmp_path / "pack.xlsx"))[0] == 0
    book = load_workbook(tmp_path / "pack.xlsx")
    texts = [c.value for ws in book for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    formulas = [c.coordinate for ws in book for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == [] and "=cmd|calc!A1" in texts
    assert cli(runtime, capsys, "report", "--period", "2026-10", "--out", str(tmp_path / "pack") + "/")[0] == 0
    sheets = "".join(path.read_text() for path in (tmp_path / "pack").glob("*.csv"))
    assert "'=cmd|calc!A1" in sheets and ",=cmd" not in sheets and "\n=cmd" not in sheets
