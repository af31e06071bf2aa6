"""The alert and digest Block Kit builders: pure dict in, dict out, always within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.blocks.alerts import (
    ACK,
    OPEN,
    PACK_TEXT,
    SNOOZE,
    WHATIF,
    alert_fallback,
    alert_message,
    alert_plain,
    pack_alerts,
    parse_ref,
)
from bot.blocks.digest import digest_message, digest_plain
from engine.alerts.threads import Shown
from engine.reports.figures import Figures
from engine.reports.serialize import figures_text
from tests.bot.blockkit import all_text, assert_postable, block_text


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


def section_of(message: dict[str, Any], name: str) -> str:
    return next(b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and name in b["text"]["text"])


def actions_of(message: dict[str, Any], ref: str) -> dict[str, Any] | None:
    return next((b for b in message["blocks"] if b.get("block_id") == f"alert:{ref}"), None)


def test_a_breach_has_its_own_section_with_margin_revenue_cogs_change_and_cause() -> None:
    message = alert_message(payload([event("breach", 1)]))
    assert_postable(message["text"], message["blocks"])
    assert message["blocks"][0]["text"]["text"] == "Margin alerts: 1 new breach"
    assert section_of(message, "Customer 1") == (
        "*Customer 1* (customer)\n:red_circle: New breach: margin *31.3%* (-13.8 pts vs previous period) · "
        "revenue $1,200.00 (+20.0%) · COGS $825.00 (+50.0%)\n      biggest cost driver: gpt-4o on agent-run "
        "tripled (×3.1); 62% of COGS is gpt-4o on agent-run"
    )
    assert message["text"] == "Margin alerts. New breach: Customer 1 31.3%"


def test_every_alerted_subject_gets_acknowledge_snooze_open_and_what_if_naming_it() -> None:
    message = alert_message(payload([event("breach", 1), event("breach", 2, subject_kind="product", subject="p2")]))
    customer = actions_of(message, "customer:c1")
    assert customer is not None
    assert [(e["type"], e["action_id"], e.get("value")) for e in customer["elements"]] == [
        ("button", ACK, "customer:c1"),
        ("overflow", SNOOZE, None),
        ("button", OPEN, "customer:c1"),
        ("button", WHATIF, "customer:c1"),
    ]
    assert [e["text"]["text"] for e in customer["elements"] if e["type"] == "button"] == [
        "Acknowledge", "Open", "What-if"
    ]  # fmt: skip
    assert [(o["text"]["text"], o["value"]) for o in customer["elements"][1]["options"]] == [
        ("Snooze 1 day", "1d:customer:c1"), ("Snooze 7 days", "7d:customer:c1"), ("Snooze 30 days", "30d:customer:c1")
    ]  # fmt: skip
    product = actions_of(message, "product:p2")
    assert product is not None  # a what-if is about a customer: products get the other three
    assert [e["action_id"] for e in product["elements"]] == [ACK, SNOOZE, OPEN]


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
    message = alert_message(payload(events))
    shown = all_text(message["blocks"])
    assert "*Customer 2* (customer)\n:white_circle: Cost without revenue: COGS $825.00 and no revenue" in shown
    assert ":chart_with_downwards_trend: Trending to breach: " in shown and "watch" not in shown.lower()
    assert "daily margins falling 1.70 pts/day over 30 days; on course to cross 40% on 2026-11-20" in shown
    assert "over 30 days; its fitted line crossed 40% on 2026-11-10 (projected" in shown
    assert "6.25% of events (40 of 640) have no price (acme-labs/mystery-1)" in shown
    assert "in breach since 2026-11-01 (14 days)" in shown
    assert ":large_green_circle: Recovered: back above 42%: margin *42.5%*" in shown
    assert actions_of(message, "customer:c6") is None  # nothing to act on once it recovered
    plain = alert_plain(payload(events))
    assert "*" not in plain and plain.count("\n  - ") == 7


def test_a_subject_with_several_events_is_one_section() -> None:
    events = [event("breach", 1), event("unpriced", 1, unpriced_events=40, unpriced_share_pct="6.25", events=640)]
    message = alert_message(payload(events))
    assert sum(1 for b in message["blocks"] if b["type"] == "section") == 1
    assert "New breach" in section_of(message, "Customer 1") and "Unpriced usage" in section_of(message, "Customer 1")


def test_seventy_breaches_are_split_into_numbered_parts_each_subject_whole_and_within_limits() -> None:
    events = [event("breach", n, name=f"Customer {n} " + "x" * 60) for n in range(70)]
    parts = pack_alerts(payload(events))
    assert len(parts) >= 3
    seen: list[str] = []
    for i, part in enumerate(parts, 1):
        message = alert_message({**payload(part), "part": [i, len(parts)]})
        assert_postable(message["text"], message["blocks"])
        assert len(message["blocks"]) <= 50 and block_text(message["blocks"]) <= PACK_TEXT
        assert message["blocks"][0]["text"]["text"].startswith(f"Margin alerts ({i}/{len(parts)}): ")
        assert message["text"].startswith(f"Margin alerts ({i}/{len(parts)}). New breach: ")
        assert "more: run" not in all_text(message["blocks"])
        seen += [b["block_id"] for b in message["blocks"] if b["type"] == "actions"]
    assert seen == [f"alert:customer:c{n}" for n in range(70)]


def test_two_thousand_breaches_are_all_packed_and_an_unpacked_payload_is_cut_saying_so() -> None:
    events = [event("breach", n) for n in range(2000)]
    parts = pack_alerts(payload(events))
    assert sum(len(p) for p in parts) == 2000 and all(len(p) <= 24 for p in parts)
    message = alert_message(payload(events))  # an old payload queued before packing existed
    assert_postable(message["text"], message["blocks"])
    assert message["blocks"][-1]["elements"][0]["text"].startswith("…and ")


def test_names_and_keys_cannot_ping_a_channel() -> None:
    evil = event("breach", 1, name="<!channel> Evil & Co", subject="<!here>")
    message = alert_message(payload([evil]))
    assert_postable(message["text"], message["blocks"])  # no "<!" anywhere, text, blocks or button values
    assert "&lt;!channel&gt; Evil &amp; Co" in all_text(message["blocks"])
    assert message["text"] == "Margin alerts. New breach: &lt;!channel&gt; Evil &amp; Co 31.3%"
    button = actions_of(message, "customer:&lt;!here&gt;")
    assert button is not None and parse_ref(button["elements"][0]["value"]) == ("customer", "<!here>")
    assert all("<!" not in chunk for chunk in alert_fallback(payload([evil])))


def test_owners_are_mentioned_and_a_customers_own_line_is_named() -> None:
    e = event("breach", 1, owners=["U012PAT", "not an id <!channel>"], own_bands=True, breach_pct="50")
    message = alert_message(payload([e]))
    assert_postable(message["text"], message["blocks"])
    assert section_of(message, "Customer 1").startswith(
        "*Customer 1* (customer) · its own breach line: 50% · owner <@U012PAT>, not an id &lt;!channel&gt;\n"
    )


def test_acknowledged_snoozed_and_recovered_subjects_show_who_and_when_instead_of_buttons() -> None:
    at = datetime(2026, 11, 15, 14, 2, tzinfo=UTC)
    events = [event("breach", n) for n in (1, 2, 3, 4)]
    shown = {
        ("customer", "c1"): Shown(status="acked", by="UPAT", at=at),
        ("customer", "c2"): Shown(status="snoozed", by="UPAT", until=at + timedelta(days=7)),
        ("customer", "c3"): Shown(status="recovered", at=at),
    }
    message = alert_message({**payload(events), "timezone": "Europe/Paris"}, shown)
    assert_postable(message["text"], message["blocks"])
    text = all_text(message["blocks"])
    assert ":white_check_mark: Acknowledged by <@UPAT> at 2026-11-15 15:02 CET" in text
    assert ":zzz: Snoozed by <@UPAT> until 2026-11-22 15:02 CET" in text
    assert ":large_green_circle: Recovered 2026-11-15 15:02 CET" in text
    assert [b["block_id"] for b in message["blocks"] if b["type"] == "actions"] == ["alert:customer:c4"]


def test_the_plain_text_fallback_carries_every_subject_in_short_chunks() -> None:
    events = [event("breach", n) for n in range(70)]
    chunks = alert_fallback(payload(events))
    assert len(chunks) > 1 and all(len(c) <= 3000 for c in chunks)
    assert all(any(f"*Customer {n}* " in c for c in chunks) for n in range(70))
    assert chunks[1].startswith("Margin alerts, last 30 days (2026-10-16 to 2026-11-14) (continued)")


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
    assert_postable(message["text"], message["blocks"])
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


def test_figures_from_the_engine_are_rounded_once_where_people_read_them() -> None:
    # Margins 29.745% and 9.5%: to the cent "29.75" and "9.50", which rounded again say 29.8% and +20.3 pts.
    now, before = (
        Figures(revenue=Decimal(100), cogs=Decimal("70.255")),
        Figures(revenue=Decimal(100), cogs=Decimal("90.5")),
    )
    # COGS $12.505 against $10.004: +24.998%; from "12.51" and "10.00" it would be +25.1%.
    costs = Figures(revenue=Decimal(300), cogs=Decimal("12.505")), Figures(revenue=Decimal(300), cogs=Decimal("10.004"))
    message = alert_message(
        payload([event("breach", 1, **figures_text(now, before)), event("breach", 2, **figures_text(*costs))])
    )
    assert "margin *29.7%* (+20.2 pts vs previous period)" in section_of(message, "Customer 1")
    assert "COGS $12.51 (+25.0%)" in section_of(message, "Customer 2")
    assert "Customer 1 29.7%" in message["text"]

    digest = digest_message({**digest_payload(0), **figures_text(now, before, change=True)})
    assert "*Blended gross margin*\n29.7% (+20.2 pts)" in all_text(digest["blocks"])
    assert digest["text"].startswith("Weekly margin digest 2026-W45: blended margin 29.7% (+20.2 pts)")
    digest = digest_message({**digest_payload(0), **figures_text(*costs, change=True)})
    assert "*COGS*\n$12.51 (+25.0%)" in all_text(digest["blocks"])


def test_two_long_keys_get_their_own_block_ids_and_every_button_names_its_subject() -> None:
    from bot.slack.clicks import resolve_subject, subject_of  # (here: the module is older than this test's fix)

    # 200 characters (the longest a key may be) each, the same but for the last 139: past 255 once escaped.
    keys = ["k" + "&" * 60 + "a" * 139, "k" + "&" * 60 + "b" * 139]
    message = alert_message(payload([event("breach", n, subject=key) for n, key in enumerate(keys)]))
    assert_postable(message["text"], message["blocks"])  # no block id twice, none past 255 characters
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    for key, block in zip(keys, actions, strict=True):
        for element in block["elements"]:
            chosen = [{**element, "selected_option": o} for o in element.get("options", [])] or [element]
            for action in chosen:
                named = subject_of({**action, "block_id": block["block_id"]})
                assert named is not None and resolve_subject(named, [("customer", k) for k in keys]) == (
                    "customer", key
                )  # fmt: skip


def test_a_trends_projection_is_rounded_once_from_its_exact_value() -> None:
    trend = {"slope_pts_per_day": "-1.70", "projected_pct": "29.75", "exact": {"projected_pct": "29.745"}, "days": 30}
    old = {k: v for k, v in trend.items() if k != "exact"}  # a payload stored before the exact value was kept
    shown = [
        all_text(alert_message(payload([event("trending_to_breach", 3, margin_pct="65.35", trend=t)]))["blocks"])
        for t in (trend, old)
    ]
    assert "(projected 29.7% in 14 days)" in shown[0]
    assert "(projected 29.8% in 14 days)" in shown[1]  # what it read before, from the cent


def test_a_trend_with_revenue_in_only_some_weeks_says_how_many() -> None:
    payload = digest_payload(0)
    for week in payload["trend"][:9]:  # a customer book that started three weeks ago
        week.update(revenue_usd="0.00", cogs_usd="0.00", margin_pct=None)
    shown = all_text(digest_message(payload)["blocks"])
    assert "blended margin in the 3 of the last 12 weeks with revenue: 40.0% (2026-W43) → 40.5% (2026-W45)" in shown
    assert "12-week" not in shown


def test_a_reminder_dates_its_breach_in_the_users_time_zone() -> None:
    """First found at 01:00 on Nov 16 in Tokyo (16:00 UTC on Nov 15), reminded a week later: the days the window is
    cut in, not UTC's."""
    reminder = event("reminder", 5, since="2026-11-15T16:00:00+00:00")
    tokyo = {**payload([reminder]), "as_of": "2026-11-22T16:00:00+00:00", "timezone": "Asia/Tokyo"}
    assert "in breach since 2026-11-16 (7 days)" in all_text(alert_message(tokyo)["blocks"])


