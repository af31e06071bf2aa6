"""The COGS side of the margin bridge: how each driver moved COGS from the previous period to this one.

Usage is read per *cell*, one customer × product × feature × provider × model, from the daily rollup: requests,
tokens by kind and cost by cost type, for both periods. Every state below is a fully computed COGS (exact
fractions of nano-USD); each driver is the difference of two consecutive states, so the drivers add up to the
change by construction (a telescoping sum). The order is fixed (docs/why.md works each step by hand):

    S0  last period's COGS, as booked
    S1  volume:   S0 × this period's requests / last period's requests (same mix, same cost per request)
    S2  mix:      each cell at its own new request count, at last period's cost per request
    S3  price:    … with last period's usage re-priced at this period's rates, in the proportions this period's usage
                  met them day by day (the price book, dated; while the price file has changed since the events
                  were priced, the rates their stored costs were booked at)
    S4  caching:  … with this period's cache-read and cache-write shares of input tokens
    S5  tokens per request: this period's token costs as booked, non-token costs still per last period's request
    S6  non-token (retrieval, rerank, compute): this period's COGS, as booked

A cell with requests in only one of the periods (a new model, a feature that stopped) has no cost per request to
compare: it moves wholly in the mix step, at its booked cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, text

from engine.money import fraction_sum
from engine.periods import Period
from engine.pricing.book import Costs, PriceBook, Usage
from engine.store.models import COST_TYPES
from engine.store.sql import COST_SUMS, fetch_tuples
from engine.timeutil import as_date
from engine.vocab import CostType

# Which cost types are priced per input token (their shares of the input are the caching driver) and which are
# not about tokens at all (their change per request is the non-token driver). Every other cost type (output, fees,
# costs the source priced) changes per request under "tokens per request". A test checks each CostType is placed.
INPUT_TYPES = (CostType.UNCACHED_INPUT, CostType.CACHED_INPUT, CostType.CACHE_WRITE)
NON_TOKEN_TYPES = (CostType.RETRIEVAL, CostType.RERANK, CostType.COMPUTE)
COGS_STEPS = ("volume", "mix", "price", "caching", "tokens", "non_token")
_INPUT_INDEX = tuple(COST_TYPES.index(t) for t in INPUT_TYPES)
NON_TOKEN_INDEX = tuple(COST_TYPES.index(t) for t in NON_TOKEN_TYPES)
_STEP_HALF_HOUR = timedelta(minutes=30)


class CellKey(NamedTuple):
    customer: str
    product: str
    feature: str
    provider: str
    model: str


def unit_counts(
    requests: int,
    uncached: int,
    cached: int,
    write: int,
    write_1h: int,
    output: int,
    searches: int,
    queries: int,
    reranks: int,
    ms: int,
) -> list[int | None]:
    """What each cost type (COST_TYPES order) is priced per: tokens of its kind (`write` is every cache write, the
    1-hour ones included), requests, searches, queries, calls, milliseconds; None for costs the source priced, which
    have no rate."""
    by_type: dict[CostType, int | None] = {
        CostType.UNCACHED_INPUT: uncached,
        CostType.CACHED_INPUT: cached,
        CostType.CACHE_WRITE: write - write_1h,
        CostType.CACHE_WRITE_1H: write_1h,
        CostType.OUTPUT: output,
        CostType.REQUEST_FEE: requests,
        CostType.WEB_SEARCH: searches,
        CostType.SOURCE: None,
        CostType.RETRIEVAL: queries,
        CostType.RERANK: reranks,
        CostType.COMPUTE: ms,
    }
    return [by_type[t] for t in COST_TYPES]


@dataclass
class CellUse:
    """One cell's usage in one period: requests, input tokens by kind (uncached, cached, cache write), output
    tokens, events, and nano-USD per cost type (COST_TYPES order)."""

    requests: int = 0
    inputs: list[int] = field(default_factory=lambda: [0, 0, 0])
    output_tokens: int = 0
    events: int = 0
    unpriced: int = 0  # events whose tokens have no price anywhere (their token cost is 0 in both states)
    costs: list[int] = field(default_factory=lambda: [0] * len(COST_TYPES))
    # What the other cost types count (read for the booked rates, `reprice_booked`).
    cache_write_1h_tokens: int = 0
    web_searches: int = 0
    retrieval_queries: int = 0
    rerank_calls: int = 0
    compute_ms: int = 0

    def add(self, measures: Sequence[Any]) -> None:
        """Add a row of `_MEASURES` sums."""
        requests, inp, cached, write, out, events, unpriced, write_1h, searches, queries, reranks, ms = (
            int(v or 0) for v in measures[:12]
        )
        self.requests += requests
        self.inputs = [a + b for a, b in zip(self.inputs, (inp - cached - write, cached, write), strict=True)]
        self.output_tokens += out
        self.events += events
        self.unpriced += unpriced
        self.cache_write_1h_tokens += write_1h
        self.web_searches += searches
        self.retrieval_queries += queries
        self.rerank_calls += reranks
        self.compute_ms += ms
        self.costs = [a + int(b or 0) for a, b in zip(self.costs, measures[12:], strict=True)]

    def units(self) -> list[int | None]:
        """What each cost type (COST_TYPES order) is priced per (`unit_counts`)."""
        uncached, cached, write = self.inputs
        return unit_counts(
            self.requests,
            uncached,
            cached,
            write,
            self.cache_write_1h_tokens,
            self.output_tokens,
            self.web_searches,
            self.retrieval_queries,
            self.rerank_calls,
            self.compute_ms,
        )

    @property
    def cost(self) -> int:
        return sum(self.costs)

    @property
    def input_tokens(self) -> int:
        return sum(self.inputs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "events": self.events,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.inputs[1],
            "cache_write_tokens": self.inputs[2],
            "output_tokens": self.output_tokens,
        }


@dataclass
class Cell:
    """A cell in both periods, its re-pricing delta, and the state values S0..S6 computed for it."""

    key: CellKey
    before: CellUse = field(default_factory=CellUse)
    now: CellUse = field(default_factory=CellUse)
    # nano-USD per cost type: last period's usage priced at this period's rates (as this period's usage met them,
    # day by day) minus at its own (the price book, or the booked rates while the price file has changed since
    # pricing: `reprice_booked`)
    repriced_delta: list[Fraction] = field(default_factory=lambda: [Fraction(0)] * len(COST_TYPES))
    states: list[Fraction] = field(default_factory=list)  # S0, S2..S6 for this cell (S1 is not per cell)

    @property
    def comparable(self) -> bool:
        return self.before.requests > 0 and self.now.requests > 0

    def pieces(self) -> tuple[Fraction, ...]:
        """This cell's share of each step (nano-USD): volume and mix together (its own requests at its own cost per
        request), price, caching, tokens per request, non-token."""
        s0, s2, s3, s4, s5, s6 = self.states
        return (s2 - s0, s3 - s2, s4 - s3, s5 - s4, s6 - s5)

    def cache_share(self, use: CellUse) -> Fraction | None:
        """The cache-read share of input tokens (None without input)."""
        total = use.input_tokens
        return Fraction(use.inputs[1], total) if total else None


@dataclass(kw_only=True)
class CogsBridge:
    """COGS states S0..S6 in nano-USD (exact) and the cells behind them."""

    states: list[Fraction]
    cells: list[Cell]
    requests_before: int
    requests_now: int
    # (day, provider, model) groups whose rates differ between the periods (0 when the booked rates are compared)
    repriced_groups: int


def _subject_sql(kind: str | None) -> str:
    return {"customer": " AND customer = :s", "product": " AND product = :s"}.get(kind or "", "")


# Usage and cost sums of daily_rollup rows, in the order CellUse.add reads them.
_MEASURES = (
    "SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(output_tokens), "
    "SUM(events), SUM(unpriced_events), SUM(cache_write_1h_tokens), SUM(web_searches), SUM(retrieval_queries), "
    f"SUM(rerank_calls), SUM(compute_ms), {COST_SUMS}"
)


def _sums(
    conn: Connection, period: Period, kind: str | None, key: str | None, keys: str
) -> Iterator[tuple[bool, Sequence[Any], Sequence[Any]]]:
    """(this period?, the `keys` columns, the _MEASURES sums) per group of `keys`, last period first."""
    width = len(keys.split(","))
    # Each period's own days, read one at a time: the previous period need not end the day before this one starts
    # (a month to date is compared with the same days of the month before), so the days between belong to neither.
    for current, days in ((False, period.previous()), (True, period)):
        rows = conn.execute(
            text(
                f"SELECT {keys}, {_MEASURES} FROM daily_rollup WHERE day BETWEEN :a AND :b{_subject_sql(kind)} "
                f"GROUP BY {', '.join(str(i + 1) for i in range(width))}"
            ),
            {"a": days.start, "b": days.end, "s": key},
        ).all()
        for row in rows:
            yield current, row[:width], row[width:]


_CELL = "customer, product, feature, provider, model"


def read_cells(conn: Connection, period: Period, kind: str | None, key: str | None) -> dict[CellKey, Cell]:
    """Every cell with usage in `period` or the one before, for one customer, one product or everyone."""
    cells: dict[CellKey, Cell] = {}
    for current, keys, measures in _sums(conn, period, kind, key, _CELL):
        ck = CellKey(*keys)
        cell = cells.get(ck)
        if cell is None:
            cell = cells[ck] = Cell(ck)
        (cell.now if current else cell.before).add(measures)
    return dict(sorted(cells.items()))


# ---------------------------------------------------------------- re-pricing last period at this period's rates
#
# "This period's rates" are the rates this period's usage met: where a price changed during the period (or the two
# periods differ in length), each cell's usage on each day of the period took that day's rates. Last period's usage
# is priced at them in the same proportions, so the price step is what the rates alone moved, and tokens per
# request, which ends on this period's costs as booked, moves nothing when tokens per request did not.


class _SameRates:
    """This period's days grouped by the rates in force on them, per provider, model and service tier (a price
    change on the 16th makes two groups: the 1st to the 15th and the 16th to the last day); and whether the rates
    of a day of last period differ from a group's."""

    def __init__(self, prices: PriceBook, period: Period, tz: ZoneInfo) -> None:
        self._prices, self._period, self._tz = prices, period, tz
        self._groups: dict[tuple[str, str, str], list[tuple[date, list[date]]]] = {}
        self._differs: dict[tuple[str, str, str, date], tuple[bool, ...]] = {}

    def groups(self, provider: str, model: str, tier: str) -> list[tuple[date, list[date]]]:
        """(its first day, its days) for each group of this period's days with the same rates, first day first."""
        found = self._groups.get((provider, model, tier))
        if found is None:
            found = []
            for day in self._period.iter_days():
                for first, days in found:
                    if not _rates_move(self._prices, provider, model, first, (day - first).days, self._tz, tier):
                        days.append(day)
                        break
                else:
                    found.append((day, [day]))
            self._groups[(provider, model, tier)] = found
        return found

    def differs(self, provider: str, model: str, tier: str, day: date) -> tuple[bool, ...]:
        """For each group, whether any rate in force on `day` differs on the group's first day."""
        k = (provider, model, tier, day)
        found = self._differs.get(k)
        if found is None:
            found = self._differs[k] = tuple(
                _rates_move(self._prices, provider, model, day, (first - day).days, self._tz, tier)
                for first, _ in self.groups(provider, model, tier)
            )
        return found


