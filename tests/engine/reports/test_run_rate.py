"""The run rate of a period to date: each contract carried over its own days in force, its units as counted so far
and its days to come at the customer's daily rate so far (as COGS is carried), and revenue billed by invoice at its
rate so far (engine.reports.revenue.projected_revenue, carried)."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from sqlmodel import Session

from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import Period, parse_period
from engine.reports.margin import customer_report
from engine.reports.portfolio import portfolio
from engine.reports.revenue import period_revenue, projected_revenue
from engine.runtime import Runtime
from engine.store.models import RevenueActual

D = Decimal
TODAY = date(2026, 11, 15)  # tests/conftest.py NOW: November and Q4 are counted through Nov 14


def _load(rt: Runtime, folder: Path, daily: dict[str, list[tuple[date, date, int]]], contracts: list[str]) -> None:
    """`daily`: per customer, runs of days (first, last, requests a day); one event a day at noon, $1 each."""
    folder.mkdir(parents=True, exist_ok=True)
    usage = folder / "usage.csv"
    with usage.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["event_id", "ts", "customer", "product", "feature", "provider", "model", "requests", "cost_usd"])
        for customer, runs in daily.items():
            for first, last, requests in runs:
                for i in range((last - first).days + 1):
                    day = first + timedelta(days=i)
                    out.writerow([f"{customer}-{day}", f"{day}T12:00:00Z", customer, "app", "chat", "openai", "gpt-4o",
                                  requests, "1.00"])  # fmt: skip
    book = folder / "contracts.csv"
    book.write_text("customer,customer_name,plan,start,end,platform_fee_usd,included_units,unit,unit_price_usd\n"
                    + "\n".join(contracts) + "\n")  # fmt: skip
    import_contracts_file(rt.engine, book)
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)


def test_a_quarter_to_dates_hybrid_plan_carries_each_month_against_its_own_allowance(
    runtime: Runtime, tmp_path: Path
) -> None:
    # $100 a month with 3,000 requests included, then $0.01 each. October used 200 a day (6,200: $32.00 over), the
    # first 14 days of November 100 a day (1,400). The quarter so far ran at 7,600 over 45 days, the rate its COGS is
    # carried at. October is over: as counted. November has 1,400 so far and its 16 days to come at that rate,
    # 4,102.22: $11.02 over. December comes at that rate, 7,600 × 31/45 = 5,235.56: $22.36 over. With three months
    # of fees, $365.38. Scaling the quarter's $178.67 by 92/45 set the quarter's usage against one allowance
    # ($365.27), where each month has its own.
    _load(runtime, tmp_path, {"hy": [(date(2026, 10, 1), date(2026, 10, 31), 200),
                                     (date(2026, 11, 1), date(2026, 11, 14), 100)]},
          ["hy,Hy,hybrid,2026-01-01,,100,3000,request,0.01"])  # fmt: skip
    q4 = parse_period("2026-Q4", today=TODAY)
    with runtime.connect() as conn:
        carried, billed = projected_revenue(conn, q4)
        report = customer_report(conn, "hy", q4, thresholds=runtime.thresholds)
    assert billed == set()
    rate = Fraction(7600, 45)
    exact = Fraction(300 + 32) + (1400 + rate * 16 - 3000) / 100 + (rate * 31 - 3000) / 100
    assert abs(carried.total().fraction() - exact) < Fraction(1, 10**20)  # 365.3777…: its charge divided once
    assert report.current.revenue.quantize(D("0.01")) == D("178.67")  # the quarter so far, unchanged
    assert report.projection is not None and report.projection.figures.revenue.quantize(D("0.01")) == D("365.38")
    assert report.projection.caveat is None


def test_over_a_complete_period_the_projection_is_its_revenue(runtime: Runtime, tmp_path: Path) -> None:
    _load(runtime, tmp_path, {"hy": [(date(2026, 10, 1), date(2026, 10, 31), 200)],
                              "us": [(date(2026, 10, 5), date(2026, 10, 20), 50)]},
          ["hy,Hy,hybrid,2026-01-01,,100,3000,request,0.01",
           "us,Us,usage,2026-10-10,2026-10-25,,,request,0.02",
           "fl,Fl,flat,2026-10-20,,900,,,"])  # fmt: skip
    october = parse_period("2026-10", today=TODAY)
    with runtime.connect() as conn:
        carried, _ = projected_revenue(conn, october)
        actual = period_revenue(conn, october)
    assert carried.by_customer() == actual.by_customer()
    assert actual.by_customer()["fl"] == D(900) * 12 / 31  # from Oct 20: its days only


def test_usage_after_the_days_counted_is_never_carried(runtime: Runtime, tmp_path: Path) -> None:
    # 100 requests a day to Nov 14, then 10,000 on the 15th (today) and the 16th: the days counted end on the 14th,
    # so November carries 100 a day over its 30 days, 3,000 × $0.01 = $30.00.
    _load(runtime, tmp_path, {"us": [(date(2026, 11, 1), date(2026, 11, 14), 100),
                                     (date(2026, 11, 15), date(2026, 11, 16), 10_000)]},
          ["us,Us,usage,2026-01-01,,,,request,0.01"])  # fmt: skip
    november = parse_period("2026-11", today=TODAY)
    with runtime.connect() as conn:
        report = customer_report(conn, "us", november, thresholds=runtime.thresholds)
    assert report.current.revenue == D(14)
    assert report.projection is not None and report.projection.figures.revenue == D(30)


def test_revenue_billed_by_invoice_is_carried_at_its_rate_so_far_and_said(runtime: Runtime, tmp_path: Path) -> None:
    # billed's invoice covers Nov 1 to 7 ($700): it is carried at its rate so far over the days counted, 700 × 30/14
    # = $1,500.00 (a billed line has no terms to carry it on); seat's flat $3,000 earns the month. The book's run
    # rate is $4,500.00 and says one customer's revenue is carried that way.
    _load(runtime, tmp_path, {"billed": [(date(2026, 11, 1), date(2026, 11, 14), 10)]},
          ["seat,Seat,flat,2026-01-01,,3000,,,"])  # fmt: skip
    with Session(runtime.engine) as session:
        session.add(RevenueActual(id="in_1", customer="billed", period_start=date(2026, 11, 1),
                                  period_end=date(2026, 11, 7), amount_usd=D(700)))  # fmt: skip
        session.commit()
    november = parse_period("2026-11", today=TODAY)
    with runtime.connect() as conn:
        book = portfolio(conn, november, thresholds=runtime.thresholds)
    assert book.total.revenue == D(700) + D(3000) * 14 / 30
    p = book.projection
    assert p is not None and p.figures.revenue == D(4500)
    assert p.caveat == "1 customer billed by invoice: its invoiced revenue is carried at its daily rate so far"
    assert book.period == Period(date(2026, 11, 1), date(2026, 11, 14), "2026-11", full_end=date(2026, 11, 30),
                                 running=True)  # fmt: skip


def test_a_contract_taking_over_after_the_days_counted_carries_the_customers_rate(
    runtime: Runtime, tmp_path: Path
) -> None:
    # 100 requests a day to Nov 14. A renewal from Nov 21 on the same terms had no days counted, so it carried no
    # usage: $20.00 for the month where 3,000 requests at $0.01 are $30.00 (and no caveat, a renewal being no change).
    # It takes the customer's rate so far, 100 a day, as a new price from Nov 21 does: 2,000 × 0.01 + 1,000 × 0.02.
    _load(runtime, tmp_path / "a", {"same": [(date(2026, 11, 1), date(2026, 11, 14), 100)],
                                    "dearer": [(date(2026, 11, 1), date(2026, 11, 14), 100)]},
          ["same,Same,usage,2026-01-01,2026-11-20,,,request,0.01", "same,Same,usage,2026-11-21,,,,request,0.01",
           "dearer,Dearer,usage,2026-01-01,2026-11-20,,,request,0.01",
           "dearer,Dearer,usage,2026-11-21,,,,request,0.02"])  # fmt: skip
    november = parse_period("2026-11", today=TODAY)
    with runtime.connect() as conn:
        carried, _ = projected_revenue(conn, november)
    assert carried.by_customer() == {"same": D(30), "dearer": D(40)}


def test_carried_units_are_exact_so_a_half_cent_rounds_up(runtime: Runtime, tmp_path: Path) -> None:
    # 5 requests on Nov 3 at $0.035, carried over 30 days of 14: exactly 5 × 30/14 × 0.035 = $0.375, $0.38 shown. The
    # units divided first (10.714285…, cut at 28 digits) made $0.37499…98, $0.37.
    _load(runtime, tmp_path, {"tiny": [(date(2026, 11, 3), date(2026, 11, 3), 5)]},
          ["tiny,Tiny,usage,2026-01-01,,,,request,0.035"])  # fmt: skip
    november = parse_period("2026-11", today=TODAY)
    with runtime.connect() as conn:
        report = customer_report(conn, "tiny", november, thresholds=runtime.thresholds)
    assert report.projection is not None and report.projection.figures.revenue == D("0.375")


def test_revenue_and_cogs_that_grow_with_the_same_usage_are_carried_alike(runtime: Runtime, tmp_path: Path) -> None:
    # A usage contract from Nov 10: 100 requests a day at $0.10 for $1 of cost a day, 90% every day so far (Nov 10 to
    # 19 counted). Its units carried at its own ten days' rate ($210.00) beside COGS carried over the nineteen days
    # counted ($15.79) read a 92.5% month; carried alike, 1,000 + 1,000/19 × 11 requests ($157.89), the month is the
    # 90.0% it has been.
    _load(runtime, tmp_path, {"mu": [(date(2026, 11, 10), date(2026, 11, 20), 100)]},
          ["mu,Mu,usage,2026-11-10,,,,request,0.10"])  # fmt: skip
    november = parse_period("2026-11", today=date(2026, 11, 20))
    with runtime.connect() as conn:
        report = customer_report(conn, "mu", november, thresholds=runtime.thresholds)
    assert (report.current.revenue, report.current.cogs, report.current.margin_pct) == (D(100), D(10), D(90))
    p = report.projection
    assert p is not None and p.figures.margin_pct is not None
    assert (p.figures.revenue.quantize(D("0.01")), p.figures.margin_pct.quantize(D("0.01"))) == (D("157.89"), D(90))
