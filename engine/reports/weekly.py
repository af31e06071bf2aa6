"""The weekly margin trend: revenue, COGS and margin for each of the last 12 ISO weeks up to a period's end.

Weeks are ISO weeks (Monday to Sunday in MARGINBOT_TIMEZONE), as the weekly digest counts them, and only whole
ones: the last week is the latest that has ended by the period's last day, so no point is a partial week. Each
week's revenue is the revenue rule applied to that week (`revenue_lines`, so fees accrue by day and included
units by the week's share of the month), its COGS the rollups' sum over its seven days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from engine.money import CENT, ZERO, json_number, usd
from engine.periods import Period, iso_week
from engine.reports.figures import margin_pct
from engine.reports.revenue import (
    FixedCharges,
    PeriodRevenue,
    RevenueLine,
    contracts_in,
    period_revenue,
    total_by_product,
)
from engine.reports.usage import UsageTotals
from engine.store.sql import COST_SUM, where_equal

TREND_WEEKS = 12


@dataclass(frozen=True, kw_only=True)
class Week:
    """One ISO week of a subject's trend."""

    period: Period  # labelled like 2026-W43
    revenue: Decimal
    cogs: Decimal

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_pct(self.revenue, self.cogs)


def trend_weeks(period: Period, weeks: int = TREND_WEEKS) -> list[Period]:
    """The `weeks` whole ISO weeks ending with the latest one that has ended by `period.end`, oldest first."""
    last = iso_week(period.end)
    if last.end > period.end:
        last = iso_week(last.start - timedelta(days=1))
    return [iso_week(last.start - timedelta(weeks=i)) for i in reversed(range(weeks))]


@dataclass(kw_only=True)
class _Scan:
    """One read of the rollup over all the weeks: usage totals per week (for revenue) and COGS per week."""

    totals: dict[date, UsageTotals]  # week start → customer → product → (requests, tokens)
    cost: dict[str, dict[date, int]]  # customer → week start → nano-USD
    product_cost: dict[date, int]  # week start → nano-USD of the product asked about (if any)


def _scan(conn: Connection, weeks: list[Period], customer: str | None, product: str | None) -> _Scan:
    if customer is None:
        return _scan_weeks(conn, weeks, product)
    params: dict[str, object] = {"a": weeks[0].start, "b": weeks[-1].end}
    # The week of each row, worked out by the database (a CASE over the week ends is the same on SQLite and
    # PostgreSQL), so a row comes back per customer, product and week rather than per day.
    cases = " ".join(f"WHEN day <= :w{i} THEN {i}" for i in range(len(weeks)))
    params.update({f"w{i}": w.end for i, w in enumerate(weeks)})
    sql = where_equal(
        f"SELECT customer, product, CASE {cases} END AS week, SUM(requests), SUM(input_tokens + output_tokens), "
        f"SUM({COST_SUM}) FROM daily_customer_product WHERE day BETWEEN :a AND :b",
        params,
        customer=customer,
    )
    totals: dict[date, UsageTotals] = {w.start: defaultdict(dict) for w in weeks}
    cost: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    product_cost: dict[date, int] = defaultdict(int)
    for cust, prod, index, requests, tokens, nano in conn.execute(
        text(sql + " GROUP BY customer, product, week"), params
    ):
        week = weeks[int(index)].start
        totals[week][cust][prod] = (int(requests or 0), int(tokens or 0))
        cost[cust][week] += int(nano or 0)
        if prod == product:
            product_cost[week] += int(nano or 0)
    return _Scan(totals=totals, cost=cost, product_cost=product_cost)


def _scan_weeks(conn: Connection, weeks: list[Period], product: str | None) -> _Scan:
    """`_scan` of every customer, from the weekly sums the database keeps (weekly_customer_product: the same ISO
    weeks, the same integer sums as their days), one row per customer, product and week, nothing to group."""
    start = {w.start: w.start for w in weeks} | {w.start.isoformat(): w.start for w in weeks}  # SQLite: text
    totals: dict[date, UsageTotals] = {w.start: defaultdict(dict) for w in weeks}
    cost: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    product_cost: dict[date, int] = defaultdict(int)
    rows = conn.execute(
        text(
            "SELECT customer, product, week, requests, tokens, cost_nano FROM weekly_customer_product "
            "WHERE week BETWEEN :a AND :b"
        ),
        {"a": weeks[0].start, "b": weeks[-1].start},
    ).all()
    for cust, prod, raw_week, requests, tokens, nano in rows:
        week = start[raw_week]
        totals[week][cust][prod] = (int(requests), int(tokens))
        cost[cust][week] += int(nano)
        if prod == product:
            product_cost[week] += int(nano)
    return _Scan(totals=totals, cost=cost, product_cost=product_cost)


