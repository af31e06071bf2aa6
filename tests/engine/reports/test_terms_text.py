"""Contract terms read as money and counts on both databases (PostgreSQL's NUMERIC keeps six decimals: a unit price
of 0.01 comes back as 0.010000, 20,000 included units as 20000.000000)."""

from __future__ import annotations

from pathlib import Path

from engine.ingest.contracts import import_contracts_file
from engine.periods import month
from engine.reports.revenue import revenue_lines
from engine.runtime import Runtime

CONTRACTS = """customer,product,plan,start,seats,seat_price_usd,platform_fee_usd,included_units,unit,unit_price_usd
acme,,hybrid,2026-01-01,3,49.995,1500,20000,request,0.01
globex,,usage,2026-01-01,,,,,1k_tokens,0.0125
"""


def test_terms_show_money_as_money_and_counts_as_counts_with_every_decimal_written(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "contracts.csv"
    path.write_text(CONTRACTS)
    import_contracts_file(runtime.engine, path)
    with runtime.connect() as conn:
        lines = revenue_lines(conn, month(2026, 10))
    assert {line.customer: line.terms for line in lines} == {
        "acme": "hybrid: 3 seats × $49.995/mo, $1,500.00/mo platform fee, $0.01/request over 20,000 included/mo",
        "globex": "usage: $0.0125/1k tokens",
    }
