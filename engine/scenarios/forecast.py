"""Forecasts: margin month by month in a typical (P50) and a heavy (P99) month of a customer's own history.

The basis is a window of history (default the last HISTORY_DAYS complete days; each customer's from their first
usage on). Its rolling 30-day windows are ranked by COGS; the P50 and P99 windows carry their COGS and their
metered units together, so a forecast month's revenue and cost come from the same real 30 days:

    month k COGS    = window COGS × days in month ÷ 30 × growth(k)
    month k revenue = the contract terms for one whole month on the window's units × days in month ÷ 30 × growth(k)

The portfolio's P50 and P99 come from its own rolling windows (all customers on the same days, as they happened);
a new customer of a plan is forecast from the distribution across that plan's customers (their typical months,
ranked). A month where every day is like the P99 day (the old "P99 month") is kept beside them as a labelled
stress case, never as the forecast. Growth is `N%` a month (compounding: (1 + N/100)^k) or `Nx` over the horizon
(N^(k/M)). Each forecast month earns from the contracts on file in force in it, prorated by day where one starts
or ends in it (as the reports prorate), so a contract that ends stops earning and a renewal on file starts; billed
revenue (Stripe) is held flat at its monthly rate. The breach month is the first forecast month whose margin is
below MARGINBOT_BREACH_PCT, or that has cost and no revenue at all (as the alerts count it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, text

from engine.money import CENT, HUNDRED, TENTH, ZERO, pct_text, round_to, usd, usd_text
from engine.periods import Period, month
from engine.reports.figures import Figures, Thresholds, pick
from engine.reports.names import resolve_customer
from engine.reports.revenue import Terms, active_span, contracts_in, describe_terms, month_fraction
from engine.scenarios.basis import (
    WINDOW_DAYS,
    DayUsage,
    History,
    InForce,
    Payer,
    Unpriced,
    Window,
    churned,
    churned_words,
    daily_usage,
    days_text,
    history_of,
    last_contract_end,
    month_figures,
    percentile_day,
    percentile_window,
    rolling_cogs,
    terms_for,
    unpriced_in,
    window_between,
    windows_text,
)
from engine.scenarios.floor import NoHistory
from engine.scenarios.growth import MAX_REACHED, ForecastError, Growth
from engine.scenarios.words import DEFAULT_MONTHS
from engine.store.sql import where_equal
from engine.timeutil import as_date
from engine.vocab import Status, SubjectKind

MAX_MONTHS = 36
STRESS_LABEL = "stress case, not a forecast: every day like the P99 day"


# ---------------------------------------------------------------- forecasts


@dataclass(kw_only=True)
class MonthForecast:
    """One forecast month in a typical (P50) and a heavy (P99) month, and the stress case beside them."""

    label: str  # YYYY-MM
    days: int
    factor: Decimal
    p50: Figures
    p99: Figures
    stress: Figures  # every day like the P99 day: a bound, not a forecast


COST_WITHOUT_REVENUE = "cost_without_revenue"  # a breach reason: cost and no revenue to set against it
BELOW_BREACH = "margin"  # a breach reason: a margin under the breach line


def breach_reason(f: Figures) -> str | None:
    """Why a month breaches (None: it does not). Cost with no revenue has no margin to compare, and is the worst
    month there is: the alerts count it as a problem like a breach, so a forecast does too."""
    if f.status is Status.BREACH:
        return BELOW_BREACH
    if f.status is Status.NO_REVENUE and f.cogs > 0:
        return COST_WITHOUT_REVENUE
    return None


def _first_breach(months: list[MonthForecast], which: str) -> MonthForecast | None:
    return next((m for m in months if breach_reason(getattr(m, which)) is not None), None)


def _breach(months: list[MonthForecast], which: str) -> str | None:
    """The first month whose `which` (p50, p99 or stress) margin is under the breach line, or has cost and no
    revenue."""
    first = _first_breach(months, which)
    return first.label if first else None


def _breach_why(months: list[MonthForecast], which: str) -> str | None:
    """Why that first month breaches: BELOW_BREACH or COST_WITHOUT_REVENUE (None: no breach)."""
    first = _first_breach(months, which)
    return breach_reason(getattr(first, which)) if first else None


@dataclass(frozen=True, kw_only=True)
class ContractChange:
    """A contract on file that ends or starts within the forecast: the months after it earn accordingly."""

    day: date  # the last day it is in force (ends) or its first (starts)
    change: str  # ends | starts
    product: str
    terms: str
    note: str  # what it means for the forecast, in words

    def as_dict(self) -> dict[str, str]:
        return {
            "date": self.day.isoformat(),
            "change": self.change,
            "product": self.product,
            "terms": self.terms,
            "note": self.note,
        }


@dataclass(frozen=True, kw_only=True)
class Observed:
    """A customer's observed trend in requests a day: the basis against the days just before it, each counted from
    the customer's first usage on; or, when the days before are too few to compare, why it is n/a (no figure)."""

    first: date  # the customer's first day with usage
    days_before: int  # the days before the basis counted: from `first` on (0: their usage starts in the basis)
    change: Decimal | None = None  # over the basis
    monthly: Decimal | None = None  # the same as a compounded monthly rate
    why_not: str | None = None  # n/a: why, in words (change and monthly are then None)


