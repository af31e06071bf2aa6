"""Gross margin of one customer or one product, read from the daily rollups.

Every figure traces back: COGS to priced events (by cost type, model and feature), revenue to contract terms or
billed lines (`revenue_lines`), percentiles to the days and tasks they were taken from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, text

from engine.money import HUNDRED, TENTH, ZERO, pct_text, round_to, usd, usd_text
from engine.periods import Period
from engine.reports.figures import Figures, Share, Thresholds, nearest_rank, percentile
from engine.reports.names import resolve_customer, resolve_product
from engine.reports.revenue import RevenueLine, revenue_lines, total_by_customer, total_by_product
from engine.reports.usage import cost_by_day
from engine.store.columns import COST_TYPES
from engine.store.sql import COST_SUMS
from engine.vocab import SubjectKind


@dataclass(kw_only=True)
class MarginReport:
    """Everything `/margin` and `marginbot margin` show for one customer or product."""

    kind: SubjectKind  # customer | product
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
        return f"{pct_text(top.share_pct)} of COGS is {top.model or 'unattributed usage'}{where}"

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
            return f"{what} is new ({usd_text(top.cost)})"
        times = round_to(growth, TENTH)
        if growth >= 3:
            return f"{what} tripled (×{times})" if growth < 4 else f"{what} grew ×{times}"
        if growth >= 2:
            return f"{what} doubled (×{times})"
        return f"{what} up {pct_text((growth - 1) * HUNDRED)}"


# ---------------------------------------------------------------- costs: query, then tally


@dataclass
class _Tally:
    """COGS of one subject over the period and the one before, summed from the daily rollup's rows."""

    events: list[int] = field(default_factory=lambda: [0, 0])  # [current, previous]
    unpriced: list[int] = field(default_factory=lambda: [0, 0])
    total_nano: list[int] = field(default_factory=lambda: [0, 0])
    by_type_nano: list[int] = field(default_factory=lambda: [0] * len(COST_TYPES))  # current period only
    # (provider, model, feature) → [current, previous] nano-USD, for the three ways COGS is broken down
    models: dict[tuple[str, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    features: dict[tuple[str, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    drivers: dict[tuple[str, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    unpriced_models: set[str] = field(default_factory=set)

    def figures(self, slot: int, revenue: Decimal, thresholds: Thresholds) -> Figures:
        return Figures(
            revenue=revenue,
            cogs=usd(self.total_nano[slot]),
            events=self.events[slot],
            unpriced_events=self.unpriced[slot],
            thresholds=thresholds,
        )


def _cost_rows(conn: Connection, where: str, params: dict[str, Any]) -> Sequence[Row[*tuple[Any, ...]]]:
    """Cost per cost type, events and unpriced events per (period, provider, model, feature): one read of both
    periods (`current` tells them apart)."""
    return conn.execute(
        text(
            f"SELECT day >= :a AS current, provider, model, feature, SUM(events), SUM(unpriced_events), "
            f"{COST_SUMS} FROM daily_rollup WHERE {where} AND day BETWEEN :pa AND :b "
            "GROUP BY 1, 2, 3, 4"
        ),
        params,
    ).all()


def _tally(rows: Iterable[Row[*tuple[Any, ...]]]) -> _Tally:
    t = _Tally()
    for row in rows:
        current, provider, model, feature, events, unpriced = row[:6]
        costs = [int(v or 0) for v in row[6:]]
        cost = sum(costs)
        slot = 0 if current else 1
        t.models[(provider, model, "")][slot] += cost
        t.features[("", "", feature)][slot] += cost
        t.drivers[(provider, model, feature)][slot] += cost
        t.events[slot] += int(events)
        t.unpriced[slot] += int(unpriced or 0)
        t.total_nano[slot] += cost
        if current:
            t.by_type_nano = [a + b for a, b in zip(t.by_type_nano, costs, strict=True)]
            if unpriced:
                t.unpriced_models.add(f"{provider or '?'}/{model or '?'}")
    return t


def _shares(costs: dict[tuple[str, str, str], list[int]], total_nano: int, label: str) -> list[Share]:
    """Each slice's cost, share of the current total and previous cost, biggest first."""
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
        out.append(
            Share(
                key=key,
                cost=cost,
                share_pct=share,
                previous=usd(before),
                provider=provider,
                model=model,
                feature=feature,
            )
        )
    out.sort(key=lambda s: (-s.cost, s.key))
    return out


# ---------------------------------------------------------------- revenue: attribute lines to the subject


@dataclass(kw_only=True)
class _Revenue:
    lines: list[RevenueLine]  # the lines that pay for this subject
    current: Decimal
    previous: Decimal
    source: str  # contract | stripe | none | mixed


def _attribute_revenue(
    kind: SubjectKind, key: str, lines: list[RevenueLine], previous_lines: list[RevenueLine]
) -> _Revenue:
    """A customer's revenue is its lines; a product's is its share of every line that covers it."""
    if kind is SubjectKind.CUSTOMER:
        own = [line for line in lines if line.customer == key]
        revenue = sum((line.total for line in own), ZERO)
        prev_revenue = total_by_customer(previous_lines).get(key, ZERO)
    else:
        own = [line for line in lines if key in line.by_product]
        revenue = total_by_product(lines).get(key, ZERO)
        prev_revenue = total_by_product(previous_lines).get(key, ZERO)
    sources = {line.source for line in own}
    source = "none" if not sources else sources.pop() if len(sources) == 1 else "mixed"
    return _Revenue(lines=own, current=revenue, previous=prev_revenue, source=source)


# ---------------------------------------------------------------- the report


def _subject_filter(kind: SubjectKind) -> str:
    return "customer = :s" if kind is SubjectKind.CUSTOMER else "product = :s"


def subject_report(
    conn: Connection,
    kind: SubjectKind,
    key: str,
    name: str,
    period: Period,
    *,
    thresholds: Thresholds,
    lines: list[RevenueLine] | None = None,
    previous_lines: list[RevenueLine] | None = None,
) -> MarginReport:
    """The full answer for one customer (`kind=SubjectKind.CUSTOMER`) or product over `period`.

    `lines` and `previous_lines` (every revenue line of the period and the one before) save reads when the caller
    already has them.
    """
    prev = period.previous()
    where = _subject_filter(kind)
    params = {"s": key, "a": period.start, "b": period.end, "pa": prev.start, "pb": prev.end}

    costs = _tally(_cost_rows(conn, where, params))
    subject = {"customer": key} if kind is SubjectKind.CUSTOMER else {"product": key}
    per_day = cost_by_day(conn, period.start, period.end, **subject)
    day_costs = [per_day.get(d, 0) for d in period.iter_days()]
    tasks, task_p50, task_p99 = _task_percentiles(conn, where, params)

    customers = [key] if kind is SubjectKind.CUSTOMER else None
    if lines is None:
        lines = revenue_lines(conn, period, customers=customers)
    if previous_lines is None:
        previous_lines = revenue_lines(conn, prev, customers=customers)
    revenue = _attribute_revenue(kind, key, lines, previous_lines)

    now_nano = costs.total_nano[0]
    return MarginReport(
        kind=kind,
        key=key,
        name=name,
        period=period,
        current=costs.figures(0, revenue.current, thresholds),
        previous=costs.figures(1, revenue.previous, thresholds),
        revenue_source=revenue.source,
        revenue=revenue.lines,
        cogs_by_type={t: usd(v) for t, v in zip(COST_TYPES, costs.by_type_nano, strict=True)},
        by_model=_shares(costs.models, now_nano, "model"),
        by_feature=_shares(costs.features, now_nano, "feature"),
        drivers=_shares(costs.drivers, now_nano, "driver"),
        daily=[(d, usd(c)) for d, c in zip(period.iter_days(), day_costs, strict=True)],
        daily_cost_p50=usd(percentile(sorted(day_costs), 0.5)),
        daily_cost_p99=usd(percentile(sorted(day_costs), 0.99)),
        tasks=tasks,
        task_cost_p50=usd(task_p50),
        task_cost_p99=usd(task_p99),
        unpriced_models=sorted(costs.unpriced_models),
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
        rank = nearest_rank(n, q)
        sql = f"SELECT cost_nano {scope} ORDER BY cost_nano LIMIT 1 OFFSET :k"
        if rank > n // 2:  # walk from the expensive end: P99 is a few steps from it
            sql, rank = sql.replace("ORDER BY cost_nano", "ORDER BY cost_nano DESC"), n - rank + 1
        return int(conn.execute(text(sql), {**params, "k": rank - 1}).scalar_one())

    return n, at(0.5), at(0.99)


def customer_report(conn: Connection, ref: str, period: Period, *, thresholds: Thresholds) -> MarginReport:
    """Resolve `ref` (id, name or alias) and build its full margin answer."""
    key, name = resolve_customer(conn, ref)
    return subject_report(conn, SubjectKind.CUSTOMER, key, name, period, thresholds=thresholds)


def product_report(conn: Connection, ref: str, period: Period, *, thresholds: Thresholds) -> MarginReport:
    """Resolve `ref` (a product, any case) and build its full margin answer."""
    key = resolve_product(conn, ref)
    return subject_report(conn, SubjectKind.PRODUCT, key, key, period, thresholds=thresholds)
