"""Output tokens of a model the catalogue gives no output price are unpriced on both import paths alike: the
columnar path (engine.ingest.columnar) and the row path store the same costs and flag, and the import says which
models have no price."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.ingest.columnar import ColumnarChunks, plain_body, plain_header
from engine.ingest.files import import_usage_file
from engine.ingest.writer import RowBuilder
from engine.runtime import Runtime

USAGE = """event_id,ts,customer,product,provider,model,input_tokens,output_tokens
d1,2026-10-10T12:00:00Z,acme,chat,azure,davinci,1000,2000000
d2,2026-10-10T12:00:00Z,acme,chat,azure,davinci,1000,0
e1,2026-10-10T12:00:00Z,acme,chat,openai,text-embedding-3-small,1000000,0
"""


def stored(rt: Runtime) -> list[tuple[Any, ...]]:
    with rt.connect() as conn:
        sql = "SELECT event_id, cost_uncached_input, cost_output, priced FROM usage_event ORDER BY event_id"
        return [(*r[:3], bool(r[3])) for r in conn.execute(text(sql))]


@pytest.mark.parametrize("columnar", [True, False])
def test_output_tokens_with_no_output_price_are_unpriced_on_either_path(
    runtime: Runtime, tmp_path: Path, columnar: bool
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(USAGE)
    result = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", columnar=columnar)
    assert result.unpriced_events == 1 and result.unpriced_models == ["azure/davinci"]
    assert stored(runtime) == [
        ("d1", 2_000_000, 0, False),  # input at $2 per million tokens; output: no price, so the event is flagged
        ("d2", 2_000_000, 0, True),
        ("e1", 18_000_000, 0, True),  # $0.02 per million tokens, less the price file's 10% OpenAI discount
    ]


def test_the_columnar_path_prices_them_itself_as_the_row_builder_does(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(USAGE)
    plain = plain_header(path, ",")
    assert plain is not None and plain_body(path, plain, ",")
    builder = RowBuilder(prices=runtime.prices, timezone="UTC", source="t", postgres=False)
    (chunk, bad, *_), *more = list(ColumnarChunks(path, plain, builder, ","))
    assert (bad, more, chunk.by_rows) == ([], [], 0)  # every row priced in columns, none handed to the row path
    priced = dict(chunk.events.select("event_id", "priced").rows())
    assert priced == {"d1": False, "d2": True, "e1": True}
    assert builder.unpriced_models == {("azure", "davinci")}


@pytest.mark.parametrize(("columnar", "parallel"), [(True, None), (False, None), (False, True)])
def test_the_warning_says_what_of_a_priced_model_has_no_price_on_every_path(
    runtime: Runtime, tmp_path: Path, columnar: bool, parallel: bool | None
) -> None:
    # It said "have no price (anthropic/claude-3-haiku-20240307)" of a model whose tokens were priced: only its web
    # searches had none. A model nothing prices is named alone, as before.
    path = tmp_path / "usage.csv"
    path.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,web_searches\n"
        "w1,2026-10-10T12:00:00Z,acme,chat,anthropic,claude-3-haiku-20240307,100,10,5\n"
        "d1,2026-10-10T12:00:00Z,acme,chat,azure,davinci,1000,2000000,0\n"
        "n1,2026-10-10T12:00:00Z,acme,chat,custom,nobody-prices,100,10,0\n"
    )
    result = import_usage_file(
        runtime.engine, path, prices=runtime.prices, timezone="UTC", columnar=columnar, parallel=parallel
    )
    assert result.unpriced_models == ["anthropic/claude-3-haiku-20240307", "azure/davinci", "custom/nobody-prices"]
    assert (
        "3 event(s) have no price (anthropic/claude-3-haiku-20240307 (web searches), azure/davinci (output tokens), "
        "custom/nobody-prices)"
    ) in result.summary()
