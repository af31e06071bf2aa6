"""The margin bridge on hand-computed books (tests/engine/reports/bridge_books.py has the base and the prices):
one driver at a time, then all at once; the parts equal the hand figures and add up to the change to the cent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from engine.ingest.reprice import reprice
from engine.money import CENT, TENTH, round_to
from engine.periods import month, quarter
from engine.reports.bridge import Bridge, margin_bridge
from engine.reports.bridge_cogs import INPUT_TYPES, NON_TOKEN_TYPES
from engine.reports.margin import customer_report
from engine.reports.names import UnknownSubject
from engine.runtime import Runtime
from engine.vocab import CostType, SubjectKind
from tests.conftest import NOW
from tests.engine.reports.billing import store_one_off
from tests.engine.reports.bridge_books import (
    A_SEP,
    B_SEP,
    BASE,
    PRICE_RISE,
    PRICES,
    Use,
    load,
    load_rows,
    migrating,
    times,
)

OCTOBER = month(2026, 10)
ZERO = Decimal("0.00")


def why(rt: Runtime, kind: SubjectKind = SubjectKind.CUSTOMER, ref: str | None = "acme") -> Bridge:
    with rt.connect() as conn:
        return margin_bridge(conn, kind, ref, OCTOBER, prices=rt.prices, timezone=rt.settings.timezone)


def moved(b: Bridge) -> dict[str, Decimal]:
    """The parts that moved, by id (every other part is exactly zero)."""
    return {p.part: p.change for p in b.parts if p.change}


def assert_adds_up(b: Bridge) -> None:
    revenue = sum((p.change for p in b.parts if p.side == "revenue"), ZERO)
    cogs = sum((p.change for p in b.parts if p.side == "cogs"), ZERO)
    assert revenue == b.revenue[1] - b.revenue[0]
    assert cogs == b.cogs[1] - b.cogs[0]
    assert sum((p.gross_profit for p in b.parts), ZERO) == b.gross_profit[1] - b.gross_profit[0]
    if b.margin[0] is not None and b.margin[1] is not None:
        # The points add up to the change in margin rounded once, as `marginbot margin` shows it: not to the
        # difference of the two margins each rounded first, which can be a point short at the last digit.
        moved = b.margin[1] - b.margin[0]
        assert sum((p.margin_pts or ZERO for p in b.parts), ZERO) == round_to(moved, CENT)
        assert sum((p.margin_pts_tenth or ZERO for p in b.parts), ZERO) == round_to(moved, TENTH)


def test_volume_only_moves_metered_revenue_and_cogs_volume(settings: Settings, tmp_path: Path) -> None:
    # October ×3 on both cells: COGS 3 × 16.80 = 50.40 (+33.60); revenue 6,000 × 0.05 = 300 (+200).
    rt = load(settings, tmp_path, september=BASE, october=[times(u, 3) for u in BASE])
    b = why(rt)
    assert b.revenue == (Decimal("100.00"), Decimal("300.00")) and b.cogs == (Decimal("16.80"), Decimal("50.40"))
    assert moved(b) == {"metered_volume": Decimal("200.00"), "volume": Decimal("33.60")}
    # Margin 83.2% both times: revenue first (300 − 16.80)/300 = 94.40%, then COGS (300 − 50.40)/300 = 83.20%.
    pts = {p.part: p.margin_pts for p in b.parts if p.margin_pts}
    assert pts == {"metered_volume": Decimal("11.20"), "volume": Decimal("-11.20")}
    assert_adds_up(b)
    assert b.top()[0].words == "+$200.00 revenue · acme (all products): metered requests ×3.0 (2,000 → 6,000)"
    assert b.top()[1].words.startswith("+$32.00 COGS · big on agent-run: volume ×3.0 (1,000 → 3,000 requests)")


def test_mix_only_is_traffic_moving_to_the_dearer_model(settings: Settings, tmp_path: Path) -> None:
    # Same 2,000 requests: A 1,500 (1.5M in, 300k out: 15 + 9 = $24.00), B 500 (250k in, 50k out: $0.40).
    # COGS 16.80 → 24.40: all mix (+7.60); revenue unchanged.
    october = [Use("agent-run", "big", 1_500, 1_500_000, 300_000), Use("chat", "small", 500, 250_000, 50_000)]
    b = why(load(settings, tmp_path, september=BASE, october=october))
    assert moved(b) == {"mix": Decimal("7.60")}
    assert_adds_up(b)
    top = b.top()
    assert [c.words for c in top] == [
        "+$8.00 COGS · big on agent-run: volume ×1.5 (1,000 → 1,500 requests)",
        "-$0.40 COGS · small on chat: volume ×0.5 (1,000 → 500 requests)",
    ]
    assert top[0].keys == {"customer": "acme", "product": "agent", "feature": "agent-run", "provider": "acme",
                           "model": "big"}  # fmt: skip
    assert (top[0].before["requests"], top[0].after["requests"]) == (1_000, 1_500)


def test_a_model_new_this_period_moves_in_mix_at_its_booked_cost(settings: Settings, tmp_path: Path) -> None:
    # B's 1,000 requests move to big on chat (500k in × 10/M + 100k out × 30/M = $8.00): +8.00 − 0.80 = +7.20.
    october = [A_SEP, Use("chat", "big", 1_000, 500_000, 100_000)]
    b = why(load(settings, tmp_path, september=BASE, october=october))
    assert moved(b) == {"mix": Decimal("7.20")}
    assert [c.words for c in b.top(2)] == [
        "+$8.00 COGS · big on chat: new (1,000 requests)",
        "-$0.80 COGS · small on chat: stopped (was 1,000 requests)",
    ]


def test_price_change_only_reprices_last_periods_usage_at_this_periods_rates(
    settings: Settings, tmp_path: Path
) -> None:
    # big +20% from 2026-10-01: A costs 12 + 7.20 = $19.20 in October for the same usage: price +3.20.
    b = why(load(settings, tmp_path, september=BASE, october=BASE, price_rise=True))
    assert b.cogs == (Decimal("16.80"), Decimal("20.00"))
    assert moved(b) == {"price": Decimal("3.20")}
    assert b.repriced_groups == 1  # only September 10th's big usage was read back from the events
    assert_adds_up(b)
    assert b.top()[0].words == "+$3.20 COGS · big on agent-run: price +20.0% on last period's usage"


STALE_NOTE = (
    "the price file changed since these events were priced: the price part compares the rates each period's "
    "stored costs were booked at, not today's file; run `marginbot reprice` so COGS itself follows it"
)


def edited(rt: Runtime, price_rise: bool) -> Runtime:
    """The same database after the price file was edited (big's October rise added or taken out), not repriced."""
    rt.settings.prices_file.write_text(PRICES + (PRICE_RISE if price_rise else ""))
    return Runtime(rt.settings, now_override=NOW)


MID_OCTOBER_RISE = PRICE_RISE.replace("2026-10-01", "2026-10-16")


def _daily(per_day: dict[str, int]) -> list[dict[str, object]]:
    """big on agent-run, every day of September (30) and October (31): 1,000 input and 200 output tokens a request
    ($0.016 a request, $0.0192 from the rise), `per_day` requests a day from each date on."""
    rows: list[dict[str, object]] = []
    day, k = date(2026, 9, 1), 0
    while day <= date(2026, 10, 31):
        k = max((n for start, n in per_day.items() if date.fromisoformat(start) <= day), default=k)
        rows.append({"event_id": f"d{day}", "ts": f"{day}T12:00:00Z", "customer": "acme", "product": "agent",
                     "feature": "agent-run", "provider": "acme", "model": "big", "requests": k,
                     "input_tokens": 1_000 * k, "output_tokens": 200 * k})  # fmt: skip
        day += timedelta(days=1)
    return rows


@pytest.mark.parametrize(
    ("per_day", "cogs", "parts"),
    [
        # 100 requests a day: September 30 × $1.60 = $48.00 for 3,000 requests; October 15 × $1.60 + 16 × $1.92 =
        # $54.72 for 3,100. Volume 48 × 3,100/3,000 − 48 = +1.60; the rest, +5.12, is price. Re-pricing September's
        # days on October's 1st to 30th left the 31st's new rate out: price +4.96, tokens per request 1,200 → 1,200
        # +0.16.
        ({"2026-09-01": 100}, ("48.00", "54.72"), {"volume": "1.60", "price": "5.12"}),
        # Twice the traffic from the rise: October 15 × $1.60 + 16 × $3.84 = $85.44 for 4,700 requests. Volume
        # 48 × 4,700/3,000 − 48 = +27.20; price +10.24: September's usage at the rates October's usage met.
        ({"2026-09-01": 100, "2026-10-16": 200}, ("48.00", "85.44"), {"volume": "27.20", "price": "10.24"}),
    ],
)
def test_a_rise_during_a_longer_period_is_price_alone_at_the_rates_this_periods_usage_met(
    settings: Settings, tmp_path: Path, per_day: dict[str, int], cogs: tuple[str, str], parts: dict[str, str]
) -> None:
    contracts: list[dict[str, object]] = [{"customer": "acme", "customer_name": "Acme Corp", "plan": "flat",
                                           "start": "2026-01-01", "platform_fee_usd": "100"}]  # fmt: skip
    rt = load_rows(settings, tmp_path, usage=_daily(per_day), contracts=contracts, price_file=PRICES + MID_OCTOBER_RISE)
    expected = {k: Decimal(v) for k, v in parts.items()}
    b = why(rt)
    assert b.cogs == (Decimal(cogs[0]), Decimal(cogs[1]))
    assert moved(b) == expected
    assert_adds_up(b)
    # The same with the file edited since pricing (the retrieval price, which these events do not use): the price
    # part reads the rates the costs were booked at, and comes to the same.
    rt.settings.prices_file.write_text(PRICES.replace("0.01", "0.02") + MID_OCTOBER_RISE)
    b = why(Runtime(rt.settings, now_override=NOW))
    assert b.notes == [STALE_NOTE] and moved(b) == expected
    assert_adds_up(b)


FLEX_RISE = """
[[tiers]]
provider = "acme"
tier = "flex"
multiplier = 0.5
effective_from = 2026-01-01

[[tiers]]
provider = "acme"
tier = "flex"
multiplier = 0.8
effective_from = 2026-10-16
"""


def test_a_tier_whose_rate_moved_mid_period_is_weighted_by_that_tiers_own_days(
    settings: Settings, tmp_path: Path
) -> None:
    # big at $0.016 a request standard, flex × 0.5 ($0.008), × 0.8 ($0.0128) from October 16th. September: 100
    # standard and 100 flex requests a day, 30 × $2.40 = $72.00 for 6,000 requests. October: standard only on the
    # 1st to the 15th (15 × $1.60), flex only on the 16th to the 31st (16 × $1.28): $44.48 for 3,100. Volume
    # 72 × 3,100/6,000 − 72 = −34.80. Price: September's flex usage at the rate October's flex usage met, 0.8:
    # 3,000 × $0.016 × 0.3 × 3,100/6,000 = +7.44; tokens per request 44.48 − (72 + 14.40) × 3,100/6,000 = −0.16.
    # Weighting the flex group's days by the cell's usage in every tier put 15/31 of it at the old rate: price
    # +3.84, tokens per request +3.44.
    rows: list[dict[str, object]] = []
    day = date(2026, 9, 1)
    while day <= date(2026, 10, 31):
        tiers = ("standard", "flex") if day.month == 9 else ("standard" if day.day <= 15 else "flex",)
        rows += [{"event_id": f"{tier}{day}", "ts": f"{day}T12:00:00Z", "customer": "acme", "product": "agent",
                  "feature": "agent-run", "provider": "acme", "model": "big", "requests": 100,
                  "input_tokens": 100_000, "output_tokens": 20_000, "service_tier": tier} for tier in tiers]  # fmt: skip
        day += timedelta(days=1)
    contracts: list[dict[str, object]] = [{"customer": "acme", "customer_name": "Acme Corp", "plan": "flat",
                                           "start": "2026-01-01", "platform_fee_usd": "100"}]  # fmt: skip
    rt = load_rows(settings, tmp_path, usage=rows, contracts=contracts, price_file=PRICES + FLEX_RISE)
    expected = {"volume": Decimal("-34.80"), "price": Decimal("7.44"), "tokens_per_request": Decimal("-0.16")}
    b = why(rt)
    assert b.cogs == (Decimal("72.00"), Decimal("44.48"))
    assert moved(b) == expected
    assert_adds_up(b)
    # The same with the file edited since pricing: the booked rates' path weights the tier's days alike.
    rt.settings.prices_file.write_text(PRICES.replace("0.01", "0.02") + FLEX_RISE)
    b = why(Runtime(rt.settings, now_override=NOW))
    assert b.notes == [STALE_NOTE] and moved(b) == expected
    assert_adds_up(b)


def test_a_rise_the_file_gained_since_pricing_is_no_price_step_until_a_reprice(
    settings: Settings, tmp_path: Path
) -> None:
    # Booked with no rise: $16.80 both months, the same usage. The file now says big costs 20% more from October.
    # Re-pricing September with today's file showed "price +$3.20" beside "tokens per request 1,200 → 1,200
    # −$3.20": a pair that moved nothing booked. Nothing booked moved, so no part moves.
    stale = edited(load(settings, tmp_path, september=BASE, october=BASE), price_rise=True)
    b = why(stale)
    assert b.cogs == (Decimal("16.80"), Decimal("16.80"))
    assert moved(b) == {} and b.top() == []
    assert b.notes == [STALE_NOTE]
    assert_adds_up(b)
    # After the reprice the October costs follow the file, and the price part says so, as it does for a book priced
    # with the rise from the start.
    reprice(stale.engine, prices=stale.prices, timezone="UTC")
    b = why(stale)
    assert b.cogs == (Decimal("16.80"), Decimal("20.00")) and moved(b) == {"price": Decimal("3.20")}
    assert b.notes == []


def test_a_rise_booked_but_since_taken_out_of_the_file_is_still_the_price_step(
    settings: Settings, tmp_path: Path
) -> None:
    # Booked with the rise (October $20.00), then the rise taken out of the file, not repriced: the stored costs
    # still say big's rates rose 20%, so that is the price step, not "tokens per request 1,200 → 1,200 +$3.20".
    stale = edited(load(settings, tmp_path, september=BASE, october=BASE, price_rise=True), price_rise=False)
    b = why(stale)
    assert b.cogs == (Decimal("16.80"), Decimal("20.00"))
    assert moved(b) == {"price": Decimal("3.20")}
    assert b.top()[0].words == "+$3.20 COGS · big on agent-run: price +20.0% on last period's usage"
    assert b.notes == [STALE_NOTE]
    assert_adds_up(b)


def test_a_stale_file_leaves_every_other_part_as_booked(settings: Settings, tmp_path: Path) -> None:
    # The book of test_all_at_once_every_part_equals_the_hand_figure, priced with the rise, then the file edited
    # (the rise taken out): every part is the hand figure still, the price part read from the booked rates.
    october = [
        Use("agent-run", "big", 2_000, 2_000_000, 600_000, cached=1_000_000),
        Use("chat", "small", 1_000, 500_000, 100_000, retrievals=1_000),
    ]
    rt = load(settings, tmp_path, september=BASE, october=october, price_rise=True)
    fresh = {p.part: p.change for p in why(rt).parts}
    b = why(edited(rt, price_rise=False))
    assert {p.part: p.change for p in b.parts} == fresh
    assert moved(b)["price"] == Decimal("6.40") and moved(b)["tokens_per_request"] == Decimal("7.20")
    assert_adds_up(b)


def test_a_stale_file_reads_usage_past_a_long_context_tier_as_usage_not_price(
    settings: Settings, tmp_path: Path
) -> None:
    # claude-sonnet-4-5 (the catalogue's) prices a request past 200,000 input tokens at its long-context rate. One
    # September request crossed it, no October one did: the booked cost per input token fell with no rate moving,
    # so the price part stays at none (as it is before the file changed), and the request sizes are tokens per
    # request.
    usage: list[dict[str, object]] = [
        {"event_id": f"e{month}{i}", "ts": f"2026-{month}-10T12:00:00Z", "customer": "acme", "product": "agent",
         "feature": "plan", "provider": "anthropic", "model": "claude-sonnet-4-5", "requests": 1,
         "input_tokens": tokens, "output_tokens": 1_000}
        for month, sizes in (("09", (250_000, 100_000)), ("10", (100_000, 100_000)))
        for i, tokens in enumerate(sizes)
    ]  # fmt: skip
    contracts: list[dict[str, object]] = [{"customer": "acme", "customer_name": "Acme Corp", "plan": "usage",
                                           "start": "2026-01-01", "unit": "request", "unit_price_usd": "5"}]  # fmt: skip
    rt = load_rows(settings, tmp_path, usage=usage, contracts=contracts)
    fresh = why(rt)
    assert fresh.cogs[0] > fresh.cogs[1] and set(moved(fresh)) == {"tokens_per_request"}
    # Any edit makes the file stale: here the retrieval price, which these events do not use.
    rt.settings.prices_file.write_text(PRICES.replace("retrieval_query = 0.01", "retrieval_query = 0.02"))
    b = why(Runtime(rt.settings, now_override=NOW))
    assert b.notes == [STALE_NOTE]
    assert [p.change for p in b.parts] == [p.change for p in fresh.parts]
    assert_adds_up(b)


def test_cache_only_is_the_cache_read_share(settings: Settings, tmp_path: Path) -> None:
    # A: 800,000 of its 1,000,000 input tokens cached: 200k × 10/M + 800k × 1/M + $6.00 = $8.80 (−7.20).
    october = [Use("agent-run", "big", 1_000, 1_000_000, 200_000, cached=800_000), B_SEP]
    b = why(load(settings, tmp_path, september=BASE, october=october))
    assert moved(b) == {"caching": Decimal("-7.20")}
    assert_adds_up(b)
    assert b.top()[0].words == "-$7.20 COGS · big on agent-run: cache-read share 0.0% → 80.0%"


def test_contract_change_only(settings: Settings, tmp_path: Path) -> None:
    # The unit price goes from $0.05 to $0.06 on 2026-10-01: 2,000 × 0.06 = $120 (+20), COGS unchanged.
    contracts = [
        ["acme", "Acme Corp", "", "usage", "2026-01-01", "2026-09-30", "", "", "request", "0.05"],
        ["acme", "Acme Corp", "", "usage", "2026-10-01", "", "", "", "request", "0.06"],
    ]
    b = why(load(settings, tmp_path, september=BASE, october=BASE, contracts=contracts))
    assert moved(b) == {"contract_changes": Decimal("20.00")}
    assert_adds_up(b)
    assert b.top()[0].words == (
        "+$20.00 revenue · acme (all products): terms: usage: $0.05/request → usage: $0.06/request"
    )


def test_terms_changed_within_the_period_say_which_days_each_was_in_force(settings: Settings, tmp_path: Path) -> None:
    # $0.05 a request to October 15th, $0.06 from the 16th; 1,000 requests on Sep 10th, Oct 10th and Oct 20th.
    # Revenue $50.00 → $50.00 + $60.00: metered volume +50.00 at $0.05, terms +10.00. The two October terms read
    # "usage: $0.05/request; usage: $0.06/request", with no word of when each was in force.
    contracts: list[dict[str, object]] = [
        {"customer": "acme", "customer_name": "Acme Corp", "plan": "usage", "start": "2026-01-01",
         "end": "2026-10-15", "unit": "request", "unit_price_usd": "0.05"},
        {"customer": "acme", "customer_name": "Acme Corp", "plan": "usage", "start": "2026-10-16", "unit": "request",
         "unit_price_usd": "0.06"},
    ]  # fmt: skip
    usage: list[dict[str, object]] = [
        {"event_id": day, "ts": f"{day}T12:00:00Z", "customer": "acme", "product": "agent", "feature": "chat",
         "provider": "acme", "model": "small", "requests": 1_000, "input_tokens": 1_000}
        for day in ("2026-09-10", "2026-10-10", "2026-10-20")
    ]  # fmt: skip
    b = why(load_rows(settings, tmp_path, usage=usage, contracts=contracts))
    assert moved(b) == {"metered_volume": Decimal("50.00"), "contract_changes": Decimal("10.00")}
    assert_adds_up(b)
    assert [c.words for c in b.top() if c.part == "contract_changes"] == [
        "+$10.00 revenue · acme (all products): terms: usage: $0.05/request → usage: $0.05/request to Oct 15; "
        "usage: $0.06/request from Oct 16"
    ]


def test_seats_only(settings: Settings, tmp_path: Path) -> None:
    # A seat plan at $20 a seat: 10 seats in September ($200), 12 from October ($240): seats +40.
    contracts = [
        ["acme", "Acme Corp", "", "seat", "2026-01-01", "2026-09-30", "10", "20", "", ""],
        ["acme", "Acme Corp", "", "seat", "2026-10-01", "", "12", "20", "", ""],
    ]
    b = why(load(settings, tmp_path, september=BASE, october=BASE, contracts=contracts))
    assert moved(b) == {"seats": Decimal("40.00")}
    assert b.top()[0].words == "+$40.00 revenue · acme (all products): seats 10 → 12"


def test_a_seat_change_to_date_leaves_days_in_force_said_as_such_not_as_a_change_of_terms(
    settings: Settings, tmp_path: Path
) -> None:
    # 10 seats at $100 to October 15th, 15 from the 16th; November to date (Nov 1-15) against Oct 1-15. Revenue
    # 1,000 × 15/31 = 483.87 → 1,500 × 15/30 = 750.00: seats (15 − 10) × 100 × 15/31 = +241.94, and the rest,
    # 1,500 × (15/30 − 15/31) = +24.19, is the same 15 days making more of a 30-day month than of a 31-day one. It
    # read "terms: seat: 10 seats × $100.00/mo → seat: 15 seats × $100.00/mo", the seat change said twice.
    contracts: list[dict[str, object]] = [
        {"customer": "acme", "customer_name": "Acme Corp", "plan": "seat", "start": "2026-01-01",
         "end": "2026-10-15", "seats": 10, "seat_price_usd": "100"},
        {"customer": "acme", "customer_name": "Acme Corp", "plan": "seat", "start": "2026-10-16", "seats": 15,
         "seat_price_usd": "100"},
    ]  # fmt: skip
    usage: list[dict[str, object]] = [
        {"event_id": f"s{m}", "ts": f"2026-{m}-05T12:00:00Z", "customer": "acme", "product": "agent",
         "feature": "chat", "provider": "acme", "model": "small", "requests": 10, "input_tokens": 1_000}
        for m in ("10", "11")
    ]  # fmt: skip
    rt = load_rows(settings, tmp_path, usage=usage, contracts=contracts, now=datetime(2026, 11, 16, 12, tzinfo=UTC))
    with rt.connect() as conn:
        b = margin_bridge(conn, SubjectKind.CUSTOMER, "acme", rt.period("2026-11"), prices=rt.prices, timezone="UTC")
    assert b.revenue == (Decimal("483.87"), Decimal("750.00"))
    assert moved(b) == {"seats": Decimal("241.94"), "contract_changes": Decimal("24.19")}
    assert_adds_up(b)
    assert [c.words for c in b.top(2)] == [
        "+$241.94 revenue · acme (all products): seats 10 → 15",
        "+$24.19 revenue · acme (all products): days in force (the seat change is under seats): 15 of October's 31 "
        "days → 15 of November's 30 days",
    ]


def test_tokens_per_request_and_non_token_cost(settings: Settings, tmp_path: Path) -> None:
    # A: 300 output tokens a request instead of 200: +1,000 × 100 × 30/M = +3.00.
    # B: a retrieval query a request at $0.01: +10.00 of non-token COGS.
    october = [Use("agent-run", "big", 1_000, 1_000_000, 300_000), Use("chat", "small", 1_000, 500_000, 100_000,
                                                                       retrievals=1_000)]  # fmt: skip
    b = why(load(settings, tmp_path, september=BASE, october=october))
    assert moved(b) == {"tokens_per_request": Decimal("3.00"), "non_token": Decimal("10.00")}
    assert_adds_up(b)


def test_all_at_once_every_part_equals_the_hand_figure(settings: Settings, tmp_path: Path) -> None:
    """October: A doubles to 2,000 requests with half its input cached and 300 output tokens a request; B adds a
    retrieval a request; big costs 20% more; the unit price goes to $0.06.

    October as booked: A 1,000,000 uncached × 12/M = 12.00 · 1,000,000 cached × 1.2/M = 1.20 ·
    600,000 out × 36/M = 21.60 → 34.80; B 0.80 + 1,000 × 0.01 = 10.80. COGS 45.60; revenue 3,000 × 0.06 = 180.

    Revenue:  R0 100 → volume: 3,000 requests at $0.05 = 150 (+50) → contract: 180 (+30)
    COGS:     S0 16.80
              S1 volume   16.80 × 3,000/2,000 = 25.20                                          +8.40
              S2 mix      A 2 × 16.00 + B 1 × 0.80 = 32.80                                      +7.60
              S3 price    A's September usage at October rates 12 + 7.20 = 19.20, × 2 = 38.40;
                          + B 0.80 = 39.20                                                      +6.40
              S4 caching  A: 1,000,000 input a month's request count, half at 12/M, half at 1.2/M
                          (October's cached rate): 6.00 + 0.60 + output 7.20 = 13.80, × 2 = 27.60;
                          + 0.80 = 28.40                                                        −10.80
              S5 tokens   October's token costs as booked 34.80 + 0.80 = 35.60                  +7.20
              S6 non-token 45.60                                                                +10.00
    Margin: 83.20 → 88.80 (volume) → 90.67 (contract, 162... (180 − 16.80)/180) → 86.00 → 81.78 → 78.22
            → 84.22 → 80.22 → 74.67
    """
    october = [
        Use("agent-run", "big", 2_000, 2_000_000, 600_000, cached=1_000_000),
        Use("chat", "small", 1_000, 500_000, 100_000, retrievals=1_000),
    ]
    contracts = [
        ["acme", "Acme Corp", "", "usage", "2026-01-01", "2026-09-30", "", "", "request", "0.05"],
        ["acme", "Acme Corp", "", "usage", "2026-10-01", "", "", "", "request", "0.06"],
    ]
    rt = load(settings, tmp_path, september=BASE, october=october, contracts=contracts, price_rise=True)
    b = why(rt)
    assert b.revenue == (Decimal("100.00"), Decimal("180.00")) and b.cogs == (Decimal("16.80"), Decimal("45.60"))
    assert {p.part: p.change for p in b.parts} == {
        "metered_volume": Decimal("50.00"),
        "seats": ZERO,
        "billed": ZERO,
        "contract_changes": Decimal("30.00"),
        "volume": Decimal("8.40"),
        "mix": Decimal("7.60"),
        "price": Decimal("6.40"),
        "caching": Decimal("-10.80"),
        "tokens_per_request": Decimal("7.20"),
        "non_token": Decimal("10.00"),
    }
    assert [p.margin_pts for p in b.parts] == [Decimal(x) for x in (
        "5.60", "0.00", "0.00", "1.87", "-4.67", "-4.22", "-3.56", "6.00", "-4.00", "-5.55"
    )]  # fmt: skip
    assert_adds_up(b)
    # The same books through the margin answer: the bridge's ends are the report's figures.
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCTOBER, thresholds=rt.thresholds)
    assert (report.previous.revenue, report.current.revenue) == b.revenue
    assert (round(report.previous.cogs, 2), round(report.current.cogs, 2)) == b.cogs


