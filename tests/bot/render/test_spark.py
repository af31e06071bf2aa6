"""Sparklines: eight bars between the lowest and highest week, a dot for a week without a margin."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from bot.render.spark import sparkline, trend_line
from engine.periods import Period
from engine.reports.weekly import Week


def test_values_scale_between_the_lowest_and_the_highest() -> None:
    assert sparkline([Decimal(v) for v in (40, 45, 50, 55, 60, 65, 70, 75)]) == "▁▂▃▄▅▆▇█"
    assert sparkline([Decimal(10), None, Decimal(20)]) == "▁·█"
    assert sparkline([Decimal(50), Decimal(50)]) == "▄▄"  # flat: the middle, not the floor
    assert sparkline([None, None]) == "··"


def test_the_trend_line_says_what_the_bars_are_drawn_from() -> None:
    start = date(2026, 8, 3)
    weeks = [
        Week(
            period=Period(start + timedelta(weeks=i), start + timedelta(weeks=i, days=6), f"2026-W{32 + i}"),
            revenue=Decimal(100),
            cogs=Decimal(cogs),
        )
        for i, cogs in enumerate((60, 50, 40))
    ]
    assert trend_line(weeks) == "▁▅█ 3 weeks to 2026-W34: 40.0% → 60.0% (low 40.0%, high 60.0%)"
