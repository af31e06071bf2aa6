"""Stripe invoices → billed revenue lines; subscriptions → seat counts."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from engine.ingest.files import import_usage_file
from engine.ingest.sync import sync_source
from engine.periods import Period, month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from engine.store.meta import StalePrices
from tests.engine.ingest.conftest import Reply, Sleeps, Vendor, add_contract, fixture, rows, stripe_list

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
    # Created within the 40 days the next sync reads again (Stripe lists invoices by their creation).
    invoices = [dict(paid_invoice("in_oct", "il_oct", 120_000, oct1, nov1), created=int(nov1.timestamp()))]
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
    assert result.seats == ["acme/assist: seats 10 → 14 from 2026-11-15 (Stripe sub_1Pgc6rB7WZ01zgkWNy0Cn5nw)"]
    # From today (the 15th) on: the days before keep the seats they were billed for. It rewrote the contract, and
    # with it every month since January (October read $700 after the sync, $500 before).
    with rt.connect() as conn:
        october = customer_report(conn, "acme", OCT, thresholds=rt.thresholds)
        november = customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds)
    assert october.current.revenue == Decimal(10 * 50)
    assert round(november.current.revenue, 2) == round(Decimal(10 * 14 + 14 * 16) * 50 / 30, 2)  # $606.67
    assert rows(rt, 'SELECT CAST(start AS TEXT), CAST("end" AS TEXT), seats FROM contract ORDER BY start') == [
        ("2026-01-01", "2026-11-14", 10),
        ("2026-11-15", None, 14),
    ]
    # Synced again the same day, or to the same count, nothing more changes: one contract carries today's seats.
    sub["items"]["data"][0]["quantity"] = 15
    serve_stripe(vendor, [], [sub])
    assert sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport).ok
    assert rows(rt, "SELECT seats FROM contract ORDER BY start") == [(10,), (15,)]


def test_the_contracts_file_imported_again_after_a_seat_sync_keeps_the_synced_seats_with_supersede(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    from engine.ingest.contracts import ContractFileError, import_contracts_file

    add_contract(rt, "acme", plan="seat", seats=10)
    sub = fixture("stripe_subscriptions_list.json")["data"][0]
    sub["items"]["data"][0]["quantity"] = 14
    serve_stripe(vendor, [], [sub])
    assert sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport).ok
    original = tmp_path / "contracts.csv"
    original.write_text("customer,plan,start,seats,seat_price_usd\nacme,seat,2026-01-01,10,50\n")
    with pytest.raises(ContractFileError, match="overlap"):  # said, naming both, and nothing changed
        import_contracts_file(rt.engine, original)
    import_contracts_file(rt.engine, original, supersede=True)
    assert rows(rt, 'SELECT CAST(start AS TEXT), CAST("end" AS TEXT), seats FROM contract ORDER BY start') == [
        ("2026-01-01", "2026-11-14", 10),
        ("2026-11-15", None, 14),
    ]


def test_a_stripe_quantity_past_what_a_contract_holds_is_not_applied(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", plan="seat", seats=10)
    sub = fixture("stripe_subscriptions_list.json")["data"][0]
    sub["items"]["data"][0]["quantity"] = 2**31  # one past a 32-bit seats column
    serve_stripe(vendor, [], [sub])

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert result.seats == ["acme/assist: 2147483648 seat(s) in Stripe, not applied (more than 2,147,483,647)"]
    assert rows(rt, "SELECT seats FROM contract") == [(10,)]


def stored_amounts(rt: Runtime) -> dict[str, Decimal]:
    return {r[0]: Decimal(str(r[1])) for r in rows(rt, "SELECT id, amount_usd FROM revenue_actual")}


def with_line(invoice: dict[str, object], **fields: object) -> dict[str, object]:
    invoice["lines"]["data"][0].update(fields)  # type: ignore[index]
    return invoice


def test_stripe_revenue_is_before_tax_included_in_a_tax_inclusive_price(rt: Runtime, vendor: Vendor) -> None:
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    vat = {"amount": 1_000, "taxability_reason": "standard_rated", "taxable_amount": 10_000, "type": "tax_rate_details"}
    invoices = [
        # $110.00 with 10% VAT inside the price: $100.00 of revenue.
        with_line(paid_invoice("in_1", "il_incl", 11_000, oct1, nov1), taxes=[dict(vat, tax_behavior="inclusive")]),
        # Exclusive tax is added on top of `amount`: nothing to take off.
        with_line(paid_invoice("in_2", "il_excl", 10_000, oct1, nov1), taxes=[dict(vat, tax_behavior="exclusive")]),
        # API versions before 2025-03-31 list `tax_amounts` with `inclusive`.
        with_line(
            paid_invoice("in_3", "il_old", 11_000, oct1, nov1),
            taxes=None,
            tax_amounts=[{"amount": 1_000, "inclusive": True, "tax_rate": "txr_1", "taxable_amount": 10_000}],
        ),
        with_line(
            paid_invoice("in_4", "il_old_excl", 10_000, oct1, nov1),
            tax_amounts=[{"amount": 800, "inclusive": False, "tax_rate": "txr_1", "taxable_amount": 10_000}],
        ),
    ]
    serve_stripe(vendor, invoices, [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {
        "il_incl": Decimal("100"),
        "il_excl": Decimal("100"),
        "il_old": Decimal("100"),
        "il_old_excl": Decimal("100"),
    }
    with rt.connect() as conn:
        assert customer_report(conn, "acme", OCT, thresholds=rt.thresholds).current.revenue == Decimal("400")


def test_stripe_billing_credits_are_subtracted_and_a_discount_only_once(rt: Runtime, vendor: Vendor) -> None:
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    credit = {"amount": 3_000, "credit_balance_transaction": "cbtxn_1", "discount": None}
    credit["type"] = "credit_balance_transaction"
    discount = {"amount": 500, "credit_balance_transaction": None, "discount": "di_1", "type": "discount"}
    invoices = [
        # $100 of usage, $30 of it paid from a (separately invoiced) credit grant: $70.
        with_line(paid_invoice("in_1", "il_credit", 10_000, oct1, nov1), pretax_credit_amounts=[credit]),
        # The $5 discount is listed in both discount_amounts and pretax_credit_amounts: $100 - $5 - $30.
        with_line(
            paid_invoice("in_2", "il_both", 10_000, oct1, nov1),
            discount_amounts=[{"amount": 500, "discount": "di_1"}],
            pretax_credit_amounts=[discount, credit],
        ),
        # A version that lists the discount only among the pretax credits still takes it off.
        with_line(
            paid_invoice("in_3", "il_pretax_only", 10_000, oct1, nov1),
            discount_amounts=None,
            pretax_credit_amounts=[discount],
        ),
    ]
    serve_stripe(vendor, invoices, [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {
        "il_credit": Decimal("70"),
        "il_both": Decimal("65"),
        "il_pretax_only": Decimal("95"),
    }


def test_a_malformed_stripe_tax_entry_stops_the_sync_in_one_line(rt: Runtime, vendor: Vendor) -> None:
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    bad = {"amount": "10.00", "tax_behavior": "inclusive", "type": "tax_rate_details"}
    serve_stripe(vendor, [with_line(paid_invoice("in_1", "il_bad", 11_000, oct1, nov1), taxes=[bad])], [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.error == (
        "stripe: invoice in_1 line il_bad: taxes.amount must be an integer number of cents, got '10.00'"
    )
    assert rows(rt, "SELECT COUNT(*) FROM revenue_actual") == [(0,)]


def test_stripe_invoice_lines_past_the_embedded_page_are_all_read_one_page_after_another(
    rt: Runtime, vendor: Vendor
) -> None:
    nov1, nov2 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    invoice = paid_invoice("in_big", "il_0000", 100, nov1, nov2)
    line = invoice["lines"]["data"][0]  # type: ignore[index]
    lines = [dict(line, id=f"il_{i:04d}") for i in range(230)]
    invoice["lines"] = {"object": "list", "data": lines[:10], "has_more": True, "url": "/v1/invoices/in_big/lines"}
    asked: list[list[str]] = []
    line_pages = stripe_list(lines)

    def lines_route(request: httpx.Request) -> Reply:
        asked.append(request.url.params.get_list("starting_after"))
        return line_pages(request)

    serve_stripe(vendor, [invoice], [])
    vendor.route("/v1/invoices/in_big/lines", lines_route)

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert asked == [["il_0009"], ["il_0109"], ["il_0209"]]  # one starting_after a request
    assert len(stored_amounts(rt)) == 230 and sum(stored_amounts(rt).values()) == Decimal("230")


def test_a_stripe_backfill_after_the_cursor_leaves_the_cursor_where_it_was(rt: Runtime, vendor: Vendor) -> None:
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    serve_stripe(vendor, [], [])
    first = sync_source(rt, "stripe", since=date(2026, 9, 1), until=date(2026, 9, 1), transport=vendor.transport)
    assert first.ok, first.error
    cursor = rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'stripe'")
    # An invoice created on Oct 1, then a backfill from Nov 1: Oct 1 is after the cursor and not read by it.
    serve_stripe(vendor, [paid_invoice("in_oct", "il_oct", 120_000, oct1, nov1)], [])
    back = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)
    assert back.ok, back.error
    assert rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'stripe'") == cursor

    resumed = sync_source(rt, "stripe", transport=vendor.transport)  # from the cursor less 40 days

    assert resumed.ok, resumed.error
    assert stored_amounts(rt) == {"il_oct": Decimal("1200")}


# Credit notes: Stripe adds each issued credit note to the invoice's pre- or post-payment credit note amount.
ASSIST = {"type": "price_details", "price_details": {"price": "price_1", "product": "prod_QXg1hqf4jFNsqG"}}


def credited_invoice(
    invoice_id: str, lines: dict[str, int], *, pre: int = 0, post: int = 0, tax: int = 0, status: str = "paid"
) -> dict[str, object]:
    """An October invoice, created on Nov 1, with these lines (id → cents), credit notes and exclusive tax."""
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    invoice = paid_invoice(invoice_id, "il_0", 0, oct1, nov1)
    first = invoice["lines"]["data"][0]  # type: ignore[index]
    invoice["lines"]["data"] = [dict(first, id=i, amount=a) for i, a in lines.items()]  # type: ignore[index]
    subtotal = sum(lines.values())
    invoice.update(
        status=status,
        created=int(nov1.timestamp()),
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal + tax,
        total_excluding_tax=subtotal,
        pre_payment_credit_notes_amount=pre,
        post_payment_credit_notes_amount=post,
    )
    return invoice


def october_revenue(rt: Runtime) -> Decimal:
    with rt.connect() as conn:
        return customer_report(conn, "acme", OCT, thresholds=rt.thresholds).current.revenue


def test_a_stripe_post_payment_credit_note_is_taken_off_the_invoice_lines(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", fee="5000")
    # A paid $1,000 invoice, then a $400 credit note (a refund): $600 of revenue.
    serve_stripe(vendor, [credited_invoice("in_1", {"il_1": 100_000}, post=40_000)], [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {"il_1": Decimal("600")}
    assert october_revenue(rt) == Decimal("600")
    assert result.notes == []


def test_a_stripe_pre_payment_credit_note_is_taken_off_the_invoice_lines(rt: Runtime, vendor: Vendor) -> None:
    # Credited by $250 while still open (its amount due fell to $750), then paid.
    invoices = [
        credited_invoice("in_open", {"il_open": 100_000}, pre=25_000, status="open"),
        credited_invoice("in_paid", {"il_paid": 100_000}, pre=10_000, post=5_000),
    ]
    serve_stripe(vendor, invoices, [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {"il_open": Decimal("750"), "il_paid": Decimal("850")}
    assert october_revenue(rt) == Decimal("1600")


def test_a_stripe_credit_note_including_tax_takes_off_its_share_before_tax(rt: Runtime, vendor: Vendor) -> None:
    # $1,000 + $100 of exclusive tax; a $550 credit note (tax included) credits $500 of revenue and $50 of tax.
    serve_stripe(vendor, [credited_invoice("in_1", {"il_1": 100_000}, post=55_000, tax=10_000)], [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {"il_1": Decimal("500")}


def test_a_stripe_credit_note_is_split_across_the_lines_in_proportion_exactly(rt: Runtime, vendor: Vendor) -> None:
    two = credited_invoice("in_two", {"il_assist": 30_000, "il_all": 10_000}, post=10_000)
    two["lines"]["data"][0]["pricing"] = ASSIST  # type: ignore[index]
    # $1 over three $100 lines: a third of a dollar each to the micro-dollar, the unit left over to the first.
    three = credited_invoice("in_three", {"il_a": 10_000, "il_b": 10_000, "il_c": 10_000}, pre=100)
    serve_stripe(vendor, [two, three], [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {
        "il_assist": Decimal("225"),  # $300 less 3/4 of $100
        "il_all": Decimal("75"),  # $100 less 1/4 of $100
        "il_a": Decimal("99.666666"),
        "il_b": Decimal("99.666667"),
        "il_c": Decimal("99.666667"),
    }
    assert rows(rt, "SELECT id, product FROM revenue_actual WHERE invoice_id = 'in_two' ORDER BY id") == [
        ("il_all", ""),
        ("il_assist", "assist"),
    ]
    assert october_revenue(rt) == Decimal("300") + Decimal("299")  # each invoice less exactly its credit


def test_a_stripe_credit_note_on_a_stored_invoice_replaces_its_amounts_on_the_next_sync(
    rt: Runtime, vendor: Vendor
) -> None:
    invoice = credited_invoice("in_1", {"il_a": 30_000, "il_b": 10_000})
    serve_stripe(vendor, [invoice], [])
    first = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)
    assert first.ok, first.error
    assert stored_amounts(rt) == {"il_a": Decimal("300"), "il_b": Decimal("100")}

    invoice["post_payment_credit_notes_amount"] = 8_000  # a credit note issued since: $80
    again = sync_source(rt, "stripe", transport=vendor.transport)  # from the cursor less 40 days

    assert again.ok, again.error
    assert stored_amounts(rt) == {"il_a": Decimal("240"), "il_b": Decimal("80")}
    assert october_revenue(rt) == Decimal("320")

    invoice["post_payment_credit_notes_amount"] = 12_000  # and another $40: the total so far, not added to
    third = sync_source(rt, "stripe", transport=vendor.transport)

    assert third.ok, third.error
    assert stored_amounts(rt) == {"il_a": Decimal("210"), "il_b": Decimal("70")}
    assert october_revenue(rt) == Decimal("280")


def test_stripe_credit_notes_over_the_lines_leave_them_at_zero_and_say_so(rt: Runtime, vendor: Vendor) -> None:
    serve_stripe(vendor, [credited_invoice("in_1", {"il_a": 30_000, "il_b": 10_000}, pre=30_000, post=20_000)], [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {"il_a": Decimal(0), "il_b": Decimal(0)}
    assert result.notes == [
        "invoice in_1: credit notes of $500.00 before tax exceed what its lines charge ($400.00): those lines are "
        "stored at $0, not below"
    ]


def test_a_stripe_credit_note_comes_off_the_lines_that_charge_and_leaves_a_negative_line_as_billed(
    rt: Runtime, vendor: Vendor
) -> None:
    # A plan changed mid-cycle: -$50 for the old plan's unused time, +$100 and +$300 for the new ones. A $40 credit
    # note comes off the two charges ($10 and $30); split over the net ($350) it took $11.43 and $34.29 off them and
    # added $5.71 to the old plan's line. A second invoice's $500 credit clears its charge and keeps its -$20.
    serve_stripe(
        vendor,
        [
            credited_invoice("in_1", {"il_unused": -5_000, "il_new": 10_000, "il_more": 30_000}, post=4_000),
            credited_invoice("in_2", {"il_back": -2_000, "il_big": 10_000}, post=50_000),
        ],
        [],
    )

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert stored_amounts(rt) == {
        "il_unused": Decimal(-50),
        "il_new": Decimal(90),
        "il_more": Decimal(270),
        "il_back": Decimal(-20),
        "il_big": Decimal(0),
    }
    assert result.notes == [
        "invoice in_2: credit notes of $500.00 before tax exceed what its lines charge ($100.00): those lines are "
        "stored at $0, not below"
    ]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("400.00", "must be an integer number of cents, got '400.00'"),
        (400.0, "must be an integer number of cents, got 400.0"),
        (-40_000, "must be a non-negative integer number of cents, got -40000"),
    ],
)
def test_a_malformed_stripe_credit_note_amount_stops_the_sync_in_one_line(
    rt: Runtime, vendor: Vendor, value: object, said: str
) -> None:
    invoice = credited_invoice("in_1", {"il_1": 100_000})
    invoice["post_payment_credit_notes_amount"] = value
    serve_stripe(vendor, [invoice], [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.error == f"stripe: invoice in_1: post_payment_credit_notes_amount {said}"
    assert rows(rt, "SELECT COUNT(*) FROM revenue_actual") == [(0,)]


def test_billed_revenue_keeps_syncing_while_the_prices_wait_for_a_reprice(
    rt: Runtime, vendor: Vendor, prices_file: Path, tmp_path: Path
) -> None:
    """Imports and syncs of usage wait for a reprice after the prices changed (engine.store.meta.check_rollups);
    Stripe writes revenue only, which no price touches, so it is not held up."""
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"
        "e1,2026-10-10T12:00:00Z,acme,chat,openai,gpt-4o,1000000,0\n"
    )
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)
    prices_file.write_text(
        '[[models]]\nprovider = "openai"\nmodel = "gpt-4o"\neffective_from = 2026-01-01\n'
        "input_per_mtok = 1\noutput_per_mtok = 4\n"
    )
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    serve_stripe(vendor, [paid_invoice("in_oct", "il_oct", 120_000, oct1, nov1)], [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert rows(rt, "SELECT id FROM revenue_actual") == [("il_oct",)]
    with pytest.raises(StalePrices):  # usage at the edited prices still waits for the reprice
        import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)


@pytest.mark.parametrize(
    ("anchor", "timezone"),
    [(datetime(2026, 9, 1, 17, 23, tzinfo=UTC), "UTC"), (datetime(2026, 9, 1, tzinfo=UTC), "America/New_York")],
)
def test_monthly_lines_anchored_off_local_midnight_bill_each_day_once(
    rt: Runtime, vendor: Vendor, anchor: datetime, timezone: str
) -> None:
    # Stripe's period end is the next period's start at the anchor's time of day: the day of the second before it
    # is that next period's first day too. Each line was spread over 32 days, October billed $3,003.02 for $3,000.
    rt = Runtime(rt.settings.model_copy(update={"timezone": timezone}), now_override=rt.now())
    ends = [anchor.replace(month=m) for m in (9, 10, 11, 12)]
    serve_stripe(
        vendor,
        [paid_invoice(f"in_{i}", f"il_{i}", 300_000, a, b) for i, (a, b) in enumerate(itertools.pairwise(ends))],
        [],
    )
    assert sync_source(rt, "stripe", since=date(2026, 8, 1), transport=vendor.transport).ok
    spans = rows(rt, "SELECT CAST(period_start AS TEXT), CAST(period_end AS TEXT) FROM revenue_actual ORDER BY id")
    firsts = [date.fromisoformat(a) for a, _ in spans]
    lasts = [date.fromisoformat(b) for _, b in spans]
    assert all(
        (nxt - last).days == 1 for last, nxt in zip(lasts, firsts[1:], strict=False)
    )  # each day in one line, none left out
    with rt.connect() as conn:
        # Every line's days together bill the three months exactly; in UTC, October is October's line.
        whole = Period(firsts[0], lasts[-1], "the lines' days")
        assert customer_report(conn, "acme", whole, thresholds=rt.thresholds).current.revenue == Decimal("9000")
        if timezone == "UTC":
            assert customer_report(conn, "acme", OCT, thresholds=rt.thresholds).current.revenue == Decimal("3000")


def test_a_hybrid_plans_synced_seats_start_with_the_month_so_its_allowance_stays_whole(
    rt: Runtime, vendor: Vendor
) -> None:
    # 10 seats at $50, $1,000 a month with 3,000 requests included, $0.10 over; all 3,000 requests on November 15th.
    # Cut on the 15th, the new part had 16/30 of the allowance for them: $140 of overage that no month has.
    from sqlmodel import Session

    from engine.store.models import Contract, Customer

    with Session(rt.engine) as session:
        session.add(Customer(id="acme", name="Acme"))
        session.add(
            Contract(customer="acme", product="", plan="hybrid", start=date(2026, 1, 1), seats=10,
                     seat_price_usd=Decimal(50), platform_fee_usd=Decimal(1000), included_units=Decimal(3000),
                     unit="request", unit_price_usd=Decimal("0.10"))
        )  # fmt: skip
        session.commit()
    usage = Path(rt.settings.prices_file).parent / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,model,requests,cost_usd\nu1,2026-11-15T12:00:00Z,acme,assist,gpt-4o,3000,1\n"
    )
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone="UTC")
    sub = fixture("stripe_subscriptions_list.json")["data"][0]
    sub["items"]["data"][0]["quantity"] = 14
    serve_stripe(vendor, [], [sub])

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.seats == ["acme/assist: seats 10 → 14 from 2026-11-01 (Stripe sub_1Pgc6rB7WZ01zgkWNy0Cn5nw)"]
    with rt.connect() as conn:
        october = customer_report(conn, "acme", OCT, thresholds=rt.thresholds)
        november = customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds)
    assert (october.current.revenue, november.current.revenue) == (Decimal(1500), Decimal(1000 + 14 * 50))


def seat_subscription(sub_id: str, quantity: int, product: str = "prod_QXg1hqf4jFNsqG") -> dict[str, object]:
    """Stripe's subscription fixture as `sub_id`: one licensed per-unit item of `product`, `quantity` seats."""
    sub = fixture("stripe_subscriptions_list.json")["data"][0]
    sub["id"] = sub_id
    item = sub["items"]["data"][0]
    item.update(quantity=quantity, subscription=sub_id)
    item["price"]["product"] = product
    return sub  # type: ignore[no-any-return]