# A usage plan at $0.09 a request in September and $0.18 from October, on the base usage both months:
# revenue $180.00 → $360.00, COGS $16.80 both times.
PRICE_DOUBLED = [
    ["acme", "Acme Corp", "", "usage", "2026-01-01", "2026-09-30", "", "", "request", "0.09"],
    ["acme", "Acme Corp", "", "usage", "2026-10-01", "", "", "", "request", "0.18"],
]


def test_the_margin_change_is_the_exact_change_rounded_once(settings: Settings, tmp_path: Path) -> None:
    # Margin (180 − 16.80)/180 = 90.666…% → (360 − 16.80)/360 = 95.333…%: the change is 4.666… points, 4.67 (4.7
    # to a tenth) as `marginbot margin` says, not 95.33 − 90.67 = 4.66 (95.3 − 90.7 = 4.6) from the rounded ends.
    rt = load(settings, tmp_path, september=BASE, october=BASE, contracts=PRICE_DOUBLED)
    b = why(rt)
    assert moved(b) == {"contract_changes": Decimal("180.00")}
    pts = {p.part: (p.margin_pts, p.margin_pts_tenth) for p in b.parts if p.margin_pts}
    assert pts == {"contract_changes": (Decimal("4.67"), Decimal("4.7"))}
    assert_adds_up(b)
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCTOBER, thresholds=rt.thresholds)
    assert report.current.margin_pct is not None and report.previous.margin_pct is not None
    assert round_to(report.current.margin_pct - report.previous.margin_pct, CENT) == Decimal("4.67")


