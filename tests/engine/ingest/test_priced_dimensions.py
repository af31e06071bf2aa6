"""Usage files carrying every billed dimension (1-hour cache writes, web searches, batch / flex / priority tiers,
provider-prefixed ids, an undated alias under a dated-id override) import and price to what genai-prices itself
says, per customer, to the nano-dollar; the rollups keep the new counters and costs; bad values are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price
from sqlalchemy import text

from engine.ingest.files import ImportRefused, import_usage_file
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from engine.store.models import COST_COLUMNS

OVERRIDE = {"input_per_mtok": Decimal("2.4"), "output_per_mtok": Decimal(12), "cache_write_per_mtok": Decimal(3)}
PRICES = """
[[models]]
provider = "anthropic"
model = "claude-sonnet-4-5-20250929"
effective_from = 2026-01-01
input_per_mtok = 2.4
cache_write_per_mtok = 3
output_per_mtok = 12
"""

# customer, provider, model, tier, input (total), cached, cache writes (all), of which 1-hour, output, web searches
EVENTS: list[tuple[str, str, str, str, int, int, int, int, int, int]] = [
    ("anth", "anthropic", "claude-opus-4-6", "", 3200, 200, 1500, 1000, 500, 10),
    ("anth", "anthropic", "claude-opus-4-6", "batch", 120_000, 20_000, 30_000, 10_000, 4_000, 3),
    ("anth", "anthropic", "claude-haiku-4-5", "priority", 50_000, 0, 5_000, 5_000, 2_000, 0),
    ("oai", "openai", "gpt-4o", "batch", 100_000, 20_000, 0, 0, 10_000, 0),
    ("oai", "openai", "gpt-5", "flex", 80_000, 8_000, 0, 0, 20_000, 2),
    ("oai", "openai", "gpt-4o", "priority", 40_000, 0, 0, 0, 4_000, 0),
    ("oai", "openai", "openai/gpt-4o", "", 10_000, 2_000, 0, 0, 1_000, 0),
    ("oai", "", "openai/gpt-4o-mini", "standard", 10_000, 0, 0, 0, 1_000, 0),
    ("alias", "anthropic", "claude-sonnet-4-5", "", 100_000, 0, 10_000, 0, 5_000, 0),
]
AT = "2026-11-02T10:00:00Z"  # the catalogue's batch, flex and priority prices are in force (from October 2026)
CONTEXT = {"batch": {"processing": "batch"}, "flex": {"service_tier": "flex"}, "priority": {"service_tier": "priority"}}


def catalogue_cost(
    provider: str, model: str, tier: str, inp: int, cached: int, write: int, w1h: int, out: int, web: int
) -> Decimal:
    """genai-prices called directly with the event's usage and price context."""
    usage = GenaiUsage(
        input_tokens=inp,
        cache_read_tokens=cached,
        cache_write_tokens=write,
        cache_write_1h_tokens=w1h,
        output_tokens=out,
        web_searches=web,
    )
    model = model.removeprefix("openai/")  # the package does not strip provider prefixes; marginbot does
    when = datetime.fromisoformat(AT)
    return calc_price(
        usage, model, provider_id=provider or None, genai_request_timestamp=when, price_context=CONTEXT.get(tier)
    ).total_price


def override_cost(inp: int, write: int, out: int) -> Decimal:
    return (
        (inp - write) * OVERRIDE["input_per_mtok"]
        + write * OVERRIDE["cache_write_per_mtok"]
        + out * OVERRIDE["output_per_mtok"]
    ) / 10**6


def expected() -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for customer, provider, model, tier, *counts in EVENTS:
        cost = (
            override_cost(counts[0], counts[2], counts[4])
            if customer == "alias"
            else catalogue_cost(provider, model, tier, *counts)
        )
        totals[customer] = totals.get(customer, Decimal(0)) + cost
    return totals


@pytest.fixture
def rt(runtime: Runtime, tmp_path: Path) -> Runtime:
    prices = tmp_path / "dimension-prices.toml"
    prices.write_text(PRICES)
    return Runtime(runtime.settings.model_copy(update={"prices_file": prices}), now_override=runtime.now())


def rows(kind: str) -> list[dict[str, Any]]:
    out = []
    for i, (customer, provider, model, tier, inp, cached, write, w1h, output, web) in enumerate(EVENTS):
        out.append(
            {
                "event_id": f"{kind}-{i}",
                "ts": AT,
                "customer": customer,
                "product": "p",
                "provider": provider,
                "model": model,
                "input_tokens": inp,
                "cached_input_tokens": cached,
                "cache_write_tokens": write,
                "cache_write_1h_tokens": w1h,
                "output_tokens": output,
                "web_searches": web,
                "service_tier": tier,
            }
        )
    return out


