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
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
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
from engine.revenue import RevenueLine, Terms, compute_line, month_fraction, revenue_lines
from engine.runtime import Runtime

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


def fit_trend(points: list[tuple[int, Decimal]], *, last_x: int, start: date, breach_pct: Decimal) -> Trend | None:
    """Least squares on (day index, margin %); None with fewer than MIN_TREND_DAYS points or no spread."""
    n = len(points)
    if n < MIN_TREND_DAYS:
        return None
    mean_x = Decimal(sum(x for x, _ in points)) / n
    mean_y = sum((y for _, y in points), Decimal(0)) / n
    sxx = sum(((x - mean_x) ** 2 for x, _ in points), Decimal(0))
    if sxx == 0:
        return None
    slope = sum(((x - mean_x) * (y - mean_y) for x, y in points), Decimal(0)) / sxx
    intercept = mean_y - slope * mean_x
    projected = intercept + slope * (last_x + WATCH_HORIZON_DAYS)
    crosses_on = None
    if slope < 0:
        at = ((breach_pct - intercept) / slope).to_integral_value(ROUND_CEILING)
        crosses_on = start + timedelta(days=max(int(at), last_x + 1))
    return Trend(slope, projected, crosses_on, n)


def daily_customer_figures(
    conn: Connection, period: Period, customers: set[str]
) -> dict[str, dict[date, tuple[Decimal, int]]]:
    """Revenue (USD) and COGS (nano-USD) of each customer on each day of `period`.

    A day's revenue is what `revenue_lines` gives for that single day (fees accrue per day, usage is metered
    that day, billed lines are prorated by day and replace modelled revenue on the days they cover), computed
    from four queries for the whole window instead of one `revenue_lines` call per day.
    """
    out: dict[str, dict[date, tuple[Decimal, int]]] = defaultdict(dict)
    if not customers:
        return out
    a, b = period.start, period.end
    units: dict[tuple[str, str, date], tuple[int, int]] = {}
    cost: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for cust, prod, day, req, tok, c in conn.execute(
        text(
            "SELECT customer, product, day, SUM(requests), SUM(input_tokens + output_tokens), "
            f"SUM({_COST_SUM}) FROM daily_customer_product WHERE day BETWEEN :a AND :b "
            "GROUP BY customer, product, day"
        ),
        {"a": a, "b": b},
    ):
        if cust not in customers:
            continue
        d = _as_date(day)
        units[(cust, prod, d)] = (int(req or 0), int(tok or 0))
        cost[cust][d] += int(c or 0)

    contracts = [
        Terms(
            customer=row.customer,
            product=row.product,
            plan=row.plan,
            start=_as_date(row.start),
            end=_as_date(row.end) if row.end is not None else None,
            seats=row.seats,
            seat_price_usd=Decimal(str(row.seat_price_usd)),
            platform_fee_usd=Decimal(str(row.platform_fee_usd)),
            included_units=Decimal(str(row.included_units)),
            unit=row.unit,
            unit_price_usd=Decimal(str(row.unit_price_usd)),
        )
        for row in conn.execute(
            text(
                'SELECT customer, product, plan, start, "end", seats, seat_price_usd, platform_fee_usd, '
                'included_units, unit, unit_price_usd FROM contract WHERE start <= :b AND ("end" IS NULL OR '
                '"end" >= :a)'
            ),
            {"a": a, "b": b},
        )
        if row.customer in customers
    ]
    tasks: dict[tuple[str, str, date], int] = {}
    if any(c.unit == "task" and c.plan in ("usage", "hybrid") for c in contracts):
        for cust, prod, day, n in conn.execute(
            text(
                "SELECT customer, product, day, COUNT(*) FROM task_rollup WHERE day BETWEEN :a AND :b "
                "GROUP BY customer, product, day"
            ),
            {"a": a, "b": b},
        ):
            if cust in customers:
                tasks[(cust, prod, _as_date(day))] = int(n)
    products_of: dict[str, set[str]] = defaultdict(set)
    for cust, prod, _ in list(units) + list(tasks):
        products_of[cust].add(prod)

    revenue: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    fractions = {day: month_fraction(day, day) for day in period.iter_days()}
    for c in contracts:
        first, last = max(c.start, a), min(c.end or b, b)
        plan, unit, price, included = c.plan, c.unit, c.unit_price_usd, c.included_units
        products = [c.product] if c.product else sorted(products_of[c.customer])
        fixed: dict[Decimal, Decimal] = {}  # fees for one day, per month length (at most two in a window)
        per_day = revenue[c.customer]
        for i in range((last - first).days + 1):
            day = first + timedelta(days=i)
            fraction = fractions[day]
            amount = fixed.get(fraction)
            if amount is None:
                amount = fixed[fraction] = compute_line(c, 1, fraction, Decimal(0)).total
            if plan in ("usage", "hybrid"):
                metered = _units(c.customer, products, unit, day, units, tasks)
                # The usage term of compute_line, inlined: it is the one part that changes every day.
                if metered:
                    over = metered - included * fraction if plan == "hybrid" else metered
                    amount += max(Decimal(0), over) * price
            per_day[day] += amount

    billed: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for cust, start, end, amount in conn.execute(
        text(
            "SELECT customer, period_start, period_end, amount_usd FROM revenue_actual "
            "WHERE period_start <= :b AND period_end >= :a"
        ),
        {"a": a, "b": b},
    ):
        if cust not in customers:
            continue
        s, e = _as_date(start), _as_date(end)
        daily = Decimal(str(amount)) / Decimal((e - s).days + 1)
        day = max(s, a)
        while day <= min(e, b):
            billed[cust][day] += daily
            day += timedelta(days=1)

    for cust in customers:
        for day in period.iter_days():
            rev = billed[cust][day] if day in billed.get(cust, {}) else revenue.get(cust, {}).get(day, Decimal(0))
            c_nano = cost.get(cust, {}).get(day, 0)
            if rev or c_nano:
                out[cust][day] = (rev, c_nano)
    return out


def _units(
    customer: str,
    products: list[str],
    unit: str,
    day: date,
    units: dict[tuple[str, str, date], tuple[int, int]],
    tasks: dict[tuple[str, str, date], int],
) -> Decimal:
    if unit == "task":
        return Decimal(sum(tasks.get((customer, p, day), 0) for p in products))
    index = 1 if unit == "1k_tokens" else 0
    total = sum(units.get((customer, p, day), (0, 0))[index] for p in products)
    return Decimal(total) / 1000 if unit == "1k_tokens" else Decimal(total)


def customer_trends(conn: Connection, period: Period, customers: set[str], *, breach_pct: Decimal) -> dict[str, Trend]:
    """The fitted daily-margin trend of each customer that has enough days with revenue."""
    trends: dict[str, Trend] = {}
    for cust, days in daily_customer_figures(conn, period, customers).items():
        points = [
            ((day - period.start).days, (rev - Decimal(c) / NANO) / rev * 100)
            for day, (rev, c) in sorted(days.items())
            if rev > 0
        ]
        trend = fit_trend(points, last_x=period.days - 1, start=period.start, breach_pct=breach_pct)
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


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
