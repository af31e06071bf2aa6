"""The alert and digest Block Kit builders: pure dict in, dict out, always within Slack's limits."""

from __future__ import annotations

from typing import Any

from bot.blocks.alerts import alert_message, alert_plain
from bot.blocks.digest import digest_message, digest_plain
from tests.bot.blockkit import all_text, assert_valid_message


def event(kind: str, n: int, **extra: Any) -> dict[str, Any]:
    base = {
        "kind": kind, "subject_kind": "customer", "subject": f"c{n}", "name": f"Customer {n}", "state": "breach",
        "margin_pct": "31.25", "previous_margin_pct": "45.00", "revenue_usd": "1200.00",
        "previous_revenue_usd": "1000.00", "cogs_usd": "825.00", "previous_cogs_usd": "550.00", "events": 4000,
        "unpriced_events": 0, "unpriced_share_pct": "0.00", "since": "2026-11-01T12:00:00+00:00",
        "driver": "gpt-4o on agent-run tripled (×3.1)", "lever": "62% of COGS is gpt-4o on agent-run",
        "unpriced_models": [], "trend": None,
    }  # fmt: skip
    base.update(extra)
    return base


def payload(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "alerts", "as_of": "2026-11-15T12:00:00+00:00", "breach_pct": "40", "recover_pct": "42",
        "period": {"label": "last 30 days", "start": "2026-10-16", "end": "2026-11-14"}, "remind_days": 7,
        "events": events,
    }  # fmt: skip


def test_a_breach_line_has_margin_revenue_cogs_change_and_cause() -> None:
    message = alert_message(payload([event("breach", 1)]))
    assert_valid_message(message["text"], message["blocks"])
    assert message["blocks"][0]["text"]["text"] == "Margin alerts: 1 new breach"
    assert (
        "• *Customer 1* (customer): margin *31.3%* (-13.8 pts vs previous period) · revenue $1,200.00 (+20.0%) · "
        "COGS $825.00 (+50.0%)\n      biggest cost driver: gpt-4o on agent-run tripled (×3.1); "
        "62% of COGS is gpt-4o on agent-run"
    ) in all_text(message["blocks"])
    assert message["text"] == "Margin alerts. New breach: Customer 1 31.3%"


def test_every_kind_of_event_reads_as_what_it_is() -> None:
    trend = {"slope_pts_per_day": "-1.70", "projected_pct": "17.30", "crosses_on": "2026-11-20", "days": 30}
    crossed = {**trend, "crosses_on": "2026-11-10", "crossed": True}
    events = [
        event("breach", 1),
        event("no_revenue", 2, margin_pct=None, revenue_usd="0.00", previous_margin_pct=None),
        event("trending_to_breach", 3, margin_pct="65.35", trend=trend),
        event("trending_to_breach", 7, margin_pct="48.00", trend=crossed),
        event("unpriced", 4, unpriced_events=40, unpriced_share_pct="6.25", events=640,
              unpriced_models=["acme-labs/mystery-1"]),
        event("reminder", 5),
        event("recovered", 6, margin_pct="42.50"),
    ]  # fmt: skip
    shown = all_text(alert_message(payload(events))["blocks"])
    assert "Customer 2* (customer): COGS $825.00 and no revenue in the period" in shown
    assert "Trending to breach* (2)" in shown and "watch" not in shown.lower()
    assert "daily margins falling 1.70 pts/day over 30 days; on course to cross 40% on 2026-11-20" in shown
    assert "over 30 days; its fitted line crossed 40% on 2026-11-10 (projected" in shown
    assert "6.25% of events (40 of 640) have no price (acme-labs/mystery-1)" in shown
    assert "in breach since 2026-11-01 (14 days)" in shown
    assert "Customer 6* (customer): back above 42%: margin *42.5%*" in shown
    plain = alert_plain(payload(events))
    assert "*" not in plain and plain.count("\n  - ") == 7


def test_hundreds_of_breaches_stay_within_slack_limits_and_the_rest_are_counted() -> None:
    events = [event("breach", n) for n in range(2000)]
    message = alert_message(payload(events))
    assert_valid_message(message["text"], message["blocks"])
    assert len(message["blocks"]) == 50 and len(message["text"]) <= 3000
    listed = all_text(message["blocks"]).count("• *Customer ")
    last = message["blocks"][-1]["elements"][0]["text"]
    assert last == f"…and {2000 - listed} more: run `marginbot portfolio` for the full list"
    assert 500 < listed < 2000


def test_names_cannot_ping_a_channel() -> None:
    shown = all_text(alert_message(payload([event("breach", 1, name="<!channel> Evil & Co")]))["blocks"])
    assert "<!channel>" not in shown and "&lt;!channel&gt; Evil &amp; Co" in shown


def digest_payload(n: int) -> dict[str, Any]:
    row = {"kind": "customer", "name": "Acme Corp", "key": "acme", "margin_pct": "31.00",
           "previous_margin_pct": "35.00", "revenue_usd": "300.00", "cogs_usd": "207.00"}  # fmt: skip
    return {
        "type": "digest", "week": {"label": "2026-W45", "start": "2026-11-02", "end": "2026-11-08"},
        "breach_pct": "40", "healthy_pct": "55", "margin_pct": "40.50", "previous_margin_pct": "42.88",
        "margin_change_pts": "-2.38", "revenue_usd": "350.00", "previous_revenue_usd": "350.00",
        "cogs_usd": "208.25", "previous_cogs_usd": "199.92", "events": 245, "unpriced_events": 3,
        "breach": [row] * n, "no_revenue": [], "watch": [row] * n,
        "movers": [{**row, "change_pts": "-11.90", "cogs_change": "+$8.33 (×1.4)", "cogs_change_usd": "8.33"}] * 3,
        "models": [{"provider": "openai", "model": "gpt-4o", "cogs_usd": "79.80", "previous_cogs_usd": "70.00",
                    "share_pct": "38.32"}],
        "unpriced_models": [{"provider": "acme-labs", "model": "mystery-1", "events": 3}],
        "trend": [{"week": f"2026-W{w}", "revenue_usd": "350.00", "cogs_usd": "200.00", "margin_pct": m}
                  for w, m in zip(range(34, 46), ["40.00"] * 11 + ["40.50"], strict=True)],
    }  # fmt: skip


def test_digest_message_shows_the_week_and_stays_within_limits() -> None:
    message = digest_message(digest_payload(40))
    assert_valid_message(message["text"], message["blocks"])
    shown = all_text(message["blocks"])
    assert "*Blended gross margin*\n40.5% (-2.4 pts)" in shown
    assert "*COGS*\n$208.25 (+4.2%)" in shown
    assert "…and 30 more" in shown
    assert "gpt-4o (openai) $79.80 · 38.3% of COGS · +$9.80 (×1.1) vs the week before" in shown
    assert "*Acme Corp* (customer) COGS +$8.33 (×1.4) to $207.00 · margin 31.0% (-11.9 pts)" in shown
    assert "3 events without a price (acme-labs/mystery-1 (3))" in shown
    assert "12-week blended margin: 40.0% (2026-W34) → 40.5% (2026-W45)" in shown
    assert message["text"].startswith("Weekly margin digest 2026-W45: blended margin 40.5% (-2.4 pts)")
    assert "Nobody in breach" in digest_plain(digest_payload(0))
