"""The one path every usage event takes into the database: priced, de-duplicated, rolled up.

On SQLite a batch goes straight into `usage_event` (a known event id is skipped by its primary key) and the new
rows, found by their rowid range, are folded into the rollups; on PostgreSQL it is COPYed into a temporary stage and
one INSERT … ON CONFLICT DO NOTHING stores what is new (dropping the rest from the stage), which is then folded.
A columnar chunk (engine.ingest.columnar) arrives with its rollups pre-aggregated: when every one of its events is
new they are added from those rows, without reading the events back. On SQLite its events come as a small database
image made in C (engine.ingest.sqlite_image) that one INSERT … SELECT copies, its rollups beside them in the same
image, upserted from there in key order; on PostgreSQL the rollups are summed in memory over chunks and upserted in
key order, and the events are COPYed straight into usage_event under a savepoint (an id stored already undoes it,
and the chunk takes the stage).
Either way an event id seen before is never counted twice, and the rollups always equal the sum of stored events.
A known id whose stored event has other values is noted by the same primary-key probe (`EventWriter.suspects`): an
importer of a file then asks engine.ingest.repeats whether the file gives that id twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from engine.ingest.events import COST_MAX_NANO, ParsedEvent, RowError
from engine.ingest.rollups import (
    UNPRICED_EVENTS,
    WEEKLY_TRIGGERS,
    PendingRollups,
    fold_sqlite,
    fold_statements,
    sqlite_image_of,
)
from engine.ingest.sqlite_image import STAGE_TABLE, attach_stage, load_image
from engine.money import NANO, usd
from engine.pricing.book import UNIT_KEYS, Costs, PriceBook, Usage
from engine.store.db import hold_writes
from engine.store.meta import check_rollups
from engine.store.models import COST_COLUMNS, COST_TYPES, UsageEvent
from engine.store.sql import COST_SUM
from engine.timeutil import DayCutter

if TYPE_CHECKING:
    from engine.ingest.columnar import FrameChunk

# A usage_event row as RowBuilder lays it out: the parsed event with its local day after `ts`, then its costs
# (Costs order: one column per cost type, then `priced`) and where it came from.
EVENT_COLUMNS = (*ParsedEvent._fields[:2], "day", *ParsedEvent._fields[2:], *COST_COLUMNS, "priced", "source")

# The columns a usage file gives after the event id (ParsedEvent's), by their place in a row: two rows of one id that
# differ in any of them are two events, not one sent twice (engine.ingest.repeats).
INPUT_COLUMNS = ParsedEvent._fields[1:]
_inputs = itemgetter(*(EVENT_COLUMNS.index(c) for c in INPUT_COLUMNS))

_PG_TYPES = {
    "event_id": 'text COLLATE "C"',  # as usage_event's: the stage's ids are matched against it
    "ts": "timestamptz",
    "day": "date",
    "cache_hit": "boolean",
    "priced": "boolean",
}
TEXT_COLUMNS = {
    "event_id",
    "customer",
    "product",
    "feature",
    "provider",
    "model",
    "task_id",
    "prompt_hash",
    "service_tier",
    "source",
}


def _fold_statements(source: str, dialect: str) -> list[str]:
    """Roll the new events (`source` is a FROM clause ending in a WHERE condition) into every rollup, add the
    customers not seen before, and (last) count what the batch added: unpriced events and cost. The cost is summed in
    two parts, whole dollars and the nano-USD left over, each far from what SQLite's SUM can hold: summed whole, a
    batch of events of many customers and days (each within its bounds) could pass 2⁶³ − 1 nano-USD and fail the
    import as if one customer's day had."""
    cost = f"({COST_SUM})"
    whole = f"{cost} / {NANO}"  # both operands integers: integer division on both databases
    return [
        *fold_statements(source, dialect=dialect),
        f"INSERT INTO customer (id, name, aliases) SELECT DISTINCT customer, customer, '' FROM {source} "
        "ON CONFLICT (id) DO NOTHING",
        f"SELECT COALESCE({UNPRICED_EVENTS}, 0), COALESCE(SUM({whole}), 0), "
        f"COALESCE(SUM({cost} - {whole} * {NANO}), 0) FROM {source}",
    ]


