"""The rollups are a cache of the stored events, nothing more: one definition of what each keeps and how events are
added into it, used both to fold each new batch in (engine.ingest.writer) and to rebuild them all (reprice).

Folding is an upsert that adds onto the row already there, so folding batch by batch and rebuilding from every event
at once give the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from engine.ingest.events import BIGINT_MAX
from engine.ingest.reading import FileError
from engine.ingest.sqlite_image import STAGE, EventImage, event_image
from engine.store.models import COST_COLUMNS, COUNT_COLUMNS
from engine.store.sql import COST_SUM, PAST_A_BIGINT, added

if TYPE_CHECKING:
    from engine.ingest.columnar import FrameChunk

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


def _upsert(table: str, keys: Sequence[str], source: str, dialect: str) -> str:
    cols = ", ".join((*keys, *MEASURES))
    group = ", ".join(keys)
    updates = ", ".join(f"{c} = {added(f'{table}.{c}', f'excluded.{c}', dialect)}" for c in MEASURES)
    return (
        f"INSERT INTO {table} ({cols}) SELECT {group}, {AGGREGATES} FROM {source} "
        f"GROUP BY {group} ON CONFLICT ({group}) DO UPDATE SET {updates}"
    )


def _least(dialect: str) -> str:
    """The dialect's two-argument minimum."""
    return "LEAST" if dialect == "postgresql" else "MIN"


def _tasks(source: str, dialect: str) -> str:
    # A task is dated by its first event: a task folded in over several batches keeps the earliest day.
    return (
        "INSERT INTO task_rollup (customer, product, task_id, day, events, cost_nano) "
        f"SELECT customer, product, task_id, MIN(day), COUNT(*), SUM({COST_SUM}) FROM {source} "
        "AND task_id IS NOT NULL GROUP BY customer, product, task_id "
        "ON CONFLICT (customer, product, task_id) DO UPDATE SET "
        f"events = {added('task_rollup.events', 'excluded.events', dialect)}, "
        f"cost_nano = {added('task_rollup.cost_nano', 'excluded.cost_nano', dialect)}, "
        f"day = {_least(dialect)}(task_rollup.day, excluded.day)"
    )


def fold_statements(source: str, *, dialect: str) -> list[str]:
    """Statements adding the events of `source` (a FROM clause ending in a WHERE condition) into every rollup, on
    `dialect` (sqlite or postgresql)."""
    return [*(_upsert(table, keys, source, dialect) for table, keys in ROLLUPS), _tasks(source, dialect)]


def rebuild_rollups(conn: Connection) -> None:
    """Recompute every rollup from the stored events."""
    # The weeks are emptied before the days (whose triggers then take each day off an empty table) and again after:
    # a week is never taken from, so one that holds what its days cannot (a sum made a REAL before migration 0007)
    # does not stop the rebuild that makes it right. The new days' triggers then sum the weeks afresh.
    conn.execute(text("DELETE FROM weekly_customer_product"))
    for table, _ in ROLLUPS:
        conn.execute(text(f"DELETE FROM {table}"))
    conn.execute(text("DELETE FROM weekly_customer_product"))
    conn.execute(text("DELETE FROM task_rollup"))
    for sql in fold_statements("usage_event WHERE 1 = 1", dialect=conn.dialect.name):
        conn.execute(text(sql))


def rebuild_customers(conn: Connection, customers: Sequence[str]) -> None:
    """Recompute the rollups of `customers` alone from their stored events (after their events changed hands). The
    daily rows' triggers take each deleted day off its week and add each new one (weekly_customer_product)."""
    for at in range(0, len(customers), _IN_CHUNK):  # PostgreSQL's driver takes at most 65,535 parameters
        chunk = customers[at : at + _IN_CHUNK]
        params = {f"c{i}": c for i, c in enumerate(chunk)}
        listed = ", ".join(f":c{i}" for i in range(len(chunk)))
        for table in ("daily_customer_product", "daily_rollup", "task_rollup"):
            conn.execute(text(f"DELETE FROM {table} WHERE customer IN ({listed})"), params)
        for sql in fold_statements(f"usage_event WHERE customer IN ({listed})", dialect=conn.dialect.name):
            conn.execute(text(sql), params)


