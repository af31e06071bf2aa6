"""Margin alerts: which customers and products to speak about, decided once and remembered in `alert_state`.

Every run looks at the trailing MARGINBOT_ALERT_WINDOW_DAYS complete days before `as_of`, for every customer
and product (one `portfolio` sweep), and moves each subject through a small state machine:

- ok → breach when the margin is under the breach line (posted once); a breach that persists is repeated
  only as a reminder every MARGINBOT_ALERT_REMIND_DAYS, unless someone acknowledged the episode (until it ends) or
  snoozed it (until the snooze ends); it recovers (posted once) only when the margin is back at or above the line
  plus HYSTERESIS points, so a margin hovering at the line does not flap.
- no_revenue: cost but no revenue in the window, or less than half a cent (same reminder rules as a breach). Once
  it earns, it is judged against the line itself: under it, a breach; at or above the recovery level, recovered; in
  between, held open. Breach ↔ no_revenue is other news: announced, and the acknowledgement ends with it.
- a subject the window no longer holds at all is left as it was (its thread open), as an idle one is.
- nothing recovers (or clears from a trend) on a margin known to read better than it is: COGS understated by
  unpriced usage, or a usage source not synced to the window's end (lagging_sources); the reason is kept in
  detail["held"] for the reminder. Worse news (a new breach) is raised all the same.
- trending to breach: a customer above its line whose daily margins, fitted with a straight line, cross it
  within TREND_HORIZON_DAYS (or crossed it inside the window); posted once per episode (again only after a
  reminder interval). Its state is `watch` in alert_state.
- unpriced: more than UNPRICED_SHARE of a subject's events have no price, so its COGS is understated. Its post
  time is detail["unpriced_posted_at"], apart from last_posted_at (the episode's reminder clock). The flag belongs
  to its episode: a new episode raises it again (or ends it).

Within a kind, events are ordered by dollars at stake (at_stake), most first: the order of the message and of the
MAX_DETAILED subjects that get a full report.

A customer's line is its own when its contracts set `breach_pct` / `healthy_pct` (engine/reports/accounts.py),
and its owners (the contracts' `owner`) are named in the alert; products use the global settings.

State changes, the messages they cause (engine/alerts/messages.py: new episodes at the top level, the rest in
their threads) and the thread changes are written in one transaction (the outbox), and every state update is
conditional on the row being as read, so two concurrent runs cannot both post the same change. A subject whose
announcement could not be delivered to a channel (engine/alerts/threads.py) is announced there again by the
next run.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.exc import DBAPIError

from engine.alerts.lag import Lag, lag_payload, lagging_text, short_of
from engine.alerts.messages import Message, Pack, pack_by_count, plan_messages
from engine.alerts.state import Level, State, changed, load_states, save_state
from engine.alerts.threads import Thread, close_thread, open_thread, open_threads
from engine.alerts.trend import Trend, trends_against
from engine.gc_pause import gc_paused
from engine.ingest.customers import CustomerMap
from engine.money import ZERO, decimal_text, round_to
from engine.periods import Period, trailing
from engine.reports.accounts import Account, accounts
from engine.reports.figures import Figures, Thresholds
from engine.reports.invoicing import NotInvoiced
from engine.reports.margin import MarginReport, subject_report
from engine.reports.portfolio import Portfolio, PortfolioRow, portfolio
from engine.reports.revenue import RevenueLine, revenue_lines
from engine.reports.serialize import figures_text, payload_figures
from engine.runtime import Runtime
from engine.store import outbox
from engine.store.sql import SUMS_TOO_LARGE_TO_ANSWER, answer_sum_too_large
from engine.vocab import SubjectKind, Word

log = logging.getLogger(__name__)
HYSTERESIS = Decimal(2)  # points above the breach threshold a margin must reach to count as recovered
HALF_CENT = Decimal("0.005")  # the least revenue that rounds to a cent (half up); less reads "<$0.01"
UNPRICED_SHARE = Decimal("0.01")  # flag when at least 1% of events have no price (cleared under half that)
MAX_DETAILED = 20  # subjects per run that get a full report (cost driver); the rest are listed with figures
STORED_PCT = Decimal("0.0001")  # alert_state.last_margin_pct is NUMERIC(9, 4)
STORED_BOUND = Decimal("99999.9999")
# Why an episode that would have ended (recovered, or a trend cleared) was held open: alert_state.detail["held"] and
# each event's "held" in the payload.
HELD_BAND = "recovery_band"  # cost without revenue now earning at or above the line, under the recovery level
HELD_UNPRICED = "unpriced"  # the margin's COGS is understated: UNPRICED_SHARE or more of its events have no price
HELD_SYNC_LAG = "sync_lag"  # a configured usage source has not synced to the end of the window


class AlertKind(Word):
    """What an alert says about a subject, in the order a message lists them."""

    BREACH = "breach"
    NO_REVENUE = "no_revenue"
    TRENDING = "trending_to_breach"  # a trend, not the portfolio's WATCH band
    UNPRICED = "unpriced"
    REMINDER = "reminder"
    RECOVERED = "recovered"
    QUIET = "quiet"  # no usage and no revenue in the window: the open episode (or unpriced flag) is closed
    # A customer whose usage is now another's (a contracts import named its id as that customer's name or alias, and
    # moved its usage there): its open episode is closed, and the other customer's alerts cover that usage.
    MOVED = "moved"

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
    thresholds: Thresholds = field(default_factory=Thresholds)  # the bands it was judged against
    own_bands: bool = False  # the customer's contracts set its bands
    owners: tuple[str, ...] = ()  # Slack member IDs to mention
    trend: Trend | None = None
    moved_to: tuple[str, str] | None = None  # (id, name) of the customer whose usage this one's now is
    # Revenue and COGS both under the materiality floor, all its usage priced (Figures.material): it opens no episode.
    immaterial: bool = False
    # Billed in arrears (engine.reports.invoicing): the window's last days no invoice covers yet. The subject is judged
    # on the days its invoices cover (`current` is those days' figures), and the alert says so.
    not_invoiced: list[NotInvoiced] = field(default_factory=list)
    # The level the whole window would have given (days not invoiced yet counted against no revenue), when judging
    # the billed days alone made it better: a breach held, which the run's summary names.


def earns(figures: Figures) -> bool:
    """Revenue that rounds to at least a cent: less (a fraction of a cent, shown "<$0.01", what a contract starting
    in the window's last hour earns) is judged as cost without revenue, not as a margin of −749,900% that reads as a
    price problem."""
    return figures.revenue >= HALF_CENT


def at_stake(o: Observation) -> Decimal:
    """The dollars a subject's margin puts at stake against its line: the gross profit it falls short of the line by
    (revenue × line − gross profit, i.e. COGS − revenue × (1 − line)), negative above the line; cost without revenue
    puts all of its COGS at stake."""
    now = o.current
    if not earns(now):
        return now.cogs
    return now.cogs - now.revenue * (100 - o.thresholds.breach_pct) / 100


@dataclass(kw_only=True)
class AlertEvent:
    """Something to say about one subject in this run."""

    kind: AlertKind
    observation: Observation
    since: datetime | None
    state: Level  # the subject's state after this run
    report: MarginReport | None = None
    channels: list[str] | None = None  # None: every alert channel
    resent: bool = False  # announced again: the first announcement never reached these channels

    held: list[str] = field(default_factory=list)  # why an episode that would have ended stays open (HELD_*)

    @property
    def sort_key(self) -> tuple[int, Decimal, Decimal, str]:
        """Kinds in their order; within a kind the most dollars at stake first (at_stake), then the lowest margin:
        a $1 customer at -400% must not headline above, nor take the cost-driver slots (MAX_DETAILED) of, a $30,000
        customer at 35%."""
        o = self.observation
        margin = o.current.margin_pct
        return (
            self.kind.rank,
            -at_stake(o),
            margin if margin is not None else Decimal(-(10**9)),
            o.key,
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
            "owners": list(o.owners),
            "breach_pct": str(o.thresholds.breach_pct),
            "recover_pct": str(o.thresholds.breach_pct + HYSTERESIS),
            "own_bands": o.own_bands,
            "resent": self.resent,
            "held": list(self.held),
            "moved_to": {"customer": o.moved_to[0], "name": o.moved_to[1]} if o.moved_to else None,
            # Judged on the billed days: the days no invoice covers yet are left out (engine.reports.invoicing).
            "not_invoiced": [{"customer": n.customer, **n.as_dict()} for n in o.not_invoiced],
        }
        if not earns(o.current):
            # Judged as cost without revenue (`earns`): no margin is shown, as for no revenue at all, not -187,400%.
            d["margin_pct"] = d["exact"]["margin_pct"] = None
        if self.channels is not None:
            d["channels"] = self.channels
        if self.report is not None:
            d["driver"] = self.report.top_mover
            d["lever"] = self.report.top_lever if self.report.current.cogs > 0 else None
            d["unpriced_models"] = self.report.unpriced_models
        if o.trend is not None and self.kind is AlertKind.TRENDING:
            d["trend"] = {
                # The projection is shown to 0.1 point: kept exact too (payload_figures), so it is rounded once.
                **payload_figures(projected_pct=o.trend.projected_pct),
                "slope_pts_per_day": decimal_text(o.trend.slope_pts_per_day),
                "crosses_on": o.trend.crosses_on.isoformat() if o.trend.crosses_on else None,
                "crossed": o.trend.crossed,
                "days": o.trend.days,
            }
        return d


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
    silenced: list[str] = field(default_factory=list)  # subjects whose reminder was held (acknowledged, snoozed)
    lagging: list[Lag] = field(default_factory=list)  # usage sources not synced to the window

    def summary(self) -> str:
        counts: dict[AlertKind, int] = defaultdict(int)
        resent = 0
        for e in self.events:
            if e.resent:
                resent += 1
            else:
                counts[e.kind] += 1
        what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(counts.items(), key=lambda i: i[0].rank))
        if resent:
            what = (what + ", " if what else "") + f"{resent} announced again (not delivered before)"
        if self.silenced:
            what = (what + ", " if what else "") + f"{len(self.silenced)} reminder(s) held (acknowledged or snoozed)"
        if self.lagging:
            late = lagging_text(lag_payload(self.lagging))
            what = (
                what + "; " if what else "nothing new; "
            ) + f"no recovery decided: usage not synced to the window's end from {late}"
        p = self.period
        head = f"checked {self.subjects} customers and products over {p.label} ({p.start} to {p.end}): "
        head += what or "nothing new"
        if self.dry_run:
            return head + "; dry run, nothing recorded or queued"
        if not self.recorded:
            return head + "; MARGINBOT_ALERT_CHANNELS is empty, so nothing was recorded or queued"
        return head + f"; {self.queued} message(s) queued"


def observe(row: PortfolioRow, t: Thresholds, account: Account | None = None) -> Observation:
    """The level of one portfolio row against its bands (the customer's own, else `t`), before history
    (hysteresis) and trend are applied."""
    own = account is not None and account.has_own_bands
    if account is not None:
        t = account.thresholds(t)
    now = row.current
    if not earns(now):
        level = Level.NO_REVENUE if now.cogs > 0 else Level.IDLE
    else:
        margin = now.judged_margin_pct  # as its status is judged: a margin exactly on the line is on it
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
        thresholds=t,
        own_bands=own,
        owners=account.owners if account is not None else (),
        immaterial=not now.material,
    )


def decide(
    prev: State,
    obs: Observation,
    *,
    as_of: datetime,
    remind_after: timedelta,
    breach_pct: Decimal,
    lagging: bool = False,
) -> tuple[State, list[AlertKind]]:
    """The next state of one subject and what to post about it. Pure: no database, no clock.

    `lagging`: a configured usage source has not synced to the end of the window, so its cost is missing and every
    margin reads better than it is. Why an episode that would have ended was held open is kept in detail["held"]
    (HELD_* reasons, for the reminder to say); a held subject can still get worse (a new breach is raised)."""
    if prev.is_open and not lagging and _quiet(obs.current):
        return _gone_quiet(prev, as_of, moved=obs.moved_to is not None)
    new = prev.copy()
    events: list[AlertKind] = []
    level = obs.level
    if obs.immaterial and level.is_bad and not prev.status.is_bad:
        # A sub-cent customer under its line is no news: it opens no episode (nothing to say, the state as it was).
        # An episode already open goes on as any other (reminded, recovered, closed when quiet): none is lost.
        level = Level.IDLE
    margin = obs.current.judged_margin_pct
    held: list[str] = []
    recovering = prev.status.is_bad and level in (Level.OK, Level.WATCH)
    clearing = prev.status is Level.WATCH and level is Level.OK  # a trend that no longer crosses
    in_band = margin is not None and margin < breach_pct + HYSTERESIS
    if recovering and prev.status is Level.BREACH and in_band:
        level = Level.BREACH  # inside the hysteresis band: not recovered yet
    elif recovering or clearing:
        if recovering and in_band:
            # Cost without revenue that starts earning at or above the line (observe() made anything under it a
            # breach) is not a breach: it was never under the line. It is not recovered either until it reaches the
            # recovery level, so it stays the episode it was, and its reminder says it is in the recovery band.
            held.append(HELD_BAND)
        if obs.unpriced_share >= UNPRICED_SHARE:
            # COGS the window could not price is missing from the margin: traffic moved to an unpriced model reads
            # as a recovery (or a trend that no longer crosses) that may not be one. The episode stays open, its
            # acknowledgement with it, until that usage is priced.
            held.append(HELD_UNPRICED)
        if lagging:
            held.append(HELD_SYNC_LAG)  # cost not synced yet is missing from the margin in the same way
        if held:
            level = prev.status
    if held:
        new.detail["held"] = held
    else:
        new.detail.pop("held", None)
    if level.is_bad:
        if level is not prev.status:
            # A new breach or no-revenue is announced as what it is, and so is breach ↔ cost without revenue: other
            # news with another cause (a contract started under the line, or ended while usage goes on). An
            # acknowledgement of what came before (a watch, the other kind) does not cover it.
            events.append(AlertKind(level))
            new.status, new.since, new.last_posted_at = level, as_of, as_of
            new.end_actions()
        else:
            due = prev.last_posted_at is None or as_of - prev.last_posted_at >= remind_after
            # Held while acknowledged or snoozed; last_posted_at stays, so a reminder is due once a snooze ends.
            if due and not prev.silenced(as_of):
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
            new.end_actions()
        elif level is Level.OK and prev.status is Level.WATCH:
            new.status, new.since = Level.OK, as_of  # the trend no longer crosses: nothing to say
    # Level.IDLE (no revenue, no cost): no news either way, the state stays as it was.

    flagged = prev.detail.get("unpriced_since")
    if flagged and _starts_episode(prev, new):
        # A flag left up by an earlier episode (or raised with none) does not carry into a new one: the new episode
        # is announced in a thread of its own (and the flag's thread closed), so the flag is raised again there,
        # dated from this episode, if the usage is still unpriced, and otherwise ends with the thread it lived in.
        flagged = None
        new.detail["unpriced_since"] = None
    if obs.unpriced_share >= UNPRICED_SHARE and not flagged:
        events.append(AlertKind.UNPRICED)
        new.detail["unpriced_since"] = as_of.isoformat()
        # Its own post time, never last_posted_at: that is the episode's reminder clock, and a flag posted between
        # reminders would push the next one back (or, for a subject not in breach, date a later one wrongly).
        new.detail["unpriced_posted_at"] = as_of.isoformat()
    elif flagged and obs.current.events and obs.unpriced_share < UNPRICED_SHARE / 2 and not lagging:
        # Cleared only by usage that was priced: a window without usage (nothing priced either) leaves it as it was,
        # and so does one whose usage has not all been synced (the unsynced part may be the unpriced part).
        new.detail["unpriced_since"] = None
    if not new.is_open:
        new.end_actions()  # the episode is over: a later one starts unacknowledged
    if events or (new.status, new.since, new.detail) != (prev.status, prev.since, prev.detail):
        new.last_margin_pct = _storable(margin)
    return new, events


def _quiet(now: Figures) -> bool:
    """Nothing at all in the window: no usage (priced or not: unpriced usage has no COGS and is not quiet) and not
    a fraction of a cent of revenue."""
    return now.events == 0 and now.revenue == 0 and now.cogs == 0


def _gone_quiet(prev: State, as_of: datetime, *, moved: bool = False) -> tuple[State, list[AlertKind]]:
    """An open subject with nothing in the window: nothing is at stake, so its episode and unpriced flag end. A
    breach, cost without revenue or flag people were told about is closed with a word (QUIET, or MOVED when its
    usage is now another customer's) rather than left open with no reminder ever due; a trend to breach ends
    silently, as one that no longer crosses does. Its next usage is judged afresh, as a new episode. (A usage
    source lagging keeps it open: its usage may be what is missing.)"""
    new = prev.copy()
    told = prev.status.is_bad or bool(prev.detail.get("unpriced_since"))
    new.status, new.since = Level.OK, as_of
    new.detail.pop("held", None)
    if prev.detail.get("unpriced_since"):
        new.detail["unpriced_since"] = None
    new.end_actions()
    new.last_margin_pct = None
    if told:
        new.last_posted_at = as_of
    return new, [AlertKind.MOVED if moved else AlertKind.QUIET] if told else []


def _storable(margin: Decimal | None) -> Decimal | None:
    """The margin as alert_state keeps it (NUMERIC(9, 4)): a margin past ±99,999.9999% ($1 of revenue against $1,001
    of COGS) is kept at that bound. PostgreSQL refuses a wider value, and the refusal would fail the whole check,
    every subject's alerts with it; the figures posted are the window's own, never this stored one."""
    if margin is None:
        return None
    return max(-STORED_BOUND, min(STORED_BOUND, round_to(margin, STORED_PCT)))


def alert_window(runtime: Runtime, as_of: datetime) -> Period:
    return trailing(runtime.settings.alert_window_days, today=runtime.today(as_of))


Decision = tuple[Observation, State, State, list[AlertKind]]  # what was seen, the state before and after, the news


def evaluate(
    conn: Connection,
    runtime: Runtime,
    *,
    as_of: datetime,
    states: dict[tuple[str, str], State],
    lagging: bool = False,
) -> tuple[Period, Portfolio, list[Decision]]:
    """Observe every subject and decide its next state; reads only. `lagging`: some usage source has not synced
    to the end of the window (lagging_sources), so nothing recovers or clears this run."""
    t = runtime.thresholds
    period = alert_window(runtime, as_of)
    book = portfolio(conn, period, thresholds=t)
    remind = timedelta(days=runtime.settings.alert_remind_days)
    rows = book.customers + book.products
    # Open subjects the window no longer holds (no usage, no revenue in it or the period before): observed as
    # having nothing, so that their episodes end (`_gone_quiet`) instead of staying open with no reminder due.
    held = {(row.kind, row.key) for row in rows}
    absent = [
        _absent(SubjectKind(kind), key, state, t)
        for (kind, key), state in sorted(states.items())
        if state.is_open and (kind, key) not in held and kind in (SubjectKind.CUSTOMER, SubjectKind.PRODUCT)
    ]
    owned = accounts(conn, [row.key for row in book.customers + absent if row.kind is SubjectKind.CUSTOMER])
    observations = [_observed(row, book, t, owned.get(row.key)) for row in book.customers] + [
        _observed(row, book, t) for row in book.products
    ]
    moved = _moved(conn, [row.key for row in absent if row.kind is SubjectKind.CUSTOMER])
    for row in absent:
        obs = observe(row, t, owned.get(row.key) if row.kind is SubjectKind.CUSTOMER else None)
        obs.moved_to = moved.get(row.key) if row.kind is SubjectKind.CUSTOMER else None
        observations.append(obs)
    # Trends only for customers above their line and not held in a breach: the only ones a trend changes. A trend
    # is fitted against the customer's own line.
    # An immaterial customer's trend is no news either, unless it is the trend already announced (a watch open).
    lines = {
        o.key: o.thresholds.breach_pct
        for o in observations
        if o.kind is SubjectKind.CUSTOMER
        and o.level is Level.OK
        and not states.get((SubjectKind.CUSTOMER, o.key), State()).status.is_bad
        and (not o.immaterial or states.get((SubjectKind.CUSTOMER, o.key), State()).status is Level.WATCH)
    }
    trends = trends_against(conn, period, lines, contracts=book.terms)
    decisions: list[Decision] = []
    for obs in observations:
        trend = trends.get(obs.key) if obs.kind is SubjectKind.CUSTOMER else None
        if trend is not None:
            obs.trend = trend
            if trend.slope_pts_per_day < 0 and trend.projected_pct < obs.thresholds.breach_pct:
                obs.level = Level.WATCH
        prev = states.get((obs.kind, obs.key), State())
        new, events = decide(
            prev, obs, as_of=as_of, remind_after=remind, breach_pct=obs.thresholds.breach_pct, lagging=lagging
        )
        decisions.append((obs, prev, new, events))
    return period, book, decisions


def _observed(row: PortfolioRow, book: Portfolio, t: Thresholds, account: Account | None = None) -> Observation:
    """`observe`, with the days of customers billed by invoice that no invoice covers yet said beside it (their COGS
    counts against no revenue until the invoice comes): a customer's own, a product's customers'. The subject is
    judged on its figures as they are: nothing tells a customer awaiting an invoice billed in arrears from one whose
    billing stopped (a cancelled subscription, an annual line run out), and an alert held back for the one would be
    lost for the other; the alert says what the billed days alone read."""
    obs = observe(row, t, account)
    if row.kind is SubjectKind.CUSTOMER:
        obs.not_invoiced = [book.not_invoiced[row.key]] if row.key in book.not_invoiced else []
    else:
        obs.not_invoiced = [n for n in book.not_invoiced.values() if row.key in n.cogs_by_product]
    return obs


def _moved(conn: Connection, customers: list[str]) -> dict[str, tuple[str, str]]:
    """Of these customers (open, with nothing in the window), those whose usage is now another's: their customer is
    gone and their id maps to a contracted customer (engine.ingest.contracts._claim_usage moved it), with that
    customer's (id, name)."""
    if not customers:
        return {}
    named = text("SELECT id, name FROM customer WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    gone = set(customers) - {cid for cid, _ in conn.execute(named, {"ids": customers})}
    if not gone:
        return {}
    mapped = CustomerMap.load(conn)
    to = {was: now for was in gone if (now := mapped.lookup(was)) is not None}
    names: dict[str, str] = dict(conn.execute(named, {"ids": sorted(set(to.values()))}).all()) if to else {}
    return {was: (now, names.get(now) or now) for was, now in to.items()}


def _absent(kind: SubjectKind, key: str, state: State, t: Thresholds) -> PortfolioRow:
    """The portfolio row of a subject with nothing in the window or the period before: all zeros."""
    nothing = Figures(revenue=ZERO, cogs=ZERO, events=0, unpriced_events=0, thresholds=t)
    name = str(state.detail.get("name") or key)
    return PortfolioRow(kind=kind, key=key, name=name, current=nothing, previous=nothing)


_CLOSED_EMPTY = (AlertKind.QUIET, AlertKind.MOVED)  # closed with nothing in the window: no report to attach


def _attach_reports(conn: Connection, runtime: Runtime, book: Portfolio, events: list[AlertEvent]) -> None:
    """Full reports (cost drivers, unpriced models) for the first MAX_DETAILED subjects worth posting."""
    period = book.period
    detailed: list[tuple[SubjectKind, str]] = []
    for event in events:
        key = (event.observation.kind, event.observation.key)
        # A quiet subject has nothing in the window to report on.
        if key not in detailed and len(detailed) < MAX_DETAILED and event.kind not in _CLOSED_EMPTY:
            detailed.append(key)
    # A customer's report reads only its own lines: handed every line, it would total the whole book once per
    # subject to find its own previous revenue. Its lines in their order give the same sums. A product's report
    # splits every line that covers it, so products get them all; with customers alone, only theirs are written up.
    everyone = any(kind is SubjectKind.PRODUCT for kind, _ in detailed)
    customers = {key for kind, key in detailed if kind is SubjectKind.CUSTOMER}
    if book.revenue is None or book.previous_revenue is None:  # a portfolio built by hand
        lines, previous_lines = revenue_lines(conn, period), revenue_lines(conn, period.previous())
    elif everyone:
        lines, previous_lines = book.revenue.lines(), book.previous_revenue.lines()
    else:
        lines, previous_lines = book.revenue.lines_of(customers), book.previous_revenue.lines_of(customers)
    own_now: dict[str, list[RevenueLine]] = defaultdict(list)
    own_before: dict[str, list[RevenueLine]] = defaultdict(list)
    for line in lines:
        own_now[line.customer].append(line)
    for line in previous_lines:
        own_before[line.customer].append(line)
    reports: dict[tuple[str, str], MarginReport | None] = {}
    for event in events:
        o = event.observation
        key = (o.kind, o.key)
        if key not in detailed:
            continue
        if key not in reports:
            # The sweep's own revenue lines: the report's revenue is the figure the alert was raised on, and
            # nothing is read twice.
            try:
                reports[key] = subject_report(
                    conn,
                    o.kind,
                    o.key,
                    o.name,
                    period,
                    thresholds=o.thresholds,
                    lines=own_now.get(o.key, []) if o.kind is SubjectKind.CUSTOMER else lines,
                    previous_lines=own_before.get(o.key, []) if o.kind is SubjectKind.CUSTOMER else previous_lines,
                    movers=runtime.movers,
                )
            except DBAPIError as exc:
                # SQLite's alone: a statement failed on PostgreSQL ends its transaction (and PostgreSQL adds BIGINTs
                # up as NUMERIC: these sums do not fail there).
                if conn.dialect.name != "sqlite" or not answer_sum_too_large(exc):
                    raise
                # SQLite's SUM across its products or models passed a BIGINT (costs in the wrong unit): the alert
                # goes without its cost driver rather than every alert of the run not at all.
                log.error("no cost drivers for the alert on %s %s: %s", o.kind, o.key, SUMS_TOO_LARGE_TO_ANSWER)
                reports[key] = None
        event.report = reports[key]


def lagging_sources(conn: Connection, runtime: Runtime, as_of: datetime) -> list[Lag]:
    """The configured usage sources not synced to the end of the alert window (the start of as_of's day in
    MARGINBOT_TIMEZONE, the day the window stops short of), with how far each got (None: never synced). The digest
    allows the same: it needs its sources synced to the end of its week, not to the minute it runs."""
    # The connectors load only when asked, as for the digest.
    from engine.ingest.sync import configured_sources, synced_until

    window_end = datetime.combine(runtime.today(as_of), dtime(0), tzinfo=ZoneInfo(runtime.settings.timezone))
    synced = synced_until(conn, configured_sources(runtime))
    return short_of(synced, window_end)


def alert_header(
    runtime: Runtime, *, as_of: datetime, period: Period, lagging: list[Lag] | None = None
) -> dict[str, Any]:
    """What every alert message of a run shares (the payload's top level; the events and part are added)."""
    t = runtime.thresholds
    return {
        "type": "alerts",
        "as_of": as_of.isoformat(),
        "period": period.as_dict(),
        "breach_pct": str(t.breach_pct),
        "recover_pct": str(t.breach_pct + HYSTERESIS),
        "remind_days": runtime.settings.alert_remind_days,
        "window_days": runtime.settings.alert_window_days,
        "timezone": runtime.settings.timezone,
        "thread": False,
        "broadcast": False,
        "refresh_roots": [],
        # The digest's shape: usage sources short of the window's end, so no recovery was decided this run.
        "lagging_sources": lag_payload(lagging or []),
    }


_ANNOUNCED_AS = {
    Level.BREACH: AlertKind.BREACH,
    Level.NO_REVENUE: AlertKind.NO_REVENUE,
    Level.WATCH: AlertKind.TRENDING,
}


def _episode_kinds(state: State) -> list[AlertKind]:
    """What to announce about an open subject that a channel never heard of: where it stands, as new."""
    kinds = [_ANNOUNCED_AS[state.status]] if state.status in _ANNOUNCED_AS else []
    if state.detail.get("unpriced_since"):
        kinds.append(AlertKind.UNPRICED)
    return kinds


def _events(
    decisions: list[Decision], threads: dict[tuple[str, str, str], Thread], channels: list[str]
) -> list[AlertEvent]:
    """This run's events, plus announcements again for channels whose earlier announcement never arrived."""
    events: list[AlertEvent] = []
    for obs, prev, new, kinds in decisions:
        # A channel whose announcement of this episode never arrived, or that never had one: added to the alert
        # channels after the episode began, it heard nothing, and its first word would have been a reminder of an
        # alert it never saw ("Still unresolved"). (An episode beginning this run is announced everywhere anyway.)
        continuing = prev.is_open and not _starts_episode(prev, new)
        undelivered = [
            c
            for c in channels
            if ((t := threads.get((obs.kind, obs.key, c))) is not None and not t.live) or (t is None and continuing)
        ]
        elsewhere = [c for c in channels if c not in undelivered] if undelivered else None
        for kind in kinds:
            if elsewhere == []:
                break
            events.append(
                AlertEvent(
                    kind=kind,
                    observation=obs,
                    since=_since(kind, prev, new),
                    state=new.status,
                    channels=elsewhere,
                    held=list(new.detail.get("held") or []),
                )
            )
        if undelivered and new.is_open:
            for kind in _episode_kinds(new):
                events.append(
                    AlertEvent(
                        kind=kind,
                        observation=obs,
                        since=new.stamp("unpriced_since") if kind is AlertKind.UNPRICED else new.since,
                        state=new.status,
                        channels=undelivered,
                        resent=True,
                        held=list(new.detail.get("held") or []),
                    )
                )
    events.sort(key=lambda e: e.sort_key)
    return events


def _since(kind: AlertKind, prev: State, new: State) -> datetime | None:
    """The start an event states: of the unpriced flag, of the episode a quiet subject closed, else of its state."""
    if kind is AlertKind.UNPRICED:
        return new.stamp("unpriced_since")
    if kind in _CLOSED_EMPTY:
        return prev.since if prev.status.is_episode else prev.stamp("unpriced_since")
    return new.since


def _starts_episode(prev: State, new: State) -> bool:
    """A breach, cost without revenue or trend begins where there was none: its announcement starts a thread of its
    own even while the last episode's thread is still open for a flag of unpriced usage."""
    return new.status.is_episode and not prev.status.is_episode


def _reminder_held(prev: State, new: State, kinds: list[AlertKind], as_of: datetime, remind: timedelta) -> bool:
    """A reminder was due but held back by an acknowledgement or a snooze (for the run's summary)."""
    due = prev.last_posted_at is None or as_of - prev.last_posted_at >= remind
    still = prev.status.is_bad and new.status.is_bad and AlertKind.REMINDER not in kinds
    return due and still and prev.silenced(as_of)


def check_alerts(
    runtime: Runtime, *, as_of: datetime | None = None, dry_run: bool = False, pack: Pack | None = None
) -> AlertRun:
    """Evaluate every customer and product at `as_of`, record state changes and queue the messages.

    With `dry_run` (or no MARGINBOT_ALERT_CHANNELS) nothing is written: the result says what would be posted
    (with no channel set, a dry run plans its messages for a channel named ""). `pack` splits a message into parts
    that fit where it goes (bot.blocks.alerts.pack_alerts for Slack); without it, by subject count.
    Raises ConcurrentAlertRun (nothing committed) if another run, or a click on Acknowledge or Snooze, changed the
    same subjects meanwhile.
    """
    started = time.perf_counter()
    as_of = (as_of or runtime.now()).astimezone(UTC)
    channels = list(runtime.settings.alert_channels)
    record = not dry_run and bool(channels)
    # The collector is paused: the run allocates a great many short-lived objects and no cycles (engine/gc_pause.py).
    # The connection refuses rollups cut in another time zone, as imports do.
    with gc_paused(), runtime.connect() as conn:
        states = load_states(conn)
        threads = open_threads(conn)
        # Cost not synced yet reads as a better margin: while a usage source lags, nothing recovers or clears.
        lagging = lagging_sources(conn, runtime, as_of)
        period, book, decisions = evaluate(conn, runtime, as_of=as_of, states=states, lagging=bool(lagging))
        events = _events(decisions, threads, channels)
        if events:
            _attach_reports(conn, runtime, book, events)
        plan = plan_messages(
            channels=channels if channels or not dry_run else [""],
            header=alert_header(runtime, as_of=as_of, period=period, lagging=lagging),
            events=[e.as_dict() for e in events],
            # Every open subject is decided (those the window no longer holds too, `_absent`); a state that is
            # not open has no thread to keep.
            open_after={
                **{key: state.is_open for key, state in states.items()},
                **{(obs.kind, obs.key): new.is_open for obs, _prev, new, _k in decisions},
            },
            fresh={(obs.kind, obs.key) for obs, prev, new, _k in decisions if _starts_episode(prev, new)},
            threads=threads,
            pack=pack or pack_by_count,
        )
        queued = 0
        if record:
            try:
                # A subject announced again (its first announcement never reached a channel) changes no state of
                # its own, but its row is written all the same (a new `rev`): a concurrent run that read it before
                # stands down rather than post the same announcement again (ConcurrentAlertRun).
                resent = {(e.observation.kind, e.observation.key) for e in events if e.resent}
                for obs, prev, new, _kinds in decisions:
                    if changed(prev, new) or (obs.kind, obs.key) in resent:
                        save_state(conn, obs.kind, obs.key, obs.name, prev, new)
                now = runtime.now()
                for kind, subject, channel, outcome in plan.closes:
                    close_thread(conn, kind=kind, subject=subject, channel=channel, at=as_of, outcome=outcome)
                for m in plan.messages:
                    added = outbox.enqueue(
                        conn,
                        dedupe_key=m.dedupe_key,
                        channel=m.channel,
                        kind=str(m.payload["type"]),
                        payload=m.payload,
                        now=now,
                        reply_to=m.reply_to,
                    )
                    # An update in place (a cleared subject's buttons removed) is not a message anyone receives.
                    queued += added and m.payload["type"] == "alerts"
                for root_key, kind, subject, channel in plan.opens:
                    open_thread(conn, root_key=root_key, kind=kind, subject=subject, channel=channel, at=as_of)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
    remind = timedelta(days=runtime.settings.alert_remind_days)
    silenced = [obs.key for obs, prev, new, kinds in decisions if _reminder_held(prev, new, kinds, as_of, remind)]
    return AlertRun(
        as_of=as_of,
        period=period,
        subjects=len(book.customers) + len(book.products),
        events=events,
        messages=plan.messages,
        queued=queued,
        dry_run=dry_run,
        recorded=record,
        elapsed_s=time.perf_counter() - started,
        silenced=silenced,
        lagging=lagging,
    )
