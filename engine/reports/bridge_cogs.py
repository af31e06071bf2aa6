"""The COGS side of the margin bridge: how each driver moved COGS from the previous period to this one.

Usage is read per *cell*, one customer × product × feature × provider × model, from the daily rollup: requests,
tokens by kind and cost by cost type, for both periods. Every state below is a fully computed COGS (exact
fractions of nano-USD); each driver is the difference of two consecutive states, so the drivers add up to the
change by construction (a telescoping sum). The order is fixed (docs/why.md works each step by hand):

    S0  last period's COGS, as booked
    S1  volume:   S0 × this period's requests / last period's requests (same mix, same cost per request)
    S2  mix:      each cell at its own new request count, at last period's cost per request
    S3  price:    … with last period's usage re-priced at this period's rates (the price book, dated)
    S4  caching:  … with this period's cache-read and cache-write shares of input tokens
    S5  tokens per request: this period's token costs as booked, non-token costs still per last period's request
    S6  non-token (retrieval, rerank, compute): this period's COGS, as booked

A cell with requests in only one of the periods (a new model, a feature that stopped) has no cost per request to
compare: it moves wholly in the mix step, at its booked cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, text

from engine.periods import Period
from engine.pricing.book import PriceBook, Usage
from engine.store.models import COST_TYPES
from engine.store.sql import COST_SUMS
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
    # nano-USD per cost type: last period's usage priced at this period's rates minus at its own (the price book)
    repriced_delta: list[int] = field(default_factory=lambda: [0] * len(COST_TYPES))
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
    repriced_groups: int  # (day, provider, model) groups whose rates differ between the periods


def _subject_sql(kind: str | None) -> str:
    return {"customer": " AND customer = :s", "product": " AND product = :s"}.get(kind or "", "")


def read_cells(conn: Connection, period: Period, kind: str | None, key: str | None) -> dict[CellKey, Cell]:
    """Every cell with usage in `period` or the one before, for one customer, one product or everyone."""
    cells: dict[CellKey, Cell] = {}
    # Each period's own days, read one at a time: the previous period need not end the day before this one starts
    # (a month to date is compared with the same days of the month before), so the days between belong to neither.
    for current, days in ((False, period.previous()), (True, period)):
        rows = conn.execute(
            text(
                "SELECT customer, product, feature, provider, model, SUM(requests), SUM(input_tokens), "
                "SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(output_tokens), SUM(events), "
                f"SUM(unpriced_events), {COST_SUMS} FROM daily_rollup WHERE day BETWEEN :a AND :b"
                f"{_subject_sql(kind)} GROUP BY 1, 2, 3, 4, 5"
            ),
            {"a": days.start, "b": days.end, "s": key},
        ).all()
        for row in rows:
            cust, prod, feat, provider, model, requests, inp, cached, write, out, events, unpriced = row[:12]
            ck = CellKey(cust, prod, feat, provider, model)
            cell = cells.get(ck)
            if cell is None:
                cell = cells[ck] = Cell(ck)
            use = cell.now if current else cell.before
            inp, cached, write = int(inp or 0), int(cached or 0), int(write or 0)
            use.requests += int(requests or 0)
            use.inputs = [a + b for a, b in zip(use.inputs, (inp - cached - write, cached, write), strict=True)]
            use.output_tokens += int(out or 0)
            use.events += int(events or 0)
            use.unpriced += int(unpriced or 0)
            use.costs = [a + int(b or 0) for a, b in zip(use.costs, row[12:], strict=True)]
    return dict(sorted(cells.items()))


# ---------------------------------------------------------------- re-pricing last period at this period's rates


def shift_days(period: Period) -> dict[date, int]:
    """For each day of the previous period, how many days on its counterpart in `period` is: the same position
    from the start, the last day standing in for any day the shorter period lacks (31 August → 30 September)."""
    prev = period.previous()
    return {d: (min(period.start + (d - prev.start), period.end) - d).days for d in prev.iter_days()}


def _rates_move(prices: PriceBook, provider: str, model: str, day: date, shift: int, tz: ZoneInfo) -> bool:
    """Whether any price of `provider`/`model` in force during local `day` differs `shift` days later: checked
    each half hour (the finest step a catalogue price changes by), so time-of-day prices are caught too."""
    at = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    offset = timedelta(days=shift)
    while at < end:
        if prices.rates(provider, model, at) != prices.rates(provider, model, at + offset):
            return True
        at += _STEP_HALF_HOUR
    return False


def reprice_previous(
    conn: Connection,
    cells: dict[CellKey, Cell],
    period: Period,
    prices: PriceBook,
    tz: ZoneInfo,
    kind: str | None,
    key: str | None,
) -> int:
    """Fill each cell's `repriced_delta`: last period's events priced on their counterpart day of this period,
    minus priced on their own day, both with today's price book (so a price file edited since the import moves
    neither period). Only (day, provider, model) groups whose rates differ are read back from the events.
    Returns how many groups moved."""
    prev = period.previous()
    shifts = shift_days(period)
    groups = conn.execute(
        text(
            "SELECT DISTINCT day, provider, model FROM daily_rollup WHERE day BETWEEN :a AND :b "
            f"AND input_tokens + output_tokens > 0{_subject_sql(kind)}"
        ),
        {"a": prev.start, "b": prev.end, "s": key},
    ).all()
    moved = {
        (as_date(d), p, m)
        for d, p, m in groups
        if shifts.get(as_date(d)) and _rates_move(prices, p, m, as_date(d), shifts[as_date(d)], tz)
    }
    if not moved:
        return 0
    columns = ", ".join(Usage._fields[1:])  # after `epoch`, Usage's fields are usage_event columns
    query = text(
        f"SELECT ts, day, customer, product, feature, {columns} FROM usage_event "
        f"WHERE day BETWEEN :a AND :b AND provider IN :ps AND model IN :ms{_subject_sql(kind)}"
    ).bindparams(bindparam("ps", expanding=True), bindparam("ms", expanding=True))
    params = {
        "a": prev.start,
        "b": prev.end,
        "s": key,
        "ps": sorted({p for _, p, _ in moved}),
        "ms": sorted({m for _, _, m in moved}),
    }
    for ts, day, cust, prod, feat, *usage in conn.execute(query, params):
        provider, model = usage[0], usage[1]
        d = as_date(day)
        if (d, provider, model) not in moved:
            continue
        epoch = int(_aware(ts).timestamp())
        own = prices.price(Usage(epoch, *usage))
        there = prices.price(Usage(epoch + shifts[d] * 86_400, *usage))
        cell = cells.get(CellKey(cust, prod, feat, provider, model))
        if cell is None:  # events the rollups do not hold (rollups older than the events): nothing to move
            continue
        cell.repriced_delta = [x + a - b for x, a, b in zip(cell.repriced_delta, there[:-1], own[:-1], strict=True)]
    return len(moved)


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
    scale = Fraction(n.requests, b.requests)
    repriced = [c + d for c, d in zip(b.costs, cell.repriced_delta, strict=True)]  # last usage, this period's rates
    s2 = scale * b.cost
    s3 = scale * sum(repriced)
    # Caching: last period's input tokens per request, split as this period splits them, each kind at the rate
    # last period's usage pays now (or, for a kind it did not use, the rate this period paid for it).
    in_before, in_now = b.input_tokens, n.input_tokens
    if in_before and in_now:
        input_cost = Fraction(0)
        for i, t in enumerate(_INPUT_INDEX):
            if not n.inputs[i]:
                continue
            rate = (
                Fraction(repriced[t], b.inputs[i]) if b.inputs[i] else Fraction(n.costs[t], n.inputs[i])
            )  # nano-USD per token
            input_cost += Fraction(in_before * n.inputs[i], in_now) * rate
        others = sum(c for t, c in enumerate(repriced) if t not in _INPUT_INDEX)
        s4 = scale * (others + input_cost)
    else:
        s4 = s3
    non_token_before = sum(repriced[t] for t in NON_TOKEN_INDEX)
    token_now = sum(c for t, c in enumerate(n.costs) if t not in NON_TOKEN_INDEX)
    s5 = token_now + scale * non_token_before
    return [s0, s2, s3, s4, s5, s6]


def cogs_bridge(cells: Iterable[Cell], *, repriced_groups: int = 0) -> CogsBridge:
    """The COGS states S0..S6 over `cells` (their `repriced_delta` filled in first)."""
    chosen = list(cells)
    totals = [Fraction(0)] * 6
    for cell in chosen:
        cell.states = _cell_states(cell)
        totals = [a + b for a, b in zip(totals, cell.states, strict=True)]
    s0, s2, s3, s4, s5, s6 = totals
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
