"""The one revenue rule (on the contract terms) and the one way units are counted, by hand and on a real database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from config.settings import Settings
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.money import ZERO
from engine.periods import Period, month, quarter, trailing
from engine.reports.portfolio import portfolio
from engine.reports.revenue import (
    FixedCharges,
    Invoice,
    RevenueLine,
    SkippedContract,
    Terms,
    _contract,
    _stored_terms,
    active_span,
    compute_line,
    contract_line,
    contracts_in,
    month_fraction,
    period_revenue,
    prorated_lines,
    revenue_by_customer,
    revenue_lines,
    total_by_customer,
    total_by_product,
)
from engine.reports.usage import COUNTING, UnitCounter, count_units
from engine.reports.weekly import trend_weeks
from engine.runtime import Runtime
from engine.scenarios.basis import terms_for
from engine.vocab import Plan, Unit
from tests.conftest import NOW
from tests.engine.scenarios.book import EVENTS, OCTOBER, load_book, write_prices

D = Decimal
START = date(2026, 1, 1)


# The contract columns these tests' books fill (engine.ingest.contracts reads the rest as blank).
_HEADER = "customer,customer_name,product,plan,start,end,seats,seat_price_usd,platform_fee_usd,included_units,unit,unit_price_usd"


def _import(runtime: Runtime, path: Path, *rows: str, supersede: bool = False) -> None:
    """Import a contracts file written at `path`, of _HEADER's columns and these lines."""
    path.write_text(_HEADER + "\n" + "".join(rows))
    import_contracts_file(runtime.engine, path, supersede=supersede)


def _with_contracts(settings: Settings, tmp_path: Path, *rows: str) -> Runtime:
    """A runtime whose database holds these contracts (lines of _HEADER's columns)."""
    runtime = Runtime(settings, now_override=NOW)
    _import(runtime, tmp_path / "contracts.csv", *rows)
    return runtime


def terms(plan: Plan, **values: object) -> Terms:
    return Terms(customer="c", product="", plan=plan, start=START, end=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("contract", "units", "months", "expected"),
    [
        # seats × price × months; a seat plan's fee column is ignored
        (terms(Plan.SEAT, seats=4, seat_price_usd=D(10), platform_fee_usd=D(99)), D(7), D("0.5"), (D(20), D(0), D(0))),
        # the fee × months; a flat plan's seat columns are ignored
        (terms(Plan.FLAT, seats=3, seat_price_usd=D(5), platform_fee_usd=D(10)), D(7), D(2), (D(0), D(20), D(0))),
        # every unit × the unit price, and the fee
        (terms(Plan.USAGE, platform_fee_usd=D(1), unit=Unit.REQUEST, unit_price_usd=D("0.5")), D(40), D(1),
         (D(0), D(1), D(20))),
        # fee + seats + the units over those included in the months
        (terms(Plan.HYBRID, seats=1, seat_price_usd=D(1), platform_fee_usd=D(2), included_units=D(1000),
               unit=Unit.TOKENS_1K, unit_price_usd=D("0.01")), D(2000), D(1), (D(1), D(2), D(10))),
        # ... and nothing while usage stays within them (half a month includes 500)
        (terms(Plan.HYBRID, platform_fee_usd=D(2), included_units=D(1000), unit=Unit.REQUEST,
               unit_price_usd=D("0.01")), D(400), D("0.5"), (D(0), D(1), D(0))),
    ],
)  # fmt: skip
def test_each_plan_charges_what_its_terms_say(
    contract: Terms, units: Decimal, months: Decimal, expected: tuple[Decimal, Decimal, Decimal]
) -> None:
    seats, platform, usage = expected
    line = compute_line(contract, 31, months, units)
    assert (line.seats, line.platform, line.usage) == (seats, platform, usage)
    assert line.total == contract.charge(units, months) == seats + platform + usage
    assert contract.fixed_charge(months) + contract.usage_charge(units, months) == line.total


amounts = st.decimals(min_value=0, max_value=10**6, places=3)
fractions = st.integers(min_value=1, max_value=31).map(lambda d: D(d) / 31)


