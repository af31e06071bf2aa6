"""Price floors: the lowest price that keeps a customer's margin at a target in a heavy month of its own history.

A heavy month is the customer's P99 30-day window (their history rolled a day at a time, see engine.scenarios.basis):
thirty days that actually happened, COGS and metered units together. The floor is one figure for the customer:

- per unit of the contracts it would change: the unit their plans are metered in (every contract metered in it gets
  the same price; of several units, the one that earns the most in the heavy month), or a seat when they pay for
  seats only;
- or per month: everything they pay a month whatever the usage (fees and seats across every contract), when
  they pay no metered unit or are billed (Stripe).

Revenue is linear in that one price, so with F = revenue at price 0 and U = revenue per dollar of price:

    margin ≥ target  ⇔  F + p × U ≥ COGS ÷ (1 − target/100)  ⇔  p ≥ (COGS ÷ (1 − target/100) − F) ÷ U

The floor is that p rounded *up* to the price's step (a micro-dollar per request or 1k tokens, a hundredth of a
cent per task, a cent per seat or month), so it always meets the target. Beside it: today's price (the contracts'
own, or what today's terms earn per unit in the heavy month, the month the floor is solved on) and today's margin
in the P50 (typical) and the P99 (heavy) month; a month of every day like the P99 day is kept as a labelled stress
case, never as the month the floor is solved on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from engine.money import CENT, HUNDRED, ONE, ZERO, ceil_to, round_to, usd_text
from engine.periods import Period
from engine.reports.figures import Thresholds, margin_pct
from engine.reports.names import resolve_customer
from engine.reports.revenue import Terms
from engine.reports.serialize import cents, micros, pct
from engine.scenarios.basis import (
    WINDOW_DAYS,
    DayUsage,
    History,
    Payer,
    Unpriced,
    Usage,
    Window,
    churned,
    churned_words,
    daily_usage,
    days_text,
    history_of,
    last_contract_end,
    month_revenue,
    percentile_day,
    percentile_window,
    terms_for,
    unpriced_in,
    windows_text,
)
from engine.scenarios.growth import ForecastError
from engine.scenarios.words import FLOOR_UNITS, MONTH, SEAT
from engine.vocab import Plan, Unit

MONTH_DAYS = WINDOW_DAYS  # a month is the 30-day window it was read from
STEP = {
    Unit.REQUEST: Decimal("0.000001"),
    Unit.TOKENS_1K: Decimal("0.000001"),
    Unit.TASK: Decimal("0.0001"),
    SEAT: Decimal("0.01"),
    MONTH: Decimal("0.01"),
}
STRESS_LABEL = "stress case, not the floor's month: 30 days like the P99 day"


class FloorError(ValueError):
    """A floor that cannot be computed as asked; the message says why and what to give instead."""


class NoHistory(FloorError, ForecastError):
    """The customer has no usage in the history a floor or a forecast stands on: nothing to price or forecast. The
    words were right, so it is said in one line, not with how to write them."""


@dataclass(kw_only=True)
class PriceFloor:
    """The floor price in one unit for one customer, with the months it was solved and checked on."""

    key: str
    name: str
    basis: Period
    target_pct: Decimal
    unit: str  # request | task | 1k_tokens | seat | month (everything paid a month whatever the usage)
    plan: str
    terms: list[str]
    hypothetical: bool  # True: a usage plan in `unit` the customer is not on today
    contracts_changed: int  # how many of today's contracts the one price applies to
    current_price: Decimal | None  # today's price in `unit`: the contracts' own, or the effective one
    # True: several prices (or none in this unit): what today's terms earn per unit in the heavy month, the month
    # the floor is solved on
    current_is_effective: bool
    floor_price: Decimal | None  # None: the price cannot reach the target (see note)
    history: History
    p50_window: Window
    p99_window: Window
    p50_day: DayUsage
    p99_day: DayUsage
    p99_cogs: Decimal  # the heavy month's COGS
    p50_cogs: Decimal
    p99_units: Decimal  # revenue per dollar of price in the heavy month (billable units, seats, or 1 a month)
    fixed_revenue: Decimal  # revenue of the heavy month at price 0 (what does not change with this price)
    revenue_needed: Decimal  # what the heavy month must earn to meet the target
    revenue_p50_current: Decimal
    revenue_p99_current: Decimal
    margin_p50_current: Decimal | None
    margin_p99_current: Decimal | None
    margin_p99_floor: Decimal | None
    margin_p50_floor: Decimal | None
    stress_cogs: Decimal
    margin_stress_current: Decimal | None
    margin_stress_floor: Decimal | None
    note: str
    assumptions: list[str]
    unpriced: Unpriced = field(default_factory=Unpriced)  # in `basis`: the months' COGS leave it out


def _kinds(terms: Payer) -> set[str]:
    return {SEAT if c.plan is Plan.SEAT else MONTH if c.plan is Plan.FLAT else c.split_unit for c in terms.contracts}


def _default_unit(terms: Payer, heavy: Window) -> str:
    """The unit their metered contracts charge in (of several, the one that earns the most in the heavy month: the
    contract a renegotiation would change); a seat for seats only; else a month of everything they pay."""
    if terms.billed_per_month is not None or not terms.contracts:
        return MONTH
    earned: dict[str, Decimal] = {}
    for c in terms.contracts:
        if c.is_metered:
            units = heavy.units_of(c.split_unit, c.product) * MONTH_DAYS / heavy.days
            earned[c.split_unit] = earned.get(c.split_unit, ZERO) + c.usage_charge(units, ONE)
    if earned:
        return max(sorted(earned), key=lambda u: earned[u])
    if _kinds(terms) == {SEAT} and any(_changes(c, SEAT) for c in terms.contracts):
        return SEAT
    return MONTH


def _changes(c: Terms, unit: str) -> bool:
    """Whether the price in `unit` is one of contract `c`'s prices."""
    if unit == SEAT:
        # A plan with seats but none of them: a seat price would move nothing (no floor to solve for).
        return c.plan.has_seats and c.seats > 0
    if unit == MONTH:
        return True
    return c.is_metered and c.split_unit == unit


