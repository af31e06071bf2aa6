"""What-if scenarios: route traffic to another model, cache responses, re-price the plan, scale usage.

A scenario starts from the same figures `marginbot margin` shows ("before", computed by engine.margin) and
changes them with levers, applied left to right to the period's daily rollup rows (day × product × feature ×
model):

- `route FROM->TO [PCT] [feature F]` moves PCT% (default 100) of FROM's tokens and requests to TO, priced with
  TO's per-token rates on each day (the price book, discounts included). Retrieval, rerank and compute stay.
- `cache [PCT] [feature F]` serves PCT% of requests from a response cache: a hit costs one cache lookup
  (`unit_costs.cache_lookup`) instead of everything the request cost. Without PCT the hit rate is estimated
  from the share of events whose `prompt_hash` repeats an earlier one in the period.
- `price PLAN TERMS` re-prices revenue with another plan for the whole period (grammar in `parse_plan`).
- `usage xN` scales every count and cost by N; metered revenue follows, fixed fees do not.

Route and cache change COGS only: the customer still makes the same requests, so billed units are unchanged.
Money stays exact: costs are Decimal nano-USD (integer femto-USD rates × token counts ÷ 10⁶), never floats.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from genai_prices import data_snapshot
from sqlalchemy import Connection, text

from engine.margin import Figures, Thresholds, UnknownSubject, portfolio, resolve_customer, subject_report
from engine.models import COST_COLUMNS, COST_TYPES, NANO
from engine.periods import Period, looks_like_period
from engine.pricing import FEMTO_PER_NANO, PriceBook, Rates, _per_token
from engine.revenue import (
    RevenueLine,
    active_span,
    billed_lines,
    compute_line,
    contracts_in,
    describe_terms,
    month_fraction,
    revenue_lines,
)
from engine.revenue import Terms as ContractTerms
from engine.serialize import cents, figures, pct
from engine.timeutil import as_date

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
MONTH_DAYS = 30  # "per month" in a scenario means a 30-day month: period figures × 30 ÷ days in the period
LEVER_WORDS = ("route", "cache", "price", "usage")
PLANS = ("usage", "hybrid", "seat", "flat")
UNIT_WORDS = {
    "request": "request",
    "requests": "request",
    "req": "request",
    "task": "task",
    "tasks": "task",
    "1k_tokens": "1k_tokens",
    "1k-tokens": "1k_tokens",
    "1k tokens": "1k_tokens",
    "1ktokens": "1k_tokens",
    "1k": "1k_tokens",
    "ktok": "1k_tokens",
}
# Cost types that depend on the model: routing re-prices these (a cache hit saves them and all the rest).
MODEL_COST_TYPES = ("uncached_input", "cached_input", "cache_write", "output", "request_fee", "source")
LOOKUP = "cache_lookup"  # the scenario-only cost type of a response cache
SCENARIO_COST_TYPES = (*COST_TYPES, LOOKUP)

HOW_TO = (
    "levers: route FROM->TO [PCT] [feature F] · cache [PCT] [feature F] · price PLAN TERMS · usage xN; "
    "e.g. `whatif acme route gpt-4o->gpt-4o-mini 50 cache 20`"
)


class ScenarioError(ValueError):
    """Levers we cannot read or apply; the message says what was wrong and how to write it."""


# ---------------------------------------------------------------- levers


@dataclass(frozen=True)
class Route:
    source: str  # model, or provider/model
    target: str
    pct: Decimal = HUNDRED
    feature: str | None = None

    def describe(self) -> str:
        where = f" on feature {self.feature}" if self.feature else ""
        return f"route {self.pct.normalize():f}% of {self.source}{where} to {self.target}"


@dataclass(frozen=True)
class Cache:
    pct: Decimal | None = None  # None: estimate from repeated prompt_hash values
    feature: str | None = None

    def describe(self) -> str:
        where = f" on feature {self.feature}" if self.feature else ""
        rate = f"{self.pct.normalize():f}%" if self.pct is not None else "the observed repeat rate"
        return f"serve {rate} of requests{where} from a response cache"


@dataclass(frozen=True)
class Plan:
    """A plan to re-price with; the fields mirror a contract's terms (monthly amounts)."""

    plan: str
    unit: str = ""
    unit_price: Decimal = ZERO
    platform_fee: Decimal = ZERO
    included: Decimal = ZERO
    seats: int = 0
    seat_price: Decimal = ZERO

    def contract(self, customer: str, period: Period) -> ContractTerms:
        return ContractTerms(
            customer=customer,
            product="",
            plan=self.plan,
            start=period.start,
            end=period.end,
            seats=self.seats,
            seat_price_usd=self.seat_price,
            platform_fee_usd=self.platform_fee,
            included_units=self.included,
            unit=self.unit,
            unit_price_usd=self.unit_price,
        )

    def describe(self) -> str:
        return "price as " + describe_terms(self.contract("", Period(date(2000, 1, 1), date(2000, 1, 1), "")))


