"""Stripe invoices → billed revenue lines; subscriptions → seat counts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from engine.ingest.sync import sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import Vendor, add_contract, fixture, rows, stripe_list

OCT = month(2026, 10)


def paid_invoice(invoice_id: str, line_id: str, amount: int, start: datetime, end: datetime) -> dict[str, object]:
    invoice = fixture("stripe_invoices_list.json")["data"][0]
    invoice.update(id=invoice_id, status="paid", created=int(start.timestamp()))
    line = invoice["lines"]["data"][0]
    line.update(
        id=line_id,
        amount=amount,
        invoice=invoice_id,
        period={"start": int(start.timestamp()), "end": int(end.timestamp())},
    )
    return invoice


def serve_stripe(vendor: Vendor, invoices: list[dict[str, object]], subscriptions: list[dict[str, object]]) -> None:
    vendor.route("/v1/invoices", stripe_list(invoices, page_size=1))
    vendor.route("/v1/subscriptions", stripe_list(subscriptions))


def test_stripe_invoice_lines_replace_modelled_revenue_using_each_lines_period(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", fee="5000")
    oct1, nov1, dec1 = (datetime(2026, m, 1, tzinfo=UTC) for m in (10, 11, 12))
    invoices = [
        paid_invoice("in_oct", "il_oct", 120_000, oct1, nov1),  # $1,200.00 for October
        paid_invoice("in_nov", "il_nov", 130_050, nov1, dec1),
        dict(paid_invoice("in_draft", "il_draft", 999_900, oct1, nov1), status="draft"),  # may still change
    ]
    serve_stripe(vendor, invoices, [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    stored = rows(
        rt,
        "SELECT id, customer, product, CAST(period_start AS TEXT), CAST(period_end AS TEXT), amount_usd "
        "FROM revenue_actual ORDER BY id",
    )
    assert [(*r[:5], Decimal(str(r[5]))) for r in stored] == [
        ("il_nov", "acme", "", "2026-11-01", "2026-11-30", Decimal("1300.50")),
        ("il_oct", "acme", "", "2026-10-01", "2026-10-31", Decimal("1200")),
    ]
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCT, thresholds=rt.thresholds)
    assert report.current.revenue == Decimal("1200")  # billed, not the $5,000 contract fee
    assert report.revenue_source == "stripe"


def test_stripe_void_invoice_removes_its_lines_on_the_next_sync(rt: Runtime, vendor: Vendor) -> None:
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    invoices = [paid_invoice("in_oct", "il_oct", 120_000, oct1, nov1)]
    serve_stripe(vendor, invoices, [])
    sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)
    invoices[0]["status"] = "void"

    again = sync_source(rt, "stripe", transport=vendor.transport)  # from the cursor less 40 days

    assert again.ok, again.error
    assert again.removed_revenue_lines == 1
    assert rows(rt, "SELECT COUNT(*) FROM revenue_actual") == [(0,)]


def test_stripe_subscription_quantity_sets_the_seat_contract(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", plan="seat", seats=10)
    sub = fixture("stripe_subscriptions_list.json")["data"][0]
    sub["items"]["data"][0]["quantity"] = 14
    serve_stripe(vendor, [], [sub])

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert result.seats == ["acme/assist: seats 10 → 14 (Stripe sub_1Pgc6rB7WZ01zgkWNy0Cn5nw)"]
    with rt.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds)
    assert report.current.revenue == Decimal(14 * 50)


def test_a_stripe_quantity_past_what_a_contract_holds_is_not_applied(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", plan="seat", seats=10)
    sub = fixture("stripe_subscriptions_list.json")["data"][0]
    sub["items"]["data"][0]["quantity"] = 2**31  # one past a 32-bit seats column
    serve_stripe(vendor, [], [sub])

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert result.seats == ["acme/assist: 2147483648 seat(s) in Stripe, not applied (more than 2,147,483,647)"]
    assert rows(rt, "SELECT seats FROM contract") == [(10,)]
