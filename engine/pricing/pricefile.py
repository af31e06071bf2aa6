"""The price file (TOML) finance edits, read and validated into typed entries: explicit model prices
([[models]]), discounts off catalogue prices ([[discounts]]), multipliers for service tiers the catalogue has no
price for ([[tiers]]) and the prices of non-token work ([unit_costs]). Every mistake names its entry and field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from engine.ingest.events import COST_MAX_NANO, shown
from engine.money import NANO
from engine.vocab import ServiceTier

FEMTO_PER_USD = 10**15
# The most one unit a price is for (a token, a request, a web search, a retrieval query, a compute second...) may
# cost: what one event may cost ($10,000,000). A price above it can only be a unit mistake, would be refused on
# every event that used it, and, far enough above, cannot even be converted (1e999999 overflows Decimal).
UNIT_MAX_USD = Decimal(COST_MAX_NANO) / NANO


class PriceFileError(ValueError):
    """The price file is malformed; the message names the entry and the field."""


# A per-token price: either a flat femto-USD amount or (base, ((threshold, price), ...)) where a request whose
# total input exceeds a threshold pays that tier's price on all its tokens (the catalogue's "cliff" tiers).
Price = int | tuple[int, tuple[tuple[int, int], ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideRates:
    """An override's own prices, femto-USD. None: the entry leaves it out (see `PriceBook` for what applies)."""

    input: int
    cached_input: int | None
    cache_write: int | None
    cache_write_1h: int | None
    output: int
    request: int
    web_search: int | None


@dataclass(frozen=True, slots=True)
class ModelOverride:
    provider: str
    model: str
    effective_from: date
    rates: OverrideRates


@dataclass(frozen=True, slots=True)
class Discount:
    provider: str
    model: str  # '' = every model of the provider
    percent: Decimal
    effective_from: date


@dataclass(frozen=True, slots=True)
class TierMultiplier:
    """A provider's token prices in one service tier, as a multiple of its standard prices: used only where the
    catalogue has no price for that tier (and for [[models]] prices, which are standard prices)."""

    provider: str
    tier: ServiceTier
    multiplier: Decimal
    effective_from: date


@dataclass(frozen=True, slots=True)
class UnitCosts:
    """Femto-USD per retrieval query, rerank call, compute millisecond and cache lookup.

    None: the price file gives no price for it, so usage of it is unpriced (flagged, never $0 unnoticed); 0 is a
    price (free on purpose). The cache lookup is only a scenario's (engine.scenarios.whatif), which says when unset."""

    retrieval_query: int | None = None
    rerank_call: int | None = None
    compute_ms: int | None = None
    cache_lookup: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceFile:
    overrides: list[ModelOverride]  # newest effective_from first
    discounts: list[Discount]  # newest first
    tiers: list[TierMultiplier]  # newest first
    unit_costs: UnitCosts


SECTIONS = ("models", "discounts", "tiers", "unit_costs")
_OVERRIDE_KEYS = {
    "provider",
    "model",
    "effective_from",
    "input_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "cache_write_1h_per_mtok",
    "output_per_mtok",
    "request_usd",
    "web_search_per_k",
}
_TIER_WORDS = ", ".join(t for t in ServiceTier if t is not ServiceTier.STANDARD)


def usd_to_femto(value: Decimal) -> int:
    return int((value * FEMTO_PER_USD).to_integral_value())


def _per_ms(value: Decimal) -> int:
    """USD per compute second → femto-USD per millisecond (compute is counted in milliseconds)."""
    return usd_to_femto(value) // 1000


def per_mtok_to_femto(value: Decimal) -> int:
    """USD per million tokens → femto-USD per token (exact for prices with up to nine decimals)."""
    return int((value * 10**9).to_integral_value())


def per_k_to_femto(value: Decimal) -> int:
    """USD per thousand calls → femto-USD per call (exact for prices with up to twelve decimals)."""
    return int((value * 10**12).to_integral_value())


class Matching(Protocol):
    """How the price book matches an entry to an event's provider and model (engine.pricing.catalogue.Catalogue):
    two entries that compare equal here match the same events."""

    def provider_id(self, provider: str) -> str: ...

    def identity(self, provider: str, model: str) -> tuple[str, str]: ...


class AsSpelled:
    """Matching without a catalogue: every spelling its own."""

    def provider_id(self, provider: str) -> str:
        return provider

    def identity(self, provider: str, model: str) -> tuple[str, str]:
        return (provider, model)


# One entry of a table as `_once` sees it: its reach as matching compares it (the date last), how that reach reads,
# and its provider and model (or tier) as the file spells them.
_Keyed = tuple[tuple[str, str, date], str, tuple[str, str]]


