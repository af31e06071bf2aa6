"""What forecasts and price floors stand on: a customer's own history of usage, and what pays for it.

A month is judged on real 30-day windows of that history, rolled one day at a time: the P50 window is a typical
month, the P99 window a heavy one that actually happened. (Thirty copies of the worst day is not a month anyone
had: it is kept only as a labelled stress case.) A window carries its COGS and its metered counts together, so a
month's revenue and cost come from the same days. Revenue is always the contract terms' own rule (`Terms.charge`),
on the window's units. With less than SHORT_HISTORY_DAYS of history the windows overlap so much that P50 and P99
say little, and every answer says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, text

from engine.money import ONE, ZERO, fraction_decimal, usd, usd_text
from engine.periods import Period
from engine.reports.figures import Figures, Thresholds, pick
from engine.reports.revenue import (
    BILLED,
    Months,
    RevenueLine,
    Terms,
    contracts_in,
    describe_terms,
    invoices,
    lines_sum,
    month_fraction,
    prorated_lines,
    uncovered_runs,
)
from engine.reports.serialize import cents, micros
from engine.reports.usage import count_units, daily_rows, daily_tasks, spanning_tasks, whole_task_days
from engine.timeutil import as_date
from engine.vocab import Unit

WINDOW_DAYS = 30  # a month of history, as forecasts and floors judge it


@dataclass(frozen=True)
class Unpriced:
    """Usage in the days a what-if, forecast or floor stands on that no price covers: its COGS counts as $0, so the
    answer is too kind by that much, and says so (as `/margin` does)."""

    events: int = 0
    models: tuple[str, ...] = ()  # provider/model, sorted

    def as_dict(self) -> dict[str, Any]:
        return {"unpriced_events": self.events, "unpriced_models": list(self.models)}


def unpriced_in(conn: Connection, period: Period, customers: list[str] | None) -> Unpriced:
    """The unpriced events of `customers` (None: every customer) over `period`, and of which models."""
    sql = (
        "SELECT provider, model, SUM(unpriced_events) FROM daily_rollup "
        "WHERE day BETWEEN :a AND :b AND unpriced_events > 0"
    )
    params: dict[str, Any] = {"a": period.start, "b": period.end}
    if customers is not None:
        sql += " AND customer IN :cs"
        params["cs"] = customers
    query = text(sql + " GROUP BY provider, model")
    if customers is not None:
        query = query.bindparams(bindparam("cs", expanding=True))
    rows = conn.execute(query, params).all()
    return Unpriced(
        events=sum(int(n) for _, _, n in rows),
        models=tuple(sorted(f"{p or '?'}/{m or '?'}" for p, m, _ in rows)),
    )


SHORT_HISTORY_DAYS = 60  # under this, say that P50 and P99 months rest on few, overlapping windows


def _units(counts: dict[str, list[int]], unit: Unit, product: str, whole_tasks: int | None) -> Decimal:
    """Units as a contract on `product` ('' = every product) counts them, from [requests, tokens, tasks] per
    product, and the tasks started with each counted once when some ran in several products (None: the products'
    tasks add up)."""
    requests = tokens = tasks = 0
    for p, (r, t, k) in counts.items():
        if not product or p == product:
            requests, tokens, tasks = requests + r, tokens + t, tasks + k
    if not product and whole_tasks is not None:
        tasks = whole_tasks
    return count_units(unit, requests, tokens, tasks)


@dataclass(kw_only=True)
class DayUsage:
    """One day of one customer: its COGS (nano-USD) and its metered counts per product."""

    day: date
    cogs_nano: int = 0
    counts: dict[str, list[int]] = field(default_factory=dict)  # product → [requests, tokens, tasks started]
    # Tasks started, each once, for a customer whose tasks span products (engine.reports.usage.whole_tasks): a task
    # in two products is in both products' counts. None for everyone else.
    whole_tasks: int | None = None

    @property
    def cogs(self) -> Decimal:
        return usd(self.cogs_nano)

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape of a P50 or P99 day."""
        return {"day": self.day.isoformat(), "cogs_usd": micros(self.cogs)}

    def units_of(self, unit: Unit, product: str = "") -> Decimal:
        """The day's units as a contract on `product` ('' = every product) counts them."""
        return _units(self.counts, unit, product, self.whole_tasks)


