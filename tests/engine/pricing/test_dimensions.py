"""Every dimension providers bill, priced as genai-prices prices it: 1-hour cache writes, web searches, batch /
flex / priority tiers (and saying so when a tier has no price), the price file's own keys for them, model identity
across spellings, and long-context tiers chosen per request."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from engine.pricing.book import PriceBook, PriceFileError, Usage
from engine.vocab import PriceSource, ServiceTier

NANO = Decimal(10**9)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def usage(when: str, provider: str, model: str, **counts: Any) -> Usage:
    return Usage(int(at(when).timestamp()), provider, model, **counts)


def catalogue(provider: str, model: str, when: str, context: dict[str, str] | None = None, **counts: int) -> Decimal:
    """genai-prices called directly: the independent answer."""
    return calc_price(
        GenaiUsage(**counts), model, provider_id=provider, genai_request_timestamp=at(when), price_context=context
    ).total_price


def ours(book: PriceBook, u: Usage) -> Decimal:
    costs = book.price(u)
    assert costs.priced
    return Decimal(costs.total) / NANO


# (provider, model, tier, time): batch, flex and priority where the catalogue has their prices (from October 2026).
TIERED = [
    ("anthropic", "claude-opus-4-6", ServiceTier.BATCH, "2026-11-02T10:00:00"),
    ("anthropic", "claude-sonnet-4-5", ServiceTier.BATCH, "2026-11-02T10:00:00"),
    ("openai", "gpt-4o", ServiceTier.BATCH, "2026-11-02T10:00:00"),
    ("openai", "gpt-4o", ServiceTier.PRIORITY, "2026-11-02T10:00:00"),
    ("openai", "gpt-5", ServiceTier.FLEX, "2026-11-02T10:00:00"),
    ("openai", "gpt-5-mini", ServiceTier.PRIORITY, "2026-11-02T10:00:00"),
    ("openai", "gpt-4o", ServiceTier.STANDARD, "2026-11-02T10:00:00"),
]


@pytest.mark.parametrize(("provider", "model", "tier", "when"), TIERED)
def test_each_tier_costs_what_the_catalogue_says_with_its_price_context(
    provider: str, model: str, tier: ServiceTier, when: str
) -> None:
    counts = dict(input_tokens=12_345, cache_read_tokens=2_000, cache_write_tokens=1_500, output_tokens=3_210)
    book = PriceBook()
    mine = usage(
        when,
        provider,
        model,
        input_tokens=12_345,
        cached_input_tokens=2_000,
        cache_write_tokens=1_500,
        output_tokens=3_210,
        service_tier=tier,
    )
    assert ours(book, mine) == catalogue(provider, model, when, tier.price_context or None, **counts)
    rates = book.rates(provider, model, at(when), tier)
    assert rates is not None and rates.tier_priced and rates.tier is tier


def test_one_hour_cache_writes_and_web_searches_cost_what_the_catalogue_says() -> None:
    # The shared Anthropic fixture's result: $0.029475 when every write was priced as a 5-minute one and the
    # searches dropped; $0.133225 with both.
    book = PriceBook()
    mine = usage(
        "2025-08-01T00:00:00",
        "anthropic",
        "claude-opus-4-6",
        input_tokens=3200,
        cached_input_tokens=200,
        cache_write_tokens=1500,
        cache_write_1h_tokens=1000,
        output_tokens=500,
        requests=0,
        web_searches=10,
    )
    costs = book.price(mine)
    assert Decimal(costs.total) / NANO == Decimal("0.133225")
    assert (
        costs.total
        == catalogue(
            "anthropic",
            "claude-opus-4-6",
            "2025-08-01T00:00:00",
            input_tokens=3200,
            cache_read_tokens=200,
            cache_write_tokens=1500,
            cache_write_1h_tokens=1000,
            output_tokens=500,
            web_searches=10,
        )
        * NANO
    )
    # 500 × $6.25 and 1000 × $10 per Mtok; 10 searches × $10 per thousand
    assert (costs.cache_write, costs.cache_write_1h, costs.web_search) == (3_125_000, 10_000_000, 100_000_000)


def test_a_tier_the_catalogue_has_no_price_for_is_priced_at_standard_rates_and_says_so() -> None:
    book = PriceBook()
    # Before 2026-10-14 the catalogue has no batch prices for gpt-4o: genai-prices falls back silently.
    batch = book.rates("openai", "gpt-4o", at("2026-09-01T00:00:00"), ServiceTier.BATCH)
    standard = book.rates("openai", "gpt-4o", at("2026-09-01T00:00:00"))
    assert batch is not None and standard is not None
    assert (batch.input, batch.output, batch.tier_priced) == (standard.input, standard.output, False)
    assert not book.tier_priced("openai", "gpt-4o", "batch", int(at("2026-09-01T00:00:00").timestamp()))
    # Anthropic has no flex prices at all.
    assert (
        book.rates("anthropic", "claude-sonnet-4-5", at("2026-11-02T00:00:00"), ServiceTier.FLEX).tier_priced is False
    )  # type: ignore[union-attr]


def test_a_tiers_multiplier_prices_a_tier_the_catalogue_lacks_and_never_replaces_one_it_has() -> None:
    book = PriceBook.from_mapping(
        {"tiers": [{"provider": "openai", "tier": "batch", "multiplier": 0.5, "effective_from": "2024-04-15"}]}
    )
    early = book.rates("openai", "gpt-4o", at("2026-09-01T00:00:00"), ServiceTier.BATCH)
    assert early is not None and early.tier_priced and early.multiplier == Decimal("0.5")
    assert (early.input, early.output) == (1_250_000_000, 5_000_000_000)  # $2.50 and $10 per Mtok, halved
    late = book.rates("openai", "gpt-4o", at("2026-11-02T00:00:00"), ServiceTier.BATCH)
    assert late is not None and late.multiplier is None  # the catalogue's own batch prices, from 2026-10-14
    # Per the catalogue's batch variant cache reads keep their standard price; a multiplier would have halved them.
    assert late.cached_input == 1_250_000_000


def test_an_override_prices_every_spelling_of_its_model_and_its_own_new_keys() -> None:
    book = PriceBook.from_mapping(
        {
            "models": [
                {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5-20250929",
                    "effective_from": "2026-01-01",
                    "input_per_mtok": 2,
                    "cache_write_per_mtok": 2.5,
                    "cache_write_1h_per_mtok": 4,
                    "output_per_mtok": 10,
                    "web_search_per_k": 8,
                }
            ],
            "tiers": [
                {"provider": "anthropic", "tier": "priority", "multiplier": 1.25, "effective_from": "2026-01-01"}
            ],
        }
    )
    counts = dict(input_tokens=10_000, cache_write_tokens=3_000, cache_write_1h_tokens=1_000, output_tokens=1_000)
    for spelling in (
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-latest",
        "anthropic/claude-sonnet-4-5",
    ):
        costs = book.price(usage("2026-10-01T00:00:00", "anthropic", spelling, web_searches=5, **counts))
        # 7000 × $2 + 2000 × $2.5 + 1000 × $4 + 1000 × $10 per Mtok + 5 × $8 per thousand
        assert (costs.uncached_input, costs.cache_write, costs.cache_write_1h, costs.output, costs.web_search) == (
            14_000_000,
            5_000_000,
            4_000_000,
            10_000_000,
            40_000_000,
        ), spelling
    priority = book.rates("anthropic", "claude-sonnet-4-5", at("2026-10-01T00:00:00"), ServiceTier.PRIORITY)
    assert priority is not None and priority.source is PriceSource.OVERRIDE
    assert (priority.input, priority.web_search) == (2_500_000_000, 8_000_000_000_000)  # tokens × 1.25, not searches
    # A model the catalogue does not resolve is matched exactly, as spelled.
    assert book.rates("self-hosted", "claude-sonnet-4-5-20250929", at("2026-10-01T00:00:00")) is None


def test_an_override_without_a_web_search_price_takes_the_catalogues_and_a_model_without_one_is_unpriced() -> None:
    book = PriceBook.from_mapping(
        {
            "models": [
                {
                    "provider": "openai",
                    "model": "gpt-4o",
                    "effective_from": "2026-01-01",
                    "input_per_mtok": 1,
                    "output_per_mtok": 4,
                },
                {
                    "provider": "self-hosted",
                    "model": "distill",
                    "effective_from": "2026-01-01",
                    "input_per_mtok": 1,
                    "output_per_mtok": 4,
                },
            ]
        }
    )
    searched = book.price(usage("2026-10-01T00:00:00", "openai", "gpt-4o-2024-08-06", input_tokens=10, web_searches=3))
    assert (searched.web_search, searched.priced) == (30_000_000, True)  # the catalogue's $10 per thousand
    nowhere = book.price(usage("2026-10-01T00:00:00", "self-hosted", "distill", input_tokens=1_000_000, web_searches=3))
    assert (nowhere.uncached_input, nowhere.web_search, nowhere.priced) == (1_000_000_000, 0, False)


@pytest.mark.parametrize(
    ("provider", "model", "same_as"),
    [
        ("openai", "openai/gpt-4o", ("openai", "gpt-4o")),
        ("", "openai/gpt-4o", ("openai", "gpt-4o")),
        ("google", "models/gemini-2.5-flash", ("google", "gemini-2.5-flash")),
        ("", "models/gemini-2.5-flash", ("google", "gemini-2.5-flash")),
        ("anthropic", "claude-sonnet-4-5@20250929", ("anthropic", "claude-sonnet-4-5")),
        (
            "bedrock",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ("aws", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ),
    ],
)
def test_provider_prefixed_and_vendor_spelled_ids_price_like_the_model(
    provider: str, model: str, same_as: tuple[str, str]
) -> None:
    book = PriceBook()
    counts = dict(input_tokens=40_000, cached_input_tokens=5_000, output_tokens=2_000)
    spelled = book.price(usage("2026-10-01T00:00:00", provider, model, **counts))
    plain = book.price(usage("2026-10-01T00:00:00", *same_as, **counts))
    assert spelled.priced and spelled == plain


def test_a_discount_written_for_a_dated_id_covers_the_undated_alias() -> None:
    book = PriceBook.from_mapping(
        {
            "discounts": [
                {"provider": "openai", "model": "gpt-4o-2024-08-06", "percent": 20, "effective_from": "2026-01-01"}
            ]
        }
    )
    assert (
        book.price(usage("2026-10-01T00:00:00", "openai", "gpt-4o", input_tokens=1_000_000)).uncached_input
        == 2_000_000_000
    )


def test_two_spellings_of_one_model_from_the_same_day_are_refused() -> None:
    entry = {"provider": "anthropic", "effective_from": "2026-01-01", "input_per_mtok": 1, "output_per_mtok": 2}
    with pytest.raises(PriceFileError, match="are the same model \\(anthropic/claude-sonnet-4-5\\)"):
        PriceBook.from_mapping(
            {"models": [{**entry, "model": "claude-sonnet-4-5"}, {**entry, "model": "claude-sonnet-4-5-20250929"}]}
        )


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (
            {"provider": "openai", "tier": "turbo", "multiplier": 1, "effective_from": "2026-01-01"},
            "`tier` must be one of flex, priority, batch",
        ),
        (
            {"provider": "openai", "tier": "standard", "multiplier": 1, "effective_from": "2026-01-01"},
            "standard prices are the base",
        ),
        (
            {"provider": "openai", "tier": "batch", "multiplier": 0, "effective_from": "2026-01-01"},
            "`multiplier` must be above 0",
        ),
        ({"provider": "openai", "tier": "batch", "effective_from": "2026-01-01"}, "`multiplier` is required"),
        (
            {"provider": "openai", "tier": "batch", "multiplier": 0.5, "effective_from": "2026-01-01", "model": "x"},
            "unknown key(s) ['model']",
        ),
    ],
)
def test_a_bad_tiers_entry_names_itself_and_the_field(tiers: dict[str, Any], message: str) -> None:
    with pytest.raises(
        PriceFileError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        PriceBook.from_mapping({"tiers": [tiers]}, origin="prices.toml")


def test_a_long_context_tier_is_chosen_by_one_requests_input_not_the_events_total() -> None:
    book = PriceBook()
    # 30 requests of 50k tokens in one event (a provider's hourly bucket): $3/Mtok, not the $6 above 200k.
    bucket = book.price(
        usage("2026-10-01T00:00:00", "anthropic", "claude-sonnet-4-5", input_tokens=1_500_000, requests=30)
    )
    assert bucket.uncached_input == 4_500_000_000
    one = book.price(usage("2026-10-01T00:00:00", "anthropic", "claude-sonnet-4-5", input_tokens=250_000))
    assert one.uncached_input == 1_500_000_000  # one request over 200k: $6/Mtok