_COLS = ", ".join(EVENT_COLUMNS)
# SQLite: insert straight into usage_event; new rows are exactly those with a rowid above the previous maximum
# (rowids only grow: events are never deleted), so the rollups read them back by rowid range. One B-tree write
# per event, no staging copy.
# A known id is skipped, unless its stored event has other values: then it is "updated" to itself (the stored row
# unchanged), so that the insert's own probe of the primary key tells it apart, with nothing read again. A temporary
# trigger of the writing connection notes those ids (SQLITE_REPEATS); the rows it updated are taken off the count
# the insert reports. (Reading the skipped rows back to compare them added 15 µs per known event: +35% to a
# re-import by rows.) PostgreSQL does the same in _PG_INSERT.
_SQLITE_DIFFERS = " OR ".join(f"usage_event.{c} IS NOT excluded.{c}" for c in INPUT_COLUMNS)
_SQLITE_UPSERT = f"ON CONFLICT (event_id) DO UPDATE SET event_id = excluded.event_id WHERE {_SQLITE_DIFFERS}"
_SQLITE_INSERT = f"INSERT INTO usage_event ({_COLS}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))}) {_SQLITE_UPSERT}"
_SQLITE_FOLD = _fold_statements("usage_event WHERE rowid > {last}", "sqlite")
# Temporary (this connection's alone, and gone with it); created in the import's transaction, so a rollback takes
# them away too. Nothing but the upsert above sets event_id, so the trigger never fires for anything else.
SQLITE_REPEATS = (
    "CREATE TEMP TABLE IF NOT EXISTS marginbot_repeats (event_id TEXT)",
    "CREATE TEMP TRIGGER IF NOT EXISTS marginbot_note_repeat AFTER UPDATE OF event_id ON main.usage_event "
    "BEGIN INSERT INTO marginbot_repeats VALUES (new.event_id); END",
)


def _sqlite_copy(constants: dict[str, Any]) -> str:
    """The INSERT copying a chunk's image (engine.ingest.sqlite_image) into usage_event in file order, each column
    left out of the image bound as a parameter. `WHERE true` tells SQLite's parser the ON CONFLICT clause is the
    upsert's, not a join's."""
    values = ", ".join("?" if c in constants else c for c in EVENT_COLUMNS)
    return (
        f"INSERT INTO usage_event ({_COLS}) SELECT {values} FROM {STAGE_TABLE} WHERE true ORDER BY rowid "
        + _SQLITE_UPSERT
    )


# PostgreSQL: COPY into a temporary stage, then one statement inserts what is new (one primary-key probe per event)
# and drops from the stage the ids already stored, so the folds read only the new events. A known id whose stored
# event has other values is "updated" to itself (its row unchanged) instead of skipped, so that the same probe tells
# it apart: RETURNING marks a new row by xmax = 0 (no transaction has updated or deleted it), and those updated
# come back as the ids to look into (EventWriter.suspects). Reading them in a second statement instead doubled the
# time of a re-import (200k known events: 5.4-6.1 s, 10.7-11.2 s that way).
_PG_DIFFERS = (
    f"({', '.join(f'usage_event.{c}' for c in INPUT_COLUMNS)}) IS DISTINCT FROM "
    f"({', '.join(f'EXCLUDED.{c}' for c in INPUT_COLUMNS)})"
)
_PG_INSERT = (
    f"WITH ins AS (INSERT INTO usage_event ({_COLS}) SELECT {_COLS} FROM stage_event "
    f"ON CONFLICT (event_id) DO UPDATE SET event_id = EXCLUDED.event_id WHERE {_PG_DIFFERS} "
    "RETURNING event_id, xmax = 0 AS new), "
    "known AS (DELETE FROM stage_event s "
    "WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.event_id = s.event_id AND ins.new) RETURNING 1) "
    "SELECT (SELECT COUNT(*) FROM ins WHERE new), (SELECT COUNT(*) FROM known), "
    "ARRAY(SELECT event_id FROM ins WHERE NOT new)"
)
_PG_FOLD = _fold_statements("stage_event WHERE 1 = 1", "postgresql")
# Usage writers on one PostgreSQL database take turns, each for its whole transaction: two imports of overlapping
# files would otherwise wait on each other's new primary keys in opposite orders (a deadlock); the second now waits,
# then finds the first one's events stored and skips them. (Transaction-scoped: released at commit or rollback.)
PG_WRITER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('marginbot.usage_event writer'))"
# The folds' GROUP BYs over a large batch stay in memory instead of spilling at the default 4 MB.
_PG_FOLD_MEMORY = "SET LOCAL work_mem = '64MB'"
# Rows rendered as CSV and sent at a time on PostgreSQL: the server parses a slice while the next one is rendered
# (a chunk rendered whole would keep it waiting), and the text of a whole chunk would cost memory for nothing.
_PG_SLICE = 5_000


