"""The what-if lever grammar: words in, lever values out (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.scenarios.grammar import (
    Cache,
    Price,
    Route,
    ScenarioError,
    Usage,
    parse_levers,
    parse_plan,
    split_subject,
)
from engine.vocab import Plan, Unit

D = Decimal


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("route big small 50", "write `route FROM->TO"),
        ("route big->big", "routes a model to itself"),
        ("cache 120", "more than 100%"),
        ("usage ten", "usage xN"),
        ("usage x0", "more than 0"),
        ("price usage 0.4", "price usage: cannot read '0.4'"),
        # New prices are held to what a contract holds (they crashed, or showed $1E-10 and -15631451614.8%):
        (
            "price usage 99999999999999999999/request",
            r"unit price '99999999999999999999' is more than a contract holds",
        ),
        ("price usage 0.0000000001/request", r"unit price '0.0000000001' has more than 6 decimal places"),
        ("price seat 99999999999x80", "the number of seats must be between 1 and 2,147,483,647"),
        ("price seat 2000000000x99999", "seats × seat price is more than a contract holds"),
        ("price hybrid 10+0.1/request incl 1e30", "price hybrid: cannot read"),
        ("price hybrid 10+0.1/request incl 99999999999999999m", "included units '.*' is more than a contract holds"),
        ("price barter 3 goats", "plan must be one of"),
        ("price flat 5 price flat 6", "at most one `price`"),
        ("discount 10", "'discount' is not a lever"),
        ("", "no lever given"),
        ("2026-10 2026-09 cache 1", "two periods"),
        # A decimal comma was read as a thousands separator: $5.00 a request, a $9,950.00 fee.
        ("price usage $0,05/request", r"unit price 0,05 has a decimal comma: write it with a point, 0\.05"),
        ("price flat $99,50", r"platform fee 99,50 has a decimal comma: write it with a point, 99\.50"),
        # Three decimals after a leading 0 are no thousands: 0,125 was read as $125 a request.
        ("price usage 0,125/request", r"unit price 0,125 has a decimal comma: write it with a point, 0\.125"),
    ],
)
def test_bad_levers_say_how_to_write_them(words: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_levers(words.split())


def test_lever_grammar_reads_every_documented_form() -> None:
    levers, period = parse_levers(
        [
            *("route", "gpt-4o", "->", "gpt-4o-mini", "40%", "feature", "agent-run"),
            *("cache", "30", "on", "chat"),
            *("price", "hybrid", "$2,000", "+", "0.02/request", "incl", "50k"),
            *("usage", "10x", "2026-10"),
        ]
    )
    assert period == "2026-10"
    assert levers == [
        Route("gpt-4o", "gpt-4o-mini", D(40), "agent-run"),
        Cache(D(30), "chat"),
        Price(Plan.HYBRID, unit=Unit.REQUEST, unit_price=D("0.02"), platform_fee=D(2000), included=D(50000)),
        Usage(D(10)),
    ]
    assert parse_plan("seat", "50x80") == Price(Plan.SEAT, seats=50, seat_price=D(80))
    assert parse_plan("flat", "5000/mo") == Price(Plan.FLAT, platform_fee=D(5000))


def test_customer_words_end_at_the_first_lever_word() -> None:
    assert split_subject(["Acme", "Corp", "2026-10", "route", "a->b"]) == (
        "Acme Corp",
        ["2026-10", "route", "a->b"],
    )
    assert split_subject(["portfolio", "cache", "5"]) == (None, ["cache", "5"])
    with pytest.raises(ScenarioError, match="name a customer"):
        split_subject(["cache", "5"])
