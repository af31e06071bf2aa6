"""Levers applied to a period's daily rollup rows (`Slice`s): route traffic to another model, serve requests from a
response cache, scale usage. Costs stay exact Decimal nano-USD (integer femto-USD rates × counts ÷ 10⁶), never floats.

Routing prices per request: a long-context price tier is chosen from one request's input (the rollup row's input ÷
its requests), or, where the source does not count requests (Anthropic's usage report), from the average of the
provider's usage buckets it was read in (each stored as one event): never from a day's total. A row keeps its
service tier, so batch usage is re-priced at the batch prices of the model it moves to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache

from sqlalchemy import Connection, text

from engine.money import HUNDRED, ONE, ZERO, usd_text
from engine.periods import Period
from engine.pricing.book import FEMTO_PER_NANO, PriceBook, Rates, _per_token, tier_selector
from engine.scenarios.grammar import Route, ScenarioError
from engine.store.models import COST_COLUMNS, COST_TYPES, NANO
from engine.store.sql import where_equal
from engine.timeutil import as_date
from engine.vocab import CostType

# Cost types that depend on the model: routing re-prices these (a cache hit saves them and all the rest).
MODEL_COST_TYPES = (
    CostType.UNCACHED_INPUT,
    CostType.CACHED_INPUT,
    CostType.CACHE_WRITE,
    CostType.CACHE_WRITE_1H,
    CostType.OUTPUT,
    CostType.REQUEST_FEE,
    CostType.WEB_SEARCH,
    CostType.SOURCE,
)
LOOKUP = "cache_lookup"  # the scenario-only cost type of a response cache
SCENARIO_COST_TYPES = (*COST_TYPES, LOOKUP)


@dataclass
class Slice:
    """One daily rollup row (or a part of one after a lever), counts and nano-USD costs as exact Decimals."""

    customer: str
    day: date
    product: str
    feature: str
    provider: str
    model: str
    requests: Decimal
    input_tokens: Decimal
    cached_input_tokens: Decimal
    cache_write_tokens: Decimal
    output_tokens: Decimal
    costs: dict[str, Decimal]
    # The tier selector for long-context prices: one request's input (rollups do not keep each request's), which
    # scaling a slice leaves as it is.
    input_per_request: int
    cache_write_1h_tokens: Decimal = ZERO
    web_searches: Decimal = ZERO
    service_tier: str = "standard"
    events: Decimal = ZERO
    unpriced_events: Decimal = ZERO  # of `events`, those no price covered: their cost counts as $0 in `costs`
    # Nano-USD of `costs` that "before" counted as $0: unpriced usage a route priced at its target's rates.
    priced_from_zero: Decimal = ZERO

    def scaled(self, factor: Decimal, **changes: object) -> Slice:
        return replace(
            self,
            events=self.events * factor,
            unpriced_events=self.unpriced_events * factor,
            priced_from_zero=self.priced_from_zero * factor,
            requests=self.requests * factor,
            input_tokens=self.input_tokens * factor,
            cached_input_tokens=self.cached_input_tokens * factor,
            cache_write_tokens=self.cache_write_tokens * factor,
            cache_write_1h_tokens=self.cache_write_1h_tokens * factor,
            web_searches=self.web_searches * factor,
            output_tokens=self.output_tokens * factor,
            costs={k: v * factor for k, v in self.costs.items()},
            **changes,  # type: ignore[arg-type]
        )

    def matches_model(self, ref: str) -> bool:
        return ref in (self.model, f"{self.provider}/{self.model}")


def load_slices(conn: Connection, period: Period, customer: str | None = None) -> list[Slice]:
    """The period's daily_rollup rows for one customer (None: every customer)."""
    sql = (
        "SELECT customer, day, product, feature, provider, model, requests, input_tokens, "
        f"cached_input_tokens, cache_write_tokens, output_tokens, {', '.join(COST_COLUMNS)}, "
        "cache_write_1h_tokens, web_searches, service_tier, events, unpriced_events "
        "FROM daily_rollup WHERE day BETWEEN :a AND :b"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    sql = where_equal(sql, params, customer=customer)
    out = []
    costs_end = 11 + len(COST_COLUMNS)
    order = " ORDER BY customer, day, product, feature, provider, model, service_tier"
    for row in conn.execute(text(sql + order), params):
        requests, inp = int(row[6] or 0), int(row[7] or 0)
        write_1h, searches, tier, events, unpriced = row[costs_end:]
        # Without a request count, each stored event is one of the provider's usage buckets: their average.
        per_request = tier_selector(inp, requests) if requests else tier_selector(inp, int(events or 0))
        out.append(
            Slice(
                customer=row[0],
                day=as_date(row[1]),
                product=row[2],
                feature=row[3],
                provider=row[4],
                model=row[5],
                requests=Decimal(requests),
                input_tokens=Decimal(inp),
                cached_input_tokens=Decimal(int(row[8] or 0)),
                cache_write_tokens=Decimal(int(row[9] or 0)),
                output_tokens=Decimal(int(row[10] or 0)),
                costs={t: Decimal(int(v or 0)) for t, v in zip(COST_TYPES, row[11:costs_end], strict=True)},
                input_per_request=per_request,
                cache_write_1h_tokens=Decimal(int(write_1h or 0)),
                web_searches=Decimal(int(searches or 0)),
                service_tier=tier or "standard",
                events=Decimal(int(events or 0)),
                unpriced_events=Decimal(int(unpriced or 0)),
            )
        )
    return out


def costs_by_type(slices: Iterable[Slice]) -> dict[str, Decimal]:
    """Nano-USD per cost type (the scenario's own `cache_lookup` included)."""
    totals = dict.fromkeys(SCENARIO_COST_TYPES, ZERO)
    for s in slices:
        for k, v in s.costs.items():
            totals[k] += v
    return totals


@dataclass
class _Context:
    conn: Connection
    prices: PriceBook
    period: Period
    notes: list[str]
    rates: dict[tuple[str, str, str, date], Rates | None] = field(default_factory=dict)

    def rates_on(self, provider: str, model: str, day: date, tier: str = "standard") -> Rates | None:
        key = (provider, model, tier, day)
        if key not in self.rates:
            # Prices are resolved at noon UTC of the rollup day: rollups keep days, not the events' moments.
            self.rates[key] = self.prices.rates(provider, model, datetime.combine(day, time(12), tzinfo=UTC), tier)
        return self.rates[key]


def observed_providers(conn: Connection, model: str, period: Period) -> list[str]:
    """The providers `model`'s usage came through, sorted: in `period` (the rollups are keyed by day first, so this
    reads the period's rows), else at any time, as before. Asked once per route lever: it was once per day of the
    what-if over every row ever stored, and a large book's What-if modal could miss Slack's 3 seconds."""
    sql = "SELECT DISTINCT provider FROM daily_rollup WHERE model = :m"
    within = conn.execute(text(sql + " AND day BETWEEN :a AND :b"), {"a": period.start, "b": period.end, "m": model})
    found = [p for (p,) in within] or [p for (p,) in conn.execute(text(sql), {"m": model})]
    return sorted(found)


def resolve_target(
    prices: PriceBook, ref: str, at: date, observed: Callable[[], Iterable[str]] = tuple
) -> tuple[str, str]:
    """Which provider prices model `ref` (or `provider/model`): the price file, then the providers its usage came
    through (`observed`: observed_providers over the what-if's period, asked only when the price file does not
    name the model: a distilled model of the price file, the usual target, is never looked for in the rollups),
    then the genai-prices catalogue. Raises ScenarioError when nothing prices it (it is never assumed free)."""
    moment = datetime.combine(at, time(12), tzinfo=UTC)
    if "/" in ref:
        provider, model = ref.split("/", 1)
        if prices.rates(provider, model, moment) is not None:
            return provider, model
    for override in prices.overrides:
        if override.model == ref:
            return override.provider, ref
    for provider in observed():
        if prices.rates(provider, ref, moment) is not None:
            return provider, ref
    resolved = prices.catalogue.resolve("", ref)
    if resolved is not None and prices.rates(resolved.provider.id, ref, moment) is not None:
        return resolved.provider.id, ref
    raise ScenarioError(
        f"route: no price for model {ref!r}; add it to the price file ([[models]]) or write it as provider/model"
    )


def _reprice(s: Slice, rates: Rates) -> dict[str, Decimal]:
    """Nano-USD of the slice's usage at `rates`: the price book's formula, kept exact (no per-event rounding).
    Web searches the target prices nothing for keep their current cost (noted by the caller)."""
    sel = s.input_per_request
    uncached = s.input_tokens - s.cached_input_tokens - s.cache_write_tokens
    femto = {
        CostType.UNCACHED_INPUT: uncached * _per_token(rates.input, sel),
        CostType.CACHED_INPUT: s.cached_input_tokens * _per_token(rates.cached_input, sel),
        CostType.CACHE_WRITE: (s.cache_write_tokens - s.cache_write_1h_tokens) * _per_token(rates.cache_write, sel),
        CostType.CACHE_WRITE_1H: s.cache_write_1h_tokens * _per_token(rates.cache_write_1h, sel),
        # No output price only where there are no output tokens (apply_route refuses the rest).
        CostType.OUTPUT: s.output_tokens * _per_token(rates.output, sel) if rates.output is not None else ZERO,
        CostType.REQUEST_FEE: s.requests * rates.request,
    }
    out: dict[str, Decimal] = {k: v / FEMTO_PER_NANO for k, v in femto.items()}
    if rates.web_search is not None:
        out[CostType.WEB_SEARCH] = s.web_searches * rates.web_search / FEMTO_PER_NANO
    return out


def apply_route(slices: list[Slice], lever: Route, ctx: _Context) -> list[Slice]:
    share = lever.pct / HUNDRED
    if share == 0:
        return slices
    targets: dict[date, tuple[str, str]] = {}
    observed = cache(lambda: observed_providers(ctx.conn, lever.target, ctx.period))  # once per lever, if asked
    out: list[Slice] = []
    skipped = ZERO
    standard_rated: set[str] = set()
    unpriced_searches = False
    for s in slices:
        if not s.matches_model(lever.source) or (lever.feature is not None and s.feature != lever.feature):
            out.append(s)
            continue
        if not (s.input_tokens or s.output_tokens) and any(s.costs[t] for t in MODEL_COST_TYPES):
            # Priced by the source without token counts: nothing to re-price, so it stays where it is.
            skipped += sum((s.costs[t] for t in MODEL_COST_TYPES), ZERO)
            out.append(s)
            continue
        if s.day not in targets:
            targets[s.day] = resolve_target(ctx.prices, lever.target, s.day, observed)
        provider, model = targets[s.day]
        rates = ctx.rates_on(provider, model, s.day, s.service_tier)
        if rates is None or (rates.output is None and s.output_tokens):
            # A target without an output price would make routed output free: never assumed, as no price at all.
            what = "price" if rates is None else "output price"
            raise ScenarioError(f"route: no {what} for {provider}/{model} on {s.day}; add it to the price file")
        if not rates.tier_priced:
            standard_rated.add(f"{provider}/{model} {s.service_tier}")
        if share < 1:
            out.append(s.scaled(ONE - share))
        moved = s.scaled(share, provider=provider, model=model)
        new_costs = _reprice(moved, rates)
        if s.web_searches and CostType.WEB_SEARCH not in new_costs:
            unpriced_searches = True
            new_costs[CostType.WEB_SEARCH] = moved.costs[CostType.WEB_SEARCH]
        for t in MODEL_COST_TYPES:
            moved.costs[t] = new_costs.get(t, ZERO)
        if moved.unpriced_events:
            # The target prices what no price covered: "after" now counts a cost that "before" counted as $0 (the
            # events' share of the row's when only some of its events were unpriced). Said by the caller.
            added = sum((moved.costs[t] for t in MODEL_COST_TYPES), ZERO)
            moved.priced_from_zero += added * moved.unpriced_events / moved.events if moved.events else added
            moved.unpriced_events = ZERO
        out.append(moved)
    if standard_rated:
        ctx.notes.append(
            f"{', '.join(sorted(standard_rated))}: no price for that tier, so standard prices were used "
            "(add a [[tiers]] multiplier to the price file)"
        )
    if unpriced_searches:
        ctx.notes.append(f"{lever.target} has no web search price: routed web searches keep their current cost")
    if skipped:
        ctx.notes.append(
            f"{usd_text(skipped / NANO)} of {lever.source} was priced by its source without token counts "
            "and is left on it"
        )
    return out


def apply_cache(
    slices: list[Slice], share: Decimal, feature: str | None, lookup_femto: int, *, counted_only: bool = False
) -> list[Slice]:
    """Serve `share` of each row's requests from the cache: that share of its costs leaves, a lookup is paid per hit.
    `counted_only` (a share estimated from the requests events count) leaves whole a row that counts no requests
    (usage reported without them): the estimate says nothing of it."""
    if share == 0:
        return slices
    out = []
    for s in slices:
        if (feature is not None and s.feature != feature) or (counted_only and not s.requests):
            out.append(s)
            continue
        kept = s.scaled(ONE - share)
        # An earlier cache lever's lookups were paid for requests already served: they stay whole (scaling them
        # with the misses undercounted `cache 50 cache 50` against `cache 75`).
        kept.costs[LOOKUP] = s.costs.get(LOOKUP, ZERO) + s.requests * share * lookup_femto / FEMTO_PER_NANO
        out.append(kept)
    return out


def apply_usage(slices: list[Slice], factor: Decimal) -> list[Slice]:
    return slices if factor == 1 else [s.scaled(factor) for s in slices]


@dataclass(frozen=True)
class Repeats:
    """One customer's requests in a cache what-if's scope, and how many of them repeat an earlier prompt."""

    requests: int  # every request of the customer in scope, with a prompt_hash or not
    repeated: int  # of them, those of an event whose prompt_hash an earlier event of the customer's already had
    hashed_events: int  # events with a prompt_hash (none: the rate cannot be estimated)


def repeat_share(conn: Connection, period: Period, customer: str | None, feature: str | None) -> dict[str, Repeats]:
    """Per customer with events in the period (and on `feature`, when given): its requests, and those that repeat an
    earlier prompt. An event repeats when an earlier one of the customer's (by ts, then event_id) in the same scope
    had its prompt_hash; an event without a hash counts as not repeated (nothing says it would hit a cache)."""
    params: dict[str, object] = {"a": period.start, "b": period.end}
    # Only the events with a hash are read and numbered (numbering every event sorted the unhashed ones too, all of
    # a customer's in one partition: a portfolio's month of 2M events went from 1.2 s to 11.9 s on SQLite); every
    # event's requests are the daily rollup's, which is keyed by day.
    hashed = where_equal(
        "FROM usage_event WHERE day BETWEEN :a AND :b AND prompt_hash IS NOT NULL AND prompt_hash <> ''",
        params,
        customer=customer,
        feature=feature,
    )
    numbered = (
        "SELECT customer, requests, "
        f"ROW_NUMBER() OVER (PARTITION BY customer, prompt_hash ORDER BY ts, event_id) AS nth {hashed}"
    )
    repeats = {
        c: (int(r or 0), int(h or 0))
        for c, r, h in conn.execute(
            text(
                f"SELECT customer, SUM(CASE WHEN nth > 1 THEN requests ELSE 0 END), COUNT(*) FROM ({numbered}) AS h "
                "GROUP BY customer"
            ),
            params,
        )
    }
    totals = where_equal(
        "SELECT customer, SUM(requests) FROM daily_rollup WHERE day BETWEEN :a AND :b",
        params,
        customer=customer,
        feature=feature,
    )
    out: dict[str, Repeats] = {}
    for c, n in conn.execute(text(totals + " GROUP BY customer"), params):
        repeated, events = repeats.get(c, (0, 0))
        out[c] = Repeats(requests=int(n or 0), repeated=repeated, hashed_events=events)
    return out
