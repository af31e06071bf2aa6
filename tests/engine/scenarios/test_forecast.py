"""Forecasts at P50 and P99 usage, checked against arithmetic done by hand."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.blocks.scenarios import forecast_message
from engine.periods import Period, month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from engine.scenarios.forecast import forecast
from engine.scenarios.forecast_json import forecast_to_dict
from engine.scenarios.growth import ForecastError, Growth, parse_growth
from tests.engine.scenarios.book import OCTOBER, load_book
from tests.engine.scenarios.history import HISTORY, load_history

D = Decimal


def _days_of_usage(customer: str, scale: int) -> list[list[object]]:
    # Day d of October costs d × scale × $0.10: 100,000 × d × scale input tokens of acme/small at $1/M.
    return [
        [
            f"{customer}-{d}",
            f"2026-10-{d:02d}T12:00:00Z",
            customer,
            "app",
            "chat",
            "acme",
            "small",
            100_000 * d * scale,
            0,
            0,
            1,
            0,
            "",
            "",
        ]
        for d in range(1, 32)
    ]


@pytest.fixture
def growing(runtime: Runtime, tmp_path: Path) -> Runtime:
    """f1 and f2 pay a flat $100 a month; f1's days cost $0.10 … $3.10, f2's twice that."""
    contracts = [
        ["customer", "customer_name", "plan", "start", "platform_fee_usd"],
        ["f1", "Eff One", "flat", "2026-01-01", "100"],
        ["f2", "Eff Two", "flat", "2026-01-01", "100"],
    ]
    load_book(runtime, tmp_path, _days_of_usage("f1", 1) + _days_of_usage("f2", 2), contracts)
    return runtime


@pytest.fixture
def history(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_history(runtime, tmp_path)
    return runtime


def test_p50_and_p99_months_come_from_real_30_day_windows_and_the_stress_case_stands_apart(history: Runtime) -> None:
    with history.connect() as conn:
        f = forecast(conn, "flat1", HISTORY, growth=parse_growth("20%"), months=2, thresholds=history.thresholds)
    c = f.customers[0]
    assert (c.p50_window.cogs, c.p99_window.cogs, c.history.days, c.history.windows) == (D(30), D(130), 90, 61)
    nov, dec = c.months
    # Nov (30 days) × 1.2: P50 $30 → $36.00 on $300 (88%); P99 $130 → $156.00 (48%, watch).
    assert (nov.p50.cogs, nov.p50.margin_pct, nov.p99.cogs, nov.p99.margin_pct) == (D(36), D(88), D(156), D(48))
    # Dec (31 days) × 1.44: P99 $130 × 31/30 × 1.44 = $193.44 → 35.52%: the first breach of a heavy month.
    assert dec.p99.cogs == D("193.44") and dec.p99.margin_pct == D("35.52")
    assert dec.p50.cogs == D("44.64")
    # The stress case, every day like the $21 P99 day: $21 × 30 × 1.2 = $756 (−152%), a bound kept apart.
    assert nov.stress.cogs == D(756) and nov.stress.margin_pct == D(-152)
    assert (c.breach_p50, c.breach_p99, c.breach_stress) == (None, "2026-12", "2026-11")
    d = forecast_to_dict(f)
    assert (d["p99_window"]["start"], d["p99_window"]["end"], d["p99_window"]["cogs_usd"]) == (
        "2026-10-02",
        "2026-10-31",
        130.0,
    )
    assert d["forecast"][0]["stress"]["cogs_usd"] == 756.0 and d["breach_month_stress"] == "2026-11"
    assert d["short_history"] is False and d["history_note"] is None
    assert any("stress case, not a forecast" in a for a in d["assumptions"])
    # Usage on every day of the basis: all its days, not "from the first on" (said only of a first usage inside it).
    assert "; 90 days of Flat One's usage, as 61 rolling 30-day windows" in d["assumptions"][0]


def test_the_portfolio_is_forecast_on_its_own_windows_and_new_customers_on_their_plans(history: Runtime) -> None:
    with history.connect() as conn:
        f = forecast(conn, None, HISTORY, growth=parse_growth("0%"), months=1, thresholds=history.thresholds)
    assert (f.p50_window[0].isoformat(), f.p99_window[1].isoformat()) == ("2026-09-02", "2026-10-31")
    (nov,) = f.total
    # Five customers with the same days: P50 5 × $30, P99 5 × $130. Revenue at P50: 300 + 300 + 150 (3,000 × 0.05)
    # + 250 (mixed: 150 + 100) + 300 (seats); at P99 usage revenue is 5,000 × 0.05 = 250.
    assert (nov.p50.cogs, nov.p50.revenue, nov.p99.cogs, nov.p99.revenue) == (D(150), D(1300), D(650), D(1500))
    assert nov.stress.cogs == 5 * D(630)
    assert [p.plan for p in f.plans] == ["flat", "flat+usage", "seat", "usage"]
    flat = f.plans[0]
    assert (flat.customers, flat.p50_customer.key, flat.p99_customer.key) == (2, "flat1", "flat2")
    d = forecast_to_dict(f)
    assert d["total"][0]["p99"]["cogs_usd"] == 650.0 and d["windows"] == 61
    assert d["plans"][0]["breach_month_like_p99"] is None


def test_a_short_history_is_said_in_the_assumptions(growing: Runtime) -> None:
    with growing.connect() as conn:
        f = forecast(conn, "f1", OCTOBER, growth=Growth(rate=D(0)), months=1, thresholds=growing.thresholds)
    assert f.history.short and f.history.windows == 2
    assert "history shorter than 60 days (31 days): P50 and P99 come from 2 overlapping 30-day windows" in (
        " ".join(f.assumptions)
    )


def test_one_window_and_one_day_are_said_in_the_singular(growing: Runtime) -> None:
    # The last 30 days of October make one rolling window, and its last day alone a history of one day: they said
    # "as 1 rolling 30-day windows" and "only 1 days, one window scaled to 30".
    with growing.connect() as conn:
        thirty = forecast(
            conn,
            "f1",
            Period(date(2026, 10, 2), date(2026, 10, 31), "30 days"),
            growth=Growth(rate=D(0)),
            months=1,
            thresholds=growing.thresholds,
        )
        one = forecast(
            conn,
            None,
            Period(date(2026, 10, 31), date(2026, 10, 31), "1 day"),
            growth=Growth(rate=D(0)),
            months=1,
            thresholds=growing.thresholds,
        )
    assert thirty.history.windows == 1
    assert "; 30 days of Eff One's usage, as 1 rolling 30-day window ranked by COGS" in thirty.assumptions[0]
    assert (one.history.days, one.history.windows) == (1, 1)
    assert "; 1 day of the portfolio's usage, as 1 rolling 30-day window ranked by COGS" in one.assumptions[0]
    assert "only 1 day, one window scaled to 30" in " ".join(one.assumptions)
    shown = " ".join(str(a) for a in forecast_to_dict(one)["assumptions"]) + str(forecast_to_dict(one)["history_note"])
    assert "windows ranked" not in shown and "1 days" not in shown


def test_p50_and_p99_days_match_the_margin_report_when_usage_covers_the_basis(growing: Runtime) -> None:
    with growing.connect() as conn:
        f = forecast(conn, "f1", OCTOBER, growth=Growth(rate=D(0)), months=1, thresholds=growing.thresholds)
        report = customer_report(conn, "f1", OCTOBER, thresholds=growing.thresholds)
    c = f.customers[0]
    assert D(c.p50_day.cogs_nano) / 10**9 == report.daily_cost_p50 == D("1.6")
    assert D(c.p99_day.cogs_nano) / 10**9 == report.daily_cost_p99 == D("3.1")


def test_a_multiple_is_reached_in_the_last_month() -> None:
    g = parse_growth("10x")
    assert g.factor(2, 2) == 10  # 10^(2/2)
    assert g.factor(1, 2) ** 2 - 10 < D("1e-20")  # month 1 is √10
    assert parse_growth("10%").factor(2, 6) == D("1.21")
    assert parse_growth(None).factor(5, 6) == 1


@pytest.mark.parametrize("text", ["10", "ten%", "x", "-100%", "0x"])
def test_unreadable_growth_says_how_to_write_it(text: str) -> None:
    with pytest.raises(ForecastError, match="growth"):
        parse_growth(text)


def test_growth_past_a_million_times_usage_is_refused_in_one_line(growing: Runtime) -> None:
    # 1000% a month for 36 months is usage × 11^36: its figures crashed the rounding (decimal.InvalidOperation).
    with growing.connect() as conn, pytest.raises(ForecastError, match=r"multiplies usage by about 10\^37, more than"):
        forecast(conn, "f1", OCTOBER, growth=parse_growth("1000%"), months=36, thresholds=growing.thresholds)
    with growing.connect() as conn:  # 1000% for 5 months (×161,051) is within it
        f = forecast(conn, "f1", OCTOBER, growth=parse_growth("1000%"), months=5, thresholds=growing.thresholds)
    assert len(f.customers[0].months) == 5


def test_months_out_of_range_are_refused(growing: Runtime) -> None:
    with growing.connect() as conn, pytest.raises(ForecastError, match="between 1 and 36"):
        forecast(conn, "f1", OCTOBER, growth=Growth(rate=D(0)), months=40, thresholds=growing.thresholds)


# ---------------------------------------------------------------- contracts that end or start within the forecast


def _contracts(rt: Runtime, tmp_path: Path, rows: list[list[str]]) -> None:
    """history.py's days for each customer in `rows`, on these contracts."""
    from tests.engine.scenarios.book import load_book
    from tests.engine.scenarios.history import events

    header = ["customer", "customer_name", "product", "plan", "start", "end", "platform_fee_usd", "unit",
              "unit_price_usd"]  # fmt: skip
    load_book(rt, tmp_path, [row for c in dict.fromkeys(r[0] for r in rows) for row in events(c)], [header, *rows])


