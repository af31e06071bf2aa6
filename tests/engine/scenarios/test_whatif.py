"""What-if levers, each checked against arithmetic done by hand on the book in tests/engine/scenarios/book.py."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from bot.blocks.scenarios import whatif_message
from engine.money import CENT, round_to
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from engine.scenarios.grammar import (
    Cache,
    Lever,
    Route,
    ScenarioError,
    Usage,
    parse_levers,
)
from engine.scenarios.whatif import Scenario, scenario_to_dict, whatif
from tests.engine.reports.billing import store_invoice_line
from tests.engine.scenarios.book import C1_COGS, C1_REVENUE, EVENTS, OCTOBER, load_book

D = Decimal


def run(rt: Runtime, words: str, subject: str | None = "Cee One") -> Scenario:
    levers, _ = parse_levers(words.split())
    with rt.connect() as conn:
        return whatif(conn, subject, OCTOBER, levers, prices=rt.prices, thresholds=rt.thresholds)


# ---------------------------------------------------------------- before is `marginbot margin`


def test_before_is_exactly_what_the_margin_report_shows(book: Runtime) -> None:
    s = run(book, "usage x1")
    with book.connect() as conn:
        report = customer_report(conn, "c1", OCTOBER, thresholds=book.thresholds)
    assert (s.before.revenue, s.before.cogs) == (report.current.revenue, report.current.cogs)
    assert (s.before.revenue, s.before.cogs) == (C1_REVENUE, C1_COGS)


# ---------------------------------------------------------------- each lever by hand


def test_route_half_of_big_to_small_reprices_the_same_tokens_at_small_prices(book: Runtime) -> None:
    s = run(book, "route big->small 50")
    # Half of big's model cost leaves: e1 $1.12 + e2 $3.50 = $4.62 → −$2.31.
    # The moved half at small's prices: e1 40,000×1/M + 10,000×0.1/M + 5,000×3/M = $0.056;
    # e2 100,000×1/M + 25,000×3/M = $0.175. Retrieval ($0.05) stays. 4.83 − 2.31 + 0.231 = 2.751.
    assert s.after.cogs == D("2.751")
    assert s.after.revenue == C1_REVENUE  # the customer still makes the same requests
    # Saving per month: October is a calendar month, its 4.83 − 2.751 as it is.
    assert s.saving_per_month == D("2.079")
    assert s.cogs_after["retrieval"] == D("0.05")


def test_route_one_feature_moves_only_that_feature(book: Runtime) -> None:
    s = run(book, "route big->small 100 feature agent")
    # e2 only: −$3.50, + 200,000×1/M + 50,000×3/M = $0.35 → 4.83 − 3.50 + 0.35.
    assert s.after.cogs == D("1.68")


def test_route_without_a_percentage_moves_everything(book: Runtime) -> None:
    assert run(book, "route acme/big->small").after.cogs == run(book, "route big->small 100").after.cogs


def test_cache_serves_a_share_of_requests_at_the_lookup_cost(book: Runtime) -> None:
    s = run(book, "cache 25")
    # Every cost × 0.75, plus 40 requests × 25% × $0.001 a lookup: 3.6225 + 0.01.
    assert s.after.cogs == D("3.6325")
    assert s.cogs_after["cache_lookup"] == D("0.01")
    assert s.after.revenue == C1_REVENUE


def test_a_second_cache_lever_serves_a_share_of_the_misses_and_keeps_the_first_ones_lookups(book: Runtime) -> None:
    twice, once = run(book, "cache 50 cache 50"), run(book, "cache 75")
    # 50% of 40 requests hit ($0.02 of lookups), then 50% of the 20 left ($0.01 more): $0.03, beside every cost × 0.25:
    # 4.83 × 0.25 + 0.03 = 1.2375, as a single 75% hit rate. (The second lever halved the first's lookups: $1.2275.)
    assert twice.cogs_after["cache_lookup"] == once.cogs_after["cache_lookup"] == D("0.03")
    assert twice.after.cogs == once.after.cogs == C1_COGS * D("0.25") + D("0.03")


def test_cache_without_a_rate_estimates_it_from_repeated_prompt_hashes_and_says_so(book: Runtime) -> None:
    s = run(book, "cache")
    # c1's hashes h1 (e1, 10 requests), h1 (e2, 20), h2 (e3, 10): e2 repeats e1's prompt → 20 of 40 requests hit.
    assert s.after.cogs == C1_COGS / 2 + 40 * D("0.5") * D("0.001")
    assert any("50.0%: 20 of 40 requests in 2026-10 repeat an earlier prompt" in a for a in s.assumptions)


def _big(event_id: str, ts: str, customer: str, requests: int, dollars: int, prompt_hash: str) -> list[object]:
    """An event on acme/big costing `dollars` of input ($10 per million tokens)."""
    return [event_id, ts, customer, "app", "chat", "acme", "big", dollars * 100_000, 0, 0, requests, 0, "", prompt_hash]


def test_cache_estimate_is_the_share_of_requests_that_repeat_an_earlier_prompt(
    runtime: Runtime, tmp_path: Path
) -> None:
    events = [
        # kc: prompt A three times (1 request, $10 each), B once (100 requests, $300), four events without a hash.
        *(_big(f"k{i}", f"2026-10-0{i}T12:00:00Z", "kc", 1, 10, "A") for i in (1, 2, 3)),
        _big("k4", "2026-10-04T12:00:00Z", "kc", 100, 300, "B"),
        *(_big(f"k{i}", f"2026-10-0{i}T12:00:00Z", "kc", 1, 10, "") for i in (5, 6, 7, 8)),
        # kd: prompt Z twice at the same moment (the first by event_id: d1's 3 requests, then d2's 7), and usage
        # recorded without request counts ($5, no hash).
        _big("d2", "2026-10-09T12:00:00Z", "kd", 7, 1, "Z"),
        _big("d1", "2026-10-09T12:00:00Z", "kd", 3, 1, "Z"),
        _big("d3", "2026-10-10T12:00:00Z", "kd", 0, 5, ""),
    ]
    load_book(runtime, tmp_path, events)
    s = run(runtime, "cache", subject="kc")
    # 2 of 107 requests repeat (A's second and third), not "2 of 4 events with a prompt_hash" (50%, applied to all
    # 107). The share applies to every request: $370 × 105/107 + 2 lookups at $0.001.
    assert any("1.9%: 2 of 107 requests in 2026-10 repeat an earlier prompt" in a for a in s.assumptions)
    assert any("requests without a prompt_hash count as not repeated" in a for a in s.assumptions)
    expected = D(370) * 105 / 107 + 2 * D("0.001")
    assert abs(s.after.cogs - expected) < D("1e-20")  # 105/107 is not a finite decimal; the rest is exact
    assert D("6.91") < s.saving_per_month < D("6.92")  # 370 − 363.08… in October, where it said $159.67

    d = run(runtime, "cache", subject="kd")
    # d2 repeats d1 (same ts, d1 first by event_id): 7 of 10 requests. The $5 without request counts keeps its cost.
    assert any("70.0%: 7 of 10 requests in 2026-10 repeat an earlier prompt" in a for a in d.assumptions)
    assert d.after.cogs == D(2) * D("0.3") + 7 * D("0.001") + D(5)
    assert any("$5.00 of usage was recorded without request counts and keeps its cost" in a for a in d.assumptions)

    total = run(runtime, "cache", subject=None)
    after = {o.key: o.after.cogs for o in total.customers if o.key in ("kc", "kd")}  # the book's c1-c3: no usage
    assert after == {"kc": s.after.cogs, "kd": d.after.cogs}
    assert any("9 of 117 requests overall" in a for a in total.assumptions)


def test_cache_estimate_refuses_when_no_prompt_hash_was_recorded(book: Runtime) -> None:
    with pytest.raises(ScenarioError, match=r"no prompt_hash recorded.*e\.g\. `cache 20`"):
        run(book, "cache", subject="Cee Three")


@pytest.mark.parametrize(
    ("lever", "revenue"),
    [
        ("price usage 0.40/task", D("0.80")),  # 2 tasks × $0.40
        ("price hybrid 5+0.02/request incl 20", D("5.40")),  # $5 + (40 − 20 included) × $0.02
        ("price seat 3x4", D("12")),  # 3 seats × $4 × 1 month
        ("price flat 7", D("7")),
        ("price usage 0.01/1k tokens", D("4.80")),  # (400,000 in + 80,000 out) / 1000 = 480 × $0.01
    ],
)
def test_price_reprices_revenue_for_the_whole_period(book: Runtime, lever: str, revenue: Decimal) -> None:
    s = run(book, lever)
    assert s.after.revenue == revenue
    assert s.after.cogs == C1_COGS


def test_a_price_per_unit_the_customer_has_none_of_is_refused_as_the_floor_refuses_it(book: Runtime) -> None:
    # Cee Two's events carry no task_id: per task its revenue went to $0, shown as an answer.
    with pytest.raises(ScenarioError) as refused:
        run(book, "price usage 0.40/task", subject="Cee Two")
    assert str(refused.value) == (
        "price: Cee Two has no tasks in 2026-10 (2026-10-01 to 2026-10-31), so a price per task earns nothing there; "
        "price it per request or 1k tokens instead, e.g. `price usage 0.40/request`"
    )
    with pytest.raises(ScenarioError, match="Cee Three has no tasks") as refused:  # a fee and a per-task price
        run(book, "price hybrid 5+0.02/task incl 20", subject="Cee Three")
    # The example keeps the plan: it offered `price usage 0.02/request`, dropping the fee and the included units.
    assert str(refused.value).endswith("e.g. `price hybrid 5+0.02/request incl 20`")
    # The portfolio: Cee One has tasks, so it is answered, and says the others earn nothing per task.
    s = run(book, "price usage 0.40/task", subject=None)
    assert s.after.revenue == D("0.80")  # Cee One's 2 tasks × $0.40
    assert any(
        "2 of 3 customers with usage in 2026-10 (2026-10-01 to 2026-10-31) have no tasks: a price per task earns "
        "nothing from them" in a
        for a in s.assumptions
    )


def test_a_portfolio_priced_per_unit_no_customer_has_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    load_book(runtime, tmp_path, [[*e[:12], "", e[13]] for e in EVENTS])  # the book without task ids
    with pytest.raises(ScenarioError, match=r"^price: no customer with usage has any tasks in 2026-10 \("):
        run(runtime, "price usage 0.40/task", subject=None)
    assert run(runtime, "price usage 0.40/request", subject=None).after.revenue == 100 * D("0.40")


def test_usage_scales_cost_and_metered_revenue(book: Runtime) -> None:
    s = run(book, "usage x3")
    assert s.after.cogs == C1_COGS * 3  # $14.49
    assert s.after.revenue == 120 * D("0.50")  # 120 requests × $0.50


def test_usage_leaves_flat_fees_alone(book: Runtime) -> None:
    s = run(book, "usage x3", subject="Cee Two")
    assert (s.before.revenue, s.after.revenue) == (D(10), D(10))
    assert s.after.cogs == D("3.90")


def test_levers_combine_left_to_right(book: Runtime) -> None:
    s = run(book, "usage x2 route big->small 50 cache 25 price hybrid 5+0.02/request incl 20")
    # usage ×2: COGS 9.66, of which big's model cost 9.24.
    # route 50%: − 4.62 + 2 × 0.231 = 5.502.
    # cache 25%: 5.502 × 0.75 = 4.1265, + 80 requests × 25% × $0.001 = 0.02 → 4.1465.
    # hybrid: $5 + (80 − 20) × $0.02 = $6.20.
    assert s.after.cogs == D("4.1465")
    assert s.after.revenue == D("6.20")
    assert s.after.margin_pct == (D("6.20") - D("4.1465")) / D("6.20") * 100
    assert s.before.status == "healthy" and s.after.status == "breach"


# ---------------------------------------------------------------- portfolio


def test_portfolio_whatif_is_the_sum_of_per_customer_whatifs(book: Runtime) -> None:
    words = "route big->small 40 cache 10 usage x2"
    total = run(book, words, subject=None)
    # c3 has no traffic on `big`: its own what-if refuses the route (likely a typo), so it is asked without.
    parts = [
        run(book, words, subject="c1"),
        run(book, words, subject="c2"),
        run(book, "cache 10 usage x2", "c3"),
    ]
    assert total.after.cogs == sum((p.after.cogs for p in parts), D(0))
    assert total.after.revenue == sum((p.after.revenue for p in parts), D(0))
    assert total.before.cogs == sum((p.before.cogs for p in parts), D(0)) == D("7.43")
    assert {o.key: o.after.cogs for o in total.customers} == {p.key: p.after.cogs for p in parts}


def test_portfolio_price_lever_gives_every_customer_the_new_plan(book: Runtime) -> None:
    s = run(book, "price flat 7", subject=None)
    assert s.after.revenue == 3 * D(7)
    assert s.after.cogs == s.before.cogs


# ---------------------------------------------------------------- mistakes are named


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("route gpt-9->small 50", "no usage of 'gpt-9'.*models: big, small"),
        ("route big->nothing-priced 50", "no price for model 'nothing-priced'"),
        ("cache 20 feature nope", "no usage on feature 'nope'.*features: agent, chat"),
    ],
)
def test_unknown_models_and_features_are_refused_with_what_exists(book: Runtime, words: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        run(book, words)


def test_json_shape_has_before_after_saving_and_assumptions(book: Runtime) -> None:
    d = scenario_to_dict(run(book, "route big->small 50"))
    assert d["before"]["cogs_usd"] == 4.83 and d["after"]["cogs_usd"] == 2.75
    assert d["saving_per_month_usd"] == 2.08  # 2.079: October, a calendar month, as it is
    assert d["change"]["cogs_usd"] == -2.08
    assert d["month"] == "per calendar month"
    assert d["terms"]["before"] == d["terms"]["after"]
    assert any("2026-10 is a calendar month, taken as it is" in a for a in d["assumptions"])


# ---------------------------------------------------------------- invariants (hypothesis)

PROPERTY = hyp_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
pcts = st.decimals(min_value=0, max_value=100, places=2)
features = st.sampled_from([None, "chat", "agent"])


@PROPERTY
@given(pct=pcts, feature=features, subject=st.sampled_from(["c1", "c2", None]))
def test_routing_to_a_cheaper_model_never_raises_cogs(
    book: Runtime, pct: Decimal, feature: str | None, subject: str | None
) -> None:
    if subject == "c2" and feature == "agent":
        feature = None  # c2 has no agent traffic (refused, tested above)
    with book.connect() as conn:
        s = whatif(
            conn,
            subject,
            OCTOBER,
            [Route("big", "small", pct, feature)],
            prices=book.prices,
            thresholds=book.thresholds,
        )
    assert s.after.cogs <= s.before.cogs
    assert s.after.revenue == s.before.revenue


@PROPERTY
@given(
    lever=st.one_of(
        st.builds(
            Route,
            st.sampled_from(["big", "small"]),
            st.sampled_from(["small", "big"]),
            st.just(D(0)),
            features,
            # small only ever ran on chat: other features are refused as typos (tested above)
        ).filter(lambda r: r.source != r.target and (r.source == "big" or r.feature in (None, "chat"))),
        st.builds(Cache, st.just(D(0)), features),
        st.just(Usage(D(1))),
    ),
    subject=st.sampled_from(["c1", None]),
)
def test_zero_percent_of_anything_and_usage_x1_change_nothing(book: Runtime, lever: Lever, subject: str | None) -> None:
    with book.connect() as conn:
        s = whatif(
            conn,
            subject,
            OCTOBER,
            [lever],
            prices=book.prices,
            thresholds=book.thresholds,
        )
    assert (s.after.revenue, s.after.cogs) == (s.before.revenue, s.before.cogs)
    assert s.cogs_after == s.cogs_before
    assert s.saving_per_month == 0


# ---------------------------------------------------------------- routing usage no price covers


@pytest.fixture
def unpriced(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The book, and a call to acme/mystery (no price: $0 of COGS) by c1 and by c9, who has no contract:
    1,000,000 input and 100,000 output tokens, 100 requests each. At small's prices: $1.00 + $0.30 = $1.30."""
    mystery = ["acme", "mystery", 1_000_000, 0, 100_000, 100, 0, "", ""]
    events = [
        *EVENTS,
        ["u1", "2026-10-08T10:00:00Z", "c1", "app", "chat", *mystery],
        ["u9", "2026-10-08T10:00:00Z", "c9", "app", "chat", *mystery],
    ]
    load_book(runtime, tmp_path, events)
    return runtime


