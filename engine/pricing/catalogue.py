"""The genai-prices catalogue as marginbot reads it: which data (bundled with the package, or a data file that
`marginbot prices update` refreshed), what model an id resolves to, and the prices of one tier at one moment.

Model identity: the catalogue knows each model under one id (`ModelInfo.id`) and matches every spelling of it
(dated ids, `-latest`, Vertex's `@date`, Bedrock's regional prefixes); marginbot also strips the prefixes gateways
and SDKs add (`openai/gpt-4o`, `models/gemini-2.5-flash`), which the package does not. Overrides and discounts are
matched on the resolved identity, so one entry covers every spelling; ids the catalogue cannot resolve keep their
own spelling and are matched exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple

from genai_prices import data_snapshot
from genai_prices.data_snapshot import DataSnapshot, find_provider_by_id
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)

from engine.pricing.pricefile import UNIT_MAX_USD
from engine.vocab import MEDIA_PARTS, ServiceTier

PACKAGE_VERSION = version("genai-prices")


class CatalogueError(ValueError):
    """A catalogue data file cannot be read; the message names the file and what is wrong."""


class UnreadableCatalogue(CatalogueError):
    """The catalogue file in use cannot be read: the message says what to do, `reason` only what is wrong (for
    `marginbot prices update`, which is what the message says to run)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Resolved(NamedTuple):
    """What an id resolves to in the catalogue: the provider billing it and the model's entry."""

    provider: Provider
    info: ModelInfo

    @property
    def key(self) -> tuple[str, str]:
        """The identity overrides and discounts match on: (provider id, catalogue model id)."""
        return (self.provider.id, self.info.id)

    @property
    def own(self) -> bool:
        """Whether the provider lists the model itself (not through a fallback provider, e.g. Azure → OpenAI).
        The package ignores a price context for borrowed models, so their tiers price at standard rates."""
        return any(self.info is m for m in self.provider.models)


class TierPrice(NamedTuple):
    """The catalogue's prices for one tier at one moment, and whether the tier had prices of its own."""

    price: ModelPrice
    found: bool  # False: no variant for the tier was in force, so these are the standard prices


@dataclass
class Catalogue:
    """One catalogue snapshot, with its version and a memo of resolved ids."""

    snapshot: DataSnapshot
    version: str  # what `marginbot prices` shows: the package version, and the data file's when one is loaded
    digest: str = ""  # sha256 of the data file ("" for the bundled data): part of the price book's fingerprint
    path: Path | None = None
    _resolved: dict[tuple[str, str], Resolved | None] = field(default_factory=dict, repr=False)

    @classmethod
    def bundled(cls) -> Catalogue:
        snapshot = data_snapshot.get_snapshot()
        newest = newest_change(snapshot.providers)
        when = f", newest price dated {newest}" if newest else ""
        return cls(snapshot=snapshot, version=f"genai-prices {PACKAGE_VERSION} (bundled data{when})")

    @classmethod
    def load(cls, path: Path | None) -> Catalogue:
        """The data file at `path` when it exists (what `marginbot prices update` wrote), else the bundled data."""
        if path is None or not path.is_file():  # not exists(): a directory there is no data file either
            return cls.bundled()
        try:
            return cls.from_bytes(path.read_bytes(), origin=str(path), path=path)
        except CatalogueError as exc:
            raise UnreadableCatalogue(
                f"{exc}; run `marginbot prices update` to fetch it again, or delete the file to use the catalogue "
                "bundled with genai-prices (MARGINBOT_CATALOGUE_FILE)",
                str(exc),
            ) from None

    @classmethod
    def from_bytes(cls, raw: bytes, *, origin: str, path: Path | None = None) -> Catalogue:
        """Parse genai-prices' data (the v2 `data.json`: a list of providers) the way its own updater does."""
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogueError(f"{origin}: not valid JSON: {exc}") from None
        if not isinstance(payload, list) or not payload:
            raise CatalogueError(f"{origin}: expected genai-prices data (a JSON list of providers)")
        # The package's own reader for this format (what UpdatePrices.fetch calls); it validates every entry.
        from genai_prices.types import _providers_from_raw

        try:
            providers = _providers_from_raw(payload)
        except Exception as exc:  # pydantic's ValidationError and the package's ValueErrors, said in one line
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CatalogueError(f"{origin}: not genai-prices data: {first}") from None
        _check_prices(providers, origin)
        digest = hashlib.sha256(raw).hexdigest()
        newest = newest_change(providers)
        when = f", newest price dated {newest}" if newest else ""
        return cls(
            snapshot=DataSnapshot(providers=providers, from_auto_update=True),
            version=f"genai-prices {PACKAGE_VERSION} + data file {digest[:12]}{when}",
            digest=digest,
            path=path,
        )

    # ---- identity ----
    def provider_id(self, provider: str) -> str:
        """The catalogue's id for a provider name (`bedrock` → `aws`, `vertex_ai` → `google`), else the name."""
        if not provider:
            return ""
        found = find_provider_by_id(self.snapshot.providers, provider)
        return found.id if found is not None else provider

    def resolve(self, provider: str, model: str) -> Resolved | None:
        """The catalogue entry `model` (as sent by `provider`, '' when unknown) resolves to, or None."""
        try:
            return self._resolved[provider, model]
        except KeyError:
            pass
        found = None
        # A model's audio or image part ("gpt-realtime (audio)") is not the model: its text prices would price them.
        for p, m in [] if model.endswith(MEDIA_PARTS) else _candidates(self.snapshot, provider, model):
            try:
                found = Resolved(*self.snapshot.find_provider_model(m, None, p or None, None))
                break
            except LookupError:
                continue
        self._resolved[provider, model] = found
        return found

    def identity(self, provider: str, model: str) -> tuple[str, str]:
        """What overrides and discounts match on: the resolved (provider, model id), else the id as spelled."""
        resolved = self.resolve(provider, model)
        return resolved.key if resolved is not None else (self.provider_id(provider), model)

    # ---- prices ----
    def prices(self, resolved: Resolved, at: datetime, tier: ServiceTier) -> TierPrice:
        """The prices of `tier` in force at `at`, as genai-prices' calc_price would use them."""
        info = resolved.info
        context = tier.price_context
        if not context:
            return TierPrice(info.get_prices(at), True)
        if not resolved.own:
            return TierPrice(info.get_prices(at), False)
        # get_prices falls back to the standard prices, silently, when no variant matches: find out first.
        found = any(
            (v.constraint is None or v.constraint.active(at)) and all(context.get(k) == x for k, x in v.when.items())
            for v in info.price_variants or ()
        )
        return TierPrice(info.get_prices(at, context), found)


