"""The revenue side of the margin bridge: metered volume, seats, billed lines and contract changes.

Revenue is worked out per contract key (customer × the product a contract names, '' for every product) with the
one revenue rule (`Terms` in engine/reports/revenue.py), through fully computed states in a fixed order:

    R0  last period's revenue, as reported
    R1  volume:   last period's terms, each metered line's units scaled by how the units its terms count moved
    R2  seats:    … with this period's average seat count, at last period's seat price
    R3  billed:   customers billed through invoice lines (Stripe) take their whole change here: an invoice has no
                  terms to take apart. One-off charges (a setup fee) are billed too, but replace no contract's days:
                  a customer with those alone has its contracts taken apart as anyone's, and the charges here as a
                  piece of their own
    R4  contract changes: this period's revenue, as reported (new, ended and changed terms, days in force)

A key with contracts in only one of the periods is new or ended: its whole revenue moves in the contract step.
For a product, a contract for every product counts with the product's share of it (the split `revenue_lines`
makes by usage); the share moving with the product's traffic is part of volume.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Connection

from engine.money import ZERO, fraction_decimal
from engine.periods import Period
from engine.reports.revenue import (
    BILLED,
    RevenueLine,
    Terms,
    active_span,
    contract_line,
    contracts_in,
    describe_terms,
    lines_sum,
    month_fraction,
    over_months,
    revenue_lines,
    total_by_product,
)
from engine.reports.usage import UnitCounter
from engine.vocab import Plan, SplitBasis, Unit

REVENUE_STEPS = ("volume", "seats", "billed", "contract")


RevenueKey = tuple[str, str]  # (customer, the product a contract names: '' = every product)


@dataclass
class _Side:
    """A key's contract lines in one period: terms, months in force, units metered, and the line."""

    lines: list[tuple[Terms, Fraction, RevenueLine]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return lines_sum(line for _, _, line in self.lines).dollars()  # exactly, as the reports add lines

    def share(self, product: str | None) -> Decimal:
        """The revenue of these lines that pays for `product` (None: all of it)."""
        if product is None:
            return self.total
        return total_by_product(line for _, _, line in self.lines).get(product, ZERO)

    def seat_months(self) -> tuple[Fraction, Fraction, Decimal]:
        """(seats × months, months with seats, seat revenue) over the lines whose plan has seats (the months exact:
        `month_fraction`)."""
        seat_months = months = Fraction(0)
        revenue = ZERO
        for terms, m, line in self.lines:
            if terms.plan.has_seats:
                seat_months += terms.seats * m
                months += m
                revenue += line.seats
        return seat_months, months, revenue


@dataclass(kw_only=True)
class KeyPieces:
    """One contract key's part of each revenue step (USD, exact), with what explains it."""

    customer: str
    product: str
    pieces: dict[str, Decimal]
    before: Decimal
    after: Decimal
    terms_before: list[str]
    terms_after: list[str]
    units_before: Decimal = ZERO
    units_after: Decimal = ZERO
    unit: Unit | None = None
    seats_before: Decimal | None = None
    seats_after: Decimal | None = None
    # A product's share of a contract for every product (the split by usage), before and after (None: that period
    # had no revenue on it to share); None for every other key. Its moving with traffic is part of volume.
    share_before: Decimal | None = None
    share_after: Decimal | None = None
    split_unit: Unit | None = None  # what the share follows: the metered unit, else requests
    # What a seat or flat contract's share followed in each period (RevenueLine.split_by): requests, or COGS where
    # some product's requests were not counted; () where that period split nothing. Said instead of split_unit.
    split_before: tuple[SplitBasis, ...] = ()
    split_after: tuple[SplitBasis, ...] = ()
    # The days each of terms_before's (terms_after's) contracts was in force, in the same order, and the period's
    # first and last day ([] and None for a customer billed through invoice lines).
    spans_before: list[tuple[date, date]] = field(default_factory=list)
    spans_after: list[tuple[date, date]] = field(default_factory=list)
    period_before: tuple[date, date] | None = None
    period_after: tuple[date, date] | None = None
    # The terms differ in nothing but their seat counts, which the seats step took: what the contract step holds is
    # the days in force (the same days are a larger share of a shorter month).
    seats_only: bool = False
    # The one-off charges (RevenueLine.one_off) of a customer billed by no service period: its billed piece beside
    # its contracts' own.
    one_off: bool = False


@dataclass(kw_only=True)
class RevenueBridge:
    states: list[Decimal]  # R0..R4
    keys: list[KeyPieces]


def _by_key(
    conn: Connection, period: Period, terms: list[Terms], customers: list[str] | None
) -> tuple[dict[RevenueKey, _Side], UnitCounter]:
    counter = UnitCounter(conn, period, customers)
    tasks = [c for c in terms if c.is_metered and c.unit is Unit.TASK]
    counter.prefetch_tasks({c.customer for c in tasks}, {c.customer for c in tasks if not c.product})
    sides: dict[RevenueKey, _Side] = defaultdict(_Side)
    for c in terms:
        span = active_span(c, period)
        line = contract_line(c, period, counter) if span is not None else None
        if span is None or line is None:
            continue
        sides[(c.customer, c.product)].lines.append((c, month_fraction(*span), line))
    return sides, counter


def _units(counter: UnitCounter, period: Period, customer: str, terms: Terms) -> Decimal:
    """The units `terms` meter over the whole of `period` (its unit, its product or all)."""
    unit, a, b = terms.split_unit, period.start, period.end
    counted = counter.by_product(customer, terms.product, unit, a, b)
    return counter.units(customer, terms.product, unit, a, b, counted)


def _volume_state(before: _Side, prev: Period, now: Period, c_prev: UnitCounter, c_now: UnitCounter) -> Decimal:
    """Last period's lines at their own terms and months, metering units scaled by how their units moved."""
    months = sum((m for _, m, _ in before.lines), Fraction(0))
    total = ZERO
    for terms, m, line in before.lines:
        if not terms.is_metered:
            total += line.total
            continue
        was, now_units = _units(c_prev, prev, terms.customer, terms), _units(c_now, now, terms.customer, terms)
        if was and terms.plan is Plan.HYBRID and prev.unit == "quarter":
            # Each month's units scaled, each against its own allowance, as the quarter's revenue reads them
            # (engine.reports.revenue._hybrid_by_month): pooled, the same usage read as a volume move.
            scaled = contract_line(terms, prev, c_prev, usage_factor=now_units / was)
            total += scaled.total if scaled is not None else ZERO
            continue
        units = line.units * now_units / was if was else (over_months(now_units, m / months) if months else ZERO)
        total += terms.charge(units, m)
    return total


def _seats_change(before: _Side, after: _Side) -> tuple[Decimal, Decimal | None, Decimal | None]:
    """Revenue from the change in the average seat count at last period's seat price, and the two averages."""
    sm0, m0, rev0 = before.seat_months()
    sm1, m1, _ = after.seat_months()
    s0 = sm0 / m0 if m0 else None
    s1 = sm1 / m1 if m1 else None
    average = (None if s0 is None else fraction_decimal(s0), None if s1 is None else fraction_decimal(s1))
    if not sm0 or s0 is None or s1 is None:
        return ZERO, *average  # no seats to compare: starting or dropping seats is a change of terms
    return over_months(rev0, (s1 - s0) * m0 / sm0), *average


def revenue_bridge(
    conn: Connection, period: Period, *, customer: str | None = None, product: str | None = None
) -> RevenueBridge:
    """Revenue states R0..R4 for one customer, one product or (neither given) everyone, with each key's pieces."""
    prev = period.previous()
    customers = [customer] if customer is not None else None
    # One read for both periods. The range may hold days of neither (a month to date against the same days of the
    # month before), but a contract in force only then earns nothing below: each line is worked out over the days of
    # its own period (`active_span`).
    terms = contracts_in(conn, Period(prev.start, period.end, "both"), customers)
    sides_before, count_before = _by_key(conn, prev, terms, customers)
    sides_after, count_after = _by_key(conn, period, terms, customers)
    official_before = revenue_lines(conn, prev, customers=customers, contracts=terms)
    official_after = revenue_lines(conn, period, customers=customers, contracts=terms)
    # Billed by a service period in either period (engine.reports.revenue.service_customers): their invoices replace
    # their contracts on the days they bill. A customer with one-off charges alone is paid by its contracts, the
    # charges added: its contract changes are contract changes, and a $200 setup fee is not $1,200 of billed revenue.
    every = official_before + official_after
    billed = {line.customer for line in every if line.plan == BILLED and not line.one_off}
    once = sorted({line.customer for line in every if line.one_off} - billed)

    def official(lines: list[RevenueLine]) -> Decimal:
        if product is not None:
            return total_by_product(lines).get(product, ZERO)
        return lines_sum(lines).dollars()  # the exact sum, as the portfolio's total (not of rounded customers)

    keys: list[KeyPieces] = []
    steps: dict[str, Decimal] = dict.fromkeys(REVENUE_STEPS, ZERO)
    for cust in sorted(billed):
        was = _billed_share(official_before, cust, product)
        now = _billed_share(official_after, cust, product)
        if was or now:
            pieces = {**dict.fromkeys(REVENUE_STEPS, ZERO), "billed": now - was}
            keys.append(_pieces(cust, "", pieces, was, now, None, None))
            steps["billed"] += now - was
    for cust in once:
        was = _billed_share([x for x in official_before if x.one_off], cust, product)
        now = _billed_share([x for x in official_after if x.one_off], cust, product)
        if was or now:
            pieces = {**dict.fromkeys(REVENUE_STEPS, ZERO), "billed": now - was}
            kp = _pieces(cust, "", pieces, was, now, None, None)
            kp.one_off, kp.terms_before, kp.terms_after = True, ["one-off charges"], ["one-off charges"]
            keys.append(kp)
            steps["billed"] += now - was
    for key in sorted(set(sides_before) | set(sides_after)):
        cust, prod = key
        if cust in billed or (product is not None and prod not in ("", product)):
            continue
        before, after = sides_before.get(key, _Side()), sides_after.get(key, _Side())
        was, now = before.share(product), after.share(product)
        pieces = dict.fromkeys(REVENUE_STEPS, ZERO)
        s0 = s1 = None
        if before.lines and after.lines:
            # A product's share of an every-product contract: this period's split applies from the volume step on.
            weight = Decimal(1)
            if product is not None and prod == "":
                total_after = after.total
                weight = now / total_after if total_after else (was / before.total if before.total else ZERO)
            volume = _volume_state(before, prev, period, count_before, count_after) * weight
            seats, s0, s1 = _seats_change(before, after)
            pieces["volume"] = volume - was
            pieces["seats"] = seats * weight
            pieces["contract"] = now - volume - seats * weight
        else:
            pieces["contract"] = now - was
        if not any(pieces.values()) and not was and not now:
            continue
        for step, amount in pieces.items():
            steps[step] += amount
        kp = _pieces(cust, prod, pieces, was, now, before, after)
        kp.seats_before, kp.seats_after = s0, s1
        kp.spans_before = [_span(t, prev) for t, _, _ in before.lines]
        kp.spans_after = [_span(t, period) for t, _, _ in after.lines]
        kp.period_before, kp.period_after = (prev.start, prev.end), (period.start, period.end)
        kp.seats_only = (
            s0 is not None
            and s1 is not None
            and kp.terms_before != kp.terms_after
            and {_but_seats(t) for t, _, _ in before.lines} == {_but_seats(t) for t, _, _ in after.lines}
        )
        if product is not None and prod == "":
            total_before, total_after = before.total, after.total
            kp.share_before = was / total_before if total_before else None
            kp.share_after = now / total_after if total_after else None
            kp.split_unit = next((t.split_unit for t, _, _ in before.lines + after.lines), None)
            kp.split_before, kp.split_after = _split_by(before), _split_by(after)
        keys.append(kp)

    r0, r4 = official(official_before), official(official_after)
    r1 = r0 + steps["volume"]
    r2 = r1 + steps["seats"]
    r3 = r2 + steps["billed"]
    return RevenueBridge(states=[r0, r1, r2, r3, r4], keys=keys)


def _split_by(side: _Side) -> tuple[SplitBasis, ...]:
    """What a side's lines were split across products by, each basis once (two contracts in one period may each
    have been split by another)."""
    return tuple(dict.fromkeys(basis for _, _, line in side.lines for basis in line.split_by))


def _span(terms: Terms, period: Period) -> tuple[date, date]:
    span = active_span(terms, period)
    assert span is not None  # a side holds only the contracts in force in its period (_by_key)
    return span


def _but_seats(terms: Terms) -> tuple[object, ...]:
    """A contract's terms but its seat count."""
    plan, _seats, *rest = terms.earning_terms
    return (plan, *rest)


def _billed_share(lines: list[RevenueLine], customer: str, product: str | None) -> Decimal:
    mine = [line for line in lines if line.customer == customer]
    if product is None:
        return lines_sum(mine).dollars()
    return total_by_product(mine).get(product, ZERO)


def _pieces(
    customer: str,
    product: str,
    pieces: dict[str, Decimal],
    was: Decimal,
    now: Decimal,
    before: _Side | None,
    after: _Side | None,
) -> KeyPieces:
    unit = next((t.unit for t, _, _ in (before or _Side()).lines + (after or _Side()).lines if t.is_metered), None)
    return KeyPieces(
        customer=customer,
        product=product,
        pieces=pieces,
        before=was,
        after=now,
        terms_before=[describe_terms(t) for t, _, _ in before.lines] if before else ["billed (invoice lines)"],
        terms_after=[describe_terms(t) for t, _, _ in after.lines] if after else ["billed (invoice lines)"],
        units_before=sum((line.units for _, _, line in before.lines), ZERO) if before else ZERO,
        units_after=sum((line.units for _, _, line in after.lines), ZERO) if after else ZERO,
        unit=unit,
    )