def test_routing_unpriced_usage_says_after_adds_what_before_counted_as_zero(unpriced: Runtime) -> None:
    s = run(unpriced, "route mystery->small", subject="c1")
    assert (s.before.cogs, s.after.cogs) == (C1_COGS, C1_COGS + D("1.30"))
    assert (s.before.unpriced_events, s.after.unpriced_events) == (1, 0)  # routed, so priced
    assert s.priced_from_zero == D("1.30")
    d = scenario_to_dict(s)
    # −$1.30 a month of "saving" is all usage "before" counted as $0: said beside it, and in --json.
    assert (d["saving_per_month_usd"], d["priced_from_zero_usd"], d["priced_from_zero_per_month_usd"]) == (
        -1.3,
        1.3,
        1.3,
    )
    assert d["after"]["unpriced_events"] == 0 and d["unpriced_events"] == 1
    answer = whatif_message(d)
    body = json.dumps(answer.blocks)
    assert "After adds $1.30 of COGS ($1.30 a month) that before counted as $0" in body
    assert "the margin before is too kind (after, the levers leave none unpriced)" in body
    assert "before and after are both too kind" not in body
    assert "($1.30 a month of it counted as $0 before: unpriced usage)" in answer.text
    assert any('"after" adds $1.30 of COGS' in a for a in d["assumptions"])
    # Half of it routed: half an event's usage stays unpriced, so "after" is still too kind (counted up, as one).
    half = run(unpriced, "route mystery->small 50", subject="c1")
    assert (half.after.unpriced_events, half.priced_from_zero) == (1, D("0.65"))