def _rates_move(
    prices: PriceBook, provider: str, model: str, day: date, shift: int, tz: ZoneInfo, tier: str = "standard"
) -> bool:
    """Whether any price of `provider`/`model` in `tier` in force during local `day` differs `shift` days later:
    checked each half hour (the finest step a catalogue price changes by), so time-of-day prices are caught too."""
    if not shift:
        return False
    at = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    offset = timedelta(days=shift)
    while at < end:
        if prices.rates(provider, model, at, tier) != prices.rates(provider, model, at + offset, tier):
            return True
        at += _STEP_HALF_HOUR
    return False


_Pair = tuple[CellKey, str]  # a cell and a service tier


class _TierUse:
    """Each cell's units of each cost type this period per service tier (`unit_counts`, its requests first), summed
    over each group of days with the same rates (`_SameRates.groups`): what a group's share of the tier's usage is
    read from. Per tier, because a tier's rates are its own (a flex multiplier that changes on the 16th moves only
    flex usage): its days are weighted by its own usage, not by the cell's in every tier."""

    def __init__(self) -> None:
        self.by_group: dict[_Pair, list[list[int]]] = {}

    def __contains__(self, pair: object) -> bool:
        return pair in self.by_group

    def weigh(self, pair: _Pair, by_group: list[list[int]]) -> list[Fraction]:
        """Per cost type, the nano-USD of each group (`by_group`, in `_SameRates.groups` order) weighted by the share
        of the pair's units of that type this period (tokens of its kind, requests, searches …; its requests, for a
        type it used none of) used on the group's days. One fraction per type, over the units' total: a sum of
        shares × costs, one fraction each, cost the portfolio seconds of reducing."""
        rows = self.by_group[pair]
        totals = [sum(column) for column in zip(*rows, strict=True)]
        out: list[Fraction] = []
        for t in range(len(COST_TYPES)):
            u = t + 1 if totals[t + 1] else 0  # the column the shares are read from: the type's units, or requests
            out.append(
                Fraction(sum(row[u] * costs[t] for row, costs in zip(rows, by_group, strict=True)), totals[u])
                if totals[u]
                else Fraction(0)
            )
        return out