def test_each_month_earns_from_the_contracts_in_force_in_it_and_says_which_end_or_start(
    runtime: Runtime, tmp_path: Path
) -> None:
    _contracts(runtime, tmp_path, [
        ["ending", "Ending Co", "", "flat", "2026-01-01", "2026-11-30", "300", "", ""],
        ["renew", "Renew Co", "", "flat", "2026-01-01", "2026-11-30", "300", "", ""],
        ["renew", "Renew Co", "", "flat", "2026-12-01", "", "600", "", ""],
        # Ends mid-December: half of December's fee ($300 × 15/31) and its usage charges on 15 of the 31 days.
        ["half", "Half Co", "", "usage", "2026-01-01", "2026-12-15", "", "request", "0.05"],
    ])  # fmt: skip
    with runtime.connect() as conn:
        f = forecast(conn, None, HISTORY, growth=Growth(rate=D(0)), months=3, thresholds=runtime.thresholds)
    by = {c.key: c for c in f.customers}
    # To the cent, as answers give them (a 31-day month is 31/30 of a window, which no decimal holds).
    revenue = {k: [m.p50.revenue.quantize(D("0.01")) for m in c.months] for k, c in by.items()}
    assert revenue["ending"] == [D(300), D(0), D(0)]  # it kept earning $300 after it ended
    assert revenue["renew"] == [D(300), D(600), D(600)]  # the renewal on file was ignored
    # The typical window's 3,000 requests over 30 days: November 3,000 × $0.05 = $150; December's 31 days of them
    # are 3,100, of which the contract's 15 days carry 1,500: $75; nothing in January.
    assert revenue["half"] == [D(150), D(75), D(0)]
    assert (by["ending"].breach_p50, by["ending"].breach_why("p50")) == ("2026-12", "cost_without_revenue")
    d = forecast_to_dict(f)
    changes = {c["customer"]: c["contract_changes"] for c in d["customers"]}
    assert changes["ending"] == [
        {
            "date": "2026-11-30",
            "change": "ends",
            "product": "",
            "terms": "flat: $300.00/mo platform fee",
            "note": "flat: $300.00/mo platform fee ends 2026-11-30; no contract on file follows it, so it earns "
            "nothing after",
        }
    ]
    assert [c["note"] for c in changes["renew"]] == [
        "flat: $300.00/mo platform fee ends 2026-11-30",
        "renewal on file from 2026-12-01: flat: $600.00/mo platform fee",
    ]
    # The portfolio's months are the customers' months summed, on its own windows (the same days for all three).
    assert [m.p50.revenue.quantize(D("0.01")) for m in f.total] == [D(750), D(675), D(600)]
    with runtime.connect() as conn:
        one = forecast_to_dict(
            forecast(conn, "renew", HISTORY, growth=Growth(rate=D(0)), months=3, thresholds=runtime.thresholds)
        )
    assert one["terms"] == ["flat: $300.00/mo platform fee"]  # today's terms, as before
    body = json.dumps(forecast_message(one).blocks)
    assert "Contracts that end or start within the forecast" in body
    assert "renewal on file from 2026-12-01: flat: $600.00/mo platform fee" in body


