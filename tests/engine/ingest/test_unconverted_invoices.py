"""An invoice in another currency than USD is left out of revenue (only USD is read), and every answer over its days
says which: the customer's revenue there is its contract's, which without a word read as if no invoice existed."""

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
from engine.reports.invoicing import unconverted
from engine.reports.margin import customer_report, product_report
from engine.reports.pack import board_pack
from engine.reports.portfolio import portfolio
from engine.reports.serialize import portfolio_to_dict, report_to_dict
from engine.runtime import Runtime
from tests.engine.ingest.conftest import Vendor, add_contract, rows
from tests.engine.ingest.stripe_invoices import invoice, line, sync_invoices

OCTOBER = month(2026, 10)
SAID = (
    "invoice in_eur of acme (EUR 9,000.00, line il_eur, 2026-10-01 to 2026-10-31) is left out of revenue until "
    "converted: marginbot reads USD invoices only, so acme's revenue on those days is its contract's, if any"
)


def _eur_invoice(rt: Runtime, vendor: Vendor, *, status: str = "paid") -> str:
    add_contract(rt, "acme", fee="1000")
    eur = invoice(
        "in_eur",
        [line("il_eur", 900_000, date(2026, 10, 1), date(2026, 11, 1)) | {"currency": "eur"}],
        date(2026, 10, 1),
        currency="eur",
        status=status,
    )
    return sync_invoices(rt, vendor, [eur], since=date(2026, 9, 20))


def test_a_euro_invoice_left_out_is_named_in_every_answer(rt: Runtime, vendor: Vendor) -> None:
    summary = _eur_invoice(rt, vendor)
    assert "EUR amounts are not supported; skipped" in summary  # the sync said so, as before
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCTOBER, thresholds=rt.thresholds)
        book = portfolio(conn, OCTOBER, thresholds=rt.thresholds)
        pack = board_pack(conn, OCTOBER, prices=rt.prices, timezone=rt.settings.timezone, thresholds=rt.thresholds)
    # The revenue is still the contract's (a euro is not a dollar), and now the answer says what it left out.
    assert report.current.revenue == Decimal(1000) and report.revenue_source == "contract"
    assert f"WARNING: {SAID}" in render_report(report)
    assert SAID in str(margin_report(report).blocks)
    [left_out] = report_to_dict(report)["unconverted_invoice_lines"]
    assert (left_out["customer"], left_out["invoice"], left_out["currency"], left_out["amount"]) == (
        "acme",
        "in_eur",
        "EUR",
        9000.0,
    )
    assert f"WARNING: {SAID}" in render_portfolio(book)
    assert SAID in str(portfolio_message(book).blocks)
    assert portfolio_to_dict(book)["unconverted_invoice_lines"][0]["invoice"] == "in_eur"
    assert any(SAID[1:] in str(row[0]) for row in pack.sheet("notes").rows)
    # A month it does not bill says nothing of it.
    with rt.connect() as conn:
        september = customer_report(conn, "acme", month(2026, 9), thresholds=rt.thresholds)
    assert september.unconverted == []


def test_a_void_euro_invoice_is_no_longer_named(rt: Runtime, vendor: Vendor) -> None:
    _eur_invoice(rt, vendor)
    assert rows(rt, "SELECT id, currency, amount_minor FROM revenue_unconverted") == [("il_eur", "eur", 900_000)]
    void = invoice("in_eur", [], date(2026, 10, 1), currency="eur", status="void")
    sync_invoices(rt, vendor, [void], since=date(2026, 9, 20))
    assert rows(rt, "SELECT id FROM revenue_unconverted") == []


def test_a_three_decimal_currency_is_read_in_thousandths(rt: Runtime, vendor: Vendor) -> None:
    # Stripe sends KWD, BHD, JOD, OMR and TND in thousandths: KWD 9,000.000 is 9000000, which read "KWD 90,000.00".
    add_contract(rt, "acme", fee="1000")
    kwd = invoice(
        "in_kwd",
        [line("il_kwd", 9_000_000, date(2026, 10, 1), date(2026, 11, 1)) | {"currency": "kwd"}],
        date(2026, 10, 1),
        currency="kwd",
    )
    sync_invoices(rt, vendor, [kwd], since=date(2026, 9, 20))
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCTOBER, thresholds=rt.thresholds)
    assert "invoice in_kwd of acme (KWD 9,000.000, line il_kwd" in render_report(report)
    assert report_to_dict(report)["unconverted_invoice_lines"][0]["amount"] == 9000.0


def test_the_digest_names_a_euro_invoice_over_its_week_once(rt: Runtime, vendor: Vendor) -> None:
    # On Tuesday Nov 3 the digest covers 2026-W44 (Oct 26 to Nov 1) and the month to date (Nov 1-2): the week's
    # revenue leaves the euro line out, and the digest said nothing of it.
    _eur_invoice(rt, vendor)
    with rt.connect() as conn:
        d = weekly_digest(conn, today=date(2026, 11, 3), thresholds=rt.thresholds)
    p = digest_to_dict(d, rt.thresholds)
    assert [u["line"] for u in p["unconverted_invoice_lines"]] == ["il_eur"]
    assert p["month_to_date"]["unconverted_invoice_lines"] == []
    said = [b["text"]["text"] for b in digest_message(p)["blocks"] if b["type"] == "section" and "text" in b]
    assert f"*:warning: Invoices left out of revenue* (not in USD, so not in the figures above)\n• {SAID}" in said
    assert str(said).count("line il_eur") == 1


def test_a_products_answer_names_the_lines_whose_revenue_would_be_its_own(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    # A euro line naming no product is split across the products acme used on its days: assist's answer names it,
    # and agent's, which only globex used, no longer does (it named every customer's line naming no product).
    add_contract(rt, "acme", fee="1000")
    add_contract(rt, "globex", fee="1000")
    eur = invoice(
        "in_eur",
        [line("il_eur", 900_000, date(2026, 10, 1), date(2026, 11, 1), product=None) | {"currency": "eur"}],
        date(2026, 10, 1),
        currency="eur",
    )
    sync_invoices(rt, vendor, [eur], since=date(2026, 9, 20))
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests,cost_usd\n"
        "e1,2026-10-05T10:00:00Z,acme,assist,openai,gpt-4o,1000,100,1,30\n"
        "e2,2026-10-05T10:00:00Z,globex,agent,openai,gpt-4o,1000,100,1,30\n"
        "e3,2026-09-05T10:00:00Z,acme,agent,openai,gpt-4o,1000,100,1,30\n"
    )
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone="UTC")
    with rt.connect() as conn:
        assert [u.product for u in unconverted(conn, OCTOBER)] == [""]
        assist = product_report(conn, "assist", OCTOBER, thresholds=rt.thresholds)
        agent = product_report(conn, "agent", OCTOBER, thresholds=rt.thresholds)
    assert [u.line for u in assist.unconverted] == ["il_eur"]
    assert agent.unconverted == []  # acme used agent in September only
    assert "il_eur" not in render_report(agent)
