"""Contracts → revenue for a period, accrued day by day, or billed revenue (Stripe) where we have it.

Monthly fees and included units accrue per day (fee / days in that month), so a calendar month gets exactly the
monthly fee and a trailing window a fair share. Units count the contract's product only (all products when the
contract names none): `request` = requests, `1k_tokens` = (input + output tokens) / 1000, `task` = distinct
task ids started in the period.

The revenue rule lives on `Terms` (`charge` = `fixed_charge` + `usage_charge`); `compute_line` writes it
up as a line, and every other caller (the alerts' daily series, what-ifs, forecasts, floors) asks the same terms.
"""

from __future__ import annotations

import calendar
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Final, Literal, NamedTuple

from sqlalchemy import Connection, text

from engine.money import (
    EXACT,
    ONE,
    TICKS,
    TICKS_D,
    ZERO,
    Exact,
    ExactSum,
    Share,
    count_text,
    fraction_decimal,
    unit_price_text,
)
from engine.periods import Period, month_spans, runs_of_days
from engine.reports.figures import Carried
from engine.reports.usage import UnitCounter, UsageTotals
from engine.store.bounds import MONEY_MAX, SEATS_MAX
from engine.store.sql import fetch_tuples, where_equal
from engine.timeutil import as_date
from engine.vocab import Plan, SplitBasis, Unit

log = logging.getLogger(__name__)

BILLED: Final = "billed"  # the plan of a billed line: what was invoiced, not a contract's terms
_PLAN = {p.value: p for p in Plan}  # stored spelling → Plan, without an Enum call per contract row
_UNIT = {u.value: u for u in Unit}
# Exact arithmetic on amounts in ticks (engine.money.TICKS), bound once: these run for every contract of a period.
_mul, _add, _sub = EXACT.multiply, EXACT.add, EXACT.subtract


@dataclass(kw_only=True)
class RevenueLine:
    """Revenue of one contract (or one billed line) in a period, with the terms that produced it."""

    customer: str
    product: str  # '' = every product
    plan: Plan | Literal["billed"]
    source: str  # contract | stripe
    total: Decimal = ZERO
    seats: Decimal = ZERO
    platform: Decimal = ZERO
    usage: Decimal = ZERO
    units: Decimal = ZERO
    included_units: Decimal = ZERO
    unit: Unit | None = None
    active_days: int = 0
    by_product: dict[str, Decimal] = field(default_factory=dict)  # the split used for product margins
    # What a line for every product was split across products by (SplitBasis), each basis its parts used once, in
    # their order: a billed line's invoices are each split over their own days. Empty: not split that way (it names
    # a product, or meters a unit and follows it).
    split_by: tuple[SplitBasis, ...] = ()
    terms: str = ""
    # The exact amounts, in ticks (engine.money.TICKS), that `total` and each of `by_product` are: totals of many
    # lines add these (`total_by_customer`), not the 28-digit Decimals. Empty on a line made by hand, whose own
    # Decimals are then taken as exact.
    parts: tuple[Exact, ...] = field(default=(), repr=False)
    product_parts: dict[str, tuple[Exact, ...]] = field(default_factory=dict, repr=False)
    # Billed one-off charges (Stripe invoice items): revenue added to their days, never carried at a rate.
    one_off: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "customer": self.customer,
            "product": self.product or None,
            "plan": self.plan,
            "source": self.source,
            "terms": self.terms,
            "revenue_usd": self.total,
            "seat_usd": self.seats,
            "platform_usd": self.platform,
            "usage_usd": self.usage,
            "units": self.units,
            "included_units": self.included_units,
            "unit": self.unit,
            "active_days": self.active_days,
            "split_by": list(self.split_by),
        }


# A contract's plan, seats, seat price, platform fee, included units, unit and unit price (Terms.earning_terms).
EarningTerms = tuple[Plan, int, Decimal, Decimal, Decimal, "Unit | None", Decimal]
# How many of them (the plan, seats, seat price, platform fee and included units) decide the fixed charges.
FIXED_TERMS: Final = 5

# How many months of a contract's monthly terms apply: exact (`month_fraction`: a day is 1/28 to 1/31 of its month,
# which no decimal holds, so its denominator divides TICKS), or a Decimal where a caller speaks of whole or scaled
# months (a forecast's month).
Months = Fraction | Decimal


def over_months(amount: Decimal, months: Months) -> Decimal:
    """`amount` a month over `months` months. A Fraction is multiplied out before its one division: 7/30 as a
    28-digit decimal first would make $3,000.15 over 7 days of June $700.0349…9, a cent short once rounded, where
    it is exactly $700.035."""
    if type(months) is Decimal:  # not isinstance: Fraction's goes through the numbers ABCs (the alerts ask ~100k times)
        return amount * months
    n, d = months.as_integer_ratio()
    return amount * n / d


@dataclass(frozen=True, kw_only=True)
class Terms:
    """A contract's terms and the revenue rule on them (a plain value: the portfolio builds thousands of these).

    Amounts are monthly; `months` below is how many months of them apply (see `Months`, `month_fraction`).
    """

    customer: str
    product: str  # '' = every product
    plan: Plan
    start: date
    end: date | None  # inclusive; None = open
    seats: int = 0
    seat_price_usd: Decimal = ZERO
    platform_fee_usd: Decimal = ZERO
    included_units: Decimal = ZERO
    unit: Unit | None = None  # what a metered plan counts; None for seat and flat plans
    unit_price_usd: Decimal = ZERO
    # Whether revenue follows usage (a usage or hybrid plan): plan.is_metered, kept because it is asked for every
    # contract of every period and day the alerts look at.
    is_metered: bool = field(init=False, repr=False, compare=False)
    # Every term but whose contract it is, which product it covers and when: contracts alike in these earn alike, so
    # callers pricing thousands of contracts work out their fixed charges once per distinct value (FixedCharges: of
    # its first FIXED_TERMS).
    earning_terms: EarningTerms = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # frozen: set once, here (contracts_in's Terms get them from the same _derived, without this __init__)
        is_metered, earning = _derived(
            self.plan,
            self.seats,
            self.seat_price_usd,
            self.platform_fee_usd,
            self.included_units,
            self.unit,
            self.unit_price_usd,
        )
        object.__setattr__(self, "is_metered", is_metered)
        object.__setattr__(self, "earning_terms", earning)

    @property
    def split_unit(self) -> Unit:
        """The unit revenue follows across products: the metered one, else requests (seat and flat plans, which
        follow COGS instead where some product's requests are not counted: `UnitCounter.split`)."""
        return self.unit if self.is_metered and self.unit is not None else Unit.REQUEST

    def seat_charge(self, months: Months) -> Decimal:
        return over_months(Decimal(self.seats) * self.seat_price_usd, months) if self.plan.has_seats else ZERO

    def platform_charge(self, months: Months) -> Decimal:
        return over_months(self.platform_fee_usd, months) if self.plan.has_fee else ZERO

    def included(self, months: Months) -> Decimal:
        """Units included in the fee over `months` (hybrid plans only)."""
        return over_months(self.included_units, months) if self.plan is Plan.HYBRID else ZERO

    def usage_charges(self, units: Sequence[Decimal], months: Sequence[Months]) -> list[Decimal]:
        """What `units[i]` metered over `months[i]` months earn, for each i: every unit on a usage plan, those over
        the included ones on a hybrid plan, nothing on seat and flat plans. (The alerts' daily series asks for a
        whole window of days at once; one call per day would cost more than the arithmetic.)"""
        if self.plan is Plan.HYBRID:
            over = self._over_included
            return [over(u, m) for u, m in zip(units, months, strict=True)]
        if self.plan is Plan.USAGE:
            price = self.unit_price_usd
            return [u * price for u in units]
        return [ZERO] * len(units)

    def usage_charge(self, units: Decimal, months: Months) -> Decimal:
        """What `units` metered over `months` months earn (see `usage_charges`; the same arithmetic, for one)."""
        if self.plan is Plan.HYBRID:
            return self._over_included(units, months)
        if self.plan is Plan.USAGE:
            return units * self.unit_price_usd
        return ZERO

    def _over_included(self, units: Decimal, months: Months) -> Decimal:
        """A hybrid plan's usage charge: the units over those included, at the unit price. Over a Fraction of
        months, worked out over its denominator and divided once (see `over_months`): 1,000 units a month included
        over 7 days of June are 233.33… units, and 300 used then earn exactly 66⅔ units' worth."""
        if type(months) is Decimal:
            return max(ZERO, units - self.included_units * months) * self.unit_price_usd
        n, d = months.as_integer_ratio()
        return max(ZERO, units * d - self.included_units * n) * self.unit_price_usd / d

    def fixed_charge(self, months: Months) -> Decimal:
        """What `months` months earn whatever the usage: seats and the platform fee."""
        return self.seat_charge(months) + self.platform_charge(months)

    def charge(self, units: Decimal, months: Months) -> Decimal:
        """The revenue rule: fixed charges for `months` months plus the usage charge for `units` metered."""
        return self.fixed_charge(months) + self.usage_charge(units, months)