def _priced(terms: Payer, unit: str, price: Decimal, key: str, basis: Period) -> Payer:
    """`terms` with `price` put in `unit`: the unit price of the contracts metered in it, the seat price, or (a
    month) everything fixed replaced by one monthly amount, usage charges kept; for a billed customer the bill
    alone (their revenue today is the bill, not the contracts on file: basis.month_revenue)."""
    if unit == MONTH and terms.billed_per_month is not None:
        return Payer(contracts=[_monthly(key, price, basis)])
    if unit == MONTH:
        kept = [replace(c, platform_fee_usd=ZERO, seat_price_usd=ZERO) for c in terms.contracts if c.is_metered]
        return Payer(contracts=[*kept, _monthly(key, price, basis)])
    if unit == SEAT:
        return Payer(contracts=[replace(c, seat_price_usd=price) if _changes(c, unit) else c for c in terms.contracts])
    return Payer(contracts=[replace(c, unit_price_usd=price) if _changes(c, unit) else c for c in terms.contracts])


def _monthly(key: str, price: Decimal, basis: Period) -> Terms:
    return Terms(customer=key, product="", plan=Plan.FLAT, start=basis.start, end=None, platform_fee_usd=price)


def _hypothetical(key: str, unit: str, price: Decimal, basis: Period) -> Payer:
    return Payer(contracts=[Terms(customer=key, product="", plan=Plan.USAGE, start=basis.start, end=None,
                                  unit=Unit(unit), unit_price_usd=price)])  # fmt: skip


def _contract_price(terms: Payer, unit: str) -> Decimal | None:
    """Today's price in `unit`: what they pay a month whatever the usage (a month), or the one price today's
    contracts agree on (None when they differ, or there is none)."""
    if unit == MONTH:
        if terms.billed_per_month is not None:
            return terms.billed_per_month
        return sum((c.fixed_charge(ONE) for c in terms.contracts), ZERO)
    seen = {c.seat_price_usd if unit == SEAT else c.unit_price_usd for c in terms.contracts if _changes(c, unit)}
    return seen.pop() if len(seen) == 1 else None


