"""Gross margin of one customer or one product, read from the daily rollups.

Every figure traces back: COGS to priced events (by cost type, model and feature), revenue to contract terms or
billed lines (`revenue_lines`), percentiles to the days and tasks they were taken from.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from engine.money import HUNDRED, ZERO
from engine.periods import Period
from engine.reports.figures import Figures, Share, Thresholds, _pct_text, percentile, usd
from engine.reports.names import resolve_customer, resolve_product
from engine.reports.revenue import (
    RevenueLine,
    revenue_lines,
    total_by_customer,
    total_by_product,
)
from engine.store.columns import COST_COLUMNS, COST_TYPES
from engine.store.sql import COST_SUM, COST_SUMS
from engine.timeutil import as_date


@dataclass
class MarginReport:
    """Everything `/margin` and `marginbot margin` show for one customer or product."""

    kind: str  # customer | product
    key: str
    name: str
    period: Period
    current: Figures
    previous: Figures
    revenue_source: str  # contract | stripe | none | mixed
    revenue: list[RevenueLine]
    cogs_by_type: dict[str, Decimal]
    by_model: list[Share]
    by_feature: list[Share]
    drivers: list[Share]
    daily: list[tuple[date, Decimal]]
    daily_cost_p50: Decimal
    daily_cost_p99: Decimal
    tasks: int
    task_cost_p50: Decimal
    task_cost_p99: Decimal
    unpriced_models: list[str]

    @property
    def top_lever(self) -> str:
        """The one biggest lever, in plain words."""
        if not self.drivers or self.current.cogs <= 0:
            return "no COGS in this period"
        top = self.drivers[0]
        where = f" on {top.feature}" if top.feature else ""
        return f"{_pct_text(top.share_pct)} of COGS is {top.model or 'unattributed usage'}{where}"

    @property
    def top_mover(self) -> str | None:
        """The driver whose cost grew the most against the previous period, in plain words."""
        grown = [d for d in self.drivers if d.cost > d.previous]
        if not grown:
            return None
        top = max(grown, key=lambda d: d.cost - d.previous)
        where = f" on {top.feature}" if top.feature else ""
        what = f"{top.model or 'unattributed usage'}{where}"
        growth = top.growth
        if growth is None:
            return f"{what} is new (${top.cost:,.2f})"
        if growth >= 3:
            return f"{what} tripled (×{growth:.1f})" if growth < 4 else f"{what} grew ×{growth:.1f}"
        if growth >= 2:
            return f"{what} doubled (×{growth:.1f})"
        return f"{what} up {_pct_text((growth - 1) * HUNDRED)}"


def _shares(costs: dict[tuple[str, str, str], tuple[int, int]], total_nano: int, label: str) -> list[Share]:
    out: list[Share] = []
    for (provider, model, feature), (now, before) in costs.items():
        cost = usd(now)
        share = cost / usd(total_nano) * HUNDRED if total_nano else ZERO
        if label == "model":
            key = model or "(no model)"
        elif label == "feature":
            key = feature or "(no feature)"
        else:
            key = f"{model or '(no model)'} on {feature or '(no feature)'}"
        out.append(Share(key, cost, share, usd(before), provider, model, feature))
    out.sort(key=lambda s: (-s.cost, s.key))
    return out


def _subject_filter(kind: str) -> str:
    return "customer = :s" if kind == "customer" else "product = :s"


def subject_report(
    conn: Connection,
    kind: str,
    key: str,
    name: str,
    period: Period,
    *,
    thresholds: Thresholds,
    lines: list[RevenueLine] | None = None,
    previous_lines: list[RevenueLine] | None = None,
) -> MarginReport:
    """The full answer for one customer (`kind='customer'`) or product over `period`."""
    prev = period.previous()
    where = _subject_filter(kind)
    params = {"s": key, "a": period.start, "b": period.end, "pa": prev.start, "pb": prev.end}

    by_type_nano = [0] * len(COST_COLUMNS)
    models: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    features: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    drivers: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    unpriced_models: set[str] = set()
    cur_events = cur_unpriced = prev_events = prev_unpriced = 0
    cur_total = prev_total = 0
    rows = conn.execute(
        text(
            f"SELECT day >= :a AS current, provider, model, feature, SUM(events), SUM(unpriced_events), "
            f"{COST_SUMS} FROM daily_rollup WHERE {where} AND day BETWEEN :pa AND :b "
            "GROUP BY 1, 2, 3, 4"
        ),
        params,
    ).all()
    for row in rows:
        current, provider, model, feature, events, unpriced = row[:6]
        costs = [int(v or 0) for v in row[6:]]
        cost = sum(costs)
        slot = 0 if current else 1
        models[(provider, model, "")][slot] += cost
        features[("", "", feature)][slot] += cost
        drivers[(provider, model, feature)][slot] += cost
        if current:
            cur_events += int(events)
            cur_unpriced += int(unpriced or 0)
            cur_total += cost
            by_type_nano = [a + b for a, b in zip(by_type_nano, costs, strict=True)]
            if unpriced:
                unpriced_models.add(f"{provider or '?'}/{model or '?'}")
        else:
            prev_events += int(events)
            prev_unpriced += int(unpriced or 0)
            prev_total += cost

    daily_rows = conn.execute(
        text(
            f"SELECT day, SUM({COST_SUM}) FROM daily_customer_product WHERE {where} "
            "AND day BETWEEN :a AND :b GROUP BY day ORDER BY day"
        ),
        params,
    ).all()
    per_day = {as_date(d): int(c or 0) for d, c in daily_rows}
    daily = [(d, usd(per_day.get(d, 0))) for d in period.iter_days()]
    sorted_days = sorted(per_day.get(d, 0) for d in period.iter_days())

    tasks, task_p50, task_p99 = _task_percentiles(conn, where, params)

    if lines is None:
        lines = revenue_lines(conn, period, customers=[key] if kind == "customer" else None)
    if previous_lines is None:
        previous_lines = revenue_lines(conn, prev, customers=[key] if kind == "customer" else None)
    if kind == "customer":
        own = [line for line in lines if line.customer == key]
        revenue = sum((line.total for line in own), ZERO)
        prev_revenue = total_by_customer(previous_lines).get(key, ZERO)
    else:
        own = [line for line in lines if key in line.by_product]
        revenue = total_by_product(lines).get(key, ZERO)
        prev_revenue = total_by_product(previous_lines).get(key, ZERO)
    sources = {line.source for line in own}
    revenue_source = "none" if not sources else sources.pop() if len(sources) == 1 else "mixed"

    return MarginReport(
        kind=kind,
        key=key,
        name=name,
        period=period,
        current=Figures(revenue, usd(cur_total), cur_events, cur_unpriced, thresholds),
        previous=Figures(prev_revenue, usd(prev_total), prev_events, prev_unpriced, thresholds),
        revenue_source=revenue_source,
        revenue=own,
        cogs_by_type={name_: usd(v) for name_, v in zip(COST_TYPES, by_type_nano, strict=True)},
        by_model=_shares({k: (v[0], v[1]) for k, v in models.items()}, cur_total, "model"),
        by_feature=_shares({k: (v[0], v[1]) for k, v in features.items()}, cur_total, "feature"),
        drivers=_shares({k: (v[0], v[1]) for k, v in drivers.items()}, cur_total, "driver"),
        daily=daily,
        daily_cost_p50=usd(percentile(sorted_days, 0.5)),
        daily_cost_p99=usd(percentile(sorted_days, 0.99)),
        tasks=tasks,
        task_cost_p50=usd(task_p50),
        task_cost_p99=usd(task_p99),
        unpriced_models=sorted(unpriced_models),
    )


def _task_percentiles(conn: Connection, where: str, params: dict[str, Any]) -> tuple[int, int, int]:
    """How many tasks started in the period, and the nearest-rank P50 and P99 of their cost (nano-USD).

    A heavy customer runs hundreds of thousands of tasks a month: the database walks its (customer, cost) index
    to the two ranks instead of sending every task's cost here.
    """
    scope = f"FROM task_rollup WHERE {where} AND day BETWEEN :a AND :b"
    n = int(conn.execute(text(f"SELECT COUNT(*) {scope}"), params).scalar_one())
    if n == 0:
        return 0, 0, 0

    def at(q: float) -> int:
        rank = max(1, math.ceil(q * n))
        sql = f"SELECT cost_nano {scope} ORDER BY cost_nano LIMIT 1 OFFSET :k"
        if rank > n // 2:  # walk from the expensive end: P99 is a few steps from it
            sql, rank = sql.replace("ORDER BY cost_nano", "ORDER BY cost_nano DESC"), n - rank + 1
        return int(conn.execute(text(sql), {**params, "k": rank - 1}).scalar_one())

    return n, at(0.5), at(0.99)


def customer_report(conn: Connection, ref: str, period: Period, *, thresholds: Thresholds) -> MarginReport:
    """Resolve `ref` (id, name or alias) and build its full margin answer."""
    key, name = resolve_customer(conn, ref)
    return subject_report(conn, "customer", key, name, period, thresholds=thresholds)


def product_report(conn: Connection, ref: str, period: Period, *, thresholds: Thresholds) -> MarginReport:
    key = resolve_product(conn, ref)
    return subject_report(conn, "product", key, key, period, thresholds=thresholds)
