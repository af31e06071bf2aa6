"""Sparklines: a weekly margin trend in eight block characters, readable in Slack and in a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.render.fmt import percent
from engine.reports.weekly import Week

BARS = "▁▂▃▄▅▆▇█"
GAP = "·"  # a week without revenue has no margin: a dot, never a bar that reads as a low margin


def sparkline(values: Sequence[Decimal | None]) -> str:
    """One character per value, scaled between the lowest and the highest (a flat line sits in the middle)."""
    known = [v for v in values if v is not None]
    if not known:
        return GAP * len(values)
    lo, hi = min(known), max(known)
    span = hi - lo
    out = []
    for v in values:
        if v is None:
            out.append(GAP)
        elif span == 0:
            out.append(BARS[len(BARS) // 2 - 1])
        else:
            out.append(BARS[min(len(BARS) - 1, int((v - lo) / span * (len(BARS) - 1) + Decimal("0.5")))])
    return "".join(out)


def trend_line(weeks: Sequence[Week]) -> str:
    """The sparkline with what it is drawn from, so its scale cannot be misread:
    "▃▄▅▇ 12 weeks to 2026-W43: 41.0% → 52.3% (low 38.2%, high 55.0%)"."""
    if not weeks:
        return "no weekly trend"
    margins = [w.margin_pct for w in weeks]
    known = [m for m in margins if m is not None]
    head = f"{sparkline(margins)} {len(weeks)} weeks to {weeks[-1].period.label}"
    if not known:
        return f"{head}: no revenue, so no margin"
    first = next(m for m in margins if m is not None)
    return f"{head}: {percent(first)} → {percent(margins[-1])} (low {percent(min(known))}, high {percent(max(known))})"
