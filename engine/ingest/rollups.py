"""The rollups are a cache of the stored events, nothing more: one definition of what each keeps and how events are
added into it, used both to fold each new batch in (engine.ingest.writer) and to rebuild them all (reprice).

Folding is an upsert that adds onto the row already there, so folding batch by batch and rebuilding from every event
at once give the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from engine.store.models import COST_COLUMNS, COUNT_COLUMNS
from engine.store.sql import COST_SUM

ROLLUP_KEYS = ("day", "customer", "product", "feature", "provider", "model", "service_tier")
# Each rollup of counts and costs and the keys it groups events by (task_rollup, by task, is below).
ROLLUPS: tuple[tuple[str, Sequence[str]], ...] = (
    ("daily_rollup", ROLLUP_KEYS),
    ("daily_customer_product", ("customer", "product", "day")),
)
MEASURES = COUNT_COLUMNS + COST_COLUMNS
# How a measure is summed over events; the others are the SUM of the event column of the same name.
_SUM_OF = {
    "events": "COUNT(*)",
    "cache_hits": "SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END)",
    "unpriced_events": "SUM(CASE WHEN priced THEN 0 ELSE 1 END)",
}
UNPRICED_EVENTS = _SUM_OF["unpriced_events"]
AGGREGATES = ", ".join(_SUM_OF.get(c, f"SUM({c})") for c in MEASURES)


def _upsert(table: str, keys: Sequence[str], source: str) -> str:
    cols = ", ".join((*keys, *MEASURES))
    group = ", ".join(keys)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in MEASURES)
    return (
        f"INSERT INTO {table} ({cols}) SELECT {group}, {AGGREGATES} FROM {source} "
        f"GROUP BY {group} ON CONFLICT ({group}) DO UPDATE SET {updates}"
    )


def _tasks(source: str, least: str) -> str:
    # A task is dated by its first event: a task folded in over several batches keeps the earliest day.
    return (
        "INSERT INTO task_rollup (customer, product, task_id, day, events, cost_nano) "
        f"SELECT customer, product, task_id, MIN(day), COUNT(*), SUM({COST_SUM}) FROM {source} "
        "AND task_id IS NOT NULL GROUP BY customer, product, task_id "
        "ON CONFLICT (customer, product, task_id) DO UPDATE SET "
        f"events = task_rollup.events + excluded.events, cost_nano = task_rollup.cost_nano + excluded.cost_nano, "
        f"day = {least}(task_rollup.day, excluded.day)"
    )


def fold_statements(source: str, *, least: str) -> list[str]:
    """Statements adding the events of `source` (a FROM clause ending in a WHERE condition) into every rollup.

    `least` is the dialect's two-argument minimum: MIN on SQLite, LEAST on PostgreSQL.
    """
    return [*(_upsert(table, keys, source) for table, keys in ROLLUPS), _tasks(source, least)]


def rebuild_rollups(conn: Connection) -> None:
    """Recompute every rollup from the stored events."""
    for table, _ in ROLLUPS:
        conn.execute(text(f"DELETE FROM {table}"))
    conn.execute(text("DELETE FROM task_rollup"))
    least = "LEAST" if conn.dialect.name == "postgresql" else "MIN"
    for sql in fold_statements("usage_event WHERE 1 = 1", least=least):
        conn.execute(text(sql))
