"""Margin alerts: which customers and products to speak about, decided once and remembered in `alert_state`.

Every run looks at the trailing MARGINBOT_ALERT_WINDOW_DAYS complete days before `as_of`, for every customer
and product (one `portfolio` sweep), and moves each subject through a small state machine:

- ok → breach when the margin is under MARGINBOT_BREACH_PCT (posted once); a breach that persists is repeated
  only as a reminder every MARGINBOT_ALERT_REMIND_DAYS; it recovers (posted once) only when the margin is back
  at or above the threshold plus HYSTERESIS points, so a margin hovering at the threshold does not flap.
- no_revenue: cost but no revenue in the window (same reminder and recovery rules as a breach).
- watch: a customer above the threshold whose daily margins, fitted with a straight line, cross it within
  WATCH_HORIZON_DAYS; posted once per episode (again only after a reminder interval).
- unpriced: more than UNPRICED_SHARE of a subject's events have no price, so its COGS is understated.

State changes and the messages they cause are written in one transaction (the outbox), and every state update
is conditional on the row being as read, so two concurrent runs cannot both post the same change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Numeric, String, Text, bindparam, column, text
from sqlalchemy.exc import IntegrityError

from engine import outbox
from engine.margin import (
    Figures,
    MarginReport,
    Portfolio,
    PortfolioRow,
    Thresholds,
    portfolio,
    subject_report,
)
from engine.models import COST_COLUMNS, NANO, UTCDateTime
from engine.periods import Period, trailing
from engine.revenue import RevenueLine, Terms, compute_line, contracts_in, month_fraction, revenue_lines
from engine.runtime import Runtime
from engine.timeutil import as_date

log = logging.getLogger(__name__)

HYSTERESIS = Decimal(2)  # points above the breach threshold a margin must reach to count as recovered
WATCH_HORIZON_DAYS = 14
MIN_TREND_DAYS = 7  # fewer daily margins than this make no trend
UNPRICED_SHARE = Decimal("0.01")  # flag when at least 1% of events have no price (cleared under half that)
MAX_DETAILED = 20  # subjects per run that get a full report (cost driver); the rest are listed with figures
BAD = ("breach", "no_revenue")
KIND_ORDER = {"breach": 0, "no_revenue": 1, "watch": 2, "unpriced": 3, "reminder": 4, "recovered": 5}
CENT = Decimal("0.01")
_COST_SUM = " + ".join(COST_COLUMNS)


class ConcurrentAlertRun(RuntimeError):
    """Another alerts check changed the same state while this one ran; this run committed nothing."""


# ---------------------------------------------------------------- state


@dataclass
class State:
    """One `alert_state` row (or the implicit 'ok' of a subject never alerted on)."""

    status: str = "ok"
    since: datetime | None = None
    last_posted_at: datetime | None = None
    last_margin_pct: Decimal | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    raw_detail: str | None = None  # as stored, for the conditional update; None = no row yet

    def stamp(self, key: str) -> datetime | None:
        value = self.detail.get(key)
        return datetime.fromisoformat(value) if value else None


@dataclass
class Trend:
    """A straight line fitted to daily margins: points per day and where it ends up WATCH_HORIZON_DAYS on."""

    slope_pts_per_day: Decimal
    projected_pct: Decimal
    crosses_on: date | None
    days: int


@dataclass
class Observation:
    """What the window says about one subject."""

    kind: str  # customer | product
    key: str
    name: str
    level: str  # ok | watch | breach | no_revenue | idle
    current: Figures
    previous: Figures
    unpriced_share: Decimal
    trend: Trend | None = None


@dataclass
class AlertEvent:
    """Something to say about one subject in this run."""

    kind: str  # breach | no_revenue | watch | unpriced | reminder | recovered
    observation: Observation
    since: datetime | None
    state: str  # the subject's state after this run
    report: MarginReport | None = None

    @property
    def sort_key(self) -> tuple[int, Decimal, str]:
        margin = self.observation.current.margin_pct
        return (
            KIND_ORDER[self.kind],
            margin if margin is not None else Decimal(-(10**9)),
            self.observation.key,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape stored in the outbox and rendered by the Block Kit builder."""
        o = self.observation
        now, before = o.current, o.previous
        d: dict[str, Any] = {
            "kind": self.kind,
            "subject_kind": o.kind,
            "subject": o.key,
            "name": o.name,
            "state": self.state,
            "margin_pct": _q(now.margin_pct),
            "previous_margin_pct": _q(before.margin_pct),
            "revenue_usd": _q(now.revenue),
            "previous_revenue_usd": _q(before.revenue),
            "cogs_usd": _q(now.cogs),
            "previous_cogs_usd": _q(before.cogs),
            "events": now.events,
            "unpriced_events": now.unpriced_events,
            "unpriced_share_pct": _q(o.unpriced_share * 100),
            "since": self.since.isoformat() if self.since else None,
            "driver": None,
            "lever": None,
            "unpriced_models": [],
            "trend": None,
        }
        if self.report is not None:
            d["driver"] = self.report.top_mover
            d["lever"] = self.report.top_lever if self.report.current.cogs > 0 else None
            d["unpriced_models"] = self.report.unpriced_models
        if o.trend is not None and self.kind == "watch":
            d["trend"] = {
                "slope_pts_per_day": _q(o.trend.slope_pts_per_day),
                "projected_pct": _q(o.trend.projected_pct),
                "crosses_on": o.trend.crosses_on.isoformat() if o.trend.crosses_on else None,
                "days": o.trend.days,
            }
        return d