def _derived(
    plan: Plan,
    seats: int,
    seat_price: Decimal,
    fee: Decimal,
    included: Decimal,
    unit: Unit | None,
    unit_price: Decimal,
) -> tuple[bool, EarningTerms]:
    """What a Terms works out from its terms, (is_metered, earning_terms): set by its __post_init__, and by
    contracts_in in each Terms it builds without one."""
    return plan.is_metered, (plan, seats, seat_price, fee, included, unit, unit_price)


class _Span(Fraction):
    """A month fraction that works out its hash once: the portfolio keys each contract's fixed charges by it
    (FixedCharges), and a Fraction's hash, worked out anew each time (~1 µs), cost it 6-8% of its time. (Worked out
    when first asked: a copy or an unpickled one is made by Fraction's own constructor.)"""

    __slots__ = ("_hash",)

    def __hash__(self) -> int:  # type: ignore[override]  # typeshed: numbers.Complex unhashable, Fraction is
        try:
            return self._hash
        except AttributeError:
            self._hash: int = super().__hash__()
            return self._hash


@lru_cache(maxsize=4096)
def _span(numerator: int, denominator: int) -> _Span:
    """One object per value of a month fraction: every day of a 30-day month is the same 1/30, so the alerts' daily
    series finds each day's fixed charge by identity (equal Fractions that are not one object compare in Python)."""
    return _Span(numerator, denominator)


@lru_cache(maxsize=4096)  # most contracts share the period's span; the portfolio asks thousands of times
def month_fraction(start: date, end: date) -> Fraction:
    """How many months [start, end] covers, each day counting 1/(days in its month): exactly (see `Months`)."""
    total = Fraction(0)
    day = start
    while day <= end:
        last = calendar.monthrange(day.year, day.month)[1]
        month_end = date(day.year, day.month, last)
        stop = min(end, month_end)
        total += Fraction((stop - day).days + 1, last)
        day = stop + timedelta(days=1)
    return _span(total.numerator, total.denominator)


def active_span(contract: Terms, period: Period) -> tuple[date, date] | None:
    """The days of `period` on which `contract` is in force, or None."""
    start = max(contract.start, period.start)
    end = min(contract.end or period.end, period.end)
    return (start, end) if start <= end else None


UNIT_WORDS = {Unit.TOKENS_1K: "1k tokens"}  # how a unit reads in the terms, where it differs from its name


def describe_terms(c: Terms) -> str:
    return _describe(c.earning_terms)


# Keyed by the terms alone (Terms.earning_terms), not the Terms: contracts of many customers share them, and a plain
# tuple of them is quicker to look up than the dataclass's own hash and equality.
@lru_cache(maxsize=8192)  # the same terms are described for every period the portfolio looks at
def _describe(terms: EarningTerms) -> str:
    plan, seats, seat_price, fee, included, unit, unit_price = terms
    parts: list[str] = []
    # Only what the plan charges: a value stored beside it (a seat plan's fee, written before imports refused it)
    # is not revenue, and shown in the terms it read as if it were.
    if plan.has_seats and seats and seat_price:
        parts.append(f"{seats} seats × {unit_price_text(seat_price)}/mo")
    if plan.has_fee and fee:
        parts.append(f"{unit_price_text(fee)}/mo platform fee")
    if plan.is_metered:
        words = UNIT_WORDS.get(unit, unit) if unit is not None else ""
        # Money and counts as people write them, whatever scale the database kept (PostgreSQL: 0.010000).
        incl = f" over {count_text(included)} included/mo" if plan is Plan.HYBRID and included else ""
        parts.append(f"{unit_price_text(unit_price)}/{words}{incl}")
    return f"{plan}: " + (", ".join(parts) if parts else "no charges")


class _Fixed(NamedTuple):
    """What a contract's terms give over a span whatever its usage: the same for every contract with the same
    terms and span (the portfolio works it out once per distinct terms, not once per contract)."""

    months: Months
    seats: Decimal
    platform: Decimal
    included: Decimal
    ticks: Decimal  # seats + platform, exactly, in ticks
    # For the usage charge in ticks (_charged): months = n / d (d = 1 for a Decimal), the included units × n, and
    # the ticks in 1/d of a dollar.
    denominator: Decimal
    included_n: Decimal
    per: Decimal


@lru_cache(maxsize=4096, typed=True)  # a handful of spans, asked for every distinct fixed terms
def _in_ticks(months: Months) -> tuple[int | Decimal, Decimal, Decimal]:
    """`months` as n / d (d = 1 for a Decimal), d, and the ticks in 1/d of a dollar."""
    n, d = (months, 1) if type(months) is Decimal else months.as_integer_ratio()
    per, rest = divmod(TICKS, d)
    if rest:
        raise ValueError(f"{months} months is no span of days: its denominator does not divide {TICKS}")
    return n, Decimal(d), Decimal(per)


def _fixed(c: Terms, months: Months) -> _Fixed:
    included = c.included(months) if c.is_metered else ZERO
    seats, platform = c.seat_charge(months), c.platform_charge(months)
    n, d, per = _in_ticks(months)
    fees = _mul(Decimal(c.seats), c.seat_price_usd) if c.plan.has_seats else ZERO
    if c.plan.has_fee:
        fees = _add(fees, c.platform_fee_usd)
    included_n = _mul(c.included_units, n) if c.plan is Plan.HYBRID else ZERO
    return _Fixed(months, seats, platform, included, _mul(_mul(fees, n), per), d, included_n, per)