# What unit_counts reads, summed: requests, input (all of it), cached, cache writes (all), 1-hour cache writes,
# output, web searches, retrieval queries, rerank calls, compute ms.
_UNIT_SUMS = (
    "SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), "
    "SUM(cache_write_1h_tokens), SUM(output_tokens), SUM(web_searches), SUM(retrieval_queries), SUM(rerank_calls), "
    "SUM(compute_ms)"
)


def _days_used(
    conn: Connection,
    period: Period,
    kind: str | None,
    key: str | None,
    models: set[tuple[str, str]],
    same: _SameRates,
) -> _TierUse:
    """Each cell's usage in each service tier this period, for the cells through these providers and models,
    summed per group of days with the same rates."""
    query = text(
        f"SELECT day, {_CELL}, service_tier, {_UNIT_SUMS} FROM daily_rollup WHERE day BETWEEN :a AND :b "
        f"AND provider IN :ps AND model IN :ms{_subject_sql(kind)} GROUP BY 1, 2, 3, 4, 5, 6, 7"
    ).bindparams(bindparam("ps", expanding=True), bindparam("ms", expanding=True))
    params = {
        "a": period.start,
        "b": period.end,
        "s": key,
        "ps": sorted({p for p, _ in models}),
        "ms": sorted({m for _, m in models}),
    }
    out = _TierUse()
    # The group each day of the period falls in, per provider, model and tier (one group: no rate moved).
    group_of: dict[tuple[str, str, str], dict[date, int]] = {}
    # Plain tuples, summed in place: a Row and a CellUse for each of a portfolio's tens of thousands of day × cell
    # × tier rows took longer than the query.
    for day, cust, prod, feat, provider, model, tier, *sums in fetch_tuples(conn, query, params):
        if (provider, model) not in models:
            continue
        where = group_of.get((provider, model, tier))
        if where is None:
            groups = same.groups(provider, model, tier)
            where = group_of[(provider, model, tier)] = {d: g for g, (_, days) in enumerate(groups) for d in days}
        pair = (CellKey(cust, prod, feat, provider, model), tier)
        rows = out.by_group.get(pair)
        if rows is None:
            rows = out.by_group[pair] = [[0] * (1 + len(COST_TYPES)) for _ in same.groups(provider, model, tier)]
        requests, inp, cached, write, write_1h, *rest = (int(v or 0) for v in sums)
        counts = (
            requests,
            *(c or 0 for c in unit_counts(requests, inp - cached - write, cached, write, write_1h, *rest)),
        )
        inside = rows[where[as_date(day)]]
        inside[:] = [a + b for a, b in zip(inside, counts, strict=True)]
    return out