@dataclass(kw_only=True)
class Window:
    """Consecutive days of one customer (WINDOW_DAYS of them, or all there are): COGS and counts summed."""

    start: date
    end: date
    cogs_nano: int = 0
    counts: dict[str, list[int]] = field(default_factory=dict)
    whole_tasks: int | None = None  # as DayUsage's, summed

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def cogs(self) -> Decimal:
        return usd(self.cogs_nano)

    def units_of(self, unit: Unit, product: str = "") -> Decimal:
        return _units(self.counts, unit, product, self.whole_tasks)

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape of a P50 or P99 window."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "cogs_usd": cents(self.cogs),
        }


def window_between(days: list[DayUsage], start: date, end: date) -> Window:
    """The customer's days from `start` to `end` summed (days before their first usage count as none)."""
    out = Window(start=start, end=end)
    for d in days:
        if start <= d.day <= end:
            out.cogs_nano += d.cogs_nano
            if d.whole_tasks is not None:
                out.whole_tasks = (out.whole_tasks or 0) + d.whole_tasks
            for product, (r, t, k) in d.counts.items():
                c = out.counts.setdefault(product, [0, 0, 0])
                c[0], c[1], c[2] = c[0] + r, c[1] + t, c[2] + k
    return out


def rolling_cogs(days: list[DayUsage], width: int = WINDOW_DAYS) -> list[tuple[int, date]]:
    """(COGS nano-USD, last day) of every window of `width` consecutive days, rolled a day at a time; one window of
    every day when there are fewer."""
    if not days:
        return []
    width = min(width, len(days))
    total = sum(d.cogs_nano for d in days[:width])
    out = [(total, days[width - 1].day)]
    for i in range(width, len(days)):
        total += days[i].cogs_nano - days[i - width].cogs_nano
        out.append((total, days[i].day))
    return out


def percentile_window(days: list[DayUsage], q: float, width: int = WINDOW_DAYS) -> Window:
    """The window at quantile q of the rolling windows by COGS (nearest rank, ties broken by date)."""
    _, last = pick(sorted(rolling_cogs(days, width)), q)
    span = min(width, len(days))
    return window_between(days, last - timedelta(days=span - 1), last)


@dataclass(frozen=True, kw_only=True)
class History:
    """How much history a forecast or floor stands on, and what that means for its P50 and P99 months."""

    days: int  # days from the first usage to the end of the basis
    windows: int  # rolling windows among them

    @property
    def short(self) -> bool:
        return self.days < SHORT_HISTORY_DAYS

    def note(self) -> str | None:
        """What a reader must know when the history is short (None when it is long enough)."""
        if self.days == 0:
            # No window at all: "only 0 days, one window scaled to 30" described a window that is not there.
            return "no usage history: every month is what the contracts earn with no usage, against no cost"
        if self.days < WINDOW_DAYS:
            return (
                f"history shorter than {SHORT_HISTORY_DAYS} days: only {days_text(self.days)}, one window scaled to "
                f"{WINDOW_DAYS}; the P50 and P99 months are the same month"
            )
        if self.short:
            return (
                f"history shorter than {SHORT_HISTORY_DAYS} days ({days_text(self.days)}): P50 and P99 come from "
                f"{self.windows} overlapping {WINDOW_DAYS}-day windows, so treat them as rough"
            )
        return None


def days_text(n: int) -> str:
    """ "1 day", "12 days"."""
    return f"{n} day" if n == 1 else f"{n} days"


def windows_text(history: History) -> str:
    """How many rolling windows a history makes, in words: "1 rolling 30-day window", "31 rolling 30-day windows"."""
    return f"{history.windows} rolling {WINDOW_DAYS}-day window{'' if history.windows == 1 else 's'}"


def history_of(days: list[DayUsage]) -> History:
    return History(days=len(days), windows=max(len(days) - WINDOW_DAYS + 1, 1) if days else 0)