# The terms that decide the fixed charges (earning_terms[:FIXED_TERMS]: not the unit or its price, so the bench's
# 991 distinct earning terms have 341 of these), and the months they apply for: spans of the same length of month
# (a week inside a 31-day month) share them.
_FixedKey = tuple[tuple[object, ...], Months]
# The fixed charges worked out for each distinct terms and months, kept by a caller asking about many contracts or
# periods (the same arithmetic on the same values: the figures are those of one contract at a time).
FixedCharges = dict[_FixedKey, _Fixed]


def _fixed_of(c: Terms, months: Months, fixed: FixedCharges) -> _Fixed:
    """`_fixed(c, months)`, worked out once per distinct key in `fixed`."""
    key = (c.earning_terms[:FIXED_TERMS], months)
    charges = fixed.get(key)
    if charges is None:
        charges = fixed[key] = _fixed(c, months)
    return charges


class _Charge(NamedTuple):
    """What one contract earns over the days of a period it is in force, before it is written up as a line."""

    days: int
    # The weights the charge is split across products by (empty when none were needed): a metered contract's units
    # per product, a seat or flat contract for every product its requests or COGS per product (`split`).
    per_product: dict[str, Decimal]
    units: Decimal  # metered units (zero for seat and flat plans)
    fixed: _Fixed
    ticks: Decimal  # the total, exactly, in ticks: what totals add (the line's Decimals are worked out from it)
    # A hybrid plan's usage charge over days of several months, in ticks: each month's units against that month's
    # allowance (`_hybrid_by_month`); None when one span's arithmetic gave it (the charge less the fixed part).
    by_month: Decimal | None = None
    split: SplitBasis | None = None  # what per_product weighs, for a seat or flat contract for every product


# A contract, its charge, and its customer and product again: the totals per customer and per product read these
# two for every contract of a period, and reading them from the tuple rather than from each contract's attributes
# keeps those out of the processor's caches (by_customer 2.3 -> 1.5 ms, by_product 1.45 -> 0.8 ms per period of the
# bench's portfolio).
_Charged = tuple[Terms, _Charge, str, str]


def _charged(
    c: Terms,
    days: int,
    fixed: _Fixed,
    per_product: dict[str, Decimal],
    units: Decimal,
    split: SplitBasis | None = None,
) -> _Charge:
    """The revenue rule on contract `c` (Terms.charge, its fixed parts already worked out) over `days` days, for
    the `units` it metered (zero unless it is metered). In ticks, exactly: the usage charge (Terms.usage_charge)
    of a hybrid plan is on the units over those included, worked out over the months' denominator as
    Terms._over_included does. (Written out here: this runs for every contract of every period.)"""
    ticks = fixed.ticks
    if c.is_metered:
        if c.plan is Plan.HYBRID:
            over = _sub(_mul(units, fixed.denominator), fixed.included_n)
            if over > 0:
                ticks = _add(ticks, _mul(_mul(over, c.unit_price_usd), fixed.per))
        else:
            ticks = _add(ticks, _mul(_mul(units, c.unit_price_usd), TICKS_D))
    # _make: a NamedTuple from its values without its own __new__ in Python (one per contract and period).
    return _Charge._make((days, per_product, units, fixed, ticks, None, split))


def _hybrid_by_month(
    c: Terms,
    days: int,
    fixed: _Fixed,
    per_product: dict[str, Decimal],
    units: Decimal,
    months: list[tuple[_Fixed, Decimal]],
) -> _Charge:
    """A hybrid plan's charge over days of several months: its fixed charges over them all, and in each month the
    units over that month's allowance (its included units × the month's share in force), at the unit price. The
    units are monthly: a quarter earns what its three months do, and July's unused allowance does not absorb
    September's overage (pooled over the quarter, 9,000 units against 9,000 included earned no usage at all)."""
    usage = ZERO
    for month, used in months:
        over = _sub(_mul(used, month.denominator), month.included_n)
        if over > 0:
            usage = _add(usage, _mul(_mul(over, c.unit_price_usd), month.per))
    return _Charge._make((days, per_product, units, fixed, _add(fixed.ticks, usage), usage, None))


def _written(c: Terms, charge: _Charge, terms: str) -> RevenueLine:
    fixed = charge.fixed
    usage = ZERO
    if charge.by_month is not None:  # a hybrid plan's months each against their own allowance: exact, in ticks
        usage = charge.by_month / TICKS_D
    elif c.is_metered:
        usage = c.usage_charge(charge.units, fixed.months)
    return RevenueLine(
        customer=c.customer,
        product=c.product,
        plan=c.plan,
        source="contract",
        unit=c.unit,
        active_days=charge.days,
        terms=terms,
        seats=fixed.seats,
        platform=fixed.platform,
        usage=usage,
        total=charge.ticks / TICKS_D,  # one division of the exact total, not its parts' 28-digit Decimals added
        units=charge.units,
        included_units=fixed.included,
        parts=(charge.ticks,),
    )


def compute_line(c: Terms, active_days: int, months: Months, units: Decimal) -> RevenueLine:
    """Revenue of one contract from its terms, the months it was active and the units it metered."""
    charge = _charged(c, active_days, _fixed(c, months), {}, units if c.is_metered else ZERO)
    return _written(c, charge, describe_terms(c))


def _pieces(ticks: Decimal, weights: dict[str, Decimal], fallback: str) -> list[tuple[str, Exact]]:
    """`ticks` split across products by their `weights` (units, requests or COGS), exactly: all of it on the one
    product with any, a Share for each of several, all on `fallback` when none has any."""
    used = [(p, w) for p, w in weights.items() if w]
    whole = ZERO
    for _, w in used:
        whole = _add(whole, w)
    if whole <= 0:
        return [(fallback, ticks)]
    if len(used) == 1:
        return [(used[0][0], ticks)]
    return [(p, Share(ticks, w, whole)) for p, w in used]


