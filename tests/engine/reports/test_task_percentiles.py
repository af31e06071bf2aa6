"""A customer's task percentiles are the nearest-rank P50 and P99 of the tasks started in the period, whatever else
is stored: tasks started before it (however many, however dear) neither count nor move a rank."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime

HEADER = "event_id,ts,customer,product,feature,provider,model,input_tokens,cost_usd,task_id\n"


def event(i: int, day: str, cost: str, task: str) -> str:
    return f"e{i},2026-{day}T12:00:00Z,acme,agent,run,openai,gpt-4o,10,{cost},{task}\n"


def test_task_percentiles_rank_the_periods_tasks_only(runtime: Runtime, tmp_path: Path) -> None:
    rows = [event(i, "10-05", f"{i}.00", f"oct{i}") for i in range(1, 101)]  # October: tasks of $1 … $100
    # September: 300 tasks dearer than any of October's, and one October task's second event, still October's
    rows += [event(1000 + i, "09-10", "5000.00", f"sep{i}") for i in range(300)]
    rows.append(event(2000, "10-06", "0.50", "oct1"))  # oct1 costs $1.50 in all
    (tmp_path / "usage.csv").write_text(HEADER + "".join(rows))
    import_usage_file(runtime.engine, tmp_path / "usage.csv", prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 10), thresholds=runtime.thresholds)
        quiet = customer_report(conn, "acme", month(2026, 8), thresholds=runtime.thresholds)
    # A month without tasks has none to rank (PostgreSQL aggregates no rows to NULL, SQLite to an empty array).
    assert (quiet.tasks, quiet.task_cost_p50, quiet.task_cost_p99) == (0, 0, 0)
    # 100 tasks: P50 is the 50th cheapest ($50), P99 the 99th ($99); $1.50 for oct1 changes neither
    assert (report.tasks, report.task_cost_p50, report.task_cost_p99) == (100, 50, 99)


def test_task_percentiles_are_exact_past_what_a_float_holds(runtime: Runtime, tmp_path: Path) -> None:
    # Two tasks a nano-dollar apart, above 2**53 nano-USD (~$9M, within what one event may cost): read through a
    # float, both would be 9,007,199,254,740,992. In unsorted order, so the ranks are selected, not just read.
    rows = [event(1, "10-05", "9007199.254740993", "big"), event(2, "10-06", "9007199.254740992", "small")]
    rows += [event(3 + i, "10-07", "1.00", f"t{i}") for i in range(3)]  # five tasks: P50 the 3rd, P99 the 5th
    (tmp_path / "usage.csv").write_text(HEADER + "".join(rows))
    import_usage_file(runtime.engine, tmp_path / "usage.csv", prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 10), thresholds=runtime.thresholds)
    assert report.tasks == 5
    assert report.task_cost_p50 == Decimal("1.00")
    assert report.task_cost_p99 == Decimal("9007199.254740993")
