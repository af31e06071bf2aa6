"""The columnar path (engine.ingest.columnar): the same costs as PriceBook.price to the nano-dollar, the same stored
rows and rollups as the row-by-row path, rows it is unsure of handed to parse_event, overlapping imports on
PostgreSQL that both finish, and a row-path parsing worker that dies with its importer."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import engine.ingest.columnar as columnar
import engine.ingest.rollups as rollups
from engine.ingest.columnar import ColumnarChunks, PlainFile, plain_body, plain_header
from engine.ingest.events import COLUMNS, RowError, parse_event
from engine.ingest.files import ImportRefused, import_usage_file
from engine.ingest.rollups import SUM_TOO_LARGE, rebuild_rollups
from engine.ingest.writer import EVENT_COLUMNS, SERVER_FILLED, TEXT_COLUMNS, RowBuilder
from engine.pricing.book import PriceBook, Usage
from engine.runtime import Runtime
from engine.store.models import COST_COLUMNS

# Dated overrides (a price change on 2026-03-01), a 1-hour cache-write price, a web-search price, tier multipliers,
# a discount and unit costs, over catalogue models with long-context tiers (Anthropic, Gemini) and a time-of-day
# one (DeepSeek).
PRICES = {
    "models": [
        {
            "provider": "self-hosted",
            "model": "distill-8b",
            "effective_from": "2026-01-01",
            "input_per_mtok": "0.10",
            "cached_input_per_mtok": "0.02",
            "cache_write_per_mtok": "0.125",
            "cache_write_1h_per_mtok": "0.2",
            "output_per_mtok": "0.40",
            "web_search_per_k": "7",
            "request_usd": "0.0001",
        },
        {
            "provider": "self-hosted",
            "model": "distill-8b",
            "effective_from": "2026-03-01",
            "input_per_mtok": "0.133333",
            "output_per_mtok": "0.777777",
        },
    ],
    "discounts": [{"provider": "openai", "percent": "12.5", "effective_from": "2026-02-15"}],
    "tiers": [{"provider": "self-hosted", "tier": "batch", "multiplier": "0.5", "effective_from": "2026-01-01"}],
    "unit_costs": {"retrieval_query": "0.0002", "rerank_call": "0.001", "compute_second": "0.0005"},
}
MODELS = [
    ("self-hosted", "distill-8b"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-6"),
    ("google", "gemini-2.5-pro"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-5"),
    ("deepseek", "deepseek-chat"),  # time-of-day prices: priced one by one, on the row path
    ("self-hosted", "nobody-priced-me"),
    ("", ""),
    ("azure", "davinci"),  # an input price and no output price: output tokens leave the event unpriced
]
TIERS = ["", "standard", "default", "batch", "flex", "priority"]
START = datetime(2026, 1, 20, tzinfo=UTC)


_BOOK: list[PriceBook] = []


def plain_csv(path: Path, delimiter: str) -> PlainFile | None:
    """The importer's verdict on a whole file: its header and where its rows start when both are plain."""
    plain = plain_header(path, delimiter)
    return plain if plain is not None and plain_body(path, plain, delimiter) else None


def book() -> PriceBook:
    """One price book for every example (its catalogue is loaded once; its cache only ever holds what it resolved)."""
    if not _BOOK:
        _BOOK.append(PriceBook.from_mapping(PRICES))
    return _BOOK[0]


