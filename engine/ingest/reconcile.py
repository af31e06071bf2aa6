"""Priced usage against what each provider billed, per provider and month, so a wrong price book shows up.

Priced usage is our inference COGS from the daily rollups (token, request-fee and source-priced costs; not
retrieval, rerank or compute, which no provider bills), by provider. Billed is provider_cost (OpenAI Costs
API, Anthropic cost report). Both are compared over the same days: the month, cut at the last day the
provider has billed, because provider cost reports lag. Providers bill by UTC day, so the priced side is cut in
UTC days too: from the daily rollups when MARGINBOT_TIMEZONE is UTC, else from the events' own times (the rollups'
local days would move up to a day of usage across the month's ends). OpenAI itself says usage and costs never match
exactly, so small drift is normal; a few percent or more means a missing discount, a wrong price or usage
counted twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, text

from engine.money import CENT, TENTH, ZERO, decimal_text, round_to, usd
from engine.periods import Period
from engine.store.models import UTCDateTime
from engine.store.outbox import enqueue, is_queued
from engine.timeutil import as_date
from engine.vocab import CostType

# The part of an event's cost a provider bills: every cost type but our own unit costs.
_UNBILLED = {CostType.RETRIEVAL, CostType.RERANK, CostType.COMPUTE}
INFERENCE_COSTS = " + ".join(t.column for t in CostType if t not in _UNBILLED)
DRIFT_OK_PCT = Decimal(5)
# The statuses a drift alert is posted for: outside ±5%, or billed with nothing priced (−100%): usage missing
# (`no_usage`), or stored with no price for any of it (`unpriced`: a model the price book does not know).
ALERTED = ("drift", "no_usage", "unpriced")


@dataclass(frozen=True)
class ProviderDrift:
    provider: str
    start: date
    end: date  # inclusive: the month's last day, or the provider's last billed day in it
    priced_usd: Decimal
    billed_usd: Decimal
    # Events of the provider over the same days that have no price (counted, never priced at $0): their cost is in
    # the bill and not in `priced_usd`, so a drift below the bill may be theirs.
    unpriced_events: int = 0

    @property
    def drift_usd(self) -> Decimal:
        return self.priced_usd - self.billed_usd

    @property
    def drift_pct(self) -> Decimal | None:
        """(priced − billed) / billed × 100; None when the provider billed nothing."""
        if self.billed_usd == 0:
            return None
        return self.drift_usd / self.billed_usd * 100

    @property
    def status(self) -> str:
        pct = self.drift_pct
        if pct is None:
            return "no_bill" if self.priced_usd else "ok"
        if self.billed_usd and self.priced_usd == 0:
            return "unpriced" if self.unpriced_events else "no_usage"
        return "ok" if abs(pct) <= DRIFT_OK_PCT else "drift"

    def as_dict(self) -> dict[str, Any]:
        pct = self.drift_pct
        return {
            "provider": self.provider,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "priced_usd": float(round_to(self.priced_usd, CENT)),
            "billed_usd": float(round_to(self.billed_usd, CENT)),
            "drift_usd": float(round_to(self.drift_usd, CENT)),
            "drift_pct": None if pct is None else float(round_to(pct, CENT)),
            "status": self.status,
            "unpriced_events": self.unpriced_events,
        }


def reconcile(conn: Connection, period: Period, timezone: str = "UTC") -> list[ProviderDrift]:
    """One row per provider with provider costs stored (in any month) that billed in `period` (a month of UTC days)
    or whose usage we priced in it;
    `timezone` is the one the daily rollups were cut in (MARGINBOT_TIMEZONE)."""
    billed: dict[str, tuple[Decimal, date]] = {}
    sqlite = conn.dialect.name == "sqlite"
    # SQLite keeps each amount as a double and SUMs doubles as floats (nine bills totalling $423,065.955 came to
    # $423,065.95499999996, shown as $423,065.95): there each amount is added as the whole nano-USD it was written
    # in (the column keeps 9 decimals), exactly. PostgreSQL's NUMERIC sum is exact as it is.
    total = "SUM(CAST(ROUND(amount_usd * 1000000000) AS INTEGER))" if sqlite else "SUM(amount_usd)"
    for provider, amount, last in conn.execute(
        text(f"SELECT provider, {total}, MAX(day) FROM provider_cost WHERE day BETWEEN :a AND :b GROUP BY provider"),
        {"a": period.start, "b": period.end},
    ):
        billed[provider] = (usd(int(amount or 0)) if sqlite else Decimal(str(amount or 0)), as_date(last))
    providers = set(billed)
    priced_totals: dict[str, Decimal] = {}
    unpriced: dict[str, int] = {}
    for provider in sorted(
        {p for (p,) in conn.execute(text("SELECT DISTINCT provider FROM provider_cost"))} | providers
    ):
        end = billed[provider][1] if provider in billed else period.end
        priced_totals[provider] = usd(_priced_nano(conn, provider, period.start, end, timezone))
        unpriced[provider] = _unpriced_events(conn, provider, period.start, end, timezone)
    rows = []
    for provider in sorted(priced_totals):
        amount, last = billed.get(provider, (ZERO, period.end))
        if provider not in billed and not priced_totals[provider]:
            continue
        rows.append(ProviderDrift(provider, period.start, last, priced_totals[provider], amount, unpriced[provider]))
    return rows


# The events of one provider in [since, until): their UTC times bound as the column stores them.
_EVENTS_PRICED = text(
    f"SELECT COALESCE(SUM({INFERENCE_COSTS}), 0) FROM usage_event WHERE provider = :p AND ts >= :since AND ts < :until"
).bindparams(bindparam("since", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))


def _priced_nano(conn: Connection, provider: str, first: date, last: date, timezone: str) -> int:
    """Our inference COGS of `provider` over the UTC days `first` to `last`, in nano-USD."""
    if timezone in ("UTC", "Etc/UTC"):
        sql = text(
            f"SELECT COALESCE(SUM({INFERENCE_COSTS}), 0) FROM daily_rollup "
            "WHERE provider = :p AND day BETWEEN :a AND :b"
        )
        return int(conn.execute(sql, {"p": provider, "a": first, "b": last}).scalar_one())
    # Local days do not line up with the provider's UTC ones: a scan of the month's events, run by hand once a month.
    since = datetime.combine(first, time(0), UTC)
    until = datetime.combine(last + timedelta(days=1), time(0), UTC)
    return int(conn.execute(_EVENTS_PRICED, {"p": provider, "since": since, "until": until}).scalar_one())


_EVENTS_UNPRICED = text(
    "SELECT COUNT(*) FROM usage_event WHERE provider = :p AND ts >= :since AND ts < :until AND NOT priced"
).bindparams(bindparam("since", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))


def _unpriced_events(conn: Connection, provider: str, first: date, last: date, timezone: str) -> int:
    """How many of `provider`'s events over the UTC days `first` to `last` have no price (as `_priced_nano` cuts)."""
    if timezone in ("UTC", "Etc/UTC"):
        sql = text(
            "SELECT COALESCE(SUM(unpriced_events), 0) FROM daily_rollup "
            "WHERE provider = :p AND day BETWEEN :a AND :b AND unpriced_events > 0"
        )
        return int(conn.execute(sql, {"p": provider, "a": first, "b": last}).scalar_one())
    since = datetime.combine(first, time(0), UTC)
    until = datetime.combine(last + timedelta(days=1), time(0), UTC)
    return int(conn.execute(_EVENTS_UNPRICED, {"p": provider, "since": since, "until": until}).scalar_one())


