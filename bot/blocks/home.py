"""The App Home tab: the portfolio at a glance for people with access, how to get access for everyone else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.blocks.alerts import buttons, status_line
from bot.blocks.common import (
    against_same_days,
    margin_change,
    marker,
    period_context,
    projection_text,
    row_line,
    trend_arrow,
)
from bot.blocks.kit import (
    MAX_VIEW_BLOCKS,
    Block,
    code,
    context,
    divider,
    esc_name,
    esc_text,
    fields,
    fit,
    header,
    section,
)
from bot.blocks.portfolio import active, by_status, more_line, skipped_line, spread_line, unpriced_line
from bot.render.fmt import STATUS_EMOJI, money, percent
from engine.alerts.threads import Shown
from engine.reports.figures import Figures
from engine.reports.figures import margin_change as exact_change
from engine.reports.portfolio import Portfolio, PortfolioRow

WORST = 5
# Rows with buttons take two blocks each and the Home tab holds 100: this many rows per list, the rest counted.
CUSTOMER_ROWS = 8
PRODUCT_ROWS = 5


@dataclass(frozen=True)
class LastImport:
    source: str
    finished_at: datetime  # already in the display time zone
    rows: int


def _imported(last: LastImport | None) -> str:
    if last is None:
        return "no data imported yet: `marginbot import usage FILE` or a connector sync brings it in"
    return (
        f"data last imported {last.finished_at:%Y-%m-%d %H:%M} {last.finished_at.tzname() or ''} "
        f"({esc_text(last.source)}, {last.rows:,} rows)"
    ).replace("  ", " ")


def against_before(now: Figures, before: Figures) -> str:
    """The headline's comparison with the period before. Without a margin on both sides there is no change to
    show, so it says which side is missing instead of "n/a against the n/a"."""
    if before.revenue <= 0:
        return "· no margin in the period before to compare with"
    if now.revenue <= 0:
        return f"· {percent(before.margin_pct)} in the period before"
    return (
        f"{trend_arrow(now, before)} {margin_change(now, before)} against the {percent(before.margin_pct)} "
        "of the period before"
    )


def month_section(m: Portfolio) -> list[dict[str, Any]]:
    """The calendar month so far ("month to date (through Nov 26)") beside the trailing window: what finance
    closes on, with its run rate labelled as a projection."""
    t, before = m.total, m.previous_total
    title = f"{m.period.label}, {m.period.span}" if m.period.span else m.period.label
    blocks = [
        section(
            f"*{esc_name(title)}:* {STATUS_EMOJI[t.status]} gross margin *{percent(t.margin_pct)}* "
            f"({against_same_days(exact_change(t, before), before.margin_pct)}) · revenue {money(t.revenue)} · "
            f"COGS {money(t.cogs)}"
        )
    ]
    if line := projection_text(m.projection):
        blocks.append(context(line))
    return blocks


def home_view(
    p: Portfolio,
    last: LastImport | None,
    trend: list[Block] | None = None,
    *,
    month: Portfolio | None = None,
    notices: list[str] | None = None,
    shown: dict[tuple[str, str], Shown] | None = None,
    timezone: str = "UTC",
) -> dict[str, Any]:
    """The dashboard: the trailing window (`p`), the weekly trend section, the calendar month to date (`month`, when
    it has a complete day) and the notices every answer carries. `shown` says which rows have an open alert
    (buttons to act on it) or who acted on it, in `timezone`."""
    t, before = p.total, p.previous_total
    customers, products = active(p.customers), active(p.products)
    blocks = [
        header("marginbot · portfolio margin"),
        context(f"{p.period.label}: {period_context(p.period)} · {_imported(last)}"),
        section(f"{marker(t.status)}  blended gross margin *{percent(t.margin_pct)}* {against_before(t, before)}"),
        fields(
            f"*Revenue*\n{money(t.revenue)}",
            f"*COGS*\n{money(t.cogs)}",
            f"*Customers*\n{len(customers)} active",
            f"*Products*\n{len(products)} active",
        ),
    ]
    if line := spread_line(p):
        blocks.append(context(line))
    if month is not None:
        blocks += month_section(month)
    if p.unpriced_models:
        blocks.append(section(unpriced_line(p)))
    if p.skipped_contracts:  # revenue is understated: the same warning `/margin portfolio` gives
        blocks.append(section(skipped_line(p)))
    blocks += [section(f":warning: {esc_text(n)}") for n in notices or []]
    if trend:  # the weekly trend section (bot/blocks/home_trend.py)
        blocks += [divider(), *trend]
    blocks.append(divider())
    shown = shown or {}
    listed: set[str] = set()
    for status, label in (("breach", "In breach"), ("watch", "On watch")):
        c, pr = by_status(customers, status), by_status(products, status)
        if not c and not pr:
            blocks.append(section(f"*{label}:* none"))
            continue
        if c:
            blocks += _rows(f"Customers {label.lower()} ({len(c)})", c, "customer", CUSTOMER_ROWS, shown, timezone)
            listed.update(r.key for r in c[:CUSTOMER_ROWS])
        if pr:
            blocks += _rows(f"Products {label.lower()} ({len(pr)})", pr, "product", PRODUCT_ROWS, shown, timezone)
    # The worst customers not already listed above: the same row twice tells nobody anything.
    worst = [r for r in customers if r.key not in listed][:WORST]
    if worst:
        blocks.append(divider())
        n = len(worst)
        title = f"Worst {n} {'other ' if listed else ''}customer{'s' if n > 1 else ''}"
        blocks += _rows(title, worst, "customer", WORST, shown, timezone, ranked=True)
    blocks.append(context("Ask anything with `/margin help`; add `share` to post an answer in a channel."))
    return {"type": "home", "blocks": fit(blocks, MAX_VIEW_BLOCKS)}


def _rows(
    title: str,
    rows: list[PortfolioRow],
    kind: str,
    limit: int,
    shown: dict[tuple[str, str], Shown],
    timezone: str,
    *,
    ranked: bool = False,
) -> list[Block]:
    """A titled list of rows, each with the alert buttons (Acknowledge and Snooze while its alert is open)."""
    out = [section(f"*{title}*")]
    payload = {"timezone": timezone}  # who acknowledged or snoozed when, in the settings' time zone
    for i, row in enumerate(rows[:limit], 1):
        s = shown.get((kind, row.key), Shown(status="resolved"))
        line = row_line(row, rank=i if ranked else None)
        note = status_line(s, payload)
        out.append(section(f"{line}\n{note}" if note else line))
        out.append(buttons(kind, row.key, acting=s.status == "open"))
    if len(rows) > limit:
        # `/margin portfolio` stops at its own LIST_MAX rows: say what really lists the rest.
        out.append(context(more_line(len(rows) - limit, kind)))
    return out


def home_no_access_view(user_id: str) -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            header("marginbot"),
            section(
                ":lock: marginbot shows gross margin per customer and product to people on its access list.\n"
                f"To get access, ask your marginbot admin to add your Slack member ID {code(user_id)} to "
                "`MARGINBOT_ALLOWED_USERS`, then reopen this tab."
            ),
        ],
    }


def home_error_view(line: str) -> dict[str, Any]:
    return {"type": "home", "blocks": [header("marginbot"), section(f":warning: {esc_text(line)}")]}
