"""OpenAI organization Usage API (completions, embeddings) → usage events; Costs API → provider_cost.

Buckets are aggregates: one event per bucket × (project, API key, model, batch, service tier), `requests` =
num_model_requests, the timestamp the bucket start. OpenAI's `input_tokens` already include cached and cache-write
tokens, which is the CSV convention, so they pass through unchanged. Its totals include audio and image tokens
too, which are priced several times the text ones: a bucket's audio tokens (`input_audio_tokens`, of them
`input_cached_audio_tokens`, `output_audio_tokens`) are taken out of its event and stored as a second event of the
model "<model> (audio)" (vocab.AUDIO_PART), its image tokens (`input_image_tokens`, of them
`input_cached_image_tokens`, `output_image_tokens`) as a third, "<model> (image)" (vocab.IMAGE_PART), each priced
at the model's own prices for its medium, never at text rates (unpriced, counted and named, where the catalogue has
none: engine.pricing.book). Its requests stay with the text event.
Usage of the Batch API (`batch: true`) is priced at batch prices, flex and priority usage at theirs (`service_tier`).
No cost is attached: the price book prices these events, and what OpenAI billed (Costs API, daily) goes to
provider_cost for `marginbot reconcile`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from config.settings import Settings
from engine.ingest.events import shown
from engine.ingest.sources.base import (
    DAY,
    FIRST_SYNC_DAYS,
    HOUR,
    UNKNOWN_MODEL,
    Batch,
    Context,
    Window,
    add_provider_cost,
    cost_range,
    count,
    floor_to,
    from_unix,
    leaves_a_gap,
    merge_event,
    money,
    parse_rfc3339,
    records,
    rfc3339,
    split,
    stable_id,
    tier_of,
    utc_day,
)
from engine.ingest.sources.http import Fetcher, SourceError, next_page_token, v1_fetcher
from engine.vocab import AUDIO_PART, IMAGE_PART, ServiceTier

NAME = "openai"
USAGE_KINDS = ("completions", "embeddings")
# Buckets must be over (and OpenAI's numbers settled) before they are read: a bucket is stored once, by id.
SETTLE = timedelta(hours=2)
_WIDTH = {"1d": DAY, "1h": HOUR}
_PAGE_LIMIT = {"1d": 31, "1h": 24}
_EXTRA_KEYS = ("user_id", "batch", "service_tier")
# OpenAI's service tiers (`default` is its word for standard; `auto` requests are reported as the tier served).
TIERS = {
    "default": ServiceTier.STANDARD,
    "auto": ServiceTier.STANDARD,
    "standard": ServiceTier.STANDARD,
    "flex": ServiceTier.FLEX,
    "priority": ServiceTier.PRIORITY,
}
# How usage is grouped, kept in the cursor: events read under another grouping have other ids (a bucket's usage
# split by tier, or not), so re-reading a range synced under the old grouping would count its usage twice.
GROUPING = "tiers"
# OpenAI's: by tier, and a bucket's audio and image tokens apart (an event each). A range synced before keeps them
# inside the text events, which a re-read would not replace (a stored event stays): they would count twice.
OPENAI_GROUPING = "tiers+audio+image"
# What each grouping added, for the line refusing to re-read a range synced before it.
_GROUPED = {
    GROUPING: "usage was read by service tier (batch, flex, priority)",
    OPENAI_GROUPING: "a bucket's audio and image tokens were read apart from its text tokens",
}
# The media whose tokens a completions result counts inside its totals (input_<medium>_tokens, of them
# input_cached_<medium>_tokens, and output_<medium>_tokens), each read into an event of its own: the medium, which
# is also the last part of the event's stable id, and the suffix of its model.
_MEDIA = (("audio", AUDIO_PART), ("image", IMAGE_PART))


def bucket_width(settings: Settings) -> str:
    """Daily buckets when days are cut in UTC; hourly otherwise, so each hour lands on its local day."""
    if settings.sync_bucket_width:
        return settings.sync_bucket_width
    return "1d" if settings.timezone in ("UTC", "Etc/UTC") else "1h"


def provider_windows(
    ctx: Context,
    cursor: Mapping[str, Any] | None,
    since: datetime | None,
    until: datetime | None,
    width: str,
    source: str,
    grouping: str = GROUPING,
) -> list[Window]:
    """Whole buckets from the cursor (or `since`) to the last settled bucket (or `until`)."""
    step = _WIDTH[width]
    settled = floor_to(ctx.now - SETTLE, step)
    if since is not None:
        start = floor_to(since, step)
    elif cursor and cursor.get("until"):
        start = parse_rfc3339(cursor["until"], "sync cursor", source)
    else:
        start = floor_to(ctx.now - timedelta(days=FIRST_SYNC_DAYS), DAY)
    end = min(settled, floor_to(until, step)) if until is not None else settled
    # After a switch from hourly to daily buckets the cursor can sit inside a day: a day bucket would count the
    # hours of it already stored as hourly events twice. Daily buckets start at the next day; the rest of the
    # cursor's day is read at the width it was synced with (once that day is over).
    synced_width = cursor.get("width") if cursor else None
    gap: list[Window] = []
    if since is None and synced_width in _WIDTH and synced_width != width and floor_to(start, step) != start:
        boundary = floor_to(start, step) + step
        if end < boundary:
            return []
        gap, start = [Window(start, boundary, synced_width)], boundary
    # Events of another width have other ids: re-reading a synced range at a new width would count it twice.
    if cursor and cursor.get("width") not in (None, width) and cursor.get("until"):
        synced_to = parse_rfc3339(cursor["until"], "sync cursor", source)
        if start < synced_to:
            raise SourceError(
                source,
                f"was synced with {cursor['width']} buckets up to {rfc3339(synced_to)}; re-reading that "
                f"range with {width} buckets would count it twice. Backfill only after "
                f"{rfc3339(synced_to)} or keep the width",
            )
    # A cursor from before usage was grouped by service tier has no `grouping`; one from before OpenAI's audio
    # tokens were read apart says "tiers".
    if cursor and cursor.get("grouping") != grouping and cursor.get("until"):
        synced_to = parse_rfc3339(cursor["until"], "sync cursor", source)
        if start < synced_to:
            change = _GROUPED[GROUPING if cursor.get("grouping") is None else grouping]
            raise SourceError(
                source,
                f"was synced up to {rfc3339(synced_to)} before {change}; re-reading that range now would count "
                f"its usage twice. Backfill only after {rfc3339(synced_to)}",
            )
    # A transaction per day of hourly buckets, per month of daily ones: small to retry, big enough to be fast.
    windows = gap + split(start, end, DAY if width == "1h" else timedelta(days=31), DAY)
    return revisit_costs(windows, ctx) if since is None else windows


def revisit_costs(windows: list[Window], ctx: Context) -> list[Window]:
    """`windows`, the first reading the costs of the last `sync_cost_revisit_days` complete UTC days again.

    A vendor revises a day's cost for a while after the day ends (the Costs API showed $60 for a day two hours after
    it, $100 a day later): read once with the day's usage, the first figure stayed, and reconcile called the rest
    drift for ever. Usage is not read again: its buckets are read settled, and an event is stored once by its id."""
    days = ctx.settings.sync_cost_revisit_days
    if not windows or not days:
        return windows
    first = windows[0]
    revisit = floor_to(ctx.now, DAY) - days * DAY
    if floor_to(first.start, DAY) <= revisit:
        return windows
    return [replace(first, costs_from=revisit), *windows[1:]]


def provider_cursor(
    window: Window, cursor: Mapping[str, Any] | None, width: str, grouping: str = GROUPING
) -> dict[str, Any]:
    previous = parse_rfc3339(cursor["until"], "sync cursor", NAME) if cursor and cursor.get("until") else None
    if leaves_a_gap(window, previous):
        return dict(cursor or {})
    until = window.end if previous is None or window.end > previous else previous
    return {"until": rfc3339(until), "width": width, "grouping": grouping}


def window_width(window: Window, ctx: Context, source: str, notes: list[str]) -> str:
    """The bucket width a window is read at; a window at another width than the configured one is noted."""
    configured = bucket_width(ctx.settings)
    if window.width is None or window.width == configured:
        return configured
    notes.append(
        f"{source}: {rfc3339(window.start)} to {rfc3339(window.end)} read in {window.width} buckets, the width it "
        f"was synced with; {configured} buckets start at {rfc3339(window.end)}"
    )
    return window.width


class ProviderBuckets:
    """Windows and cursors for admin usage APIs read in time buckets (OpenAI, Anthropic)."""

    name: str
    reads_usage = True
    grouping = GROUPING

    def windows(
        self, ctx: Context, cursor: Mapping[str, Any] | None, since: datetime | None, until: datetime | None
    ) -> list[Window]:
        return provider_windows(ctx, cursor, since, until, bucket_width(ctx.settings), self.name, self.grouping)

    def cursor_after(self, window: Window, cursor: Mapping[str, Any] | None, ctx: Context) -> dict[str, Any]:
        return provider_cursor(window, cursor, window.width or bucket_width(ctx.settings), self.grouping)


class OpenAIConnector(ProviderBuckets):
    name = NAME
    grouping = OPENAI_GROUPING

    def missing(self, settings: Settings) -> str | None:
        return None if settings.openai_admin_key else "set OPENAI_ADMIN_KEY (an organization admin key)"

    def fetcher(
        self, settings: Settings, *, transport: httpx.BaseTransport | None, sleep: Callable[[float], None]
    ) -> Fetcher:
        assert settings.openai_admin_key is not None
        key = settings.openai_admin_key.get_secret_value()
        return v1_fetcher(
            NAME, settings.openai_base_url, key, {"Authorization": f"Bearer {key}"}, transport=transport, sleep=sleep
        )

    def fetch(self, fetcher: Fetcher, window: Window, ctx: Context) -> Batch:
        batch = Batch()
        width = window_width(window, ctx, NAME, batch.notes)
        for kind in USAGE_KINDS:
            params: list[tuple[str, Any]] = [
                ("start_time", int(window.start.timestamp())),
                ("end_time", int(window.end.timestamp())),
                ("bucket_width", width),
                ("group_by", "project_id"),
                ("group_by", "api_key_id"),
                ("group_by", "model"),
                ("group_by", "batch"),
                ("group_by", "service_tier"),
                ("limit", _PAGE_LIMIT[width]),
            ]
            for page in fetcher.pages(f"organization/usage/{kind}", params, next_page_token()):
                for bucket in records(page, "data", f"usage/{kind} page", NAME):
                    _usage_bucket(bucket, kind, width, ctx, batch)
        day_start, day_end = cost_range(window, batch)
        params = [
            ("start_time", int(day_start.timestamp())),
            ("end_time", int(day_end.timestamp())),
            ("bucket_width", "1d"),
            ("group_by", "project_id"),
            ("group_by", "line_item"),
            ("limit", 180),
        ]
        for page in fetcher.pages("organization/costs", params, next_page_token()):
            for bucket in records(page, "data", "costs page", NAME):
                _cost_bucket(bucket, batch)
        return batch


def _tokens(result: Mapping[str, Any], name: str, where: str) -> int:
    value = result.get(name)
    if type(value) is int and value >= 0:  # the common case, without building an error label
        return value
    return count(value, f"{where}: {name}", NAME)


def _media(
    result: Mapping[str, Any], input_tokens: int, cached: int, output: int, where: str
) -> list[tuple[str, str, tuple[int, int, int]]]:
    """A result's (medium, model suffix, (input, cached input, output tokens)) of each of _MEDIA (0 if absent), each
    count a part of its total, as are their sums."""
    media = []
    for medium, suffix in _MEDIA:
        names = (f"input_{medium}_tokens", f"input_cached_{medium}_tokens", f"output_{medium}_tokens")
        part_in, part_cached, part_out = (_tokens(result, name, where) for name in names)
        for part, whole, part_name, whole_name in (
            (part_in, input_tokens, names[0], "input_tokens"),
            (part_cached, part_in, names[1], names[0]),
            (part_cached, cached, names[1], "input_cached_tokens"),
            (part_out, output, names[2], "output_tokens"),
        ):
            if part > whole:
                raise SourceError(
                    NAME, f"{where}: {part_name} ({part}) exceed {whole_name} ({whole}), which include them"
                )
        media.append((medium, suffix, (part_in, part_cached, part_out)))
    # Each within its total, together they can still exceed it: the text event would hold fewer than none.
    for i, (whole, whole_name) in enumerate(
        ((input_tokens, "input_tokens"), (cached, "input_cached_tokens"), (output, "output_tokens"))
    ):
        parts = sum(counts[i] for _, _, counts in media)
        if parts > whole:
            label = " + ".join(f"{whole_name.removesuffix('_tokens')}_{medium}_tokens" for medium, _, _ in media)
            raise SourceError(NAME, f"{where}: {label} ({parts}) exceed {whole_name} ({whole}), which include them")
    return media


def _usage_bucket(bucket: Any, kind: str, width: str, ctx: Context, batch: Batch) -> None:
    if not isinstance(bucket, Mapping):
        raise SourceError(NAME, f"usage/{kind}: a bucket must be an object, got {bucket!r:.80}")
    start = from_unix(bucket.get("start_time"), f"usage/{kind} bucket start_time", NAME)
    ts = rfc3339(start)
    epoch = int(start.timestamp())
    where = f"usage/{kind} bucket {ts}"
    events: dict[str, dict[str, Any]] = {}
    targets = ctx.cache.setdefault(NAME, {})  # one lookup per (key, project) per sync, not per bucket
    for result in records(bucket, "results", where, NAME):
        if not isinstance(result, Mapping):
            raise SourceError(NAME, f"{where}: a result must be an object")
        batch.read += 1
        input_tokens = _tokens(result, "input_tokens", where)
        output = _tokens(result, "output_tokens", where)
        requests = _tokens(result, "num_model_requests", where)
        if not (input_tokens or output or requests):
            continue
        project, key, model = result.get("project_id"), result.get("api_key_id"), result.get("model")
        target = targets.get((key, project))
        if target is None:
            target = targets[(key, project)] = ctx.mapping.resolve(NAME, [("api_keys", key), ("projects", project)])
        if not target.mapped:
            batch.unmapped[target.feature] += 1
        extra = [f"{k}={result[k]}" for k in _EXTRA_KEYS if result.get(k) is not None]
        batch_api = result.get("batch")
        if batch_api is not None and not isinstance(batch_api, bool):
            raise SourceError(NAME, f"{where}: batch must be true or false, got {shown(batch_api)}")
        tier = ServiceTier.BATCH if batch_api else tier_of(result.get("service_tier"), TIERS, NAME, batch.notes)
        cached = _tokens(result, "input_cached_tokens", where)
        media = _media(result, input_tokens, cached, output, where)
        event = {
            "event_id": stable_id(NAME, kind, width, epoch, project, key, model, *extra),
            "ts": ts,
            "customer": target.customer,
            "product": target.product,
            "feature": target.feature,
            "provider": "openai",
            "model": model or UNKNOWN_MODEL,
            "service_tier": tier,
            "input_tokens": input_tokens - sum(counts[0] for _, _, counts in media),
            "cached_input_tokens": cached - sum(counts[1] for _, _, counts in media),
            "cache_write_tokens": _tokens(result, "input_cache_write_tokens", where),
            "output_tokens": output - sum(counts[2] for _, _, counts in media),
            "requests": requests,
        }
        if event["input_tokens"] or event["output_tokens"] or requests:  # else all of it was audio or image
            merge_event(events, event)
        for medium, suffix, (part_in, part_cached, part_out) in media:
            if part_in or part_out:
                merge_event(
                    events,
                    event
                    | {
                        "event_id": stable_id(NAME, kind, width, epoch, project, key, model, *extra, medium),
                        "model": f"{model or UNKNOWN_MODEL}{suffix}",
                        "input_tokens": part_in,
                        "cached_input_tokens": part_cached,
                        "cache_write_tokens": 0,
                        "output_tokens": part_out,
                        "requests": 0,  # the bucket's requests are counted once, on its text event
                    },
                )
    batch.events.extend(events.values())


def _cost_bucket(bucket: Any, batch: Batch) -> None:
    if not isinstance(bucket, Mapping):
        raise SourceError(NAME, f"costs: a bucket must be an object, got {bucket!r:.80}")
    start = from_unix(bucket.get("start_time"), "costs bucket start_time", NAME)
    for result in records(bucket, "results", f"costs bucket {rfc3339(start)}", NAME):
        amount = result.get("amount") if isinstance(result, Mapping) else None
        if not isinstance(amount, Mapping):
            raise SourceError(NAME, f"costs bucket {rfc3339(start)}: a result has no `amount` object")
        currency = str(amount.get("currency") or "usd").lower()
        if currency != "usd":
            raise SourceError(NAME, f"costs bucket {rfc3339(start)}: amount in {currency!r}; only USD is supported")
        value = money(amount.get("value"), f"costs bucket {rfc3339(start)}: amount.value", NAME)
        project = result.get("project_id") or ""
        line_item = result.get("line_item") or ""
        add_provider_cost(batch, NAME, int(start.timestamp()), utc_day(start), project, line_item, value)


CONNECTOR = OpenAIConnector()
