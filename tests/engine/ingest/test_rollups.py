"""The rollups are a cache of the stored events: folded in batch by batch on import, or rebuilt from every event at
once by `reprice`, they hold the same rows."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import event, text

import engine.ingest.columnar as columnar
from engine.ingest.columnar import EVENT_SCHEMA, FrameChunk, aggregate
from engine.ingest.files import import_usage_file
from engine.ingest.reprice import reprice
from engine.ingest.rollups import PendingRollups, weekly_of
from engine.runtime import Runtime
from engine.store.models import COST_COLUMNS

HEADER = (
    "event_id,ts,customer,product,feature,provider,model,input_tokens,cached_input_tokens,output_tokens,"
    "retrieval_queries,cost_usd,task_id,cache_hit\n"
)


def snapshot(rt: Runtime) -> dict[str, list[tuple[object, ...]]]:
    with rt.connect() as conn:
        return {
            table: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}")))
            for table in ("daily_rollup", "daily_customer_product", "task_rollup")
        }


def test_rollups_folded_in_small_batches_equal_the_rollups_rebuilt_from_every_event(
    runtime: Runtime, tmp_path: Path
) -> None:
    rows = [
        # Tasks that span batches and days (the task is dated by its first event), unpriced and source-costed events,
        # cache hits, retrieval: every measure has something to add up.
        f"e{i},2026-10-{1 + i % 9:02d}T{i % 24:02d}:00:00Z,c{i % 4},p{i % 2},f{i % 3},"
        + ("self-hosted,mystery-7b" if i % 17 == 0 else "openai,gpt-4o-mini")
        + f",{100 + i},{i % 50},{i % 30},{i % 3},{'0.0042' if i % 11 == 0 else ''},"
        + (f"t{(i // 5) % 7}" if i % 2 else "")
        + f",{'true' if i % 13 == 0 else ''}\n"
        for i in range(300)
    ]
    path = tmp_path / "u.csv"
    path.write_text(HEADER + "".join(rows))
    imported = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", batch_size=7)
    assert (imported.imported, imported.unpriced_events) == (300, 16)
    folded = snapshot(runtime)

    result = reprice(runtime.engine, prices=runtime.prices, timezone="UTC")

    assert (result.events, result.changed) == (300, 0)
    rebuilt = snapshot(runtime)
    assert rebuilt == folded
    assert [len(rebuilt[t]) for t in rebuilt] == [len(folded[t]) for t in folded] and all(rebuilt.values())


def test_a_days_week_is_the_monday_the_sqlite_triggers_give_it() -> None:
    """weekly_of (the weekly rows a columnar import folds itself on SQLite) dates each day as the triggers of
    migration 0005 do, date(day, '-6 days', 'weekday 1'), over years of days (leap days, year ends, every weekday)."""
    days = [(date(2023, 12, 1) + timedelta(days=n)).isoformat() for n in range(1200)]
    zero = {c: [0] * len(days) for c in ("events", "unpriced_events", "requests", "input_tokens", "output_tokens")}
    costs = {c: [0] * len(days) for c in COST_COLUMNS}
    frame = pl.DataFrame({"day": days, "customer": days, "product": ["p"] * len(days), **zero, **costs})
    weeks = dict(zip(weekly_of(frame)["customer"], weekly_of(frame)["week"], strict=True))
    with sqlite3.connect(":memory:") as db:
        expected = {d: db.execute("SELECT date(?, '-6 days', 'weekday 1')", (d,)).fetchone()[0] for d in days}
    assert weeks == expected


def chunk_of(n: int, cost: int) -> FrameChunk:
    """A columnar chunk of `n` events of one key, each costing `cost` nano-USD, its rollups aggregated."""
    row: dict[str, object] = {
        c: 0 if t == pl.Int64 else False if t == pl.Boolean else "x" for c, t in EVENT_SCHEMA.items()
    }
    row |= {"day": "2026-01-01", "task_id": "t", "priced": True, "cost_compute": cost}
    return aggregate(pl.DataFrame([row] * n, schema=EVENT_SCHEMA), 0)


def test_pending_rollups_summed_over_chunks_are_exact_up_to_a_bigint_and_refused_past_it() -> None:
    """PostgreSQL's pending rollups add chunks' sums that each fit a BIGINT: the total is exact up to one, and
    refused past it as the chunks' own sums are, never wrapped round into a negative sum."""
    pending = PendingRollups()
    for n, cost in ((922, 10**16), (3, 12_345)):
        pending.add(chunk_of(n, cost))
    pending._combine()
    total = 922 * 10**16 + 3 * 12_345
    frames = {table: frame for table, _, _, frame in pending._tables()}
    assert frames["daily_rollup"]["cost_compute"].to_list() == [total]
    assert frames["daily_customer_product"]["events"].to_list() == [925]
    assert frames["task_rollup"]["cost_nano"].to_list() == [total]

    over = PendingRollups()
    over.add(chunk_of(922, 10**16))
    over.add(chunk_of(922, 10**16))  # 1.844 × 10¹⁹: past 2⁶³ − 1
    with pytest.raises(OverflowError, match="larger than a BIGINT"):
        over._combine()


def test_an_import_over_other_weekly_triggers_asks_for_them_once(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With weekly_customer_product's triggers not the four expected (one dropped here), a columnar SQLite import
    leaves them to do their work, having looked them up once, not once per chunk."""
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("weekly_customer_product's triggers are SQLite's")
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 4 * 1024)  # many chunks
    with runtime.connect() as conn:
        conn.execute(text("DROP TRIGGER weekly_customer_product_rekey"))
        conn.commit()
    runtime.engine.dispose()
    statements: list[str] = []
    event.listen(runtime.engine, "connect", lambda dbapi, _: dbapi.set_trace_callback(statements.append))
    path = tmp_path / "u.csv"
    path.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"
        + "".join(f"e{i},2026-10-{1 + i % 20:02d}T12:00:00Z,c{i % 3},p,openai,gpt-4o,{i},1\n" for i in range(1_000))
    )

    result = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")

    assert result.imported == 1_000
    assert sum("FROM marginbot_stage.event" in s for s in statements) > 5  # chunks copied from their images
    assert sum("FROM sqlite_master WHERE type = 'trigger'" in s for s in statements) == 1
    with runtime.connect() as conn:
        weekly = conn.execute(text("SELECT SUM(events) FROM weekly_customer_product")).scalar_one()
    assert weekly == 1_000  # the insert trigger still added every daily row's week
