"""Re-price stored events after the price file (or the time zone) changed, and rebuild the rollups from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text

from engine.ingest.events import BIGINT_MAX, COST_MAX_NANO
from engine.ingest.rollups import rebuild_rollups
from engine.ingest.writer import unpriced_names
from engine.money import usd, usd_text
from engine.pricing.book import PriceBook, Usage
from engine.progress import Progress
from engine.store.db import hold_writes
from engine.store.meta import (
    INEXACT_ROLLUPS,
    PRICE_FINGERPRINT,
    ROLLUP_TZ,
    bump_generation,
    clear_meta,
    get_meta,
    set_meta,
)
from engine.store.models import COST_COLUMNS
from engine.store.sql import sum_too_large
from engine.timeutil import DayCutter, as_date

# What pricing an event reads (after `epoch`, Usage's fields are usage_event columns of the same names), then what
# it stored last time, so only events whose cost or day changed are counted and written.
_SELECT = (
    f"SELECT event_id, ts, {', '.join(Usage._fields[1:])}, {', '.join(COST_COLUMNS)}, priced, day FROM usage_event "
)
_USAGE = len(Usage._fields) - 1


class RepriceRefused(ValueError):
    """The prices would make the stored usage what no import lets in: an event priced past what one event can cost,
    or sums past what a rollup holds. Nothing is changed."""


@dataclass
class RepriceResult:
    events: int = 0
    changed: int = 0  # events whose cost (or priced flag) is not what was stored
    moved: int = 0  # events whose local day changed (a new MARGINBOT_TIMEZONE)
    unpriced_events: int = 0
    # What of the events still unpriced has no price, for the summary's words (engine.ingest.writer.unpriced_names).
    unpriced_models: set[tuple[str, str]] = field(default_factory=set)
    unpriced_parts: set[tuple[str, str, str]] = field(default_factory=set)
    cost_before_nano: int = 0
    cost_after_nano: int = 0
    # With --since: the moment re-pricing started from, and whether events before it are stored at costs the new
    # prices would change (then the new prices are not recorded as applied: reports keep saying prices changed).
    cut: datetime | None = None
    left_stale: bool = False

    def summary(self) -> str:
        # usd_text, not a rounded figure: a change under half a cent is "<$0.01", not "$0.00" (no change)
        delta = usd_text(usd(self.cost_after_nano - self.cost_before_nano))
        moved = f", {_n(self.moved, 'event')} moved to another day" if self.moved else ""
        stale = ""
        if self.left_stale and self.cut is not None:
            stale = (
                f"; events before {self.cut:%Y-%m-%d %H:%M} UTC keep costs these prices would change: run "
                "`marginbot reprice` without --since to re-price them too (until then reports say prices changed, "
                "and imports and syncs wait for it)"
            )
        return (
            f"re-priced {_n(self.events, 'event')}: {self.changed:,} with a new cost{moved}; "
            f"COGS moved by {delta}"
            + (
                f"; {_n(self.unpriced_events, 'event')} still unpriced ({self._unpriced()})"
                if self.unpriced_events
                else ""
            )
            + stale
        )

    def _unpriced(self) -> str:
        return ", ".join(unpriced_names(self.unpriced_models, self.unpriced_parts))


def _n(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"


def reprice(
    engine: Engine,
    *,
    prices: PriceBook,
    timezone: str,
    since: date | None = None,
    progress: Progress | None = None,
) -> RepriceResult:
    """Recompute every event's cost (and local day) from `since` on, then rebuild rollups, in one transaction.

    `progress` (engine.progress) is called with the events re-priced so far and the number to re-price. Only
    events whose cost or day changed are written, and counted as changed."""
    result = RepriceResult()
    cutter = DayCutter(timezone)
    tz_changed = False
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Claim the recorded fingerprint before reading any event: an import or sync in flight holds it (FOR
            # SHARE, engine.store.meta.check_rollups) until it commits, so its events are read here; one that starts
            # now waits, then reads the fingerprint this reprice records.
            conn.execute(text("SELECT value FROM meta WHERE key = :k FOR UPDATE"), {"k": PRICE_FINGERPRINT})
        else:
            hold_writes(conn)  # the same on SQLite: a writer in flight commits first, one that starts now waits
        stored_tz = get_meta(conn, ROLLUP_TZ)
        stored_prices = get_meta(conn, PRICE_FINGERPRINT)
        tz_changed = stored_tz is not None and stored_tz != timezone
        if tz_changed:
            since = None  # every day boundary moved
        where, params = "", {}
        if since is not None:
            result.cut = since_cut(since, timezone)
            where = "WHERE ts >= :since "
            params = {"since": result.cut}
        updates: list[dict[str, object]] = []
        # Streamed (a server-side cursor on PostgreSQL): memory stays flat however many events there are. The
        # partition size is explicit: SQLite ignores the statement's yield_per and would hand over one row at a time.
        rows = conn.execute(text(_SELECT + where + "ORDER BY event_id").execution_options(yield_per=5000), params)
        reader = rows.partitions(5000)
        # The COGS before and after, summed here event by event: a whole book's SUM in SQLite fails past 2⁶³ − 1
        # nano-USD (about $9.2 billion), which years of usage can pass where no day, week or task does.
        before = after = 0
        total = None
        if progress is not None:
            total = int(conn.execute(text(f"SELECT COUNT(*) FROM usage_event {where}"), params).scalar_one())
        # Closed however the loop ends: a refused reprice must not leave PostgreSQL's server-side cursor open.
        with rows:
            for chunk in reader:
                for event_id, ts, *row in chunk:
                    counts, stored, was_priced, was_day = row[:_USAGE], row[_USAGE:-2], row[-2], row[-1]
                    epoch = int(_aware(ts).timestamp())
                    usage = Usage(epoch, *counts)
                    costs = prices.price(usage)
                    if costs.total > COST_MAX_NANO:  # the import's bound (engine.ingest.writer), whatever the prices
                        raise _too_dear(event_id, costs.total)
                    day = cutter.day(epoch)
                    result.events += 1
                    if not costs.priced:
                        result.unpriced_events += 1
                        provider, model = usage.provider, usage.model
                        result.unpriced_models.add((provider, model))
                        result.unpriced_parts.update((provider, model, part) for part in prices.missing(usage))
                    was = tuple(int(v or 0) for v in stored)
                    before += sum(was)
                    after += costs.total
                    new_cost = tuple(costs[:-1]) != was or bool(was_priced) != costs.priced
                    new_day = as_date(was_day).isoformat() != day
                    result.changed += new_cost
                    result.moved += new_day
                    if new_cost or new_day:
                        updates.append(
                            {
                                "id": event_id,
                                "day": day,
                                "priced": costs.priced,
                                **dict(zip(COST_COLUMNS, costs[:-1], strict=True)),
                            }
                        )
                _apply(conn, updates)
                updates.clear()
                if progress is not None:
                    progress(result.events, total)
        _apply(conn, updates)
        result.cost_before_nano, result.cost_after_nano = before, after
        try:
            if conn.dialect.name == "postgresql":
                # A failed statement ends PostgreSQL's transaction; rolled back to here, the new costs can still be
                # read to say where the sums pass. SQLite undoes the failed statement alone.
                with conn.begin_nested():
                    rebuild_rollups(conn)
            else:
                rebuild_rollups(conn)
        except Exception as exc:
            if not sum_too_large(exc):
                raise
            raise RepriceRefused(
                f"at these prices the costs of {_past_a_bigint(conn)} add up past what the database holds (about "
                "$9.2 billion): is a price in the price file in the right unit? Nothing was re-priced."
            ) from None
        set_meta(conn, ROLLUP_TZ, timezone)
        clear_meta(conn, INEXACT_ROLLUPS)  # rebuilt exactly
        if result.cut is not None and stored_prices not in (None, prices.fingerprint):
            # The events before --since kept what they were priced at: the new prices are all stored usage's only
            # if none of those would change (read, priced and compared, never written; stops at the first).
            result.left_stale = _changes_before(conn, prices, result.cut)
        if not result.left_stale:
            set_meta(conn, PRICE_FINGERPRINT, prices.fingerprint)
        bump_generation(conn)
    return result


def since_cut(since: date, timezone: str) -> datetime:
    """Where `reprice --since DATE` starts: DATE's midnight in `timezone` or in UTC, whichever is earlier. The day is
    the user's (MARGINBOT_TIMEZONE), but prices are dated in UTC days: west of UTC a price in force from DATE already
    prices the hours of DATE before the local midnight, which a local cut alone would leave at the old price."""
    local = datetime.combine(since, time(0), ZoneInfo(timezone)).astimezone(UTC)
    return min(local, datetime.combine(since, time(0), UTC))


def _changes_before(conn: Connection, prices: PriceBook, cut: datetime) -> bool:
    """Whether `prices` would give any event before `cut` another cost (or priced flag) than the one stored."""
    rows = conn.execute(text(_SELECT + "WHERE ts < :cut").execution_options(yield_per=5000), {"cut": cut})
    with rows:
        for chunk in rows.partitions(5000):
            for _event_id, ts, *row in chunk:
                counts, stored, was_priced = row[:_USAGE], row[_USAGE:-2], row[-2]
                costs = prices.price(Usage(int(_aware(ts).timestamp()), *counts))
                if tuple(costs[:-1]) != tuple(int(v or 0) for v in stored) or bool(was_priced) != costs.priced:
                    return True
    return False


def _past_a_bigint(conn: Connection) -> str:
    """Whose day, week or task the re-priced events take past a BIGINT of nano-USD, said for the refusal: the first
    customer and product by day, then by week, then a task (a rollup the rebuild could not hold). Summed as floats:
    a sum that far past 2⁶³ needs no exact figure to be found, and an exact SUM is what failed."""
    cost = f"CAST({' + '.join(COST_COLUMNS)} AS DOUBLE PRECISION)"
    days = conn.execute(
        text(f"SELECT customer, product, day, SUM({cost}) FROM usage_event GROUP BY customer, product, day")
    ).all()
    weeks: dict[tuple[str, str, date], float] = {}
    for customer, product, day, total in sorted(days, key=lambda r: (as_date(r[2]), r[0], r[1])):
        if total > BIGINT_MAX:
            return f"customer {customer!r} and product {product!r} on {as_date(day).isoformat()}"
        monday = as_date(day) - timedelta(days=as_date(day).weekday())
        weeks[(customer, product, monday)] = weeks.get((customer, product, monday), 0.0) + total
    for (customer, product, monday), total in sorted(weeks.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        if total > BIGINT_MAX:
            return f"customer {customer!r} and product {product!r} in the week of {monday.isoformat()}"
    task = conn.execute(
        text(
            "SELECT customer, product, task_id FROM usage_event WHERE task_id IS NOT NULL "
            f"GROUP BY customer, product, task_id HAVING SUM({cost}) > :limit ORDER BY customer, product, task_id"
        ),
        {"limit": float(BIGINT_MAX)},
    ).first()
    if task is not None:
        return f"customer {task[0]!r} and product {task[1]!r} in task {task[2]!r}"
    return "one customer and product over a day, a week or a task"


def _too_dear(event_id: str, cost_nano: int) -> RepriceRefused:
    return RepriceRefused(
        f"event {event_id!r} would be priced at ${usd(cost_nano):,.2f}, more than one event can cost "
        f"(${usd(COST_MAX_NANO):,.0f}): is a price in the price file in the right unit? Nothing was re-priced."
    )


def _aware(ts: object) -> datetime:
    if isinstance(ts, datetime):
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    return datetime.fromisoformat(str(ts)).replace(tzinfo=UTC)


def _apply(conn: Connection, updates: list[dict[str, object]]) -> None:
    if not updates:
        return
    sets = ", ".join(f"{c} = :{c}" for c in (*COST_COLUMNS, "day", "priced"))
    conn.execute(text(f"UPDATE usage_event SET {sets} WHERE event_id = :id"), updates)
