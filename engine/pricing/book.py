"""The price book: what one event costs, from the price file and the genai-prices catalogue.

Prices are resolved once per (provider, model, UTC day) — per half hour for models with time-of-day prices —
and kept as integer femto-USD per token, so the hot path is integer arithmetic. Each cost component of an event is
rounded once to the nano-dollar (half up); all sums after that are exact.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from genai_prices import data_snapshot
from genai_prices.types import TieredPrices, TimeOfDateConstraint

from engine.money import HUNDRED, ZERO
from engine.store.meta import price_fingerprint

FEMTO_PER_USD = 10**15
FEMTO_PER_NANO = 10**6
_HALF = FEMTO_PER_NANO // 2
_DAY = 86_400
_HALF_HOUR = 1_800


class PriceFileError(ValueError):
    """The price file is malformed; the message names the entry and the field."""


# A per-token price: either a flat femto-USD amount or (base, ((threshold, price), ...)) where a request whose
# total input exceeds a threshold pays that tier's price on all its tokens (the catalogue's "cliff" tiers).
Price = int | tuple[int, tuple[tuple[int, int], ...]]


@dataclass(frozen=True, slots=True)
class Rates:
    """Resolved per-token prices (femto-USD) for one model at one time."""

    input: Price
    cached_input: Price
    cache_write: Price
    output: Price
    request: int = 0  # femto-USD per request
    source: str = "catalogue"  # catalogue | override


@dataclass(frozen=True, slots=True)
class UnitCosts:
    """Femto-USD per retrieval query, rerank call, compute millisecond and cache lookup."""

    retrieval_query: int = 0
    rerank_call: int = 0
    compute_ms: int = 0
    cache_lookup: int = 0


@dataclass(frozen=True, slots=True)
class ModelOverride:
    provider: str
    model: str
    effective_from: date
    rates: Rates


@dataclass(frozen=True, slots=True)
class Discount:
    provider: str
    model: str  # '' = every model of the provider
    percent: Decimal
    effective_from: date


# `_new(Costs, (...))` is `Costs(...)` without the Python frame of a NamedTuple's generated __new__: the same object,
# about 0.2 µs sooner, where parsing and pricing a CSV row takes about 5 µs. Only on the import's hot path, and
# only with every field given in order (nothing checks the count).
_new = tuple.__new__


class Usage(NamedTuple):
    """What one event used, as `PriceBook.price` prices it.

    After `epoch` the fields are usage_event columns (and ParsedEvent fields) of the same names, in the same order.
    The defaults are parse_event's: one request, nothing else.
    """

    epoch: int  # when, in Unix seconds: prices are dated (and some change by the half hour)
    provider: str
    model: str
    input_tokens: int = 0  # the total input, cached and cache-write tokens included
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    requests: int = 1
    retrieval_queries: int = 0
    rerank_calls: int = 0
    compute_ms: int = 0
    source_cost_nano: int | None = None  # what the source already charged; None: price the tokens


class Costs(NamedTuple):
    """One event's cost in nano-USD, one field per CostType in its order, and whether its tokens were priced.

    `priced` is False when tokens have no price anywhere: their parts are 0 and the event is flagged (shown as
    unpriced, never silently free). Unit costs (retrieval, rerank, compute) are priced either way.
    """

    uncached_input: int
    cached_input: int
    cache_write: int
    output: int
    request_fee: int
    source: int
    retrieval: int
    rerank: int
    compute: int
    priced: bool

    @property
    def total(self) -> int:
        """The whole cost, nano-USD."""
        return sum(self[:-1])


def usd_to_femto(value: Decimal) -> int:
    return int((value * FEMTO_PER_USD).to_integral_value())


def per_mtok_to_femto(value: Decimal) -> int:
    """USD per million tokens → femto-USD per token (exact for prices with up to nine decimals)."""
    return int((value * 10**9).to_integral_value())


def _scale(price: Price, factor: Decimal) -> Price:
    if isinstance(price, int):
        return int((Decimal(price) * factor).to_integral_value())
    base, tiers = price
    return (
        int((Decimal(base) * factor).to_integral_value()),
        tuple((start, int((Decimal(p) * factor).to_integral_value())) for start, p in tiers),
    )


def _catalogue_price(value: Decimal | TieredPrices | None, fallback: Price | None) -> Price | None:
    if value is None:
        return fallback
    if isinstance(value, TieredPrices):
        tiers = tuple(sorted(((t.start, per_mtok_to_femto(t.price)) for t in value.tiers), reverse=True))
        return (per_mtok_to_femto(value.base), tiers)
    return per_mtok_to_femto(value)


def _per_token(price: Price, total_input: int) -> int:
    if isinstance(price, int):
        return price
    base, tiers = price
    for start, tier_price in tiers:  # highest threshold first
        if total_input > start:
            return tier_price
    return base


def _nano(femto: int) -> int:
    return (femto + _HALF) // FEMTO_PER_NANO


@dataclass
class PriceBook:
    """Overrides, discounts and unit costs from the price file, over the genai-prices catalogue."""

    overrides: list[ModelOverride] = field(default_factory=list)
    discounts: list[Discount] = field(default_factory=list)
    unit_costs: UnitCosts = field(default_factory=UnitCosts)
    fingerprint: str = "empty"
    _cache: dict[tuple[str, str, int], Rates | None] = field(default_factory=dict, repr=False)
    _time_of_day: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    # ---- loading ----
    @classmethod
    def load(cls, path: Path | str) -> PriceBook:
        """Read and validate a price file (TOML). A missing file means catalogue prices and no unit costs."""
        path = Path(path)
        if not path.exists():
            return cls(fingerprint=_fingerprint(b""))
        raw = path.read_bytes()
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PriceFileError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_mapping(data, origin=str(path), fingerprint=_fingerprint(raw))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, origin: str = "prices", fingerprint: str = "") -> PriceBook:
        unknown = set(data) - {"models", "discounts", "unit_costs"}
        if unknown:
            raise PriceFileError(
                f"{origin}: unknown section(s) {sorted(unknown)}; expected models, discounts, unit_costs"
            )
        overrides = [_parse_override(entry, f"{origin}: models[{i}]") for i, entry in enumerate(data.get("models", []))]
        discounts = [
            _parse_discount(entry, f"{origin}: discounts[{i}]") for i, entry in enumerate(data.get("discounts", []))
        ]
        units = data.get("unit_costs", {})
        if not isinstance(units, Mapping):
            raise PriceFileError(f"{origin}: unit_costs must be a table")
        allowed = {"retrieval_query", "rerank_call", "compute_second", "cache_lookup"}
        if set(units) - allowed:
            raise PriceFileError(f"{origin}: unit_costs has unknown key(s) {sorted(set(units) - allowed)}")
        unit_costs = UnitCosts(
            retrieval_query=usd_to_femto(_decimal(units, "retrieval_query", f"{origin}: unit_costs", default=0)),
            rerank_call=usd_to_femto(_decimal(units, "rerank_call", f"{origin}: unit_costs", default=0)),
            compute_ms=usd_to_femto(_decimal(units, "compute_second", f"{origin}: unit_costs", default=0)) // 1000,
            cache_lookup=usd_to_femto(_decimal(units, "cache_lookup", f"{origin}: unit_costs", default=0)),
        )
        return cls(
            overrides=sorted(overrides, key=lambda o: o.effective_from, reverse=True),
            discounts=sorted(discounts, key=lambda d: d.effective_from, reverse=True),
            unit_costs=unit_costs,
            fingerprint=fingerprint or _fingerprint(repr(data).encode()),
        )

    # ---- resolving ----
    def rates(self, provider: str, model: str, at: datetime) -> Rates | None:
        """The prices in force for `provider`/`model` at `at`, or None when nothing prices it."""
        epoch = int(at.timestamp())
        return self._rates(provider.lower(), model.lower(), epoch)

    def _rates(self, provider: str, model: str, epoch: int) -> Rates | None:
        # Most models have one price a UTC day, cached under the day's number: one lookup answers. A time-of-day
        # model is cached under half-hour numbers (never equal to a day's), so it misses here and goes on below.
        try:
            return self._cache[provider, model, epoch // _DAY]
        except KeyError:
            pass
        slot = epoch // _HALF_HOUR if self._time_of_day.get((provider, model)) else epoch // _DAY
        key = (provider, model, slot)
        try:
            return self._cache[key]
        except KeyError:
            pass
        at = datetime.fromtimestamp(epoch, UTC)
        rates = self._resolve(provider, model, at)
        if self._time_of_day.get((provider, model)) and slot == epoch // _DAY:
            # First sight of a time-of-day model: cache by half hour from now on.
            key = (provider, model, epoch // _HALF_HOUR)
        self._cache[key] = rates
        return rates

    def _resolve(self, provider: str, model: str, at: datetime) -> Rates | None:
        day = at.date()
        for override in self.overrides:
            if override.provider == provider and override.model == model and override.effective_from <= day:
                self._time_of_day.setdefault((provider, model), False)
                return override.rates
        snapshot = data_snapshot.get_snapshot()
        try:
            _, info = snapshot.find_provider_model(model, None, provider or None, None)
        except LookupError:
            self._time_of_day.setdefault((provider, model), False)
            return None
        self._time_of_day[(provider, model)] = isinstance(info.prices, list) and any(
            isinstance(p.constraint, TimeOfDateConstraint) for p in info.prices
        )
        price = info.get_prices(at)
        base_input = _catalogue_price(price.input_mtok, None)
        if base_input is None:
            return None
        rates = Rates(
            input=base_input,
            cached_input=_catalogue_price(price.cache_read_mtok, base_input) or 0,
            cache_write=_catalogue_price(price.cache_write_mtok, base_input) or 0,
            output=_catalogue_price(price.output_mtok, 0) or 0,
            request=usd_to_femto(price.requests_kcount) // 1000 if isinstance(price.requests_kcount, Decimal) else 0,
        )
        discount = self._discount(provider, model, day)
        if discount:
            factor = (HUNDRED - discount) / HUNDRED
            rates = Rates(
                input=_scale(rates.input, factor),
                cached_input=_scale(rates.cached_input, factor),
                cache_write=_scale(rates.cache_write, factor),
                output=_scale(rates.output, factor),
                request=int((Decimal(rates.request) * factor).to_integral_value()),
            )
        return rates

    def _discount(self, provider: str, model: str, day: date) -> Decimal:
        # A model-specific discount beats a provider-wide one; the newest in force wins.
        for specific in (True, False):
            for d in self.discounts:
                matches = d.provider == provider and bool(d.model) == specific and d.effective_from <= day
                if matches and (not specific or d.model == model):
                    return d.percent
        return ZERO

    # ---- pricing ----
    def price(self, usage: Usage) -> Costs:
        """What `usage` cost: nano-USD per cost type, each rounded half up once, and whether its tokens were priced."""
        (
            epoch,
            provider,
            model,
            input_tokens,
            cached_input_tokens,
            cache_write_tokens,
            output_tokens,
            requests,
            retrieval_queries,
            rerank_calls,
            compute_ms,
            source_cost_nano,
        ) = usage
        units = self.unit_costs
        retrieval = _nano(retrieval_queries * units.retrieval_query) if retrieval_queries else 0
        rerank = _nano(rerank_calls * units.rerank_call) if rerank_calls else 0
        compute = _nano(compute_ms * units.compute_ms) if compute_ms else 0
        if source_cost_nano is not None:
            return _new(Costs, (0, 0, 0, 0, 0, source_cost_nano, retrieval, rerank, compute, True))
        if not (input_tokens or output_tokens):
            return _new(Costs, (0, 0, 0, 0, 0, 0, retrieval, rerank, compute, True))
        rates = self._rates(provider, model, epoch)
        if rates is None:
            return _new(Costs, (0, 0, 0, 0, 0, 0, retrieval, rerank, compute, False))
        uncached = input_tokens - cached_input_tokens - cache_write_tokens
        return _new(
            Costs,
            (
                _nano(uncached * _per_token(rates.input, input_tokens)),
                _nano(cached_input_tokens * _per_token(rates.cached_input, input_tokens)) if cached_input_tokens else 0,
                _nano(cache_write_tokens * _per_token(rates.cache_write, input_tokens)) if cache_write_tokens else 0,
                _nano(output_tokens * _per_token(rates.output, input_tokens)),
                _nano(requests * rates.request) if rates.request else 0,
                0,
                retrieval,
                rerank,
                compute,
                True,
            ),
        )


def _fingerprint(raw: bytes) -> str:
    return price_fingerprint(raw)  # one rule: reports compare it with the file's without loading the catalogue


def _decimal(entry: Mapping[str, Any], key: str, where: str, *, default: Any = None) -> Decimal:
    value = entry.get(key, default)
    if value is None:
        raise PriceFileError(f"{where}: `{key}` is required")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PriceFileError(f"{where}: `{key}` must be a number, got {value!r}")
    try:
        # str() keeps what finance typed (0.1 stays 0.1, not 0.1000000000000000055…).
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise PriceFileError(f"{where}: `{key}` must be a number, got {value!r}") from exc
    if not result.is_finite() or result < 0:
        raise PriceFileError(f"{where}: `{key}` must be a non-negative number, got {value!r}")
    return result


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


def _parse_override(entry: Any, where: str) -> ModelOverride:
    if not isinstance(entry, Mapping):
        raise PriceFileError(f"{where}: must be a table")
    allowed = {
        "provider",
        "model",
        "effective_from",
        "input_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "output_per_mtok",
        "request_usd",
    }
    if set(entry) - allowed:
        raise PriceFileError(f"{where}: unknown key(s) {sorted(set(entry) - allowed)}")
    input_price = per_mtok_to_femto(_decimal(entry, "input_per_mtok", where))
    cached = entry.get("cached_input_per_mtok")
    write = entry.get("cache_write_per_mtok")
    return ModelOverride(
        provider=_text(entry, "provider", where),
        model=_text(entry, "model", where),
        effective_from=_date(entry, "effective_from", where),
        rates=Rates(
            input=input_price,
            cached_input=per_mtok_to_femto(_decimal(entry, "cached_input_per_mtok", where))
            if cached is not None
            else input_price,
            cache_write=per_mtok_to_femto(_decimal(entry, "cache_write_per_mtok", where))
            if write is not None
            else input_price,
            output=per_mtok_to_femto(_decimal(entry, "output_per_mtok", where)),
            request=usd_to_femto(_decimal(entry, "request_usd", where, default=0)),
            source="override",
        ),
    )


def _parse_discount(entry: Any, where: str) -> Discount:
    if not isinstance(entry, Mapping):
        raise PriceFileError(f"{where}: must be a table")
    allowed = {"provider", "model", "percent", "effective_from"}
    if set(entry) - allowed:
        raise PriceFileError(f"{where}: unknown key(s) {sorted(set(entry) - allowed)}")
    percent = _decimal(entry, "percent", where)
    if percent > 100:
        raise PriceFileError(f"{where}: `percent` must be between 0 and 100, got {percent}")
    return Discount(
        provider=_text(entry, "provider", where),
        model=_text(entry, "model", where, required=False),
        percent=percent,
        effective_from=_date(entry, "effective_from", where),
    )