def seat_contract(rt: Runtime, product: str, seats: int) -> None:
    from sqlmodel import Session

    from engine.store.models import Contract, Customer

    with Session(rt.engine) as session:
        if session.get(Customer, "acme") is None:
            session.add(Customer(id="acme", name="Acme"))
        session.add(
            Contract(customer="acme", product=product, plan="seat", start=date(2026, 1, 1), seats=seats,
                     seat_price_usd=Decimal(50))
        )  # fmt: skip
        session.commit()


def test_a_customers_seats_are_added_up_across_its_subscriptions_of_one_product(rt: Runtime, vendor: Vendor) -> None:
    # Two teams of acme on the same product, 5 and 10 seats: the contract's 15. Applied one subscription after the
    # other, the sync set 15 → 5 → 10, stored 10, and every later sync flipped 10 → 5 → 10.
    add_contract(rt, "acme", plan="seat", seats=15)
    serve_stripe(vendor, [], [seat_subscription("sub_team1", 5), seat_subscription("sub_team2", 10)])

    for _ in range(2):
        result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)
        assert result.ok, result.error
        assert result.seats == []
        assert rows(rt, "SELECT seats FROM contract") == [(15,)]

    serve_stripe(vendor, [], [seat_subscription("sub_team1", 7), seat_subscription("sub_team2", 10)])
    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)
    assert result.seats == ["acme/assist: seats 15 → 17 from 2026-11-15 (Stripe sub_team1 + sub_team2)"]
    assert rows(rt, "SELECT seats FROM contract ORDER BY start") == [(15,), (17,)]


