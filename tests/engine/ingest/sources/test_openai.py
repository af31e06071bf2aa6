"""OpenAI Usage + Costs API sync: units, pagination, empty buckets, retries, errors, idempotent re-syncs."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from engine.ingest.events import COUNT_MAX
from engine.ingest.sources.base import Batch, add_provider_cost, stored_cost
from engine.ingest.sync import sync_source, write_cursor
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from engine.store.models import NANO
from engine.store.sql import COST_SUM
from tests.engine.ingest.conftest import (
    ALL_SECRETS,
    OPENAI_KEY,
    Reply,
    Sleeps,
    Vendor,
    add_contract,
    fetched,
    fixture,
    json_with_numbers,
    openai_bucket_pages,
    rows,
    usage_result,
    with_numbers,
)

DAY = 86400
D1 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
OCT = month(2026, 10)
USAGE = "/v1/organization/usage/completions"
EMBED = "/v1/organization/usage/embeddings"
COSTS = "/v1/organization/costs"


def grouped_result(*, audio: bool = False, image: bool = False, **changes: object) -> dict[str, object]:
    """The verbatim grouped completions result (proj_abc, key_abc, gpt-4o-mini) with changes; its audio tokens and
    its image tokens (parts of its totals, each stored as an event of their own) set to 0 unless `audio`, `image`."""
    result = usage_result(audio=audio, image=image)
    result.update(changes)
    return result


def embedding_result() -> dict[str, object]:
    result = fixture("openai_usage_embeddings.json")["data"][0]["results"][0]
    result.update(project_id="proj_abc", api_key_id="key_abc", model="text-embedding-3-small")
    return result


def cost_result(value: float | str) -> dict[str, object]:
    result = fixture("openai_costs_grouped.json")["data"][0]["results"][0]
    result["amount"]["value"] = value
    return result


def serve(
    vendor: Vendor,
    usage: dict[int, list],
    *,
    embeddings: dict[int, list] | None = None,
    costs: dict[int, list] | None = None,
    page_size: int = 31,
) -> None:
    vendor.route(USAGE, openai_bucket_pages(usage, page_size=page_size))
    vendor.route(EMBED, openai_bucket_pages(embeddings or {}, page_size=page_size))
    vendor.route(COSTS, openai_bucket_pages(costs or {}, page_size=page_size))


def femto_cost(rt: Runtime, model: str, at: int, uncached: int, cached: int, write: int, output: int) -> int:
    """Nano-USD of one bucket from the price book's per-token rates, computed independently of the writer."""
    rates = rt.prices.rates("openai", model, datetime.fromtimestamp(at, UTC))
    assert rates is not None and isinstance(rates.input, int)
    parts = (
        uncached * rates.input,
        cached * rates.cached_input,
        write * rates.cache_write,
        output * rates.output if output else 0,  # embeddings have no output price (None), and no output
    )
    return sum((p + 500_000) // 1_000_000 for p in parts)  # type: ignore[operator]


def events(rt: Runtime) -> list[tuple]:
    return rows(
        rt,
        "SELECT customer, product, feature, provider, model, input_tokens, cached_input_tokens, "
        "cache_write_tokens, "
        "output_tokens, requests, source_cost_nano FROM usage_event ORDER BY ts, event_id",
    )


def totals(rt: Runtime) -> tuple:
    return (
        rows(
            rt,
            "SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), "
            "COALESCE(SUM(cost_uncached_input + cost_cached_input "
            "+ cost_cache_write + cost_output), 0) FROM usage_event",
        )[0]
        + rows(rt, "SELECT COALESCE(SUM(events), 0), COALESCE(SUM(input_tokens), 0) FROM daily_rollup")[0]
    )


def test_grouped_buckets_become_priced_events_with_openai_units_and_costs_go_to_provider_cost(
    rt: Runtime, vendor: Vendor, sleeps: Sleeps
) -> None:
    add_contract(rt, "acme", fee="1000")
    serve(
        vendor,
        {D1: [grouped_result()]},
        embeddings={D1: [embedding_result()]},
        costs={D1: [cost_result(0.06)]},
    )

    result = sync_source(
        rt,
        "openai",
        since=date(2026, 10, 1),
        until=date(2026, 10, 1),
        transport=vendor.transport,
        sleep=sleeps,
    )

    assert result.ok, result.error
    assert events(rt) == [
        # input_tokens already include the 1800 cached and 200 cache-write tokens: passed through as the total
        ("acme", "assist", "", "openai", "gpt-4o-mini-2024-07-18", 5000, 1800, 200, 1000, 5, None),
        ("acme", "assist", "", "openai", "text-embedding-3-small", 16, 0, 0, 0, 2, None),
    ]
    expected = femto_cost(rt, "gpt-4o-mini-2024-07-18", D1, 3000, 1800, 200, 1000) + femto_cost(
        rt, "text-embedding-3-small", D1, 16, 0, 0, 0
    )
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCT, thresholds=rt.thresholds)
    assert report.current.cogs == Decimal(expected) / NANO
    assert report.current.revenue == Decimal(1000)
    assert report.current.unpriced_events == 0
    assert [
        (p, str(d)[:10], proj, item, Decimal(str(a)))
        for p, d, proj, item, a in rows(rt, "SELECT provider, day, project, line_item, amount_usd FROM provider_cost")
    ] == [("openai", "2026-10-01", "proj_abc", "input_tokens", Decimal("0.06"))]
    assert sleeps == []


