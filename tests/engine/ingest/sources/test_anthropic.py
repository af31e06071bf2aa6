"""Anthropic Admin API sync: split input converted to the CSV convention, cost report cents → dollars."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from engine.ingest.sources.base import stored_cost
from engine.ingest.sync import sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import ANTHROPIC_KEY, Reply, Vendor, fetched, fixture, rows, with_numbers

USAGE = "/v1/organizations/usage_report/messages"
COSTS = "/v1/organizations/cost_report"


def paged(name: str, starting_at: str) -> object:
    """The verbatim fixture moved to `starting_at`, then (for its next_page token) an empty last page."""

    def handle(request):  # type: ignore[no-untyped-def]
        if request.url.params.get("page"):
            assert request.url.params["page"] == "2019-12-27T18:11:19.117Z"  # the opaque token, sent back
            return Reply(body={"data": [], "has_more": False, "next_page": None})
        page = fixture(name)
        page["data"][0]["starting_at"] = starting_at
        return Reply(body=page)

    return handle


def catalogue_cost(model: str, at: datetime, context: dict[str, str] | None = None, **usage: int) -> Decimal:
    """What genai-prices itself says the usage costs: the independent answer the sync must agree with."""
    return calc_price(
        GenaiUsage(**usage), model, provider_id="anthropic", genai_request_timestamp=at, price_context=context
    ).total_price


def test_split_input_1h_cache_writes_and_web_searches_are_stored_and_priced_as_the_catalogue_prices_them(
    rt: Runtime, vendor: Vendor
) -> None:
    usage = paged("anthropic_usage_report_messages.json", "2026-10-01T00:00:00Z")
    asked: list[list[str]] = []

    def usage_report(request):  # type: ignore[no-untyped-def]
        asked.append(request.url.params.get_list("group_by[]"))
        return usage(request)  # type: ignore[operator]

    vendor.route(USAGE, usage_report)
    vendor.route(COSTS, paged("anthropic_cost_report.json", "2026-10-01T00:00:00Z"))  # type: ignore[arg-type]

    result = sync_source(rt, "anthropic", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert asked[0] == ["workspace_id", "api_key_id", "model", "service_tier"]  # usage read per service tier
    assert rows(
        rt,
        "SELECT customer, product, provider, model, input_tokens, cached_input_tokens, cache_write_tokens, "
        "cache_write_1h_tokens, output_tokens, requests, web_searches, service_tier FROM usage_event",
    ) == [
        # 1500 uncached + 200 cache reads + 500 (5m) + 1000 (1h) cache writes = 3200 total input; 10 web searches
        ("acme", "agent", "anthropic", "claude-opus-4-6", 3200, 200, 1500, 1000, 500, 0, 10, "standard")
    ]
    expected = catalogue_cost(
        "claude-opus-4-6",
        datetime(2026, 10, 1, tzinfo=UTC),
        input_tokens=3200,
        cache_read_tokens=200,
        cache_write_tokens=1500,
        cache_write_1h_tokens=1000,
        output_tokens=500,
        web_searches=10,
    )
    # by hand: 1500×$5 + 200×$0.5 + 500×$6.25 + 1000×$10 (1-hour writes) + 500×$25 per Mtok, + 10 × $10/1000
    assert expected == Decimal("0.133225")
    with rt.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds)
    assert report.current.cogs == expected
    assert report.cogs_by_type["cache_write_1h"] == Decimal("0.01")
    assert report.cogs_by_type["web_search"] == Decimal("0.1")
    assert [
        (p, proj, item, Decimal(str(a)))
        for p, proj, item, a in rows(rt, "SELECT provider, project, line_item, amount_usd FROM provider_cost")
    ] == [
        (
            "anthropic",
            "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
            "Claude Sonnet 4 Usage - Input Tokens",
            Decimal("1.2378912"),
        )
    ]


def test_message_batches_usage_is_priced_at_the_catalogue_batch_prices(rt: Runtime, vendor: Vendor) -> None:
    page = fixture("anthropic_usage_report_messages.json")
    page["data"][0]["starting_at"] = "2026-11-02T00:00:00Z"  # the catalogue's batch prices start 2026-10-14
    page["data"][0]["results"][0]["service_tier"] = "batch"
    page["has_more"] = False
    vendor.route(USAGE, lambda request: Reply(body=page))
    vendor.route(COSTS, lambda request: Reply(body={"data": [], "has_more": False}))

    result = sync_source(rt, "anthropic", since=date(2026, 11, 2), until=date(2026, 11, 2), transport=vendor.transport)

    assert result.ok, result.error
    assert rows(rt, "SELECT service_tier FROM usage_event") == [("batch",)]
    usage = dict(input_tokens=3200, cache_read_tokens=200, cache_write_tokens=1500, cache_write_1h_tokens=1000)
    at = datetime(2026, 11, 2, tzinfo=UTC)
    batch = catalogue_cost("claude-opus-4-6", at, {"processing": "batch"}, output_tokens=500, web_searches=10, **usage)
    standard = catalogue_cost("claude-opus-4-6", at, output_tokens=500, web_searches=10, **usage)
    assert batch < standard
    with rt.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds)
    assert report.current.cogs == batch


def test_a_tier_without_a_price_is_priced_at_standard_rates_and_said_and_an_unknown_tier_word_is_noted(
    rt: Runtime, vendor: Vendor
) -> None:
    page = fixture("anthropic_usage_report_messages.json")
    page["data"][0]["starting_at"] = "2026-10-01T00:00:00Z"
    first = page["data"][0]["results"][0]
    first["service_tier"] = "priority"  # the catalogue has no Anthropic priority prices
    page["data"][0]["results"].append({**copy.deepcopy(first), "service_tier": "turbo", "api_key_id": "k2"})
    page["has_more"] = False
    vendor.route(USAGE, lambda request: Reply(body=page))
    vendor.route(COSTS, lambda request: Reply(body={"data": [], "has_more": False}))

    result = sync_source(rt, "anthropic", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert sorted(rows(rt, "SELECT service_tier FROM usage_event")) == [("priority",), ("standard",)]
    summary = result.summary()
    assert "priced at standard rates: anthropic/claude-opus-4-6 priority" in summary
    assert "service tier 'turbo' is unknown to marginbot; its usage is priced at standard rates" in summary
    with rt.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds)
    assert report.current.cogs == 2 * Decimal("0.133225")


def test_a_record_without_a_model_is_imported_as_unknown_and_unpriced_without_losing_the_window(
    rt: Runtime, vendor: Vendor
) -> None:
    page = fixture("anthropic_usage_report_messages.json")
    page["data"][0]["starting_at"] = "2026-10-01T00:00:00Z"
    first = page["data"][0]["results"][0]
    page["data"][0]["results"].append({**copy.deepcopy(first), "model": None, "api_key_id": "k2"})
    page["has_more"] = False
    vendor.route(USAGE, lambda request: Reply(body=page))
    vendor.route(COSTS, lambda request: Reply(body={"data": [], "has_more": False}))

    result = sync_source(rt, "anthropic", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert sorted(rows(rt, "SELECT model, priced FROM usage_event")) == [("claude-opus-4-6", True), ("unknown", False)]
    assert result.unpriced_events == 1
    assert "anthropic/unknown" in result.summary()


def test_default_workspace_and_console_usage_are_kept_and_reported_unmapped(rt: Runtime, vendor: Vendor) -> None:
    page = fixture("anthropic_usage_report_messages.json")
    page["data"][0]["starting_at"] = "2026-10-01T00:00:00Z"
    page["data"][0]["results"][0].update(workspace_id=None, api_key_id=None)
    page["has_more"] = False
    vendor.route(USAGE, lambda request: Reply(body=page))
    vendor.route(COSTS, lambda request: Reply(body={"data": [], "has_more": False}))

    result = sync_source(rt, "anthropic", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    label = "anthropic api_key=(none) workspace=default"
    assert rows(rt, "SELECT customer, feature, input_tokens FROM usage_event") == [("unmapped", label, 3200)]
    assert result.unmapped == {label: 1}


def test_403_names_anthropic_and_the_permission_without_the_key(rt: Runtime, vendor: Vendor) -> None:
    vendor.fail(USAGE, Reply(403, {"error": {"type": "permission_error", "message": "not an admin key"}}))

    result = sync_source(rt, "anthropic", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.error == (
        "anthropic: HTTP 403 from GET /organizations/usage_report/messages: the credentials were refused "
        "(the key lacks the permission)"
    )
    assert ANTHROPIC_KEY not in result.summary()
    assert vendor.seen_auth == [ANTHROPIC_KEY]  # sent as x-api-key, nowhere else
    assert rows(rt, "SELECT COUNT(*) FROM usage_event") == [(0,)]


def test_a_cost_amount_written_as_a_json_number_with_more_digits_than_a_float_holds_is_read_exact(
    rt: Runtime, vendor: Vendor
) -> None:
    # Read through a float (17 significant digits), 12.345678949999999999 cents was 12.34567895: $0.1234567895.
    costs = paged("anthropic_cost_report.json", "2026-10-01T00:00:00Z")

    def cost_report(request):  # type: ignore[no-untyped-def]
        reply = costs(request)  # type: ignore[operator]
        for bucket in reply.body["data"]:
            bucket["results"][0]["amount"] = "<cents>"
        return reply

    vendor.route(USAGE, paged("anthropic_usage_report_messages.json", "2026-10-01T00:00:00Z"))  # type: ignore[arg-type]
    vendor.route(COSTS, with_numbers(cost_report, {"<cents>": "12.345678949999999999"}))

    batch = fetched(rt, vendor, "anthropic", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC))

    assert [row["amount_usd"] for row in batch.provider_costs.values()] == [Decimal("0.12345678949999999999")]
    # Stored to the nano, half up once from the digits as written (through a float: 0.123456790).
    assert [stored_cost(row["amount_usd"]) for row in batch.provider_costs.values()] == [Decimal("0.123456789")]


def test_a_days_costs_are_read_again_at_the_next_sync_and_replace_what_was_stored(rt: Runtime, vendor: Vendor) -> None:
    amounts = {"Claude Sonnet 4 Usage - Input Tokens": "6000", "Claude Sonnet 4 Usage - Output Tokens": "500"}

    def cost_report(request):  # type: ignore[no-untyped-def]
        start = datetime.fromisoformat(request.url.params["starting_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(request.url.params["ending_at"].replace("Z", "+00:00"))
        result = fixture("anthropic_cost_report.json")["data"][0]["results"][0]
        data = []
        while start < end:
            day = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            lines = [{**result, "description": d, "amount": a} for d, a in amounts.items()]
            data.append({"starting_at": day, "results": lines if day == "2026-11-14T00:00:00Z" else []})
            start += timedelta(days=1)
        return Reply(body={"data": data, "has_more": False, "next_page": None})

    vendor.route(USAGE, lambda request: Reply(body={"data": [], "has_more": False, "next_page": None}))
    vendor.route(COSTS, cost_report)
    first = sync_source(
        rt,
        "anthropic",
        since=date(2026, 11, 14),
        now=datetime(2026, 11, 15, 2, 30, tzinfo=UTC),
        transport=vendor.transport,
    )
    amounts.clear()
    amounts["Claude Sonnet 4 Usage - Input Tokens"] = "10000"  # revised: $100, its output line gone

    second = sync_source(rt, "anthropic", now=datetime(2026, 11, 16, 2, 30, tzinfo=UTC), transport=vendor.transport)

    assert first.ok and second.ok, (first.error, second.error)
    assert rows(rt, "SELECT CAST(day AS TEXT), line_item, amount_usd FROM provider_cost ORDER BY day") == [
        ("2026-11-14", "Claude Sonnet 4 Usage - Input Tokens", 100)
    ]
