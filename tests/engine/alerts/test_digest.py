"""The weekly digest's data, on the hand-built book (tests/engine/alerts/book.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from engine.alerts.digest import chart_to_dict, digest_to_dict, last_full_week, queue_digest, weekly_digest
from engine.periods import Period, iso_week
from engine.runtime import Runtime
from tests.conftest import NOW
from tests.engine.alerts.book import load_book


@pytest.mark.parametrize(
    ("today", "week"),
    [
        (date(2026, 11, 15), Period(date(2026, 11, 2), date(2026, 11, 8), "2026-W45")),  # a Sunday
        (date(2026, 11, 16), Period(date(2026, 11, 9), date(2026, 11, 15), "2026-W46")),  # the Monday after
        (date(2027, 1, 6), Period(date(2026, 12, 28), date(2027, 1, 3), "2026-W53")),  # ISO year ≠ calendar year
    ],
)
def test_the_digest_covers_the_last_full_iso_week(today: date, week: Period) -> None:
    assert last_full_week(today) == week
    assert iso_week(week.start + timedelta(days=3)) == week


def test_digest_figures_for_the_week_are_the_hand_computed_ones(runtime: Runtime, tmp_path: Path) -> None:
    load_book(runtime, tmp_path)
    with runtime.connect() as conn:
        d = weekly_digest(conn, today=date(2026, 11, 15), thresholds=runtime.thresholds)
    p = digest_to_dict(d, runtime.thresholds)
    # 2026-W45: 5 paying customers × 7 days × $10 = $350; COGS 49 + 38.50 + 41.65 + 21 + 27.30 + fox's 30.80.
    # The week before, fox cost 22.47: COGS 199.92, margin 42.88%.
    assert p["week"] == {
        "label": "2026-W45",
        "start": "2026-11-02",
        "end": "2026-11-08",
        "complete": True,
        "through": "2026-11-08",
        "days": 7,
    }
    assert (p["revenue_usd"], p["cogs_usd"], p["margin_pct"]) == ("350.00", "208.25", "40.50")
    assert (p["previous_cogs_usd"], p["previous_margin_pct"], p["margin_change_pts"]) == ("199.92", "42.88", "-2.38")
    assert [r["key"] for r in p["breach"]] == ["acme", "search"]
    assert [r["key"] for r in p["no_revenue"]] == ["dunder"]
    assert {r["key"] for r in p["watch"]} == {"bluth", "cyber", "agent", "assist"}  # 40% ≤ margin < 55%
    # Only fox's COGS moved: $22.47 → $30.80, +$8.33 (×1.4), over the floor ($1 and 1% of $208.25); its margin
    # went 67.90% (22.47 of 70) → 56.00% (30.80 of 70).
    assert [(m["key"], m["cogs_change"], m["cogs_change_usd"], m["change_pts"]) for m in p["movers"]] == [
        ("fox", "+$8.33 (×1.4)", "8.33", "-11.90")
    ]
    # Sunday Nov 15 is today: the month to date is Nov 1–14, against Oct 1–14, with its run rate over 30 days.
    m = p["month_to_date"]
    assert (m["title"], m["period"]["through"], m["period"]["complete"]) == (
        "2026-11, month to date (through Nov 14)",
        "2026-11-14",
        False,
    )
    assert m["projection"]["revenue_usd"] == str((Decimal(m["revenue_usd"]) * 30 / 14).quantize(Decimal("0.01")))
    assert [(m["model"], m["cogs_usd"], m["share_pct"]) for m in p["models"]] == [
        ("claude-sonnet-4-5", "80.15", "38.49"), ("gpt-4o", "79.80", "38.32"), ("gpt-4o-mini", "48.30", "23.19")
    ]  # fmt: skip
    assert p["unpriced_models"] == []
    assert [t["week"] for t in p["trend"]] == [f"2026-W{n}" for n in range(34, 46)]
    last = p["trend"][-1]
    assert {k: v for k, v in last.items() if k != "exact"} == {
        "week": "2026-W45", "revenue_usd": "350.00", "cogs_usd": "208.25", "margin_pct": "40.50"
    }  # fmt: skip
    # Beside the figures to the cent, the exact ones they were rounded from, for builders that round them again.
    assert {k: Decimal(v) for k, v in last["exact"].items()} == {
        "revenue_usd": Decimal(350), "cogs_usd": Decimal("208.25"), "margin_pct": Decimal("40.5")
    }  # fmt: skip
    assert Decimal(p["movers"][0]["exact"]["change_pts"]) == Decimal("-11.9")
    chart = chart_to_dict(d, runtime.thresholds)
    assert chart["weeks"] == [t["week"] for t in p["trend"]]
    assert chart["margin_pct"][-1] == "40.5"  # labelled on the chart as it is: to one decimal, rounded once
    assert sum(Decimal(v[-1]) for v in chart["cogs_by_model"].values()) == Decimal("208.25")


def test_queue_digest_queues_once_per_week_per_channel(settings: Settings, tmp_path: Path) -> None:
    rt = Runtime(settings.model_copy(update={"digest_channels": ["CLEAD", "CBOARD"]}), now_override=NOW)
    load_book(rt, tmp_path)
    first = queue_digest(rt)
    assert (first.week.label, first.queued, first.already) == ("2026-W45", ["CLEAD", "CBOARD"], [])
    again = queue_digest(rt, as_of=NOW + timedelta(hours=5))
    assert (again.queued, again.already) == ([], ["CLEAD", "CBOARD"])
    next_week = queue_digest(rt, as_of=NOW + timedelta(days=1))
    assert (next_week.week.label, next_week.queued) == ("2026-W46", ["CLEAD", "CBOARD"])
    dry = queue_digest(rt, as_of=NOW + timedelta(days=1), dry_run=True)
    assert dry.queued == [] and "already sent or queued for CLEAD, CBOARD" in dry.summary()