def test_all_pages_are_read_and_empty_buckets_add_nothing(rt: Runtime, vendor: Vendor) -> None:
    usage = {D1: [grouped_result()], D1 + DAY: [], D1 + 2 * DAY: [grouped_result(project_id="proj_big")]}
    serve(vendor, usage, page_size=1)  # one bucket a page: three pages

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 3), transport=vendor.transport)

    assert result.ok, result.error
    assert [(e[0], e[5]) for e in events(rt)] == [("acme", 5000), ("globex", 5000)]
    assert rows(rt, "SELECT CAST(day AS TEXT), customer, events FROM daily_rollup ORDER BY day") == [
        ("2026-10-01", "acme", 1),
        ("2026-10-03", "globex", 1),
    ]


def test_resync_of_an_overlapping_window_changes_nothing(rt: Runtime, vendor: Vendor) -> None:
    serve(vendor, {D1: [grouped_result()], D1 + DAY: [grouped_result(model="gpt-4o")]})
    first = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)
    before = totals(rt)

    again = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 2), transport=vendor.transport)

    assert first.imported == 1 and again.imported == 1 and again.duplicates == 1
    after = totals(rt)
    assert after[0] == before[0] + 1 and after[3] == before[3] + 1  # only the new day's bucket was added
    third = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 2), transport=vendor.transport)
    assert third.imported == 0 and totals(rt) == after


def test_cursor_resumes_where_the_last_sync_stopped(rt: Runtime, vendor: Vendor) -> None:
    usage = {D1 + i * DAY: [grouped_result()] for i in range(50)}
    serve(vendor, usage)
    until_oct_10 = sync_source(
        rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 10), transport=vendor.transport
    )
    assert until_oct_10.imported == 10

    resumed = sync_source(rt, "openai", transport=vendor.transport)  # no --since: from the cursor to now

    # From Oct 11 to the last settled day (Nov 14; NOW is Nov 15 12:00), nothing read twice.
    assert resumed.start == datetime(2026, 10, 11, tzinfo=UTC)
    assert resumed.end == datetime(2026, 11, 15, tzinfo=UTC)
    assert (resumed.imported, resumed.duplicates) == (35, 0)
    assert rows(rt, "SELECT COUNT(*), CAST(MIN(day) AS TEXT), CAST(MAX(day) AS TEXT) FROM usage_event")[0] == (
        45,
        "2026-10-01",
        "2026-11-14",
    )


def test_429_is_retried_after_the_time_the_vendor_asks(rt: Runtime, vendor: Vendor, sleeps: Sleeps) -> None:
    serve(vendor, {D1: [grouped_result()]})
    vendor.fail(USAGE, Reply(429, {"error": {"message": "rate limited"}}, {"Retry-After": "7"}))

    result = sync_source(
        rt,
        "openai",
        since=date(2026, 10, 1),
        until=date(2026, 10, 1),
        transport=vendor.transport,
        sleep=sleeps,
    )

    assert result.ok, result.error
    assert sleeps == [7.0]
    assert [e[5] for e in events(rt)] == [5000]


def test_500_three_times_fails_the_window_and_commits_nothing_of_it(
    rt: Runtime, vendor: Vendor, sleeps: Sleeps
) -> None:
    add_contract(rt, "acme")
    # Two windows of 31 days; the second window's embeddings call fails three times after its usage was read.
    usage = {D1: [grouped_result()], D1 + 40 * DAY: [grouped_result()]}
    serve(vendor, usage)
    calls = {"n": 0}
    embeddings = openai_bucket_pages({})

    def flaky(request):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return Reply(500, {"error": {"message": "boom"}}) if calls["n"] > 1 else embeddings(request)

    vendor.route(EMBED, flaky)

    result = sync_source(
        rt,
        "openai",
        since=date(2026, 10, 1),
        until=date(2026, 11, 12),
        transport=vendor.transport,
        sleep=sleeps,
    )

    assert result.error is not None
    assert "openai: GET /organization/usage/embeddings failed 3 time(s), last: HTTP 500" in result.error
    assert sleeps == [1.0, 2.0]
    assert (result.windows, result.windows_done) == (2, 1)
    # The first window (Oct 1-31) is kept, with its cursor; nothing of Nov 1-12 is.
    assert rows(rt, "SELECT CAST(day AS TEXT) FROM usage_event") == [("2026-10-01",)]
    assert rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'openai'") == [
        ('{"grouping": "tiers+audio+image", "until": "2026-11-01T00:00:00Z", "width": "1d"}',)
    ]
    with rt.connect() as conn:
        assert customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds).current.cogs == 0


