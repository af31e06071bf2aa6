"""Daily margins per customer and the straight line fitted to them: is a margin heading for the breach line?"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, bindparam, text

from engine.periods import Period
from engine.reports.revenue import Terms, compute_line, contracts_in, month_fraction
from engine.store.models import NANO
from engine.store.sql import COST_SUM
from engine.timeutil import as_date

WATCH_HORIZON_DAYS = 14
MIN_TREND_DAYS = 7  # fewer daily margins than this make no trend


@dataclass
class Trend:
    """A straight line fitted to daily margins: points per day and where it ends up WATCH_HORIZON_DAYS on."""

    slope_pts_per_day: Decimal
    projected_pct: Decimal
    crosses_on: date | None
    days: int


def fit_trend(points: list[tuple[int, float]], *, last_x: int, start: date, breach_pct: Decimal) -> Trend | None:
    """Least squares on (day index, margin %); None with fewer than MIN_TREND_DAYS points or no spread.

    Floats are fine here: this is a statistic over percentages, not money, and it runs for every customer.
    """
    n = len(points)
    if n < MIN_TREND_DAYS:
        return None
    sx = sy = sxx = sxy = 0.0
    for x, y in points:
        sx += x
        sy += y
        sxx += x * x
        sxy += x * y
    spread = n * sxx - sx * sx
    if spread == 0:
        return None
    slope = (n * sxy - sx * sy) / spread
    intercept = (sy - slope * sx) / n
    projected = intercept + slope * (last_x + WATCH_HORIZON_DAYS)
    breach = float(breach_pct)
    crosses_on = None
    if slope < 0 and projected < breach:  # it crosses within the horizon (a far-off date means nothing)
        crosses_on = start + timedelta(days=max(math.ceil((breach - intercept) / slope), last_x + 1))
    return Trend(_dec(slope), _dec(projected), crosses_on, n)


def _dec(value: float) -> Decimal:
    return Decimal(repr(round(value, 6)))


def daily_customer_figures(
    conn: Connection, period: Period, customers: set[str]
) -> dict[str, dict[date, tuple[Decimal, int]]]:
    """Revenue (USD) and COGS (nano-USD) of each customer on each day of `period` that has either.

    A day's revenue is what `revenue_lines` gives for that single day (fees accrue per day, usage is metered
    that day, billed lines are prorated by day and replace modelled revenue on the days they cover), computed
    from four queries for the whole window instead of one `revenue_lines` call per day.
    """
    days = period.iter_days()
    return {
        cust: {day: (r, c) for day, r, c in zip(days, rev, cost, strict=True) if r or c}
        for cust, (rev, cost) in _daily_series(conn, period, customers).items()
    }


def _daily_series(conn: Connection, period: Period, customers: set[str]) -> dict[str, tuple[list[Decimal], list[int]]]:
    # Revenue and COGS per customer as one list per window (index = day in the window). This runs for every
    # customer on every alerts check, hence lists and whole-window arithmetic rather than per-day lookups.
    if not customers:
        return {}
    a, b = period.start, period.end
    n = period.days
    zero = Decimal(0)
    contracts = [c for c in contracts_in(conn, period, None) if c.customer in customers]
    metered = {c.customer for c in contracts if c.plan in ("usage", "hybrid")}

    index: dict[object, int] = {}  # the day as the database returns it (text on SQLite) → position
    for i, day in enumerate(period.iter_days()):
        index[day] = index[day.isoformat()] = i
    cost: dict[str, list[int]] = {}
    usage: dict[str, dict[str, tuple[list[int], list[int]]]] = defaultdict(
        dict
    )  # customer → product → (requests, tokens)
    for cust, prod, raw_day, req, tok, c in conn.execute(
        text(
            # One row per customer, product and day already: the rollup's key.
            f"SELECT customer, product, day, requests, input_tokens + output_tokens, {COST_SUM} "
            "FROM daily_customer_product WHERE day BETWEEN :a AND :b"
        ),
        {"a": a, "b": b},
    ).all():  # one fetch for tens of thousands of rows: row-by-row fetching costs more than the query
        if cust not in customers:
            continue
        i = index[raw_day if raw_day in index else as_date(raw_day)]
        series = cost.get(cust)
        if series is None:
            series = cost[cust] = [0] * n
        series[i] += c or 0
        if cust in metered:
            pair = usage[cust].get(prod)
            if pair is None:
                pair = usage[cust][prod] = ([0] * n, [0] * n)
            pair[0][i] += req or 0
            pair[1][i] += tok or 0
    tasks: dict[str, dict[str, list[int]]] = defaultdict(dict)  # customer → product → tasks started
    by_task = sorted({c.customer for c in contracts if c.unit == "task" and c.plan in ("usage", "hybrid")})
    if by_task:
        # Only task-metered customers: their (customer, day) index ranges, not every task in the window.
        for cust, prod, raw_day, count in conn.execute(
            text(
                "SELECT customer, product, day, COUNT(*) FROM task_rollup WHERE customer IN :cs "
                "AND day BETWEEN :a AND :b GROUP BY customer, product, day"
            ).bindparams(bindparam("cs", expanding=True)),
            {"a": a, "b": b, "cs": by_task},
        ).all():
            if cust in metered:
                i = index[raw_day if raw_day in index else as_date(raw_day)]
                tasks[cust].setdefault(prod, [0] * n)[i] += int(count)

    fractions = [month_fraction(day, day) for day in period.iter_days()]
    revenue: dict[str, list[Decimal]] = {}
    for c in contracts:
        lo, hi = (max(c.start, a) - a).days, (min(c.end or b, b) - a).days + 1
        fixed = {f: compute_line(c, 1, f, zero).total for f in set(fractions[lo:hi])}  # fees, per month length
        amounts = [fixed[f] for f in fractions[lo:hi]]
        if c.plan in ("usage", "hybrid"):
            used = _metered(c, usage, tasks, n)[lo:hi]
            price, included = c.unit_price_usd, c.included_units
            # The usage term of compute_line, inlined: it is the one part that changes every day.
            for k, (u, f) in enumerate(zip(used, fractions[lo:hi], strict=True)):
                over = u - included * f if c.plan == "hybrid" else u
                if over > 0:
                    amounts[k] += over * price
        earned = revenue.get(c.customer)
        if earned is None:
            earned = revenue[c.customer] = [zero] * n
        earned[lo:hi] = [x + y for x, y in zip(earned[lo:hi], amounts, strict=True)]

    billed: dict[str, list[Decimal]] = {}
    covered: dict[str, list[bool]] = {}
    for cust, start, end, amount in conn.execute(
        text(
            "SELECT customer, period_start, period_end, amount_usd FROM revenue_actual "
            "WHERE period_start <= :b AND period_end >= :a"
        ),
        {"a": a, "b": b},
    ).all():
        if cust not in customers:
            continue
        s, e = as_date(start), as_date(end)
        share = Decimal(str(amount)) / Decimal((e - s).days + 1)
        lo, hi = (max(s, a) - a).days, (min(e, b) - a).days + 1
        bill = billed.setdefault(cust, [zero] * n)
        bill[lo:hi] = [x + share for x in bill[lo:hi]]
        covered.setdefault(cust, [False] * n)[lo:hi] = [True] * (hi - lo)

    out: dict[str, tuple[list[Decimal], list[int]]] = {}
    for cust in (set(revenue) | set(cost) | set(billed)) & customers:
        rev = revenue.get(cust) or [zero] * n
        if cust in covered:  # billed lines replace modelled revenue on the days they cover
            rev = [b if cov else m for m, b, cov in zip(rev, billed[cust], covered[cust], strict=True)]
        out[cust] = (rev, cost.get(cust) or [0] * n)
    return out


def _metered(
    c: Terms,
    usage: dict[str, dict[str, tuple[list[int], list[int]]]],
    tasks: dict[str, dict[str, list[int]]],
    n: int,
) -> list[Decimal]:
    """The contract's units on each day of the window: its product's, or every product's when it names none."""
    if c.unit == "task":
        rows = [v for prod, v in tasks.get(c.customer, {}).items() if not c.product or prod == c.product]
    else:
        which = 1 if c.unit == "1k_tokens" else 0
        rows = [v[which] for prod, v in usage.get(c.customer, {}).items() if not c.product or prod == c.product]
    totals = [sum(day) for day in zip(*rows, strict=True)] if rows else [0] * n
    if c.unit == "1k_tokens":
        return [Decimal(t) / 1000 for t in totals]
    return [Decimal(t) for t in totals]


def customer_trends(conn: Connection, period: Period, customers: set[str], *, breach_pct: Decimal) -> dict[str, Trend]:
    """The fitted daily-margin trend of each customer that has enough days with revenue."""
    trends: dict[str, Trend] = {}
    last_x = period.days - 1
    for cust, (revenue, cost) in _daily_series(conn, period, customers).items():
        points = [
            (x, 100.0 - c / (r * NANO) * 100.0)
            for x, (r, c) in enumerate(zip(map(float, revenue), cost, strict=True))
            if r > 0
        ]
        trend = fit_trend(points, last_x=last_x, start=period.start, breach_pct=breach_pct)
        if trend is not None:
            trends[cust] = trend
    return trends
