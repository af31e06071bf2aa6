"""The digest's revenue is the exact sum of the book's lines: a week of exactly half a cent rounds up, in the
headline, the trend and the payload alike."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from bot.blocks.digest import digest_plain
from engine.alerts.digest import digest_to_dict, weekly_digest
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime

# Four flat fees whose 7 days of November (7/30 of each) add up to exactly $4,889.605; each line's 28-digit Decimal
# is cut, and added as Decimals they made $4,889.6049…9: "Revenue: $4,889.60" where half-up says $4,889.61.
FEES = {"a-co": "1048.84", "b-co": "6936.82", "c-co": "6122.56", "d-co": "6847.23"}


def test_a_week_of_exactly_half_a_cent_rounds_up_in_the_digest(runtime: Runtime, tmp_path: Path) -> None:
    contracts, usage = tmp_path / "contracts.csv", tmp_path / "usage.csv"
    contracts.write_text(
        "customer,product,plan,start,platform_fee_usd\n"
        + "".join(f"{c},assist,flat,2026-10-01,{fee}\n" for c, fee in FEES.items())
    )
    usage.write_text(
        "event_id,ts,customer,product,cost_usd\n"
        + "".join(f"{c}-{day},2026-11-{day:02d}T12:00:00Z,{c},assist,1.00\n" for c in FEES for day in range(1, 16))
    )
    import_contracts_file(runtime.engine, contracts)
    import_usage_file(runtime.engine, usage, prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        d = weekly_digest(conn, today=date(2026, 11, 16), thresholds=runtime.thresholds)
    assert d.week.label == "2026-W46" and d.total.revenue == Decimal("4889.605")
    p = digest_to_dict(d, runtime.thresholds)
    assert p["revenue_usd"] == p["trend"][-1]["revenue_usd"] == "4889.61"
    assert Decimal(p["exact"]["revenue_usd"]) == Decimal("4889.605")  # the exact figure, still a decimal's text
    assert "Revenue: $4,889.61" in digest_plain(p)
