"""Scenario Block Kit builders: dict in, message out, within Slack's limits. No database, no mocks."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.kit import MAX_FIELDS, MAX_HEADER_TEXT, MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT
from bot.blocks.scenarios import floor_message, forecast_message, whatif_message


def figures(revenue: float, cogs: float, margin: float | None, status: str) -> dict[str, Any]:
    return {"revenue_usd": revenue, "cogs_usd": cogs, "gross_margin_pct": margin, "status": status}


def whatif_dict(kind: str = "customer", customers: int = 0) -> dict[str, Any]:
    d: dict[str, Any] = {
        "kind": kind,
        kind: "acme" if kind == "customer" else "portfolio",
        "name": "Acme <Corp>",
        "period": {"label": "2026-10", "start": "2026-10-01", "end": "2026-10-31"},
        "levers": ["route 50% of gpt-4o to gpt-4o-mini", "serve 20% of requests from a response cache"],
        "before": figures(314.81, 255.21, 18.93, "breach"),
        "after": figures(314.81, 149.91, 52.38, "watch"),
        "change": {"revenue_usd": 0.0, "cogs_usd": -105.3, "gross_profit_usd": 105.3, "gross_margin_pts": 33.45},
        "saving_per_month_usd": 101.9,
        "gross_profit_change_per_month_usd": 101.9,
        "month": "per 30 days",
        "cogs_by_type": {"output": {"before": 36.35, "after": 22.3}, "rerank": {"before": 1.6, "after": 1.6}},
        "assumptions": ["before = 2026-10", "saving per month = (COGS before − after) × 30 ÷ 31 days"],
    }
    if kind == "customer":
        d["terms"] = {"before": ["flat: $25.00/mo"], "after": ["usage: $0.40/task"]}
    else:
        d["customers"] = [
            {
                "customer": f"c{i}",
                "name": f"Customer {i}",
                "before": figures(10, 5, 50, "watch"),
                "after": figures(10, 4, 60, "healthy"),
                "saving_per_month_usd": 1.0,
            }
            for i in range(customers)
        ]
    return d


def body_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _within_limits(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    for b in blocks:
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= MAX_HEADER_TEXT
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= MAX_SECTION_TEXT
            assert len(b.get("fields", [])) <= MAX_FIELDS
    json.dumps(blocks)  # plain JSON, nothing Slack cannot take


def test_whatif_shows_before_and_after_side_by_side_with_the_saving() -> None:
    answer = whatif_message(whatif_dict())
    _within_limits(answer.blocks)
    side = next(b for b in answer.blocks if "fields" in b)["fields"]
    texts = [f["text"] for f in side]
    assert texts[:2] == ["*Before*", "*After*"]
    assert texts[2:8] == [
        "Revenue  $314.81",
        "Revenue  $314.81",
        "COGS  $255.21",
        "COGS  $149.91",
        "Gross margin  *18.9%*",
        "Gross margin  *52.4%*",
    ]
    assert "BREACH" in texts[8] and "WATCH" in texts[9]
    body = body_of(answer.blocks)
    assert "COGS saving +$101.90 a month" in body
    assert "output: $36.35 → $22.30" in body and "rerank" not in body  # only the costs that move
    assert "after: usage: $0.40/task" in body
    assert "× 30 ÷ 31 days" in body  # the assumptions are spelled out
    assert answer.blocks[0]["text"] == {"type": "plain_text", "text": "What if · Acme <Corp> · 2026-10", "emoji": True}
    assert answer.text.startswith("What if, Acme &lt;Corp&gt; (2026-10): gross margin 18.9% → 52.4%")


def test_a_price_alone_headlines_its_gross_profit_not_a_cogs_saving_of_nothing() -> None:
    d = whatif_dict()
    d["levers"] = ["price flat 3000"]
    d["after"] = figures(1297.61, 255.21, 80.33, "healthy")
    d["change"] = {"revenue_usd": 982.8, "cogs_usd": 0.0, "gross_profit_usd": 982.8, "gross_margin_pts": 61.4}
    d["saving_per_month_usd"], d["gross_profit_change_per_month_usd"] = 0.0, 951.1
    answer = whatif_message(d)
    body = body_of(answer.blocks)
    # It led with ":moneybag: *COGS saving $0.00 a month*", the gross profit behind it.
    assert ":moneybag: *Gross profit +$951.10 a month* (per 30 days) · margin +61.4 pts · COGS unchanged" in body
    assert "$0.00" not in body and "$0.00" not in answer.text
    assert answer.text.endswith("gross profit +$951.10 a month (COGS unchanged)")


def test_a_portfolio_of_hundreds_stays_within_slack_limits() -> None:
    answer = whatif_message(whatif_dict("portfolio", customers=500))
    _within_limits(answer.blocks)
    body = body_of(answer.blocks)
    assert "Biggest savings (500 customers in total)" in body
    assert body.count("Customer ") == 10


def _month(label: str, p50: float, p99: float) -> dict[str, Any]:
    return {
        "month": label,
        "days": 30,
        "usage_factor": 1.2,
        "p50": figures(100, 57.6, p50, "watch" if p50 >= 40 else "breach"),
        "p99": figures(100, 111.6, p99, "breach"),
    }


def test_forecast_tables_every_month_and_names_the_breach_months() -> None:
    months = [_month(f"2027-{m:02d}", 42.4, -11.6) for m in range(1, 13)] * 3  # 36 months, the maximum
    d = {
        "kind": "customer",
        "customer": "f1",
        "name": "Eff One",
        "months": 36,
        "basis": {"label": "2026-10", "start": "2026-10-01", "end": "2026-10-31"},
        "growth": "usage +20% a month",
        "breach_month_p50": None,
        "breach_month_p99": "2027-01",
        "p50_day": {"day": "2026-10-16", "cogs_usd": 1.6},
        "p99_day": {"day": "2026-10-31", "cogs_usd": 3.1},
        "terms": ["flat: $100.00/mo platform fee"],
        "forecast": months,
        "assumptions": ["growth: +20%"],
    }
    answer = forecast_message(d)
    _within_limits(answer.blocks)
    body = body_of(answer.blocks)
    assert "*Breach in a heavy month (P99)*\\n*2027-01*" in body
    assert "*Breach in a typical month (P50)*\\nnot within the forecast" in body
    table = next(b["text"]["text"] for b in answer.blocks if "```" in b.get("text", {}).get("text", ""))
    assert table.count("\n2027-") == 36 and "42.4% ~" in table and "-11.6% !" in table
    assert "in a heavy month 2027-01" in answer.text


def test_floor_shows_floor_against_todays_price() -> None:
    d = {
        "customer": "c1",
        "name": "Cee One",
        "target_pct": 55.0,
        "unit": "request",
        "plan": "usage",
        "basis": {"label": "2026-10", "start": "2026-10-01", "end": "2026-10-31"},
        "terms": ["usage: $0.50/request"],
        "hypothetical": False,
        "current_price_usd": "0.500000",
        "floor_price_usd": "0.394445",
        "p99_month_cogs_usd": 106.5,
        "margin_p99_at_current_pct": 64.5,
        "margin_p99_at_floor_pct": 55.0,
        "margin_p50_at_floor_pct": None,
        "note": None,
        "assumptions": ["x"],
    }
    answer = floor_message(d)
    _within_limits(answer.blocks)
    body = body_of(answer.blocks)
    assert "*Floor $0.394445/request*" in body and "$0.50/request" in body  # not "$0.5/request"
    assert answer.text == (
        "Price floor, Cee One: $0.394445/request keeps a 55.0% margin in a heavy month (today $0.50/request)"
    )
    # A hybrid plan whose fee alone keeps the target: any price will do, which "*Floor $0.00/request*" headlined.
    free = floor_message({**d, "plan": "hybrid", "floor_price_usd": "0.000000", "margin_p99_at_floor_pct": 61.0})
    assert "*Any price per request*: its other charges alone keep the gross margin at *55.0%*" in body_of(free.blocks)
    assert "*Floor $0" not in body_of(free.blocks) and "any price per request" in free.text
    # With no COGS priced in the heavy month (unpriced usage), there is nothing the fee covers: no "other charges".
    costless = floor_message({**d, "floor_price_usd": "0.000000", "p99_month_cogs_usd": 0.0})
    assert "*No floor to set*: the heavy month has no COGS to cover" in body_of(costless.blocks)
    assert "other charges" not in body_of(costless.blocks) + costless.text


def test_a_window_shorter_than_a_month_says_its_cogs_are_its_own_days_scaled() -> None:
    # Five days of history: the one window is those 5 days, whose COGS are a sixth of the month worked out from
    # them. It read "the P99 30 days, 2026-11-24 to 2026-11-28, COGS $9,424.92" beside a heavy month of $56,549.51.
    short = {"start": "2026-11-24", "end": "2026-11-28", "days": 5, "cogs_usd": 9424.92}
    whole = {"start": "2026-09-14", "end": "2026-10-13", "days": 30, "cogs_usd": 151848.71}
    floor = {
        "customer": "c1", "name": "Cee One", "target_pct": 55.0, "unit": "month", "plan": "flat",
        "basis": {"label": "last 5 days", "start": "2026-11-24", "end": "2026-11-28"}, "terms": [],
        "hypothetical": False, "current_price_usd": None, "floor_price_usd": "125665.57", "p99_month_cogs_usd": 56549.51,
        "margin_p99_at_current_pct": None, "margin_p99_at_floor_pct": 55.0, "margin_p50_at_floor_pct": None,
        "note": None, "assumptions": [], "p99_window": short,
    }  # fmt: skip
    body = body_of(floor_message(floor).blocks)
    assert "the only window, all 5 days of history: 2026-11-24 to 2026-11-28, COGS $9,424.92 in those 5 days, " in body
    assert "the P99 30 days" not in body
    body = body_of(floor_message(floor | {"p99_window": whole}).blocks)
    assert "(the P99 30 days, 2026-09-14 to 2026-10-13, COGS $151,848.71)" in body


def test_builders_are_pure() -> None:
    d = whatif_dict("portfolio", customers=3)
    before = json.dumps(d, sort_keys=True)
    assert whatif_message(d) == whatif_message(d)
    assert json.dumps(d, sort_keys=True) == before  # the dict is read, never changed
