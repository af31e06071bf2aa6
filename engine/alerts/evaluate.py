"""Margin alerts: which customers and products to speak about, decided once and remembered in `alert_state`.

Every run looks at the trailing MARGINBOT_ALERT_WINDOW_DAYS complete days before `as_of`, for every customer
and product (one `portfolio` sweep), and moves each subject through a small state machine:

- ok → breach when the margin is under MARGINBOT_BREACH_PCT (posted once); a breach that persists is repeated
  only as a reminder every MARGINBOT_ALERT_REMIND_DAYS; it recovers (posted once) only when the margin is back
  at or above the threshold plus HYSTERESIS points, so a margin hovering at the threshold does not flap.
- no_revenue: cost but no revenue in the window (same reminder and recovery rules as a breach).
- trending to breach: a customer above the threshold whose daily margins, fitted with a straight line, cross it
  within TREND_HORIZON_DAYS (or crossed it inside the window); posted once per episode (again only after a
  reminder interval). Its state is `watch` in alert_state.
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

from engine.alerts.state import Level, State, changed, load_states, save_state
from engine.alerts.trend import Trend, customer_trends
from engine.money import decimal_text, round_to
from engine.periods import Period, trailing
from engine.reports.figures import Figures, Thresholds
from engine.reports.margin import MarginReport, subject_report
from engine.reports.portfolio import Portfolio, PortfolioRow, portfolio
from engine.reports.revenue import revenue_lines
from engine.reports.serialize import figures_text
from engine.runtime import Runtime
from engine.store import outbox
from engine.vocab import SubjectKind, Word

log = logging.getLogger(__name__)
HYSTERESIS = Decimal(2)  # points above the breach threshold a margin must reach to count as recovered
UNPRICED_SHARE = Decimal("0.01")  # flag when at least 1% of events have no price (cleared under half that)
MAX_DETAILED = 20  # subjects per run that get a full report (cost driver); the rest are listed with figures
STORED_PCT = Decimal("0.0001")  # alert_state.last_margin_pct is NUMERIC(9, 4)


class AlertKind(Word):
    """What an alert says about a subject, in the order a message lists them."""

    BREACH = "breach"
    NO_REVENUE = "no_revenue"
    TRENDING = "trending_to_breach"  # a trend, not the portfolio's WATCH band
    UNPRICED = "unpriced"
    REMINDER = "reminder"
    RECOVERED = "recovered"

    @property
    def rank(self) -> int:
        return _KIND_RANK[self]


_KIND_RANK = {kind: i for i, kind in enumerate(AlertKind)}


@dataclass(kw_only=True)
class Observation:
    """What the window says about one subject."""

    kind: SubjectKind  # customer | product
    key: str
    name: str
    level: Level
    current: Figures
    previous: Figures
    unpriced_share: Decimal
    trend: Trend | None = None


@dataclass(kw_only=True)
class AlertEvent:
    """Something to say about one subject in this run."""

    kind: AlertKind
    observation: Observation
    since: datetime | None
    state: Level  # the subject's state after this run
    report: MarginReport | None = None

    @property
    def sort_key(self) -> tuple[int, Decimal, str]:
        margin = self.observation.current.margin_pct
        return (
            self.kind.rank,
            margin if margin is not None else Decimal(-(10**9)),
            self.observation.key,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape stored in the outbox and rendered by the Block Kit builder."""
        o = self.observation
        d: dict[str, Any] = {
            "kind": self.kind,
            "subject_kind": o.kind,
            "subject": o.key,
            "name": o.name,
            "state": self.state,
            **figures_text(o.current, o.previous),
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
        if o.trend is not None and self.kind is AlertKind.TRENDING:
            d["trend"] = {
                "slope_pts_per_day": decimal_text(o.trend.slope_pts_per_day),
                "projected_pct": decimal_text(o.trend.projected_pct),
                "crosses_on": o.trend.crosses_on.isoformat() if o.trend.crosses_on else None,
                "crossed": o.trend.crossed,
                "days": o.trend.days,
            }
        return d


@dataclass(kw_only=True)
class Message:
    """One outbox message: the run's events for one alert channel."""

    channel: str
    dedupe_key: str
    payload: dict[str, Any]


@dataclass(kw_only=True)
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
        counts: dict[AlertKind, int] = defaultdict(int)
        for e in self.events:
            counts[e.kind] += 1
        what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items(), key=lambda i: i[0].rank))
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
        level = Level.NO_REVENUE if now.cogs > 0 else Level.IDLE
    else:
        margin = now.margin_pct
        level = Level.BREACH if margin is not None and margin < t.breach_pct else Level.OK
    share = Decimal(now.unpriced_events) / Decimal(now.events) if now.events else Decimal(0)
    return Observation(
        kind=row.kind,
        key=row.key,
        name=row.name,
        level=level,
        current=now,
        previous=row.previous,
        unpriced_share=share,
    )