def test_product_and_portfolio_bridges_add_up_on_the_same_book(settings: Settings, tmp_path: Path) -> None:
    rt = load(settings, tmp_path, september=BASE, october=[times(A_SEP, 2), B_SEP], price_rise=True)
    for kind, ref in ((SubjectKind.PRODUCT, "agent"), (SubjectKind.PORTFOLIO, None)):
        b = why(rt, kind, ref)
        assert_adds_up(b)
        # The product's revenue is the every-product contract's share of it; here it is the only product.
        assert b.revenue == (Decimal("100.00"), Decimal("150.00"))
        assert b.cogs == (Decimal("16.80"), Decimal("39.20"))


def test_a_quarter_is_compared_with_the_quarter_before(settings: Settings, tmp_path: Path) -> None:
    rt = load(settings, tmp_path, september=BASE, october=[times(u, 3) for u in BASE])
    with rt.connect() as conn:
        b = margin_bridge(conn, SubjectKind.CUSTOMER, "acme", quarter(2026, 4), prices=rt.prices, timezone="UTC")
    assert b.previous.label == "2026-Q3" and b.revenue == (Decimal("100.00"), Decimal("300.00"))
    assert_adds_up(b)


def test_every_cost_type_has_a_place_in_the_bridge() -> None:
    # Input types are the caching driver, non-token types their own; every other type is tokens per request.
    placed = set(INPUT_TYPES) | set(NON_TOKEN_TYPES)
    assert placed <= set(CostType)
    # (1-hour cache writes and web searches, added by issue 12, change per request too until the bridge splits
    # cache writes by TTL.)
    assert set(CostType) - placed == {
        CostType.OUTPUT,
        CostType.REQUEST_FEE,
        CostType.SOURCE,
        CostType.CACHE_WRITE_1H,
        CostType.WEB_SEARCH,
    }


