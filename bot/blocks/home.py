"""The App Home tab: the portfolio at a glance for people with access, how to get access for everyone else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.blocks.common import margin_change, marker, period_context, projection_text, row_line, trend_arrow
from bot.blocks.kit import MAX_VIEW_BLOCKS, Block, context, divider, esc, fields, fit, header, section, sections
from bot.blocks.portfolio import active, by_status, capped, spread_line, unpriced_line
from bot.render.fmt import STATUS_EMOJI, money, percent
from engine.reports.portfolio import Portfolio

WORST = 5


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
        f"({esc(last.source)}, {last.rows:,} rows)"
    ).replace("  ", " ")


def month_section(m: Portfolio) -> list[dict[str, Any]]:
    """The calendar month so far ("month to date (through Nov 26)") beside the trailing window: what finance
    closes on, with its run rate labelled as a projection."""
    t, before = m.total, m.previous_total
    title = f"{m.period.label}, {m.period.span}" if m.period.span else m.period.label
    blocks = [
        section(
            f"*{esc(title)}:* {STATUS_EMOJI[t.status]} gross margin *{percent(t.margin_pct)}* "
            f"({margin_change(t, before)} against the same days of the month before) · revenue {money(t.revenue)} · "
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
) -> dict[str, Any]:
    """The dashboard: the trailing window (`p`), the weekly trend section, the calendar month to date (`month`, when
    it has a complete day) and the notices every answer carries."""
    t, before = p.total, p.previous_total
    customers, products = active(p.customers), active(p.products)
    blocks = [
        header("marginbot · portfolio margin"),
        context(f"{p.period.label}: {period_context(p.period)} · {_imported(last)}"),
        section(
            f"{marker(t.status)}  blended gross margin *{percent(t.margin_pct)}* {trend_arrow(t, before)} "
            f"{margin_change(t, before)} against the {percent(before.margin_pct)} of the period before"
        ),
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
    blocks += [section(f":warning: {esc(n)}") for n in notices or []]
    if trend:  # the weekly trend section (bot/blocks/home_trend.py)
        blocks += [divider(), *trend]
    blocks.append(divider())
    for status, label in (("breach", "In breach"), ("watch", "On watch")):
        c, pr = by_status(customers, status), by_status(products, status)
        if not c and not pr:
            blocks.append(section(f"*{label}:* none"))
            continue
        if c:
            blocks += sections(f"Customers {label.lower()} ({len(c)})", capped(c, 10))
        if pr:
            blocks += sections(f"Products {label.lower()} ({len(pr)})", capped(pr, 10))
    worst = customers[:WORST]
    if worst:
        blocks.append(divider())
        blocks += sections(f"Worst {len(worst)} customers", [row_line(r, rank=i) for i, r in enumerate(worst, 1)])
    blocks.append(context("Ask anything with `/margin help`; add `share` to post an answer in a channel."))
    return {"type": "home", "blocks": fit(blocks, MAX_VIEW_BLOCKS)}


def home_no_access_view(user_id: str) -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            header("marginbot"),
            section(
                ":lock: marginbot shows gross margin per customer and product to people on its access list.\n"
                f"To get access, ask your marginbot admin to add your Slack member ID `{esc(user_id)}` to "
                "`MARGINBOT_ALLOWED_USERS`, then reopen this tab."
            ),
        ],
    }


def home_error_view(line: str) -> dict[str, Any]:
    return {"type": "home", "blocks": [header("marginbot"), section(f":warning: {esc(line)}")]}
