"""Exact sums of amounts in ticks (engine.money.ExactSum): the exact sum's Decimal, whatever the order or the mix."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.money import CENT, TENTH, TICKS, TICKS_D, Exact, ExactSum, Share, fraction_decimal, fraction_sum
from engine.reports.bridge_words import round_half_up

D = Decimal


def _exact(amounts: list[Exact]) -> Fraction:
    return sum((a.fraction() if isinstance(a, Share) else Fraction(a) / TICKS for a in amounts), Fraction(0))


def test_shares_that_add_up_to_half_a_cent_give_the_half_cent() -> None:
    # A third of $100.001 and two thirds of $1,000.052 are $33.3336… and $666.70133…: exactly $700.035 together.
    total = ExactSum()
    total.add(Share(D("100.001") * TICKS_D, D(1), D(3)))
    total.add(Share(D("1000.052") * TICKS_D, D(2), D(3)))
    assert total.dollars() == D("700.035") == fraction_decimal(total.fraction())


def test_a_run_rate_scales_the_exact_sum() -> None:
    # 3 of October's 31 days of a $3,000.005 fee, over all 31 of them: the fee.
    total = ExactSum()
    total.add(D("3000.005") * 3 * (TICKS // 31))
    assert total.scaled(31, 3).dollars() == D("3000.005")


amounts = st.decimals(min_value=-(10**9), max_value=10**9, places=6).map(lambda d: d * TICKS_D)
shares = st.builds(
    lambda ticks, part, whole: Share(ticks, D(min(part, whole)), D(whole)),
    amounts,
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=10**9),
)


@given(st.lists(st.one_of(amounts, shares), max_size=30), st.randoms(use_true_random=False))
def test_the_sum_is_the_exact_sums_decimal_in_any_order(parts: list[Exact], rng: random.Random) -> None:
    expected = fraction_decimal(_exact(parts))
    for order in (parts, rng.sample(parts, len(parts))):
        total = ExactSum()
        for part in order:
            total.add(part)
        assert total.dollars() == expected
        assert total.fraction() == _exact(parts)


def test_fraction_sum_is_the_exact_sum_of_fractions_over_many_denominators() -> None:
    values: list[Fraction | int] = [Fraction(n * 7 + 1, n) for n in range(1, 3_000)] + [5, -Fraction(1, 3), 0]
    expected = Fraction(0)
    for v in values:
        expected += v
    assert fraction_sum(values) == expected
    assert fraction_sum([]) == 0 and fraction_sum([Fraction(1, 2), Fraction(-1, 2)]) == 0


@pytest.mark.parametrize(
    ("value", "step", "rounded"),
    [
        (Fraction(5, 1000), CENT, Decimal("0.01")),  # a half: up
        (Fraction(-5, 1000), CENT, Decimal("-0.01")),  # away from zero
        (Fraction(4999, 1_000_000), CENT, Decimal("0.00")),
        (Fraction(1, 3) + Fraction(10**40, 7 * 10**40 + 1), TENTH, Decimal("0.5")),
    ],
)
def test_round_half_up_rounds_an_exact_fraction_once(value: Fraction, step: Decimal, rounded: Decimal) -> None:
    assert round_half_up(value, step) == rounded
