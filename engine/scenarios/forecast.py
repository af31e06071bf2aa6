"""Forecasts: margin month by month at a customer's typical (P50) and heavy (P99) day, as usage grows.

The basis is a window of the customer's own days (default the last 30 complete days, from their first
usage on). Days are ranked by COGS; the P50 and P99 days (nearest rank, as engine.reports.margin takes them) carry
their COGS and their metered units together, so revenue and cost of a forecast month share one real day:

    month k COGS    = day COGS × days in month × growth(k)
    month k revenue = contract terms for one whole month (`compute_line`) on day units × days × growth(k)

Growth is `N%` a month (compounding: (1 + N/100)^k) or `Nx` over the horizon (N^(k/M), so month M is N times
today). Contracts in force on the last day of the basis continue; billed revenue (Stripe) is held flat at its
monthly rate. The breach month is the first forecast month whose margin is below MARGINBOT_BREACH_PCT.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, text

from engine.periods import Period, month
from engine.reports.figures import Figures, Thresholds
from engine.reports.names import resolve_customer
from engine.reports.revenue import Terms as ContractTerms
from engine.reports.revenue import billed_lines, compute_line, contracts_in, describe_terms, month_fraction
from engine.reports.serialize import cents, micros, pct
from engine.scenarios.words import DEFAULT_MONTHS
from engine.store.models import NANO
from engine.store.sql import COST_SUM
from engine.timeutil import as_date

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
MAX_MONTHS = 36
UNITS = ("request", "1k_tokens", "task")
_GROWTH = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*(%|x)$|^x\s*(\d+(?:\.\d+)?)$")


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
    if multiple <= 0 or multiple > 10_000:
        raise ForecastError("growth: the multiple must be more than 0 and at most 10000")
    return Growth(multiple=multiple)


# ---------------------------------------------------------------- daily usage


@dataclass
class DayUsage:
    """One day of one customer: its COGS (nano-USD) and its metered units per product."""

    day: date
    cogs_nano: int = 0
    units: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # product → unit → amount

    def units_of(self, unit: str, product: str = "") -> Decimal:
        return sum((u.get(unit, ZERO) for p, u in self.units.items() if not product or p == product), ZERO)


def daily_usage(conn: Connection, period: Period, customer: str | None = None) -> dict[str, list[DayUsage]]:
    """Per customer, every day of `period` from their first day with usage on (quiet days count as zero)."""
    params: dict[str, object] = {"a": period.start, "b": period.end}
    where = "day BETWEEN :a AND :b" + (" AND customer = :c" if customer is not None else "")
    if customer is not None:
        params["c"] = customer
    days: dict[str, dict[date, DayUsage]] = defaultdict(dict)
    rows = conn.execute(
        text(
            f"SELECT customer, day, product, {COST_SUM}, requests, "
            f"input_tokens + output_tokens FROM daily_customer_product WHERE {where}"
        ),
        params,
    )
    for cust, day, product, cost, req, tok in rows:
        d = as_date(day)
        usage = days[cust].setdefault(d, DayUsage(d))
        usage.cogs_nano += int(cost or 0)
        units = usage.units.setdefault(product, dict.fromkeys(UNITS, ZERO))
        units["request"] += int(req or 0)
        units["1k_tokens"] += Decimal(int(tok or 0)) / 1000
    for cust, day, product, n in conn.execute(
        text(f"SELECT customer, day, product, COUNT(*) FROM task_rollup WHERE {where} GROUP BY customer, day, product"),
        params,
    ):
        d = as_date(day)
        usage = days[cust].setdefault(d, DayUsage(d))
        usage.units.setdefault(product, dict.fromkeys(UNITS, ZERO))["task"] += int(n)
    out: dict[str, list[DayUsage]] = {}
    for cust, by_day in days.items():
        first = min(by_day)
        out[cust] = [by_day.get(d, DayUsage(d)) for d in _days(first, period.end)]
    return out


def percentile_day(days: list[DayUsage], q: float) -> DayUsage:
    """The day at quantile q by COGS (nearest rank, ties broken by date), ranked as engine.reports.margin ranks."""
    ranked = sorted(days, key=lambda d: (d.cogs_nano, d.day))
    rank = max(1, math.ceil(q * len(ranked)))
    return ranked[min(rank, len(ranked)) - 1]


# ---------------------------------------------------------------- a month at one day's usage


@dataclass
class Payer:
    """What pays for a customer's usage going forward: contracts in force, or billed revenue held flat."""

    contracts: list[ContractTerms]
    billed_per_month: Decimal | None = None

    def describe(self) -> list[str]:
        if self.billed_per_month is not None:
            return [f"billed ${self.billed_per_month:,.2f} a month (held flat)"]
        return [describe_terms(c) + (f" ({c.product})" if c.product else "") for c in self.contracts]

    @property
    def plan(self) -> str:
        if self.billed_per_month is not None:
            return "billed"
        plans = sorted({c.plan for c in self.contracts})
        return "+".join(plans) if plans else "none"


