"""Run the connectors: read a source window by window, write each window in one transaction with its cursor.

A window is fetched completely (every page) before anything is written, then its events go through
`parse_event` and `EventWriter`, its provider costs and revenue lines are upserted, and the source's cursor
moves, all in one transaction. So a failure anywhere in a window commits nothing of it, the windows before it
stay, and the next run resumes at the first window not written. Event ids are stable (source + bucket + keys,
or the vendor's request id), so re-reading an overlapping range adds nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import httpx
from sqlalchemy import Connection, Table, bindparam, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.ingest.customers import CustomerMap, mapped_lines
from engine.ingest.events import RowError, parse_event, shown
from engine.ingest.mapping import MappingError, SourceMap
from engine.ingest.sources import anthropic, langfuse, litellm, openai, stripe
from engine.ingest.sources.base import Batch, Connector, Context, Window, parse_rfc3339, stored_cost
from engine.ingest.sources.http import SourceError
from engine.ingest.writer import KEPT_SHOWN, EventWriter, begin_writing, kept_note, tier_warning, unpriced_names
from engine.money import CENT, round_to, usd, usd_text
from engine.progress import Progress
from engine.runtime import Runtime
from engine.store.bounds import SEATS_MAX
from engine.store.meta import StaleRollups, bump_generation
from engine.store.models import ImportRun, ProviderCost, RevenueActual, RevenueUnconverted
from engine.store.sql import PAST_A_BIGINT, sum_too_large
from engine.timeutil import DayCutter, as_date
from engine.vocab import Plan

log = logging.getLogger(__name__)

CONNECTORS: dict[str, Connector] = {
    c.name: c for c in (openai.CONNECTOR, anthropic.CONNECTOR, litellm.CONNECTOR, langfuse.CONNECTOR, stripe.CONNECTOR)
}
SOURCES = tuple(CONNECTORS)


@dataclass
class SyncResult:
    """What one source's sync did. `error` is set when it stopped; windows before the failure are kept."""

    source: str
    windows: int = 0
    windows_done: int = 0
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    unpriced_events: int = 0
    unpriced_models: set[tuple[str, str]] = field(default_factory=set)
    unpriced_parts: set[tuple[str, str, str]] = field(default_factory=set)  # writer.WriteStats.unpriced_parts
    cost_nano: int = 0
    standard_rated: set[tuple[str, str, str]] = field(default_factory=set)  # tiers priced at standard rates
    provider_costs: int = 0
    revenue_lines: int = 0
    removed_revenue_lines: int = 0
    seats: list[str] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)
    # (customer as the source wrote it, the id its name or alias maps to) → events
    mapped_customers: Counter[tuple[str, str]] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    # Records whose event id was stored already with other values (a source revising what it reported): the stored
    # event stays, as with a file (engine.ingest.files.ImportResult.kept_as_stored); the first few ids, sorted.
    kept_as_stored: int = 0
    kept_ids: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    error: str | None = None
    skipped: str | None = None  # not configured
    # A file's import (`marginbot import otlp`), in one transaction: no windows to count, and no next run resuming
    # where a failed one stopped.
    file: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.skipped:
            return f"{self.source}: not configured ({self.skipped})"
        span = ""
        if self.start and self.end:
            span = f" {self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M} UTC,"
        windows = "" if self.file else f" {self.windows_done}/{self.windows} window(s);"
        lines = [
            f"{self.source}:{span}{windows} {self.read} record(s) read, "
            f"{self.imported} event(s) imported, {self.duplicates} already known; "
            # The money text every figure uses: a cost under half a cent reads "<$0.01", not "$0.00" (as nothing).
            f"COGS {usd_text(usd(self.cost_nano))}"
        ]
        if self.provider_costs:
            lines.append(f"  {self.provider_costs} provider cost line(s) stored for `marginbot reconcile`")
        if self.revenue_lines or self.removed_revenue_lines:
            lines.append(
                f"  {self.revenue_lines} billed revenue line(s) stored, {self.removed_revenue_lines} removed (void)"
            )
        lines += [f"  {s}" for s in self.seats]
        if self.unmapped:
            lines.append(
                f"  {len(self.unmapped)} unmapped identit{'y' if len(self.unmapped) == 1 else 'ies'} "
                "imported under customer 'unmapped' (add them to the mapping file):"
            )
            lines += [f"    {who}: {n} record(s)" for who, n in self.unmapped.most_common(20)]
            if len(self.unmapped) > 20:
                lines.append(f"    … and {len(self.unmapped) - 20} more")
        lines += [f"  {line}" for line in mapped_lines(self.mapped_customers)]
        if self.unpriced_events:
            models = ", ".join(unpriced_names(self.unpriced_models, self.unpriced_parts))
            lines.append(
                f"  WARNING: {self.unpriced_events} event(s) have no price ({models}): "
                "add them to the price file and run `marginbot reprice`"
            )
        tiers = tier_warning(self.standard_rated)
        if tiers:
            lines.append(f"  WARNING: {tiers}")
        if self.kept_as_stored:
            lines.append(f"  WARNING: {self.kept_note()}")
        lines += [f"  note: {n}" for n in self.notes[:20]]
        if self.error and self.file:
            lines.append(f"  ERROR: {self.error} (nothing from this file was stored: fix it and import it again)")
        elif self.error:
            lines.append(f"  ERROR: {self.error} (nothing of the failed window was stored; the next run resumes there)")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "skipped": self.skipped,
            "error": self.error,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "windows": self.windows,
            "windows_done": self.windows_done,
            "records_read": self.read,
            "events_imported": self.imported,
            "events_already_known": self.duplicates,
            "cogs_usd": float(round_to(usd(self.cost_nano), CENT)),
            "unpriced_events": self.unpriced_events,
            "provider_cost_lines": self.provider_costs,
            "revenue_lines": self.revenue_lines,
            "revenue_lines_removed": self.removed_revenue_lines,
            "seats": self.seats,
            "unmapped": dict(self.unmapped),
            "mapped_customers": [
                {"customer": w, "id": t, "events": n} for (w, t), n in sorted(self.mapped_customers.items())
            ],
            "notes": self.notes,
            "kept_as_stored": self.kept_as_stored,
            "kept_as_stored_ids": self.kept_ids,
        }

    def kept_note(self) -> str:
        """The records the source gave with other values than their events were stored with, in one line."""
        return kept_note(
            self.kept_as_stored,
            [shown(i) for i in self.kept_ids],
            came="record(s) came with other values than their event was stored with",
            whose="the source's new",
        )


