"""Every customer and product at once, with the blended total: what `/margin portfolio`, alerts and the digest read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from engine.gc_pause import gc_paused
from engine.money import ZERO, usd
from engine.periods import Period
from engine.reports.accounts import accounts
from engine.reports.figures import Figures, Projection, Thresholds, margin_pct, pick, run_rate
from engine.reports.invoicing import NotInvoiced, Unconverted, WrittenOff, not_invoiced, unconverted, written_off
from engine.reports.revenue import (
    Carried,
    FixedCharges,
    PeriodRevenue,
    SkippedContract,
    Terms,
    carried,
    contracts_in,
    invoices,
    part_period_contracts,
    period_revenue,
    service_customers,
)
from engine.reports.usage import UsageTotals
from engine.store.sql import COST_SUM, answer_sum_too_large, fetch_tuples
from engine.vocab import SubjectKind


@dataclass(kw_only=True)
class PortfolioRow:
    """One customer or product of the portfolio, this period and the one before."""

    kind: SubjectKind  # customer | product
    key: str
    name: str
    current: Figures
    previous: Figures
    # A customer with usage and no contract (nor billed revenue) ever: its cost has nothing to pay for it, and its
    # usage may carry a name that was meant to be another customer's.
    no_contract: bool = False
    # The customer's contracts set its own margin bands (engine.reports.accounts): its figures' thresholds are those.
    own_bands: bool = False


@dataclass(kw_only=True)
class Portfolio:
    """Every customer and product over one period, and the blended total."""

    period: Period
    total: Figures
    previous_total: Figures
    customers: list[PortfolioRow]
    products: list[PortfolioRow]
    unpriced_models: list[str]
    # The revenue behind the figures, this period and the one before (None for a portfolio built by hand), its lines
    # written up only when asked (PeriodRevenue.lines, lines_of): reports on its customers and products can reuse
    # them instead of reading them again, and the portfolio's own answer needs only the totals.
    revenue: PeriodRevenue | None = None
    previous_revenue: PeriodRevenue | None = None
    # Stored contracts that could not be read and are left out of revenue (engine.reports.revenue.SkippedContract):
    # the answer says so rather than show a revenue figure quietly missing them.
    skipped_contracts: list[str] = field(default_factory=list)
    # The contracts read, in force on some day of this period or the one before (None for a portfolio built by
    # hand): the alerts' trends over the same days reuse them.
    terms: list[Terms] | None = None
    # Revenue in the total that no product's row holds, this period and the one before: a contract for every
    # product, and a billed (invoice) line naming none, split revenue across products by their usage; one with no
    # usage on its days has none to split it by.
    unallocated_revenue: Decimal = ZERO
    previous_unallocated_revenue: Decimal = ZERO
    # Contracts in force on only some days of a period to date's whole length (the run rate says so).
    part_period_contracts: int = 0
    # For a period to date, its revenue as the run rate carries it (engine.reports.revenue.carried); None for a
    # complete period, or a portfolio built by hand (its revenue is then scaled as its COGS is).
    carried: Carried | None = None
    # Customers billed by invoice whose last days of the period no invoice covers yet (billed in arrears), by key
    # (engine.reports.invoicing): their rows count those days' COGS against no revenue, and the answer says so.
    not_invoiced: dict[str, NotInvoiced] = field(default_factory=dict)
    # Billed lines in another currency than USD over the period, left out of revenue until converted.
    unconverted: list[Unconverted] = field(default_factory=list)
    # Invoices over the period marked uncollectible in Stripe: in revenue as earned, which the answer says.
    written_off: list[WrittenOff] = field(default_factory=list)

    @property
    def projection(self) -> Projection | None:
        """For a period to date, the blended total over the whole period: fees and seats by contract dates, COGS and
        metered usage at the daily rate so far."""
        return run_rate(self.total, self.period, part_period_contracts=self.part_period_contracts, carried=self.carried)

    def customers_named(self, key: str) -> str:
        """A customer's name as its row has it ("Acme Corp (acme)"), else its key."""
        for row in self.customers:
            if row.key == key:
                return f"{row.name} ({key})" if row.name != key else key
        return key

    def spread(self) -> dict[str, Any]:
        """The P50 and P99 customer by COGS, and the P50 customer margin: how uneven the book is."""
        rows = [r for r in self.customers if r.current.cogs > 0 or r.current.revenue > 0]
        if not rows:
            return {"customers": 0}
        by_cost = sorted(rows, key=lambda r: r.current.cogs)
        margins = sorted(r.current.margin_pct for r in rows if r.current.margin_pct is not None)
        p50, p99 = pick(by_cost, 0.5), pick(by_cost, 0.99)
        return {
            "customers": len(rows),
            "p50_customer": p50.key,
            "p50_customer_cogs_usd": p50.current.cogs,
            "p50_customer_margin_pct": p50.current.margin_pct,
            "p99_customer": p99.key,
            "p99_customer_cogs_usd": p99.current.cogs,
            "p99_customer_margin_pct": p99.current.margin_pct,
            "cogs_p99_over_p50": (p99.current.cogs / p50.current.cogs) if p50.current.cogs > 0 else None,
            "margin_pct_p50": pick(margins, 0.5) if margins else None,
        }


