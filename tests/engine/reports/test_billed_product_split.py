"""A billed (Stripe) line naming no product is every product's revenue, split by requests, exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.reports.figures import Thresholds
from engine.reports.margin import product_report
from engine.reports.revenue import period_revenue
from engine.runtime import Runtime
from tests.engine.reports.billing import store_invoice_line

JUNE = month(2026, 6)


def _billed_100_with_requests_1_to_chat_and_2_to_search(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text(
        "event_id,ts,customer,product,requests,cost_usd\n"
        "e1,2026-06-02T12:00:00Z,acme,chat,1,1\n"
        "e2,2026-06-03T12:00:00Z,acme,search,2,1\n"
    )
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")
    store_invoice_line(runtime.engine, "in_1", "acme", "2026-06-01", "2026-06-30", 100)


def test_an_invoice_naming_no_product_is_split_across_products_by_requests_and_adds_up_exactly(
    runtime: Runtime, tmp_path: Path
) -> None:
    # $100 billed for June with no product; 1 request to chat, 2 to search: $33.33… and $66.66…, $100 together.
    _billed_100_with_requests_1_to_chat_and_2_to_search(runtime, tmp_path)
    with runtime.connect() as conn:
        revenue = period_revenue(conn, JUNE)
    assert revenue.by_customer() == {"acme": Decimal(100)}
    products = revenue.by_product()
    assert "" not in products
    assert products["chat"] + products["search"] == Decimal(100)
    assert (products["chat"].quantize(Decimal("0.01")), products["search"].quantize(Decimal("0.01"))) == (
        Decimal("33.33"),
        Decimal("66.67"),
    )


def test_the_product_reports_of_a_customer_billed_with_no_product_show_its_revenue_split_by_requests(
    runtime: Runtime, tmp_path: Path
) -> None:
    _billed_100_with_requests_1_to_chat_and_2_to_search(runtime, tmp_path)
    with runtime.connect() as conn:
        chat = product_report(conn, "chat", JUNE, thresholds=Thresholds())
        search = product_report(conn, "search", JUNE, thresholds=Thresholds())
    assert chat.current.revenue + search.current.revenue == Decimal(100)
    assert (chat.current.revenue.quantize(Decimal("0.01")), search.current.revenue.quantize(Decimal("0.01"))) == (
        Decimal("33.33"),
        Decimal("66.67"),
    )


def test_an_invoice_naming_no_product_with_no_usage_on_its_days_stays_in_no_products_row(
    runtime: Runtime, tmp_path: Path
) -> None:
    store_invoice_line(runtime.engine, "in_1", "acme", "2026-06-01", "2026-06-30", 100)
    with runtime.connect() as conn:
        revenue = period_revenue(conn, JUNE)
    assert revenue.by_customer() == {"acme": Decimal(100)}
    assert revenue.by_product() == {"": Decimal(100)}