def _as_datetime(value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """A --since/--until value as UTC: a date means its midnight, and an --until date includes that day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    moment = datetime.combine(value, dtime(0), tzinfo=UTC)
    return moment + timedelta(days=1) if end else moment


def read_cursor(conn: Connection, source: str) -> dict[str, Any] | None:
    raw = conn.execute(text("SELECT cursor FROM sync_cursor WHERE source = :s"), {"s": source}).scalar_one_or_none()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def synced_until(conn: Connection, sources: Iterable[str]) -> dict[str, datetime | None]:
    """How far each of `sources` that reads usage has been synced (its cursor's `until`), None for one never synced
    (none of its usage is stored); a source of revenue (Stripe) is left out."""
    out: dict[str, datetime | None] = {}
    for source in sources:
        if not CONNECTORS[source].reads_usage:
            continue
        cursor = read_cursor(conn, source)
        if cursor is None:
            out[source] = None
            continue
        until = cursor.get("until")
        if isinstance(until, str):
            try:
                out[source] = parse_rfc3339(until, "sync cursor", source)
            except SourceError:
                continue  # a cursor it cannot read: the next sync says so, in its own words
    return out


def write_cursor(conn: Connection, source: str, cursor: Mapping[str, Any], now: datetime) -> None:
    conn.execute(
        text(
            "INSERT INTO sync_cursor (source, cursor, updated_at) VALUES (:s, :c, :t) "
            "ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at"
        ),
        {"s": source, "c": json.dumps(dict(cursor), sort_keys=True), "t": _ts_param(conn, now)},
    )


def _ts_param(conn: Connection, moment: datetime) -> Any:
    moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None) if conn.dialect.name == "sqlite" else moment


def load_mapping(runtime: Runtime) -> SourceMap:
    return SourceMap.load(runtime.settings.mapping_file)


def sync_source(
    runtime: Runtime,
    name: str,
    *,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    mapping: SourceMap | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync one source from its cursor (or `since`) to now (or `until`). Never raises for source problems:
    the result carries the error, and every window before it is committed.

    `progress` (engine.progress) is called with the windows written so far and the number of windows."""
    if name not in CONNECTORS:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    connector = CONNECTORS[name]
    settings = runtime.settings
    result = SyncResult(source=name)
    missing = connector.missing(settings)
    if missing:
        result.skipped = missing
        result.error = f"{name}: not configured: {missing}"
        return result
    moment = now or runtime.now()
    started = datetime.now(UTC)
    try:
        ctx = Context(settings=settings, mapping=mapping or load_mapping(runtime), now=moment)
    except MappingError as exc:
        result.error = str(exc)
        return result
    try:
        with runtime.connect() as conn:
            cursor = read_cursor(conn, name)
        windows = connector.windows(ctx, cursor, _as_datetime(since), _as_datetime(until, end=True))
        result.windows = len(windows)
        if windows:
            result.start, result.end = windows[0].start, windows[-1].end
        with connector.fetcher(settings, transport=transport, sleep=sleep) as fetcher:
            for window in windows:
                batch = connector.fetch(fetcher, window, ctx)
                next_cursor = connector.cursor_after(window, cursor, ctx)
                write_batch(runtime, name, batch, ctx, result, cursor=next_cursor, what=_described(window))
                cursor = next_cursor
                result.windows_done += 1
                if progress is not None:
                    progress(result.windows_done, result.windows)
    except SourceError as exc:
        result.error = str(exc)
        log.warning("sync %s stopped: %s", name, result.error)
    except StaleRollups as exc:
        result.error = f"{name}: {exc}"
    record_run(runtime, result, started)
    return result


def write_batch(
    runtime: Runtime,
    source: str,
    batch: Batch,
    ctx: Context,
    result: SyncResult,
    *,
    cursor: Mapping[str, Any] | None = None,
    what: str,
) -> None:
    """Write one fetched window (and move the source's cursor) in one transaction; count it in `result`. `what`
    says which records these are ("from … to … UTC", "of FILE"), for a refusal."""
    settings = runtime.settings
    prices = runtime.prices  # once: the runtime reloads a changed price file, and the check must be of these prices
    with runtime.engine.connect() as conn:
        try:
            # Only usage is priced: a batch of revenue alone (Stripe) is not held for a reprice it does not need.
            begin_writing(conn, settings.timezone, prices.fingerprint if batch.events else None)
            writer = EventWriter(conn, prices=prices, cutter=DayCutter(settings.timezone), source=f"sync:{source}")
            customers = CustomerMap.load(conn)  # a customer named by its name or an alias is written under its id
            mapped: Counter[tuple[str, str]] = Counter()
            for raw in batch.events:
                try:
                    event = parse_event(raw)
                    target = customers.lookup(event.customer)
                    if target is not None:
                        mapped[(event.customer, target)] += 1
                        event = event._replace(customer=target)
                    writer.add(event)
                except RowError as exc:
                    raise SourceError(source, f"record {raw.get('event_id')}: {exc}") from None
            writer.flush()
            # What a provider billed can be revised: the latest figure replaces the earlier one (no rollup).
            costs = [{**r, "amount_usd": stored_cost(r["amount_usd"])} for r in batch.provider_costs.values()]
            if batch.cost_days is not None:
                # The days read whole are replaced whole: a line the vendor no longer lists for them goes too.
                conn.execute(
                    text("DELETE FROM provider_cost WHERE source = :s AND day >= :a AND day < :b"),
                    {"s": source, "a": batch.cost_days[0], "b": batch.cost_days[1]},
                )
            _upsert(conn, ProviderCost.__table__, costs)  # type: ignore[attr-defined]
            removed = _write_revenue(conn, batch)
            seat_notes = _apply_seats(conn, batch.seats, runtime.today(ctx.now))
            if cursor is not None:
                write_cursor(conn, source, cursor, ctx.now)
            bump_generation(conn)
            conn.commit()
        except BaseException as exc:
            conn.rollback()
            # The driver's own error, unwrapped: said as the source's, of these records, not as the database failing.
            if isinstance(exc, Exception) and sum_too_large(exc):
                raise SourceError(
                    source,
                    f"the records {what} add the costs or counts of one customer and product over a day, a week or "
                    f"a task up {PAST_A_BIGINT}: are the source's costs and counts in the right unit? None of these "
                    "records was written.",
                ) from None
            raise
    stats = writer.stats
    result.read += batch.read
    result.imported += stats.imported
    result.duplicates += stats.duplicates
    result.unpriced_events += stats.unpriced_events
    result.unpriced_models |= stats.unpriced_models
    result.unpriced_parts |= stats.unpriced_parts
    result.cost_nano += stats.cost_nano
    result.standard_rated |= stats.standard_rated
    result.provider_costs += len(batch.provider_costs)
    result.revenue_lines += len(batch.revenue)
    result.removed_revenue_lines += removed
    result.seats += seat_notes
    result.unmapped.update(batch.unmapped)
    result.mapped_customers.update(mapped)
    result.notes += batch.notes
    if writer.suspects:
        result.kept_as_stored += len(writer.suspects)
        result.kept_ids = sorted([*result.kept_ids, *writer.suspects])[:KEPT_SHOWN]


def _described(window: Window) -> str:
    return f"from {window.start.astimezone(UTC):%Y-%m-%d %H:%M} to {window.end.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows, replacing the stored row with the same primary key (typed binds: Decimal, date)."""
    if not rows:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(rows)
    keys = {c.name for c in table.primary_key.columns}
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=sorted(keys),
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
        )
    )