def _charges(
    contracts: Iterable[Terms],
    period: Period,
    counter: UnitCounter,
    usage_factor: Decimal,
    fixed: FixedCharges | None,
    of: Period | None = None,
) -> list[_Charged]:
    """The revenue rule on each of `contracts` over the days of `period` it is in force, in their order (one in
    force on none of them is left out): every caller's, for one contract or thousands. `of`: the period `period`
    is some days of (a billed customer's days no invoice covers), whose kind says how a hybrid allowance is read."""
    first, last = period.start, period.end
    # A period of calendar months (a quarter, a quarter to date) earns what its months do: a hybrid plan's allowance
    # is each month's own (`_hybrid_by_month`). A window of days across months (the last 30 days, even one that
    # starts on the 1st) spreads its allowance over its days, as it does its fees: it is no sum of months.
    by_months = (of or period).unit == "quarter"
    whole_days, whole_months = (last - first).days + 1, month_fraction(first, last)
    fixed = {} if fixed is None else fixed  # contracts share terms: their fixed charges are worked out once
    scaled = usage_factor != ONE
    # A seat or flat contract for one product in force the whole period (half the bench's) meters nothing, so it
    # earns what every other contract with its earning terms earns: that charge is worked out once per distinct
    # terms and shared. Looked up by the terms' identity (contracts_in's contracts with the same stored terms share
    # one tuple, whose hash would be worked out again at every lookup), the tuple kept with its charge so that no
    # other takes its id meanwhile.
    unmetered: dict[int, tuple[EarningTerms, _Charge]] = {}
    charged: list[_Charged] = []
    for c in contracts:
        start, end = c.start, c.end
        is_metered = c.is_metered
        if start <= first and (end is None or end >= last):
            if not is_metered and c.product:
                earning = c.earning_terms
                known = unmetered.get(id(earning))
                if known is None:
                    charge = _charged(c, whole_days, _fixed_of(c, whole_months, fixed), {}, ZERO)
                    known = unmetered[id(earning)] = (earning, charge)
                charged.append((c, known[1], c.customer, c.product))
                continue
            a, b, days, months = first, last, whole_days, whole_months
        else:
            # active_span, written out: this runs for every contract of every period a report or a trend looks at.
            a = start if start > first else first
            b = last if end is None or end > last else end
            if a > b:
                continue
            days, months = (b - a).days + 1, month_fraction(a, b)
        units = ZERO
        # Units matter to a metered contract; a seat or flat contract for every product is split by requests or
        # COGS (`UnitCounter.split`); one for one product needs none, so none are looked up.
        split: SplitBasis | None = None
        if is_metered:
            per_product = counter.by_product(c.customer, c.product, c.split_unit, a, b)
        elif c.product:
            per_product = {}
        else:
            split, per_product = counter.split(c.customer, a, b)
        if is_metered:
            units = counter.units(c.customer, c.product, c.split_unit, a, b, per_product)
            if scaled:
                units *= usage_factor
            if by_months and c.plan is Plan.HYBRID and (a.year, a.month) != (b.year, b.month):
                by_month = [
                    (
                        _fixed_of(c, month_fraction(x, y), fixed),
                        counter.units_over(c.customer, c.product, c.split_unit, x, y) * usage_factor,
                    )
                    for x, y in month_spans(a, b)
                ]
                charge = _hybrid_by_month(c, days, _fixed_of(c, months, fixed), per_product, units, by_month)
                charged.append((c, charge, c.customer, c.product))
                continue
        charge = _charged(c, days, _fixed_of(c, months, fixed), per_product, units, split)
        charged.append((c, charge, c.customer, c.product))
    return charged


def contract_line(
    c: Terms,
    period: Period,
    counter: UnitCounter,
    *,
    usage_factor: Decimal = ONE,
    fixed: FixedCharges | None = None,
) -> RevenueLine | None:
    """Revenue of contract `c` over the days of `period` it is in force (None: none), usage × usage_factor.

    `fixed` keeps the fixed charges worked out, for a caller asking about many contracts (see FixedCharges)."""
    charged = _charges([c], period, counter, usage_factor, fixed)
    return _charged_line(c, charged[0][1], describe_terms(c)) if charged else None


def _counted(
    conn: Connection,
    period: Period,
    customers: Iterable[str] | None,
    totals: UsageTotals | None,
    contracts: list[Terms] | None,
) -> tuple[list[str] | None, list[Terms], UnitCounter]:
    """The customers asked about, their contracts and the counter of their units (what revenue_lines reads)."""
    wanted = list(customers) if customers is not None else None
    if contracts is None:
        contracts = contracts_in(conn, period, wanted)
    elif wanted is not None:
        chosen = set(wanted)
        contracts = [c for c in contracts if c.customer in chosen]
    counter = UnitCounter(conn, period, wanted, totals)
    task = Unit.TASK  # the unit asked first and looked up once: most contracts are not on tasks (0.18 -> 0.06 ms)
    tasks = [c for c in contracts if c.unit is task and c.is_metered]
    counter.prefetch_tasks({c.customer for c in tasks}, {c.customer for c in tasks if not c.product})
    return wanted, contracts, counter


def _shared(contracts: Iterable[Terms]) -> set[str]:
    """The customers with a seat or flat contract for every product: theirs is split across products
    (`UnitCounter.split`)."""
    return {c.customer for c in contracts if not c.product and not c.is_metered}


def revenue_by_customer(
    conn: Connection,
    period: Period,
    *,
    customers: Iterable[str] | None = None,
    totals: UsageTotals | None = None,
    contracts: list[Terms] | None = None,
    fixed: FixedCharges | None = None,
) -> dict[str, Decimal]:
    """`total_by_customer(revenue_lines(...))` without writing up the lines (PeriodRevenue.by_customer): a trend
    asks for a dozen periods of every contract and reads only each customer's total. `fixed`: the fixed charges
    worked out so far, shared by a trend's periods."""
    return period_revenue(
        conn, period, customers=customers, totals=totals, contracts=contracts, fixed=fixed
    ).by_customer()


class _Totals:
    """Exact amounts in ticks added up per key (customer or product), the keys in the order first added: the totals
    of lines and of charges alike, each the exact sum of its parts whatever their order, divided once."""

    __slots__ = ("shares", "ticks")

    def __init__(self) -> None:
        self.ticks: dict[str, Decimal] = {}  # every key, with its Decimals added exactly
        self.shares: dict[str, ExactSum] = {}  # the keys with shares, and those

    def add(self, key: str, amount: Exact) -> None:
        if isinstance(amount, Decimal):
            self.ticks[key] = _add(self.ticks.get(key, ZERO), amount)
            return
        self.ticks.setdefault(key, ZERO)
        shared = self.shares.get(key)
        if shared is None:
            shared = self.shares[key] = ExactSum()
        shared.add(amount)

    def dollars(self) -> dict[str, Decimal]:
        shares = self.shares
        if not shares:  # the usual: one division per key
            return {key: ticks / TICKS_D for key, ticks in self.ticks.items()}
        return {
            key: ExactSum(ticks).merged(shares[key]).dollars() if key in shares else ticks / TICKS_D
            for key, ticks in self.ticks.items()
        }

    def total(self) -> ExactSum:
        """Every key's together."""
        out = ExactSum()
        with localcontext(EXACT):
            out.ticks = sum(self.ticks.values(), ZERO)
        for shared in self.shares.values():
            out = out.merged(shared)
        return out


def _parts(line: RevenueLine) -> tuple[Exact, ...]:
    """The exact amounts a line's total is: its own, or (a line made by hand) its total taken as exact."""
    return line.parts or (_mul(line.total, TICKS_D),)


def _product_parts(line: RevenueLine) -> dict[str, tuple[Exact, ...]]:
    return line.product_parts or {p: (_mul(amount, TICKS_D),) for p, amount in line.by_product.items()}