@dataclass(frozen=True)
class Usage:
    factor: Decimal

    def describe(self) -> str:
        return f"usage ×{self.factor.normalize():f}"


Lever = Route | Cache | Plan | Usage


def describe(lever: Lever) -> str:
    return lever.describe()


_NUM = r"\$?(\d[\d,]*(?:\.\d+)?|\.\d+)"
_PCT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)%?$")
_FACTOR = re.compile(r"^[x×*]?(\d+(?:\.\d+)?|\.\d+)[x×]?$")
_UNIT = r"(requests?|req|tasks?|1k[ _-]?tokens|1k|ktok)"
_USAGE_TERMS = re.compile(rf"^{_NUM}\s*/\s*{_UNIT}$")
_HYBRID_TERMS = re.compile(
    rf"^{_NUM}\s*(?:/\s*(?:mo|month)\s*)?\+\s*{_NUM}\s*/\s*{_UNIT}"
    r"(?:\s+incl(?:uded|uding)?\s+(\d[\d,]*(?:\.\d+)?[km]?)(?:\s+\S+)?)?$"
)
_SEAT_TERMS = re.compile(rf"^(\d[\d,]*)\s*(?:seats?\s*)?[x×*@]\s*{_NUM}(?:\s*/\s*(?:seat|mo|month))?$")
_FLAT_TERMS = re.compile(rf"^{_NUM}(?:\s*/\s*(?:mo|month))?$")


def _money(value: str) -> Decimal:
    return Decimal(value.replace(",", ""))


def _count(value: str) -> Decimal:
    value = value.lower().replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(value[-1:], 1)
    return Decimal(value.rstrip("km")) * scale


def parse_plan(plan: str, terms: str) -> Plan:
    """`usage P/UNIT` · `hybrid FEE+P/UNIT [incl N]` · `seat SEATSxPRICE` · `flat FEE` (USD, fees monthly).

    UNIT is request, task or 1k tokens; N may be written 50000, 50,000 or 50k.
    """
    plan = plan.lower()
    terms = " ".join(terms.split()).lower()
    example = {
        "usage": "price usage 0.40/task",
        "hybrid": "price hybrid 2000+0.02/request incl 50000",
        "seat": "price seat 50x80 (50 seats at $80 a month)",
        "flat": "price flat 5000 ($5,000 a month)",
    }
    if plan not in PLANS:
        raise ScenarioError(f"price: plan must be one of {', '.join(PLANS)}, got {plan!r}; e.g. `{example['usage']}`")
    try:
        if plan == "usage" and (m := _USAGE_TERMS.match(terms)):
            return Plan("usage", unit=UNIT_WORDS[m.group(2)], unit_price=_money(m.group(1)))
        if plan == "hybrid" and (m := _HYBRID_TERMS.match(terms)):
            return Plan(
                "hybrid",
                platform_fee=_money(m.group(1)),
                unit_price=_money(m.group(2)),
                unit=UNIT_WORDS[m.group(3)],
                included=_count(m.group(4)) if m.group(4) else ZERO,
            )
        if plan == "seat" and (m := _SEAT_TERMS.match(terms)):
            seats = int(m.group(1).replace(",", ""))
            if seats <= 0:
                raise ScenarioError("price seat: the number of seats must be at least 1")
            return Plan("seat", seats=seats, seat_price=_money(m.group(2)))
        if plan == "flat" and (m := _FLAT_TERMS.match(terms)):
            return Plan("flat", platform_fee=_money(m.group(1)))
    except InvalidOperation:
        pass
    raise ScenarioError(f"price {plan}: cannot read {terms!r}; write it like `{example[plan]}`")


def _pct(word: str, what: str) -> Decimal:
    m = _PCT.match(word)
    if not m:
        raise ScenarioError(f"{what}: {word!r} is not a percentage; write e.g. 40 or 40%")
    value = Decimal(m.group(1))
    if value > HUNDRED:
        raise ScenarioError(f"{what}: {word} is more than 100%")
    return value


def _is_pct(word: str) -> bool:
    return bool(_PCT.match(word))


