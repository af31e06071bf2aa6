"""Price floors on the heavy (P99) 30-day window of a customer's own history, by hand (tests/engine/scenarios/
history.py has the history and its windows; book.py the small October book)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.blocks.scenarios import floor_message
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import Period, month
from engine.reports.figures import margin_pct
from engine.runtime import Runtime
from engine.scenarios.basis import daily_usage
from engine.scenarios.floor import FloorError, floor_to_dict, price_floor
from tests.engine.scenarios.book import EVENTS, OCTOBER, load_book
from tests.engine.scenarios.history import HISTORY, events, load_history

D = Decimal


@pytest.fixture
def history(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_history(runtime, tmp_path)
    return runtime


def floor_of(rt: Runtime, ref: str, **kwargs: Any) -> Any:
    with rt.connect() as conn:
        return price_floor(conn, ref, HISTORY, thresholds=rt.thresholds, **kwargs)


def test_a_flat_plan_floor_is_solved_on_the_heaviest_month_that_happened_not_thirty_worst_days(
    history: Runtime,
) -> None:
    f = floor_of(history, "flat1")
    assert (f.p99_window.start.isoformat(), f.p99_window.end.isoformat()) == ("2026-10-02", "2026-10-31")
    assert (f.p50_window.start.isoformat(), f.p50_window.end.isoformat()) == ("2026-09-02", "2026-10-01")
    assert (f.p99_cogs, f.p50_cogs, f.history.days, f.history.windows) == (D(130), D(30), 90, 61)
    # 55% in a $130 month needs $130 ÷ 0.45 = $288.888… → $288.89 a month (30 × the $21 P99 day would ask $1,400).
    assert (f.unit, f.floor_price, f.current_price, f.current_is_effective) == ("month", D("288.89"), D(300), False)
    assert f.margin_p99_current == (D(300) - D(130)) / D(300) * 100  # 56.67%: today's price holds in a heavy month
    assert f.margin_p50_current == D(90)
    assert f.margin_p99_floor is not None and D(55) <= f.margin_p99_floor < D("55.01")
    assert margin_pct(D("288.88"), D(130)) < 55  # type: ignore[operator]  # a cent less misses it
    d = floor_to_dict(f)
    assert (d["floor_price_usd"], d["current_price_usd"], d["margin_p50_at_current_pct"]) == ("288.89", "300.00", 90.0)
    assert d["stress"]["cogs_usd"] == 630.0 and d["stress"]["margin_at_current_pct"] == -110.0
    assert "30 days like the P99 day" in d["stress"]["label"] and d["short_history"] is False


def test_several_flat_contracts_get_one_figure_for_the_customer(history: Runtime) -> None:
    f = floor_of(history, "Flat Two")
    assert (f.unit, f.floor_price, f.current_price, f.contracts_changed) == ("month", D("288.89"), D(300), 2)
    assert "one figure for Flat Two" in f.note and "across its 2 contracts" in f.note
    assert "each of the" not in f.note


def test_a_usage_plan_floor_per_request(history: Runtime) -> None:
    f = floor_of(history, "usage1")
    # The heavy month has 5,000 requests: $288.888… ÷ 5,000 = $0.0577777… → $0.057778, against $0.05 today.
    assert (f.unit, f.p99_units, f.fixed_revenue, f.floor_price, f.current_price) == (
        "request",
        D(5000),
        D(0),
        D("0.057778"),
        D("0.05"),
    )
    assert (f.margin_p99_current, f.margin_p50_current) == (D(48), D(80))  # $250 and $150 of revenue


def test_a_floor_changes_only_the_contract_it_prices(history: Runtime) -> None:
    f = floor_of(history, "mixed")
    # The flat $100 stays: ($288.888… − $100) ÷ 5,000 = $0.0377777… → $0.037778, under today's $0.05.
    assert (f.unit, f.fixed_revenue, f.floor_price, f.contracts_changed) == ("request", D(100), D("0.037778"), 1)


def test_contracts_in_several_units_are_priced_in_the_one_that_earns_most(history: Runtime, tmp_path: Path) -> None:
    from tests.engine.scenarios.book import load_book

    (tmp_path / "two").mkdir()
    load_book(history, tmp_path / "two", events("two"), [
        ["customer", "customer_name", "product", "plan", "start", "unit", "unit_price_usd"],
        ["two", "Two", "app", "usage", "2026-01-01", "request", "0.05"],
        ["two", "Two", "other", "usage", "2026-01-01", "1k_tokens", "0.001"],
    ])  # fmt: skip
    f = floor_of(history, "two")
    # Requests earn $250 in the heavy month, 1k tokens on `other` nothing: per request, as usage1.
    assert (f.unit, f.floor_price, f.contracts_changed) == ("request", D("0.057778"), 1)
    assert "priced per request (the contract that earns the most in the heavy month)" in f.note
    assert "Two's other contract keeps its terms" in f.note


def test_a_seat_plan_floor_per_seat(history: Runtime) -> None:
    f = floor_of(history, "seats")
    assert (f.unit, f.floor_price, f.current_price) == ("seat", D("72.23"), D(75))  # $288.888… ÷ 4 seats


def test_a_hypothetical_unit_shows_what_they_pay_per_unit_today(history: Runtime) -> None:
    f = floor_of(history, "flat1", unit="request")
    # Today $300 for the heavy month's 5,000 requests: $0.06 a request, effectively, in the month the floor is
    # solved on (the typical month's 3,000 would say $0.10, a price from other units than the floor's).
    assert (f.hypothetical, f.floor_price, f.current_price, f.current_is_effective) == (
        True,
        D("0.057778"),
        D("0.06"),
        True,
    )
    assert f.margin_p99_current is not None and f.margin_p99_current >= 55  # above the floor, and above the target


def test_todays_effective_price_is_measured_on_the_heavy_month_the_floor_is_solved_on(history: Runtime) -> None:
    f = floor_of(history, "usage1", unit="1k_tokens")
    # The heavy month: $250 of revenue (5,000 requests × $0.05) on 130,000 1k tokens (25 days × 1M + 5 × 21M):
    # $0.001923… per 1k tokens, under the $0.002223 floor, as today's 48% heavy-month margin is under the 55% target.
    # (The typical month, $150 on 30,000 1k tokens, said $0.005: above the floor beside a margin below it.)
    assert f.current_price == D(250) / D(130_000) and f.current_is_effective
    assert f.floor_price == D("0.002223")
    assert f.margin_p99_current == D(48) and f.current_price < f.floor_price
    d = floor_to_dict(f)
    assert d["current_price_usd"] == "0.001923"
    assert "$0.001923/1k tokens (effective, heavy month)" in floor_message(d).text


def test_a_billed_customers_floor_is_what_the_bill_alone_must_come_to(history: Runtime) -> None:
    from sqlalchemy import text

    # usage1 keeps its $0.05-a-request contract on file, but Stripe bills it $200 a month: its revenue is the bill.
    with history.engine.begin() as conn:
        for n, (a, b) in enumerate(
            [("2026-08-01", "2026-08-31"), ("2026-09-01", "2026-09-30"), ("2026-10-01", "2026-10-31")]
        ):
            conn.execute(
                text(
                    "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                    "currency, invoice_id) VALUES (:id, 'stripe', 'usage1', '', :a, :b, 200, 'usd', :id)"
                ),
                {"id": f"il_{n}", "a": a, "b": b},
            )
    f = floor_of(history, "usage1")
    # The heavy month's $130 at 55% needs $288.89 from the bill alone (the contract's $250 of usage charges on top
    # of it made the floor $38.89).
    assert (f.unit, f.floor_price, f.current_price, f.fixed_revenue) == ("month", D("288.89"), D(200), D(0))
    assert f.margin_p99_floor is not None and D(55) <= f.margin_p99_floor < D("55.01")
    assert f.margin_p99_current == (D(200) - D(130)) / D(200) * 100  # 35%: the bill today
    assert "billed (Stripe): the floor is what the bill must come to a month" in f.note
    # Per request, a usage plan in place of the bill: the heavy month's 5,000 requests, $200 today = $0.04 each.
    g = floor_of(history, "usage1", unit="request")
    assert (g.hypothetical, g.floor_price, g.current_price) == (True, D("0.057778"), D("0.04"))
    with pytest.raises(FloorError, match="is billed \\(Stripe\\), not per seat"):
        floor_of(history, "usage1", unit="seat")


@pytest.mark.parametrize("target", ["nan", "NaN", "snan", "-nan", "inf", "-Infinity"])
def test_a_target_that_is_not_a_number_is_refused_with_the_floors_own_line(history: Runtime, target: str) -> None:
    with pytest.raises(FloorError, match=r"^the target margin must be at least 0% and below 100%, got "):
        floor_of(history, "usage1", target_pct=D(target))


def test_a_unit_the_heavy_month_has_none_of_is_refused_in_one_line(history: Runtime) -> None:
    with pytest.raises(FloorError) as exc:
        floor_of(history, "usage1", unit="task")
    assert str(exc.value) == (
        "Usage One has no tasks in the heavy month (2026-10-02 to 2026-10-31), so a price per task earns nothing "
        "there; price it per request, 1k_tokens or per month"
    )


def _hybrid(history: Runtime, tmp_path: Path, included: str) -> None:
    from tests.engine.scenarios.book import load_book

    (tmp_path / f"hyb{included}").mkdir()
    load_book(history, tmp_path / f"hyb{included}", events("hyb"), [
        ["customer", "customer_name", "plan", "start", "seats", "seat_price_usd", "platform_fee_usd",
         "included_units", "unit", "unit_price_usd"],
        ["hyb", "Hybrid Co", "hybrid", "2026-01-01", "", "", "100", included, "request", "0.05"],
    ])  # fmt: skip


def test_a_seat_price_for_a_plan_with_no_seats_is_refused(history: Runtime, tmp_path: Path) -> None:
    _hybrid(history, tmp_path, "4000")
    # A hybrid plan has seats, but this one has none: a seat price moves nothing ("Floor n/a keeps …" before).
    with pytest.raises(FloorError, match=r"^Hybrid Co pays for no seats; price it per month"):
        floor_of(history, "hyb", unit="seat")


def test_no_price_reaching_the_target_is_said_without_keeps_the_margin(history: Runtime, tmp_path: Path) -> None:
    _hybrid(history, tmp_path, "10000")
    # All 5,000 requests of the heavy month fall within the 10,000 included: no request price moves revenue.
    f = floor_of(history, "hyb")
    assert (f.unit, f.floor_price) == ("request", None)
    assert "every unit falls within the included units" in f.note and "$288.89 a month" in f.note
    answer = floor_message(floor_to_dict(f))
    body = json.dumps(answer.blocks)
    assert "keeps" not in answer.text and "keeps the gross margin" not in body
    assert answer.text.startswith("Price floor, Hybrid Co: no price per request reaches a 55.0% margin")
    assert "*No floor per request*: no price in it reaches *55.0%* in a heavy month" in body


def test_todays_price_is_the_contracts_own_to_every_decimal_it_was_written_with(
    history: Runtime, tmp_path: Path
) -> None:
    from tests.engine.scenarios.book import load_book

    # One task a day at $0.012345 a task: finer than the floor's step ($0.0001 a task), which is for computed floors.
    tasks = [[*row[:12], f"task-{row[1]}", ""] for row in events("tasky")]
    (tmp_path / "tasks").mkdir()
    load_book(history, tmp_path / "tasks", tasks, [
        ["customer", "plan", "start", "unit", "unit_price_usd"], ["tasky", "usage", "2026-01-01", "task", "0.012345"]
    ])  # fmt: skip
    f = floor_of(history, "tasky")
    assert (f.unit, f.current_price, f.current_is_effective) == ("task", D("0.012345"), False)
    d = floor_to_dict(f)
    assert d["current_price_usd"] == "0.012345"
    assert d["floor_price_usd"] == str(f.floor_price) and f.floor_price == f.floor_price.quantize(D("0.0001"))
    # A price the step can hold keeps the step's precision, as before.
    assert floor_to_dict(floor_of(history, "usage1"))["current_price_usd"] == "0.050000"


def test_a_short_history_is_said(history: Runtime, tmp_path: Path) -> None:
    from datetime import date

    from tests.engine.scenarios.book import load_book

    (tmp_path / "more").mkdir()
    load_book(history, tmp_path / "more", events("late", first=date(2026, 9, 22)), [
        ["customer", "plan", "start", "platform_fee_usd"], ["late", "flat", "2026-01-01", "300"]
    ])  # fmt: skip
    f = floor_of(history, "late")
    assert (f.history.days, f.history.windows, f.history.short) == (40, 11, True)
    assert (
        "history shorter than 60 days (40 days): P50 and P99 come from 11 overlapping 30-day windows"
        in (floor_to_dict(f)["history_note"])
    )


@pytest.mark.parametrize(
    ("ref", "kwargs", "message"),
    [
        ("c1", {"target_pct": D(100)}, "below 100%"),
        ("c1", {"unit": "seat"}, "pays for no seats"),
        ("c1", {"unit": "gold"}, "unit must be one of"),
    ],
)
def test_impossible_floors_say_why(book: Runtime, ref: str, kwargs: dict[str, Any], message: str) -> None:
    with book.connect() as conn, pytest.raises(FloorError, match=message):
        price_floor(conn, ref, OCTOBER, thresholds=book.thresholds, **kwargs)


def test_under_thirty_days_of_history_is_one_window_scaled_to_a_month(book: Runtime) -> None:
    with book.connect() as conn:
        f = price_floor(conn, "Cee One", OCTOBER, thresholds=book.thresholds)
    # Cee One's days: Oct 5 … 31, 27 days, COGS $4.83 and 40 requests: scaled to 30 days, $5.366… and 44.4…
    assert (f.history.days, f.history.windows) == (27, 1)
    assert f.p99_cogs == D("4.83") * 30 / 27 and f.p50_cogs == f.p99_cogs
    assert "only 27 days, one window scaled to 30" in floor_to_dict(f)["history_note"]


def test_a_customer_without_usage_has_no_floor(book: Runtime, tmp_path: Path) -> None:
    from tests.engine.scenarios.book import load_book

    contracts = [["customer", "plan", "start", "platform_fee_usd"], ["quiet", "flat", "2026-01-01", "5"]]
    load_book(book, tmp_path, [], contracts)
    with book.connect() as conn, pytest.raises(FloorError, match="no usage in 2026-10"):
        price_floor(conn, "quiet", OCTOBER, thresholds=book.thresholds)


@pytest.mark.parametrize(("price", "shown"), [("10.015", "$10.015/seat"), ("72.5", "$72.50/seat")])
def test_todays_seat_price_is_shown_to_the_cent_or_every_decimal_it_has_never_rounded(
    runtime: Runtime, tmp_path: Path, price: str, shown: str
) -> None:
    (tmp_path / "c.csv").write_text(
        f"customer,product,plan,start,seats,seat_price_usd\nacme,chat,seat,2026-01-01,3,{price}\n"
    )
    import_contracts_file(runtime.engine, tmp_path / "c.csv")
    rows = [f"e{i},2026-06-{1 + i % 28:02d}T12:00:00Z,acme,chat,0.5" for i in range(60)]
    (tmp_path / "u.csv").write_text("event_id,ts,customer,product,cost_usd\n" + "\n".join(rows) + "\n")
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        d = floor_to_dict(price_floor(conn, "acme", month(2026, 6), thresholds=runtime.thresholds, unit="seat"))
    assert Decimal(d["current_price_usd"]) == Decimal(price)
    assert f"*Today's price*\\n{shown}" in json.dumps(floor_message(d).blocks, ensure_ascii=False)


def test_the_basis_keeps_quiet_days_of_a_customer_that_used_the_product_before_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Cee One used it on October 1st, then not again until the 20th. Over October 10–31 its basis began on the 20th:
    # 12 days, the quiet ones dropped, and a floor or forecast scaled those busy days to a heavy month that never
    # happened. Cee Two's first usage ever is on the 25th: its days begin there, as before.
    e1, e5 = EVENTS[0], EVENTS[3]
    load_book(
        runtime,
        tmp_path,
        [
            ["a", "2026-10-01T10:00:00Z", *e1[2:]],
            ["b", "2026-10-20T10:00:00Z", *e1[2:]],
            ["c", "2026-10-25T10:00:00Z", *e5[2:]],
        ],
    )
    with runtime.connect() as conn:
        days = daily_usage(conn, Period(OCTOBER.start.replace(day=10), OCTOBER.end, ""))
    assert (len(days["c1"]), str(days["c1"][0].day)) == (22, "2026-10-10")
    assert (len(days["c2"]), str(days["c2"][0].day)) == (7, "2026-10-25")


def test_the_revenue_a_floor_needs_is_rounded_up_as_the_floor_is(history: Runtime) -> None:
    # 70% in flat1's $130 heavy month needs $130 ÷ 0.3 = $433.333…: the floor a month is $433.34, rounded up so it
    # meets the target, and the revenue it needs the same $433.34 (rounded half-up it read $433.33 beside it).
    d = floor_to_dict(floor_of(history, "flat1", target_pct=D(70)))
    assert (d["floor_price_usd"], d["revenue_needed_per_month_usd"]) == ("433.34", 433.34)
    body = json.dumps(floor_message(d).blocks)
    assert "*Floor $433.34/month*" in body and "*Revenue it needs*\\n$433.34 a month" in body


def test_the_floors_margin_columns_read_as_two_groups_in_a_terminal(history: Runtime) -> None:
    from bot.render.terminal import render

    # Each group's typical and heavy month on a line of their own, the floor's beside today's: side by side on one
    # line they ran together ("typical month 90.0% · heavy month 56.7%  typical month 89.6% · heavy month 55.0%").
    text = render(floor_message(floor_to_dict(floor_of(history, "flat1"))).blocks)
    lines = text.splitlines()
    at = lines.index("  Margin today                        Margin at the floor")
    assert lines[at + 1 : at + 3] == [
        "  typical month 90.0%                 typical month 89.6%",
        "  heavy month 56.7%                   heavy month 55.0%",
    ]
    # A left cell wider than the column pushes the right column out for the whole group, so the right cells line up
    # and stand apart (the forecast's windows: "2026-09-02 to 2026-10-01, COGS $30.00  2026-10-02 to …").
    from bot.blocks.scenarios import forecast_message
    from engine.scenarios.forecast import forecast
    from engine.scenarios.forecast_json import forecast_to_dict
    from engine.scenarios.growth import Growth

    with history.connect() as conn:
        f = forecast(conn, "flat1", HISTORY, growth=Growth(rate=D(0)), months=1, thresholds=history.thresholds)
    lines = render(forecast_message(forecast_to_dict(f)).blocks).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  Typical 30 days (P50)"))
    assert lines[at + 1] == "  2026-09-02 to 2026-10-01, COGS $30.00    2026-10-02 to 2026-10-31, COGS $130.00"
    assert lines[at].index("Heavy 30 days (P99)") == lines[at + 1].index("2026-10-02")