_IN_CHUNK = 500


_TASK_KEYS = ("customer", "product", "task_id")
# Every rollup table an import upserts pre-aggregated rows into: (table, key, the columns staged for it).
TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    *((table, tuple(keys), (*keys, *MEASURES)) for table, keys in ROLLUPS),
    ("task_rollup", _TASK_KEYS, (*_TASK_KEYS, "day", "events", "cost_nano")),
)


def _from_stage(
    table: str, keys: Sequence[str], columns: Sequence[str], stage: str, dialect: str, *, sorted_by: str = ""
) -> str:
    """Upsert `stage`'s rows (keys unique) into `table`, adding onto what is there, on `dialect`, in key order:
    `sorted_by` names a column of `stage` that already orders its rows by key (no sort then)."""
    measures = [c for c in columns if c not in keys]
    updates = ", ".join(
        f"day = {_least(dialect)}({table}.day, excluded.day)"
        if c == "day"
        else f"{c} = {added(f'{table}.{c}', f'excluded.{c}', dialect)}"
        for c in measures
    )
    cols = ", ".join(columns)
    # `WHERE true`: SQLite's parser would otherwise take the ON CONFLICT for a join's ON.
    return (
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} WHERE true ORDER BY {sorted_by or ', '.join(keys)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


# Rollup rows held before they are folded (~8 MB of keys and sums): more costs memory and saves no time (20k
# against 50k: peak RSS of the 1M-event bench import 357 MB against 397 MB, no slower).
_PENDING_ROWS = 20_000


class PendingRollups:
    """PostgreSQL: pre-aggregated rollup rows of the chunks written so far, summed in memory and folded when enough
    is pending or the file is done, sorted by each table's key: one pass over each table's B-tree in key order
    instead of a scattered upsert per chunk (the rollups change only inside the import's transaction, so nothing
    reads them between). SQLite folds each chunk from its own database image instead (`fold_sqlite`)."""

    def __init__(self) -> None:
        self._reset()
        # PostgreSQL (fold_pg): hashes of the keys this import has COPYed or upserted into each table, and the
        # tables where a key turned out stored before it (only upserted from then on).
        self._written: dict[str, Any] = {}
        self._upsert_only: set[str] = set()

    def _reset(self) -> None:
        self._parts: dict[str, list[Any]] = {table: [] for table, _ in ROLLUPS} | {"task_rollup": []}
        self._customers: set[str] = set()
        self._rows = 0
        self.waiting = False

    def add(self, chunk: FrameChunk) -> None:
        self.waiting = True
        for table, _ in ROLLUPS:
            self._parts[table].append(chunk.rollups[table])
        self._parts["task_rollup"].append(chunk.tasks)
        self._customers.update(chunk.events.get_column("customer").unique().to_list())
        self._rows += sum(chunk.rollups[table].height for table, _ in ROLLUPS) + chunk.tasks.height

    @property
    def full(self) -> bool:
        """Enough is pending to be worth its memory: the writer folds it now rather than at the end."""
        return self._rows > _PENDING_ROWS

    def _combine(self) -> None:
        """Each table's pending rows summed into one frame per key. Summed in 128 bits and narrowed (`narrow`): each
        chunk's sums fit a BIGINT, but theirs over a whole import may not, and a 64-bit sum would wrap round
        silently where the SQLite path refuses it."""
        import polars as pl

        wide = pl.Int128
        for table, keys in ROLLUPS:
            parts = self._parts[table]
            if len(parts) > 1:
                frame = pl.concat(parts).group_by(list(keys)).agg(pl.col(m).cast(wide).sum() for m in MEASURES)
                self._parts[table] = [narrow(frame)]
        tasks = self._parts["task_rollup"]
        if len(tasks) > 1:
            frame = (
                pl.concat(tasks)
                .group_by(list(_TASK_KEYS))
                .agg(pl.col("day").min(), pl.col("events").cast(wide).sum(), pl.col("cost_nano").cast(wide).sum())
            )
            self._parts["task_rollup"] = [narrow(frame)]
        self._rows = sum(p[0].height for p in self._parts.values() if p)

    def fold_pg(self, cur: Any, copy: Any) -> None:
        """Fold what is pending on PostgreSQL's raw cursor, each table's rows COPYed (with `copy(cur, table, frame)`):
        those whose key this import has not written yet straight into the table, in key order, under a savepoint;
        the others, and all of a table's rows once one of its keys turns out stored before this import (the
        savepoint undoes that COPY), into a temporary twin, upserted from it in key order. An import mostly adds
        keys, and COPY stores a new row without the staging copy, the conflict probe and the speculative insertion
        of an upsert (the bench's 1.37M-event import: 20% less server CPU)."""
        import polars as pl
        from psycopg.errors import UniqueViolation

        self._combine()
        customers = pl.DataFrame({"id": sorted(self._customers)})
        for table, keys, columns, frame in self._tables():
            rows = frame.select(columns)
            if table not in self._upsert_only:
                hashes = rows.select(keys).hash_rows()
                # A hash written before may be another key's: that row is upserted, which is right for a new key too.
                seen = hashes.is_in(self._written.get(table, pl.Series(dtype=pl.UInt64)).implode())
                self._written[table] = pl.concat([self._written[table], hashes]) if table in self._written else hashes
                new = rows.filter(~seen).sort(keys)
                cur.execute("SAVEPOINT new_rollups")
                try:
                    copy(cur, table, new)
                except UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT new_rollups")
                    self._upsert_only.add(table)
                else:
                    cur.execute("RELEASE SAVEPOINT new_rollups")
                    rows = rows.filter(seen)
            if rows.height:
                stage = f"stage_{table}"
                cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table})")
                copy(cur, stage, rows)
                cur.execute(_from_stage(table, keys, columns, stage, "postgresql"))
                cur.execute(f"TRUNCATE {stage}")
        if customers.height:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS stage_customer (id text)")
            copy(cur, "stage_customer", customers)
            cur.execute(
                "INSERT INTO customer (id, name, aliases) SELECT id, id, '' FROM stage_customer "
                "ON CONFLICT (id) DO NOTHING"
            )
            cur.execute("DELETE FROM stage_customer")
        self._reset()

    def _tables(self) -> list[tuple[str, list[str], tuple[str, ...], Any]]:
        """(table, key, columns, rows) of each table with rows pending, once combined (`_from_stage` upserts them
        in key order)."""
        return [
            (table, list(keys), columns, self._parts[table][0]) for table, keys, columns in TABLES if self._parts[table]
        ]


