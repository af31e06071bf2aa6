"""Pieces several builders share: the status marker and one-line summaries of a subject's figures."""

from __future__ import annotations

from decimal import Decimal

from bot.blocks.kit import code, esc_name, esc_text
from bot.render.fmt import STATUS_EMOJI, STATUS_LABEL, delta_pct, money, percent, points
from engine.periods import Period, short_day
from engine.reports.figures import Figures, Projection, Thresholds
from engine.reports.figures import margin_change as exact_change
from engine.reports.portfolio import PortfolioRow


def period_context(period: Period) -> str:
    """The days counted and the days compared, for a context line: "Nov 1 to Nov 26 (month to date) · compared with
    Oct 1 to Oct 26, the same 26 days of 2026-10"."""
    prev = period.previous()
    counted = f"{period.span}: {period.start} to {period.end}" if period.span else f"{period.start} to {period.end}"
    return f"{counted} · compared with {prev.start} to {prev.end}{prev.likeness}"


def projection_text(p: Projection | None) -> str | None:
    """A period to date's run rate, labelled so it is never read as actuals."""
    if p is None:
        return None
    f = p.figures
    return (
        f":crystal_ball: *Run rate, not actuals:* all of {esc_text(p.label)} ({p.full_days} days) would be revenue "
        f"{money(f.revenue)} · COGS {money(f.cogs)} · gross profit {money(f.gross_profit_cents)} · "
        f"gross margin {percent(f.margin_pct)} ({p.basis})" + (f"\n:warning: {esc_text(p.caveat)}" if p.caveat else "")
    )


def through_text(period: Period) -> str:
    """ "month to date (through Nov 26)" for a period to date, else its first and last day."""
    return period.span or f"{short_day(period.start)} to {short_day(period.end)}"


def threshold(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def band(status: str, t: Thresholds, *, own: bool = False) -> str:
    """Where a margin sits against the 40% / 55% bands (or the customer's own, said so), in words."""
    its, bands = ("its own ", " (its own bands)") if own else ("the ", "")
    if status == "breach":
        return f"below {its}{threshold(t.breach_pct)} breach line"
    if status == "watch":
        return f"between {threshold(t.breach_pct)} and {threshold(t.healthy_pct)}{bands}: watch"
    if status == "healthy":
        return f"at or above {threshold(t.healthy_pct)}{bands}"
    return "no revenue in this period, so no margin"


def marker(status: str) -> str:
    """The clear marker: an emoji for the eye and the label for screen readers and terminals."""
    return f"{STATUS_EMOJI[status]} *{STATUS_LABEL[status]}*"


def status_line(f: Figures, *, own: bool = False) -> str:
    line = f"{marker(f.status)}  gross margin *{percent(f.margin_pct)}*, {band(f.status, f.thresholds, own=own)}"
    if not f.material:  # engine.reports.figures.Figures.material
        line += f" · _immaterial: revenue and COGS each under {money(f.thresholds.material_usd)}_"
    return line


def own_bands_text(t: Thresholds) -> str:
    """A customer's own bands, as a row says them: "own bands: breach under 30%, healthy from 45%"."""
    return f"own bands: breach under {threshold(t.breach_pct)}, healthy from {threshold(t.healthy_pct)}"


def margin_change(now: Figures, before: Figures) -> str:
    moved = exact_change(now, before)
    return "n/a" if moved is None else points(moved)


SAME_DAYS = "the same days of the month before"


def against_same_days(change: Decimal | None, before: Decimal | None) -> str:
    """The month to date against `SAME_DAYS` (Home and the digest), from the margin's change in points and the margin
    before (each None where there is no margin), saying which side has none rather than "n/a against …"."""
    if change is not None:
        return f"{points(change)} against {SAME_DAYS}"
    if before is not None:
        return f"{percent(before)} in {SAME_DAYS}"
    return f"no margin in {SAME_DAYS} to compare with"


def trend_arrow(now: Figures, before: Figures) -> str:
    diff = exact_change(now, before)
    if diff is None:
        return ""
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
        f"*Gross profit*\n{money(now.gross_profit_cents)}\n_previous {money(before.gross_profit_cents)}_",
    ]


def row_name(row: PortfolioRow) -> str:
    return esc_name(row.name)


def row_line(row: PortfolioRow, rank: int | None = None) -> str:
    f = row.current
    prefix = f"{rank}. " if rank is not None else ""
    unpriced = f" · :warning: {f.unpriced_events:,} unpriced" if f.unpriced_events else ""
    contract = f" · no contract for {code(row.key)}" if row.no_contract else ""
    own = f" · {own_bands_text(f.thresholds)}" if row.own_bands else ""
    if not f.material:  # shown, never news (engine.reports.figures.Figures.material)
        own += f" · _immaterial (revenue and COGS under {money(f.thresholds.material_usd)})_"
    return (
        f"{prefix}{STATUS_EMOJI[f.status]} *{row_name(row)}* {percent(f.margin_pct)} "
        f"({margin_change(f, row.previous)}) · revenue {money(f.revenue)} · COGS {money(f.cogs)}{unpriced}{contract}"
        f"{own}"
    )
