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

from sqlalchemy import Connection, bindparam, text

from engine.money import CENT, ZERO, json_number, usd
from engine.periods import Period
from engine.reports.figures import margin_pct
from engine.reports.revenue import revenue_lines, total_by_customer, total_by_product
from engine.reports.usage import cost_by_day
from engine.store.sql import COST_SUM
from engine.timeutil import as_date

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


def iso_week(day: date) -> Period:
    """The ISO week (Monday to Sunday) that contains `day`, labelled like 2026-W46 (as the digest labels it)."""
    start = day - timedelta(days=day.weekday())
    year, week, _ = start.isocalendar()
    return Period(start, start + timedelta(days=6), f"{year}-W{week:02d}")


def trend_weeks(period: Period, weeks: int = TREND_WEEKS) -> list[Period]:
    """The `weeks` whole ISO weeks ending with the latest one that has ended by `period.end`, oldest first."""
    last = iso_week(period.end)
    if last.end > period.end:
        last = iso_week(last.start - timedelta(days=1))
    return [iso_week(last.start - timedelta(weeks=i)) for i in reversed(range(weeks))]


def _fold(costs: dict[date, int]) -> dict[date, int]:
    """Nano-USD per day → per week start."""
    by_week: dict[date, int] = defaultdict(int)
    for day, cost in costs.items():
        by_week[iso_week(day).start] += cost
    return by_week


def weekly_trend(
    conn: Connection, period: Period, *, customer: str | None = None, product: str | None = None
) -> list[Week]:
    """The trend of one customer, one product or (neither given) the portfolio, up to `period.end`."""
    weeks = trend_weeks(period)
    costs = _fold(cost_by_day(conn, weeks[0].start, weeks[-1].end, customer=customer, product=product))
    out: list[Week] = []
    for week in weeks:
        lines = revenue_lines(conn, week, customers=[customer] if customer is not None else None)
        if product is not None:
            revenue = total_by_product(lines).get(product, ZERO)
        else:
            revenue = sum(total_by_customer(lines).values(), ZERO)
        out.append(Week(period=week, revenue=revenue, cogs=usd(costs.get(week.start, 0))))
    return out


def weekly_by_customer(
    conn: Connection, period: Period, customers: Iterable[str]
) -> tuple[list[Week], dict[str, list[Week]]]:
    """The portfolio's trend and each of `customers`' trends, from one revenue computation per week (what the
    App Home shows: the portfolio and every customer in breach)."""
    chosen = sorted(set(customers))
    weeks = trend_weeks(period)
    totals = _fold(cost_by_day(conn, weeks[0].start, weeks[-1].end))
    per_customer: dict[str, dict[date, int]] = {c: defaultdict(int) for c in chosen}
    if chosen:
        query = text(
            f"SELECT customer, day, SUM({COST_SUM}) FROM daily_customer_product WHERE day BETWEEN :a AND :b "
            "AND customer IN :cs GROUP BY customer, day"
        ).bindparams(bindparam("cs", expanding=True))
        for cust, day, cost in conn.execute(query, {"a": weeks[0].start, "b": weeks[-1].end, "cs": chosen}):
            per_customer[cust][iso_week(as_date(day)).start] += int(cost or 0)
    portfolio: list[Week] = []
    each: dict[str, list[Week]] = {c: [] for c in chosen}
    for week in weeks:
        revenue = total_by_customer(revenue_lines(conn, week))
        portfolio.append(Week(period=week, revenue=sum(revenue.values(), ZERO), cogs=usd(totals.get(week.start, 0))))
        for cust in chosen:
            each[cust].append(
                Week(period=week, revenue=revenue.get(cust, ZERO), cogs=usd(per_customer[cust].get(week.start, 0)))
            )
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