# Windows shorter than this read their days; longer ones read whole weeks and the days at their ends.
WEEKLY_FROM_DAYS = 14

_MEASURES = 5  # per period, as `_scan_rows` gives them: cost, events, unpriced events, requests, tokens


def _reads(period: Period) -> list[tuple[bool, date, date, int]]:
    """What adds up to `period`'s sums: (weekly?, first, last, sign) ranges of weeks or days, each read whole and
    added (+1) or taken off (-1).

    A window of weeks is read mostly from the weekly sums (weekly_customer_product, kept by the database from the
    daily rows): every week it touches, corrected by its end days, each end the cheaper way round. If the window
    starts on a Thursday, its first week is read whole and the Monday to Wednesday before the window taken off;
    if it starts on a Saturday, that week is left out and the Saturday and Sunday added. At most three days at
    each end are read from the daily rollup. The sums are integers, so they are exactly the daily rows' sums;
    both tables are keyed by day (week) first, so the work follows the window, not the history stored.
    """
    a, b = period.start, period.end
    if period.days < WEEKLY_FROM_DAYS:
        return [(False, a, b, 1)]
    first, last = a - timedelta(days=a.weekday()), b - timedelta(days=b.weekday())  # Mondays
    head = (a - first).days  # days of the first week before the window (0 to 6)
    tail = (last + timedelta(days=6) - b).days  # days of the last week after it
    reads = [
        (True, first if head <= 3 else first + timedelta(days=7), last if tail <= 3 else last - timedelta(days=7), 1),
        (False, first, a - timedelta(days=1), -1) if head <= 3 else (False, a, first + timedelta(days=6), 1),
        (False, b + timedelta(days=1), last + timedelta(days=6), -1) if tail <= 3 else (False, last, b, 1),
    ]
    return [r for r in reads if r[1] <= r[2]]


def _scan_rows(conn: Connection, periods: list[Period]) -> list[tuple[Any, ...]]:
    """(customer, product, then for each period its cost, events, unpriced events, requests and tokens) for every
    customer and product with usage in some of `periods`, in one statement (`_reads` says which weeks and days
    make up each period).

    Each range read carries its sign for every period as its own columns (the measures, negated or 0), so the
    database groups the rows once for all the periods: a period and the one before share their weeks' index ranges
    and the days where one meets the other, and ranges two periods read alike are read once. (Where the grouping
    costs more than reading the rows twice, as on SQLite, callers ask for one period at a time.)"""
    ranges: dict[tuple[bool, date, date], list[int]] = {}
    for i, period in enumerate(periods):
        for weekly, lo, hi, sign in _reads(period):
            ranges.setdefault((weekly, lo, hi), [0] * len(periods))[i] = sign
    measures = {
        True: ("cost_nano", "events", "unpriced_events", "requests", "tokens"),
        False: (f"({COST_SUM})", "events", "unpriced_events", "requests", "(input_tokens + output_tokens)"),
    }
    branches: list[str] = []
    params: dict[str, object] = {}
    for k, ((weekly, lo, hi), signs) in enumerate(ranges.items()):
        table, key = ("weekly_customer_product", "week") if weekly else ("daily_customer_product", "day")
        columns = [{1: m, -1: f"-{m}", 0: "0"}[s] for s in signs for m in measures[weekly]]
        branches.append(
            f"SELECT customer, product, {', '.join(f'{c} AS m{j}' for j, c in enumerate(columns))} "
            f"FROM {table} WHERE {key} BETWEEN :lo{k} AND :hi{k}"
        )
        params[f"lo{k}"], params[f"hi{k}"] = lo, hi
    # CAST: PostgreSQL's SUM of BIGINT is NUMERIC (a Decimal); an int from both databases needs no conversion here.
    sums = ", ".join(f"CAST(SUM(m{j}) AS BIGINT)" for j in range(len(periods) * _MEASURES))
    union = " UNION ALL ".join(branches)
    sql = f"SELECT customer, product, {sums} FROM ({union}) AS reads GROUP BY customer, product"
    # One fetch of plain tuples: row-by-row fetching, or a Row for each, costs more than the grouping. (A savepoint on
    # PostgreSQL, whose failed statement would end the transaction: see `_split_sums`.)
    try:
        if conn.dialect.name == "postgresql":
            with conn.begin_nested():
                return fetch_tuples(conn, text(sql), params)
        return fetch_tuples(conn, text(sql), params)
    except DBAPIError as exc:
        if not answer_sum_too_large(exc):
            raise
    return _split_sums(
        conn,
        f"SELECT customer, product, {{}} FROM ({union}) AS reads GROUP BY customer, product",
        params,
        len(periods) * _MEASURES,
    )


