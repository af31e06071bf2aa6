"""What-if scenarios: route traffic to another model, cache responses, re-price the plan, scale usage.

A scenario starts from the same figures `marginbot margin` shows ("before", computed by engine.reports.margin) and
changes them with levers, applied left to right to the period's daily rollup rows (day × product × feature ×
model):

- `route FROM->TO [PCT] [feature F]` moves PCT% (default 100) of FROM's tokens and requests to TO, priced with
  TO's per-token rates on each day (the price book, discounts included). Retrieval, rerank and compute stay.
- `cache [PCT] [feature F]` serves PCT% of requests from a response cache: a hit costs one cache lookup
  (`unit_costs.cache_lookup`) instead of everything the request cost. Without PCT the hit rate is estimated per
  customer as the share of its requests in the period whose event's `prompt_hash` repeats an earlier event's
  (requests without a hash count as not repeated), and applied to the usage that counts requests.
- `price PLAN TERMS` re-prices revenue with another plan on the days the customer's contracts are in force (the
  whole period for one with none, or billed by invoice; grammar in `parse_plan`), on the products they cover.
- `usage xN` scales every count and cost by N; metered revenue follows, fixed fees do not.

Route and cache change COGS only: the customer still makes the same requests, so billed units are unchanged.
Money stays exact: costs are Decimal nano-USD (integer femto-USD rates × token counts ÷ 10⁶), never floats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import Connection

from engine.money import HUNDRED, ONE, TENTH, ZERO, pct_text, usd_text
from engine.periods import Period, runs_of_days
from engine.pricing.book import PriceBook
from engine.reports.figures import Figures, Thresholds, margin_change
from engine.reports.margin import subject_report
from engine.reports.names import resolve_customer
from engine.reports.portfolio import portfolio
from engine.reports.revenue import (
    RevenueLine,
    Terms,
    contract_line,
    contracts_in,
    invoices,
    lines_sum,
    revenue_lines,
    service_customers,
)
from engine.reports.serialize import cents, figures, moved_cents, pct
from engine.reports.usage import UnitCounter
from engine.scenarios.basis import Unpriced, unpriced_in
from engine.scenarios.grammar import Cache, Lever, Price, Route, ScenarioError, Usage
from engine.scenarios.levers import (
    SCENARIO_COST_TYPES,
    Slice,
    _Context,
    apply_cache,
    apply_route,
    apply_usage,
    costs_by_type,
    load_slices,
    repeat_share,
)
from engine.store.models import NANO
from engine.vocab import Plan, SubjectKind, Unit

MONTH_DAYS = 30  # "per month" of a window of days is 30 days: period figures × 30 ÷ days in the period
CALENDAR_MONTHS = {"month": 1, "quarter": 3}


def calendar_months(period: Period) -> int | None:
    """How many calendar months `period` is when it is whole ones (a month 1, a quarter 3); None for a window of days
    (the last 30 days, a month to date), whose month is 30 days. The one test `per_month`, `month_words` and the
    assumptions share."""
    return CALENDAR_MONTHS.get(period.unit) if period.complete else None


def per_month(amount: Decimal, period: Period) -> Decimal:
    """A period's amount a month: a whole calendar month's as it is (a quarter's ÷ 3), so a $600 monthly fee in
    October is $600 a month, not $580.65 (× 30 ÷ 31); a window of days (the last 30 days, a month to date) × 30 ÷
    its days, a month of 30 days."""
    months = calendar_months(period)
    return amount / months if months else amount * MONTH_DAYS / period.days


def month_words(period: Period) -> str:
    """What "a month" is in a what-if of `period` (the `month` key of its --json)."""
    return "per calendar month" if calendar_months(period) else f"per {MONTH_DAYS} days"


def revenue_after(
    conn: Connection,
    period: Period,
    customers: list[str],
    *,
    factor: Decimal,
    plan: Price | None,
    before: dict[str, list[RevenueLine]],
) -> tuple[dict[str, list[RevenueLine]], Covered | None]:
    """Revenue lines per customer once usage is ×factor and (when given) the plan is replaced, and (with a plan) the
    days and products it bills (`_covered`), which the assumptions word.

    Both are the revenue module's own rule on scaled units: contract lines follow usage, billed lines (Stripe)
    cannot and are kept, unless a new plan replaces them. A new plan is in force on the days the customer's
    contracts are (all of the period for one billed by invoice, or with none: not paying yet): a seat contract that
    began on October 16th, re-priced, earns its new price for those 16 days, not for all 31 against 16 of the old.
    It bills the products those contracts cover (see `_plan_terms`): re-pricing a contract for chat at its own price
    changes nothing, whatever else the customer uses.
    """
    if plan is None and factor == 1:
        return before, None
    out: dict[str, list[RevenueLine]] = {}
    if plan is not None:
        counter = UnitCounter(conn, period, customers)
        covered = _covered(conn, period, customers)
        terms = {
            cust: _plan_terms(plan, cust, covered.runs.get(cust) or [(None, period.start, period.end)])
            for cust in customers
        }
        if plan.plan.is_metered and plan.unit is Unit.TASK:
            # Tasks counted once across products only where the new terms meter every product (an every-product
            # contract, or none; a fee plan over several products): a usage plan bills each covered product alone.
            counter.prefetch_tasks(set(customers), [c for c in customers if any(not t.product for t in terms[c])])
        for cust in customers:
            lines = (contract_line(t, period, counter, usage_factor=factor) for t in terms[cust])
            out[cust] = [line for line in lines if line is not None]
        return out, covered
    for line in revenue_lines(conn, period, customers=customers, usage_factor=factor):
        out.setdefault(line.customer, []).append(line)
    return out, None


# Runs of days some contract of a customer's is in force, each with the products those contracts cover (None: every
# product, an every-product contract among them).
Coverage = list[tuple[frozenset[str] | None, date, date]]


@dataclass(frozen=True)
class Covered:
    """What a new plan bills: `runs` per customer with a contract in force (see `_covered`); `billed`, the customers
    billed by invoice in the period (re-priced over the whole period, every product, whatever contracts they have)."""

    runs: dict[str, Coverage]
    billed: frozenset[str]


def _covered(conn: Connection, period: Period, customers: list[str]) -> Covered:
    """Per customer, the runs of days of `period` some contract of theirs is in force, in order, each with the
    products the contracts in force on those days cover (None: every product); none for a customer billed by invoice
    in it, whose revenue the invoices are, whatever contracts it has (re-priced over the whole period, every
    product)."""
    billed = service_customers(invoices(conn, period, customers))
    days: dict[str, dict[date, set[str]]] = defaultdict(dict)
    for c in contracts_in(conn, period, customers):
        if c.customer in billed:
            continue
        a, b = max(c.start, period.start), min(c.end or period.end, period.end)
        theirs = days[c.customer]
        for n in range((b - a).days + 1):
            theirs.setdefault(a + timedelta(days=n), set()).add(c.product)
    out: dict[str, Coverage] = {}
    for cust, theirs in days.items():
        runs: Coverage = []
        for day in sorted(theirs):
            products = None if "" in theirs[day] else frozenset(theirs[day])
            if runs and runs[-1][0] == products and runs[-1][2] + timedelta(days=1) == day:
                runs[-1] = (products, runs[-1][1], day)
            else:
                runs.append((products, day, day))
        out[cust] = runs
    return Covered(runs=out, billed=frozenset(billed))


def _plan_terms(plan: Price, customer: str, coverage: Coverage) -> list[Terms]:
    """The new plan's terms for `customer`: on the days and products their contracts cover.

    A usage plan meters each covered product at the new price. A plan with a fee (flat, seat, hybrid) charges it once
    on each run of days, on the one product its contracts cover, or on every product where they cover several or
    every one: one fee and one allowance cannot be split between products (the answer says so)."""
    if plan.plan is Plan.USAGE:
        return [
            plan.contract(customer, a, b, product)
            for products, a, b in coverage
            for product in (sorted(products) if products is not None else [""])
        ]
    products = {products for products, _, _ in coverage}
    only = next(iter(products)) if len(products) == 1 else None
    product = next(iter(only)) if only is not None and len(only) == 1 else ""
    return [plan.contract(customer, a, b, product) for a, b in runs_of_days((a, b) for _, a, b in coverage)]


def coverage_words(plan: Price, coverage: Coverage | None, *, billed: bool = False) -> str:
    """Which products the new plan bills, in words, for the assumptions (`billed`: the customer is billed by
    invoice, whose revenue the invoices are, whatever contracts it has)."""
    if billed:
        return "every product, over the whole period (it is billed by invoice)"
    if not coverage:
        return "every product, over the whole period (no contract in force: not paying yet)"
    products = {p for products, _, _ in coverage for p in (products or {""})}
    if "" in products:
        return "every product, on the days its contracts are in force (one covers every product)"
    named = ", ".join(sorted(products))
    if plan.plan is Plan.USAGE or len(products) == 1:
        noun = "products" if len(products) > 1 else "product"
        return f"{named} only, the {noun} its contracts cover, on the days they are in force"
    return (
        f"every product, on the days its contracts are in force: its contracts cover {named}, and one "
        f"{plan.plan} fee cannot be split between them"
    )


@dataclass(kw_only=True)
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
    # COGS in `after` that `before` counted as $0: unpriced usage a route moved to a model with a price.
    priced_from_zero: Decimal = ZERO


@dataclass(kw_only=True)
class Scenario:
    """A what-if: before (as `marginbot margin` shows it) and after the levers, assumptions spelled out."""

    kind: SubjectKind  # customer | portfolio
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
    unpriced: Unpriced = field(default_factory=Unpriced)  # in `period`: the before and after COGS both leave it out
    priced_from_zero: Decimal = ZERO  # COGS in `after` that `before` counted as $0 (see Outcome)

    @property
    def saving_per_month(self) -> Decimal:
        """COGS saved a month (`per_month`): before − after (negative: costs more)."""
        return per_month(self.before.cogs - self.after.cogs, self.period)

    @property
    def profit_change_per_month(self) -> Decimal:
        return per_month(self.after.gross_profit - self.before.gross_profit, self.period)


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
        report = subject_report(conn, SubjectKind.CUSTOMER, key, name, period, thresholds=thresholds)
        before = {key: (report.current, report.revenue)}
        customers = [key]
        names = {key: name}
    else:
        book = portfolio(conn, period, thresholds=thresholds)
        names = {row.key: row.name for row in book.customers}
        # A customer with events but neither revenue nor COGS (all its usage unpriced, no contract) is kept: a lever
        # may price its usage, and the portfolio is the sum of every per-customer what-if.
        customers = [row.key for row in book.customers if row.current.revenue or row.current.cogs or row.current.events]
        lines_by: dict[str, list[RevenueLine]] = defaultdict(list)
        for line in revenue_lines(conn, period):
            lines_by[line.customer].append(line)
        before = {row.key: (row.current, lines_by[row.key]) for row in book.customers if row.key in customers}
    # Only the customers the what-if covers: a model or feature is checked against their usage (_check_refs).
    covered = set(customers)
    slices = [
        s for s in load_slices(conn, period, customers[0] if subject is not None else None) if s.customer in covered
    ]
    notes: list[str] = []
    ctx = _Context(conn, prices, period, notes)
    _check_refs(slices, levers, subject is not None, names.get(customers[0], "") if customers else "")

    per_customer: dict[str, list[Slice]] = defaultdict(list)
    for s in slices:
        per_customer[s.customer].append(s)
    new_plan = next((lever for lever in levers if isinstance(lever, Price)), None)
    if new_plan is not None:
        used = [c for c in customers if any(s.events for s in per_customer[c])]
        notes += _check_units(conn, period, new_plan, used, names.get(customers[0], "") if subject else None)
    original = {c: costs_by_type(per_customer[c]) for c in customers}
    unpriced_before = {c: sum((s.unpriced_events for s in per_customer[c]), ZERO) for c in customers}
    factor = ONE
    plan: Price | None = None
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
            estimated = lever.pct is None
            uncounted = ZERO
            for c in customers:
                share = shares.get(c, ZERO)
                if estimated and share:
                    uncounted += _uncounted(per_customer[c], lever.feature)
                per_customer[c] = apply_cache(per_customer[c], share, lever.feature, lookup, counted_only=estimated)
            if uncounted:
                notes.append(
                    f"{usd_text(uncounted / NANO)} of usage was recorded without request counts and keeps its cost: "
                    "the estimated hit rate is a share of counted requests"
                )
            if not lookup:
                notes.append("WARNING: unit_costs.cache_lookup is not set in the price file: lookups cost $0 here")
        else:
            plan = lever
    after_lines, billing = revenue_after(
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
        after_rev = lines_sum(after_lines.get(c, []))
        # Unpriced events after the levers, counted on the rows (a route prices what it moves, a cache hit costs a
        # lookup), `before`'s count moved by the rows' change.
        unpriced_after = figs.unpriced_events + sum((s.unpriced_events for s in per_customer[c]), ZERO)
        unpriced_after -= unpriced_before[c]
        after = Figures(
            revenue=after_rev.dollars(),
            revenue_exact=after_rev,
            cogs=figs.cogs + delta / NANO,
            events=int((figs.events * factor).to_integral_value()),
            # Up: part of an unpriced event left (half of one routed) still leaves "after" too kind.
            unpriced_events=max(0, int(unpriced_after.to_integral_value(rounding=ROUND_CEILING))),
            thresholds=thresholds,
        )
        outcomes.append(
            Outcome(
                key=c,
                name=names.get(c, c),
                before=figs,
                after=after,
                cogs_before={t: v / NANO for t, v in original[c].items()},
                cogs_after={t: v / NANO for t, v in changed.items()},
                terms_before=[line.terms for line in lines],
                terms_after=[line.terms for line in after_lines.get(c, [])],
                priced_from_zero=sum((s.priced_from_zero for s in per_customer[c]), ZERO) / NANO,
            )
        )
    from_zero = sum((o.priced_from_zero for o in outcomes), ZERO)
    if from_zero:
        notes.insert(0, priced_from_zero_note(from_zero, period))
    where = None
    if plan is not None and subject is not None and billing is not None:
        where = coverage_words(plan, billing.runs.get(customers[0]), billed=customers[0] in billing.billed)
    assumptions = _assumptions(levers, period, factor, plan, prices, where) + notes
    if subject is not None:
        o = outcomes[0]
        return Scenario(
            kind=SubjectKind.CUSTOMER,
            key=o.key,
            name=o.name,
            period=period,
            levers=list(levers),
            before=o.before,
            after=o.after,
            cogs_before=o.cogs_before,
            cogs_after=o.cogs_after,
            customers=[o],
            assumptions=assumptions,
            unpriced=unpriced_in(conn, period, [o.key]),
            priced_from_zero=from_zero,
        )
    total_before = book.total
    # Every line but the changed customers', and theirs after: exactly (the book's 28-digit total plus each change
    # would not be).
    scenario = set(customers)
    kept = [line for cust, lines in lines_by.items() if cust not in scenario for line in lines]
    book_after = lines_sum(kept + [line for c in customers for line in after_lines.get(c, [])])
    total_after = Figures(
        revenue=book_after.dollars(),
        revenue_exact=book_after,
        cogs=total_before.cogs + sum((o.after.cogs - o.before.cogs for o in outcomes), ZERO),
        events=sum(o.after.events for o in outcomes),
        unpriced_events=sum(o.after.unpriced_events for o in outcomes),
        thresholds=thresholds,
    )
    return Scenario(
        kind=SubjectKind.PORTFOLIO,
        key="portfolio",
        name="Portfolio",
        period=period,
        levers=list(levers),
        before=total_before,
        after=total_after,
        cogs_before=_sum_types(o.cogs_before for o in outcomes),
        cogs_after=_sum_types(o.cogs_after for o in outcomes),
        # By how far each one's COGS moves, either way: a lever that saves most customers a little may cost a few a
        # lot, and those come first.
        customers=sorted(outcomes, key=lambda o: (-abs(o.before.cogs - o.after.cogs), o.key)),
        assumptions=assumptions,
        unpriced=unpriced_in(conn, period, None),
        priced_from_zero=from_zero,
    )


def priced_from_zero_note(amount: Decimal, period: Period) -> str:
    """What a route of unpriced usage does to the comparison, in words: "before" counts that usage as $0 of COGS,
    "after" at the target's prices, so the saving is not like for like."""
    monthly = per_month(amount, period)
    return (
        f'route moves unpriced usage to a priced model: "after" adds {usd_text(amount)} of COGS '
        f'({usd_text(monthly)} a month) that "before" counted as $0 (no price), so the COGS saving is '
        f"{usd_text(monthly)} a month lower than like for like"
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


UNIT_NOUN = {Unit.REQUEST: "requests", Unit.TASK: "tasks", Unit.TOKENS_1K: "tokens"}
UNIT_WORD = {Unit.REQUEST: "request", Unit.TASK: "task", Unit.TOKENS_1K: "1k tokens"}  # as the lever writes them


def _check_units(conn: Connection, period: Period, plan: Price, used: list[str], name: str | None) -> list[str]:
    """A metered plan whose unit the period's usage has none of earns nothing from it: refused in one line, as a
    floor in that unit is, for one customer with usage (`name`) or a portfolio none of whose customers with usage
    (`used`) has any; said in a note when only some of them have none."""
    unit = plan.unit
    if not plan.plan.is_metered or unit is None or not used:
        return []
    counter = UnitCounter(conn, period, used)
    if unit is Unit.TASK:
        counter.prefetch_tasks(set(used), used)

    def count(customer: str, of: Unit) -> Decimal:
        per_product = counter.by_product(customer, "", of, period.start, period.end)
        return counter.units(customer, "", of, period.start, period.end, per_product)

    none = [c for c in used if not count(c, unit)]
    if not none:
        return []
    when = f"in {period.label} ({period.start} to {period.end})"
    if name is None and len(none) < len(used):
        return [
            f"{len(none):,} of {len(used):,} customers with usage {when} have no {UNIT_NOUN[unit]}: a price per "
            f"{UNIT_WORD[unit]} earns nothing from them"
        ]
    others = [u for u in Unit if u is not unit and any(count(c, u) for c in none)]
    if not others:
        instead = "flat instead, e.g. `price flat 1000`"
    else:
        # The same terms in another unit: a hybrid plan keeps its fee and its included units.
        priced = f"{plan.unit_price:f}/{UNIT_WORD[others[0]]}"
        if plan.plan is Plan.HYBRID:
            example = f"price hybrid {plan.platform_fee:f}+{priced} incl {plan.included:f}"
        else:
            example = f"price usage {priced}"
        instead = f"per {' or '.join(UNIT_WORD[u] for u in others)} instead, e.g. `{example}`"
    whom = f"{name} has no" if name is not None else "no customer with usage has any"
    raise ScenarioError(
        f"price: {whom} {UNIT_NOUN[unit]} {when}, so a price per {UNIT_WORD[unit]} earns nothing there; "
        f"price it {instead}"
    )


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
        found = seen.get(customers[0])
        if found is None or not found.hashed_events:
            raise ScenarioError(
                f"cache: {names.get(customers[0], customers[0])} has no prompt_hash recorded{where} in "
                f"{period.label}, so the hit rate cannot be estimated; give one, e.g. `cache 20`"
            )
        if not found.requests:
            raise ScenarioError(
                f"cache: {names.get(customers[0], customers[0])} has no requests counted{where} in "
                f"{period.label}, so the hit rate cannot be estimated; give one, e.g. `cache 20`"
            )
        notes.append(
            f"cache hit rate estimated at {pct_text(Decimal(found.repeated) / found.requests * HUNDRED, TENTH)}: "
            f"{found.repeated:,} of {found.requests:,} requests{where} in {period.label} repeat an earlier prompt "
            "(their event's prompt_hash was seen before); requests without a prompt_hash count as not repeated"
        )
    else:
        requests = sum(v.requests for v in seen.values())
        repeated = sum(v.repeated for v in seen.values())
        without = [c for c in customers if c not in seen or not seen[c].hashed_events]
        if not any(v.hashed_events for v in seen.values()):
            raise ScenarioError(
                f"cache: no prompt_hash recorded{where} in {period.label}, so the hit rate cannot be "
                "estimated; give one, e.g. `cache 20`"
            )
        overall = pct_text(Decimal(repeated) / requests * HUNDRED, TENTH) if requests else "n/a"
        notes.append(
            f"cache hit rate estimated per customer as the share of its requests that repeat an earlier prompt "
            f"(the same prompt_hash seen before; requests without one count as not repeated): {repeated:,} of "
            f"{requests:,} requests overall{where}, {overall}; "
            f"{len(without)} customer(s) without prompt_hash get no cache"
        )
    return {c: Decimal(v.repeated) / v.requests for c, v in seen.items() if v.requests}


def _uncounted(slices: list[Slice], feature: str | None) -> Decimal:
    """Nano-USD of usage (on `feature`, when given) recorded without request counts: an estimated hit rate, a share of
    the requests events count, says nothing of it, so it keeps its cost."""
    return sum(
        (sum(s.costs.values(), ZERO) for s in slices if not s.requests and feature in (None, s.feature)),
        ZERO,
    )


def _assumptions(
    levers: Sequence[Lever],
    period: Period,
    factor: Decimal,
    plan: Price | None,
    prices: PriceBook,
    coverage: str | None,
) -> list[str]:
    """`coverage`: which products one customer's new plan bills, in words (`coverage_words`); None for several."""
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
            where = coverage or (
                "each customer's products and days its contracts cover (every product and the whole period "
                "for one with none, or billed)"
            )
            out.append(f"{lever.describe()} on {where}, replacing the current terms (billed ones too)")
    if factor != 1 and plan is None:
        out.append("billed revenue (Stripe) cannot follow usage and is kept as billed")
    months = calendar_months(period)
    if months:
        if months == 1:
            out.append(f"saving per month = COGS before − after: {period.label} is a calendar month, taken as it is")
        else:
            out.append(
                f"saving per month = (COGS before − after) ÷ {months}: {period.label} is {months} calendar months"
            )
    else:
        out.append(
            f"saving per month = (COGS before − after) × {MONTH_DAYS} ÷ {period.days} days (a {MONTH_DAYS}-day month)"
        )
    return out


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """Money rounded to the cent and percentages to 0.01 once, at the end; see engine.reports.serialize."""
    out: dict[str, Any] = {
        "kind": s.kind,
        s.kind: s.key,
        "name": s.name,
        "period": s.period.as_dict(),
        "levers": [lever.describe() for lever in s.levers],
        "before": figures(s.before),
        "after": figures(s.after),
        "change": {
            "revenue_usd": moved_cents(s.after.revenue, s.before.revenue),
            "cogs_usd": moved_cents(s.after.cogs, s.before.cogs),
            "gross_profit_usd": moved_cents(s.after.gross_profit, s.before.gross_profit),
            "gross_margin_pts": pct(margin_change(s.after, s.before)),
        },
        "saving_per_month_usd": cents(s.saving_per_month),
        "gross_profit_change_per_month_usd": cents(s.profit_change_per_month),
        # False: revenue and COGS under materiality_usd both before and after (Figures.material): no saving headlines.
        "material": s.before.material or s.after.material,
        "materiality_usd": cents(s.before.thresholds.material_usd),
        "month": month_words(s.period),
        "cogs_by_type": {
            t: {"before": cents(s.cogs_before[t]), "after": cents(s.cogs_after[t])}
            for t in SCENARIO_COST_TYPES
            if s.cogs_before[t] or s.cogs_after[t]
        },
        "assumptions": s.assumptions,
        **s.unpriced.as_dict(),
        # COGS in "after" that "before" counted as $0: unpriced usage a route priced (0 when none).
        "priced_from_zero_usd": cents(s.priced_from_zero),
        "priced_from_zero_per_month_usd": cents(per_month(s.priced_from_zero, s.period)),
    }
    if s.kind is SubjectKind.CUSTOMER:
        out["terms"] = {"before": s.customers[0].terms_before, "after": s.customers[0].terms_after}
    else:
        out["customers"] = [
            {
                "customer": o.key,
                "name": o.name,
                "before": figures(o.before),
                "after": figures(o.after),
                "saving_per_month_usd": cents(per_month(o.before.cogs - o.after.cogs, s.period)),
                "gross_profit_change_per_month_usd": cents(
                    per_month(o.after.gross_profit - o.before.gross_profit, s.period)
                ),
            }
            for o in s.customers
        ]
    return out
