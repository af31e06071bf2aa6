"""Re-price stored events after the price file (or the time zone) changed, and rebuild the rollups from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text

from engine.ingest.writer import MEASURES, ROLLUP_KEYS, aggregates_sql
from engine.pricing.book import PriceBook
from engine.progress import Progress
from engine.store.meta import ROLLUP_TZ, get_meta, set_meta
from engine.store.models import COST_COLUMNS
from engine.store.sql import COST_SUM
from engine.timeutil import DayCutter

_SELECT = (
    "SELECT event_id, ts, provider, model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, "
    "requests, retrieval_queries, rerank_calls, compute_ms, source_cost_nano, day FROM usage_event "
)


@dataclass
class RepriceResult:
    events: int = 0
    changed: int = 0
    unpriced_events: int = 0
    cost_before_nano: int = 0
    cost_after_nano: int = 0

    def summary(self) -> str:
        delta = (self.cost_after_nano - self.cost_before_nano) / 1e9
        return f"re-priced {self.events} event(s), {self.changed} changed; COGS moved by ${delta:,.2f}" + (
            f"; {self.unpriced_events} still unpriced" if self.unpriced_events else ""
        )


def reprice(
    engine: Engine,
    *,
    prices: PriceBook,
    timezone: str,
    since: date | None = None,
    progress: Progress | None = None,
) -> RepriceResult:
    """Recompute every event's cost (and local day) from `since` on, then rebuild rollups, in one transaction.

    `progress` (engine.progress) is called with the events re-priced so far and the number to re-price."""
    result = RepriceResult()
    cutter = DayCutter(timezone)
    tz_changed = False
    with engine.begin() as conn:
        stored_tz = get_meta(conn, ROLLUP_TZ)
        tz_changed = stored_tz is not None and stored_tz != timezone
        if tz_changed:
            since = None  # every day boundary moved
        where, params = "", {}
        if since is not None:
            where = "WHERE ts >= :since "
            params = {"since": datetime.combine(since, time(0), ZoneInfo(timezone)).astimezone(UTC)}
        updates: list[dict[str, object]] = []
        # Streamed (a server-side cursor on PostgreSQL): memory stays flat however many events there are. The
        # partition size is explicit: SQLite ignores the statement's yield_per and would hand over one row at a time.
        rows = conn.execute(text(_SELECT + where + "ORDER BY event_id").execution_options(yield_per=5000), params)
        reader = rows.partitions(5000)
        before = _total_cost(conn, where, params)
        total = None
        if progress is not None:
            total = int(conn.execute(text(f"SELECT COUNT(*) FROM usage_event {where}"), params).scalar_one())
        for chunk in reader:
            for (
                event_id,
                ts,
                provider,
                model,
                inp,
                cached,
                write,
                out,
                req,
                retr,
                rer,
                comp,
                src,
                _day,
            ) in chunk:
                ts = _aware(ts)
                epoch = int(ts.timestamp())
                costs = prices.price(provider, model, epoch, inp, cached, write, out, req, retr, rer, comp, src)
                result.events += 1
                if not costs[9]:
                    result.unpriced_events += 1
                updates.append(
                    {
                        "id": event_id,
                        "day": cutter.day(epoch),
                        "priced": costs[9],
                        **{c: v for c, v in zip(COST_COLUMNS, costs[:9], strict=True)},
                    }
                )
            _apply(conn, updates)
            updates.clear()
            if progress is not None:
                progress(result.events, total)
        _apply(conn, updates)
        after = _total_cost(conn, where, params)
        result.cost_before_nano, result.cost_after_nano = before, after
        result.changed = result.events if before != after else 0
        rebuild_rollups(conn)
        set_meta(conn, ROLLUP_TZ, timezone)
        set_meta(conn, "price_fingerprint", prices.fingerprint)
    return result


def _aware(ts: object) -> datetime:
    if isinstance(ts, datetime):
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    return datetime.fromisoformat(str(ts)).replace(tzinfo=UTC)


def _total_cost(conn: Connection, where: str, params: Mapping[str, object]) -> int:
    return int(conn.execute(text(f"SELECT COALESCE(SUM({COST_SUM}), 0) FROM usage_event {where}"), params).scalar_one())


def _apply(conn: Connection, updates: list[dict[str, object]]) -> None:
    if not updates:
        return
    sets = ", ".join(f"{c} = :{c}" for c in (*COST_COLUMNS, "day", "priced"))
    conn.execute(text(f"UPDATE usage_event SET {sets} WHERE event_id = :id"), updates)


def rebuild_rollups(conn: Connection) -> None:
    """Recompute every rollup from the stored events (the rollups are a cache of them, nothing more)."""
    conn.execute(text("DELETE FROM daily_rollup"))
    conn.execute(text("DELETE FROM daily_customer_product"))
    conn.execute(text("DELETE FROM task_rollup"))
    measures = ", ".join(MEASURES)
    for table, keys in (
        ("daily_rollup", ROLLUP_KEYS),
        ("daily_customer_product", ("customer", "product", "day")),
    ):
        group = ", ".join(keys)
        conn.execute(
            text(
                f"INSERT INTO {table} ({group}, {measures}) "
                f"SELECT {group}, {aggregates_sql()} FROM usage_event GROUP BY {group}"
            )
        )
    conn.execute(
        text(
            "INSERT INTO task_rollup (customer, product, task_id, day, events, cost_nano) "
            f"SELECT customer, product, task_id, MIN(day), COUNT(*), SUM({COST_SUM}) FROM usage_event "
            "WHERE task_id IS NOT NULL GROUP BY customer, product, task_id"
        )
    )