# weekly_customer_product: its key and columns; the triggers on daily_customer_product that keep it (migration 0005).
_WEEK_KEYS = ("week", "customer", "product")
_WEEKLY_COLUMNS = (*_WEEK_KEYS, "events", "unpriced_events", "requests", "tokens", "cost_nano")
WEEKLY_TRIGGERS = tuple(f"weekly_customer_product_{name}" for name in ("delete", "insert", "rekey", "update"))


# Why a file is refused whose sums pass what a rollup column holds (a BIGINT: 2⁶³ − 1 nano-USD is about $9.2 billion),
# said of the line where reading stopped: the lines up to it are what passes the limit. Found within a chunk's or a
# batch's own sums, and wherever a sum is added to a stored one (an earlier chunk's or file's): PostgreSQL's BIGINT
# refuses it, and on SQLite every such addition is checked (engine.store.sql.added; the weekly triggers: migration
# 0007).
SUM_TOO_LARGE = (
    "the costs or counts of one customer and product over a day, a week or a task in the lines up to here add up "
    f"{PAST_A_BIGINT}: are cost_usd and the counts in the right unit?"
)


def narrow(frame: Any) -> Any:
    """A polars frame's sums computed in 128 bits, kept in 64 (what the rollup columns hold); a sum past a BIGINT is
    refused here, as the database would refuse it."""
    import polars as pl

    wide = [c for c, t in frame.schema.items() if t == pl.Int128]
    if frame.height and wide:
        top = frame.select(pl.max_horizontal([pl.col(c).max() for c in wide])).item()
        if top is not None and top > BIGINT_MAX:
            raise OverflowError("a rollup sum is larger than a BIGINT column holds")
    return frame.with_columns([pl.col(c).cast(pl.Int64) for c in wide])


