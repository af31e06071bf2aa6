"""Routing prices per request: a long-context tier is chosen from one request's input (or, where requests are not
counted, the average of the provider's usage buckets), never from a day's total; batch usage moves at batch prices."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.runtime import Runtime
from engine.scenarios.grammar import parse_levers
from engine.scenarios.whatif import whatif

HEADER = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests,service_tier\n"


def route(rt: Runtime, tmp_path: Path, rows: list[str], customer: str, period_month: int = 10) -> Decimal:
    path = tmp_path / f"{customer}.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")
    levers, _ = parse_levers(["route", "gpt-4o->claude-sonnet-4-5"])
    with rt.connect() as conn:
        s = whatif(conn, customer, month(2026, period_month), levers, prices=rt.prices, thresholds=rt.thresholds)
    return s.after.cogs


def test_thirty_calls_of_50k_tokens_without_a_request_count_route_at_the_base_price(
    runtime: Runtime, tmp_path: Path
) -> None:
    # As Anthropic's usage report: requests 0 (unknown), one event per usage bucket; 30 buckets on one day.
    rows = [f"b{i},2026-10-05T{i % 24:02d}:00:00Z,acme,p,openai,gpt-4o,50000,2000,0," for i in range(30)]
    # 1.5M input at $3/Mtok + 60k output at $15/Mtok = $5.40 (the day's total would have chosen $6 and $22.50: $10.35)
    assert route(runtime, tmp_path, rows, "acme") == Decimal("5.4")


def test_one_event_of_thirty_requests_routes_at_its_average_request(runtime: Runtime, tmp_path: Path) -> None:
    rows = ["r1,2026-10-05T10:00:00Z,globex,p,openai,gpt-4o,1500000,60000,30,"]
    assert route(runtime, tmp_path, rows, "globex") == Decimal("5.4")


def test_a_request_over_the_threshold_still_routes_at_the_long_context_price(runtime: Runtime, tmp_path: Path) -> None:
    rows = ["l1,2026-10-05T10:00:00Z,initech,p,openai,gpt-4o,250000,2000,1,"]
    # 250k × $6/Mtok + 2k × $22.50/Mtok
    assert route(runtime, tmp_path, rows, "initech") == Decimal("1.545")


def test_batch_usage_routes_at_the_targets_batch_prices(runtime: Runtime, tmp_path: Path) -> None:
    rows = [f"t{i},2026-11-03T10:00:00Z,umbrella,p,openai,gpt-4o,50000,2000,1,batch" for i in range(30)]
    # claude-sonnet-4-5's batch prices (from 2026-10-14): $1.50 and $7.50 per Mtok: half of $5.40
    assert route(runtime, tmp_path, rows, "umbrella", 11) == Decimal("2.7")