def test_401_is_a_clear_error_without_the_key_and_nothing_is_stored(
    rt: Runtime, vendor: Vendor, caplog: pytest.LogCaptureFixture
) -> None:
    vendor.fail(USAGE, Reply(401, {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}"}}))
    caplog.set_level(logging.DEBUG)

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error == (
        "openai: HTTP 401 from GET /organization/usage/completions: the credentials were refused "
        "(invalid or revoked key)"
    )
    assert OPENAI_KEY not in result.summary() and OPENAI_KEY not in caplog.text
    assert vendor.seen_auth[0] == f"Bearer {OPENAI_KEY}"  # the key was sent, in the header only
    assert events(rt) == []
    assert rows(rt, "SELECT COUNT(*) FROM sync_cursor") == [(0,)]
    dump = repr(rows(rt, "SELECT * FROM import_run")) + repr(rows(rt, "SELECT * FROM meta"))
    assert not any(secret in dump for secret in ALL_SECRETS)


def test_malformed_json_names_the_source_and_the_place(rt: Runtime, vendor: Vendor) -> None:
    serve(vendor, {D1: [grouped_result()]})
    vendor.fail(USAGE, Reply(200, raw=b'{"object": "page", "data": [', headers={"content-type": "application/json"}))

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error is not None
    assert result.error.startswith("openai: malformed JSON from GET /organization/usage/completions (line 1 column")
    assert events(rt) == []


def test_a_vendor_body_nested_too_deeply_or_with_a_huge_number_is_malformed_json(rt: Runtime, vendor: Vendor) -> None:
    serve(vendor, {D1: [grouped_result()]})
    for body, why in ((b"[" * 100_000, " (nested too deeply)"), (b'{"data": ' + b"9" * 5000 + b"}", "")):
        vendor.fail(USAGE, Reply(200, raw=body, headers={"content-type": "application/json"}))

        result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

        assert result.error == f"openai: malformed JSON from GET /organization/usage/completions{why}"
        assert events(rt) == []


def test_vendor_error_bodies_are_quoted_with_keys_scrubbed(rt: Runtime, vendor: Vendor) -> None:
    vendor.fail(USAGE, Reply(400, {"error": {"message": f"bad start_time for key {OPENAI_KEY}"}}))

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error == "openai: HTTP 400 from GET /organization/usage/completions: bad start_time for key ***"


def test_unmapped_project_is_imported_under_unmapped_and_reported(rt: Runtime, vendor: Vendor) -> None:
    serve(vendor, {D1: [grouped_result(project_id="proj_new", api_key_id="key_new")]})

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok
    assert [e[:3] for e in events(rt)] == [("unmapped", "api", "openai api_key=key_new project=proj_new")]
    assert result.unmapped == {"openai api_key=key_new project=proj_new": 1}
    assert "1 unmapped identity imported under customer 'unmapped'" in result.summary()
    with rt.connect() as conn:
        assert customer_report(conn, "unmapped", OCT, thresholds=rt.thresholds).current.cogs > 0


def test_api_key_mapping_beats_the_project_and_sets_the_feature(rt: Runtime, vendor: Vendor) -> None:
    serve(vendor, {D1: [grouped_result(api_key_id="key_batch")]})

    sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert [e[:3] for e in events(rt)] == [("initech", "batch", "nightly")]


def test_hourly_buckets_land_on_local_days(rt: Runtime, vendor: Vendor) -> None:
    # MARGINBOT_TIMEZONE=America/New_York: hourly buckets, so 02:00 UTC on Oct 2 is Oct 1 in New York.
    from engine.store.db import forget_engine

    settings = rt.settings.model_copy(update={"timezone": "America/New_York"})
    local = Runtime(settings, now_override=rt.now())
    forget_engine(settings.database_url)
    at = D1 + DAY + 2 * 3600
    vendor.route(USAGE, openai_bucket_pages({at: [grouped_result()]}, width=3600, page_size=24))
    vendor.route(EMBED, openai_bucket_pages({}, width=3600, page_size=24))
    vendor.route(COSTS, openai_bucket_pages({}, page_size=31))

    result = sync_source(local, "openai", since=date(2026, 10, 2), until=date(2026, 10, 2), transport=vendor.transport)

    assert result.ok, result.error
    assert result.windows == 1
    assert rows(local, "SELECT CAST(day AS TEXT), input_tokens FROM usage_event") == [("2026-10-01", 5000)]
    assert rows(local, "SELECT cursor FROM sync_cursor") == [
        ('{"grouping": "tiers+audio+image", "until": "2026-10-03T00:00:00Z", "width": "1h"}',)
    ]


def test_records_without_a_model_import_as_unknown_and_unpriced_and_the_window_keeps_its_costs(
    rt: Runtime, vendor: Vendor
) -> None:
    ungrouped = fixture("openai_usage_completions.json")["data"][0]["results"][0]  # model: null
    embedding = fixture("openai_usage_embeddings.json")["data"][0]["results"][0]  # model: null too
    serve(
        vendor,
        {D1: [copy.deepcopy(ungrouped), grouped_result()]},
        embeddings={D1: [embedding]},
        costs={D1: [cost_result(0.5)]},
    )

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert sorted(rows(rt, "SELECT model, input_tokens, requests, priced FROM usage_event")) == [
        ("gpt-4o-mini-2024-07-18", 5000, 5, True),
        ("unknown", 16, 2, False),
        ("unknown", 900, 5, False),
        ("unknown (audio)", 50, 0, False),  # the ungrouped record's audio tokens, an event of their own
        ("unknown (image)", 50, 0, False),  # its image tokens, another
    ]
    assert result.unpriced_events == 4
    assert "have no price (openai/unknown, openai/unknown (audio), openai/unknown (image))" in result.summary()
    assert rows(rt, "SELECT COUNT(*) FROM provider_cost") == [(1,)]  # the window's billed cost is kept


NOV_2 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())  # the catalogue's OpenAI tier prices start in October


def catalogue_cost(model: str, at: int, context: dict[str, str] | None) -> Decimal:
    """genai-prices' own answer for the grouped fixture's usage (5000 in, 1800 cached, 200 written, 1000 out)."""
    usage = GenaiUsage(input_tokens=5000, cache_read_tokens=1800, cache_write_tokens=200, output_tokens=1000)
    moment = datetime.fromtimestamp(at, UTC)
    return calc_price(
        usage, model, provider_id="openai", genai_request_timestamp=moment, price_context=context
    ).total_price


def test_batch_flex_and_priority_usage_is_read_by_tier_and_priced_as_the_catalogue_prices_each(
    rt: Runtime, vendor: Vendor
) -> None:
    asked: list[list[str]] = []
    pages = openai_bucket_pages(
        {
            NOV_2: [
                grouped_result(),  # batch false, service_tier "default": standard
                grouped_result(batch=True, service_tier="default"),
                grouped_result(model="gpt-5", service_tier="flex"),
                grouped_result(service_tier="priority"),
            ]
        }
    )

    def usage(request):  # type: ignore[no-untyped-def]
        asked.append(request.url.params.get_list("group_by"))
        return pages(request)

    vendor.route(USAGE, usage)
    vendor.route(EMBED, openai_bucket_pages({}))
    vendor.route(COSTS, openai_bucket_pages({}))

    result = sync_source(rt, "openai", since=date(2026, 11, 2), until=date(2026, 11, 2), transport=vendor.transport)

    assert result.ok, result.error
    assert asked[0] == ["project_id", "api_key_id", "model", "batch", "service_tier"]
    stored = rows(rt, "SELECT model, service_tier, " + COST_SUM + " FROM usage_event ORDER BY model, service_tier")
    mini = "gpt-4o-mini-2024-07-18"
    expected = [
        ("gpt-4o-mini-2024-07-18", "batch", catalogue_cost(mini, NOV_2, {"processing": "batch"})),
        ("gpt-4o-mini-2024-07-18", "priority", catalogue_cost(mini, NOV_2, {"service_tier": "priority"})),
        ("gpt-4o-mini-2024-07-18", "standard", catalogue_cost(mini, NOV_2, None)),
        ("gpt-5", "flex", catalogue_cost("gpt-5", NOV_2, {"service_tier": "flex"})),
    ]
    # The test price file takes 10% off OpenAI from June: every part of every price, so the total too.
    assert [(m, t, Decimal(c) / NANO) for m, t, c in stored] == [(m, t, c * Decimal("0.9")) for m, t, c in expected]
    assert expected[0][2] < expected[2][2] < expected[1][2]  # batch < standard < priority: the tiers were applied
    assert result.standard_rated == set()


def test_a_range_synced_before_usage_was_read_by_tier_is_not_read_again(rt: Runtime, vendor: Vendor) -> None:
    serve(vendor, {D1: [grouped_result()]})
    with rt.engine.begin() as conn:
        write_cursor(conn, "openai", {"until": "2026-10-05T00:00:00Z", "width": "1d"}, rt.now())

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 6), transport=vendor.transport)

    assert result.error is not None
    assert "before usage was read by service tier" in result.error
    assert "Backfill only after 2026-10-05T00:00:00Z" in result.error
    assert events(rt) == []
    resumed = sync_source(rt, "openai", until=date(2026, 10, 6), transport=vendor.transport)  # from the cursor: fine
    assert resumed.ok, resumed.error


