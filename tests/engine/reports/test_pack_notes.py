"""The board pack's notes sheet, the first the workbook opens on: what could make one of its figures misread (a
period to date, prices changed since the last reprice, unpriced usage, contracts left out, revenue in no product's
row) goes with the file, not only with the command that wrote it. `marginbot report` on real SQLite files (and
PostgreSQL when it is set): the hand-built book of tests/bot/dataset.py, and the bridge's clean book.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.grammar import parse
from bot.handlers.report import report as slack_report
from config.settings import Settings
from engine.reports.pack import board_pack
from engine.runtime import Runtime
from engine.store.meta import STALE_PRICES
from tests.bot.cli.support import cli
from tests.bot.dataset import load_dataset
from tests.bot.test_stored_contract_values import corrupt
from tests.conftest import NOW
from tests.engine.reports.bridge_books import BASE, load

NO_NOTES = (
    "No notices: the period is over, every event in it is priced, every contract was read and all of its revenue "
    "is in a product's row."
)
# October in the hand-built book: 10 events, one of a model with no price anywhere; September's flat fees of
# Globex and Initech ($1,500.00) have no usage to be split by, so they are in no product's row.
UNPRICED = (
    "Unpriced usage of mystery/mystery-1: 1 of 10 events (10.0%) have no price, so COGS is understated until they "
    "are priced; the Unpriced usage sheet lists them by model."
)
UNALLOCATED_BEFORE = (
    "The previous period's product rows leave out $1,500.00 of its revenue: contracts for every product or invoice "
    "lines naming no product, with no usage to split them by; the Products sheet's previous revenue adds up to less "
    "than the Summary's."
)


@pytest.fixture
def book(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_dataset(runtime, tmp_path / "book")
    return runtime


def xlsx_notes(path: Path) -> list[str]:
    """The notes of a written workbook, after checking it opens on them."""
    wb = load_workbook(path)
    assert wb.sheetnames[0] == "Notes" and wb.active is not None and wb.active.title == "Notes"
    rows = list(wb["Notes"].iter_rows(values_only=True))
    assert rows[0] == ("note",)
    assert wb.sheetnames[1:] == ["Summary", "Customers", "Products", "Bridges", "Spread", "Unpriced usage",
                                 "Price sources"]  # fmt: skip
    return [str(row[0]) for row in rows[1:]]


def csv_notes(folder: Path) -> list[str]:
    with (folder / "notes.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["note"]
    return [row[0] for row in rows[1:]]


def report(rt: Runtime, capsys: pytest.CaptureFixture[str], out: Path | str, *args: str) -> str:
    code, stdout, err = cli(rt, capsys, "report", *args, "--out", str(out))
    assert code == 0 and "written to" in stdout and err == "", err
    return stdout


def test_a_period_to_date_says_so_and_gives_its_run_rate_as_a_projection(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # As of Nov 15 2026 (tests/conftest.py NOW), November is counted through Nov 14.
    report(book, capsys, tmp_path / "pack.xlsx", "--period", "2026-11")
    notes = xlsx_notes(tmp_path / "pack.xlsx")
    assert notes[0] == (
        "2026-11, month to date (through Nov 14): the figures count 2026-11-01 to 2026-11-14 only, not the whole "
        "month, and are compared with 2026-10-01 to 2026-10-14, the same 14 days of 2026-10; they will change until "
        "the month is over."
    )
    # The three flat fees accrue by day: the whole month's run rate is exactly their monthly $3,500.00.
    assert notes[1].startswith(
        "Run rate (a projection, not actuals): all 30 days of 2026-11, COGS and metered usage at the daily rate of "
        "the first 14 days, fees and seats by contract dates: revenue $3,500.00, COGS $0.00, gross profit $3,500.00, "
        "gross margin 100.0%"
    )
    assert NO_NOTES not in notes
    summary = {row[0]: row[1] for row in load_workbook(tmp_path / "pack.xlsx")["Summary"].iter_rows(values_only=True)}
    assert summary["period"] == "2026-11, to date (2026-11-01 to 2026-11-14)"  # the summary's own label, unchanged


def test_prices_changed_since_the_last_reprice_are_in_the_notes_of_both_forms_until_reprice(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report(book, capsys, tmp_path / "before.xlsx", "--period", "2026-10")
    assert STALE_PRICES not in xlsx_notes(tmp_path / "before.xlsx")
    prices = book.settings.prices_file
    prices.write_text(
        prices.read_text().replace("output_per_mtok = 0.40", "output_per_mtok = 0.50")
    )  # not yet repriced
    changed = Runtime(book.settings, now_override=NOW)  # a new process reads the new file
    out = report(changed, capsys, tmp_path / "pack.xlsx", "--period", "2026-10")
    assert out.rstrip().endswith(f"Note: {STALE_PRICES}")  # the command still says it too
    assert STALE_PRICES in xlsx_notes(tmp_path / "pack.xlsx")
    out = report(changed, capsys, str(tmp_path / "pack") + "/", "--period", "2026-10")
    assert "8 .csv files" in out and STALE_PRICES in csv_notes(tmp_path / "pack")
    assert cli(changed, capsys, "reprice")[0] == 0
    report(changed, capsys, tmp_path / "after.xlsx", "--period", "2026-10")
    assert STALE_PRICES not in xlsx_notes(tmp_path / "after.xlsx")


def test_unpriced_usage_gives_its_share_and_points_to_its_sheet(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report(book, capsys, tmp_path / "pack.xlsx", "--period", "2026-10")
    assert xlsx_notes(tmp_path / "pack.xlsx") == [UNPRICED, UNALLOCATED_BEFORE]  # October is over: not to date
    # The portfolio table says it alike, not "Plus $0.00 of revenue in no product's row".
    code, out, _ = cli(book, capsys, "portfolio", "--period", "2026-10")
    assert code == 0 and "The previous period's product rows leave out $1,500.00 of its revenue" in out
    assert "Plus $0.00" not in out
    unpriced = list(load_workbook(tmp_path / "pack.xlsx")["Unpriced usage"].iter_rows(min_row=2, values_only=True))
    assert unpriced == [("mystery", "mystery-1", 1, 1)]


def test_contracts_left_out_and_revenue_in_no_products_row_are_said_in_words(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cid = corrupt(book, "globex", "platform_fee_usd = 'NaN'")
    report(book, capsys, tmp_path / "pack.xlsx", "--period", "2026-09")
    assert xlsx_notes(tmp_path / "pack.xlsx") == [
        f"contract {cid} of globex (every product) left out: platform_fee_usd is not a number ('NaN'); revenue is "
        "understated until it is re-imported with `marginbot import contracts`.",
        # September: Initech's $500.00 has no usage to split it by (Globex's fee is left out, Acme used agent);
        # August, with no usage at all: Acme's $2,000.00 and Initech's $500.00 (Globex's is left out there too).
        "$500.00 of revenue is in no product's row (previous $2,500.00): contracts for every product or invoice lines "
        "naming no product, with no usage to split them by; the Summary's revenue includes it, so the Products "
        "sheet's revenue adds up to less.",
    ]


def test_a_clean_closed_period_has_one_row_saying_there_is_nothing_to_note(
    settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # One customer on a usage plan, every event priced from the book's own price file, both months over.
    rt = load(settings, tmp_path, september=BASE, october=BASE)
    report(rt, capsys, tmp_path / "pack.xlsx", "--period", "2026-10")
    assert xlsx_notes(tmp_path / "pack.xlsx") == [NO_NOTES]
    out = report(rt, capsys, str(tmp_path / "pack") + "/", "--period", "2026-10")
    assert "8 .csv files" in out and csv_notes(tmp_path / "pack") == [NO_NOTES]


def test_board_pack_puts_the_notices_it_is_given_first_and_needs_none(book: Runtime) -> None:
    period = book.period("2026-10")
    with book.connect() as conn:
        plain = board_pack(conn, period, prices=book.prices, timezone="UTC", thresholds=book.thresholds)
        noted = board_pack(
            conn, period, prices=book.prices, timezone="UTC", thresholds=book.thresholds, notices=["a notice"]
        )
    assert plain.sheets[0].name == "notes" and plain.sheet("notes").rows == [[UNPRICED], [UNALLOCATED_BEFORE]]
    assert noted.sheet("notes").rows == [["a notice"], [UNPRICED], [UNALLOCATED_BEFORE]]
    assert [s.name for s in noted.sheets[1:]] == [s.name for s in plain.sheets[1:]] == [
        "summary", "customers", "products", "bridges", "spread", "unpriced", "price_sources"
    ]  # fmt: skip


def test_the_slack_handler_puts_the_notices_in_the_workbook_it_uploads(book: Runtime) -> None:
    prices = book.settings.prices_file
    prices.write_text(
        prices.read_text().replace("output_per_mtok = 0.40", "output_per_mtok = 0.50")
    )  # not yet repriced
    changed = Runtime(book.settings, now_override=NOW)
    answer = slack_report(changed, parse("report 2026-10"), NOW)
    [upload] = answer.files
    notes = [row[0] for row in load_workbook(io.BytesIO(upload.content))["Notes"].iter_rows(values_only=True)]
    assert notes == ["note", STALE_PRICES, UNPRICED, UNALLOCATED_BEFORE]


@pytest.mark.parametrize("typed", ["report", "report 30d", "report 7d", "report 2026-10"])
def test_the_hint_to_share_the_pack_is_a_command_that_works(book: Runtime, typed: str) -> None:
    import re

    # It quoted the period's label, "/margin report last 30 days share", which answers with the help.
    answer = slack_report(book, parse(typed), NOW)
    [hint] = re.findall(r"`/margin (report[^`]*)`", json.dumps(answer.blocks))
    assert parse(hint).kind == "report" and parse(hint).share and hint == f"{typed} share"
    shared = slack_report(book, parse(f"{typed} share"), NOW)
    assert "posts it in this channel" not in json.dumps(shared.blocks)  # it is in the channel already


def test_the_bridges_sheet_carries_customers_begun_or_gone_by_their_gross_profit_move(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Ranked by margin points alone, a churned $500 fee and a new $200 one, the two biggest moves in the book, had
    # no bridge: neither has a margin in both months. Five steady customers move by points; the two join them.
    contracts = ["customer,product,plan,start,end,platform_fee_usd"]
    contracts += [f"steady{i},,flat,2026-01-01,,{100 + i}" for i in range(6)]
    contracts += ["gone,,flat,2026-01-01,2026-09-30,500", "new,,flat,2026-10-01,,200"]
    usage = ["event_id,ts,customer,product,provider,model,cost_usd"]
    usage += [f"s{i}a,2026-09-10T12:00:00Z,steady{i},chat,openai,gpt-4o,{i + 1}" for i in range(6)]
    usage += [f"s{i}b,2026-10-10T12:00:00Z,steady{i},chat,openai,gpt-4o,{2 * i + 3}" for i in range(6)]
    usage += ["g1,2026-09-10T12:00:00Z,gone,chat,openai,gpt-4o,50", "n1,2026-10-10T12:00:00Z,new,chat,openai,gpt-4o,20"]
    (tmp_path / "contracts.csv").write_text("\n".join(contracts) + "\n")
    (tmp_path / "usage.csv").write_text("\n".join(usage) + "\n")
    assert cli(runtime, capsys, "import", "contracts", str(tmp_path / "contracts.csv"))[0] == 0
    assert cli(runtime, capsys, "import", "usage", str(tmp_path / "usage.csv"))[0] == 0
    report(runtime, capsys, tmp_path / "pack", "--period", "2026-10")
    with (tmp_path / "pack" / "bridges.csv").open(newline="") as handle:
        subjects = list(dict.fromkeys(row["subject"] for row in csv.DictReader(handle)))
    # steady{i}'s COGS rose by i + 2 on a fee of 100 + i: steady0 moved least (2.0 pts), steady5 most (6.7 pts).
    # Then gone (-$450.00 of gross profit) and new (+$180.00).
    assert subjects == ["Portfolio", "steady5", "steady4", "steady3", "steady2", "steady1", "gone", "new"]