@given(
    plan=st.sampled_from(list(Plan)),
    days=st.lists(st.tuples(amounts, fractions), min_size=1, max_size=31),
    included=amounts,
    price=amounts,
)
def test_a_window_of_days_is_charged_day_by_day_by_the_same_rule(
    plan: Plan, days: list[tuple[Decimal, Decimal]], included: Decimal, price: Decimal
) -> None:
    c = terms(plan, included_units=included, unit=Unit.REQUEST, unit_price_usd=price)
    units, months = [u for u, _ in days], [m for _, m in days]
    assert c.usage_charges(units, months) == [compute_line(c, 1, m, u).usage for u, m in days]


@pytest.mark.parametrize(
    ("contract", "units", "expected"),
    [
        # $3,000.15 over 7 of June's 30 days: exactly $700.035, which a month fraction of 7/30 taken as a 28-digit
        # decimal first made $700.0349…9 (a cent short once rounded half-up).
        (terms(Plan.FLAT, platform_fee_usd=D("3000.15")), D(0), D("700.035")),
        (terms(Plan.SEAT, seats=3, seat_price_usd=D("1000.05")), D(0), D("700.035")),
        # 1,000 units a month included: 233⅓ over the 7 days, so 300 used are 66⅔ over, at $0.03 exactly $2.
        (terms(Plan.HYBRID, included_units=D(1000), unit=Unit.REQUEST, unit_price_usd=D("0.03")), D(300), D(2)),
    ],
)
def test_a_part_of_a_month_is_charged_exactly(contract: Terms, units: Decimal, expected: Decimal) -> None:
    months = month_fraction(date(2026, 6, 1), date(2026, 6, 7))
    assert contract.charge(units, months) == expected
    assert contract.usage_charges([units], [months]) == [contract.usage_charge(units, months)]


def test_fees_accrued_over_part_of_a_month_are_exact_on_a_real_database(settings: Settings, tmp_path: Path) -> None:
    runtime = _with_contracts(settings, tmp_path, "acme,Acme,,flat,2026-01-01,,,,3000.15,,,\n")
    with runtime.connect() as conn:
        [line] = revenue_lines(conn, Period(date(2026, 6, 1), date(2026, 6, 7), "june to date"))
    assert line.total == D("700.035")


@pytest.mark.parametrize(
    ("unit", "expected"),
    [(Unit.REQUEST, D(7)), (Unit.TOKENS_1K, D("12.345")), (Unit.TASK, D(3))],
)
def test_each_unit_counts_one_thing(unit: Unit, expected: Decimal) -> None:
    assert count_units(unit, 7, 12_345, 3) == expected
    which, per = COUNTING[unit]
    assert Decimal((7, 12_345, 3)[which]) / per == expected


def test_revenue_lines_scale_metered_units_and_leave_fees_alone(settings: Settings, tmp_path: Path) -> None:
    runtime = Runtime(settings.model_copy(update={"prices_file": write_prices(tmp_path)}), now_override=NOW)
    load_book(runtime, tmp_path)
    with runtime.connect() as conn:
        now = {line.customer: line.total for line in revenue_lines(conn, OCTOBER)}
        tripled = {line.customer: line.total for line in revenue_lines(conn, OCTOBER, usage_factor=D(3))}
        first_week = {
            line.customer: line for line in revenue_lines(conn, Period(date(2026, 10, 1), date(2026, 10, 7), "w"))
        }
    # c1: 40 requests × $0.50 (×3 = 120 requests); c2 flat $10 and c3 4 seats × $10 do not follow usage.
    assert now == {"c1": D(20), "c2": D(10), "c3": D(40)}
    assert tripled == {"c1": D(60), "c2": D(10), "c3": D(40)}
    # A part of the month: e1–e3 (10 + 20 + 10 requests) fall in it; fees accrue for 7 of 31 days.
    assert first_week["c1"].units == 40 and first_week["c2"].total == D(10) * 7 / 31


