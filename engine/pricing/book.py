"""The price book: what one event costs, from the price file and the genai-prices catalogue.

Prices are resolved once per (provider, model, service tier, UTC day) — per half hour for models with time-of-day
prices — and kept as integer femto-USD per token (per call for web searches and requests), so the hot path is
integer arithmetic. Each cost component of an event is rounded once to the nano-dollar (half up); all sums after
that are exact.

Where a price comes from, first match wins:
1. an override ([[models]]) in force for the model the event's id resolves to (or, for ids the catalogue does not
   know, the id as spelled), its token prices times the provider's [[tiers]] multiplier for a non-standard tier;
2. the catalogue: the tier's own prices (batch, flex, priority variants) where the catalogue has them, else the
   standard prices times the provider's [[tiers]] multiplier, else the standard prices, reported as such
   (`tier_priced` False: `marginbot prices` and import summaries say so); then the newest [[discounts]] in force;
3. nothing: the event is unpriced (flagged and shown, never $0).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from genai_prices.types import ModelPrice, TieredPrices

from engine.money import HUNDRED, ZERO
from engine.pricing.catalogue import Catalogue, change_dates, last_change, time_of_day
from engine.pricing.pricefile import (
    FEMTO_PER_USD,
    Discount,
    ModelOverride,
    Price,
    PriceFileError,
    TierMultiplier,
    UnitCosts,
    parse_price_file,
    per_k_to_femto,
    per_mtok_to_femto,
    usd_to_femto,
)
from engine.store.meta import price_fingerprint
from engine.vocab import AUDIO_PART, IMAGE_PART, MEDIA_PARTS, PriceSource, ServiceTier

FEMTO_PER_NANO = 10**6
_HALF = FEMTO_PER_NANO // 2
_DAY = 86_400
_HALF_HOUR = 1_800
_TIER = {t.value: t for t in ServiceTier}  # stored spelling → tier, without an Enum call per resolution

__all__ = [
    "FEMTO_PER_NANO",
    "FEMTO_PER_USD",
    "UNIT_KEYS",
    "UNIT_PARTS",
    "Costs",
    "Discount",
    "ModelOverride",
    "Price",
    "PriceBook",
    "PriceFileError",
    "Rates",
    "TierMultiplier",
    "UnitCosts",
    "Usage",
    "media_part",
    "per_k_to_femto",
    "per_mtok_to_femto",
    "usd_to_femto",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    """Resolved prices (femto-USD per token, per web search, per request) for one model and tier at one time,
    and where they came from."""

    input: Price
    cached_input: Price
    cache_write: Price  # cache writes kept 5 minutes (and every write when the model prices no 1-hour writes)
    cache_write_1h: Price
    output: Price | None  # None: the catalogue has an input price and no output price (output tokens are unpriced)
    request: int = 0
    web_search: int | None = None  # None: nothing prices web searches for this model
    source: PriceSource = PriceSource.CATALOGUE
    tier: ServiceTier = ServiceTier.STANDARD
    tier_priced: bool = True  # False: the tier had no price of its own (nor a multiplier): standard prices apply
    multiplier: Decimal | None = None  # the [[tiers]] multiplier applied, if any
    discount: Decimal = ZERO  # the [[discounts]] percent applied (catalogue prices only)
    model_id: str = ""  # the catalogue entry the model resolved to ('' when the catalogue does not know it)
    effective_from: date | None = None  # an override's date, or the catalogue entry's last change


# What of an event [unit_costs] prices, as `PriceBook.missing` names it when it has no price, and the key that would
# price it (engine.ingest.writer.unpriced_names tells the user to add that key).
UNIT_PARTS = ("retrieval queries", "rerank calls", "compute seconds")
UNIT_KEYS = dict(zip(UNIT_PARTS, ("retrieval_query", "rerank_call", "compute_second"), strict=True))


class Usage(NamedTuple):
    """What one event used, as `PriceBook.price` prices it.

    After `epoch` the fields are usage_event columns (and ParsedEvent fields) of the same names. The defaults are
    parse_event's: one request, nothing else, the standard tier.
    """

    epoch: int  # when, in Unix seconds: prices are dated (and some change by the half hour)
    provider: str
    model: str
    input_tokens: int = 0  # the total input, cached and cache-write tokens included
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0  # every cache write, the 1-hour ones included
    output_tokens: int = 0
    requests: int = 1
    retrieval_queries: int = 0
    rerank_calls: int = 0
    compute_ms: int = 0
    source_cost_nano: int | None = None  # what the source already charged; None: price the tokens
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens written with a 1-hour TTL
    web_searches: int = 0
    service_tier: str = ServiceTier.STANDARD


class Costs(NamedTuple):
    """One event's cost in nano-USD, one field per CostType in its order, and whether it was priced.

    `priced` is False when something the event used has no price anywhere: tokens of an unknown model (their parts
    are then 0), output tokens of a model the catalogue gives an input price and no output price, or web searches of
    a model nothing prices them for. The event is flagged (shown as unpriced, never silently free). Unit costs
    (retrieval, rerank, compute) are priced either way.
    """

    uncached_input: int
    cached_input: int
    cache_write: int
    cache_write_1h: int
    output: int
    request_fee: int
    web_search: int
    source: int
    retrieval: int
    rerank: int
    compute: int
    priced: bool

    @property
    def total(self) -> int:
        """The whole cost, nano-USD."""
        return sum(self[:-1])


# `_new(Costs, (...))` is `Costs(...)` without the Python frame of a NamedTuple's generated __new__: the same object,
# about 0.2 µs sooner, where parsing and pricing a CSV row takes about 5 µs. Only on the import's hot path, and
# only with every field given in order (nothing checks the count).
_new = tuple.__new__


def _scale(price: Price | None, factor: Decimal) -> Price | None:
    if price is None:
        return None
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


def _per_call(value: Decimal | TieredPrices | None) -> int | None:
    """A catalogue price per thousand calls as femto-USD per call (a tiered one at its base: calls have no input)."""
    if value is None:
        return None
    return per_k_to_femto(value.base if isinstance(value, TieredPrices) else value)


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


def tier_selector(input_tokens: int, requests: int) -> int:
    """The input that chooses a long-context price tier: one request's. An event counting several requests (a
    provider's usage bucket) is priced at its average request, never at its total; with no request count (0, as
    Anthropic's usage report) the event is taken as one request."""
    return input_tokens // requests if requests > 1 else input_tokens