class PeriodRevenue:
    """Every revenue line of one period (what `revenue_lines` returns), kept as each contract's charge and written up
    as lines only when asked: the portfolio reads the totals per customer and product, and only some callers (the
    alerts, a subject's report) read the lines themselves. The totals are the exact sums of the lines' exact amounts
    (in ticks), each divided once: the same figures in any order (28-digit Decimals added would be neither)."""

    def __init__(self, charged: list[_Charged], billed: list[RevenueLine], uncovered: Sequence[_Charged] = ()) -> None:
        self._billed = billed
        # A customer with one-off charges alone has its whole period in `uncovered` (uncovered_runs).
        billed_customers = {line.customer for line in billed}
        # Billed lines replace modelled ones, customer by customer, on the days they cover: `uncovered` is what a
        # billed customer's contracts earn on the days of the period no billed line covers.
        self._charged = [e for e in charged if e[2] not in billed_customers] + list(uncovered) if billed else charged
        self._lines: list[RevenueLine] | None = None
        self._customers: _Totals | None = None

    def lines(self) -> list[RevenueLine]:
        """The lines, written up once (callers may change them: it is the same list every time)."""
        if self._lines is None:
            # The terms are described here, not with the fixed charges: most callers (the portfolio, a trend) never
            # read the lines (describe_terms keeps each description it has made).
            modelled = [_charged_line(c, charge, describe_terms(c)) for c, charge, _, _ in self._charged]
            self._lines = modelled + self._billed
        return self._lines

    def billed(self) -> list[RevenueLine]:
        """The billed lines alone (invoice lines and one-off charges), none written up."""
        return self._billed

    def lines_of(self, customers: Collection[str]) -> list[RevenueLine]:
        """The lines of `customers` alone, in the order `lines` has them: an alert run reports on a few customers and
        needs only theirs (writing up every line of the book cost its check ~25 ms of ~340 for the bench's 20)."""
        if self._lines is not None:
            return [line for line in self._lines if line.customer in customers]
        modelled = [
            _charged_line(c, charge, describe_terms(c))
            for c, charge, customer, _ in self._charged
            if customer in customers
        ]
        return modelled + [line for line in self._billed if line.customer in customers]

    def _by_customer(self) -> _Totals:
        if self._customers is None:
            totals = _Totals()
            ticks = totals.ticks
            # _Totals.add, written out for the thousands of charges: in EXACT every sum is exact, and one context
            # for the loop costs less than a call of EXACT's per charge.
            with localcontext(EXACT):
                for _, charge, customer, _ in self._charged:
                    ticks[customer] = ticks.get(customer, ZERO) + charge.ticks
            for line in self._billed:
                for part in _parts(line):
                    totals.add(line.customer, part)
            self._customers = totals
        return self._customers

    def by_customer(self) -> dict[str, Decimal]:
        """`total_by_customer(self.lines())`."""
        return self._by_customer().dollars()

    def total(self) -> ExactSum:
        """Every line's revenue together, exactly (`.dollars()` for the figure): `by_customer`'s before each is
        divided."""
        return self._by_customer().total()

    def by_product(self) -> dict[str, Decimal]:
        """`total_by_product(self.lines())`."""
        totals = _Totals()
        ticks = totals.ticks
        with localcontext(EXACT):  # as in _by_customer
            for _, charge, _, product in self._charged:
                if product:
                    ticks[product] = ticks.get(product, ZERO) + charge.ticks
                else:
                    for split, piece in _pieces(charge.ticks, charge.per_product, ""):
                        totals.add(split, piece)
        for line in self._billed:
            for product, parts in _product_parts(line).items():
                for part in parts:
                    totals.add(product, part)
        return totals.dollars()


def _charged_line(c: Terms, charge: _Charge, terms: str) -> RevenueLine:
    line = _written(c, charge, terms)
    if c.product:
        line.by_product, line.product_parts = {c.product: line.total}, {c.product: line.parts}
        return line
    # Seat and flat plans meter nothing; their split across products follows requests, or COGS where some product's
    # requests are not counted (`UnitCounter.split`).
    if charge.split is not None and any(charge.per_product.values()):
        line.split_by = (charge.split,)
    for product, piece in _pieces(charge.ticks, charge.per_product, ""):
        line.by_product[product] = piece.dollars() if isinstance(piece, Share) else line.total
        line.product_parts[product] = (piece,)
    return line


def period_revenue(
    conn: Connection,
    period: Period,
    *,
    customers: Iterable[str] | None = None,
    totals: UsageTotals | None = None,
    contracts: list[Terms] | None = None,
    usage_factor: Decimal = ONE,
    fixed: FixedCharges | None = None,
) -> PeriodRevenue:
    """`revenue_lines`, its lines written up only when asked (see PeriodRevenue); `fixed` as for
    `revenue_by_customer`."""
    wanted, contracts, counter = _counted(conn, period, customers, totals, contracts)
    bills = invoices(conn, period, wanted)
    counter.prefetch_costs(_shared(contracts) | {bill.customer for bill in bills if not bill.product})
    charged = _charges(contracts, period, counter, usage_factor, fixed)
    uncovered: list[_Charged] = []
    for customer, runs in uncovered_runs(bills, period).items():
        theirs = [c for c in contracts if c.customer == customer]
        for run in runs:
            uncovered += _charges(theirs, run, counter, usage_factor, fixed, of=period)
    return PeriodRevenue(charged, prorated_lines(bills, period, counter), uncovered)