def price_floor(
    conn: Connection,
    ref: str,
    basis: Period,
    *,
    thresholds: Thresholds,
    target_pct: Decimal | None = None,
    unit: str | None = None,
) -> PriceFloor:
    """The lowest price in `unit` (default: the unit their contracts share, else per month) that keeps the margin at
    `target_pct` (default MARGINBOT_HEALTHY_PCT) in the customer's P99 month of history (`basis`)."""
    target = thresholds.healthy_pct if target_pct is None else target_pct
    # is_finite first: Decimal reads "nan" and "snan", and comparing either raises InvalidOperation.
    if not target.is_finite() or not ZERO <= target < HUNDRED:
        raise FloorError(f"the target margin must be at least 0% and below 100%, got {target}%")
    if unit is not None and unit not in FLOOR_UNITS:
        raise FloorError(f"the unit must be one of {', '.join(FLOOR_UNITS)}, got {unit!r}")
    key, name = resolve_customer(conn, ref)
    days = daily_usage(conn, basis, key).get(key)
    if not days:
        raise NoHistory(f"{name} has no usage in {basis.title} ({basis.start} to {basis.end}); no month to price")
    history = history_of(days)
    p50, p99 = percentile_window(days, 0.5), percentile_window(days, 0.99)
    p50_day, p99_day = percentile_day(days, 0.5), percentile_day(days, 0.99)
    today = terms_for(conn, basis, [key])[key]
    # A customer who has left has no month ahead to price: its old heavy month would set a floor for nobody.
    if churned(conn, basis, {key: days}, {key: today}, [key]):
        ended = last_contract_end(conn, basis, key)
        example = f", e.g. {ended:%Y-%m}" if ended else ""
        raise NoHistory(
            f"{churned_words(name, days, ended, basis)}; no month to price (ask for a period it was a customer "
            f"in{example})"
        )
    own = unit or _default_unit(today, p99)
    billed = today.billed_per_month is not None
    # A billed customer pays the bill, not the contracts on file: a unit price is a usage plan replacing the bill.
    hypothetical = own not in (SEAT, MONTH) and (billed or not any(_changes(c, own) for c in today.contracts))
    if own == SEAT and (billed or not any(_changes(c, SEAT) for c in today.contracts)):
        why = "is billed (Stripe), not per seat" if billed else "pays for no seats"
        raise FloorError(f"{name} {why}; price it per month, or per request, task or 1k_tokens")
    if own not in (SEAT, MONTH) and not _units_in(today, own, p99, hypothetical):
        others = [str(u) for u in Unit if p99.units_of(u) > 0]
        instead = f"per {', '.join(others)} or per {MONTH}" if others else f"per {MONTH}"
        raise FloorError(
            f"{name} has no {UNIT_NOUN[Unit(own)]} in the heavy month ({p99.start} to {p99.end}), so a price per "
            f"{own} earns nothing there; price it {instead}"
        )

    def model(price: Decimal) -> Payer:
        return _hypothetical(key, own, price, basis) if hypothetical else _priced(today, own, price, key, basis)

    def revenue(terms: Payer, usage: Usage, days_of: int) -> Decimal:
        return month_revenue(terms, usage, Decimal(MONTH_DAYS) / days_of)

    def at(price: Decimal, usage: Usage, days_of: int) -> Decimal:
        return revenue(model(price), usage, days_of)

    cogs99 = p99.cogs * MONTH_DAYS / p99.days
    cogs50 = p50.cogs * MONTH_DAYS / p50.days
    stress = p99_day.cogs * MONTH_DAYS
    fixed = at(ZERO, p99, p99.days)
    per_dollar = at(ONE, p99, p99.days) - fixed
    needed = cogs99 / (ONE - target / HUNDRED)
    now50, now99 = revenue(today, p50, p50.days), revenue(today, p99, p99.days)
    now_stress = revenue(today, p99_day, 1)
    current = None if hypothetical else _contract_price(today, own)
    effective = current is None
    if current is None and per_dollar > 0:
        # What they pay in this unit today in the heavy month, the month the floor is solved on (a typical month's
        # would set a price from other units beside a floor from these): today's revenue less what does not depend
        # on the price, per unit of it.
        current = max(ZERO, now99 - fixed) / per_dollar
    floor: Decimal | None
    notes: list[str] = []
    if per_dollar <= 0:
        floor = None
        notes.append(
            f"in the heavy month every unit falls within the included units, so the {own} price does not move "
            f"revenue; what is paid whatever the usage must reach {usd_text(ceil_to(needed, CENT))} a month"
        )
    else:
        floor = ceil_to(max(ZERO, (needed - fixed) / per_dollar), STEP[own])
        if floor == 0:
            notes.append("what does not depend on this price alone keeps the margin at the target in the heavy month")
    changed = 0 if hypothetical else sum(1 for c in today.contracts if _changes(c, own))
    notes += _explain(name, today, own, changed, unit is None)

    def margin(terms_price: Decimal | None, usage: Usage, days_of: int, cogs: Decimal) -> Decimal | None:
        return None if terms_price is None else margin_pct(at(terms_price, usage, days_of), cogs)

    return PriceFloor(
        key=key,
        name=name,
        basis=basis,
        target_pct=target,
        unit=own,
        plan=Plan.USAGE if hypothetical else today.plan,
        terms=today.describe() if not hypothetical else [f"usage: per {own} (hypothetical)"],
        hypothetical=hypothetical,
        contracts_changed=changed,
        current_price=current,
        current_is_effective=effective,
        floor_price=floor,
        history=history,
        p50_window=p50,
        p99_window=p99,
        p50_day=p50_day,
        p99_day=p99_day,
        p99_cogs=cogs99,
        p50_cogs=cogs50,
        p99_units=per_dollar,
        fixed_revenue=fixed,
        revenue_needed=needed,
        revenue_p50_current=now50,
        revenue_p99_current=now99,
        margin_p50_current=margin_pct(now50, cogs50),
        margin_p99_current=margin_pct(now99, cogs99),
        margin_p99_floor=margin(floor, p99, p99.days, cogs99),
        margin_p50_floor=margin(floor, p50, p50.days, cogs50),
        stress_cogs=stress,
        margin_stress_current=margin_pct(now_stress, stress),
        margin_stress_floor=margin(floor, p99_day, 1, stress),
        note="; ".join(notes),
        assumptions=_assumptions(name, basis, history, p50, p99, p99_day, target, thresholds, own),
        unpriced=unpriced_in(conn, basis, [key]),
    )


