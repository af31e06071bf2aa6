"""Gross margin per customer, per product and for the portfolio, read from the daily rollups.

Every figure traces back: COGS to priced events (by cost type, model and feature), revenue to contract terms or
billed lines (`revenue_lines`), percentiles to the days and tasks they were taken from.
"""

from __future__ import annotations

import difflib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, text

from engine.models import COST_COLUMNS, COST_TYPES, NANO
from engine.periods import Period
from engine.revenue import (
    RevenueLine,
    UsageTotals,
    contracts_in,
    revenue_lines,
    total_by_customer,
    total_by_product,
)
from engine.timeutil import as_date

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_COST_SUM = " + ".join(COST_COLUMNS)
_COST_SUMS = ", ".join(f"SUM({c})" for c in COST_COLUMNS)


class UnknownSubject(LookupError):
    """No customer or product by that name; carries the closest names to suggest."""

    def __init__(self, kind: str, ref: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no {kind} {ref!r}{hint}")
        self.kind = kind
        self.ref = ref
        self.suggestions = suggestions


@dataclass(frozen=True)
class Thresholds:
    breach_pct: Decimal = Decimal(40)
    healthy_pct: Decimal = Decimal(55)


def usd(nano: int) -> Decimal:
    return Decimal(nano) / NANO


def margin_pct(revenue: Decimal, cogs: Decimal) -> Decimal | None:
    if revenue <= 0:
        return None
    return (revenue - cogs) / revenue * HUNDRED


def status_of(revenue: Decimal, cogs: Decimal, t: Thresholds) -> str:
    pct = margin_pct(revenue, cogs)
    if pct is None:
        return "no_revenue"
    if pct < t.breach_pct:
        return "breach"
    if pct < t.healthy_pct:
        return "watch"
    return "healthy"


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Figures:
    """The core figures of one subject over one period."""

    revenue: Decimal = ZERO
    cogs: Decimal = ZERO
    events: int = 0
    unpriced_events: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_pct(self.revenue, self.cogs)

    @property
    def status(self) -> str:
        return status_of(self.revenue, self.cogs, self.thresholds)

    @property
    def gross_profit(self) -> Decimal:
        return self.revenue - self.cogs


@dataclass
class Share:
    """A slice of COGS (a model, a feature, a model on a feature, a cost type) with its previous value."""

    key: str
    cost: Decimal
    share_pct: Decimal
    previous: Decimal = ZERO
    provider: str = ""
    model: str = ""
    feature: str = ""

    @property
    def growth(self) -> Decimal | None:
        """Current over previous cost (2 = doubled); None when there was nothing before."""
        return self.cost / self.previous if self.previous > 0 else None


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


def _pct_text(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1'), ROUND_HALF_UP)}%"


# ---------------------------------------------------------------- resolving names


def resolve_customer(conn: Connection, ref: str) -> tuple[str, str]:
    """Find a customer by id, name or alias (case-insensitive). Returns (id, name); raises UnknownSubject."""
    wanted = ref.strip().lower()
    # The usual case, an exact id or name, is one indexed lookup or one narrow scan in the database.
    hit = conn.execute(
        text("SELECT id, name FROM customer WHERE id = :r OR lower(id) = :w OR lower(name) = :w LIMIT 1"),
        {"r": ref.strip(), "w": wanted},
    ).first()
    if hit is not None:
        return hit[0], hit[1] or hit[0]
    rows = conn.execute(text("SELECT id, name, aliases FROM customer")).all()
    candidates: dict[str, str] = {}
    for cid, name, aliases in rows:
        # The name first: suggestions read better as "Globex" than as the id "globex".
        labels = [name or "", cid, *(aliases or "").split(";")]
        for label in labels:
            label = label.strip()
            if not label:
                continue
            if label.lower() == wanted:
                return cid, name or cid
            candidates.setdefault(label.lower(), label)
    close = difflib.get_close_matches(wanted, list(candidates), n=3, cutoff=0.5)
    prefix = [candidates[k] for k in candidates if k.startswith(wanted) and wanted]
    suggestions = list(dict.fromkeys(prefix[:3] + [candidates[k] for k in close]))[:3]
    raise UnknownSubject("customer", ref, suggestions)


def resolve_product(conn: Connection, ref: str) -> str:
    wanted = ref.strip().lower()
    products = [
        p
        for (p,) in conn.execute(
            text("SELECT DISTINCT product FROM daily_customer_product UNION SELECT DISTINCT product FROM contract")
        )
        if p
    ]
    for p in products:
        if p.lower() == wanted:
            return p
    close = difflib.get_close_matches(wanted, [p.lower() for p in products], n=3, cutoff=0.5)
    by_lower = {p.lower(): p for p in products}
    raise UnknownSubject("product", ref, [by_lower[c] for c in close])


# ---------------------------------------------------------------- reports


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
            f"{_COST_SUMS} FROM daily_rollup WHERE {where} AND day BETWEEN :pa AND :b "
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
            f"SELECT day, SUM({_COST_SUM}) FROM daily_customer_product WHERE {where} "
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


# ---------------------------------------------------------------- portfolio


@dataclass
class PortfolioRow:
    kind: str
    key: str
    name: str
    current: Figures
    previous: Figures


@dataclass
class Portfolio:
    period: Period
    total: Figures
    previous_total: Figures
    customers: list[PortfolioRow]
    products: list[PortfolioRow]
    unpriced_models: list[str]

    def spread(self) -> dict[str, Any]:
        """The P50 and P99 customer by COGS, and the P50 customer margin: how uneven the book is."""
        rows = [r for r in self.customers if r.current.cogs > 0 or r.current.revenue > 0]
        if not rows:
            return {"customers": 0}
        by_cost = sorted(rows, key=lambda r: r.current.cogs)
        margins = sorted(r.current.margin_pct for r in rows if r.current.margin_pct is not None)

        def at(q: float) -> PortfolioRow:
            return by_cost[min(len(by_cost), max(1, math.ceil(q * len(by_cost)))) - 1]

        p50, p99 = at(0.5), at(0.99)
        return {
            "customers": len(rows),
            "p50_customer": p50.key,
            "p50_customer_cogs_usd": p50.current.cogs,
            "p50_customer_margin_pct": p50.current.margin_pct,
            "p99_customer": p99.key,
            "p99_customer_cogs_usd": p99.current.cogs,
            "p99_customer_margin_pct": p99.current.margin_pct,
            "cogs_p99_over_p50": (p99.current.cogs / p50.current.cogs) if p50.current.cogs > 0 else None,
            "margin_pct_p50": margins[max(1, math.ceil(0.5 * len(margins))) - 1] if margins else None,
        }


def _scan(conn: Connection, period: Period) -> dict[tuple[str, str], list[int]]:
    """Cost, events, unpriced events, requests and tokens per customer and product over `period`.

    The rollup is clustered by (customer, product), so grouping by them streams without a sort.
    """
    rows = conn.execute(
        text(
            f"SELECT customer, product, SUM({_COST_SUM}), SUM(events), SUM(unpriced_events), SUM(requests), "
            "SUM(input_tokens + output_tokens) FROM daily_customer_product WHERE day BETWEEN :a AND :b "
            "GROUP BY customer, product"
        ),
        {"a": period.start, "b": period.end},
    )
    return {(customer, product): [int(v or 0) for v in values] for customer, product, *values in rows}


def _totals(scan: dict[tuple[str, str], list[int]]) -> UsageTotals:
    totals: UsageTotals = defaultdict(dict)
    for (customer, product), v in scan.items():
        totals[customer][product] = (v[3], v[4])
    return totals


def _by(scan: dict[tuple[str, str], list[int]], index: int) -> dict[str, tuple[int, int, int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, v in scan.items():
        acc = out[key[index]]
        acc[0] += v[0]
        acc[1] += v[1]
        acc[2] += v[2]
    return {k: (a[0], a[1], a[2]) for k, a in out.items()}


def portfolio(conn: Connection, period: Period, *, thresholds: Thresholds) -> Portfolio:
    """Every customer and product with revenue, COGS, margin and status, plus the blended total."""
    prev = period.previous()
    scan_now, scan_before = _scan(conn, period), _scan(conn, prev)
    # Both periods' contracts in one read: the previous period ends the day before this one starts.
    terms = contracts_in(conn, Period(prev.start, period.end, "both"), None)
    lines = revenue_lines(conn, period, totals=_totals(scan_now), contracts=terms)
    prev_lines = revenue_lines(conn, prev, totals=_totals(scan_before), contracts=terms)
    names: dict[str, str] = {cid: name for cid, name in conn.execute(text("SELECT id, name FROM customer"))}
    cust_now, cust_before = _by(scan_now, 0), _by(scan_before, 0)
    prod_now, prod_before = _by(scan_now, 1), _by(scan_before, 1)
    rev_now, rev_before = total_by_customer(lines), total_by_customer(prev_lines)
    prod_rev_now, prod_rev_before = total_by_product(lines), total_by_product(prev_lines)

    def rows(kind: str, now: dict, before: dict, rnow: dict, rbefore: dict) -> list[PortfolioRow]:
        keys = (set(now) | set(rnow) | set(before) | set(rbefore)) - {""}
        out = []
        for k in keys:
            c, e, u = now.get(k, (0, 0, 0))
            pc, pe, pu = before.get(k, (0, 0, 0))
            out.append(
                PortfolioRow(
                    kind,
                    k,
                    names.get(k, k) if kind == "customer" else k,
                    Figures(rnow.get(k, ZERO), usd(c), e, u, thresholds),
                    Figures(rbefore.get(k, ZERO), usd(pc), pe, pu, thresholds),
                )
            )
        out.sort(key=lambda r: (r.current.margin_pct is not None, r.current.margin_pct or ZERO, r.key))
        return out

    customers = rows("customer", cust_now, cust_before, rev_now, rev_before)
    products = rows("product", prod_now, prod_before, prod_rev_now, prod_rev_before)
    unpriced = conn.execute(
        text("SELECT DISTINCT provider, model FROM daily_rollup WHERE day BETWEEN :a AND :b AND unpriced_events > 0"),
        {"a": period.start, "b": period.end},
    ).all()
    total = Figures(
        sum(rev_now.values(), ZERO),
        usd(sum(v[0] for v in cust_now.values())),
        sum(v[1] for v in cust_now.values()),
        sum(v[2] for v in cust_now.values()),
        thresholds,
    )
    previous_total = Figures(
        sum(rev_before.values(), ZERO),
        usd(sum(v[0] for v in cust_before.values())),
        sum(v[1] for v in cust_before.values()),
        sum(v[2] for v in cust_before.values()),
        thresholds,
    )
    return Portfolio(
        period,
        total,
        previous_total,
        customers,
        products,
        sorted(f"{p or '?'}/{m or '?'}" for p, m in unpriced),
    )