@pytest.mark.parametrize(("kind", "ref"), [(SubjectKind.CUSTOMER, "nobody"), (SubjectKind.PRODUCT, "nothing")])
def test_an_unknown_name_is_refused_with_suggestions(
    settings: Settings, tmp_path: Path, kind: SubjectKind, ref: str
) -> None:
    rt = load(settings, tmp_path, september=BASE, october=BASE)
    with pytest.raises(UnknownSubject, match=ref):
        why(rt, kind, ref)


def test_a_customer_new_this_period_is_all_volume_and_has_no_points(settings: Settings, tmp_path: Path) -> None:
    # Nothing in September: no margin to start from, so the bridge is in dollars only; with no requests last
    # period there is no cost per request to scale, so all of COGS is volume.
    b = why(load(settings, tmp_path, september=[], october=BASE))
    assert moved(b) == {"metered_volume": Decimal("100.00"), "volume": Decimal("16.80")}
    assert all(p.margin_pts is None for p in b.parts) and b.margin == (None, Decimal("83.2"))
    assert b.notes == ["no revenue in the previous period, so no margin to bridge in points: dollars only"]
    assert_adds_up(b)


def test_a_step_without_revenue_passes_its_points_to_the_step_that_brings_revenue_back(
    settings: Settings, tmp_path: Path
) -> None:
    # Revenue 200 → 0 (metered volume: assist's requests 100 → 0) → 400 (contract changes), COGS 20 throughout:
    # margin 90% → none → 95%. Metered volume has no margin to end on, so contract changes carries its points from
    # 90% to 95%: +5.00, the whole change.
    b = why(migrating(settings, tmp_path), ref="mig")
    assert b.revenue == (Decimal("200.00"), Decimal("400.00")) and b.cogs == (Decimal("20.00"), Decimal("20.00"))
    assert moved(b) == {"metered_volume": Decimal("-200.00"), "contract_changes": Decimal("400.00")}
    pts = {p.part: (p.margin_pts, p.margin_pts_tenth, p.carries) for p in b.parts if p.margin_pts != 0}
    assert pts == {
        "metered_volume": (None, None, ()),
        "contract_changes": (Decimal("5.00"), Decimal("5.0"), ("metered_volume",)),
    }
    assert b.margin_change(CENT) == Decimal("5.00")
    assert b.notes == [
        "metered volume leaves no revenue at its step, so no margin to count points from: its points are counted "
        "in those of contract changes, the step that brings revenue back"
    ]
    assert_adds_up(b)


