"""A one-off charge (a Stripe invoice item: its period starts where it ends, a $200 setup fee) is added to its day's
revenue; a line with a service period still replaces the contract's revenue on the days it covers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from engine.periods import month, month_to_date
from engine.reports.margin import customer_report
from engine.reports.portfolio import portfolio
from engine.runtime import Runtime
from tests.engine.ingest.conftest import Vendor, add_contract, rows
from tests.engine.ingest.stripe_invoices import invoice, line, sync_invoices

OCTOBER = month(2026, 10)


def _setup_fee(rt: Runtime, vendor: Vendor) -> None:
    """A $5,000-a-month contract for every product, and a $200 setup fee invoiced on 2026-10-10 at 15:00 UTC."""
    add_contract(rt, "acme", fee="5000")
    at = int(datetime(2026, 10, 10, 15, tzinfo=UTC).timestamp())
    fee = line("il_setup", 20_000, date(2026, 10, 10), date(2026, 10, 10)) | {"period": {"start": at, "end": at}}
    sync_invoices(rt, vendor, [invoice("in_setup", [fee], date(2026, 10, 10))], since=date(2026, 9, 20))


def test_a_setup_fee_adds_to_the_contract_revenue_of_its_day(rt: Runtime, vendor: Vendor) -> None:
    _setup_fee(rt, vendor)
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCTOBER, thresholds=rt.thresholds)
        book = portfolio(conn, OCTOBER, thresholds=rt.thresholds)
    # $5,000 of contract and the $200 fee: the fee no longer replaces October 10th's $161.29 of contract revenue.
    assert report.current.revenue == Decimal(5200)
    assert book.total.revenue == Decimal(5200)
    assert report.revenue_source == "mixed"
    assert sorted(line.terms for line in report.revenue) == [
        "billed in stripe (one-off charges)",
        "flat: $5,000.00/mo platform fee",
    ]
    stored = rows(rt, "SELECT id, period_start, period_end, one_off FROM revenue_actual")
    # As both databases give them back: dates as text (SQLite) or dates, the flag as 1 or True.
    assert [(i, str(a), str(b), bool(o)) for i, a, b, o in stored] == [("il_setup", "2026-10-10", "2026-10-10", True)]


def test_a_service_period_line_still_replaces_the_contract_on_its_days(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", fee="5000")
    october = line("il_oct", 600_000, date(2026, 10, 1), date(2026, 11, 1), product=None)
    sync_invoices(rt, vendor, [invoice("in_oct", [october], date(2026, 11, 1))], since=date(2026, 9, 20))
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCTOBER, thresholds=rt.thresholds)
    assert report.current.revenue == Decimal(6000) and report.revenue_source == "stripe"


def test_a_month_to_date_carries_a_setup_fee_once(rt: Runtime, vendor: Vendor) -> None:
    _setup_fee(rt, vendor)
    to_date = month_to_date(today=date(2026, 10, 16))
    assert to_date is not None
    with rt.connect() as conn:
        report = customer_report(conn, "acme", to_date, thresholds=rt.thresholds)
    projection = report.projection
    assert projection is not None
    # The contract over October ($5,000) and the fee once, not $200 × 31 ÷ 15.
    assert projection.figures.revenue == Decimal(5200)