def test_a_customer_whose_usage_is_all_unpriced_is_in_the_portfolio_what_if(unpriced: Runtime) -> None:
    alone = run(unpriced, "route mystery->small", subject="c9")
    assert (alone.before.cogs, alone.after.cogs, alone.after.unpriced_events) == (D(0), D("1.30"), 0)
    total = run(unpriced, "route mystery->small", subject=None)
    assert {o.key for o in total.customers} == {"c1", "c2", "c3", "c9"}
    # The sum of the per-customer what-ifs (c2 and c3 never used mystery: nothing moves for them).
    parts = [run(unpriced, "route mystery->small", subject=c) for c in ("c1", "c9")]
    assert total.after.cogs - total.before.cogs == sum((p.after.cogs - p.before.cogs for p in parts), D(0))
    assert total.after.cogs - total.before.cogs == D("2.60")
    assert total.priced_from_zero == D("2.60") and total.after.unpriced_events == 0


def test_a_portfolio_price_lever_lists_the_biggest_gross_profit_changes(book: Runtime) -> None:
    d = scenario_to_dict(run(book, "price flat 7", subject=None))
    # No lever moves COGS: no "savings" to list; each customer's gross profit moves with its revenue. In October:
    # c3 $40 → $7, c1 $20 → $7, c2 $10 → $7.
    assert [c["gross_profit_change_per_month_usd"] for c in d["customers"]] == [-13.0, -3.0, -33.0]
    body = json.dumps(whatif_message(d).blocks)
    assert "Biggest savings" not in body
    assert "Biggest gross-profit changes (3 customers in total)" in body
    assert body.index("Cee Three") < body.index("Cee One") < body.index("Cee Two")