def test_a_piece_that_rounds_to_no_cent_is_never_named_a_contributor(settings: Settings, tmp_path: Path) -> None:
    from dataclasses import replace

    b = why(load(settings, tmp_path, september=BASE, october=[times(u, 3) for u in BASE]))
    first, second = b.contributors[0], b.contributors[1]
    # A piece of $0.004 (it read "+$0.00 revenue · terms: …" among the biggest); $0.005 rounds half-up to a cent.
    tiny = [replace(first, change=Decimal("0.004")), replace(second, change=Decimal("-0.005"))]
    named = replace(b, contributors=[tiny[0], tiny[1], *b.contributors]).top()
    assert tiny[0] not in named and named[0] == tiny[1]


def test_a_products_share_of_a_flat_fee_for_every_product_is_said_as_its_share(
    settings: Settings, tmp_path: Path
) -> None:
    # A $3,000 flat fee for every product, split by requests: chat had all 1,000 in September, 500 of 1,000 in
    # October, so chat's revenue is $3,000 → $1,500. Its line read "metered units (0 → 0)": nothing is metered.
    event = {"provider": "acme", "model": "small", "feature": "f", "customer": "acme", "input_tokens": 1000}
    rt = load_rows(
        settings,
        tmp_path,
        usage=[
            {**event, "event_id": "s", "ts": "2026-09-10T12:00:00Z", "product": "chat", "requests": 1000},
            {**event, "event_id": "o1", "ts": "2026-10-10T12:00:00Z", "product": "chat", "requests": 500},
            {**event, "event_id": "o2", "ts": "2026-10-10T12:00:00Z", "product": "search", "requests": 500},
        ],
        contracts=[
            {
                "customer": "acme",
                "customer_name": "Acme Corp",
                "plan": "flat",
                "start": "2026-01-01",
                "platform_fee_usd": "3000",
            }
        ],
    )
    b = why(rt, SubjectKind.PRODUCT, "chat")
    assert b.revenue == (Decimal("3000.00"), Decimal("1500.00"))
    assert b.top()[0].words == (
        "-$1,500.00 revenue · acme (all products): the product's share of it, by requests: 100% → 50%"
    )
    assert_adds_up(b)
    # The customer's own bridge has no share to speak of: the whole fee is its, both months.
    assert not [p for p in why(rt).top() if p.side == "revenue"]


