"""The columnar import's pipeline (engine.ingest.files, engine.ingest.columnar): its threads start while the rows are
scanned, a file whose rows turn out not to be plain is read row by row as if the columnar path had never started,
progress comes every CHUNK_ROWS rows across chunks, and a stage's thread stops however its consumer leaves it."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import engine.ingest.columnar as columnar
import engine.ingest.files as files
from bot.cli.main import main
from engine.ingest.columnar import ColumnarChunks, Prefetched
from engine.ingest.files import import_usage_file
from engine.ingest.writer import EventWriter
from engine.runtime import Runtime

CONTRACTS = "customer,customer_name,plan,start,platform_fee_usd\nacme,Acme Corp,flat,2026-01-01,2000\n"
HEADER = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"


def rows(n: int, customer: str = "Acme Corp") -> str:
    return "".join(f"e{i},2026-10-05T12:00:00Z,{customer},assist,openai,gpt-4o,{100 + i},10\n" for i in range(n))


def pipeline_threads() -> int:
    return sum(t.name == "marginbot-columnar" for t in threading.enumerate())


def stored(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    with runtime.connect() as conn:
        return {
            table: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))]
            for table in ("usage_event", "daily_rollup", "daily_customer_product", "weekly_customer_product")
        }


@pytest.fixture
def rt(runtime: Runtime, tmp_path: Path) -> Runtime:
    (tmp_path / "contracts.csv").write_text(CONTRACTS)
    assert main(["import", "contracts", str(tmp_path / "contracts.csv")], runtime=runtime) == 0
    return runtime


def test_rows_found_not_plain_after_chunks_were_parsed_are_read_row_by_row_and_counted_once(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan says no only once the pipeline has parsed chunks (mapping 'Acme Corp' to acme, counting it): the
    file is then imported by the row path alone, its mapped events counted once, and no pipeline thread is left."""
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 16 * 1024)  # many chunks
    parsed = threading.Event()
    chunk, plain_body = ColumnarChunks._chunk, files.plain_body

    def chunk_and_tell(self: ColumnarChunks, *args: Any) -> Any:
        try:
            return chunk(self, *args)
        finally:
            parsed.set()

    def scan_after_a_chunk(*args: Any) -> bool:
        assert parsed.wait(10)
        return plain_body(*args)

    monkeypatch.setattr(ColumnarChunks, "_chunk", chunk_and_tell)
    monkeypatch.setattr(files, "plain_body", scan_after_a_chunk)
    path = tmp_path / "usage.csv"
    # A quoted field on the last line: the header and every line before it are plain, the file is not.
    path.write_text(HEADER + rows(2_000) + 'q1,2026-10-05T12:00:00Z,"Acme Corp",assist,openai,gpt-4o,5,1\n')

    result = import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")

    assert parsed.is_set()
    assert (result.imported, result.rows_read) == (2_001, 2_001)
    assert result.mapped_customers == [("Acme Corp", "acme", 2_001)]
    assert pipeline_threads() == 0
    by_rows = stored(rt)
    with rt.connect() as conn:
        for table in by_rows:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.commit()
    import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC", columnar=False)
    assert stored(rt) == by_rows


def test_progress_comes_every_step_rows_across_many_chunks(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "CHUNK_BYTES", 16 * 1024)  # ~250 rows a chunk: marks fall inside some of them
    monkeypatch.setattr(files, "CHUNK_ROWS", 1_000)
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + rows(4_321, customer="acme"))
    calls: list[tuple[int, int | None]] = []

    import_usage_file(
        runtime.engine, path, prices=runtime.prices, timezone="UTC", progress=lambda d, t: calls.append((d, t))
    )

    done = [d for d, _ in calls]
    assert len(done) > 10 and done == sorted(set(done))  # each chunk's end, and each multiple of the step, once
    assert [d for d in done if d % 1_000 == 0] == [1_000, 2_000, 3_000, 4_000]
    assert calls[-1] == (4_321, 4_321)
    assert all(total is not None and abs(total - 4_321) < 200 for _, total in calls)


def test_a_stage_thread_stops_when_closed_before_anything_was_taken_or_when_dropped() -> None:
    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    before = pipeline_threads()
    stage = Prefetched(endless(), depth=1)
    assert pipeline_threads() == before + 1  # started at once
    stage.close()
    assert pipeline_threads() == before
    assert list(stage) == []

    dropped = Prefetched(endless(), depth=1)
    assert next(dropped) == 0
    del dropped
    gc.collect()
    deadline = time.monotonic() + 5
    while pipeline_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipeline_threads() == before


def test_an_error_in_a_stage_is_raised_by_its_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad chunk")

    stage = Prefetched(failing(), depth=1)
    assert next(stage) == 1
    with pytest.raises(ValueError, match="bad chunk"):
        next(stage)
    assert list(stage) == []


def test_an_sqlite_import_keeps_statement_journals_in_memory_while_it_runs_and_puts_the_setting_back(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PRAGMA temp_store is SQLite's")
    seen: list[tuple[Any, int]] = []
    add_frame = EventWriter.add_frame

    def add_and_look(self: EventWriter, chunk: Any) -> None:
        raw = self.conn.connection.driver_connection
        assert raw is not None
        seen.append((raw, raw.execute("PRAGMA temp_store").fetchone()[0]))
        add_frame(self, chunk)

    monkeypatch.setattr(EventWriter, "add_frame", add_and_look)
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + rows(100, customer="acme"))
    with runtime.engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA temp_store").scalar_one()

    assert import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC").imported == 100

    assert seen and {setting for _, setting in seen} == {2}  # MEMORY
    raw = seen[0][0]  # the import's connection, back in the pool
    assert raw.execute("PRAGMA temp_store").fetchone()[0] == before != 2