def test_a_portfolio_what_if_lists_the_customers_it_moves_most_either_way_titled_by_what_the_list_holds(
    book: Runtime,
) -> None:
    d = scenario_to_dict(run(book, "usage x2", subject=None))
    # Every COGS doubles: c1 +$4.83, c2 +$1.30, c3 +$1.30 in October. Ranked by how far each moves, the biggest hit
    # first (it came last, "saving" the most negative, under a "Biggest savings" title), ties by key.
    assert [(c["customer"], c["saving_per_month_usd"]) for c in d["customers"]] == [
        ("c1", -4.83),
        ("c2", -1.3),
        ("c3", -1.3),
    ]
    body = json.dumps(whatif_message(d).blocks)
    assert "Biggest savings" not in body
    assert "Biggest cost increases (3 customers in total)" in body
    assert "Cee One: 75.9% \\u2192 75.9%, COGS +$4.83 a month" in body  # metered: revenue doubles too
    assert body.index("Cee One") < body.index("Cee Two") < body.index("Cee Three")

    # Route small to big, then cache 90%: c1 4.83 + 1.44 → 6.27 × 0.1 + 36 lookups = 0.663 (saves 4.167), c2 1.30 →
    # 0.13 + 9 lookups = 0.139 (saves 1.161), c3 1.30 + 11.70 → 1.30 + 45 lookups = 1.345 (costs 0.045 more).
    d = scenario_to_dict(run(book, "route small->big cache 90", subject=None))
    assert [(c["customer"], c["saving_per_month_usd"]) for c in d["customers"]] == [
        ("c1", 4.17),
        ("c2", 1.16),
        ("c3", -0.05),
    ]
    body = json.dumps(whatif_message(d).blocks)
    assert "Biggest savings" not in body
    assert "Biggest COGS changes (3 customers in total)" in body
    assert "COGS saving +$4.17 a month" in body and "COGS saving -$0.05 a month" in body

    body = json.dumps(whatif_message(scenario_to_dict(run(book, "cache 50", subject=None))).blocks)
    assert "Biggest savings (3 customers in total)" in body


