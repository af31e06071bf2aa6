"""Catalogue data read from a file (`marginbot prices update`, MARGINBOT_CATALOGUE_FILE) is refused when a price is
one no provider charges: negative (negative COGS), not finite, or past what one event may cost for one unit. The
refusal names the provider, the model and the field, in one line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.pricing.catalogue import Catalogue, CatalogueError


def data(prices: Any, variants: Any = None) -> bytes:
    model: dict[str, Any] = {"id": "claude-x", "match": {"equals": "claude-x"}, "prices": prices}
    if variants is not None:
        model["price_variants"] = variants
    return json.dumps([{"id": "anthropic", "name": "Anthropic", "api_pattern": "x", "models": [model]}]).encode()


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (data({"input_mtok": -5, "output_mtok": 15}), "`input_mtok` must not be negative, got -5"),
        (data({"input_mtok": 3, "output_mtok": 1e30}), "`output_mtok` must be at most 10,000,000,000,000"),
        # Past what a float holds, written as a string: pydantic reads it as a Decimal (it refuses NaN and
        # Infinity itself).
        (data({"input_mtok": "1e400"}), "`input_mtok` must be at most 10,000,000,000,000"),
        (data({"input_mtok": 3, "web_searches_kcount": 1e11}), "`web_searches_kcount` must be at most 10,000,000,000"),
        (
            data({"input_mtok": {"base": 3, "tiers": [{"start": 200000, "price": -6}]}}),
            "`input_mtok` must not be negative, got -6",
        ),
        (
            data(
                [
                    {"prices": {"input_mtok": 3}},
                    {"constraint": {"start_date": "2026-10-10"}, "prices": {"input_mtok": -1}},
                ]
            ),
            "`input_mtok` must not be negative, got -1",
        ),
        (
            data({"input_mtok": 3}, [{"when": {"processing": "batch"}, "prices": {"cache_read_mtok": -0.1}}]),
            "`cache_read_mtok` must not be negative, got -0.1",
        ),
    ],
)
def test_a_price_no_provider_charges_is_refused_naming_the_entry_and_field(raw: bytes, said: str) -> None:
    with pytest.raises(CatalogueError) as refused:
        Catalogue.from_bytes(raw, origin="data.json")
    message = str(refused.value)
    assert message.startswith("data.json: anthropic claude-x: ") and said in message
    assert "\n" not in message


def test_prices_at_zero_and_up_to_the_bound_are_taken() -> None:
    catalogue = Catalogue.from_bytes(data({"input_mtok": 0, "output_mtok": 10**13}), origin="data.json")
    assert catalogue.resolve("anthropic", "claude-x") is not None