@dataclass
class Message:
    channel: str
    dedupe_key: str
    payload: dict[str, Any]


@dataclass
class AlertRun:
    """What one `alerts check` found, decided and queued."""

    as_of: datetime
    period: Period
    subjects: int
    events: list[AlertEvent]
    messages: list[Message]
    queued: int
    dry_run: bool
    recorded: bool
    elapsed_s: float = 0.0

    def summary(self) -> str:
        counts: dict[str, int] = defaultdict(int)
        for e in self.events:
            counts[e.kind] += 1
        what = ", ".join(
            f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items(), key=lambda i: KIND_ORDER[i[0]])
        )
        p = self.period
        head = f"checked {self.subjects} customers and products over {p.label} ({p.start} to {p.end}): "
        head += what or "nothing new"
        if self.dry_run:
            return head + "; dry run, nothing recorded or queued"
        if not self.recorded:
            return head + "; MARGINBOT_ALERT_CHANNELS is empty, so nothing was recorded or queued"
        return head + f"; {self.queued} message(s) queued"


def _q(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT, ROUND_HALF_UP))


# ---------------------------------------------------------------- deciding


def observe(row: PortfolioRow, t: Thresholds) -> Observation:
    """The level of one portfolio row, before history (hysteresis) and trend are applied."""
    now = row.current
    if now.revenue <= 0:
        level = "no_revenue" if now.cogs > 0 else "idle"
    else:
        margin = now.margin_pct
        level = "breach" if margin is not None and margin < t.breach_pct else "ok"
    share = Decimal(now.unpriced_events) / Decimal(now.events) if now.events else Decimal(0)
    return Observation(row.kind, row.key, row.name, level, now, row.previous, share)


def decide(
    prev: State, obs: Observation, *, as_of: datetime, remind_after: timedelta, breach_pct: Decimal
) -> tuple[State, list[str]]:
    """The next state of one subject and what to post about it. Pure: no database, no clock."""
    new = State(prev.status, prev.since, prev.last_posted_at, prev.last_margin_pct, dict(prev.detail), prev.raw_detail)
    events: list[str] = []
    level = obs.level
    margin = obs.current.margin_pct
    if prev.status in BAD and level in ("ok", "watch") and margin is not None and margin < breach_pct + HYSTERESIS:
        level = "breach"  # inside the hysteresis band: not recovered yet
    if level in BAD:
        if prev.status not in BAD:
            events.append(level)
            new.status, new.since, new.last_posted_at = level, as_of, as_of
        else:
            new.status = level  # breach ↔ no revenue: still a problem, already announced
            if prev.last_posted_at is None or as_of - prev.last_posted_at >= remind_after:
                events.append("reminder")
                new.last_posted_at = as_of
    elif level in ("ok", "watch"):
        if prev.status in BAD:
            events.append("recovered")
            new.status, new.since, new.last_posted_at = "ok", as_of, as_of
        elif level == "watch" and prev.status != "watch":
            last_watch = prev.stamp("watch_posted_at")
            if last_watch is None or as_of - last_watch >= remind_after:
                events.append("watch")
                new.detail["watch_posted_at"] = as_of.isoformat()
                new.last_posted_at = as_of
            new.status, new.since = "watch", as_of
        elif level == "ok" and prev.status == "watch":
            new.status, new.since = "ok", as_of  # the trend no longer crosses: nothing to say
    # level 'idle' (no revenue, no cost): no news either way, the state stays as it was.

    flagged = prev.detail.get("unpriced_since")
    if obs.unpriced_share >= UNPRICED_SHARE and not flagged:
        events.append("unpriced")
        new.detail["unpriced_since"] = as_of.isoformat()
        new.last_posted_at = as_of
    elif flagged and obs.unpriced_share < UNPRICED_SHARE / 2:
        new.detail["unpriced_since"] = None
    if events or (new.status, new.since, new.detail) != (prev.status, prev.since, prev.detail):
        new.last_margin_pct = margin.quantize(Decimal("0.0001"), ROUND_HALF_UP) if margin is not None else None
    return new, events