@st.composite
def usage_row(draw: st.DrawFn) -> dict[str, str]:
    provider, model = draw(st.sampled_from(MODELS))
    inp = draw(st.one_of(st.integers(0, 400_000), st.integers(0, 10**14 - 1)))
    cached = draw(st.integers(0, inp))
    write = draw(st.integers(0, inp - cached))
    write_1h = draw(st.integers(0, write))
    when = START + timedelta(
        seconds=draw(st.integers(0, 80 * 86_400)), microseconds=draw(st.sampled_from([0, 250_000, 123_456]))
    )
    shape = draw(st.sampled_from(["unix", "iso-z", "iso-offset", "iso-naive", "iso-space"]))
    if shape == "unix":
        ts = str(int(when.timestamp()))
    else:
        ts = when.replace(tzinfo=None).isoformat("T" if shape != "iso-space" else " ")
        ts += {"iso-z": "Z", "iso-offset": "+00:00"}.get(shape, "")
    output = draw(st.one_of(st.integers(0, 50_000), st.integers(0, 10**14 - 1)))
    if model == "":  # tokens need a model (parse_event refuses them otherwise)
        inp = cached = write = write_1h = output = 0
    return {
        "event_id": f"e{draw(st.integers(0, 10**9))}",
        "ts": ts,
        "customer": draw(st.sampled_from(["acme", "Société Générale", "globex"])),
        "product": draw(st.sampled_from(["assist", "agent"])),
        "feature": draw(st.sampled_from(["", "chat", "tool-call"])),
        "provider": provider,
        "model": model,
        "input_tokens": str(inp),
        "cached_input_tokens": draw(st.sampled_from([str(cached), str(cached)]))
        if cached
        else draw(st.sampled_from(["", "0"])),
        "cache_write_tokens": str(write),
        "cache_write_1h_tokens": str(write_1h) if write_1h else "",
        "output_tokens": str(output),
        "requests": draw(st.sampled_from(["", "0", "1", "3", "40"])),
        "retrieval_queries": str(draw(st.integers(0, 30))),
        "rerank_calls": draw(st.sampled_from(["", "0", "2"])),
        "compute_seconds": draw(st.sampled_from(["", "0", "1.5", "0.0005", "0.0004999", "12.3456789", "7"])),
        "cost_usd": "",
        "task_id": draw(st.sampled_from(["", "t1", "t2"])),
        "cache_hit": draw(st.sampled_from(["", "0", "1", "true", "FALSE", "y", "No"])),
        "prompt_hash": draw(st.sampled_from(["", "h1"])),
        "web_searches": str(draw(st.sampled_from([0, 0, 1, 12]))),
        "service_tier": draw(st.sampled_from(TIERS)),
    }


def write_rows(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(columns)
        writer.writerows([[row.get(c, "") for c in columns] for row in rows])
    return path


def priced_by_the_book(prices: PriceBook, event: dict[str, Any]) -> tuple[int, ...]:
    usage = Usage(
        int(datetime.fromisoformat(event["ts"]).replace(tzinfo=UTC).timestamp()),
        event["provider"],
        event["model"],
        event["input_tokens"],
        event["cached_input_tokens"],
        event["cache_write_tokens"],
        event["output_tokens"],
        event["requests"],
        event["retrieval_queries"],
        event["rerank_calls"],
        event["compute_ms"],
        event["source_cost_nano"],
        event["cache_write_1h_tokens"],
        event["web_searches"],
        event["service_tier"],
    )
    return tuple(prices.price(usage))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(usage_row(), min_size=1, max_size=30, unique_by=lambda r: r["event_id"]))
def test_columnar_costs_equal_the_price_books_to_the_nano_dollar(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    prices = book()
    path = write_rows(tmp_path / "u.csv", rows)
    plain = plain_csv(path, ",")
    assert plain is not None
    builder = RowBuilder(prices=prices, timezone="UTC", source="t", postgres=False)
    read = list(ColumnarChunks(path, plain, builder, ","))
    chunks = [chunk for chunk, *_ in read]
    refused = sorted(line for _, bad, *_ in read for line, _, _ in bad)
    events = pl.concat([c.events for c in chunks]).to_dicts()
    # What the row builder makes of each row (or refuses: priced past what one event can cost).
    expected: dict[str, tuple[Any, ...]] = {}
    too_dear = []
    for line, r in enumerate(rows, start=2):
        try:
            expected[r["event_id"]] = builder.build(parse_event(r))
        except RowError as exc:
            assert "more than one event can cost" in str(exc)
            too_dear.append(line)
    assert refused == too_dear
    # Every generated row is plainly shaped: only the time-of-day model and a row priced too dear take the row
    # path, so the costs compared below are the columnar path's own.
    deepseek = {line for line, r in enumerate(rows, start=2) if r["provider"] == "deepseek"}
    assert sum(c.by_rows for c in chunks) == len(deepseek | set(too_dear))
    assert len(events) == len(rows) - len(too_dear)
    for event in events:
        assert tuple(event[c] for c in (*COST_COLUMNS, "priced")) == priced_by_the_book(prices, event)
    # And the whole stored row is the row builder's, field for field.
    for event in events:
        built = expected[event["event_id"]]
        assert tuple(event[c] for c in EVENT_COLUMNS) == (*built[:22], str(built[22]), *built[23:])


def snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "usage_event": f"SELECT {', '.join(EVENT_COLUMNS)} FROM usage_event ORDER BY event_id",
        "daily_rollup": "SELECT * FROM daily_rollup ORDER BY day, customer, product, feature, provider, model, service_tier",
        "daily_customer_product": "SELECT * FROM daily_customer_product ORDER BY customer, product, day",
        "task_rollup": "SELECT * FROM task_rollup ORDER BY customer, product, task_id",
        "customer": "SELECT * FROM customer ORDER BY id",
    }
    with rt.connect() as conn:
        if conn.dialect.name == "sqlite":
            # As SQLite stores each value (its type and text), not as SQLAlchemy reads it back: the columnar path
            # copies events from a database image made by another SQLite library (engine.ingest.sqlite_image).
            quoted = ", ".join(f"quote({c})" for c in EVENT_COLUMNS)
            tables["stored"] = f"SELECT {quoted} FROM usage_event ORDER BY event_id"
        return {name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in tables.items()}