def daily_usage(conn: Connection, period: Period, customer: str | None = None) -> dict[str, list[DayUsage]]:
    """Per customer, every day of `period` from their first day with usage on (quiet days count as zero): all of it
    for a customer with usage before it. (From the first day with usage in the period, a customer quiet for its first
    eight days of ten was read as two busy days, scaled to a heavy month that never happened.)"""
    days: dict[str, dict[date, DayUsage]] = defaultdict(dict)

    def counts(cust: str, day: object, product: str) -> tuple[DayUsage, list[int]]:
        d = as_date(day)
        usage = days[cust].get(d)
        if usage is None:
            usage = days[cust][d] = DayUsage(day=d)
        return usage, usage.counts.setdefault(product, [0, 0, 0])

    for cust, product, day, req, tok, cost in daily_rows(conn, period, customer):
        usage, c = counts(cust, day, product)
        usage.cogs_nano += int(cost or 0)
        c[0] += int(req or 0)
        c[1] += int(tok or 0)
    for cust, product, day, n in daily_tasks(conn, period, [customer] if customer is not None else None):
        counts(cust, day, product)[1][2] += int(n)
    spanning = spanning_tasks(conn, days.keys())
    whole = whole_task_days(conn, period, spanning)
    out: dict[str, list[DayUsage]] = {}
    before = _used_before(conn, [c for c, by_day in days.items() if min(by_day) > period.start], period.start)
    for cust, by_day in days.items():
        first = period.start if cust in before else min(by_day)
        out[cust] = [by_day.get(d) or DayUsage(day=d) for d in Period(first, period.end, "").iter_days()]
        if cust in spanning:
            started = whole.get(cust, {})
            for usage in out[cust]:
                usage.whole_tasks = started.get(usage.day, 0)
    return out


_USED_BEFORE = text("SELECT 1 FROM daily_customer_product WHERE customer = :c AND day < :d LIMIT 1")


def _used_before(conn: Connection, customers: list[str], day: date) -> set[str]:
    """Those of `customers` with usage before `day` (a probe of the customer-first index each: few are asked)."""
    return {c for c in customers if conn.execute(_USED_BEFORE, {"c": c, "d": day}).first() is not None}


def percentile_day(days: list[DayUsage], q: float) -> DayUsage:
    """The day at quantile q by COGS (nearest rank, ties broken by date), ranked as engine.reports.margin ranks."""
    return pick(sorted(days, key=lambda d: (d.cogs_nano, d.day)), q)


@dataclass(frozen=True, kw_only=True)
class InForce:
    """The part of a month one contract is in force on, prorated as the reports prorate it: its fees for `months`
    (each day 1/(days in its month): month_fraction), and its metered units for `days` of the month's `of` days."""

    months: Months
    days: int
    of: int


@dataclass(kw_only=True)
class Payer:
    """What pays for a customer's usage going forward: contracts in force, or billed revenue held flat."""

    contracts: list[Terms] = field(default_factory=list)
    billed_per_month: Decimal | None = None
    # One per contract, for a forecast month some contract is in force on only part of (it starts or ends in it);
    # empty: every contract in force the whole month.
    spans: list[InForce] = field(default_factory=list)

    def describe(self) -> list[str]:
        if self.billed_per_month is not None:
            return [f"billed {usd_text(self.billed_per_month)} a month (held flat)"]
        return [describe_terms(c) + (f" ({c.product})" if c.product else "") for c in self.contracts]

    @property
    def plan(self) -> str:
        """The plan(s) paying, e.g. `usage` or `flat+seat`; `billed` or `none`."""
        if self.billed_per_month is not None:
            return BILLED
        plans = sorted({c.plan for c in self.contracts})
        return "+".join(plans) if plans else "none"


def last_used(days: list[DayUsage]) -> date | None:
    """The last day with usage (cost or counts) in `days`; None when none has any."""
    return next((d.day for d in reversed(days) if d.cogs_nano or any(any(c) for c in d.counts.values())), None)


def churned(
    conn: Connection, basis: Period, usage: dict[str, list[DayUsage]], terms: dict[str, Payer], keys: list[str]
) -> list[str]:
    """Those of `keys` who have left, as forecasts and floors both judge it: no contract in force on the history's
    last day and none on file after it (a renewal that starts after the history, however far ahead), no billed
    revenue, and no usage in the history's last 30 days. A forecast of one would only cost its old heavy month
    against no revenue: a breach it cannot have. One query, whatever the number of customers."""
    after = Period(basis.end + timedelta(days=1), date.max, "")
    renewed = {c.customer for c in contracts_in(conn, after, keys)}
    return [k for k in keys if _left(usage.get(k, []), terms[k], basis, renewal=k in renewed)]