def test_a_buckets_audio_tokens_are_an_event_of_their_own_priced_at_audio_rates_never_text_ones(
    rt: Runtime, vendor: Vendor
) -> None:
    # gpt-4o-realtime-preview: $5/$20 per 1M text tokens, $40/$80 audio. 1M audio in and 1M audio out at its text
    # rates read $25.00 where the catalogue says $120.00 ($108.00 after the price file's 10% off OpenAI). Its name
    # also matches "gpt-4o-realtime..." as a prefix. gpt-4o-mini's audio has no price in the catalogue: unpriced.
    realtime = grouped_result(
        audio=True,
        model="gpt-4o-realtime-preview",
        input_tokens=1_000_000,
        input_cached_tokens=0,
        input_cache_write_tokens=0,
        output_tokens=1_000_000,
        input_audio_tokens=1_000_000,
        input_cached_audio_tokens=0,
        output_audio_tokens=1_000_000,
        num_model_requests=100,
    )
    serve(vendor, {D1: [grouped_result(audio=True), realtime]})

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    mini = "gpt-4o-mini-2024-07-18"
    assert events(rt) == [
        # The verbatim result: 300 of its 5000 input tokens are audio (100 of the 1800 cached), 100 of its 1000
        # output tokens; its requests stay with the text.
        ("acme", "assist", "", "openai", mini, 4700, 1700, 200, 900, 5, None),
        ("acme", "assist", "", "openai", f"{mini} (audio)", 300, 100, 0, 100, 0, None),
        ("acme", "assist", "", "openai", "gpt-4o-realtime-preview", 0, 0, 0, 0, 100, None),
        ("acme", "assist", "", "openai", "gpt-4o-realtime-preview (audio)", 1_000_000, 0, 0, 1_000_000, 0, None),
    ]
    assert rows(rt, "SELECT model, priced, " + COST_SUM + " FROM usage_event ORDER BY ts, event_id") == [
        (mini, True, femto_cost(rt, mini, D1, 2800, 1700, 200, 900)),  # the text part, priced as before
        (f"{mini} (audio)", False, 0),
        ("gpt-4o-realtime-preview", True, 0),
        ("gpt-4o-realtime-preview (audio)", True, 108_000_000_000),  # not $25.00 (text rates), nor unpriced
    ]
    assert result.unpriced_events == 1
    assert f"have no price (openai/{mini} (audio))" in result.summary()
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCT, thresholds=rt.thresholds)
    assert report.current.unpriced_events == 1
    text_cost = femto_cost(rt, mini, D1, 2800, 1700, 200, 900)
    assert report.current.cogs == Decimal(text_cost + 108_000_000_000) / NANO
    assert rows(rt, "SELECT SUM(input_tokens), SUM(output_tokens), SUM(requests) FROM daily_rollup") == [
        (1_005_000, 1_001_000, 105)  # every token of the buckets, once
    ]

    before = totals(rt)
    again = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert (again.imported, again.duplicates) == (0, 4)  # stable ids: a re-sync counts nothing twice
    assert totals(rt) == before