def write_file(path: Path, kind: str) -> Path:
    records = rows(kind)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        header = list(records[0])
        path.write_text(",".join(header) + "\n" + "".join(",".join(str(r[c]) for c in header) + "\n" for r in records))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_each_customers_cogs_equals_the_catalogue_called_directly_and_the_overrides_own_rates(
    rt: Runtime, tmp_path: Path, suffix: str
) -> None:
    result = import_usage_file(
        rt.engine, write_file(tmp_path / f"usage{suffix}", "e"), prices=rt.prices, timezone="UTC"
    )

    assert (result.imported, result.unpriced_events) == (len(EVENTS), 0)
    # Anthropic has no priority prices: priced at standard rates (as genai-prices falls back) and said.
    assert result.tier_warning is not None and "anthropic/claude-haiku-4-5 priority" in result.tier_warning
    want = expected()
    with rt.connect() as conn:
        got = {c: customer_report(conn, c, month(2026, 11), thresholds=rt.thresholds).current.cogs for c in want}
    assert got == want
    assert want["anth"] > Decimal("0.2")  # the web searches alone are $0.13: they were not dropped


def test_rollups_keep_the_new_counters_and_costs_and_equal_the_sum_of_events(rt: Runtime, tmp_path: Path) -> None:
    import_usage_file(rt.engine, write_file(tmp_path / "usage.csv", "e"), prices=rt.prices, timezone="UTC")
    measures = ("cache_write_1h_tokens", "web_searches", *COST_COLUMNS)
    sums = ", ".join(f"SUM({m})" for m in measures)
    with rt.connect() as conn:
        events = conn.execute(text(f"SELECT {sums} FROM usage_event")).one()
        for table in ("daily_rollup", "daily_customer_product"):
            assert conn.execute(text(f"SELECT {sums} FROM {table}")).one() == events, table
        tiers = conn.execute(
            text("SELECT service_tier, SUM(events) FROM daily_rollup GROUP BY service_tier ORDER BY service_tier")
        ).all()
    assert dict(zip(measures, events, strict=True))["web_searches"] == 15
    assert dict(zip(measures, events, strict=True))["cost_web_search"] == 150_000_000  # 15 × $10 per thousand
    assert [tuple(t) for t in tiers] == [("batch", 2), ("flex", 1), ("priority", 2), ("standard", 4)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"cache_write_tokens": 10, "cache_write_1h_tokens": 11},
            "cache_write_1h_tokens (11) exceed cache_write_tokens (10)",
        ),
        (
            {"service_tier": "turbo"},
            "service_tier must be one of standard, flex, priority, batch (blank: standard), got 'turbo'",
        ),
        ({"web_searches": -1}, "web_searches must be a non-negative integer, got '-1'"),
    ],
)
def test_a_bad_new_column_value_refuses_the_file_naming_the_line_and_field(
    rt: Runtime, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    record = {**rows("bad")[0], "input_tokens": 100, "cached_input_tokens": 0, "cache_write_tokens": 0}
    record["cache_write_1h_tokens"] = 0
    record.update(changes)
    path = tmp_path / "bad.csv"
    path.write_text(",".join(record) + "\n" + ",".join(str(v) for v in record.values()) + "\n")
    with pytest.raises(ImportRefused) as refused:
        import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")
    assert f"line 2: {message}" in str(refused.value)


def test_a_tier_is_read_in_any_case_and_blank_or_default_is_standard(rt: Runtime, tmp_path: Path) -> None:
    records = rows("t")[:1]
    path = tmp_path / "tiers.csv"
    header = list(records[0])
    lines = [",".join(header)]
    for i, tier in enumerate(["", "default", " Batch ", "FLEX"]):
        lines.append(",".join(str({**records[0], "event_id": f"t{i}", "service_tier": tier}[c]) for c in header))
    path.write_text("\n".join(lines) + "\n")
    import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")
    with rt.connect() as conn:
        stored = conn.execute(text("SELECT event_id, service_tier FROM usage_event ORDER BY event_id")).all()
    assert [tuple(r) for r in stored] == [("t0", "standard"), ("t1", "standard"), ("t2", "batch"), ("t3", "flex")]
    _ = UTC