def _left(days: list[DayUsage], payer: Payer, basis: Period, *, renewal: bool) -> bool:
    if payer.contracts or payer.billed_per_month is not None or renewal:
        return False
    last = last_used(days)
    return last is None or last <= basis.end - timedelta(days=WINDOW_DAYS)


def churned_words(name: str, days: list[DayUsage], ended: date | None, basis: Period) -> str:
    """A customer who has left, in one line (see `churned`): when its contract ended and its usage stopped."""
    contract = f"its last contract ended {ended}" if ended else "it has no contract on file"
    last = last_used(days)
    usage = f"no usage since {last} ({(basis.end - last).days} days)" if last else f"no usage in {basis.title}"
    return f"{name} has churned: {contract}, none is in force on {basis.end}, and it has had {usage}"


def last_contract_end(conn: Connection, basis: Period, customer: str) -> date | None:
    """When the last of `customer`'s contracts in force in `basis` ended (None: none, or one runs on)."""
    ends = [c.end for c in contracts_in(conn, basis, [customer])]
    return None if not ends or None in ends else max(e for e in ends if e is not None)


class Usage(Protocol):
    """A stretch of usage a month is scaled from: a day or a window."""

    @property
    def cogs(self) -> Decimal: ...

    def units_of(self, unit: Unit, product: str = "") -> Decimal: ...


def month_revenue(terms: Payer, usage: Usage, scale: Decimal) -> Decimal:
    """Revenue of a month of `usage` × scale under `terms`: a whole month of fees, or of a contract in force on part
    of it (`terms.spans`) its fees for those days and the units of those days (the month's × days ÷ days in it)."""
    if terms.billed_per_month is not None:
        return terms.billed_per_month
    total = ZERO
    spans: list[InForce | None] = [*terms.spans] if terms.spans else [None] * len(terms.contracts)
    for c, span in zip(terms.contracts, spans, strict=True):
        units = usage.units_of(c.split_unit, c.product) * scale if c.is_metered else ZERO
        if span is None:
            total += c.charge(units, ONE)
        else:
            total += c.charge(units * span.days / span.of, span.months)
    return total


def month_figures(terms: Payer, usage: Usage, scale: Decimal, thresholds: Thresholds) -> Figures:
    """Revenue and COGS of a month of `usage` × scale (a window scaled to a month and grown, or a day × days: the
    stress case)."""
    return Figures(revenue=month_revenue(terms, usage, scale), cogs=usage.cogs * scale, thresholds=thresholds)


def terms_for(conn: Connection, basis: Period, customers: list[str] | None) -> dict[str, Payer]:
    """Contracts in force on the basis' last day, or billed revenue over the basis as a monthly rate.

    The rate is over the days of the basis the customer's billed lines cover: a first invoice from Oct 15 bills
    17/31 of a month of October, and $2,741.94 over those days is $5,000 a month (over the whole month it read as
    $2,741.94, below the $5,000 the reports count for October with the contract's first 14 days)."""
    last = Period(basis.end, basis.end, basis.end.isoformat())
    out: dict[str, Payer] = defaultdict(Payer)
    for c in contracts_in(conn, last, customers):
        out[c.customer].contracts.append(c)
    months = month_fraction(basis.start, basis.end)
    # A one-off charge (a setup fee) is no monthly rate: the forecast leaves it out.
    bills = [bill for bill in invoices(conn, basis, customers) if not bill.one_off]
    covered = {
        customer: months - sum((month_fraction(r.start, r.end) for r in runs), Fraction(0))
        for customer, runs in uncovered_runs(bills, basis).items()
    }
    billed: dict[str, list[RevenueLine]] = defaultdict(list)
    for line in prorated_lines(bills, basis):
        billed[line.customer].append(line)
    for customer, lines in billed.items():
        # The lines' exact sum over the months covered, divided once (their 28-digit totals each over the months
        # and added could miss a half cent).
        per_month = lines_sum(lines).fraction() / covered.get(customer, months)
        out[customer].billed_per_month = fraction_decimal(per_month)
    return out