def test_audio_tokens_above_the_totals_they_are_part_of_fail_the_window_in_one_line(
    rt: Runtime, vendor: Vendor
) -> None:
    serve(vendor, {D1: [grouped_result(audio=True, output_audio_tokens=1001)]})

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error is not None
    assert "output_audio_tokens (1001) exceed output_tokens (1000), which include them" in result.error
    assert "\n" not in result.error
    assert events(rt) == []


def test_a_range_synced_before_audio_was_read_apart_is_not_read_again(rt: Runtime, vendor: Vendor) -> None:
    # Its events hold their audio tokens; a stored event stays, so a re-read would add the audio a second time.
    serve(vendor, {D1: [grouped_result(audio=True)]})
    with rt.engine.begin() as conn:
        write_cursor(conn, "openai", {"grouping": "tiers", "until": "2026-10-05T00:00:00Z", "width": "1d"}, rt.now())

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 6), transport=vendor.transport)

    assert result.error is not None
    assert "before a bucket's audio and image tokens were read apart from its text tokens" in result.error
    assert "Backfill only after 2026-10-05T00:00:00Z" in result.error
    assert events(rt) == []
    resumed = sync_source(rt, "openai", until=date(2026, 10, 6), transport=vendor.transport)  # from the cursor: fine
    assert resumed.ok, resumed.error
    assert rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'openai'") == [
        ('{"grouping": "tiers+audio+image", "until": "2026-10-07T00:00:00Z", "width": "1d"}',)
    ]