@dataclass(kw_only=True)
class CustomerForecast:
    """One customer's forecast months, with the windows, days and terms they stand on."""

    key: str
    name: str
    plan: str
    terms: list[str]
    history: History
    basis_cogs: Decimal  # COGS over the customer's days in the basis
    p50_window: Window
    p99_window: Window
    p50_day: DayUsage
    p99_day: DayUsage
    months: list[MonthForecast]
    # Requests a day, the basis against the days before it, or why there is no trend (None: no usage to observe).
    observed: Observed | None = None
    contract_changes: list[ContractChange] = field(default_factory=list)

    @property
    def observed_growth(self) -> Decimal | None:
        """The observed trend as a compounded monthly rate (None: n/a)."""
        return self.observed.monthly if self.observed is not None else None

    @property
    def observed_change(self) -> Decimal | None:
        """The observed trend over the whole basis, not a monthly rate (None: n/a)."""
        return self.observed.change if self.observed is not None else None

    @property
    def basis_days(self) -> int:
        return self.history.days

    @property
    def breach_p50(self) -> str | None:
        return _breach(self.months, "p50")

    @property
    def breach_p99(self) -> str | None:
        return _breach(self.months, "p99")

    @property
    def breach_stress(self) -> str | None:
        return _breach(self.months, "stress")

    def breach_why(self, which: str) -> str | None:
        """Why the first `which` (p50, p99, stress) breach month breaches (see breach_reason)."""
        return _breach_why(self.months, which)


@dataclass(kw_only=True)
class PlanForecast:
    """A new customer of this plan, forecast from the distribution across the plan's customers: the P50 and the
    P99 customer by the COGS of their typical (P50) 30 days, each in that typical month."""

    plan: str
    customers: int
    p50_customer: CustomerForecast
    p99_customer: CustomerForecast

    @property
    def breach_like_p50(self) -> str | None:
        return self.p50_customer.breach_p50

    @property
    def breach_like_p99(self) -> str | None:
        return self.p99_customer.breach_p50


@dataclass(kw_only=True)
class Forecast:
    """A forecast of one customer, or of every customer, the portfolio total and each plan."""

    kind: SubjectKind  # customer | portfolio
    key: str
    name: str
    basis: Period
    growth: Growth
    months: int
    customers: list[CustomerForecast]
    total: list[MonthForecast]
    plans: list[PlanForecast]
    assumptions: list[str]
    history: History
    # The windows the total stands on: a customer's own, or the portfolio's (every customer on the same days).
    p50_window: tuple[date, date]
    p99_window: tuple[date, date]
    unpriced: Unpriced = field(default_factory=Unpriced)  # in `basis`: the months' COGS leave it out


