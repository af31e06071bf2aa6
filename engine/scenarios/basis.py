"""What forecasts and price floors stand on: a customer's own days of usage, ranked by COGS, and what pays for them.

A day carries its COGS and its metered counts together, so the revenue and the cost of a month "like the P99 day"
come from one real day. Revenue is always the contract terms' own rule (`Terms.charge`), on that day's units.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from engine.money import ONE, ZERO, usd, usd_text
from engine.periods import Period
from engine.reports.figures import Figures, Thresholds, pick
from engine.reports.revenue import BILLED, Terms, billed_lines, contracts_in, describe_terms, month_fraction
from engine.reports.serialize import micros
from engine.reports.usage import count_units, daily_rows, daily_tasks
from engine.timeutil import as_date
from engine.vocab import Unit


@dataclass(kw_only=True)
class DayUsage:
    """One day of one customer: its COGS (nano-USD) and its metered counts per product."""

    day: date
    cogs_nano: int = 0
    counts: dict[str, list[int]] = field(default_factory=dict)  # product → [requests, tokens, tasks started]

    @property
    def cogs(self) -> Decimal:
        return usd(self.cogs_nano)

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape of a P50 or P99 day."""
        return {"day": self.day.isoformat(), "cogs_usd": micros(self.cogs)}

    def units_of(self, unit: Unit, product: str = "") -> Decimal:
        """The day's units as a contract on `product` ('' = every product) counts them."""
        requests = tokens = tasks = 0
        for p, (r, t, k) in self.counts.items():
            if not product or p == product:
                requests, tokens, tasks = requests + r, tokens + t, tasks + k
        return count_units(unit, requests, tokens, tasks)


def daily_usage(conn: Connection, period: Period, customer: str | None = None) -> dict[str, list[DayUsage]]:
    """Per customer, every day of `period` from their first day with usage on (quiet days count as zero)."""
    days: dict[str, dict[date, DayUsage]] = defaultdict(dict)

    def counts(cust: str, day: object, product: str) -> tuple[DayUsage, list[int]]:
        d = as_date(day)
        usage = days[cust].get(d)
        if usage is None:
            usage = days[cust][d] = DayUsage(day=d)
        return usage, usage.counts.setdefault(product, [0, 0, 0])

    for cust, product, day, req, tok, cost in daily_rows(conn, period, customer):
        usage, c = counts(cust, day, product)
        usage.cogs_nano += int(cost or 0)
        c[0] += int(req or 0)
        c[1] += int(tok or 0)
    for cust, product, day, n in daily_tasks(conn, period, [customer] if customer is not None else None):
        counts(cust, day, product)[1][2] += int(n)
    out: dict[str, list[DayUsage]] = {}
    for cust, by_day in days.items():
        first = min(by_day)
        out[cust] = [by_day.get(d) or DayUsage(day=d) for d in Period(first, period.end, "").iter_days()]
    return out


def percentile_day(days: list[DayUsage], q: float) -> DayUsage:
    """The day at quantile q by COGS (nearest rank, ties broken by date), ranked as engine.reports.margin ranks."""
    return pick(sorted(days, key=lambda d: (d.cogs_nano, d.day)), q)


@dataclass(kw_only=True)
class Payer:
    """What pays for a customer's usage going forward: contracts in force, or billed revenue held flat."""

    contracts: list[Terms] = field(default_factory=list)
    billed_per_month: Decimal | None = None

    def describe(self) -> list[str]:
        if self.billed_per_month is not None:
            return [f"billed {usd_text(self.billed_per_month)} a month (held flat)"]
        return [describe_terms(c) + (f" ({c.product})" if c.product else "") for c in self.contracts]

    @property
    def plan(self) -> str:
        """The plan(s) paying, e.g. `usage` or `flat+seat`; `billed` or `none`."""
        if self.billed_per_month is not None:
            return BILLED
        plans = sorted({c.plan for c in self.contracts})
        return "+".join(plans) if plans else "none"


def month_revenue(terms: Payer, day: DayUsage, days: int, factor: Decimal, *, months: Decimal = ONE) -> Decimal:
    """Revenue of `days` days of usage like `day` × factor, under `terms` for `months` months of fees."""
    if terms.billed_per_month is not None:
        return terms.billed_per_month * months
    total = ZERO
    for c in terms.contracts:
        units = day.units_of(c.split_unit, c.product) * days * factor if c.is_metered else ZERO
        total += c.charge(units, months)
    return total


def month_figures(
    terms: Payer, day: DayUsage, days: int, factor: Decimal, thresholds: Thresholds, *, months: Decimal = ONE
) -> Figures:
    """Revenue and COGS of `days` days like `day` × factor."""
    return Figures(
        revenue=month_revenue(terms, day, days, factor, months=months),
        cogs=day.cogs * days * factor,
        thresholds=thresholds,
    )


def terms_for(conn: Connection, basis: Period, customers: list[str] | None) -> dict[str, Payer]:
    """Contracts in force on the basis' last day, or billed revenue over the basis as a monthly rate."""
    last = Period(basis.end, basis.end, basis.end.isoformat())
    out: dict[str, Payer] = defaultdict(Payer)
    for c in contracts_in(conn, last, customers):
        out[c.customer].contracts.append(c)
    months = month_fraction(basis.start, basis.end)
    for line in billed_lines(conn, basis, customers):
        t = out[line.customer]
        t.billed_per_month = (t.billed_per_month or ZERO) + line.total / months
    return out