def test_a_buckets_image_tokens_are_an_event_of_their_own_priced_at_image_rates_never_text_ones(
    rt: Runtime, vendor: Vendor
) -> None:
    # chatgpt-image-latest: $5/$10 per 1M text tokens, $8/$32 image. 1M image in and 1M image out at its text rates
    # read $15.00 where the catalogue says $40.00 ($36.00 after the price file's 10% off OpenAI).
    image = grouped_result(
        image=True,
        model="chatgpt-image-latest",
        input_tokens=1_000_000,
        input_cached_tokens=0,
        input_cache_write_tokens=0,
        output_tokens=1_000_000,
        input_image_tokens=1_000_000,
        input_cached_image_tokens=0,
        output_image_tokens=1_000_000,
        num_model_requests=100,
    )
    serve(vendor, {D1: [grouped_result(audio=True, image=True), image]})

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    mini = "gpt-4o-mini-2024-07-18"
    assert sorted(events(rt)) == [
        ("acme", "assist", "", "openai", "chatgpt-image-latest", 0, 0, 0, 0, 100, None),
        ("acme", "assist", "", "openai", "chatgpt-image-latest (image)", 1_000_000, 0, 0, 1_000_000, 0, None),
        # The verbatim result: 300 of its 5000 input tokens are audio (100 of the 1800 cached) and 200 image (200
        # cached), 100 of its 1000 output tokens audio and 100 image; its requests stay with the text.
        ("acme", "assist", "", "openai", mini, 4500, 1500, 200, 800, 5, None),
        ("acme", "assist", "", "openai", f"{mini} (audio)", 300, 100, 0, 100, 0, None),
        ("acme", "assist", "", "openai", f"{mini} (image)", 200, 200, 0, 100, 0, None),
    ]
    costs = f"SELECT model, priced, CAST(SUM({COST_SUM}) AS BIGINT) FROM usage_event GROUP BY model, priced"
    assert sorted(rows(rt, costs)) == [
        ("chatgpt-image-latest", True, 0),
        ("chatgpt-image-latest (image)", True, 36_000_000_000),  # not $15.00 (text rates), nor unpriced
        (mini, True, femto_cost(rt, mini, D1, 2800, 1500, 200, 800)),  # the text part, priced as before
        (f"{mini} (audio)", False, 0),  # gpt-4o-mini's audio and images: no price in the catalogue
        (f"{mini} (image)", False, 0),
    ]
    assert result.unpriced_events == 2
    assert "openai/chatgpt-image-latest (image)" not in result.summary()
    assert f"openai/{mini} (image)" in result.summary()
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCT, thresholds=rt.thresholds)
    assert report.current.unpriced_events == 2
    text_cost = femto_cost(rt, mini, D1, 2800, 1500, 200, 800)
    assert report.current.cogs == Decimal(text_cost + 36_000_000_000) / NANO
    assert rows(rt, "SELECT SUM(input_tokens), SUM(output_tokens), SUM(requests) FROM daily_rollup") == [
        (1_005_000, 1_001_000, 105)  # every token of the buckets, once
    ]

    before = totals(rt)
    again = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert (again.imported, again.duplicates) == (0, 5)  # stable ids: a re-sync counts nothing twice
    assert totals(rt) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"output_image_tokens": 1001}, "output_image_tokens (1001) exceed output_tokens (1000), which include them"),
        (
            {"input_cached_image_tokens": 201},
            "input_cached_image_tokens (201) exceed input_image_tokens (200), which include them",
        ),
        (  # each within its total, together above it
            {"output_audio_tokens": 600, "output_image_tokens": 500},
            "output_audio_tokens + output_image_tokens (1100) exceed output_tokens (1000), which include them",
        ),
        (
            {"input_cached_audio_tokens": 300, "input_cached_tokens": 400},
            "input_cached_audio_tokens + input_cached_image_tokens (500) exceed input_cached_tokens (400), which "
            "include them",
        ),
    ],
)
def test_image_tokens_above_the_totals_they_are_part_of_fail_the_window_in_one_line(
    rt: Runtime, vendor: Vendor, changes: dict[str, int], message: str
) -> None:
    serve(vendor, {D1: [grouped_result(audio=True, image=True, **changes)]})

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error is not None
    assert message in result.error
    assert "\n" not in result.error
    assert events(rt) == []


def test_a_backfill_after_the_cursor_leaves_the_cursor_where_it_was(rt: Runtime, vendor: Vendor) -> None:
    nov = {d: int(datetime(2026, 11, d, tzinfo=UTC).timestamp()) for d in (1, 3, 12)}
    serve(vendor, {nov[3]: [grouped_result()], nov[12]: [grouped_result(model="gpt-4o")]})
    first = sync_source(rt, "openai", since=date(2026, 11, 1), until=date(2026, 11, 1), transport=vendor.transport)
    assert first.ok, first.error
    cursor = rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'openai'")  # Nov 2

    back = sync_source(rt, "openai", since=date(2026, 11, 10), transport=vendor.transport)  # Nov 2-9 not read

    assert back.ok, back.error
    assert rows(rt, "SELECT cursor FROM sync_cursor WHERE source = 'openai'") == cursor
    resumed = sync_source(rt, "openai", transport=vendor.transport)
    assert resumed.ok, resumed.error
    assert resumed.start == datetime(2026, 11, 2, tzinfo=UTC)
    assert (resumed.imported, resumed.duplicates) == (1, 1)  # Nov 3 read now; Nov 12 already known
    assert rows(rt, "SELECT CAST(day AS TEXT), model FROM usage_event ORDER BY day") == [
        ("2026-11-03", "gpt-4o-mini-2024-07-18"),
        ("2026-11-12", "gpt-4o"),
    ]


