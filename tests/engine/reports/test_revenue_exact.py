"""Revenue totals are the exact sums of their lines, rounded half-up once where shown: a total of exactly half a cent
rounds up, whatever the lines' order (engine.money.ExactSum, engine.reports.revenue.PeriodRevenue)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import permutations
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.ingest.contracts import import_contracts_file
from engine.money import fraction_decimal, usd_text
from engine.periods import Period, month_to_date
from engine.reports.figures import Thresholds
from engine.reports.portfolio import portfolio
from engine.reports.revenue import (
    contracts_in,
    period_revenue,
    revenue_by_customer,
    revenue_lines,
    total_by_customer,
    total_by_product,
)
from engine.reports.serialize import portfolio_to_dict
from engine.runtime import Runtime

D = Decimal
JUNE_WEEK = Period(date(2026, 6, 1), date(2026, 6, 7), "2026-06-01 to 2026-06-07")  # 7 of June's 30 days
# Their 7 days of June are $233.33…, $233.340333… and $233.361333…: exactly $700.035 together. Each line's 28-digit
# Decimal is cut down (a repeating 3), so added as Decimals they made $700.0349…9, $700.03 once rounded half-up.
HALF_CENT_FEES = ("1000.00", "1000.03", "1000.12")
# $350 and $350.035: each line ends, so these added up before too (the case as first reported, kept beside it).
TWO_FEES = ("1500.00", "1500.15")


def _contracts(runtime: Runtime, tmp_path: Path, rows: list[str]) -> None:
    (tmp_path / "c.csv").write_text("customer,product,plan,start,end,platform_fee_usd\n" + "\n".join(rows) + "\n")
    import_contracts_file(runtime.engine, tmp_path / "c.csv")


@pytest.mark.parametrize("fees", [HALF_CENT_FEES, TWO_FEES])
def test_a_customers_revenue_is_the_exact_sum_of_its_lines_and_a_half_cent_rounds_up(
    runtime: Runtime, tmp_path: Path, fees: tuple[str, ...]
) -> None:
    _contracts(runtime, tmp_path, [f"acme,p{i},flat,2026-01-01,,{fee}" for i, fee in enumerate(fees)])
    with runtime.connect() as conn:
        lines = revenue_lines(conn, JUNE_WEEK)
        by_customer = revenue_by_customer(conn, JUNE_WEEK)
        book = portfolio(conn, JUNE_WEEK, thresholds=Thresholds())
    assert len(lines) == len(fees)
    assert total_by_customer(lines) == by_customer == {"acme": D("700.035")}
    [row] = book.customers
    assert row.current.revenue == book.total.revenue == D("700.035")
    as_json = portfolio_to_dict(book)
    assert as_json["revenue_usd"] == as_json["customers"][0]["revenue_usd"] == 700.04
    assert usd_text(book.total.revenue) == "$700.04"


@pytest.mark.parametrize("product", ["chat", ""])
def test_the_portfolio_total_and_a_products_revenue_are_exact_sums_across_customers(
    runtime: Runtime, tmp_path: Path, product: str
) -> None:
    # One fee each: every customer's revenue is a single line, its own 28-digit Decimal; only their sum is the half
    # cent. With no product named and no usage, all of it is revenue in no product's row.
    _contracts(runtime, tmp_path, [f"c{i},{product},flat,2026-01-01,,{fee}" for i, fee in enumerate(HALF_CENT_FEES)])
    with runtime.connect() as conn:
        book = portfolio(conn, JUNE_WEEK, thresholds=Thresholds())
        by_product = total_by_product(revenue_lines(conn, JUNE_WEEK))
    as_json = portfolio_to_dict(book)
    assert book.total.revenue == by_product[product] == D("700.035")
    assert as_json["revenue_usd"] == 700.04
    if product:
        assert [(r.key, r.current.revenue) for r in book.products] == [("chat", D("700.035"))]
        assert as_json["products"][0]["revenue_usd"] == 700.04
    else:
        assert book.unallocated_revenue == D("700.035") and as_json["unallocated_revenue_usd"] == 700.04


def test_a_total_is_the_same_whatever_order_its_lines_come_in(runtime: Runtime, tmp_path: Path) -> None:
    # Added as 28-digit Decimals, these three lines made $19,073.65133…33 in one order and …34 in another.
    fees = ("10941.65", "31035.08", "39767.49")
    _contracts(runtime, tmp_path, [f"acme,p{i},flat,2026-01-01,,{fee}" for i, fee in enumerate(fees)])
    exact = fraction_decimal(sum((Fraction(fee) for fee in fees), Fraction(0)) * Fraction(7, 30))
    with runtime.connect() as conn:
        contracts = contracts_in(conn, JUNE_WEEK, None)
        lines = revenue_lines(conn, JUNE_WEEK)
        revenues = [period_revenue(conn, JUNE_WEEK, contracts=list(order)) for order in permutations(contracts)]
    seen = {str(revenue.by_customer()["acme"]) for revenue in revenues}
    seen |= {str(total_by_customer(order)["acme"]) for order in permutations(lines)}
    assert seen == {str(exact)}
    assert {str(revenue.total().dollars()) for revenue in revenues} == {str(exact)}


def test_an_invoice_prorated_over_part_of_its_service_period_is_exact(runtime: Runtime, tmp_path: Path) -> None:
    # $3,000.15 billed for June: its first 7 days are exactly $700.035 (7/30 as a 28-digit share first made
    # $700.0349…9); a year's $3,650.10 over the same 7 days is 7/365 of it, which no decimal ends.
    with runtime.engine.begin() as conn:
        for i, (customer, start, end, amount) in enumerate(
            [("june", "2026-06-01", "2026-06-30", "3000.15"), ("year", "2026-01-01", "2026-12-31", "3650.10")]
        ):
            conn.execute(
                text(
                    "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                    f"currency, invoice_id) VALUES ('in_{i}', 'stripe', :c, '', :a, :b, {amount}, 'usd', 'inv_{i}')"
                ),
                {"c": customer, "a": start, "b": end},
            )
    with runtime.connect() as conn:
        lines = {line.customer: line.total for line in revenue_lines(conn, JUNE_WEEK)}
    assert lines == {"june": D("700.035"), "year": fraction_decimal(Fraction("3650.10") * 7 / 365)}
    assert usd_text(lines["june"]) == "$700.04"


def test_the_run_rate_projects_the_exact_total(runtime: Runtime, tmp_path: Path) -> None:
    # October 1–3 of a $3,000.005 fee projected over October's 31 days is exactly the fee: $3,000.01 half-up. The
    # 28-digit 3/31 of it times a 28-digit 31/3 made $3,000.0049…9.
    _contracts(runtime, tmp_path, ["acme,chat,flat,2026-01-01,,3000.005"])
    period = month_to_date(date(2026, 10, 4))
    assert period is not None and (period.days, period.full_days) == (3, 31)
    with runtime.connect() as conn:
        book = portfolio(conn, period, thresholds=Thresholds())
    projection = book.projection
    assert projection is not None and projection.figures.revenue == D("3000.005")
    as_json = portfolio_to_dict(book)["projection"]
    assert as_json is not None and as_json["revenue_usd"] == 3000.01


def test_a_customers_report_and_bridge_add_its_lines_exactly_as_the_portfolio_does(
    runtime: Runtime, tmp_path: Path
) -> None:
    from engine.reports.bridge import bridge_to_dict, margin_bridge
    from engine.reports.margin import customer_report, product_report
    from engine.vocab import SubjectKind

    # acme's three fees, each on a product of its own; and the same three, one for each of three customers, on chat.
    rows = [f"acme,p{i},flat,2026-01-01,,{fee}" for i, fee in enumerate(HALF_CENT_FEES)]
    rows += [f"c{i},chat,flat,2026-01-01,,{fee}" for i, fee in enumerate(HALF_CENT_FEES)]
    _contracts(runtime, tmp_path, rows)
    with runtime.connect() as conn:
        report = customer_report(conn, "acme", JUNE_WEEK, thresholds=Thresholds())
        product = product_report(conn, "chat", JUNE_WEEK, thresholds=Thresholds())
        bridges = [
            bridge_to_dict(margin_bridge(conn, kind, ref, JUNE_WEEK, prices=runtime.prices, timezone="UTC"))
            for kind, ref in ((SubjectKind.CUSTOMER, "acme"), (SubjectKind.PRODUCT, "chat"))
        ]
    assert report.current.revenue == product.current.revenue == D("700.035")  # were 700.0349…9, $700.03 once rounded
    assert [b["revenue_usd"]["current"] for b in bridges] == [700.04, 700.04]


def test_the_portfolios_weekly_trend_is_the_exact_sum_as_its_total(runtime: Runtime, tmp_path: Path) -> None:
    from engine.reports.weekly import weekly_by_customer, weekly_trend

    _contracts(runtime, tmp_path, [f"c{i},chat,flat,2026-01-01,,{fee}" for i, fee in enumerate(HALF_CENT_FEES)])
    with runtime.connect() as conn:
        trend = weekly_trend(conn, JUNE_WEEK)
        home, _ = weekly_by_customer(conn, JUNE_WEEK, ["c0"])
    # Each customer's week is a 28-digit Decimal; added, they were $700.0349…9, a cent off the portfolio's $700.04.
    assert trend[-1].period.start == home[-1].period.start == JUNE_WEEK.start
    assert trend[-1].revenue == home[-1].revenue == D("700.035")
