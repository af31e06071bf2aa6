"""`/margin why`, `/margin report`, quarters and the weekly trend through the shared answer path, on the hand-built
book of tests/bot/dataset.py (October 2026: Acme $2,000 of revenue, $1,484.73 of COGS; September $300.00)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.answer import answer, answer_command, home
from bot.grammar import parse
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_valid_home, assert_valid_message


def shown(rt: Runtime, question: str) -> str:
    result = answer(rt, question)
    assert_valid_message(result.text, result.blocks)
    return all_text(result.blocks)


def test_why_bridges_acme_from_september_to_october(book: Runtime) -> None:
    # Revenue is the flat $2,000 both months; COGS $300.00 → $1,484.73: gpt-4o on agent-run 2 → 4 events
    # (a source-priced cost: cost per request 150.00 → 230.25) and claude on chat new at $563.73.
    result = answer(book, "/margin why acme 2026-10")
    assert_valid_message(result.text, result.blocks)
    out = all_text(result.blocks)
    assert result.text.startswith("Why customer Acme Corp moved (2026-09 → 2026-10): gross margin 85.0% → 25.8%")
    assert "(-59.2 pts)" in result.text
    assert "Gross profit $1,700.00 → $515.27 (-$1,184.73)" in out
    assert "+$563.73 COGS · claude-sonnet-4-5 on chat in assist: new (3 requests)" in out
    # 2 → 8 requests (4 gpt-4o, 3 claude, 1 unpriced) at last period's $150.00 a request: +$900.00; the mix
    # puts each model at its own count instead: 4 × 150 + 563.73 + 0 = 1,163.73 against 1,200.00: −$36.27.
    assert "volume (requests)  *+$900.00* · -45.0 pts margin" in out
    assert "mix (models, features, products)  *-$36.27* · +1.8 pts margin" in out
    assert "_no change: price (rates and discounts)" in out


@pytest.mark.parametrize("question", ["why product agent 2026-10", "why portfolio 2026-Q4", "why acme corp 30d"])
def test_why_answers_products_the_portfolio_quarters_and_days(book: Runtime, question: str) -> None:
    assert "Gross profit" in shown(book, question)


@pytest.mark.parametrize(("question", "problem"), [("why", "needs more words"), ("why product", "which product")])
def test_why_without_a_subject_gets_the_help(book: Runtime, question: str, problem: str) -> None:
    outcome = answer_command(book, parse(question))
    assert not outcome.ok and problem in outcome.answer.text and "/margin why CUSTOMER" in outcome.answer.text


def test_answers_carry_the_weekly_trend(book: Runtime) -> None:
    # Whole ISO weeks up to 25 October: Acme's Oct 3, 10, 17 and 24 events fall in W40–W43.
    assert "Weekly margin" in shown(book, "acme 2026-10") and "12 weeks to 2026-W43" in shown(book, "acme 2026-10")
    assert "12 weeks to 2026-W43" in shown(book, "product agent 2026-10")
    assert "12 weeks to 2026-W43" in shown(book, "portfolio 2026-10")


def test_quarters_are_a_period_everywhere(book: Runtime) -> None:
    after = datetime(2027, 1, 2, 12, tzinfo=UTC)  # the quarter is over: three months of the $2,000 fee
    assert "$6,000.00" in all_text(answer(book, "acme 2026-Q4", now=after).blocks)
    # On NOW (Nov 15) the quarter runs: 31 days of October and 14 of November are counted, 2000 + 2000 × 14/30.
    assert "$2,933.33" in shown(book, "acme 2026-Q4") and "quarter to date (through Nov 14)" in shown(
        book, "acme 2026-Q4"
    )
    assert "2026-Q4" in answer(book, "portfolio 2026-q4").text
    assert "Board pack · 2026-Q4" in shown(book, "report 2026-Q4")


def test_a_board_pack_to_date_says_it_is_compared_with_the_same_days_before(book: Runtime) -> None:
    # On NOW (Nov 15): November's first 14 days against October's first 14, not against "2026-10".
    out = shown(book, "report 2026-11")
    assert "month to date (through Nov 14): 2026-11-01 to 2026-11-14 · compared with 2026-10-01 to 2026-10-14, " in out


def test_report_hands_over_the_workbook(book: Runtime) -> None:
    result = answer(book, "/margin report 2026-10")
    assert_valid_message(result.text, result.blocks)
    [upload] = result.files
    assert upload.filename == "marginbot-board-pack-2026-10.xlsx" and upload.content[:2] == b"PK"
    assert result.text.startswith("Board pack 2026-10: revenue $3,500.00, COGS $2,034.73, gross margin 41.9%")


def test_home_shows_the_portfolio_trend_and_each_breached_customer(book: Runtime) -> None:
    # 2 to 31 October: Acme earns 30/31 of $2,000 against $1,484.73 of COGS, 23.3%: in breach.
    view = home(book, now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    assert_valid_home(view)
    out = all_text(view["blocks"])
    assert "Weekly margin, last 12 weeks" in out and "*Portfolio*" in out
    assert "*Acme Corp* now 23.3%" in out
