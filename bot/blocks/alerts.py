"""The margin-alert message: one per channel per run, every event of the run, within Slack's limits.

Pure: takes the outbox payload written by `engine.alerts.evaluate` (a dict) and returns {"text", "blocks"}.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.blocks.kit import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT, clip, context, esc, header, section
from bot.render.fmt import delta_pct, money, percent, points

MAX_TEXT = 3000  # the notification text; Slack accepts more, but nobody reads more in a notification

TITLES = {
    "breach": ":red_circle: New breach",
    "no_revenue": ":white_circle: Cost without revenue",
    "trending_to_breach": ":chart_with_downwards_trend: Trending to breach",
    "unpriced": ":grey_question: Unpriced usage",
    "reminder": ":repeat: Still unresolved",
    "recovered": ":large_green_circle: Recovered",
}
ORDER = list(TITLES)


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _day(value: str | None) -> str:
    return datetime.fromisoformat(value).date().isoformat() if value else "?"


def _figures(e: dict[str, Any]) -> str:
    margin, before = _d(e["margin_pct"]), _d(e["previous_margin_pct"])
    change = f" ({points(margin - before)} vs previous period)" if margin is not None and before is not None else ""
    revenue, cogs = Decimal(e["revenue_usd"]), Decimal(e["cogs_usd"])
    return (
        f"margin *{percent(margin)}*{change} · revenue {money(revenue)} "
        f"({delta_pct(revenue, Decimal(e['previous_revenue_usd']))}) · COGS {money(cogs)} "
        f"({delta_pct(cogs, Decimal(e['previous_cogs_usd']))})"
    )


def _cause(e: dict[str, Any]) -> str:
    parts = [p for p in (e.get("driver"), e.get("lever")) if p]
    return f"\n      biggest cost driver: {esc('; '.join(parts))}" if parts else ""


def event_line(e: dict[str, Any], payload: dict[str, Any], as_of: date) -> str:
    """One subject's line: who, the figures that matter for this kind of event, and the cause."""
    who = f"*{esc(e['name'])}* ({e['subject_kind']})"
    kind = e["kind"]
    if kind == "trending_to_breach" and e.get("trend"):
        t = e["trend"]
        crosses = ""
        if t.get("crosses_on"):
            verb = "its fitted line crossed" if t.get("crossed") else "on course to cross"
            crosses = f"; {verb} {payload['breach_pct']}% on {t['crosses_on']}"
        return (
            f"{who}: {_figures(e)}\n      daily margins falling {Decimal(t['slope_pts_per_day']).copy_abs()} "
            f"pts/day over {t['days']} days{crosses} (projected {percent(_d(t['projected_pct']))} in 14 days)"
            + _cause(e)
        )
    if kind == "unpriced":
        models = ", ".join(e.get("unpriced_models") or []) or "models without a price"
        return (
            f"{who}: {e['unpriced_share_pct']}% of events ({e['unpriced_events']:,} of {e['events']:,}) "
            f"have no price ({esc(models)}), so its COGS is understated. Add them to the price file, "
            "then run `marginbot reprice`."
        )
    if kind == "no_revenue":
        return f"{who}: COGS {money(Decimal(e['cogs_usd']))} and no revenue in the period" + _cause(e)
    if kind == "reminder":
        since = e.get("since")
        days = (as_of - datetime.fromisoformat(since).date()).days if since else None
        what = "no revenue" if e["state"] == "no_revenue" else "in breach"
        return f"{who}: {what} since {_day(since)} ({days} days): {_figures(e)}" + _cause(e)
    if kind == "recovered":
        return f"{who}: back above {payload['recover_pct']}%: {_figures(e)}"
    return f"{who}: {_figures(e)}" + _cause(e)


def _headline(events: list[dict[str, Any]]) -> str:
    counts = {k: sum(1 for e in events if e["kind"] == k) for k in ORDER}
    words = {
        "breach": "new breach",
        "no_revenue": "without revenue",
        "trending_to_breach": "trending to breach",
        "unpriced": "unpriced",
        "reminder": "still unresolved",
        "recovered": "recovered",
    }
    return ", ".join(f"{n} {words[k]}" for k, n in counts.items() if n)


def alert_message(payload: dict[str, Any]) -> dict[str, Any]:
    """{"text", "blocks"} for one alerts payload. Lines are packed into sections; the overflow is counted."""
    events: list[dict[str, Any]] = payload["events"]
    as_of = datetime.fromisoformat(payload["as_of"]).date()
    period = payload["period"]
    blocks: list[dict[str, Any]] = [
        header(f"Margin alerts: {_headline(events)}"),
        context(
            f"{esc(period['label'])} ({period['start']} to {period['end']}) · "
            f"breach under {payload['breach_pct']}% · recovery at {payload['recover_pct']}% or more"
        ),
    ]
    # Pack every line into sections of at most MAX_SECTION_TEXT, each kind under its title; then keep what
    # fits in the message and count the rest.
    sections: list[tuple[str, int]] = []  # (text, events in it)
    for kind in ORDER:
        group = [e for e in events if e["kind"] == kind]
        if not group:
            continue
        chunk, count = f"*{TITLES[kind]}* ({len(group)})", 0
        for e in group:
            line = "• " + event_line(e, payload, as_of)
            if len(chunk) + 1 + len(line) > MAX_SECTION_TEXT:
                sections.append((chunk, count))
                chunk, count = clip(line, MAX_SECTION_TEXT), 1
            else:
                chunk, count = chunk + "\n" + line, count + 1
        sections.append((chunk, count))
    room = MAX_MESSAGE_BLOCKS - len(blocks)
    if len(sections) > room:
        sections = sections[: room - 1]  # one block for the count of the rest
    blocks += [section(text) for text, _ in sections]
    shown = sum(count for _, count in sections)
    if shown < len(events):
        blocks.append(context(f"…and {len(events) - shown} more: run `marginbot portfolio` for the full list"))
    return {"text": alert_text(payload), "blocks": blocks}


def alert_text(payload: dict[str, Any], limit: int = MAX_TEXT) -> str:
    """The notification text: what happened to whom, in one paragraph."""
    events = payload["events"]
    parts = []
    for kind in ORDER:
        names = [
            e["name"] + (f" {percent(_d(e['margin_pct']))}" if e.get("margin_pct") else "")
            for e in events
            if e["kind"] == kind
        ]
        if names:
            parts.append(f"{TITLES[kind].split(' ', 1)[1]}: {', '.join(names)}")
    return clip("Margin alerts. " + "; ".join(parts), limit)


def alert_plain(payload: dict[str, Any]) -> str:
    """The whole message as terminal text (for `marginbot alerts check --dry-run`)."""
    as_of = datetime.fromisoformat(payload["as_of"]).date()
    period = payload["period"]
    lines = [
        f"Margin alerts, {period['label']} ({period['start']} to {period['end']}): " + _headline(payload["events"])
    ]
    for kind in ORDER:
        group = [e for e in payload["events"] if e["kind"] == kind]
        if group:
            lines.append(f"{TITLES[kind].split(' ', 1)[1]} ({len(group)})")
            lines += ["  - " + event_line(e, payload, as_of).replace("*", "") for e in group]
    return "\n".join(lines)