def weekly_of(daily: Any) -> Any:
    """daily_customer_product rows (a polars frame) summed into weekly_customer_product's, as its triggers add them
    (migration 0005): the week of a day is its Monday (the day itself, or the Monday before), tokens are input and
    output tokens, cost_nano every cost column. In key order."""
    import polars as pl

    wide = pl.Int128
    week = pl.col("day").str.to_date("%Y-%m-%d").dt.truncate("1w").dt.strftime("%Y-%m-%d")
    frame = daily.group_by(week.alias("week"), "customer", "product").agg(
        pl.col("events").cast(wide).sum(),
        pl.col("unpriced_events").cast(wide).sum(),
        pl.col("requests").cast(wide).sum(),
        (pl.col("input_tokens").cast(wide) + pl.col("output_tokens")).sum().alias("tokens"),
        pl.sum_horizontal(pl.col(c).cast(wide) for c in COST_COLUMNS).sum().alias("cost_nano"),
    )
    return narrow(frame).select(_WEEKLY_COLUMNS).sort(_WEEK_KEYS)


# The customers of a chunk staged with its rollups: added as the row path adds them (named by their id).
_CUSTOMER_STAGE = (
    f"INSERT INTO customer (id, name, aliases) SELECT id, id, '' FROM {STAGE}.customer WHERE true ORDER BY id "
    "ON CONFLICT (id) DO NOTHING"
)


def sqlite_image_of(chunk: FrameChunk) -> EventImage:
    """A columnar chunk's database image for SQLite (engine.ingest.sqlite_image): its events, and beside them its
    pre-aggregated rollups (weekly ones too) and its customers, which `fold_sqlite` upserts once the events are
    stored. Made off the writer's thread (engine.ingest.files): when the writer wrote the rollups into an image of
    their own, that was ~10% of its work, and the writer set the import's pace."""
    import polars as pl

    if not chunk.summed:
        raise ValueError("a chunk's image is made from its rollups: engine.ingest.columnar.add_sums first")
    frames = {**chunk.rollups, "task_rollup": chunk.tasks}
    # Each table's rows in key order (polars orders text bytewise, as SQLite's BINARY collation does): the writer
    # reads them in rowid order, and SQLite need not sort them on its thread.
    tables = {table: frames[table].select(columns).sort(keys) for table, keys, columns in TABLES}
    try:
        tables["weekly_customer_product"] = weekly_of(tables["daily_customer_product"])
    except OverflowError:  # a week's sums past what a rollup holds: said of the chunk's lines, as add_sums says its own
        raise FileError(chunk.last_line, SUM_TOO_LARGE) from None
    tables["customer"] = chunk.events.select(pl.col("customer").unique().alias("id"))
    return event_image(chunk.events, tables)


def fold_sqlite(cur: Any, tag: str, *, weekly: bool = False) -> None:
    """Upsert the rollups and customers of the chunk whose image (`sqlite_image_of`) is loaded, each table in its
    key order, on SQLite's raw cursor `cur`; `tag` is load_image's, ending every statement that reads the image.
    `weekly`: weekly_customer_product's triggers are dropped for now (engine.ingest.writer), so its rows are upserted
    from the image too."""
    for table, keys, columns in TABLES:
        cur.execute(_from_stage(table, keys, columns, f"{STAGE}.{table}", "sqlite", sorted_by="rowid") + tag)
    if weekly:
        stage = f"{STAGE}.weekly_customer_product"
        cur.execute(
            _from_stage("weekly_customer_product", _WEEK_KEYS, _WEEKLY_COLUMNS, stage, "sqlite", sorted_by="rowid")
            + tag
        )
    cur.execute(_CUSTOMER_STAGE + tag)