def _server_filled() -> dict[str, Any]:
    """usage_event's columns the database fills itself when an INSERT or COPY leaves them out, with what it puts
    there: NULL where the column takes it, else its server default."""
    filled: dict[str, Any] = {}
    for column in UsageEvent.__table__.columns:  # type: ignore[attr-defined]
        if column.nullable:
            filled[column.name] = None
        elif column.server_default is not None:
            default = str(column.server_default.arg)
            filled[column.name] = int(default) if default.isdigit() else default
    return filled


SERVER_FILLED = _server_filled()


def _without_defaults(events: Any) -> Any:
    """The frame without the columns holding nothing but what the database would fill in (a tier unused, no
    provider-reported cost, no web searches…): on PostgreSQL, parsing COPY's text is most of what storing an event
    costs, and every field left out is one less to send and parse."""
    import polars as pl

    same = events.select(
        (pl.col(c).is_null() if v is None else (pl.col(c) == v).fill_null(False)).all().alias(c)
        for c, v in SERVER_FILLED.items()
    ).row(0)
    return events.drop(c for c, left_out in zip(SERVER_FILLED, same, strict=True) if left_out)


def _copy_new(cur: Any, events: Any) -> bool:
    """COPY a chunk's events (ids unique within it) straight into usage_event if none of them is stored: True
    then. The primary key finds a stored id as it inserts (asking first probed the index once more for every
    event, and parsed the ids again as an array): the savepoint undoes the part copied, and the caller stages
    the chunk instead. (No other usage writer runs meanwhile: the writers take turns.)"""
    from psycopg.errors import UniqueViolation

    cur.execute("SAVEPOINT new_events")
    try:
        _copy_csv(cur, "usage_event", _without_defaults(events))
    except UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT new_events")
        return False
    cur.execute("RELEASE SAVEPOINT new_events")
    return True


def _copy_csv(cur: Any, table: str, frame: Any) -> None:
    """COPY a polars frame into `table` (its columns by name) as CSV text, a slice at a time."""
    columns = ", ".join(frame.columns)
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, NULL '\\N')") as copy:
        for part in frame.iter_slices(_PG_SLICE):
            copy.write(part.write_csv(include_header=False, null_value="\\N"))


# Events kept as stored (`EventWriter.suspects` that were no repeat within the input) named by an import's or a
# sync's summary and its JSON.
KEPT_SHOWN = 3


def kept_note(count: int, named: list[str], *, came: str, whose: str) -> str:
    """The one line of an import's or a sync's summary on `count` events kept as stored: `came` says how their new
    values came, `named` names the first KEPT_SHOWN of them, `whose` whose values are not used."""
    more = f" and {count - len(named)} more" if count > len(named) else ""
    return (
        f"{count} {came}, which stay: {', '.join(named)}{more} "
        f"(marginbot never replaces a stored event, so {whose} values for them are not used)"
    )