def drift_payload(row: ProviderDrift, period: Period) -> dict[str, Any]:
    """The outbox payload of one provider's drift alert (money as exact decimal text, rounded half up once)."""
    pct = row.drift_pct
    return {
        "type": "drift",
        "provider": row.provider,
        "period": period.label,
        "start": row.start.isoformat(),
        "end": row.end.isoformat(),
        "priced_usd": decimal_text(row.priced_usd),
        "billed_usd": decimal_text(row.billed_usd),
        "drift_usd": decimal_text(row.drift_usd),
        "drift_pct": decimal_text(pct, TENTH) if pct is not None else None,
        "status": row.status,
        "threshold_pct": str(DRIFT_OK_PCT),
        "unpriced_events": row.unpriced_events,
    }


def queue_drift_alerts(
    conn: Connection, rows: Sequence[ProviderDrift], period: Period, channels: Sequence[str], now: datetime
) -> list[str]:
    """Queue a drift alert to every alert channel for each provider whose drift left ±5% in `period`, once per
    provider and month (the outbox's dedupe key): a later run that finds the same drift posts nothing again.
    Returns the providers newly alerted. Runs in the caller's transaction."""
    alerted: list[str] = []
    for row in rows:
        if row.status not in ALERTED:
            continue
        payload = drift_payload(row, period)
        queued = []
        for channel in channels:
            key = _alert_key(row.provider, period, channel)
            replies, last = _thread(conn, key)
            if last == "ok":
                # A "Cost drift resolved" note is the thread's last word, and the month drifts again: said in the
                # thread, or the note would stand as if still true (the month's alert is posted once).
                queued.append(
                    enqueue(
                        conn,
                        dedupe_key=f"drift-again:{row.provider}:{period.label}:{channel}:{replies}",
                        channel=channel,
                        kind="drift",
                        payload={**payload, "again": True},
                        now=now,
                        reply_to=key,
                    )
                )
                continue
            queued.append(enqueue(conn, dedupe_key=key, channel=channel, kind="drift", payload=payload, now=now))
        if any(queued):
            alerted.append(row.provider)
    return alerted


