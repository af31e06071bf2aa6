"""Contracts → revenue for a period, accrued day by day, or billed revenue (Stripe) where we have it.

Monthly fees and included units accrue per day (fee / days in that month), so a calendar month gets exactly the
monthly fee and a trailing window a fair share. Units count the contract's product only (all products when the
contract names none): `request` = requests, `1k_tokens` = (input + output tokens) / 1000, `task` = distinct
task ids started in the period.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import Connection, bindparam, text

from engine.money import ZERO, usd_text
from engine.periods import Period
from engine.timeutil import as_date


@dataclass
class RevenueLine:
    """Revenue of one contract (or one billed line) in a period, with the terms that produced it."""

    customer: str
    product: str  # '' = every product
    plan: str
    source: str  # contract | stripe
    total: Decimal = ZERO
    seats: Decimal = ZERO
    platform: Decimal = ZERO
    usage: Decimal = ZERO
    units: Decimal = ZERO
    included_units: Decimal = ZERO
    unit: str = ""
    active_days: int = 0
    by_product: dict[str, Decimal] = field(default_factory=dict)  # the split used for product margins
    terms: str = ""

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
            "unit": self.unit or None,
            "active_days": self.active_days,
        }


@dataclass(frozen=True)
class Terms:
    """A contract's terms as revenue needs them (a plain value: the portfolio builds thousands of these)."""

    customer: str
    product: str
    plan: str
    start: date
    end: date | None
    seats: int = 0
    seat_price_usd: Decimal = ZERO
    platform_fee_usd: Decimal = ZERO
    included_units: Decimal = ZERO
    unit: str = ""
    unit_price_usd: Decimal = ZERO


UsageTotals = dict[str, dict[str, tuple[int, int]]]  # customer → product → (requests, input + output tokens)


def usage_totals(conn: Connection, start: date, end: date, customer: str | None = None) -> UsageTotals:
    """Requests and tokens per customer and product over [start, end], from the daily rollup."""
    sql = (
        "SELECT customer, product, SUM(requests), SUM(input_tokens + output_tokens) "
        "FROM daily_customer_product WHERE day BETWEEN :a AND :b"
    )
    params: dict[str, object] = {"a": start, "b": end}
    if customer is not None:
        sql += " AND customer = :c"
        params["c"] = customer
    totals: UsageTotals = defaultdict(dict)
    for cust, prod, req, tok in conn.execute(text(sql + " GROUP BY customer, product"), params):
        totals[cust][prod] = (int(req or 0), int(tok or 0))
    return totals


@lru_cache(maxsize=4096)  # most contracts share the period's span; the portfolio asks thousands of times
def month_fraction(start: date, end: date) -> Decimal:
    """How many months [start, end] covers, each day counting 1/(days in its month)."""
    total = ZERO
    day = start
    while day <= end:
        last = calendar.monthrange(day.year, day.month)[1]
        month_end = date(day.year, day.month, last)
        stop = min(end, month_end)
        total += Decimal((stop - day).days + 1) / Decimal(last)
        day = stop + timedelta(days=1)
    return total


def active_span(contract: Terms, period: Period) -> tuple[date, date] | None:
    """The days of `period` on which `contract` is in force, or None."""
    start = max(contract.start, period.start)
    end = min(contract.end or period.end, period.end)
    return (start, end) if start <= end else None


@lru_cache(maxsize=8192)  # the same contracts are described for every period the portfolio looks at
def describe_terms(c: Terms) -> str:
    parts: list[str] = []
    if c.seats and c.seat_price_usd:
        parts.append(f"{c.seats} seats × {usd_text(c.seat_price_usd)}/mo")
    if c.platform_fee_usd:
        parts.append(f"{usd_text(c.platform_fee_usd)}/mo platform fee")
    if c.plan in ("usage", "hybrid"):
        unit = {"1k_tokens": "1k tokens"}.get(c.unit, c.unit)
        incl = f" over {c.included_units:,} included/mo" if c.plan == "hybrid" and c.included_units else ""
        parts.append(f"${c.unit_price_usd}/{unit}{incl}")
    return f"{c.plan}: " + (", ".join(parts) if parts else "no charges")


