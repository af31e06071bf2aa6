"""`marginbot why` and `marginbot report` on the hand-built book of tests/bot/dataset.py: the bridge's JSON adds
up, and the board pack opens in a spreadsheet with the figures of `marginbot portfolio --json`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from config.settings import Settings
from engine.runtime import Runtime
from engine.store.meta import STALE_PRICES
from tests.bot.cli.support import cli
from tests.conftest import NOW
from tests.engine.reports.bridge_books import BASE, load, load_rows, migrating
from tests.engine.reports.test_bridge import PRICE_DOUBLED

AFTER_Q4 = "2027-01-02T12:00:00Z"


def cents(values: list[float]) -> int:
    return sum(round(v * 100) for v in values)


@pytest.mark.parametrize("subject", [["acme"], ["product", "agent"], ["portfolio"]])
def test_why_json_parts_add_up_to_the_change(
    book: Runtime, capsys: pytest.CaptureFixture[str], subject: list[str]
) -> None:
    code, out, _ = cli(book, capsys, "why", *subject, "--period", "2026-10", "--json")
    assert code == 0
    d = json.loads(out)
    parts = d["parts"]
    assert cents([p["change_usd"] for p in parts if p["side"] == "revenue"]) == round(d["revenue_usd"]["change"] * 100)
    assert cents([p["change_usd"] for p in parts if p["side"] == "cogs"]) == round(d["cogs_usd"]["change"] * 100)
    assert cents([p["gross_profit_usd"] for p in parts]) == round(d["gross_profit_usd"]["change"] * 100)
    assert cents([p["margin_pts"] for p in parts]) == round(d["gross_margin_pct"]["change_pts"] * 100)
    assert len(d["contributors"]) == 3 and all("words" in c and "before" in c for c in d["contributors"])


@pytest.mark.parametrize("period", ["2026-11", "2026-Q4", "2026-10"])
def test_why_has_the_figures_of_portfolio_json_for_a_period_to_date_too(
    book: Runtime, capsys: pytest.CaptureFixture[str], period: str
) -> None:
    # As of Nov 15, November to date (Nov 1–14) is compared with Oct 1–14 and the fourth quarter to date with Jul 1 –
    # Aug 14: the book's usage on the days between (Oct 17 and 24; September) belongs to neither.
    _, out, _ = cli(book, capsys, "portfolio", "--period", period, "--json")
    portfolio = json.loads(out)
    _, out, _ = cli(book, capsys, "why", "portfolio", "--period", period, "--json")
    why = json.loads(out)
    assert why["previous_period"]["end"] < why["period"]["start"]
    assert why["revenue_usd"]["previous"] == portfolio["previous"]["revenue_usd"]
    assert why["cogs_usd"]["previous"] == portfolio["previous"]["cogs_usd"]
    assert (why["revenue_usd"]["current"], why["cogs_usd"]["current"]) == (
        portfolio["revenue_usd"],
        portfolio["cogs_usd"],
    )
    assert why["gross_margin_pct"]["change_pts"] == portfolio["change"]["gross_margin_pts"]


def test_why_json_for_acme_names_its_rows(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(book, capsys, "why", "acme", "--period", "2026-10", "--json")
    d = json.loads(out)
    assert d["cogs_usd"] == {"previous": 300.0, "current": 1484.73, "change": 1184.73}
    [claude] = [c for c in d["cells"] if c["model"] == "claude-sonnet-4-5"]
    assert claude["before"]["requests"] == 0 and claude["after"]["requests"] == 3
    assert claude["pieces_usd"]["volume_and_mix"] == 563.73 and claude["after"]["cogs_usd"] == 563.73


def test_why_text_and_its_mistakes(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(book, capsys, "why", "acme", "--period", "2026-Q4")
    assert code == 0 and "Why Acme Corp moved · 2026-Q4" in out and "2026-Q3" in out
    code, _, err = cli(book, capsys, "why", "acme", "2026-10")
    assert code == 1 and "--period 2026-10" in err
    code, _, err = cli(book, capsys, "why", "nobody", "--period", "2026-10")
    assert code == 1 and "no customer 'nobody'" in err


def test_the_workbook_has_the_figures_of_portfolio_json(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, out, _ = cli(book, capsys, "portfolio", "--period", "2026-10", "--json")
    portfolio = json.loads(out)
    code, out, _ = cli(book, capsys, "report", "--period", "2026-10", "--out", str(tmp_path / "pack.xlsx"))
    assert code == 0 and "written to" in out
    wb = load_workbook(tmp_path / "pack.xlsx")
    assert wb.sheetnames == ["Notes", "Summary", "Customers", "Products", "Bridges", "Spread", "Unpriced usage",
                             "Price sources"]  # fmt: skip
    summary = {row[0]: row[1] for row in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    for key in ("revenue_usd", "cogs_usd", "gross_profit_usd", "gross_margin_pct", "status", "events"):
        assert summary[key] == portfolio[key], key
    for sheet, key in (("Customers", "customer"), ("Products", "product")):
        rows = list(wb[sheet].iter_rows(values_only=True))
        header = rows[0]
        table = [dict(zip(header, row, strict=True)) for row in rows[1:]]
        assert [r[key] for r in table] == [r[key] for r in portfolio[f"{key}s"]]
        for got, want in zip(table, portfolio[f"{key}s"], strict=True):
            for column in ("revenue_usd", "cogs_usd", "gross_profit_usd", "gross_margin_pct", "status",
                           "unpriced_events"):  # fmt: skip
                assert got[column] == want[column], (sheet, got[key], column)
            assert got["previous_gross_margin_pct"] == want["previous"]["gross_margin_pct"]
            assert got["change_margin_pts"] == want["change"]["gross_margin_pts"]
    assert wb["Customers"]["E2"].number_format == "#,##0.00"  # revenue is money to the cent
    bands = {row[0]: row[2] for row in wb["Customers"].iter_rows(min_row=2, values_only=True)}
    assert bands == {"acme": "below 40%", "initech": "40% to 55%", "globex": "55% or more"}
    unpriced = list(wb["Unpriced usage"].iter_rows(min_row=2, values_only=True))
    assert unpriced == [("mystery", "mystery-1", 1, 1)]
    bridges = [row for row in wb["Bridges"].iter_rows(min_row=2, values_only=True)]
    assert {row[0] for row in bridges} >= {"Portfolio", "Acme Corp"}


def test_a_quarter_pack_as_a_csv_directory(book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # As of January 2027 (the quarter is over: a quarter still running is counted to its last complete day).
    code, out, _ = cli(
        book, capsys, "report", "--period", "2026-Q4", "--as-of", AFTER_Q4, "--out", str(tmp_path / "pack") + "/"
    )
    assert code == 0 and "8 .csv files" in out
    with (tmp_path / "pack" / "summary.csv").open() as handle:
        summary = {row["figure"]: row["value"] for row in csv.DictReader(handle)}
    assert summary["period"] == "2026-Q4 (2026-10-01 to 2026-12-31)" and summary["revenue_usd"] == "10500.00"
    assert sorted(p.name for p in (tmp_path / "pack").iterdir())[0] == "bridges.csv"
    code, _, err = cli(book, capsys, "report", "--period", "2026-10", "--out", str(tmp_path / "pack.pdf"))
    assert code == 1 and "an .xlsx file or a directory" in err


@pytest.mark.parametrize("command", [["margin", "acme"], ["product", "agent"], ["portfolio"]])
def test_quarters_work_for_every_report_and_carry_the_weekly_trend(
    book: Runtime, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, _ = cli(book, capsys, *command, "--period", "2026-Q4", "--as-of", AFTER_Q4, "--json")
    d = json.loads(out)
    assert code == 0 and {k: d["period"][k] for k in ("label", "start", "end", "complete")} == {
        "label": "2026-Q4",
        "start": "2026-10-01",
        "end": "2026-12-31",
        "complete": True,
    }
    assert len(d["weekly"]) == 12 and d["weekly"][-1]["week"] == "2026-W52"
    assert set(d["weekly"][0]) == {"week", "start", "end", "revenue_usd", "cogs_usd", "gross_margin_pct"}
    code, out, _ = cli(book, capsys, *command, "--period", "2026-Q4", "--as-of", AFTER_Q4)
    assert "Weekly margin" in out and "12 weeks to 2026-W52" in out


def test_why_and_report_say_the_prices_changed_since_the_last_reprice(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = cli(book, capsys, "why", "acme", "--period", "2026-10")
    assert code == 0 and STALE_PRICES not in out
    # Any change of a price leaves the stored costs priced with the file before it.
    prices = book.settings.prices_file
    prices.write_text(prices.read_text().replace("output_per_mtok = 0.40", "output_per_mtok = 0.50"))
    changed = Runtime(book.settings, now_override=NOW)  # a new process reads the new file
    code, out, err = cli(changed, capsys, "why", "acme", "--period", "2026-10")
    assert code == 0 and out.rstrip().endswith(f"Note: {STALE_PRICES}") and err == ""
    code, out, err = cli(changed, capsys, "why", "acme", "--period", "2026-10", "--json")
    assert json.loads(out)["name"] == "Acme Corp" and err == f"marginbot: {STALE_PRICES}\n"  # stdout stays JSON
    for out_arg in (str(tmp_path / "pack.xlsx"), str(tmp_path / "pack") + "/"):
        code, out, err = cli(changed, capsys, "report", "--period", "2026-10", "--out", out_arg)
        assert code == 0 and "written to" in out and out.rstrip().endswith(f"Note: {STALE_PRICES}") and err == ""


def test_why_shows_the_margin_change_of_margin(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 90.666…% → 95.333…% (tests/engine/reports/test_bridge.py): 4.666… points, not 95.33 − 90.67 = 4.66.
    rt = load(settings, tmp_path, september=BASE, october=BASE, contracts=PRICE_DOUBLED)
    _, out, _ = cli(rt, capsys, "margin", "acme", "--period", "2026-10", "--json")
    margin = json.loads(out)
    _, out, _ = cli(rt, capsys, "why", "acme", "--period", "2026-10", "--json")
    why = json.loads(out)
    assert why["gross_margin_pct"] == {"previous": 90.67, "current": 95.33, "change_pts": 4.67}
    assert margin["change"]["gross_margin_pts"] == why["gross_margin_pct"]["change_pts"]
    assert [p["margin_pts"] for p in why["parts"] if p["margin_pts"]] == [4.67]
    _, out, _ = cli(rt, capsys, "margin", "acme", "--period", "2026-10")
    assert "(previous 90.7%, +4.7 pts)" in out
    _, out, _ = cli(rt, capsys, "why", "acme", "--period", "2026-10")
    assert (
        "Gross margin 90.7% → 95.3% (+4.7 pts)" in out
        and "contract changes (terms, days in force)  +$180.00 · +4.7 pts margin" in out
    )


def test_why_says_which_part_holds_the_points_of_a_step_without_revenue(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # tests/engine/reports/bridge_books.py `migrating`: 90% → 95%; metered volume leaves no revenue at its step.
    rt = migrating(settings, tmp_path)
    _, out, _ = cli(rt, capsys, "why", "mig", "--period", "2026-10", "--json")
    d = json.loads(out)
    parts = {p["part"]: p for p in d["parts"]}
    assert parts["metered_volume"]["margin_pts"] is None and parts["metered_volume"]["change_usd"] == -200.0
    assert parts["contract_changes"]["margin_pts"] == 5.0 == d["gross_margin_pct"]["change_pts"]
    assert parts["contract_changes"]["margin_pts_carried_from"] == ["metered_volume"]
    assert cents([p["margin_pts"] for p in d["parts"] if p["margin_pts"] is not None]) == 500
    note = "metered volume leaves no revenue at its step"
    assert any(n.startswith(note) for n in d["notes"])
    _, out, _ = cli(rt, capsys, "why", "mig", "--period", "2026-10")
    assert "metered volume  -$200.00 · no revenue at this step: its points are under contract changes" in out
    assert "contract changes (terms, days in force)  +$400.00 · +5.0 pts margin (includes metered volume's)" in out
    assert note in out


def test_why_says_the_bridge_is_in_dollars_only_without_revenue_in_a_period(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = load(settings, tmp_path, september=[], october=BASE)
    _, out, _ = cli(rt, capsys, "why", "acme", "--period", "2026-10", "--json")
    d = json.loads(out)
    assert all(p["margin_pts"] is None for p in d["parts"]) and d["gross_margin_pct"]["change_pts"] is None
    note = "no revenue in the previous period, so no margin to bridge in points: dollars only"
    assert note in d["notes"]
    _, out, _ = cli(rt, capsys, "why", "acme", "--period", "2026-10")
    assert note in out


def test_the_packs_bridges_say_which_part_holds_the_points_of_a_step_without_revenue(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = migrating(settings, tmp_path)
    code, _, err = cli(rt, capsys, "report", "--period", "2026-10", "--out", str(tmp_path / "pack") + "/")
    assert code == 0, err
    with (tmp_path / "pack" / "bridges.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["subject"] == "Migrator"]
    parts = {r["part"]: r for r in rows}
    assert (parts["metered_volume"]["margin_pts"], parts["contract_changes"]["of"]) == ("", "metered_volume")
    notes = [r["label"] for r in rows if r["part"] == "note"]
    assert any(n.startswith("metered volume leaves no revenue at its step") for n in notes)


def test_why_says_under_a_cent_where_an_amount_rounds_to_none(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # $0.000001 a request: 3 requests in September (revenue $0.000003, COGS 100 × 1/M + 10 × 3/M = $0.00013), 4 in
    # October (revenue $0.000004, COGS 200 × 1/M + 10 × 3/M = $0.00023). It read "Revenue $0.00 → $0.00", "COGS
    # $0.00 → $0.00", "+$0.00" and "no change: metered volume", where none of them is nothing.
    contracts: list[dict[str, object]] = [{"customer": "eps", "customer_name": "Epsilon", "plan": "usage",
                                           "start": "2026-01-01", "unit": "request", "unit_price_usd": "0.000001"}]  # fmt: skip
    usage: list[dict[str, object]] = [
        {"event_id": m, "ts": f"2026-{m}-10T12:00:00Z", "customer": "eps", "product": "chat", "feature": "ask",
         "provider": "acme", "model": "small", "requests": n, "input_tokens": tokens, "output_tokens": 10}
        for m, n, tokens in (("09", 3, 100), ("10", 4, 200))
    ]  # fmt: skip
    rt = load_rows(settings, tmp_path, usage=usage, contracts=contracts)
    code, out, _ = cli(rt, capsys, "why", "eps", "--period", "2026-10")
    assert code == 0
    assert "Gross profit -<$0.01 → -<$0.01 (-<$0.01)" in out
    assert "<$0.01 → <$0.01                     <$0.01 → <$0.01" in out
    assert "+<$0.01                             +<$0.01" in out
    assert "Revenue +<$0.01 (adds to gross profit)" in out and "COGS +<$0.01 (takes from gross profit)" in out
    assert "metered volume  +<$0.01" in out and "volume (requests)  +<$0.01" in out
    assert "$0.00" not in out
    # --json keeps its numbers to the cent, adding up as before.
    _, out, _ = cli(rt, capsys, "why", "eps", "--period", "2026-10", "--json")
    d = json.loads(out)
    assert d["revenue_usd"] == {"previous": 0.0, "current": 0.0, "change": 0.0}
