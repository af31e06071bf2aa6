"""Number formatting shared by Block Kit builders and terminal tables: `$1,484.73`, `25.8%`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

STATUS_LABEL = {
    "breach": "BREACH",
    "watch": "WATCH",
    "healthy": "HEALTHY",
    "no_revenue": "NO REVENUE",
}
STATUS_EMOJI = {
    "breach": ":red_circle:",
    "watch": ":large_yellow_circle:",
    "healthy": ":large_green_circle:",
    "no_revenue": ":white_circle:",
}


def money(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    q = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"-${-q:,.2f}" if q < 0 else f"${q:,.2f}"


def small_money(value: Decimal) -> str:
    """Per-task and per-day figures can be fractions of a cent: keep four decimals there."""
    if abs(value) >= 1:
        return money(value)
    return f"${value.quantize(Decimal('0.0001'), ROUND_HALF_UP)}"


def percent(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def points(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    q = value.quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{'+' if q > 0 else ''}{q} pts"


def delta_pct(now: Decimal, before: Decimal) -> str:
    if before == 0:
        return "new" if now else "—"
    change = (now - before) / before * 100
    q = change.quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{'+' if q > 0 else ''}{q}%"