def _previous_at_this_periods_rates(
    events: Iterable[tuple[Any, ...]],
    prices: PriceBook,
    same: _SameRates,
    used: _TierUse,
    wanted: Callable[[date, CellKey, str], bool],
) -> dict[_Pair, tuple[list[Fraction], list[int]]]:
    """Per cell and tier, nano-USD per cost type of last period's `events` (those `wanted(day, cell, tier)` keeps):
    priced with today's price book at this period's rates, and on their own days.

    At this period's rates: each event is priced on the first day of each group of this period's days with the same
    rates (`_SameRates`), at its own time of day, and the prices are weighted by the share of the cell's units of
    each cost type in the event's tier this period used on each group's days (`_TierUse.weigh`). One group (no
    price changed during the period) is the event priced once on any day of this period. Events of a tier the cell
    did not use this period are left out: they met none of the tier's rates this period.

    Each event is priced by itself (`PriceBook.price`), never its usage summed first: each cost is rounded to the
    nano-dollar per event, so a sum priced once can be off by half a nano-dollar an event. Nor is a usage shape
    priced once for all the events that share it: among a bench book's 1.37M events 99.5% of the shapes are
    unique. What is saved is the rest: the events are read as plain tuples (`_EVENT_COLUMNS` order), taken per
    day, cell and tier (one check of the day's rates and of `wanted` for all of them), and summed per cost type
    in C (`_column_sums`)."""
    width = len(COST_TYPES)
    by_key: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in events:
        found = by_key.get(row[:7])
        if found is None:
            by_key[row[:7]] = [row]
        else:
            found.append(row)
    price = prices.price
    sums: dict[_Pair, tuple[list[list[int]], list[int]]] = {}
    for (day, cust, prod, feat, provider, model, tier), rows in by_key.items():
        d, cell = as_date(day), CellKey(cust, prod, feat, provider, model)
        if (cell, tier) not in used or not wanted(d, cell, tier):
            continue  # a cell with no usage in this tier this period met none of the tier's rates this period
        groups = same.groups(provider, model, tier)
        there, own_sums = sums.setdefault((cell, tier), ([[0] * width for _ in groups], [0] * width))
        epochs = [int(_aware(row[7]).timestamp()) for row in rows]
        own = _column_sums([price(Usage(epoch, *row[8:])) for epoch, row in zip(epochs, rows, strict=True)], width)
        own_sums[:] = [a + b for a, b in zip(own_sums, own, strict=True)]
        for (first, _), moves, group_sums in zip(groups, same.differs(provider, model, tier, d), there, strict=True):
            priced = own
            if moves:
                shift = (first - d).days * 86_400
                priced = _column_sums(
                    [price(Usage(epoch + shift, *row[8:])) for epoch, row in zip(epochs, rows, strict=True)], width
                )
            group_sums[:] = [a + b for a, b in zip(group_sums, priced, strict=True)]
    out: dict[_Pair, tuple[list[Fraction], list[int]]] = {}
    for pair, (there, own_sums) in sums.items():
        if len(there) == 1:  # one group: this period's rates are the same on every day, its share all of it
            out[pair] = ([Fraction(c) for c in there[0]], own_sums)
            continue
        out[pair] = (used.weigh(pair, there), own_sums)
    return out


