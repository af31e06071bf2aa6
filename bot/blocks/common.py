"""Pieces several builders share: the status marker and one-line summaries of a subject's figures."""

from __future__ import annotations

from decimal import Decimal

from bot.blocks.kit import esc
from bot.render.fmt import STATUS_EMOJI, STATUS_LABEL, delta_pct, money, percent, points
from engine.reports.figures import Figures, Thresholds
from engine.reports.portfolio import PortfolioRow


def threshold(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def band(status: str, t: Thresholds) -> str:
    """Where a margin sits against the 40% / 55% bands, in words."""
    if status == "breach":
        return f"below the {threshold(t.breach_pct)} breach line"
    if status == "watch":
        return f"between {threshold(t.breach_pct)} and {threshold(t.healthy_pct)}: watch"
    if status == "healthy":
        return f"at or above {threshold(t.healthy_pct)}"
    return "no revenue in this period, so no margin"


def marker(status: str) -> str:
    """The clear marker: an emoji for the eye and the label for screen readers and terminals."""
    return f"{STATUS_EMOJI[status]} *{STATUS_LABEL[status]}*"


def status_line(f: Figures) -> str:
    return f"{marker(f.status)}  gross margin *{percent(f.margin_pct)}*, {band(f.status, f.thresholds)}"


def margin_change(now: Figures, before: Figures) -> str:
    if now.margin_pct is None or before.margin_pct is None:
        return "n/a"
    return points(now.margin_pct - before.margin_pct)


def trend_arrow(now: Figures, before: Figures) -> str:
    if now.margin_pct is None or before.margin_pct is None:
        return ""
    diff = now.margin_pct - before.margin_pct
    if diff > Decimal("0.05"):
        return "↗"
    if diff < Decimal("-0.05"):
        return "↘"
    return "→"


def figure_fields(now: Figures, before: Figures) -> list[str]:
    """Revenue, COGS and margin with the previous period beside each."""
    return [
        f"*Revenue*\n{money(now.revenue)}\n"
        f"_previous {money(before.revenue)} ({delta_pct(now.revenue, before.revenue)})_",
        f"*COGS*\n{money(now.cogs)}\n_previous {money(before.cogs)} ({delta_pct(now.cogs, before.cogs)})_",
        f"*Gross margin*\n{percent(now.margin_pct)} {STATUS_EMOJI[now.status]}\n"
        f"_previous {percent(before.margin_pct)} ({margin_change(now, before)})_",
        f"*Gross profit*\n{money(now.gross_profit)}\n_previous {money(before.gross_profit)}_",
    ]


def row_name(row: PortfolioRow) -> str:
    return esc(row.name)


def row_line(row: PortfolioRow, rank: int | None = None) -> str:
    f = row.current
    prefix = f"{rank}. " if rank is not None else ""
    unpriced = f" · :warning: {f.unpriced_events:,} unpriced" if f.unpriced_events else ""
    return (
        f"{prefix}{STATUS_EMOJI[f.status]} *{row_name(row)}* {percent(f.margin_pct)} "
        f"({margin_change(f, row.previous)}) · revenue {money(f.revenue)} · COGS {money(f.cogs)}{unpriced}"
    )