def clear(rt: Runtime) -> None:
    with rt.connect() as conn:
        for table in ("usage_event", "daily_rollup", "daily_customer_product", "task_rollup", "customer", "import_run"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.commit()


def varied_rows(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    sent: dict[str, dict[str, str]] = {}
    for i in range(n):
        provider, model = MODELS[i % len(MODELS)]
        inp = rng.choice([0, 900, 15_000, 250_000]) if model else 0
        cached = rng.randint(0, inp // 3)
        write = rng.randint(0, inp // 3)
        when = START + timedelta(seconds=rng.randint(0, 80 * 86_400))
        event_id = f"v{rng.randint(0, n * 2)}"
        if event_id in sent:  # an event sent again, within a chunk or across chunks (the same row: its changes below)
            rows.append(sent[event_id])
            continue
        sent[event_id] = {
            "event_id": event_id,
            "ts": str(int(when.timestamp())) if i % 3 else when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "customer": f"c{i % 7}",
            "product": ["assist", "agent"][i % 2],
            "feature": ["", "chat"][i % 2],
            "provider": provider,
            "model": model,
            "input_tokens": str(inp),
            "cached_input_tokens": str(cached),
            "cache_write_tokens": str(write),
            "cache_write_1h_tokens": str(write // 2),
            "output_tokens": str(rng.randint(0, 5000)) if model else "0",
            "requests": rng.choice(["", "1", "4"]),
            "retrieval_queries": str(rng.randint(0, 3)),
            "compute_seconds": rng.choice(["", "0.25", "3.0005"]),
            "task_id": rng.choice(["", f"t{i % 50}"]),
            "cache_hit": rng.choice(["", "1", "false"]),
            "web_searches": rng.choice(["0", "0", "2"]),
            "service_tier": rng.choice(TIERS),
        }
        rows.append(sent[event_id])
    # Rows the columnar path leaves to parse_event: an offset, a source cost, spaces, capitals, a long number.
    rows[5]["ts"] = "2026-02-05 12:00:00+02:00"
    rows[6]["cost_usd"] = "0.0123456789"
    rows[7]["customer"] = "  padded  "
    rows[8]["service_tier"] = "Batch"
    rows[9]["input_tokens"] = "0001234567890123"
    rows[9]["cached_input_tokens"] = rows[9]["cache_write_tokens"] = rows[9]["cache_write_1h_tokens"] = "0"
    return rows


def test_columnar_and_row_paths_store_the_same_events_and_rollups(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 64 * 1024)  # several chunks, with repeats across them
    # PostgreSQL: several folds of pending rollups too (SQLite folds each chunk's from its own database image).
    monkeypatch.setattr(rollups, "_PENDING_ROWS", 0)
    # Days cut in a zone with a daylight-saving change inside the data (2026-03-29).
    runtime = Runtime(runtime.settings.model_copy(update={"timezone": "Europe/Paris"}))
    path = write_rows(tmp_path / "u.csv", varied_rows(3000, seed=3))
    again = write_rows(tmp_path / "again.csv", varied_rows(1500, seed=4))  # half of it already stored

    def run(columnar_path: bool) -> tuple[list[tuple[Any, ...]], dict[str, list[tuple[Any, ...]]]]:
        results = []
        for file in (path, again):
            r = import_usage_file(
                runtime.engine, file, prices=runtime.prices, timezone="Europe/Paris", columnar=columnar_path
            )
            results.append((r.imported, r.duplicates, r.unpriced_events, r.unpriced_models, r.cost_usd, r.tier_warning))
        return results, snapshot(runtime)

    fast = run(True)
    clear(runtime)
    slow = run(False)
    assert fast[0] == slow[0]
    assert fast[0][0][1] > 0 and fast[0][1][1] > 0  # repeats within the first file, and stored ones in the second
    assert fast[1] == slow[1]


def test_columns_left_to_the_database_store_what_the_row_path_stores(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's columns holding nothing but what the database fills in are not sent (PostgreSQL's COPY): what the
    database fills in is exactly SERVER_FILLED, and the events stored are the row path's, in chunks with and
    without such columns."""
    required = [c for c in EVENT_COLUMNS if c not in SERVER_FILLED]
    given = {"ts": START, "day": START.date(), "cache_hit": False, "priced": True} | {
        c: "x" if c in TEXT_COLUMNS else 0 for c in required if c not in {"ts", "day", "cache_hit", "priced"}
    }
    assert set(SERVER_FILLED) >= {"source_cost_nano", "task_id", "service_tier", "web_searches", "cost_web_search"}
    with runtime.connect() as conn:  # every other column left out
        conn.execute(
            text(f"INSERT INTO usage_event ({', '.join(required)}) VALUES ({', '.join(':' + c for c in required)})"),
            given,
        )
        filled = conn.execute(text(f"SELECT {', '.join(SERVER_FILLED)} FROM usage_event")).one()
        assert tuple(filled) == tuple(SERVER_FILLED.values())
        conn.rollback()

    monkeypatch.setattr(columnar, "CHUNK_BYTES", 16 * 1024)
    rows = varied_rows(800, seed=5)
    for row in rows[:400]:  # the first chunks: no task, no 1-hour cache writes, no web search, the standard tier
        row.update(task_id="", cache_write_1h_tokens="0", web_searches="0", service_tier="standard", cost_usd="")
    path = write_rows(tmp_path / "u.csv", rows)
    stored = []
    for columnar_path in (True, False):
        clear(runtime)
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", columnar=columnar_path)
        stored.append(snapshot(runtime))
    assert stored[0] == stored[1]
    assert {r[EVENT_COLUMNS.index("task_id")] for r in stored[0]["usage_event"]} > {None}


def test_a_file_that_is_not_plain_is_read_row_by_row_with_the_same_messages(runtime: Runtime, tmp_path: Path) -> None:
    header = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(header + 'q1,2026-10-05T12:00:00Z,"acme, inc",assist,openai,gpt-4o,10,1\n')
    assert plain_csv(quoted, ",") is None
    blank = tmp_path / "blank.csv"
    blank.write_text(header + "b1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,10,1\n\nb2,x,acme,assist,,,1,1\n")
    assert plain_csv(blank, ",") is None
    short = tmp_path / "short.csv"
    short.write_text(header + "s1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,10\n")
    assert plain_csv(short, ",") is None
    latin = tmp_path / "latin.csv"
    latin.write_bytes((header + "l1,2026-10-05T12:00:00Z,Soci\xe9t\xe9,assist,openai,gpt-4o,10,1\n").encode("latin-1"))
    assert plain_csv(latin, ",") is None
    result = import_usage_file(runtime.engine, quoted, prices=runtime.prices, timezone="UTC")
    assert result.imported == 1


def test_rows_of_a_plain_file_that_fail_are_named_by_parse_event(runtime: Runtime, tmp_path: Path) -> None:
    header = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,service_tier\n"
    path = tmp_path / "bad.csv"
    path.write_text(
        header
        + "ok1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,10,\n"
        + "b1,2026-02-30T12:00:00Z,acme,assist,openai,gpt-4o,1000,10,\n"
        + "b2,2026-10-05T23:59:60Z,acme,assist,openai,gpt-4o,1000,10,\n"
        + "b3,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,99999999999999999999,10,\n"
        + "b4,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,10,turbo\n"
    )
    plain = plain_csv(path, ",")
    assert plain is not None
    fast = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True)
    clear(runtime)
    slow = import_usage_file(
        runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True, columnar=False
    )
    assert [(e.line, e.reason) for e in fast.errors] == [(e.line, e.reason) for e in slow.errors]
    assert [e.line for e in fast.errors] == [3, 4, 5, 6]
    assert (fast.imported, fast.rejected) == (slow.imported, slow.rejected) == (1, 4)


def test_overlapping_imports_on_postgresql_both_finish_with_clean_totals(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL (SQLite lets one write at a time)")
    # Many batches a file, each meeting the shared ids in its own order: without turns, each import soon waits
    # on ids the other inserted and has not committed (a deadlock).
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 32 * 1024)
    # The first import of a database records its time zone; this one does, so the two below share no other row.
    first = write_rows(
        tmp_path / "first.csv", [{"event_id": "f", "ts": "1790000000", "customer": "c0", "product": "p"}]
    )
    import_usage_file(runtime.engine, first, prices=runtime.prices, timezone="UTC")
    shared = [f"s{i}" for i in range(20_000)]
    files = []
    for name in ("a", "b"):
        ids = shared + [f"{name}{i}" for i in range(5_000)]
        random.Random(name).shuffle(ids)  # each file meets the shared ids in its own order
        rows = [
            {
                "event_id": i,
                "ts": str(1_790_000_000 + n % 86_400),
                "customer": f"c{n % 9}",
                "product": "assist",
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": str(100 + n % 1000),
                "output_tokens": "7",
                "task_id": f"t{n % 300}",
            }
            for n, i in enumerate(ids)
        ]
        files.append(write_rows(tmp_path / f"{name}.csv", rows))
    results: dict[str, Any] = {}

    def run(path: Path) -> None:
        try:
            results[path.name] = import_usage_file(
                runtime.engine, path, prices=runtime.prices, timezone="UTC", batch_size=2_000
            )
        except Exception as exc:  # reported below, whatever it is
            results[path.name] = exc

    threads = [threading.Thread(target=run, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    imported = sorted(r.imported for r in results.values())
    assert sum(imported) == 30_000 and sum(r.duplicates for r in results.values()) == 20_000
    with runtime.connect() as conn:
        events, cost = conn.execute(
            text(f"SELECT COUNT(*), SUM({' + '.join(COST_COLUMNS)}) FROM usage_event WHERE event_id <> 'f'")
        ).one()
        rolled = conn.execute(
            text(f"SELECT SUM(events), SUM({' + '.join(COST_COLUMNS)}) FROM daily_rollup WHERE product <> 'p'")
        ).one()
        per_customer = conn.execute(
            text("SELECT SUM(events) FROM daily_customer_product WHERE product <> 'p'")
        ).scalar_one()
        tasks = conn.execute(text("SELECT SUM(events) FROM task_rollup")).scalar_one()
    assert (events, cost) == tuple(rolled)
    assert events == per_customer == tasks == 30_000


WORKER_CHILD = """
import sys
from pathlib import Path
from engine.ingest.files import ImportRefused, import_usage_file
from engine.ingest.rollups import SUM_TOO_LARGE, rebuild_rollups
from engine.pricing.book import PriceBook
from engine.store.db import open_engine
engine = open_engine("sqlite:///" + sys.argv[1])
print("started", flush=True)
import_usage_file(engine, Path(sys.argv[2]), prices=PriceBook(), timezone="UTC", parallel=True)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker")
def test_the_parsing_worker_dies_when_its_importer_is_killed(tmp_path: Path) -> None:
    # Rows the row path parses (a JSONL file): enough for the worker to be busy when its importer is killed.
    path = tmp_path / "u.jsonl"
    with path.open("w") as handle:
        for i in range(300_000):
            handle.write(f'{{"event_id": "k{i}", "ts": "2026-10-05T12:00:00Z", "customer": "acme", "product": "p"}}\n')
    child = subprocess.Popen(
        [sys.executable, "-c", WORKER_CHILD, str(tmp_path / "k.db"), str(path)],
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while time.monotonic() < deadline and not workers:
            workers = [
                p for p in _children(child.pid) if "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_text()
            ]
            time.sleep(0.05)
        assert workers, "the import never started its worker"
        time.sleep(0.3)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "the worker outlived its importer"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        assert child.stdout is not None
        child.stdout.close()


def test_a_chunk_with_a_huge_field_is_read_row_by_row_with_the_same_reasons(runtime: Runtime, tmp_path: Path) -> None:
    header = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"
    path = tmp_path / "huge.csv"
    path.write_text(
        header
        + "ok1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,10\n"
        + "x" * 70_000
        + ",2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,10\n"
    )
    plain = plain_csv(path, ",")
    assert plain is not None
    builder = RowBuilder(prices=runtime.prices, timezone="UTC", source="t", postgres=False)
    [(chunk, bad, _, _, _)] = list(ColumnarChunks(path, plain, builder, ","))
    assert chunk.by_rows == 2 and chunk.events.height == 1
    assert bad[0][:2] == (3, "event_id is longer than 200 characters")
    fast = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True)
    clear(runtime)
    slow = import_usage_file(
        runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True, columnar=False
    )
    assert [(e.line, e.reason) for e in fast.errors] == [(e.line, e.reason) for e in slow.errors]


def test_crlf_lines_and_a_last_line_without_its_break_read_as_the_row_path_reads_them(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(
        b"event_id,ts,customer,product,provider,model,input_tokens,output_tokens\r\n"
        b"c1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,10\r\n"
        b"c2,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,11\r"
    )
    assert plain_csv(path, ",") is not None
    header = b"event_id,ts,customer,product,provider,model,input_tokens,output_tokens\r\n"
    row = b"c9,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,10"
    mixed, blank = tmp_path / "mixed.csv", tmp_path / "blank.csv"
    mixed.write_bytes(header + row + b"\n" + row + b"\r\n")  # LF and CRLF lines: plain all the same
    blank.write_bytes(header + row + b"\r\n\r\n" + row + b"\r\n")  # a blank CRLF line: not plain
    assert plain_csv(mixed, ",") is not None and plain_csv(blank, ",") is None
    fast = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    stored = snapshot(runtime)
    clear(runtime)
    slow = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", columnar=False)
    assert (fast.imported, fast.rows_read) == (slow.imported, slow.rows_read) == (2, 2)
    assert stored == snapshot(runtime)


def test_rollups_folded_in_batches_over_stored_keys_equal_a_rebuild(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold per chunk, keys recurring across the chunks of a file and already stored by the file before (on
    PostgreSQL the keys new to an import are COPYed in, the others upserted): the rollups equal a rebuild from the
    stored events."""
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(rollups, "_PENDING_ROWS", 0)
    files = []
    for name, seed in (("first", 5), ("second", 6)):  # the second: new events on the first one's days and tasks
        rows = varied_rows(3000, seed=seed)
        for i, row in enumerate(rows):
            row["event_id"] = f"{name}-{i}"  # each id once: every chunk's events are new (their rollups fold as is)
        files.append(write_rows(tmp_path / f"{name}.csv", rows))
    for file in files:
        import_usage_file(runtime.engine, file, prices=runtime.prices, timezone="UTC", columnar=True)
    folded = snapshot(runtime)
    with runtime.connect() as conn:
        rebuild_rollups(conn)
        conn.commit()
    assert snapshot(runtime) == folded
    assert len(folded["daily_rollup"]) > 100 and len(folded["task_rollup"]) > 100


def test_rollup_sums_are_exact_up_to_a_bigint_and_refused_past_it() -> None:
    """aggregate sums in 64 bits only where no sum can pass 2⁶³ (small values: the usual case), else in 128 bits:
    sums just under a BIGINT are exact, one past it is refused rather than wrapped round."""

    def events(n: int, cost: int) -> pl.DataFrame:
        row: dict[str, Any] = {
            c: 0 if t == pl.Int64 else False if t == pl.Boolean else "x" for c, t in columnar.EVENT_SCHEMA.items()
        }
        row |= {"day": "2026-01-01", "task_id": "t", "priced": True, "cost_compute": cost}
        return pl.DataFrame([row] * n, schema=columnar.EVENT_SCHEMA)

    for n, cost in ((3, 12_345), (922, 10**16)):
        chunk = columnar.aggregate(events(n, cost), 0)
        assert chunk.cost_nano == n * cost
        assert chunk.rollups["daily_rollup"]["cost_compute"].to_list() == [n * cost]
        assert chunk.rollups["daily_customer_product"]["events"].to_list() == [n]
        assert chunk.tasks["cost_nano"].to_list() == [n * cost]
    with pytest.raises(OverflowError):
        columnar.aggregate(events(923, 10**16), 0)  # 9.23 × 10¹⁸: past 2⁶³ − 1


def test_a_blank_line_is_not_plain_even_when_another_line_makes_up_its_delimiters(tmp_path: Path) -> None:
    """The prescan counts delimiters per line in bulk: a blank line (LF or CRLF) beside a line with twice the fields
    has the right count in all, and is still found."""
    header = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens"
    row = "b1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,10,1"
    wide = row + "," + row.split(",", 1)[1]  # 14 delimiters: its own 7, and the 7 the blank line lacks
    for end in ("\n", "\r\n"):
        path = tmp_path / "blank.csv"
        path.write_bytes(end.join([header, row, wide, "", row]).encode() + end.encode())
        assert plain_csv(path, ",") is None
        path.write_bytes(end.join([header, row, row, row, row]).encode() + end.encode())
        assert plain_csv(path, ",") is not None


ROW = "2026-01-20T12:00:00Z,acme,assist"


@pytest.mark.parametrize(
    ("content", "plain"),
    [
        # A line one field short and one a field long, together with as many delimiters as two lines should have: in
        # different chunks, the file is not plain; in one, polars refuses the chunk, which is read row by row.
        (f"event_id,ts,customer,product,feature\ne1,{ROW},f\ns1,{ROW}\nl1,{ROW},f,x\n".encode(), False),
        (f"event_id,ts,customer,product,feature\ns1,{ROW}\nl1,{ROW},f,x\ne1,{ROW},f\n".encode(), True),
        # A body line opening with a BOM: text to the row path's reader, dropped by polars at the start of a chunk.
        (f"ts,event_id,customer,product\n\ufeff{ROW[:20]},e1,acme,assist\n{ROW[:20]},e2,acme,assist\n".encode(), True),
        (f"event_id,ts,customer,product\n\ufeffe1,{ROW}\ne2,{ROW}\n".encode(), True),
        # A CR inside the header line: a line break to the row path's reader.
        (f"event_id,ts\r,customer,product\ne1,{ROW}\n".encode(), False),
        (f"event_id,ts,customer,product\r \ne1,{ROW}\n".encode(), False),
        (f"event_id,ts,customer,product\r\r\ne1,{ROW}\ne2,not-a-time,acme,assist\n".encode(), False),
    ],
)
def test_lines_polars_reads_otherwise_than_the_csv_reader_are_read_as_the_row_path_reads_them(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, plain: bool
) -> None:
    # Chunks of a line or two: the first example's short and long lines apart, the next one's together.
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 80)
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    assert (plain_csv(path, ",") is not None) == plain
    results, stored = [], []
    for path_kind in (None, False):  # the importer's choice (columnar for a plain file), then row by row
        clear(runtime)
        try:
            result = import_usage_file(
                runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True, columnar=path_kind
            )
        except ImportRefused as refused:  # a header the row path refuses: the whole file is
            result = refused.result
        results.append((result.imported, result.rejected, [(e.line, e.reason) for e in result.errors]))
        stored.append(snapshot(runtime))
    assert results[0] == results[1]
    assert stored[0] == stored[1]


def test_a_day_whose_cost_columns_sum_past_a_bigint_is_refused_in_one_line_on_both_paths(
    runtime: Runtime, tmp_path: Path
) -> None:
    # 930 events of $5,000,000 of source cost and $5,000,000 of retrieval each, on one day: each cost column of the
    # day holds its $4.65 billion, their sum ($9.3 billion, the day's and the week's cost) does not.
    prices = PriceBook.from_mapping({"unit_costs": {"retrieval_query": "0.0002"}})
    rows = [f"e{i},2026-01-20T12:00:00Z,acme,assist,5000000,25000000000" for i in range(930)]
    path = tmp_path / "split.csv"
    path.write_text("\n".join(["event_id,ts,customer,product,cost_usd,retrieval_queries", *rows]) + "\n")
    assert refusals_on_both_paths(runtime, path, prices) == [[(931, SUM_TOO_LARGE)]] * 2


def refusals_on_both_paths(runtime: Runtime, path: Path, prices: PriceBook) -> list[list[tuple[int, str]]]:
    """The lines and reasons `path` is refused for by the importer's choice of path, then row by row, each on an
    empty database that it leaves without an event."""
    said = []
    for path_kind in (None, False):
        clear(runtime)
        with pytest.raises(ImportRefused) as refused:
            import_usage_file(runtime.engine, path, prices=prices, timezone="UTC", columnar=path_kind)
        said.append([(e.line, e.reason) for e in refused.value.result.errors])
        assert snapshot(runtime)["usage_event"] == []
    return said


def test_a_sum_past_a_bigint_names_the_line_reading_stopped_at_past_blank_lines(
    runtime: Runtime, tmp_path: Path
) -> None:
    # The 923 events of $10M of the test below, each after a blank line: the last is on line 1 + 923 × 2 = 1847, where
    # 924 counted the rows. (Not a plain file: read row by row whatever the importer's choice.)
    rows = [f"\ne{i},2026-01-20T12:00:00Z,acme,assist,10000000" for i in range(923)]
    path = tmp_path / "spread.csv"
    path.write_text("\n".join(["event_id,ts,customer,product,cost_usd", *rows]) + "\n")
    assert refusals_on_both_paths(runtime, path, runtime.prices) == [[(1847, SUM_TOO_LARGE)]] * 2


def test_a_file_whose_total_passes_a_bigint_is_imported_when_no_rollups_sum_does(
    runtime: Runtime, tmp_path: Path
) -> None:
    # 1,000 events of $9,999,999 each, every one its own customer's: $9,999,999,000 in all, past the 2⁶³ − 1 nano-USD
    # of a BIGINT, while every rollup row holds one event. Imported on both paths, its cost exact.
    rows = [f"e{i},2026-01-20T12:00:00Z,c{i},assist,9999999" for i in range(1000)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(["event_id,ts,customer,product,cost_usd", *rows]) + "\n")
    for path_kind in (None, False):  # the importer's choice (columnar: the file is plain), then row by row
        clear(runtime)
        result = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", columnar=path_kind)
        assert (result.imported, result.cost_usd) == (1000, Decimal("9999999000"))


def test_a_file_whose_sums_pass_a_bigint_is_refused_in_one_line_on_both_paths(runtime: Runtime, tmp_path: Path) -> None:
    # $10M an event, the most one can cost: 923 of them are $9.23 billion, past the 2⁶³ − 1 nano-USD a rollup column
    # holds. Refused whole, with the line reading stopped at, instead of a traceback (or, on SQLite, a sum kept as an
    # inexact REAL): the sum passing it within the file, or added to what an earlier file stored.
    def usage(name: str, first: int, n: int, ts: str = "2026-01-20T12:00:00Z", task: str = "") -> Path:
        rows = [f"e{i},{ts},acme,assist,10000000,{task}" for i in range(first, first + n)]
        path = tmp_path / name
        path.write_text("\n".join(["event_id,ts,customer,product,cost_usd,task_id", *rows]) + "\n")
        return path

    whole = usage("whole.csv", 0, 923)
    # (earlier file, file refused): the same day past it; two days of a week (only the week's sum is); the same
    # task over two days of two weeks (only the task's is).
    added = {
        "day": (usage("d1.csv", 0, 900), usage("d2.csv", 900, 23)),
        "week": (usage("w1.csv", 0, 900), usage("w2.csv", 900, 23, ts="2026-01-21T12:00:00Z")),
        "task": (
            usage("t1.csv", 0, 900, ts="2026-01-18T12:00:00Z", task="t"),
            usage("t2.csv", 900, 23, ts="2026-01-19T12:00:00Z", task="t"),
        ),
    }
    for path_kind in (None, False):  # the importer's choice (columnar: the file is plain), then row by row
        clear(runtime)
        with pytest.raises(ImportRefused) as refused:
            import_usage_file(runtime.engine, whole, prices=runtime.prices, timezone="UTC", columnar=path_kind)
        assert [(e.line, e.reason) for e in refused.value.result.errors] == [(924, SUM_TOO_LARGE)]
        assert snapshot(runtime)["usage_event"] == []
        for head, tail in added.values():
            clear(runtime)
            assert import_usage_file(runtime.engine, head, prices=runtime.prices, timezone="UTC").imported == 900
            kept = snapshot(runtime)
            with pytest.raises(ImportRefused) as refused:
                import_usage_file(runtime.engine, tail, prices=runtime.prices, timezone="UTC", columnar=path_kind)
            assert [(e.line, e.reason) for e in refused.value.result.errors] == [(24, SUM_TOO_LARGE)]
            assert snapshot(runtime) == kept


def test_a_chunk_that_fails_while_its_prices_are_looked_up_leaves_no_key_priced_at_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The price table is kept for the whole import (`_price_table`). A chunk whose table fails to be made goes to
    the row path; the keys it met must not be taken as known by the next chunk, whose rows would then join no
    rates and be stored unpriced at $0 on the columnar path."""
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 58)  # one row a chunk
    path = tmp_path / "usage.csv"
    path.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"
        + "".join(f"a{i},2026-10-0{5 + (i > 1)}T12:00:00Z,acme,assist,openai,gpt-4o,1000,10\n" for i in range(1, 5))
    )
    plain = plain_header(path, ",")
    assert plain is not None and plain_body(path, plain, ",")
    chunks = ColumnarChunks(path, plain, RowBuilder(prices=book(), timezone="UTC", source="t", postgres=False), ",")
    made = 0
    real = columnar._price_schema

    def fails_once(*args: Any) -> dict[str, Any]:
        nonlocal made
        made += 1
        if made == 2:  # a2's chunk: its day's rates are met for the first time here
            raise pl.exceptions.ComputeError("injected")
        return real(*args)

    monkeypatch.setattr(columnar, "_price_schema", fails_once)
    seen = []
    for chunk, *_ in chunks:
        cost = pl.sum_horizontal(COST_COLUMNS).alias("cost")
        seen += [(*row, chunk.by_rows) for row in chunk.events.select("event_id", "priced", cost).rows()]
    assert [(event, priced, by_rows) for event, priced, _, by_rows in seen] == [
        ("a1", True, 0), ("a2", True, 1), ("a3", True, 0), ("a4", True, 0),  # a2 by the row path, the rest by columns
    ]  # fmt: skip
    assert len({cost for *_, cost, _ in seen}) == 1 and seen[0][2] > 0  # each the same event, priced alike