def test_revenue_by_customer_is_what_the_lines_total_in_the_same_order(settings: Settings, tmp_path: Path) -> None:
    # Contracts that start and end inside the weeks, a hybrid one, and a billed customer whose invoice replaces its
    # modelled revenue on part of the range: every week of a trend, a month and a window across two months.
    runtime = Runtime(settings.model_copy(update={"prices_file": write_prices(tmp_path)}), now_override=NOW)
    load_book(runtime, tmp_path)
    _import(
        runtime,
        tmp_path / "more.csv",
        "bluth,Bluth Homes,,seat,2026-10-20,2026-11-05,12,30,,,,\n"
        "cyber,Cyberdyne,,hybrid,2026-10-01,,,,500,9,request,2.5\n"
        "fox,Fox Media,,flat,2026-11-01,,,,899,,,\n",
        supersede=True,
    )
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                "currency, invoice_id) VALUES ('in_1', 'stripe', 'c2', '', '2026-10-10', '2026-11-09', "
                "900, 'usd', 'inv_1')"
            )
        )
    periods = [*trend_weeks(trailing(30, today=date(2026, 11, 20))), OCTOBER, trailing(30, today=date(2026, 11, 20))]
    with runtime.connect() as conn:
        for period in periods:
            expected = total_by_customer(revenue_lines(conn, period))
            assert expected  # the book has revenue in every one of these periods
            mine = revenue_by_customer(conn, period)
            # The same figures to the last digit (str keeps the exponent) and the same order of customers.
            assert [(c, str(v)) for c, v in mine.items()] == [(c, str(v)) for c, v in expected.items()], period
            one = revenue_by_customer(conn, period, customers=["c2"])
            assert one == total_by_customer(revenue_lines(conn, period, customers=["c2"])), period
            if period is OCTOBER:  # c2's billed line replaces its contract's from Oct 10, the day it starts
                lines = [x for x in revenue_lines(conn, period) if x.customer == "c2"]
                assert [(x.source, x.active_days) for x in lines] == [("contract", 9), ("stripe", 22)]
            # And per product, all-product contracts split by usage, the billed line replacing c2's.
            by_product = period_revenue(conn, period).by_product()
            expected = total_by_product(revenue_lines(conn, period))
            assert [(p, str(v)) for p, v in by_product.items()] == [(p, str(v)) for p, v in expected.items()], period
            # An alert run writes up only the lines of the customers it reports on: the same lines in the same order
            # (billed ones included), whether or not every line was written up first.
            every = revenue_lines(conn, period)
            for some in ({"c2"}, {"bluth", "cyber", "fox"}, {"c1", "c2"}, set()):
                theirs = [line for line in every if line.customer in some]
                assert period_revenue(conn, period).lines_of(some) == theirs, (period, some)
                written = period_revenue(conn, period)
                written.lines()
                assert written.lines_of(some) == theirs, (period, some)


def test_a_billed_line_replaces_modelled_revenue_only_on_the_days_it_covers(settings: Settings, tmp_path: Path) -> None:
    # A customer's first invoice from the 15th, and one whose service period starts on the evening of the day before
    # in MARGINBOT_TIMEZONE (Stripe's 02:00 UTC on Oct 1 is Sep 30 in New York): the days no invoice covers keep the
    # contract's revenue. Replacing the whole period's left October at $2,741.94 and September at $156.25.
    runtime = _with_contracts(
        settings,
        tmp_path,
        "acme,Acme,,flat,2026-01-01,,,,5000,,,\n",
        "bluth,Bluth,,flat,2026-01-01,,,,3100,,,\n",
        "cyber,Cyberdyne,,flat,2026-01-01,,,,3100,,,\n",
    )
    bills = [
        ("in_1", "acme", "2026-10-15", "2026-11-14", 5000),
        ("in_2", "bluth", "2026-09-30", "2026-10-31", 3200),
        ("in_3", "cyber", "2026-10-01", "2026-10-10", 1000),  # two lines with nine days between them
        ("in_4", "cyber", "2026-10-20", "2026-10-31", 1200),
        ("in_5", "cyber", "2026-10-05", "2026-10-08", 400),  # inside the first: covers nothing more
    ]
    with runtime.engine.begin() as conn:
        for bill_id, customer, start, end, amount in bills:
            conn.execute(
                text(
                    "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                    "currency, invoice_id) VALUES (:id, 'stripe', :c, '', :a, :b, :amount, 'usd', :id)"
                ),
                {"id": bill_id, "c": customer, "a": start, "b": end, "amount": amount},
            )
    september = Period(date(2026, 9, 1), date(2026, 9, 30), "2026-09")
    november = Period(date(2026, 11, 1), date(2026, 11, 14), "first half of 2026-11")

    def lines(period: Period, customer: str) -> list[tuple[str, int, Decimal]]:
        with runtime.connect() as conn:
            return [
                (x.source, x.active_days, x.total.quantize(D("0.01")))
                for x in revenue_lines(conn, period)
                if x.customer == customer
            ]

    # Oct 1-14 are the contract's (14/31 of $5,000), Oct 15-31 the invoice's (17 of its 31 days): $5,000 in all.
    assert lines(OCTOBER, "acme") == [("contract", 14, D("2258.06")), ("stripe", 17, D("2741.94"))]
    assert lines(november, "acme") == [("stripe", 14, D("2258.06"))]  # every day covered: the invoice alone
    assert lines(september, "acme") == [("contract", 30, D("5000.00"))]  # no invoice: the contract alone
    # Sep 1-29 are the contract's (29/30 of $3,100), Sep 30 the invoice's (1 of its 32 days).
    assert lines(september, "bluth") == [("contract", 29, D("2996.67")), ("stripe", 1, D("100.00"))]
    # Oct 11-19, between two invoices: the contract's 9 days of $3,100 over 31; the lines inside others add theirs,
    # billed over the other 22 days.
    assert lines(OCTOBER, "cyber") == [("contract", 9, D("900.00")), ("stripe", 22, D("2600.00"))]
    with runtime.connect() as conn:
        assert revenue_by_customer(conn, OCTOBER)["acme"].quantize(D("0.01")) == D("5000.00")
        # Forecasts and floors hold a billed customer's rate flat: the invoice's share over the days it covers
        # (17/31 of October) is $5,000 a month, where over the whole month it read as $2,741.94.
        rates = terms_for(conn, OCTOBER, ["acme", "cyber"])
    assert rates["acme"].billed_per_month is not None and rates["acme"].billed_per_month.quantize(D("0.01")) == D(
        "5000.00"
    )
    assert rates["cyber"].billed_per_month is not None  # $2,600 over the 22 days its lines cover
    assert rates["cyber"].billed_per_month.quantize(D("0.01")) == D("3663.64")


