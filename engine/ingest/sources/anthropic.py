"""Anthropic Admin API: usage report (messages) → usage events; cost report → provider_cost.

Anthropic splits input: total input = uncached_input_tokens + cache_read_input_tokens + cache_creation
(ephemeral_5m + ephemeral_1h). Events follow the CSV convention (input_tokens = total input, cached and
cache-write counted inside it; cache_write_1h_tokens the 1-hour part of the writes, billed 2× input instead of
1.25×). Server-side web searches (server_tool_use.web_search_requests) are counted and priced; usage is grouped
by service tier, so Message Batches usage is priced at batch prices. The usage report has no request count, so
requests is 0 (unknown), not a guess.
Cost report amounts are decimal strings in cents: "123.78912" is $1.2378912.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from config.settings import Settings
from engine.ingest.sources.base import (
    UNKNOWN_MODEL,
    Batch,
    Context,
    Window,
    add_provider_cost,
    cost_range,
    count,
    merge_event,
    money,
    parse_rfc3339,
    records,
    rfc3339,
    stable_id,
    tier_of,
    utc_day,
)
from engine.ingest.sources.http import Fetcher, SourceError, next_page_token, v1_fetcher
from engine.ingest.sources.openai import ProviderBuckets, window_width
from engine.vocab import ServiceTier

NAME = "anthropic"
API_VERSION = "2023-06-01"
DEFAULT_WORKSPACE = "default"  # workspace_id is null for the organization's default workspace
_PAGE_LIMIT = {"1d": 31, "1h": 168}
_EXTRA_KEYS = ("service_tier", "context_window", "inference_geo", "speed", "account_id", "service_account_id")
# Anthropic's service tiers as the usage report names them.
TIERS = {
    "standard": ServiceTier.STANDARD,
    "batch": ServiceTier.BATCH,
    "priority": ServiceTier.PRIORITY,
    "priority_on_demand": ServiceTier.PRIORITY,
    "flex": ServiceTier.FLEX,
    "flex_discount": ServiceTier.FLEX,
}


class AnthropicConnector(ProviderBuckets):
    name = NAME

    def missing(self, settings: Settings) -> str | None:
        return None if settings.anthropic_admin_key else "set ANTHROPIC_ADMIN_KEY (an Admin API key, sk-ant-admin...)"

    def fetcher(
        self, settings: Settings, *, transport: httpx.BaseTransport | None, sleep: Callable[[float], None]
    ) -> Fetcher:
        assert settings.anthropic_admin_key is not None
        key = settings.anthropic_admin_key.get_secret_value()
        return v1_fetcher(
            NAME,
            settings.anthropic_base_url,
            key,
            {"x-api-key": key, "anthropic-version": API_VERSION},
            transport=transport,
            sleep=sleep,
        )

    def fetch(self, fetcher: Fetcher, window: Window, ctx: Context) -> Batch:
        batch = Batch()
        width = window_width(window, ctx, NAME, batch.notes)
        params: list[tuple[str, Any]] = [
            ("starting_at", rfc3339(window.start)),
            ("ending_at", rfc3339(window.end)),
            ("bucket_width", width),
            ("group_by[]", "workspace_id"),
            ("group_by[]", "api_key_id"),
            ("group_by[]", "model"),
            ("group_by[]", "service_tier"),
            ("limit", _PAGE_LIMIT[width]),
        ]
        for page in fetcher.pages("organizations/usage_report/messages", params, next_page_token()):
            for bucket in records(page, "data", "usage report page", NAME):
                _usage_bucket(bucket, width, ctx, batch)
        day_start, day_end = cost_range(window, batch)
        params = [
            ("starting_at", rfc3339(day_start)),
            ("ending_at", rfc3339(day_end)),
            ("group_by[]", "workspace_id"),
            ("group_by[]", "description"),
            ("limit", 31),
        ]
        for page in fetcher.pages("organizations/cost_report", params, next_page_token()):
            for bucket in records(page, "data", "cost report page", NAME):
                _cost_bucket(bucket, batch)
        return batch


def _usage_bucket(bucket: Any, width: str, ctx: Context, batch: Batch) -> None:
    if not isinstance(bucket, Mapping):
        raise SourceError(NAME, f"usage report: a bucket must be an object, got {bucket!r:.80}")
    start = parse_rfc3339(bucket.get("starting_at"), "usage report bucket starting_at", NAME)
    ts = rfc3339(start)
    where = f"usage report bucket {ts}"
    events: dict[str, dict[str, Any]] = {}
    for result in records(bucket, "results", where, NAME):
        if not isinstance(result, Mapping):
            raise SourceError(NAME, f"{where}: a result must be an object")
        batch.read += 1
        creation = result.get("cache_creation") or {}
        if not isinstance(creation, Mapping):
            raise SourceError(NAME, f"{where}: cache_creation must be an object")
        uncached = count(result.get("uncached_input_tokens"), f"{where}: uncached_input_tokens", NAME)
        cache_read = count(result.get("cache_read_input_tokens"), f"{where}: cache_read_input_tokens", NAME)
        write_5m = count(creation.get("ephemeral_5m_input_tokens"), f"{where}: ephemeral_5m_input_tokens", NAME)
        write_1h = count(creation.get("ephemeral_1h_input_tokens"), f"{where}: ephemeral_1h_input_tokens", NAME)
        output = count(result.get("output_tokens"), f"{where}: output_tokens", NAME)
        tools = result.get("server_tool_use") or {}
        if not isinstance(tools, Mapping):
            raise SourceError(NAME, f"{where}: server_tool_use must be an object")
        searches = count(tools.get("web_search_requests"), f"{where}: web_search_requests", NAME)
        total_input = uncached + cache_read + write_5m + write_1h
        if not (total_input or output or searches):
            continue
        workspace = result.get("workspace_id") or DEFAULT_WORKSPACE
        key, model = result.get("api_key_id"), result.get("model")
        target = ctx.mapping.resolve(NAME, [("api_keys", key), ("workspaces", workspace)])
        if not target.mapped:
            batch.unmapped[target.feature] += 1
        extra = [f"{k}={result[k]}" for k in _EXTRA_KEYS if result.get(k) is not None]
        event = {
            "event_id": stable_id(NAME, "messages", width, ts, workspace, key, model, *extra),
            "ts": ts,
            "customer": target.customer,
            "product": target.product,
            "feature": target.feature,
            "provider": "anthropic",
            "model": model or UNKNOWN_MODEL,
            "input_tokens": total_input,
            "cached_input_tokens": cache_read,
            "cache_write_tokens": write_5m + write_1h,
            "cache_write_1h_tokens": write_1h,
            "output_tokens": output,
            "requests": 0,
            "web_searches": searches,
            "service_tier": tier_of(result.get("service_tier"), TIERS, NAME, batch.notes),
        }
        merge_event(events, event)
    batch.events.extend(events.values())


def _cost_bucket(bucket: Any, batch: Batch) -> None:
    if not isinstance(bucket, Mapping):
        raise SourceError(NAME, f"cost report: a bucket must be an object, got {bucket!r:.80}")
    start = parse_rfc3339(bucket.get("starting_at"), "cost report bucket starting_at", NAME)
    where = f"cost report bucket {rfc3339(start)}"
    for result in records(bucket, "results", where, NAME):
        if not isinstance(result, Mapping):
            raise SourceError(NAME, f"{where}: a result must be an object")
        currency = str(result.get("currency") or "USD").upper()
        if currency != "USD":
            raise SourceError(NAME, f"{where}: amount in {currency!r}; only USD is supported")
        if not isinstance(result.get("amount"), str | int | float | Decimal):
            raise SourceError(NAME, f"{where}: `amount` must be a decimal string in cents")
        dollars = money(result["amount"], f"{where}: amount", NAME) / Decimal(100)
        workspace = result.get("workspace_id") or DEFAULT_WORKSPACE
        line_item = result.get("description") or "/".join(
            str(result.get(k) or "") for k in ("model", "cost_type", "token_type")
        )
        add_provider_cost(batch, NAME, rfc3339(start), utc_day(start), workspace, line_item, dollars)


CONNECTOR = AnthropicConnector()
