"""An invoice marked uncollectible in Stripe keeps its revenue, as earned, and every answer over its days says so.

Its lines were removed: a customer's September read $5,000 of revenue, then $0 once October's dunning gave up, a
closed month restated without a word. Under ASC 606 and IFRS 15 a write-off is a bad-debt expense, not a reversal of
revenue: gross margin keeps what was earned, and the answer names what will not be collected.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from bot.blocks.digest import digest_message
from bot.blocks.portfolio import portfolio_message
from bot.blocks.report import margin_report
from bot.render.tables import render_portfolio, render_report
from engine.alerts.digest import digest_to_dict, weekly_digest
from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.reports.margin import customer_report, product_report
from engine.reports.pack import board_pack
from engine.reports.portfolio import portfolio
from engine.reports.serialize import portfolio_to_dict, report_to_dict
from engine.runtime import Runtime
from tests.engine.ingest.conftest import Vendor
from tests.engine.ingest.stripe_invoices import invoice, line, sync_invoices

SEPTEMBER = month(2026, 9)
SAID = (
    "invoice in_sep of acme ($5,000.00 for 2026-09-01 to 2026-09-30) is marked uncollectible in Stripe: its revenue "
    "stays in the figures as earned; the write-off is a bad-debt expense, outside gross margin"
)


def _september(status: str) -> dict[str, object]:
    return invoice(
        "in_sep", [line("il_sep", 500_000, date(2026, 9, 1), date(2026, 10, 1))], date(2026, 9, 1), status=status
    )


def test_an_invoice_marked_uncollectible_after_it_was_stored_keeps_its_revenue_and_is_named(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    usage = tmp_path / "usage.csv"  # a day of the product's usage: its margin answer has something to answer about
    usage.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests,cost_usd\n"
        "e1,2026-09-10T10:00:00Z,acme,assist,openai,gpt-4o,1000,100,10,300\n"
    )
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone="UTC")
    sync_invoices(rt, vendor, [_september("open")], since=date(2026, 8, 25))
    with rt.connect() as conn:
        assert customer_report(conn, "acme", SEPTEMBER, thresholds=rt.thresholds).current.revenue == Decimal(5000)

    sync_invoices(rt, vendor, [_september("uncollectible")], since=date(2026, 8, 25))  # read again

    with rt.connect() as conn:
        report = customer_report(conn, "acme", SEPTEMBER, thresholds=rt.thresholds)
        product = product_report(conn, "assist", SEPTEMBER, thresholds=rt.thresholds)
        book = portfolio(conn, SEPTEMBER, thresholds=rt.thresholds)
        pack = board_pack(conn, SEPTEMBER, prices=rt.prices, timezone=rt.settings.timezone, thresholds=rt.thresholds)
    assert report.current.revenue == Decimal(5000)  # it was $0.00: September restated
    assert book.total.revenue == Decimal(5000)
    assert f"UNCOLLECTIBLE: {SAID}" in render_report(report)
    assert SAID in str(margin_report(report).blocks)
    [written] = report_to_dict(report)["uncollectible_invoices"]
    assert (written["customer"], written["invoice"], written["amount_usd"], written["from"], written["to"]) == (
        "acme",
        "in_sep",
        5000.0,
        "2026-09-01",
        "2026-09-30",
    )
    assert [w.invoice for w in product.written_off] == ["in_sep"]  # the product it bills says so too
    assert f"UNCOLLECTIBLE: {SAID}" in render_portfolio(book)
    assert SAID in str(portfolio_message(book).blocks)
    assert portfolio_to_dict(book)["uncollectible_invoices"][0]["invoice"] == "in_sep"
    assert any(SAID[1:] in str(row[0]) for row in pack.sheet("notes").rows)
    with rt.connect() as conn:  # a month it does not bill says nothing of it
        assert customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds).written_off == []


def test_an_invoice_first_read_uncollectible_is_stored_marked(rt: Runtime, vendor: Vendor) -> None:
    sync_invoices(rt, vendor, [_september("uncollectible")], since=date(2026, 8, 25))
    with rt.connect() as conn:
        report = customer_report(conn, "acme", SEPTEMBER, thresholds=rt.thresholds)
    assert report.current.revenue == Decimal(5000) and [w.invoice for w in report.written_off] == ["in_sep"]


def test_an_uncollectible_invoice_paid_after_all_is_no_longer_named(rt: Runtime, vendor: Vendor) -> None:
    sync_invoices(rt, vendor, [_september("uncollectible")], since=date(2026, 8, 25))
    sync_invoices(rt, vendor, [_september("paid")], since=date(2026, 8, 25))
    with rt.connect() as conn:
        report = customer_report(conn, "acme", SEPTEMBER, thresholds=rt.thresholds)
    assert report.current.revenue == Decimal(5000) and report.written_off == []


def test_a_void_invoice_is_still_removed(rt: Runtime, vendor: Vendor) -> None:
    # Void: issued in error, never owed. Its revenue goes, as before.
    sync_invoices(rt, vendor, [_september("paid")], since=date(2026, 8, 25))
    sync_invoices(rt, vendor, [_september("void")], since=date(2026, 8, 25))
    with rt.connect() as conn:
        report = customer_report(conn, "acme", SEPTEMBER, thresholds=rt.thresholds)
    assert report.current.revenue == Decimal(0) and report.written_off == []


def test_the_digest_names_an_uncollectible_invoice_over_its_week_once(rt: Runtime, vendor: Vendor) -> None:
    # On Tuesday Oct 6 the digest covers 2026-W40 (Sep 28 to Oct 4) and the month to date (Oct 1-5): the week's
    # revenue counts September's last days of the invoice, which will not be collected.
    sync_invoices(rt, vendor, [_september("uncollectible")], since=date(2026, 8, 25))
    with rt.connect() as conn:
        d = weekly_digest(conn, today=date(2026, 10, 6), thresholds=rt.thresholds)
    p = digest_to_dict(d, rt.thresholds)
    assert [w["invoice"] for w in p["uncollectible_invoices"]] == ["in_sep"]
    assert p["month_to_date"]["uncollectible_invoices"] == []
    said = [b["text"]["text"] for b in digest_message(p)["blocks"] if b["type"] == "section" and "text" in b]
    assert any(s.startswith("*:money_with_wings: Invoices marked uncollectible* (in the figures above") for s in said)
    assert str(said).count("invoice in_sep of acme") == 1


def test_an_uncollectible_invoices_amount_is_given_to_the_cent_in_json_as_its_text_says(
    rt: Runtime, vendor: Vendor
) -> None:
    # A credit note of $1.00 tax included on $2.00 before $1.00 of tax takes $0.666667 off the line: its revenue is
    # $1.333333, said "$1.33" in the text, and --json gave 1.333333 where every other figure is half-up to the cent.
    inv = invoice("in_sep", [line("il_sep", 200, date(2026, 9, 1), date(2026, 10, 1))], date(2026, 9, 1))
    inv.update(status="uncollectible", total=300, total_excluding_tax=200, pre_payment_credit_notes_amount=100)
    sync_invoices(rt, vendor, [inv], since=date(2026, 8, 25))
    with rt.connect() as conn:
        report = customer_report(conn, "acme", SEPTEMBER, thresholds=rt.thresholds)
    [written] = report_to_dict(report)["uncollectible_invoices"]
    assert "($1.33 for 2026-09-01 to 2026-09-30)" in written["text"]
    assert written["amount_usd"] == 1.33


def test_a_product_names_an_uncollectible_invoice_billing_no_product_only_where_its_customer_used_it(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    # acme's invoice names no product: its revenue is split onto the products acme used (assist), none onto search,
    # which only globex used. search's answer said "its revenue stays in the figures as earned" of it all the same.
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests,cost_usd\n"
        "e1,2026-09-10T10:00:00Z,acme,assist,openai,gpt-4o,1000,100,10,300\n"
        "e2,2026-09-10T10:00:00Z,globex,search,openai,gpt-4o,1000,100,10,300\n"
    )
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone="UTC")
    inv = invoice(
        "in_sep", [line("il_sep", 500_000, date(2026, 9, 1), date(2026, 10, 1), product=None)], date(2026, 9, 1)
    )
    sync_invoices(rt, vendor, [{**inv, "status": "uncollectible"}], since=date(2026, 8, 25))
    with rt.connect() as conn:
        search = product_report(conn, "search", SEPTEMBER, thresholds=rt.thresholds)
        assist = product_report(conn, "assist", SEPTEMBER, thresholds=rt.thresholds)
    assert search.written_off == []
    assert [w.invoice for w in assist.written_off] == ["in_sep"]
