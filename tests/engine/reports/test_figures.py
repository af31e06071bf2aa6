"""The margin's change between two periods: exact, so it is rounded once, the same wherever it is shown."""

from __future__ import annotations

from decimal import Decimal

from bot.blocks.common import margin_change as change_text
from bot.render.fmt import points
from engine.reports.figures import Figures, Thresholds, margin_change
from engine.reports.serialize import change, figures

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


def test_a_change_in_dollars_foots_with_the_figures_shown() -> None:
    # $10.005 shows as $10.01 and $5.004 as $5.00: the change beside them is $5.01, not the exact $5.001's $5.00
    # (the board pack's summary said $70,271.22 beside figures $70,271.21 apart, and its bridge $70,271.21).
    now = Figures(revenue=Decimal("10.005"), cogs=Decimal("2.004"), thresholds=Thresholds())
    before = Figures(revenue=Decimal("5.004"), cogs=Decimal("1.005"), thresholds=Thresholds())
    moved, shown_now, shown_before = change(now, before), figures(now), figures(before)
    assert moved["revenue_usd"] == shown_now["revenue_usd"] - shown_before["revenue_usd"] == 5.01
    assert moved["cogs_usd"] == round(shown_now["cogs_usd"] - shown_before["cogs_usd"], 2) == 0.99


def test_gross_profit_foots_with_the_revenue_and_cogs_shown() -> None:
    # $9,656.895 shows as $9,656.90 and $3,114.774 as $3,114.77: gross profit beside them is $6,542.13, as `why`
    # (which works in cents) has it, not the exact $6,542.121's $6,542.12 (`margin` and `portfolio` said one, `why`
    # the other, and 6 rows of 63 of a portfolio did not foot).
    f = Figures(revenue=D("9656.895"), cogs=D("3114.774"))
    shown = figures(f)
    assert (shown["revenue_usd"], shown["cogs_usd"], shown["gross_profit_usd"]) == (9656.9, 3114.77, 6542.13)
    assert f.gross_profit_cents == D("9656.90") - D("3114.77")
    assert figures(Figures(revenue=D("0.004"), cogs=D(0)))["gross_profit_usd"] == 0.0


def test_a_margin_exactly_on_the_line_is_judged_on_it() -> None:
    # 7 days of a $1,000 monthly fee in a 30-day month, $233.33…, on $140 of COGS: exactly 40%, which the revenue's
    # 28 digits made 39.99…9%: "40.0% BREACH (under 40%)" for a week, WATCH for its month.
    week = Figures(revenue=D(1000) * 7 / 30, cogs=D(140))
    assert week.margin_pct is not None and week.margin_pct < 40  # as worked out on 28 digits
    assert week.status == "watch"
    assert Figures(revenue=D(100), cogs=D("60.01")).status == "breach"  # a cent under the line is under it


def test_an_alert_judges_a_margin_on_the_line_as_its_status_does() -> None:
    from engine.alerts.evaluate import observe
    from engine.alerts.state import Level
    from engine.reports.portfolio import PortfolioRow
    from engine.vocab import SubjectKind

    week = Figures(revenue=D(1000) * 7 / 30, cogs=D(140))
    row = PortfolioRow(kind=SubjectKind.CUSTOMER, key="alpha", name="Alpha", current=week, previous=week)
    assert observe(row, Thresholds()).level is Level.OK
