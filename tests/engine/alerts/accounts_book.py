"""A book of customers with owners and lines of their own, loaded through the engine's own CSV imports.

customer  daily cost  margin  own line       expected
strict    5.50        45%     breach_pct 50  breach (45 < 50; the global 40% would not)
relaxed   7.00        30%     breach_pct 25  nothing (30 ≥ 25; the global 40% would)
plain     7.00        30%     -              breach, against the global 40%
owned     7.00        30%     owner U1;U2    breach, its owners named
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from engine.ingest.contracts import import_contracts_file
from engine.runtime import Runtime
from tests.engine.alerts.book import WINDOW_START, Run, load

COLUMNS = ["customer", "customer_name", "product", "plan", "start", "unit", "unit_price_usd", "owner", "breach_pct"]
ACCOUNTS = [
    ("strict", "Strict Inc", "app", "", "50"),
    ("relaxed", "Relaxed Ltd", "app", "", "25"),
    ("plain", "Plain Co", "app", "", ""),
    ("owned", "Owned Corp", "app", "U012PAT;W045SAM", ""),
]


def load_accounts(rt: Runtime, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "contracts.csv"
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(COLUMNS)
        for key, name, product, owner, breach in ACCOUNTS:
            w.writerow([key, name, product, "usage", "2026-01-01", "request", "1", owner, breach])
    import_contracts_file(rt.engine, path)
    cost = {"strict": Decimal("5.50"), "relaxed": Decimal("7.00"), "plain": Decimal("7.00"), "owned": Decimal("7.00")}
    load(rt, folder, [Run(key, "app", WINDOW_START, 30, 10, cost[key]) for key, *_ in ACCOUNTS], [])
