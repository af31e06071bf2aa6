"""Numbers as people read them: money to the cent (never a cost shown as nothing), margins to one decimal,
changes in dollars first, plurals right."""

from __future__ import annotations

from decimal import Decimal

from bot.render.fmt import delta_pct, money, percent, plural, points, signed_money, small_money
from bot.render.tables import change_text
from engine.money import usd_text

D = Decimal


def test_money_is_to_the_cent_and_a_cost_under_half_a_cent_is_not_nothing() -> None:
    assert (money(D("1484.725")), money(D(0)), money(D("0.0049")), money(D("-0.003"))) == (
        "$1,484.73",
        "$0.00",
        "<$0.01",
        "-<$0.01",
    )
    assert small_money(D("0.046")) == "$0.05" and small_money(D("0.00004")) == "<$0.01"  # no "$0.0000"
    assert (usd_text(D("0.001")), usd_text(D("-3.1"))) == ("<$0.01", "-$3.10")
    assert signed_money(D("412.37")) == "+$412.37"


def test_margins_have_one_decimal_and_changes_read_in_dollars() -> None:
    assert percent(D("25.7635")) == "25.8%" and percent(D("86.245")) == "86.2%"
    assert change_text(D("609.37"), D("197")) == "+$412.37 (×3.1)"
    assert change_text(D("5"), D(0)) == "+$5.00 (new)" and change_text(D(2), D(2)) == "no change"


def test_a_change_that_rounds_to_zero_has_no_sign() -> None:
    # -0.04 rounds to 0.0 at one decimal: no movement is shown, so no direction either.
    assert (points(D("-0.04")), percent(D("-0.04")), delta_pct(D("99.96"), D(100))) == ("0.0 pts", "0.0%", "0.0%")
    assert (money(D("-0")), signed_money(D("-0.00")), percent(D("-0"))) == ("$0.00", "$0.00", "0.0%")
    assert (points(D("-0.05")), percent(D("-0.05")), delta_pct(D("99.95"), D(100))) == ("-0.1 pts", "-0.1%", "-0.1%")


def test_plurals() -> None:
    assert [plural(n, "task") for n in (0, 1, 2, 12_493)] == ["0 tasks", "1 task", "2 tasks", "12,493 tasks"]
