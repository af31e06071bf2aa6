"""A small hand-built book, loaded through the engine's own import functions, with its figures worked out by hand.

October 2026 (full month, flat contracts so revenue is exactly the monthly fee):
  Acme Corp   revenue $2,000.00   COGS 4 × $230.25 (gpt-4o on agent-run) + 3 × $187.91 (claude on chat)
                                      = $921.00 + $563.73 = $1,484.73
              margin (2000 − 1484.73) / 2000 = 25.7635% → 25.8%, BREACH (< 40%)
              biggest lever 921.00 / 1484.73 = 62.03% → "62% of COGS is gpt-4o on agent-run"
              plus one event of an unknown model (mystery-1): unpriced, counted, never $0 silently
  Globex      revenue $1,000.00   COGS $300.00 → 70.0%, HEALTHY
  Initech     revenue   $500.00   COGS $250.00 → 50.0%, WATCH
  Portfolio   revenue $3,500.00   COGS $2,034.73 → 41.8649% → 41.9%, WATCH
September 2026: Acme 2 × $150.00 = $300.00 of COGS on $2,000.00 → 85.0%.
"""

from __future__ import annotations

import csv
from pathlib import Path

from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime

USAGE_COLUMNS = ["event_id", "ts", "customer", "product", "feature", "provider", "model", "input_tokens", "cost_usd"]


def _events() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def add(customer: str, product: str, feature: str, provider: str, model: str, day: str, cost: str) -> None:
        rows.append(
            {
                "event_id": f"e{len(rows) + 1}",
                "ts": f"{day}T12:00:00Z",
                "customer": customer,
                "product": product,
                "feature": feature,
                "provider": provider,
                "model": model,
                "input_tokens": "1000",
                "cost_usd": cost,
            }
        )

    for day in ("2026-10-03", "2026-10-10", "2026-10-17", "2026-10-24"):
        add("acme", "agent", "agent-run", "openai", "gpt-4o", day, "230.25")
    for day in ("2026-10-03", "2026-10-10", "2026-10-17"):
        add("acme", "assist", "chat", "anthropic", "claude-sonnet-4-5", day, "187.91")
    add("acme", "assist", "chat", "mystery", "mystery-1", "2026-10-05", "")  # no price anywhere
    for day in ("2026-09-08", "2026-09-15"):
        add("acme", "agent", "agent-run", "openai", "gpt-4o", day, "150.00")
    add("globex", "assist", "chat", "openai", "gpt-4o", "2026-10-12", "300.00")
    add("initech", "search", "answer", "openai", "gpt-4o", "2026-10-20", "250.00")
    return rows


CONTRACTS = [
    {"customer": "acme", "customer_name": "Acme Corp", "aliases": "acme inc", "plan": "flat", "start": "2026-01-01",
     "platform_fee_usd": "2000"},
    {"customer": "globex", "customer_name": "Globex", "plan": "flat", "start": "2026-01-01", "platform_fee_usd": "1000"},
    {"customer": "initech", "customer_name": "Initech", "plan": "flat", "start": "2026-01-01", "platform_fee_usd": "500"},
]  # fmt: skip


def load_dataset(rt: Runtime, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    usage, contracts = folder / "usage.csv", folder / "contracts.csv"
    with usage.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=USAGE_COLUMNS)
        writer.writeheader()
        writer.writerows(_events())
    with contracts.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["customer", "customer_name", "aliases", "plan", "start",
                                                    "platform_fee_usd"])  # fmt: skip
        writer.writeheader()
        writer.writerows(CONTRACTS)
    import_contracts_file(rt.engine, contracts)
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)