def test_contracts_sharing_their_terms_are_each_read_as_their_own_terms(settings: Settings, tmp_path: Path) -> None:
    # contracts_in reads each distinct set of stored terms once and copies it for every contract holding it: each
    # contract must still come back as the Terms its own row makes, customer and product included.
    runtime = _with_contracts(
        settings,
        tmp_path,
        "acme,Acme,agent,hybrid,2026-10-01,,2,30,500,9,request,2.5\n"
        "globex,Globex,search,hybrid,2026-10-01,,2,30,500,9,request,2.5\n"
        "initech,Initech,,hybrid,2026-10-01,,2,30,500,9,request,2.5\n"
        "umbrella,Umbrella,agent,seat,2026-10-01,2026-12-31,4,10,,,,\n",
    )
    hybrid = {
        "plan": Plan.HYBRID,
        "start": date(2026, 10, 1),
        "end": None,
        "seats": 2,
        "seat_price_usd": D(30),
        "platform_fee_usd": D(500),
        "included_units": D(9),
        "unit": Unit.REQUEST,
        "unit_price_usd": D("2.5"),
    }
    seat = {**hybrid, "plan": Plan.SEAT, "end": date(2026, 12, 31), "seats": 4, "seat_price_usd": D(10)}
    seat.update(platform_fee_usd=D(0), included_units=D(0), unit=None, unit_price_usd=D(0))
    expected = [
        Terms(customer="acme", product="agent", **hybrid),  # type: ignore[arg-type]
        Terms(customer="globex", product="search", **hybrid),  # type: ignore[arg-type]
        Terms(customer="initech", product="", **hybrid),  # type: ignore[arg-type]
        Terms(customer="umbrella", product="agent", **seat),  # type: ignore[arg-type]
    ]
    with runtime.connect() as conn:
        read = contracts_in(conn, OCTOBER, None)
        one = contracts_in(conn, OCTOBER, ["globex"])
    assert read == expected and one == [expected[1]]
    assert len({id(t) for t in read}) == 4
    for got, want in zip(read, expected, strict=True):
        assert (got.customer, got.product, got.is_metered, got.split_unit, got.earning_terms) == (
            want.customer,
            want.product,
            want.is_metered,
            want.split_unit,
            want.earning_terms,
        )
        # (Equal amounts, not the same digits: PostgreSQL keeps the column's scale, 2.500000.)
        assert hash(got) == hash(want) and vars(got).keys() == vars(want).keys()
        assert got.fixed_charge(D(1)) == want.fixed_charge(D(1))
        assert replace(got, seats=7) == replace(want, seats=7)


