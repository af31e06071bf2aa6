"""The App Home's trend section: the portfolio's 12-week margin and each breached customer's sparkline.

A section of its own (home_view places it), so other work on the Home tab's rows does not touch it."""

from __future__ import annotations

from bot.blocks.kit import Block, esc_name, sections
from bot.render.fmt import percent
from bot.render.spark import sparkline, trend_line
from engine.reports.portfolio import PortfolioRow
from engine.reports.weekly import Week

MAX_BREACHED = 15


def trend_section(portfolio: list[Week], breached: list[tuple[PortfolioRow, list[Week]]]) -> list[Block]:
    lines = [f"*Portfolio* {trend_line(portfolio)}"]
    for row, weeks in breached[:MAX_BREACHED]:
        margins = [w.margin_pct for w in weeks]
        lines.append(
            f"{sparkline(margins)} *{esc_name(row.name)}* now {percent(row.current.margin_pct)}"
            f" (12 weeks: {percent(next((m for m in margins if m is not None), None))} → {percent(margins[-1])})"
        )
    if len(breached) > MAX_BREACHED:
        lines.append(f"_and {len(breached) - MAX_BREACHED} more in breach_")
    return sections("Weekly margin, last 12 weeks (each line on its own scale)", lines)