def test_seats_of_other_products_set_each_products_contract_and_never_one_contract_twice(
    rt: Runtime, vendor: Vendor
) -> None:
    with Path(rt.settings.mapping_file).open("a") as mapping:
        mapping.write('prod_chat = "chat"\n')
    seat_contract(rt, "assist", 5)
    seat_contract(rt, "chat", 3)
    subs = [seat_subscription("sub_team1", 5), seat_subscription("sub_team2", 10, product="prod_chat")]
    serve_stripe(vendor, [], subs)

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    # Each product's seats set its own contract: assist keeps its 5, chat goes to 10.
    assert result.seats == ["acme/chat: seats 3 → 10 from 2026-11-15 (Stripe sub_team2)"]
    assert rows(rt, "SELECT product, seats FROM contract ORDER BY product, start") == [
        ("assist", 5),
        ("chat", 3),
        ("chat", 10),
    ]


def test_seats_of_two_products_for_one_contract_of_every_product_are_not_applied_either(
    rt: Runtime, vendor: Vendor
) -> None:
    # One seat contract for all of acme's products, Stripe seats of two products: which is its count is not for the
    # sync to guess (5 and 10 of different products may be the same people). Each applied in turn flipped it 15 → 5
    # → 10 at every sync; now neither is applied and the sync says why.
    with Path(rt.settings.mapping_file).open("a") as mapping:
        mapping.write('prod_chat = "chat"\n')
    add_contract(rt, "acme", plan="seat", seats=15)
    subs = [seat_subscription("sub_team1", 5), seat_subscription("sub_team2", 10, product="prod_chat")]
    serve_stripe(vendor, [], subs)

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert result.seats == [
        "acme: 5 seat(s) of assist (Stripe sub_team1) and 10 of chat (Stripe sub_team2), not applied: its one seat"
        " contract in force is for them all (set its seats yourself)"
    ]
    assert rows(rt, "SELECT seats FROM contract") == [(15,)]