def _rates_from_catalogue(price: ModelPrice) -> Rates | None:
    base_input = _catalogue_price(price.input_mtok, None)
    if base_input is None:
        return None
    # What the catalogue does not price separately stays in its parent: cache reads and writes at the input price,
    # 1-hour writes at the cache-write price (genai-prices' leaf rule).
    cache_write = _catalogue_price(price.cache_write_mtok, base_input) or 0
    return Rates(
        input=base_input,
        cached_input=_catalogue_price(price.cache_read_mtok, base_input) or 0,
        cache_write=cache_write,
        cache_write_1h=_catalogue_price(price.cache_write_1h_mtok, cache_write) or 0,
        # No output price is no price, not a free one: output tokens of such a model leave its event unpriced.
        output=_catalogue_price(price.output_mtok, None),
        request=_per_call(price.requests_kcount) or 0,
        web_search=_per_call(price.web_searches_kcount),
    )


# The catalogue's keys for a medium's input, cached input and output tokens, by the part an event of them is named by.
_MEDIA_KEYS = {
    AUDIO_PART: ("input_audio_mtok", "cache_audio_read_mtok", "output_audio_mtok"),
    IMAGE_PART: ("input_image_mtok", "cache_image_read_mtok", "output_image_mtok"),
}


def media_part(model: str) -> str | None:
    """The medium an event's model names ("gpt-realtime (audio)": AUDIO_PART), or None for a model's text."""
    for part in MEDIA_PARTS:
        if model.endswith(part) and len(model) > len(part):
            return part
    return None


def _media_rates(price: ModelPrice, part: str) -> Rates | None:
    """The rates of a model's audio or image tokens (an event named "<model> (audio)"), from the catalogue's own
    prices for that medium: none when it has no input price for it (a model whose audio the catalogue does not price,
    gpt-4o-audio-preview's, stays unpriced: its text prices are several times too low). As for text, what has no
    price of its own is priced as its parent: cached tokens at the medium's input price (the dearer reading), and no
    output price leaves output tokens unpriced. OpenAI counts no cache writes of a medium apart (they stay on the
    text event), nor requests or web searches: the text event carries those."""
    input_key, cached_key, output_key = _MEDIA_KEYS[part]
    base_input = _catalogue_price(getattr(price, input_key, None), None)
    if base_input is None:
        return None
    return Rates(
        input=base_input,
        cached_input=_catalogue_price(getattr(price, cached_key, None), base_input) or 0,
        cache_write=base_input,
        cache_write_1h=base_input,
        output=_catalogue_price(getattr(price, output_key, None), None),
    )


