"""A task that runs in two products is one task: a contract metering tasks on every product bills it once, in the
period it started in (its first day in either product), and every reader of tasks agrees (revenue, the margin
report's task count and percentiles, the alerts' daily series, the forecasts' days and windows, the bridge).
A contract on one product still counts the tasks that ran in it, from their first day there."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.alerts.trend import daily_customer_figures
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import Period, month
from engine.reports.bridge import margin_bridge
from engine.reports.margin import customer_report
from engine.reports.portfolio import portfolio
from engine.reports.revenue import revenue_by_customer
from engine.reports.usage import UnitCounter, spanning_tasks, whole_tasks
from engine.runtime import Runtime
from engine.scenarios.basis import daily_usage, window_between
from engine.vocab import SubjectKind, Unit

D = Decimal
OCTOBER, NOVEMBER = month(2026, 10), month(2026, 11)
USAGE = "event_id,ts,customer,product,feature,provider,model,input_tokens,cost_usd,task_id\n"
CONTRACTS = (
    "customer,customer_name,product,plan,start,end,seats,seat_price_usd,platform_fee_usd,included_units,unit,"
    "unit_price_usd\n"
)
# (day, product, cost, task): acme's and, the same events, beta's.
EVENTS = [
    ("10-05", "agent", "1.00", "t1"),  # t1 runs in both products on October 5th: one task, $1.50
    ("10-05", "search", "0.50", "t1"),
    ("10-31", "agent", "2.00", "t2"),  # t2 starts on October 31st in agent and goes on in search on November 1st
    ("11-01", "search", "1.00", "t2"),
    ("11-02", "search", "4.00", "t3"),  # t3: search alone
]


@pytest.fixture
def book(runtime: Runtime, tmp_path: Path) -> Runtime:
    rows = [
        f"{who}{i},2026-{day}T12:00:00Z,{who},{product},run,openai,gpt-4o,10,{cost},{task}\n"
        for who in ("acme", "beta")
        for i, (day, product, cost, task) in enumerate(EVENTS)
    ]
    (tmp_path / "usage.csv").write_text(USAGE + "".join(rows))
    import_usage_file(runtime.engine, tmp_path / "usage.csv", prices=runtime.prices, timezone="UTC")
    # acme pays $10 a task on every product; beta $10 a task on search alone.
    (tmp_path / "contracts.csv").write_text(
        CONTRACTS + "acme,Acme,,usage,2026-09-01,,,,,,task,10\n" + "beta,Beta,search,usage,2026-09-01,,,,,,task,10\n"
    )
    import_contracts_file(runtime.engine, tmp_path / "contracts.csv")
    return runtime


def test_a_task_in_two_products_is_billed_once_in_the_period_it_started(book: Runtime) -> None:
    with book.connect() as conn:
        assert spanning_tasks(conn, ["acme", "beta", "nobody"]) == {"acme", "beta"}
        assert whole_tasks(conn, OCTOBER, ["acme"]) == {"acme": 2}
        october = revenue_by_customer(conn, OCTOBER)
        november = revenue_by_customer(conn, NOVEMBER)
        # acme: t1 and t2 started in October (3 product rows there), t3 alone in November (t2's search row is
        # November's, but t2 started in October). beta, on search: t1 in October, t2 and t3 there in November.
        assert (october["acme"], november["acme"]) == (D("20"), D("10"))
        assert (october["beta"], november["beta"]) == (D("10"), D("20"))
        # The same through the portfolio (its counter prefetches every customer's tasks at once) and a report on
        # acme alone (its counter reads acme's).
        board = portfolio(conn, OCTOBER, thresholds=book.thresholds)
        assert {r.key: r.current.revenue for r in board.customers} == {"acme": D("20"), "beta": D("10")}
        assert board.previous_total.revenue == 0
        # Split across products by the tasks that ran in each: agent 2 (t1, t2), search 1 (t1); all of it counted.
        assert sum(r.current.revenue for r in board.products) == D("30")
        report = customer_report(conn, "acme", OCTOBER, thresholds=book.thresholds)
        assert (report.current.revenue, report.previous.revenue) == (D("20"), 0)
        # Two tasks, each with its cost in both products: $1.50 and $2.00 (t2's November search event is
        # November's cost, but the task's: a task's cost is all of it, as for a task in one product).
        assert (report.tasks, report.task_cost_p50, report.task_cost_p99) == (2, D("1.50"), D("3.00"))
        # beta's report counts beta's tasks, t3 alone in November; its search contract bills t2 there as well.
        beta = customer_report(conn, "beta", NOVEMBER, thresholds=book.thresholds)
        assert (beta.tasks, beta.current.revenue) == (1, D("20"))


def test_a_contract_in_force_on_part_of_the_period_counts_the_tasks_started_on_its_days(book: Runtime) -> None:
    with book.connect() as conn:
        prefetched = UnitCounter(conn, OCTOBER, None)
        prefetched.prefetch_tasks({"acme", "beta"}, {"acme"})  # acme's tasks also counted on every product at once
        per_product = UnitCounter(conn, OCTOBER, None)
        per_product.prefetch_tasks({"acme", "beta"})  # not on every product: a counter asked for them reads them
        alone = UnitCounter(conn, OCTOBER, ["acme"])  # nothing prefetched
        for counter in (prefetched, per_product, alone):
            # October 1st to 5th: t1 alone, once (its two products' rows would be 2); the 20th on: t2.
            spans = (
                (OCTOBER.start, OCTOBER.end, 2),
                (OCTOBER.start, date(2026, 10, 5), 1),
                (date(2026, 10, 20), OCTOBER.end, 1),
            )
            for a, b, tasks in spans:
                per_product = counter.by_product("acme", "", Unit.TASK, a, b)
                assert counter.units("acme", "", Unit.TASK, a, b, per_product) == tasks
            search = counter.by_product("acme", "search", Unit.TASK, OCTOBER.start, OCTOBER.end)
            assert counter.units("acme", "search", Unit.TASK, OCTOBER.start, OCTOBER.end, search) == 1


def test_the_alerts_daily_series_count_each_task_on_its_first_day(book: Runtime) -> None:
    with book.connect() as conn:
        days = daily_customer_figures(conn, Period(OCTOBER.start, NOVEMBER.end, ""), {"acme"})["acme"]
    revenue = {day: r for day, (r, _) in days.items() if r}
    assert revenue == {date(2026, 10, 5): D("10"), date(2026, 10, 31): D("10"), date(2026, 11, 2): D("10")}


def test_the_forecasts_days_and_windows_count_each_task_once(book: Runtime) -> None:
    with book.connect() as conn:
        days = {d.day: d for d in daily_usage(conn, Period(OCTOBER.start, NOVEMBER.end, ""))["acme"]}
        beta = {d.day: d for d in daily_usage(conn, Period(OCTOBER.start, NOVEMBER.end, ""), "beta")["beta"]}
    assert days[date(2026, 10, 5)].units_of(Unit.TASK) == 1
    assert days[date(2026, 11, 1)].units_of(Unit.TASK) == 0  # t2 started the day before
    assert days[date(2026, 11, 1)].units_of(Unit.TASK, "search") == 1  # but in search on this day
    assert days[date(2026, 11, 10)].units_of(Unit.TASK) == 0  # a quiet day
    assert window_between(list(days.values()), OCTOBER.start, OCTOBER.end).units_of(Unit.TASK) == 2
    assert window_between(list(days.values()), NOVEMBER.start, NOVEMBER.end).units_of(Unit.TASK) == 1
    assert beta[date(2026, 11, 1)].units_of(Unit.TASK, "search") == 1


def test_the_bridge_meters_each_task_once(book: Runtime) -> None:
    with book.connect() as conn:
        bridge = margin_bridge(
            conn, SubjectKind.CUSTOMER, "acme", NOVEMBER, prices=book.prices, timezone=book.settings.timezone
        )
    assert bridge.revenue == (D("20.00"), D("10.00"))
    # Half the tasks, at the same terms: all of the change is volume.
    assert {p.part: p.change for p in bridge.parts if p.side == "revenue" and p.change} == {
        "metered_volume": D("-10.00")
    }
