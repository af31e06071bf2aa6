"""Money and the one rounding policy: exact values everywhere, rounded half-up once, at the edge a person reads.

Event costs are integer nano-USD (see engine.store.models); contract terms and revenue are Decimal. Nothing is
rounded while figures are combined; a figure is rounded once when it is shown or serialised: money to the cent,
per-day and per-task costs to the micro-dollar, percentages to 0.01 in JSON and 0.1 where people read them.

`round_to` is the rounding; the formatters below it only choose the output type an edge needs (a JSON number, a
string that keeps the decimals, text for people), so every edge rounds the same way.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from fractions import Fraction

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
NANO = 1_000_000_000  # nano-USD per USD
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
TENTH = Decimal("0.1")


def usd(nano: int) -> Decimal:
    """Integer nano-USD as exact dollars."""
    return Decimal(nano) / NANO


def round_to(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded half-up to a multiple of `step` (the only rounding marginbot does)."""
    return value.quantize(step, ROUND_HALF_UP)


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded up to a multiple of `step`: only for a price floor, which must still meet its target."""
    return value.quantize(step, ROUND_CEILING)


def json_number(value: Decimal | None, step: Decimal) -> float | None:
    """For `--json`: the rounded value as a JSON number (None stays null)."""
    return None if value is None else float(round_to(value, step))


def fraction_decimal(value: Fraction) -> Decimal:
    """An exact fraction as a Decimal, divided once: exact when it ends within Decimal's 28 digits, else cut there
    (never at a half step: a fraction that is not a decimal is never exactly one)."""
    return Decimal(value.numerator) / Decimal(value.denominator)


def decimal_text(value: Decimal | None, step: Decimal = CENT) -> str | None:
    """For payloads that must not go through a float (the outbox): the rounded value as a string, e.g. "30.00"."""
    return None if value is None else str(round_to(value, step))


def usd_text(value: Decimal, step: Decimal = CENT) -> str:
    """Dollars for people: "$1,234.56", "-$3.10", and "<$0.01" for an amount that is not zero but rounds to it."""
    q = round_to(value, step)
    if q == 0 and value != 0:
        return f"{'<' if value > 0 else '-<'}${step}"
    return f"-${-q:,}" if q < 0 else f"${q:,}"


def pct_text(value: Decimal, step: Decimal = ONE) -> str:
    """A percentage for people: "76%" (or "76.1%" with step TENTH)."""
    return f"{round_to(value, step)}%"


def unit_price_text(value: Decimal) -> str:
    """A contract's unit price for people: cents at least, every decimal it was written with beyond them, and no
    more ("$0.01", "$0.0125", "$1,250.00"), whatever scale the database stored it at (PostgreSQL's NUMERIC keeps
    six decimals: 0.010000). Exact: a sub-cent price is never rounded away."""
    cents = round_to(value, CENT)
    return f"${cents:,}" if value == cents else f"${_plain(value):,}"


def count_text(value: Decimal) -> str:
    """A count for people, without the database's trailing zeros: "20,000", "2.5"."""
    return f"{_plain(value):,}"


def _plain(value: Decimal) -> Decimal:
    normal = value.normalize()
    return normal.quantize(ONE) if normal == normal.to_integral_value() else normal