def begin_writing(conn: Connection, timezone: str, price_fingerprint: str | None) -> None:
    """Begin an import's or a sync's transaction on `conn` and check it may write there with these prices
    (engine.store.meta.check_rollups; `price_fingerprint` None when it writes no usage).

    On SQLite the write lock is taken before the check reads anything (engine.store.db.hold_writes): a reprice
    cannot then record new prices between the check and the writes, which would leave these events at the old
    ones. The chunks' stage is attached first, which SQLite refuses inside a transaction."""
    if conn.dialect.name == "sqlite":
        attach_stage(conn.connection.driver_connection)
    hold_writes(conn)
    check_rollups(conn, timezone, price_fingerprint=price_fingerprint)


def create_stage(conn: Connection) -> None:
    """PostgreSQL's per-connection staging table (temporary: invisible to other sessions, gone at disconnect)."""
    cols = ", ".join(f"{c} {_PG_TYPES.get(c, 'text' if c in TEXT_COLUMNS else 'bigint')}" for c in EVENT_COLUMNS)
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS stage_event ({cols})")
    conn.exec_driver_sql("DELETE FROM stage_event")


@dataclass
class WriteStats:
    imported: int = 0
    duplicates: int = 0
    unpriced_events: int = 0
    unpriced_models: set[tuple[str, str]] = field(default_factory=set)
    # (provider, model, what has no price: "the model", "output tokens", "web searches", or one of
    # engine.pricing.book.UNIT_PARTS, what [unit_costs] has no price for), for the warning's words.
    unpriced_parts: set[tuple[str, str, str]] = field(default_factory=set)
    cost_nano: int = 0
    # (provider, model, tier): a flex, priority or batch tier nothing prices, priced at standard rates.
    standard_rated: set[tuple[str, str, str]] = field(default_factory=set)

    def tier_warning(self) -> str | None:
        """One line naming the tiers priced at standard rates for want of a price (None: there were none)."""
        return tier_warning(self.standard_rated)


def unpriced_names(models: Iterable[tuple[str, str]], parts: Iterable[tuple[str, str, str]]) -> list[str]:
    """Each unpriced model as a warning names it: "openai/gpt-x", or with what of it has no price when the model
    itself is priced ("anthropic/claude-3-haiku (web searches)"), so that a priced model is not read as unpriced.
    Counts the price file's [unit_costs] has no price for are named once, with the key that would price them
    ("rerank calls and compute seconds (no rerank_call, compute_second in [unit_costs])"), not under each model:
    no model's price would price them, and unit-cost-only usage has no model to name."""
    of: dict[tuple[str, str], set[str]] = {}
    units: set[str] = set()
    for provider, model, part in parts:
        if part in UNIT_KEYS:
            units.add(part)
            of.setdefault((provider, model), set())
        else:
            of.setdefault((provider, model), set()).add(part)
    names = []
    for provider, model in sorted(set(models)):
        missing = of.get((provider, model))
        if missing is not None and not missing:
            continue  # only its unit costs have no price: named below
        name = f"{provider or '?'}/{model or '?'}"
        names.append(name if not missing or "the model" in missing else f"{name} ({' and '.join(sorted(missing))})")
    if units:
        ordered = [part for part in UNIT_KEYS if part in units]
        keys = ", ".join(UNIT_KEYS[part] for part in ordered)
        said = ordered[0] if len(ordered) == 1 else f"{', '.join(ordered[:-1])} and {ordered[-1]}"
        names.append(f"{said} (no {keys} in [unit_costs])")
    return names


def tier_warning(standard_rated: set[tuple[str, str, str]]) -> str | None:
    if not standard_rated:
        return None
    which = ", ".join(sorted(f"{p or '?'}/{m or '?'} {t}" for p, m, t in standard_rated))
    return (
        f"priced at standard rates: {which} (the catalogue has no price for that tier then); add a [[tiers]] "
        "multiplier to the price file and run `marginbot reprice`"
    )


