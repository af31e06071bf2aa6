"""A forecast or a floor for a customer with a contract and no usage: one line saying so, not the help."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer import answer
from bot.cli.main import main
from engine.ingest.contracts import import_contracts_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text


@pytest.mark.parametrize("words", ["forecast quiet", "floor quiet"])
def test_a_customer_with_no_usage_is_told_so_in_one_line(
    runtime: Runtime, tmp_path: Path, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "contracts.csv"
    book.write_text(
        "customer,customer_name,plan,start,unit,unit_price_usd\nquiet,Quiet Co,usage,2026-01-01,request,1\n"
    )
    import_contracts_file(runtime.engine, book)
    # The forecast answered as usual, "0 days … as 0 rolling 30-day windows" beside P50 and P99 windows of one day
    # scaled to 30; the floor said it had no usage, wrapped in the whole /margin help.
    shown = all_text(answer(runtime, f"/margin {words}", now=runtime.now()).blocks)
    assert "Quiet Co has no usage in last 180 days" in shown and "no month to" in shown
    assert "/margin help" not in shown and "rolling" not in shown
    assert main([words.split()[0], "quiet"], runtime=runtime) == 1
    assert "Quiet Co has no usage in last 180 days" in capsys.readouterr().err


def test_a_fee_with_no_usage_yet_is_still_forecast(runtime: Runtime, tmp_path: Path) -> None:
    # Its fees against no cost: there is something to forecast, as the portfolio's forecast has it.
    book = tmp_path / "contracts.csv"
    book.write_text("customer,customer_name,plan,start,platform_fee_usd\nnewco,New Co,flat,2026-01-01,1000\n")
    import_contracts_file(runtime.engine, book)
    shown = all_text(answer(runtime, "/margin forecast newco", now=runtime.now()).blocks)
    assert "no month to forecast" not in shown and "$1,000.00" in shown


def test_a_portfolio_with_no_usage_is_told_so_in_one_line(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "contracts.csv"
    book.write_text(
        "customer,customer_name,plan,start,unit,unit_price_usd\nquiet,Quiet Co,usage,2026-01-01,request,1\n"
    )
    import_contracts_file(runtime.engine, book)
    # It answered "only 0 days, one window scaled to 30" and "0 rolling 30-day windows" over margins all n/a.
    shown = all_text(answer(runtime, "/margin forecast portfolio", now=runtime.now()).blocks)
    assert "no customer has usage in last 180 days" in shown and "no usage history" in shown
    assert "/margin help" not in shown and "rolling" not in shown and "scaled to" not in shown
    assert main(["forecast", "--portfolio"], runtime=runtime) == 1
    assert "no customer has usage in last 180 days" in capsys.readouterr().err


def test_a_portfolio_of_fees_with_no_usage_yet_says_there_is_no_usage_history(runtime: Runtime, tmp_path: Path) -> None:
    # Its fees against no cost, as one customer's; the history said "only 0 days, one window scaled to 30" and
    # showed P50 and P99 windows of one empty day.
    book = tmp_path / "contracts.csv"
    book.write_text("customer,customer_name,plan,start,platform_fee_usd\nnewco,New Co,flat,2026-01-01,1000\n")
    import_contracts_file(runtime.engine, book)
    for subject in ("portfolio", "newco"):
        shown = all_text(answer(runtime, f"/margin forecast {subject}", now=runtime.now()).blocks)
        assert "no usage history" in shown and "100.0%" in shown
        assert "only 0 days" not in shown and "0 rolling" not in shown and "in those 1 day" not in shown