def _times(rates: Rates, factor: Decimal, *, tokens_only: bool) -> dict[str, Any]:
    """Rates' prices × factor (token prices only, or every price)."""
    scaled: dict[str, Any] = {
        "input": _scale(rates.input, factor),
        "cached_input": _scale(rates.cached_input, factor),
        "cache_write": _scale(rates.cache_write, factor),
        "cache_write_1h": _scale(rates.cache_write_1h, factor),
        "output": _scale(rates.output, factor),
    }
    if not tokens_only:
        scaled["request"] = int((Decimal(rates.request) * factor).to_integral_value())
        if rates.web_search is not None:
            scaled["web_search"] = int((Decimal(rates.web_search) * factor).to_integral_value())
    return scaled


@dataclass
class PriceBook:
    """Overrides, discounts, tier multipliers and unit costs from the price file, over the genai-prices catalogue."""

    overrides: list[ModelOverride] = field(default_factory=list)
    discounts: list[Discount] = field(default_factory=list)
    unit_costs: UnitCosts = field(default_factory=UnitCosts)
    fingerprint: str = "empty"
    tiers: list[TierMultiplier] = field(default_factory=list)
    catalogue_data: Catalogue | None = None  # None: the catalogue bundled with genai-prices, loaded when first used
    _cache: dict[tuple[str, str, str, int], Rates | None] = field(default_factory=dict, repr=False)
    _time_of_day: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)
    _override_ids: list[tuple[str, str]] | None = field(default=None, repr=False)

    # ---- loading ----
    @classmethod
    def load(cls, path: Path | str, *, catalogue: Catalogue | None = None) -> PriceBook:
        """Read and validate a price file (TOML). A missing file means catalogue prices and no unit costs.
        `catalogue`: the catalogue data to price from (None: the data bundled with genai-prices)."""
        path = Path(path)
        if not path.exists():
            return cls(fingerprint=_fingerprint(b"", catalogue), catalogue_data=catalogue)
        raw = path.read_bytes()
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError, an integer of more than 4,300 digits
            raise PriceFileError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_mapping(data, origin=str(path), fingerprint=_fingerprint(raw, catalogue), catalogue=catalogue)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        origin: str = "prices",
        fingerprint: str = "",
        catalogue: Catalogue | None = None,
    ) -> PriceBook:
        book = cls(fingerprint=fingerprint or _fingerprint(repr(data).encode(), catalogue), catalogue_data=catalogue)
        # Repeated discounts and multipliers are compared as `_resolve` matches them: through the book's catalogue.
        parsed = parse_price_file(data, origin, lambda: book.catalogue)
        book.overrides = parsed.overrides
        book.discounts = parsed.discounts
        book.tiers = parsed.tiers
        book.unit_costs = parsed.unit_costs
        book._check_overrides(origin)
        return book

    @property
    def catalogue(self) -> Catalogue:
        if self.catalogue_data is None:
            self.catalogue_data = Catalogue.bundled()
        return self.catalogue_data

    def _identities(self) -> list[tuple[str, str]]:
        """Each override's identity (what its model resolves to), in `overrides` order."""
        if self._override_ids is None:
            self._override_ids = [self.catalogue.identity(o.provider, o.model) for o in self.overrides]
        return self._override_ids

    def _check_overrides(self, origin: str) -> None:
        # Two spellings of one model from the same day would leave the winner to the file's order: refuse.
        seen: dict[tuple[str, str, date], ModelOverride] = {}
        for override, identity in zip(self.overrides, self._identities(), strict=True):
            other = seen.setdefault((*identity, override.effective_from), override)
            if other is not override:
                raise PriceFileError(
                    f"{origin}: [[models]] {override.provider}/{override.model} and {other.provider}/{other.model} "
                    f"are the same model ({identity[0]}/{identity[1]}) from the same date {override.effective_from}; "
                    "keep one"
                )

    # ---- resolving ----
    def rates(self, provider: str, model: str, at: datetime, tier: str = ServiceTier.STANDARD) -> Rates | None:
        """The prices in force for `provider`/`model` in service tier `tier` at `at`, or None when nothing prices it."""
        epoch = int(at.timestamp())
        return self._rates(provider.lower(), model.lower(), tier, epoch)

    def tier_priced(self, provider: str, model: str, tier: str, epoch: int) -> bool:
        """Whether `tier` had prices of its own for the model at `epoch` (False: it was priced at standard rates)."""
        rates = self._rates(provider, model, tier, epoch)
        return rates is None or rates.tier_priced

    def daily_rates(self, provider: str, model: str, tier: str, utc_day: int) -> tuple[Rates | None, bool]:
        """The rates `price` uses for an event of `provider`/`model` (as stored: lowered) in `tier` on UTC day number
        `utc_day` (epoch seconds // 86400), and whether they hold for the whole day (False: the model has
        time-of-day prices, resolved per half hour: price such events one by one)."""
        rates = self._rates(provider, model, tier, utc_day * _DAY)
        return rates, not self._time_of_day.get((provider, model), False)

    def _rates(self, provider: str, model: str, tier: str, epoch: int) -> Rates | None:
        # Most models have one price a UTC day, cached under the day's number: one lookup answers. A time-of-day
        # model is cached under half-hour numbers (never equal to a day's), so it misses here and goes on below.
        try:
            return self._cache[provider, model, tier, epoch // _DAY]
        except KeyError:
            pass
        slot = epoch // _HALF_HOUR if self._time_of_day.get((provider, model)) else epoch // _DAY
        key = (provider, model, tier, slot)
        try:
            return self._cache[key]
        except KeyError:
            pass
        at = datetime.fromtimestamp(epoch, UTC)
        rates = self._resolve(provider, model, _TIER.get(tier, ServiceTier.STANDARD), at)
        if self._time_of_day.get((provider, model)) and slot == epoch // _DAY:
            # First sight of a time-of-day model: cache by half hour from now on.
            key = (provider, model, tier, epoch // _HALF_HOUR)
        self._cache[key] = rates
        return rates

    def _resolve(self, provider: str, model: str, tier: ServiceTier, at: datetime) -> Rates | None:
        day = at.date()
        catalogue = self.catalogue
        resolved = catalogue.resolve(provider, model)
        identity = resolved.key if resolved is not None else (catalogue.provider_id(provider), model)
        # A model's audio or image tokens ("gpt-realtime (audio)") are priced from the model's own prices for that
        # medium (`_media_rates`), unless an override prices the name as spelled. The catalogue never resolves such
        # a name itself: the model's text prices would price them.
        media = media_part(model) if resolved is None else None
        if media is not None:
            resolved = catalogue.resolve(provider, model[: -len(media)])
        self._time_of_day.setdefault((provider, model), resolved is not None and time_of_day(resolved.info))
        model_id = resolved.info.id if resolved is not None else ""
        for override, override_id in zip(self.overrides, self._identities(), strict=True):
            spelled = override.provider == provider and override.model == model
            if (spelled or override_id == identity) and override.effective_from <= day:
                catalogue_search = None
                if resolved is not None and override.rates.web_search is None:
                    catalogue_search = _per_call(resolved.info.get_prices(at).web_searches_kcount)
                return self._override_rates(override, identity[0], tier, day, model_id, catalogue_search)
        if resolved is None:
            return None
        tier_price = catalogue.prices(resolved, at, tier)
        rates = _rates_from_catalogue(tier_price.price) if media is None else _media_rates(tier_price.price, media)
        if rates is None:
            return None
        rates = replace(rates, tier=tier, model_id=model_id, effective_from=last_change(resolved.info, day, tier))
        if not tier_price.found:
            multiplier = self._multiplier(identity[0], tier, day)
            if multiplier is None:
                rates = replace(rates, tier_priced=False)
            else:
                rates = replace(rates, multiplier=multiplier, **_times(rates, multiplier, tokens_only=True))
        # A discount on the model covers its audio and image tokens: it is on the model's bill.
        discount = self._discount(identity if media is None else resolved.key, day)
        if discount:
            factor = (HUNDRED - discount) / HUNDRED
            rates = replace(rates, discount=discount, **_times(rates, factor, tokens_only=False))
        return rates

    def _override_rates(
        self,
        override: ModelOverride,
        provider: str,
        tier: ServiceTier,
        day: date,
        model_id: str,
        catalogue_search: int | None,
    ) -> Rates:
        own = override.rates
        cache_write = own.input if own.cache_write is None else own.cache_write
        # An override that names no web-search price leaves it to the catalogue's, where it has one.
        web_search = catalogue_search if own.web_search is None else own.web_search
        rates = Rates(
            input=own.input,
            cached_input=own.input if own.cached_input is None else own.cached_input,
            cache_write=cache_write,
            cache_write_1h=cache_write if own.cache_write_1h is None else own.cache_write_1h,
            output=own.output,
            request=own.request,
            web_search=web_search,
            source=PriceSource.OVERRIDE,
            tier=tier,
            model_id=model_id,
            effective_from=override.effective_from,
        )
        if tier is ServiceTier.STANDARD:
            return rates
        # An override's prices are standard prices: another tier needs the provider's multiplier.
        multiplier = self._multiplier(provider, tier, day)
        if multiplier is None:
            return replace(rates, tier_priced=False)
        return replace(rates, multiplier=multiplier, **_times(rates, multiplier, tokens_only=True))

    def _multiplier(self, provider: str, tier: ServiceTier, day: date) -> Decimal | None:
        for t in self.tiers:  # newest first
            if t.tier is tier and t.effective_from <= day and self.catalogue.provider_id(t.provider) == provider:
                return t.multiplier
        return None

    def _discount(self, identity: tuple[str, str], day: date) -> Decimal:
        # A model-specific discount beats a provider-wide one; the newest in force wins. Both match on identity:
        # a discount written for a dated id covers every spelling of the model.
        provider = identity[0]
        for specific in (True, False):
            for d in self.discounts:
                if bool(d.model) != specific or d.effective_from > day:
                    continue
                if not specific:
                    if self.catalogue.provider_id(d.provider) == provider:
                        return d.percent
                elif self.catalogue.identity(d.provider, d.model) == identity:
                    return d.percent
        return ZERO

    def change_dates(self, provider: str, model: str, tier: str = ServiceTier.STANDARD) -> list[date]:
        """The catalogue's price-change dates for the model an id resolves to, in `tier` ([] when it does not
        resolve)."""
        resolved = self._priced_from(provider.lower(), model.lower())
        return change_dates(resolved.info, _TIER.get(tier, ServiceTier.STANDARD)) if resolved is not None else []

    def _priced_from(self, provider: str, model: str) -> Any:
        """The catalogue entry whose prices price `model` (lowered), as `_resolve` finds it: a media part's
        ("gpt-realtime (audio)") is its model's entry. None when none does."""
        resolved = self.catalogue.resolve(provider, model)
        if resolved is None and (media := media_part(model)) is not None:
            resolved = self.catalogue.resolve(provider, model[: -len(media)])
        return resolved

    def entries_starting(
        self, provider: str, model: str, tier: str, after: date, through: date
    ) -> list[tuple[date, str, str]]:
        """The price file's entries for `provider`/`model` in `tier` that come into force after `after` and by
        `through`: (date, what it is, how to say it), oldest first. Days before each were priced without it, so a
        period's rates are not all the rates on its last day. What it is: "override" ([[models]]), "discount" or
        "tier" (those two change catalogue prices only, a tier multiplier only a non-standard tier's)."""
        provider, model = provider.lower(), model.lower()
        identity = self.catalogue.identity(provider, model)
        # A discount on a model covers its audio and image tokens (`_resolve`): matched on the model's identity.
        base = self._priced_from(provider, model)
        billed_as = base.key if base is not None else identity
        found: list[tuple[date, str, str]] = []
        for override, override_id in zip(self.overrides, self._identities(), strict=True):
            spelled = override.provider == provider and override.model == model
            if (spelled or override_id == identity) and after < override.effective_from <= through:
                found.append((override.effective_from, "override", "[[models]] override"))
        for d in self.discounts:
            if d.model:
                covers = self.catalogue.identity(d.provider, d.model) == billed_as
            else:
                covers = self.catalogue.provider_id(d.provider) == identity[0]
            if covers and after < d.effective_from <= through:
                found.append((d.effective_from, "discount", f"{d.percent}% discount ([[discounts]])"))
        service_tier = _TIER.get(tier, ServiceTier.STANDARD)
        for t in self.tiers:
            if service_tier is ServiceTier.STANDARD or t.tier is not service_tier:
                continue
            if after < t.effective_from <= through and self.catalogue.provider_id(t.provider) == identity[0]:
                found.append((t.effective_from, "tier", f"{tier} × {t.multiplier} ([[tiers]])"))
        return sorted(found, key=lambda f: f[0])

    # ---- pricing ----
    def missing(self, usage: Usage) -> tuple[str, ...]:
        """What of an unpriced `usage` (`price(usage).priced` False) has no price, in words: ("the model",) when
        nothing prices the model, else "output tokens" and "web searches" for those the model has no price for; then
        "retrieval queries", "rerank calls" and "compute seconds" for those [unit_costs] has no price for (UNIT_PARTS).
        Asked only of the few events that are unpriced, so that a warning names the part, not a priced model."""
        u = usage
        parts: list[str] = []
        # As `price`: a source's own cost prices the tokens, and usage with no tokens needs no model price.
        if u.source_cost_nano is None and (u.input_tokens or u.output_tokens or u.web_searches):
            rates = self._rates(u.provider, u.model, u.service_tier, u.epoch)
            if rates is None:
                parts.append("the model")
            else:
                needed = (
                    ("output tokens", u.output_tokens, rates.output),
                    ("web searches", u.web_searches, rates.web_search),
                )
                parts += [part for part, used, price in needed if used and price is None]
        units = self.unit_costs
        counts = (u.retrieval_queries, u.rerank_calls, u.compute_ms)
        unit_prices = (units.retrieval_query, units.rerank_call, units.compute_ms)
        parts += [
            part for part, used, price in zip(UNIT_PARTS, counts, unit_prices, strict=True) if used and price is None
        ]
        return tuple(parts)

    def price(self, usage: Usage) -> Costs:
        """What `usage` cost: nano-USD per cost type, each rounded half up once, and whether it was priced."""
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
            cache_write_1h_tokens,
            web_searches,
            service_tier,
        ) = usage
        units = self.unit_costs
        # A count [unit_costs] has no price for costs 0 and leaves the event unpriced: flagged, never free. (An
        # explicit 0 is a price.) The event's other parts are still priced.
        priced = True
        retrieval = rerank = compute = 0
        if retrieval_queries:
            if units.retrieval_query is None:
                priced = False
            else:
                retrieval = _nano(retrieval_queries * units.retrieval_query)
        if rerank_calls:
            if units.rerank_call is None:
                priced = False
            else:
                rerank = _nano(rerank_calls * units.rerank_call)
        if compute_ms:
            if units.compute_ms is None:
                priced = False
            else:
                compute = _nano(compute_ms * units.compute_ms)
        if source_cost_nano is not None:
            return _new(Costs, (0, 0, 0, 0, 0, 0, 0, source_cost_nano, retrieval, rerank, compute, priced))
        if not (input_tokens or output_tokens or web_searches):
            return _new(Costs, (0, 0, 0, 0, 0, 0, 0, 0, retrieval, rerank, compute, priced))
        rates = self._rates(provider, model, service_tier, epoch)
        if rates is None:
            return _new(Costs, (0, 0, 0, 0, 0, 0, 0, 0, retrieval, rerank, compute, False))
        sel = input_tokens // requests if requests > 1 else input_tokens  # tier_selector, inlined: every row
        output = 0
        if output_tokens:
            if rates.output is None:
                priced = False  # input priced, output not: flagged, never free
            else:
                output = _nano(output_tokens * _per_token(rates.output, sel))
        web = 0
        if web_searches:
            if rates.web_search is None:
                priced = False  # tokens priced, searches not: flagged, never free
            else:
                web = _nano(web_searches * rates.web_search)
        write_5m = cache_write_tokens - cache_write_1h_tokens
        return _new(
            Costs,
            (
                _nano((input_tokens - cached_input_tokens - cache_write_tokens) * _per_token(rates.input, sel)),
                _nano(cached_input_tokens * _per_token(rates.cached_input, sel)) if cached_input_tokens else 0,
                _nano(write_5m * _per_token(rates.cache_write, sel)) if write_5m else 0,
                _nano(cache_write_1h_tokens * _per_token(rates.cache_write_1h, sel)) if cache_write_1h_tokens else 0,
                output,
                _nano(requests * rates.request) if rates.request else 0,
                web,
                0,
                retrieval,
                rerank,
                compute,
                priced,
            ),
        )


def _fingerprint(raw: bytes, catalogue: Catalogue | None) -> str:
    """What the prices were computed from: the price file, the package version and the catalogue data file (one
    rule, engine.store.meta's: reports compare it with the files' own without loading the catalogue)."""
    return price_fingerprint(raw, catalogue.digest if catalogue else "")