# ---------------------------------------------------------------- cost without revenue


def test_cost_without_revenue_is_a_breach_from_its_first_month(runtime: Runtime, tmp_path: Path) -> None:
    from tests.engine.scenarios.book import load_book
    from tests.engine.scenarios.history import events

    # `free` has usage ($30 to $130 a month of COGS) and no contract; flat1 pays $300 a month for the same usage.
    load_book(runtime, tmp_path, events("free") + events("flat1"), [
        ["customer", "plan", "start", "platform_fee_usd"], ["flat1", "flat", "2026-01-01", "300"]
    ])  # fmt: skip
    with runtime.connect() as conn:
        one = forecast(conn, "free", HISTORY, growth=Growth(rate=D(0)), months=2, thresholds=runtime.thresholds)
        every = forecast(conn, None, HISTORY, growth=Growth(rate=D(0)), months=2, thresholds=runtime.thresholds)
    c = one.customers[0]
    assert (c.breach_p50, c.breach_p99) == ("2026-11", "2026-11")
    d = forecast_to_dict(one)
    assert (d["breach_month_p50"], d["breach_reason_p50"], d["breach_reason_p99"]) == (
        "2026-11",
        "cost_without_revenue",
        "cost_without_revenue",
    )
    answer = forecast_message(d)
    assert "breach in a typical month 2026-11 (cost without revenue)" in answer.text
    assert "2026-11  ×1.00       n/a !" in json.dumps(
        answer.blocks, ensure_ascii=False
    )  # flagged in the table, where its margin is n/a
    p = forecast_to_dict(every)
    free = next(x for x in p["customers"] if x["customer"] == "free")
    assert (free["breach_month_p99"], free["breach_reason_p99"]) == ("2026-11", "cost_without_revenue")
    flat = next(x for x in p["customers"] if x["customer"] == "flat1")
    assert (flat["breach_month_p99"], flat["breach_reason_p99"]) == (None, None)
    crossing = json.dumps(forecast_message(p).blocks)
    assert "free: typical month *2026-11* (cost without revenue)" in crossing
    assert "none within the forecast" not in crossing