UNIT_NOUN = {Unit.REQUEST: "requests", Unit.TASK: "tasks", Unit.TOKENS_1K: "tokens"}


def _units_in(today: Payer, unit: str, heavy: Window, hypothetical: bool) -> bool:
    """Whether the heavy month has any of `unit` where the price in it would count them (every product for a
    usage plan they are not on, else the products of the contracts metered in it)."""
    if hypothetical:
        return heavy.units_of(Unit(unit)) > 0
    return any(heavy.units_of(Unit(unit), c.product) > 0 for c in today.contracts if _changes(c, unit))


def _explain(name: str, today: Payer, unit: str, changed: int, chosen: bool) -> list[str]:
    """Which of today's prices the one figure replaces, in words."""
    if today.billed_per_month is not None and unit == MONTH:
        return [f"{name} is billed (Stripe): the floor is what the bill must come to a month"]
    if today.billed_per_month is not None:
        return [f"{name} is billed (Stripe): a price per {unit} is a usage plan in place of the bill"]
    if unit == MONTH and len(today.contracts) > 1:
        return [
            f"one figure for {name}: everything paid a month whatever the usage, across its {len(today.contracts)} "
            "contracts (fees and seats; usage charges stay as they are); how it is split between them is a choice"
        ]
    out = []
    if unit != MONTH and changed > 1:
        out.append(f"one price per {unit} for the {changed} contracts that charge per {unit}")
    others = [c for c in today.contracts if not _changes(c, unit)]
    if unit != MONTH and changed and others:
        metered = chosen and any(c.is_metered for c in others)
        why = " (the contract that earns the most in the heavy month)" if metered else ""
        rest = (
            f"other {len(others)} contracts keep their terms" if len(others) > 1 else "other contract keeps its terms"
        )
        out.append(f"priced per {unit}{why}; {name}'s {rest}")
    return out


