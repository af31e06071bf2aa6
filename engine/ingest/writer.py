"""The one path every usage event takes into the database: priced, de-duplicated, rolled up.

Rows are staged in a temporary table (executemany on SQLite, COPY on PostgreSQL); the database then drops the
ones already stored, inserts the rest and folds them into the rollups with a handful of set-based statements.
So an event id seen before is never counted twice, and the rollups always equal the sum of stored events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.models import COST_COLUMNS, COUNT_COLUMNS
from engine.pricing import PriceBook
from engine.timeutil import DayCutter

# The parsed event, as every source produces it (see engine.ingest.usage.parse_event).
PARSED_FIELDS = (
    "event_id",
    "ts",
    "customer",
    "product",
    "feature",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "retrieval_queries",
    "rerank_calls",
    "compute_ms",
    "source_cost_nano",
    "task_id",
    "cache_hit",
    "prompt_hash",
)
ParsedEvent = tuple[Any, ...]

EVENT_COLUMNS = (
    "event_id",
    "ts",
    "day",
    "customer",
    "product",
    "feature",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "retrieval_queries",
    "rerank_calls",
    "compute_ms",
    "source_cost_nano",
    "task_id",
    "cache_hit",
    "prompt_hash",
    "priced",
    *COST_COLUMNS,
    "source",
)

_PG_TYPES = {
    "ts": "timestamptz",
    "day": "date",
    "cache_hit": "boolean",
    "priced": "boolean",
}
_TEXT = {"event_id", "customer", "product", "feature", "provider", "model", "task_id", "prompt_hash", "source"}

_SUM_OF = {
    "events": "COUNT(*)",
    "cache_hits": "SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END)",
    "unpriced_events": "SUM(CASE WHEN priced THEN 0 ELSE 1 END)",
}
MEASURES = COUNT_COLUMNS + COST_COLUMNS


def aggregates_sql() -> str:
    return ", ".join(_SUM_OF.get(c, f"SUM({c})") for c in MEASURES)


def _upsert(table: str, keys: Sequence[str]) -> str:
    cols = ", ".join((*keys, *MEASURES))
    group = ", ".join(keys)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in MEASURES)
    return (
        f"INSERT INTO {table} ({cols}) SELECT {group}, {aggregates_sql()} FROM stage_event WHERE 1 = 1 "
        f"GROUP BY {group} ON CONFLICT ({group}) DO UPDATE SET {updates}"
    )


ROLLUP_KEYS = ("day", "customer", "product", "feature", "provider", "model")
_SQL_ROLLUP = _upsert("daily_rollup", ROLLUP_KEYS)
_SQL_DCP = _upsert("daily_customer_product", ("customer", "product", "day"))
_COST_SUM = " + ".join(COST_COLUMNS)
_SQL_DEDUPE = (
    "DELETE FROM stage_event WHERE EXISTS (SELECT 1 FROM usage_event u WHERE u.event_id = stage_event.event_id)"
)
_SQL_INSERT = (
    f"INSERT INTO usage_event ({', '.join(EVENT_COLUMNS)}) SELECT {', '.join(EVENT_COLUMNS)} FROM stage_event"
)
_SQL_CUSTOMERS = (
    "INSERT INTO customer (id, name, aliases) SELECT DISTINCT customer, customer, '' FROM stage_event "
    "WHERE 1 = 1 ON CONFLICT (id) DO NOTHING"
)


def _sql_tasks(least: str) -> str:
    return (
        "INSERT INTO task_rollup (customer, product, task_id, day, events, cost_nano) "
        f"SELECT customer, product, task_id, MIN(day), COUNT(*), SUM({_COST_SUM}) FROM stage_event "
        "WHERE task_id IS NOT NULL GROUP BY customer, product, task_id "
        "ON CONFLICT (customer, product, task_id) DO UPDATE SET "
        f"events = task_rollup.events + excluded.events, cost_nano = task_rollup.cost_nano + excluded.cost_nano, "
        f"day = {least}(task_rollup.day, excluded.day)"
    )


def create_stage(conn: Connection) -> None:
    """The per-connection staging table (temporary: invisible to other sessions, gone at disconnect)."""
    if conn.dialect.name == "postgresql":
        cols = ", ".join(
            f"{c} {_PG_TYPES.get(c, 'text' if c in _TEXT else 'bigint')}" for c in EVENT_COLUMNS
        )
    else:
        cols = ", ".join(EVENT_COLUMNS)
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS stage_event ({cols})")
    conn.exec_driver_sql("DELETE FROM stage_event")


@dataclass
class WriteStats:
    imported: int = 0
    duplicates: int = 0
    unpriced_events: int = 0
    unpriced_models: set[tuple[str, str]] = field(default_factory=set)
    cost_nano: int = 0


class EventWriter:
    """Prices parsed events and writes them in batches inside the caller's transaction."""

    def __init__(
        self,
        conn: Connection,
        *,
        prices: PriceBook,
        cutter: DayCutter,
        source: str,
        batch_size: int = 20_000,
    ) -> None:
        self.conn = conn
        self.prices = prices
        self.cutter = cutter
        self.source = source[:100]
        self.batch_size = batch_size
        self.stats = WriteStats()
        self._rows: list[tuple[Any, ...]] = []
        self._ids: set[str] = set()
        self._pg = conn.dialect.name == "postgresql"
        self._sql_tasks = _sql_tasks("LEAST" if self._pg else "MIN")
        create_stage(conn)

    def add(self, ev: ParsedEvent) -> None:
        """Queue one parsed event (PARSED_FIELDS order)."""
        event_id = ev[0]
        if event_id in self._ids:  # re-sent within one batch: the database check covers earlier batches
            self.stats.duplicates += 1
            return
        self._ids.add(event_id)
        ts: datetime = ev[1]
        epoch = int(ts.timestamp())
        costs = self.prices.price(
            ev[5], ev[6], epoch, ev[7], ev[8], ev[9], ev[10], ev[11], ev[12], ev[13], ev[14], ev[15]
        )
        priced = costs[9]
        if not priced:
            self.stats.unpriced_models.add((ev[5], ev[6]))
        ts_text = ts.isoformat(sep=" ") if self._pg else ts.replace(tzinfo=None).isoformat(sep=" ")
        self._rows.append(
            (event_id, ts_text, self.cutter.day(epoch), *ev[2:19], priced, *costs[:9], self.source)
        )
        if len(self._rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the queued batch: stage, drop known ids, insert, roll up."""
        if not self._rows:
            return
        conn = self.conn
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            if self._pg:
                with cur.copy(f"COPY stage_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                    for row in self._rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(EVENT_COLUMNS))
                cur.executemany(f"INSERT INTO stage_event VALUES ({marks})", self._rows)
            cur.execute(_SQL_DEDUPE)
            dupes = max(cur.rowcount, 0)
            cur.execute(_SQL_INSERT)
            inserted = cur.rowcount
            if inserted:
                cur.execute(_SQL_ROLLUP)
                cur.execute(_SQL_DCP)
                cur.execute(self._sql_tasks)
                cur.execute(_SQL_CUSTOMERS)
                cur.execute(
                    f"SELECT COALESCE(SUM(CASE WHEN priced THEN 0 ELSE 1 END), 0), "
                    f"COALESCE(SUM({_COST_SUM}), 0) FROM stage_event"
                )
                unpriced, cost = cur.fetchone()
                self.stats.unpriced_events += int(unpriced)
                self.stats.cost_nano += int(cost)
            cur.execute("DELETE FROM stage_event")
        finally:
            cur.close()
        self.stats.imported += inserted
        self.stats.duplicates += dupes
        self._rows.clear()
        self._ids.clear()

    def discard(self) -> None:
        """Drop what is queued (the caller is rolling back)."""
        self._rows.clear()
        self._ids.clear()