def projected_revenue(
    conn: Connection,
    period: Period,
    *,
    customers: Iterable[str] | None = None,
    totals: UsageTotals | None = None,
    fixed: FixedCharges | None = None,
) -> tuple[PeriodRevenue, set[str]]:
    """A period to date's contract revenue carried to the period's whole length (what its run rate shows), and the
    customers billed by invoice in it, left out: a billed line has no terms to carry it on, so their revenue is
    carried at its rate so far (`run_rate`).

    Each contract earns over its own days in force in the whole period: its fees and seats as agreed (a contract
    ending on the 20th, twenty days of them; one starting on the 25th, its days from then), and its units as
    counted on its days in force so far, with its days still to come at the customer's daily rate (for its product
    and unit) over all the days so far, as COGS is carried. A hybrid plan's months over a quarter are each set
    against their own allowance: a month over as counted, the month running as counted so far and its days to come
    at that rate, a month to come at that rate. The units carried are exact fractions, each charge divided once.
    `totals`: the usage over the days so far, when the caller has read it. Over a complete period this is its
    revenue (every contract's days are counted)."""
    whole = period.whole()
    wanted = list(customers) if customers is not None else None
    _, contracts, counter = _counted(conn, period, wanted, totals, contracts_in(conn, whole, wanted))
    counter.prefetch_costs(_shared(contracts))
    billed = service_customers(invoices(conn, period, wanted))
    through, by_months = period.end, whole.unit == "quarter"
    fixed = {} if fixed is None else fixed
    charged: list[_Charged] = []
    for c in contracts:
        if c.customer in billed:
            continue
        a = max(c.start, whole.start)
        b = whole.end if c.end is None else min(c.end, whole.end)
        if a > b:
            continue
        days, months = (b - a).days + 1, month_fraction(a, b)
        # Units: those counted on its days in force so far, and on its days still to come the customer's daily rate
        # over all the days so far, the rate its COGS is carried at: revenue and cost that grow with the same usage
        # are carried alike, so the margin carried is the margin so far's (a contract from the 10th carried at its
        # own ten days' rate read 69.9% beside COGS carried over nineteen, 60.0% so far).
        own_days = a <= through
        ahead = max((b - through).days, 0) if own_days else days  # its days in force still to come
        per_product: dict[str, Decimal] = {}  # the split's weights, in proportion (× the days so far)
        units, rate = Fraction(0), Fraction(0)
        split: SplitBasis | None = None
        if c.is_metered:
            everyday = counter.by_product(c.customer, c.product, c.split_unit, period.start, through)
            own = counter.by_product(c.customer, c.product, c.split_unit, a, min(b, through)) if own_days else {}
        elif not c.product:
            # Both spans weighed alike: by requests only where neither has a product whose requests are unknown.
            split, everyday = counter.split(c.customer, period.start, through)
            own = {}
            if own_days:
                own_split, own = counter.split(c.customer, a, min(b, through))
                if own_split is not split:
                    split = SplitBasis.COGS
                    everyday = counter.split(c.customer, period.start, through, split)[1]
                    own = counter.split(c.customer, a, min(b, through), split)[1]
        if c.is_metered or not c.product:
            per_product = {p: own.get(p, ZERO) * period.days + v * ahead for p, v in everyday.items()}
            if c.is_metered:
                so_far = counter.units(c.customer, c.product, c.split_unit, a, min(b, through), own) if own_days else 0
                total = counter.units(c.customer, c.product, c.split_unit, period.start, through, everyday)
                rate = Fraction(total) / period.days
                units = Fraction(so_far) + rate * ahead
        usage: Fraction | None = None  # a hybrid plan's usage charge month by month, in ticks
        month_fixed = _fixed_of(c, months, fixed)
        if c.is_metered and c.plan is Plan.HYBRID and by_months and (a.year, a.month) != (b.year, b.month):
            usage = Fraction(0)
            for x, y in month_spans(a, b):
                if y <= through:  # a month over: as counted
                    used = Fraction(counter.units_over(c.customer, c.product, c.split_unit, x, y))
                elif x <= through:  # the month running: as counted so far, its days to come at the daily rate
                    used = Fraction(counter.units_over(c.customer, c.product, c.split_unit, x, through))
                    used += rate * (y - through).days
                else:  # a month to come: at the daily rate
                    used = rate * ((y - x).days + 1)
                usage += _over_allowance(c, _fixed_of(c, month_fraction(x, y), fixed), used)
            ticks = fraction_decimal(Fraction(month_fixed.ticks) + usage)
        elif c.is_metered and c.plan is Plan.HYBRID:
            ticks = fraction_decimal(Fraction(month_fixed.ticks) + _over_allowance(c, month_fixed, units))
        elif c.is_metered:
            ticks = fraction_decimal(Fraction(month_fixed.ticks) + units * Fraction(c.unit_price_usd) * TICKS)
        else:
            ticks = month_fixed.ticks
        by_month = None if usage is None else fraction_decimal(usage)
        charge = _Charge._make((days, per_product, fraction_decimal(units), month_fixed, ticks, by_month, split))
        charged.append((c, charge, c.customer, c.product))
    return PeriodRevenue(charged, [], []), billed


def _over_allowance(c: Terms, months: _Fixed, units: Fraction) -> Fraction:
    """A hybrid plan's usage charge in ticks, exactly, for `units` (a fraction: days to come are carried at a
    daily rate) over the months `months` worked out: the units over those included, at the unit price (the
    arithmetic of `_charged` and `_hybrid_by_month`, on fractions rather than Decimals)."""
    over = units * Fraction(months.denominator) - Fraction(months.included_n)
    return over * Fraction(c.unit_price_usd) * Fraction(months.per) if over > 0 else Fraction(0)


def carried(
    conn: Connection,
    period: Period,
    lines: list[RevenueLine] | PeriodRevenue,
    *,
    customer: list[str] | None = None,
    product: str | None = None,
    totals: UsageTotals | None = None,
) -> Carried:
    """A period to date's revenue over its whole length, for one customer (`customer`), one product (`product`) or
    the book: its contracts carried over their days in force (projected_revenue), and what customers billed by
    invoice were billed so far (`lines`: the period's revenue, its lines or (written up only for them) its
    PeriodRevenue), carried by the run rate at its daily rate.
    `totals`: the usage of the days so far, when the caller has read it."""
    projected, billed = projected_revenue(conn, period, customers=customer, totals=totals)
    every = lines.billed() if isinstance(lines, PeriodRevenue) else lines
    # One-off charges are added once, as billed (a $200 setup fee is not $200 every few days), with the contracts.
    once = [x for x in every if x.one_off and (customer is None or x.customer in customer)]
    theirs = lines.lines_of(billed) if isinstance(lines, PeriodRevenue) else [x for x in lines if x.customer in billed]
    theirs = [x for x in theirs if not x.one_off]
    if product is None:
        return Carried(
            projected.total().dollars() + lines_sum(once).dollars(),
            lines_sum(theirs).dollars(),
            len({x.customer for x in theirs}),
        )
    mine = [line for line in theirs if product in line.by_product]
    return Carried(
        projected.by_product().get(product, ZERO) + total_by_product(once).get(product, ZERO),
        total_by_product(mine).get(product, ZERO),
        len({x.customer for x in mine}),
    )


def revenue_lines(
    conn: Connection,
    period: Period,
    *,
    customers: Iterable[str] | None = None,
    totals: UsageTotals | None = None,
    contracts: list[Terms] | None = None,
    usage_factor: Decimal = ONE,
) -> list[RevenueLine]:
    """Every revenue line for `customers` (all when None) in `period`; billed lines replace modelled ones.

    `totals` (from `usage_totals` over exactly `period`) and `contracts` (from `contracts_in` over a range that
    covers `period`) save reads when the caller already has them. `usage_factor` scales metered units (a what-if);
    billed lines cannot follow usage and stay as billed.
    """
    return period_revenue(
        conn, period, customers=customers, totals=totals, contracts=contracts, usage_factor=usage_factor
    ).lines()


@dataclass(frozen=True, kw_only=True)
class SkippedContract:
    """A stored contract that cannot be read (a value no import accepts, written by hand or by an older version):
    left out of revenue, logged, and named in the answers that would have counted it."""

    id: object
    customer: str
    product: str
    why: str

    def __str__(self) -> str:
        return f"contract {self.id} of {self.customer} ({self.product or 'every product'}) left out: {self.why}"


