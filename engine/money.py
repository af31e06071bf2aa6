"""Money and the one rounding policy: exact values everywhere, rounded half-up once, at the edge a person reads.

Event costs are integer nano-USD (see engine.store.models); contract terms and revenue are Decimal. Nothing is
rounded while figures are combined; a figure is rounded once when it is shown or serialised: money to the cent,
per-day and per-task costs to the micro-dollar, percentages to 0.01 in JSON and 0.1 where people read them.

`round_to` is the rounding; the formatters below it only choose the output type an edge needs (a JSON number, a
string that keeps the decimals, text for people), so every edge rounds the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from fractions import Fraction
from typing import NamedTuple

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
NANO = 1_000_000_000  # nano-USD per USD
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
TENTH = Decimal("0.1")

# Where exact amounts are added and multiplied: with 100 digits no sum or product of amounts marginbot holds is ever
# rounded (a contract's money has 20 digits, usage counts about as many), where the default 28 could round a total of
# many of them quietly. Rounding would trap (Inexact), so nothing computed here is cut: never divide here.
EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])


def usd(nano: int) -> Decimal:
    """Integer nano-USD as exact dollars."""
    return Decimal(nano) / NANO


# Where a value is rounded to its step: quantize keeps every digit before the step, and the default context's 28
# digits refused (InvalidOperation) a figure of 27 digits or more before the cent, which a what-if or a forecast of
# absurd growth can reach. The rounding itself is the step's alone: the same result wherever both can hold it.
_ROUNDING = Context(prec=100)


def round_to(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded half-up to a multiple of `step` (the only rounding marginbot does)."""
    return value.quantize(step, ROUND_HALF_UP, _ROUNDING)


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded up to a multiple of `step`: only for a price floor, which must still meet its target."""
    return value.quantize(step, ROUND_CEILING, _ROUNDING)


def json_number(value: Decimal | None, step: Decimal) -> float | None:
    """For `--json`: the rounded value as a JSON number (None stays null)."""
    return None if value is None else float(round_to(value, step))


def fraction_decimal(value: Fraction) -> Decimal:
    """An exact fraction as a Decimal, divided once: exact when it ends within Decimal's 28 digits, else cut there
    (never at a half step: a fraction that is not a decimal is never exactly one)."""
    return Decimal(value.numerator) / Decimal(value.denominator)


def fraction_sum(values: Iterable[Fraction | int]) -> Fraction:
    """The exact sum of many fractions. Added one by one, each partial sum is reduced by a gcd of numbers as long as
    the least common multiple of every denominator so far: the bridge's states over a portfolio's 11,862 cells,
    each over its own request count, reach thousands of digits and took seconds. Here the numerators are added per
    denominator as integers, the sums over distinct denominators are combined pairwise without reducing, and the
    result is reduced once."""
    whole = 0  # the integers, added apart: most of what is summed is whole nano-dollars
    by_denominator: dict[int, int] = {}
    for v in values:
        if type(v) is int:
            whole += v
        else:
            by_denominator[v.denominator] = by_denominator.get(v.denominator, 0) + v.numerator
    if whole:
        by_denominator[1] = by_denominator.get(1, 0) + whole
    terms = [(n, d) for d, n in by_denominator.items() if n]
    if not terms:
        return Fraction(0)
    while len(terms) > 1:
        paired = [(a * d + c * b, b * d) for (a, b), (c, d) in zip(terms[::2], terms[1::2], strict=False)]
        terms = paired + terms[len(paired) * 2 :]
    return Fraction(*terms[0])


# Revenue is added up in ticks, 1/TICKS of a dollar. A day is 1/28 to 1/31 of its month, so a span's share of a month
# is a fraction over a divisor of TICKS, and a monthly amount over it a whole number of ticks times that amount: a
# Decimal that ends, which adds exactly (in EXACT). A total of many is divided by TICKS once, so it is the exact sum
# of its parts: fees of $1,000.00, $1,000.03 and $1,000.12 over 7 days of June are $233.33…, $233.340333… and
# $233.361333…, exactly $700.035 together, where their 28-digit Decimals (each cut down) add up to $700.0349…9, a
# cent short once rounded half-up.
TICKS = 377_580  # lcm(28, 29, 30, 31)
TICKS_D = Decimal(TICKS)


class Share(NamedTuple):
    """An exact amount in ticks that seldom ends: `ticks` × `part` / `whole` (a contract's revenue split by usage
    across products, an invoice prorated over a service period whose length does not divide TICKS)."""

    ticks: Decimal
    part: Decimal
    whole: Decimal

    def dollars(self) -> Decimal:
        """In dollars, divided once."""
        return EXACT.multiply(self.ticks, self.part) / EXACT.multiply(self.whole, TICKS_D)

    def fraction(self) -> Fraction:
        """In dollars, exactly."""
        return Fraction(EXACT.multiply(self.ticks, self.part)) / (Fraction(self.whole) * TICKS)


Exact = Decimal | Share  # an exact amount in ticks: a Decimal where it ends (any contract charge), else a Share

# Shares are added at this step (in ticks) with a bound on the error, not as fractions: the exact sum of thousands of
# them over as many denominators (one per customer's usage) grows to thousands of digits, quadratic in their number.
# A share's quotient, cut at 80 digits and then at the step, is within one step of exact (for any below 10^49 ticks).
_NEAR = Context(prec=80)
_NEAR_STEP = Decimal("1e-30")


class ExactSum:
    """A sum of amounts in ticks (`Exact`), kept exactly enough to give the exact sum's Decimal (`dollars`)."""

    __slots__ = ("near", "shares", "ticks")

    def __init__(self, ticks: Decimal = ZERO) -> None:
        self.ticks = ticks  # the Decimals, added exactly
        self.near = ZERO  # the shares, each cut at _NEAR_STEP
        self.shares: list[Share] = []  # and the shares themselves, for the rare sum `near` cannot settle

    def add(self, amount: Exact) -> None:
        if isinstance(amount, Decimal):
            self.ticks = EXACT.add(self.ticks, amount)
        else:
            self.shares.append(amount)
            cut = _NEAR.divide(EXACT.multiply(amount.ticks, amount.part), amount.whole)
            self.near = EXACT.add(self.near, cut.quantize(_NEAR_STEP, context=_NEAR))

    def merged(self, other: ExactSum) -> ExactSum:
        """A new sum of both."""
        out = ExactSum(EXACT.add(self.ticks, other.ticks))
        out.near, out.shares = EXACT.add(self.near, other.near), self.shares + other.shares
        return out

    def scaled(self, by: int, over: int) -> ExactSum:
        """This sum × `by` ÷ `over`, exactly (a run rate: days in the period over days so far)."""
        out = ExactSum()
        out.add(Share(self.ticks, Decimal(by), Decimal(over)))
        for s in self.shares:
            out.add(Share(EXACT.multiply(s.ticks, by), s.part, EXACT.multiply(s.whole, over)))
        return out

    def fraction(self) -> Fraction:
        """The sum in dollars, exactly."""
        return Fraction(self.ticks) / TICKS + sum((s.fraction() for s in self.shares), Fraction(0))

    def dollars(self) -> Decimal:
        """The sum in dollars as a Decimal, divided once: what `fraction_decimal(self.fraction())` gives. With shares,
        the exact sum lies within one step of `near` per share; when both ends of that interval round to the same 28
        digits, so does the exact sum (a half cent is one such: it ends within a few digits, and an interval this
        narrow around it rounds to it at both ends). Otherwise, very rarely, the shares are added as fractions."""
        if not self.shares:
            return self.ticks / TICKS_D
        total, error = EXACT.add(self.ticks, self.near), _NEAR_STEP * len(self.shares)
        low, high = EXACT.subtract(total, error) / TICKS_D, EXACT.add(total, error) / TICKS_D
        return low if low == high else fraction_decimal(self.fraction())


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


def share_text(value: Decimal) -> str:
    """A share of a whole (0 to 100) for people: a whole percent ("62%"), but never 100% of less than all nor 0% of
    more than none, which a reader takes literally: one decimal then ("99.5%", "0.4%"), and past that ">99.9%" or
    "<0.1%"."""
    shown = round_to(value, ONE)
    if (shown == HUNDRED) == (value == HUNDRED) and (shown == 0) == (value == 0):
        return f"{shown}%"
    tenth = round_to(value, TENTH)
    if tenth == HUNDRED:
        return ">99.9%"
    return "<0.1%" if tenth == 0 else f"{tenth}%"


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
