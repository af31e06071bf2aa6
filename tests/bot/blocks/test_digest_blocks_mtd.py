"""The digest's month to date says which side has no margin, in the Home tab's words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.blocks.common import against_same_days
from bot.blocks.digest import _month_to_date
from engine.reports.figures import Figures, Thresholds, margin_change
from engine.reports.serialize import figures_text

EARNING = Figures(revenue=Decimal(100), cogs=Decimal(45), thresholds=Thresholds())  # 55%
NOTHING = Figures(revenue=Decimal(0), cogs=Decimal(10), thresholds=Thresholds())


@pytest.mark.parametrize(
    ("now", "before", "said"),
    [
        (NOTHING, EARNING, "55.0% in the same days of the month before"),  # it read "no margin to compare with in"
        (EARNING, NOTHING, "no margin in the same days of the month before to compare with"),
        (EARNING, EARNING, "0.0 pts against the same days of the month before"),
    ],
)
def test_the_digest_and_home_say_the_month_to_date_comparison_alike(now: Figures, before: Figures, said: str) -> None:
    m = {"title": "2026-11, month to date", **figures_text(now, before, change=True), "projection": None}
    line = _month_to_date(m)
    assert line is not None and f"({said})" in line
    assert against_same_days(margin_change(now, before), before.margin_pct) == said


def test_the_digest_run_rate_carries_its_caveat_and_a_digest_queued_before_reads_without_one() -> None:
    projection = {"full_days": 30, "revenue_usd": "2307.69", "cogs_usd": "10.00", "margin_pct": "99.57"}
    m = {"title": "2026-11, month to date", **figures_text(EARNING, EARNING, change=True), "projection": projection}
    line = _month_to_date(m)
    assert line is not None and "Run rate, not actuals" in line and ":warning:" not in line
    caveat = "1 contract starts or ends within 2026-11: the run rate spreads what it earned so far <over> all 30 days"
    line = _month_to_date({**m, "projection": {**projection, "caveat": caveat}})
    assert line is not None and line.endswith("\n:warning: 1 contract starts or ends within 2026-11: the run rate "
                                              "spreads what it earned so far &lt;over&gt; all 30 days")  # fmt: skip


def test_the_digest_run_rate_says_how_it_carries_revenue_when_its_payload_does() -> None:
    projection = {"full_days": 30, "revenue_usd": "2000.00", "cogs_usd": "10.00", "margin_pct": "99.50",
                  "basis": "COGS and metered usage at the daily rate of the first 26 days, fees and seats by contract "
                           "dates"}  # fmt: skip
    m = {"title": "2026-11, month to date", **figures_text(EARNING, EARNING, change=True), "projection": projection}
    line = _month_to_date(m)
    assert line is not None and line.endswith("margin 99.5% (COGS and metered usage at the daily rate of the first 26 "
                                              "days, fees and seats by contract dates)")  # fmt: skip
    assert "at this pace" not in line  # what the basis says instead