def _amount(value: object, column: str) -> Decimal:
    """A stored contract amount, within what the column holds on every database."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise ValueError(f"{column} is not a number ({str(value)[:40]!r})")
    if not ZERO <= amount <= MONEY_MAX:
        raise ValueError(f"{column} {str(value)[:40]} is outside 0 to {MONEY_MAX:,}")
    return amount


def _day(value: object, column: str) -> date:
    try:
        return as_date(value)
    except (TypeError, ValueError):
        raise ValueError(f"{column} {str(value)[:40]!r} is not a date") from None


def _seats(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEATS_MAX:
        raise ValueError(f"seats {str(value)[:40]} is not a whole number from 0 to {SEATS_MAX:,}")
    return value


def contracts_in(
    conn: Connection, period: Period, customers: list[str] | None, *, skipped: list[SkippedContract] | None = None
) -> list[Terms]:
    """The contracts of `customers` (all when None) in force on at least one day of `period`.

    A contract that cannot be read is left out with a logged warning (and added to `skipped` when given): one bad
    stored value must not take down every answer that reads contracts."""
    # PostgreSQL's NUMERIC amounts are read as their text: a Decimal's hash (every row's stored values are looked
    # up below) costs half a microsecond, its text's a tenth of that, and _amount reads an amount through its text
    # either way, so each reads as the same Decimal (the bench's 3,069 contracts: 17.2 -> 11.2 ms CPU). SQLite's
    # REAL amounts are read as they are: its text of a float (15 digits) is not Python's.
    money = ["seat_price_usd", "platform_fee_usd", "included_units", "unit_price_usd"]
    if conn.dialect.name == "postgresql":
        money = [f"CAST({column} AS TEXT)" for column in money]
    seat_price, fee, included, unit_price = money
    sql = (
        f'SELECT id, customer, product, plan, start, "end", seats, {seat_price}, {fee}, {included}, unit, '
        f'{unit_price} FROM contract WHERE start <= :b AND ("end" IS NULL OR "end" >= :a)'
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    sql = scoped(sql, params, customers)
    out: list[Terms] = []
    wanted = set(customers) if customers is not None else None
    # Plain tuples: a Row for each of thousands of contracts costs more than the query.
    rows = fetch_tuples(conn, text(sql + " ORDER BY customer, product, start"), params)
    for row in rows:
        customer = row[1]
        if wanted is not None and customer not in wanted:
            continue
        terms = _contract(*row[1:])
        if isinstance(terms, str):
            bad = SkippedContract(id=row[0], customer=customer, product=row[2] or "", why=terms)
            log.warning("%s (fix it by re-importing the contract)", bad)
            if skipped is not None:
                skipped.append(bad)
            continue
        out.append(terms)
    return out


def part_period_contracts(contracts: Iterable[Terms], period: Period) -> int:
    """How many of `contracts` are in force on some day of a period to date's whole length but not on all of them:
    terms starting on the 10th, or ending on the 20th. A run rate spreads what the days so far earned over the whole
    period, which may misstate what such terms earn, so it says how many there are. A contract continued by another
    on the same terms (a renewal) is one run of terms in force all along, and counts for nothing. 0 for a complete
    period. `contracts`: those behind the figures, read over the whole period (`Period.whole`)."""
    if period.complete or period.full_end is None:
        return 0
    first, last = period.start, period.full_end
    spans: dict[tuple[str, str, EarningTerms], list[tuple[date, date]]] = {}
    for c in contracts:
        a, b = max(c.start, first), min(c.end or last, last)
        if a <= b:
            spans.setdefault((c.customer, c.product, c.earning_terms), []).append((a, b))
    return sum(run != (first, last) for runs in spans.values() for run in runs_of_days(runs))


# A contract's Terms is a pure function of its stored values, so it is kept by them across calls, as month_fraction
# keeps its fractions: every call still reads every contract row, and a row changed in any way is another key, so
# nothing kept can be out of date. The portfolio and every alerts check read each contract of the book; checking
# its values and making its Terms again cost them twice what reading the rows does (the bench's 3,069 contracts:
# 5-6 ms of Python on 3.5 ms of SQL). `typed`: values of different types can be equal and read differently (1 and
# 1.0 read as 1 and 1.0; seats 1.0 is refused). Bounded: a book of more contracts than this reads the rest afresh.
@lru_cache(maxsize=1 << 16, typed=True)
def _contract(customer: str, product: str, *stored: object) -> Terms | str:
    """The contract with these stored values (`_terms`' arguments) as a Terms, or why it cannot be read."""
    values = _stored_terms(*stored)
    if isinstance(values, str):
        return values
    # A Terms made of its attributes costs a sixth of a frozen dataclass's __init__, which sets each field through
    # object.__setattr__ (and reading them back costs about a nanosecond more than of a Terms stored inline).
    terms: Terms = object.__new__(Terms)
    attributes = terms.__dict__
    attributes.update(values)
    attributes["customer"], attributes["product"] = customer, product
    return terms


@lru_cache(maxsize=1 << 14, typed=True)
def _stored_terms(*stored: object) -> dict[str, object] | str:
    """A contract's stored terms checked (`_terms`), or why they cannot be read. Contracts repeat the same terms for
    many customers (the bench's 3,069 hold 991 sets): each set is checked once, and every Terms made of it shares
    its `earning_terms` tuple, by which revenue looks up charges worked out already (`_charges`)."""
    try:
        return _terms(*stored)
    except (ValueError, TypeError) as exc:
        return str(exc)


def _terms(
    plan: object,
    start: object,
    end: object,
    seats: object,
    seat_price: object,
    fee: object,
    included: object,
    unit: object,
    unit_price: object,
) -> dict[str, object]:
    """A contract's stored terms, checked: the attributes of its `Terms` but its customer and product (first, as
    a Terms's own are, to be set by the caller)."""
    plan_word = _PLAN.get(plan)  # type: ignore[call-overload]
    if plan_word is None:
        raise ValueError(f"plan {str(plan)[:40]!r} is not one of {', '.join(Plan)}")
    unit_word = _UNIT.get(unit) if unit else None  # type: ignore[call-overload]
    if (unit and unit_word is None) or (plan_word.is_metered and unit_word is None):
        raise ValueError(f"unit {str(unit)[:40]!r} is not one of {', '.join(Unit)}")
    first = _day(start, "start")
    last = _day(end, "end") if end is not None else None
    count = _seats(seats)
    seat_usd = _amount(seat_price, "seat_price_usd")
    fee_usd = _amount(fee, "platform_fee_usd")
    included_units = _amount(included, "included_units")
    unit_usd = _amount(unit_price, "unit_price_usd")
    is_metered, earning = _derived(plan_word, count, seat_usd, fee_usd, included_units, unit_word, unit_usd)
    return {
        "customer": "",
        "product": "",
        "plan": plan_word,
        "start": first,
        "end": last,
        "seats": count,
        "seat_price_usd": seat_usd,
        "platform_fee_usd": fee_usd,
        "included_units": included_units,
        "unit": unit_word,
        "unit_price_usd": unit_usd,
        "is_metered": is_metered,
        "earning_terms": earning,
    }


class Invoice(NamedTuple):
    """A billed line (e.g. a Stripe invoice line) for its whole service period."""

    customer: str
    product: str
    source: str
    start: date
    end: date
    amount: Decimal
    # A one-off charge (a Stripe invoice item): added to its day, where a service period's line replaces the
    # contract's revenue on the days it covers.
    one_off: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def service_customers(bills: Iterable[Invoice]) -> set[str]:
    """The customers some of whose billed lines bill a service period: their revenue is billed on those days (a
    customer with one-off charges alone is paid by its contracts, the charges added)."""
    return {bill.customer for bill in bills if not bill.one_off}


def invoices(conn: Connection, period: Period, customers: list[str] | None) -> list[Invoice]:
    """Billed lines of `customers` (all when None) whose service period overlaps `period`."""
    sql = (
        "SELECT customer, product, source, period_start, period_end, amount_usd, one_off FROM revenue_actual "
        "WHERE period_start <= :b AND period_end >= :a"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    wanted = set(customers) if customers is not None else None
    return [
        Invoice(customer, product, source, as_date(start), as_date(end), Decimal(str(amount)), bool(one_off))
        for customer, product, source, start, end, amount, one_off in conn.execute(
            text(scoped(sql, params, customers)), params
        )
        if wanted is None or customer in wanted
    ]


def billed_lines(conn: Connection, period: Period, customers: list[str] | None) -> list[RevenueLine]:
    """Billed revenue lines (e.g. Stripe) overlapping `period`, prorated by day, merged per customer and product."""
    return prorated_lines(invoices(conn, period, customers), period)


def uncovered_runs(bills: list[Invoice], period: Period) -> dict[str, list[Period]]:
    """For each billed customer, the runs of days of `period` that none of its billed lines covers: a customer's
    first invoice from the 15th, or a service period that starts late on the day before in MARGINBOT_TIMEZONE (an
    invoice from 00:00 UTC on Oct 1 starts on Sep 30 in New York). Its contracts' revenue counts on those days; a
    billed line replacing the whole period's would leave September with one day of October's invoice. A one-off
    charge covers no day: it is added to its day's revenue, the contract's counting there too (a customer with
    one-off charges alone has the whole period uncovered)."""
    spans: dict[str, list[tuple[date, date]]] = defaultdict(list)
    for bill in bills:
        if bill.one_off:
            spans.setdefault(bill.customer, [])
            continue
        spans[bill.customer].append((max(bill.start, period.start), min(bill.end, period.end)))
    out: dict[str, list[Period]] = {}
    for customer, covered in spans.items():
        runs: list[Period] = []
        day = period.start  # the first day not yet known to be covered
        for a, b in sorted(covered):
            if a > day:
                runs.append(Period(day, a - timedelta(days=1), f"{day} to {a - timedelta(days=1)}"))
            day = max(day, b + timedelta(days=1))
        if day <= period.end:
            runs.append(Period(day, period.end, f"{day} to {period.end}"))
        if runs:
            out[customer] = runs
    return out


def prorated_lines(bills: list[Invoice], period: Period, counter: UnitCounter | None = None) -> list[RevenueLine]:
    """`billed_lines` of invoices read already (`invoices`). With `counter`, a line naming no product is split
    across the customer's products as a seat or flat contract for every product is, each invoice over the days it
    bills in the period: by their requests, or their COGS where some product's requests are not counted
    (`UnitCounter.split`; no usage on those days: it stays in no product's row); without it, callers read
    customers' totals."""
    merged: dict[tuple[str, str, str, bool], RevenueLine] = {}
    split: dict[tuple[str, str, str, bool], dict[str, list[Exact]]] = {}
    covered: dict[tuple[str, str, str, bool], list[tuple[date, date]]] = {}  # the days each line's invoices bill
    for bill in bills:
        a, b = max(bill.start, period.start), min(bill.end, period.end)
        days = (b - a).days + 1
        key = (bill.customer, bill.product, bill.source, bill.one_off)
        line = merged.get(key)
        if line is None:
            what = "one-off charges" if bill.one_off else "invoice lines, prorated by day"
            line = merged[key] = RevenueLine(
                customer=bill.customer,
                product=bill.product,
                plan=BILLED,
                source=bill.source,
                terms=f"billed in {bill.source} ({what})",
                one_off=bill.one_off,
            )
        # amount × days ÷ the invoice's days, exactly: in ticks a Decimal when its days divide TICKS × days (a
        # month's invoice), else a Share (a 365-day one); a 28-digit share of it first could miss a half cent.
        per, rest = divmod(TICKS * days, bill.days)
        whole = _mul(bill.amount, TICKS_D)
        part: Exact = Share(whole, Decimal(days), Decimal(bill.days)) if rest else _mul(bill.amount, per)
        line.parts += (part,)
        covered.setdefault(key, []).append((a, b))
        if counter is not None and not bill.product:
            pieces = split.setdefault(key, {})
            basis, weights = counter.split(bill.customer, a, b)
            if basis not in line.split_by and any(weights.values()):
                line.split_by += (basis,)
            for product, piece in _split_part(part, weights):
                pieces.setdefault(product, []).append(piece)
    for key, line in merged.items():
        line.active_days = _days_in(covered[key])  # the days billed, not the longest invoice's (28 of 59 in a Q4)
        line.total = line.platform = _exact_dollars(line.parts)
        if key in split:
            line.product_parts = {product: tuple(parts) for product, parts in split[key].items()}
            line.by_product = {product: _exact_dollars(parts) for product, parts in line.product_parts.items()}
        else:
            line.by_product, line.product_parts = {line.product: line.total}, {line.product: line.parts}
    return list(merged.values())


def _days_in(spans: list[tuple[date, date]]) -> int:
    """How many days the spans [a, b] cover together (two invoices overlapping on a day count it once)."""
    return sum((b - a).days + 1 for a, b in runs_of_days(spans))


def _split_part(part: Exact, weights: dict[str, Decimal]) -> list[tuple[str, Exact]]:
    """One invoice's part across products by `weights` (`_pieces`), a prorated part (a Share) as exactly."""
    if isinstance(part, Decimal):
        return _pieces(part, weights, "")
    pieces = _pieces(ONE, weights, "")
    if len(pieces) == 1:
        return [(pieces[0][0], part)]
    return [(p, Share(part.ticks, EXACT.multiply(part.part, s.part), EXACT.multiply(part.whole, s.whole)))
            for p, s in pieces if isinstance(s, Share)]  # fmt: skip


def _exact_dollars(parts: Iterable[Exact]) -> Decimal:
    exact = ExactSum()
    for part in parts:
        exact.add(part)
    return exact.dollars()


def scoped(sql: str, params: dict[str, object], customers: list[str] | None) -> str:
    """`sql` narrowed to the one customer asked about; several are filtered by the caller (an IN list of
    thousands is slower than reading the period)."""
    return where_equal(sql, params, customer=customers[0] if customers is not None and len(customers) == 1 else None)


def total_by_customer(lines: Iterable[RevenueLine]) -> dict[str, Decimal]:
    """Revenue per customer: the exact sum of its lines, divided once (see PeriodRevenue)."""
    totals = _Totals()
    for line in lines:
        for part in _parts(line):
            totals.add(line.customer, part)
    return totals.dollars()


def total_by_product(lines: Iterable[RevenueLine]) -> dict[str, Decimal]:
    """Revenue per product; an all-product contract is split by the usage of each product."""
    totals = _Totals()
    for line in lines:
        for product, parts in _product_parts(line).items():
            for part in parts:
                totals.add(product, part)
    return totals.dollars()


def lines_sum(lines: Iterable[RevenueLine]) -> ExactSum:
    """The revenue of `lines` together, exactly (`.dollars()` for the figure)."""
    total = ExactSum()
    for line in lines:
        for part in _parts(line):
            total.add(part)
    return total