_new = tuple.__new__  # Usage(...) without its generated __new__'s frame (see engine.pricing.book._new)

# RowBuilder passes the parsed event's fields named like Usage's (after `epoch`) on as its Usage, and lays Costs out
# as the cost columns then `priced`: both rely on the names lining up.
if not set(Usage._fields[1:]) <= set(ParsedEvent._fields) or Costs._fields != (*COST_TYPES, "priced"):
    raise ImportError("ParsedEvent, Usage and Costs no longer line up with each other and CostType; fix them together")
# The parsed event's fields that are the Usage's (after `epoch`), picked by name, in Usage's order.
usage_fields = itemgetter(*(ParsedEvent._fields.index(name) for name in Usage._fields[1:]))


class RowBuilder:
    """Prices a parsed event and lays it out as a `usage_event` row. Touches no database, so a parsing
    worker process can run it while the importing process writes."""

    def __init__(self, *, prices: PriceBook, timezone: str, source: str, postgres: bool) -> None:
        self.prices = prices
        self.cutter = DayCutter(timezone)
        self.source = source[:100]
        self.postgres = postgres
        self.unpriced_models: set[tuple[str, str]] = set()
        self.unpriced_parts: set[tuple[str, str, str]] = set()  # WriteStats.unpriced_parts
        # (provider, model, tier) whose tier had no price of its own: priced at standard rates, and said so.
        self.standard_rated: set[tuple[str, str, str]] = set()

    def build(self, ev: ParsedEvent) -> tuple[Any, ...]:
        ts = ev.ts
        epoch = int(ts.timestamp())
        # Concatenation, not (epoch, *fields): one tuple built instead of a list and two tuples, on every row.
        usage = _new(Usage, (epoch,) + usage_fields(ev))  # noqa: RUF005
        costs = self.prices.price(usage)
        if costs.total > COST_MAX_NANO:  # each count is bounded, their price is not: keep the sums storable
            raise RowError(
                f"priced at ${usd(costs.total):,.2f}, more than one event can cost (${usd(COST_MAX_NANO):,.0f}): "
                "are its counts in the right unit?"
            )
        if not costs.priced:
            self.unpriced_models.add((ev.provider, ev.model))
            self.unpriced_parts.update((ev.provider, ev.model, part) for part in self.prices.missing(usage))
        if ev.service_tier != "standard" and not self.prices.tier_priced(ev.provider, ev.model, ev.service_tier, epoch):
            self.standard_rated.add((ev.provider, ev.model, ev.service_tier))
        ts_text = ts.isoformat(" ", "microseconds")
        if not self.postgres:
            # SQLite keeps SQLAlchemy's naive UTC text; the parsed ts is always UTC, so drop its "+00:00".
            ts_text = ts_text[:-6]
        return (ev.event_id, ts_text, self.cutter.day(epoch), *ev[2:], *costs, self.source)


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
        self.batch_size = batch_size
        self.stats = WriteStats()
        self._rows: list[tuple[Any, ...]] = []
        self._ids: dict[str, tuple[Any, ...]] = {}  # the queued rows by id
        # Ids skipped as known whose stored (or queued) event has other values: an importer of a file asks
        # engine.ingest.repeats whether the file itself gives them twice.
        self.suspects: set[str] = set()
        self._pg = conn.dialect.name == "postgresql"
        self.builder = RowBuilder(prices=prices, timezone=cutter.tz.key, source=source, postgres=self._pg)
        self.builder.cutter = cutter
        self.stats.unpriced_models = self.builder.unpriced_models
        self.stats.unpriced_parts = self.builder.unpriced_parts
        self.stats.standard_rated = self.builder.standard_rated
        self._locked = False
        self._noting = False  # SQLite: SQLITE_REPEATS made on this connection in this transaction
        self._pending = PendingRollups()
        # SQLite: the CREATE TRIGGER statements of weekly_customer_product's triggers while this import has them
        # dropped (`_weekly_off`), else None; and whether they turned out not to be the four expected (then the
        # triggers are left alone for the rest of the import, without asking sqlite_master again at every chunk).
        self._weekly_triggers: list[str] | None = None
        self._weekly_unknown = False
        if self._pg:
            create_stage(conn)

    def add(self, ev: ParsedEvent) -> None:
        """Queue one parsed event."""
        self.add_row(self.builder.build(ev))

    def add_row(self, row: tuple[Any, ...]) -> None:
        """Queue one row already built by a RowBuilder for this database."""
        event_id = row[0]
        queued = self._ids.get(event_id)
        if queued is not None:  # re-sent within one batch: the database check covers earlier batches
            self.stats.duplicates += 1
            if _inputs(queued) != _inputs(row):
                self.suspects.add(event_id)
            return
        self._ids[event_id] = row
        self._rows.append(row)
        if len(self._rows) >= self.batch_size:
            self.flush()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor of the driver's own connection, in the caller's transaction (COPY and executemany need it)."""
        raw = self.conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def flush(self) -> None:
        """Write the queued batch, skipping ids already stored, and fold the new events into the rollups (with the
        rollups of columnar chunks still pending: only on PostgreSQL, SQLite folds each chunk's as it stores it)."""
        self._flush_rows()
        if self._pending.waiting:
            with self._cursor() as cur:
                self._pending.fold_pg(cur, _copy_csv)
        if self._weekly_triggers is not None:
            with self._cursor() as cur:
                self._weekly_on(cur)

    def _flush_rows(self) -> None:
        if not self._rows:
            return
        with self._cursor() as cur:
            if self._pg:
                self._pg_begin(cur)
                with cur.copy(f"COPY stage_event ({_COLS}) FROM STDIN") as copy:
                    for row in self._rows:
                        copy.write_row(row)
                inserted = self._pg_insert(cur)
                fold = _PG_FOLD
            else:
                cur.execute("SELECT COALESCE(MAX(rowid), 0) FROM usage_event")
                last = int(cur.fetchone()[0])
                self._noted(cur)
                cur.executemany(_SQLITE_INSERT, self._rows)
                inserted = cur.rowcount - self._repeats(cur)
                fold = [sql.format(last=last) for sql in _SQLITE_FOLD]
            if inserted:
                self._fold(cur, fold)
            if self._pg:
                cur.execute("DELETE FROM stage_event")
        self.stats.imported += inserted
        self.stats.duplicates += len(self._rows) - inserted
        self._rows.clear()
        self._ids.clear()

    def _noted(self, cur: Any) -> None:
        """SQLite: make SQLITE_REPEATS note the ids of the writes to come."""
        if not self._noting:
            for sql in SQLITE_REPEATS:
                cur.execute(sql)
            cur.execute("DELETE FROM marginbot_repeats")  # a rolled back import's are gone; a committed one's read
            self._noting = True

    def _repeats(self, cur: Any) -> int:
        """SQLite: how many rows the last write "updated" to themselves (known ids with other values), noting them."""
        cur.execute("SELECT event_id FROM marginbot_repeats")
        found = [event_id for (event_id,) in cur.fetchall()]
        if found:
            self.suspects.update(found)
            cur.execute("DELETE FROM marginbot_repeats")
        return len(found)

    def _pg_begin(self, cur: Any) -> None:
        if not self._locked:
            cur.execute(PG_WRITER_LOCK)
            cur.execute(_PG_FOLD_MEMORY)
            self._locked = True

    def _pg_insert(self, cur: Any) -> int:
        cur.execute(_PG_INSERT)
        inserted, _known, differing = cur.fetchone()
        self.suspects.update(differing)
        return int(inserted)

    def add_frame(self, chunk: FrameChunk) -> None:
        """Write one columnar chunk (engine.ingest.columnar): its events in one go, skipping ids already stored, and
        its pre-aggregated rollups when every event was new (else the rollups are folded from the new rows)."""
        self._flush_rows()  # rows queued by the row path come first: file order decides which copy of an id is kept
        self.stats.duplicates += chunk.repeats
        self.suspects.update(chunk.suspects)
        events = chunk.events
        if not events.height:
            return
        with self._cursor() as cur:
            if self._pg:
                self._pg_begin(cur)
                if _copy_new(cur, events):  # every event new: their rollups join the pending ones
                    inserted = events.height
                    self._pending.add(chunk)
                    if self._pending.full:
                        self._pending.fold_pg(cur, _copy_csv)
                    self.stats.unpriced_events += chunk.unpriced_events
                    self.stats.cost_nano += chunk.cost_nano
                else:
                    _copy_csv(cur, "stage_event", events)
                    inserted = self._pg_insert(cur)
                    if inserted:
                        self._fold(cur, _PG_FOLD)
                    cur.execute("DELETE FROM stage_event")
            else:
                cur.execute("SELECT COALESCE(MAX(rowid), 0) FROM usage_event")
                last = int(cur.fetchone()[0])
                # Made on its own thread as a rule (engine.ingest.files._imaged); here only if it was not.
                image = chunk.image if chunk.image is not None else sqlite_image_of(chunk)
                tag = load_image(cur.connection, image.data)
                self._noted(cur)
                # The constants in EVENT_COLUMNS order, as the statement's parameters appear.
                cur.execute(
                    _sqlite_copy(image.constants) + tag,
                    [image.constants[c] for c in EVENT_COLUMNS if c in image.constants],
                )
                inserted = cur.rowcount - self._repeats(cur)
                if inserted == events.height:  # every event new: its rollups are the ones in its image
                    fold_sqlite(cur, tag, weekly=self._weekly_off(cur))
                    self.stats.unpriced_events += chunk.unpriced_events
                    self.stats.cost_nano += chunk.cost_nano
                elif inserted:  # some were stored before: fold only the new rows, found by their rowids
                    self._fold(cur, [sql.format(last=last) for sql in _SQLITE_FOLD])
        self.stats.imported += inserted
        self.stats.duplicates += events.height - inserted

    def _weekly_off(self, cur: Any) -> bool:
        """SQLite: drop weekly_customer_product's triggers on daily_customer_product until `_weekly_on` (or the
        rollback of the import's transaction) puts them back, and say whether they are off: the chunks' images then
        carry their weekly rows, a hundred or so upserted per chunk, instead of a trigger upsert for every daily row
        written (153k of them for the bench's 1.37M events: 0.3 s of the writer's 5.5 s). Dropped inside the
        import's transaction, which holds SQLite's one write lock: no other writer ever runs without them, and
        readers see them all along."""
        if self._weekly_triggers is None:
            if self._weekly_unknown or not cur.connection.in_transaction:  # DDL outside one would be committed at once
                return False
            cur.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'daily_customer_product' "
                "ORDER BY rowid"  # created again in the same order
            )
            found = [(name, sql) for name, sql in cur.fetchall() if name in WEEKLY_TRIGGERS]
            if sorted(name for name, _ in found) != sorted(WEEKLY_TRIGGERS):
                self._weekly_unknown = True  # not the schema this was written for: the triggers do their work
                return False
            for name, _ in found:
                cur.execute(f"DROP TRIGGER {name}")
            self._weekly_triggers = [sql for _, sql in found]
        return True

    def _weekly_on(self, cur: Any) -> None:
        """Create weekly_customer_product's triggers again as they were, before anything else writes
        daily_customer_product in this transaction, and before it commits."""
        for sql in self._weekly_triggers or ():
            cur.execute(sql)
        self._weekly_triggers = None

    def _fold(self, cur: Any, fold: list[str]) -> None:
        if self._weekly_triggers is not None:  # this fold leaves weekly_customer_product to them
            self._weekly_on(cur)
        for sql in fold[:-1]:
            cur.execute(sql)
        cur.execute(fold[-1])
        unpriced, dollars, nano = cur.fetchone()
        self.stats.unpriced_events += int(unpriced)
        self.stats.cost_nano += int(dollars) * NANO + int(nano)