# ---------------------------------------------------------------- the observed trend


def test_the_observed_trend_is_a_compounded_monthly_rate(runtime: Runtime, tmp_path: Path) -> None:
    from datetime import date, timedelta

    # Requests a day ramp 100, 101, … from May 5 (day 0) to Oct 31 (day 179): the 90-day history averages
    # 100 + 134.5 a day, the 90 days before it 100 + 44.5: +62.28% over 90 days, (1.6228…)^(30/90) − 1 = +17.51% a
    # month, the rate `--growth` takes (+62.28% read as a month would have tripled usage in a quarter's time).
    rows: list[list[object]] = []
    for i in range(180):
        day = date(2026, 5, 5) + timedelta(days=i)
        rows.append([f"g{i}", f"{day}T12:00:00Z", "grow", "app", "chat", "acme", "small", 10_000, 0, 0, 100 + i, 0,
                     "", ""])  # fmt: skip
    load_book(runtime, tmp_path, rows, [["customer", "plan", "start", "unit", "unit_price_usd"],
                                        ["grow", "usage", "2026-01-01", "request", "0.05"]])  # fmt: skip
    with runtime.connect() as conn:
        f = forecast(conn, "grow", HISTORY, growth=Growth(rate=D(0)), months=1, thresholds=runtime.thresholds)
    c = f.customers[0]
    change = D(100 * 90 + sum(range(90, 180))) / D(100 * 90 + sum(range(90))) - 1
    assert c.observed_change == change
    assert c.observed_growth is not None and abs(c.observed_growth - ((1 + change) ** (D(1) / 3) - 1)) < D("1e-20")
    d = forecast_to_dict(f)
    assert (d["observed_change_pct"], d["observed_growth_pct"]) == (62.28, 17.51)
    assert (
        "observed: requests a day +62.3% over the 90 days of the history against the 90 before, +17.5% a month "
        "compounded (give a growth of 17.5% to project it)"
    ) in d["assumptions"]