def test_switching_from_hourly_to_daily_buckets_counts_the_cursors_day_once(rt: Runtime, vendor: Vendor) -> None:
    # The same usage both ways: a request at 05:00 UTC on Nov 15 is in the 05:00 hour and in the Nov 15 day.
    h05, h14 = (int(datetime(2026, 11, 15, h, tzinfo=UTC).timestamp()) for h in (5, 14))
    d15 = int(datetime(2026, 11, 15, tzinfo=UTC).timestamp())
    late = grouped_result(input_tokens=7000, model="gpt-4o")  # 14:00, after the hourly sync stopped

    def by_width(hourly: dict[int, list], daily: dict[int, list]) -> Callable[[httpx.Request], Reply]:
        hours = openai_bucket_pages(hourly, width=3600, page_size=24)
        days = openai_bucket_pages(daily, width=DAY)
        return lambda request: (hours if request.url.params["bucket_width"] == "1h" else days)(request)

    vendor.route(USAGE, by_width({h05: [grouped_result()], h14: [late]}, {d15: [grouped_result(), late]}))
    vendor.route(EMBED, by_width({}, {}))
    vendor.route(COSTS, openai_bucket_pages({}))
    hourly = Runtime(rt.settings.model_copy(update={"sync_bucket_width": "1h"}), now_override=rt.now())
    first = sync_source(hourly, "openai", since=date(2026, 11, 15), transport=vendor.transport)  # to 10:00
    assert first.ok, first.error
    daily = Runtime(
        rt.settings.model_copy(update={"sync_bucket_width": "1d"}), now_override=datetime(2026, 11, 17, 12, tzinfo=UTC)
    )

    result = sync_source(daily, "openai", transport=vendor.transport)

    assert result.ok, result.error
    # The rest of Nov 15 is read in hours, as it was synced; days start on Nov 16.
    assert rows(daily, "SELECT CAST(day AS TEXT), model, input_tokens FROM usage_event ORDER BY ts") == [
        ("2026-11-15", "gpt-4o-mini-2024-07-18", 5000),
        ("2026-11-15", "gpt-4o", 7000),
    ]
    assert result.notes == [
        "openai: 2026-11-15T10:00:00Z to 2026-11-16T00:00:00Z read in 1h buckets, the width it was synced with; "
        "1d buckets start at 2026-11-16T00:00:00Z"
    ]
    assert rows(daily, "SELECT cursor FROM sync_cursor") == [
        ('{"grouping": "tiers+audio+image", "until": "2026-11-17T00:00:00Z", "width": "1d"}',)
    ]


def test_a_cost_with_more_digits_than_a_float_holds_is_read_exact(rt: Runtime, vendor: Vendor) -> None:
    # Read through a float (17 significant digits), 0.12345678949999999999 was 0.1234567895.
    serve(vendor, {})
    vendor.route(
        COSTS, with_numbers(openai_bucket_pages({D1: [cost_result("<cost>")]}), {"<cost>": "0.12345678949999999999"})
    )

    batch = fetched(rt, vendor, "openai", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC))

    assert [row["amount_usd"] for row in batch.provider_costs.values()] == [Decimal("0.12345678949999999999")]
    # Stored to the nano, half up once from the digits as written (through a float: 0.123456790).
    assert [stored_cost(row["amount_usd"]) for row in batch.provider_costs.values()] == [Decimal("0.123456789")]


BUCKET = "usage/completions bucket"


@pytest.mark.parametrize(
    ("key", "number", "error"),
    [
        # Through a float each was inf: a count refused as "got inf", a start time a traceback (OverflowError).
        ("input_tokens", "1e999999999", f"{BUCKET} 2026-10-01T00:00:00Z: input_tokens must be at most {COUNT_MAX}, "
         "got 1E+999999999"),
        ("start_time", "1e999999999", f"{BUCKET} start_time must be Unix seconds within the years 1 to 9999, "
         "got 1E+999999999"),
        # An exponent past the largest a Decimal holds (about 10¹⁸).
        ("input_tokens", "1e99999999999999999999", "malformed JSON from GET /organization/usage/completions "
         "(a number out of range)"),
    ],
)  # fmt: skip
def test_a_json_number_past_any_count_or_time_stops_the_sync_in_one_line(
    rt: Runtime, vendor: Vendor, key: str, number: str, error: str
) -> None:
    bucket: dict[str, Any] = {"object": "bucket", "start_time": D1, "end_time": D1 + DAY, "results": [grouped_result()]}
    if key == "start_time":
        bucket[key] = "<n>"
    else:
        bucket["results"][0][key] = "<n>"
    page = {"object": "page", "data": [bucket], "has_more": False, "next_page": None}
    serve(vendor, {})
    vendor.fail(USAGE, Reply(200, raw=json_with_numbers(page, {"<n>": number})))

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error == f"openai: {error}"
    assert events(rt) == []


