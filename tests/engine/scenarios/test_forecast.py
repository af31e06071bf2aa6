"""Forecasts at P50 and P99 usage, checked against arithmetic done by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.reports.margin import customer_report
from engine.runtime import Runtime
from engine.scenarios.forecast import ForecastError, Growth, forecast, forecast_to_dict, parse_growth
from tests.engine.scenarios.book import OCTOBER, load_book

D = Decimal


def _days_of_usage(customer: str, scale: int) -> list[list[object]]:
    # Day d of October costs d × scale × $0.10: 100,000 × d × scale input tokens of acme/small at $1/M.
    return [
        [
            f"{customer}-{d}",
            f"2026-10-{d:02d}T12:00:00Z",
            customer,
            "app",
            "chat",
            "acme",
            "small",
            100_000 * d * scale,
            0,
            0,
            1,
            0,
            "",
            "",
        ]
        for d in range(1, 32)
    ]


@pytest.fixture
def growing(runtime: Runtime, tmp_path: Path) -> Runtime:
    """f1 and f2 pay a flat $100 a month; f1's days cost $0.10 … $3.10, f2's twice that."""
    contracts = [
        ["customer", "customer_name", "plan", "start", "platform_fee_usd"],
        ["f1", "Eff One", "flat", "2026-01-01", "100"],
        ["f2", "Eff Two", "flat", "2026-01-01", "100"],
    ]
    load_book(runtime, tmp_path, _days_of_usage("f1", 1) + _days_of_usage("f2", 2), contracts)
    return runtime


def test_p50_and_p99_months_and_the_breach_month_by_hand(growing: Runtime) -> None:
    with growing.connect() as conn:
        f = forecast(conn, "Eff One", OCTOBER, growth=parse_growth("20%"), months=3, thresholds=growing.thresholds)
    c = f.customers[0]
    # 31 days costing $0.10 … $3.10: P50 = rank ⌈15.5⌉ = 16 → $1.60 (Oct 16); P99 = rank ⌈30.69⌉ = 31 → $3.10.
    assert (c.p50_day.day.day, c.p99_day.day.day) == (16, 31)
    nov, dec, jan = c.months
    assert (nov.label, nov.days, dec.label, jan.label) == ("2026-11", 30, "2026-12", "2027-01")
    # Nov at P50: $1.60 × 30 days × 1.2 = $57.60 against $100 → 42.4% (watch).
    assert (nov.p50.cogs, nov.p50.revenue, nov.p50.margin_pct) == (D("57.600"), D(100), D("42.4000"))
    assert nov.p50.status == "watch"
    # Dec at P50: $1.60 × 31 × 1.44 = $71.424 → 28.576%: the first breach.
    assert dec.p50.cogs == D("71.424") and dec.p50.status == "breach"
    # Nov at P99: $3.10 × 30 × 1.2 = $111.60 → −11.6%: breach from the first month.
    assert nov.p99.cogs == D("111.600") and nov.p99.margin_pct == D("-11.6")
    assert (c.breach_p50, c.breach_p99) == ("2026-12", "2026-11")


def test_p50_and_p99_days_match_the_margin_report_when_usage_covers_the_basis(growing: Runtime) -> None:
    with growing.connect() as conn:
        f = forecast(conn, "f1", OCTOBER, growth=Growth(rate=D(0)), months=1, thresholds=growing.thresholds)
        report = customer_report(conn, "f1", OCTOBER, thresholds=growing.thresholds)
    c = f.customers[0]
    assert D(c.p50_day.cogs_nano) / 10**9 == report.daily_cost_p50 == D("1.6")
    assert D(c.p99_day.cogs_nano) / 10**9 == report.daily_cost_p99 == D("3.1")


def test_a_multiple_is_reached_in_the_last_month() -> None:
    g = parse_growth("10x")
    assert g.factor(2, 2) == 10  # 10^(2/2)
    assert g.factor(1, 2) ** 2 - 10 < D("1e-20")  # month 1 is √10
    assert parse_growth("10%").factor(2, 6) == D("1.21")
    assert parse_growth(None).factor(5, 6) == 1


@pytest.mark.parametrize("text", ["10", "ten%", "x", "-100%", "0x"])
def test_unreadable_growth_says_how_to_write_it(text: str) -> None:
    with pytest.raises(ForecastError, match="growth"):
        parse_growth(text)


def test_portfolio_total_sums_customers_and_each_plan_has_a_p50_and_p99_customer(growing: Runtime) -> None:
    with growing.connect() as conn:
        f = forecast(conn, None, OCTOBER, growth=parse_growth("0%"), months=2, thresholds=growing.thresholds)
    assert [c.key for c in f.customers] == ["f2", "f1"]  # the earliest P99 breach first
    for k, month in enumerate(f.total):
        assert month.p50.cogs == sum((c.months[k].p50.cogs for c in f.customers), D(0))
        assert month.p99.revenue == D(200)
    # Nov at P50, flat growth: f1 $1.60 × 30 + f2 $3.20 × 30 = $144.
    assert f.total[0].p50.cogs == D("144.0")
    (flat,) = f.plans
    # Ranked by October COGS: f1 $49.60 < f2 $99.20; P50 = rank ⌈1⌉ = f1, P99 = rank ⌈1.98⌉ = f2.
    assert (flat.plan, flat.customers, flat.p50_customer.key, flat.p99_customer.key) == ("flat", 2, "f1", "f2")
    d = forecast_to_dict(f)
    assert d["plans"][0]["breach_month_like_p99"] == "2026-11"
    assert d["total"][0]["p50"]["cogs_usd"] == 144.0


def test_months_out_of_range_are_refused(growing: Runtime) -> None:
    with growing.connect() as conn, pytest.raises(ForecastError, match="between 1 and 36"):
        forecast(conn, "f1", OCTOBER, growth=Growth(rate=D(0)), months=40, thresholds=growing.thresholds)