def test_a_products_share_of_a_flat_fee_says_it_followed_cogs_once_its_requests_were_not_counted(
    settings: Settings, tmp_path: Path
) -> None:
    # A $3,000 flat fee for every product. September: chat 1,000 requests, search 1,000: by requests, chat $1,500.
    # October: chat moved to a source that counts no requests (Anthropic's usage report), 3,000,000 input tokens on
    # small ($3.00) beside search's 1,000 requests and 1,000,000 ($1.00): by COGS, chat 3/4, $2,250. (By requests
    # chat's share fell to nothing, and its $3.00 of COGS had no revenue.)
    event = {"provider": "acme", "model": "small", "feature": "f", "customer": "acme"}
    days = {"s": "2026-09-10T12:00:00Z", "o": "2026-10-10T12:00:00Z"}
    sent = [("s1", "chat", 1000, 3_000_000), ("s2", "search", 1000, 1_000_000)]
    sent += [("o1", "chat", 0, 3_000_000), ("o2", "search", 1000, 1_000_000)]
    rt = load_rows(
        settings,
        tmp_path,
        usage=[
            {**event, "event_id": i, "ts": days[i[0]], "product": p, "requests": n, "input_tokens": tokens}
            for i, p, n, tokens in sent
        ],
        contracts=[{"customer": "acme", "plan": "flat", "start": "2026-01-01", "platform_fee_usd": "3000"}],
    )
    b = why(rt, SubjectKind.PRODUCT, "chat")
    assert b.revenue == (Decimal("1500.00"), Decimal("2250.00"))
    assert b.top()[0].words == (
        "+$750.00 revenue · acme (all products): the product's share of it, by requests → COGS: 50% → 75%"
    )
    assert_adds_up(b)


