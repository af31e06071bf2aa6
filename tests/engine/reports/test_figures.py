"""The margin's change between two periods: exact, so it is rounded once, the same wherever it is shown."""

from __future__ import annotations

from decimal import Decimal

from bot.blocks.common import margin_change as change_text
from bot.render.fmt import points
from engine.reports.figures import Figures, margin_change

D = Decimal


def test_the_change_of_two_margins_that_no_decimal_holds_is_exact() -> None:
    # 0.857142…% (a $7 fee, $6.94 of COGS) then 1.007142…% ($700, $692.95): exactly 0.15 points apart, which two
    # margins cut at 28 digits put at 0.1499…9 (+0.1 pts where `why`, exact, says +0.2).
    before, now = Figures(revenue=D(7), cogs=D("6.94")), Figures(revenue=D(700), cogs=D("692.95"))
    assert margin_change(now, before) == D("0.15")
    assert points(margin_change(now, before)) == change_text(now, before) == "+0.2 pts"


def test_no_change_without_revenue_on_both_sides() -> None:
    assert margin_change(Figures(revenue=D(10), cogs=D(1)), Figures(revenue=D(0), cogs=D(1))) is None
    assert change_text(Figures(revenue=D(0)), Figures(revenue=D(10))) == "n/a"