def changed(prev: State, new: State) -> bool:
    return (new.status, new.since, new.last_posted_at, new.detail, new.last_margin_pct) != (
        prev.status,
        prev.since,
        prev.last_posted_at,
        prev.detail,
        prev.last_margin_pct,
    )


# ---------------------------------------------------------------- trend


def fit_trend(points: list[tuple[int, float]], *, last_x: int, start: date, breach_pct: Decimal) -> Trend | None:
    """Least squares on (day index, margin %); None with fewer than MIN_TREND_DAYS points or no spread.

    Floats are fine here: this is a statistic over percentages, not money, and it runs for every customer.
    """
    n = len(points)
    if n < MIN_TREND_DAYS:
        return None
    sx = sy = sxx = sxy = 0.0
    for x, y in points:
        sx += x
        sy += y
        sxx += x * x
        sxy += x * y
    spread = n * sxx - sx * sx
    if spread == 0:
        return None
    slope = (n * sxy - sx * sy) / spread
    intercept = (sy - slope * sx) / n
    projected = intercept + slope * (last_x + WATCH_HORIZON_DAYS)
    breach = float(breach_pct)
    crosses_on = None
    if slope < 0 and projected < breach:  # it crosses within the horizon (a far-off date means nothing)
        crosses_on = start + timedelta(days=max(math.ceil((breach - intercept) / slope), last_x + 1))
    return Trend(_dec(slope), _dec(projected), crosses_on, n)


def _dec(value: float) -> Decimal:
    return Decimal(repr(round(value, 6)))


def daily_customer_figures(
    conn: Connection, period: Period, customers: set[str]
) -> dict[str, dict[date, tuple[Decimal, int]]]:
    """Revenue (USD) and COGS (nano-USD) of each customer on each day of `period` that has either.

    A day's revenue is what `revenue_lines` gives for that single day (fees accrue per day, usage is metered
    that day, billed lines are prorated by day and replace modelled revenue on the days they cover), computed
    from four queries for the whole window instead of one `revenue_lines` call per day.
    """
    days = period.iter_days()
    return {
        cust: {day: (r, c) for day, r, c in zip(days, rev, cost, strict=True) if r or c}
        for cust, (rev, cost) in _daily_series(conn, period, customers).items()
    }