def _weekly_revenue(
    conn: Connection, weeks: list[Period], scan: _Scan, customer: str | None
) -> list[list[RevenueLine]]:
    """Each week's revenue lines: the revenue rule per week, contracts read once for all the weeks."""
    customers = [customer] if customer is not None else None
    terms = contracts_in(conn, Period(weeks[0].start, weeks[-1].end, "weeks"), customers)
    fixed: FixedCharges = {}  # weeks inside months of the same length share their fixed charges
    return [
        period_revenue(conn, w, customers=customers, totals=scan.totals[w.start], contracts=terms, fixed=fixed).lines()
        for w in weeks
    ]


def _weekly_totals(conn: Connection, weeks: list[Period], scan: _Scan, customer: str | None) -> list[PeriodRevenue]:
    """Each week's revenue, kept whole (its lines written up only if asked): a caller takes each customer's total
    (`by_customer`) or every line's, exactly (`total`; the customers' totals added could be a cent off it)."""
    customers = [customer] if customer is not None else None
    terms = contracts_in(conn, Period(weeks[0].start, weeks[-1].end, "weeks"), customers)
    fixed: FixedCharges = {}  # weeks inside months of the same length share their fixed charges
    return [
        period_revenue(conn, w, customers=customers, totals=scan.totals[w.start], contracts=terms, fixed=fixed)
        for w in weeks
    ]


def weekly_trend(
    conn: Connection, period: Period, *, customer: str | None = None, product: str | None = None
) -> list[Week]:
    """The trend of one customer, one product or (neither given) the portfolio, up to `period.end`."""
    weeks = trend_weeks(period)
    scan = _scan(conn, weeks, customer, product)
    out: list[Week] = []
    if product is not None:  # a product's share of every line that covers it: the lines themselves
        for week, lines in zip(weeks, _weekly_revenue(conn, weeks, scan, customer), strict=True):
            revenue, nano = total_by_product(lines).get(product, ZERO), scan.product_cost.get(week.start, 0)
            out.append(Week(period=week, revenue=revenue, cogs=usd(nano)))
        return out
    for week, week_revenue in zip(weeks, _weekly_totals(conn, weeks, scan, customer), strict=True):
        nano = sum(per_week.get(week.start, 0) for per_week in scan.cost.values())
        out.append(Week(period=week, revenue=week_revenue.total().dollars(), cogs=usd(nano)))
    return out


def weekly_by_customer(
    conn: Connection, period: Period, customers: Iterable[str]
) -> tuple[list[Week], dict[str, list[Week]]]:
    """The portfolio's trend and each of `customers`' trends, from one revenue computation per week (what the
    App Home shows: the portfolio and every customer in breach)."""
    chosen = sorted(set(customers))
    weeks = trend_weeks(period)
    scan = _scan(conn, weeks, None, None)
    portfolio: list[Week] = []
    each: dict[str, list[Week]] = {c: [] for c in chosen}
    for week, week_revenue in zip(weeks, _weekly_totals(conn, weeks, scan, None), strict=True):
        nano = sum(per_week.get(week.start, 0) for per_week in scan.cost.values())
        portfolio.append(Week(period=week, revenue=week_revenue.total().dollars(), cogs=usd(nano)))
        revenue = week_revenue.by_customer()
        for cust in chosen:
            cost = scan.cost.get(cust, {}).get(week.start, 0)
            each[cust].append(Week(period=week, revenue=revenue.get(cust, ZERO), cogs=usd(cost)))
    return portfolio, each


def weekly_to_dict(weeks: list[Week]) -> list[dict[str, Any]]:
    """The `weekly` list of every `--json` answer that carries a trend: money to the cent, margin to 0.01."""
    return [
        {
            "week": w.period.label,
            "start": w.period.start.isoformat(),
            "end": w.period.end.isoformat(),
            "revenue_usd": json_number(w.revenue, CENT),
            "cogs_usd": json_number(w.cogs, CENT),
            "gross_margin_pct": json_number(w.margin_pct, CENT),
        }
        for w in weeks
    ]
