"""The weekly leadership digest: the last full ISO week (Monday to Sunday in MARGINBOT_TIMEZONE) in numbers.

`weekly_digest` gathers the data (blended margin and its change, revenue, COGS, who is in breach or watch, the
biggest movers by dollars of COGS under the one mover rule, the top cost drivers by model, unpriced usage, a
12-week margin trend, COGS by model per week, and the month to date with its run rate); `queue_digest` puts it in
the outbox once per ISO week per channel, however often it is called.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from engine.alerts.lag import Lag, lag_payload, short_of
from engine.money import TENTH, ZERO, decimal_text, usd
from engine.periods import Period, iso_week, month_to_date
from engine.reports.figures import Figures, Thresholds, margin_change, margin_pct
from engine.reports.invoicing import NotInvoiced
from engine.reports.movers import Move, MoverRule, rank_moves
from engine.reports.portfolio import Portfolio, PortfolioRow, portfolio
from engine.reports.revenue import period_revenue
from engine.reports.serialize import figures_text, payload_figures
from engine.reports.usage import cost_by_day
from engine.runtime import Runtime
from engine.store import outbox
from engine.store.sql import COST_SUM
from engine.timeutil import as_date
from engine.vocab import Status

TREND_WEEKS = 12
TOP_MODELS = 8
CHART_MODELS = 6  # series in the chart; the rest are summed as "other"
MOVERS = 5


def last_full_week(today: date) -> Period:
    """The latest ISO week that has ended before `today`."""
    return iso_week(today - timedelta(days=today.weekday() + 1))


@dataclass(kw_only=True)
class ModelCost:
    """One model's COGS in the week, the week before, and its share of the week's COGS."""

    provider: str
    model: str
    cogs: Decimal
    previous: Decimal
    share_pct: Decimal
    unpriced_events: int


@dataclass(kw_only=True)
class WeekPoint:
    """One week of the blended margin trend."""

    label: str
    start: date
    revenue: Decimal
    cogs: Decimal

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_pct(self.revenue, self.cogs)


@dataclass(kw_only=True)
class Digest:
    """What the weekly digest shows."""

    week: Period
    book: Portfolio
    models: list[ModelCost]
    trend: list[WeekPoint]
    cogs_by_model_weekly: dict[str, list[Decimal]] = field(default_factory=dict)
    mover_rule: MoverRule = field(default_factory=MoverRule)
    month: Portfolio | None = None  # the calendar month to date (None on the first of a month)
    # Usage sources synced only to a moment before the week ended, with that moment (None: never synced): the
    # week's COGS is missing what they have not read yet, so its margin reads too high until they catch up.
    lagging: list[Lag] = field(default_factory=list)

    @property
    def total(self) -> Figures:
        return self.book.total

    @property
    def previous_total(self) -> Figures:
        return self.book.previous_total

    def in_status(self, status: Status) -> list[PortfolioRow]:
        """Material customers and products in `status` (no revenue counts only where there is cost): an immaterial
        one (Figures.material) is listed apart, `immaterial`."""
        return [
            r
            for r in self.book.customers + self.book.products
            if r.current.status is status
            and (status is not Status.NO_REVENUE or r.current.cogs > 0)
            and r.current.material
        ]

    def immaterial(self) -> list[PortfolioRow]:
        """Customers and products with revenue or COGS this week, both under the materiality floor."""
        return [
            r
            for r in self.book.customers + self.book.products
            if (r.current.revenue or r.current.cogs) and not r.current.material
        ]

    def movers(self, n: int = MOVERS) -> list[tuple[PortfolioRow, Move]]:
        """Customers whose COGS moved the most dollars against the week before, at or above the mover floor (of
        the portfolio's COGS): the rule answers and alerts use."""
        rows = {r.key: r for r in self.book.customers}
        moves = rank_moves(
            (Move(key=r.key, now=r.current.cogs, before=r.previous.cogs) for r in rows.values()),
            subject_cogs=self.total.cogs,
            rule=self.mover_rule,
        )
        return [(rows[m.key], m) for m in moves[:n]]


def _model_costs(conn: Connection, a: date, b: date) -> dict[tuple[str, str], tuple[int, int]]:
    rows = conn.execute(
        text(
            f"SELECT provider, model, SUM({COST_SUM}), SUM(unpriced_events) FROM daily_rollup "
            "WHERE day BETWEEN :a AND :b GROUP BY provider, model"
        ),
        {"a": a, "b": b},
    ).all()
    return {(p, m): (int(c or 0), int(u or 0)) for p, m, c, u in rows}


def weekly_digest(
    conn: Connection,
    *,
    today: date,
    thresholds: Thresholds,
    weeks: int = TREND_WEEKS,
    movers: MoverRule | None = None,
    synced: Mapping[str, datetime | None] | None = None,
    timezone: str = "UTC",
) -> Digest:
    """Everything the digest shows for the last full ISO week before `today`, and the month to date. `synced` is
    how far each configured usage source has been synced (engine.ingest.sync.synced_until): those short of the
    week's end (midnight after its Sunday in `timezone`), or never synced, are named."""
    week = last_full_week(today)
    week_over = datetime.combine(week.end + timedelta(days=1), dtime(0), tzinfo=ZoneInfo(timezone))
    lagging = short_of(synced or {}, week_over)
    book = portfolio(conn, week, thresholds=thresholds)
    mtd = month_to_date(today)
    month = portfolio(conn, mtd, thresholds=thresholds) if mtd is not None else None
    prev = week.previous()
    now_models, before_models = (
        _model_costs(conn, week.start, week.end),
        _model_costs(conn, prev.start, prev.end),
    )
    total_nano = sum(c for c, _ in now_models.values())
    models = [
        ModelCost(
            provider=provider,
            model=model,
            cogs=usd(cost),
            previous=usd(before_models.get((provider, model), (0, 0))[0]),
            share_pct=Decimal(cost) / Decimal(total_nano) * 100 if total_nano else ZERO,
            unpriced_events=unpriced,
        )
        for (provider, model), (cost, unpriced) in now_models.items()
        if cost or unpriced
    ]
    models.sort(key=lambda m: (-m.cogs, m.model))

    periods = [iso_week(week.start - timedelta(weeks=i)) for i in reversed(range(weeks))]
    first = periods[0].start
    cost_by_week: dict[date, int] = defaultdict(int)
    for day, cost in cost_by_day(conn, first, week.end).items():
        cost_by_week[iso_week(day).start] += cost
    trend = [
        WeekPoint(
            label=p.label,
            start=p.start,
            revenue=period_revenue(conn, p).total().dollars(),  # every line's, added exactly
            cogs=usd(cost_by_week.get(p.start, 0)),
        )
        for p in periods
    ]

    weekly: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for day, model, cost in conn.execute(
        text(f"SELECT day, model, SUM({COST_SUM}) FROM daily_rollup WHERE day BETWEEN :a AND :b GROUP BY day, model"),
        {"a": first, "b": week.end},
    ):
        weekly[model or "(no model)"][iso_week(as_date(day)).start] += int(cost or 0)
    ranked = sorted(weekly, key=lambda m: (-sum(weekly[m].values()), m))
    series: dict[str, list[Decimal]] = {}
    for model in ranked[:CHART_MODELS]:
        series[model] = [usd(weekly[model].get(p.start, 0)) for p in periods]
    if len(ranked) > CHART_MODELS:
        series["other"] = [usd(sum(weekly[m].get(p.start, 0) for m in ranked[CHART_MODELS:])) for p in periods]
    return Digest(
        week=week,
        book=book,
        models=models,
        trend=trend,
        cogs_by_model_weekly=series,
        mover_rule=movers or MoverRule(),
        month=month,
        lagging=lagging,
    )


def _row(r: PortfolioRow, **more: Decimal | None) -> dict[str, Any]:
    """A customer or product in the payload, with `more` figures of its own (a mover's change)."""
    return {
        "kind": r.kind,
        "key": r.key,
        "name": r.name,
        **payload_figures(
            margin_pct=r.current.margin_pct,
            previous_margin_pct=r.previous.margin_pct,
            revenue_usd=r.current.revenue,
            cogs_usd=r.current.cogs,
            **more,
        ),
        # A customer judged against its own bands (its contracts set them) says so, with them.
        "own_bands": r.own_bands,
        "breach_pct": f"{r.current.thresholds.breach_pct.normalize():f}",
        "healthy_pct": f"{r.current.thresholds.healthy_pct.normalize():f}",
    }


def digest_to_dict(d: Digest, thresholds: Thresholds) -> dict[str, Any]:
    """The digest message payload (JSON data; the Slack side renders it). Money as strings, to the cent, and every
    figure exact beside them (serialize.payload_figures)."""
    unpriced = [m for m in d.models if m.unpriced_events]
    return {
        "type": "digest",
        "week": d.week.as_dict(),
        "breach_pct": str(thresholds.breach_pct),
        "healthy_pct": str(thresholds.healthy_pct),
        **figures_text(d.total, d.previous_total, change=True),
        "breach": [_row(r) for r in d.in_status(Status.BREACH)],
        "no_revenue": [_row(r) for r in d.in_status(Status.NO_REVENUE)],
        "watch": [_row(r) for r in d.in_status(Status.WATCH)],
        # Too small to be news (revenue and COGS both under materiality_usd): named apart, in none of the lists above.
        "immaterial": [_row(r) for r in d.immaterial()],
        "materiality_usd": str(thresholds.material_usd),
        "movers": [
            {
                **_row(
                    r,
                    change_pts=margin_change(r.current, r.previous),
                    previous_cogs_usd=r.previous.cogs,
                    cogs_change_usd=m.change,
                ),
                "cogs_change": m.how,
            }
            for r, m in d.movers()
        ],
        "month_to_date": _month(d.month),
        "models": [
            {
                "provider": m.provider,
                "model": m.model or "(no model)",
                **payload_figures(cogs_usd=m.cogs, previous_cogs_usd=m.previous, share_pct=m.share_pct),
            }
            for m in d.models[:TOP_MODELS]
        ],
        "unpriced_models": [
            {"provider": m.provider, "model": m.model or "(no model)", "events": m.unpriced_events} for m in unpriced
        ],
        "skipped_contracts": d.book.skipped_contracts,
        # The week's figures count these: a customer billed in arrears, its COGS of the days no invoice covers yet
        # against no revenue, and invoice lines in another currency left out of revenue (as `portfolio` says them).
        **_invoicing(d.book),
        "lagging_sources": lag_payload(d.lagging),
        "trend": [
            {"week": p.label, **payload_figures(revenue_usd=p.revenue, cogs_usd=p.cogs, margin_pct=p.margin_pct)}
            for p in d.trend
        ],
    }


def _not_invoiced(book: Portfolio, key: str, n: NotInvoiced) -> dict[str, Any]:
    """A customer's days not invoiced yet (engine.reports.invoicing), money as the digest's payload keeps it."""
    return {
        "customer": key,
        "name": book.customers_named(key),
        "billed_through": n.billed_through.isoformat(),
        "from": n.start.isoformat(),
        "to": n.end.isoformat(),
        "days": n.days,
        **payload_figures(
            cogs_usd=n.cogs,
            billed_revenue_usd=n.billed.revenue,
            billed_cogs_usd=n.billed.cogs,
            billed_margin_pct=n.billed.margin_pct,
        ),
        "text": n.text(),
    }


def _invoicing(book: Portfolio) -> dict[str, Any]:
    """What a period's figures count that no invoice settles yet: `not_invoiced`, `unconverted_invoice_lines` and
    `uncollectible_invoices` (revenue in the figures as earned that will not be collected)."""
    return {
        "not_invoiced": [_not_invoiced(book, k, n) for k, n in sorted(book.not_invoiced.items())],
        "unconverted_invoice_lines": [u.as_dict() for u in book.unconverted],
        "uncollectible_invoices": [w.as_dict() for w in book.written_off],
    }


def _month(m: Portfolio | None) -> dict[str, Any] | None:
    """The month to date beside the week: its figures against the same days of the month before, and its run
    rate, labelled as a projection."""
    if m is None:
        return None
    out: dict[str, Any] = {"period": m.period.as_dict(), "title": m.period.title}
    out.update(figures_text(m.total, m.previous_total, change=True))
    out.update(_invoicing(m))
    p = m.projection
    out["projection"] = (
        None
        if p is None
        else {
            "full_days": p.full_days,
            **payload_figures(revenue_usd=p.figures.revenue, cogs_usd=p.figures.cogs, margin_pct=p.figures.margin_pct),
            "caveat": p.caveat,
            "basis": p.basis,
        }
    )
    return out


def chart_to_dict(d: Digest, thresholds: Thresholds) -> dict[str, Any]:
    """What the chart needs: weekly blended margin, thresholds and COGS by model per week."""
    return {
        "type": "digest_chart",
        "week": d.week.label,
        "weeks": [p.label for p in d.trend],
        # Labelled on the chart as they are, to one decimal (bot/render/charts.py): so rounded once, here, to one
        # decimal; rounded to the cent first, 29.745% would be labelled 29.8%.
        "margin_pct": [decimal_text(p.margin_pct, TENTH) for p in d.trend],
        "breach_pct": str(thresholds.breach_pct),
        "healthy_pct": str(thresholds.healthy_pct),
        "cogs_by_model": {model: [decimal_text(v) for v in values] for model, values in d.cogs_by_model_weekly.items()},
    }


@dataclass(kw_only=True)
class DigestRun:
    """What one `digest send` queued."""

    week: Period
    queued: list[str]  # channels queued now
    already: list[str]  # channels that had this week's digest already
    payload: dict[str, Any] | None
    dry_run: bool

    def summary(self) -> str:
        parts = [f"digest for {self.week.label} ({self.week.start} to {self.week.end})"]
        verb = "would queue for" if self.dry_run else "queued for"
        if self.queued:
            parts.append(f"{verb} {', '.join(self.queued)}")
        if self.already:
            parts.append(f"already sent or queued for {', '.join(self.already)}")
        if not self.queued and not self.already:
            parts.append("no MARGINBOT_DIGEST_CHANNELS set, nothing to send")
        return "; ".join(parts)


def dedupe_key(channel: str, week: Period) -> str:
    return f"digest:{channel}:{week.label}"


def queue_digest(runtime: Runtime, *, as_of: datetime | None = None, dry_run: bool = False) -> DigestRun:
    """Queue last week's digest (message, then chart) for every digest channel that has not had it yet."""
    as_of = (as_of or runtime.now()).astimezone(UTC)
    week = last_full_week(runtime.today(as_of))
    channels = runtime.settings.digest_channels
    t = runtime.thresholds
    with runtime.connect() as conn:  # refuses rollups cut in another time zone
        already = [c for c in channels if outbox.is_queued(conn, dedupe_key(c, week))]
        todo = [c for c in channels if c not in already]
        if not todo and not dry_run:
            return DigestRun(week=week, queued=[], already=already, payload=None, dry_run=dry_run)
        from engine.ingest.sync import configured_sources, synced_until  # the connectors load only for the digest

        d = weekly_digest(
            conn,
            today=runtime.today(as_of),
            thresholds=t,
            movers=runtime.movers,
            synced=synced_until(conn, configured_sources(runtime)),
            timezone=runtime.settings.timezone,
        )
        payload, chart = digest_to_dict(d, t), chart_to_dict(d, t)
        payload["notices"] = runtime.notices(conn)
        queued: list[str] = []
        for channel in todo:
            if dry_run:
                queued.append(channel)
                continue
            key = dedupe_key(channel, week)
            if outbox.enqueue(conn, dedupe_key=key, channel=channel, kind="digest", payload=payload, now=runtime.now()):
                outbox.enqueue(
                    conn,
                    dedupe_key=key + ":chart",
                    channel=channel,
                    kind="digest_chart",
                    payload=chart,
                    now=runtime.now(),
                    reply_to=key,  # in the digest's thread
                )
                queued.append(channel)
            else:
                already.append(channel)
        conn.commit()
    return DigestRun(week=week, queued=queued, already=already, payload=payload, dry_run=dry_run)