def _daily_series(conn: Connection, period: Period, customers: set[str]) -> dict[str, tuple[list[Decimal], list[int]]]:
    # Revenue and COGS per customer as one list per window (index = day in the window). This runs for every
    # customer on every alerts check, hence lists and whole-window arithmetic rather than per-day lookups.
    if not customers:
        return {}
    a, b = period.start, period.end
    n = period.days
    zero = Decimal(0)
    contracts = [c for c in contracts_in(conn, period, None) if c.customer in customers]
    metered = {c.customer for c in contracts if c.plan in ("usage", "hybrid")}

    index: dict[object, int] = {}  # the day as the database returns it (text on SQLite) → position
    for i, day in enumerate(period.iter_days()):
        index[day] = index[day.isoformat()] = i
    cost: dict[str, list[int]] = {}
    usage: dict[str, dict[str, tuple[list[int], list[int]]]] = defaultdict(
        dict
    )  # customer → product → (requests, tokens)
    for cust, prod, raw_day, req, tok, c in conn.execute(
        text(
            # One row per customer, product and day already: the rollup's key.
            f"SELECT customer, product, day, requests, input_tokens + output_tokens, {_COST_SUM} "
            "FROM daily_customer_product WHERE day BETWEEN :a AND :b"
        ),
        {"a": a, "b": b},
    ).all():  # one fetch for tens of thousands of rows: row-by-row fetching costs more than the query
        if cust not in customers:
            continue
        i = index[raw_day if raw_day in index else as_date(raw_day)]
        series = cost.get(cust)
        if series is None:
            series = cost[cust] = [0] * n
        series[i] += c or 0
        if cust in metered:
            pair = usage[cust].get(prod)
            if pair is None:
                pair = usage[cust][prod] = ([0] * n, [0] * n)
            pair[0][i] += req or 0
            pair[1][i] += tok or 0
    tasks: dict[str, dict[str, list[int]]] = defaultdict(dict)  # customer → product → tasks started
    by_task = sorted({c.customer for c in contracts if c.unit == "task" and c.plan in ("usage", "hybrid")})
    if by_task:
        # Only task-metered customers: their (customer, day) index ranges, not every task in the window.
        for cust, prod, raw_day, count in conn.execute(
            text(
                "SELECT customer, product, day, COUNT(*) FROM task_rollup WHERE customer IN :cs "
                "AND day BETWEEN :a AND :b GROUP BY customer, product, day"
            ).bindparams(bindparam("cs", expanding=True)),
            {"a": a, "b": b, "cs": by_task},
        ).all():
            if cust in metered:
                i = index[raw_day if raw_day in index else as_date(raw_day)]
                tasks[cust].setdefault(prod, [0] * n)[i] += int(count)

    fractions = [month_fraction(day, day) for day in period.iter_days()]
    revenue: dict[str, list[Decimal]] = {}
    for c in contracts:
        lo, hi = (max(c.start, a) - a).days, (min(c.end or b, b) - a).days + 1
        fixed = {f: compute_line(c, 1, f, zero).total for f in set(fractions[lo:hi])}  # fees, per month length
        amounts = [fixed[f] for f in fractions[lo:hi]]
        if c.plan in ("usage", "hybrid"):
            used = _metered(c, usage, tasks, n)[lo:hi]
            price, included = c.unit_price_usd, c.included_units
            # The usage term of compute_line, inlined: it is the one part that changes every day.
            for k, (u, f) in enumerate(zip(used, fractions[lo:hi], strict=True)):
                over = u - included * f if c.plan == "hybrid" else u
                if over > 0:
                    amounts[k] += over * price
        earned = revenue.get(c.customer)
        if earned is None:
            earned = revenue[c.customer] = [zero] * n
        earned[lo:hi] = [x + y for x, y in zip(earned[lo:hi], amounts, strict=True)]

    billed: dict[str, list[Decimal]] = {}
    covered: dict[str, list[bool]] = {}
    for cust, start, end, amount in conn.execute(
        text(
            "SELECT customer, period_start, period_end, amount_usd FROM revenue_actual "
            "WHERE period_start <= :b AND period_end >= :a"
        ),
        {"a": a, "b": b},
    ).all():
        if cust not in customers:
            continue
        s, e = as_date(start), as_date(end)
        share = Decimal(str(amount)) / Decimal((e - s).days + 1)
        lo, hi = (max(s, a) - a).days, (min(e, b) - a).days + 1
        bill = billed.setdefault(cust, [zero] * n)
        bill[lo:hi] = [x + share for x in bill[lo:hi]]
        covered.setdefault(cust, [False] * n)[lo:hi] = [True] * (hi - lo)

    out: dict[str, tuple[list[Decimal], list[int]]] = {}
    for cust in (set(revenue) | set(cost) | set(billed)) & customers:
        rev = revenue.get(cust) or [zero] * n
        if cust in covered:  # billed lines replace modelled revenue on the days they cover
            rev = [b if cov else m for m, b, cov in zip(rev, billed[cust], covered[cust], strict=True)]
        out[cust] = (rev, cost.get(cust) or [0] * n)
    return out


def _metered(
    c: Terms,
    usage: dict[str, dict[str, tuple[list[int], list[int]]]],
    tasks: dict[str, dict[str, list[int]]],
    n: int,
) -> list[Decimal]:
    """The contract's units on each day of the window: its product's, or every product's when it names none."""
    if c.unit == "task":
        rows = [v for prod, v in tasks.get(c.customer, {}).items() if not c.product or prod == c.product]
    else:
        which = 1 if c.unit == "1k_tokens" else 0
        rows = [v[which] for prod, v in usage.get(c.customer, {}).items() if not c.product or prod == c.product]
    totals = [sum(day) for day in zip(*rows, strict=True)] if rows else [0] * n
    if c.unit == "1k_tokens":
        return [Decimal(t) / 1000 for t in totals]
    return [Decimal(t) for t in totals]


