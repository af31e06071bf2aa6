"""Hand-computed books for the margin bridge: one customer, September 2026 against October 2026, one driver at a
time, imported through the ordinary import functions with their own price file.

Prices (USD per million tokens), provider "acme":
    big     input 10, cached input 1, output 30      (the price-change books: from 2026-10-01 input 12,
                                                      cached input 1.20, output 36, i.e. +20%)
    small   input 1, cached input 0.10, output 3
    a retrieval query costs $0.01

The base, September 2026 (customer acme "Acme Corp", product agent, usage plan $0.05 a request):
    A  agent-run on big:   1,000 requests, 1,000,000 input tokens, 200,000 output
       1,000,000 × 10/M = $10.00 · 200,000 × 30/M = $6.00                       → $16.00
    B  chat on small:      1,000 requests, 500,000 input tokens, 100,000 output
       500,000 × 1/M = $0.50 · 100,000 × 3/M = $0.30                             → $0.80
    COGS $16.80 · revenue 2,000 requests × $0.05 = $100.00 · margin 83.2%
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from config.settings import Settings
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.conftest import NOW

PRICES = """
[[models]]
provider = "acme"
model = "big"
effective_from = 2026-01-01
input_per_mtok = 10
cached_input_per_mtok = 1
output_per_mtok = 30

[[models]]
provider = "acme"
model = "small"
effective_from = 2026-01-01
input_per_mtok = 1
cached_input_per_mtok = 0.1
output_per_mtok = 3

[unit_costs]
retrieval_query = 0.01
"""
PRICE_RISE = """
[[models]]
provider = "acme"
model = "big"
effective_from = 2026-10-01
input_per_mtok = 12
cached_input_per_mtok = 1.2
output_per_mtok = 36
"""
HEADER = [
    "event_id", "ts", "customer", "product", "feature", "provider", "model", "requests", "input_tokens",
    "cached_input_tokens", "output_tokens", "retrieval_queries",
]  # fmt: skip
CONTRACT_HEADER = ["customer", "customer_name", "product", "plan", "start", "end", "seats", "seat_price_usd",
                   "unit", "unit_price_usd"]  # fmt: skip
USAGE_PLAN = [["acme", "Acme Corp", "", "usage", "2026-01-01", "", "", "", "request", "0.05"]]


@dataclass(frozen=True)
class Use:
    """One cell's usage in one month, as one event on the 10th (the month's position is what re-pricing keeps)."""

    feature: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached: int = 0
    retrievals: int = 0


A_SEP = Use("agent-run", "big", 1_000, 1_000_000, 200_000)
B_SEP = Use("chat", "small", 1_000, 500_000, 100_000)
BASE = [A_SEP, B_SEP]


def times(use: Use, k: int) -> Use:
    return replace(
        use,
        requests=use.requests * k,
        input_tokens=use.input_tokens * k,
        output_tokens=use.output_tokens * k,
        cached=use.cached * k,
        retrievals=use.retrievals * k,
    )


def load(
    settings: Settings,
    tmp_path: Path,
    *,
    september: list[Use],
    october: list[Use],
    contracts: list[list[str]] | None = None,
    price_rise: bool = False,
) -> Runtime:
    """A runtime over a fresh database holding this book."""
    prices = tmp_path / "bridge-prices.toml"
    prices.write_text(PRICES + (PRICE_RISE if price_rise else ""))
    rt = Runtime(settings.model_copy(update={"prices_file": prices}), now_override=NOW)
    rows: list[list[object]] = [HEADER]
    for month, uses in (("09", september), ("10", october)):
        for i, u in enumerate(uses):
            rows.append(
                [f"{month}-{i}", f"2026-{month}-10T12:00:00Z", "acme", "agent", u.feature, "acme", u.model,
                 u.requests, u.input_tokens, u.cached, u.output_tokens, u.retrievals]
            )  # fmt: skip
    usage = tmp_path / "bridge-usage.csv"
    with usage.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    contract_file = tmp_path / "bridge-contracts.csv"
    with contract_file.open("w", newline="") as handle:
        csv.writer(handle).writerows([CONTRACT_HEADER, *(contracts or USAGE_PLAN)])
    import_contracts_file(rt.engine, contract_file)
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)
    return rt


def load_rows(
    settings: Settings,
    tmp_path: Path,
    *,
    usage: list[dict[str, object]],
    contracts: list[dict[str, object]],
    now: datetime = NOW,
    price_file: str = PRICES,
) -> Runtime:
    """A runtime over a fresh database holding these usage and contract rows (column: value; columns missing from
    a row are empty), priced with `price_file`: for books whose days or contract columns `load` does not cover."""
    prices = tmp_path / "bridge-prices.toml"
    prices.write_text(price_file)
    rt = Runtime(settings.model_copy(update={"prices_file": prices}), now_override=now)
    for name, rows in (("bridge-contracts.csv", contracts), ("bridge-usage.csv", usage)):
        columns = list(dict.fromkeys(c for row in rows for c in row))
        with (tmp_path / name).open("w", newline="") as handle:
            csv.writer(handle).writerows([columns, *([row.get(c, "") for c in columns] for row in rows)])
    import_contracts_file(rt.engine, tmp_path / "bridge-contracts.csv")
    import_usage_file(rt.engine, tmp_path / "bridge-usage.csv", prices=rt.prices, timezone=rt.settings.timezone)
    return rt


def migrating(settings: Settings, tmp_path: Path) -> Runtime:
    """A customer that keeps its per-request contract on one product but moves all its traffic, from October, to a
    product it pays a flat fee for: the metered-volume state of its bridge has no revenue.

    mig: usage on assist at $2.00 a request from 2026-01-01; flat on assist2 at $400.00 a month from 2026-10-01.
    September: 100 requests on assist, 2,000,000 input tokens on big ($20.00): revenue $200.00, margin 90%.
    October: the same on assist2: revenue $400.00, COGS $20.00, margin 95%.
    Revenue: R0 200 → metered volume: assist's requests 100 → 0, $0 (no margin) → contract changes: 400."""
    contracts: list[dict[str, object]] = [
        {"customer": "mig", "customer_name": "Migrator", "product": "assist", "plan": "usage",
         "start": "2026-01-01", "unit": "request", "unit_price_usd": "2.00"},
        {"customer": "mig", "customer_name": "Migrator", "product": "assist2", "plan": "flat",
         "start": "2026-10-01", "platform_fee_usd": "400.00"},
    ]  # fmt: skip
    usage: list[dict[str, object]] = [
        {"event_id": f"m{month}", "ts": f"2026-{month}-10T12:00:00Z", "customer": "mig", "product": product,
         "feature": "chat", "provider": "acme", "model": "big", "requests": 100, "input_tokens": 2_000_000,
         "output_tokens": 0}
        for month, product in (("09", "assist"), ("10", "assist2"))
    ]  # fmt: skip
    return load_rows(settings, tmp_path, usage=usage, contracts=contracts)
