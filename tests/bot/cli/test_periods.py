"""Periods through the command line, on a hand-computed book: a month in progress is counted to its last complete
day and equals `--days N` of the same days to the cent; a finished month is complete; a future one is refused.

The book (every figure by hand; NOW for these tests is 2026-11-27 10:00 UTC, so the last complete day is Nov 26):

  acme     flat $3,000/mo              COGS $40/day in October, $70/day Nov 1–26, $500 on each of Nov 27 and 28
  globex   usage $0.05/request         100 requests and $2.00 of COGS a day, Nov 1–26
  initech  hybrid $600/mo, 3,000       200 requests and $10.00 of COGS a day, Nov 1–26
           requests included, $0.02 over

  November to date (26 of 30 days):
    acme     revenue 3000 × 26/30 = $2,600.00   COGS 26 × 70 = $1,820.00   margin 30.0%
    globex   revenue 2,600 × 0.05 = $130.00     COGS $52.00                margin 60.0%
    initech  fee 600 × 26/30 = $520.00; 5,200 requests − 3,000 × 26/30 = 2,600 over × 0.02 = $52.00
             revenue $572.00                    COGS $260.00               margin 54.5454…%
    portfolio revenue $3,302.00, COGS $2,132.00, margin 35.4330…%
  compared with October 1–26: acme revenue 3000 × 26/31 = $2,516.129… → $2,516.13, COGS 26 × 40 = $1,040.00
  run rate of acme's November: revenue $2,600 × 30/26 = $3,000.00, COGS $1,820 × 30/26 = $2,100.00, margin 30.0%
  2026-Q4 to date (Oct 1 – Nov 26, 57 days): acme revenue 3000 + 2600 = $5,600.00, COGS 31 × 40 + 1,820 = $3,060.00
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.answer import answer, answer_command
from bot.cli.common import as_of, period
from bot.cli.main import main
from bot.grammar import parse
from config.settings import Settings
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text

AS_OF = "2026-11-27T10:00:00Z"
CONTRACTS = [
    {"customer": "acme", "customer_name": "Acme Corp", "plan": "flat", "start": "2026-01-01",
     "platform_fee_usd": "3000"},
    {"customer": "globex", "customer_name": "Globex", "plan": "usage", "start": "2026-01-01", "unit": "request",
     "unit_price_usd": "0.05"},
    {"customer": "initech", "customer_name": "Initech", "plan": "hybrid", "start": "2026-01-01",
     "platform_fee_usd": "600", "included_units": "3000", "unit": "request", "unit_price_usd": "0.02"},
]  # fmt: skip


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def write_book(folder: Path) -> tuple[Path, Path]:
    rows: list[dict[str, str]] = []

    def add(customer: str, product: str, day: date, cost: str, requests: int = 1, hour: int = 12) -> None:
        rows.append(
            {
                "event_id": f"e{len(rows) + 1}",
                "ts": f"{day.isoformat()}T{hour:02d}:00:00Z",
                "customer": customer,
                "product": product,
                "feature": "chat",
                "provider": "openai",
                "model": "gpt-4o",
                "requests": str(requests),
                "cost_usd": cost,
            }
        )

    for day in _days(date(2026, 10, 1), date(2026, 10, 31)):
        add("acme", "agent", day, "40.00")
    for day in _days(date(2026, 11, 1), date(2026, 11, 26)):
        add("acme", "agent", day, "70.00")
        add("globex", "assist", day, "2.00", requests=100)
        add("initech", "search", day, "10.00", requests=200)
    for day in (date(2026, 11, 27), date(2026, 11, 28)):  # today and later: never counted as of Nov 27
        add("acme", "agent", day, "500.00", hour=1)
    folder.mkdir(parents=True, exist_ok=True)
    usage, contracts = folder / "usage.csv", folder / "contracts.csv"
    with usage.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    columns = ["customer", "customer_name", "plan", "start", "platform_fee_usd", "included_units", "unit",
               "unit_price_usd"]  # fmt: skip
    with contracts.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(CONTRACTS)
    return usage, contracts


@pytest.fixture
def book(runtime: Runtime, tmp_path: Path) -> Runtime:
    usage, contracts = write_book(tmp_path / "book")
    import_contracts_file(runtime.engine, contracts)
    import_usage_file(runtime.engine, usage, prices=runtime.prices, timezone=runtime.settings.timezone)
    return runtime


def run(rt: Runtime, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--as-of", AS_OF], runtime=rt)
    out, err = capsys.readouterr()
    return code, out, err


def as_json(rt: Runtime, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code, out, err = run(rt, capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


FIGURES = ("revenue_usd", "cogs_usd", "gross_profit_usd", "gross_margin_pct")


@pytest.mark.parametrize(
    ("command", "figures"),
    [
        (["margin", "acme"], (2600.0, 1820.0, 780.0, 30.0)),
        (["margin", "Globex"], (130.0, 52.0, 78.0, 60.0)),
        (["margin", "initech"], (572.0, 260.0, 312.0, 54.55)),
        (["product", "search"], (572.0, 260.0, 312.0, 54.55)),
        (["portfolio"], (3302.0, 2132.0, 1170.0, 35.43)),
    ],
)
def test_a_month_in_progress_is_the_same_days_as_days_n_to_the_cent(
    book: Runtime, capsys: pytest.CaptureFixture[str], command: list[str], figures: tuple[float, ...]
) -> None:
    month = as_json(book, capsys, *command, "--period", "2026-11")
    days = as_json(book, capsys, *command, "--days", "26")
    assert tuple(month[k] for k in FIGURES) == tuple(days[k] for k in FIGURES) == figures
    assert (month["complete"], month["through"]) == (False, "2026-11-26")
    assert month["period"] == {
        "label": "2026-11",
        "start": "2026-11-01",
        "end": "2026-11-26",
        "complete": False,
        "through": "2026-11-26",
        "days": 26,
        "full_end": "2026-11-30",
        "full_days": 30,
    }
    assert (days["complete"], days["through"], days["projection"]) == (True, "2026-11-26", None)


def test_a_month_to_date_is_compared_with_the_same_days_of_the_month_before(
    book: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    d = as_json(book, capsys, "margin", "acme", "--period", "2026-11")
    previous = d["previous"]
    assert (previous["start"], previous["end"], previous["days"]) == ("2026-10-01", "2026-10-26", 26)
    assert (previous["revenue_usd"], previous["cogs_usd"]) == (2516.13, 1040.0)
    assert d["change"]["cogs_usd"] == 780.0  # 1,820 − 1,040: the same 26 days, not a full month against part of one


def test_a_month_to_date_carries_its_run_rate_labelled_as_a_projection(
    book: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    d = as_json(book, capsys, "margin", "acme", "--period", "2026-11")
    p = d["projection"]
    assert (p["revenue_usd"], p["cogs_usd"], p["gross_margin_pct"], p["days"], p["full_days"]) == (
        3000.0,
        2100.0,
        30.0,
        26,
        30,
    )
    assert "run rate, not actuals" in p["label"]
    code, out, _ = run(book, capsys, "margin", "acme", "--period", "2026-11")
    assert code == 0
    assert "Customer Acme Corp (acme) — 2026-11, month to date (through Nov 26)" in out
    assert "compared with 2026-10-01 to 2026-10-26 (the first 26 days of 2026-10)" in out
    run_rate = next(line for line in out.splitlines() if "Run rate (a projection, not actuals)" in line)
    assert "all 30 days of 2026-11" in run_rate
    # Its gross profit, as the actuals above it give theirs: the revenue shown less the COGS shown.
    assert "revenue $3,000.00, COGS $2,100.00, gross profit $900.00, gross margin 30.0%" in run_rate


def test_a_finished_month_is_complete_through_its_last_day(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    d = as_json(book, capsys, "margin", "acme", "--period", "2026-10")
    assert (d["complete"], d["through"], d["projection"]) == (True, "2026-10-31", None)
    assert (d["revenue_usd"], d["cogs_usd"]) == (3000.0, 1240.0)
    assert (d["previous"]["start"], d["previous"]["end"]) == ("2026-09-01", "2026-09-30")
    code, out, _ = run(book, capsys, "margin", "acme", "--period", "2026-10")
    assert code == 0 and "— 2026-10\n" in out and "to date" not in out and "Run rate" not in out


def test_a_quarter_in_progress_is_cut_the_same_way(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    quarter = as_json(book, capsys, "margin", "acme", "--period", "2026-Q4")
    days = as_json(book, capsys, "margin", "acme", "--days", "57")
    assert (quarter["revenue_usd"], quarter["cogs_usd"]) == (days["revenue_usd"], days["cogs_usd"]) == (5600.0, 3060.0)
    assert (quarter["complete"], quarter["through"]) == (False, "2026-11-26")
    assert (quarter["previous"]["start"], quarter["previous"]["end"]) == ("2026-07-01", "2026-08-26")  # 57 days


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["margin", "acme", "--period", "2026-12"], "2026-12 has not begun (it starts on 2026-12-01)"),
        (["portfolio", "--period", "2027-03"], "2027-03 has not begun"),
        (["product", "agent", "--period", "2030-01"], "2030-01 has not begun"),
        (["margin", "acme", "--period", "2027-Q1"], "2027-Q1 has not begun"),
    ],
)
def test_a_period_that_has_not_begun_is_refused_in_one_line(
    book: Runtime, capsys: pytest.CaptureFixture[str], argv: list[str], why: str
) -> None:
    code, out, err = run(book, capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and why in err and "last complete day is 2026-11-26" in err


def test_a_month_that_starts_today_has_no_complete_day_yet(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["margin", "acme", "--period", "2026-11", "--as-of", "2026-11-01T08:00:00Z"], runtime=book)
    _, err = capsys.readouterr()
    assert code == 2 and "2026-11 starts today: there is no complete day to report yet" in err


def test_as_of_inside_a_month_cuts_it_there(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["margin", "acme", "--period", "2026-10", "--as-of", "2026-10-11T23:00:00Z", "--json"], runtime=book)
    out, _ = capsys.readouterr()
    d = json.loads(out)
    # Oct 1–10: revenue 3000 × 10/31 = 967.741… → $967.74, COGS 10 × 40.
    assert (code, d["revenue_usd"], d["cogs_usd"], d["through"], d["complete"]) == (
        0,
        967.74,
        400.0,
        "2026-10-10",
        False,
    )


def test_slack_says_month_to_date_and_refuses_a_future_month_in_a_short_reply(book: Runtime) -> None:
    now = Runtime.now(book).replace(year=2026, month=11, day=27, hour=10)
    shown = all_text(answer(book, "/margin acme 2026-11", now=now).blocks)
    assert "Acme Corp · 2026-11, month to date (through Nov 26)" in shown
    assert "the same 26 days of 2026-10" in shown and "Run rate, not actuals" in shown
    assert "would be revenue $3,000.00 · COGS $2,100.00 · gross profit $900.00 · gross margin 30.0%" in shown
    refused = answer_command(book, parse("acme 2026-12"), now=now)
    assert not refused.ok and len(refused.answer.blocks) == 1
    assert "2026-12 has not begun" in refused.answer.text and "/margin product" not in refused.answer.text


@pytest.mark.parametrize(
    ("typed", "moment"),
    [
        ("2026-11-16", datetime(2026, 11, 16, 8, tzinfo=UTC)),  # midnight in Los Angeles (PST, UTC−8)
        ("2026-11-16T09:30", datetime(2026, 11, 16, 17, 30, tzinfo=UTC)),
        ("2026-07-01", datetime(2026, 7, 1, 7, tzinfo=UTC)),  # PDT, UTC−7
        ("2026-11-16T00:00:00Z", datetime(2026, 11, 16, tzinfo=UTC)),  # an offset typed is kept
        ("2026-11-16T00:00:00+01:00", datetime(2026, 11, 15, 23, tzinfo=UTC)),
        ("1794787200", datetime(2026, 11, 16, tzinfo=UTC)),  # Unix time is a moment already
    ],
)
def test_as_of_without_an_offset_is_read_in_the_reporting_time_zone(
    settings: Settings, typed: str, moment: datetime
) -> None:
    rt = Runtime(settings.model_copy(update={"timezone": "America/Los_Angeles"}))
    assert as_of(argparse.Namespace(as_of=typed), rt) == moment


def test_a_date_as_of_in_a_zone_west_of_utc_reports_through_the_day_before_it(settings: Settings) -> None:
    # Read as UTC midnight, 2026-11-16 was 16:00 on the 15th in Los Angeles: the month ran to the 14th and the
    # digest was the week before last.
    rt = Runtime(settings.model_copy(update={"timezone": "America/Los_Angeles"}))
    args = argparse.Namespace(as_of="2026-11-16", period="2026-11", days=None)
    assert period(args, rt).end == date(2026, 11, 15)


def test_a_run_rate_carries_each_contract_over_its_own_days_in_force(
    book: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hooli's $3,000 flat contract ends on Nov 20: November earns 3000 × 20/30 = $2,000.00, all of it by Nov 26.
    Spreading that over 30 days made a run rate of 2000 × 30/26 = $2,307.69; each contract now earns its own days in
    force. umbrella's starts on Nov 28, after the days counted: 3 days of $1,000, $100.00, where the days so far
    earned nothing to spread. globex's price changes on Nov 16: its first contract is over (1,500 requests × $0.05 =
    $75.00), the second carries its 11 days so far (100 requests a day) over its 15, 1,500 × $0.06 = $90.00: $165.00,
    not (75 + 66) × 30/26 = $162.69. initech's is renewed on the same terms from Nov 16 (one run of terms all month:
    not counted as starting or ending), each half earning 300 + (3,000 − 1,500) × 0.02 = $330.00."""
    extra = tmp_path / "more-contracts.csv"
    extra.write_text(
        "customer,customer_name,product,plan,start,end,platform_fee_usd,included_units,unit,unit_price_usd\n"
        "hooli,Hooli,,flat,2026-01-01,2026-11-20,3000,,,\n"
        "umbrella,Umbrella,,flat,2026-11-28,,1000,,,\n"
        "initech,Initech,,hybrid,2026-01-01,2026-11-15,600,3000,request,0.02\n"
        "initech,Initech,,hybrid,2026-11-16,,600,3000,request,0.02\n"
        "globex,Globex,,usage,2026-01-01,2026-11-15,,,request,0.05\n"
        "globex,Globex,,usage,2026-11-16,,,,request,0.06\n"
    )
    import_contracts_file(book.engine, extra, supersede=True)
    hooli = as_json(book, capsys, "margin", "hooli", "--period", "2026-11")
    p = hooli["projection"]
    assert (hooli["revenue_usd"], p["revenue_usd"], p["part_period_contracts"]) == (2000.0, 2000.0, 1)
    assert p["caveat"] == "1 contract starts or ends within 2026-11: it is carried over its days in force only"
    projected = {
        who: as_json(book, capsys, "margin", who, "--period", "2026-11")["projection"]
        for who in ("acme", "initech", "globex", "umbrella")
    }
    assert {who: (q["revenue_usd"], q["part_period_contracts"]) for who, q in projected.items()} == {
        "acme": (3000.0, 0),
        "initech": (660.0, 0),
        "globex": (165.0, 2),
        "umbrella": (100.0, 1),
    }
    whole = as_json(book, capsys, "portfolio", "--period", "2026-11")["projection"]
    assert whole["part_period_contracts"] == 4  # hooli's, umbrella's and globex's two
    assert whole["revenue_usd"] == 3000 + 660 + 165 + 2000 + 100
    # A product counts its own contracts and the every-product ones of customers paying for it: search is initech's.
    search = as_json(book, capsys, "product", "search", "--period", "2026-11")["projection"]
    assert (search["revenue_usd"], search["caveat"]) == (660.0, None)
    assert as_json(book, capsys, "margin", "hooli", "--period", "2026-10")["projection"] is None
    code, out, _ = run(book, capsys, "portfolio", "--period", "2026-11")
    assert code == 0 and "(4 contracts start or end within 2026-11: each is carried over its days in force only)" in out
    now = Runtime.now(book).replace(year=2026, month=11, day=27, hour=10)
    shown = all_text(answer(book, "/margin hooli 2026-11", now=now).blocks)
    assert "Run rate, not actuals" in shown and "1 contract starts or ends within 2026-11: it is carried over" in shown
    code, out, _ = run(book, capsys, "report", "--period", "2026-11", "--out", str(tmp_path / "pack") + "/")
    assert code == 0
    notes = (tmp_path / "pack" / "notes.csv").read_text()
    assert "Note: 4 contracts start or end within 2026-11: each is carried over its days in force only." in notes


def test_the_text_answers_give_gross_profit_as_the_figures_beside_it_make_it(
    book: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    # acme's October: a $3,000 flat fee and $40.00 of COGS a day for 31 days. The text answers gave revenue, COGS
    # and margin but no gross profit, which the Slack, JSON and CSV answers give.
    code, out, _ = run(book, capsys, "margin", "acme", "--period", "2026-10")
    assert code == 0 and "  Gross profit       $1,760.00   (previous " in out
    code, out, _ = run(book, capsys, "portfolio", "--period", "2026-10")
    assert code == 0 and "Gross profit $" in out