def parse_levers(words: Sequence[str]) -> tuple[list[Lever], str | None]:
    """Read levers (and an optional period word, 2026-10 or 7d, between them). Returns (levers, period)."""
    levers: list[Lever] = []
    period: str | None = None
    i = 0
    words = [w for w in words if w.strip()]

    def boundary(j: int) -> bool:
        return j >= len(words) or words[j].lower() in LEVER_WORDS or looks_like_period(words[j])

    def feature_at(j: int, what: str) -> tuple[str | None, int]:
        if j < len(words) and words[j].lower() in ("feature", "on"):
            if j + 1 >= len(words) or boundary(j + 1):
                raise ScenarioError(f"{what}: `feature` needs a feature name, e.g. `feature agent-run`")
            return words[j + 1], j + 2
        return None, j

    while i < len(words):
        word = words[i].lower()
        if looks_like_period(word):
            if period is not None:
                raise ScenarioError(f"two periods given ({period} and {word}); give one")
            period = word
            i += 1
            continue
        if word == "route":
            j = i + 1
            spec: list[str] = []
            while (
                j < len(words)
                and not boundary(j)
                and not _is_pct(words[j])
                and words[j].lower()
                not in (
                    "feature",
                    "on",
                )
            ):
                spec.append(words[j])
                j += 1
            joined = " ".join(spec).replace("→", "->")
            parts = [p.strip() for p in re.split(r"->|\s+to\s+", joined)] if joined else []
            if len(parts) != 2 or not all(parts) or " " in parts[0] or " " in parts[1]:
                raise ScenarioError(
                    f"route: write `route FROM->TO [PCT] [feature F]`, e.g. `route gpt-4o->gpt-4o-mini 40`; "
                    f"got {' '.join(words[i:j])!r}"
                )
            pct = HUNDRED
            if j < len(words) and _is_pct(words[j]):
                pct = _pct(words[j], "route")
                j += 1
            feature, j = feature_at(j, "route")
            source, target = parts[0].lower(), parts[1].lower()
            if source == target:
                raise ScenarioError(f"route: {source} -> {target} routes a model to itself")
            levers.append(Route(source, target, pct, feature))
            i = j
        elif word == "cache":
            j = i + 1
            rate: Decimal | None = None
            if j < len(words) and _is_pct(words[j]):
                rate = _pct(words[j], "cache")
                j += 1
            feature, j = feature_at(j, "cache")
            levers.append(Cache(rate, feature))
            i = j
        elif word == "price":
            if i + 1 >= len(words):
                raise ScenarioError("price: name a plan and its terms, e.g. `price usage 0.40/task`")
            plan = words[i + 1].lower()
            j = i + 2
            terms: list[str] = []
            while j < len(words) and not boundary(j):
                terms.append(words[j])
                j += 1
            levers.append(parse_plan(plan, " ".join(terms)))
            i = j
        elif word == "usage":
            if i + 1 >= len(words) or not _FACTOR.match(words[i + 1].lower()):
                raise ScenarioError("usage: write `usage xN`, e.g. `usage x10` (ten times today's usage)")
            factor = Decimal(_FACTOR.match(words[i + 1].lower()).group(1))  # type: ignore[union-attr]
            if factor <= 0 or factor > 10_000:
                raise ScenarioError("usage: the factor must be more than 0 and at most 10000")
            levers.append(Usage(factor))
            i += 2
        else:
            raise ScenarioError(f"{words[i]!r} is not a lever; {HOW_TO}")
    if not levers:
        raise ScenarioError(f"no lever given; {HOW_TO}")
    if sum(isinstance(lever, Plan) for lever in levers) > 1:
        raise ScenarioError("give at most one `price` lever (a customer has one plan at a time)")
    return levers, period


def split_subject(words: Sequence[str]) -> tuple[str | None, list[str]]:
    """Split `CUSTOMER... LEVER...`: the levers start at the first lever word (route, cache, price, usage).

    Returns (customer, lever words); customer is None for `portfolio`. A customer whose name contains a lever
    word is named by its id or an alias instead.
    """
    cut = next((i for i, w in enumerate(words) if w.lower() in LEVER_WORDS), len(words))
    # A period written right after the name (`acme 2026-10 cache 30`) belongs with the levers.
    periods = [w for w in words[:cut] if looks_like_period(w)]
    subject = " ".join(w for w in words[:cut] if not looks_like_period(w)).strip()
    rest = [*periods, *words[cut:]]
    if not subject:
        raise ScenarioError(f"name a customer (or `portfolio`) before the levers; {HOW_TO}")
    if subject.lower() in ("portfolio", "--portfolio"):
        return None, rest
    return subject, rest