def test_a_new_price_is_in_force_on_the_days_the_customers_contracts_are(runtime: Runtime, tmp_path: Path) -> None:
    # Cee Three's seats began on October 16th: 4 × $10 × 16/31 = $20.65. Re-priced at 4 × $20 it earned the new
    # price for all 31 days ($80.00) against 16 of the old, where those 16 days earn 80 × 16/31 = $41.29.
    # Cee Two's flat fee ran October 1–10 and again from the 21st: $7 a month over 21 days is 7 × 21/31 = $4.74.
    header = ["customer", "customer_name", "plan", "start", "end", "seats", "seat_price_usd", "platform_fee_usd"]
    load_book(
        runtime,
        tmp_path,
        contracts=[
            header,
            ["c2", "Cee Two", "flat", "2026-01-01", "2026-10-10", "", "", "10"],
            ["c2", "Cee Two", "flat", "2026-10-21", "", "", "", "10"],
            ["c3", "Cee Three", "seat", "2026-10-16", "", "4", "10", ""],
        ],
    )
    s = run(runtime, "price seat 4x20", subject="Cee Three")
    assert (round_to(s.before.revenue, CENT), round_to(s.after.revenue, CENT)) == (D("20.65"), D("41.29"))
    s = run(runtime, "price flat 7", subject="Cee Two")
    assert round_to(s.after.revenue, CENT) == D("4.74")
    # A customer with no contract (c1 here) is priced over the whole period: what it would pay from now on.
    assert run(runtime, "price flat 7", subject="c1").after.revenue == D("7.00")
    # So is one billed by invoice, whatever contracts it has: Cee Two's October is a $100 invoice line, its contract
    # days October 1–10 notwithstanding (the new price read 7 × 10/31 = $2.26).
    store_invoice_line(runtime.engine, "in_1", "c2", "2026-10-01", "2026-10-31", 100)
    s = run(runtime, "price flat 7", subject="Cee Two")
    assert (s.before.revenue, s.after.revenue) == (D(100), D("7.00"))
    # Its assumptions say so: they read "no contract in force: billed, or not paying yet" beside its contracts.
    assert "fee on every product, over the whole period (it is billed by invoice), replacing" in (
        " ".join(s.assumptions)
    )
    assert any(
        "(no contract in force: not paying yet)" in a for a in run(runtime, "price flat 7", subject="c1").assumptions
    )


