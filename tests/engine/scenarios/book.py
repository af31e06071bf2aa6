"""A small hand-built book for the scenario, forecast and floor tests, imported through the real import path.

Prices (USD per million tokens): acme/big 10 input, 1 cached input, 30 output; acme/small 1, 0.1, 3.
A retrieval query costs $0.01 and a cache lookup $0.001. Every event's cost, by hand:

  c1 "Cee One" (usage plan, $0.50 a request), October 2026
    e1 10-05 chat  big    100,000 in (20,000 cached), 10,000 out, 10 req, task t1, hash h1
       80,000 × 10/M = $0.80 · 20,000 × 1/M = $0.02 · 10,000 × 30/M = $0.30           → $1.12
    e2 10-06 agent big    200,000 in, 50,000 out, 20 req, 5 retrievals, task t2, hash h1
       200,000 × 10/M = $2.00 · 50,000 × 30/M = $1.50 · 5 × $0.01 = $0.05              → $3.55
    e3 10-07 chat  small  100,000 in, 20,000 out, 10 req, task t2, hash h2
       100,000 × 1/M = $0.10 · 20,000 × 3/M = $0.06                                   → $0.16
    COGS $4.83; 40 requests × $0.50 = revenue $20.00; 2 tasks (t1, t2)
  c2 "Cee Two" (flat $10 a month)
    e5 10-10, e6 10-11 chat big 50,000 in, 5,000 out, 5 req, hash h9: $0.50 + $0.15 = $0.65 each → COGS $1.30
  c3 "Cee Three" (seat: 4 seats × $10)
    e7 10-20 chat small 1,000,000 in, 100,000 out, 50 req: $1.00 + $0.30                  → COGS $1.30
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.runtime import Runtime

OCTOBER = month(2026, 10)
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
cache_lookup = 0.001
"""
USAGE_HEADER = [
    "event_id",
    "ts",
    "customer",
    "product",
    "feature",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "requests",
    "retrieval_queries",
    "task_id",
    "prompt_hash",
]
EVENTS = [
    [
        "e1",
        "2026-10-05T10:00:00Z",
        "c1",
        "app",
        "chat",
        "acme",
        "big",
        100_000,
        20_000,
        10_000,
        10,
        0,
        "t1",
        "h1",
    ],
    [
        "e2",
        "2026-10-06T10:00:00Z",
        "c1",
        "app",
        "agent",
        "acme",
        "big",
        200_000,
        0,
        50_000,
        20,
        5,
        "t2",
        "h1",
    ],
    [
        "e3",
        "2026-10-07T10:00:00Z",
        "c1",
        "app",
        "chat",
        "acme",
        "small",
        100_000,
        0,
        20_000,
        10,
        0,
        "t2",
        "h2",
    ],
    ["e5", "2026-10-10T10:00:00Z", "c2", "app", "chat", "acme", "big", 50_000, 0, 5_000, 5, 0, "", "h9"],
    ["e6", "2026-10-11T10:00:00Z", "c2", "app", "chat", "acme", "big", 50_000, 0, 5_000, 5, 0, "", "h9"],
    [
        "e7",
        "2026-10-20T10:00:00Z",
        "c3",
        "app",
        "chat",
        "acme",
        "small",
        1_000_000,
        0,
        100_000,
        50,
        0,
        "",
        "",
    ],
]
CONTRACTS = [
    [
        "customer",
        "customer_name",
        "plan",
        "start",
        "seats",
        "seat_price_usd",
        "platform_fee_usd",
        "unit",
        "unit_price_usd",
    ],
    ["c1", "Cee One", "usage", "2026-01-01", "", "", "", "request", "0.50"],
    ["c2", "Cee Two", "flat", "2026-01-01", "", "", "10", "", ""],
    ["c3", "Cee Three", "seat", "2026-01-01", "4", "10", "", "", ""],
]
C1_COGS = Decimal("4.83")
C1_REVENUE = Decimal("20.00")


def write_prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def load_book(
    rt: Runtime,
    tmp_path: Path,
    events: list[list[object]] | None = None,
    contracts: list[list[str]] | None = None,
) -> None:
    """Import the events and contracts (the defaults above) through the ordinary import functions."""
    usage = write_csv(tmp_path / "usage.csv", [USAGE_HEADER, *(events if events is not None else EVENTS)])
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)
    import_contracts_file(rt.engine, write_csv(tmp_path / "contracts.csv", contracts or CONTRACTS))
