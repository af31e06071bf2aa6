"""The figures every report is made of: revenue, COGS, margin, status against the thresholds, COGS shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from engine.money import HUNDRED, NANO, ZERO


@dataclass(frozen=True)
class Thresholds:
    breach_pct: Decimal = Decimal(40)
    healthy_pct: Decimal = Decimal(55)


def usd(nano: int) -> Decimal:
    return Decimal(nano) / NANO


def margin_pct(revenue: Decimal, cogs: Decimal) -> Decimal | None:
    if revenue <= 0:
        return None
    return (revenue - cogs) / revenue * HUNDRED


def status_of(revenue: Decimal, cogs: Decimal, t: Thresholds) -> str:
    pct = margin_pct(revenue, cogs)
    if pct is None:
        return "no_revenue"
    if pct < t.breach_pct:
        return "breach"
    if pct < t.healthy_pct:
        return "watch"
    return "healthy"


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Figures:
    """The core figures of one subject over one period."""

    revenue: Decimal = ZERO
    cogs: Decimal = ZERO
    events: int = 0
    unpriced_events: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_pct(self.revenue, self.cogs)

    @property
    def status(self) -> str:
        return status_of(self.revenue, self.cogs, self.thresholds)

    @property
    def gross_profit(self) -> Decimal:
        return self.revenue - self.cogs


@dataclass
class Share:
    """A slice of COGS (a model, a feature, a model on a feature, a cost type) with its previous value."""

    key: str
    cost: Decimal
    share_pct: Decimal
    previous: Decimal = ZERO
    provider: str = ""
    model: str = ""
    feature: str = ""

    @property
    def growth(self) -> Decimal | None:
        """Current over previous cost (2 = doubled); None when there was nothing before."""
        return self.cost / self.previous if self.previous > 0 else None


def _pct_text(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1'), ROUND_HALF_UP)}%"