def _once(origin: str, table: str, keyed: list[_Keyed], does: str, fix: str) -> None:
    """Refuse two entries of `table` that would match the same events from the same date (the newest-first order
    would leave the winner to the order of the file), naming both as the file spells them."""
    seen: dict[tuple[str, str, date], int] = {}
    for i, (key, reads, spelled) in enumerate(keyed):
        first = seen.setdefault(key, i)
        if first == i:
            continue
        earlier = keyed[first][2]
        note = ""
        if earlier != spelled:
            if earlier[1] == spelled[1]:
                note = f' ("{earlier[0]}" and "{spelled[0]}" name one provider)'
            elif earlier[0] == spelled[0]:
                note = f' ("{earlier[1]}" and "{spelled[1]}" name one model)'
            else:
                note = (
                    f' (provider "{earlier[0]}" model "{earlier[1]}" and provider "{spelled[0]}" model "{spelled[1]}"'
                    " name one model)"
                )
        raise PriceFileError(
            f"{origin}: {table}[{first}] and {table}[{i}] both {does} {reads} from {key[-1]}{note}: {fix}"
        )


def parse_price_file(data: Mapping[str, Any], origin: str, matching: Callable[[], Matching] | None = None) -> PriceFile:
    """The price file `data` read from `origin`. `matching`: how the price book will match entries to events (called
    only when a table has two entries to compare; None: every spelling its own)."""
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise PriceFileError(f"{origin}: unknown section(s) {sorted(unknown)}; expected {', '.join(SECTIONS)}")
    overrides = [
        _parse_override(entry, f"{origin}: models[{i}]") for i, entry in enumerate(_list(data, "models", origin))
    ]
    discounts = [
        _parse_discount(entry, f"{origin}: discounts[{i}]") for i, entry in enumerate(_list(data, "discounts", origin))
    ]
    tiers = [_parse_tier(entry, f"{origin}: tiers[{i}]") for i, entry in enumerate(_list(data, "tiers", origin))]
    units = data.get("unit_costs", {})
    if not isinstance(units, Mapping):
        raise PriceFileError(f"{origin}: unit_costs must be a table")
    allowed = {"retrieval_query", "rerank_call", "compute_second", "cache_lookup"}
    if set(units) - allowed:
        raise PriceFileError(f"{origin}: unit_costs has unknown key(s) {sorted(set(units) - allowed)}")
    where = f"{origin}: unit_costs"
    # A key left out (or the whole section) is no price, not a price of $0: the usage it would price is unpriced.
    unit_costs = UnitCosts(
        retrieval_query=_optional(units, "retrieval_query", where, _per("retrieval query"), usd_to_femto),
        rerank_call=_optional(units, "rerank_call", where, _per("rerank call"), usd_to_femto),
        compute_ms=_optional(units, "compute_second", where, _per("compute second"), _per_ms),
        cache_lookup=usd_to_femto(_price(units, "cache_lookup", where, _per("cache lookup"), default=0)),
    )
    # Two discounts (or multipliers) that match the same events from one date: the newest-first order would leave
    # the winner, and so the COGS, to the order of the file. Compared as the price book matches them (a discount by
    # the catalogue model its id resolves to, a provider by the catalogue's id for it), so `gpt-4o` and
    # `openai/gpt-4o`, or `bedrock` and `aws`, are one reach; refused like repeated [[models]] (engine.pricing.book).
    if len(discounts) > 1 or len(tiers) > 1:
        match = matching() if matching is not None else AsSpelled()
        _once(origin, "discounts", [_discount_reach(d, match) for d in discounts], "discount", "keep one")
        _once(origin, "tiers", [_tier_reach(t, match) for t in tiers], "set", "keep one")
    return PriceFile(
        overrides=sorted(overrides, key=lambda o: o.effective_from, reverse=True),
        discounts=sorted(discounts, key=lambda d: d.effective_from, reverse=True),
        tiers=sorted(tiers, key=lambda t: t.effective_from, reverse=True),
        unit_costs=unit_costs,
    )


def _discount_reach(d: Discount, match: Matching) -> _Keyed:
    if not d.model:
        provider = match.provider_id(d.provider)
        return (provider, "", d.effective_from), f"{provider} every model", (d.provider, d.model)
    provider, model = match.identity(d.provider, d.model)
    return (provider, model, d.effective_from), f"{provider} {model}", (d.provider, d.model)


def _tier_reach(t: TierMultiplier, match: Matching) -> _Keyed:
    provider = match.provider_id(t.provider)
    return (provider, t.tier, t.effective_from), f"the {provider} {t.tier} multiplier", (t.provider, t.tier)


