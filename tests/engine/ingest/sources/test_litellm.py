"""LiteLLM spend logs: per-request events costed by LiteLLM's spend, cached tokens from the usage object."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from engine.ingest.sync import sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import SOURCE_COSTED_EVENTS as COLUMNS
from tests.engine.ingest.conftest import Reply, Vendor, add_contract, fixture, json_with_numbers, rows

SPEND = "/spend/logs"


def spend_rows(day: str) -> list[dict[str, object]]:
    row = fixture("litellm_spend_logs.json")[0]
    row["startTime"] = f"{day}T17:06:03.174000Z"
    other = dict(row, request_id="chatcmpl-second", end_user="", spend=0.0125, startTime=f"{day}T18:00:00Z")
    return [row, other]


def serve_spend_logs(vendor: Vendor, by_day: dict[str, list[dict[str, object]]]) -> None:
    def handle(request):  # type: ignore[no-untyped-def]
        assert request.url.params["summarize"] == "false"
        return Reply(body=by_day.get(request.url.params["start_date"], []))

    vendor.route(SPEND, handle)


def test_litellm_rows_are_costed_by_spend_with_cached_tokens_from_the_usage_object(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "palantir", fee="100")
    serve_spend_logs(vendor, {"2026-10-05": spend_rows("2026-10-05")})

    result = sync_source(rt, "litellm", since=date(2026, 10, 5), until=date(2026, 10, 5), transport=vendor.transport)

    assert result.ok, result.error
    assert rows(rt, COLUMNS) == [
        (
            "litellm:chatcmpl-b3e273c1-5833-423e-9d19-5c82f0ed7591",
            "palantir",
            "assist",
            "",
            "openai",
            "gpt-4o-mini-2024-07-18",
            1100,
            1024,
            0,
            150,
            1,
            413_750,
            413_750,
        ),
        (
            "litellm:chatcmpl-second",
            "unmapped",
            "api",
            "litellm end_user=(none)",
            "openai",
            "gpt-4o-mini-2024-07-18",
            1100,
            1024,
            0,
            150,
            1,
            12_500_000,
            12_500_000,
        ),
    ]
    with rt.connect() as conn:
        report = customer_report(conn, "palantir", month(2026, 10), thresholds=rt.thresholds)
    assert report.current.cogs == Decimal("0.00041375")
    assert report.current.revenue == Decimal(100)
    assert result.unmapped == {"litellm end_user=(none)": 1}


def test_litellm_late_rows_are_picked_up_by_the_next_run_without_double_counting(rt: Runtime, vendor: Vendor) -> None:
    early, late = spend_rows("2026-11-15")
    # The late row happened at 11:00, before the first run (11:45), but LiteLLM wrote it after that run.
    early["startTime"], late["startTime"] = "2026-11-15T08:00:00Z", "2026-11-15T11:00:00Z"
    by_day = {"2026-11-15": [early]}
    serve_spend_logs(vendor, by_day)
    first = sync_source(
        rt,
        "litellm",
        since=date(2026, 11, 15),
        now=datetime(2026, 11, 15, 11, 45, tzinfo=UTC),
        transport=vendor.transport,
    )
    by_day["2026-11-15"] = [early, late]  # written by LiteLLM's batch writer after the first run read the day

    second = sync_source(rt, "litellm", now=datetime(2026, 11, 15, 12, 0, tzinfo=UTC), transport=vendor.transport)

    assert (first.imported, second.imported) == (1, 1)
    assert second.start == datetime(2026, 11, 15, 10, 45, tzinfo=UTC)  # the hour before the cursor is re-read
    assert rows(rt, "SELECT COUNT(*), SUM(cost_source) FROM usage_event") == [(2, 413_750 + 12_500_000)]


def test_a_window_whose_spend_sums_past_a_bigint_stops_the_sync_in_one_line_and_writes_none_of_it(
    rt: Runtime, vendor: Vendor
) -> None:
    fine = spend_rows("2026-10-05")[:1]
    row = fixture("litellm_spend_logs.json")[0]
    # 1,000 calls of one customer and product on one day at $9,999,999 each: each is under one event's bound, their
    # day's sum (about $10 billion) is past what a BIGINT of nano-USD holds.
    heavy = [dict(row, request_id=f"heavy-{i}", spend=9_999_999, startTime="2026-10-06T10:00:00Z") for i in range(1000)]
    serve_spend_logs(vendor, {"2026-10-05": fine, "2026-10-06": heavy})

    result = sync_source(rt, "litellm", since=date(2026, 10, 5), until=date(2026, 10, 6), transport=vendor.transport)

    # The day before is kept, the cursor stays after it, and the next sync starts again at the day refused.
    assert not result.ok
    assert result.error == (
        "litellm: the records from 2026-10-06 00:00 to 2026-10-07 00:00 UTC add the costs or counts of one customer "
        "and product over a day, a week or a task up past what the database holds (about $9.2 billion, or "
        "9.2 × 10¹⁸ of a count): are the source's costs and counts in the right unit? None of these records was "
        "written."
    )
    assert (result.windows_done, result.windows) == (1, 2)
    assert rows(rt, "SELECT event_id FROM usage_event") == [("litellm:" + str(fine[0]["request_id"]),)]
    assert rows(rt, "SELECT SUM(events) FROM daily_customer_product WHERE day = '2026-10-06'") == [(None,)]


DAYS = ("2026-11-03", "2026-11-12")


def test_a_litellm_backfill_after_the_cursor_leaves_the_cursor_where_it_was(rt: Runtime, vendor: Vendor) -> None:
    by_day = {day: [dict(r, request_id=f"{r['request_id']}-{day}") for r in spend_rows(day)] for day in DAYS}
    serve_spend_logs(vendor, by_day)
    first = sync_source(rt, "litellm", since=date(2026, 11, 1), until=date(2026, 11, 1), transport=vendor.transport)
    assert first.ok, first.error
    cursor = rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'litellm'")  # Nov 2

    back = sync_source(rt, "litellm", since=date(2026, 11, 10), transport=vendor.transport)  # Nov 2-9 not read

    assert back.ok, back.error
    assert rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'litellm'") == cursor
    resumed = sync_source(rt, "litellm", transport=vendor.transport)
    assert resumed.ok, resumed.error
    assert rows(rt, "SELECT CAST(day AS TEXT), COUNT(*) FROM usage_event GROUP BY day ORDER BY day") == [
        ("2026-11-03", 2),
        ("2026-11-12", 2),
    ]


def test_a_spend_of_0_for_tokens_is_priced_from_the_price_file_or_flagged_never_stored_as_free(
    rt: Runtime, vendor: Vendor
) -> None:
    # LiteLLM spends 0 on a model missing from its cost map: a model the price file knows, and one nobody prices.
    known, unknown = spend_rows("2026-10-05")
    known["spend"] = 0.0
    unknown.update(spend=0, model="my-custom-llm", model_group="my-custom-llm", custom_llm_provider="custom")
    empty = dict(
        known, request_id="chatcmpl-empty", prompt_tokens=0, completion_tokens=0
    )  # no tokens: nothing to price
    empty["metadata"] = {}
    serve_spend_logs(vendor, {"2026-10-05": [known, unknown, empty]})

    result = sync_source(rt, "litellm", since=date(2026, 10, 5), until=date(2026, 10, 5), transport=vendor.transport)

    assert result.ok, result.error
    stored = {r[0]: r for r in rows(rt, "SELECT event_id, source_cost_nano, cost_source, priced FROM usage_event")}
    # gpt-4o-mini: 1100 input (1024 cached) and 150 output tokens at the price file's rates, not $0 from LiteLLM
    assert stored[f"litellm:{known['request_id']}"][1] is None
    assert result.cost_nano > 0
    assert stored["litellm:chatcmpl-second"][1] is None and not stored["litellm:chatcmpl-second"][3]  # flagged
    assert result.unpriced_events == 1 and ("custom", "my-custom-llm") in result.unpriced_models
    assert stored["litellm:chatcmpl-empty"][1] == 0  # a record without tokens keeps the 0 it came with
    assert any("2 record(s) with tokens came with a cost of 0" in n for n in result.notes)


def test_a_response_from_litellms_cache_keeps_its_spend_of_0(rt: Runtime, vendor: Vendor) -> None:
    # LiteLLM serves a cached response at no cost: spend 0, the original call's tokens, cache_hit "True". Priced from
    # the price file it would be COGS no provider billed.
    hit, _ = spend_rows("2026-10-05")
    hit.update(spend=0.0, cache_hit="True", request_id="chatcmpl-b3e273c1_cache_hit1790000000")
    serve_spend_logs(vendor, {"2026-10-05": [hit]})
    result = sync_source(rt, "litellm", since=date(2026, 10, 5), until=date(2026, 10, 5), transport=vendor.transport)
    assert result.ok, result.error
    assert result.cost_nano == 0 and result.unpriced_events == 0
    assert rows(rt, "SELECT source_cost_nano FROM usage_event") == [(0,)]
    assert not any("came with a cost of 0" in n for n in result.notes)


def test_a_spend_with_more_digits_than_a_float_holds_is_stored_exact_to_the_nano(rt: Runtime, vendor: Vendor) -> None:
    # Read through a float (17 significant digits), 0.12345678949999999999 was 0.1234567895 and rounded half up a
    # nano-dollar over, and 9999999.9999999994999 was $10,000,000: each is 1 nano-USD off. As written, half up to
    # the nano (as a cost_usd is): 123,456,789.49999999999 → 123,456,789 and 9,999,999,999,999,999.4999 → …999.
    small, large = spend_rows("2026-10-05")
    small.update(spend="<small>", completion_tokens="<tokens>")  # a count written 150.0 counts 150
    large.update(spend="<large>")
    numbers = {"<small>": "0.12345678949999999999", "<large>": "9999999.9999999994999", "<tokens>": "150.0"}
    body = json_with_numbers([small, large], numbers)
    vendor.route(SPEND, lambda request: Reply(raw=body if request.url.params["start_date"] == "2026-10-05" else b"[]"))

    result = sync_source(rt, "litellm", since=date(2026, 10, 5), until=date(2026, 10, 5), transport=vendor.transport)

    assert result.ok, result.error
    assert rows(rt, "SELECT event_id, output_tokens, source_cost_nano FROM usage_event ORDER BY event_id") == [
        ("litellm:chatcmpl-b3e273c1-5833-423e-9d19-5c82f0ed7591", 150, 123_456_789),
        ("litellm:chatcmpl-second", 150, 9_999_999_999_999_999),
    ]