def customer_trends(conn: Connection, period: Period, customers: set[str], *, breach_pct: Decimal) -> dict[str, Trend]:
    """The fitted daily-margin trend of each customer that has enough days with revenue."""
    trends: dict[str, Trend] = {}
    last_x = period.days - 1
    for cust, (revenue, cost) in _daily_series(conn, period, customers).items():
        points = [
            (x, 100.0 - c / (r * NANO) * 100.0)
            for x, (r, c) in enumerate(zip(map(float, revenue), cost, strict=True))
            if r > 0
        ]
        trend = fit_trend(points, last_x=last_x, start=period.start, breach_pct=breach_pct)
        if trend is not None:
            trends[cust] = trend
    return trends


# ---------------------------------------------------------------- the run


_STATE_COLUMNS: dict[str, Any] = {
    "subject_kind": String(),
    "subject": String(),
    "status": String(),
    "since": UTCDateTime(),
    "last_posted_at": UTCDateTime(),
    "last_margin_pct": Numeric(9, 4),
    "detail": Text(),
}


def load_states(conn: Connection) -> dict[tuple[str, str], State]:
    query = text(
        "SELECT subject_kind, subject, status, since, last_posted_at, last_margin_pct, detail FROM alert_state"
    ).columns(*[column(name, type_) for name, type_ in _STATE_COLUMNS.items()])
    states: dict[tuple[str, str], State] = {}
    for kind, subject, status, since, posted, margin, detail in conn.execute(query):
        states[(kind, subject)] = State(
            status,
            since,
            posted,
            Decimal(str(margin)) if margin is not None else None,
            json.loads(detail) if detail else {},
            detail or "",
        )
    return states


_STATE_BINDS = (
    bindparam("since", type_=UTCDateTime()),
    bindparam("posted", type_=UTCDateTime()),
    bindparam("margin", type_=Numeric(9, 4)),
)
_INSERT_STATE = text(
    "INSERT INTO alert_state (subject_kind, subject, status, since, last_posted_at, last_margin_pct, detail) "
    "VALUES (:k, :s, :status, :since, :posted, :margin, :detail)"
).bindparams(*_STATE_BINDS)
_UPDATE_STATE = text(
    "UPDATE alert_state SET status = :status, since = :since, last_posted_at = :posted, "
    "last_margin_pct = :margin, detail = :detail WHERE subject_kind = :k AND subject = :s AND detail = :old"
).bindparams(*_STATE_BINDS)


def save_state(conn: Connection, kind: str, subject: str, name: str, prev: State, new: State) -> None:
    """Write one subject's new state, only if nobody changed it since we read it (else ConcurrentAlertRun)."""
    detail = dict(new.detail)
    detail["name"] = name
    detail["rev"] = int(prev.detail.get("rev", 0)) + 1  # makes every stored detail unique: the row's version
    params = {
        "k": kind,
        "s": subject,
        "status": new.status,
        "since": new.since,
        "posted": new.last_posted_at,
        "margin": new.last_margin_pct,
        "detail": json.dumps(detail, sort_keys=True),
        "old": prev.raw_detail,
    }
    if prev.raw_detail is None:
        try:
            conn.execute(_INSERT_STATE, params)
        except IntegrityError:
            raise ConcurrentAlertRun(f"{kind} {subject} was alerted on by another run") from None
    elif conn.execute(_UPDATE_STATE, params).rowcount != 1:
        raise ConcurrentAlertRun(f"{kind} {subject} was alerted on by another run")


def alert_window(runtime: Runtime, as_of: datetime) -> Period:
    return trailing(runtime.settings.alert_window_days, today=runtime.today(as_of))