def test_an_error_body_nested_past_the_parser_is_quoted_as_text_not_a_traceback(rt: Runtime, vendor: Vendor) -> None:
    body = b"[" * 100_000 + b"]" * 100_000  # JSON the parser gives up on: RecursionError, not ValueError
    vendor.fail(USAGE, Reply(400, raw=body, headers={"content-type": "application/json"}))

    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error is not None and result.error.startswith(
        "openai: HTTP 400 from GET /organization/usage/completions: [[["
    )
    assert len(result.error) < 500 and events(rt) == []


@pytest.mark.parametrize("number", ["1e-999999", "0.0000000004", "1e15"])
def test_a_provider_cost_is_kept_to_what_its_column_holds(rt: Runtime, vendor: Vendor, number: str) -> None:
    # NUMERIC(24, 9): on PostgreSQL, 1e-999999 failed the window as costs adding up "past what the database holds"
    # (SQLite kept a float); an amount of 10^15 or more is refused as what it is.
    serve(vendor, {})
    vendor.route(COSTS, with_numbers(openai_bucket_pages({D1: [cost_result("<cost>")]}), {"<cost>": number}))
    result = sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)
    if number == "1e15":
        assert (
            result.error is not None
            and "2026-10-01: $1,000,000,000,000,000 is more than one bill's line can be (at most $" in result.error
        )
        assert rows(rt, "SELECT COUNT(*) FROM provider_cost") == [(0,)]
    else:
        assert result.error is None
        assert [Decimal(str(a)) for (a,) in rows(rt, "SELECT amount_usd FROM provider_cost")] == [Decimal(0)]


def test_a_line_item_listed_twice_is_summed_exactly_and_rounded_once() -> None:
    # Rounded each before adding, two 0.0000000005 were stored as 0.000000002, where their sum rounds to 0.000000001.
    batch = Batch()
    for _ in range(2):
        add_provider_cost(batch, "openai", "b", date(2026, 10, 1), "p", "input_tokens", Decimal("0.0000000005"))
    assert [stored_cost(row["amount_usd"]) for row in batch.provider_costs.values()] == [Decimal("0.000000001")]


def test_a_days_costs_are_read_again_for_the_next_days_and_replace_what_was_stored(rt: Runtime, vendor: Vendor) -> None:
    nov14 = int(datetime(2026, 11, 14, tzinfo=UTC).timestamp())
    output = {**cost_result(5), "line_item": "output_tokens"}
    costs: dict[int, list] = {nov14: [cost_result(60), output]}  # Nov 14 as the Costs API shows it early on Nov 15
    serve(vendor, {}, costs=costs)
    asked: list[tuple[str, str]] = []
    route = vendor.routes[COSTS]

    def costs_api(request: httpx.Request) -> Reply:
        q = request.url.params
        asked.append(tuple(str(datetime.fromtimestamp(int(q[k]), UTC).date()) for k in ("start_time", "end_time")))
        return route(request)

    vendor.route(COSTS, costs_api)
    first = sync_source(
        rt,
        "openai",
        since=date(2026, 11, 14),
        now=datetime(2026, 11, 15, 2, 30, tzinfo=UTC),
        transport=vendor.transport,
    )
    assert first.ok, first.error
    # A day later the vendor has revised Nov 14 (its input cost final, its output line gone) and billed Nov 15.
    costs[nov14] = [cost_result(100)]
    costs[nov14 + DAY] = [cost_result(7)]
    later = datetime(2026, 11, 16, 2, 30, tzinfo=UTC)

    second = sync_source(rt, "openai", now=later, transport=vendor.transport)
    again = sync_source(rt, "openai", now=later, transport=vendor.transport)  # nothing new settled: nothing read

    assert second.ok and again.ok, (second.error, again.error)
    # The last 3 complete days' costs are read with the new day's usage; the stored rows of those days are replaced.
    assert asked == [("2026-11-14", "2026-11-15"), ("2026-11-13", "2026-11-16")]
    assert rows(rt, "SELECT CAST(day AS TEXT), line_item, amount_usd FROM provider_cost ORDER BY day") == [
        ("2026-11-14", "input_tokens", 100),
        ("2026-11-15", "input_tokens", 7),
    ]


def test_costs_are_read_again_only_for_the_days_set(rt: Runtime, vendor: Vendor) -> None:
    serve(vendor, {})
    asked: list[str] = []
    route = vendor.routes[COSTS]

    def costs_api(request: httpx.Request) -> Reply:
        asked.append(str(datetime.fromtimestamp(int(request.url.params["start_time"]), UTC).date()))
        return route(request)

    vendor.route(COSTS, costs_api)
    none = Runtime(rt.settings.model_copy(update={"sync_cost_revisit_days": 0}), now_override=rt.now())
    sync_source(none, "openai", since=date(2026, 11, 10), until=date(2026, 11, 10), transport=vendor.transport)

    assert sync_source(none, "openai", transport=vendor.transport).ok  # from the cursor (Nov 11) to Nov 14

    assert asked == ["2026-11-10", "2026-11-11"]
