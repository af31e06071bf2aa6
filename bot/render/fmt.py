"""Number formatting shared by Block Kit builders and terminal tables: `$1,484.73`, `25.8%`, `1 task`.

Money is shown to the cent; an amount that is not zero but rounds to $0.00 is shown as "<$0.01" (a cost that
exists is never shown as nothing). Margins and other percentages a person reads have one decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

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
CENT = Decimal("0.01")
TENTH = Decimal("0.1")


def exact(value: object) -> Decimal | None:
    """A figure as an exact Decimal: the value a JSON number was rounded from when it carries one
    (engine.reports.serialize.Rounded), else the number itself (str() keeps a float's shortest spelling)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    found = getattr(value, "exact", None)
    return found if isinstance(found, Decimal) else Decimal(str(value))


def money(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    q = _unsigned_zero(value.quantize(CENT, ROUND_HALF_UP))
    if q == 0 and value != 0:
        return "<$0.01" if value > 0 else "-<$0.01"
    return f"-${-q:,.2f}" if q < 0 else f"${q:,.2f}"


def signed_money(value: Decimal) -> str:
    """A change in dollars with its sign: "+$412.37", "-$3.10", "$0.00"."""
    shown = money(value)
    return f"+{shown}" if value > 0 else shown


def small_money(value: Decimal) -> str:
    """Per-day and per-task figures: to the cent like any money ("<$0.01" below half a cent, "$0.00" for none)."""
    return money(value)


def _unsigned_zero(q: Decimal) -> Decimal:
    """`q` (already rounded), with the sign dropped when it is zero: a Decimal keeps the sign of what rounded to
    it (-0.04 → -0.0), and a change too small to show has no direction to show either."""
    return q.copy_abs() if q == 0 else q


def _tenth(value: Decimal) -> Decimal:
    return _unsigned_zero(value.quantize(TENTH, ROUND_HALF_UP))


def percent(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{_tenth(value)}%"


def percent_beside(value: Decimal | None, lines: Iterable[Decimal | None]) -> str:
    """A percentage like `percent`, with as many more decimals as it takes never to read as on or across a line it
    is judged against: under a 40% line, 39.96% is "39.96%", not "40.0%" (which reads as on the line); at or above
    it, the figure shown is at or above it too. Past four decimals it is cut toward its own side of the line."""
    if value is None:
        return "n/a"
    marks = [line for line in lines if line is not None]

    def beside(shown: Decimal) -> bool:
        return all((shown < line) == (value < line) for line in marks)

    for places in range(1, 5):
        q = _unsigned_zero(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))
        if beside(q):
            return f"{q}%"
    below = any(value < line for line in marks)
    q = _unsigned_zero(value.quantize(Decimal("0.0001"), ROUND_FLOOR if below else ROUND_CEILING))
    if not beside(q):  # under one line and within 0.0001 of another above it: rounded toward the nearer side
        q = value
    return f"{q}%"


def points(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    q = _tenth(value)
    return f"{'+' if q > 0 else ''}{q} pts"


def delta_pct(now: Decimal, before: Decimal) -> str:
    if before == 0:
        return "new" if now else "—"
    q = _tenth((now - before) / before * 100)
    return f"{'+' if q > 0 else ''}{q}%"


def times(growth: Decimal) -> str:
    """A ratio as people say it: "×3.1" (now over before)."""
    return f"×{growth.quantize(TENTH, ROUND_HALF_UP)}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 task", "2 tasks", "1,204 events" (`many` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