def test_a_stored_value_shared_by_contracts_is_read_or_refused_alike(settings: Settings, tmp_path: Path) -> None:
    # contracts_in checks each distinct stored value once per read, not once per set of terms: every contract holding
    # a bad value is still left out, under its own id, for the same reason, and those holding a good one read it.
    runtime = _with_contracts(
        settings,
        tmp_path,
        "acme,Acme,agent,flat,2026-10-01,,,,500,,,\n"
        "globex,Globex,agent,flat,2026-10-01,,,,500,,,\n"
        "initech,Initech,,hybrid,2026-10-01,,2,30,500,9,request,2.5\n"
        "umbrella,Umbrella,agent,hybrid,2026-10-01,,2,30,500,9,request,0.5\n",
    )
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE contract SET platform_fee_usd = 'NaN' WHERE customer IN ('acme', 'initech')"))
        ids = dict(conn.execute(text("SELECT customer, id FROM contract")).all())
    skipped: list[SkippedContract] = []
    with runtime.connect() as conn:
        read = contracts_in(conn, OCTOBER, None, skipped=skipped)
    assert [str(s) for s in skipped] == [
        f"contract {ids['acme']} of acme (agent) left out: platform_fee_usd is not a number ('NaN')",
        f"contract {ids['initech']} of initech (every product) left out: platform_fee_usd is not a number ('NaN')",
    ]
    assert [(c.customer, c.platform_fee_usd, c.unit_price_usd) for c in read] == [
        ("globex", D(500), D(0)),
        ("umbrella", D(500), D("0.5")),
    ]
    assert read[1].earning_terms == (Plan.HYBRID, 2, D(30), D(500), D(9), Unit.REQUEST, D("0.5"))


def test_equal_stored_values_of_other_types_are_each_read_as_their_own() -> None:
    # Stored terms are read once and kept by their values (_stored_terms, _contract): 1 and 1.0 are equal, and read
    # as 1 and 1.0 (the digits a line's figures keep), True, equal to both, is no amount at all, and seats 1.0 is
    # refused where seats 1 is read; each whichever was read first.
    for seats in (1, 1.0, 1):
        for fee in (1, 1.0, True, 1.0, 1):
            # As contracts_in passes them: plan, start, end, seats, seat price, fee, included units, unit, its price.
            stored = ("flat", "2026-10-01", None, seats, 1, fee, 0, "", 0)
            read = _stored_terms(*stored)
            terms = _contract("c1", "app", *stored)
            if isinstance(seats, float):  # seats are checked before amounts
                assert read == terms == "seats 1.0 is not a whole number from 0 to 2,147,483,647"
            elif fee is True:
                assert read == terms == "platform_fee_usd is not a number ('True')"
            else:
                assert isinstance(read, dict) and isinstance(terms, Terms)
                assert str(read["platform_fee_usd"]) == str(terms.platform_fee_usd) == str(fee)
                assert str(terms.seat_price_usd) == "1" and terms.seats == 1 and terms.customer == "c1"
                assert terms.earning_terms is read["earning_terms"]  # shared: charges are looked up by it