def month_revenue(terms: Payer, day: DayUsage, days: int, factor: Decimal, *, months: Decimal = ONE) -> Decimal:
    """Revenue of `days` days of usage like `day` × factor, under `terms` for `months` months of fees."""
    if terms.billed_per_month is not None:
        return terms.billed_per_month * months
    total = ZERO
    for c in terms.contracts:
        units = day.units_of(c.unit, c.product) * days * factor if c.plan in ("usage", "hybrid") else ZERO
        total += compute_line(c, days, months, units).total
    return total


def month_figures(
    terms: Payer, day: DayUsage, days: int, factor: Decimal, thresholds: Thresholds, *, months: Decimal = ONE
) -> Figures:
    cogs = Decimal(day.cogs_nano) / NANO * days * factor
    return Figures(month_revenue(terms, day, days, factor, months=months), cogs, thresholds=thresholds)


def terms_for(conn: Connection, basis: Period, customers: list[str] | None) -> dict[str, Payer]:
    """Contracts in force on the basis' last day, or billed revenue over the basis as a monthly rate."""
    last = Period(basis.end, basis.end, basis.end.isoformat())
    out: dict[str, Payer] = defaultdict(lambda: Payer([]))
    for c in contracts_in(conn, last, customers):
        out[c.customer].contracts.append(c)
    months = month_fraction(basis.start, basis.end)
    for line in billed_lines(conn, basis, customers):
        t = out[line.customer]
        t.billed_per_month = (t.billed_per_month or ZERO) + line.total / months
    return out


# ---------------------------------------------------------------- forecasts


@dataclass
class MonthForecast:
    label: str  # YYYY-MM
    days: int
    factor: Decimal
    p50: Figures
    p99: Figures


@dataclass
class CustomerForecast:
    key: str
    name: str
    plan: str
    terms: list[str]
    basis_days: int
    basis_cogs: Decimal  # COGS over the customer's days in the basis: ranks customers within a plan
    p50_day: DayUsage
    p99_day: DayUsage
    months: list[MonthForecast]
    observed_growth: Decimal | None  # requests, last basis vs the one before, as a monthly rate

    @property
    def breach_p50(self) -> str | None:
        return next((m.label for m in self.months if m.p50.status == "breach"), None)

    @property
    def breach_p99(self) -> str | None:
        return next((m.label for m in self.months if m.p99.status == "breach"), None)


@dataclass
class PlanForecast:
    """A new customer of this plan, forecast as the plan's P50 and P99 customer (by COGS in the basis)."""

    plan: str
    customers: int
    p50_customer: CustomerForecast
    p99_customer: CustomerForecast


@dataclass
class Forecast:
    kind: str  # customer | portfolio
    key: str
    name: str
    basis: Period
    growth: Growth
    months: int
    customers: list[CustomerForecast]
    total: list[MonthForecast]
    plans: list[PlanForecast]
    assumptions: list[str]


