"""The price book: overrides, dated discounts, catalogue tiers, time-of-day prices, unit costs, bad files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.pricing.book import Costs, PriceBook, PriceFileError, Usage
from engine.vocab import CostType


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def price(book: PriceBook, provider: str, model: str, at: str, inp: int, cached: int, write: int, out: int):
    return book.price(Usage(epoch(at), provider, model, inp, cached, write, out, 1, 0, 0, 0, None))


def test_discount_applies_from_its_date_only(prices_file: Path) -> None:
    book = PriceBook.load(prices_file)
    # gpt-4o $2.50/Mtok input: 1M tokens = $2.50 before June, $2.25 after the 10% discount (nano-USD)
    assert price(book, "openai", "gpt-4o", "2026-05-31T23:59:59", 1_000_000, 0, 0, 0)[0] == 2_500_000_000
    assert price(book, "openai", "gpt-4o", "2026-06-01T00:00:00", 1_000_000, 0, 0, 0)[0] == 2_250_000_000


def test_override_wins_over_the_catalogue_and_defaults_cache_prices_to_input(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[[models]]\nprovider = "openai"\nmodel = "gpt-4o"\neffective_from = 2026-09-01\n'
        "input_per_mtok = 1.5\noutput_per_mtok = 6\n"
    )
    book = PriceBook.load(path)
    costs = price(book, "openai", "gpt-4o", "2026-09-02T00:00:00", 1_000_000, 400_000, 100_000, 1_000_000)
    # 500k uncached + 400k cached + 100k cache-write, all at $1.50 (no cached price given); output $6
    parts = (costs.uncached_input, costs.cached_input, costs.cache_write, costs.output)
    assert parts == (750_000_000, 600_000_000, 150_000_000, 6_000_000_000)
    before = price(book, "openai", "gpt-4o", "2026-08-31T00:00:00", 1_000_000, 0, 0, 0)
    assert before[0] == 2_500_000_000  # the catalogue before the override's date


def test_tiered_catalogue_price_applies_to_every_token_above_the_threshold() -> None:
    book = PriceBook()
    small = price(book, "anthropic", "claude-sonnet-4-5", "2026-10-01T00:00:00", 200_000, 0, 0, 0)
    large = price(book, "anthropic", "claude-sonnet-4-5", "2026-10-01T00:00:00", 200_001, 0, 0, 0)
    assert small[0] == 600_000_000  # 200k × $3/Mtok
    assert large[0] == 1_200_006_000  # 200,001 × $6/Mtok: the whole request moves to the long-context tier


def test_time_of_day_prices_are_resolved_per_half_hour() -> None:
    book = PriceBook()
    off_peak = price(book, "deepseek", "deepseek-chat", "2026-10-01T17:00:00", 1_000_000, 0, 0, 0)
    peak = price(book, "deepseek", "deepseek-chat", "2026-10-01T10:00:00", 1_000_000, 0, 0, 0)
    assert off_peak[0] * 2 == peak[0]


def test_unknown_model_is_flagged_unpriced_not_free() -> None:
    costs = PriceBook().price(Usage(epoch("2026-10-01T00:00:00"), "acme", "nope-1", 10, 0, 0, 10, 1, 2, 0, 0, None))
    assert costs.priced is False
    assert costs.total == 0


def test_a_models_audio_is_priced_at_its_audio_prices_not_its_text_ones() -> None:
    # gpt-4o-realtime-preview: $5/$20 text, $40/$80 audio, $2.50 cached audio. 1M + 1M of its audio tokens were
    # unpriced (its text prices would have said $25.00); the catalogue's audio prices say $120.00.
    part = "gpt-4o-realtime-preview (audio)"
    costs = price(PriceBook(), "openai", part, "2026-10-01T00:00:00", 1_000_000, 0, 0, 1_000_000)
    assert (costs.priced, costs.total) == (True, 120_000_000_000)
    # Half of the input cached: 0.5M at $40 + 0.5M at $2.50, and the output at $80.
    costs = price(PriceBook(), "openai", part, "2026-10-01T00:00:00", 1_000_000, 500_000, 0, 1_000_000)
    assert costs.total == 20_000_000_000 + 1_250_000_000 + 80_000_000_000
    assert PriceBook().rates("openai", part, datetime(2026, 10, 1, tzinfo=UTC)).model_id == "gpt-4o-realtime-preview"


def test_a_models_image_tokens_are_priced_at_its_image_prices() -> None:
    # chatgpt-image-latest: $5/$10 text, $8 image input, $2 cached image input, $32 image output.
    costs = price(PriceBook(), "openai", "chatgpt-image-latest (image)", "2026-10-01T00:00:00", 10**6, 0, 0, 10**6)
    assert (costs.priced, costs.total) == (True, 40_000_000_000)


def test_a_discount_on_the_provider_covers_its_models_audio(prices_file: Path) -> None:
    # The price file's 10% off OpenAI from June 1st: on its bill, so on the audio tokens it bills too.
    book = PriceBook.load(prices_file)
    part = "gpt-4o-realtime-preview (audio)"
    assert price(book, "openai", part, "2026-05-31T00:00:00", 10**6, 0, 0, 0).total == 40_000_000_000
    assert price(book, "openai", part, "2026-06-01T00:00:00", 10**6, 0, 0, 0).total == 36_000_000_000


@pytest.mark.parametrize(
    "part",
    [
        "gpt-4o-realtime-preview (image)",  # the catalogue prices its audio, not images
        "gpt-4o-audio-preview (audio)",  # the catalogue has its text prices only ($2.50/$10; OpenAI bills $40/$80)
        "nope-1 (audio)",  # no such model
    ],
)
def test_a_media_part_the_catalogue_does_not_price_is_unpriced_not_text_priced_unless_an_override_prices_it(
    tmp_path: Path, part: str
) -> None:
    costs = price(PriceBook(), "openai", part, "2026-10-01T00:00:00", 1_000_000, 0, 0, 1_000_000)
    assert (costs.priced, costs.total) == (False, 0)
    assert PriceBook().missing(Usage(epoch("2026-10-01T00:00:00"), "openai", part, 10, 0, 0, 10)) == ("the model",)
    path = tmp_path / "p.toml"
    path.write_text(
        f'[[models]]\nprovider = "openai"\nmodel = "{part}"\neffective_from = 2026-09-01\n'
        "input_per_mtok = 40\noutput_per_mtok = 80\n"
    )
    costs = price(PriceBook.load(path), "openai", part, "2026-10-01T00:00:00", 1_000_000, 0, 0, 1_000_000)
    assert (costs.priced, costs.total) == (True, 120_000_000_000)  # the override prices the name as spelled


def test_an_override_of_a_media_part_wins_over_the_catalogues_media_prices(tmp_path: Path) -> None:
    part = "gpt-4o-realtime-preview (audio)"
    path = tmp_path / "p.toml"
    path.write_text(
        f'[[models]]\nprovider = "openai"\nmodel = "{part}"\neffective_from = 2026-09-01\n'
        "input_per_mtok = 30\noutput_per_mtok = 60\n"
    )
    costs = price(PriceBook.load(path), "openai", part, "2026-10-01T00:00:00", 1_000_000, 0, 0, 1_000_000)
    assert costs.total == 90_000_000_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[models]]\nprovider = "x"\nmodel = "y"\neffective_from = 2026-01-01\noutput_per_mtok = 1\n',
            "models[0]: `input_per_mtok` is required",
        ),
        (
            '[[discounts]]\nprovider = "openai"\npercent = 120\neffective_from = 2026-01-01\n',
            "discounts[0]: `percent` must be between 0 and 100",
        ),
        (
            '[[discounts]]\nprovider = "openai"\npercent = 10\neffective_from = "June"\n',
            "discounts[0]: `effective_from` must be a date",
        ),
        ("[unit_costs]\nretrieval = 1\n", "unit_costs has unknown key(s) ['retrieval']"),
        ("[unit_costs\n", "not valid TOML"),
    ],
)
def test_bad_price_file_names_the_entry_and_field(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(
        PriceFileError,
        match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)"),
    ):
        PriceBook.load(path)


def test_costs_name_each_cost_type_and_total_their_sum(prices_file: Path) -> None:
    book = PriceBook.load(prices_file)
    at = epoch("2026-10-01T00:00:00")
    costs = book.price(
        Usage(at, "openai", "gpt-4o", input_tokens=1_000_000, output_tokens=100_000, retrieval_queries=5)
    )
    # gpt-4o less the 10% discount: $2.25 in, $9 out per Mtok; retrieval $0.0002 a query (nano-USD)
    assert costs == Costs(
        uncached_input=2_250_000_000,
        cached_input=0,
        cache_write=0,
        cache_write_1h=0,
        output=900_000_000,
        request_fee=0,
        web_search=0,
        source=0,
        retrieval=1_000_000,
        rerank=0,
        compute=0,
        priced=True,
    )
    assert costs.total == 3_151_000_000
    assert Costs._fields == (*(t.value for t in CostType), "priced")
    sourced = book.price(Usage(at, "", "", input_tokens=10, source_cost_nano=42, compute_ms=2000))
    assert (sourced.source, sourced.compute, sourced.total, sourced.priced) == (42, 1_000_000, 1_000_042, True)