def _months(
    terms: list[Payer],
    windows: tuple[Window, Window],
    stress_day: DayUsage,
    calendar: list[Period],
    growth: Growth,
    thresholds: Thresholds,
) -> list[MonthForecast]:
    p50, p99 = windows
    out = []
    for k, (m, t) in enumerate(zip(calendar, terms, strict=True), start=1):
        g = growth.factor(k, len(calendar))
        out.append(
            MonthForecast(
                label=m.label,
                days=m.days,
                factor=g,
                p50=month_figures(t, p50, Decimal(m.days) / p50.days * g, thresholds),
                p99=month_figures(t, p99, Decimal(m.days) / p99.days * g, thresholds),
                stress=month_figures(t, stress_day, m.days * g, thresholds),
            )
        )
    return out


def _in_force(today: Payer, on_file: list[Terms], calendar: list[Period]) -> list[Payer]:
    """What pays in each forecast month: a bill held flat, or the contracts on file in force in that month (a
    contract in force on part of it for those days: its fees by month_fraction, its units by day, as the reports
    count them)."""
    if today.billed_per_month is not None:
        return [today] * len(calendar)
    out = []
    for m in calendar:
        contracts: list[Terms] = []
        spans: list[InForce] = []
        for c in on_file:
            span = active_span(c, m)
            if span is None:
                continue
            a, b = span
            contracts.append(c)
            spans.append(InForce(months=month_fraction(a, b), days=(b - a).days + 1, of=m.days))
        whole = all(s.days == s.of for s in spans)
        out.append(Payer(contracts=contracts, spans=[] if whole else spans))
    return out


def _changes(today: Payer, on_file: list[Terms], horizon: Period) -> list[ContractChange]:
    """The contracts of `today` that end within the forecast, and those on file that start in it, in date order:
    a forecast that kept earning from an ended contract, or missed a renewal on file, would be wrong all along."""
    if today.billed_per_month is not None:
        return []  # the bill is held flat: the contracts behind it are not what pays
    out: list[ContractChange] = []
    starting = [c for c in on_file if c not in today.contracts]
    for c in today.contracts:
        if c.end is None or c.end >= horizon.end:
            continue
        follows = any(n.product == c.product and n.start <= c.end + timedelta(days=1) for n in starting)
        after = "" if follows else "; no contract on file follows it, so it earns nothing after"
        out.append(_change(c, c.end, "ends", f"{_terms(c)} ends {c.end}{after}"))
    for n in starting:
        renews = any(c.product == n.product and c.end is not None and c.end < n.start for c in today.contracts)
        what = "renewal" if renews else "new contract"
        out.append(_change(n, n.start, "starts", f"{what} on file from {n.start}: {_terms(n)}"))
    return sorted(out, key=lambda x: (x.day, x.change, x.product))


def _terms(c: Terms) -> str:
    return describe_terms(c) + (f" ({c.product})" if c.product else "")


def _change(c: Terms, day: date, change: str, note: str) -> ContractChange:
    return ContractChange(day=day, change=change, product=c.product, terms=describe_terms(c), note=note)


def _earns_without_usage(payer: Payer) -> bool:
    """Whether a customer's terms earn anything with no usage: a fee or seats, or revenue billed by invoice."""
    if payer.billed_per_month is not None:
        return bool(payer.billed_per_month)
    return any(
        (c.plan.has_fee and c.platform_fee_usd > 0) or (c.plan.has_seats and c.seats > 0 and c.seat_price_usd > 0)
        for c in payer.contracts
    )


