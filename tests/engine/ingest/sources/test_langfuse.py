"""Langfuse observations: per-generation events costed by Langfuse, input made the CSV convention's total."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from engine.ingest.sync import sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import LANGFUSE_SECRET, Reply, Vendor, fixture, json_with_numbers, rows
from tests.engine.ingest.conftest import SOURCE_COSTED_EVENTS as COLUMNS

OBS = "/api/public/v2/observations"


def test_langfuse_input_excludes_cache_so_the_event_adds_cache_reads_and_writes(rt: Runtime, vendor: Vendor) -> None:
    page = fixture("langfuse_observations_v2.json")
    for obs, hour in zip(page["data"], ("12:00", "12:05"), strict=True):
        obs["startTime"] = f"2026-10-07T{hour}:00.000Z"

    def handle(request):  # type: ignore[no-untyped-def]
        if request.url.params.get("cursor"):
            assert request.url.params["cursor"] == page["meta"]["cursor"]
            return Reply(body={"data": [], "meta": {"cursor": None}})
        return Reply(body=page)

    vendor.route(OBS, handle)

    result = sync_source(rt, "langfuse", since=date(2026, 10, 7), until=date(2026, 10, 7), transport=vendor.transport)

    assert result.ok, result.error
    assert rows(rt, COLUMNS) == [
        (
            "langfuse:3f1c9e0a-5b7d-4e21-9a0c-2d8e6f4b1a77",
            "unmapped",
            "api",
            "langfuse user=test-user",
            "",
            "gpt-4",
            10,
            0,
            0,
            20,
            1,
            30_000_000,
            30_000_000,
        ),
        # input 2 + cache_read 10692 + cache_creation 592 = 11286: the total the CSV convention wants
        (
            "langfuse:a7c0d1e2-3f45-4678-9abc-def012345678",
            "acme",
            "search",
            "",
            "",
            "claude-sonnet-4-5",
            11286,
            10692,
            592,
            13,
            1,
            9_381_000,
            9_381_000,
        ),
    ]
    with rt.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds)
    assert report.current.cogs == Decimal("0.009381")
    assert vendor.seen_auth and all(LANGFUSE_SECRET not in a for a in vendor.seen_auth)  # basic auth, encoded


def test_a_generation_still_running_is_left_for_the_next_sync_which_reads_it_whole(rt: Runtime, vendor: Vendor) -> None:
    page = fixture("langfuse_observations_v2.json")
    done, running = page["data"]
    done["startTime"], done["endTime"] = "2026-10-07T11:00:00.000Z", "2026-10-07T11:00:02.000Z"
    running["startTime"], running["endTime"] = "2026-10-07T12:10:00.000Z", None  # started 20 minutes before the sync
    whole = dict(running["usageDetails"])
    running["usageDetails"] = {"input": whole["input"]}  # what a generation has before it ends: no output yet

    def handle(request):  # type: ignore[no-untyped-def]
        if request.url.params.get("cursor"):
            return Reply(body={"data": [], "meta": {"cursor": None}})
        return Reply(body=page)

    vendor.route(OBS, handle)
    first = sync_source(rt, "langfuse", now=datetime(2026, 10, 7, 12, 30, tzinfo=UTC), transport=vendor.transport)
    assert first.ok, first.error
    assert [r[0] for r in rows(rt, COLUMNS)] == [f"langfuse:{done['id']}"]
    assert any("1 observation(s) started in the last hour had not ended" in n for n in first.notes)

    running["endTime"], running["usageDetails"] = "2026-10-07T12:10:04.000Z", whole  # it ended: usage complete
    second = sync_source(rt, "langfuse", now=datetime(2026, 10, 7, 13, 0, tzinfo=UTC), transport=vendor.transport)
    assert second.ok, second.error
    assert (second.imported, second.kept_as_stored) == (1, 0)  # read from 11:30, the hour before the cursor
    (stored,) = (r for r in rows(rt, COLUMNS) if r[0] == f"langfuse:{running['id']}")
    assert stored[9] == 13  # its output tokens: the generation as it ended, not as it was read running


def test_a_generation_left_running_for_more_than_the_hour_read_again_is_stored_as_it_is(
    rt: Runtime, vendor: Vendor
) -> None:
    page = fixture("langfuse_observations_v2.json")
    page["data"] = page["data"][1:]
    (stale,) = page["data"]
    stale["startTime"], stale["endTime"] = "2026-10-07T10:00:00.000Z", None  # never ended: no later sync reads it
    vendor.route(OBS, lambda request: Reply(body=page if not request.url.params.get("cursor") else {"data": []}))
    result = sync_source(rt, "langfuse", now=datetime(2026, 10, 7, 12, 30, tzinfo=UTC), transport=vendor.transport)
    assert result.ok and result.imported == 1 and not any("had not ended" in n for n in result.notes)


def test_a_total_cost_of_0_for_tokens_is_priced_from_the_price_file(rt: Runtime, vendor: Vendor) -> None:
    page = fixture("langfuse_observations_v2.json")
    free, _ = page["data"]
    free["startTime"], free["totalCost"], free["costDetails"] = "2026-10-07T12:00:00.000Z", 0, {"total": 0}
    free["modelId"] = free["internalModelId"] = free["inputPrice"] = free["outputPrice"] = None
    page["data"] = [free]  # gpt-4 with 10 input and 20 output tokens, matched to no model: Langfuse had no price
    vendor.route(OBS, lambda request: Reply(body=page if not request.url.params.get("cursor") else {"data": []}))
    result = sync_source(rt, "langfuse", since=date(2026, 10, 7), until=date(2026, 10, 7), transport=vendor.transport)
    assert result.ok, result.error
    ((source_cost, cost),) = rows(rt, "SELECT source_cost_nano, cost_uncached_input + cost_output FROM usage_event")
    assert source_cost is None and cost > 0 and result.unpriced_events == 0
    assert any("1 record(s) with tokens came with a cost of 0" in n for n in result.notes)


def test_a_total_cost_of_0_for_a_model_langfuse_prices_at_0_is_kept(rt: Runtime, vendor: Vendor) -> None:
    page = fixture("langfuse_observations_v2.json")
    free, _ = page["data"]  # matched to a model (modelId) that Langfuse prices at 0: a self-hosted one, say
    free["startTime"], free["totalCost"], free["costDetails"] = "2026-10-07T12:00:00.000Z", 0, {"total": 0}
    free["inputPrice"] = free["outputPrice"] = "0"
    page["data"] = [free]
    vendor.route(OBS, lambda request: Reply(body=page if not request.url.params.get("cursor") else {"data": []}))
    result = sync_source(rt, "langfuse", since=date(2026, 10, 7), until=date(2026, 10, 7), transport=vendor.transport)
    assert result.ok, result.error
    assert rows(rt, "SELECT source_cost_nano, cost_source FROM usage_event") == [(0, 0)]
    assert not any("came with a cost of 0" in n for n in result.notes)


def test_a_total_cost_with_more_digits_than_a_float_holds_is_stored_exact_to_the_nano(
    rt: Runtime, vendor: Vendor
) -> None:
    # Read through a float, 1.23456789049999999999 was 1.2345678905 and rounded half up to 1,234,567,891 nano-USD.
    page = fixture("langfuse_observations_v2.json")
    page["data"] = page["data"][:1]
    page["data"][0].update(startTime="2026-10-07T12:00:00.000Z", totalCost="<cost>")
    body = json_with_numbers(page, {"<cost>": "1.23456789049999999999"})
    end = {"data": [], "meta": {"cursor": None}}
    vendor.route(OBS, lambda request: Reply(body=end) if request.url.params.get("cursor") else Reply(raw=body))

    result = sync_source(rt, "langfuse", since=date(2026, 10, 7), until=date(2026, 10, 7), transport=vendor.transport)

    assert result.ok, result.error
    assert rows(rt, "SELECT event_id, source_cost_nano FROM usage_event") == [
        ("langfuse:3f1c9e0a-5b7d-4e21-9a0c-2d8e6f4b1a77", 1_234_567_890)
    ]