def compute_line(c: Terms, active_days: int, months: Decimal, units: Decimal) -> RevenueLine:
    """Revenue of one contract from its terms, the months it was active and the units it metered."""
    line = RevenueLine(
        customer=c.customer,
        product=c.product,
        plan=c.plan,
        source="contract",
        unit=c.unit,
        active_days=active_days,
        terms=describe_terms(c),
    )
    line.platform = c.platform_fee_usd * months
    line.seats = Decimal(c.seats) * c.seat_price_usd * months if c.plan in ("seat", "hybrid") else ZERO
    if c.plan == "seat":
        line.platform = ZERO
    if c.plan == "flat":
        line.seats = ZERO
    if c.plan in ("usage", "hybrid"):
        line.units = units
        if c.plan == "hybrid":
            line.included_units = c.included_units * months
            line.usage = max(ZERO, units - line.included_units) * c.unit_price_usd
        else:
            line.usage = units * c.unit_price_usd
    line.total = line.seats + line.platform + line.usage
    return line


class _Units:
    """Usage counts per (customer, product) over a day range, fetched in as few queries as possible."""

    def __init__(
        self, conn: Connection, period: Period, customers: list[str] | None, totals: UsageTotals | None
    ) -> None:
        self.conn = conn
        self.period = period
        self._params: dict[str, object] = {"a": period.start, "b": period.end}
        single = customers[0] if customers is not None and len(customers) == 1 else None
        if single is not None:
            self._params["c"] = single
        if totals is None:
            totals = usage_totals(conn, period.start, period.end, single) if customers != [] else {}
        self._full = totals
        self._tasks: dict[str, dict[str, int]] = {}

    def prefetch_tasks(self, customers: set[str]) -> None:
        """Tasks started in the whole period for these customers, in one statement (one per customer is slow)."""
        if not customers:
            return
        sql = text(
            "SELECT customer, product, COUNT(*) FROM task_rollup WHERE customer IN :cs AND day BETWEEN :a AND :b "
            "GROUP BY customer, product"
        ).bindparams(bindparam("cs", expanding=True))
        self._tasks = {c: {} for c in customers}
        params = {"a": self.period.start, "b": self.period.end, "cs": sorted(customers)}
        for cust, prod, n in self.conn.execute(sql, params):
            self._tasks[cust][prod] = int(n)

    def by_product(self, customer: str, product: str, unit: str, a: date, b: date) -> dict[str, Decimal]:
        """Units per product for one customer over [a, b] (product '' = every product)."""
        full_period = (a, b) == (self.period.start, self.period.end)
        if unit == "task" and full_period and customer in self._tasks:
            return {p: Decimal(n) for p, n in self._tasks[customer].items() if not product or p == product}
        if unit == "task":
            # Only task-metered contracts ask; one covering-index range per customer beats scanning every task.
            sql = "SELECT product, COUNT(*) FROM task_rollup WHERE customer = :c AND day BETWEEN :a AND :b"
            params: dict[str, object] = {"c": customer, "a": a, "b": b}
            if product:
                sql += " AND product = :p"
                params["p"] = product
            rows = self.conn.execute(text(sql + " GROUP BY product"), params).all()
            return {p: Decimal(n) for p, n in rows}
        index = 1 if unit == "1k_tokens" else 0
        if full_period:
            pairs = {p: v for p, v in self._full.get(customer, {}).items() if not product or p == product}
        else:
            sql = (
                "SELECT product, SUM(requests), SUM(input_tokens + output_tokens) FROM daily_customer_product "
                "WHERE customer = :c AND day BETWEEN :a AND :b"
            )
            params = {"c": customer, "a": a, "b": b}
            if product:
                sql += " AND product = :p"
                params["p"] = product
            pairs = {
                p: (int(r or 0), int(t or 0)) for p, r, t in self.conn.execute(text(sql + " GROUP BY product"), params)
            }
        scale = Decimal(1000) if unit == "1k_tokens" else Decimal(1)
        return {p: Decimal(v[index]) / scale for p, v in pairs.items()}


def _split(total: Decimal, weights: dict[str, Decimal], fallback: str) -> dict[str, Decimal]:
    weight_sum = sum(weights.values(), ZERO)
    if weight_sum <= 0:
        return {fallback: total}
    return {p: total * w / weight_sum for p, w in weights.items() if w}


