"""What answers say about whom: a product's customers by COGS, a customer with usage and no contract, on the
hand-built book of tests/bot/dataset.py (October 2026) plus one usage row under a name no contract has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.answer import answer
from bot.blocks.digest import digest_message
from bot.cli.main import main
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_valid_message


@pytest.fixture
def phantom(book: Runtime, tmp_path: Path) -> Runtime:
    """The book, and a usage row for "Initech Inc": not a customer id, name or alias, so it lands as a customer of
    its own, with no contract."""
    usage = tmp_path / "phantom.csv"
    usage.write_text(
        "event_id,ts,customer,product,feature,provider,model,input_tokens,cost_usd\n"
        "p1,2026-10-21T12:00:00Z,Initech Inc,search,answer,openai,gpt-4o,1000,42.00\n"
    )
    import_usage_file(book.engine, usage, prices=book.prices, timezone=book.settings.timezone)
    return book


def test_a_product_answer_lists_its_customers_by_cogs(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    result = answer(book, "/margin product assist 2026-10")
    assert_valid_message(result.text, result.blocks)
    shown = all_text(result.blocks)
    assert "Top customers by COGS" in shown and "*Revenue*\nflat" not in shown
    # Acme's assist COGS: 3 × $187.91 = $563.73 (its mystery model is unpriced); Globex's: $300.00 on its $1,000.
    assert shown.index("*Acme Corp*") < shown.index("*Globex* revenue $1,000.00 · COGS $300.00 · margin 70.0%")
    assert main(["product", "assist", "--period", "2026-10", "--json"], runtime=book) == 0
    d = json.loads(capsys.readouterr().out)
    assert [(c["customer"], c["cogs_usd"]) for c in d["top_customers"]] == [("acme", 563.73), ("globex", 300.0)]
    assert d["top_customers"][1]["gross_margin_pct"] == 70.0


def test_a_customer_with_usage_and_no_contract_says_so_and_who_it_may_be(
    phantom: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = all_text(answer(phantom, "/margin Initech Inc 2026-10").blocks)
    assert "*No contract:* `Initech Inc` has usage but no contract" in shown
    assert "Did you mean *Initech (initech)*?" in shown
    assert main(["margin", "Initech Inc", "--period", "2026-10", "--json"], runtime=phantom) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["has_contract"], d["did_you_mean"], d["status"], d["cogs_usd"]) == (
        False,
        ["Initech (initech)"],
        "no_revenue",
        42.0,
    )
    assert main(["portfolio", "--period", "2026-10"], runtime=phantom) == 0
    table = capsys.readouterr().out
    assert "Initech Inc  " in table and "NO REVENUE (no contract)" in table
    assert main(["portfolio", "--period", "2026-10", "--json"], runtime=phantom) == 0
    rows = {r["customer"]: r["has_contract"] for r in json.loads(capsys.readouterr().out)["customers"]}
    assert rows == {"acme": True, "globex": True, "initech": True, "Initech Inc": False}


def test_biggest_movers_are_in_dollars_and_nothing_under_the_floor(book: Runtime) -> None:
    # Acme, October against September: gpt-4o on agent-run $300.00 → $921.00, claude on chat new at $563.73; the
    # unpriced mystery model moved $0.00. The floor is the higher of $1 and 1% of $1,484.73.
    shown = all_text(answer(book, "/margin acme 2026-10").blocks)
    assert "*Biggest movers:* gpt-4o on agent-run +$621.00 (×3.1); claude-sonnet-4-5 on chat +$563.73 (new)" in shown
    assert "mystery" not in shown.split("Biggest movers:")[1].split("\n")[0]


@pytest.fixture
def banded(book: Runtime, tmp_path: Path) -> Runtime:
    """The book, with Initech's contract carrying its own bands: breach under 55%, healthy from 70%."""
    contracts = tmp_path / "banded.csv"
    contracts.write_text(
        "customer,customer_name,plan,start,platform_fee_usd,breach_pct,healthy_pct\n"
        "initech,Initech,flat,2026-01-01,500,55,70\n"
    )
    import_contracts_file(book.engine, contracts)
    return book


def test_a_customer_with_its_own_bands_is_judged_by_them_and_says_so(
    banded: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    # Initech in October: $500 of revenue, $250 of COGS, 50.0%: WATCH under the global 40/55, BREACH under 55/70.
    shown = all_text(answer(banded, "/margin initech 2026-10").blocks)
    assert "*BREACH*  gross margin *50.0%*, below its own 55% breach line" in shown
    assert main(["margin", "initech", "--period", "2026-10", "--json"], runtime=banded) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["status"], d["bands"]) == ("breach", {"breach_pct": 55.0, "healthy_pct": 70.0, "own": True})
    assert main(["portfolio", "--period", "2026-10", "--json"], runtime=banded) == 0
    p = json.loads(capsys.readouterr().out)
    rows = {r["customer"]: (r["status"], r["bands"]["own"]) for r in p["customers"]}
    assert rows == {"acme": ("breach", False), "globex": ("healthy", False), "initech": ("breach", True)}
    assert p["status"] == "watch"  # the blended total keeps the global bands: 41.9%
    assert main(["portfolio", "--period", "2026-10"], runtime=banded) == 0
    assert "BREACH (own bands 55/70%)" in capsys.readouterr().out
    portfolio = all_text(answer(banded, "/margin portfolio 2026-10").blocks)
    assert "*Initech* 50.0%" in portfolio and "own bands: breach under 55%, healthy from 70%" in portfolio


def test_the_digest_marks_a_customer_judged_by_its_own_bands(banded: Runtime) -> None:
    from datetime import date

    from engine.alerts.digest import digest_to_dict, weekly_digest

    with banded.connect() as conn:
        # The week of Oct 19–25 holds Initech's Oct 20 event.
        p = digest_to_dict(
            weekly_digest(conn, today=date(2026, 10, 26), thresholds=banded.thresholds), banded.thresholds
        )
    initech = next(r for r in p["breach"] if r["key"] == "initech")
    assert (initech["own_bands"], initech["breach_pct"], initech["healthy_pct"]) == (True, "55", "70")
    assert "Initech* (customer)" in all_text(digest_message(p)["blocks"]) and "own bands 55%/70%" in all_text(
        digest_message(p)["blocks"]
    )
