"""Usage whose rows each fit the database but whose sums do not (costs in the wrong unit, imported without a
contract to notice them by): an answer that adds them up says so in one line, on the command line and in Slack,
instead of blaming the database or asking to try again. (PostgreSQL adds BIGINTs up as NUMERIC: it answers.)"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from bot.answer import SORRY, answer, home
from engine.alerts.evaluate import check_alerts
from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.reports.portfolio import portfolio
from engine.runtime import Runtime
from engine.store.sql import SUMS_TOO_LARGE_TO_ANSWER
from tests.bot.blockkit import all_text
from tests.bot.cli.support import cli
from tests.conftest import NOW


@pytest.fixture
def huge(runtime: Runtime, tmp_path: Path) -> Runtime:
    # $9M an event (the most one may cost), 1,100 of them over two products and 11 days: each day's row is $450M,
    # each week's at most $3.2B, the customer's November $9.9B, past a BIGINT of nano-USD ($9.22B).
    rows = [
        f"e{i},2026-11-{1 + i % 11:02d}T12:00:00Z,acme,p{i % 2},run,openai,gpt-4o,10,9000000.00\n" for i in range(1100)
    ]
    path = tmp_path / "usage.csv"
    path.write_text("event_id,ts,customer,product,feature,provider,model,input_tokens,cost_usd\n" + "".join(rows))
    import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    return runtime


def test_the_command_line_names_the_sum_and_the_likely_cause(huge: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(huge, capsys, "margin", "acme", "--period", "2026-11")
    if huge.engine.dialect.name == "postgresql":
        assert code == 0 and "$9,900,000,000.00" in out
        return
    assert (code, out) == (1, "")
    assert err == f"marginbot: {SUMS_TOO_LARGE_TO_ANSWER}\n"
    assert "cannot use the database" not in err


def test_slack_says_why_rather_than_try_again(huge: Runtime) -> None:
    said = all_text(answer(huge, "/margin acme 2026-11").blocks)
    if huge.engine.dialect.name == "postgresql":
        assert "$9,900,000,000.00" in said
        return
    assert "past what the database holds" in said and "wrong unit" in said
    assert SORRY not in said


def test_the_alerts_check_goes_on_without_that_subjects_cost_drivers(huge: Runtime) -> None:
    run = check_alerts(huge, as_of=NOW, dry_run=True)
    reports = {(e.observation.kind, e.observation.key): e.report for e in run.events}
    assert set(reports) == {("customer", "acme"), ("product", "p0"), ("product", "p1")}
    # Each product's $4.95B adds up; acme's $9.9B across them does not on SQLite, so its alert goes without them.
    assert reports[("product", "p0")] is not None and reports[("product", "p1")] is not None
    assert (reports[("customer", "acme")] is None) == (huge.engine.dialect.name == "sqlite")


@pytest.fixture
def one_product(runtime: Runtime, tmp_path: Path) -> Runtime:
    # The same $9.9B in one product: the portfolio's own sum for acme/p0 passes a BIGINT on both databases.
    rows = [f"e{i},2026-11-{1 + i % 11:02d}T12:00:00Z,acme,p0,run,openai,gpt-4o,10,9000000.00\n" for i in range(1100)]
    rows += ["small,2026-11-03T12:00:00Z,beta,p1,run,openai,gpt-4o,10,5.00\n"]
    path = tmp_path / "usage.csv"
    path.write_text("event_id,ts,customer,product,feature,provider,model,input_tokens,cost_usd\n" + "".join(rows))
    import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    return runtime


def test_the_portfolio_adds_up_past_a_bigint_exactly_so_every_other_alert_still_goes(one_product: Runtime) -> None:
    # It failed, and with it the alerts of every customer and product, the digest and the App Home.
    with one_product.connect() as conn:
        book = portfolio(conn, month(2026, 11), thresholds=one_product.thresholds)
    assert {r.key: r.current.cogs for r in book.customers} == {"acme": D("9900000000"), "beta": D("5")}
    assert book.total.cogs == D("9900000005")
    run = check_alerts(one_product, as_of=NOW, dry_run=True)
    assert {(e.observation.key, e.kind) for e in run.events} >= {("beta", "no_revenue"), ("p1", "no_revenue")}
    said = all_text(home(one_product)["blocks"])
    assert SORRY not in said and "$9,900,000,000.00" in said