def test_stripe_lines_with_an_old_id_that_two_invoices_share_are_each_stored(rt: Runtime, vendor: Vendor) -> None:
    # Before API version 2019-12-03 a line's id (sub_, su_, sli_, ii_, item_) was not unique across invoices, and
    # marginbot sends no Stripe-Version: a subscription's line was `sub_X` on each month's invoice. Stored by that id
    # alone, November's line replaced October's: one row, and October's $1,000 was lost.
    oct1, nov1, dec1 = (datetime(2026, m, 1, tzinfo=UTC) for m in (10, 11, 12))
    invoices = [
        paid_invoice("in_oct", "sub_X", 100_000, oct1, nov1),
        paid_invoice("in_nov", "sub_X", 100_000, nov1, dec1),
        # On those versions a line also has `unique_id` (il_), the id later versions give it: that is its key.
        with_line(paid_invoice("in_dec", "sli_Y", 50_000, dec1, datetime(2027, 1, 1, tzinfo=UTC)), unique_id="il_Y"),
    ]
    invoices[2]["created"] = int(datetime(2026, 11, 14, tzinfo=UTC).timestamp())  # billed ahead: not in the future
    serve_stripe(vendor, invoices, [])

    for _ in range(2):  # read again (the 40 days re-read), the same rows: nothing counted twice
        result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)
        assert result.ok, result.error
        assert rows(rt, "SELECT id, invoice_id, CAST(period_start AS TEXT) FROM revenue_actual ORDER BY id") == [
            ("il_Y", "in_dec", "2026-12-01"),
            ("in_nov:sub_X", "in_nov", "2026-11-01"),
            ("in_oct:sub_X", "in_oct", "2026-10-01"),
        ]
    with rt.connect() as conn:
        assert customer_report(conn, "acme", OCT, thresholds=rt.thresholds).current.revenue == Decimal(1000)
        assert customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds).current.revenue == Decimal(1000)