def _column_sums(costs: list[Costs], width: int) -> list[int]:
    """Each cost type's nano-USD summed over `costs` (the first `width` fields: not `priced`)."""
    return [sum(column) for column in zip(*costs, strict=True)][:width] if costs else [0] * width


def reprice_previous(
    conn: Connection,
    cells: dict[CellKey, Cell],
    period: Period,
    prices: PriceBook,
    tz: ZoneInfo,
    kind: str | None,
    key: str | None,
) -> int:
    """Fill each cell's `repriced_delta`: last period's events priced at this period's rates (see
    `_previous_at_this_periods_rates`), minus priced on their own day, both with today's price book (so a price file
    edited since the import moves neither period). Only (day, provider, model) groups of last period whose rates
    differ from some of this period's are read back from the events. Returns how many groups moved."""
    prev = period.previous()
    same = _SameRates(prices, period, tz)
    groups = conn.execute(
        text(
            "SELECT DISTINCT day, provider, model, service_tier FROM daily_rollup WHERE day BETWEEN :a AND :b "
            f"AND input_tokens + output_tokens + web_searches > 0{_subject_sql(kind)}"
        ),
        {"a": prev.start, "b": prev.end, "s": key},
    ).all()
    moved = {(as_date(d), p, m, t) for d, p, m, t in groups if any(same.differs(p, m, t, as_date(d)))}
    if not moved:
        return 0
    models = {(p, m) for _, p, m, _ in moved}
    used = _days_used(conn, period, kind, key, models, same)
    events = _events(conn, prev, kind, key, {p for p, _ in models}, {m for _, m in models})
    priced = _previous_at_this_periods_rates(
        events, prices, same, used, lambda d, cell, tier: (d, cell.provider, cell.model, tier) in moved
    )
    for (ck, _), (there, own) in priced.items():
        cell = cells.get(ck)
        if cell is None:  # events the rollups do not hold (rollups older than the events): nothing to move
            continue
        cell.repriced_delta = [x + a - b for x, a, b in zip(cell.repriced_delta, there, own, strict=True)]
    return len({(d, p, m) for d, p, m, _ in moved})