def decide(
    prev: State, obs: Observation, *, as_of: datetime, remind_after: timedelta, breach_pct: Decimal
) -> tuple[State, list[AlertKind]]:
    """The next state of one subject and what to post about it. Pure: no database, no clock."""
    new = prev.copy()
    events: list[AlertKind] = []
    level = obs.level
    margin = obs.current.margin_pct
    held = prev.status.is_bad and level in (Level.OK, Level.WATCH)
    if held and margin is not None and margin < breach_pct + HYSTERESIS:
        level = Level.BREACH  # inside the hysteresis band: not recovered yet
    if level.is_bad:
        if not prev.status.is_bad:
            events.append(AlertKind(level))  # a new breach or no-revenue is announced as what it is
            new.status, new.since, new.last_posted_at = level, as_of, as_of
        else:
            new.status = level  # breach ↔ no revenue: still a problem, already announced
            if prev.last_posted_at is None or as_of - prev.last_posted_at >= remind_after:
                events.append(AlertKind.REMINDER)
                new.last_posted_at = as_of
    elif level in (Level.OK, Level.WATCH):
        if prev.status.is_bad:
            events.append(AlertKind.RECOVERED)
            new.status, new.since, new.last_posted_at = Level.OK, as_of, as_of
        elif level is Level.WATCH and prev.status is not Level.WATCH:
            last_watch = prev.stamp("watch_posted_at")
            if last_watch is None or as_of - last_watch >= remind_after:
                events.append(AlertKind.TRENDING)
                new.detail["watch_posted_at"] = as_of.isoformat()
                new.last_posted_at = as_of
            new.status, new.since = Level.WATCH, as_of
        elif level is Level.OK and prev.status is Level.WATCH:
            new.status, new.since = Level.OK, as_of  # the trend no longer crosses: nothing to say
    # Level.IDLE (no revenue, no cost): no news either way, the state stays as it was.

    flagged = prev.detail.get("unpriced_since")
    if obs.unpriced_share >= UNPRICED_SHARE and not flagged:
        events.append(AlertKind.UNPRICED)
        new.detail["unpriced_since"] = as_of.isoformat()
        new.last_posted_at = as_of
    elif flagged and obs.unpriced_share < UNPRICED_SHARE / 2:
        new.detail["unpriced_since"] = None
    if events or (new.status, new.since, new.detail) != (prev.status, prev.since, prev.detail):
        new.last_margin_pct = round_to(margin, STORED_PCT) if margin is not None else None
    return new, events


def alert_window(runtime: Runtime, as_of: datetime) -> Period:
    return trailing(runtime.settings.alert_window_days, today=runtime.today(as_of))


Decision = tuple[Observation, State, State, list[AlertKind]]  # what was seen, the state before and after, the news


def evaluate(
    conn: Connection, runtime: Runtime, *, as_of: datetime, states: dict[tuple[str, str], State]
) -> tuple[Period, Portfolio, list[Decision]]:
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
        if o.kind is SubjectKind.CUSTOMER
        and o.level is Level.OK
        and not states.get((SubjectKind.CUSTOMER, o.key), State()).status.is_bad
    }
    trends = customer_trends(conn, period, candidates, breach_pct=t.breach_pct) if candidates else {}
    decisions: list[Decision] = []
    for obs in observations:
        trend = trends.get(obs.key) if obs.kind is SubjectKind.CUSTOMER else None
        if trend is not None:
            obs.trend = trend
            if trend.slope_pts_per_day < 0 and trend.projected_pct < t.breach_pct:
                obs.level = Level.WATCH
        prev = states.get((obs.kind, obs.key), State())
        new, events = decide(prev, obs, as_of=as_of, remind_after=remind, breach_pct=t.breach_pct)
        decisions.append((obs, prev, new, events))
    return period, book, decisions


def _attach_reports(conn: Connection, runtime: Runtime, book: Portfolio, events: list[AlertEvent]) -> None:
    """Full reports (cost drivers, unpriced models) for the first MAX_DETAILED subjects worth posting."""
    period = book.period
    lines, previous_lines = book.lines, book.previous_lines
    if lines is None or previous_lines is None:
        lines, previous_lines = revenue_lines(conn, period), revenue_lines(conn, period.previous())
    reports: dict[tuple[str, str], MarginReport] = {}
    for event in events:
        o = event.observation
        key = (o.kind, o.key)
        if key not in reports:
            if len(reports) >= MAX_DETAILED:
                continue
            # The sweep's own revenue lines: the report's revenue is the figure the alert was raised on, and
            # nothing is read twice.
            reports[key] = subject_report(
                conn,
                o.kind,
                o.key,
                o.name,
                period,
                thresholds=runtime.thresholds,
                lines=lines,
                previous_lines=previous_lines,
                movers=runtime.movers,
            )
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
        "period": period.as_dict(),
        "breach_pct": str(t.breach_pct),
        "recover_pct": str(t.breach_pct + HYSTERESIS),
        "remind_days": runtime.settings.alert_remind_days,
        "events": items,
    }
    return [
        Message(channel=channel, dedupe_key=f"alerts:{channel}:{as_of.isoformat()}:{digest}", payload=payload)
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
    with runtime.connect() as conn:  # refuses rollups cut in another time zone, as imports do
        states = load_states(conn)
        period, book, decisions = evaluate(conn, runtime, as_of=as_of, states=states)
        events = [
            AlertEvent(
                kind=kind,
                observation=obs,
                since=new.stamp("unpriced_since") if kind is AlertKind.UNPRICED else new.since,
                state=new.status,
            )
            for obs, _prev, new, kinds in decisions
            for kind in kinds
        ]
        events.sort(key=lambda e: e.sort_key)
        if events:
            _attach_reports(conn, runtime, book, events)
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
        as_of=as_of,
        period=period,
        subjects=len(book.customers) + len(book.products),
        events=events,
        messages=messages,
        queued=queued,
        dry_run=dry_run,
        recorded=record,
        elapsed_s=time.perf_counter() - started,
    )