def _list(data: Mapping[str, Any], key: str, origin: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise PriceFileError(f"{origin}: `{key}` must be an array of tables ([[{key}]])")
    return value


def _decimal(entry: Mapping[str, Any], key: str, where: str, *, default: Any = None) -> Decimal:
    value = entry.get(key, default)
    if value is None:
        raise PriceFileError(f"{where}: `{key}` is required")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PriceFileError(f"{where}: `{key}` must be a number, got {shown(value)}")
    try:
        # str() keeps what finance typed (0.1 stays 0.1, not 0.1000000000000000055…).
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise PriceFileError(f"{where}: `{key}` must be a number, got {shown(value)}") from exc
    if not result.is_finite() or result < 0:
        raise PriceFileError(f"{where}: `{key}` must be a non-negative number, got {shown(value)}")
    return result


# What a price field is for: (how many units it prices, how its unit reads, one unit).
_PER_MTOK = (Decimal(10**6), "USD per million tokens", "token")
_PER_K = (Decimal(1000), "USD per 1,000 web searches", "web search")


def _per(unit: str) -> tuple[Decimal, str, str]:
    return Decimal(1), f"USD per {unit}", unit


def _price(
    entry: Mapping[str, Any], key: str, where: str, per: tuple[Decimal, str, str], *, default: Any = None
) -> Decimal:
    """A price: a non-negative number at most what one event may cost for each unit it prices (UNIT_MAX_USD)."""
    value = _decimal(entry, key, where, default=default)
    units, priced, one = per
    most = UNIT_MAX_USD * units
    if value > most:
        # Compared before any arithmetic: Decimal takes 1e999999, but multiplying it into femto-USD overflows.
        raise PriceFileError(
            f"{where}: `{key}` must be at most {most:,} {priced} (one {one} at most ${UNIT_MAX_USD:,}, what one "
            f"event may cost), got {shown(entry.get(key))}: is it in the right unit?"
        )
    return value


def _optional(
    entry: Mapping[str, Any], key: str, where: str, per: tuple[Decimal, str, str], convert: Any
) -> int | None:
    return None if entry.get(key) is None else int(convert(_price(entry, key, where, per)))


def _date(entry: Mapping[str, Any], key: str, where: str) -> date:
    value = entry.get(key)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PriceFileError(f"{where}: `{key}` must be a date like 2026-01-01, got {value!r}")


def _text(entry: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise PriceFileError(f"{where}: `{key}` must be a non-empty string")
    return value.strip().lower()


def _table(entry: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping):
        raise PriceFileError(f"{where}: must be a table")
    if set(entry) - allowed:
        raise PriceFileError(f"{where}: unknown key(s) {sorted(set(entry) - allowed)}")
    return entry


def _parse_override(raw: Any, where: str) -> ModelOverride:
    entry = _table(raw, where, _OVERRIDE_KEYS)
    return ModelOverride(
        provider=_text(entry, "provider", where),
        model=_text(entry, "model", where),
        effective_from=_date(entry, "effective_from", where),
        rates=OverrideRates(
            input=per_mtok_to_femto(_price(entry, "input_per_mtok", where, _PER_MTOK)),
            cached_input=_optional(entry, "cached_input_per_mtok", where, _PER_MTOK, per_mtok_to_femto),
            cache_write=_optional(entry, "cache_write_per_mtok", where, _PER_MTOK, per_mtok_to_femto),
            cache_write_1h=_optional(entry, "cache_write_1h_per_mtok", where, _PER_MTOK, per_mtok_to_femto),
            output=per_mtok_to_femto(_price(entry, "output_per_mtok", where, _PER_MTOK)),
            request=usd_to_femto(_price(entry, "request_usd", where, _per("request"), default=0)),
            web_search=_optional(entry, "web_search_per_k", where, _PER_K, per_k_to_femto),
        ),
    )


def _parse_discount(raw: Any, where: str) -> Discount:
    entry = _table(raw, where, {"provider", "model", "percent", "effective_from"})
    percent = _decimal(entry, "percent", where)
    if percent > 100:
        raise PriceFileError(f"{where}: `percent` must be between 0 and 100, got {percent}")
    return Discount(
        provider=_text(entry, "provider", where),
        model=_text(entry, "model", where, required=False),
        percent=percent,
        effective_from=_date(entry, "effective_from", where),
    )


def _parse_tier(raw: Any, where: str) -> TierMultiplier:
    entry = _table(raw, where, {"provider", "tier", "multiplier", "effective_from"})
    word = _text(entry, "tier", where)
    try:
        tier = ServiceTier(word)
    except ValueError:
        raise PriceFileError(f"{where}: `tier` must be one of {_TIER_WORDS}, got {word!r}") from None
    if tier is ServiceTier.STANDARD:
        raise PriceFileError(f"{where}: `tier` must be one of {_TIER_WORDS} (standard prices are the base)")
    multiplier = _decimal(entry, "multiplier", where)
    if multiplier == 0 or multiplier > 10:
        raise PriceFileError(
            f"{where}: `multiplier` must be above 0 and at most 10 (0.5 = half price), got {multiplier}"
        )
    return TierMultiplier(
        provider=_text(entry, "provider", where),
        tier=tier,
        multiplier=multiplier,
        effective_from=_date(entry, "effective_from", where),
    )