def test_a_new_price_bills_only_the_products_the_customers_contracts_cover(runtime: Runtime, tmp_path: Path) -> None:
    # Cee One's contract meters product `app` at $0.50 a request (40 requests: $20.00); 30 more requests on
    # product `internal` have no contract and earn nothing. Re-priced at its own terms nothing changes: the new price
    # bills `app` only (it read $35.00, the 30 internal requests billed at $0.50 a month that no contract bills).
    header = ["customer", "customer_name", "product", "plan", "start", "unit", "unit_price_usd"]
    internal = ["e9", "2026-10-08T10:00:00Z", "c1", "internal", "eval", "acme", "small", 1_000, 0, 100, 30, 0, "", ""]
    load_book(
        runtime,
        tmp_path,
        events=[*EVENTS, internal],
        contracts=[header, ["c1", "Cee One", "app", "usage", "2026-01-01", "request", "0.50"]],
    )
    s = run(runtime, "price usage 0.50/request")
    assert (s.before.revenue, s.after.revenue, s.profit_change_per_month) == (C1_REVENUE, C1_REVENUE, 0)
    assert any("on app only, the product its contracts cover" in line for line in s.assumptions)
    # A new price on a plan with a fee is charged once; a customer with no contract is priced on every product.
    assert run(runtime, "price flat 7").after.revenue == D("7.00")
    assert run(runtime, "price usage 0.50/request", subject="c2").after.revenue == D("5.00")


