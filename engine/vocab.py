"""The domain's words, typed. Each is a StrEnum: it compares equal to (and serialises as) its plain string, so
stored values, JSON keys and CSV cells keep their spelling while code asks the enum instead of repeating strings.
"""

from __future__ import annotations

from enum import StrEnum


class Word(StrEnum):
    """A StrEnum that hashes as its string does, in C: these words are dict keys and fields of values hashed on hot
    paths (a contract's terms, per period and per day), and Enum's own __hash__ is Python code, 3-4x slower."""

    __hash__ = str.__hash__


class Plan(Word):
    """How a contract charges."""

    SEAT = "seat"  # seats × seat price a month
    FLAT = "flat"  # a platform fee a month
    USAGE = "usage"  # units × unit price
    HYBRID = "hybrid"  # fee + seats + units over the included ones

    @property
    def is_metered(self) -> bool:
        """Whether revenue follows usage (a unit price applies)."""
        return self in (Plan.USAGE, Plan.HYBRID)

    @property
    def has_seats(self) -> bool:
        return self in (Plan.SEAT, Plan.HYBRID)

    @property
    def has_fee(self) -> bool:
        """Whether the platform fee counts (a seat plan's fee column is ignored)."""
        return self is not Plan.SEAT


class Unit(Word):
    """What a metered plan counts."""

    REQUEST = "request"
    TASK = "task"
    TOKENS_1K = "1k_tokens"  # input + output tokens, in thousands


class SplitBasis(Word):
    """What revenue for every product of a customer (a seat or flat contract naming no product, an invoice line
    naming none) is split across its products by, over the days it covers (engine.reports.usage.UnitCounter.split).

    Requests when every product with usage on those days has its requests counted; otherwise cost to serve. Some
    sources count no requests (Anthropic's usage report gives tokens alone; OTLP spans and CSV rows may omit them):
    split by requests, a product used only through them would get none of the revenue, however much it cost, and
    show COGS with no revenue beside another product's absurd margin."""

    REQUESTS = "requests"
    COGS = "cogs"  # each product's COGS on those days: the shared revenue then earns every product the same margin


class Status(Word):
    """Where a margin sits against the bands (MARGINBOT_BREACH_PCT, MARGINBOT_HEALTHY_PCT)."""

    HEALTHY = "healthy"
    WATCH = "watch"  # between the breach line and healthy
    BREACH = "breach"
    NO_REVENUE = "no_revenue"  # no revenue, so no margin


class SubjectKind(Word):
    """What an answer, an alert or a what-if is about."""

    CUSTOMER = "customer"
    PRODUCT = "product"
    PORTFOLIO = "portfolio"


class CostType(Word):
    """The parts of COGS, in the order every rollup, report and JSON `cogs_by_type` uses.

    `source` is inference cost the source already priced (cost_usd); `request_fee` a per-request catalogue price.
    `cache_write` is the cache writes kept 5 minutes (every write a model prices one way), `cache_write_1h` those
    kept an hour (Anthropic bills them 2× input instead of 1.25×); `web_search` the provider's server-side searches.
    """

    UNCACHED_INPUT = "uncached_input"
    CACHED_INPUT = "cached_input"
    CACHE_WRITE = "cache_write"
    CACHE_WRITE_1H = "cache_write_1h"
    OUTPUT = "output"
    REQUEST_FEE = "request_fee"
    WEB_SEARCH = "web_search"
    SOURCE = "source"
    RETRIEVAL = "retrieval"
    RERANK = "rerank"
    COMPUTE = "compute"

    @property
    def column(self) -> str:
        """The nano-USD column holding this part in events and rollups."""
        return f"cost_{self.value}"


class ServiceTier(Word):
    """How a provider served (and bills) a request: the usage column `service_tier`.

    Batch is the providers' asynchronous batch API (about half price); flex is slower, cheaper capacity; priority
    faster, dearer capacity. Standard is everything else (OpenAI says "default", Anthropic "standard").
    """

    STANDARD = "standard"
    FLEX = "flex"
    PRIORITY = "priority"
    BATCH = "batch"

    @property
    def price_context(self) -> dict[str, str]:
        """The genai-prices price context that selects this tier's price variant (empty: the standard prices)."""
        if self is ServiceTier.STANDARD:
            return {}
        if self is ServiceTier.BATCH:
            return {"processing": "batch"}
        return {"service_tier": self.value}


class PriceSource(Word):
    """Where an event's price came from (`marginbot prices`)."""

    OVERRIDE = "override"  # the price file's [[models]]
    CATALOGUE = "catalogue"  # genai-prices (after the price file's discounts)
    SOURCE_PRICED = "source-priced"  # the source sent cost_usd
    UNIT_COSTS = "unit-costs"  # no tokens to price: only the price file's [unit_costs] (retrieval, rerank, compute)
    UNPRICED = "unpriced"  # nothing prices it: flagged, never $0


# The model of an event holding only the audio, or image, tokens of a vendor's usage record (the OpenAI Usage API
# reports a bucket's audio and image tokens inside its totals): "gpt-realtime (audio)", "chatgpt-image-latest (image)".
# The catalogue never resolves such a name (MEDIA_PARTS): the model's text prices would be several times too low
# (audio 4-8x, chatgpt-image-latest's image output $32/M against $10/M of text). The price book prices it at the
# model's own prices for that medium (engine.pricing.book._media_rates), or a [[models]] override of the name as
# spelled; with neither the event is unpriced (counted and named).
AUDIO_PART = " (audio)"
IMAGE_PART = " (image)"
MEDIA_PARTS = (AUDIO_PART, IMAGE_PART)
