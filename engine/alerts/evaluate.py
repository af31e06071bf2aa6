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
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from engine.alerts.state import State, changed, load_states, save_state
from engine.alerts.trend import Trend, customer_trends
from engine.money import decimal_text, round_to
from engine.periods import Period, trailing
from engine.reports.figures import Figures, Thresholds
from engine.reports.margin import MarginReport, subject_report
from engine.reports.portfolio import Portfolio, PortfolioRow, portfolio
from engine.reports.revenue import RevenueLine, revenue_lines
from engine.runtime import Runtime
from engine.store import outbox

log = logging.getLogger(__name__)
HYSTERESIS = Decimal(2)  # points above the breach threshold a margin must reach to count as recovered
UNPRICED_SHARE = Decimal("0.01")  # flag when at least 1% of events have no price (cleared under half that)
MAX_DETAILED = 20  # subjects per run that get a full report (cost driver); the rest are listed with figures
BAD = ("breach", "no_revenue")
KIND_ORDER = {"breach": 0, "no_revenue": 1, "watch": 2, "unpriced": 3, "reminder": 4, "recovered": 5}
STORED_PCT = Decimal("0.0001")  # alert_state.last_margin_pct is NUMERIC(9, 4)


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
            "margin_pct": decimal_text(now.margin_pct),
            "previous_margin_pct": decimal_text(before.margin_pct),
            "revenue_usd": decimal_text(now.revenue),
            "previous_revenue_usd": decimal_text(before.revenue),
            "cogs_usd": decimal_text(now.cogs),
            "previous_cogs_usd": decimal_text(before.cogs),
            "events": now.events,
            "unpriced_events": now.unpriced_events,
            "unpriced_share_pct": decimal_text(o.unpriced_share * 100),
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
                "slope_pts_per_day": decimal_text(o.trend.slope_pts_per_day),
                "projected_pct": decimal_text(o.trend.projected_pct),
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
        new.last_margin_pct = round_to(margin, STORED_PCT) if margin is not None else None
    return new, events


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
