"""Langfuse observations with usage and cost → one usage event per generation, the customer from `userId`.

`usageDetails` keys vary by provider, and there `input` EXCLUDES cached tokens: cache reads and writes sit
beside it under their own keys (`cache_read_input_tokens`, `input_cached_tokens`,
`cache_creation_input_tokens`, ...). Events follow the CSV convention: input_tokens is the sum of every
input-side key. Cost is Langfuse's own (`totalCost`, USD, kept digit for digit as the JSON writes it); without it
the price book prices the tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from config.settings import Settings
from engine.ingest.sources.base import (
    Batch,
    Context,
    Window,
    count,
    parse_rfc3339,
    records,
    rfc3339,
    source_cost,
    stable_id,
    zero_cost_note,
)
from engine.ingest.sources.http import Fetcher, SourceError
from engine.ingest.sources.litellm import OVERLAP, RequestLogs

NAME = "langfuse"
PAGE_SIZE = 1000
_SKIP_KEYS = {"total"}


def split_usage(details: Mapping[str, Any], where: str) -> tuple[int, int, int, int]:
    """(total input, cached input, cache write, output) from a usageDetails mapping of any provider's keys."""
    total_in = cached = write = output = 0
    for key, value in details.items():
        name = str(key).lower()
        if name in _SKIP_KEYS:
            continue
        tokens = count(value, f"{where}: usageDetails.{key}", NAME)
        if name.startswith("output") or name.startswith("completion"):
            output += tokens
        elif "input" in name or name.startswith("prompt") or "cache" in name:
            total_in += tokens
            if "cache_read" in name or "cached" in name:
                cached += tokens
            elif "cache_creation" in name or "cache_write" in name:
                write += tokens
    return total_in, cached, write, output


def _next_cursor(page: Any) -> list[tuple[str, Any]] | None:
    meta = page.get("meta") if isinstance(page, Mapping) else None
    data = page.get("data") if isinstance(page, Mapping) else None
    if isinstance(meta, Mapping) and meta.get("cursor") and data:
        return [("cursor", meta["cursor"])]
    return None


class LangfuseConnector(RequestLogs):
    name = NAME

    def missing(self, settings: Settings) -> str | None:
        if not settings.langfuse_public_key or not settings.langfuse_secret_key:
            return "set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (and MARGINBOT_LANGFUSE_BASE_URL when self-hosted)"
        return None

    def fetcher(
        self, settings: Settings, *, transport: httpx.BaseTransport | None, sleep: Callable[[float], None]
    ) -> Fetcher:
        assert settings.langfuse_public_key and settings.langfuse_secret_key is not None
        secret = settings.langfuse_secret_key.get_secret_value()
        return Fetcher(
            NAME,
            settings.langfuse_base_url,
            auth=(settings.langfuse_public_key, secret),
            secrets=(secret,),
            transport=transport,
            sleep=sleep,
        )

    def fetch(self, fetcher: Fetcher, window: Window, ctx: Context) -> Batch:
        params = [
            ("fields", "basic,usage,model"),
            ("fromStartTime", rfc3339(window.start)),
            ("toStartTime", rfc3339(window.end)),
            ("limit", PAGE_SIZE),
        ]
        batch = Batch()
        # A generation is created when it starts and given its usage when it ends; one read in between would be
        # stored with part of its usage, and an event is stored once. One still running (endTime null: a core field,
        # always sent) that started within the hour the next sync reads again (OVERLAP) is left for that sync.
        recent = ctx.now - OVERLAP
        running = 0
        for page in fetcher.pages("api/public/v2/observations", params, _next_cursor):
            for obs in records(page, "data", "observations page", NAME):
                if not isinstance(obs, Mapping):
                    raise SourceError(NAME, "observations: an observation must be an object")
                if "endTime" in obs and obs["endTime"] is None and _started(obs) >= recent:
                    running += 1
                    continue
                self.keep(batch, observation_event(obs, ctx, batch), window)
        zero_cost_note(NAME, batch)
        if running:
            batch.notes.append(
                f"{NAME}: {running} observation(s) started in the last hour had not ended (no endTime), so their "
                "usage may not be complete: left for the next sync, which reads that hour again"
            )
        return batch


def _started(obs: Mapping[str, Any]) -> datetime:
    return parse_rfc3339(obs.get("startTime"), f"observation {obs.get('id')}: startTime", NAME)


def observation_event(obs: Mapping[str, Any], ctx: Context, batch: Batch) -> dict[str, Any] | None:
    """One observation → a usage event mapping, or None when it carries neither usage nor cost."""
    obs_id = obs.get("id")
    if not obs_id:
        raise SourceError(NAME, "observations: an observation has no id")
    where = f"observation {obs_id}"
    details = obs.get("usageDetails") or {}
    if not isinstance(details, Mapping):
        raise SourceError(NAME, f"{where}: usageDetails must be an object")
    total_in, cached, write, output = split_usage(details, where)
    cost = obs.get("totalCost")
    if cost is None and isinstance(obs.get("costDetails"), Mapping):
        cost = obs["costDetails"].get("total")
    if not (total_in or output) and cost is None:
        return None
    ts = parse_rfc3339(obs.get("startTime"), f"{where}: startTime", NAME)
    target = ctx.mapping.resolve(NAME, [("users", obs.get("userId") or None)])
    if not target.mapped:
        batch.unmapped[target.feature] += 1
    event_id = stable_id(NAME, obs_id)
    # Langfuse's own cost; none, or 0 for tokens of a model it has no price for, leaves pricing to the price book. A 0
    # for a model it matched to prices (a self-hosted one priced at 0 there) is a price, kept.
    matched = bool(obs.get("modelId") or obs.get("internalModelId"))
    priced = matched and any(obs.get(k) is not None for k in ("inputPrice", "outputPrice", "totalPrice"))
    tokens = 0 if priced else total_in + output
    given = source_cost(cost, f"{where}: totalCost", NAME, tokens=tokens, event_id=event_id, batch=batch)
    return {
        "event_id": event_id,
        "ts": ts.isoformat(),
        "customer": target.customer,
        "product": target.product,
        "feature": target.feature,
        "provider": "",  # Langfuse does not say; the price book finds the model's provider when it must price
        "model": str(obs.get("model") or ""),
        "input_tokens": total_in,
        "cached_input_tokens": cached,
        "cache_write_tokens": write,
        "output_tokens": output,
        "requests": 1,
        "cost_usd": given,
        "task_id": None,
    }


CONNECTOR = LangfuseConnector()
