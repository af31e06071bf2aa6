"""A catalogue entry with an input price and no output price (azure/davinci, embeddings) prices input, never output:
output tokens of such a model leave their event unpriced (flagged, as web searches without a price are), not free."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.pricing.book import PriceBook, Usage

AT = int(datetime(2026, 10, 10, 12, tzinfo=UTC).timestamp())


def test_a_model_without_an_output_price_has_no_output_rate_not_a_free_one() -> None:
    rates = PriceBook().rates("azure", "davinci", datetime.fromtimestamp(AT, UTC))
    assert rates is not None
    assert (rates.input, rates.output) == (2 * 10**9, None)  # $2 per million input tokens; output: no price


def test_output_tokens_without_an_output_price_leave_the_event_unpriced_and_the_input_priced() -> None:
    book = PriceBook()
    costs = book.price(Usage(AT, "azure", "davinci", input_tokens=1000, output_tokens=2_000_000))
    assert costs.priced is False
    assert (costs.uncached_input, costs.output, costs.total) == (2_000_000, 0, 2_000_000)  # nano-USD: $0.002


def test_input_alone_of_a_model_without_an_output_price_is_priced() -> None:
    costs = PriceBook().price(Usage(AT, "openai", "text-embedding-3-small", input_tokens=1_000_000))
    assert costs.priced is True and costs.uncached_input == 20_000_000  # $0.02 per million tokens
