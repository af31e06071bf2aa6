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

import numpy as np
from sqlalchemy import Connection, Row, text

from engine.money import HUNDRED, ZERO, share_text, usd
from engine.periods import Period
from engine.reports.accounts import accounts
from engine.reports.figures import Figures, Projection, Share, Thresholds, nearest_rank, percentile, run_rate
from engine.reports.invoicing import (
    NotInvoiced,
    ProductNotInvoiced,
    Unconverted,
    WrittenOff,
    not_invoiced,
    product_not_invoiced,
    touching,
    unconverted,
    written_off,
    written_off_touching,
)
from engine.reports.movers import Move, MoverRule, rank_moves
from engine.reports.names import resolve_customer, resolve_product, similar_customers
from engine.reports.revenue import (
    Carried,
    RevenueLine,
    carried,
    contracts_in,
    lines_sum,
    part_period_contracts,
    revenue_lines,
    total_by_customer,
    total_by_product,
)
from engine.reports.usage import cost_by_day, spanning_tasks, task_products, whole_tasks_query
from engine.store.columns import COST_TYPES
from engine.store.sql import COST_SUM, COST_SUMS
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
    mover_rule: MoverRule = field(default_factory=MoverRule)
    # A product's customers by COGS (empty for a customer report).
    customers: list[CustomerSlice] = field(default_factory=list)
    # A customer with usage and no contract at all: its usage is cost with no revenue. `similar` names customers it
    # may be meant to be (a name typed differently in the usage).
    no_contract: bool = False
    similar: list[str] = field(default_factory=list)
    own_bands: bool = False  # the customer's contracts set its margin bands: `current.thresholds` are those
    # Its contracts in force on only some days of a period to date's whole length (the run rate says so).
    part_period_contracts: int = 0
    # For a period to date: its contracts' revenue carried over the whole period (projected_revenue), and the
    # revenue billed by invoice so far with how many customers it is of, carried at its rate so far (`run_rate`).
    # None for a complete period, or a report built by hand (its revenue is then scaled as its COGS is).
    carried: Carried | None = None
    # A customer billed by invoice whose last days of the period no invoice covers yet (billed in arrears), with no
    # contract on them: their COGS counts against no revenue until the invoice comes (engine.reports.invoicing). For a
    # product, the customers of it so awaiting an invoice, with the COGS those days put on it.
    not_invoiced: NotInvoiced | ProductNotInvoiced | None = None
    # Billed lines over the period in another currency than USD, left out of its revenue until converted (a customer's
    # own; for a product, those billing it, or billing no product for a customer that used it on their days): the
    # answer names them (engine.reports.invoicing.unconverted).
    unconverted: list[Unconverted] = field(default_factory=list)
    # Invoices over the period marked uncollectible in Stripe (a customer's own; for a product, those naming it, or no
    # product of a customer that used it on their days): in revenue as earned, which the answer says
    # (engine.reports.invoicing.written_off, written_off_touching).
    written_off: list[WrittenOff] = field(default_factory=list)

    @property
    def projection(self) -> Projection | None:
        """For a period to date, the whole period: fees and seats by contract dates, COGS and metered usage at the
        daily rate so far (labelled as a run rate)."""
        return run_rate(
            self.current, self.period, part_period_contracts=self.part_period_contracts, carried=self.carried
        )

    @property
    def top_lever(self) -> str:
        """The one biggest lever, in plain words."""
        if not self.drivers or self.current.cogs <= 0:
            return "no COGS in this period"
        top = self.drivers[0]
        where = f" on {top.feature}" if top.feature else ""
        return f"{share_text(top.share_pct)} of COGS is {top.model or 'unattributed usage'}{where}"

    @property
    def moves(self) -> list[Move]:
        """Cost drivers (a model on a feature) that moved against the previous period by at least the mover floor,
        biggest dollar change first."""
        return rank_moves(
            (Move(key=_driver_words(d), now=d.cost, before=d.previous) for d in self.drivers),
            subject_cogs=self.current.cogs,
            rule=self.mover_rule,
        )

    @property
    def top_mover(self) -> str | None:
        """The driver whose cost moved the most dollars against the previous period, in plain words: "gpt-4o on
        agent-run +$412.37 (×3.1)"; None when nothing moved by the mover floor."""
        moves = self.moves
        return moves[0].text if moves else None


def _driver_words(d: Share) -> str:
    where = f" on {d.feature}" if d.feature else ""
    return f"{d.model or 'unattributed usage'}{where}"


@dataclass(kw_only=True)
class CustomerSlice:
    """One customer's part of a product: its revenue for the product, and the product's COGS for it."""

    key: str
    name: str
    figures: Figures


# ---------------------------------------------------------------- costs: query, then tally


