"""The 12-week margin trend: whole ISO weeks up to a period's end, each week's revenue by the revenue rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from config.settings import Settings
from engine.periods import month, quarter, trailing
from engine.reports.weekly import trend_weeks, weekly_by_customer, weekly_to_dict, weekly_trend
from tests.engine.reports.bridge_books import BASE, load, times

OCTOBER = month(2026, 10)


def test_the_trend_ends_with_the_last_whole_week_of_the_period() -> None:
    # 2026-10-31 is a Saturday: the week of 26 October is not over, so the trend ends with 19–25 October (W43).
    weeks = trend_weeks(OCTOBER)
    assert len(weeks) == 12
    assert (weeks[-1].label, weeks[-1].start, weeks[-1].end) == ("2026-W43", date(2026, 10, 19), date(2026, 10, 25))
    assert weeks[0].start == date(2026, 8, 3) and all(w.days == 7 and w.start.weekday() == 0 for w in weeks)
    # A period ending on a Sunday ends with its own week; a quarter with the last whole week of it.
    assert trend_weeks(trailing(7, today=date(2026, 11, 16)))[-1].label == "2026-W46"
    assert trend_weeks(quarter(2026, 4))[-1].end == date(2026, 12, 27)


def test_each_week_has_its_revenue_cogs_and_margin(settings: Settings, tmp_path: Path) -> None:
    # One event on 10 September (W37) and one on 10 October (W41): 2,000 requests × $0.05 = $100 each,
    # COGS $16.80 in September and ×3 = $50.40 in October (6,000 requests, $300). Every other week is empty.
    rt = load(settings, tmp_path, september=BASE, october=[times(u, 3) for u in BASE])
    with rt.connect() as conn:
        weeks = weekly_trend(conn, OCTOBER, customer="acme")
        portfolio, each = weekly_by_customer(conn, OCTOBER, ["acme"])
    shown = {w["week"]: (w["revenue_usd"], w["cogs_usd"], w["gross_margin_pct"]) for w in weekly_to_dict(weeks)}
    assert shown["2026-W37"] == (100.0, 16.8, 83.2)
    assert shown["2026-W41"] == (300.0, 50.4, 83.2)
    assert shown["2026-W43"] == (0.0, 0.0, None)
    assert [w.margin_pct for w in weeks] == [w.margin_pct for w in each["acme"]] == [w.margin_pct for w in portfolio]
    assert weeks[9].revenue == Decimal("300.00") and weekly_to_dict(weeks)[9]["start"] == "2026-10-05"
