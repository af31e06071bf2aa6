"""Revenue for every product (an invoice line naming none, a flat contract for every product) is split by requests
only where every product with usage has its requests counted; otherwise by COGS. Anthropic's usage report counts no
requests (the sync stores 0), nor need OTLP spans or CSV rows: split by requests, such a product got none of it.

The book: acme's chat runs on Claude, requests unknown (0), $30.00 of COGS in June; its search on OpenAI, 3 requests,
$10.00. Split by COGS, chat carries 30/40 of the shared revenue and search 10/40."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from sqlalchemy import event

from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.money import CENT, round_to
from engine.periods import month, parse_period
from engine.reports.figures import Thresholds
from engine.reports.margin import customer_report, product_report
from engine.reports.portfolio import portfolio
from engine.reports.revenue import period_revenue, projected_revenue
from engine.reports.serialize import report_to_dict
from engine.runtime import Runtime
from engine.vocab import SplitBasis, Status
from tests.engine.reports.billing import store_invoice_line

D = Decimal
JUNE = month(2026, 6)
HEADER = "event_id,ts,customer,product,provider,model,requests,input_tokens,cost_usd\n"
CLAUDE_CHAT = "e1,2026-06-02T12:00:00Z,acme,chat,anthropic,claude-sonnet-4-5,0,2000000,30\n"


def _usage(runtime: Runtime, tmp_path: Path, rows: str) -> None:
    (tmp_path / "u.csv").write_text(HEADER + rows)
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")


def _flat_for_every_product(runtime: Runtime, tmp_path: Path, fee: int) -> None:
    (tmp_path / "c.csv").write_text(f"customer,product,plan,start,platform_fee_usd\nacme,,flat,2026-01-01,{fee}\n")
    import_contracts_file(runtime.engine, tmp_path / "c.csv")


def test_an_invoice_naming_no_product_is_split_by_cogs_where_a_products_requests_are_not_counted(
    runtime: Runtime, tmp_path: Path
) -> None:
    # $10,000 billed for June, no product. By requests (chat 0, search 3) all of it went to search, chat's $30.00 of
    # COGS showing no revenue. By COGS: chat 30/40 × 10,000 = $7,500.00, search 10/40 × 10,000 = $2,500.00.
    _usage(runtime, tmp_path, CLAUDE_CHAT + "e2,2026-06-03T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10\n")
    store_invoice_line(runtime.engine, "in_1", "acme", "2026-06-01", "2026-06-30", 10_000)
    with runtime.connect() as conn:
        revenue = period_revenue(conn, JUNE)
        chat = product_report(conn, "chat", JUNE, thresholds=Thresholds())
        acme = customer_report(conn, "acme", JUNE, thresholds=Thresholds())
    assert revenue.by_customer() == {"acme": D(10_000)}
    assert revenue.by_product() == {"chat": D(7_500), "search": D(2_500)}
    (line,) = revenue.lines()
    assert line.split_by == (SplitBasis.COGS,)
    assert (chat.current.revenue, chat.current.cogs, chat.current.status) == (D(7_500), D(30), Status.HEALTHY)
    # The customer's answer in --json says what its line was split by.
    assert [x["split_by"] for x in report_to_dict(acme)["revenue_lines"]] == [["cogs"]]


def test_a_flat_contract_for_every_product_is_split_by_cogs_where_a_products_requests_are_not_counted(
    runtime: Runtime, tmp_path: Path
) -> None:
    # $3,000 a month for every product: chat 30/40 = $2,250.00, search 10/40 = $750.00 (by requests: $0 and $3,000).
    _usage(runtime, tmp_path, CLAUDE_CHAT + "e2,2026-06-03T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10\n")
    _flat_for_every_product(runtime, tmp_path, 3_000)
    with runtime.connect() as conn:
        revenue = period_revenue(conn, JUNE)
        p = portfolio(conn, JUNE, thresholds=Thresholds())
    assert revenue.by_product() == {"chat": D(2_250), "search": D(750)}
    (line,) = revenue.lines()
    assert (line.by_product, line.split_by) == ({"chat": D(2_250), "search": D(750)}, (SplitBasis.COGS,))
    assert {r.key: (r.current.revenue, r.current.cogs) for r in p.products} == {
        "chat": (D(2_250), D(30)),
        "search": (D(750), D(10)),
    }
    assert p.unallocated_revenue == 0


def test_the_split_by_cogs_is_exact_however_lopsided_the_costs(runtime: Runtime, tmp_path: Path) -> None:
    # The defect as found: search's 3 requests cost $0.0002, chat's unknown ones $30.00. Chat carries
    # 10,000 × 30 / 30.0002 = 10,000 × 150,000 / 150,001 = $9,999.9333…, search 10,000 / 150,001 = $0.0666…;
    # together $10,000 to the tick, and neither is a breach (chat read $0 revenue beside $30 of COGS).
    _usage(runtime, tmp_path, CLAUDE_CHAT + "e2,2026-06-03T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,0.0002\n")
    store_invoice_line(runtime.engine, "in_1", "acme", "2026-06-01", "2026-06-30", 10_000)
    with runtime.connect() as conn:
        p = portfolio(conn, JUNE, thresholds=Thresholds())
        products = period_revenue(conn, JUNE).by_product()
    assert products["chat"] + products["search"] == D(10_000)
    chat, search = Fraction(10_000 * 150_000, 150_001), Fraction(10_000, 150_001)
    # The pieces are the exact shares, to the 28 digits a Decimal holds.
    assert abs(Fraction(products["chat"]) - chat) < Fraction(1, 10**20) > abs(Fraction(products["search"]) - search)
    assert (round_to(products["chat"], CENT), round_to(products["search"], CENT)) == (D("9999.93"), D("0.07"))
    rows = {r.key: r.current for r in p.products}
    assert (rows["chat"].status, rows["search"].status) == (Status.HEALTHY, Status.HEALTHY)


def test_revenue_for_every_product_is_split_by_requests_when_every_product_counts_them(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Chat's one request counted: requests decide (1 and 3 of 4), whatever the costs: $2,500.00 and $7,500.00.
    _usage(
        runtime,
        tmp_path,
        "e1,2026-06-02T12:00:00Z,acme,chat,anthropic,claude-sonnet-4-5,1,2000000,30\n"
        "e2,2026-06-03T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10\n",
    )
    store_invoice_line(runtime.engine, "in_1", "acme", "2026-06-01", "2026-06-30", 10_000)
    with runtime.connect() as conn:
        revenue = period_revenue(conn, JUNE)
    assert revenue.by_product() == {"chat": D(2_500), "search": D(7_500)}
    assert revenue.lines()[0].split_by == (SplitBasis.REQUESTS,)


def test_each_invoice_is_split_over_its_own_days_and_the_line_says_both_bases(runtime: Runtime, tmp_path: Path) -> None:
    # Two invoices naming no product: June 1-15 ($1,500), when chat (1 request, $30) and search (3, $10) both
    # counted requests, split 1:3, $375.00 and $1,125.00; June 16-30 ($1,500), when chat ran on Claude (no requests,
    # $30) beside search's 3 requests ($10), split by COGS 3:1, $1,125.00 and $375.00. June: $1,500.00 each.
    _usage(
        runtime,
        tmp_path,
        "e1,2026-06-02T12:00:00Z,acme,chat,openai,gpt-4o,1,900,30\n"
        "e2,2026-06-03T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10\n"
        "e3,2026-06-20T12:00:00Z,acme,chat,anthropic,claude-sonnet-4-5,0,2000000,30\n"
        "e4,2026-06-21T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10\n",
    )
    store_invoice_line(runtime.engine, "in_1", "acme", "2026-06-01", "2026-06-15", 1_500)
    store_invoice_line(runtime.engine, "in_2", "acme", "2026-06-16", "2026-06-30", 1_500)
    with runtime.connect() as conn:
        revenue = period_revenue(conn, JUNE)
    assert revenue.by_product() == {"chat": D(1_500), "search": D(1_500)}
    assert revenue.lines()[0].split_by == (SplitBasis.REQUESTS, SplitBasis.COGS)


def test_a_period_to_dates_flat_contract_for_every_product_is_carried_split_by_cogs(
    runtime: Runtime, tmp_path: Path
) -> None:
    # November to date (tests/conftest.py NOW: counted through Nov 14), $3,000 a month for every product, chat on
    # Claude ($30, no requests) and search (3 requests, $10): carried to the month, chat $2,250.00, search $750.00.
    (tmp_path / "u.csv").write_text(
        HEADER + "e1,2026-11-02T12:00:00Z,acme,chat,anthropic,claude-sonnet-4-5,0,2000000,30\n"
        "e2,2026-11-03T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10\n"
    )
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")
    _flat_for_every_product(runtime, tmp_path, 3_000)
    november = parse_period("2026-11", today=runtime.now().date())
    with runtime.connect() as conn:
        carried, _ = projected_revenue(conn, november)
    assert carried.by_product() == {"chat": D(2_250), "search": D(750)}
    assert carried.lines()[0].split_by == (SplitBasis.COGS,)


def test_a_carried_contracts_own_days_and_the_customers_rate_are_weighed_alike(
    runtime: Runtime, tmp_path: Path
) -> None:
    # November to date (through Nov 14), $3,000 a month for every product from Nov 8: $3,000 × 23/30 = $2,300.00.
    # Its own days (Nov 8-14) count requests for every product (chat 1, search 3), but the customer's days so far
    # hold docs on Claude (Nov 2, no requests, $40): both are weighed by COGS, never one by requests and one by
    # nano-USD. Chat $30 × 14 days counted + $30 × 16 days ahead = 900, search 10 × 30 = 300, docs 0 × 14 + 40 × 16 =
    # 640, of 1,840: chat $1,125.00, search $375.00, docs $800.00.
    (tmp_path / "u.csv").write_text(
        HEADER + "e1,2026-11-02T12:00:00Z,acme,docs,anthropic,claude-sonnet-4-5,0,2000000,40\n"
        "e2,2026-11-09T12:00:00Z,acme,chat,openai,gpt-4o,1,900,30\n"
        "e3,2026-11-10T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10\n"
    )
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")
    (tmp_path / "c.csv").write_text("customer,product,plan,start,platform_fee_usd\nacme,,flat,2026-11-08,3000\n")
    import_contracts_file(runtime.engine, tmp_path / "c.csv")
    november = parse_period("2026-11", today=runtime.now().date())
    with runtime.connect() as conn:
        carried, _ = projected_revenue(conn, november)
    assert carried.by_product() == {"docs": D(800), "chat": D(1_125), "search": D(375)}


def test_the_portfolio_reads_the_costs_it_splits_by_in_one_statement_for_every_customer(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Three customers like acme, each $3,000 for every product: chat $2,250.00 and search $750.00 each. Their COGS
    # per product is read once for the three (the portfolio is benchmarked), never a statement per customer.
    rows = "".join(
        f"c{i},2026-06-02T12:00:00Z,{who},chat,anthropic,claude-sonnet-4-5,0,2000000,30\n"
        f"s{i},2026-06-03T12:00:00Z,{who},search,openai,gpt-4o-mini,3,900,10\n"
        for i, who in enumerate(("a1", "a2", "a3"))
    )
    _usage(runtime, tmp_path, rows)
    (tmp_path / "c.csv").write_text(
        "customer,product,plan,start,platform_fee_usd\n" + "".join(f"a{w},,flat,2026-01-01,3000\n" for w in "123")
    )
    import_contracts_file(runtime.engine, tmp_path / "c.csv")
    said: list[str] = []

    def heard(conn: object, cursor: object, statement: str, *rest: object) -> None:
        said.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", heard)
    try:
        with runtime.connect() as conn:
            p = portfolio(conn, JUNE, thresholds=Thresholds())
    finally:
        event.remove(runtime.engine, "before_cursor_execute", heard)
    assert {r.key: r.current.revenue for r in p.products} == {"chat": D(6_750), "search": D(2_250)}
    costs = [s for s in said if "cost_output" in s and ("customer IN" in s or "customer = " in s)]
    assert len(costs) == 1, costs


def test_a_cost_past_a_bigint_in_the_period_still_splits_exactly(runtime: Runtime, tmp_path: Path) -> None:
    # Chat on Claude costs $5,000,000,000.00 on each of two days a week apart (500 events of $10M, the most one may
    # cost: a unit mistake), 10^19 nano-USD in June, past a BIGINT summed whole; search's 3 requests a time
    # $2,500,000,000.00. By COGS, 4:1 of $3,000: $2,400.00 and $600.00.
    chat = "".join(
        f"c{day}-{i},2026-06-0{day}T12:00:00Z,acme,chat,anthropic,claude-sonnet-4-5,0,2000,10000000\n"
        for day in (2, 9)
        for i in range(500)
    )
    search = "".join(f"s{i},2026-06-04T12:00:00Z,acme,search,openai,gpt-4o-mini,3,900,10000000\n" for i in range(250))
    _usage(runtime, tmp_path, chat + search)
    _flat_for_every_product(runtime, tmp_path, 3_000)
    with runtime.connect() as conn:
        assert period_revenue(conn, JUNE).by_product() == {"chat": D(2_400), "search": D(600)}
        rows = portfolio(conn, JUNE, thresholds=Thresholds()).products
    assert {r.key: r.current.revenue for r in rows} == {"chat": D(2_400), "search": D(600)}