def evaluate(
    conn: Connection, runtime: Runtime, *, as_of: datetime, states: dict[tuple[str, str], State]
) -> tuple[Period, Portfolio, list[tuple[Observation, State, State, list[str]]]]:
    """Observe every subject and decide its next state; reads only."""
    t = runtime.thresholds
    period = alert_window(runtime, as_of)
    book = portfolio(conn, period, thresholds=t)
    remind = timedelta(days=runtime.settings.alert_remind_days)
    observations = [observe(row, t) for row in book.customers + book.products]
    # Trends only for customers above the threshold and not held in a breach: the only ones a trend changes.
    candidates = {
        o.key
        for o in observations
        if o.kind == "customer" and o.level == "ok" and states.get(("customer", o.key), State()).status not in BAD
    }
    trends = customer_trends(conn, period, candidates, breach_pct=t.breach_pct) if candidates else {}
    decisions = []
    for obs in observations:
        trend = trends.get(obs.key) if obs.kind == "customer" else None
        if trend is not None:
            obs.trend = trend
            if trend.slope_pts_per_day < 0 and trend.projected_pct < t.breach_pct:
                obs.level = "watch"
        prev = states.get((obs.kind, obs.key), State())
        new, events = decide(prev, obs, as_of=as_of, remind_after=remind, breach_pct=t.breach_pct)
        decisions.append((obs, prev, new, events))
    return period, book, decisions


def _attach_reports(conn: Connection, runtime: Runtime, period: Period, events: list[AlertEvent]) -> None:
    """Full reports (cost drivers, unpriced models) for the first MAX_DETAILED subjects worth posting."""
    lines: tuple[list[RevenueLine], list[RevenueLine]] | None = None
    reports: dict[tuple[str, str], MarginReport] = {}
    for event in events:
        o = event.observation
        key = (o.kind, o.key)
        if key not in reports:
            if len(reports) >= MAX_DETAILED:
                continue
            if o.kind == "product" and lines is None:
                lines = (revenue_lines(conn, period), revenue_lines(conn, period.previous()))
            extra = {"lines": lines[0], "previous_lines": lines[1]} if o.kind == "product" and lines else {}
            reports[key] = subject_report(conn, o.kind, o.key, o.name, period, thresholds=runtime.thresholds, **extra)
        event.report = reports[key]


def build_messages(runtime: Runtime, *, as_of: datetime, period: Period, events: list[AlertEvent]) -> list[Message]:
    """One message per alert channel, listing every event of this run."""
    if not events:
        return []
    t = runtime.thresholds
    items = [e.as_dict() for e in events]
    digest = hashlib.sha256(
        "|".join(f"{i['kind']}:{i['subject_kind']}:{i['subject']}:{i['since']}" for i in items).encode()
    ).hexdigest()[:16]
    payload = {
        "type": "alerts",
        "as_of": as_of.isoformat(),
        "period": {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()},
        "breach_pct": str(t.breach_pct),
        "recover_pct": str(t.breach_pct + HYSTERESIS),
        "remind_days": runtime.settings.alert_remind_days,
        "events": items,
    }
    return [
        Message(channel, f"alerts:{channel}:{as_of.isoformat()}:{digest}", payload)
        for channel in runtime.settings.alert_channels
    ]


def check_alerts(runtime: Runtime, *, as_of: datetime | None = None, dry_run: bool = False) -> AlertRun:
    """Evaluate every customer and product at `as_of`, record state changes and queue the messages.

    With `dry_run` (or no MARGINBOT_ALERT_CHANNELS) nothing is written: the result says what would be posted.
    Raises ConcurrentAlertRun (nothing committed) if another run changed the same subjects meanwhile.
    """
    started = time.perf_counter()
    as_of = (as_of or runtime.now()).astimezone(UTC)
    record = not dry_run and bool(runtime.settings.alert_channels)
    with runtime.engine.connect() as conn:
        states = load_states(conn)
        period, book, decisions = evaluate(conn, runtime, as_of=as_of, states=states)
        events = [
            AlertEvent(kind, obs, new.stamp("unpriced_since") if kind == "unpriced" else new.since, new.status)
            for obs, _prev, new, kinds in decisions
            for kind in kinds
        ]
        events.sort(key=lambda e: e.sort_key)
        _attach_reports(conn, runtime, period, events)
        messages = build_messages(runtime, as_of=as_of, period=period, events=events)
        queued = 0
        if record:
            try:
                for obs, prev, new, _kinds in decisions:
                    if changed(prev, new):
                        save_state(conn, obs.kind, obs.key, obs.name, prev, new)
                for m in messages:
                    queued += outbox.enqueue(
                        conn,
                        dedupe_key=m.dedupe_key,
                        channel=m.channel,
                        kind="alerts",
                        payload=m.payload,
                        now=runtime.now(),
                    )
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
    return AlertRun(
        as_of,
        period,
        len(book.customers) + len(book.products),
        events,
        messages,
        queued,
        dry_run,
        record,
        time.perf_counter() - started,
    )
