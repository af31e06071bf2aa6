"""Langfuse observations: per-generation events costed by Langfuse, input made the CSV convention's total."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.ingest.sync import sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import LANGFUSE_SECRET, Reply, Vendor, fixture, rows
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
