"""Anthropic Admin API sync: split input converted to the CSV convention, cost report cents → dollars."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.ingest.sync import sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import ANTHROPIC_KEY, Reply, Vendor, fixture, rows

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


def test_split_input_becomes_total_input_with_cached_and_cache_write_and_cents_become_dollars(
    rt: Runtime, vendor: Vendor
) -> None:
    vendor.route(USAGE, paged("anthropic_usage_report_messages.json", "2026-10-01T00:00:00Z"))  # type: ignore[arg-type]
    vendor.route(COSTS, paged("anthropic_cost_report.json", "2026-10-01T00:00:00Z"))  # type: ignore[arg-type]

    result = sync_source(rt, "anthropic", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert rows(
        rt,
        "SELECT customer, product, provider, model, input_tokens, cached_input_tokens, cache_write_tokens, "
        "output_tokens, requests FROM usage_event",
    ) == [
        # 1500 uncached + 200 cache reads + 500 (5m) + 1000 (1h) cache writes = 3200 total input
        ("acme", "agent", "anthropic", "claude-opus-4-6", 3200, 200, 1500, 500, 0)
    ]
    rates = rt.prices.rates("anthropic", "claude-opus-4-6", result.start)  # type: ignore[arg-type]
    assert rates is not None
    femto = (1500 * rates.input, 200 * rates.cached_input, 1500 * rates.cache_write, 500 * rates.output)
    expected = sum((f + 500_000) // 1_000_000 for f in femto)  # type: ignore[operator]
    with rt.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds)
    assert report.current.cogs == Decimal(expected) / 10**9
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
