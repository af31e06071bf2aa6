"""Usage as revenue and the daily figures count it, read from the rollups: one definition of each scan.

The counting rule (`COUNTING`, `count_units`) turns requests, tokens and tasks into a contract's units;
`UnitCounter` answers "how many units over these days" for revenue with as few queries as it can; `daily_rows`,
`daily_tasks` and `cost_by_day` are the per-day scans the alerts' trends, the forecasts, the reports and the
digest share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, TextClause, bindparam, text

from engine.money import ZERO
from engine.periods import Period, month_spans
from engine.store.sql import COST_SUM, fetch_tuples, where_equal
from engine.timeutil import as_date
from engine.vocab import SplitBasis, Unit

UsageTotals = dict[str, dict[str, tuple[int, int]]]  # customer → product → (requests, input + output tokens)

# The one counting rule: which count each unit reads, as an index into (requests, input + output tokens, tasks
# started), and how many of that count make one unit. Every caller divides by the second (it is 1 but for tokens).
COUNTING: dict[Unit, tuple[int, Decimal]] = {
    Unit.REQUEST: (0, Decimal(1)),
    Unit.TOKENS_1K: (1, Decimal(1000)),
    Unit.TASK: (2, Decimal(1)),
}


def count_units(unit: Unit, requests: int, tokens: int, tasks: int) -> Decimal:
    """`request` = requests, `1k_tokens` = (input + output tokens) / 1000, `task` = tasks started (see COUNTING)."""
    which, per = COUNTING[unit]
    return Decimal((requests, tokens, tasks)[which]) / per


def usage_totals(conn: Connection, start: date, end: date, customer: str | None = None) -> UsageTotals:
    """Requests and tokens per customer and product over [start, end], from the daily rollup."""
    sql = (
        "SELECT customer, product, SUM(requests), SUM(input_tokens + output_tokens) "
        "FROM daily_customer_product WHERE day BETWEEN :a AND :b"
    )
    params: dict[str, object] = {"a": start, "b": end}
    sql = where_equal(sql, params, customer=customer)
    totals: UsageTotals = defaultdict(dict)
    # One fetch of plain tuples: a Row for each of every customer's products costs more than the grouping.
    for cust, prod, req, tok in fetch_tuples(conn, text(sql + " GROUP BY customer, product"), params):
        totals[cust][prod] = (int(req or 0), int(tok or 0))
    return totals


class UnitCounter:
    """Units per (customer, product) over a period or part of it, fetched in as few queries as possible."""

    def __init__(
        self,
        conn: Connection,
        period: Period,
        customers: list[str] | None = None,
        totals: UsageTotals | None = None,
    ) -> None:
        self.conn = conn
        self.period = period
        single = customers[0] if customers is not None and len(customers) == 1 else None
        if totals is None:
            totals = usage_totals(conn, period.start, period.end, single) if customers != [] else {}
        self._full = totals
        self._single = single
        self._months: dict[tuple[date, date], UsageTotals] | None = None  # `_month_totals`, once asked
        self._tasks: dict[str, dict[str, int]] = {}
        # The customers prefetched for every product (prefetch_tasks' `whole`) whose tasks span products
        # (`spanning_tasks`), with their tasks over the whole period counted once each (`whole_tasks`); and all of
        # those looked at, spanning or not.
        self._whole: dict[str, int] = {}
        self._whole_checked: set[str] = set()
        # COGS (nano-USD) per product over the whole period of the customers prefetch_costs read it for.
        self._costs: dict[str, dict[str, int]] = {}

    def prefetch_tasks(self, customers: set[str], whole: Collection[str] = ()) -> None:
        """Tasks started in the whole period for these customers, in one statement (one per customer is slow); and
        for those of them in `whole` (with a contract metering tasks on every product), their tasks each counted
        once (`units`)."""
        if not customers:
            return
        self._tasks = {c: {} for c in customers}
        # Per customer, with the first and last of its products: a customer's tasks are nearly always one product's,
        # and grouping by customer follows the index (customer, day, ...) where grouping by product too sorts every
        # task first (SQLite: 3.1 -> 2.4 ms CPU for the bench's 256 customers). Those with several are counted again
        # per product.
        several: list[str] = []
        for cust, first, last, n in self._count_tasks("MIN(product), MAX(product), COUNT(*)", "customer", customers):
            if first == last:
                self._tasks[cust][first] = int(n)
            else:
                several.append(cust)
        if several:
            for cust, prod, n in self._count_tasks("product, COUNT(*)", "customer, product", several):
                self._tasks[cust][prod] = int(n)
        # Only those asked for: the check costs ~3 µs a customer, and most customers' task contracts name a product.
        self._whole_checked = set(whole) & customers
        spanning = spanning_tasks(self.conn, self._whole_checked)
        self._whole = whole_tasks(self.conn, self.period, spanning)

    def prefetch_costs(self, customers: Collection[str]) -> None:
        """COGS per product over the whole period, in one statement, for those of `customers` (whose revenue for
        every product is split across products: `split`) with a product whose requests are not counted: only
        theirs is split by COGS. Most books have none (the bench's 3,069 customer-products count requests), and
        for them nothing is read; summing the cost columns for every customer would cost a full read of the
        window (~75 -> ~135 ms on the bench's 30 days)."""
        full = self._full
        wanted = sorted(c for c in customers if any(not v[0] for v in full.get(c, {}).values()))
        if not wanted:
            return
        sql = text(
            f"SELECT customer, product, {_COST_PARTS} FROM daily_customer_product WHERE customer IN :cs "
            "AND day BETWEEN :a AND :b GROUP BY customer, product"
        ).bindparams(bindparam("cs", expanding=True))
        costs: dict[str, dict[str, int]] = {c: {} for c in wanted}
        for cust, prod, high, low in fetch_tuples(
            self.conn, sql, {"a": self.period.start, "b": self.period.end, "cs": wanted}
        ):
            costs[cust][prod] = _joined(high, low)
        self._costs.update(costs)

    def _count_tasks(self, columns: str, groups: str, customers: Collection[str]) -> list[tuple[Any, ...]]:
        sql = text(
            f"SELECT customer, {columns} FROM task_rollup WHERE customer IN :cs AND day BETWEEN :a AND :b "
            f"GROUP BY {groups}"
        ).bindparams(bindparam("cs", expanding=True))
        return fetch_tuples(self.conn, sql, {"a": self.period.start, "b": self.period.end, "cs": sorted(customers)})

    def by_product(self, customer: str, product: str, unit: Unit, a: date, b: date) -> dict[str, Decimal]:
        """Units per product for one customer over [a, b] (product '' = every product)."""
        which, per = COUNTING[unit]
        if unit is Unit.TASK:
            full_period = a == self.period.start and b == self.period.end
            tasks = self._tasks.get(customer) if full_period else None
            if tasks is None:
                tasks = self._read_tasks(customer, product, a, b)
            return {p: Decimal(n) / per for p, n in tasks.items() if not product or p == product}
        pairs = self._usage(customer, product, a, b)
        if product:  # the usual contract, asked once per contract per period: one lookup, not a filtered pass
            counts = pairs.get(product)
            if counts is None:
                return {}
            return {product: Decimal(counts[which]) if per == 1 else Decimal(counts[which]) / per}
        if per == 1:  # requests: a count is its own number of units (the same Decimal as n / 1), asked per contract
            return {p: Decimal(v[which]) for p, v in pairs.items() if not product or p == product}
        return {p: Decimal(v[which]) / per for p, v in pairs.items() if not product or p == product}

    def split(
        self, customer: str, a: date, b: date, basis: SplitBasis | None = None
    ) -> tuple[SplitBasis, dict[str, Decimal]]:
        """What revenue for every product of `customer` over [a, b] is split across its products by (SplitBasis),
        and each product's weight: its requests when every product with usage on those days has requests counted,
        else its COGS (nano-USD); `basis`: weigh by that one, chosen already. A product with usage whose requests
        are unknown would get nothing by requests; its COGS, never its tokens, is what every source gives alike (a
        retrieval or rerank product may have requests and no tokens)."""
        pairs = self._usage(customer, "", a, b)
        if basis is None:
            # A product is here only with usage on those days (every rollup row holds an event), so requests of 0
            # are requests not counted. (The longest month's remainder in `_month_totals` may also hold a product
            # with none that month: weighed by COGS then, which still follows every product's usage.)
            counted = all(v[0] for v in pairs.values())
            basis = SplitBasis.REQUESTS if counted else SplitBasis.COGS
        if basis is SplitBasis.REQUESTS:
            return basis, {p: Decimal(v[0]) for p, v in pairs.items()}
        costs = self._costs.get(customer) if a == self.period.start and b == self.period.end else None
        if costs is None:
            costs = self._read_costs(customer, a, b)
        return basis, {p: Decimal(n) for p, n in costs.items()}

    def _usage(self, customer: str, product: str, a: date, b: date) -> dict[str, tuple[int, int]]:
        """(requests, tokens) per product of `customer` over [a, b] (every product when `product` is '')."""
        if a == self.period.start and b == self.period.end:  # the usual case: answered from memory
            return self._full.get(customer, {})
        if self._months and (a, b) in self._months:  # one of the period's months, read for every customer at once
            return self._months[(a, b)].get(customer, {})
        return self._read_usage(customer, product, a, b)

    def units(
        self, customer: str, product: str, unit: Unit, a: date, b: date, per_product: dict[str, Decimal]
    ) -> Decimal:
        """The units a contract on `product` ('' = every product) meters over [a, b], from what `by_product` gave
        for it (`per_product`): their sum, but for tasks on every product, where a task that ran in two products
        is one task, started on the first day of either (`whole_tasks`), not one in each."""
        if unit is not Unit.TASK or product:
            return sum(per_product.values(), ZERO)
        if a == self.period.start and b == self.period.end and customer in self._whole_checked:
            whole = self._whole.get(customer)
            return Decimal(whole) if whole is not None else sum(per_product.values(), ZERO)
        if not spanning_tasks(self.conn, [customer]):
            return sum(per_product.values(), ZERO)
        return Decimal(whole_tasks(self.conn, Period(a, b, ""), [customer]).get(customer, 0))

    def units_over(self, customer: str, product: str, unit: Unit, a: date, b: date) -> Decimal:
        """`units` over [a, b] on its own: a hybrid contract asks it for each month of its days (its allowance is
        monthly). One of the period's own months is answered from `_month_totals`, every customer's at once."""
        if unit is not Unit.TASK:
            self._month_totals()  # read once: `by_product` answers the period's months from them
        return self.units(customer, product, unit, a, b, self.by_product(customer, product, unit, a, b))

    def _month_totals(self) -> dict[tuple[date, date], UsageTotals]:
        """Requests and tokens per customer and product in each month of the period (none when it has one): every
        month but the longest read, in one statement each, and the longest the period's totals (read already)
        less theirs. A trailing 30 days reads its few days of the month before, not the whole window again."""
        if self._months is None:
            spans = month_spans(self.period.start, self.period.end)
            self._months = {}
            if len(spans) > 1:
                longest = max(spans, key=lambda s: (s[1] - s[0], s[0]))
                rest: dict[str, dict[str, list[int]]] = {
                    c: {p: list(v) for p, v in pairs.items()} for c, pairs in self._full.items()
                }
                for a, b in spans:
                    if (a, b) == longest:
                        continue
                    read = usage_totals(self.conn, a, b, self._single)
                    self._months[(a, b)] = read
                    for c, pairs in read.items():
                        for p, (r, t) in pairs.items():
                            left = rest.setdefault(c, {}).setdefault(p, [0, 0])
                            left[0] -= r
                            left[1] -= t
                self._months[longest] = {c: {p: (v[0], v[1]) for p, v in pairs.items()} for c, pairs in rest.items()}
        return self._months

    def _read_tasks(self, customer: str, product: str, a: date, b: date) -> dict[str, int]:
        # Only task-metered contracts ask; one covering-index range per customer beats scanning every task.
        sql = "SELECT product, COUNT(*) FROM task_rollup WHERE customer = :c AND day BETWEEN :a AND :b"
        return {p: int(n) for p, n in self.conn.execute(*_of_product(sql, customer, product, a, b))}

    def _read_costs(self, customer: str, a: date, b: date) -> dict[str, int]:
        sql = f"SELECT product, {_COST_PARTS} FROM daily_customer_product WHERE customer = :c AND day BETWEEN :a AND :b"
        return {p: _joined(high, low) for p, high, low in self.conn.execute(*_of_product(sql, customer, "", a, b))}

    def _read_usage(self, customer: str, product: str, a: date, b: date) -> dict[str, tuple[int, int]]:
        sql = (
            "SELECT product, SUM(requests), SUM(input_tokens + output_tokens) FROM daily_customer_product "
            "WHERE customer = :c AND day BETWEEN :a AND :b"
        )
        return {
            p: (int(r or 0), int(t or 0)) for p, r, t in self.conn.execute(*_of_product(sql, customer, product, a, b))
        }


# COGS summed as its quotient and remainder by 2³², each sum far inside a BIGINT, put together in Python: a product
# past $9.2 billion in the window (a unit mistake) would pass a BIGINT summed whole, and take down every answer that
# splits its customer's revenue (as engine.reports.portfolio._split_sums keeps the portfolio's own sums).
_PART = 1 << 32
_COST_PARTS = f"SUM(({COST_SUM}) / {_PART}), SUM(({COST_SUM}) % {_PART})"


def _joined(high: object, low: object) -> int:
    return int(high or 0) * _PART + int(low or 0)  # type: ignore[call-overload]


def _of_product(sql: str, customer: str, product: str, a: date, b: date) -> tuple[TextClause, dict[str, object]]:
    """`sql` for one customer over [a, b], narrowed to `product` unless it is '' (every product), per product."""
    params: dict[str, object] = {"c": customer, "a": a, "b": b}
    return text(where_equal(sql, params, product=product or None) + " GROUP BY product"), params


def daily_rows(conn: Connection, period: Period, customer: str | None = None) -> list[tuple[Any, ...]]:
    """(customer, product, day, requests, input + output tokens, cost nano-USD) for each customer, product and day
    of `period` with usage: the rollup's own rows, so nothing is grouped. The day is as the database returns it
    (text on SQLite): callers that index days convert each distinct value once."""
    sql = (
        f"SELECT customer, product, day, requests, input_tokens + output_tokens, {COST_SUM} "
        "FROM daily_customer_product WHERE day BETWEEN :a AND :b"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    sql = where_equal(sql, params, customer=customer)
    # One fetch for tens of thousands of rows, as plain tuples: row-by-row fetching costs more than the query.
    return fetch_tuples(conn, text(sql), params)


def spanning_tasks(conn: Connection, customers: Collection[str]) -> set[str]:
    """Those of `customers` with tasks in more than one product, ever. Their tasks are counted per product, and a
    task that ran in two is in both: counting theirs on every product at once needs `whole_tasks`. For everyone
    else the products' counts add up to the customer's. (Two probes of the primary key per customer, its first and
    last product: nothing is scanned.)"""
    if not customers:
        return set()
    sql = text(
        "SELECT c.id FROM customer c WHERE c.id IN :cs AND (SELECT MIN(product) FROM task_rollup WHERE customer = c.id)"
        " <> (SELECT MAX(product) FROM task_rollup WHERE customer = c.id)"
    ).bindparams(bindparam("cs", expanding=True))
    return {row[0] for row in fetch_tuples(conn, sql, {"cs": sorted(customers)})}


def task_products(conn: Connection, customer: str) -> list[str]:
    """The products `customer`'s tasks ran in, off the primary key (customer, product, task_id) one product after
    the next: a seek each, however many tasks the customer has."""
    sql = text(
        "WITH RECURSIVE p(product) AS (SELECT MIN(product) FROM task_rollup WHERE customer = :c UNION ALL "
        "SELECT (SELECT MIN(product) FROM task_rollup WHERE customer = :c AND product > p.product) FROM p "
        "WHERE p.product IS NOT NULL) SELECT product FROM p WHERE product IS NOT NULL"
    )
    return [row[0] for row in fetch_tuples(conn, sql, {"c": customer})]


def whole_tasks_query(select: str, tail: str = "", *, around: str = "{}") -> TextClause:
    """`SELECT select FROM` the tasks customer :c started in [:a, :b], each once however many of its products
    (:ps, `task_products`) it ran in, as `w` (task_id, and day: its first day in any). The window's tasks are read
    off the (customer, day) index, and each is dropped when a row of it in any product is older than the window:
    it started before. (A task's first day in one product says nothing of another's; reading the customer's whole
    history to tell cost a customer with 400 tasks a day for two years ~0.4 s a call.) `around`: a statement the
    whole stands inside of, at its `{}`."""
    sql = (
        f"SELECT {select} FROM (SELECT task_id, MIN(day) AS day FROM task_rollup WHERE customer = :c "
        "AND day BETWEEN :a AND :b GROUP BY task_id) AS w WHERE NOT EXISTS (SELECT 1 FROM task_rollup o "
        "WHERE o.customer = :c AND o.product IN :ps AND o.task_id = w.task_id AND o.day < :a)" + tail
    )
    return text(around.format(sql)).bindparams(bindparam("ps", expanding=True))


def _each_whole(
    conn: Connection, period: Period, customers: Collection[str], select: str, tail: str = ""
) -> dict[str, list[tuple[Any, ...]]]:
    # One statement per customer: only customers whose tasks span products are asked about, and few do.
    query = whole_tasks_query(select, tail)
    return {
        c: fetch_tuples(conn, query, {"c": c, "a": period.start, "b": period.end, "ps": task_products(conn, c)})
        for c in sorted(customers)
    }


def whole_tasks(conn: Connection, period: Period, customers: Collection[str]) -> dict[str, int]:
    """Tasks each of `customers` started in `period`, a task that ran in several products counted once, on its
    first day in any (only customers whose tasks span products need this: `spanning_tasks`)."""
    return {c: int(rows[0][0]) for c, rows in _each_whole(conn, period, customers, "COUNT(*)").items()}


def whole_task_days(conn: Connection, period: Period, customers: Collection[str]) -> dict[str, dict[date, int]]:
    """`whole_tasks` per day of `period`: customer → day → tasks started that day (days with none left out)."""
    days = _each_whole(conn, period, customers, "w.day, COUNT(*)", " GROUP BY w.day")
    return {c: {as_date(day): int(n) for day, n in rows} for c, rows in days.items()}


def daily_tasks(
    conn: Connection, period: Period, customers: Collection[str] | None = None
) -> Sequence[Row[*tuple[Any, ...]]]:
    """(customer, product, day, tasks started) over `period`, for `customers` (None: every customer)."""
    sql = "SELECT customer, product, day, COUNT(*) FROM task_rollup WHERE day BETWEEN :a AND :b"
    params: dict[str, object] = {"a": period.start, "b": period.end}
    query = text(sql + " GROUP BY customer, product, day")
    if customers is not None:
        # Only the customers asked about: their (customer, day) index ranges, not every task in the window.
        query = text(sql + " AND customer IN :cs GROUP BY customer, product, day").bindparams(
            bindparam("cs", expanding=True)
        )
        params["cs"] = sorted(customers)
    return conn.execute(query, params).all()


def cost_by_day(
    conn: Connection, start: date, end: date, *, customer: str | None = None, product: str | None = None
) -> dict[date, int]:
    """COGS (nano-USD) per day over [start, end] with any, for one customer, one product or everything."""
    sql = f"SELECT day, SUM({COST_SUM}) FROM daily_customer_product WHERE day BETWEEN :a AND :b"
    params: dict[str, object] = {"a": start, "b": end}
    sql = where_equal(sql, params, customer=customer, product=product)
    return {as_date(d): int(c or 0) for d, c in conn.execute(text(sql + " GROUP BY day"), params).all()}
