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

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, text

from engine.money import HUNDRED, ONE, TENTH, ZERO, round_to, usd
from engine.periods import Period, month
from engine.reports.figures import Figures, Thresholds, pick
from engine.reports.names import resolve_customer
from engine.reports.serialize import cents, figures, micros, pct
from engine.scenarios.basis import DayUsage, daily_usage, month_figures, percentile_day, terms_for
from engine.scenarios.words import DEFAULT_MONTHS
from engine.store.sql import where_equal
from engine.vocab import Status, SubjectKind

MAX_MONTHS = 36
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


# ---------------------------------------------------------------- forecasts


@dataclass(kw_only=True)
class MonthForecast:
    """One forecast month at the P50 and the P99 day."""

    label: str  # YYYY-MM
    days: int
    factor: Decimal
    p50: Figures
    p99: Figures


@dataclass(kw_only=True)
class CustomerForecast:
    """One customer's forecast months, with the days and the terms they stand on."""

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
        return next((m.label for m in self.months if m.p50.status is Status.BREACH), None)

    @property
    def breach_p99(self) -> str | None:
        return next((m.label for m in self.months if m.p99.status is Status.BREACH), None)


@dataclass(kw_only=True)
class PlanForecast:
    """A new customer of this plan, forecast as the plan's P50 and P99 customer (by COGS in the basis)."""

    plan: str
    customers: int
    p50_customer: CustomerForecast
    p99_customer: CustomerForecast


@dataclass(kw_only=True)
class Forecast:
    """A forecast of one customer, or of every customer, the portfolio total and each plan."""

    kind: SubjectKind  # customer | portfolio
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
        days = usage.get(key) or [DayUsage(day=basis.end)]
        p50, p99 = percentile_day(days, 0.5), percentile_day(days, 0.99)
        t = terms[key]
        rows = [
            MonthForecast(
                label=m.label,
                days=m.days,
                factor=growth.factor(k, months),
                p50=month_figures(t, p50, m.days, growth.factor(k, months), thresholds),
                p99=month_figures(t, p99, m.days, growth.factor(k, months), thresholds),
            )
            for k, m in enumerate(calendar, start=1)
        ]
        results.append(
            CustomerForecast(
                key=key,
                name=names.get(key, key),
                plan=t.plan,
                terms=t.describe(),
                basis_days=len(days),
                basis_cogs=usd(sum(d.cogs_nano for d in days)),
                p50_day=p50,
                p99_day=p99,
                months=rows,
                observed_growth=observed.get(key),
            )
        )
    total = [
        MonthForecast(
            label=m.label,
            days=m.days,
            factor=growth.factor(k, months),
            p50=_sum([c.months[k - 1].p50 for c in results], thresholds),
            p99=_sum([c.months[k - 1].p99 for c in results], thresholds),
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
        return Forecast(
            kind=SubjectKind.CUSTOMER,
            key=c.key,
            name=c.name,
            basis=basis,
            growth=growth,
            months=months,
            customers=results,
            total=c.months,
            plans=[],
            assumptions=assumptions,
        )
    assumptions.append(
        "portfolio P99 = every customer at their own P99 day at once (a stress bound); a new customer "
        "of a plan is forecast as that plan's P50 and P99 customer by COGS, on their terms"
    )
    results.sort(key=lambda c: (c.breach_p99 is None, c.breach_p99 or "", c.breach_p50 is None, c.key))
    return Forecast(
        kind=SubjectKind.PORTFOLIO,
        key="portfolio",
        name="Portfolio",
        basis=basis,
        growth=growth,
        months=months,
        customers=results,
        total=total,
        plans=_plans(results),
        assumptions=assumptions,
    )


def _plans(results: list[CustomerForecast]) -> list[PlanForecast]:
    by_plan: dict[str, list[CustomerForecast]] = defaultdict(list)
    for c in results:
        if c.basis_cogs or c.plan != "none":
            by_plan[c.plan].append(c)
    out = []
    for plan, members in sorted(by_plan.items()):
        ranked = sorted(members, key=lambda c: (c.basis_cogs, c.key))
        out.append(
            PlanForecast(
                plan=plan, customers=len(members), p50_customer=pick(ranked, 0.5), p99_customer=pick(ranked, 0.99)
            )
        )
    return out


def _sum(figures: list[Figures], thresholds: Thresholds) -> Figures:
    return Figures(
        revenue=sum((f.revenue for f in figures), ZERO),
        cogs=sum((f.cogs for f in figures), ZERO),
        thresholds=thresholds,
    )


def _future_months(after: date, count: int) -> list[Period]:
    """The `count` calendar months after the one `after` falls in."""
    out = []
    y, m = after.year, after.month
    for _ in range(count):
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append(month(y, m))
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
    sql = where_equal(sql, params, customer=customers[0] if customers is not None and len(customers) == 1 else None)
    out = {}
    for cust, now, before in conn.execute(text(sql + " GROUP BY customer"), params):
        if before:
            out[cust] = (Decimal(int(now or 0)) / basis.days) / (Decimal(int(before)) / prev.days) - 1
    return out


def _signed(value: Decimal) -> str:
    q = round_to(value, TENTH)
    return f"{'+' if q > 0 else ''}{q}"


# ---------------------------------------------------------------- the `--json` shape (the blocks read it too)


FORECAST_FIGURES = ("revenue_usd", "cogs_usd", "gross_margin_pct", "status")  # of serialize.figures, in its order


def _month_dict(m: MonthForecast) -> dict[str, Any]:
    def fig(f: Figures) -> dict[str, Any]:
        shown = figures(f)
        return {k: shown[k] for k in FORECAST_FIGURES}

    return {
        "month": m.label,
        "days": m.days,
        "usage_factor": micros(m.factor),
        "p50": fig(m.p50),
        "p99": fig(m.p99),
    }


def customer_forecast_dict(c: CustomerForecast) -> dict[str, Any]:
    return {
        "customer": c.key,
        "name": c.name,
        "plan": c.plan,
        "terms": c.terms,
        "basis_days": c.basis_days,
        "basis_cogs_usd": cents(c.basis_cogs),
        "p50_day": c.p50_day.as_dict(),
        "p99_day": c.p99_day.as_dict(),
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
        "basis": f.basis.as_dict(),
        "growth": f.growth.describe(f.months),
        "months": f.months,
        "total": [_month_dict(m) for m in f.total],
        "assumptions": f.assumptions,
    }
    if f.kind is SubjectKind.CUSTOMER:
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
