"""weekly_customer_product is daily_customer_product summed by ISO week, kept by the database's triggers: after an
import, a second import folding into the same days, and a reprice (which deletes and rebuilds every daily row), each
week holds exactly its days' sums, and a week whose days are gone has no row. (A columnar import on SQLite folds the
weekly rows itself, the triggers dropped for its transaction: they are back after it, whatever happened.)"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

import engine.ingest.columnar as columnar
from engine.ingest.files import ImportRefused, import_usage_file
from engine.ingest.reprice import reprice
from engine.runtime import Runtime
from engine.store.sql import COST_SUM
from engine.timeutil import as_date

HEADER = "event_id,ts,customer,product,feature,provider,model,input_tokens,output_tokens,cost_usd,requests\n"


def usage(prefix: str, days: range, cost: str) -> str:
    start = date(2026, 9, 1)
    return "".join(
        f"{prefix}{d}-{c}-{p},{start + timedelta(days=d)}T12:00:00Z,{c},{p},chat,openai,gpt-4o,{100 + d},{d},{cost},2\n"
        for d in days
        for c, p in (("acme", "agent"), ("acme", "search"), ("globex", "agent"))
    )


def by_week(conn: Connection) -> dict[tuple[date, str, str], tuple[int, ...]]:
    """The daily rows summed by week here, in Python: what the weekly rows must hold."""
    out: dict[tuple[date, str, str], list[int]] = {}
    rows = conn.execute(
        text(
            f"SELECT day, customer, product, events, unpriced_events, requests, input_tokens + output_tokens, "
            f"{COST_SUM} FROM daily_customer_product"
        )
    )
    for day, customer, product, *measures in rows:
        monday = as_date(day) - timedelta(days=as_date(day).weekday())
        acc = out.setdefault((monday, customer, product), [0] * 5)
        for i, v in enumerate(measures):
            acc[i] += int(v)
    return {k: tuple(v) for k, v in out.items()}


def weekly(conn: Connection) -> dict[tuple[date, str, str], tuple[int, ...]]:
    rows = conn.execute(
        text(
            "SELECT week, customer, product, events, unpriced_events, requests, tokens, cost_nano FROM weekly_customer_product"
        )
    )
    return {(as_date(w), c, p): tuple(int(v) for v in m) for w, c, p, *m in rows}


def test_the_weekly_sums_follow_every_write_of_the_daily_rows(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text(HEADER + usage("a", range(0, 40), "0.10"))
    (tmp_path / "two.csv").write_text(HEADER + usage("b", range(20, 50), "0.25"))  # folds into days already there
    import_usage_file(runtime.engine, tmp_path / "one.csv", prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        expected = by_week(conn)
        assert weekly(conn) == expected and len(expected) == 3 * 6  # Sep 1 (a Tuesday) to Oct 10: six weeks
    import_usage_file(runtime.engine, tmp_path / "two.csv", prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        assert weekly(conn) == by_week(conn)
    # In another time zone every day boundary moves: the reprice deletes every daily row and folds them anew.
    reprice(runtime.engine, prices=runtime.prices, timezone="Pacific/Kiritimati")
    with runtime.engine.connect() as conn:  # (the runtime's own time zone is still UTC: it would refuse to read)
        assert weekly(conn) == by_week(conn)
        # Nothing left behind by the deleted rows: every week's row has days.
        assert conn.execute(text("SELECT COUNT(*) FROM weekly_customer_product WHERE events = 0")).scalar_one() == 0


def triggers(conn: Connection) -> list[tuple[str, str]]:
    """SQLite: the triggers on daily_customer_product, in the order they were created, with their text."""
    if conn.dialect.name != "sqlite":
        return []
    rows = conn.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'daily_customer_product' ORDER BY rowid"
        )
    )
    return [(name, sql) for name, sql in rows]


def test_an_import_in_chunks_keeps_the_weekly_sums_and_the_triggers(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a columnar import folds the weekly rows from each chunk's image with the triggers dropped for its
    transaction: whatever happens after (a chunk with events stored before, which folds through the triggers; a
    refused file; a dry run), the weekly sums match the daily rows and the triggers are back, as they were."""
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 4 * 1024)  # many chunks per file
    plain = "event_id,ts,customer,product,feature,provider,model,input_tokens,output_tokens,requests\n"

    def rows(prefix: str, days: range) -> str:
        start = date(2026, 9, 1)
        return "".join(
            f"{prefix}{d}-{c}-{p},{start + timedelta(days=d)}T12:00:00Z,{c},{p},chat,openai,gpt-4o,{100 + d},{d},2\n"
            for d in days
            for c, p in (("acme", "agent"), ("acme", "search"), ("globex", "agent"))
        )

    with runtime.connect() as conn:
        before = triggers(conn)
    assert runtime.engine.dialect.name != "sqlite" or len(before) == 4
    (tmp_path / "one.csv").write_text(plain + rows("a", range(0, 40)))
    # New events first (folded from their images), then chunks of events already stored, then new ones again.
    (tmp_path / "two.csv").write_text(
        plain + rows("b", range(30, 60)) + rows("a", range(10, 40)) + rows("c", range(0, 70))
    )
    (tmp_path / "bad.csv").write_text(
        plain + rows("d", range(0, 60)) + "d-bad,not a time,acme,agent,chat,openai,gpt-4o,1,1,1\n"
    )
    first = import_usage_file(runtime.engine, tmp_path / "one.csv", prices=runtime.prices, timezone="UTC")
    assert first.imported == 120
    with runtime.connect() as conn:
        assert weekly(conn) == by_week(conn) and triggers(conn) == before
    second = import_usage_file(runtime.engine, tmp_path / "two.csv", prices=runtime.prices, timezone="UTC")
    assert (second.imported, second.duplicates) == (300, 90)
    with runtime.connect() as conn:
        assert weekly(conn) == by_week(conn) and triggers(conn) == before
        stored = weekly(conn)
    with pytest.raises(ImportRefused):
        import_usage_file(runtime.engine, tmp_path / "bad.csv", prices=runtime.prices, timezone="UTC")
    dry = import_usage_file(
        runtime.engine, tmp_path / "bad.csv", prices=runtime.prices, timezone="UTC", skip_invalid=True, dry_run=True
    )
    assert dry.imported == 180
    with runtime.connect() as conn:
        assert weekly(conn) == stored and triggers(conn) == before
    # And the triggers still do their work for every other writer: a reprice rebuilds every daily row.
    reprice(runtime.engine, prices=runtime.prices, timezone="Pacific/Kiritimati")
    with runtime.engine.connect() as conn:
        assert weekly(conn) == by_week(conn) and weekly(conn) != stored