def test_a_line_stored_by_its_old_id_alone_is_replaced_when_its_invoice_is_read_again(
    rt: Runtime, vendor: Vendor
) -> None:
    # What an earlier sync stored by the line's id alone (November's `sub_X`, October's lost under it): read again,
    # the invoice's lines replace it under their new keys, so November is $1,000 once, not $2,000.
    oct1, nov1, dec1 = (datetime(2026, m, 1, tzinfo=UTC) for m in (10, 11, 12))
    with rt.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd,"
                " currency, invoice_id) VALUES ('sub_X', 'stripe', 'acme', '', :s, :e, 1000, 'usd', 'in_nov')"
            ),
            {"s": date(2026, 11, 1), "e": date(2026, 11, 30)},
        )
        conn.commit()
    invoices = [
        paid_invoice("in_oct", "sub_X", 100_000, oct1, nov1),
        paid_invoice("in_nov", "sub_X", 100_000, nov1, dec1),
    ]
    serve_stripe(vendor, invoices, [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert result.removed_revenue_lines == 0  # replaced, not removed: no invoice was voided
    assert rows(rt, "SELECT id FROM revenue_actual ORDER BY id") == [("in_nov:sub_X",), ("in_oct:sub_X",)]
    with rt.connect() as conn:
        assert customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds).current.revenue == Decimal(1000)


RATE_LIMITED = Reply(429, {"error": {"type": "rate_limit_error"}}, {"Stripe-Should-Retry": "true"})


def test_a_rate_limited_stripe_page_is_retried_with_growing_waits_and_nothing_read_is_lost(
    rt: Runtime, vendor: Vendor, sleeps: Sleeps
) -> None:
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    invoices = [paid_invoice(f"in_{i:03d}", f"il_{i:03d}", 10_000, oct1, nov1) for i in range(250)]
    page = stripe_list(invoices)
    calls: list[str | None] = []

    def limited(request: httpx.Request) -> Reply:  # the third page is refused four times (Stripe sends no Retry-After)
        after = request.url.params.get("starting_after")
        calls.append(after)
        return RATE_LIMITED if after == "in_199" and calls.count(after) <= 4 else page(request)

    vendor.route("/v1/invoices", limited)
    vendor.route("/v1/subscriptions", stripe_list([]))

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport, sleep=sleeps)

    assert result.ok, result.error
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert rows(rt, "SELECT COUNT(*), SUM(amount_usd) FROM revenue_actual") == [(250, 25_000)]