# What `_events` reads of each event: its day, cell and tier (what it is taken by), its time, then Usage's fields
# after `epoch` (usage_event columns of the same names, provider, model and tier again).
_EVENT_COLUMNS = f"day, {_CELL}, service_tier, ts, {', '.join(Usage._fields[1:])}"


def _events(
    conn: Connection, days: Period, kind: str | None, key: str | None, providers: set[str], models: set[str]
) -> list[tuple[Any, ...]]:
    """The subject's events of `days` through these providers and models, as `_EVENT_COLUMNS`: what the bridge
    prices again. Plain tuples: a Row for each of the hundreds of thousands of a portfolio's cost more than the
    query."""
    query = text(
        f"SELECT {_EVENT_COLUMNS} FROM usage_event "
        f"WHERE day BETWEEN :a AND :b AND provider IN :ps AND model IN :ms{_subject_sql(kind)}"
    ).bindparams(bindparam("ps", expanding=True), bindparam("ms", expanding=True))
    params = {"a": days.start, "b": days.end, "s": key, "ps": sorted(providers), "ms": sorted(models)}
    return fetch_tuples(conn, query, params)


# ---------------------------------------------------------------- … or at the rates this period was booked at


def reprice_booked(
    conn: Connection,
    cells: dict[CellKey, Cell],
    period: Period,
    prices: PriceBook,
    tz: ZoneInfo,
    kind: str | None,
    key: str | None,
) -> None:
    """Fill each cell's `repriced_delta` while the price file has changed since the stored events were priced:
    last period's usage at the rates this period's usage was booked at, as the stored costs say, minus as booked.

    Why. Today's file then priced neither period, so re-pricing last period's events with it (as
    `reprice_previous` does) shows a move in rates that is in no stored cost (a dated price the file gained since)
    or misses one that is (a dated price it lost), and the tokens-per-request step, which ends on this period's
    costs as booked, takes it back: "price +$64.68" beside "tokens per request 110,000 → 110,000 −$64.68". The
    bridge explains the stored costs, so its price step reads the rates from them.

    The rule, per cell, service tier and cost type. (1) Each period's booked cost per unit (per token of its kind,
    request, search, query, call or millisecond). Where the two are the same, no rate moved: no price move, and no
    event is read. This is the usual case: one file priced both periods, with no dated price between them, shows
    no price step whatever the file says now. (2) Where they differ, the difference is a rate, or a change in the
    usage that the rates depend on: requests past a long-context tier, hours with other prices, a share of events
    the source priced (their tokens carry no token cost). Today's file tells these apart: its price of this
    period's events, on their own days, against their booked cost is how this period's booked rates stand to
    today's; last period's events priced with today's file at this period's rates (as `reprice_previous` prices
    them), times that ratio, are last period's usage at this period's booked rates. (With prices unchanged since
    pricing, the ratio is 1 and this is `reprice_previous`'s figure.) Where today's file prices none of the one or
    of the other (a model it no longer prices), the costs per unit of (1) stand.

    A difference within rounding is none: each event's cost of each type is rounded to the nano-dollar by itself,
    so a cost per unit can differ by up to half a nano-dollar an event with no rate moving. Every step still ends
    on a fully computed state, so the bridge foots as before.
    """
    pairs: dict[_Pair, tuple[CellUse, CellUse]] = {}
    for current, keys, measures in _sums(conn, period, kind, key, _CELL + ", service_tier"):
        uses = pairs.setdefault((CellKey(*keys[:5]), keys[5]), (CellUse(), CellUse()))
        uses[current].add(measures)
    moved: dict[_Pair, list[Fraction]] = {}
    for (ck, tier), (before, now) in pairs.items():
        cell = cells.get(ck)
        if cell is None or not cell.comparable:
            continue  # its states take no re-priced usage (see _cell_states)
        delta = _per_unit_delta(before, now)
        if any(delta):
            moved[(ck, tier)] = delta
    if not moved:
        return
    today = _priced_today(conn, period, prices, tz, kind, key, moved)
    for pair, delta in moved.items():
        before, now = pairs[pair]
        there, own_now = today[pair]
        for t, by_unit in enumerate(delta):
            if not by_unit or not there[t] or not own_now[t]:
                continue
            at_booked = there[t] * now.costs[t] / own_now[t]
            # Each of the four sums is off by up to half a nano-dollar an event; to first order, at_booked's relative
            # error is the sum of its three factors'.
            noise = at_booked * (
                Fraction(before.events, 2) / there[t]
                + Fraction(now.events, 2 * own_now[t])
                + (Fraction(now.events, 2 * now.costs[t]) if now.costs[t] else 0)
            ) + Fraction(before.events, 2)
            gap = at_booked - before.costs[t]
            delta[t] = gap if abs(gap) > noise else Fraction(0)
        cell = cells[pair[0]]
        cell.repriced_delta = [x + d for x, d in zip(cell.repriced_delta, delta, strict=True)]


