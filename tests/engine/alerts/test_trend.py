"""Daily margins and the line fitted to them: the day's revenue is the revenue rule for that day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from engine.alerts.trend import _added, customer_trends, daily_customer_figures, fit_trend
from engine.ingest.contracts import import_contracts_file
from engine.periods import Period, trailing
from engine.reports.revenue import revenue_lines, total_by_customer
from engine.runtime import Runtime
from tests.engine.alerts.book import CONTRACTS, WINDOW_START, Run, load, load_book


def test_trend_projects_a_straight_line_fourteen_days_past_the_window() -> None:
    falling = [(x, 90.0 - 2.0 * x) for x in range(30)]
    trend = fit_trend(falling, last_x=29, start=date(2026, 10, 1), breach_pct=Decimal(40))
    assert trend is not None
    # 90 − 2x reaches 40 at x = 25: the line crossed on Oct 26, inside the window, and says so (not "about today").
    assert (trend.slope_pts_per_day, trend.projected_pct, trend.crosses_on, trend.crossed) == (
        Decimal(-2), Decimal(90 - 2 * 43), date(2026, 10, 26), True
    )  # fmt: skip
    ahead = fit_trend(
        [(x, 99.0 - 2.0 * x) for x in range(30)], last_x=29, start=date(2026, 10, 1), breach_pct=Decimal(40)
    )
    assert ahead is not None and (ahead.crosses_on, ahead.crossed) == (date(2026, 10, 31), False)  # x = 29.5 → 30
    flat = fit_trend([(x, 60.0) for x in range(30)], last_x=29, start=date(2026, 10, 1), breach_pct=Decimal(40))
    assert flat is not None and flat.slope_pts_per_day == 0 and flat.crosses_on is None
    assert fit_trend(falling[:6], last_x=29, start=date(2026, 10, 1), breach_pct=Decimal(40)) is None
    barely = [(x, 60.0 - 0.0001 * x) for x in range(30)]
    slow = fit_trend(barely, last_x=29, start=date(2026, 10, 1), breach_pct=Decimal(40))
    assert slow is not None and slow.slope_pts_per_day < 0 and slow.crosses_on is None


def test_daily_revenue_is_what_revenue_lines_gives_for_each_single_day(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    terms = tmp_path / "more.csv"
    terms.write_text(
        "customer,customer_name,product,plan,start,end,seats,seat_price_usd,platform_fee_usd,included_units,unit,"
        "unit_price_usd\n"
        "bluth,Bluth Homes,,seat,2026-10-20,2026-11-05,12,30,,,,\n"
        "cyber,Cyberdyne,,hybrid,2026-10-01,,,,500,9,request,2.5\n"
        "fox,Fox Media,,flat,2026-11-01,,,,899,,,\n"
    )
    # Plan changes: each ends the customer's product contract the day before it starts (contracts never overlap).
    import_contracts_file(rt.engine, terms, supersede=True)
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                "currency, invoice_id) VALUES ('in_1', 'stripe', 'echo', 'search', '2026-11-01', '2026-11-30', "
                "900, 'usd', 'inv_1')"
            )
        )
    period = trailing(30, today=date(2026, 11, 15))
    customers = {c for c, _, _ in CONTRACTS} | {"dunder"}
    with rt.connect() as conn:
        daily = daily_customer_figures(conn, period, customers)
        for day in period.iter_days():
            expected = total_by_customer(revenue_lines(conn, Period(day, day, "day")))
            mine = {c: figures[day][0] for c, figures in daily.items() if day in figures and figures[day][0]}
            assert mine == {c: v for c, v in expected.items() if v}, day


def test_a_customers_contracts_add_up_day_by_day_whichever_amount_changes() -> None:
    # A month's fee is one object for all its days: a day whose two amounts are the objects of the day before
    # shares its sum; a change in either amount, even to an equal value, makes a sum of its own.
    fee, next_fee = Decimal("29.032258"), Decimal("30.000000")
    usage = [Decimal(2), Decimal(2), Decimal("7.5"), Decimal("7.5"), Decimal(0)]  # a metered contract's days
    fees = [fee, fee, fee, next_fee, next_fee]
    assert _added(fees, usage) == [a + b for a, b in zip(fees, usage, strict=True)]
    assert _added(usage, fees) == [a + b for a, b in zip(usage, fees, strict=True)]
    seats = [Decimal("12.5")] * 2 + [Decimal("13.1")] * 3
    both = _added(fees, seats)
    assert both == [a + b for a, b in zip(fees, seats, strict=True)]
    assert both[1] is both[0] and both[3] is not both[2] and both[4] is both[3]


def test_one_day_of_tiny_revenue_and_a_cost_spike_does_not_make_a_trend(rt: Runtime, tmp_path: Path) -> None:
    # Usage at $1 a request: 10 requests and $1.00 of COGS a day (90%), but one day of 1 request and $33.85 (-3,285%).
    costs = [Decimal("1.00")] * 30
    costs[20] = Decimal("33.85")
    spiky = Run("spiky", "agent", WINDOW_START, 30, 10, costs)
    load(rt, tmp_path, [spiky], [("spiky", "Spiky", "agent")])
    with rt.engine.begin() as conn:
        conn.execute(text("UPDATE daily_customer_product SET requests = 1 WHERE customer = 'spiky' AND day = :d"),
                     {"d": WINDOW_START + timedelta(days=20)})  # fmt: skip
    period = trailing(30, today=date(2026, 11, 15))
    with rt.connect() as conn:
        trend = customer_trends(conn, period, {"spiky"}, breach_pct=Decimal(40))["spiky"]
    # The spike counts at -100% (FLOOR_PCT): it moves the line, but not under 40% within 14 days.
    assert trend.crosses_on is None and trend.projected_pct > 40
    raw = [(x, -3285.0 if x == 20 else 90.0) for x in range(30)]  # what the fit would say with the spike as it is
    assert fit_trend(raw, last_x=29, start=period.start, breach_pct=Decimal(40)).crosses_on is not None  # type: ignore[union-attr]
