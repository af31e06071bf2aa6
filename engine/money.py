"""Money and the one rounding policy: exact values everywhere, rounded half-up once, at the edge a person reads.

Event costs are integer nano-USD (see engine.store.models); contract terms and revenue are Decimal. Nothing is
rounded while figures are combined; a figure is rounded once when it is shown or serialised: money to the cent,
per-day and per-task costs to the micro-dollar, percentages to 0.01 in JSON and 0.1 where people read them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

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