def _per_unit_delta(before: CellUse, now: CellUse) -> list[Fraction]:
    """Per cost type, `before`'s count at `now`'s booked cost per unit minus `before`'s booked cost (nano-USD):
    0 where either period has none of it, or the difference is within rounding."""
    delta = [Fraction(0)] * len(COST_TYPES)
    for t, (was, is_) in enumerate(zip(before.units(), now.units(), strict=True)):
        if not was or not is_:
            continue
        gap = Fraction(was * now.costs[t], is_) - before.costs[t]
        # Half a nano-dollar of rounding an event, in either period, at most (the events are the bound).
        if abs(gap) > Fraction(was * now.events, 2 * is_) + Fraction(before.events, 2):
            delta[t] = gap
    return delta


def _priced_today(
    conn: Connection,
    period: Period,
    prices: PriceBook,
    tz: ZoneInfo,
    kind: str | None,
    key: str | None,
    pairs: Iterable[_Pair],
) -> dict[_Pair, tuple[list[Fraction], list[int]]]:
    """Per cell and tier of `pairs`, nano-USD per cost type with today's price book: last period's events at this
    period's rates (`_previous_at_this_periods_rates`), and this period's events on their own days."""
    wanted = set(pairs)
    providers, models = {ck.provider for ck, _ in wanted}, {ck.model for ck, _ in wanted}
    same = _SameRates(prices, period, tz)
    used = _days_used(conn, period, kind, key, {(ck.provider, ck.model) for ck, _ in wanted}, same)
    there = _previous_at_this_periods_rates(
        _events(conn, period.previous(), kind, key, providers, models),
        prices,
        same,
        used,
        lambda _d, cell, tier: (cell, tier) in wanted,
    )
    zero = [Fraction(0)] * len(COST_TYPES)
    out = {pair: (there[pair][0] if pair in there else zero, [0] * len(COST_TYPES)) for pair in wanted}
    for _day, cust, prod, feat, provider, model, tier, ts, *usage in _events(
        conn, period, kind, key, providers, models
    ):
        sums = out.get((CellKey(cust, prod, feat, provider, model), tier))
        if sums is None:
            continue
        costs, priced = sums[1], prices.price(Usage(int(_aware(ts).timestamp()), *usage))
        costs[:] = [a + b for a, b in zip(costs, priced[:-1], strict=True)]
    return out