def forecast(
    conn: Connection,
    subject: str | None,
    basis: Period,
    *,
    growth: Growth,
    months: int = DEFAULT_MONTHS,
    thresholds: Thresholds,
) -> Forecast:
    """Forecast one customer (id, name or alias) or, with subject None, every customer and the portfolio."""
    if not 1 <= months <= MAX_MONTHS:
        raise ForecastError(f"months must be between 1 and {MAX_MONTHS}")
    if subject is not None:
        key, name = resolve_customer(conn, subject)
        names = {key: name}
        wanted: list[str] | None = [key]
    else:
        names = dict(conn.execute(text("SELECT id, name FROM customer")).all())
        wanted = None
    usage = daily_usage(conn, basis, wanted[0] if wanted else None)
    terms = terms_for(conn, basis, wanted)
    keys = wanted or sorted(set(usage) | {c for c, t in terms.items() if t.contracts or t.billed_per_month})
    observed = _observed_growth(conn, basis, wanted)
    calendar = _future_months(basis.end, months)
    results = []
    for key in keys:
        days = usage.get(key) or [DayUsage(basis.end)]
        p50, p99 = percentile_day(days, 0.5), percentile_day(days, 0.99)
        t = terms[key]
        rows = [
            MonthForecast(
                m.label,
                m.days,
                growth.factor(k, months),
                month_figures(t, p50, m.days, growth.factor(k, months), thresholds),
                month_figures(t, p99, m.days, growth.factor(k, months), thresholds),
            )
            for k, m in enumerate(calendar, start=1)
        ]
        results.append(
            CustomerForecast(
                key,
                names.get(key, key),
                t.plan,
                t.describe(),
                len(days),
                Decimal(sum(d.cogs_nano for d in days)) / NANO,
                p50,
                p99,
                rows,
                observed.get(key),
            )
        )
    total = [
        MonthForecast(
            m.label,
            m.days,
            growth.factor(k, months),
            _sum([c.months[k - 1].p50 for c in results], thresholds),
            _sum([c.months[k - 1].p99 for c in results], thresholds),
        )
        for k, m in enumerate(calendar, start=1)
    ]
    assumptions = [
        f"basis: {basis.label} ({basis.start} to {basis.end}); each customer's days from their first "
        "usage on, ranked by COGS: P50 = a typical day, P99 = the heavy tail of their own days",
        f"growth: {growth.describe(months)}",
        "a forecast month = every day like the P50 (or P99) day × growth; revenue from the contracts in "
        f"force on {basis.end} for a whole month (billed revenue held flat); "
        f"breach = margin below {thresholds.breach_pct}%",
    ]
    if subject is not None:
        c = results[0]
        if c.observed_growth is not None:
            assumptions.append(
                f"observed: requests a day {_signed(c.observed_growth * HUNDRED)}% against the window before "
                "the basis (pass --growth to project a rate)"
            )
        return Forecast("customer", c.key, c.name, basis, growth, months, results, c.months, [], assumptions)
    assumptions.append(
        "portfolio P99 = every customer at their own P99 day at once (a stress bound); a new customer "
        "of a plan is forecast as that plan's P50 and P99 customer by COGS, on their terms"
    )
    results.sort(key=lambda c: (c.breach_p99 is None, c.breach_p99 or "", c.breach_p50 is None, c.key))
    return Forecast(
        "portfolio",
        "portfolio",
        "Portfolio",
        basis,
        growth,
        months,
        results,
        total,
        _plans(results),
        assumptions,
    )


def _plans(results: list[CustomerForecast]) -> list[PlanForecast]:
    by_plan: dict[str, list[CustomerForecast]] = defaultdict(list)
    for c in results:
        if c.basis_cogs or c.plan != "none":
            by_plan[c.plan].append(c)
    out = []
    for plan, members in sorted(by_plan.items()):
        ranked = sorted(members, key=lambda c: (c.basis_cogs, c.key))

        def at(q: float, ranked: list[CustomerForecast] = ranked) -> CustomerForecast:
            return ranked[min(len(ranked), max(1, math.ceil(q * len(ranked)))) - 1]

        out.append(PlanForecast(plan, len(members), at(0.5), at(0.99)))
    return out


def _sum(figures: list[Figures], thresholds: Thresholds) -> Figures:
    return Figures(sum((f.revenue for f in figures), ZERO), sum((f.cogs for f in figures), ZERO), thresholds=thresholds)


@dataclass
class _Month:
    label: str
    days: int


