"""Price-file input that used to slip through: two discounts for one provider (or model) from one date, where file
order chose the COGS, and prices too large to be anything but a unit mistake (or to be computed at all)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from engine.ingest.events import COST_MAX_NANO
from engine.money import NANO
from engine.pricing.book import PriceBook, PriceFileError

MODEL = {"provider": "self-hosted", "model": "m1", "effective_from": "2026-01-01", "input_per_mtok": 1}
MODEL |= {"output_per_mtok": 2}


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(PriceFileError) as info:
        PriceBook.from_mapping(data, origin="prices.toml")
    return str(info.value)


def test_two_provider_wide_discounts_from_the_same_date_are_refused() -> None:
    discounts = [
        {"provider": "openai", "percent": 10, "effective_from": "2026-01-01"},
        {"provider": "OpenAI ", "percent": 50, "effective_from": "2026-01-01"},
    ]
    assert refused({"discounts": discounts}) == (
        "prices.toml: discounts[0] and discounts[1] both discount openai every model from 2026-01-01: keep one"
    )


def test_two_discounts_for_one_model_from_the_same_date_are_refused() -> None:
    discounts = [
        {"provider": "openai", "model": "gpt-4o", "percent": 10, "effective_from": "2026-01-01"},
        {"provider": "openai", "model": "gpt-4o-mini", "percent": 20, "effective_from": "2026-01-01"},
        {"provider": "openai", "model": "GPT-4o", "percent": 50, "effective_from": "2026-01-01"},
    ]
    assert refused({"discounts": discounts}) == (
        "prices.toml: discounts[0] and discounts[2] both discount openai gpt-4o from 2026-01-01: keep one"
    )


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            ("openai", "gpt-4o"),
            ("openai", "openai/gpt-4o"),
            'both discount openai gpt-4o from 2026-01-01 ("gpt-4o" and "openai/gpt-4o" name one model): keep one',
        ),
        (
            ("openai", "gpt-4o-2024-08-06"),
            ("openai", " GPT-4o "),
            'both discount openai gpt-4o from 2026-01-01 ("gpt-4o-2024-08-06" and "gpt-4o" name one model): keep one',
        ),
        (
            ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
            ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "both discount aws regional.anthropic.claude-3-5-sonnet-20240620-v1:0 from 2026-01-01 "
            '("bedrock" and "aws" name one provider): keep one',
        ),
        (
            ("vertex_ai", ""),
            ("google", ""),
            'both discount google every model from 2026-01-01 ("vertex_ai" and "google" name one provider): keep one',
        ),
        (
            ("google", "gemini-2.5-flash"),
            ("vertex_ai", "models/gemini-2.5-flash"),
            'both discount google gemini-2.5-flash from 2026-01-01 (provider "google" model "gemini-2.5-flash" '
            'and provider "vertex_ai" model "models/gemini-2.5-flash" name one model): keep one',
        ),
    ],
    ids=["gateway prefix", "dated id and case", "provider alias", "provider-wide alias", "both spelled apart"],
)
def test_two_spellings_of_one_reach_from_the_same_date_are_refused_in_one_line(
    first: tuple[str, str], second: tuple[str, str], message: str
) -> None:
    """Discounts match the catalogue model an id resolves to (and the catalogue's id for a provider): two spellings
    of one model left the discount, and so the COGS, to file order."""
    discounts = [
        {"provider": first[0], "model": first[1], "percent": 10, "effective_from": "2026-01-01"},
        {"provider": "openai", "model": "gpt-4o-mini", "percent": 20, "effective_from": "2026-01-01"},
        {"provider": second[0], "model": second[1], "percent": 50, "effective_from": "2026-01-01"},
    ]
    assert refused({"discounts": discounts}) == f"prices.toml: discounts[0] and discounts[2] {message}"


def test_spellings_matching_prices_apart_are_kept() -> None:
    """Ids the catalogue does not resolve are matched as written, and dated snapshots priced apart stay apart."""
    book = PriceBook.from_mapping(
        {
            "discounts": [
                {"provider": "self-hosted", "model": "m1", "percent": 10, "effective_from": "2026-01-01"},
                {"provider": "self-hosted", "model": "self-hosted/m1", "percent": 20, "effective_from": "2026-01-01"},
                {"provider": "openai", "model": "gpt-4o", "percent": 30, "effective_from": "2026-01-01"},
                {"provider": "openai", "model": "gpt-4o-2024-05-13", "percent": 40, "effective_from": "2026-01-01"},
                {"provider": "azure", "model": "gpt-4o", "percent": 50, "effective_from": "2026-01-01"},
            ]
        }
    )
    assert [d.percent for d in book.discounts] == [10, 20, 30, 40, 50]


def test_two_multipliers_for_one_provider_spelled_two_ways_are_refused() -> None:
    tiers = [
        {"provider": "bedrock", "tier": "batch", "multiplier": 0.5, "effective_from": "2026-01-01"},
        {"provider": "bedrock", "tier": "flex", "multiplier": 0.7, "effective_from": "2026-01-01"},
        {"provider": "AWS", "tier": "batch", "multiplier": 0.6, "effective_from": "2026-01-01"},
    ]
    assert refused({"tiers": tiers}) == (
        "prices.toml: tiers[0] and tiers[2] both set the aws batch multiplier from 2026-01-01 "
        '("bedrock" and "aws" name one provider): keep one'
    )


def test_discounts_that_differ_in_date_or_reach_are_kept() -> None:
    book = PriceBook.from_mapping(
        {
            "discounts": [
                {"provider": "openai", "percent": 10, "effective_from": "2026-01-01"},
                {"provider": "openai", "percent": 20, "effective_from": "2026-06-01"},
                {"provider": "openai", "model": "gpt-4o", "percent": 30, "effective_from": "2026-01-01"},
            ]
        }
    )
    assert [d.percent for d in book.discounts] == [20, 10, 30]


PRICE_FIELDS = [
    ("models", "input_per_mtok"),
    ("models", "output_per_mtok"),
    ("models", "cached_input_per_mtok"),
    ("models", "cache_write_per_mtok"),
    ("models", "cache_write_1h_per_mtok"),
    ("models", "request_usd"),
    ("models", "web_search_per_k"),
    ("unit_costs", "retrieval_query"),
    ("unit_costs", "rerank_call"),
    ("unit_costs", "compute_second"),
    ("unit_costs", "cache_lookup"),
]


def with_value(section: str, key: str, value: object) -> dict[str, Any]:
    return {"models": [{**MODEL, key: value}]} if section == "models" else {"unit_costs": {key: value}}


@pytest.mark.parametrize(("section", "key"), PRICE_FIELDS)
@pytest.mark.parametrize("value", ["1e999999", 1e300, "1e30"])
def test_a_price_too_large_for_any_event_is_refused_naming_entry_and_field(
    section: str, key: str, value: object
) -> None:
    # 1e999999 used to stop the program with decimal.Overflow; 1e30 was taken, and split the import paths.
    message = refused(with_value(section, key, value))
    entry = "models[0]" if section == "models" else "unit_costs"
    assert message.startswith(f"prices.toml: {entry}: `{key}` must be at most ")
    assert "\n" not in message and "is it in the right unit?" in message


@pytest.mark.parametrize(
    ("section", "key", "most"),
    [
        ("models", "input_per_mtok", 10**13),  # per million tokens: one token at most what one event may cost
        ("models", "web_search_per_k", 10**10),  # per thousand searches
        ("models", "request_usd", 10**7),
        ("unit_costs", "retrieval_query", 10**7),
        ("unit_costs", "compute_second", 10**7),
    ],
)
def test_the_bound_is_what_one_event_may_cost_for_one_unit(section: str, key: str, most: int) -> None:
    assert Decimal(COST_MAX_NANO) / NANO == 10**7
    PriceBook.from_mapping(with_value(section, key, most))  # at the bound: taken
    message = refused(with_value(section, key, f"{most}.000001"))
    assert f"`{key}` must be at most {most:,} " in message


def test_the_cli_says_a_huge_price_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[unit_costs]\nretrieval_query = "1e999999"\n')
    monkeypatch.setenv("MARGINBOT_PRICES_FILE", str(prices))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["prices", "--period", "2026-10"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(
        re.escape(f"marginbot: {prices}: unit_costs: `retrieval_query` must be at most 10,000,000 ") + r"[^\n]*\n", err
    )


def test_a_number_too_long_for_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(f"[unit_costs]\nretrieval_query = {'1' * 5000}\n")
    with pytest.raises(PriceFileError, match=f"^{re.escape(str(path))}: not valid TOML: "):
        PriceBook.load(path)
