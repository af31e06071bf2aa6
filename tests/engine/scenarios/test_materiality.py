"""A customer or product too small to count (revenue and COGS both under MARGINBOT_MATERIALITY_USD, $1 by default,
all its usage priced) keeps its figures and status, labelled immaterial, but heads no list, counts in no breach count,
leads no what-if and opens no alert (engine.reports.figures.Figures.material). A sub-cent customer (revenue
$0.000003, COGS $0.00013) headed the portfolio as its only breach, counted in the board pack's customers_in_breach,
and a what-if on it led "COGS saving -<$0.01 a month"."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bot.blocks.portfolio import portfolio_message
from bot.blocks.report import margin_report
from bot.blocks.report_pack import report_pack_message
from bot.blocks.scenarios import whatif_message
from bot.render.tables import render_portfolio, render_report
from engine.reports.margin import customer_report
from engine.reports.pack import board_pack
from engine.reports.portfolio import portfolio
from engine.reports.serialize import portfolio_to_dict, report_to_dict
from engine.runtime import Runtime
from engine.scenarios.grammar import parse_levers
from engine.scenarios.whatif import scenario_to_dict, whatif
from tests.engine.scenarios.book import OCTOBER
from tests.engine.scenarios.book import load_book as load_scenarios
from tests.engine.scenarios.test_small_amounts import CONTRACT, TINY


def _texts(blocks: object) -> str:
    """Every text of a message's blocks, one a line."""
    if isinstance(blocks, dict):
        return "\n".join(_texts(v) if k != "text" or not isinstance(v, str) else v for k, v in blocks.items())
    if isinstance(blocks, list):
        return "\n".join(_texts(b) for b in blocks)
    return ""


@pytest.fixture
def eps(runtime: Runtime, tmp_path: Path) -> Runtime:
    """Epsilon alone: one event on product chat in October, COGS $0.00013, 3 requests at $0.000001."""
    load_scenarios(runtime, tmp_path, TINY, CONTRACT)
    return runtime


def test_a_sub_cent_customer_heads_no_portfolio_and_is_shown_labelled(eps: Runtime) -> None:
    with eps.connect() as conn:
        book = portfolio(conn, OCTOBER, thresholds=eps.thresholds)
    [row] = book.customers
    assert (row.key, row.current.status, row.current.material) == ("eps", "breach", False)
    answer = portfolio_message(book)
    assert answer.text.endswith("0 customers in breach.")
    shown = _texts(answer.blocks)
    assert "Customers: breach" not in shown and "*Customers:* none in breach or watch" in shown
    assert "_1 immaterial customer (revenue and COGS each under $1.00 in the period; in no count or list above):_ " in (
        shown
    )
    assert "Epsilon -4233.3% (revenue <$0.01, COGS <$0.01)" in shown
    # The book's total is as small: its status is labelled where it is said, and so is a customer's own answer.
    assert "below the 40% breach line · _immaterial: revenue and COGS each under $1.00_" in shown
    with eps.connect() as conn:
        report = customer_report(conn, "eps", OCTOBER, thresholds=eps.thresholds)
    assert "BREACH (immaterial: revenue and COGS each under $1.00)" in render_report(report)
    assert report_to_dict(report)["material"] is False
    assert "_immaterial: revenue and COGS each under $1.00_" in _texts(margin_report(report).blocks)
    table = render_portfolio(book)
    assert "BREACH (immaterial)" in table
    assert "(immaterial): revenue and COGS each under $1.00 in the period, listed last and in no count" in table
    # --json keeps every key and the status as it is, and says which rows count.
    d = portfolio_to_dict(book)
    assert (d["customers"][0]["status"], d["customers"][0]["material"], d["materiality_usd"]) == ("breach", False, 1)
    assert d["products"][0]["material"] is False
    # MARGINBOT_MATERIALITY_USD=0: every subject counts, as before.
    with eps.connect() as conn:
        every = portfolio(conn, OCTOBER, thresholds=replace(eps.thresholds, material_usd=Decimal(0)))
    assert portfolio_message(every).text.endswith("1 customer in breach.")


def test_the_board_pack_does_not_count_a_sub_cent_customer_in_breach(eps: Runtime) -> None:
    with eps.connect() as conn:
        pack = board_pack(conn, OCTOBER, prices=eps.prices, timezone="UTC", thresholds=eps.thresholds)
    summary = dict((r[0], r[1]) for r in pack.sheet("summary").rows)
    assert (summary["customers_in_breach"], summary["customers_on_watch"]) == (0, 0)
    assert pack.sheet("customers").rows[0][2] == "below 40% (immaterial)"
    assert (
        "1 customer and 1 product are immaterial (revenue and COGS each under $1.00 in the period, "
        'MARGINBOT_MATERIALITY_USD): their rows are listed last with "(immaterial)" beside their band, and '
        "customers_in_breach and customers_on_watch do not count them."
    ) in pack.own_notes()
    answer = report_pack_message(pack)
    assert "0 customer(s) in breach" in answer.text and "*Customers in breach*\n0" in _texts(answer.blocks)


def test_a_what_if_on_a_sub_cent_customer_leads_with_that_not_a_saving(eps: Runtime) -> None:
    levers, _ = parse_levers(["cache", "50"])
    with eps.connect() as conn:
        s = whatif(conn, "eps", OCTOBER, levers, prices=eps.prices, thresholds=eps.thresholds)
    d = scenario_to_dict(s)
    assert d["material"] is False
    answer = whatif_message(d)
    assert answer.text.startswith(
        "What if, Epsilon (2026-10): immaterial, revenue and COGS each under $1.00 before and after (gross margin "
    )
    shown = _texts(answer.blocks)
    assert ":moneybag:" not in shown  # no bold saving headline
    assert "nothing here is worth a headline_ · COGS saving -<$0.01 a month" in shown  # still said