def test_a_calendar_month_is_a_month_and_a_window_of_days_is_said_as_30_days(book: Runtime) -> None:
    from engine.periods import Period, quarter

    # Cee Two's $10 flat fee re-priced at $600 a month: October's change is $590, a month as it is (× 30/31 it read
    # "+$570.97 a month" for a fee of $600 a month more).
    d = scenario_to_dict(run(book, "price flat 600", subject="Cee Two"))
    assert (d["gross_profit_change_per_month_usd"], d["month"]) == (590.0, "per calendar month")
    assert ":moneybag: *Gross profit +$590.00 a month* (per calendar month)" in json.dumps(whatif_message(d).blocks)
    # A quarter is three months: Q4's change ÷ 3.
    levers, _ = parse_levers(["price", "flat", "600"])
    with book.connect() as conn:
        q = whatif(conn, "Cee Two", quarter(2026, 4), levers, prices=book.prices, thresholds=book.thresholds)
        window = Period(OCTOBER.start, OCTOBER.end, "last 31 days")
        w = whatif(conn, "Cee Two", window, levers, prices=book.prices, thresholds=book.thresholds)
    assert q.profit_change_per_month == D(590)
    assert any("(COGS before − after) ÷ 3: 2026-Q4 is 3 calendar months" in a for a in q.assumptions)
    # A window of days is not a month: its change × 30 ÷ its days, said so.
    assert (w.profit_change_per_month, scenario_to_dict(w)["month"]) == (D(590) * 30 / 31, "per 30 days")
