"""Price floors: the lowest unit price that keeps a customer's margin at a target on a heavy (P99) month.

A P99 month is 30 days like the customer's P99 day (by COGS, from their own days in the basis window):
COGS and metered units of that same day × 30, monthly fees once. Revenue is linear in the one price we solve
for (the unit price of a usage or hybrid plan, the seat price of a seat plan, the fee of a flat plan), so with
F = revenue at price 0 and U = revenue per dollar of price:

    margin ≥ target  ⇔  F + p × U ≥ COGS ÷ (1 − target/100)  ⇔  p ≥ (COGS ÷ (1 − target/100) − F) ÷ U

The floor is that p rounded *up* to the price's step (a micro-dollar per request or 1k tokens, a hundredth
of a cent per task, a cent per seat or month), so it always meets the target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from engine.money import HUNDRED, ONE, ZERO, ceil_to, round_to, usd_text
from engine.periods import Period
from engine.reports.figures import Thresholds, margin_pct
from engine.reports.names import resolve_customer
from engine.reports.revenue import Terms
from engine.reports.serialize import cents, micros, pct
from engine.scenarios.basis import DayUsage, Payer, daily_usage, month_revenue, percentile_day, terms_for
from engine.scenarios.words import FLOOR_UNITS, MONTH, SEAT
from engine.vocab import Plan, Unit

MONTH_DAYS = 30
BASIS_POINT = Decimal("0.0001")  # the P99 day's COGS is shown to a hundredth of a cent
STEP = {
    Unit.REQUEST: Decimal("0.000001"),
    Unit.TOKENS_1K: Decimal("0.000001"),
    Unit.TASK: Decimal("0.0001"),
    SEAT: Decimal("0.01"),
    MONTH: Decimal("0.01"),
}


class FloorError(ValueError):
    """A floor that cannot be computed as asked; the message says why and what to give instead."""


@dataclass(kw_only=True)
class PriceFloor:
    """The floor price in one unit for one customer, with the P99 month it was solved on."""

    key: str
    name: str
    basis: Period
    target_pct: Decimal
    unit: str  # request | task | 1k_tokens | seat | month (a flat plan's monthly fee)
    plan: str
    terms: list[str]
    hypothetical: bool  # True: a usage plan in `unit` the customer is not on today
    current_price: Decimal | None
    floor_price: Decimal | None  # None: the price cannot reach the target (see note)
    p50_day: DayUsage
    p99_day: DayUsage
    p99_cogs: Decimal  # a 30-day month at the P99 day
    p99_units: Decimal  # revenue per dollar of price in that month (billable units, or seats)
    fixed_revenue: Decimal  # revenue of that month at price 0 (fees, seats of a hybrid plan, ...)
    margin_p99_current: Decimal | None
    margin_p99_floor: Decimal | None
    margin_p50_floor: Decimal | None
    note: str
    assumptions: list[str]


def _with_price(c: Terms, unit: str, price: Decimal) -> Terms:
    if unit == SEAT:
        return replace(c, seat_price_usd=price)
    if unit == MONTH:
        return replace(c, platform_fee_usd=price)
    return replace(c, unit_price_usd=price)


def _priced_unit(terms: Payer, name: str) -> str:
    if terms.billed_per_month is not None:
        raise FloorError(
            f"{name}'s revenue is billed (Stripe), not modelled from a contract; give a unit to price a "
            "usage plan, e.g. `--unit request` (request, task or 1k_tokens)"
        )
    if not terms.contracts:
        raise FloorError(f"{name} has no contract in force; give a unit, e.g. `--unit task`")
    kinds = {SEAT if c.plan is Plan.SEAT else MONTH if c.plan is Plan.FLAT else c.split_unit for c in terms.contracts}
    if len(kinds) > 1:
        raise FloorError(
            f"{name} has contracts priced in different units ({'; '.join(terms.describe())}); "
            "give the unit to price, e.g. `--unit request`"
        )
    return kinds.pop()


def price_floor(
    conn: Connection,
    ref: str,
    basis: Period,
    *,
    thresholds: Thresholds,
    target_pct: Decimal | None = None,
    unit: str | None = None,
) -> PriceFloor:
    """The lowest price in `unit` (default: the unit of the customer's plan) that keeps the margin at
    `target_pct` (default MARGINBOT_HEALTHY_PCT) in a 30-day month at the customer's P99 day of usage."""
    target = thresholds.healthy_pct if target_pct is None else target_pct
    if not ZERO <= target < HUNDRED:
        raise FloorError(f"the target margin must be at least 0% and below 100%, got {target}%")
    if unit is not None and unit not in FLOOR_UNITS:
        raise FloorError(f"unit must be one of {', '.join(FLOOR_UNITS)}, got {unit!r}")
    key, name = resolve_customer(conn, ref)
    days = daily_usage(conn, basis, key).get(key)
    if not days:
        raise FloorError(f"{name} has no usage in {basis.label} ({basis.start} to {basis.end}); no P99 day to price")
    p50, p99 = percentile_day(days, 0.5), percentile_day(days, 0.99)
    terms = terms_for(conn, basis, [key])[key]
    hypothetical = False
    if unit is None:
        own = _priced_unit(terms, name)
    else:
        try:
            today = _priced_unit(terms, name)
        except FloorError:
            today = None
        own = unit
        if unit != today:
            if unit in (SEAT, MONTH):
                raise FloorError(
                    f"{name} is not on a {'seat' if unit == SEAT else 'flat'} plan; "
                    "price it per request, task or 1k_tokens instead"
                )
            hypothetical_terms = Terms(
                customer=key, product="", plan=Plan.USAGE, start=basis.start, end=None, unit=Unit(unit)
            )
            terms = Payer(contracts=[hypothetical_terms])
            hypothetical = True

    def revenue(price: Decimal, day: DayUsage) -> Decimal:
        priced = Payer(contracts=[_with_price(c, own, price) for c in terms.contracts])
        return month_revenue(priced, day, MONTH_DAYS, ONE)

    cogs = p99.cogs * MONTH_DAYS
    fixed = revenue(ZERO, p99)
    per_dollar = revenue(ONE, p99) - fixed
    needed = cogs / (ONE - target / HUNDRED)
    prices = {_with_price_value(c, own) for c in terms.contracts} if not hypothetical else set()
    current = prices.pop() if len(prices) == 1 else None
    floor: Decimal | None
    note = ""
    if per_dollar <= 0:
        floor = None
        note = (
            f"at P99 usage every unit falls within the included units, so the {own} price does not "
            f"move revenue; fees must reach {usd_text(needed)} a month"
        )
    else:
        floor = ceil_to(max(ZERO, (needed - fixed) / per_dollar), STEP[own])
        if floor == 0:
            note = "the fixed fees alone keep the margin at the target on a P99 month"
        elif own in (SEAT, MONTH) and len(terms.contracts) > 1:
            note = f"the floor applies to each of the {len(terms.contracts)} contracts ({own} price each)"
    cogs_p50 = p50.cogs * MONTH_DAYS
    return PriceFloor(
        key=key,
        name=name,
        basis=basis,
        target_pct=target,
        unit=own,
        plan=Plan.USAGE if hypothetical else terms.plan,
        terms=terms.describe() if not hypothetical else [f"usage: per {own} (hypothetical)"],
        hypothetical=hypothetical,
        current_price=current,
        floor_price=floor,
        p50_day=p50,
        p99_day=p99,
        p99_cogs=cogs,
        p99_units=per_dollar,
        fixed_revenue=fixed,
        margin_p99_current=margin_pct(revenue(current, p99), cogs) if current is not None else None,
        margin_p99_floor=margin_pct(revenue(floor, p99), cogs) if floor is not None else None,
        margin_p50_floor=margin_pct(revenue(floor, p50), cogs_p50) if floor is not None else None,
        note=note,
        assumptions=[
            f"basis: {basis.label} ({basis.start} to {basis.end}), {len(days)} day(s) of {name}'s own usage; "
            f"P99 day {p99.day} (COGS {usd_text(p99.cogs, BASIS_POINT)}), P50 day {p50.day}",
            f"a P99 month = {MONTH_DAYS} days like the P99 day: COGS {usd_text(cogs)}; monthly fees counted once",
            f"target margin {target}% (breach below {thresholds.breach_pct}%); the floor is rounded up to "
            f"${STEP[own]} so it always meets the target",
        ],
    )


def _with_price_value(c: Terms, unit: str) -> Decimal:
    return {SEAT: c.seat_price_usd, MONTH: c.platform_fee_usd}.get(unit, c.unit_price_usd)


def floor_to_dict(f: PriceFloor) -> dict[str, Any]:
    """The `--json` shape (the blocks read it too). Prices keep their step's precision, as strings."""

    def price(value: Decimal | None) -> str | None:
        return None if value is None else f"{round_to(value, STEP[f.unit]) if value >= 0 else value}"

    return {
        "customer": f.key,
        "name": f.name,
        "basis": f.basis.as_dict(),
        "target_pct": pct(f.target_pct),
        "unit": f.unit,
        "plan": f.plan,
        "terms": f.terms,
        "hypothetical": f.hypothetical,
        "current_price_usd": price(f.current_price),
        "floor_price_usd": price(f.floor_price),
        "p50_day": f.p50_day.as_dict(),
        "p99_day": f.p99_day.as_dict(),
        "p99_month_cogs_usd": cents(f.p99_cogs),
        "p99_month_billable": micros(f.p99_units),
        "p99_month_fixed_revenue_usd": cents(f.fixed_revenue),
        "margin_p99_at_current_pct": pct(f.margin_p99_current),
        "margin_p99_at_floor_pct": pct(f.margin_p99_floor),
        "margin_p50_at_floor_pct": pct(f.margin_p50_floor),
        "note": f.note or None,
        "assumptions": f.assumptions,
    }
