"""Usage growth as people write it for a forecast: `10%` a month (compounding), `-5%`, or `10x` over the horizon."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine.money import HUNDRED, ONE, ZERO

_GROWTH = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*(%|x)$|^x\s*(\d+(?:\.\d+)?)$")


MAX_MULTIPLE = 10_000  # the most a multiple over the forecast may be (`10000x`)
MAX_REACHED = 1_000_000  # the most usage may grow over a forecast at a monthly rate (at 1000% a month, 5 months)


class ForecastError(ValueError):
    """Forecast options we cannot read; the message says how to write them."""


@dataclass(frozen=True)
class Growth:
    """Usage growth: a monthly rate (`rate`, 0.1 = 10% a month) or a multiple reached in the last month."""

    rate: Decimal | None = None
    multiple: Decimal | None = None

    def factor(self, k: int, months: int) -> Decimal:
        """Usage in forecast month k (1-based) relative to the basis."""
        if self.multiple is not None:
            return self.multiple ** (Decimal(k) / Decimal(months))
        return (ONE + (self.rate or ZERO)) ** k

    def describe(self, months: int) -> str:
        if self.multiple is not None:
            return f"usage reaches ×{self.multiple.normalize():f} by month {months} (compounding monthly)"
        rate = (self.rate or ZERO) * HUNDRED
        return "flat usage (no growth)" if not rate else f"usage {'+' if rate > 0 else ''}{rate.normalize():f}% a month"


def parse_growth(value: str | None) -> Growth:
    """`10%` (a month, compounding), `-5%`, `10x` or `x10` (over the forecast). None: flat."""
    if value is None or not value.strip():
        return Growth(rate=ZERO)
    m = _GROWTH.match(value.strip().lower().replace("×", "x"))
    if not m:
        raise ForecastError(f"growth {value!r}: write a monthly rate like 10% or a multiple over the forecast like 10x")
    try:
        if m.group(2) == "%":
            rate = Decimal(m.group(1)) / HUNDRED
            if rate <= -1 or rate > 10:
                raise ForecastError("growth: the monthly rate must be more than -100% and at most 1000%")
            return Growth(rate=rate)
        multiple = Decimal(m.group(1) or m.group(3))
    except InvalidOperation:
        raise ForecastError(f"growth {value!r} is not a number") from None
    if multiple <= 0 or multiple > MAX_MULTIPLE:
        raise ForecastError(f"growth: the multiple must be more than 0 and at most {MAX_MULTIPLE}")
    return Growth(multiple=multiple)