def test_the_terminal_text_shows_names_and_sources_as_written_not_as_slack_escapes_them() -> None:
    lagging = [{"source": "R&D <proxy>", "synced_to": None}]
    plain = alert_plain({**payload([event("breach", 1, name="AT&T <Labs>")]), "lagging_sources": lagging})
    assert "AT&T <Labs>" in plain and "usage from R&D <proxy> (never synced)" in plain
    assert "&amp;" not in plain and "&lt;" not in plain
    row = {**digest_payload(1)["breach"][0], "name": "AT&T <Labs>"}
    digest = digest_plain({**digest_payload(0), "breach": [row], "lagging_sources": lagging})
    assert "AT&T <Labs>" in digest and "R&D <proxy>" in digest and "&amp;" not in digest


def test_the_digest_headings_say_when_a_listed_customer_is_judged_by_its_own_bands() -> None:
    # "In breach (under 40%)" over "Acme Corp 87.7% · own bands 88%/88%": the heading contradicted the row under it.
    own = {"kind": "customer", "name": "Acme Corp", "key": "acme", "margin_pct": "87.70", "revenue_usd": "300.00",
           "cogs_usd": "36.90", "own_bands": True, "breach_pct": "88", "healthy_pct": "88"}  # fmt: skip
    watched = {**own, "margin_pct": "41.00", "breach_pct": "40", "healthy_pct": "90"}
    shown = all_text(digest_message({**digest_payload(0), "breach": [own], "watch": [watched]})["blocks"])
    assert "*:red_circle: In breach (under 40%, or a customer's own bands)*" in shown
    assert "*:large_yellow_circle: Watch (40% to 55%, or a customer's own bands)*" in shown
    assert "own bands 88%/88%" in shown
    shown = all_text(digest_message(digest_payload(2))["blocks"])  # no row with bands of its own: as before
    assert "*:red_circle: In breach (under 40%)*" in shown and "*:large_yellow_circle: Watch (40% to 55%)*" in shown
