"""A customer billed in arrears (a metered Stripe price invoiced after each month), with no contract: the days after
its last invoice have their COGS and no revenue yet. The answers say so, and the alerts judge it on the days its
invoices cover, so the days awaiting an invoice do not open a breach (engine.reports.invoicing)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from bot.blocks.digest import digest_message, digest_plain
from bot.blocks.report import margin_report
from bot.render.tables import render_portfolio, render_report
from engine.alerts.digest import digest_to_dict, weekly_digest
from engine.alerts.evaluate import check_alerts
from engine.ingest.files import import_usage_file
from engine.periods import month, trailing
from engine.reports.bridge import margin_bridge
from engine.reports.margin import customer_report, product_report
from engine.reports.portfolio import portfolio
from engine.reports.serialize import portfolio_to_dict, report_to_dict
from engine.runtime import Runtime
from engine.vocab import SubjectKind
from tests.conftest import NOW
from tests.engine.ingest.conftest import Vendor
from tests.engine.ingest.stripe_invoices import invoice, line, sync_invoices

TODAY = date(2026, 11, 15)  # NOW's day: the last 30 complete days are 2026-10-16 to 2026-11-14


def _billed_in_arrears(rt: Runtime, vendor: Vendor, tmp_path: Path, *, through: date = date(2026, 11, 14)) -> None:
    """$18,000 for September and $20,000 for October, invoiced after each month; $300 of usage a day."""
    sync_invoices(
        rt,
        vendor,
        [
            invoice("in_sep", [line("il_sep", 1_800_000, date(2026, 9, 1), date(2026, 10, 1))], date(2026, 10, 1)),
            invoice("in_oct", [line("il_oct", 2_000_000, date(2026, 10, 1), date(2026, 11, 1))], date(2026, 11, 1)),
        ],
        since=date(2026, 9, 20),
    )
    rows = ["event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests,cost_usd"]
    day = date(2026, 9, 1)
    while day <= through:
        rows.append(f"e{day},{day}T10:00:00Z,acme,assist,openai,gpt-4o,1000,100,1000,300")
        day += timedelta(days=1)
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(rows) + "\n")
    import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")


def test_the_days_not_invoiced_yet_are_said_in_the_margin_answer(rt: Runtime, vendor: Vendor, tmp_path: Path) -> None:
    _billed_in_arrears(rt, vendor, tmp_path)
    with rt.connect() as conn:
        report = customer_report(conn, "acme", trailing(30, today=TODAY), thresholds=rt.thresholds)
        october = customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds)
    # The figures stay what they are (every day's COGS, the revenue billed), and say which days have no invoice.
    assert report.current.revenue.quantize(Decimal("0.01")) == Decimal("10322.58")
    assert report.current.cogs == Decimal(9000)
    late = report.not_invoiced
    assert late is not None
    assert (late.billed_through, late.start, late.end, late.days) == (
        date(2026, 10, 31),
        date(2026, 11, 1),
        date(2026, 11, 14),
        14,
    )
    assert late.cogs == Decimal(4200)
    assert late.billed.cogs == Decimal(4800) and late.billed.status == "watch"  # 53.5%, October's rate
    said = (
        "revenue is billed through 2026-10-31; 2026-11-01 to 2026-11-14 (14 days) not invoiced yet, so COGS "
        "$4,200.00 of those days has no revenue against it until the invoice comes; over the billed days: revenue "
        "$10,322.58, COGS $4,800.00, gross margin 53.5%"
    )
    assert f"NOT INVOICED YET: {said}" in render_report(report)
    assert said in str(margin_report(report).blocks)
    out = report_to_dict(report)
    assert out["not_invoiced"]["billed_through"] == "2026-10-31"
    assert out["not_invoiced"]["billed_days"]["gross_margin_pct"] == 53.5
    assert out["revenue_source"] == "stripe" and out["status"] == "breach"  # every key as it was
    # A month its invoice covers has nothing to say.
    assert october.not_invoiced is None and report_to_dict(october)["not_invoiced"] is None


def test_the_portfolio_and_why_say_the_days_not_invoiced_yet(rt: Runtime, vendor: Vendor, tmp_path: Path) -> None:
    _billed_in_arrears(rt, vendor, tmp_path)
    period = trailing(30, today=TODAY)
    with rt.connect() as conn:
        book = portfolio(conn, period, thresholds=rt.thresholds)
        why = margin_bridge(conn, SubjectKind.CUSTOMER, "acme", period, prices=rt.prices, timezone="UTC")
    assert list(book.not_invoiced) == ["acme"]
    assert "NOT INVOICED YET: acme: revenue is billed through 2026-10-31" in render_portfolio(book)
    assert portfolio_to_dict(book)["not_invoiced"][0]["from"] == "2026-11-01"
    assert any(n.startswith("not invoiced yet: revenue is billed through 2026-10-31") for n in why.notes)


def test_days_awaiting_their_invoice_are_alerted_with_what_the_billed_days_read(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    _billed_in_arrears(rt, vendor, tmp_path)
    run = check_alerts(rt, as_of=NOW, dry_run=True)
    # Over the whole window acme reads 12.8%, a breach: raised, as nothing tells an invoice to come from billing that
    # stopped (holding it back lost the alert of a cancelled customer for a month and a week, an annual one's for a
    # year); the alert says what the billed days alone read, 53.5%.
    breach = [e for e in run.events if e.observation.key == "acme"]
    assert [e.kind for e in breach] == ["breach"]
    said = breach[0].as_dict()["not_invoiced"]
    assert said[0]["billed_through"] == "2026-10-31" and said[0]["billed_days"]["gross_margin_pct"] == 53.5


def test_a_customer_under_the_line_on_its_billed_days_is_still_raised(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    # $900 a day of usage: the billed days read 10322.58 - 16 × 900 < 0, a breach whatever the invoice to come.
    _billed_in_arrears(rt, vendor, tmp_path)
    more = tmp_path / "more.csv"
    rows = ["event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests,cost_usd"]
    rows += [
        f"x{d},{d}T11:00:00Z,acme,assist,openai,gpt-4o,1000,100,1000,600"
        for d in (date(2026, 10, 16) + timedelta(days=i) for i in range(16))
    ]
    more.write_text("\n".join(rows) + "\n")
    import_usage_file(rt.engine, more, prices=rt.prices, timezone="UTC")
    run = check_alerts(rt, as_of=NOW, dry_run=True)
    breach = [e for e in run.events if e.observation.key == "acme"]
    assert [e.kind for e in breach] == ["breach"]
    said = breach[0].as_dict()["not_invoiced"]
    assert said[0]["billed_through"] == "2026-10-31"


def test_an_invoice_long_overdue_is_cost_without_revenue_again(rt: Runtime, vendor: Vendor, tmp_path: Path) -> None:
    # Usage through 2026-12-14 and no November invoice: past one service period (31 days) and a week's grace, the
    # days are not "not invoiced yet" any more.
    _billed_in_arrears(rt, vendor, tmp_path, through=date(2026, 12, 14))
    with rt.connect() as conn:
        report = customer_report(conn, "acme", trailing(30, today=date(2026, 12, 15)), thresholds=rt.thresholds)
    assert report.not_invoiced is None


def test_the_digest_says_the_days_not_invoiced_yet_of_the_week_and_the_month(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    # On Sunday Nov 15 the digest covers 2026-W45 (Nov 2-8) and the month to date (Nov 1-14): acme's COGS of both
    # counts against no revenue, the week's $2,100.00 and the month's $4,200.00, which the digest said nothing of.
    _billed_in_arrears(rt, vendor, tmp_path)
    with rt.connect() as conn:
        d = weekly_digest(conn, today=TODAY, thresholds=rt.thresholds)
    p = digest_to_dict(d, rt.thresholds)
    [week] = p["not_invoiced"]
    assert (week["customer"], week["billed_through"], week["from"], week["to"], week["days"]) == (
        "acme",
        "2026-10-31",
        "2026-11-02",
        "2026-11-08",
        7,
    )
    assert (week["cogs_usd"], week["billed_margin_pct"]) == ("2100.00", None)  # no billed day in the week
    [month] = p["month_to_date"]["not_invoiced"]
    assert (month["from"], month["to"], month["cogs_usd"]) == ("2026-11-01", "2026-11-14", "4200.00")
    assert p["unconverted_invoice_lines"] == [] and p["month_to_date"]["unconverted_invoice_lines"] == []
    said = (
        "*:hourglass_flowing_sand: Not invoiced yet* (billed in arrears: the figures above count these days' COGS "
        "against no revenue until the invoice comes)\n• *acme*: billed through 2026-10-31; the week's 2026-11-02 to "
        "2026-11-08 (7 days) COGS $2,100.00; the month to date's 2026-11-01 to 2026-11-14 (14 days) COGS $4,200.00"
    )
    assert said in [b["text"]["text"] for b in digest_message(p)["blocks"] if b["type"] == "section" and "text" in b]
    assert "Not invoiced yet (billed in arrears" in digest_plain(p)
    # A digest queued before these keys existed reads as it did.
    old = {k: v for k, v in p.items() if k not in ("not_invoiced", "unconverted_invoice_lines", "month_to_date")}
    assert "Not invoiced yet" not in str(digest_message(old | {"month_to_date": None})["blocks"])


def test_a_products_margin_answer_names_its_customers_days_not_invoiced_yet(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    # assist's revenue over the last 30 days is acme's October invoice; acme's November COGS on assist has none yet.
    # The product's answer said nothing of it where `why` and the alerts did.
    _billed_in_arrears(rt, vendor, tmp_path)
    search = tmp_path / "search.csv"  # acme's one use of search is on a billed day
    search.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests,cost_usd\n"
        "s1,2026-10-20T10:00:00Z,acme,search,openai,gpt-4o,1000,100,1,10\n"
    )
    import_usage_file(rt.engine, search, prices=rt.prices, timezone="UTC")
    period = trailing(30, today=TODAY)
    with rt.connect() as conn:
        report = product_report(conn, "assist", period, thresholds=rt.thresholds)
        october = product_report(conn, "assist", month(2026, 10), thresholds=rt.thresholds)
    assert (report.current.revenue.quantize(Decimal("0.01")), report.current.cogs) == (Decimal("10322.58"), 9000)
    late = report.not_invoiced
    assert late is not None
    said = (
        "acme is billed through 2026-10-31, 2026-11-01 to 2026-11-14 (14 days, COGS $4,200.00) not invoiced yet, so "
        "COGS $4,200.00 of assist on those days has no revenue against it until the invoice comes; without those "
        "days: revenue $10,322.58, COGS $4,800.00, gross margin 53.5%"
    )
    assert late.text() == said
    assert f"NOT INVOICED YET: {said}" in render_report(report)
    assert said in str(margin_report(report).blocks)
    out = report_to_dict(report)["not_invoiced"]
    assert out["customers"] == [
        {"customer": "acme", "billed_through": "2026-10-31", "from": "2026-11-01", "to": "2026-11-14", "days": 14,
         "cogs_usd": 4200.0}
    ]  # fmt: skip
    assert (out["cogs_usd"], out["billed_days"]["gross_margin_pct"], out["billed_days"]["status"]) == (
        4200.0,
        53.5,
        "watch",
    )
    # A month its customers' invoices cover has nothing to say, nor a product they did not use on those days.
    assert october.not_invoiced is None and report_to_dict(october)["not_invoiced"] is None
    with rt.connect() as conn:
        assert product_report(conn, "search", period, thresholds=rt.thresholds).not_invoiced is None


def test_a_digest_section_cut_to_slacks_limit_closes_the_bold_it_cuts_through(
    rt: Runtime, vendor: Vendor, tmp_path: Path
) -> None:
    # Ten customers with long names awaiting their invoice: the section past 3,000 characters was cut by a plain clip
    # inside a bolded name, its "*" left unmatched and shown as written ("• *Customer 9 Long Name…").
    from bot.blocks.kit import _open_spans

    _billed_in_arrears(rt, vendor, tmp_path)
    with rt.connect() as conn:
        d = weekly_digest(conn, today=TODAY, thresholds=rt.thresholds)
    p = digest_to_dict(d, rt.thresholds)
    [week] = p["not_invoiced"]
    long = " Long Name Holdings International" * 8
    p["not_invoiced"] = [{**week, "customer": f"c{i}", "name": f"Customer {i}{long}"[:200]} for i in range(10)]
    p["not_invoiced"][0]["name"] = "A"  # the cut falls inside a name
    p["month_to_date"]["not_invoiced"] = p["not_invoiced"]
    [section] = [
        b["text"]["text"]
        for b in digest_message(p)["blocks"]
        if "Not invoiced yet" in b.get("text", {}).get("text", "")
    ]
    assert section.endswith("…*") and _open_spans(section) == ""  # it was "…", the name's bold left open