def test_stripe_rate_limits_are_waited_out_within_two_minutes_then_the_sync_stops(
    rt: Runtime, vendor: Vendor, sleeps: Sleeps
) -> None:
    vendor.route("/v1/invoices", lambda request: RATE_LIMITED)

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport, sleep=sleeps)

    assert result.error == "stripe: GET /invoices was rate limited 7 time(s) in 63s of waiting; giving up"
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]  # the next, 60 s (the longest), would pass 120 s in all


def test_a_rate_limit_asking_for_no_wait_still_backs_off_and_ends(rt: Runtime, vendor: Vendor, sleeps: Sleeps) -> None:
    # A proxy in front of MARGINBOT_STRIPE_BASE_URL answering "Retry-After: 0" kept every wait at nothing, so the
    # waiting budget never ran out and the requests never stopped.
    vendor.route(
        "/v1/invoices", lambda request: Reply(429, {"error": {"type": "rate_limit_error"}}, {"Retry-After": "0"})
    )

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport, sleep=sleeps)

    assert result.error == "stripe: GET /invoices was rate limited 7 time(s) in 63s of waiting; giving up"
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_a_stripe_error_it_says_not_to_retry_is_not_retried(rt: Runtime, vendor: Vendor, sleeps: Sleeps) -> None:
    vendor.fail("/v1/invoices", Reply(500, {"error": {"message": "no"}}, {"Stripe-Should-Retry": "false"}))
    vendor.route("/v1/invoices", stripe_list([]))

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport, sleep=sleeps)

    assert result.error == "stripe: HTTP 500 from GET /invoices: no" and sleeps == []