def _thread(conn: Connection, alert_key: str) -> tuple[int, str | None]:
    """How many drift replies the thread of the alert `alert_key` holds, and the status the last one said (None:
    none)."""
    payloads = conn.execute(
        text("SELECT payload FROM outbox WHERE reply_to = :k AND kind = 'drift' ORDER BY id"), {"k": alert_key}
    ).scalars()
    said = [json.loads(p).get("status") for p in payloads]
    return len(said), (said[-1] if said else None)


def _alert_key(provider: str, period: Period, channel: str) -> str:
    return f"drift:{provider}:{period.label}:{channel}"


def queue_drift_resolved(
    conn: Connection, rows: Sequence[ProviderDrift], period: Period, channels: Sequence[str], now: datetime
) -> list[str]:
    """Queue, in the thread of a provider's drift alert for `period`, one message saying it is back within ±5%: a
    provider's cost report revised after the alert (costs the provider had not finished counting, a credit) or usage
    imported since. Without it the alert stood in the channel as if still true. Once each time the month comes back
    (a drift back since is said again in the thread: `queue_drift_alerts`); returns the providers newly told. Runs in
    the caller's transaction."""
    resolved: list[str] = []
    for row in rows:
        if row.status != "ok" or row.drift_pct is None:  # within ±5% of a bill (not nothing against nothing)
            continue
        told = []
        for channel in channels:
            key = _alert_key(row.provider, period, channel)
            if not is_queued(conn, key):
                continue
            replies, last = _thread(conn, key)
            if last == "ok":
                continue  # said already, and no drift since
            told.append(
                enqueue(
                    conn,
                    # The first note keeps the key it always had; one after a drift said again, its own.
                    dedupe_key=f"drift-ok:{row.provider}:{period.label}:{channel}" + (f":{replies}" if replies else ""),
                    channel=channel,
                    kind="drift",
                    payload=drift_payload(row, period),
                    now=now,
                    reply_to=key,
                )
            )
        if any(told):
            resolved.append(row.provider)
    return resolved