def test_each_contract_earns_what_its_own_terms_say_alone_or_among_others(settings: Settings, tmp_path: Path) -> None:
    # period_revenue works out what contracts share once: the fixed charges per distinct fixed terms (plan, seats,
    # prices but the unit's, included units) and span, and the whole charge of a seat or flat contract for one product
    # in force the whole period. Each line must still be what that contract earns on its own (contract_line) and what
    # its own terms say (compute_line), its terms described as its own: here the same fixed terms with other unit
    # prices, contracts in force part of the period next to ones in force all of it, an all-product contract split
    # by usage, and one on tasks.
    runtime = Runtime(settings.model_copy(update={"prices_file": write_prices(tmp_path)}), now_override=NOW)
    header = _HEADER.split(",")
    load_book(
        runtime,
        tmp_path,
        contracts=[
            header,
            ["c1", "Cee One", "app", "hybrid", "2026-01-01", "2026-10-15", "2", "30", "500", "9", "request", "2.5"],
            ["c1", "Cee One", "app", "usage", "2026-10-16", "", "", "", "", "", "1k_tokens", "0.5"],
            ["c1", "Cee One", "search", "hybrid", "2026-01-01", "", "2", "30", "500", "9", "request", "0.5"],
            ["c1", "Cee One", "agent", "usage", "2026-10-06", "", "", "", "", "", "task", "0.25"],
            ["c2", "Cee Two", "", "flat", "2026-01-01", "", "", "", "899", "", "", ""],
            ["c3", "Cee Three", "app", "flat", "2026-01-01", "", "", "", "899", "", "", ""],
            ["c4", "Cee Four", "app", "flat", "2026-01-01", "", "", "", "450", "", "", ""],
            ["c3", "Cee Three", "search", "seat", "2026-10-10", "2026-10-20", "4", "10", "", "", "", ""],
            ["c3", "Cee Three", "agent", "hybrid", "2026-01-01", "", "2", "30", "500", "9", "request", "2.5"],
            ["c4", "Cee Four", "search", "seat", "2026-01-01", "", "4", "10", "", "", "", ""],
        ],
    )
    fixed: FixedCharges = {}  # shared by the periods, as a trend shares it
    with runtime.connect() as conn:
        contracts = contracts_in(conn, OCTOBER, None)
        for period in (OCTOBER, Period(date(2026, 10, 1), date(2026, 10, 7), "w"), trailing(30, today=NOW.date())):
            lines = period_revenue(conn, period, contracts=contracts, fixed=fixed).lines()
            counter = UnitCounter(conn, period)
            counter.prefetch_tasks({"c1"})
            alone, by_hand = [], []
            for c in contracts:
                span = active_span(c, period)
                if span is None:
                    continue
                line = contract_line(c, period, counter)
                assert line is not None
                alone.append(line)
                per_product = counter.by_product(c.customer, c.product, c.split_unit, *span)
                units = sum(per_product.values(), ZERO)
                by_hand.append(compute_line(c, (span[1] - span[0]).days + 1, month_fraction(*span), units))
            assert len(lines) == len(alone) == len(by_hand) > 5, period

            def digits(line: RevenueLine) -> dict[str, str]:
                # Every digit, but a zero's exponent: a hybrid's usage over days of two months is worked out month by
                # month (0), by hand over the span at once (0.0). What a line was split by is no digit: compute_line
                # splits nothing (compared below).
                said = line.as_dict().items()
                return {k: "0" if isinstance(v, Decimal) and not v else str(v) for k, v in said if k != "split_by"}

            assert [digits(x) for x in lines] == [digits(x) for x in alone] == [digits(x) for x in by_hand], period
            assert [x.by_product for x in lines] == [x.by_product for x in alone], period
            assert [x.split_by for x in lines] == [x.split_by for x in alone], period
            # Split by usage: c2's is on app in October (its terms are those of c3's app contract, whose is its own
            # product), and on no product in the windows where it has none.
            (c2,) = [x for x in lines if x.customer == "c2"]
            assert c2.by_product == {"app" if period is OCTOBER else "": c2.total}, period
    terms = {(x.customer, x.product): x.terms for x in lines}
    assert (
        terms[("c1", "search")]
        == "hybrid: 2 seats × $30.00/mo, $500.00/mo platform fee, $0.50/request over 9 included/mo"
    )
    assert (
        terms[("c3", "agent")]
        == "hybrid: 2 seats × $30.00/mo, $500.00/mo platform fee, $2.50/request over 9 included/mo"
    )
    assert terms[("c4", "app")] == "flat: $450.00/mo platform fee"