def forecast(
    conn: Connection,
    subject: str | None,
    basis: Period,
    *,
    growth: Growth,
    months: int = DEFAULT_MONTHS,
    thresholds: Thresholds,
) -> Forecast:
    """Forecast one customer (id, name or alias) or, with subject None, every customer and the portfolio."""
    if not 1 <= months <= MAX_MONTHS:
        raise ForecastError(f"months must be between 1 and {MAX_MONTHS}")
    reached = growth.factor(months, months)
    if reached > MAX_REACHED:
        # Figures past any business's (and, at 10^26 dollars, past what a figure is rounded in) say nothing.
        raise ForecastError(
            f"growth: {growth.describe(months)} for {months} months multiplies usage by "
            f"{f'{reached:,.0f}' if reached < 10**9 else f'about 10^{reached.adjusted()}'}, more than the "
            f"{MAX_REACHED:,} times a forecast goes to; use fewer months or a lower rate"
        )
    if subject is not None:
        key, name = resolve_customer(conn, subject)
        names = {key: name}
        wanted: list[str] | None = [key]
    else:
        names = dict(conn.execute(text("SELECT id, name FROM customer")).all())
        wanted = None
    usage = daily_usage(conn, basis, wanted[0] if wanted else None)
    terms = terms_for(conn, basis, wanted)
    if wanted and not usage.get(wanted[0]) and not _earns_without_usage(terms[wanted[0]]):
        # Nothing to forecast: no usage to cost and no fee or billing to earn ("0 days … as 0 rolling windows",
        # every margin n/a). Said as the floor says it. A fee with no usage yet is forecast: its fees against no cost.
        raise NoHistory(f"{name} has no usage in {basis.title} ({basis.start} to {basis.end}); no month to forecast")
    if not wanted and not usage and not any(_earns_without_usage(t) for t in terms.values()):
        # The portfolio as the customer above: no usage and nothing earned without it said "only 0 days, one window
        # scaled to 30" over a table of n/a margins.
        raise NoHistory(
            f"no customer has usage in {basis.title} ({basis.start} to {basis.end}); no usage history, no month "
            "to forecast"
        )
    calendar = _future_months(basis.end, months)
    horizon = Period(calendar[0].start, calendar[-1].end, "")
    on_file: dict[str, list[Terms]] = defaultdict(list)
    for contract in contracts_in(conn, horizon, wanted):
        on_file[contract.customer].append(contract)
    keys = wanted or sorted(
        set(usage) | set(on_file) | {c for c, t in terms.items() if t.contracts or t.billed_per_month}
    )
    # A customer who has left (no contract in force or on file after the history, however far ahead, no usage in
    # the last 30 days) has no months ahead: its old heavy month against no revenue would read as a breach. Said in
    # one line, or left out of a portfolio; judged as the floor judges it.
    left = churned(conn, basis, usage, terms, keys)
    if wanted and left:
        ended = last_contract_end(conn, basis, left[0])
        raise NoHistory(f"{churned_words(name, usage.get(left[0], []), ended, basis)}; no month to forecast")
    keys = [k for k in keys if k not in left]
    usage = {k: days for k, days in usage.items() if k not in left}
    observed = _observed_growth(conn, basis, wanted)
    results = []
    payers: dict[str, list[Payer]] = {}
    for key in keys:
        days = usage.get(key) or []
        series = days or [DayUsage(day=basis.end)]  # no usage: the fees against no cost
        windows = (percentile_window(series, 0.5), percentile_window(series, 0.99))
        p50_day, p99_day = percentile_day(series, 0.5), percentile_day(series, 0.99)
        t = terms[key]
        payers[key] = _in_force(t, on_file.get(key, []), calendar)
        results.append(
            CustomerForecast(
                key=key,
                name=names.get(key, key),
                plan=t.plan,
                terms=t.describe(),
                history=history_of(days),
                basis_cogs=usd(sum(d.cogs_nano for d in days)),
                p50_window=windows[0],
                p99_window=windows[1],
                p50_day=p50_day,
                p99_day=p99_day,
                months=_months(payers[key], windows, p99_day, calendar, growth, thresholds),
                observed=observed.get(key),
                contract_changes=_changes(t, on_file.get(key, []), horizon),
            )
        )
    if subject is not None:
        c = results[0]
        return Forecast(
            kind=SubjectKind.CUSTOMER,
            key=c.key,
            name=c.name,
            basis=basis,
            growth=growth,
            months=months,
            customers=results,
            total=c.months,
            plans=[],
            assumptions=_assumptions(c.name, basis, c.history, c.p50_window, c.p99_window, growth, months, thresholds)
            + _customer_notes(c, basis),
            history=c.history,
            p50_window=(c.p50_window.start, c.p50_window.end),
            p99_window=(c.p99_window.start, c.p99_window.end),
            unpriced=unpriced_in(conn, basis, wanted),
        )
    history, (p50, p99), total = _portfolio_total(usage, payers, results, basis, calendar, growth, thresholds)
    results.sort(key=lambda c: (c.breach_p99 is None, c.breach_p99 or "", c.breach_p50 is None, c.key))
    assumptions = [
        *_assumptions("the portfolio", basis, history, p50, p99, growth, months, thresholds),
        "each customer below is forecast on their own windows; the portfolio's are every customer on the same "
        "30 days, as they happened (the heavy months of different customers rarely come together)",
        f"{STRESS_LABEL}, for every customer at once: a bound, not a forecast",
        "a new customer of a plan is forecast from the distribution across that plan's customers: like its P50 "
        "and like its P99 customer by the COGS of a typical 30 days, each in that typical month",
    ]
    if left:
        gone = ", ".join(names.get(k, k) for k in left[:5]) + (", …" if len(left) > 5 else "")
        assumptions.append(
            f"{len(left)} churned customer{'' if len(left) == 1 else 's'} left out ({gone}): no contract in force "
            f"on {basis.end} or on file after it, and no usage in the last {WINDOW_DAYS} days"
        )
    if changing := [c for c in results if c.contract_changes]:
        assumptions.append(
            f"{len(changing)} customer(s) have contracts that end or start within the forecast "
            f"({', '.join(c.name for c in changing[:5])}{', …' if len(changing) > 5 else ''}): each month earns "
            "from the contracts in force in it"
        )
    return Forecast(
        kind=SubjectKind.PORTFOLIO,
        key="portfolio",
        name="Portfolio",
        basis=basis,
        growth=growth,
        months=months,
        customers=results,
        total=total,
        plans=_plans(results),
        assumptions=assumptions,
        history=history,
        p50_window=(p50.start, p50.end),
        p99_window=(p99.start, p99.end),
        unpriced=unpriced_in(conn, basis, None),
    )


