"""The one revenue rule (on the contract terms) and the one way units are counted, by hand and on a real database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import Settings
from engine.periods import Period
from engine.reports.revenue import Terms, compute_line, revenue_lines
from engine.reports.usage import COUNTING, count_units
from engine.runtime import Runtime
from engine.vocab import Plan, Unit
from tests.conftest import NOW
from tests.engine.scenarios.book import OCTOBER, load_book, write_prices

D = Decimal
START = date(2026, 1, 1)


def terms(plan: Plan, **values: object) -> Terms:
    return Terms(customer="c", product="", plan=plan, start=START, end=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("contract", "units", "months", "expected"),
    [
        # seats × price × months; a seat plan's fee column is ignored
        (terms(Plan.SEAT, seats=4, seat_price_usd=D(10), platform_fee_usd=D(99)), D(7), D("0.5"), (D(20), D(0), D(0))),
        # the fee × months; a flat plan's seat columns are ignored
        (terms(Plan.FLAT, seats=3, seat_price_usd=D(5), platform_fee_usd=D(10)), D(7), D(2), (D(0), D(20), D(0))),
        # every unit × the unit price, and the fee
        (terms(Plan.USAGE, platform_fee_usd=D(1), unit=Unit.REQUEST, unit_price_usd=D("0.5")), D(40), D(1),
         (D(0), D(1), D(20))),
        # fee + seats + the units over those included in the months
        (terms(Plan.HYBRID, seats=1, seat_price_usd=D(1), platform_fee_usd=D(2), included_units=D(1000),
               unit=Unit.TOKENS_1K, unit_price_usd=D("0.01")), D(2000), D(1), (D(1), D(2), D(10))),
        # ... and nothing while usage stays within them (half a month includes 500)
        (terms(Plan.HYBRID, platform_fee_usd=D(2), included_units=D(1000), unit=Unit.REQUEST,
               unit_price_usd=D("0.01")), D(400), D("0.5"), (D(0), D(1), D(0))),
    ],
)  # fmt: skip
def test_each_plan_charges_what_its_terms_say(
    contract: Terms, units: Decimal, months: Decimal, expected: tuple[Decimal, Decimal, Decimal]
) -> None:
    seats, platform, usage = expected
    line = compute_line(contract, 31, months, units)
    assert (line.seats, line.platform, line.usage) == (seats, platform, usage)
    assert line.total == contract.charge(units, months) == seats + platform + usage
    assert contract.fixed_charge(months) + contract.usage_charge(units, months) == line.total


amounts = st.decimals(min_value=0, max_value=10**6, places=3)
fractions = st.integers(min_value=1, max_value=31).map(lambda d: D(d) / 31)


@given(
    plan=st.sampled_from(list(Plan)),
    days=st.lists(st.tuples(amounts, fractions), min_size=1, max_size=31),
    included=amounts,
    price=amounts,
)
def test_a_window_of_days_is_charged_day_by_day_by_the_same_rule(
    plan: Plan, days: list[tuple[Decimal, Decimal]], included: Decimal, price: Decimal
) -> None:
    c = terms(plan, included_units=included, unit=Unit.REQUEST, unit_price_usd=price)
    units, months = [u for u, _ in days], [m for _, m in days]
    assert c.usage_charges(units, months) == [compute_line(c, 1, m, u).usage for u, m in days]


@pytest.mark.parametrize(
    ("unit", "expected"),
    [(Unit.REQUEST, D(7)), (Unit.TOKENS_1K, D("12.345")), (Unit.TASK, D(3))],
)
def test_each_unit_counts_one_thing(unit: Unit, expected: Decimal) -> None:
    assert count_units(unit, 7, 12_345, 3) == expected
    which, per = COUNTING[unit]
    assert Decimal((7, 12_345, 3)[which]) / per == expected


def test_revenue_lines_scale_metered_units_and_leave_fees_alone(settings: Settings, tmp_path: Path) -> None:
    runtime = Runtime(settings.model_copy(update={"prices_file": write_prices(tmp_path)}), now_override=NOW)
    load_book(runtime, tmp_path)
    with runtime.connect() as conn:
        now = {line.customer: line.total for line in revenue_lines(conn, OCTOBER)}
        tripled = {line.customer: line.total for line in revenue_lines(conn, OCTOBER, usage_factor=D(3))}
        first_week = {
            line.customer: line for line in revenue_lines(conn, Period(date(2026, 10, 1), date(2026, 10, 7), "w"))
        }
    # c1: 40 requests × $0.50 (×3 = 120 requests); c2 flat $10 and c3 4 seats × $10 do not follow usage.
    assert now == {"c1": D(20), "c2": D(10), "c3": D(40)}
    assert tripled == {"c1": D(60), "c2": D(10), "c3": D(40)}
    # A part of the month: e1–e3 (10 + 20 + 10 requests) fall in it; fees accrue for 7 of 31 days.
    assert first_week["c1"].units == 40 and first_week["c2"].total == D(10) * 7 / 31