def test_tasks_counted_for_many_customers_at_once_are_those_counted_one_at_a_time(
    settings: Settings, tmp_path: Path
) -> None:
    # prefetch_tasks counts each customer's tasks with the first and last of their products, and those of a customer
    # with tasks in several products again per product: the counts must be what a counter reading one customer at a
    # time finds (c1: tasks in two products, c3: in one, c2: in none).
    runtime = Runtime(settings.model_copy(update={"prices_file": write_prices(tmp_path)}), now_override=NOW)
    more = [
        ["e8", "2026-10-08T10:00:00Z", "c1", "search", "chat", "acme", "big", 1_000, 0, 100, 1, 0, "t3", "h3"],
        ["e9", "2026-10-09T10:00:00Z", "c3", "app", "chat", "acme", "big", 1_000, 0, 100, 1, 0, "t9", "h3"],
    ]
    load_book(runtime, tmp_path, [*EVENTS, *more])
    with runtime.connect() as conn:
        for period in (OCTOBER, Period(date(2026, 10, 1), date(2026, 10, 7), "w"), trailing(30, today=NOW.date())):
            together, alone = UnitCounter(conn, period), UnitCounter(conn, period)
            together.prefetch_tasks({"c1", "c2", "c3"})
            for customer in ("c1", "c2", "c3"):
                for product in ("", "app", "search"):
                    counted = together.by_product(customer, product, Unit.TASK, period.start, period.end)
                    assert counted == alone.by_product(customer, product, Unit.TASK, period.start, period.end)
        october = UnitCounter(conn, OCTOBER)
        october.prefetch_tasks({"c1", "c2", "c3"})
        assert october.by_product("c1", "", Unit.TASK, OCTOBER.start, OCTOBER.end) == {"app": 2, "search": 1}
        assert october.by_product("c3", "", Unit.TASK, OCTOBER.start, OCTOBER.end) == {"app": 1}


def test_stored_amounts_are_read_with_the_digits_the_database_gives(settings: Settings, tmp_path: Path) -> None:
    # contracts_in reads PostgreSQL's NUMERIC amounts as their text (a Decimal's hash is slow), SQLite's as they are:
    # each must read as the Decimal of the value the driver returns for the column (its digits included: 2.500000 on
    # PostgreSQL), from the smallest amount the column holds to one of fourteen digits.
    runtime = _with_contracts(
        settings,
        tmp_path,
        "acme,Acme,,hybrid,2026-10-01,,2,0.000001,12345678901234.5,0,request,2.5\n"
        "globex,Globex,,usage,2026-10-01,,,,1992.21,,1k_tokens,0.0157\n",
    )
    columns = "seat_price_usd, platform_fee_usd, included_units, unit_price_usd"
    with runtime.connect() as conn:
        read = contracts_in(conn, OCTOBER, None)
        stored = conn.execute(text(f"SELECT {columns} FROM contract ORDER BY customer")).all()
    assert len(read) == 2
    for c, row in zip(read, stored, strict=True):
        got = (c.seat_price_usd, c.platform_fee_usd, c.included_units, c.unit_price_usd)
        assert [str(v) for v in got] == [str(Decimal(str(v))) for v in row]


def test_a_billed_lines_days_are_the_days_its_invoices_bill_in_the_period() -> None:
    q4 = quarter(2026, 4)
    bills = [
        Invoice("acme", "", "stripe", date(2026, 10, 1), date(2026, 10, 31), D("3100")),
        Invoice("acme", "", "stripe", date(2026, 11, 1), date(2026, 11, 30), D("3000")),
        Invoice("acme", "", "stripe", date(2026, 11, 20), date(2026, 11, 29), D("10")),  # a top-up inside November
    ]
    (line,) = prorated_lines(bills, q4)
    # Every day of October and November once: it said 31, the longest invoice's.
    assert (line.active_days, line.total) == (61, D("6110"))