def revenue_lines(
    conn: Connection,
    period: Period,
    *,
    customers: Iterable[str] | None = None,
    totals: UsageTotals | None = None,
    contracts: list[Terms] | None = None,
) -> list[RevenueLine]:
    """Every revenue line for `customers` (all when None) in `period`; billed lines replace modelled ones.

    `totals` (from `usage_totals` over exactly `period`) and `contracts` (from `contracts_in` over a range that
    covers `period`) save reads when the caller already has them.
    """
    wanted = list(customers) if customers is not None else None
    if contracts is None:
        contracts = contracts_in(conn, period, wanted)
    elif wanted is not None:
        chosen = set(wanted)
        contracts = [c for c in contracts if c.customer in chosen]
    units = _Units(conn, period, wanted, totals)
    units.prefetch_tasks({c.customer for c in contracts if c.unit == "task" and c.plan in ("usage", "hybrid")})
    lines: list[RevenueLine] = []
    for c in contracts:
        span = active_span(c, period)
        if span is None:
            continue
        a, b = span
        # Seat and flat plans meter nothing; their split across products follows requests.
        unit = c.unit if c.plan in ("usage", "hybrid") else "request"
        per_product = units.by_product(c.customer, c.product, unit, a, b)
        metered = sum(per_product.values(), ZERO) if c.plan in ("usage", "hybrid") else ZERO
        line = compute_line(c, (b - a).days + 1, month_fraction(a, b), metered)
        line.by_product = {c.product: line.total} if c.product else _split(line.total, per_product, "")
        lines.append(line)
    billed = billed_lines(conn, period, wanted)
    if billed:
        billed_customers = {line.customer for line in billed}
        lines = [line for line in lines if line.customer not in billed_customers] + billed
    return lines


def contracts_in(conn: Connection, period: Period, customers: list[str] | None) -> list[Terms]:
    """The contracts of `customers` (all when None) in force on at least one day of `period`."""
    sql = (
        'SELECT id, customer, product, plan, start, "end", seats, seat_price_usd, platform_fee_usd, '
        'included_units, unit, unit_price_usd FROM contract WHERE start <= :b AND ("end" IS NULL OR "end" >= :a)'
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    if customers is not None and len(customers) == 1:
        sql += " AND customer = :c"
        params["c"] = customers[0]
    out: list[Terms] = []
    wanted = set(customers) if customers is not None else None
    money: dict[object, Decimal] = {}  # prices repeat across contracts: convert each distinct value once

    def dec(value: object) -> Decimal:
        found = money.get(value)
        if found is None:
            found = money[value] = Decimal(str(value))
        return found

    rows = conn.execute(text(sql + " ORDER BY customer, product, start"), params)
    for _id, customer, product, plan, start, end, seats, seat_price, fee, included, unit, unit_price in rows:
        if wanted is not None and customer not in wanted:
            continue
        out.append(
            Terms(
                customer=customer,
                product=product,
                plan=plan,
                start=as_date(start),
                end=as_date(end) if end is not None else None,
                seats=seats,
                seat_price_usd=dec(seat_price),
                platform_fee_usd=dec(fee),
                included_units=dec(included),
                unit=unit,
                unit_price_usd=dec(unit_price),
            )
        )
    return out


def billed_lines(conn: Connection, period: Period, customers: list[str] | None) -> list[RevenueLine]:
    """Billed revenue lines (e.g. Stripe) overlapping `period`, prorated by day, merged per customer and product."""
    sql = (
        "SELECT customer, product, period_start, period_end, amount_usd, source FROM revenue_actual "
        "WHERE period_start <= :b AND period_end >= :a"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    if customers is not None and len(customers) == 1:
        sql += " AND customer = :c"
        params["c"] = customers[0]
    merged: dict[tuple[str, str, str], RevenueLine] = {}
    for row in conn.execute(text(sql), params):
        if customers is not None and row.customer not in customers:
            continue
        start, end = as_date(row.period_start), as_date(row.period_end)
        a, b = max(start, period.start), min(end, period.end)
        share = Decimal((b - a).days + 1) / Decimal((end - start).days + 1)
        key = (row.customer, row.product, row.source)
        line = merged.get(key)
        if line is None:
            line = merged[key] = RevenueLine(
                customer=row.customer,
                product=row.product,
                plan="billed",
                source=row.source,
                terms=f"billed in {row.source} (invoice lines, prorated by day)",
            )
        amount = Decimal(str(row.amount_usd)) * share
        line.total += amount
        line.platform += amount
        line.active_days = max(line.active_days, (b - a).days + 1)
    for line in merged.values():
        line.by_product = {line.product: line.total}
    return list(merged.values())


def total_by_customer(lines: Iterable[RevenueLine]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        totals[line.customer] += line.total
    return dict(totals)


def total_by_product(lines: Iterable[RevenueLine]) -> dict[str, Decimal]:
    """Revenue per product; an all-product contract is split by the usage of each product."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        for product, amount in line.by_product.items():
            totals[product] += amount
    return dict(totals)
