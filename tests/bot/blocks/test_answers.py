"""Block builders, fed engine results built by hand (no database, no mocks)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bot.blocks.home import LastImport, home_no_access_view, home_view
from bot.blocks.kit import MAX_SECTION_TEXT, fit, section, sections
from bot.blocks.messages import error_message, help_message, refusal_message, unknown_subject_message
from bot.blocks.portfolio import portfolio_message, ranking_message
from bot.blocks.report import margin_report
from bot.forms import FORMS
from engine.periods import month
from engine.reports.figures import Figures, Share, Thresholds
from engine.reports.margin import MarginReport
from engine.reports.portfolio import Portfolio, PortfolioRow
from engine.reports.revenue import RevenueLine
from engine.store.models import COST_TYPES
from tests.bot.blockkit import all_text, assert_valid_home, assert_valid_message

D = Decimal
T = Thresholds(breach_pct=D(40), healthy_pct=D(55))
OCT = month(2026, 10)


def fig(revenue: str, cogs: str, unpriced: int = 0) -> Figures:
    return Figures(revenue=D(revenue), cogs=D(cogs), events=10, unpriced_events=unpriced, thresholds=T)


def report(**overrides: object) -> MarginReport:
    cogs = D("1484.73")
    values: dict[str, object] = dict(
        kind="customer",
        key="acme",
        name="Acme Corp",
        period=OCT,
        current=fig("2000", "1484.73", unpriced=1),
        previous=fig("2000", "300"),
        revenue_source="contract",
        revenue=[
            RevenueLine(
                customer="acme",
                product="",
                plan="flat",
                source="contract",
                total=D(2000),
                active_days=31,
                terms="flat: $2,000/mo",
            )
        ],
        cogs_by_type={t: (cogs if t == "source" else D(0)) for t in COST_TYPES},
        by_model=[
            Share(
                key="gpt-4o",
                cost=D("921.00"),
                share_pct=D("62.03"),
                previous=D("300"),
                provider="openai",
                model="gpt-4o",
            ),
            Share(
                key="claude-sonnet-4-5",
                cost=D("563.73"),
                share_pct=D("37.97"),
                previous=D(0),
                provider="anthropic",
                model="claude-sonnet-4-5",
            ),
        ],
        by_feature=[
            Share(key="agent-run", cost=D("921.00"), share_pct=D("62.03"), previous=D("300"), feature="agent-run")
        ],
        drivers=[
            Share(
                key="gpt-4o on agent-run",
                cost=D("921.00"),
                share_pct=D("62.03"),
                previous=D("300"),
                provider="openai",
                model="gpt-4o",
                feature="agent-run",
            )
        ],
        daily=[(date(2026, 10, 3), D("418.16"))],
        daily_cost_p50=D(0),
        daily_cost_p99=D("418.16"),
        tasks=0,
        task_cost_p50=D(0),
        task_cost_p99=D(0),
        unpriced_models=["mystery/mystery-1"],
    )
    values.update(overrides)
    return MarginReport(**values)  # type: ignore[arg-type]


def row(key: str, revenue: str, cogs: str, name: str | None = None) -> PortfolioRow:
    return PortfolioRow(
        kind="customer", key=key, name=name or key.title(), current=fig(revenue, cogs), previous=fig(revenue, "0")
    )


def book(customers: list[PortfolioRow], products: list[PortfolioRow] | None = None) -> Portfolio:
    total_rev = sum((r.current.revenue for r in customers), D(0))
    total_cogs = sum((r.current.cogs for r in customers), D(0))
    rows = sorted(customers, key=lambda r: (r.current.margin_pct is not None, r.current.margin_pct or 0, r.key))
    return Portfolio(
        period=OCT,
        total=Figures(revenue=total_rev, cogs=total_cogs, events=1, thresholds=T),
        previous_total=Figures(revenue=total_rev, cogs=D(0), events=1, thresholds=T),
        customers=rows,
        products=products or [],
        unpriced_models=[],
    )


def test_margin_report_shows_every_figure_a_leader_needs() -> None:
    answer = margin_report(report())
    shown = all_text(answer.blocks)
    for expected in (
        "$2,000.00",  # revenue
        "$1,484.73",  # COGS
        "25.8%",  # gross margin, one decimal
        "BREACH",
        ":red_circle:",
        "below the 40% breach line",
        "priced by source $1,484.73",  # COGS by cost type
        "`gpt-4o` (openai) $921.00",  # top models
        "`agent-run` $921.00",  # top features
        "P50 $0.00 · P99 $418.16",
        "previous 85.0% (-59.2 pts)",  # change against the previous period
        "1 unpriced event",
        "mystery/mystery-1",
        "62% of COGS is gpt-4o on agent-run",  # the biggest lever in words
        "flat: $2,000/mo",
    ):
        assert expected in shown, expected
    assert answer.text.startswith("Acme Corp (2026-10): gross margin 25.8% BREACH")
    assert_valid_message(answer.text, answer.blocks)


def test_the_daily_spread_ratio_rounds_half_up_like_every_ratio() -> None:
    # P99 over P50 is exactly 1.25: half-up it is ×1.3 (half-even would say ×1.2).
    answer = margin_report(report(daily_cost_p50=D("100"), daily_cost_p99=D("125")))
    assert "(P99 is ×1.3 the median day)" in all_text(answer.blocks)


def test_status_marker_follows_the_bands() -> None:
    watch = margin_report(report(current=fig("1000", "500")))
    healthy = margin_report(report(current=fig("1000", "450")))
    none = margin_report(report(current=fig("0", "10")))
    assert ":large_yellow_circle: *WATCH*" in all_text(watch.blocks) and "between 40% and 55%" in all_text(watch.blocks)
    assert ":large_green_circle: *HEALTHY*" in all_text(healthy.blocks)
    assert "NO REVENUE" in all_text(none.blocks) and "n/a" in all_text(none.blocks)


def test_no_unpriced_warning_when_everything_is_priced() -> None:
    answer = margin_report(report(current=fig("2000", "1484.73"), unpriced_models=[]))
    assert "unpriced" not in all_text(answer.blocks)


def test_report_stays_inside_block_kit_limits_with_huge_inputs() -> None:
    many = [
        Share(key=f"model-{i}-" + "x" * 300, cost=D(i), share_pct=D(1), previous=D(0), provider="p" * 200, model="m")
        for i in range(500)
    ]
    lines = [
        RevenueLine(customer="acme", product=f"p{i}", plan="flat", source="contract", total=D(i), terms="t" * 500)
        for i in range(300)
    ]
    answer = margin_report(
        report(name="N" * 500, key="k" * 200, by_model=many, by_feature=many, drivers=many, revenue=lines,
               unpriced_models=[f"prov/model-{i}" for i in range(400)])
    )  # fmt: skip
    assert_valid_message(answer.text, answer.blocks)
    assert "and 495 more" in all_text(answer.blocks)


def test_names_cannot_ping_a_channel_or_forge_a_link() -> None:
    answer = margin_report(report(name="<!channel> <https://evil.example|click>", key="x&y"))
    # plain_text (the header) is never parsed for mentions or links; mrkdwn and the top-level text are.
    mrkdwn = json.dumps([b for b in answer.blocks if b["type"] != "header"]) + answer.text
    assert "<!channel>" not in mrkdwn and "<https://" not in mrkdwn
    assert "&lt;!channel&gt;" in mrkdwn and "x&amp;y" in mrkdwn


def test_portfolio_lists_breach_and_watch_worst_first() -> None:
    p = book([row("acme", "2000", "1484.73", "Acme Corp"), row("globex", "1000", "300"), row("initech", "500", "250")])
    answer = portfolio_message(p)
    shown = all_text(answer.blocks)
    assert "Customers: breach (1)" in shown and "*Acme Corp* 25.8%" in shown
    assert "Customers: watch (1)" in shown and "*Initech* 50.0%" in shown
    assert "Globex" not in shown.split("Customers: breach")[1].split("Customers: watch")[0]
    assert "$3,500.00" in shown and "$2,034.73" in shown and "41.9%" in shown
    assert_valid_message(answer.text, answer.blocks)


def test_top_is_best_first_and_worst_is_worst_first_with_n_rows() -> None:
    p = book([row(f"c{i:02d}", "100", str(i)) for i in range(30)])
    top = all_text(ranking_message(p, "top", 3).blocks)
    worst = all_text(ranking_message(p, "worst", 2).blocks)
    assert top.index("*C00*") < top.index("*C01*") < top.index("*C02*") and "*C03*" not in top
    assert worst.index("*C29*") < worst.index("*C28*") and "*C27*" not in worst
    assert "1. " in top and "3. " in top


def test_portfolio_with_a_thousand_customers_fits_in_one_message() -> None:
    p = book([row(f"customer-{i}", "100", str(30 + i % 70), name="C" * 150) for i in range(1000)])
    for answer in (portfolio_message(p), ranking_message(p, "worst", 25), ranking_message(p, "top", 25)):
        assert_valid_message(answer.text, answer.blocks)
    assert_valid_home(home_view(p, None))


def test_home_shows_portfolio_breaches_the_worst_others_unpriced_and_last_import_each_row_once() -> None:
    customers = [
        row("acme", "2000", "1484.73", "Acme Corp"),
        row("globex", "1000", "300"),
        row("initech", "500", "250"),
    ]
    products = [
        PortfolioRow(kind="product", key="agent", name="agent", current=fig("1000", "921"), previous=fig("2000", "300"))
    ]
    p = book(customers, products)
    p.unpriced_models = ["mystery/mystery-1"]
    imported = LastImport("usage", datetime(2026, 11, 14, 9, 30, tzinfo=UTC), 12)
    view = home_view(p, imported)
    shown = all_text(view["blocks"])
    assert "blended gross margin *41.9%*" in shown
    assert "Customers in breach (1)" in shown and "Products in breach (1)" in shown and "*agent* 7.9%" in shown
    assert "Customers on watch (1)" in shown
    assert "Worst 1 other customer" in shown  # acme (breach) and initech (watch) are listed above already
    assert [shown.count(f"*{name}*") for name in ("Acme Corp", "Globex", "Initech")] == [1, 1, 1]
    assert "mystery/mystery-1" in shown
    assert "data last imported 2026-11-14 09:30 UTC (usage, 12 rows)" in shown
    assert_valid_home(view)


def test_home_says_when_nothing_was_imported_and_shows_the_trend() -> None:
    p = book([row("globex", "1000", "300")])
    p.previous_total = Figures(revenue=D(1000), cogs=D(100), events=1, thresholds=T)
    shown = all_text(home_view(p, None)["blocks"])
    assert "no data imported yet" in shown
    assert "↘ -20.0 pts against the 90.0%" in shown


def test_home_without_access_says_how_to_get_it_and_nothing_else() -> None:
    view = home_no_access_view("U999")
    assert_valid_home(view)
    shown = all_text(view["blocks"])
    assert "`U999`" in shown and "MARGINBOT_ALLOWED_USERS" in shown and "$" not in shown


def test_help_lists_every_form_with_an_example() -> None:
    answer = help_message(None, FORMS)
    shown = all_text(answer.blocks)
    for form in FORMS:
        assert f"`{form.usage}`" in shown and f"`{form.example}`" in shown
    assert "share" in shown and "YYYY-MM" in shown
    assert_valid_message(answer.text, answer.blocks)


def test_help_with_a_problem_escapes_what_the_user_typed() -> None:
    answer = help_message("'<@U123>' is not a period", FORMS)
    assert "&lt;@U123&gt;" in all_text(answer.blocks) and "<@U123>" not in answer.text


def test_refusal_is_polite_and_reveals_no_figure() -> None:
    answer = refusal_message("U999")
    assert "Sorry" in answer.text and "U999" in answer.text and "$" not in all_text(answer.blocks)
    assert_valid_message(answer.text, answer.blocks)


def test_unknown_subject_suggests_names_and_clips_long_input() -> None:
    answer = unknown_subject_message("customer", "acm", ["Acme Corp", "Acme Labs"])
    assert answer.text == "No customer “acm”; did you mean Acme Corp or Acme Labs?"
    long = unknown_subject_message("customer", "<x>" * 100, [])
    assert long.text.count("x") < 30 and long.text.endswith("…”") and "<x>" not in long.text
    assert_valid_message(long.text, long.blocks)


def test_error_is_one_line() -> None:
    answer = error_message("Sorry, something went wrong")
    assert len(answer.blocks) == 1 and "\n" not in answer.text


def test_fit_keeps_the_limit_and_says_what_was_left_out() -> None:
    blocks = [section(str(i)) for i in range(120)]
    kept = fit(blocks)
    assert len(kept) == 50 and "71 more block(s)" in kept[-1]["elements"][0]["text"]


def test_sections_split_long_lists_under_the_character_limit() -> None:
    out = sections("Title", [f"line {i} " + "y" * 90 for i in range(100)])
    assert len(out) > 1 and all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in out)
    assert sum(b["text"]["text"].count("line ") for b in out) == 100


def test_dates_in_home_are_what_the_builder_is_given() -> None:
    # The builder does no time-zone math: the caller converts; a naive offset shows as given.
    when = datetime(2026, 11, 14, 10, 0, tzinfo=UTC) + timedelta(hours=1)
    assert "2026-11-14 11:00" in all_text(home_view(book([]), LastImport("openai", when, 1))["blocks"])