def test_a_hybrid_allowance_is_each_months_own_over_a_quarter_or_months_to_date(
    settings: Settings, tmp_path: Path
) -> None:
    # $1,000 a month with 3,000 requests included, $0.10 a request over: July 1,000, August 1,000, September 7,000.
    # Pooled over the quarter, 9,000 against 9,000 included earned no usage: $3,000 where its months earn $3,400.
    runtime = _with_contracts(settings, tmp_path, "h,H,,hybrid,2026-07-01,,,,1000,3000,request,0.10\n")
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,model,requests,cost_usd\n"
        "u7,2026-07-10T12:00:00Z,h,chat,gpt-4o,1000,1\nu8,2026-08-10T12:00:00Z,h,chat,gpt-4o,1000,1\n"
        "u9,2026-09-10T12:00:00Z,h,chat,gpt-4o,7000,1\n"
    )
    import_usage_file(runtime.engine, usage, prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        months = [revenue_by_customer(conn, month(2026, m))["h"] for m in (7, 8, 9)]
        assert months == [D("1000"), D("1000"), D("1400")]
        (line,) = revenue_lines(conn, quarter(2026, 3))
        assert (line.total, line.usage, line.units) == (D("3400"), D("400"), D("9000"))
        # The quarter to September 19th: July's and August's allowances, unused, absorb nothing of September's 7,000
        # against its 19/30 of 3,000 (1,900): 5,100 over, $510. The portfolio's counter, which reads the period's
        # months at once, says the same.
        to_date = quarter(2026, 3).to_date(date(2026, 9, 20))
        fees = D(2000) + D(1000) * 19 / 30
        assert revenue_by_customer(conn, to_date)["h"].quantize(D("0.01")) == (fees + 510).quantize(D("0.01"))
        board = portfolio(conn, to_date, thresholds=runtime.thresholds)
        assert board.customers[0].current.revenue.quantize(D("0.01")) == (fees + 510).quantize(D("0.01"))
        # A window of days across months (August 20th to September 19th) is no sum of months: its allowance is
        # spread over its days, as its fees are: 7,000 against 3,000 × (12/31 + 19/30). So is one that starts on a
        # month's first day: the last 61 days to September 30th are August and September pooled.
        pooled = Period(date(2026, 8, 1), date(2026, 9, 30), "last 61 days")
        assert revenue_by_customer(conn, pooled)["h"] == D(2000) + (8000 - 6000) * D("0.10")
        window = Period(date(2026, 8, 20), date(2026, 9, 19), "")
        months = Fraction(12, 31) + Fraction(19, 30)
        fees = D(1000) * 12 / 31 + D(1000) * 19 / 30
        over = (7000 - 3000 * months) * Fraction("0.10")
        expected = fees + D(over.numerator) / D(over.denominator)
        assert revenue_by_customer(conn, window)["h"].quantize(D("0.01")) == expected.quantize(D("0.01"))


def _hybrid_quarters(settings: Settings, tmp_path: Path) -> Runtime:
    """$1,000 a month with 3,000 requests included, $0.10 over, from April: 1,000, 1,000 and 7,000 requests in the
    months of both Q2 and Q3."""
    runtime = _with_contracts(settings, tmp_path, "h,H,,hybrid,2026-04-01,,,,1000,3000,request,0.10\n")
    usage = tmp_path / "usage.csv"
    rows = [
        f"u{m},2026-{m:02d}-10T12:00:00Z,h,chat,gpt-4o,{n},1\n"
        for m, n in zip(range(4, 10), [1000, 1000, 7000] * 2, strict=True)
    ]
    usage.write_text("event_id,ts,customer,product,model,requests,cost_usd\n" + "".join(rows))
    import_usage_file(runtime.engine, usage, prices=runtime.prices, timezone="UTC")
    return runtime


def test_the_bridge_reads_a_hybrid_allowance_month_by_month_as_the_quarter_does(
    settings: Settings, tmp_path: Path
) -> None:
    from engine.reports.bridge import margin_bridge
    from engine.vocab import SubjectKind

    runtime = _hybrid_quarters(settings, tmp_path)
    with runtime.connect() as conn:
        bridge = margin_bridge(conn, SubjectKind.CUSTOMER, "h", quarter(2026, 3), prices=runtime.prices, timezone="UTC")
    # The same usage and terms both quarters: nothing moved. Pooled, the volume state read -$400 (9,000 → 9,000)
    # and a change of terms +$400.
    assert bridge.revenue == (D("3400.00"), D("3400.00"))
    assert [p.part for p in bridge.parts if p.side == "revenue" and p.change] == []


def test_a_billed_customers_days_without_an_invoice_read_the_allowance_by_month_over_a_quarter(
    settings: Settings, tmp_path: Path
) -> None:
    # An invoice for July 1st to 14th ($500); the contract's days from July 15th are its own, by month: the rest of
    # July 17/31 of $1,000 (548.39), August $1,000, September $1,400. As one span they read $2,583.87.
    runtime = _hybrid_quarters(settings, tmp_path)
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                "currency, invoice_id) VALUES ('in_1', 'stripe', 'h', '', '2026-07-01', '2026-07-14', 500, 'usd', 'in_1')"
            )
        )
    with runtime.connect() as conn:
        months = sum(revenue_by_customer(conn, month(2026, m))["h"] for m in (7, 8, 9))
        assert revenue_by_customer(conn, quarter(2026, 3))["h"] == months
    assert months.quantize(D("0.01")) == D("3448.39")
