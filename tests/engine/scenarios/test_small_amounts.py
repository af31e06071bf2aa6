"""Amounts under half a cent that are not zero, in the what-if, forecast and floor answers: "<$0.01", as the house
rule (engine.money.usd_text) shows them everywhere else, never "$0.00" beside a margin of -4233.3%."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from bot.blocks.scenarios import floor_message, forecast_message, whatif_message
from engine.runtime import Runtime
from engine.scenarios.floor import floor_to_dict, price_floor
from engine.scenarios.forecast import forecast
from engine.scenarios.forecast_json import forecast_to_dict
from engine.scenarios.grammar import parse_levers
from engine.scenarios.growth import Growth
from engine.scenarios.whatif import scenario_to_dict, whatif
from tests.engine.scenarios.book import OCTOBER, load_book

# One event on acme/small: 100 input × $1/M + 10 output × $3/M = $0.00013 of COGS; 3 requests × $0.000001 earn
# $0.000003. A 50% cache serves 1.5 requests at a $0.001 lookup: $0.000065 + $0.0015 = $0.001565, 12× as much.
TINY = [["t1", "2026-10-10T10:00:00Z", "eps", "chat", "ask", "acme", "small", 100, 0, 10, 3, 0, "", "h1"]]
CONTRACT = [
    ["customer", "customer_name", "plan", "start", "unit", "unit_price_usd"],
    ["eps", "Epsilon", "usage", "2026-01-01", "request", "0.000001"],
]


@pytest.fixture
def tiny(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_book(runtime, tmp_path, TINY, CONTRACT)
    return runtime


def _shown(answer_blocks: object) -> str:
    return json.dumps(answer_blocks, ensure_ascii=False)


def _zero_dollars(text: str) -> bool:
    """Whether `text` shows "$0.00" as an amount (not the start of a unit price such as $0.000001)."""
    return re.search(r"\$0\.00(?!\d)", text) is not None


def test_a_what_if_shows_a_cost_under_half_a_cent_and_says_it_moved(tiny: Runtime) -> None:
    levers, _ = parse_levers(["cache", "50"])
    with tiny.connect() as conn:
        s = whatif(conn, "eps", OCTOBER, levers, prices=tiny.prices, thresholds=tiny.thresholds)
    assert (s.before.cogs, s.after.cogs) == (Decimal("0.00013"), Decimal("0.001565"))
    answer = whatif_message(scenario_to_dict(s))
    body = _shown(answer.blocks) + answer.text
    assert "COGS  <$0.01" in body and "COGS  $0.00" not in body
    assert "COGS unchanged" not in body  # it rose 12×: judged on the exact amounts, not the cents shown
    assert "COGS saving -<$0.01 a month" in body


def test_a_forecast_and_a_floor_show_a_cost_under_half_a_cent_as_one(tiny: Runtime) -> None:
    with tiny.connect() as conn:
        f = forecast(conn, "eps", OCTOBER, growth=Growth(rate=Decimal(0)), months=2, thresholds=tiny.thresholds)
        floor = price_floor(conn, "eps", OCTOBER, thresholds=tiny.thresholds)
    body = _shown(forecast_message(forecast_to_dict(f)).blocks)
    assert "<$0.01" in body and not _zero_dollars(body)
    answer = floor_message(floor_to_dict(floor))
    body = _shown(answer.blocks)
    assert "Heavy month COGS*\\n<$0.01" in body and "Revenue it needs*\\n$0.01 a month" in body  # up, as the floor
    assert not _zero_dollars(body)