def _write_revenue(conn: Connection, batch: Batch) -> int:
    removed = 0
    for invoice_id in sorted(batch.void_invoices):
        removed += conn.execute(
            text("DELETE FROM revenue_actual WHERE source = 'stripe' AND invoice_id = :i"), {"i": invoice_id}
        ).rowcount
    # Lines left out for their currency: those of an invoice read again replace what was stored for it, and a void
    # one's go with it.
    unconverted = [dict(r) for r in batch.unconverted.values()]
    for invoice_id in sorted(batch.void_invoices | {r["invoice_id"] for r in unconverted}):
        conn.execute(
            text("DELETE FROM revenue_unconverted WHERE source = 'stripe' AND invoice_id = :i"), {"i": invoice_id}
        )
    if unconverted:
        _upsert(conn, RevenueUnconverted.__table__, unconverted)  # type: ignore[attr-defined]
    rows = [dict(r) for r in batch.revenue.values()]
    if not rows:
        return removed
    _drop_replaced_lines(conn, rows)
    _upsert(conn, RevenueActual.__table__, rows)  # type: ignore[attr-defined]
    # A customer billed but without usage yet must still be a customer marginbot can answer about.
    conn.execute(
        text("INSERT INTO customer (id, name, aliases) VALUES (:c, :c, '') ON CONFLICT (id) DO NOTHING"),
        [{"c": c} for c in sorted({r["customer"] for r in rows})],
    )
    return removed