# ---------------------------------------------------------------- the rollup rows a scenario works on


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
    input_per_request: int  # the tier selector for tiered prices (rollups do not keep each request's input)

    def scaled(self, factor: Decimal, **changes: object) -> Slice:
        return replace(
            self,
            requests=self.requests * factor,
            input_tokens=self.input_tokens * factor,
            cached_input_tokens=self.cached_input_tokens * factor,
            cache_write_tokens=self.cache_write_tokens * factor,
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
        f"cached_input_tokens, cache_write_tokens, output_tokens, {', '.join(COST_COLUMNS)} "
        "FROM daily_rollup WHERE day BETWEEN :a AND :b"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    if customer is not None:
        sql += " AND customer = :c"
        params["c"] = customer
    out = []
    for row in conn.execute(text(sql + " ORDER BY customer, day, product, feature, provider, model"), params):
        requests, inp = int(row[6] or 0), int(row[7] or 0)
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
                costs={t: Decimal(int(v or 0)) for t, v in zip(COST_TYPES, row[11:], strict=True)},
                input_per_request=inp // requests if requests else inp,
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


# ---------------------------------------------------------------- applying levers


@dataclass
class _Context:
    conn: Connection
    prices: PriceBook
    period: Period
    notes: list[str]
    rates: dict[tuple[str, str, date], Rates | None] = field(default_factory=dict)

    def rates_on(self, provider: str, model: str, day: date) -> Rates | None:
        key = (provider, model, day)
        if key not in self.rates:
            # Prices are resolved at noon UTC of the rollup day: rollups keep days, not the events' moments.
            self.rates[key] = self.prices.rates(provider, model, datetime.combine(day, time(12), tzinfo=UTC))
        return self.rates[key]


def resolve_target(conn: Connection, prices: PriceBook, ref: str, at: date) -> tuple[str, str]:
    """Which provider prices model `ref` (or `provider/model`): the price file, then observed usage, then the
    genai-prices catalogue. Raises ScenarioError when nothing prices it (it is never assumed free)."""
    moment = datetime.combine(at, time(12), tzinfo=UTC)
    if "/" in ref:
        provider, model = ref.split("/", 1)
        if prices.rates(provider, model, moment) is not None:
            return provider, model
    for override in prices.overrides:
        if override.model == ref:
            return override.provider, ref
    observed = [
        p for (p,) in conn.execute(text("SELECT DISTINCT provider FROM daily_rollup WHERE model = :m"), {"m": ref})
    ]
    for provider in sorted(observed):
        if prices.rates(provider, ref, moment) is not None:
            return provider, ref
    try:
        provider_info, _ = data_snapshot.get_snapshot().find_provider_model(ref, None, None, None)
    except LookupError:
        provider_info = None
    if provider_info is not None and prices.rates(provider_info.id, ref, moment) is not None:
        return provider_info.id, ref
    raise ScenarioError(
        f"route: no price for model {ref!r}; add it to the price file ([[models]]) or write it as provider/model"
    )


def _reprice(s: Slice, rates: Rates) -> dict[str, Decimal]:
    """Nano-USD of the slice's tokens at `rates`: the writer's formula, kept exact (no per-event rounding)."""
    sel = s.input_per_request
    uncached = s.input_tokens - s.cached_input_tokens - s.cache_write_tokens
    femto = {
        "uncached_input": uncached * _per_token(rates.input, sel),
        "cached_input": s.cached_input_tokens * _per_token(rates.cached_input, sel),
        "cache_write": s.cache_write_tokens * _per_token(rates.cache_write, sel),
        "output": s.output_tokens * _per_token(rates.output, sel),
        "request_fee": s.requests * rates.request,
    }
    return {k: v / FEMTO_PER_NANO for k, v in femto.items()}


def apply_route(slices: list[Slice], lever: Route, ctx: _Context) -> list[Slice]:
    share = lever.pct / HUNDRED
    if share == 0:
        return slices
    targets: dict[date, tuple[str, str]] = {}
    out: list[Slice] = []
    skipped = ZERO
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
            targets[s.day] = resolve_target(ctx.conn, ctx.prices, lever.target, s.day)
        provider, model = targets[s.day]
        rates = ctx.rates_on(provider, model, s.day)
        if rates is None:
            raise ScenarioError(f"route: no price for {provider}/{model} on {s.day}; add it to the price file")
        if share < 1:
            out.append(s.scaled(ONE - share))
        moved = s.scaled(share, provider=provider, model=model)
        new_costs = _reprice(moved, rates)
        for t in MODEL_COST_TYPES:
            moved.costs[t] = new_costs.get(t, ZERO)
        out.append(moved)
    if skipped:
        ctx.notes.append(
            f"{_usd_text(skipped / NANO)} of {lever.source} was priced by its source without token counts "
            "and is left on it"
        )
    return out


def apply_cache(slices: list[Slice], share: Decimal, feature: str | None, lookup_femto: int) -> list[Slice]:
    if share == 0:
        return slices
    out = []
    for s in slices:
        if feature is not None and s.feature != feature:
            out.append(s)
            continue
        kept = s.scaled(ONE - share)
        kept.costs[LOOKUP] = kept.costs.get(LOOKUP, ZERO) + s.requests * share * lookup_femto / FEMTO_PER_NANO
        out.append(kept)
    return out


def apply_usage(slices: list[Slice], factor: Decimal) -> list[Slice]:
    return slices if factor == 1 else [s.scaled(factor) for s in slices]


def repeat_share(
    conn: Connection, period: Period, customer: str | None, feature: str | None
) -> dict[str, tuple[int, int]]:
    """Per customer: (events with a prompt_hash, of which repeat an earlier hash) in the period."""
    sql = (
        "SELECT customer, COUNT(*), COUNT(DISTINCT prompt_hash) FROM usage_event "
        "WHERE day BETWEEN :a AND :b AND prompt_hash IS NOT NULL AND prompt_hash <> ''"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    if customer is not None:
        sql += " AND customer = :c"
        params["c"] = customer
    if feature is not None:
        sql += " AND feature = :f"
        params["f"] = feature
    rows = conn.execute(text(sql + " GROUP BY customer"), params).all()
    return {c: (int(n), int(n) - int(d)) for c, n, d in rows}


# ---------------------------------------------------------------- revenue after the levers


def _metered_units(conn: Connection, period: Period, customers: list[str] | None) -> dict[str, dict[str, Decimal]]:
    """Per customer, over the whole period and every product: requests, 1k tokens and tasks."""
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(("request", "1k_tokens", "task"), ZERO))
    sql = (
        "SELECT customer, SUM(requests), SUM(input_tokens + output_tokens) FROM daily_customer_product "
        "WHERE day BETWEEN :a AND :b"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    one = customers is not None and len(customers) == 1
    if one:
        sql += " AND customer = :c"
        params["c"] = customers[0]  # type: ignore[index]
    for cust, req, tok in conn.execute(text(sql + " GROUP BY customer"), params):
        out[cust]["request"] = Decimal(int(req or 0))
        out[cust]["1k_tokens"] = Decimal(int(tok or 0)) / 1000
    sql = "SELECT customer, COUNT(*) FROM task_rollup WHERE day BETWEEN :a AND :b"
    if one:
        sql += " AND customer = :c"
    for cust, n in conn.execute(text(sql + " GROUP BY customer"), params):
        out[cust]["task"] = Decimal(int(n))
    return out


def contract_units(conn: Connection, customer: str, product: str, unit: str, a: date, b: date) -> Decimal:
    """What a contract meters over [a, b], counted as engine.revenue counts it (product '' = all)."""
    params: dict[str, object] = {"c": customer, "a": a, "b": b, "p": product}
    only = " AND product = :p" if product else ""
    if unit == "task":
        sql = f"SELECT COUNT(*) FROM task_rollup WHERE customer = :c AND day BETWEEN :a AND :b{only}"
        return Decimal(int(conn.execute(text(sql), params).scalar_one() or 0))
    column = "input_tokens + output_tokens" if unit == "1k_tokens" else "requests"
    sql = f"SELECT SUM({column}) FROM daily_customer_product WHERE customer = :c AND day BETWEEN :a AND :b"
    sql += only
    value = Decimal(int(conn.execute(text(sql), params).scalar_one() or 0))
    return value / 1000 if unit == "1k_tokens" else value


def revenue_after(
    conn: Connection,
    period: Period,
    customers: list[str],
    *,
    factor: Decimal,
    plan: Plan | None,
    before: dict[str, list[RevenueLine]],
) -> dict[str, list[RevenueLine]]:
    """Revenue lines per customer once usage is ×factor and (when given) the plan is replaced.

    Contract lines are recomputed with `compute_line` on the scaled units; billed lines (Stripe) cannot follow
    usage and are kept, unless a new plan replaces them.
    """
    if plan is None and factor == 1:
        return before
    out: dict[str, list[RevenueLine]] = {}
    if plan is not None:
        units = _metered_units(conn, period, customers)
        months = month_fraction(period.start, period.end)
        for cust in customers:
            metered = units[cust][plan.unit] * factor if plan.plan in ("usage", "hybrid") else ZERO
            line = compute_line(plan.contract(cust, period), period.days, months, metered)
            line.by_product = {"": line.total}
            out[cust] = [line]
        return out
    wanted = set(customers)
    for c in contracts_in(conn, period, customers):
        if c.customer not in wanted or (span := active_span(c, period)) is None:
            continue
        a, b = span
        metered = ZERO
        if c.plan in ("usage", "hybrid"):
            metered = contract_units(conn, c.customer, c.product, c.unit, a, b) * factor
        out.setdefault(c.customer, []).append(compute_line(c, (b - a).days + 1, month_fraction(a, b), metered))
    billed = [line for line in billed_lines(conn, period, customers) if line.customer in wanted]
    for cust in {line.customer for line in billed}:
        out[cust] = [line for line in billed if line.customer == cust]
    return out


# ---------------------------------------------------------------- results


@dataclass
class Outcome:
    """One customer's before and after."""

    key: str
    name: str
    before: Figures
    after: Figures
    cogs_before: dict[str, Decimal]  # USD by cost type
    cogs_after: dict[str, Decimal]
    terms_before: list[str]
    terms_after: list[str]


@dataclass
class Scenario:
    """A what-if: before (as `marginbot margin` shows it) and after the levers, assumptions spelled out."""

    kind: str  # customer | portfolio
    key: str
    name: str
    period: Period
    levers: list[Lever]
    before: Figures
    after: Figures
    cogs_before: dict[str, Decimal]
    cogs_after: dict[str, Decimal]
    customers: list[Outcome]
    assumptions: list[str]

    @property
    def saving_per_month(self) -> Decimal:
        """COGS saved per 30-day month: (before − after) × 30 ÷ days in the period (negative: costs more)."""
        return (self.before.cogs - self.after.cogs) * MONTH_DAYS / self.period.days

    @property
    def profit_change_per_month(self) -> Decimal:
        return (self.after.gross_profit - self.before.gross_profit) * MONTH_DAYS / self.period.days


def whatif(
    conn: Connection,
    subject: str | None,
    period: Period,
    levers: Sequence[Lever],
    *,
    prices: PriceBook,
    thresholds: Thresholds,
) -> Scenario:
    """Apply `levers` to one customer (id, name or alias) or, with subject None, to every customer."""
    if subject is not None:
        key, name = resolve_customer(conn, subject)
        report = subject_report(conn, "customer", key, name, period, thresholds=thresholds)
        before = {key: (report.current, report.revenue)}
        customers = [key]
        names = {key: name}
    else:
        book = portfolio(conn, period, thresholds=thresholds)
        names = {row.key: row.name for row in book.customers}
        customers = [row.key for row in book.customers if row.current.revenue or row.current.cogs]
        lines_by: dict[str, list[RevenueLine]] = defaultdict(list)
        for line in revenue_lines(conn, period):
            lines_by[line.customer].append(line)
        before = {row.key: (row.current, lines_by[row.key]) for row in book.customers if row.key in customers}
    slices = load_slices(conn, period, customers[0] if subject is not None else None)
    notes: list[str] = []
    ctx = _Context(conn, prices, period, notes)
    _check_refs(slices, levers, subject is not None, names.get(customers[0], "") if customers else "")

    per_customer: dict[str, list[Slice]] = defaultdict(list)
    for s in slices:
        per_customer[s.customer].append(s)
    original = {c: costs_by_type(per_customer[c]) for c in customers}
    factor = ONE
    plan: Plan | None = None
    for lever in levers:
        if isinstance(lever, Usage):
            factor *= lever.factor
            for c in customers:
                per_customer[c] = apply_usage(per_customer[c], lever.factor)
        elif isinstance(lever, Route):
            flat = apply_route([s for c in customers for s in per_customer[c]], lever, ctx)
            per_customer = defaultdict(list)
            for s in flat:
                per_customer[s.customer].append(s)
        elif isinstance(lever, Cache):
            shares = _cache_shares(conn, period, subject is not None, customers, lever, notes, names)
            lookup = prices.unit_costs.cache_lookup
            for c in customers:
                per_customer[c] = apply_cache(per_customer[c], shares.get(c, ZERO), lever.feature, lookup)
            if not lookup:
                notes.append("WARNING: unit_costs.cache_lookup is not set in the price file: lookups cost $0 here")
        else:
            plan = lever
    after_lines = revenue_after(
        conn,
        period,
        customers,
        factor=factor,
        plan=plan,
        before={c: before[c][1] for c in customers},
    )

    outcomes: list[Outcome] = []
    for c in customers:
        figs, lines = before[c]
        changed = costs_by_type(per_customer[c])
        delta = sum(changed.values(), ZERO) - sum(original[c].values(), ZERO)
        after_rev = sum((line.total for line in after_lines.get(c, [])), ZERO)
        after = Figures(
            after_rev,
            figs.cogs + delta / NANO,
            int((figs.events * factor).to_integral_value()),
            int((figs.unpriced_events * factor).to_integral_value()),
            thresholds,
        )
        outcomes.append(
            Outcome(
                c,
                names.get(c, c),
                figs,
                after,
                {t: v / NANO for t, v in original[c].items()},
                {t: v / NANO for t, v in changed.items()},
                [line.terms for line in lines],
                [line.terms for line in after_lines.get(c, [])],
            )
        )
    assumptions = _assumptions(levers, period, factor, plan, prices) + notes
    if subject is not None:
        o = outcomes[0]
        return Scenario(
            "customer",
            o.key,
            o.name,
            period,
            list(levers),
            o.before,
            o.after,
            o.cogs_before,
            o.cogs_after,
            [o],
            assumptions,
        )
    total_before = book.total
    total_after = Figures(
        total_before.revenue + sum((o.after.revenue - o.before.revenue for o in outcomes), ZERO),
        total_before.cogs + sum((o.after.cogs - o.before.cogs for o in outcomes), ZERO),
        sum(o.after.events for o in outcomes),
        sum(o.after.unpriced_events for o in outcomes),
        thresholds,
    )
    return Scenario(
        "portfolio",
        "portfolio",
        "Portfolio",
        period,
        list(levers),
        total_before,
        total_after,
        _sum_types(o.cogs_before for o in outcomes),
        _sum_types(o.cogs_after for o in outcomes),
        sorted(outcomes, key=lambda o: (-(o.before.cogs - o.after.cogs), o.key)),
        assumptions,
    )


def _sum_types(items: Iterable[dict[str, Decimal]]) -> dict[str, Decimal]:
    totals = dict.fromkeys(SCENARIO_COST_TYPES, ZERO)
    for item in items:
        for k, v in item.items():
            totals[k] += v
    return totals


def _check_refs(slices: list[Slice], levers: Sequence[Lever], one_customer: bool, name: str) -> None:
    """A model or feature the data has never seen is almost always a typo: say so, do not change nothing."""
    models = sorted({s.model for s in slices if s.model})
    features = sorted({s.feature for s in slices if s.feature})
    whom = name if one_customer else "the portfolio"
    for lever in levers:
        if isinstance(lever, Route) and not any(s.matches_model(lever.source) for s in slices):
            raise ScenarioError(
                f"route: {whom} has no usage of {lever.source!r} in this period; models: {', '.join(models) or 'none'}"
            )
        feature = lever.feature if isinstance(lever, Route | Cache) else None
        if feature is not None and feature not in features:
            raise ScenarioError(
                f"{whom} has no usage on feature {feature!r} in this period; features: {', '.join(features) or 'none'}"
            )
        if (
            isinstance(lever, Route)
            and feature is not None
            and not any(s.matches_model(lever.source) and s.feature == feature for s in slices)
        ):
            raise ScenarioError(f"route: {whom} has no usage of {lever.source!r} on feature {feature!r}")


def _cache_shares(
    conn: Connection,
    period: Period,
    one_customer: bool,
    customers: list[str],
    lever: Cache,
    notes: list[str],
    names: dict[str, str],
) -> dict[str, Decimal]:
    if lever.pct is not None:
        return dict.fromkeys(customers, lever.pct / HUNDRED)
    seen = repeat_share(conn, period, customers[0] if one_customer else None, lever.feature)
    where = f" on feature {lever.feature}" if lever.feature else ""
    if one_customer:
        n, repeated = seen.get(customers[0], (0, 0))
        if not n:
            raise ScenarioError(
                f"cache: {names.get(customers[0], customers[0])} has no prompt_hash recorded{where} in "
                f"{period.label}, so the hit rate cannot be estimated; give one, e.g. `cache 20`"
            )
        notes.append(
            f"cache hit rate estimated at {_pct_text(Decimal(repeated) / n * HUNDRED)}: "
            f"{repeated:,} of {n:,} events with a prompt_hash{where} repeated an earlier one "
            f"in {period.label}"
        )
    else:
        n = sum(v[0] for v in seen.values())
        repeated = sum(v[1] for v in seen.values())
        without = [c for c in customers if c not in seen]
        if not n:
            raise ScenarioError(
                f"cache: no prompt_hash recorded{where} in {period.label}, so the hit rate cannot be "
                "estimated; give one, e.g. `cache 20`"
            )
        notes.append(
            f"cache hit rate estimated per customer from repeated prompt_hash values "
            f"({repeated:,} of {n:,} events overall{where}, {_pct_text(Decimal(repeated) / n * HUNDRED)}); "
            f"{len(without)} customer(s) without prompt_hash get no cache"
        )
    return {c: Decimal(r) / n for c, (n, r) in seen.items() if n}


def _assumptions(
    levers: Sequence[Lever], period: Period, factor: Decimal, plan: Plan | None, prices: PriceBook
) -> list[str]:
    out = [f"before = {period.label} ({period.start} to {period.end}), as `marginbot margin` shows it"]
    for lever in levers:
        if isinstance(lever, Route):
            out.append(
                f"{lever.describe()}: the same token counts priced at {lever.target}'s rates on each day "
                "(price book, discounts included); retrieval, rerank and compute unchanged; "
                "billed units unchanged"
            )
        elif isinstance(lever, Cache):
            lookup = Decimal(prices.unit_costs.cache_lookup) / 10**15
            out.append(
                f"{lever.describe()}: a hit costs one lookup (${lookup.normalize():f}) instead of the "
                "whole request (model, retrieval, rerank, compute); misses are not charged a lookup; "
                "billed units unchanged"
            )
        elif isinstance(lever, Usage):
            out.append(
                f"{lever.describe()}: every token, request, task and cost ×{lever.factor.normalize():f}; "
                "metered revenue follows, monthly fees do not"
            )
        else:
            out.append(f"{lever.describe()} for the whole period, replacing the current terms (billed ones too)")
    if factor != 1 and plan is None:
        out.append("billed revenue (Stripe) cannot follow usage and is kept as billed")
    out.append(f"saving per month = (COGS before − after) × {MONTH_DAYS} ÷ {period.days} days (a 30-day month)")
    return out


def _pct_text(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'))}%"


def _usd_text(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01')):,}"


__all__ = [
    "HOW_TO",
    "LEVER_WORDS",
    "MONTH_DAYS",
    "Cache",
    "Lever",
    "Outcome",
    "Plan",
    "Route",
    "Scenario",
    "ScenarioError",
    "UnknownSubject",
    "Usage",
    "parse_levers",
    "parse_plan",
    "scenario_to_dict",
    "split_subject",
    "whatif",
]


# ---------------------------------------------------------------- the `--json` shape (the blocks read it too)


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """Money rounded to the cent and percentages to 0.01 once, at the end; see engine.serialize."""
    out: dict[str, Any] = {
        "kind": s.kind,
        s.kind: s.key,
        "name": s.name,
        "period": period_dict(s.period),
        "levers": [lever.describe() for lever in s.levers],
        "before": figures(s.before),
        "after": figures(s.after),
        "change": {
            "revenue_usd": cents(s.after.revenue - s.before.revenue),
            "cogs_usd": cents(s.after.cogs - s.before.cogs),
            "gross_profit_usd": cents(s.after.gross_profit - s.before.gross_profit),
            "gross_margin_pts": pct(_pts(s.after, s.before)),
        },
        "saving_per_month_usd": cents(s.saving_per_month),
        "gross_profit_change_per_month_usd": cents(s.profit_change_per_month),
        "month": f"per {MONTH_DAYS} days",
        "cogs_by_type": {
            t: {"before": cents(s.cogs_before[t]), "after": cents(s.cogs_after[t])}
            for t in SCENARIO_COST_TYPES
            if s.cogs_before[t] or s.cogs_after[t]
        },
        "assumptions": s.assumptions,
    }
    if s.kind == "customer":
        out["terms"] = {"before": s.customers[0].terms_before, "after": s.customers[0].terms_after}
    else:
        out["customers"] = [
            {
                "customer": o.key,
                "name": o.name,
                "before": figures(o.before),
                "after": figures(o.after),
                "saving_per_month_usd": cents((o.before.cogs - o.after.cogs) * MONTH_DAYS / s.period.days),
            }
            for o in s.customers
        ]
    return out


def _pts(after: Figures, before: Figures) -> Decimal | None:
    if after.margin_pct is None or before.margin_pct is None:
        return None
    return after.margin_pct - before.margin_pct


def period_dict(p: Period) -> dict[str, str]:
    return {"label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat()}