@dataclass
class _Tally:
    """COGS of one subject over the period and the one before, summed from the daily rollup's rows."""

    events: list[int] = field(default_factory=lambda: [0, 0])  # [current, previous]
    unpriced: list[int] = field(default_factory=lambda: [0, 0])
    total_nano: list[int] = field(default_factory=lambda: [0, 0])
    by_type_nano: list[int] = field(default_factory=lambda: [0] * len(COST_TYPES))  # current period only
    # (provider, model, feature) → [current, previous] nano-USD and the current period's unpriced events, for the
    # three ways COGS is broken down
    models: dict[tuple[str, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    features: dict[tuple[str, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    drivers: dict[tuple[str, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
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
            # The previous period may end before this one starts (the first 26 days of October against November
            # to date): the days between belong to neither.
            "AND (day >= :a OR day <= :pb) GROUP BY 1, 2, 3, 4"
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
        unpriced = int(unpriced or 0)
        for slice_ in (
            t.models[(provider, model, "")],
            t.features[("", "", feature)],
            t.drivers[(provider, model, feature)],
        ):
            slice_[slot] += cost
            if current:
                slice_[2] += unpriced
        t.events[slot] += int(events)
        t.unpriced[slot] += unpriced
        t.total_nano[slot] += cost
        if current:
            t.by_type_nano = [a + b for a, b in zip(t.by_type_nano, costs, strict=True)]
            if unpriced:
                t.unpriced_models.add(f"{provider or '?'}/{model or '?'}")
    return t


def _shares(costs: dict[tuple[str, str, str], list[int]], total_nano: int, label: str) -> list[Share]:
    """Each slice's cost, share of the current total, previous cost and unpriced events, biggest first."""
    out: list[Share] = []
    for (provider, model, feature), (now, before, unpriced) in costs.items():
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
                unpriced_events=unpriced,
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
        revenue = lines_sum(own).dollars()  # the exact sum of its lines, as the portfolio's row has it
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
    movers: MoverRule | None = None,
) -> MarginReport:
    """The full answer for one customer (`kind=SubjectKind.CUSTOMER`) or product over `period`.

    `lines` and `previous_lines` (every revenue line of the period and the one before) save reads when the caller
    already has them; `movers` is the floor under which a change in cost is not called a mover.
    """
    prev = period.previous()
    where = _subject_filter(kind)
    params = {"s": key, "a": period.start, "b": period.end, "pa": prev.start, "pb": prev.end}

    costs = _tally(_cost_rows(conn, where, params))
    subject = {"customer": key} if kind is SubjectKind.CUSTOMER else {"product": key}
    per_day = cost_by_day(conn, period.start, period.end, **subject)
    day_costs = [per_day.get(d, 0) for d in period.iter_days()]
    # A customer whose tasks ran in several products has such a task in each product's rows: each is one task.
    whole = kind is SubjectKind.CUSTOMER and bool(spanning_tasks(conn, [key]))
    tasks, task_p50, task_p99 = _task_percentiles(conn, where, params, whole=whole)

    customers = [key] if kind is SubjectKind.CUSTOMER else None
    product = key if kind is SubjectKind.PRODUCT else None
    if lines is None:
        lines = revenue_lines(conn, period, customers=customers)
    if previous_lines is None:
        previous_lines = revenue_lines(conn, prev, customers=customers)
    revenue = _attribute_revenue(kind, key, lines, previous_lines)

    now_nano = costs.total_nano[0]
    current = costs.figures(0, revenue.current, thresholds)
    late: NotInvoiced | ProductNotInvoiced | None
    if kind is SubjectKind.CUSTOMER:
        late = not_invoiced(conn, period, {key: current}, [key]).get(key)
        left_out = unconverted(conn, period, customers)
    else:
        late = product_not_invoiced(conn, period, key, current)
        left_out = touching(conn, unconverted(conn, period), key, period)
    return MarginReport(
        kind=kind,
        key=key,
        name=name,
        period=period,
        current=current,
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
        mover_rule=movers or MoverRule(),
        customers=_product_customers(conn, key, period, lines, thresholds) if kind is SubjectKind.PRODUCT else [],
        part_period_contracts=_part_period(conn, kind, key, period, revenue.lines),
        carried=None if period.complete else carried(conn, period, lines, customer=customers, product=product),
        not_invoiced=late,
        unconverted=left_out,
        written_off=(
            written_off(conn, period, customers)
            if kind is SubjectKind.CUSTOMER
            else written_off_touching(conn, written_off(conn, period, customers), key, period)
        ),
    )


def _part_period(conn: Connection, kind: SubjectKind, key: str, period: Period, lines: list[RevenueLine]) -> int:
    """The contracts behind the subject's revenue in force on only some days of a period to date (its run rate says
    so): a customer's, or a product's own and the every-product ones of customers paying for it (a customer billed by
    invoice has none behind its revenue). 0 for a complete period."""
    if period.complete:
        return 0
    billed = {line.customer for line in lines if line.source != "contract" and not line.one_off}
    if kind is SubjectKind.CUSTOMER:
        return 0 if key in billed else part_period_contracts(contracts_in(conn, period.whole(), [key]), period)
    paying = {line.customer for line in lines if line.source == "contract"}
    theirs = [
        c
        for c in contracts_in(conn, period.whole(), None)
        if c.customer not in billed and (c.product == key or (not c.product and c.customer in paying))
    ]
    return part_period_contracts(theirs, period)


def _product_customers(
    conn: Connection, product: str, period: Period, lines: list[RevenueLine], thresholds: Thresholds
) -> list[CustomerSlice]:
    """Each customer's revenue for `product` and the product's COGS for them, most COGS first."""
    cost = {
        cust: int(c or 0)
        for cust, c in conn.execute(
            text(
                f"SELECT customer, SUM({COST_SUM}) FROM daily_customer_product WHERE product = :p "
                "AND day BETWEEN :a AND :b GROUP BY customer"
            ),
            {"p": product, "a": period.start, "b": period.end},
        )
    }
    theirs: dict[str, list[RevenueLine]] = defaultdict(list)
    for line in lines:
        if product in line.by_product:
            theirs[line.customer].append(line)
    # Each customer's share of the product, exactly (their lines' 28-digit pieces added could miss a half cent).
    revenue = {customer: total_by_product(own)[product] for customer, own in theirs.items()}
    keys = (set(cost) | set(revenue)) - {""}
    names: dict[str, str] = dict(conn.execute(text("SELECT id, name FROM customer")).all()) if keys else {}
    out = [
        CustomerSlice(
            key=k,
            name=names.get(k) or k,
            figures=Figures(revenue=revenue.get(k, ZERO), cogs=usd(cost.get(k, 0)), thresholds=thresholds),
        )
        for k in keys
    ]
    out.sort(key=lambda c: (-c.figures.cogs, -c.figures.revenue, c.key))
    return out


def _task_percentiles(conn: Connection, where: str, params: dict[str, Any], *, whole: bool) -> tuple[int, int, int]:
    """How many tasks started in the period, and the nearest-rank P50 and P99 of their cost (nano-USD). `whole`:
    the tasks of a customer whose tasks span products, each once with its cost in every product, started on its
    first day in any (engine.reports.usage.whole_tasks_query).

    A heavy customer runs tens of thousands of tasks a month. The window's task costs come off the (customer, day)
    index, which carries them, and an index in cost order would walk every task the customer ever had: the work
    follows the window's tasks. They come back as one text of comma-separated integers (a Python row, or a JSON
    value, per task cost more than reading them), parsed by numpy straight into 64-bit integers (exactly, however
    large: no float on the way), and the two ranks are selected in place rather than every cost sorted (the bench's
    heaviest customer, 11,829 tasks: 0.32 ms against 1.45 ms for json.loads and sorted).
    """
    array = "string_agg(cost_nano::text, ',')" if conn.dialect.name == "postgresql" else "group_concat(cost_nano, ',')"
    if whole:
        # Each task once, with its cost in every product it ran in (a probe of the primary key per product).
        cost = (
            "(SELECT SUM(cost_nano) FROM task_rollup t WHERE t.customer = :c AND t.product IN :ps "
            "AND t.task_id = w.task_id) AS cost_nano"
        )
        query = whole_tasks_query(cost, around=f"SELECT {array} FROM ({{}}) AS tasks")
        key = params["s"]
        found = conn.execute(
            query, {"c": key, "a": params["a"], "b": params["b"], "ps": task_products(conn, key)}
        ).scalar()
    else:
        sql = f"SELECT {array} FROM task_rollup WHERE {where} AND day BETWEEN :a AND :b"
        found = conn.execute(text(sql), params).scalar()  # NULL when there are no tasks
    costs = np.fromstring(found or "", dtype=np.int64, sep=",")
    n = len(costs)
    if not n:
        return 0, 0, 0
    p50, p99 = nearest_rank(n, 0.5) - 1, nearest_rank(n, 0.99) - 1
    ranked = np.partition(costs, [p50, p99])  # each of the two in its sorted place, the rest only either side
    return n, int(ranked[p50]), int(ranked[p99])


def customer_report(
    conn: Connection, ref: str, period: Period, *, thresholds: Thresholds, movers: MoverRule | None = None
) -> MarginReport:
    """Resolve `ref` (id, name or alias) and build its full margin answer."""
    key, name = resolve_customer(conn, ref)
    account = accounts(conn, [key]).get(key)
    own = account is not None and account.has_own_bands
    if account is not None:
        thresholds = account.thresholds(thresholds)
    report = subject_report(conn, SubjectKind.CUSTOMER, key, name, period, thresholds=thresholds, movers=movers)
    report.own_bands = own
    if not report.revenue and not _has_contract(conn, key):
        report.no_contract = True
        report.similar = similar_customers(conn, key, name)
    return report


def _has_contract(conn: Connection, customer: str) -> bool:
    """Whether the customer has ever had a contract or a billed line."""
    sql = "SELECT 1 FROM contract WHERE customer = :c UNION ALL SELECT 1 FROM revenue_actual WHERE customer = :c"
    return conn.execute(text(sql), {"c": customer}).first() is not None


def product_report(
    conn: Connection, ref: str, period: Period, *, thresholds: Thresholds, movers: MoverRule | None = None
) -> MarginReport:
    """Resolve `ref` (a product, any case) and build its full margin answer."""
    key = resolve_product(conn, ref)
    return subject_report(conn, SubjectKind.PRODUCT, key, key, period, thresholds=thresholds, movers=movers)