def test_the_observed_trend_counts_the_days_before_from_the_first_usage_and_is_na_on_too_few(
    runtime: Runtime, tmp_path: Path
) -> None:
    from datetime import date, timedelta

    # 1,000 requests every day, flat, for three customers: "week" from Jul 27 (7 of the 90 days before the
    # history, Aug 3 to Oct 31), "since" from Jun 3 (61 of them) and "new" from Sep 1, within the history. The days
    # before a first usage counted as zero read week's flat use as +1185.7% (+134.3% a month) and since's as +47.5%.
    # "step" from Jun 3 too, doubling to 2,000 a day in the history: +100%, compounded over the 75.5 days between
    # the middles of its 61 days before and the history's 90, 2^(30/75.5) − 1 = +31.71% a month.
    starts = {"week": date(2026, 7, 27), "since": date(2026, 6, 3), "new": date(2026, 9, 1), "step": date(2026, 6, 3)}
    rows: list[list[object]] = []
    for cust, first in starts.items():
        for i in range((HISTORY.end - first).days + 1):
            day = first + timedelta(days=i)
            requests = 2000 if cust == "step" and day >= HISTORY.start else 1000
            rows.append([f"{cust}{i}", f"{day}T12:00:00Z", cust, "app", "chat", "acme", "small", 10_000, 0, 0,
                         requests, 0, "", ""])  # fmt: skip
    contracts = [["customer", "plan", "start", "unit", "unit_price_usd"]]
    contracts += [[cust, "usage", "2026-01-01", "request", "0.05"] for cust in starts]
    load_book(runtime, tmp_path, rows, contracts)
    with runtime.connect() as conn:
        every = forecast(conn, None, HISTORY, growth=Growth(rate=D(0)), months=1, thresholds=runtime.thresholds)
        week = forecast(conn, "week", HISTORY, growth=Growth(rate=D(0)), months=1, thresholds=runtime.thresholds)
        since = forecast(conn, "since", HISTORY, growth=Growth(rate=D(0)), months=1, thresholds=runtime.thresholds)
        newcomer = forecast(conn, "new", HISTORY, growth=Growth(rate=D(0)), months=1, thresholds=runtime.thresholds)
    by_key = {c["customer"]: c for c in forecast_to_dict(every)["customers"]}
    # A week before is too few to compare (a trend needs 23 of the 90 days: a week and a quarter): n/a, no figure.
    for cust in ("week", "new"):
        assert (by_key[cust]["observed_change_pct"], by_key[cust]["observed_growth_pct"]) == (None, None)
    assert (by_key["since"]["observed_change_pct"], by_key["since"]["observed_growth_pct"]) == (0.0, 0.0)
    assert (by_key["step"]["observed_change_pct"], by_key["step"]["observed_growth_pct"]) == (100.0, 31.71)
    notes = forecast_to_dict(week)["assumptions"]
    assert (
        "observed: n/a, only 7 days of usage before the history (the first on 2026-07-27); a trend needs at least "
        "23 of the 90 days before it"
    ) in notes
    assert not any("to project it" in n for n in notes)
    assert (
        "observed: requests a day 0.0% over the 90 days of the history against the 61 days before it from since's "
        "first usage (2026-06-03), 0.0% a month compounded (give a growth of 0.0% to project it)"
    ) in forecast_to_dict(since)["assumptions"]
    # Its history counts from its first usage, inside the basis (Sep 1): 61 of the 90 days.
    assert "; 61 days of new's usage from the first on, as 32 rolling" in forecast_to_dict(newcomer)["assumptions"][0]
    new = next(c for c in every.customers if c.key == "new")
    assert new.observed is not None and new.observed.why_not == (
        "usage starts 2026-09-01, within the history: no days before it to compare"
    )


def test_a_period_to_dates_trend_is_compounded_over_the_days_between_its_windows(
    runtime: Runtime, tmp_path: Path
) -> None:
    # November to date (Nov 1–14) against the same 14 days of October (Oct 1–14): their middles are 31 days apart,
    # not 14 ((14 + 14) / 2, as if October's days ended the day before November's began). "grow" has 1,000 requests
    # a day in October and 1,100 in November: +10% over 31 days is 1.1^(30/31) − 1 = +9.66% a month (over 14 days it
    # read +22.66%).
    rows: list[list[object]] = []
    for i in range(45):
        day = date(2026, 10, 1) + timedelta(days=i)
        rows.append([f"g{i}", f"{day}T12:00:00Z", "grow", "app", "chat", "acme", "small", 10_000, 0, 0,
                     1100 if day.month == 11 else 1000, 0, "", ""])  # fmt: skip
    load_book(runtime, tmp_path, rows, [["customer", "plan", "start", "unit", "unit_price_usd"],
                                        ["grow", "usage", "2026-01-01", "request", "0.05"]])  # fmt: skip
    to_date = month(2026, 11).to_date(date(2026, 11, 15))
    with runtime.connect() as conn:
        f = forecast(conn, "grow", to_date, growth=Growth(rate=D(0)), months=1, thresholds=runtime.thresholds)
    d = forecast_to_dict(f)
    assert (d["observed_change_pct"], d["observed_growth_pct"]) == (10.0, 9.66)
    assert (
        "observed: requests a day +10.0% over the 14 days of the history against the 14 days of 2026-10 (2026-10-01 "
        "to 2026-10-14), +9.7% a month compounded (give a growth of 9.7% to project it)"
    ) in d["assumptions"]