def _drop_replaced_lines(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Delete the stored lines of the invoices read again that are stored under another id than they were read with
    now: the lines of an invoice read again replace what was stored for it, whole. An earlier sync stored a line with
    a legacy id (`sub_X`, not unique across invoices: see engine.ingest.sources.stripe._line_key) under that id alone;
    read again it is keyed anew, and the old row left beside it would count the invoice's $1,000 twice. (A line
    with the same id is replaced by the upsert, as always: nothing is deleted for the common `il_` ids.)"""
    read: dict[str, set[str]] = {}
    for row in rows:
        read.setdefault(row["invoice_id"], set()).add(row["id"])
    invoices = sorted(read)
    stale: list[str] = []
    for chunk in range(0, len(invoices), 500):  # bound the bind parameters of one statement
        stored = conn.execute(
            text("SELECT id, invoice_id FROM revenue_actual WHERE source = 'stripe' AND invoice_id IN :i").bindparams(
                bindparam("i", expanding=True)
            ),
            {"i": invoices[chunk : chunk + 500]},
        ).all()
        stale += [line_id for line_id, invoice_id in stored if line_id not in read[invoice_id]]
    for chunk in range(0, len(stale), 500):
        conn.execute(
            text("DELETE FROM revenue_actual WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": stale[chunk : chunk + 500]},
        )


# The plans whose seat count a subscription sets, as an SQL list.
_SEAT_PLANS = ", ".join(f"'{plan}'" for plan in Plan if plan.has_seats)


# A contract's columns but its id, start and seats: what the contract carrying Stripe's new seat count copies.
_KEPT_TERMS = (
    'customer, product, plan, "end", seat_price_usd, platform_fee_usd, included_units, unit, unit_price_usd, owner, '
    "breach_pct, healthy_pct"
)


def _apply_seats(conn: Connection, seats: list[dict[str, Any]], today: date) -> list[str]:
    """Set the seats of each mapped customer's seat contract in force today from its Stripe subscription, from today
    on (a hybrid plan's from the first of the month): a contract that started before is ended the day before and
    continued with the new count, so the days before keep the seats they were billed for (a September already
    reported, and its board pack, stay as they were). One that started since takes the new count itself.

    Each entry is a customer's seats of one product in Stripe (engine.ingest.sources.stripe adds them up across its
    subscriptions). Seats of two products that would both set one contract (a contract for every product) are not
    applied: either count alone would be wrong, and applied in turn they flipped it at every sync."""
    notes: list[str] = []
    found: dict[Any, list[tuple[dict[str, Any], Any]]] = {}  # contract id → the entries for it, with its row
    for entry in seats:
        if not entry["mapped"]:
            notes.append(f"{entry['trace']}: {entry['seats']} seat(s) on {entry['subscription']}, customer unmapped")
            continue
        sql = (
            f"SELECT id, product, seats, start, plan FROM contract WHERE customer = :c AND plan IN ({_SEAT_PLANS}) "
            'AND start <= :d AND ("end" IS NULL OR "end" >= :d)'
        )
        params: dict[str, Any] = {"c": entry["customer"], "d": today}
        if entry["product"]:
            sql += " AND (product = :p OR product = '')"
            params["p"] = entry["product"]
        contracts = conn.execute(text(sql), params).all()
        who = entry["customer"] + (f"/{entry['product']}" if entry["product"] else "")
        if len(contracts) != 1:
            why = "no seat contract in force" if not contracts else f"{len(contracts)} seat contracts in force"
            notes.append(f"{who}: {entry['seats']} seat(s) in Stripe, not applied ({why})")
            continue
        found.setdefault(contracts[0][0], []).append((entry, contracts[0]))
    for entries in found.values():
        if len(entries) > 1:
            told = [
                f"{e['seats']}{' seat(s)' if i == 0 else ''} of {e['product'] or 'products not in [stripe.products]'}"
                f" (Stripe {e['subscription']})"
                for i, (e, _) in enumerate(entries)
            ]
            notes.append(
                f"{entries[0][0]['customer']}: {', '.join(told[:-1])} and {told[-1]}, not applied: its one seat "
                "contract in force is for them all (set its seats yourself)"
            )
            continue
        [(entry, (contract_id, _, current, started, plan))] = entries
        who = entry["customer"] + (f"/{entry['product']}" if entry["product"] else "")
        if entry["seats"] > SEATS_MAX:  # the contract column's bound, as a contract import checks it
            notes.append(f"{who}: {entry['seats']} seat(s) in Stripe, not applied (more than {SEATS_MAX:,})")
            continue
        if current != entry["seats"]:
            # A hybrid plan's allowance is monthly, and each contract meters only its own days: cut mid-month, each
            # part would have its days' share of the allowance for its days' units. Its new count starts with the
            # month (the month to date is restated; the months before keep theirs).
            since = today.replace(day=1) if plan == Plan.HYBRID else today
            change = {"n": entry["seats"], "i": contract_id, "d": since}
            if as_date(started) < since:
                conn.execute(
                    text(
                        f"INSERT INTO contract (start, seats, {_KEPT_TERMS}) "
                        f"SELECT :d, :n, {_KEPT_TERMS} FROM contract WHERE id = :i"
                    ),
                    change,
                )
                conn.execute(
                    text('UPDATE contract SET "end" = :y WHERE id = :i'), {**change, "y": since - timedelta(days=1)}
                )
            else:
                conn.execute(text("UPDATE contract SET seats = :n WHERE id = :i"), change)
            notes.append(f"{who}: seats {current} → {entry['seats']} from {since} (Stripe {entry['subscription']})")
    return notes


def sync_all(
    runtime: Runtime,
    *,
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SyncResult]:
    """Sync every configured source in turn; one failing source does not stop the others."""
    results: list[SyncResult] = []
    try:
        mapping = load_mapping(runtime)
    except MappingError as exc:
        return [SyncResult(source="mapping", error=str(exc))]
    for name, connector in CONNECTORS.items():
        if connector.missing(runtime.settings):
            continue
        results.append(sync_source(runtime, name, now=now, transport=transport, sleep=sleep, mapping=mapping))
    return results


def configured_sources(runtime: Runtime) -> list[str]:
    return [name for name, c in CONNECTORS.items() if not c.missing(runtime.settings)]


def record_run(runtime: Runtime, result: SyncResult, started: datetime) -> None:
    from sqlmodel import Session

    with Session(runtime.engine) as session:
        session.add(
            ImportRun(
                source=f"sync:{result.source}",
                name=(
                    f"{result.start:%Y-%m-%dT%H:%M}/{result.end:%Y-%m-%dT%H:%M}" if result.start and result.end else ""
                ),
                started_at=started,
                finished_at=datetime.now(UTC),
                rows_read=result.read,
                rows_imported=result.imported,
                rows_duplicate=result.duplicates,
                rows_rejected=0,
                status="ok" if result.ok else "failed",
            )
        )
        session.commit()


__all__ = ["CONNECTORS", "SOURCES", "SyncResult", "configured_sources", "sync_all", "sync_source"]