def _future_months(after: date, count: int) -> list[_Month]:
    """The `count` calendar months after the one `after` falls in."""
    out = []
    y, m = after.year, after.month
    for _ in range(count):
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        p = month(y, m)
        out.append(_Month(p.label, p.days))
    return out


def _observed_growth(conn: Connection, basis: Period, customers: list[str] | None) -> dict[str, Decimal]:
    """Requests a day in the basis over requests a day in the window before, minus one (where both exist)."""
    prev = basis.previous()
    sql = (
        "SELECT customer, SUM(CASE WHEN day >= :a THEN requests ELSE 0 END), "
        "SUM(CASE WHEN day < :a THEN requests ELSE 0 END) FROM daily_customer_product "
        "WHERE day BETWEEN :pa AND :b"
    )
    params: dict[str, object] = {"a": basis.start, "b": basis.end, "pa": prev.start}
    if customers is not None and len(customers) == 1:
        sql += " AND customer = :c"
        params["c"] = customers[0]
    out = {}
    for cust, now, before in conn.execute(text(sql + " GROUP BY customer"), params):
        if before:
            out[cust] = (Decimal(int(now or 0)) / basis.days) / (Decimal(int(before)) / prev.days) - 1
    return out


def _signed(value: Decimal) -> str:
    q = value.quantize(Decimal("0.1"))
    return f"{'+' if q > 0 else ''}{q}"


def _days(a: date, b: date) -> list[date]:
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


# ---------------------------------------------------------------- the `--json` shape (the blocks read it too)


def _month_dict(m: MonthForecast) -> dict[str, Any]:
    def fig(f: Figures) -> dict[str, Any]:
        return {
            "revenue_usd": cents(f.revenue),
            "cogs_usd": cents(f.cogs),
            "gross_margin_pct": pct(f.margin_pct),
            "status": f.status,
        }

    return {
        "month": m.label,
        "days": m.days,
        "usage_factor": micros(m.factor),
        "p50": fig(m.p50),
        "p99": fig(m.p99),
    }


def day_dict(d: DayUsage) -> dict[str, Any]:
    return {"day": d.day.isoformat(), "cogs_usd": micros(Decimal(d.cogs_nano) / NANO)}


def customer_forecast_dict(c: CustomerForecast) -> dict[str, Any]:
    return {
        "customer": c.key,
        "name": c.name,
        "plan": c.plan,
        "terms": c.terms,
        "basis_days": c.basis_days,
        "basis_cogs_usd": cents(c.basis_cogs),
        "p50_day": day_dict(c.p50_day),
        "p99_day": day_dict(c.p99_day),
        "observed_growth_pct": pct(c.observed_growth * HUNDRED) if c.observed_growth is not None else None,
        "breach_month_p50": c.breach_p50,
        "breach_month_p99": c.breach_p99,
        "forecast": [_month_dict(m) for m in c.months],
    }


def forecast_to_dict(f: Forecast) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": f.kind,
        f.kind: f.key,
        "name": f.name,
        "basis": {"label": f.basis.label, "start": f.basis.start.isoformat(), "end": f.basis.end.isoformat()},
        "growth": f.growth.describe(f.months),
        "months": f.months,
        "total": [_month_dict(m) for m in f.total],
        "assumptions": f.assumptions,
    }
    if f.kind == "customer":
        out.update({k: v for k, v in customer_forecast_dict(f.customers[0]).items() if k not in ("customer", "name")})
        out.pop("months")
        out["months"] = f.months
        out["forecast"] = [_month_dict(m) for m in f.customers[0].months]
        del out["total"]
        return out
    out["customers"] = [customer_forecast_dict(c) for c in f.customers]
    out["plans"] = [
        {
            "plan": p.plan,
            "customers": p.customers,
            "p50_customer": p.p50_customer.key,
            "p99_customer": p.p99_customer.key,
            "new_customer_like_p50": [_month_dict(m) for m in p.p50_customer.months],
            "new_customer_like_p99": [_month_dict(m) for m in p.p99_customer.months],
            "breach_month_like_p50": p.p50_customer.breach_p50,
            "breach_month_like_p99": p.p99_customer.breach_p99,
        }
        for p in f.plans
    ]
    return out