def _aware(ts: object) -> datetime:
    if isinstance(ts, datetime):
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return datetime.fromisoformat(str(ts)).replace(tzinfo=UTC)


# ---------------------------------------------------------------- the states


def _cell_states(cell: Cell) -> list[Fraction]:
    """S0, S2, S3, S4, S5, S6 of one cell (nano-USD), as the module docstring defines them."""
    b, n = cell.before, cell.now
    s0, s6 = Fraction(b.cost), Fraction(n.cost)
    if not cell.comparable:
        return [s0, s6, s6, s6, s6, s6]
    # Each state is put together over integers and made a Fraction once: a portfolio has tens of thousands of cells,
    # and a Fraction's every + and × reduces by a gcd. A cost type no rate moved stays an integer.
    repriced = [c + d if d else c for c, d in zip(b.costs, cell.repriced_delta, strict=True)]  # last usage, new rates

    def scaled(value: Fraction) -> Fraction:  # value × this period's requests / last period's
        return Fraction(n.requests * value.numerator, b.requests * value.denominator)

    s2 = Fraction(n.requests * b.cost, b.requests)
    s3 = scaled(fraction_sum(repriced))
    # Caching: last period's input tokens per request, split as this period splits them, each kind at the rate
    # last period's usage pays now (or, for a kind it did not use, the rate this period paid for it).
    in_before, in_now = b.input_tokens, n.input_tokens
    if in_before and in_now:
        input_cost: list[Fraction | int] = []
        for i, t in enumerate(_INPUT_INDEX):
            if not n.inputs[i]:
                continue
            if b.inputs[i]:  # last period's tokens of this kind × the rate they pay now (nano-USD per token)
                rate = Fraction(repriced[t])
                num, den = in_before * n.inputs[i] * rate.numerator, in_now * b.inputs[i] * rate.denominator
            else:  # the rate this period paid for it
                num, den = in_before * n.costs[t], in_now
            input_cost.append(Fraction(num, den))
        others = [c for t, c in enumerate(repriced) if t not in _INPUT_INDEX]
        s4 = scaled(fraction_sum(others + input_cost))
    else:
        s4 = s3
    non_token_before = fraction_sum(repriced[t] for t in NON_TOKEN_INDEX)
    token_now = sum(c for t, c in enumerate(n.costs) if t not in NON_TOKEN_INDEX)
    s5 = token_now + scaled(non_token_before)
    return [s0, s2, s3, s4, s5, s6]


def cogs_bridge(cells: Iterable[Cell], *, repriced_groups: int = 0) -> CogsBridge:
    """The COGS states S0..S6 over `cells` (their `repriced_delta` filled in first)."""
    chosen = list(cells)
    for cell in chosen:
        cell.states = _cell_states(cell)
    columns = list(zip(*(c.states for c in chosen), strict=True)) or [()] * 6
    s0, s2, s3, s4, s5, s6 = (fraction_sum(state) for state in columns)
    before = sum(c.before.requests for c in chosen)
    now = sum(c.now.requests for c in chosen)
    # Volume scales last period's COGS by the change in requests; with no requests last period there is no cost
    # per request to scale, so everything new is volume.
    s1 = s0 * Fraction(now, before) if before else s2
    return CogsBridge(
        states=[s0, s1, s2, s3, s4, s5, s6],
        cells=chosen,
        requests_before=before,
        requests_now=now,
        repriced_groups=repriced_groups,
    )
