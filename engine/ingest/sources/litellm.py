"""A LiteLLM proxy's spend logs → one usage event per request, costed by LiteLLM.

The paying customer is `end_user` (the `user` field of the request), not `user` (the key's internal owner).
`prompt_tokens` already includes cached tokens; the cached count lives only in
metadata.usage_object.prompt_tokens_details.cached_tokens. `spend` is USD, a JSON number kept digit for digit
as written (vendor numbers are read as Decimals). `/spend/logs` has no pagination and rows arrive late (batched
writes), so the sync reads one UTC day per request and always re-reads the hour before its cursor; request ids
make re-reads free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from config.settings import Settings
from engine.ingest.sources.base import (
    DAY,
    FIRST_SYNC_DAYS,
    Batch,
    Context,
    Window,
    count,
    floor_to,
    leaves_a_gap,
    parse_rfc3339,
    rfc3339,
    source_cost,
    split,
    stable_id,
    zero_cost_note,
)
from engine.ingest.sources.http import Fetcher, SourceError

NAME = "litellm"
OVERLAP = timedelta(hours=1)  # rows written late by LiteLLM's batched writer are picked up by the next run


def per_request_windows(
    ctx: Context,
    cursor: Mapping[str, Any] | None,
    since: datetime | None,
    until: datetime | None,
    source: str,
) -> list[Window]:
    """UTC-day windows from `since` (or the cursor less an overlap) up to `until` (or now)."""
    if since is not None:
        start = since
    elif cursor and cursor.get("until"):
        start = parse_rfc3339(cursor["until"], "sync cursor", source) - OVERLAP
    else:
        start = floor_to(ctx.now - timedelta(days=FIRST_SYNC_DAYS), DAY)
    end = min(until, ctx.now) if until is not None else ctx.now
    return split(start, end, DAY, DAY)


def per_request_cursor(window: Window, cursor: Mapping[str, Any] | None, source: str) -> dict[str, Any]:
    previous = parse_rfc3339(cursor["until"], "sync cursor", source) if cursor and cursor.get("until") else None
    if leaves_a_gap(window, previous):
        return dict(cursor or {})
    return {"until": rfc3339(window.end if previous is None or window.end > previous else previous)}


class RequestLogs:
    """Windows and cursors for per-request logs read a day at a time (LiteLLM, Langfuse)."""

    name: str
    reads_usage = True

    def windows(
        self, ctx: Context, cursor: Mapping[str, Any] | None, since: datetime | None, until: datetime | None
    ) -> list[Window]:
        return per_request_windows(ctx, cursor, since, until, self.name)

    def cursor_after(self, window: Window, cursor: Mapping[str, Any] | None, ctx: Context) -> dict[str, Any]:
        return per_request_cursor(window, cursor, self.name)

    def keep(self, batch: Batch, event: dict[str, Any] | None, window: Window) -> None:
        """Add a log's event when it started inside the window (a day's logs reach past a window's edges)."""
        if event is not None and window.start <= parse_rfc3339(event["ts"], "startTime", self.name) < window.end:
            batch.read += 1
            batch.events.append(event)


class LiteLLMConnector(RequestLogs):
    name = NAME

    def missing(self, settings: Settings) -> str | None:
        if not settings.litellm_url:
            return "set LITELLM_URL (the proxy's base URL) and LITELLM_API_KEY (a master or admin key)"
        if not settings.litellm_api_key:
            return "set LITELLM_API_KEY (a master or admin key)"
        return None

    def fetcher(
        self, settings: Settings, *, transport: httpx.BaseTransport | None, sleep: Callable[[float], None]
    ) -> Fetcher:
        assert settings.litellm_url and settings.litellm_api_key is not None
        key = settings.litellm_api_key.get_secret_value()
        return Fetcher(
            NAME,
            settings.litellm_url,
            headers={"Authorization": f"Bearer {key}"},
            secrets=(key,),
            transport=transport,
            sleep=sleep,
            timeout=120.0,  # one unpaginated day of logs can be large
        )

    def fetch(self, fetcher: Fetcher, window: Window, ctx: Context) -> Batch:
        day = floor_to(window.start, DAY)
        params = {
            "start_date": day.date().isoformat(),
            "end_date": (day + DAY).date().isoformat(),
            "summarize": "false",
        }
        rows = fetcher.get_json("spend/logs", params)
        if isinstance(rows, Mapping) and isinstance(rows.get("data"), list):  # newer proxies wrap the rows
            rows = rows["data"]
        if not isinstance(rows, list):
            raise SourceError(NAME, f"spend/logs: expected a list of rows, got {type(rows).__name__}")
        batch = Batch()
        for row in rows:
            if not isinstance(row, Mapping):
                raise SourceError(NAME, "spend/logs: a row must be an object")
            self.keep(batch, spend_row_event(row, ctx, batch), window)
        zero_cost_note(NAME, batch)
        return batch


def spend_row_event(row: Mapping[str, Any], ctx: Context, batch: Batch) -> dict[str, Any] | None:
    """One LiteLLM_SpendLogs row → a usage event mapping (CSV column names)."""
    request_id = row.get("request_id")
    if not request_id:
        raise SourceError(NAME, "spend/logs: a row has no request_id")
    where = f"spend/logs row {request_id}"
    ts = parse_rfc3339(row.get("startTime"), f"{where}: startTime", NAME)
    metadata = _obj(row.get("metadata"))
    usage = _obj(metadata.get("usage_object"))
    details = _obj(usage.get("prompt_tokens_details"))
    prompt = count(row.get("prompt_tokens"), f"{where}: prompt_tokens", NAME)
    cached = count(details.get("cached_tokens"), f"{where}: cached_tokens", NAME)
    cache_write = count(usage.get("cache_creation_input_tokens"), f"{where}: cache_creation_input_tokens", NAME)
    if cached + cache_write > prompt:
        # Some LiteLLM versions leave Anthropic cache writes out of prompt_tokens; count them in the total.
        prompt += cache_write
    if cached + cache_write > prompt:
        raise SourceError(
            NAME,
            f"{where}: cached ({cached}) + cache-write ({cache_write}) tokens exceed prompt_tokens ({prompt})",
        )
    end_user = row.get("end_user") or None
    target = ctx.mapping.resolve(NAME, [("end_users", end_user)])
    if not target.mapped:
        batch.unmapped[target.feature] += 1
    event_id = stable_id(NAME, request_id)
    output = count(row.get("completion_tokens"), f"{where}: completion_tokens", NAME)
    # LiteLLM already priced the call; an absent spend, or 0 for tokens, leaves pricing to the price book.
    # A response served from LiteLLM's own cache costs nothing (its spend is 0, its tokens the original call's):
    # that 0 is a price, kept. Any other 0 with tokens is a model missing from LiteLLM's cost map (source_cost).
    hit = str(row.get("cache_hit")).lower() == "true"
    spend, tokens = row.get("spend"), 0 if hit else prompt + output
    cost = source_cost(spend, f"{where}: spend", NAME, tokens=tokens, event_id=event_id, batch=batch)
    return {
        "event_id": event_id,
        "ts": rfc3339(ts) if ts.microsecond == 0 else ts.isoformat(),
        "customer": target.customer,
        "product": target.product,
        "feature": target.feature,
        "provider": str(row.get("custom_llm_provider") or ""),
        "model": str(row.get("model") or row.get("model_group") or ""),
        "input_tokens": prompt,
        "cached_input_tokens": cached,
        "cache_write_tokens": cache_write,
        "output_tokens": output,
        "requests": 1,
        "cost_usd": cost,
    }


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


CONNECTOR = LiteLLMConnector()
