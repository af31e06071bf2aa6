"""The portfolio's rows: worst first, and every dollar of revenue in some product's row."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from bot.blocks.portfolio import portfolio_message
from bot.render.tables import render_portfolio
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.reports.figures import Thresholds
from engine.reports.portfolio import portfolio
from engine.reports.serialize import portfolio_to_dict
from engine.runtime import Runtime
from tests.engine.reports.billing import store_invoice_line

JUNE = month(2026, 6)


def _book(runtime: Runtime, tmp_path: Path, contracts: list[str], usage: list[str]) -> None:
    (tmp_path / "c.csv").write_text("customer,product,plan,start,end,platform_fee_usd\n" + "\n".join(contracts) + "\n")
    import_contracts_file(runtime.engine, tmp_path / "c.csv")
    (tmp_path / "u.csv").write_text("event_id,ts,customer,product,cost_usd\n" + "\n".join(usage) + "\n")
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")


def test_rows_rank_cost_without_revenue_then_margins_then_customers_with_nothing_this_period(
    runtime: Runtime, tmp_path: Path
) -> None:
    _book(
        runtime,
        tmp_path,
        [
            "thin,chat,flat,2026-01-01,,1000",  # 90% margin
            "fat,chat,flat,2026-01-01,,1000",  # 10%
            "gone,chat,flat,2026-01-01,2026-05-31,1000",  # ended before June, no usage in it
        ],
        [
            "e1,2026-06-02T12:00:00Z,thin,chat,100",
            "e2,2026-06-02T12:00:00Z,fat,chat,900",
            "e3,2026-06-02T12:00:00Z,free,chat,50",  # usage and no contract: cost with nothing to pay for it
            "e4,2026-05-02T12:00:00Z,gone,chat,10",
        ],
    )
    with runtime.connect() as conn:
        p = portfolio(conn, JUNE, thresholds=Thresholds())
    assert [r.key for r in p.customers] == ["free", "fat", "thin", "gone"]


def test_revenue_of_a_contract_for_every_product_with_no_usage_is_in_a_product_row(
    runtime: Runtime, tmp_path: Path
) -> None:
    # `idle` pays $600 a month for every product and used none: its revenue has no usage to follow, and the product
    # rows must still add up to the total.
    _book(
        runtime,
        tmp_path,
        ["acme,chat,flat,2026-01-01,,3000", "idle,,flat,2026-01-01,,600"],
        ["e1,2026-06-02T12:00:00Z,acme,chat,100"],
    )
    with runtime.connect() as conn:
        p = portfolio(conn, JUNE, thresholds=Thresholds())
    assert p.total.revenue == Decimal(3600)
    assert [(r.key, r.current.revenue) for r in p.products] == [("chat", Decimal(3000))]
    assert (p.unallocated_revenue, p.previous_unallocated_revenue) == (Decimal(600), Decimal(600))
    as_json = portfolio_to_dict(p)
    assert (as_json["unallocated_revenue_usd"], as_json["previous_unallocated_revenue_usd"]) == (600.0, 600.0)
    said = "Plus $600.00 of revenue in no product's row (previous $600.00): contracts for every product or invoice"
    assert said in render_portfolio(p)
    assert said in json.dumps(portfolio_message(p).blocks)


def test_billed_revenue_naming_no_product_is_split_across_the_products_by_their_requests(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Billed through Stripe with no product mapped: June's $100 invoice and a $365 yearly one ($30 of it in June,
    # a share that does not end in ticks). The customer sent 1 request to chat and 2 to search in June.
    (tmp_path / "u.csv").write_text(
        "event_id,ts,customer,product,requests,cost_usd\n"
        "e1,2026-06-02T12:00:00Z,billed,chat,1,10\n"
        "e2,2026-06-03T12:00:00Z,billed,search,2,10\n"
    )
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")
    store_invoice_line(runtime.engine, "in_1", "billed", "2026-06-01", "2026-06-30", 100)
    store_invoice_line(runtime.engine, "in_2", "billed", "2026-01-01", "2026-12-31", 365)
    with runtime.connect() as conn:
        p = portfolio(conn, JUNE, thresholds=Thresholds())
    assert p.total.revenue == Decimal(130)
    products = {r.key: r.current.revenue for r in p.products}
    assert products["chat"] + products["search"] == Decimal(130)
    assert (products["chat"].quantize(Decimal("0.01")), products["search"].quantize(Decimal("0.01"))) == (
        Decimal("43.33"),
        Decimal("86.67"),
    )
    # May had the yearly invoice's $31 and no usage to split it by: that stays in no product's row.
    assert (p.unallocated_revenue, p.previous_unallocated_revenue) == (0, Decimal(31))