def _portfolio_total(
    usage: dict[str, list[DayUsage]],
    terms: dict[str, list[Payer]],
    results: list[CustomerForecast],
    basis: Period,
    calendar: list[Period],
    growth: Growth,
    thresholds: Thresholds,
) -> tuple[History, tuple[Window, Window], list[MonthForecast]]:
    """The portfolio's own P50 and P99 windows (every customer's COGS on the same days) and its months: each
    customer's revenue rule on their units in those windows, summed; the stress case sums every customer's."""
    by_day: dict[date, int] = defaultdict(int)
    for days in usage.values():
        for d in days:
            by_day[d.day] += d.cogs_nano
    first = min(by_day, default=basis.end)
    series = [DayUsage(day=d, cogs_nano=by_day.get(d, 0)) for d in Period(first, basis.end, "").iter_days()]
    history = history_of(series if by_day else [])
    width = min(WINDOW_DAYS, len(series))
    ranked = sorted(rolling_cogs(series, width))
    (_, b50), (_, b99) = pick(ranked, 0.5), pick(ranked, 0.99)
    a50, a99 = b50 - timedelta(days=width - 1), b99 - timedelta(days=width - 1)
    p50 = window_between(series, a50, b50)
    p99 = window_between(series, a99, b99)
    mine = [
        (terms[c.key], window_between(usage.get(c.key, []), a50, b50), window_between(usage.get(c.key, []), a99, b99))
        for c in results
    ]
    total: list[MonthForecast] = []
    for k, m in enumerate(calendar, start=1):
        g = growth.factor(k, len(calendar))
        scale = Decimal(m.days) / width * g
        total.append(
            MonthForecast(
                label=m.label,
                days=m.days,
                factor=g,
                p50=_sum([month_figures(t[k - 1], w50, scale, thresholds) for t, w50, _ in mine], thresholds),
                p99=_sum([month_figures(t[k - 1], w99, scale, thresholds) for t, _, w99 in mine], thresholds),
                stress=_sum([c.months[k - 1].stress for c in results], thresholds),
            )
        )
    return history, (p50, p99), total


def _span(w: Window) -> str:
    return f"{w.start} to {w.end}"


