"""A product's CSV report: its revenue rows sum back to its total, each customer's share of the product."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from bot.render.csv_table import report_csv
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.reports.margin import subject_report
from engine.runtime import Runtime
from engine.vocab import SubjectKind


def chat_csv(runtime: Runtime, tmp_path: Path, contracts: list[str], usage: list[str]) -> list[dict[str, str]]:
    """Product chat's October CSV report for these contract rows (customer, name, flat fee) and usage rows."""
    (tmp_path / "c.csv").write_text(
        "customer,customer_name,plan,start,platform_fee_usd\n"
        + "".join(f"{c},{n},flat,2026-01-01,{fee}\n" for c, n, fee in (r.split(",") for r in contracts))
    )
    header = "event_id,ts,customer,product,provider,model,requests,cost_usd"
    (tmp_path / "u.csv").write_text("\n".join([header, *usage]) + "\n")
    import_contracts_file(runtime.engine, tmp_path / "c.csv")
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        report = subject_report(
            conn, SubjectKind.PRODUCT, "chat", "chat", month(2026, 10), thresholds=runtime.thresholds
        )
    return list(csv.DictReader(io.StringIO(report_csv(report))))


def test_a_products_revenue_rows_are_its_share_and_sum_to_its_total(runtime: Runtime, tmp_path: Path) -> None:
    # A $900 contract for every product, its October requests 200 on chat and 100 on api: chat earns $600.00. The
    # revenue row gave the whole contract, "all products,900.00", beside a total of $600.00.
    usage = [f"c{i},2026-10-05T12:00:00Z,om,chat,openai,gpt-4o,100,1.00" for i in range(2)]
    usage += ["a1,2026-10-06T12:00:00Z,om,api,openai,gpt-4o,100,1.00"]
    table = chat_csv(runtime, tmp_path, ["om,Om AG,900"], usage)
    total = next(r for r in table if r["section"] == "total")
    revenue = [r for r in table if r["section"] == "revenue"]
    assert total["revenue_usd"] == "600.00"
    assert [(r["item"], r["revenue_usd"]) for r in revenue] == [("om (its share of all products)", "600.00")]
    assert sum(Decimal(r["revenue_usd"]) for r in revenue) == Decimal(total["revenue_usd"])


def test_several_customers_rows_still_sum_to_the_products_total(runtime: Runtime, tmp_path: Path) -> None:
    # Two $100 contracts for every product, chat a third of each one's requests: $33.333… each. Each row rounded on
    # its own read 33.33 + 33.33 = 66.66 beside a total of 66.67.
    usage: list[str] = []
    for who in ("om", "pa"):
        usage += [f"{who}1,2026-10-05T12:00:00Z,{who},chat,openai,gpt-4o,1,1.00"]
        usage += [f"{who}2,2026-10-05T12:00:00Z,{who},api,openai,gpt-4o,2,1.00"]
    table = chat_csv(runtime, tmp_path, ["om,Om,100", "pa,Pa,100"], usage)
    total = next(r for r in table if r["section"] == "total")
    revenue = [Decimal(r["revenue_usd"]) for r in table if r["section"] == "revenue"]
    assert total["revenue_usd"] == "66.67" and sorted(revenue) == [Decimal("33.33"), Decimal("33.34")]
    assert sum(revenue) == Decimal(total["revenue_usd"])