def _assumptions(
    name: str,
    basis: Period,
    history: History,
    p50: Window,
    p99: Window,
    p99_day: DayUsage,
    target: Decimal,
    thresholds: Thresholds,
    unit: str,
) -> list[str]:
    out = [
        f"history: {basis.title} ({basis.start} to {basis.end}), {days_text(history.days)} of {name}'s own usage "
        f"as {windows_text(history)}: the heavy (P99) month is {p99.start} to {p99.end} "
        f"(COGS {usd_text(p99.cogs)}), the typical (P50) one {p50.start} to {p50.end} (COGS {usd_text(p50.cogs)})",
        f"the floor is solved on the heavy month; monthly fees counted once; target margin {target}% (breach below "
        f"{thresholds.breach_pct}%); rounded up to ${STEP[unit]} so it always meets the target",
        f"{STRESS_LABEL} ({p99_day.day}, COGS {usd_text(p99_day.cogs)} a day): a bound, not a month that happened",
    ]
    if note := history.note():
        out.append(note)
    return out


def floor_to_dict(f: PriceFloor) -> dict[str, Any]:
    """The `--json` shape (the blocks read it too). Prices keep their step's precision, as strings (a contract's
    own unit price every decimal it was written with, when that is finer)."""

    def price(value: Decimal | None, *, as_written: bool = False) -> str | None:
        if value is None:
            return None
        if value < 0:
            return f"{value}"
        stepped = round_to(value, STEP[f.unit])
        # A contract's own unit price is a term, not a figure marginbot worked out: it is shown with every decimal
        # it was written with (as unit_price_text shows terms), where the step would round it to another price.
        return f"{value.normalize():f}" if as_written and stepped != value else f"{stepped}"

    # A seat price is a term like a unit price (the blocks show it to the cent or every decimal it has); a month's
    # is a sum of fees, not one written price.
    written = not f.current_is_effective and f.unit != MONTH

    return {
        "customer": f.key,
        "name": f.name,
        "basis": f.basis.as_dict(),
        "target_pct": pct(f.target_pct),
        "unit": f.unit,
        "plan": f.plan,
        "terms": f.terms,
        "hypothetical": f.hypothetical,
        "contracts_changed": f.contracts_changed,
        "current_price_usd": price(f.current_price, as_written=written),
        "current_price_is_effective": f.current_is_effective,
        "floor_price_usd": price(f.floor_price),
        "history_days": f.history.days,
        "windows": f.history.windows,
        "short_history": f.history.short,
        "history_note": f.history.note(),
        "p50_window": f.p50_window.as_dict(),
        "p99_window": f.p99_window.as_dict(),
        "p50_day": f.p50_day.as_dict(),
        "p99_day": f.p99_day.as_dict(),
        "p99_month_cogs_usd": cents(f.p99_cogs),
        "p50_month_cogs_usd": cents(f.p50_cogs),
        "p99_month_billable": micros(f.p99_units),
        "p99_month_fixed_revenue_usd": cents(f.fixed_revenue),
        # Up to the cent, as a floor per month is: the least revenue in whole cents that meets the target (half-up
        # read $53.33 beside a floor of $53.34 a month, two figures for one floor).
        "revenue_needed_per_month_usd": cents(ceil_to(f.revenue_needed, CENT)),
        "revenue_p50_month_current_usd": cents(f.revenue_p50_current),
        "revenue_p99_month_current_usd": cents(f.revenue_p99_current),
        "margin_p50_at_current_pct": pct(f.margin_p50_current),
        "margin_p99_at_current_pct": pct(f.margin_p99_current),
        "margin_p99_at_floor_pct": pct(f.margin_p99_floor),
        "margin_p50_at_floor_pct": pct(f.margin_p50_floor),
        "stress": {
            "label": STRESS_LABEL,
            "cogs_usd": cents(f.stress_cogs),
            "margin_at_current_pct": pct(f.margin_stress_current),
            "margin_at_floor_pct": pct(f.margin_stress_floor),
        },
        "note": f.note or None,
        "assumptions": f.assumptions,
        **f.unpriced.as_dict(),
    }