def _assumptions(
    who: str,
    basis: Period,
    history: History,
    p50: Window,
    p99: Window,
    growth: Growth,
    months: int,
    thresholds: Thresholds,
) -> list[str]:
    # Counted from the first usage only when that is inside the basis: a customer using it before has all its days.
    since = f"{who}'s usage from the first on" if history.days < basis.days else f"{who}'s usage"
    if history.days:
        seen = (
            f"{days_text(history.days)} of {since}, as {windows_text(history)} ranked by COGS: P50 = a typical "
            f"month ({_span(p50)}), P99 = a heavy month that happened ({_span(p99)})"
        )
    else:  # no window to rank: "0 days … as 0 rolling windows" beside P50 and P99 windows of one empty day
        seen = f"no usage of {who} in it, so no window to rank: every month has no cost"
    out = [
        f"history: {basis.title} ({basis.start} to {basis.end}); {seen}",
        f"growth: {growth.describe(months)}",
        "a forecast month = the P50 (or P99) window scaled to the month's days × growth; revenue from the "
        "contracts on file in force in that month (one that starts or ends in it for those days, as the reports "
        f"prorate; billed revenue held flat); breach = margin below {thresholds.breach_pct}%, or cost with no "
        "revenue",
    ]
    if note := history.note():
        out.append(note)
    return out


def _customer_notes(c: CustomerForecast, basis: Period) -> list[str]:
    first = c.months[0].stress if c.months else None
    out = [
        f"{STRESS_LABEL} ({c.p99_day.day}, COGS {usd_text(c.p99_day.cogs, CENT)}): "
        + (
            f"margin {pct_text(first.margin_pct, TENTH)} in {c.months[0].label}"
            if first and first.margin_pct is not None
            else "no revenue to set it against"
        )
    ]
    if (seen := c.observed) is not None:
        out.append(_observed_note(seen, c.name, basis))
    return out


def _observed_note(seen: Observed, name: str, basis: Period) -> str:
    if seen.why_not is not None or seen.change is None or seen.monthly is None:
        return f"observed: n/a, {seen.why_not or 'nothing to compare'}"
    prev = basis.previous()
    since = f" from {name}'s first usage ({seen.first})" if seen.days_before < prev.days else ""
    if prev.end + timedelta(days=1) != basis.start:  # a period to date: the same days of the period before
        before = f"the {seen.days_before} days of {prev.label} ({prev.start} to {prev.end}){since}"
    elif since:
        before = f"the {seen.days_before} days before it{since}"
    else:
        before = f"the {seen.days_before} before"
    return (
        f"observed: requests a day {_signed(seen.change * HUNDRED)}% over the {basis.days} days of the history "
        f"against {before}, {_signed(seen.monthly * HUNDRED)}% a month compounded (give a growth of "
        f"{round_to(seen.monthly * HUNDRED, TENTH)}% to project it)"
    )


def _plans(results: list[CustomerForecast]) -> list[PlanForecast]:
    by_plan: dict[str, list[CustomerForecast]] = defaultdict(list)
    for c in results:
        if c.basis_cogs or c.plan != "none":
            by_plan[c.plan].append(c)
    out = []
    for plan, members in sorted(by_plan.items()):
        ranked = sorted(members, key=lambda c: (c.p50_window.cogs_nano, c.key))
        out.append(
            PlanForecast(
                plan=plan, customers=len(members), p50_customer=pick(ranked, 0.5), p99_customer=pick(ranked, 0.99)
            )
        )
    return out


def _sum(figures: list[Figures], thresholds: Thresholds) -> Figures:
    return Figures(
        revenue=sum((f.revenue for f in figures), ZERO),
        cogs=sum((f.cogs for f in figures), ZERO),
        thresholds=thresholds,
    )


def _future_months(after: date, count: int) -> list[Period]:
    """The `count` calendar months after the one `after` falls in."""
    out = []
    y, m = after.year, after.month
    for _ in range(count):
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append(month(y, m))
    return out


# The fewest days before the basis an observed trend is measured against. A daily rate over fewer than 7 days is
# not even one week's mix of weekdays and weekends, and a customer's first days (onboarding, a trial) are seldom
# their settled use: set against a whole window of it and compounded as a monthly rate, a short start reads as a
# steep trend. So the days before must hold at least a week and at least a quarter of the window (all of it, for a
# window shorter than a week); with fewer the trend is n/a, never a figure.
MIN_DAYS_BEFORE = 7


