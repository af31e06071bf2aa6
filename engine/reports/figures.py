"""The figures every report is made of: revenue, COGS, margin, status against the thresholds, COGS shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple, TypeVar

from engine.money import CENT, HUNDRED, ZERO, ExactSum, fraction_decimal, round_to
from engine.periods import Period
from engine.vocab import Status

T = TypeVar("T")


# A subject whose revenue and COGS over a period are both under this many dollars (and whose usage is all priced) is
# immaterial: a customer costing $0.00013 with revenue under a cent has a margin, and a status, but no headline,
# breach count or alert is about it (MARGINBOT_MATERIALITY_USD).
MATERIALITY_USD = Decimal(1)


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    breach_pct: Decimal = Decimal(40)
    healthy_pct: Decimal = Decimal(55)
    material_usd: Decimal = MATERIALITY_USD  # see MATERIALITY_USD; 0: every subject is material


def margin_pct(revenue: Decimal, cogs: Decimal) -> Decimal | None:
    if revenue <= 0:
        return None
    return (revenue - cogs) / revenue * HUNDRED


def margin_change(now: Figures, before: Figures) -> Decimal | None:
    """How many points the margin moved from `before` to `now` (None unless both have a margin), worked out exactly:
    two margins cut at 28 digits (0.857142…% and 1.007142…%) differ by 0.1499…9 where the change is exactly 0.15,
    which rounds half-up to 0.2 (as the margin bridge, `why`, has it)."""
    if now.revenue <= 0 or before.revenue <= 0:
        return None
    moved = _exact_margin(now) - _exact_margin(before)
    return fraction_decimal(moved)


def _exact_margin(f: Figures) -> Fraction:
    revenue = f.revenue_fraction()
    return (revenue - Fraction(f.cogs)) / revenue * 100


# A margin is judged to 18 decimal places: revenue over a span of days is a fraction a Decimal cuts at 28 digits, and
# a margin of exactly 40% (7 days of a $1,000 fee, $233.33…, on $140 of COGS) came out 39.99…9%, a breach "under
# 40%" beside the 40.0% shown. Cent and nano-dollar amounts never make a margin that close to a line but on it.
_JUDGED_TO = Decimal("1e-18")


def judged_margin(revenue: Decimal, cogs: Decimal) -> Decimal | None:
    """The margin a status or an alert is judged on: `margin_pct` to 18 decimal places (see _JUDGED_TO)."""
    pct = margin_pct(revenue, cogs)
    return None if pct is None else round_to(pct, _JUDGED_TO)


def status_of(revenue: Decimal, cogs: Decimal, t: Thresholds) -> Status:
    pct = judged_margin(revenue, cogs)
    if pct is None:
        return Status.NO_REVENUE
    if pct < t.breach_pct:
        return Status.BREACH
    if pct < t.healthy_pct:
        return Status.WATCH
    return Status.HEALTHY


def nearest_rank(n: int, q: float) -> int:
    """The 1-based nearest rank of quantile q among n ordered values (n ≥ 1): every percentile marginbot takes."""
    return min(n, max(1, math.ceil(q * n)))


def pick(ordered: Sequence[T], q: float) -> T:
    """The item at quantile q of already ordered, non-empty items (nearest rank)."""
    return ordered[nearest_rank(len(ordered), q) - 1]


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    return pick(sorted_values, q) if sorted_values else 0


@dataclass(kw_only=True)
class Figures:
    """The core figures of one subject over one period."""

    revenue: Decimal = ZERO
    cogs: Decimal = ZERO
    events: int = 0
    unpriced_events: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)
    # `revenue` exactly, where the figures hold a sum of revenue lines kept so (the portfolio's totals): what is worked
    # out from it (a run rate, a change) starts from the sum itself, not from its 28 digits.
    revenue_exact: ExactSum | None = field(default=None, repr=False, compare=False)

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_pct(self.revenue, self.cogs)

    @property
    def judged_margin_pct(self) -> Decimal | None:
        return judged_margin(self.revenue, self.cogs)

    def revenue_fraction(self) -> Fraction:
        return Fraction(self.revenue) if self.revenue_exact is None else self.revenue_exact.fraction()

    @property
    def status(self) -> Status:
        return status_of(self.revenue, self.cogs, self.thresholds)

    @property
    def material(self) -> bool:
        """Whether the figures can make news: revenue or COGS at least `thresholds.material_usd`, or usage with no
        price (its COGS is understated, so a small figure proves nothing). An immaterial subject keeps its margin and
        status, labelled so, but heads no list, counts in no breach count and opens no alert."""
        floor = self.thresholds.material_usd
        # Either way from zero: revenue of -$3,000 (a credit line, a refund) is "under $1" only as a signed number.
        return self.unpriced_events > 0 or abs(self.revenue) >= floor or abs(self.cogs) >= floor

    @property
    def gross_profit(self) -> Decimal:
        return self.revenue - self.cogs

    @property
    def gross_profit_cents(self) -> Decimal:
        """Gross profit as the answers show it: revenue and COGS each to the cent, less one another, so that a row
        foots (the exact difference rounded once is a cent off them when both round the same way), and every answer
        (`margin`, `portfolio`, `why`) gives the same figure."""
        return round_to(self.revenue, CENT) - round_to(self.cogs, CENT)


@dataclass(kw_only=True)
class Share:
    """A slice of COGS (a model, a feature, a model on a feature, a cost type) with its previous value."""

    key: str
    cost: Decimal
    share_pct: Decimal
    previous: Decimal = ZERO
    provider: str = ""
    model: str = ""
    feature: str = ""
    # Events of this period with no price: their cost is not in `cost`, so a model with none priced reads $0.00.
    unpriced_events: int = 0

    @property
    def growth(self) -> Decimal | None:
        """Current over previous cost (2 = doubled); None when there was nothing before."""
        return self.cost / self.previous if self.previous > 0 else None


class Carried(NamedTuple):
    """A period to date's revenue as its run rate carries it over the whole period
    (engine.reports.revenue.carried)."""

    contracts: Decimal  # its contracts over their days in force in the whole period (projected_revenue)
    billed: Decimal  # revenue billed by invoice so far, which the run rate carries at its daily rate
    billed_customers: int  # how many customers that is of


@dataclass(frozen=True, kw_only=True)
class Projection:
    """A period to date carried to its whole length: a run rate, not a forecast, always labelled as such. COGS is
    × full days ÷ days so far. Revenue (`run_rate`'s `carried`) is each contract over its own days in force in the
    whole period, its fees as agreed, its units as counted so far and its days to come at the customer's daily rate
    so far (engine.reports.revenue.projected_revenue), and billed revenue at its daily rate so far; a projection built
    from figures alone scales all of it."""

    label: str  # the period's label, e.g. 2026-11
    days: int  # days counted
    full_days: int  # days in the whole period
    figures: Figures
    # Contracts in force on only some days of the whole period (engine.reports.revenue.part_period_contracts): a
    # seat contract ending on the 20th earns 20 days of its fee.
    part_period_contracts: int = 0
    # Whether revenue was projected contract by contract (else scaled as COGS is), and how many customers billed by
    # invoice had their revenue scaled (a billed line has no terms to carry it on).
    per_contract: bool = False
    billed_customers: int = 0

    @property
    def basis(self) -> str:
        """How the days left are carried, in words: "COGS and metered usage at the daily rate of the first 26 days,
        fees and seats by contract dates" (or, all of it scaled as COGS is, "at the daily rate of the first 26
        days")."""
        rate = "at the rate of the first day" if self.days == 1 else f"at the daily rate of the first {self.days} days"
        return f"COGS and metered usage {rate}, fees and seats by contract dates" if self.per_contract else rate

    @property
    def caveat(self) -> str | None:
        """What the reader must know of how revenue was carried, in words: contracts that start or end within the
        period, and revenue billed by invoice. None when neither."""
        n, k = self.part_period_contracts, self.billed_customers
        said: list[str] = []
        if n:
            which = "1 contract starts or ends" if n == 1 else f"{n:,} contracts start or end"
            if self.per_contract:
                said.append(
                    f"{which} within {self.label}: {'it is' if n == 1 else 'each is'} carried over its days in "
                    "force only"
                )
            else:
                said.append(
                    f"{which} within {self.label}: the run rate spreads what the days so far earned over all "
                    f"{self.full_days} days, so it may misstate {'its' if n == 1 else 'their'} revenue"
                )
        if k:
            who = "1 customer billed by invoice: its" if k == 1 else f"{k:,} customers billed by invoice: their"
            said.append(f"{who} invoiced revenue is carried at its daily rate so far")
        return "; ".join(said) or None


def run_rate(
    f: Figures, period: Period, *, part_period_contracts: int = 0, carried: Carried | None = None
) -> Projection | None:
    """The run-rate projection of `f` over `period` to its full length; None when the period is complete.
    `part_period_contracts`: how many contracts behind `f` are in force on only some of the period's days.
    `carried`: its revenue over the whole period, the contracts' carried over their days in force and what was
    billed by invoice so far, which is carried at its rate so far; None: all of `f`'s revenue is scaled as its COGS
    is."""
    if period.complete:
        return None
    full, days = period.full_days, period.days

    def scaled(value: Decimal) -> Decimal:
        return fraction_decimal(Fraction(value) * full / days)

    if carried is not None:
        revenue = carried.contracts + scaled(carried.billed) if carried.billed else carried.contracts
    else:
        # Each multiplied out before its one division, from the exact sum where the figures carry it: a 28-digit
        # full ÷ days first (31/3 = 10.33…3) made 3 days of a $3,000.005 fee over their month $3,000.0049…9, a cent
        # short once rounded.
        exact = f.revenue_exact
        revenue = scaled(f.revenue) if exact is None else exact.scaled(full, days).dollars()
    return Projection(
        label=period.label,
        days=days,
        full_days=full,
        figures=Figures(revenue=revenue, cogs=scaled(f.cogs), thresholds=f.thresholds),
        part_period_contracts=part_period_contracts,
        per_contract=carried is not None,
        billed_customers=carried.billed_customers if carried is not None else 0,
    )