_SPLIT = 1 << 32


def _split_sums(conn: Connection, sql: str, params: dict[str, object], measures: int) -> list[tuple[Any, ...]]:
    """`_scan_rows`' sums where one passes a BIGINT (a customer's product costing past $9.2 billion in the period:
    a unit mistake, but one customer's must not take the portfolio, the alerts and the digest of every other down).
    Each measure is summed as its quotient and remainder by 2³², each sum far inside a BIGINT, and put together in
    Python, whose integers have no limit: exactly the sums the database would have made."""
    parts = ", ".join(f"SUM(m{j} / {_SPLIT}), SUM(m{j} % {_SPLIT})" for j in range(measures))
    rows = fetch_tuples(conn, text(sql.format(parts)), params)
    return [
        (customer, product, *(int(row[2 * j]) * _SPLIT + int(row[2 * j + 1]) for j in range(measures)))
        for customer, product, *row in rows
    ]


# Cost (nano-USD), events and unpriced events of a customer or a product.
_Counts = list[int]


def _sums(rows: list[tuple[Any, ...]], i: int) -> tuple[UsageTotals, dict[str, _Counts], dict[str, _Counts]]:
    """Period `i` of `_scan_rows` in one pass: requests and tokens per customer and product (what revenue counts),
    and cost, events and unpriced events per customer and per product (integers: the order they are added in
    changes nothing)."""
    totals: UsageTotals = {}
    customers: dict[str, _Counts] = {}
    products: dict[str, _Counts] = {}
    at = 2 + i * _MEASURES
    for row in rows:
        cost, events, unpriced, requests, tokens = row[at : at + _MEASURES]
        if not events:  # every daily row counts at least one event: a pair with none in the period has no day in it
            continue
        customer, product = row[0], row[1]
        mine = totals.get(customer)
        if mine is None:
            totals[customer] = {product: (requests, tokens)}
            customers[customer] = [cost, events, unpriced]
        else:
            mine[product] = (requests, tokens)
            counts = customers[customer]
            counts[0] += cost
            counts[1] += events
            counts[2] += unpriced
        summed = products.get(product)
        if summed is None:
            products[product] = [cost, events, unpriced]
        else:
            summed[0] += cost
            summed[1] += events
            summed[2] += unpriced
    return totals, customers, products


_NONE: Final = (0, 0, 0)


def _total(revenue: PeriodRevenue, counts: dict[str, _Counts], thresholds: Thresholds) -> Figures:
    exact = revenue.total()  # the exact sum of every line (the customers' 28-digit totals added would not be)
    return Figures(
        revenue=exact.dollars(),
        revenue_exact=exact,
        cogs=usd(sum(v[0] for v in counts.values())),
        events=sum(v[1] for v in counts.values()),
        unpriced_events=sum(v[2] for v in counts.values()),
        thresholds=thresholds,
    )


def portfolio(conn: Connection, period: Period, *, thresholds: Thresholds) -> Portfolio:
    """Every customer and product with revenue, COGS, margin and status, plus the blended total."""
    # The collector is paused: the portfolio allocates tens of thousands of objects (rows, charges, figures) and no
    # cycles, and the collections they would start walk the whole heap, a third of the call (engine/gc_pause.py).
    with gc_paused():
        return _portfolio(conn, period, thresholds)