def _days_needed(window: int) -> int:
    """The days before the basis (of `window`) an observed trend needs: a week and a quarter of it, at most all."""
    return min(window, max(MIN_DAYS_BEFORE, -(-window // 4)))


def _observed_growth(conn: Connection, basis: Period, customers: list[str] | None) -> dict[str, Observed]:
    """Per customer with usage in the basis or the days before it: the change in requests a day from the window
    before the basis to the basis, and the same as a compounded monthly rate; or why there is none.

    Each window's daily rate counts its days from the customer's first usage on (as the forecast's windows do): a
    customer whose usage began a week before the basis is compared on that week, not on the whole window with the
    days before they began as zeros (a flat 1,000 requests a day read as +1328.6%). Too few days before (see
    MIN_DAYS_BEFORE) and the trend is n/a. A change r between two windows whose middles are `gap` days apart is
    (1 + r)^(30 / gap) − 1 a 30-day month: the rate `--growth` takes, not 90 days' change read as one month's. The
    gap is the basis's days when the days before are as many and end the day before it; fewer, from a first usage
    within them, bring the middles closer; a period to date's same days of the period before move them apart."""
    prev = basis.previous()
    one = customers[0] if customers is not None and len(customers) == 1 else None
    sql = (
        "SELECT customer, SUM(CASE WHEN day >= :a THEN requests ELSE 0 END), "
        "SUM(CASE WHEN day < :a THEN requests ELSE 0 END) FROM daily_customer_product "
        "WHERE day BETWEEN :pa AND :b AND (day >= :a OR day <= :pb)"
    )
    params: dict[str, object] = {"a": basis.start, "b": basis.end, "pa": prev.start, "pb": prev.end}
    sql = where_equal(sql, params, customer=one)
    sums = {
        cust: (int(now or 0), int(before or 0))
        for cust, now, before in conn.execute(text(sql + " GROUP BY customer"), params)
    }
    # Each customer's first usage at all, up to the basis's end (a customer back after a quiet spell was a customer
    # all along: their quiet days count).
    first_sql = "SELECT customer, MIN(day) FROM daily_customer_product WHERE day <= :b"
    first_params: dict[str, object] = {"b": basis.end}
    first_sql = where_equal(first_sql, first_params, customer=one)
    firsts = {cust: as_date(d) for cust, d in conn.execute(text(first_sql + " GROUP BY customer"), first_params)}
    needed = _days_needed(prev.days)
    out = {}
    for cust, (now, before) in sums.items():
        first = firsts.get(cust, basis.start)
        counted = max((prev.end - max(first, prev.start)).days + 1, 0)
        if counted == 0:
            why = f"usage starts {first}, within the history: no days before it to compare"
            out[cust] = Observed(first=first, days_before=0, why_not=why)
        elif counted < needed:
            why = (
                f"only {counted} day{'s' if counted != 1 else ''} of usage before the history (the first on "
                f"{first}); a trend needs at least {needed} of the {prev.days} days before it"
            )
            out[cust] = Observed(first=first, days_before=counted, why_not=why)
        elif not before:
            why = f"no requests in the {counted} days before the history to compare"
            out[cust] = Observed(first=first, days_before=counted, why_not=why)
        else:
            ratio = (Decimal(now) / basis.days) / (Decimal(before) / counted)
            # Days between the two windows' middles, from their dates: a period to date is compared with the same
            # days of the period before, which need not end the day before it starts (a week to date's Monday to
            # Saturday against the last week's: 7 days apart, where (6 + 6) / 2 said 6).
            counted_from = prev.end - timedelta(days=counted - 1)
            gap = Decimal((basis.start - counted_from).days) + Decimal(basis.days - counted) / 2
            out[cust] = Observed(
                first=first,
                days_before=counted,
                change=ratio - 1,
                monthly=ratio ** (Decimal(WINDOW_DAYS) / gap) - 1,
            )
    return out


def _signed(value: Decimal) -> str:
    q = round_to(value, TENTH)
    return f"{'+' if q > 0 else ''}{q}"