# How many units a catalogue price is for, by the suffix of its key (input_mtok: a million tokens, requests_kcount:
# a thousand requests); a key with neither is taken as per unit, the strictest reading.
_PER = (("_mtok", Decimal(10**6)), ("_kcount", Decimal(1000)))


def _check_prices(providers: list[Provider], origin: str) -> None:
    """Refuse prices no provider charges: negative (negative COGS), not finite, or above what one event may cost for
    one unit they price ($10,000,000 a token, a request, a search: the price file's bound). Only data read from a
    file is checked; the package's bundled data is its own."""
    for provider in providers:
        for info in provider.models:
            priced = info.prices if isinstance(info.prices, list) else [info.prices]
            sets = [p if isinstance(p, ModelPrice) else p.prices for p in priced]
            sets += [v.prices for v in info.price_variants or ()]
            for price in sets:
                for key, value in vars(price).items():
                    if key.startswith("_") or value is None:
                        continue
                    for amount in _amounts(value):
                        problem = _bad_price(key, amount)
                        if problem:
                            raise CatalogueError(
                                f"{origin}: {provider.id} {info.id}: `{key}` {problem}, got {amount}: not a price "
                                "genai-prices publishes; check the file (or fetch it again)"
                            )


def _amounts(value: Any) -> list[Any]:
    """A catalogue price's amounts: a flat one, or a tiered one's base and each tier's."""
    if isinstance(value, TieredPrices):
        return [value.base, *(t.price for t in value.tiers)]
    return [value]


def _bad_price(key: str, amount: Any) -> str:
    """What is wrong with one catalogue amount ('' when nothing)."""
    if not isinstance(amount, Decimal | int | float) or isinstance(amount, bool):
        return "must be a number"
    value = Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)
    if not value.is_finite():
        return "must be a finite number"
    if value < 0:
        return "must not be negative"
    units = next((n for suffix, n in _PER if key.endswith(suffix)), Decimal(1))
    if value > UNIT_MAX_USD * units:
        return f"must be at most {UNIT_MAX_USD * units:,} (one unit at most ${UNIT_MAX_USD:,}, what one event may cost)"
    return ""


def _candidates(snapshot: DataSnapshot, provider: str, model: str) -> list[tuple[str, str]]:
    """The (provider, model) spellings to look up, most literal first."""
    out = [(provider, model)]
    if "/" in model:
        prefix, rest = model.split("/", 1)
        # `models/gemini-2.5-flash` (Google's REST name), `openai/gpt-4o` (LiteLLM, gateways): the model is `rest`,
        # billed by the event's provider, or by the prefix when that names a provider and the event names none
        # the catalogue knows.
        out.append((provider, rest))
        if find_provider_by_id(snapshot.providers, prefix) is not None:
            out.append((prefix, rest))
    return out


def time_of_day(info: ModelInfo) -> bool:
    """Whether the model's price changes within a day (e.g. DeepSeek's off-peak hours)."""
    return isinstance(info.prices, list) and any(isinstance(p.constraint, TimeOfDateConstraint) for p in info.prices)


def change_dates(info: ModelInfo, tier: ServiceTier | None = None) -> list[date]:
    """The dates the catalogue says this model's prices changed, oldest first: its standard prices' and those of
    `tier`'s price variants (every tier's when None)."""
    dates = {
        c.constraint.start_date
        for c in (info.prices if isinstance(info.prices, list) else ())
        if isinstance(c.constraint, StartDateConstraint)
    }
    context = tier.price_context if tier is not None else None
    dates |= {
        v.constraint.start_date
        for v in info.price_variants or ()
        if isinstance(v.constraint, StartDateConstraint)
        and (context is None or (context and all(context.get(k) == x for k, x in v.when.items())))
    }
    return sorted(dates)


def last_change(info: ModelInfo, on: date, tier: ServiceTier = ServiceTier.STANDARD) -> date | None:
    """The catalogue entry's last price change for `tier` on or before `on` (None: its prices never changed)."""
    past = [d for d in change_dates(info, tier) if d <= on]
    return past[-1] if past else None


def newest_change(providers: list[Provider]) -> date | None:
    """The newest price date anywhere in the data (the closest thing it has to a version date)."""
    newest: date | None = None
    for provider in providers:
        for info in provider.models:
            dates = change_dates(info)
            if dates and (newest is None or dates[-1] > newest):
                newest = dates[-1]
    return newest


def describe(price: Any) -> str:
    """A catalogue price for people: "$3/MTok", or "$3 → $6 above 200,000 input tokens" for a tiered one."""
    if isinstance(price, TieredPrices):
        tiers = ", ".join(f"${t.price} above {t.start:,}" for t in price.tiers)
        return f"${price.base} ({tiers})"
    return f"${price}"