@pytest.mark.parametrize("mode", ["graduated", "volume"])
def test_a_tiered_seat_price_sets_the_seats_and_says_its_price_comes_from_the_invoices(
    rt: Runtime, vendor: Vendor, mode: str
) -> None:
    add_contract(rt, "acme", plan="seat", seats=10)
    sub = seat_subscription("sub_tiered", 14)
    price = sub["items"]["data"][0]["price"]  # type: ignore[index]
    price.update(billing_scheme="tiered", tiers_mode=mode, unit_amount=None, unit_amount_decimal=None)
    serve_stripe(vendor, [], [sub])

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert result.seats == ["acme/assist: seats 10 → 14 from 2026-11-15 (Stripe sub_tiered)"]
    assert rows(rt, "SELECT seats, seat_price_usd FROM contract ORDER BY start") == [(10, 50), (14, 50)]
    assert result.notes == [
        f"subscription sub_tiered: price price_1PgafmB7WZ01zgkW6dKueIc5 is tiered ({mode}): its 14 seat(s) are "
        "counted; a tiered price has no one price a seat, so what they are billed is read from its invoices and the "
        "seat contract's seat price is left as it is"
    ]


def test_seats_of_a_price_with_a_billing_scheme_marginbot_does_not_know_are_not_applied_and_said(
    rt: Runtime, vendor: Vendor
) -> None:
    add_contract(rt, "acme", plan="seat", seats=10)
    sub = seat_subscription("sub_new", 14)
    sub["items"]["data"][0]["price"]["billing_scheme"] = "per_bundle"  # type: ignore[index]
    serve_stripe(vendor, [], [sub])

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.seats == [] and rows(rt, "SELECT seats FROM contract") == [(10,)]
    assert result.notes == [
        "subscription sub_new: 14 seat(s) of price price_1PgafmB7WZ01zgkW6dKueIc5 not applied: its billing scheme "
        "'per_bundle' is unknown to marginbot"
    ]