def test_a_customer_with_one_off_charges_alone_has_its_contract_changes_read_as_contract_changes(
    settings: Settings, tmp_path: Path
) -> None:
    # $5,000 a month for every product to September, $6,000 from October, and a $200 setup fee on October 10th
    # (a Stripe invoice item: it bills no service period, so the contracts still earn every day). Revenue
    # $5,000.00 → $6,200.00: $1,000.00 of it the new terms, $200.00 the fee. Both read "billed revenue", $1,200.00,
    # as if an invoice had replaced the contracts.
    event = {"provider": "acme", "model": "small", "feature": "f", "customer": "acme", "product": "chat"}
    rt = load_rows(
        settings,
        tmp_path,
        usage=[
            {**event, "event_id": i, "ts": ts, "requests": 1000, "input_tokens": 1_000_000}
            for i, ts in (("s", "2026-09-10T12:00:00Z"), ("o", "2026-10-10T12:00:00Z"))
        ],
        contracts=[
            {
                "customer": "acme",
                "plan": "flat",
                "start": "2026-01-01",
                "end": "2026-09-30",
                "platform_fee_usd": "5000",
            },
            {"customer": "acme", "plan": "flat", "start": "2026-10-01", "platform_fee_usd": "6000"},
        ],
    )
    store_one_off(rt.engine, "il_setup", "acme", "2026-10-10", 200)
    b = why(rt)
    assert b.revenue == (Decimal("5000.00"), Decimal("6200.00"))
    assert moved(b) == {
        "contract_changes": Decimal("1000.00"),
        "billed": Decimal("200.00"),
    }
    assert [c.words for c in b.top() if c.side == "revenue"] == [
        "+$1,000.00 revenue · acme (all products): terms: flat: $5,000.00/mo platform fee → flat: $6,000.00/mo "
        "platform fee",
        "+$200.00 revenue · acme (all products): one-off charges $0.00 → $200.00",
    ]
    assert_adds_up(b)
    # Chat, the customer's one product, has all of both: the same parts.
    chat = why(rt, SubjectKind.PRODUCT, "chat")
    assert chat.revenue == b.revenue
    assert moved(chat) == {
        "contract_changes": Decimal("1000.00"),
        "billed": Decimal("200.00"),
    }
    assert_adds_up(chat)
