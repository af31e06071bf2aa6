"""Price floors on a P99 month, checked against arithmetic done by hand (book in tests/engine/scenarios/book.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.reports.figures import margin_pct
from engine.runtime import Runtime
from engine.scenarios.floor import FloorError, floor_to_dict, price_floor
from tests.engine.scenarios.book import OCTOBER, load_book

D = Decimal


def test_usage_plan_floor_per_request_at_p99_by_hand(book: Runtime) -> None:
    with book.connect() as conn:
        f = price_floor(conn, "Cee One", OCTOBER, thresholds=book.thresholds)
    # c1's days: Oct 5 … 31 (27 days); P99 = rank ⌈26.73⌉ = 27 → the costliest, Oct 6: $3.55, 20 requests.
    assert f.p99_day.day.day == 6
    # A P99 month: COGS $3.55 × 30 = $106.50; 600 requests. 55% margin needs $106.50 ÷ 0.45 = $236.666…
    # → $0.394444… a request, rounded up to the micro-dollar.
    assert (f.unit, f.p99_cogs, f.p99_units, f.fixed_revenue) == ("request", D("106.50"), D(600), D(0))
    assert f.floor_price == D("0.394445")
    assert f.current_price == D("0.50")
    assert f.margin_p99_current == (D(300) - D("106.50")) / D(300) * 100  # 64.5%
    assert f.margin_p99_floor is not None and f.margin_p99_floor >= 55
    # One step lower misses the target: the floor is the lowest such price.
    assert margin_pct(D("0.394444") * 600, D("106.50")) < 55  # type: ignore[operator]


def test_seat_plan_floor_per_seat(book: Runtime) -> None:
    with book.connect() as conn:
        f = price_floor(conn, "c3", OCTOBER, thresholds=book.thresholds, target_pct=D(55))
    # c3: one day of $1.30 (Oct 20) → P99 month $39.00; needs $86.666… over 4 seats → $21.666… → $21.67.
    assert (f.unit, f.p99_cogs, f.floor_price, f.current_price) == ("seat", D("39.00"), D("21.67"), D(10))
    assert f.margin_p99_current == D("2.5")  # ($40 − $39) ÷ $40


def test_flat_plan_floor_is_the_monthly_fee_and_a_target_can_be_given(book: Runtime) -> None:
    with book.connect() as conn:
        f = price_floor(conn, "c2", OCTOBER, thresholds=book.thresholds, target_pct=D(80))
    # c2: $0.65 on Oct 10 and 11 → P99 month $19.50; 80% needs $19.50 ÷ 0.2 = $97.50.
    assert (f.unit, f.floor_price) == ("month", D("97.50"))
    assert floor_to_dict(f)["floor_price_usd"] == "97.50"


def test_a_hypothetical_unit_prices_a_usage_plan_they_are_not_on(book: Runtime) -> None:
    with book.connect() as conn:
        f = price_floor(conn, "c2", OCTOBER, thresholds=book.thresholds, unit="request")
    # 5 requests on the P99 day → 150 a month; $19.50 ÷ 0.45 = $43.333… ÷ 150 = $0.288888… → $0.288889.
    assert (f.hypothetical, f.floor_price, f.current_price) == (True, D("0.288889"), None)


@pytest.mark.parametrize(
    ("ref", "kwargs", "message"),
    [
        ("c1", {"target_pct": D(100)}, "below 100%"),
        ("c1", {"unit": "seat"}, "not on a seat plan"),
        ("c1", {"unit": "gold"}, "unit must be one of"),
    ],
)
def test_impossible_floors_say_why(book: Runtime, ref: str, kwargs: dict[str, Any], message: str) -> None:
    with book.connect() as conn, pytest.raises(FloorError, match=message):
        price_floor(conn, ref, OCTOBER, thresholds=book.thresholds, **kwargs)


def test_a_customer_without_usage_has_no_floor(book: Runtime, tmp_path: Path) -> None:
    contracts = [["customer", "plan", "start", "platform_fee_usd"], ["quiet", "flat", "2026-01-01", "5"]]
    load_book(book, tmp_path, [], contracts)
    with book.connect() as conn, pytest.raises(FloorError, match="no usage in 2026-10"):
        price_floor(conn, "quiet", OCTOBER, thresholds=book.thresholds)