def test_a_stripe_sync_that_fails_keeps_the_invoices_of_the_windows_before_and_the_next_run_reads_the_rest(
    rt: Runtime, vendor: Vendor, sleeps: Sleeps
) -> None:
    add_contract(rt, "acme", plan="seat", seats=10)
    created = [datetime(2026, 10, d, tzinfo=UTC) for d in (1, 12)] + [datetime(2026, 11, 10, tzinfo=UTC)]
    invoices = [
        dict(paid_invoice(f"in_{i}", f"il_{i}", 10_000, at, at), created=int(at.timestamp()))
        for i, at in enumerate(created)
    ]
    page = stripe_list(invoices)
    limited = {"on": True}

    def rate_limited_at_in_2(request: httpx.Request) -> Reply:  # the page listing in_2 is refused, past the budget
        reply = page(request)
        return RATE_LIMITED if limited["on"] and "in_2" in [i["id"] for i in reply.body["data"]] else reply

    vendor.route("/v1/invoices", rate_limited_at_in_2)
    vendor.route("/v1/subscriptions", stripe_list([seat_subscription("sub_seats", 14)]))

    failed = sync_source(rt, "stripe", since=date(2026, 10, 1), transport=vendor.transport, sleep=sleeps)

    # Invoices are read in windows of 10 days of creation, each written whole: the windows before the failure stay.
    assert failed.error is not None and (failed.windows_done, failed.windows) == (4, 5)
    assert rows(rt, "SELECT id FROM revenue_actual ORDER BY id") == [("il_0",), ("il_1",)]
    assert rows(rt, "SELECT seats FROM contract") == [(10,)]  # subscriptions are read (whole) by the last window only
    limited["on"] = False

    resumed = sync_source(rt, "stripe", transport=vendor.transport)  # from the cursor (Nov 10) less 40 days

    assert resumed.ok, resumed.error
    assert rows(rt, "SELECT id, amount_usd FROM revenue_actual ORDER BY id") == [
        ("il_0", 100),
        ("il_1", 100),
        ("il_2", 100),
    ]
    assert rows(rt, "SELECT seats FROM contract ORDER BY start") == [(10,), (14,)]