def _portfolio(conn: Connection, period: Period, thresholds: Thresholds) -> Portfolio:
    prev = period.previous()
    if conn.dialect.name == "sqlite":
        # A statement per period: SQLite's grouping sums every column for every row read, and a range read for one
        # period alone carries the other's measures as zeros (the bench's portfolio: 30.5 ms against 35.5 together).
        # PostgreSQL's hashed grouping reads the shared ranges once for less (32 ms against 37 apart).
        scans = [(_scan_rows(conn, [period]), 0), (_scan_rows(conn, [prev]), 0)]
    else:
        both = _scan_rows(conn, [period, prev])
        scans = [(both, 0), (both, 1)]
    (totals_now, cust_now, prod_now), (totals_before, cust_before, prod_before) = (_sums(r, i) for r, i in scans)
    # Both periods' contracts in one read: the previous period ends the day before this one starts.
    skipped: list[SkippedContract] = []
    terms = contracts_in(conn, Period(prev.start, period.end, "both"), None, skipped=skipped)
    fixed: FixedCharges = {}  # two periods of the same length of month share their fixed charges
    revenue_now = period_revenue(conn, period, totals=totals_now, contracts=terms, fixed=fixed)
    revenue_before = period_revenue(conn, prev, totals=totals_before, contracts=terms, fixed=fixed)
    names: dict[str, str] = dict(fetch_tuples(conn, text("SELECT id, name FROM customer"), {}))
    # Customers whose contracts set their own bands are judged against them (products and the total: the global).
    banded = {c: a.thresholds(thresholds) for c, a in accounts(conn).items() if a.has_own_bands}
    paying = set(
        conn.execute(text("SELECT DISTINCT customer FROM contract UNION SELECT DISTINCT customer FROM revenue_actual"))
        .scalars()
        .all()
    )
    rev_now, rev_before = revenue_now.by_customer(), revenue_before.by_customer()
    prod_rev_now, prod_rev_before = revenue_now.by_product(), revenue_before.by_product()

    def rows(
        kind: SubjectKind,
        now: dict[str, _Counts],
        before: dict[str, _Counts],
        rnow: dict[str, Decimal],
        rbefore: dict[str, Decimal],
    ) -> list[PortfolioRow]:
        customer = kind is SubjectKind.CUSTOMER
        keys = (now.keys() | rnow.keys() | before.keys() | rbefore.keys()) - {""}
        own = banded if customer else {}
        # Worst first: cost with no revenue to pay for it, then by margin, then what had neither this period (a
        # customer who churned before it is not news), each by key; the immaterial ones (Figures.material: a
        # sub-cent customer) after all of those, in the same order, so none heads a list. The key is unique, so the
        # tuples never compare their rows.
        ranked: list[tuple[bool, int, Decimal, str, PortfolioRow]] = []
        for k in keys:
            bands = own.get(k, thresholds)
            revenue = rnow.get(k, ZERO)
            cost, events, unpriced = now.get(k, _NONE)
            cogs = usd(cost)
            current = Figures(revenue=revenue, cogs=cogs, events=events, unpriced_events=unpriced, thresholds=bands)
            cost, events, unpriced = before.get(k, _NONE)
            previous = Figures(
                revenue=rbefore.get(k, ZERO), cogs=usd(cost), events=events, unpriced_events=unpriced, thresholds=bands
            )
            row = PortfolioRow(
                kind=kind,
                key=k,
                name=names.get(k, k) if customer else k,
                current=current,
                previous=previous,
                no_contract=customer and k not in paying,
                own_bands=k in own,
            )
            margin = margin_pct(revenue, cogs)  # what row.current.margin_pct works out
            rank = 1 if margin is not None else 0 if cogs else 2
            ranked.append((not current.material, rank, margin or ZERO, k, row))
        ranked.sort()
        return [r[4] for r in ranked]

    unpriced = conn.execute(
        text("SELECT DISTINCT provider, model FROM daily_rollup WHERE day BETWEEN :a AND :b AND unpriced_events > 0"),
        {"a": period.start, "b": period.end},
    ).all()
    customers = rows(SubjectKind.CUSTOMER, cust_now, cust_before, rev_now, rev_before)
    return Portfolio(
        period=period,
        total=_total(revenue_now, cust_now, thresholds),
        previous_total=_total(revenue_before, cust_before, thresholds),
        customers=customers,
        products=rows(SubjectKind.PRODUCT, prod_now, prod_before, prod_rev_now, prod_rev_before),
        unpriced_models=sorted(f"{p or '?'}/{m or '?'}" for p, m in unpriced),
        revenue=revenue_now,
        previous_revenue=revenue_before,
        skipped_contracts=[str(c) for c in skipped],
        terms=terms,
        unallocated_revenue=prod_rev_now.get("", ZERO),
        previous_unallocated_revenue=prod_rev_before.get("", ZERO),
        part_period_contracts=_part_period(conn, period),
        carried=None if period.complete else carried(conn, period, revenue_now, totals=totals_now),
        not_invoiced=not_invoiced(conn, period, {r.key: r.current for r in customers}),
        unconverted=unconverted(conn, period),
        written_off=written_off(conn, period),
    )


def _part_period(conn: Connection, period: Period) -> int:
    """The contracts behind the book's revenue in force on only some days of a period to date (the run rate says
    so): every customer's, but those billed by invoice in it. 0 for a complete period."""
    if period.complete:
        return 0
    billed = service_customers(invoices(conn, period, None))
    contracts = contracts_in(conn, period.whole(), None)
    return part_period_contracts((c for c in contracts if c.customer not in billed), period)
