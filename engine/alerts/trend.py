"""Daily margins per customer and the straight line fitted to them: is a margin trending to breach?

A customer is trending to breach when the line fitted to its daily margins ends up under the breach line within
TREND_HORIZON_DAYS. The day it crosses is read off that same line: in the future ("on course to cross 40% on
Nov 30") or, when the line already went under inside the window while the period's margin is still above it, in
the past ("crossed 40% on Nov 20"), never rounded to "about today".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from engine.money import NANO, ZERO
from engine.periods import Period
from engine.reports.revenue import FIXED_TERMS, Terms, active_span, contracts_in, invoices, month_fraction
from engine.reports.usage import COUNTING, daily_rows, daily_tasks, spanning_tasks, whole_task_days
from engine.timeutil import as_date
from engine.vocab import Unit

TREND_HORIZON_DAYS = 14
WATCH_HORIZON_DAYS = TREND_HORIZON_DAYS  # the name it had when the alert was called "watch"
MIN_TREND_DAYS = 7  # fewer daily margins than this make no trend
# A day's margin counts at most this low in the fit: a margin has no floor (a day of $294 of revenue and a $9,972 spike
# is -3,285%), and one such day would tilt a straight line through thirty into "trending to breach" on its own.
FLOOR_PCT = -100.0


@dataclass(kw_only=True)
class Trend:
    """A straight line fitted to daily margins: points per day, where it ends up TREND_HORIZON_DAYS on, and the day
    it crosses the breach line (`crossed`: that day is inside the window already)."""

    slope_pts_per_day: Decimal
    projected_pct: Decimal
    crosses_on: date | None
    days: int
    crossed: bool = False


def fit_trend(points: list[tuple[int, float]], *, last_x: int, start: date, breach_pct: Decimal) -> Trend | None:
    """Least squares on (day index, margin %); None with fewer than MIN_TREND_DAYS points or no spread.

    Floats are fine here: this is a statistic over percentages, not money, and it runs for every customer.
    """
    sx = sy = sxx = sxy = 0.0
    for x, y in points:
        sx += x
        sy += y
        sxx += x * x
        sxy += x * y
    return _fitted(len(points), sx, sy, sxx, sxy, last_x=last_x, start=start, breach_pct=breach_pct)


def _fitted(
    n: int, sx: float, sy: float, sxx: float, sxy: float, *, last_x: int, start: date, breach_pct: Decimal
) -> Trend | None:
    """The least-squares line from the sums of its n points (x, y): Σx, Σy, Σx², Σxy."""
    if n < MIN_TREND_DAYS:
        return None
    spread = n * sxx - sx * sx
    if spread == 0:
        return None
    slope = (n * sxy - sx * sy) / spread
    intercept = (sy - slope * sx) / n
    projected = intercept + slope * (last_x + TREND_HORIZON_DAYS)
    breach = float(breach_pct)
    crosses_on, crossed = None, False
    if slope < 0 and projected < breach:  # it crosses within the horizon (a far-off date means nothing)
        # The first whole day on or under the line; a line under it from the window's start crossed by then.
        x = max(math.ceil((breach - intercept) / slope), 0)
        crosses_on, crossed = start + timedelta(days=x), x <= last_x
    return Trend(
        slope_pts_per_day=_dec(slope), projected_pct=_dec(projected), crosses_on=crosses_on, days=n, crossed=crossed
    )


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


DaySeries = list[int]  # one value per day of the window (index = day in the window)
# customer → product → (requests, input + output tokens, tasks started): what metered contracts count
Counts = dict[str, dict[str, tuple[DaySeries, DaySeries, DaySeries]]]


def _daily_series(
    conn: Connection, period: Period, customers: set[str], contracts: list[Terms] | None = None
) -> dict[str, tuple[list[Decimal], list[int]]]:
    # Revenue and COGS per customer as one list per window. This runs for every customer on every alerts check,
    # hence lists and whole-window arithmetic rather than per-day lookups. `contracts` (contracts_in over a range
    # covering `period`) saves reading them again.
    if not customers:
        return {}
    n = period.days
    if contracts is None:
        contracts = contracts_in(conn, period, None)
    contracts = [c for c in contracts if c.customer in customers and active_span(c, period) is not None]

    index: dict[object, int] = {}  # the day as the database returns it (text on SQLite) → position
    for i, day in enumerate(period.iter_days()):
        index[day] = index[day.isoformat()] = i
    cost: dict[str, DaySeries] = {}
    # Units are counted only for customers whose revenue follows them (one lookup per row tells which).
    counts: Counts = {c.customer: {} for c in contracts if c.is_metered}

    def counted(cust: str, prod: str) -> tuple[DaySeries, DaySeries, DaySeries]:
        series = counts[cust].get(prod)
        if series is None:
            series = counts[cust][prod] = ([0] * n, [0] * n, [0] * n)
        return series

    for cust, prod, raw_day, req, tok, c in daily_rows(conn, period):
        at = index.get(raw_day)  # one lookup for the day as stored; a spelling not seen is converted once
        i = at if at is not None else index.setdefault(raw_day, index[as_date(raw_day)])
        series = cost.get(cust)
        if series is None:
            if cust not in customers:
                continue
            series = cost[cust] = [0] * n
        series[i] += c or 0
        products = counts.get(cust)
        if products is not None:
            mine = products.get(prod)  # inline, not counted(): this runs for every row of the window
            if mine is None:
                mine = products[prod] = ([0] * n, [0] * n, [0] * n)
            mine[0][i] += req or 0
            mine[1][i] += tok or 0
    by_task = {c.customer for c in contracts if c.is_metered and c.unit is Unit.TASK}
    if by_task:
        for cust, prod, raw_day, started in daily_tasks(conn, period, by_task):
            i = index[raw_day if raw_day in index else as_date(raw_day)]
            counted(cust, prod)[2][i] += int(started)
    whole = _whole_tasks(conn, period, {c.customer for c in contracts if c.split_unit is Unit.TASK and not c.product})

    revenue = _contract_revenue(contracts, counts, period, whole)
    billed, covered = _billed(conn, period, customers)

    out: dict[str, tuple[list[Decimal], list[int]]] = {}
    for cust in (set(revenue) | set(cost) | set(billed)) & customers:
        rev = revenue.get(cust) or [ZERO] * n
        if cust in covered:  # billed lines replace modelled revenue on the days they cover
            # (a one-off charge covers no day: it is added to its day's modelled revenue)
            rev = [b if cov else m + b for m, b, cov in zip(rev, billed[cust], covered[cust], strict=True)]
        out[cust] = (rev, cost.get(cust) or [0] * n)
    return out


def _whole_tasks(conn: Connection, period: Period, customers: set[str]) -> dict[str, DaySeries]:
    """For those of `customers` whose tasks span products, the tasks started on each day, each task once
    (engine.reports.usage.whole_tasks): what a contract metering tasks on every product counts."""
    whole: dict[str, DaySeries] = {}
    spanning = spanning_tasks(conn, customers)
    for cust in spanning:
        whole[cust] = [0] * period.days
    for cust, days in whole_task_days(conn, period, spanning).items():
        for day, n in days.items():
            whole[cust][(day - period.start).days] = n
    return whole


def _contract_revenue(
    contracts: list[Terms], counts: Counts, period: Period, whole: dict[str, DaySeries]
) -> dict[str, list[Decimal]]:
    """Each customer's modelled revenue on each day: every contract's revenue rule for that one day (a day's share
    of its month's fees, and the usage charge on that day's units). `whole`: `_whole_tasks`."""
    a, b, n = period.start, period.end, period.days
    fractions = [month_fraction(day, day) for day in period.iter_days()]  # one object per month length
    revenue: dict[str, list[Decimal]] = {}
    # Contracts repeat a few dozen fixed terms between them: each day's fixed charge is worked out once per distinct
    # fixed terms (FIXED_TERMS of Terms.earning_terms, as the revenue's own FixedCharges: the bench's 991 distinct
    # earning terms have 341) and span. (The lists are shared, so never changed.)
    fixed: dict[tuple[object, ...], list[Decimal]] = {}
    for c in contracts:
        lo, hi = (max(c.start, a) - a).days, (min(c.end or b, b) - a).days + 1
        key = (c.earning_terms[:FIXED_TERMS], lo, hi)
        fees = fixed.get(key)
        if fees is None:
            by_fraction = {f: c.fixed_charge(f) for f in set(fractions[lo:hi])}  # one per month length
            fees = fixed[key] = [by_fraction[f] for f in fractions[lo:hi]]
        if c.is_metered:
            usage = c.usage_charges(_metered(c, counts, n, whole)[lo:hi], fractions[lo:hi])
            amounts = [fee + u for fee, u in zip(fees, usage, strict=True)]
        else:
            amounts = fees
        earned = revenue.get(c.customer)
        if earned is None:  # the customer's first contract: its amounts are the days' revenue so far (0 + x = x)
            revenue[c.customer] = [ZERO] * lo + amounts + [ZERO] * (n - hi)
        else:
            earned[lo:hi] = _added(earned[lo:hi], amounts)
    return revenue


def _added(days: list[Decimal], more: list[Decimal]) -> list[Decimal]:
    """`days` plus `more`, day by day. A day whose two amounts are the same objects as the day before's (a month's
    fees are one object for all its days) shares that day's sum: a customer's days then share one revenue object as
    they would with one contract, and `_margin_sums` converts each object to a float once (the bench's 467
    customers with several fixed-fee contracts: 14,010 conversions, ~0.9 µs each, down to 934)."""
    out: list[Decimal] = []
    before_x: Decimal | None = None
    before_y: Decimal | None = None
    total = ZERO
    for x, y in zip(days, more, strict=True):
        if x is not before_x or y is not before_y:
            before_x, before_y, total = x, y, x + y
        out.append(total)
    return out


def _billed(
    conn: Connection, period: Period, customers: set[str]
) -> tuple[dict[str, list[Decimal]], dict[str, list[bool]]]:
    """Each customer's billed revenue on each day, prorated by day as billed_lines prorates it, and the days that
    billed lines cover."""
    a, b, n = period.start, period.end, period.days
    billed: dict[str, list[Decimal]] = {}
    covered: dict[str, list[bool]] = {}
    for bill in invoices(conn, period, None):
        if bill.customer not in customers:
            continue
        share = bill.amount / Decimal(bill.days)
        lo, hi = (max(bill.start, a) - a).days, (min(bill.end, b) - a).days + 1
        series = billed.setdefault(bill.customer, [ZERO] * n)
        series[lo:hi] = [x + share for x in series[lo:hi]]
        days = covered.setdefault(bill.customer, [False] * n)
        if not bill.one_off:  # a one-off charge is added to its day, the contract's revenue counting too
            days[lo:hi] = [True] * (hi - lo)
    return billed, covered


def _metered(c: Terms, counts: Counts, n: int, whole: dict[str, DaySeries]) -> list[Decimal]:
    """The contract's units on each day of the window: its product's, or every product's when it names none (tasks
    that ran in several of them once: `whole`)."""
    if c.split_unit is Unit.TASK and not c.product and c.customer in whole:
        return [Decimal(v) for v in whole[c.customer]]
    which, per = COUNTING[c.split_unit]  # only the count the unit reads is summed: this runs for every contract
    rows = [series[which] for prod, series in counts.get(c.customer, {}).items() if not c.product or prod == c.product]
    if not rows:
        return [ZERO] * n
    days = rows[0] if len(rows) == 1 else [sum(day) for day in zip(*rows, strict=True)]
    return [Decimal(v) for v in days] if per == 1 else [Decimal(v) / per for v in days]  # n / 1 is n


def customer_trends(
    conn: Connection,
    period: Period,
    customers: set[str],
    *,
    breach_pct: Decimal,
    contracts: list[Terms] | None = None,
) -> dict[str, Trend]:
    """The fitted daily-margin trend of each customer that has enough days with revenue. `contracts` (contracts_in
    over a range covering `period`, as the portfolio read them) saves reading them again."""
    return trends_against(conn, period, dict.fromkeys(customers, breach_pct), contracts=contracts)


def trends_against(
    conn: Connection, period: Period, lines: Mapping[str, Decimal], *, contracts: list[Terms] | None = None
) -> dict[str, Trend]:
    """`customer_trends` for customers with lines of their own (customer → its breach line), from one scan of the
    window whatever the number of distinct lines."""
    trends: dict[str, Trend] = {}
    last_x = period.days - 1
    for cust, (revenue, cost) in _daily_series(conn, period, set(lines), contracts).items():
        trend = _fitted(*_margin_sums(revenue, cost), last_x=last_x, start=period.start, breach_pct=lines[cust])
        if trend is not None:
            trends[cust] = trend
    return trends


def _margin_sums(revenue: list[Decimal], cost: list[int]) -> tuple[int, float, float, float, float]:
    """The least-squares sums (as `fit_trend` adds them, in the same order) of the days with revenue, each day's
    margin floored at FLOOR_PCT: (n, Σx, Σy, Σx², Σxy) with x the day's index and y its margin %.

    A Decimal becomes a float through its text (the costliest step here), and a customer's days mostly share one
    revenue object (a fee's daily share, the same all month): each object is converted once, when it changes."""
    n = sx = sxx = 0  # whole numbers, added as integers: the same sums as floats would make (all far below 2⁵³)
    sy = sxy = 0.0
    last: Decimal | None = None
    r = 0.0
    for x, (day_revenue, c) in enumerate(zip(revenue, cost, strict=True)):
        if day_revenue is not last:
            last, r = day_revenue, float(day_revenue)
        if r > 0:
            y = 100.0 - c / (r * NANO) * 100.0
            if y < FLOOR_PCT:
                y = FLOOR_PCT
            n += 1
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
    return n, float(sx), sy, float(sxx), sxy
