"""Retrieval queries, rerank calls and compute seconds the price file's [unit_costs] gives no price for are unpriced,
as web searches with no price are: the event is flagged (its priced parts still count), the import and reprice
summaries name what has no price and the key that would price it, on the columnar, row and parallel paths alike. A
unit cost of 0 is a price. (They cost $0 with no warning: a file with only `retrieval_query` priced 50,000 rerank
calls and 10 hours of compute at nothing, and one with no [unit_costs] left such an event at $0.00, "no COGS".)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.ingest.columnar import ColumnarChunks, plain_body, plain_header
from engine.ingest.files import import_usage_file
from engine.ingest.reprice import reprice
from engine.ingest.writer import RowBuilder, unpriced_names
from engine.pricing.book import PriceBook, Usage
from engine.runtime import Runtime

EPOCH = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp())
HEADER = (
    "event_id,ts,customer,product,feature,provider,model,input_tokens,output_tokens,"
    "retrieval_queries,rerank_calls,compute_seconds\n"
)
# The tester's row: unit costs only, no model. g1: tokens of a priced model, and compute.
USAGE = (
    HEADER
    + "r1,2026-11-03T00:00:00Z,acme,search,,,,0,0,100000,50000,36000\n"
    + "g1,2026-11-03T00:00:00Z,acme,search,,openai,gpt-4o,1000000,0,0,0,60\n"
)
PARTIAL = {"unit_costs": {"retrieval_query": 0.0002}}
FULL = {"unit_costs": {"retrieval_query": 0.0002, "rerank_call": 0.001, "compute_second": 0.0005}}


def unit_usage(queries: int = 100_000, reranks: int = 50_000, ms: int = 36_000_000) -> Usage:
    return Usage(EPOCH, "", "", retrieval_queries=queries, rerank_calls=reranks, compute_ms=ms)


def test_a_unit_cost_left_out_leaves_the_event_unpriced_and_its_priced_parts_count() -> None:
    book = PriceBook.from_mapping(PARTIAL)
    costs = book.price(unit_usage())
    assert not costs.priced
    assert (costs.retrieval, costs.rerank, costs.compute) == (20_000_000_000, 0, 0)  # $20 of retrieval still counts
    assert book.missing(unit_usage()) == ("rerank calls", "compute seconds")
    # No [unit_costs] at all: nothing prices any of them.
    none = PriceBook.from_mapping({})
    assert not none.price(unit_usage()).priced
    assert none.missing(unit_usage()) == ("retrieval queries", "rerank calls", "compute seconds")
    # A count of 0 needs no price.
    assert book.price(unit_usage(reranks=0, ms=0)).priced


def test_a_unit_cost_of_zero_is_a_price() -> None:
    book = PriceBook.from_mapping({"unit_costs": {"retrieval_query": 0.0002, "rerank_call": 0, "compute_second": 0}})
    costs = book.price(unit_usage())
    assert costs.priced and costs.total == 20_000_000_000


def test_a_source_priced_event_with_unpriced_compute_is_flagged() -> None:
    # The source's own cost prices its tokens, not the price file's unit costs.
    book = PriceBook.from_mapping({})
    usage = Usage(EPOCH, "openai", "gpt-4o", input_tokens=10, compute_ms=1000, source_cost_nano=5)
    costs = book.price(usage)
    assert not costs.priced and costs.total == 5
    assert book.missing(usage) == ("compute seconds",)


def test_the_warning_names_unit_costs_once_with_their_keys() -> None:
    names = unpriced_names(
        {("", ""), ("openai", "gpt-4o"), ("x", "y")},
        {("", "", "rerank calls"), ("", "", "compute seconds"), ("openai", "gpt-4o", "compute seconds")},
    )
    # gpt-4o's tokens were priced: it is not named as a model with no price; x/y (no parts known) is, as before.
    assert names == ["x/y", "rerank calls and compute seconds (no rerank_call, compute_second in [unit_costs])"]


def stored(rt: Runtime) -> list[tuple[Any, ...]]:
    with rt.connect() as conn:
        sql = "SELECT event_id, cost_retrieval, cost_rerank, cost_compute, priced FROM usage_event ORDER BY event_id"
        return [(*r[:4], bool(r[4])) for r in conn.execute(text(sql))]


@pytest.mark.parametrize(("columnar", "parallel"), [(True, None), (False, None), (False, True)])
def test_an_import_flags_and_names_unit_costs_with_no_price_on_every_path(
    runtime: Runtime, tmp_path: Path, columnar: bool, parallel: bool | None
) -> None:
    path = tmp_path / "rq.csv"
    path.write_text(USAGE)
    book = PriceBook.from_mapping(PARTIAL)
    result = import_usage_file(runtime.engine, path, prices=book, timezone="UTC", columnar=columnar, parallel=parallel)
    assert result.unpriced_events == 2
    assert (
        "WARNING: 2 event(s) have no price (rerank calls and compute seconds (no rerank_call, compute_second in "
        "[unit_costs])): add them to the price file and run `marginbot reprice`"
    ) in result.summary()
    assert stored(runtime) == [("g1", 0, 0, 0, False), ("r1", 20_000_000_000, 0, 0, False)]
    assert result.cost_usd > 20  # the retrieval and gpt-4o's tokens still count


def test_the_columnar_path_flags_them_itself_as_the_row_builder_does(tmp_path: Path) -> None:
    path = tmp_path / "rq.csv"
    path.write_text(USAGE)
    plain = plain_header(path, ",")
    assert plain is not None and plain_body(path, plain, ",")
    builder = RowBuilder(prices=PriceBook.from_mapping(PARTIAL), timezone="UTC", source="t", postgres=False)
    (chunk, bad, *_), *more = list(ColumnarChunks(path, plain, builder, ","))
    assert (bad, more, chunk.by_rows) == ([], [], 0)  # priced in columns, none handed to the row path
    assert dict(chunk.events.select("event_id", "priced").rows()) == {"r1": False, "g1": False}
    assert builder.unpriced_parts == {
        ("", "", "rerank calls"),
        ("", "", "compute seconds"),
        ("openai", "gpt-4o", "compute seconds"),
    }


def test_a_price_file_that_prices_them_prices_them_as_before(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "rq.csv"
    path.write_text(USAGE)
    result = import_usage_file(runtime.engine, path, prices=PriceBook.from_mapping(FULL), timezone="UTC")
    assert result.unpriced_events == 0
    assert stored(runtime) == [
        ("g1", 0, 0, 30_000_000, True),
        ("r1", 20_000_000_000, 50_000_000_000, 18_000_000_000, True),
    ]


def test_reprice_flags_and_names_them_and_prices_them_once_added(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "rq.csv"
    path.write_text(USAGE)
    import_usage_file(runtime.engine, path, prices=PriceBook.from_mapping(FULL), timezone="UTC")
    partial = reprice(runtime.engine, prices=PriceBook.from_mapping(PARTIAL), timezone="UTC")
    assert partial.unpriced_events == 2
    assert stored(runtime) == [("g1", 0, 0, 0, False), ("r1", 20_000_000_000, 0, 0, False)]
    assert partial.summary().endswith(
        "2 events still unpriced (rerank calls and compute seconds (no rerank_call, compute_second in [unit_costs]))"
    )
    full = reprice(runtime.engine, prices=PriceBook.from_mapping(FULL), timezone="UTC")
    assert full.unpriced_events == 0 and all(row[-1] for row in stored(runtime))