# ---------------------------------------------------------------- a customer who has left


def test_a_churned_customer_is_said_in_one_line_and_left_out_of_the_portfolios_breaches(
    runtime: Runtime, tmp_path: Path
) -> None:
    from engine.scenarios.floor import NoHistory, price_floor
    from tests.engine.scenarios.history import events

    # `gone` paid a $500 flat fee to September 30th and has had no usage since (its last 30 days, October 2nd to
    # 31st, are quiet); flat1 pays $300 a month and uses it all along. Forecast, gone's heavy month (its old usage)
    # against no revenue read "Breach in a heavy month: 2026-11 (cost without revenue)", and its floor priced a
    # month nobody will pay for.
    load_book(runtime, tmp_path, events("gone", last=date(2026, 9, 30)) + events("flat1"), [
        ["customer", "customer_name", "plan", "start", "end", "platform_fee_usd"],
        ["gone", "Gone Co", "flat", "2026-01-01", "2026-09-30", "500"],
        ["flat1", "Flat One", "flat", "2026-01-01", "", "300"],
    ])  # fmt: skip
    flat = Growth(rate=D(0))
    churned = r"^Gone Co has churned: its last contract ended 2026-09-30, none is in force on 2026-10-31, and it has"
    with runtime.connect() as conn:
        with pytest.raises(NoHistory, match=churned + r" had no usage since 2026-09-30 \(31 days\); no month to"):
            forecast(conn, "gone", HISTORY, growth=flat, months=2, thresholds=runtime.thresholds)
        with pytest.raises(NoHistory, match=churned + r".*no month to price \(ask for a period .* e\.g\. 2026-09\)"):
            price_floor(conn, "gone", HISTORY, thresholds=runtime.thresholds)
        every = forecast(conn, None, HISTORY, growth=flat, months=2, thresholds=runtime.thresholds)
        # Asked about a month it was a customer in, it has a floor.
        assert price_floor(conn, "gone", month(2026, 9), thresholds=runtime.thresholds).floor_price
    assert [c.key for c in every.customers] == ["flat1"]
    assert [p["plan"] for p in forecast_to_dict(every)["plans"]] == ["flat"]
    assert any(a.startswith("1 churned customer left out (Gone Co)") for a in every.assumptions)
    assert "Gone Co" not in forecast_message(forecast_to_dict(every)).text


def test_a_renewal_on_file_past_the_horizon_is_not_churn_to_the_forecast_as_to_the_floor(
    runtime: Runtime, tmp_path: Path
) -> None:
    from engine.scenarios.floor import price_floor
    from tests.engine.scenarios.history import events

    # gone's contract ended 2026-09-30 and a renewal from 2027-06-01 is on file: the floor priced it while the
    # forecast (looking inside its two months only) said it "has churned … none is in force", and the portfolio left
    # it out as having "no contract … on file after" the history, which it has.
    load_book(runtime, tmp_path, events("gone", last=date(2026, 9, 30)) + events("flat1"), [
        ["customer", "customer_name", "plan", "start", "end", "platform_fee_usd"],
        ["gone", "Gone Co", "flat", "2026-01-01", "2026-09-30", "500"],
        ["gone", "Gone Co", "flat", "2027-06-01", "", "500"],
        ["flat1", "Flat One", "flat", "2026-01-01", "", "300"],
    ])  # fmt: skip
    flat = Growth(rate=D(0))
    with runtime.connect() as conn:
        one = forecast(conn, "gone", HISTORY, growth=flat, months=2, thresholds=runtime.thresholds)
        every = forecast(conn, None, HISTORY, growth=flat, months=2, thresholds=runtime.thresholds)
        assert price_floor(conn, "gone", HISTORY, thresholds=runtime.thresholds).floor_price
    assert [c.key for c in one.customers] == ["gone"]
    assert sorted(c.key for c in every.customers) == ["flat1", "gone"]
    assert not any("churned" in a for a in every.assumptions)
