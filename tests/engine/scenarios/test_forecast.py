"""Forecasts at P50 and P99 usage, checked against arithmetic done by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.reports.margin import customer_report
from engine.runtime import Runtime
from engine.scenarios.forecast import forecast
from engine.scenarios.forecast_json import forecast_to_dict
from engine.scenarios.growth import ForecastError, Growth, parse_growth
from tests.engine.scenarios.book import OCTOBER, load_book
from tests.engine.scenarios.history import HISTORY, load_history

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


@pytest.fixture
def history(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_history(runtime, tmp_path)
    return runtime


def test_p50_and_p99_months_come_from_real_30_day_windows_and_the_stress_case_stands_apart(history: Runtime) -> None:
    with history.connect() as conn:
        f = forecast(conn, "flat1", HISTORY, growth=parse_growth("20%"), months=2, thresholds=history.thresholds)
    c = f.customers[0]
    assert (c.p50_window.cogs, c.p99_window.cogs, c.history.days, c.history.windows) == (D(30), D(130), 90, 61)
    nov, dec = c.months
    # Nov (30 days) × 1.2: P50 $30 → $36.00 on $300 (88%); P99 $130 → $156.00 (48%, watch).
    assert (nov.p50.cogs, nov.p50.margin_pct, nov.p99.cogs, nov.p99.margin_pct) == (D(36), D(88), D(156), D(48))
    # Dec (31 days) × 1.44: P99 $130 × 31/30 × 1.44 = $193.44 → 35.52%: the first breach of a heavy month.
    assert dec.p99.cogs == D("193.44") and dec.p99.margin_pct == D("35.52")
    assert dec.p50.cogs == D("44.64")
    # The stress case, every day like the $21 P99 day: $21 × 30 × 1.2 = $756 (−152%), a bound kept apart.
    assert nov.stress.cogs == D(756) and nov.stress.margin_pct == D(-152)
    assert (c.breach_p50, c.breach_p99, c.breach_stress) == (None, "2026-12", "2026-11")
    d = forecast_to_dict(f)
    assert (d["p99_window"]["start"], d["p99_window"]["end"], d["p99_window"]["cogs_usd"]) == (
        "2026-10-02",
        "2026-10-31",
        130.0,
    )
    assert d["forecast"][0]["stress"]["cogs_usd"] == 756.0 and d["breach_month_stress"] == "2026-11"
    assert d["short_history"] is False and d["history_note"] is None
    assert any("stress case, not a forecast" in a for a in d["assumptions"])


def test_the_portfolio_is_forecast_on_its_own_windows_and_new_customers_on_their_plans(history: Runtime) -> None:
    with history.connect() as conn:
        f = forecast(conn, None, HISTORY, growth=parse_growth("0%"), months=1, thresholds=history.thresholds)
    assert (f.p50_window[0].isoformat(), f.p99_window[1].isoformat()) == ("2026-09-02", "2026-10-31")
    (nov,) = f.total
    # Five customers with the same days: P50 5 × $30, P99 5 × $130. Revenue at P50: 300 + 300 + 150 (3,000 × 0.05)
    # + 250 (mixed: 150 + 100) + 300 (seats); at P99 usage revenue is 5,000 × 0.05 = 250.
    assert (nov.p50.cogs, nov.p50.revenue, nov.p99.cogs, nov.p99.revenue) == (D(150), D(1300), D(650), D(1500))
    assert nov.stress.cogs == 5 * D(630)
    assert [p.plan for p in f.plans] == ["flat", "flat+usage", "seat", "usage"]
    flat = f.plans[0]
    assert (flat.customers, flat.p50_customer.key, flat.p99_customer.key) == (2, "flat1", "flat2")
    d = forecast_to_dict(f)
    assert d["total"][0]["p99"]["cogs_usd"] == 650.0 and d["windows"] == 61
    assert d["plans"][0]["breach_month_like_p99"] is None


def test_a_short_history_is_said_in_the_assumptions(growing: Runtime) -> None:
    with growing.connect() as conn:
        f = forecast(conn, "f1", OCTOBER, growth=Growth(rate=D(0)), months=1, thresholds=growing.thresholds)
    assert f.history.short and f.history.windows == 2
    assert "history shorter than 60 days (31 days): P50 and P99 come from 2 overlapping 30-day windows" in (
        " ".join(f.assumptions)
    )


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


def test_months_out_of_range_are_refused(growing: Runtime) -> None:
    with growing.connect() as conn, pytest.raises(ForecastError, match="between 1 and 36"):
        forecast(conn, "f1", OCTOBER, growth=Growth(rate=D(0)), months=40, thresholds=growing.thresholds)
